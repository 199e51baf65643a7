#!/usr/bin/env bash
# The fleet end to end as docs/cli/fleet.md shows it: a hub, its signing key, bundles, three
# simulated cars started by `trackday fleet simulate` (real agents registering their keys,
# driving, heartbeating), a deployment rolling out canary first, a bad bundle failing the
# canary's lap check and rolled back (the canary goes back to the bundle it ran), a manual
# rollback of a deployment that succeeded, the history, and the cars stopping with nothing
# left running. Args: the trackday binary, the build directory.
set -uo pipefail
bin=${1:?trackday binary}
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
tmp=$(mktemp -d)
pid=
sim=
cleanup() {
    [ -n "$sim" ] && kill "$sim" 2>/dev/null && wait "$sim" 2>/dev/null
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail=0
passes=0
check() { # name, message, status
    if [ "$3" -eq 0 ]; then echo "PASS $1"; passes=$((passes + 1)); else echo "FAIL $1: $2"; fail=1; fi
}
py=/usr/bin/python3
export XDG_CONFIG_HOME="$tmp/config"
cd "$tmp" || exit 1

echo admin-password-1 | "$bin" admin create-user --data hub --name admin --role admin \
    --insecure-fast-passwords > /dev/null || { echo "0 passed, 1 failed"; exit 1; }
mkfifo ready
"$bin" serve --data hub --listen 127.0.0.1:0 --insecure-fast-passwords > ready 2> serve.log &
pid=$!
read -r line < ready
HUB=$(echo "$line" | grep -o 'http://[^ ]*')
echo admin-password-1 | "$bin" login "$HUB" --user admin > /dev/null
check login "trackday login" $?

# Two bundles of one small model, signed by the fleet's key.
"$bin" init car --discrete --fast-actions --sensor state --track oval > /dev/null &&
    "$bin" train car --iterations 1 --quiet > /dev/null &&
    "$bin" keygen -o fleet.key > /dev/null &&
    "$bin" export car --format bundle -o car-v1.tdb --key fleet.key --laps 1 --train-steps 20 \
        --calibrate 16 > /dev/null &&
    "$bin" export car --format bundle -o car-v2.tdb --key fleet.key --laps 1 --train-steps 20 \
        --calibrate 16 --seed 2 > /dev/null
check bundles "export" $?
sha1=$(sha256sum car-v1.tdb | cut -c1-64)
sha2=$(sha256sum car-v2.tdb | cut -c1-64)

"$bin" fleet signing-key fleet.key.pub > out.txt 2>&1
grep -qE "^fleet signing key: [0-9a-f]{16}$" out.txt
ok=$?
check signing_key "$(cat out.txt)" $ok

"$bin" fleet upload car-v1.tdb > out.txt 2>&1 && grep -q "^bundle 1: car" out.txt
ok=$?
check upload "$(cat out.txt)" $ok

# Three simulated cars, faster than real time.
"$bin" fleet simulate --hub "$HUB" --devices 3 --dir cars --speedup 8 --heartbeat-s 0.3 \
    --window-s 2 --run-s 600 > sim.out 2>&1 &
sim=$!
devices_json() { "$bin" fleet devices --json 2>/dev/null; }
wait_for() { # python condition on the devices JSON (d), timeout seconds
    local t0=$SECONDS
    while [ $((SECONDS - t0)) -lt "$2" ]; do
        devices_json > devs.json
        if $py -c "import json,sys; d=json.load(open('devs.json'))['devices']; sys.exit(0 if ($1) else 1)" 2>/dev/null; then
            return 0
        fi
        kill -0 "$sim" 2>/dev/null || return 1
        $py -c 'import time; time.sleep(0.2)'
    done
    return 1
}
wait_for "len(d) == 3 and all(x['state'] == 'approved' and x['online'] for x in d)" 60
ok=$?
check cars_register "$(cat devs.json sim.out)" $ok

# Deployment 1: v1, one canary, a second's wait, then the rest.
"$bin" fleet deploy 1 --group sim --canary 1 --wait 1 --watch --watch-timeout 120 > d1.txt 2>&1
rc=$?
grep -q "deployment 1: succeeded" d1.txt
ok=$?
check deploy_v1 "exit $rc: $(cat d1.txt)" $((rc + $ok))
grep -q "deployment 1: waiting" d1.txt
ok=$?
check canary_first "$(cat d1.txt)" $ok
wait_for "all(x['active_sha256'] == '$sha1' for x in d) and all((x['status'].get('driving') or {}).get('frames', 0) > 0 for x in d)" 60
ok=$?
check all_run_v1 "$(cat devs.json)" $ok

# Deployment 2: v2 with a lap check no car can pass (a mean lap under a second): the canary
# installs v2, drives a lap, fails the check; the deployment rolls back and the canary goes
# back to v1 (its previous bundle, no download); the other two never get v2.
"$bin" fleet deploy car-v2.tdb --group sim --canary 1 --wait 600 --max-lap-s 1 --watch \
    --watch-timeout 180 > d2.txt 2>&1
rc=$?
grep -q "deployment 2: rolled_back" d2.txt && grep -q "lap check: mean lap" d2.txt
ok=$?
check bad_bundle_rolled_back "exit $rc: $(cat d2.txt)" $(($ok + (rc == 1 ? 0 : 1)))
"$bin" fleet deployments 2 > d2show.txt 2>&1
grep -qE "canary +rolled_back" d2show.txt && [ "$(grep -cE '^ +[0-9]+ +[^ ]+ +skipped' d2show.txt)" = 2 ]
ok=$?
check canary_back_others_untouched "$(cat d2show.txt)" $ok
wait_for "all(x['active_sha256'] == '$sha1' for x in d)" 60
ok=$?
check all_on_v1_again "$(cat devs.json)" $ok
canary=$($py -c "import json; d=json.load(open('devs.json'))['devices']; print(min(x['id'] for x in d))")
"$bin" fleet history "$canary" > hist.txt 2>&1
grep -q "rolled_back" hist.txt && grep -q "rollback_requested" hist.txt && grep -q "failed .*lap check" hist.txt
ok=$?
check history "$(cat hist.txt)" $ok
# The canary is the device with the lowest id: which car that is depends on which registered
# first (sim-0 is not always it).
canary_name=$($py -c "import json; d=json.load(open('devs.json'))['devices']; print(min(d, key=lambda x: x['id'])['name'])")
grep -q "going back to the previous bundle" "cars/$canary_name/agent.log"
ok=$?
check rollback_without_download "$canary_name: $(cat "cars/$canary_name/agent.log")" $ok

# Deployment 3: v2 to every car at once (no lap check), then rolled back by hand.
"$bin" fleet deploy 2 --group sim --canary 0 --watch --watch-timeout 120 > d3.txt 2>&1
ok=$?
check deploy_v2 "$(cat d3.txt)" $ok
"$bin" fleet rollback 3 --reason "slower on the real floor" --watch --watch-timeout 120 > r3.txt 2>&1
rc=$?
grep -q "deployment 3: rolled_back" r3.txt
ok=$?
check manual_rollback "exit $rc: $(cat r3.txt)" $((rc + $ok))
wait_for "all(x['active_sha256'] == '$sha1' and x['previous_sha256'] == '$sha2' for x in d)" 60
ok=$?
check manual_rollback_devices "$(cat devs.json)" $ok

# Usage errors exit 2 with a message; hub errors exit 1 with the hub's message.
"$bin" fleet deploy 1 > err.txt 2>&1
rc=$?
[ $rc = 2 ] && grep -q "name a target" err.txt
ok=$?
check deploy_needs_target "exit $rc: $(cat err.txt)" $ok
"$bin" fleet deploy 99 --group sim > err.txt 2>&1
rc=$?
[ $rc = 1 ] && grep -q "no bundle 99" err.txt
ok=$?
check deploy_unknown_bundle "exit $rc: $(cat err.txt)" $ok
"$bin" agent --hub "$HUB" --data cars/sim-0 --camera /dev/video9 > err.txt 2>&1
rc=$?
[ $rc = 1 ] && grep -q "agent: --camera: /dev/video9: No such file or directory" err.txt
ok=$?
check camera_refused "exit $rc: $(cat err.txt)" $ok

# The cars stop with the simulation, and nothing is left running.
kill -TERM "$sim"
wait "$sim"
rc=$?
sim=
grep -q "stopped 3 cars" sim.out
ok=$?
check simulate_stops "exit $rc: $(cat sim.out)" $((rc + $ok))
left=$(pgrep -f "agent --hub $HUB" | wc -l)
[ "$left" = 0 ]
check no_agents_left "$left agents still running" $?

kill "$pid"
wait "$pid"
check serve_stops "exit status $?" $?
pid=
if [ "$fail" = 0 ]; then echo "$passes passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $fail
