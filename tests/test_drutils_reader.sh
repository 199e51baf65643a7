#!/usr/bin/env bash
# A trackday model directory read as deepracer-utils reads one: tests/drutils_reader.py (trackday's
# own pandas reader that mirrors deepracer-utils' folder detection, file patterns, CSV parsing,
# episode numbering, aggregates and TrainingMetrics loading; it is not deepracer-utils, which is
# not packaged for Debian) loads a model trained and evaluated by trackday, and what it finds is
# what `trackday logs` and the metrics files say.
# Args: the trackday binary, the build directory.
set -uo pipefail
bin=$(realpath "${1:?trackday binary}")
reader="$(cd "$(dirname "$0")" && pwd)/drutils_reader.py"
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # name, message, status
    if [ "$3" -eq 0 ]; then echo "PASS $1"; else echo "FAIL $1: $2"; fail=1; fi
}

# pandas is what deepracer-utils parses with (scripts/install-deps installs python3-pandas).
out=$("$py" -c 'import pandas, numpy; print(pandas.__version__)' 2>&1)
check pandas_installed "$py cannot import pandas (scripts/install-deps installs python3-pandas): $out" $?

cd "$tmp" || exit 1
"$bin" init m --discrete --fast-actions --sensor state --track oval >/dev/null &&
    "$bin" train m --iterations 2 --seed 3 --quiet >/dev/null 2>&1 &&
    "$bin" eval m --laps 2 >/dev/null 2>&1
# (eval exits 1 when a lap is not completed; the files are written either way)
"$bin" logs m --json > logs.json 2>logs.err && "$bin" logs m --eval --json > eval.json 2>>logs.err
ok=$? # (taken before the message: a $(...) in it would set $?)
check logs_json "$(cat logs.err)" $ok
out=$("$py" "$reader" m 2>&1 > reader.json)
check reader_loads "the reader failed on trackday's folder: $out" $?

out=$("$py" - <<'PY' 2>&1
import json, math
r = json.load(open("reader.json"))
logs = json.load(open("logs.json"))
ev = json.load(open("eval.json"))
tm = json.load(open("m/metrics/TrainingMetrics.json"))["metrics"]
step = 1.0 / 15
assert r["type"] == "DRFC_MODEL_SINGLE_WORKERS", r["type"]
assert r["metadata"] == {"actions": 10, "sensor": ["STATE"], "network": "MLP",
                         "version": "5"}, r["metadata"]
# episodes per iteration from iteration 0's episode numbers, as deepracer-utils counts them
assert r["episodes_per_iteration"] == r["hyperparameters"]["num_episodes_between_training"] == 20
eps = r["training"]
# Two iterations collect at least 40 episodes; cars that end on an iteration's last step add
# whole episodes that go into the next file (trainlog.c), so there are 40 or more, in
# ceil(n / 20) files, and the reader and trackday count the same ones.
n = logs["summary"]["episodes"]
assert len(eps) == n >= 40, (len(eps), n)
assert r["training_files"] == -(-n // 20), (r["training_files"], n)
assert [e["key"] for e in eps] == ["%d.0" % i for i in range(n)], [e["key"] for e in eps][:5]
for e, l in zip(eps, logs["episodes"]):
    assert e["steps"] == l["steps"], (e, l)
    # deepracer-utils aggregates an episode's largest progress; trackday logs (like DeepRacer's
    # completion_percentage) its last, which is lower when the car went back before the end.
    assert e["progress"] >= l["progress"] - 1e-3, (e, l)
    assert (e["progress"] == 100) == l["complete"], (e, l)
    assert abs(e["reward"] - l["total_reward"]) < 1e-3 * max(1.0, abs(l["total_reward"])), (e, l)
    assert e["complete"] == (1 if l["complete"] else 0), (e, l)
    # deepracer-utils' time: the tstamp differences after the prepare row
    assert abs(e["time"] - (e["steps"] - 1) * step) < 2e-3, e
m = r["training_metrics"]
assert m["training"] == n and m["iterations"] == r["training_files"] and m["evaluation"] > 0, m
training = [x for x in tm if x["phase"] == "training"]
assert sorted(x["completion_percentage"] for x in training) == \
    sorted(int(l["progress"]) for l in logs["episodes"]), "TrainingMetrics completion vs logs"
assert len(r["evaluations"]) == 1, r["evaluations"]
e = r["evaluations"][0]
laps = [x for x in e["laps"]]
assert len(laps) == ev["summary"]["episodes"] == 2, (laps, ev["summary"])
done = [x for x in laps if x["complete"]]
official = [ms / 1000 for ms, st in zip(e["official_ms"], e["official_status"]) if st == "Lap complete"]
assert len(done) == len(official) == ev["summary"]["complete"], (done, official, ev["summary"])
for x, o, l in zip(done, official, [y for y in ev["episodes"] if y["complete"]]):
    # The official lap time counts the prepare step deepracer-utils' sum leaves out.
    assert abs(x["time"] + step - o) < 2e-3, (x, o)
    assert abs(l["lap_time_s"] - o) < 2e-3, (l, o)
print("%d training episodes, %d evaluation laps (%s s official)" % (len(eps), len(done), official))
PY
)
check same_numbers_as_trackday "$out" $?

if [ $fail -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $fail
