#!/usr/bin/env bash
# Runs the examples of docs/cli/drive.md and docs/cli/probe.md and `trackday bench sim`
# briefly, checking their outputs. Args: the trackday binary, the build directory.
set -uo pipefail
bin=${1:?trackday binary}
fail=0
passed=0
failed=0
check() { # name, condition text, command status
    if [ "$3" -eq 0 ]; then
        echo "PASS $1"
        passed=$((passed + 1))
    else
        echo "FAIL $1: $2"
        fail=1
        failed=$((failed + 1))
    fi
}

out=$("$bin" drive --track reInvent2019_track 2>&1)
rc=$?
grep -q "^lap 3: " <<<"$out" && grep -q "off-tracks 0, crashes 0" <<<"$out"
check drive_text "three laps, no incidents (rc $rc): $out" $(( rc || $? ))

out=$("$bin" drive --track oval --reverse --json 2>&1)
rc=$?
echo "$out" | python3 -c 'import json,sys; o=json.load(sys.stdin); \
assert o["laps"]==3 and len(o["lap_times_s"])==3 and o["off_tracks"]==0 and \
o["direction"]=="reverse" and o["status"]=="lap_complete", o' 2>/dev/null
check drive_json "JSON with 3 laps: $out" $(( rc || $? ))

out=$("$bin" drive --track reInvent2019_track --bots 3 --lane-change --laps 2 2>&1)
rc=$?
grep -q "HEAD_TO_BOT" <<<"$out" && grep -q "^lap 2: " <<<"$out"
check drive_bots "head to bot, 2 laps: $out" $(( rc || $? ))

out=$("$bin" drive --track nowhere_track 2>&1)
[ $? -eq 1 ] && grep -q "no track named 'nowhere_track'" <<<"$out"
check drive_bad_track "a missing track fails with exit 1 and says so: $out" $?
out=$("$bin" drive --track oval --driver fast 2>&1)
[ $? -eq 2 ] && grep -q -- "--driver: 'fast' is not pure-pursuit" <<<"$out"
check drive_bad_driver "a bad option value exits 2 and names it: $out" $?

out=$(printf "2.9 0.7 0\n# comment\n\n3.5 0.75 10 1.0 15\n" | "$bin" probe --track reinvent_base)
rc=$?
echo "$out" | python3 -c 'import json,sys
rows=[json.loads(l) for l in sys.stdin]
assert len(rows)==2
a,b=rows
assert abs(a["x"]-3.04)<1e-9 and a["heading"]==0 and a["progress"]<0 and "waypoints" not in a
assert abs(b["heading"]-10)<1e-9 and b["speed"]==1.0 and b["steering_angle"]==15.0
assert b["closest_waypoints"]==[3,4] and b["all_wheels_on_track"] and b["progress"]>0' 2>/dev/null
check probe_example "two objects as documented: $out" $(( rc || $? ))

out=$(printf "0 0 0\n" | "$bin" probe --track oval --waypoints --obstacles 2)
echo "$out" | python3 -c 'import json,sys; o=json.loads(sys.stdin.readline()); \
assert len(o["waypoints"])>10 and len(o["objects_location"])==2' 2>/dev/null
check probe_flags "waypoints and objects: $out" $?

out=$(printf "1 2\n" | "$bin" probe --track oval 2>&1)
[ $? -eq 1 ] && grep -q "line 1" <<<"$out"
check probe_bad_line "names the line: $out" $?

out=$(printf "0 0 0\nnan 0 0\n" | "$bin" probe --track oval 2>&1 >/dev/null)
[ $? -eq 1 ] && grep -q "line 2: x is nan, not finite" <<<"$out"
check probe_not_finite "names the value: $out" $?

out=$(printf "1 2 inf\n" | "$bin" probe --track oval 2>&1 >/dev/null)
[ $? -eq 1 ] && grep -q "line 1: heading_deg is inf, not finite" <<<"$out"
check probe_inf "names the value: $out" $?

out=$(printf "1e300 0 0\n" | "$bin" probe --track oval 2>&1 >/dev/null)
[ $? -eq 1 ] && grep -q "line 1: x is 1e+300 m, outside" <<<"$out"
check probe_far "names the value: $out" $?

out=$("$bin" bench sim --seconds 0.05 --envs 4 --threads 2 2>&1)
rc=$?
for b in baseline_mflops sim_state_steps_per_s sim_lidar_steps_per_s sim_camera_frames_per_s \
         sim_state_steps_per_s_threads; do
    grep -q "\"bench\": \"$b\"" <<<"$out" || rc=1
done
check bench_sim "all benchmark lines: $out" $rc

echo "$passed passed, $failed failed"
exit $fail
