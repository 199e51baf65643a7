#!/usr/bin/env bash
# Runs README.md's "Train a car" commands, then its "Replays and races" ones, in order, as a
# newcomer would from a fresh clone: every command comes from the README itself (nothing is
# replaced but $T, the command, and $EDITOR), in an empty directory. A command that names a
# file the earlier ones did not make fails here. Args: the trackday binary, the build directory.
set -uo pipefail
bin=$(realpath "${1:?trackday binary}")
src="$(cd "$(dirname "$0")/.." && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # name, message, status
    if [ "$3" -eq 0 ]; then echo "PASS $1"; else echo "FAIL $1: $2"; fail=1; fi
}

# The first ```sh block after a heading of README.md, without its T= line.
block() {
    awk -v h="$1" '
        $0 == h { inside = 1; next }
        inside && /^```sh/ { code = 1; next }
        code && /^```/ { exit }
        code && !/^T=/ { print }
    ' "$src/README.md"
}

train=$(block "## Train a car")
races=$(block "## Replays and races")
[ -n "$train" ] && grep -q '^\$T init ' <<<"$train" && grep -q '^\$T race ' <<<"$races"
check readme_blocks "README.md has the two blocks: [$train] [$races]" $?

# One command per line (a line that is only a comment continues the one above).
run_block() { # name, text
    local i=0 line
    while IFS= read -r line; do
        case "$line" in '' | [[:space:]]*'#'*) continue ;; esac
        i=$((i + 1))
        out=$(cd "$tmp/clone" && T="$bin" EDITOR=true bash -c "$line" 2>&1)
        rc=$?
        if [ "$1" = races ] && [ $rc -ne 0 ] && ! command -v ffmpeg >/dev/null &&
            grep -q "ffmpeg" <<<"$out"; then
            rc=0 # without ffmpeg the README says a video cannot be made; the message says so
        fi
        check "readme_$1_$i" "\`$line\` exit $rc: $out" $rc
    done <<<"$2"
}

mkdir -p "$tmp/clone"
ln -s "$src/examples" "$tmp/clone/examples"
run_block train "$train"
m="$tmp/clone/mymodel"
[ -s "$m/model/best.tdm" ] && [ -s "$m/model/last.tdm" ] && ls "$m"/logs/eval-*.json >/dev/null &&
    ls "$m"/plots/*.svg >/dev/null
rc=$?
check readme_train_files "the model, its evaluation and pictures: $(ls -R "$m" | head -40)" $rc
run_block races "$races"
ls "$tmp"/clone/race-*/race.json >/dev/null 2>&1
rc=$?
check readme_race_json "the race's standings: $(ls "$tmp/clone")" $rc

exit $fail
