#!/usr/bin/env bash
# docs/deploy.md, tested: (1) the systemd units pass `systemd-analyze verify` without a word;
# (2) the single-machine setup runs as the units run it: their ExecStart lines and environment
# files (paths moved into a scratch directory, the hub on a free port), the admin steps of
# docs/deploy.md, a learner's training job through the worker unit's command, and both stop on
# their KillSignal within TimeoutStopSec with status 0; (3) the Kubernetes manifests pass the
# schema check (tests/k8s_check.py, tests/data/k8s/schema.json), and broken copies of them do
# not. Args: the trackday binary, the build directory.
set -uo pipefail
bin=${1:?trackday binary}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
src=$(cd "$(dirname "$0")/.." && pwd)
units="$src/docs/deploy/systemd"
k8s="$src/docs/deploy/k8s"
py=/usr/bin/python3
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
failed=0
passed=0
check() { # name, message, status
    if [ "$3" -eq 0 ]; then echo "PASS $1"; passed=$((passed + 1)); else echo "FAIL $1: $2"; failed=$((failed + 1)); fi
}
cd "$tmp" || exit 1
export XDG_CONFIG_HOME="$tmp/config" HOME="$tmp/home"
mkdir -p "$HOME" units root/etc/trackday

# The units as installed: the binary and the state directories moved into the scratch one.
place() { # unit file -> stdout
    sed -e "s#/usr/local/bin/trackday#$bin#g" -e "s#/var/lib/#$tmp/root/var/lib/#g" \
        -e "s#/etc/trackday/#$tmp/root/etc/trackday/#g" "$1"
}
for u in "$units"/*.service; do
    place "$u" >"units/$(basename "$u")"
done

# ---- 1. systemd-analyze verify ---------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
    out=$(cd units && systemd-analyze verify trackday-hub.service trackday-worker@1.service 2>&1)
    rc=$?
    [ $rc -eq 0 ] && [ -z "$out" ]
    check systemd_units_verify "$out" $?
    # The check can fail: a misspelt key is reported.
    sed 's/^Restart=/Restrat=/' units/trackday-hub.service >units/broken-hub.service
    out=$(cd units && systemd-analyze verify broken-hub.service 2>&1)
    grep -q "Unknown key 'Restrat'" <<<"$out"
    check systemd_verify_sees_a_typo "$out" $?
else
    check systemd_units_verify "systemd-analyze is missing (scripts/install-deps installs systemd)" 1
fi

# ---- 2. The single-machine setup, run as the units run it --------------------------------------
unit_value() { # unit key -> the value of its first KEY= line
    sed -n "s/^$2=//p" "units/$1" | head -n 1
}
hub_cmd=$(unit_value trackday-hub.service ExecStart)
worker_cmd=$(unit_value trackday-worker@.service ExecStart)
data=$(sed -E 's/.*--data ([^ ]+).*/\1/' <<<"$hub_cmd")
# docs/deploy.md, "One machine with systemd": the admin and the worker's token, as the hub's user.
echo 'a-long-admin-password' | "$bin" admin create-user --data "$data" --name admin --role admin \
    >/dev/null 2>&1
echo 'alice-password-1' | "$bin" admin create-user --data "$data" --name alice --role learner \
    --insecure-fast-passwords >/dev/null 2>&1
token=$("$bin" admin create-worker --data "$data" --name "$(hostname)" 2>/dev/null)
[[ "$token" == tdw_* ]]
check admin_steps "token '$token'" $?
# The hub on a free port instead of 8080 (another hub may have it); everything else as written.
mkfifo ready
eval "set -- ${hub_cmd//127.0.0.1:8080/127.0.0.1:0}"
"$@" >ready 2>hub.log &
hub_pid=$!
pids+=($hub_pid)
read -r line <ready
url=$(grep -o 'http://[^ ]*' <<<"$line")
[ -n "$url" ] && [ "$(curl -s "$url/api/v1/health")" = '{"status":"ok"}' ]
ok=$?
check hub_unit_serves "$line $(cat hub.log)" $ok
# The worker's environment file, as docs/deploy.md writes it.
printf 'TRACKDAY_WORKER_TOKEN=%s\nTRACKDAY_HUB_URL=%s\n' "$token" "$url" >root/etc/trackday/worker.env
chmod 600 root/etc/trackday/worker.env
(
    set -a
    # shellcheck disable=SC1091
    . root/etc/trackday/worker.env
    set +a
    cmd=${worker_cmd//\$\{TRACKDAY_HUB_URL\}/$TRACKDAY_HUB_URL}
    cmd=${cmd//%i/1}
    eval "exec $cmd"
) >worker.log 2>&1 &
worker_pid=$!
pids+=($worker_pid)
echo 'alice-password-1' | "$bin" login "$url" --user alice >/dev/null 2>&1
"$bin" init m1 --discrete --fast-actions --track default --sensor state >/dev/null 2>&1
out=$("$bin" train m1 --hub --minutes 0.5 --iterations 1 --track oval 2>&1)
rc=$?
[ $rc -eq 0 ] && [ -s m1/model/best.tdm ] && grep -q "job [0-9]*: done" worker.log
ok=$?
check a_job_runs_on_the_worker_unit "$out $(tail -n 5 worker.log)" $ok
# systemctl stop: KillSignal, then at most TimeoutStopSec before SIGKILL.
stop_within() { # pid unit -> 0 if it exited by itself with status 0 in time
    local pid=$1 limit sig
    limit=$(unit_value "$2" TimeoutStopSec)
    sig=$(unit_value "$2" KillSignal)
    kill -s "${sig#SIG}" "$pid"
    for _ in $(seq $((limit * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid"
        wait "$pid"
        return 1
    fi
    wait "$pid"
}
stop_within $worker_pid trackday-worker@.service
ok=$?
check worker_unit_stops "status $ok $(tail -n 3 worker.log)" $ok
stop_within $hub_pid trackday-hub.service
ok=$?
check hub_unit_stops "status $ok $(tail -n 3 hub.log)" $ok
pids=()

# ---- 3. Kubernetes manifests -------------------------------------------------------------------
schema="$src/tests/data/k8s/schema.json"
out=$($py "$src/tests/k8s_check.py" "$schema" "$bin" "$k8s"/*.yaml 2>&1)
check k8s_manifests_valid "$out" $?
grep -q "^5 documents, 0 problems" <<<"$out"
check k8s_every_document_checked "$out" $?
# Broken copies fail, each with the problem named.
broken() { # name sed-expression expected-text
    local d="$tmp/k8s-$1"
    mkdir -p "$d"
    cp "$k8s"/*.yaml "$d/"
    sed -i "$2" "$d"/*.yaml
    out=$($py "$src/tests/k8s_check.py" "$schema" "$bin" "$d"/*.yaml 2>&1)
    [ $? -eq 1 ] && grep -q -- "$3" <<<"$out"
    check "k8s_refuses_$1" "$out" $?
}
broken misspelt_field 's/^  replicas: 3/  replica: 3/' "'replica' was unexpected"
broken wrong_type 's/containerPort: 8080/containerPort: "8080"/' "is not of type 'integer'"
broken selector_mismatch 's#^    app.kubernetes.io/name: trackday-hub$#    app.kubernetes.io/name: trackday-hubb#' \
    "matches no pod"
broken unknown_option 's/- --secure-cookies/- --secure-cookie/' "has no option --secure-cookie"
broken missing_claim 's/claimName: trackday-hub-data/claimName: hub-data/' "claims hub-data"
broken unknown_service 's#- http://trackday-hub$#- http://hub#' "names no Service"

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
