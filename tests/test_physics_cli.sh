#!/usr/bin/env bash
# The car from the command line: `trackday drive --actions` (open-loop replay) and
# `trackday calibrate` on a log that trackday's own car wrote with known parameters, plus
# the examples of docs/cli/calibrate.md and the replay example of docs/cli/drive.md.
# Args: the trackday binary, the build directory.
set -uo pipefail
bin=${1:?trackday binary}
fail=0
check() { # name, condition text, command status
    if [ "$3" -eq 0 ]; then echo "PASS $1"; else echo "FAIL $1: $2"; fail=1; fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- drive --actions ------------------------------------------------------------------------
out=$("$bin" drive --start "0 0 0 0" --actions tests/data/actions.csv --car ideal 2>&1)
rc=$?
echo "$out" | python3 -c 'import json,sys
rows=[json.loads(l) for l in sys.stdin]
assert len(rows)==30, len(rows)
assert all(set(r)>={"x","y","yaw","speed","steer","step","t"} for r in rows)
# ideal car, 1 m/s straight for 10 steps: speed 1-exp(-t/0.1), moving along +x only
assert abs(rows[9]["speed"]-(1-2.718281828**(-10/15/0.1)))<1e-6 and abs(rows[9]["y"])<1e-12
# then 20 degrees left: the car turns left
assert rows[29]["yaw"]>20 and rows[29]["y"]>0' 2>/dev/null
ok=$?
check drive_actions "30 poses, straight then left ($rc): $(echo "$out" | tail -2)" $(( rc || $ok ))

# History rows set the response without moving the car: start at rest at pose 10 with the
# first 10 rows as history, and the same poses follow as in the full replay.
full=$("$bin" drive --start "0 0 0 0" --actions tests/data/actions.csv 2>&1)
p10=$(echo "$full" | sed -n 10p | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(r["x"],r["y"],r["yaw"],r["speed"])')
hist=$("$bin" drive --start "$p10" --actions tests/data/actions.csv --history 10 2>&1)
rc=$?
python3 - "$full" "$hist" <<'PY' 2>/dev/null
import json,sys
a=[json.loads(l) for l in sys.argv[1].splitlines()][10:]
b=[json.loads(l) for l in sys.argv[2].splitlines()]
assert len(a)==len(b)==20
assert max(abs(p["x"]-q["x"])+abs(p["y"]-q["y"]) for p,q in zip(a,b))<1e-6
PY
check drive_history "history reproduces the full replay ($rc)" $(( rc || $? ))

out=$("$bin" drive --track oval --actions tests/data/actions.csv --json 2>&1)
rc=$?
[ $rc -eq 0 ] && [ "$(echo "$out" | wc -l)" -eq 30 ]
check drive_actions_track "the track's start line as the start" $?

printf 'steer,throttle\n0,1\n0,fast\n' > "$tmp/bad.csv"
out=$("$bin" drive --start "0 0 0 0" --actions "$tmp/bad.csv" 2>&1)
[ $? -ne 0 ] && grep -q <<<"$out" "bad.csv:3" && grep -q <<<"$out" "throttle"
check drive_actions_bad_row "names file, line and column: $out" $?
out=$("$bin" drive --actions tests/data/actions.csv 2>&1)
[ $? -ne 0 ] && grep -q <<<"$out" -- "--start"
check drive_actions_no_start "asks for a start: $out" $?
out=$("$bin" drive --start "1 2 3" --actions tests/data/actions.csv 2>&1)
[ $? -ne 0 ] && grep -q <<<"$out" -- "--start"
check drive_bad_start "four numbers: $out" $?
out=$("$bin" drive --track oval --car rocket 2>&1)
[ $? -ne 0 ] && grep -q <<<"$out" "rocket"
check drive_bad_car "names the car: $out" $?

# ---- calibrate on trackday's own log -------------------------------------------------------
# A car with known parameters drives 900 steps of held random actions (a discrete policy's
# style); the poses become a simtrace in DeepRacer's pairing (row k: the pose at which
# action k was chosen; tstamp: the time its step ended).
cat > "$tmp/truth.json" <<'JSON'
{"preset": "ideal", "steer_gain": 0.65, "steer_tau_s": 0.18, "steer_delay_s": 0.06,
 "speed_tau_s": 0.12, "speed_delay_s": 0.02, "speed_gain": 1.02, "grip_mps2": 4.5}
JSON
python3 - "$tmp/acts.csv" <<'PY'
import random,sys
random.seed(11)
rows=["steer,throttle"]
while len(rows)<901:
    s=random.choice([-30,-20,-10,0,10,20,30]); v=random.choice([1.0,1.5,2.5,3.5])
    rows+=["%g,%g"%(s,v)]*random.randint(1,8)
open(sys.argv[1],"w").write("\n".join(rows[:901])+"\n")
PY
"$bin" drive --start "0 0 0 0" --actions "$tmp/acts.csv" --car "$tmp/truth.json" > "$tmp/poses.jsonl"
python3 - "$tmp/acts.csv" "$tmp/poses.jsonl" "$tmp/log.csv" <<'PY'
import json,math,sys
acts=[l.split(",") for l in open(sys.argv[1]).read().split()[1:]]
poses=[{"x":0,"y":0,"yaw":0}]+[json.loads(l) for l in open(sys.argv[2])]
out=["episode,steps,X,Y,yaw,steer,throttle,action,reward,done,all_wheels_on_track,progress,"
     "closest_waypoint,track_len,tstamp,episode_status,pause_duration"]
for k,(s,v) in enumerate(acts):
    p=poses[k]; h=math.radians(p["yaw"])
    out.append("0,%d,%.9f,%.9f,%.9f,%s,%s,0,1,False,True,0,0,10,%.6f,in_progress,0"%(
        k+1,p["x"]+0.14*math.cos(h),p["y"]+0.14*math.sin(h),p["yaw"],s,v,(k+1)/15))
open(sys.argv[3],"w").write("\n".join(out)+"\n")
PY
out=$("$bin" calibrate "$tmp/log.csv" --car ideal --json -o "$tmp/fitted.json" 2>&1)
rc=$?
echo "$out" | python3 -c 'import json,sys
o=json.load(sys.stdin); a=o["car_after"]
t={"steer_gain":0.65,"steer_tau_s":0.18,"steer_delay_s":0.06,"speed_tau_s":0.12,
   "speed_delay_s":0.02,"speed_gain":1.02,"grip_mps2":4.5}
tol={"steer_gain":0.01,"steer_tau_s":0.01,"steer_delay_s":0.005,"speed_tau_s":0.01,
     "speed_delay_s":0.005,"speed_gain":0.005,"grip_mps2":0.15}
bad=[k for k in t if abs(a[k]-t[k])>tol[k]]
assert not bad, [(k,a[k]) for k in bad]
l=o["logs"][0]
assert l["before"]["pos_median_m_1s"]>0.2 and l["after"]["pos_median_m_1s"]<0.005, l
assert o["all"]["after"]["windows"]==l["after"]["windows"]>500' 2>/dev/null
ok=$?
check calibrate_recovers "fitted car near the truth ($rc): $(echo "$out" | head -c 600)" $(( rc || $ok ))
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert abs(c["steer_gain"]-0.65)<0.01' "$tmp/fitted.json" 2>/dev/null
check calibrate_writes_car "-o writes a car file" $?
out=$("$bin" drive --track oval --car "$tmp/fitted.json" 2>&1)
check calibrate_car_drives "the fitted car file drives ($out)" $?

out=$("$bin" calibrate "$tmp/log.csv" --car "$tmp/truth.json" --no-fit 2>&1)
rc=$?
grep -q <<<"$out" "^car: steer_gain 0.650" && grep -q <<<"$out" "windows"
check calibrate_no_fit "errors of the given car only ($rc): $out" $(( rc || $? ))

out=$("$bin" calibrate "$tmp/nowhere" 2>&1)
[ $? -ne 0 ] && grep -q <<<"$out" "nowhere"
check calibrate_missing "names the missing log: $out" $?
head -20 "$tmp/log.csv" > "$tmp/short.csv"
out=$("$bin" calibrate "$tmp/short.csv" 2>&1)
[ $? -ne 0 ] && grep -q <<<"$out" "no usable window"
check calibrate_short "too short a log: $out" $?
out=$("$bin" calibrate "$tmp/log.csv" --fit steer_gain,wings 2>&1)
[ $? -ne 0 ] && grep -q <<<"$out" "wings"
check calibrate_bad_param "names the bad parameter: $out" $?

if [ "$fail" = 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $fail
