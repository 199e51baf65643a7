#!/usr/bin/env bash
# make demo-fleet (scripts/demo-fleet, README's quick start) with --once: a hub on a free
# loopback port, ten simulated cars, v1 rolled out canary first to all ten, the bad v2 stopped
# at its canary by the lap check and rolled back (the nine others never get it), every car on
# v1 at the end, and nothing left running. Args: the trackday binary, the build directory.
set -uo pipefail
bin=${1:?trackday binary}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
passed=0
check() { # name, message, status
    if [ "$3" -eq 0 ]; then echo "PASS $1"; passed=$((passed + 1)); else echo "FAIL $1: $2"; fail=1; fi
}

out=$(scripts/demo-fleet "$bin" --once --dir "$tmp/demo" --listen 127.0.0.1:0 2>&1)
rc=$?
check demo_fleet_runs "rc $rc: $out" $rc
grep -q "^10 cars registered and online" <<<"$out"
check ten_cars "$out" $?
grep -q "^deployment 1: waiting (bundle car-v1, held 9, installed 1)" <<<"$out" &&
    grep -q "^deployment 1: succeeded (bundle car-v1, installed 10)" <<<"$out"
check v1_canary_first_then_all "$out" $?
grep -q "^deployment 2: rolled_back (bundle car-v2, rolled_back 1, skipped 9): a canary failed" <<<"$out" &&
    grep -q "lap check" <<<"$out"
check v2_rolled_back_at_its_canary "$out" $?
v1=$(sha256sum "$tmp/demo/car-v1.tdb" | cut -c1-12)
[ "$(grep -cE "^[0-9]+ +sim-[0-9] +approved +sim +online +$v1 " <<<"$out")" = 10 ]
check every_car_runs_v1 "$out" $?
grep -qE "rollback_requested +deployment 2" <<<"$out" && grep -qE "^.*rolled_back +deployment 2" <<<"$out"
check canary_history "$out" $?
url=$(sed -nE 's/^trackday serve listening on (http:[^ ]+).*/\1/p' <<<"$out")
! curl -s -m 2 "$url/api/v1/health" > /dev/null
check demo_fleet_stops_the_hub "$url still answers" $?
left=$(pgrep -f "$tmp/demo" | wc -l)
[ "$left" = 0 ]
check demo_fleet_stops_the_cars "$left processes left" $?
if [ "$fail" = 0 ]; then echo "$passed passed, 0 failed"; else echo "$passed passed, 1 failed"; fi
exit $fail
