#!/usr/bin/env bash
# Runs the examples of docs/cli/init.md, train.md and eval.md as a new user would, and checks
# what they print and write. Args: the trackday binary, the build directory.
set -uo pipefail
bin=${1:?trackday binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # name, message, status
    if [ "$3" -eq 0 ]; then echo "PASS $1"; else echo "FAIL $1: $2"; fail=1; fi
}
m="$tmp/m"

out=$("$bin" init "$m" --track reinvent_base 2>&1)
rc=$?
[ $rc -eq 0 ] && for f in model_metadata.json hyperparameters.json training_params.yaml \
    reward_function.py README.md; do [ -s "$m/$f" ] || rc=1; done
check init "writes the five files (rc $rc): $out" $rc

"$bin" init "$m" >/dev/null 2>&1
[ $? -ne 0 ]
check init_keeps_files "a second init without --force refuses" $?

out=$("$bin" train "$m" --until-laps 3 --minutes 2 --seed 1 2>&1)
rc=$?
echo "$out" | grep -q "^stopped: laps completed" && [ -s "$m/model/best.tdm" ] &&
    [ -s "$m/model/last.state" ] && [ -s "$m/logs/training-simtrace.csv" ]
check train_until_laps "stops on 3 laps and writes checkpoints (rc $rc): $out" $(( rc || $? ))

lines=$(wc -l < "$m/metrics/training.jsonl")
python3 -c 'import json,sys
rows=[json.loads(l) for l in open(sys.argv[1])]
assert rows[-1]["laps_ok"] is True, rows[-1]
assert [r["iteration"] for r in rows] == list(range(1, len(rows)+1))' "$m/metrics/training.jsonl"
check metrics_lines "one JSON line per iteration" $?

out=$("$bin" train "$m" --resume --iterations $((lines + 2)) --quiet 2>&1)
rc=$?
[ "$(wc -l < "$m/metrics/training.jsonl")" -eq $((lines + 2)) ]
check train_resume "resume adds two iterations (rc $rc): $out" $(( rc || $? ))

out=$("$bin" eval "$m" --laps 3 2>&1)
rc=$?
echo "$out" | grep -q "3 of 3 laps" && [ -s "$m/logs/eval-reinvent_base.json" ] &&
    [ -s "$m/logs/eval-reinvent_base.svg" ] && [ -s "$m/logs/eval-reinvent_base-simtrace.csv" ]
check eval_laps "3 laps and the three files (rc $rc): $out" $(( rc || $? ))

out=$("$bin" eval "$m" --laps 3 --continuous --json 2>&1)
rc=$?
echo "$out" | python3 -c 'import json,sys; o=json.load(sys.stdin)
assert o["continuous"] and o["laps_completed"]==3 and len(o["laps"])==3, o
assert abs(o["total_time_s"] - sum(l["time_s"] for l in o["laps"])) < 1e-6, o'
check eval_continuous_json "continuous report (rc $rc): $out" $(( rc || $? ))

out=$("$bin" eval "$m" --max-resets 0 --json 2>&1)
rc=$?
echo "$out" | python3 -c 'import json,sys; o=json.load(sys.stdin)
assert not o["continuous"] and o["max_resets"] == 0 and o["resets"] == 0, o'
check eval_lap_by_lap "no resets with --max-resets 0 (rc $rc): $out" $(( rc || $? ))

# SIGTERM during training: the current step finishes, a checkpoint is written, exit 0. The
# progress lines come through a FIFO, so the test waits for the first iteration by reading.
m2="$tmp/m2"
"$bin" init "$m2" >/dev/null
mkfifo "$tmp/progress"
"$bin" train "$m2" --minutes 10 > "$tmp/train.out" 2> "$tmp/progress" &
pid=$!
exec 3< "$tmp/progress"
read -r -u 3 first            # "training ... on ..."
read -r -u 3 iteration_line   # the first iteration's progress line
kill -TERM "$pid"
cat <&3 > /dev/null           # drain until the trainer exits (keeps its stderr writable)
exec 3<&-
wait "$pid"
rc=$?
grep -q "^stopped: interrupted" "$tmp/train.out" && [ -s "$m2/model/last.tdm" ] &&
    echo "$iteration_line" | grep -q "^iter "
check train_sigterm "exit 0, interrupted, checkpoint kept (rc $rc): $(cat "$tmp/train.out")" \
    $(( rc || $? ))

out=$("$bin" train "$tmp/nowhere" 2>&1)
[ $? -ne 0 ] && echo "$out" | grep -q "trackday init"
check train_missing_dir "says how to make one: $out" $?

echo '{"lr": 7}' > "$m/hyperparameters.json"
out=$("$bin" train "$m" --resume 2>&1)
[ $? -ne 0 ] && echo "$out" | grep -q 'hyperparameters.json: "lr" is 7'
check train_bad_value "names file and key: $out" $?

if [ $fail -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $fail
