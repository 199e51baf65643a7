#!/usr/bin/env bash
# test_harness.sh - the test harness (tests/td_test.h) reports what happened: run through
# build/td_harness_selftest, a pass is PASS, a skip is SKIP and never counted as passed,
# leaks (trackday allocations, and malloc when LeakSanitizer is on) fail, a failed comparison
# prints both operands, a timed-out test's background command is killed and every test's
# temporary directory is removed; the exit status says failed (1), skipped only (77) or
# passed (0). Also scripts/run-tests: skips are reported and never counted as passed.
set -uo pipefail
build=${2:?usage: test_harness.sh TRACKDAY_BIN BUILD_DIR}
self="$(cd "$build" && pwd)/td_harness_selftest"
fails=0
passes=0
check() { # check DESCRIPTION COMMAND...
    if "${@:2}"; then passes=$((passes + 1)); else echo "FAILED: $1"; fails=$((fails + 1)); fi
}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

TD_SELFTEST_OUT=$out TD_TEST_TIMEOUT=3 "$self" >"$out/stdout" 2>"$out/stderr"
rc=$?
check "exit status 1 when a test failed (got $rc)" test "$rc" -eq 1
check "a pass is PASS" grep -q '^PASS passes' "$out/stdout"
check "a skip is SKIP" grep -q '^SKIP skips' "$out/stdout"
check "the skip says why" grep -q 'skipped: the selftest skips on purpose' "$out/stdout"
check "a trackday leak fails" grep -q '^FAIL leaks_trackday_allocation' "$out/stdout"
check "the leak is named" grep -q 'leaked 1 trackday allocations' "$out/stderr"
check "a failed comparison fails" grep -q '^FAIL prints_both_operands' "$out/stdout"
check "both operands printed" grep -q 'a > b (2 vs 3.5)' "$out/stderr"
check "a timeout fails" grep -q '^FAIL times_out (timed out after 3 s' "$out/stdout"
pid=$(cat "$out/times_out_pid" 2>/dev/null)
check "the background command's pid was noted" test -n "$pid"
state=$(ps -o stat= -p "${pid:-1}" 2>/dev/null | cut -c1)
check "the timed-out test's background command is gone (state '$state')" \
    test -z "$state" -o "$state" = Z
for t in passes times_out; do
    d=$(cat "$out/${t}_tmpdir" 2>/dev/null)
    check "$t's temporary directory was noted" test -n "$d"
    check "$t's temporary directory $d is removed" test ! -e "${d:-/nonexistent}"
done
# LeakSanitizer: in a sanitizer build run with detect_leaks=1 a malloc leak fails the test.
if grep -q '^TD_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" &&
    [[ "${ASAN_OPTIONS:-}" == *detect_leaks=1* ]]; then
    check "LeakSanitizer sees the test process" grep -q '^FAIL leaks_malloc' "$out/stdout"
    check "LeakSanitizer's report" grep -q 'detected memory leaks' "$out/stderr"
    summary="1 passed, 4 failed, 1 skipped"
else
    echo "note: LeakSanitizer is off here (no sanitizer build, or detect_leaks=0)"
    check "leaks_malloc passes without LeakSanitizer" grep -q '^PASS leaks_malloc' "$out/stdout"
    summary="2 passed, 3 failed, 1 skipped"
fi
check "summary '$summary'" test "$(tail -n 1 "$out/stdout")" = "$summary"

# Exit status by outcome, named tests run in process.
"$self" passes >/dev/null 2>&1
check "only passes: 0" test $? -eq 0
"$self" passes skips >/dev/null 2>&1
check "passes and a skip: 77" test $? -eq 77
"$self" passes prints_both_operands skips >"$out/inproc" 2>&1
check "a failure in process: 1" test $? -eq 1
check "in process, the run goes on after a failure" \
    test "$(tail -n 1 "$out/inproc")" = "1 passed, 1 failed, 1 skipped"
"$self" no_such_test >/dev/null 2>&1
check "an unknown name fails" test $? -eq 1

# scripts/run-tests on a build whose only test skips: reported, not passed.
fake=$(mktemp -d)
cat >"$fake/CTestTestfile.cmake" <<CMAKE
add_test(skipper "$self" skips)
set_tests_properties(skipper PROPERTIES SKIP_RETURN_CODE 77)
add_test(passer "$self" passes)
CMAKE
env -u TD_TEST_FAIL_ON_SKIP scripts/run-tests "$fake" >"$out/run" 2>&1
rc=$?
check "run-tests: 0 with a skip by default (got $rc)" test "$rc" -eq 0
check "run-tests closes with the skip counted apart" \
    test "$(tail -n 1 "$out/run")" = "1 passed, 0 failed, 1 skipped"
check "run-tests names the skipped test" grep -q 'skipped: skipper' "$out/run"
TD_TEST_FAIL_ON_SKIP=1 scripts/run-tests "$fake" >"$out/run" 2>&1
rc=$?
check "run-tests with TD_TEST_FAIL_ON_SKIP=1 fails on a skip (got $rc)" test "$rc" -ne 0
check "it says why" grep -q 'TD_TEST_FAIL_ON_SKIP' "$out/run"
rm -rf "$fake"

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
