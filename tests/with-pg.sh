#!/usr/bin/env bash
# Runs a hub script test with the hub on PostgreSQL: a throwaway cluster (scripts/pg-cluster)
# and a fresh database in $TRACKDAY_HUB_DB, which `trackday serve` and `trackday admin` use when
# given no --db; the cluster is stopped and removed afterwards. CMake registers
# test_hub_*_pg with this in front of the test's own command.
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/td-pg-XXXXXX)
trap '"$src/scripts/pg-cluster" stop "$dir"' EXIT
if ! "$src/scripts/pg-cluster" start "$dir" >/dev/null; then
    echo "FAIL the PostgreSQL cluster did not start"
    echo "0 passed, 1 failed"
    exit 1
fi
TRACKDAY_HUB_DB=$("$src/scripts/pg-cluster" createdb "$dir" hub) || exit 1
export TRACKDAY_HUB_DB
# The test's closing count is held back to add this wrapper's own check to it.
out=$(mktemp)
"$@" 2>&1 | tee "$out" | grep -Ev '^[0-9]+ passed, [0-9]+ failed'
rc=${PIPESTATUS[0]}
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
rm -f "$out"
passed=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"${summary:-0 passed}")
failed=$(sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"${summary:-0 passed, 1 failed}")
# The hub must have kept its accounts in PostgreSQL, not in a SQLite file beside it.
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
users=$("${TD_PG_BIN:-$bin}/psql" -tAq "$TRACKDAY_HUB_DB" -c "SELECT COUNT(*) FROM users" 2>&1)
if [[ "$users" =~ ^[0-9]+$ ]] && [ "$users" -gt 0 ]; then
    echo "PASS hub_used_postgresql ($users accounts in PostgreSQL)"
    passed=$((passed + 1))
else
    echo "FAIL hub_used_postgresql (users in $TRACKDAY_HUB_DB: $users)"
    failed=$((failed + 1))
    rc=1
fi
echo "$passed passed, $failed failed"
exit "$rc"
