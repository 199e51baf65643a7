#!/usr/bin/env bash
# test_quantize.sh - the path to the car works for every kind of model `trackday train`
# writes: for each sensor (state, camera, stereo, camera + lidar) with PPO and the state sensor
# with SAC, `init`, one training iteration, `trackday quantize` (int8 copy, with its
# agreement report), then examples/infer_min.c (the C99 device runtime alone) drives both the
# fp32 and the int8 file on observations of the model's own size.
# Args: the trackday binary, the build directory; runs from the repository root.
set -uo pipefail
bin=${1:?trackday binary}
build=${2:?build directory}
passes=0
fails=0
check() { # check DESCRIPTION COMMAND...
    if "${@:2}"; then passes=$((passes + 1)); else echo "FAILED: $1"; fails=$((fails + 1)); fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cc -std=c99 -O2 -Wall -Wextra -Werror -pedantic examples/infer_min.c src/infer/*.c -lm \
    -o "$tmp/infer_min" 2> "$tmp/cc.log"
ccrc=$? # (taken before the message: a $(...) in it would set $?)
check "examples/infer_min.c builds as C99 on infer/ alone: $(cat "$tmp/cc.log")" test $ccrc -eq 0

# Every sensor with PPO, and SAC's continuous tanh head (the quantized file holds the policy
# tower only, so a camera SAC model adds nothing a state one does not).
for kind in state:ppo state:sac camera:ppo stereo:ppo lidar:ppo; do
    sensor=${kind%%:*}
    algo=${kind##*:}
    m="$tmp/$sensor-$algo"
    # The straight route: an untrained greedy policy leaves it within seconds, so the
    # evaluation after the iteration is short (on a loop it may circle until its step cap).
    "$bin" init "$m" --sensor "$sensor" --algo "$algo" $([ "$algo" = ppo ] && echo --discrete) --fast-actions \
        --track Straight_track > /dev/null 2>&1
    # One short iteration: the smallest settings the trainer takes.
    "$bin" train "$m" --iterations 1 --envs 1 --episodes-per-iteration 1 --epochs 3 --quiet \
        > "$tmp/train.out" 2>&1
    check "$kind: one training iteration ($(tail -n 1 "$tmp/train.out"))" test -s "$m/model/best.tdm"

    # Calibration on rendered camera frames for one kind, random observations for the others.
    calib="--random"
    [ "$kind" = camera:ppo ] && calib="--track oval"
    "$bin" quantize "$m/model/best.tdm" --calibrate 8 $calib -o "$m/q.tdm" > "$tmp/q.out" 2>&1
    rc=$?
    check "$kind: quantize exits 0 ($(cat "$tmp/q.out"))" test $rc -eq 0
    check "$kind: quantize reports the agreement" \
        grep -qE "int8 picks the fp32 action|largest int8 - fp32 action difference" "$tmp/q.out"
    # A status line (printed once a phase has lasted 1.5 s) says which phase it is in.
    check "$kind: status lines name their phase" \
        test -z "$(grep '^trackday: quantize' "$tmp/q.out" | grep -vE 'quantize: (calibrating|comparing the int8 and fp32 models): observation [0-9]+ of 8$')"
    "$bin" model show "$m/q.tdm" > "$tmp/show.out" 2>&1
    check "$kind: the int8 file is int8 ($(head -c 300 "$tmp/show.out"))" grep -q "int8" "$tmp/show.out"

    for f in "$m/model/best.tdm" "$m/q.tdm"; do
        "$tmp/infer_min" --info "$f" > "$tmp/info" 2>&1
        bytes=$(sed -nE 's/^observation ([0-9]+) bytes.*/\1/p' "$tmp/info")
        check "$kind $(basename "$f"): infer_min reads it ($(cat "$tmp/info"))" test -n "$bytes"
        [ -n "$bytes" ] || continue
        # Three observations of random bytes (finite floats: the top bits of each float are
        # cleared so no NaN or inf appears).
        /usr/bin/python3 -c "
import os, struct, sys
n = $bytes
info = open('$tmp/info').read()
cam = int(info.split('(')[1].split(' bytes')[0])
out = bytearray()
for _ in range(3):
    out += os.urandom(cam)
    k = (n - cam) // 4
    out += struct.pack('<%df' % k, *[((i * 37) % 100) / 50.0 for i in range(k)])
sys.stdout.buffer.write(out)" > "$tmp/obs.raw"
        "$tmp/infer_min" "$f" < "$tmp/obs.raw" > "$tmp/actions" 2> "$tmp/err"
        rc=$?
        check "$kind $(basename "$f"): drives 3 observations (rc $rc, $(cat "$tmp/err"))" \
            test $rc -eq 0 -a "$(wc -l < "$tmp/actions")" -eq 3
        if [ "$algo" = sac ]; then
            check "$kind: continuous actions (index -1)" \
                test "$(cut -d' ' -f2 "$tmp/actions" | sort -u)" = "-1"
        else
            check "$kind: discrete actions in 0..9" \
                test -z "$(cut -d' ' -f2 "$tmp/actions" | grep -vE '^[0-9]$')"
        fi
    done
done

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
