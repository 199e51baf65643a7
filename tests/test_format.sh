#!/usr/bin/env bash
# Checks that every C file follows the committed .clang-format (STYLE.md rule 8).
# Args: the trackday binary and the build directory (unused).
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then
    echo "clang-format is not installed (scripts/install-deps installs it)"
    echo "0 passed, 1 failed"
    exit 1
fi
bad=0
for f in $(git ls-files '*.c' '*.h' 2>/dev/null || find src include tests examples -name '*.[ch]'); do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f (run: clang-format -i $f, or make format)"
        bad=1
    fi
done
if [ $bad = 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $bad
