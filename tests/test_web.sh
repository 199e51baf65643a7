#!/usr/bin/env bash
# The browser UI (web/, docs/ui.md) end to end: builds it from web/package-lock.json
# (scripts/build-web), then web/test/e2e.mjs starts a real hub and worker on free loopback
# ports and drives Debian's Chromium headless with playwright-core: sign-in, models, the
# reward editor, training with live curves, evaluation and replay, classes and quotas; axe-core
# on every main page. Screenshots go to BUILD/web-screenshots (scripts/web-screenshots writes
# docs/images/). Never skipped: node, npm and chromium come from scripts/install-deps.
#
#   tests/test_web.sh TRACKDAY BUILD_DIR
set -uo pipefail
bin=${1:?usage: test_web.sh TRACKDAY BUILD_DIR}
build=${2:?usage: test_web.sh TRACKDAY BUILD_DIR}
cd "$(dirname "$0")/.."
for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "FAIL test_web: $tool not found (scripts/install-deps installs it)"
        echo "0 passed, 1 failed"
        exit 1
    fi
done
if ! scripts/build-web; then
    echo "FAIL test_web: the web UI did not build (scripts/build-web)"
    echo "0 passed, 1 failed"
    exit 1
fi
for f in web/dist/index.html web/node_modules/playwright-core/package.json web/node_modules/axe-core/axe.min.js; do
    if [ ! -f "$f" ]; then
        echo "FAIL test_web: $f is missing after scripts/build-web"
        echo "0 passed, 1 failed"
        exit 1
    fi
done
export TMPDIR=${TMPDIR:-/tmp}
exec node web/test/e2e.mjs "$bin" --screenshots "$build/web-screenshots"
