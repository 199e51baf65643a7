#!/usr/bin/env bash
# Replays every committed fuzz input under the sanitizer build: each fuzz target of tests/fuzz
# (built as replay_<target>, see tests/fuzz/CMakeLists.txt) runs once on each of its seeds
# (tests/fuzz/corpus/<target>, and the folders tests/fuzz/seed-dirs names for it) and
# regression inputs (tests/fuzz/regress/<target>), so a finding that comes back fails `make test`
# without a fuzzing run. Every target must have seeds and a row in docs/fuzzing.md's table,
# and every regression folder a target.
# Args: the trackday binary (unused) and the build directory.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${2:?usage: test_fuzz_corpus.sh TRACKDAY BUILD_DIR}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0
failed=0
fail() {
    echo "FAIL $*"
    failed=$((failed + 1))
}
for src in tests/fuzz/fuzz_*.c; do
    t=$(basename "$src" .c)
    t=${t#fuzz_}
    [ "$t" = util ] && continue
    exe="$build/fuzz/replay_$t"
    seeds="tests/fuzz/corpus/$t"
    if [ ! -x "$exe" ] && [ "${t#hub_}" != "$t" ] &&
        grep -q '^TD_WITH_HUB:BOOL=OFF' "$build/CMakeCache.txt" 2>/dev/null; then
        echo "(not built: $t, the hub is off in this build)"
        continue
    fi
    if [ ! -x "$exe" ]; then
        fail "$t: $exe was not built"
        continue
    fi
    if ! grep -q "^| \`$t\` |" docs/fuzzing.md; then
        fail "$t: not in the targets table of docs/fuzzing.md"
        continue
    fi
    if [ -z "$(ls -A "$seeds" 2>/dev/null)" ]; then
        fail "$t: no seeds in $seeds (tests/fuzz/make-seeds writes them)"
        continue
    fi
    dirs=("$seeds")
    [ -d "tests/fuzz/regress/$t" ] && dirs+=("tests/fuzz/regress/$t")
    # Seeds used where they live (tests/fuzz/seed-dirs): they must exist.
    while read -r st sd; do
        [ "$st" = "$t" ] || continue
        if [ -z "$(ls -A "$sd" 2>/dev/null)" ]; then
            fail "$t: tests/fuzz/seed-dirs names $sd, which is missing or empty"
            continue 2
        fi
        dirs+=("$sd")
    done < <(grep -v '^#' tests/fuzz/seed-dirs)
    log=$(mktemp)
    if "$exe" "${dirs[@]}" >"$log" 2>&1; then
        echo "PASS $t ($(tail -n 1 "$log" | sed 's/.*: //'))"
        passed=$((passed + 1))
    else
        fail "$t: an input fails (last ones below)"
        tail -n 30 "$log"
    fi
    rm -f "$log"
done
for d in tests/fuzz/regress/*/; do
    t=$(basename "$d")
    if [ ! -f "tests/fuzz/fuzz_$t.c" ]; then
        fail "tests/fuzz/regress/$t has no target tests/fuzz/fuzz_$t.c"
    fi
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
