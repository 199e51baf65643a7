#!/usr/bin/env bash
# make demo-hub (scripts/demo-hub, README's quick start) with --once: a hub on a free loopback
# port, an admin, an instructor, a class with two learners from a roster, a worker, a learner's
# training job run to the end; the URL and the four logins printed; and nothing left running.
# Args: the trackday binary, the build directory.
set -uo pipefail
bin=${1:?trackday binary}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
passed=0
check() { # name, message, status
    if [ "$3" -eq 0 ]; then echo "PASS $1"; passed=$((passed + 1)); else echo "FAIL $1: $2"; fail=1; fi
}

out=$(scripts/demo-hub "$bin" --once --minutes 0.1 --dir "$tmp/demo" --listen 127.0.0.1:0 2>&1)
rc=$?
check demo_hub_runs "rc $rc: $out" $rc
url=$(sed -nE 's/^  URL: +(http:[^ ]+).*/\1/p' <<<"$out")
[ -n "$url" ] && grep -q "^trackday serve listening on $url" <<<"$out"
check demo_hub_prints_the_url "$url: $out" $?
for who in "admin: +admin / " "instructor: coach / " "learners: +alice / " "^ +bob +/ "; do
    grep -qE "$who[A-Za-z0-9]{8,}" <<<"$out"
    check "demo_hub_login_${who//[^a-z]/}" "$out" $?
done
grep -q "job 1: succeeded: model 1 version 2" <<<"$out" && [ -s "$tmp/demo/alice-model/model/best.tdm" ]
check demo_hub_job_trained "$out" $?
# The shipped content, and alice's official entry in the beginner time trial.
grep -q "league 3 'Hidden-track qualifier': created" <<<"$out" &&
    grep -q "assignment 3 'Generalise to an unseen track': created" <<<"$out"
check demo_hub_seeds_content "$out" $?
grep -q "to league 1: submission 1 (frozen as sha256" <<<"$out" &&
    grep -qE "track 1 oval: succeeded, [0-9]+ laps:" <<<"$out" &&
    grep -q "^rank,username,division,score_s" <<<"$out"
check demo_hub_official_entry "$out" $?
# The printed logins work: the instructor sees the class with its two learners.
pw=$(sed -nE 's/^  instructor: coach \/ ([A-Za-z0-9]+).*/\1/p' <<<"$out")
"$bin" serve --data "$tmp/demo/data" --listen 127.0.0.1:0 --ready-file "$tmp/url" > /dev/null 2>&1 &
serve=$!
for _ in $(seq 600); do [ -s "$tmp/url" ] || ! kill -0 $serve 2>/dev/null && break; sleep 0.1; done
hub=$(cat "$tmp/url")
token=$(curl -s -X POST "$hub/api/v1/sessions" -H 'Content-Type: application/json' \
    -d "{\"username\": \"coach\", \"password\": \"$pw\"}" | sed -nE 's/.*"token":"([^"]+)".*/\1/p')
classes=$(curl -s "$hub/api/v1/classes" -H "Authorization: Bearer $token")
grep -q '"name":"Demo class"' <<<"$classes" && grep -q '"learners":2' <<<"$classes"
check demo_hub_logins_work "$classes" $?
kill -TERM $serve
wait $serve
# --once stopped its hub and worker: the demo's URL answers no more.
! curl -s -m 2 "$url/api/v1/health" > /dev/null
check demo_hub_stops_everything "$url still answers" $?
if [ "$fail" = 0 ]; then echo "$passed passed, 0 failed"; else echo "$passed passed, 1 failed"; fi
exit $fail
