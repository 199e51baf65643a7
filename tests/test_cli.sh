#!/usr/bin/env bash
# test_cli.sh - the command line itself (src/cli/opts.c): every command and subcommand listed
# by `trackday --help` prints its help with --help and with `trackday help CMD` (exit 0, the
# same text, options listed); command-line errors exit 2 with "trackday CMD: ..." and the
# usage line (unknown option with the nearest one suggested, missing value, value out of
# range, missing argument, unknown command); --opt=value works; --version comes from CMake.
# Args: the trackday binary, the build directory.
set -uo pipefail
bin=${1:?trackday binary}
passes=0
fails=0
check() { # check DESCRIPTION COMMAND...
    if "${@:2}"; then passes=$((passes + 1)); else echo "FAILED: $1"; fails=$((fails + 1)); fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The commands, from the top-level help (so a new command is covered without editing this).
"$bin" --help > "$tmp/top" 2>&1
check "trackday --help exits 0" test $? -eq 0
mapfile -t cmds < <(sed -n '/^commands:/,/^$/p' "$tmp/top" | sed -nE 's/^  ([a-z][a-z-]*) .*/\1/p')
check "the top-level help lists at least 15 commands (got ${#cmds[@]})" test "${#cmds[@]}" -ge 15
for c in "${cmds[@]}"; do
    "$bin" "$c" --help > "$tmp/h1" 2>&1
    rc=$?
    check "$c --help exits 0 (got $rc)" test $rc -eq 0
    check "$c --help starts with its usage line" grep -q "^usage: trackday $c" "$tmp/h1"
    check "$c --help fits 80 columns" \
        test "$(awk '{ if (length > m) m = length } END { print m + 0 }' "$tmp/h1")" -le 80
    "$bin" help "$c" > "$tmp/h2" 2>&1
    check "trackday help $c is $c --help" cmp -s "$tmp/h1" "$tmp/h2"
    # A command made of subcommands lists them; each has its own help.
    if grep -q '^commands:' "$tmp/h1"; then
        mapfile -t subs < <(sed -n '/^commands:/,/^$/p' "$tmp/h1" |
            sed -nE 's/^  ([a-z][a-z0-9_-]*) .*/\1/p')
        check "$c lists its subcommands" test "${#subs[@]}" -ge 1
        for s in "${subs[@]}"; do
            "$bin" "$c" "$s" --help > "$tmp/h3" 2>&1
            rc=$?
            check "$c $s --help exits 0 (got $rc)" test $rc -eq 0
            check "$c $s --help: usage line" grep -q "^usage: trackday $c $s" "$tmp/h3"
            check "$c $s --help: options" grep -q '^  -h, --help' "$tmp/h3"
            check "$c $s --help fits 80 columns" \
                test "$(awk '{ if (length > m) m = length } END { print m + 0 }' "$tmp/h3")" -le 80
            "$bin" help "$c" "$s" > "$tmp/h4" 2>&1
            check "trackday help $c $s is $c $s --help" cmp -s "$tmp/h3" "$tmp/h4"
        done
    else
        check "$c --help lists options" grep -q '^  -h, --help' "$tmp/h1"
    fi
done
# Command-line errors: exit 2, the command's name, the usage line.
err() { "$bin" "$@" > "$tmp/out" 2> "$tmp/err"; echo $?; }
rc=$(err eval m --lapz 3)
check "unknown option: exit 2 (got $rc)" test "$rc" -eq 2
check "unknown option: named, nearest suggested" \
    grep -q "trackday eval: unknown option '--lapz' (did you mean --laps?)" "$tmp/err"
check "unknown option: usage line" grep -q '^usage: trackday eval DIR|MODEL.tdm \[options\]' "$tmp/err"
rc=$(err eval m --laps 20)
check "out of range: exit 2" test "$rc" -eq 2
check "out of range: says the range" grep -q -- "--laps: 20 is outside \[1, 16\]" "$tmp/err"
rc=$(err eval m --laps)
check "missing value: exit 2" test "$rc" -eq 2
check "missing value: says so" grep -q -- "--laps needs a value (N)" "$tmp/err"
rc=$(err eval m --laps x)
check "not a number: exit 2" test "$rc" -eq 2
check "not a number: says so" grep -q -- "--laps: 'x' is not a whole number" "$tmp/err"
rc=$(err eval)
check "missing argument: exit 2" test "$rc" -eq 2
check "missing argument: named" grep -q "trackday eval: missing DIR|MODEL.tdm" "$tmp/err"
rc=$(err eval a b)
check "extra argument: exit 2" test "$rc" -eq 2
check "extra argument: named" grep -q "unexpected argument 'b'" "$tmp/err"
rc=$(err eval m --checkpoint middle)
check "bad choice: exit 2" test "$rc" -eq 2
check "bad choice: the choices" grep -q -- "--checkpoint: 'middle' must be one of best|last" "$tmp/err"
rc=$(err camera --track oval -o x.png)
check "missing required option: exit 2" test "$rc" -eq 2
check "missing required option: named" grep -q "trackday camera: missing --at PROGRESS" "$tmp/err"
rc=$(err json --json)
check "unknown command: exit 2" test "$rc" -eq 2
rc=$(err evl)
check "unknown command: nearest suggested" grep -q "unknown command 'evl' (did you mean 'eval'?)" "$tmp/err"
rc=$(err tracks shw oval)
check "unknown subcommand: exit 2" test "$rc" -eq 2
check "unknown subcommand: nearest suggested" \
    grep -q "trackday tracks: unknown command 'shw' (did you mean 'show'?)" "$tmp/err"
rc=$(err race builtin:zigzag --track oval)
check "too few list arguments: exit 2" test "$rc" -eq 2
check "too few list arguments: says how many" grep -q "needs 2 to 6 MODEL arguments (got 1)" "$tmp/err"

# --opt=value and -o work like --opt value.
"$bin" camera --track=oval --at=10 -o "$tmp/a.png" > /dev/null &&
    "$bin" camera --track oval --at 10 --output "$tmp/b.png" > /dev/null
check "--opt=value, -o and --output write the same picture" cmp -s "$tmp/a.png" "$tmp/b.png"
rc=$(err drive --track oval --json=yes)
check "a flag with a value: exit 2" test "$rc" -eq 2
check "a flag with a value: says so" grep -q -- "--json takes no value" "$tmp/err"
# A negative number is a value, not an option.
"$bin" camera --track oval --at 10 --lateral -0.2 -o "$tmp/c.png" > /dev/null
check "a negative value is a value" test $? -eq 0

# A path that does not fit a buffer is refused, never cut short (a cut path names another
# file): an output folder of about 1,500 bytes (a legal path) for race's replay and race.json.
long="$tmp"
for k in 1 2 3 4 5 6; do long="$long/$(printf 'a%.0s' $(seq 250))"; done
rc=$(err race builtin:zigzag builtin:centerline --track oval -o "$long")
check "a path too long: exit 1 (got $rc)" test "$rc" -eq 1
check "a path too long: says so" grep -q "path too long" "$tmp/err"
check "a path too long: nothing written elsewhere" \
    test -z "$(find "$tmp" -name 'race.json' -o -name 'replay' -o -name 'race.mp4')"

# The version is the project's (CMakeLists.txt).
want=$(sed -nE 's/^project\(trackday VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
check "--version says $want" test "$("$bin" --version)" = "trackday $want"

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
