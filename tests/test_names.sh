#!/usr/bin/env bash
# Checks that every function's declaration and definition name their parameters alike
# (clang-tidy readability-inconsistent-declaration-parameter-name; code review b9): a header
# that says `what` where the code says `path` misleads its reader. Reads the build tree's
# compile_commands.json, so every file is checked with the flags it is built with.
# Args: the trackday binary (unused) and the build directory.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${2:?usage: test_names.sh TRACKDAY BUILD_DIR}
check=readability-inconsistent-declaration-parameter-name
if ! command -v clang-tidy >/dev/null; then
    echo "clang-tidy is not installed (scripts/install-deps installs it)"
    echo "0 passed, 1 failed"
    exit 1
fi
if [ ! -f "$build/compile_commands.json" ]; then
    echo "no $build/compile_commands.json (CMAKE_EXPORT_COMPILE_COMMANDS)"
    echo "0 passed, 1 failed"
    exit 1
fi
passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The check itself finds a mismatch (so a pass below is not a checker that sees nothing).
printf 'int f(int what);\nint f(int path) { return path; }\n' > "$tmp/mismatch.c"
clang-tidy --quiet --checks="-*,$check" "$tmp/mismatch.c" -- -std=c17 > "$tmp/self" 2> /dev/null
if grep -q "different parameter names" "$tmp/self"; then
    passed=$((passed + 1))
else
    echo "FAIL clang-tidy did not report a known mismatch"
    failed=$((failed + 1))
fi

# Every C file of the library, the commands and the Python extension, once each.
/usr/bin/python3 - "$build/compile_commands.json" "$PWD" > "$tmp/files" <<'EOF'
import json, os, sys
root = sys.argv[2] + "/"
seen = []
for e in json.load(open(sys.argv[1])):
    f = os.path.normpath(os.path.join(e["directory"], e["file"]))
    if f.startswith(root) and f[len(root):].split("/")[0] in ("src", "python") and f not in seen:
        seen.append(f)
print("\n".join(seen))
EOF
n=$(wc -l < "$tmp/files")
if [ "$n" -lt 100 ]; then
    echo "FAIL only $n files in $build/compile_commands.json"
    failed=$((failed + 1))
else
    xargs -a "$tmp/files" -P 2 -n 16 clang-tidy -p "$build" --quiet --checks="-*,$check" \
        > "$tmp/out" 2> /dev/null
    if grep -q "warning:" "$tmp/out"; then
        echo "FAIL declarations and definitions name parameters differently:"
        grep -A3 "warning:" "$tmp/out" | grep -v "^--$"
        failed=$((failed + 1))
    else
        echo "ok: $n files, every declaration names its parameters as its definition"
        passed=$((passed + 1))
    fi
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
