#!/usr/bin/env bash
# Runs every curl example of docs/api.md, in order, against a real hub and checks the status
# written under it; checks that every route of /api/v1/openapi.json has its section in
# docs/api.md and the other way round. Args: the trackday binary, the build directory.
set -uo pipefail
bin=${1:?trackday binary}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail=0
check() { # name, message, status
    if [ "$3" -eq 0 ]; then echo "PASS $1"; else echo "FAIL $1: $2"; fail=1; fi
}
py=/usr/bin/python3

data="$tmp/data"
echo admin-password-1 | "$bin" admin create-user --data "$data" --name admin --role admin \
    --insecure-fast-passwords >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
mkfifo "$tmp/ready"
"$bin" serve --data "$data" --listen 127.0.0.1:0 --insecure-fast-passwords > "$tmp/ready" \
    2> "$tmp/serve.log" &
pid=$!
read -r line < "$tmp/ready"
HUB=$(echo "$line" | grep -o 'http://[^ ]*')
export HUB

token() { # user password
    command curl -s -X POST "$HUB/api/v1/sessions" -d "{\"username\":\"$1\",\"password\":\"$2\"}" |
        $py -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}
ADMIN=$(token admin admin-password-1)
for u in alice:learner ivan:instructor; do
    command curl -s -o /dev/null -X POST "$HUB/api/v1/users" -H "Authorization: Bearer $ADMIN" \
        -d "{\"username\":\"${u%%:*}\",\"password\":\"${u%%:*}-password-1\",\"role\":\"${u##*:}\"}"
done
ALICE=$(token alice alice-password-1)
IVAN=$(token ivan ivan-password-1)
WORKER=$(command curl -s -X POST "$HUB/api/v1/workers" -H "Authorization: Bearer $ADMIN" \
    -d '{"name":"w1"}' | $py -c 'import json,sys; print(json.load(sys.stdin)["token"])')
export ADMIN ALICE IVAN WORKER
# The examples run `trackday` and write files in a scratch directory.
PATH="$(cd "$(dirname "$bin")" && pwd):$PATH"
mkdir -p "$tmp/work"
cd "$tmp/work" || exit 1
[ -n "$ADMIN" ] && [ -n "$ALICE" ] && [ -n "$WORKER" ]
check setup "tokens for the examples" $?

# The examples as one script: each ends by comparing the last curl's status with the
# comment under it.
$py - "$root/docs/api.md" "$tmp/examples.sh" "$tmp/sections" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
out = open(sys.argv[2], "w")
sections = open(sys.argv[3], "w")
heading = None
n = 0
for m in re.finditer(r"^### (\S+ \S+)$|^```sh\n(.*?)^```$", text, re.M | re.S):
    if m.group(1):
        heading = m.group(1)
        sections.write(heading + "\n")
        continue
    body = m.group(2)
    want = re.search(r"^# (\d{3})\b", body, re.M)
    if not want:
        continue
    n += 1
    code = body[:want.start()]
    out.write("# ---- %s (example %d)\n" % (heading, n))
    out.write(": > \"$tmp/status\"\n%s\n" % code)
    out.write('got=$(cat "$tmp/status")\n')
    out.write('if [ "$got" = "%s" ]; then echo "PASS example %d: %s"; else echo "FAIL example %d: '
              '%s: status $got, expected %s"; fail=1; fi\n'
              % (want.group(1), n, heading, n, heading, want.group(1)))
EOF
curl() {
    local out
    out=$(command curl -sS -w '\n%{http_code}' "$@")
    printf '%s\n' "${out##*$'\n'}" > "$tmp/status"
    printf '%s' "${out%$'\n'*}"
}
examples=$(grep -c '^# ----' "$tmp/examples.sh")
[ "$examples" -ge 10 ]
check examples_found "$examples examples in docs/api.md" $?
# shellcheck source=/dev/null
source "$tmp/examples.sh" > "$tmp/examples.out" 2>&1
grep -E '^(PASS|FAIL)' "$tmp/examples.out"

# Every route documented, and nothing documented that does not exist.
command curl -s "$HUB/api/v1/openapi.json" > "$tmp/openapi.json"
missing=$($py - "$tmp/openapi.json" "$tmp/sections" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
routes = {"%s %s" % (m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
documented = set(open(sys.argv[2]).read().split("\n")) - {""}
for r in sorted(routes - documented):
    print("undocumented: " + r)
for r in sorted(documented - routes):
    print("no such route: " + r)
EOF
)
[ -z "$missing" ]
check every_route_documented "$missing" $?

kill "$pid"
wait "$pid"
check serve_stops "exit status $?" $?
pid=
if [ "$fail" = 0 ]; then
    n=$(grep -c '^PASS' "$tmp/examples.out")
    echo "$((n + 4)) passed, 0 failed"
else
    echo "0 passed, 1 failed"
fi
exit $fail
