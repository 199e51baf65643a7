#!/usr/bin/env bash
# The hub's commands as a user runs them: the examples of docs/cli/serve.md, admin.md,
# worker.md, login.md, push.md, jobs.md and train.md's "On a hub", against a real hub on a free
# loopback port (their URL http://127.0.0.1:8080 is the one this hub got), with their error
# messages. Args: the trackday binary, the build directory.
set -uo pipefail
bin=${1:?trackday binary}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
fail=0
passed=0
check() { # name, message, status
    if [ "$3" -eq 0 ]; then echo "PASS $1"; passed=$((passed + 1)); else echo "FAIL $1: $2"; fail=1; fi
}
cd "$tmp" || exit 1
export XDG_CONFIG_HOME="$tmp/config" HOME="$tmp/home"
trackday() { "$bin" "$@"; }

# docs/cli/serve.md
out=$(echo 'a-long-admin-password' | trackday admin create-user --data hub-data --name admin --role admin 2>&1)
check admin_create_user "$out" $?
out=$(echo 'a-long-admin-password' | trackday admin create-user --data hub-data --name admin --role admin 2>&1)
[ $? -eq 1 ] && grep -q <<<"$out" "the user name 'admin' is taken"
check admin_create_user_taken "$out" $?
out=$(echo 'short' | trackday admin create-user --data hub-data --name bob --role learner 2>&1)
[ $? -eq 1 ] && grep -q <<<"$out" "8 to 256 characters"
check admin_short_password "$out" $?
out=$(echo 'alice-password-1' | trackday admin create-user --data hub-data --name alice --role learner \
      --insecure-fast-passwords 2>&1)
check admin_create_learner "$out" $?
[ "$(stat -c %a hub-data)" = 700 ]
ok=$? # (taken before the message: a $(...) in it would set $?)
check data_dir_private "mode $(stat -c %a hub-data)" $ok
mkfifo ready
# Background processes run the binary itself (not the function) so $! is their pid.
"$bin" serve --data hub-data --listen 127.0.0.1:0 --insecure-fast-passwords > ready 2> serve.log &
pids+=($!)
serve_pid=$!
read -r line < ready
HUB=$(echo "$line" | grep -o 'http://[^ ]*')
out=$(curl -s "$HUB/api/v1/health")
[ "$out" = '{"status":"ok"}' ]
check serve_health "$out" $?

# docs/cli/admin.md and worker.md
trackday admin create-worker --data hub-data --name box1 > box1.token 2> create-worker.err
grep -q '^tdw_' box1.token
ok=$?
check admin_create_worker "$(cat create-worker.err)" $ok
out=$(trackday admin migrate --data hub-data 2>&1)
grep -qE <<<"$out" 'schema version ([0-9]+) \(this trackday knows \1\)'
check admin_migrate "$out" $?
out=$(trackday worker --hub "$HUB" 2>&1)
[ $? -eq 2 ] && grep -q "trackday worker: --token T is needed" <<<"$out"
check worker_needs_token "$out" $?
out=$(trackday worker --hub "$HUB" --token tdw_not-a-token --max-jobs 1 2>&1)
[ $? -eq 1 ] && grep -q <<<"$out" "refuses this worker's token"
check worker_bad_token "$out" $?
"$bin" worker --hub "$HUB" --token "$(cat box1.token)" --slots 2 --work "$tmp/work" 2> worker.log &
pids+=($!)
worker_pid=$!

# docs/cli/login.md
out=$(trackday push mymodel 2>&1)
[ $? -eq 1 ] && grep -q <<<"$out" "not logged in to a hub: run 'trackday login URL' first"
check push_needs_login "$out" $?
out=$(echo 'wrong-password' | trackday login "$HUB" --user alice 2>&1)
[ $? -eq 1 ] && grep -q <<<"$out" "wrong user name or password"
check login_wrong_password "$out" $?
out=$(echo 'alice-password-1' | trackday login "$HUB" --user alice 2>&1)
check login "$out" $?
[ "$(stat -c %a "$XDG_CONFIG_HOME/trackday/hub.json")" = 600 ]
ok=$?
check login_file_private "mode $(stat -c %a "$XDG_CONFIG_HOME/trackday/hub.json")" $ok

# docs/cli/push.md
trackday init mymodel --discrete --fast-actions --track default --sensor state > /dev/null
out=$(trackday push mymodel 2>&1)
grep -q <<<"$out" "model 1 'mymodel' version 1 (new model)"
check push_new "$out" $?
out=$(trackday push mymodel 2>&1)
grep -q <<<"$out" "model 1 'mymodel' version 2" && ! grep -q <<<"$out" "new model"
check push_version "$out" $?
out=$(trackday pull mymodel@1 -o old-copy 2>&1)
[ $? -eq 0 ] && cmp -s mymodel/reward_function.py old-copy/reward_function.py
check pull_version "$out" $?
out=$(trackday pull mymodel@1 -o old-copy 2>&1)
[ $? -eq 1 ] && grep -q <<<"$out" "old-copy exists"
check pull_refuses_overwrite "$out" $?
out=$(trackday pull nothing 2>&1)
[ $? -eq 1 ] && grep -q <<<"$out" "you have no model named 'nothing'"
check pull_unknown "$out" $?
echo '{"lr": 7}' > bad-hp.json
cp -r mymodel broken && cp bad-hp.json broken/hyperparameters.json
out=$(trackday push broken 2>&1)
[ $? -eq 1 ] && grep -q <<<"$out" "hyperparameters.json"
check push_refused_with_reason "$out" $?

# docs/cli/train.md, "On a hub": the same live line, the model back in the directory.
# On a terminal (script gives one) the job's iterations show in the status line of a local run.
script -q -e -c "'$bin' train mymodel --hub --minutes 0.5 --iterations 3 --track oval" tty.log \
    > /dev/null 2>&1
rc=$?
out=$(tr '\r' '\n' < tty.log)
[ $rc -eq 0 ] && grep -q "^iter [0-9]* done | .* | reward .* | progress " <<<"$out" &&
    grep -q "stopped: succeeded" <<<"$out" && [ -s mymodel/model/best.tdm ] &&
    [ "$(wc -l < mymodel/metrics/training.jsonl)" -eq 3 ]
check train_on_hub "rc $rc: $out" $?
out=$(trackday train mymodel --hub 2>&1)
[ $? -eq 2 ] && grep -q "trackday train: missing --minutes M" <<<"$out"
check train_on_hub_needs_minutes "$out" $?

# docs/cli/jobs.md
out=$(trackday jobs 2>&1)
grep -qE <<<"$out" "^ +1  train +succeeded +1 v3"
check jobs_table "$out" $?
out=$(trackday jobs 1 --watch 2>&1)
check jobs_watch_finished "$out" $?
out=$(trackday jobs 1 --cancel 2>&1)
[ $? -eq 1 ] && grep -q <<<"$out" "has already ended (succeeded)"
check jobs_cancel_finished "$out" $?
out=$(trackday jobs 1 2>&1)
grep -q <<<"$out" '"result_version": 4'
check jobs_detail "$out" $?
out=$(trackday jobs --state bogus 2>&1)
[ $? -eq 2 ] && grep -q -- "--state: 'bogus' must be one of queued|running|active" <<<"$out"
check jobs_bad_state "$out" $?

# The worker hands back and stops on SIGTERM.
kill -TERM "$worker_pid"
wait "$worker_pid"
ok=$?
check worker_stops "exit $ok: $(tail -3 worker.log)" $ok

# docs/cli/login.md: logout
out=$(trackday logout 2>&1)
[ $? -eq 0 ] && [ ! -e "$XDG_CONFIG_HOME/trackday/hub.json" ]
check logout "$out" $?
out=$(trackday jobs 2>&1)
[ $? -eq 1 ] && grep -q <<<"$out" "not logged in"
check jobs_after_logout "$out" $?

# docs/cli/alerts.md: an admin's drift alerts (none on this hub), retraining from one that does
# not exist (also with --then and gates), the options --retrain and the gates need; a learner is
# refused. docs/cli/fleet.md: the autopilot's key.
out=$(echo 'alice-password-1' | trackday login "$HUB" --user alice 2>&1 && trackday alerts 2>&1)
[ $? -eq 1 ] && grep -q "trackday: alerts:" <<<"$out"
check alerts_learner_refused "$out" $?
out=$(echo 'a-long-admin-password' | trackday login "$HUB" --user admin 2>&1 && trackday alerts 2>&1)
[ $? -eq 0 ] && grep -q "(no alerts)" <<<"$out"
check alerts_list "$out" $?
out=$(trackday alerts 1 --retrain --model 1 --minutes 1 2>&1)
[ $? -eq 1 ] && grep -q "no alert 1" <<<"$out"
check alerts_retrain_unknown "$out" $?
out=$(trackday alerts 1 --retrain 2>&1)
[ $? -eq 2 ] && grep -q -- "--retrain needs --model M and --minutes MIN" <<<"$out"
check alerts_retrain_needs_model "$out" $?
out=$(trackday alerts 1 --retrain --model 1 --minutes 1 --then evaluate,canary --gate-laps 2 \
    --min-completion 0.5 --max-lap-ratio 1.2 2>&1)
[ $? -eq 1 ] && grep -q "no alert 1" <<<"$out"
check alerts_retrain_then_unknown "$out" $?
out=$(trackday alerts 1 --gate-laps 2 2>&1)
[ $? -eq 2 ] && grep -q -- "--gate-laps, --min-completion and --max-lap-ratio go with --then" <<<"$out"
check alerts_gates_need_then "$out" $?
out=$(trackday fleet autopilot --once --key no-such.key 2>&1)
[ $? -eq 1 ] && grep -q "fleet autopilot: .*no-such.key" <<<"$out"
check autopilot_needs_a_key "$out" $?
out=$(trackday fleet autopilot --once 2>&1)
[ $? -eq 2 ] && grep -q -- "--key" <<<"$out"
check autopilot_key_required "$out" $?
trackday logout > /dev/null 2>&1

# admin gc keeps what is referred to.
out=$(trackday admin gc --data hub-data 2>&1)
grep -q <<<"$out" "deleted 0 unused files"
check admin_gc "$out" $?

# An old orphan goes, after a dry run and a longer --older-than that keep it.
orphan=hub-data/blobs/$(printf 'an orphan\n' | sha256sum | cut -c1-2)
mkdir -p "$orphan" && orphan="$orphan/$(printf 'an orphan\n' | sha256sum | cut -c1-64)"
printf 'an orphan\n' > "$orphan" && touch -d '-2 hours' "$orphan"
out=$(trackday admin gc --data hub-data --dry-run 2>&1)
grep -q <<<"$out" "dry run: would delete 1 unused files, 0.0 MB, 0 filesets; nothing deleted" && [ -f "$orphan" ]
check admin_gc_dry_run "$out" $?
out=$(trackday admin gc --data hub-data --older-than 86400 2>&1)
grep -q <<<"$out" "deleted 0 unused files" && [ -f "$orphan" ]
check admin_gc_older_than "$out" $?
out=$(trackday admin gc --data hub-data 2>&1)
grep -q <<<"$out" "deleted 1 unused files" && [ ! -f "$orphan" ]
check admin_gc_orphan "$out" $?

kill -TERM "$serve_pid"
wait "$serve_pid"
check serve_stops "exit $?" $?
pids=()
if [ "$fail" = 0 ]; then echo "$passed passed, 0 failed"; else echo "$passed passed, 1 failed"; fi
exit $fail
