#!/usr/bin/env bash
# The reward sandbox as a user meets it: `reward check` never runs code it rejects, and a
# reward function that tries something the sandbox forbids stops `train` cleanly with a
# message naming the attempt, or is skipped with --on-reward-error skip. The newcomer
# audit's reproductions (canary files, /etc/passwd, os._exit). Args: the trackday binary.
set -uo pipefail
bin=$(realpath "${1:?trackday binary}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # name, message, status
    if [ "$3" -eq 0 ]; then echo "PASS $1"; else echo "FAIL $1: $2"; fail=1; fi
}
cd "$tmp" || exit 1
echo precious > canary

# 1. check: a rejected file is never run (module-level code included).
cat > rm.py <<PY
import os
os.remove("$tmp/canary")
def reward_function(params):
    return 1.0
PY
out=$("$bin" reward check rm.py --track oval 2>&1); rc=$?
[ $rc -eq 1 ] && [ -f canary ] && grep -q <<<"$out" "not run: trackday never runs a reward function the check rejects"
ok=$? # (taken before the message: a $(...) in it would set $?)
check check_never_runs_rejected_code "rc $rc, canary $( [ -f canary ] && echo kept || echo DELETED): $out" $ok

fresh() { rm -rf m; "$bin" init m --discrete --fast-actions --sensor state --track oval >/dev/null 2>&1; }

# 2. train: DeepRacer's validator refuses such files; with --no-validate they run, and the
#    sandbox stops them cleanly, naming the attempt; the params are saved.
fresh
cat > m/reward_function.py <<PY
import socket
def reward_function(params):
    if params['steps'] > 5:
        socket.socket()
    return 1.0
PY
out=$("$bin" train m --iterations 2 --quiet 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q <<<"$out" "\[import\] import of 'socket'" && [ ! -e m/model/last.tdm ]
check train_validator_refuses_a_socket "rc $rc: $out" $?
out=$("$bin" train m --iterations 2 --quiet --no-validate 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q <<<"$out" "network access (socket.__new__) is not allowed" &&
    grep -q '"kind": "sandbox"' m/logs/reward_error.json
check train_stops_on_a_socket "rc $rc: $out" $?

# 3. ... or, with --on-reward-error skip, scores those steps 0 and trains on.
rm -rf m/model
out=$("$bin" train m --iterations 2 --quiet --no-validate --on-reward-error skip --max-reward-errors 1000000 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q <<<"$out" "reward error 1 (the step scores 0, training goes on)" &&
    [ -s m/model/last.tdm ]
ok=$?
check train_skips_errors "rc $rc: $(echo "$out" | tail -3)" $ok

# 4. os._exit and a write outside the scratch directory stop train with their cause.
fresh
cat > m/reward_function.py <<PY
import os
def reward_function(params):
    os._exit(0)
PY
out=$("$bin" train m --iterations 1 --quiet --no-validate 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q <<<"$out" "os._exit(0) was called"
check train_stops_on_os_exit "rc $rc: $out" $?
fresh
cat > m/reward_function.py <<PY
def reward_function(params):
    open("$tmp/canary", "w").write("gone")
    return 1.0
PY
out=$("$bin" train m --iterations 1 --quiet --no-validate 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q <<<"$out" "canary' is not allowed" && [ "$(cat canary)" = precious ]
check train_stops_on_a_write "rc $rc: $out" $?

# 4b. An endless loop: stopped at the per-call limit, naming the line; train stops cleanly,
#     or with --on-reward-error skip scores that step 0 and trains on (the process survives:
#     its scratch file remembers that it looped once; the validator's states, which run
#     first in the same process, have no sim_time).
fresh
cat > m/reward_function.py <<PY
import os
def reward_function(params):
    if params.get('sim_time', 0) > 0.3 and not os.path.exists('looped'):
        open('looped', 'w').close()
        while True:
            pass
    return 1.0
PY
out=$("$bin" train m --iterations 1 --quiet --no-validate 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q <<<"$out" "reward_function.py:5: reward_function ran longer than the 1 s limit" &&
    grep -q '"kind": "timeout"' m/logs/reward_error.json
check train_stops_on_an_endless_loop "rc $rc: $out" $?
rm -rf m/model m/logs
out=$("$bin" train m --iterations 2 --quiet --no-validate --on-reward-error skip 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q <<<"$out" "reward error 1 (the step scores 0, training goes on)" &&
    grep -q <<<"$out" "ran longer than the 1 s limit" && [ -s m/model/last.tdm ]
ok=$?
check train_skips_an_endless_loop "rc $rc: $(echo "$out" | tail -3)" $ok

# 5. A non-UTF-8 file fails check and train with the same message.
fresh
printf 'def reward_function(params):\n    # caf\xe9\n    return 1.0\n' > m/reward_function.py
c=$("$bin" reward check m/reward_function.py --track oval 2>&1); crc=$?
t=$("$bin" train m --iterations 1 --quiet 2>&1); trc=$?
msg="the file is not UTF-8 (byte 0xe9 at line 2, column 10)"
[ $crc -eq 1 ] && [ $trc -eq 1 ] && grep -qF <<<"$c" "$msg" && grep -qF <<<"$t" "$msg"
check non_utf8_same_in_check_and_train "check rc $crc: $c / train rc $trc: $t" $?

# 6. A DeepRacer-style time-trial reward that reads the object keys unconditionally trains
#    (DeepRacer's params have them, at their defaults, in every race type).
fresh
cat > m/reward_function.py <<PY
def reward_function(params):
    if params['steps'] > 1 and not params['objects_location']:  # training: DeepRacer's defaults
        assert params['closest_objects'] == [0, 0] and params['object_in_camera'] is False
        assert type(params['steps']) is float
    reward = 1.0 if params['all_wheels_on_track'] else 1e-3
    if len(params['objects_location']) > 0 and params['objects_distance'][0] < 0.5:
        reward *= 0.5
    return float(reward)
PY
out=$("$bin" train m --iterations 2 --quiet 2>&1); rc=$?
[ $rc -eq 0 ] && [ -s m/model/last.tdm ]
check time_trial_reward_reads_object_keys "rc $rc: $out" $?

# 7. train refuses a function DeepRacer's validator rejects, naming the rule; --no-validate
#    trains it with a warning.
fresh
cat > m/reward_function.py <<PY
def reward_function(params):
    if params['is_offtrack'] == True:
        return 1e-3
    return 1
PY
out=$("$bin" train m --iterations 1 --quiet 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q <<<"$out" "DeepRacer's validator rejects the reward function" &&
    grep -q <<<"$out" "reward_function.py:2:[0-9]*: \[flake8 E712\]" && [ ! -e m/model/last.tdm ]
check train_refuses_validator_rejection "rc $rc: $out" $?
out=$("$bin" train m --iterations 1 --quiet --no-validate 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q <<<"$out" "training anyway: --no-validate" && [ -s m/model/last.tdm ]
check train_no_validate "rc $rc: $out" $?
sed -i 's/== True/is True/; s/return 1$/return 1.0/' m/reward_function.py
rm -rf m/model
out=$("$bin" train m --iterations 1 --quiet 2>&1); rc=$?
[ $rc -eq 0 ]
check train_accepts_valid "rc $rc: $out" $?

# 8. Where TMPDIR is not writable (a hub job runs train with the reward in its own process
#    and a read-only /tmp), DeepRacer's lint rules still run: flake8's copy of the file goes
#    to the first writable place (HOME here) and is removed after.
sed -i 's/is True/== True/' m/reward_function.py
mkdir -p home
out=$(TRACKDAY_SANDBOX=none TMPDIR=/proc/self HOME="$tmp/home" "$bin" reward check \
    m/reward_function.py --track oval 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q <<<"$out" "reward_function.py:2:[0-9]*: error \[flake8 E712\]" &&
    [ -z "$(ls -A home)" ]
ok=$?
check validator_without_a_writable_tmpdir "rc $rc, home: $(ls -A home): $out" $ok

if [ $fail -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $fail
