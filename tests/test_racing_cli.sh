#!/usr/bin/env bash
# The racing line and the trained model's checks from the command line: `trackday tracks
# racing-line` (paper and driven laps, its waypoints, picture and reward function), `drive
# --driver racing-line`, `eval --robustness`, and an evaluation simtrace replayed by
# `trackday calibrate` onto its own poses. (Split from test_physics_cli.sh so that each stays
# well inside the test timeout on a loaded machine.)
# Args: the trackday binary, the build directory.
set -uo pipefail
bin=${1:?trackday binary}
fail=0
check() { # name, condition text, command status
    if [ "$3" -eq 0 ]; then echo "PASS $1"; else echo "FAIL $1: $2"; fail=1; fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- racing line ----------------------------------------------------------------------------
# (stderr apart: the JSON is stdout's; stderr carries the progress line.)
out=$("$bin" tracks racing-line kidney --json -o "$tmp/line.json" --reward "$tmp/rl.py" --png "$tmp/rl.png" 2>"$tmp/line.err")
rc=$?
echo "$out" | python3 -c 'import json,sys
o=json.load(sys.stdin)
assert o["lap_time_s"] < o["centerline_lap_s"]
assert abs(o["driven_lap_s"]/o["lap_time_s"]-1) < 0.01, o
assert o["off_tracks"] == 0 and o["footprint_clearance_m"] > 0 and o["max_line_error_m"] < 0.15
assert len(o["driven_lap_times_s"]) == 5' 2>/dev/null
ok=$?
check racing_line "paper and driven laps agree ($rc): $out $(cat "$tmp/line.err")" $(( rc || $ok ))
python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); p=o["points"]; assert len(p)>100 and len(p[0])==3 and o["lap_time_s"]>0 and o["car"]["steer_gain"]>0' "$tmp/line.json" 2>/dev/null
check racing_line_json "the line as waypoints" $?
[ "$(head -c 8 "$tmp/rl.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]
check racing_line_png "a PNG picture" $?
# The reward function it writes passes DeepRacer's checks and pays most on the line.
out=$("$bin" reward check "$tmp/rl.py" --track kidney 2>&1)
rc=$?
grep -qi <<<"$out" "no problems\|ok"
ok=$?
check racing_line_reward_check "reward check accepts it ($rc): $(echo "$out" | tail -3)" $(( rc || $ok ))
# Its nearest-point search starts between the closest waypoints' points (AT): from there it
# finds every point of the line, as the search over the whole line does.
out=$(python3 - "$tmp/rl.py" <<'PY' 2>&1
import importlib.util, sys
spec = importlib.util.spec_from_file_location("rl", sys.argv[1])
rl = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rl)
at, n, bad = rl.AT, len(rl.LINE), []
for j, (x, y, _) in enumerate(rl.LINE):
    k = max(k for k in range(len(at) - 1) if at[k] <= j or k == 0)
    if rl._nearest(x, y, (k, k + 1))[0] != j or rl._nearest(x, y, None)[0] != j:
        bad.append(j)
print(len(at), n, bad[:5])
sys.exit(1 if bad or len(at) < 10 else 0)
PY
)
check racing_line_reward_search "waypoint-started search finds every point: $out" $?
out=$("$bin" drive --track kidney --driver racing-line --json 2>&1)
rc=$?
echo "$out" | python3 -c 'import json,sys; o=json.load(sys.stdin); assert o["driver"]=="racing-line" and o["laps"]==3 and o["off_tracks"]==0' 2>/dev/null
check drive_racing_line "drive --driver racing-line laps ($rc): $out" $(( rc || $? ))
out=$("$bin" tracks racing-line Straight_track 2>&1)
[ $? -ne 0 ] && grep -q <<<"$out" "loop"
check racing_line_open_route "an open route has none: $out" $?

# ---- eval --robustness ----------------------------------------------------------------------
# (--spread-eval-starts: best.tdm chosen over the whole lap; DeepRacer's one start point may
# pick one that crashes at once. The replay check below needs a policy that drives 46 steps
# without an event: with the grip bounding the slip angle's changes, this seed's policies
# leave the oval within 35 steps until iteration 17 and lap it from then on.)
"$bin" init "$tmp/m" --discrete --fast-actions --sensor state --track oval >/dev/null 2>&1 &&
    "$bin" train "$tmp/m" --iterations 20 --spread-eval-starts --quiet >/dev/null 2>&1
out=$("$bin" eval "$tmp/m" --robustness --laps 3 --json 2>&1)
rc=$?
python3 -c 'import json,sys
o=json.load(sys.stdin); c=o["cases"]
assert len(c)==19 and c[0]["perturbation"]=="clean" and c[0]["strength"]=="none"
names={x["perturbation"] for x in c}
assert names=={"clean","dim","bright","contrast","noise","blur","floor_texture","distractors","camera_pitch","camera_height"}, names
assert all(abs(a-b)<1e-6 for a,b in zip(o["trial_starts"],[0,1/3,2/3])) and len(o["trial_starts"])==3 and o["trial_seeds"][0]==o["seed"] and len(set(o["trial_seeds"]))==3, o["trial_starts"]
for x in c:
    t=x["trials"]
    assert x["laps_requested"]==3 and len(t)==3
    # lap completion is the laps driven without an off-track (or other reset): a lap
    # completed after resets (DeepRacer evaluation) is not clean
    clean=sum(1 for y in t if y["completed"] and y["off_tracks"]==0 and y["resets"]==0)
    assert x["laps_clean"]==clean and abs(x["completion"]-clean/3)<1e-5, x
    assert x["laps_completed"]==sum(1 for y in t if y["completed"]) >= clean
    assert x["off_tracks"]==sum(y["off_tracks"] for y in t)
    assert all(y["progress_before_off_track"]==100 for y in t if y["clean"])
    assert abs(x["progress_before_off_track"]-sum(y["progress_before_off_track"] for y in t)/3)<1e-3
# the trials of a case differ: they start a third of the lap apart
assert len({y["steps"] for y in c[0]["trials"]})>1, c[0]["trials"]
# a state-sensor model sees none of it: every case drives as the clean one
strip=lambda x: {k: v for k, v in x.items() if k not in ("perturbation","strength")}
assert all(strip(x)==strip(c[0]) for x in c), "a state model drove a case differently"
a=o["all"]
assert a["laps_requested"]==57 and a["laps_clean"]==sum(x["laps_clean"] for x in c)==o["laps_clean"]' <<<"$out" 2>"$tmp/rob.err"
ok=$?
check eval_robustness "19 cases of 3 differing trials, clean laps counted ($rc): $(cat "$tmp/rob.err") $(head -c 400 <<<"$out")" $(( rc || ok ))
cp "$tmp/m/logs/robustness-oval.json" "$tmp/r1.json" 2>/dev/null
"$bin" eval "$tmp/m" --robustness --laps 3 >"$tmp/rob.txt" 2>&1
cmp -s "$tmp/r1.json" "$tmp/m/logs/robustness-oval.json"
check eval_robustness_repeats "the same seed gives the same table" $?
grep -q "^  all " "$tmp/rob.txt" && grep -q "clean  *off-tracks  *resets  *progress" "$tmp/rob.txt"
ok=$?
check eval_robustness_text "the table has a summary row: $(cat "$tmp/rob.txt")" $ok
"$bin" eval "$tmp/m" --robustness --laps 3 --seed 2 >/dev/null 2>&1
python3 -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:]); assert a["trial_seeds"][1:]!=b["trial_seeds"][1:] and b["trial_seeds"][0]==2' "$tmp/r1.json" "$tmp/m/logs/robustness-oval.json" 2>/dev/null
check eval_robustness_seed "another seed, other trial seeds" $?
out=$("$bin" eval "$tmp/m" --robustness --continuous 2>&1)
rc=$?
[ "$rc" -ne 0 ] && grep -q -- "--continuous" <<<"$out"
check eval_robustness_continuous "refused with --robustness ($rc): $out" $?

# ---- the simulator's own simtrace replays as DeepRacer's does ------------------------------
# Row k holds the pose at which action k was chosen and row k + 1 the pose it led to, as in
# DeepRacer's logs (docs/sim.md, "The order of a step"), so replaying an evaluation's simtrace
# with the car that drove it lands on the logged poses (to the CSV's 4 decimals); with the
# pose one step later, as before that order, it was 17 cm off after 1 s.
"$bin" eval "$tmp/m" --laps 2 --continuous >/dev/null 2>&1
trace=$(find "$tmp/m/logs" -path '*eval*' -name '*simtrace*.csv' | head -n 1)
out=$("$bin" calibrate "$trace" --no-fit --json 2>&1)
rc=$?
echo "$out" | python3 -c 'import json,sys
b=json.load(sys.stdin)["all"]["before"]
assert b["windows"] >= 1 and b["pos_median_m_1s"] < 0.01 and b["yaw_median_deg_1s"] < 0.5, b' 2>/dev/null
check replay_own_simtrace "the eval simtrace ${trace:-(none)} replays onto its poses ($rc): $out" $(( rc || $? ))

if [ "$fail" = 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $fail
