#!/usr/bin/env bash
# test_car.sh - trackday-car, the car-only build (docs/agent.md, "The car-only build"):
#   1. what it links: infer/, the agent, the bundle verifier and the hub client, and none of
#      the simulator, trainer, hub server, database, BLAS or Python (symbols and libraries;
#      the same checks find them in trackday, so they can fail);
#   2. its commands: help, --sim refused as a usage error, verify and install of a bundle;
#   3. as a car: a hub deploys a camera model's bundle to trackday-car, which registers its
#      key, installs it (signature, hashes, health check), reports, and drives it from a V4L2
#      camera at 15 Hz (tests/fake_v4l2.c preloaded: this machine has no camera) while the
#      hub sees its frames;
#   4. on AArch64: cmake/car-sources.txt cross-built with gcc-aarch64-linux-gnu against
#      Debian's arm64 libraries, run under qemu-aarch64 (a Cortex-A72): verify, and a car
#      that registers with the hub and installs a deployment, the health check running
#      infer/'s NEON kernels.
# Args: the trackday binary, the build directory; runs from the repository root.
set -uo pipefail
bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
build="$(cd "$2" && pwd)"
car="$build/trackday-car"
fake="$build/libtd_fake_v4l2.so"
root=$(pwd)
tmp=$(mktemp -d)
pid=
cars=()
cleanup() {
    for p in "${cars[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail=0
passes=0
check() { # name, message, status
    if [ "$3" -eq 0 ]; then echo "PASS $1"; passes=$((passes + 1)); else echo "FAIL $1: $2"; fail=1; fi
}
finish() {
    if [ "$fail" = 0 ]; then echo "$passes passed, 0 failed"; else echo "$passes passed, 1 failed"; fi
    exit $fail
}
py=/usr/bin/python3
export XDG_CONFIG_HOME="$tmp/config"
# The sanitizer build's runtime must come first unless told otherwise (the fake camera is
# preloaded before it).
preload_asan="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
cd "$tmp" || exit 1

# ---- 1. what it links --------------------------------------------------------------------
[ -x "$car" ] && [ -f "$fake" ]
check built "no $car or $fake (make build)" $?
[ -x "$car" ] || finish
nm "$car" > car.syms 2>&1 && nm "$bin" > full.syms 2>&1
# Whole layers a car does not run: the simulator, tracks, the trainer and networks, rewards,
# the hub's server and storage, evaluation beyond the bundle, and their libraries.
absent='td_vecenv_|td_sim_|td_track_load|td_train|td_nn_|td_reward_|td_hub_open|td_hub_listen|td_evaluate|td_bundle_build|MHD_|sqlite3_|PQexec|Py_Initialize|cblas_sgemm|seccomp_'
grep -qE " [TU] ($absent)" full.syms
check checks_find_them_in_trackday "the symbol check finds nothing in trackday: it cannot fail" $?
found=$(grep -E " [TU] ($absent)" car.syms | head -5)
[ -z "$found" ]
check no_simulator_trainer_server "$found" $?
for s in td_agent_run td_bundle_open td_bundle_health_check td_infer_run td_hubc_init td_agent_camera_grab; do
    grep -qE " T $s$" car.syms || { echo "    missing $s"; false; }
done
ok=$?
check links_the_car "$(head -3 car.syms)" $ok
libs=$(ldd "$car" | grep -oE 'lib(python|openblas|sqlite3|microhttpd|pq|seccomp|png|yaml)[^ ]*' | sort -u)
[ -z "$libs" ]
check no_server_libraries "$libs" $?
sc=$(stat -c %s "$car")
sf=$(stat -c %s "$bin")
echo "    trackday-car $sc bytes, trackday $sf bytes"
[ "$sc" -lt $((sf / 2)) ]
check smaller "trackday-car $sc bytes, trackday $sf" $?

# ---- 2. its commands ----------------------------------------------------------------------
"$car" --help > out.txt 2>&1 && grep -q "^  agent " out.txt && grep -q "^  verify " out.txt &&
    ! grep -qE "^  (train|serve|export) " out.txt
ok=$?
check help "$(cat out.txt)" $ok
"$car" agent --hub http://127.0.0.1:9 --data x --sim world.json > out.txt 2>&1
rc=$?
[ $rc = 2 ] && grep -q "^trackday-car agent: unknown option '--sim'" out.txt
ok=$?
check sim_refused "exit $rc: $(cat out.txt)" $ok
"$car" train x > out.txt 2>&1
rc=$?
[ $rc = 2 ] && grep -q "unknown command 'train'" out.txt
ok=$?
check no_train_command "exit $rc: $(cat out.txt)" $ok

# A camera model (SHALLOW) made small and quick by the full build: one short iteration.
# The health check's budget leaves room for the emulated ARM of part 4.
"$bin" init cam --discrete --fast-actions --sensor camera --track oval > /dev/null &&
    sed -i 's/"num_episodes_between_training": 20/"num_episodes_between_training": 1/; s/"num_epochs": 10/"num_epochs": 1/' \
        cam/hyperparameters.json &&
    "$bin" train cam --iterations 1 --quiet > /dev/null 2>&1 &&
    "$bin" keygen -o fleet.key > /dev/null &&
    "$bin" keygen -o other.key > /dev/null &&
    "$bin" export cam --format bundle -o cam.tdb --key fleet.key --laps 1 --train-steps 20 \
        --calibrate 16 --latency-budget-ms 5000 > /dev/null 2>&1
check camera_bundle "export" $?
sha=$(sha256sum cam.tdb | cut -c1-64)
"$car" verify cam.tdb --key fleet.key.pub > out.txt 2>&1
ok=$?
check verify "$(cat out.txt)" $ok
"$car" verify cam.tdb --key other.key.pub > out.txt 2>&1
rc=$?
[ $rc = 1 ] && grep -q "not by the key given" out.txt
ok=$?
check verify_wrong_key "exit $rc: $(cat out.txt)" $ok
"$car" agent install cam.tdb --data store --key fleet.key.pub > out.txt 2>&1 &&
    "$car" agent status --data store --key fleet.key.pub --json > st.json 2>&1 &&
    $py -c "import json,sys; s=json.load(open('st.json')); sys.exit(0 if s['active']['sha256']=='$sha' and s['active_verified'] else 1)"
ok=$?
check install_and_status "$(cat out.txt st.json)" $ok

# ---- 3. as a car, on a hub, driving from a camera -----------------------------------------
echo admin-password-1 | "$bin" admin create-user --data hub --name admin --role admin \
    --insecure-fast-passwords > /dev/null
mkfifo ready
"$bin" serve --data hub --listen 127.0.0.1:0 --insecure-fast-passwords > ready 2> serve.log &
pid=$!
read -r line < ready
HUB=$(echo "$line" | grep -o 'http://[^ ]*')
echo admin-password-1 | "$bin" login "$HUB" --user admin > /dev/null &&
    "$bin" fleet signing-key fleet.key.pub > /dev/null &&
    "$bin" fleet upload cam.tdb > /dev/null
ok=$?
check hub "$(cat serve.log)" $ok
devices_json() { "$bin" fleet devices --json 2>/dev/null; }
wait_for() { # python condition on the devices JSON (d), timeout seconds
    local t0=$SECONDS
    while [ $((SECONDS - t0)) -lt "$2" ]; do
        devices_json > devs.json
        if $py -c "import json,sys; d=json.load(open('devs.json'))['devices']; sys.exit(0 if ($1) else 1)" 2>/dev/null; then
            return 0
        fi
        $py -c 'import time; time.sleep(0.2)'
    done
    return 1
}
token=$("$bin" fleet enroll car-1 --group cars --auto-approve)
FAKE_V4L2_DEVICE="$tmp/video0" FAKE_V4L2_SIZE=640x480 FAKE_V4L2_FPS=30 \
    LD_PRELOAD="$fake" ASAN_OPTIONS="$preload_asan" \
    "$car" agent --hub "$HUB" --device-token "$token" --data car1 --name car-1 \
    --camera "$tmp/video0" --hz 15 --heartbeat-s 0.3 --window-s 1 > car1.log 2>&1 &
cars+=($!)
wait_for "len(d) == 1 and d[0]['online'] and d[0]['state'] == 'approved'" 60
ok=$?
check car_registers "$(cat devs.json car1.log)" $ok
"$bin" fleet deploy 1 --group cars --canary 0 --watch --watch-timeout 180 > d1.txt 2>&1
rc=$?
grep -q "deployment 1: succeeded" d1.txt
ok=$?
check deployment_succeeds "exit $rc: $(cat d1.txt car1.log)" $((rc + $ok))
# Driving from the camera: frames counted by the agent, reported to the hub.
wait_for "d[0]['active_sha256'] == '$sha' and (d[0]['status'].get('driving') or {}).get('frames', 0) >= 15" 60
ok=$?
check drives_from_the_camera "$(cat devs.json car1.log)" $ok
grep -q "driving bundle .* from $tmp/video0" car1.log
ok=$?
check drive_log "$(cat car1.log)" $ok
kill -TERM "${cars[0]}"
wait "${cars[0]}"
rc=$?
cars=()
check car_stops "exit $rc: $(tail -3 car1.log)" $rc

# ---- 4. AArch64, under qemu ----------------------------------------------------------------
arm_ok=1
for need in aarch64-linux-gnu-gcc qemu-aarch64 /usr/lib/aarch64-linux-gnu/libcurl.so \
    /usr/lib/aarch64-linux-gnu/libsodium.so /usr/lib/aarch64-linux-gnu/libjansson.so \
    /usr/lib/aarch64-linux-gnu/libz.so /lib/ld-linux-aarch64.so.1; do
    if ! command -v "$need" > /dev/null 2>&1 && [ ! -e "$need" ]; then
        echo "    missing $need (scripts/install-deps installs gcc-aarch64-linux-gnu, qemu-user and"
        echo "    libcurl4-openssl-dev:arm64 libsodium-dev:arm64 libjansson-dev:arm64 zlib1g-dev:arm64)"
        arm_ok=0
    fi
done
[ $arm_ok = 1 ]
check arm_toolchain "see above" $?
[ $arm_ok = 1 ] || finish
srcs=$(grep '^src/' "$root/cmake/car-sources.txt" | sed "s|^|$root/|")
# shellcheck disable=SC2086
aarch64-linux-gnu-gcc -std=c17 -O2 -Wall -Wextra -Wno-unused-parameter -Werror \
    -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DTD_HAVE_HUB=1 -DTD_AGENT_NO_SIM=1 \
    -DTD_VERSION='"arm"' -I"$root/include" -I"$root/src" -ffunction-sections -fdata-sections \
    -Wl,--gc-sections $srcs "$root"/src/infer/*.c -o car-arm \
    -ljansson -lsodium -lcurl -lz -lm -lpthread > cross.log 2>&1
ok=$?
check arm_cross_build "$(cat cross.log)" $ok
machine=$(od -An -tu2 -j18 -N2 car-arm 2> /dev/null | tr -d ' ')
[ "$machine" = 183 ]
check arm_binary_is_aarch64 "ELF machine '$machine', not 183" $?
arm() { qemu-aarch64 -L / -cpu cortex-a72 ./car-arm "$@"; }
arm --version > out.txt 2>&1 && grep -q "^trackday-car arm$" out.txt
ok=$?
check arm_runs "$(cat out.txt)" $ok
# The signature and hashes here; the health check (both models on the emulated CPU's NEON
# kernels) when the car installs the deployment below.
arm verify cam.tdb --key fleet.key.pub --no-health > out.txt 2>&1
rc=$?
[ $rc = 0 ] && grep -q "^verified$" out.txt
ok=$?
check arm_verify "exit $rc: $(cat out.txt)" $ok
arm verify cam.tdb --key other.key.pub --no-health > out.txt 2>&1
rc=$?
[ $rc = 1 ] && grep -q "not by the key given" out.txt
ok=$?
check arm_verify_wrong_key "exit $rc: $(cat out.txt)" $ok
token=$("$bin" fleet enroll car-arm --group arm --auto-approve)
qemu-aarch64 -L / -cpu cortex-a72 ./car-arm agent --hub "$HUB" --device-token "$token" \
    --data arm-data --name car-arm --heartbeat-s 0.3 > car-arm.log 2>&1 &
cars+=($!)
wait_for "len(d) == 2 and any(x['name'] == 'car-arm' and x['online'] for x in d)" 120
ok=$?
check arm_car_registers "$(cat devs.json car-arm.log)" $ok
"$bin" fleet deploy 1 --group arm --canary 0 --watch --watch-timeout 300 > d2.txt 2>&1
rc=$?
grep -q "deployment 2: succeeded" d2.txt
ok=$?
check arm_car_installs_the_deployment "exit $rc: $(cat d2.txt car-arm.log)" $((rc + $ok))
kill -TERM "${cars[0]}"
wait "${cars[0]}"
rc=$?
cars=()
check arm_car_stops "exit $rc: $(tail -3 car-arm.log)" $rc
arm agent status --data arm-data --json > st.json 2>&1 &&
    $py -c "import json,sys; s=json.load(open('st.json')); e=[h['event'] for h in s['history']]; sys.exit(0 if s['active']['sha256']=='$sha' and 'installed' in e else 1)"
ok=$?
check arm_store_has_the_bundle "$(cat st.json)" $ok

kill "$pid"
wait "$pid"
pid=
finish
