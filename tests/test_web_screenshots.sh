#!/usr/bin/env bash
# scripts/web-screenshots writes the shots it is asked for and leaves the other pictures of
# docs/images/ alone. Runs the script in a copy of its folders where scripts/build-web does
# nothing and web/test/e2e.mjs is a stand-in that "shoots" ui-a.png and ui-b.png into its
# --screenshots folder (the browser suite itself is tests/test_web.sh).
# Args: the trackday binary (as the stand-in's TRACKDAY), the build directory.
set -uo pipefail
bin=${1:?trackday binary}
src=$(cd "$(dirname "$0")/.." && pwd)
fail=0
check() { # name, message, status
    if [ "$3" -eq 0 ]; then echo "PASS $1"; else echo "FAIL $1: $2"; fail=1; fi
}
if ! command -v node >/dev/null 2>&1; then
    echo "SKIP test_web_screenshots: node not found (scripts/install-deps installs it)"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A tree with the script, a build-web that builds nothing and a stand-in browser suite.
tree() {
    rm -rf "$tmp/t"
    mkdir -p "$tmp/t/scripts" "$tmp/t/web/test" "$tmp/t/docs/images"
    cp "$src/scripts/web-screenshots" "$tmp/t/scripts/"
    printf '#!/usr/bin/env bash\nexit 0\n' > "$tmp/t/scripts/build-web"
    chmod +x "$tmp/t/scripts/build-web"
    cat > "$tmp/t/web/test/e2e.mjs" <<'EOF'
import fs from 'node:fs';
import path from 'node:path';
const dir = process.argv[process.argv.indexOf('--screenshots') + 1];
fs.writeFileSync(path.join(process.cwd(), 'e2e-args'), process.argv.slice(2).join(' '));
for (const n of ['a', 'b']) fs.writeFileSync(path.join(dir, `ui-${n}.png`), `new ${n}`);
EOF
    echo "old a" > "$tmp/t/docs/images/ui-a.png"
    echo "old b" > "$tmp/t/docs/images/ui-b.png"
}
pics() { echo "$(cat "$tmp/t/docs/images/ui-a.png") / $(cat "$tmp/t/docs/images/ui-b.png")"; }

tree
out=$("$tmp/t/scripts/web-screenshots" "$bin" a 2>&1)
rc=$?
got=$(pics)
[ $rc -eq 0 ] && [ "$got" = "new a / old b" ] && grep -q "^$bin --screenshots " "$tmp/t/e2e-args"
ok=$?
args=$(cat "$tmp/t/e2e-args" 2>&1)
check one_named_shot "rc $rc, a / b: $got; e2e got $args: $out" $ok

tree
out=$("$tmp/t/scripts/web-screenshots" ui-b.png 2>&1)
rc=$?
got=$(pics)
[ $rc -eq 0 ] && [ "$got" = "old a / new b" ] &&
    grep -q "^build/release/trackday --screenshots " "$tmp/t/e2e-args"
ok=$?
args=$(cat "$tmp/t/e2e-args" 2>&1)
check file_name_and_default_binary "rc $rc, a / b: $got; e2e got $args: $out" $ok

tree
out=$("$tmp/t/scripts/web-screenshots" "$bin" 2>&1)
rc=$?
got=$(pics)
[ $rc -eq 0 ] && [ "$got" = "new a / new b" ]
check every_shot_by_default "rc $rc, a / b: $got: $out" $?

tree
out=$("$tmp/t/scripts/web-screenshots" "$bin" a nosuch 2>&1)
rc=$?
got=$(pics)
[ $rc -ne 0 ] && [ "$got" = "old a / old b" ] && grep -q "no shot 'nosuch'; they take: a b" <<<"$out"
check unknown_name_writes_nothing "rc $rc, a / b: $got: $out" $?

if [ $fail -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $fail
