#!/usr/bin/env bash
# Runs the examples of docs/cli/export.md, keygen.md and verify.md as a new user would: a
# camera model trained for one short iteration, exported for a DeepRacer car and as ONNX
# (the archive's layout, its model_metadata.json is the directory's, ONNX's checker accepts
# the ONNX file); a state model exported as a signed bundle and verified, and refused with
# the wrong key or damaged; the bundle installed in a car's store (docs/cli/agent.md).
# (tests/test_export.c holds the exports' outputs to infer/'s in
# OpenCV; tests/test_bundle.c checks bundles in depth.)
# Args: the trackday binary, the build directory.
set -uo pipefail
bin=${1:?trackday binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # name, message, status
    if [ "$3" -eq 0 ]; then echo "PASS $1"; else echo "FAIL $1: $2"; fail=1; fi
}
cd "$tmp" || exit 1

"$bin" init mycar --discrete --fast-actions --track default --sensor camera >/dev/null &&
    "$bin" train mycar --iterations 1 --envs 2 --episodes-per-iteration 2 --quiet >/dev/null 2>&1
check train "a camera model trains one iteration" $?

out=$("$bin" export mycar --format deepracer -o mycar.tar.gz 2>&1)
rc=$?
grep -q <<<"$out" "^wrote mycar.tar.gz (DeepRacer car model: model.pb [0-9]* bytes, model_metadata.json) from mycar/model/best.tdm$" &&
    grep -qF <<<"$out" "input  main_level/agent/main/online/network_0/FRONT_FACING_CAMERA/FRONT_FACING_CAMERA [-1, 120, 160, 1] float32" &&
    grep -qF <<<"$out" "output main_level/agent/main/online/network_1/ppo_head_0/policy [1, 10] (action probabilities)"
check export_deepracer "what it prints (rc $rc): $out" $(( rc || $? ))

[ "$(tar tzf mycar.tar.gz | tr '\n' ' ')" = "model.pb model_metadata.json " ]
ok=$? # (taken before the message: a $(...) in it would set $?)
check archive_layout "model.pb and model_metadata.json at the root: $(tar tzf mycar.tar.gz)" $ok

tar xzOf mycar.tar.gz model_metadata.json | cmp -s - mycar/model_metadata.json
check archive_metadata "the directory's model_metadata.json byte for byte" $?

out=$("$bin" export mycar --format onnx -o mycar.onnx 2>&1)
rc=$?
grep -q <<<"$out" "^wrote mycar.onnx (ONNX, [0-9]* bytes) from mycar/model/best.tdm$"
check export_onnx "what it prints (rc $rc): $out" $(( rc || $? ))

out=$(/usr/bin/python3 -c 'import onnx,sys
m = onnx.load(sys.argv[1]); onnx.checker.check_model(m)
i = m.graph.input[0]
print(i.name, [d.dim_value for d in i.type.tensor_type.shape.dim], m.graph.output[0].name)' mycar.onnx 2>&1)
[ "$out" = "main_level/agent/main/online/network_0/FRONT_FACING_CAMERA/FRONT_FACING_CAMERA [1, 120, 160, 1] main_level/agent/main/online/network_1/ppo_head_0/policy" ]
check onnx_checker "onnx.checker and the input and output names: $out" $?

"$bin" init statecar --discrete --fast-actions --track default --sensor state >/dev/null && "$bin" train statecar --iterations 1 --quiet >/dev/null 2>&1
out=$("$bin" export statecar --format deepracer -o statecar.tar.gz 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q <<<"$out" "STATE sensor" && [ ! -e statecar.tar.gz ]
check state_refused "a state-sensor model is refused for a car (rc $rc): $out" $?

out=$("$bin" keygen -o signing.key 2>&1)
rc=$?
grep -q <<<"$out" "^wrote signing.key (secret key: keep it private) and signing.key.pub (public key)$" &&
    grep -qE <<<"$out" "^key id [0-9a-f]{16}$" && [ "$(stat -c %a signing.key)" = 600 ]
check keygen "key pair, id, mode 600 (rc $rc): $out" $(( rc || $? ))

"$bin" train statecar --iterations 2 --quiet --resume >/dev/null 2>&1
out=$("$bin" export statecar --format bundle --key signing.key -o statecar.tdb 2>&1)
rc=$?
grep -qE <<<"$out" "^wrote statecar.tdb \(trackday bundle, [0-9]+ bytes, 8 files\) from statecar/model/best.tdm$" &&
    grep -qE <<<"$out" "^signed    ed25519, key id [0-9a-f]{16}$" &&
    grep -qE <<<"$out" "^reference [0-9]+ evaluation frames \([0-9] of 3 laps" &&
    grep -q <<<"$out" "^int8      picks the fp32 model's action on" &&
    grep -q <<<"$out" "^health    16 reference observations"
check export_bundle "what it prints (rc $rc): $out" $(( rc || $? ))

[ "$(tar tf statecar.tdb | sort | tr '\n' ' ')" = "health/health.json health/observations.bin manifest.json manifest.sig model/model.fp32.tdm model/model.int8.tdm model/model_metadata.json reference/stats.json " ]
ok=$?
check bundle_layout "the eight files: $(tar tf statecar.tdb | tr '\n' ' ')" $ok

out=$("$bin" verify statecar.tdb --key signing.key.pub 2>&1)
rc=$?
[ $rc -eq 0 ] && [ "$(echo "$out" | tail -n 1)" = verified ] &&
    [ "$(echo "$out" | grep -c "^health .*: ok$")" -eq 2 ]
check verify "signature, files and two healthy models (rc $rc): $out" $?

"$bin" keygen -o other.key >/dev/null
out=$("$bin" verify statecar.tdb --key other.key.pub 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q <<<"$out" "REFUSED: statecar.tdb: the bundle is signed by key"
check verify_wrong_key "refused with the key ids (rc $rc): $out" $?

head -c $(( $(stat -c %s statecar.tdb) - 100 )) statecar.tdb > cut.tdb
out=$("$bin" verify cut.tdb --key signing.key.pub 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q <<<"$out" "REFUSED: cut.tdb: archive truncated"
check verify_truncated "a truncated download is refused (rc $rc): $out" $?

# docs/cli/agent.md: the bundle installed in a car's store, a truncated download refused with
# the running bundle kept, the status.
out=$("$bin" agent install statecar.tdb --data car --key signing.key.pub 2>&1)
rc=$?
[ $rc -eq 0 ] && [ "$(echo "$out" | grep -c "^health .*: ok$")" -eq 2 ] &&
    grep -q <<<"$out" "^installed statecar (bundle [0-9a-f]\{32\}, created " &&
    grep -q <<<"$out" "^previous  none$"
check agent_install "installed after two healthy models (rc $rc): $out" $?

out=$("$bin" agent install cut.tdb --data car --key signing.key.pub 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q <<<"$out" "^trackday: agent: install REFUSED: cut.tdb: archive truncated.*(kept the running bundle [0-9a-f]\{32\}, statecar)$"
check agent_refused "a truncated download is refused, the running bundle kept (rc $rc): $out" $?

out=$("$bin" agent status --data car --key signing.key.pub 2>&1)
rc=$?
[ $rc -eq 0 ] && grep -q <<<"$out" "^active    statecar " &&
    grep -q <<<"$out" "^history   .* refused  *[0-9a-f]*: cut.tdb: archive truncated" &&
    [ "$(echo "$out" | tail -n 1)" = "verified  the active bundle's signature and every file's SHA-256" ]
check agent_status "the active bundle, the refusal in the history, verified (rc $rc): $out" $?

if [ $fail -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $fail
