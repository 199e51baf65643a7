#!/usr/bin/env bash
# Data-parallel training (docs/cli/train.md, "Several processes"): `mpirun -np 2 trackday
# train` with PPO (discrete and continuous actions) and SAC: every rank ends with the same weights
# (each prints its own hash; the trainer checks after every update and stops when they
# differ, which a run that breaks them on purpose shows), rank 0 alone writes, and a run of
# two processes resumes in one and back in two. Args: the trackday binary, the build directory.
set -uo pipefail
bin=${1:?trackday binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # name, message, status
    if [ "$3" -eq 0 ]; then echo "PASS $1"; else echo "FAIL $1: $2"; fail=1; fi
}
# CI runs as root; Open MPI refuses root without these.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI's own allocations at exit are not trackday's leaks (the sanitizer build).
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
mpi() { # K, trackday args...
    local k=$1
    shift
    mpirun -np "$k" --oversubscribe --mca btl self,vader "$bin" "$@" </dev/null
}
if ! command -v mpirun >/dev/null; then
    # scripts/install-deps installs openmpi-bin: its absence is a failure, not a skip.
    echo "FAIL mpirun: not found (scripts/install-deps installs openmpi-bin)"
    echo "0 passed, 1 failed"
    exit 1
fi
small=(--envs 4 --episodes-per-iteration 4 --quiet)

# The hashes both ranks print: rank 0's summary line, rank 1's line on stderr.
hashes() {
    sed -n 's/.*weights fnv1a64 \([0-9a-f]\{16\}\).*/\1/p' <<<"$1" | sort -u | tr '\n' ' '
}
ranks_agree() { # output: two lines with a hash, one hash
    [ "$(grep -c 'weights fnv1a64 [0-9a-f]\{16\}' <<<"$1")" -eq 2 ] &&
        [ "$(hashes "$1" | wc -w)" -eq 1 ]
}

# (init --reward centre-line: the reward is not what these check, and the racing line init
# computes for a DeepRacer route costs about 12 s under ASan per model.)
m="$tmp/disc"
"$bin" init "$m" --discrete --fast-actions --sensor state --track reinvent_base --reward centre-line >/dev/null || fail=1
out=$(mpi 2 train "$m" --iterations 2 "${small[@]}" 2>&1)
rc=$?
ranks_agree "$out" && grep -q "^2 processes (rank 0: 2 cars, [0-9]* steps)" <<<"$out" &&
    grep -q "^trackday: rank 1 of 2: 2 cars, [1-9][0-9]* steps" <<<"$out" &&
    [ -s "$m/model/last.tdm" ] && [ "$(wc -l <"$m/metrics/training.jsonl")" -eq 2 ]
check discrete_two_ranks "rc 0, one hash on both ranks, two metrics lines (rc $rc): $out" \
    $((rc || $?))

# The steps of the metrics are both ranks' (each stepped its own two cars); PPO's ranks step
# together until their cars together have ended the iteration's episodes: as many steps each.
s0=$(sed -n 's/^2 processes (rank 0: 2 cars, \([0-9]*\) steps).*/\1/p' <<<"$out")
s1=$(sed -n 's/^trackday: rank 1 of 2: 2 cars, \([0-9]*\) steps.*/\1/p' <<<"$out")
steps=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])["steps"])' \
    "$m/metrics/training.jsonl")
[ -n "$s0" ] && [ -n "$s1" ] && [ "$steps" -eq $((s0 + s1)) ] && [ "$s0" -eq "$s1" ]
check steps_of_both_ranks "metrics steps $steps = rank 0's $s0 + rank 1's $s1, equal" $?

# A run of two processes goes on in one, and back in two.
out=$("$bin" train "$m" --resume --iterations 1 "${small[@]}" 2>&1)
rc=$?
grep -q "^stopped: iteration limit after 1 more iterations (3 in all)" <<<"$out"
check resume_one_rank "resumes the two-rank run in one process (rc $rc): $out" $((rc || $?))
out=$(mpi 2 train "$m" --resume --iterations 1 "${small[@]}" 2>&1)
rc=$?
ranks_agree "$out" && grep -q "^stopped: iteration limit after 1 more iterations (4 in all)" <<<"$out"
check resume_two_ranks "resumes the one-process run in two (rc $rc): $out" $((rc || $?))

# The greedy evaluation, split over the ranks (each drives its share of the 5 episodes, from
# the same start points and random streams as one process), is the one of one process: the
# same checkpoint trained one more iteration with a learning rate too small to move a weight,
# in one process and in two, evaluates alike (progress of every episode, in the same order).
for k in 1 2; do
    cp -a "$m" "$tmp/eval$k"
    /usr/bin/python3 -c 'import json,sys
h = json.load(open(sys.argv[1])); h["lr"] = 1e-30; json.dump(h, open(sys.argv[1], "w"))' \
        "$tmp/eval$k/hyperparameters.json"
done
"$bin" train "$tmp/eval1" --resume --iterations 1 "${small[@]}" >/dev/null 2>&1
rc=$?
mpi 2 train "$tmp/eval2" --resume --iterations 1 "${small[@]}" >/dev/null 2>&1
rc=$((rc || $?))
evals() { # the last iteration's evaluation: its mean, then each episode's progress
    /usr/bin/python3 -c 'import json,sys
r = json.loads(open(sys.argv[1] + "/metrics/training.jsonl").readlines()[-1])
t = json.load(open(sys.argv[1] + "/metrics/TrainingMetrics.json"))["metrics"]
last = [e for e in t if e["phase"] == "evaluation"][-5:]
print(r["eval_progress"], r["eval_completion"],
      [(e["completion_percentage"], e["elapsed_time_in_milliseconds"], e["episode_status"]) for e in last])' "$1"
}
e1=$(evals "$tmp/eval1") e2=$(evals "$tmp/eval2")
[ $rc -eq 0 ] && [ -n "$e1" ] && [ "$e1" = "$e2" ]
check eval_split_like_one_process "one process: $e1; two: $e2 (rc $rc)" $?

m="$tmp/cont"
"$bin" init "$m" --fast-actions --sensor state --continuous --track reinvent_base --reward centre-line >/dev/null || fail=1
out=$(mpi 2 train "$m" --iterations 2 --reward builtin:follow_center_line "${small[@]}" 2>&1)
rc=$?
ranks_agree "$out" && [ "$(wc -l <"$m/metrics/training.jsonl")" -eq 2 ]
check continuous_two_ranks "PPO with continuous actions, one hash (rc $rc): $out" $((rc || $?))

# The check itself: a rank that nudges a weight stops the job before any checkpoint.
m="$tmp/diverge"
"$bin" init "$m" --discrete --fast-actions --sensor state --track reinvent_base --reward centre-line >/dev/null || fail=1
out=$(TD_TEST_DIST_DIVERGE=1 mpi 2 train "$m" --iterations 2 --reward builtin:follow_center_line \
    "${small[@]}" 2>&1)
rc=$?
[ $rc -ne 0 ] && grep -q "the ranks' weights differ after iteration 1" <<<"$out" &&
    [ ! -e "$m/model/last.tdm" ]
check divergence_detected "exit non-zero, the message, no checkpoint (rc $rc): $out" $?

# SAC: each rank its own replay buffer and share of each minibatch; resumed in one process.
m="$tmp/sac"
"$bin" init "$m" --fast-actions --sensor state --algo sac --track reinvent_base --reward centre-line >/dev/null || fail=1
out=$(mpi 2 train "$m" --iterations 3 --reward builtin:follow_center_line "${small[@]}" 2>&1)
rc=$?
ranks_agree "$out" && [ "$(wc -l <"$m/metrics/training.jsonl")" -eq 3 ] &&
    /usr/bin/python3 -c 'import json,sys
r = json.loads(open(sys.argv[1]).readlines()[-1])
assert r["value_loss"] > 0, r  # the ranks made gradient updates' "$m/metrics/training.jsonl"
check sac_two_ranks "SAC in two ranks, one hash, updates made (rc $rc): $out" $((rc || $?))
out=$("$bin" train "$m" --resume --iterations 1 --reward builtin:follow_center_line "${small[@]}" 2>&1)
rc=$?
grep -q "^stopped: iteration limit after 1 more iterations (4 in all)" <<<"$out"
check sac_resume_one_rank "(rc $rc): $out" $((rc || $?))

# Fewer cars than processes: refused, said once.
out=$(mpi 2 train "$m" --resume --iterations 1 --envs 1 --quiet 2>&1)
rc=$?
[ $rc -ne 0 ] && [ "$(grep -c -- "--envs 1: fewer cars than the 2 processes" <<<"$out")" -eq 1 ]
check too_few_cars "exit non-zero and one message (rc $rc): $out" $?

if [ $fail -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $fail
