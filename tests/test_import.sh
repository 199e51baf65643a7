#!/usr/bin/env bash
# `trackday import` (docs/cli/import.md) on DeepRacer models in the layouts its tools write,
# built here: a deepracer-for-cloud model folder (model/, ip/, TensorFlow checkpoints, a
# multi-config copy of training_params.yaml) and a DeepRacer on AWS virtual model archive
# (.tar.gz with a top folder). The imported directory trains; the checkpoints are reported as
# not loadable; bad input is refused with a message and leaves nothing behind.
# Args: the trackday binary, the build directory.
set -uo pipefail
bin=$(realpath "${1:?trackday binary}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # name, message, status
    if [ "$3" -eq 0 ]; then echo "PASS $1"; else echo "FAIL $1: $2"; fail=1; fi
}

# ---- a deepracer-for-cloud model folder (its S3 prefix) ----
d="$tmp/drfc-model"
mkdir -p "$d/model" "$d/ip" "$d/training-simtrace"
cat > "$d/model/model_metadata.json" <<'EOF'
{"action_space": [{"steering_angle": -20.0, "speed": 1.0, "index": 0},
                  {"steering_angle": 0.0, "speed": 1.5, "index": 1},
                  {"steering_angle": 20.0, "speed": 1.0, "index": 2}],
 "sensor": ["FRONT_FACING_CAMERA"], "neural_network": "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW",
 "version": "4", "training_algorithm": "clipped_ppo", "action_space_type": "discrete"}
EOF
cat > "$d/ip/hyperparameters.json" <<'EOF'
{"batch_size": 32, "beta_entropy": 0.01, "discount_factor": 0.99, "e_greedy_value": 0.05,
 "epsilon_steps": 10000, "exploration_type": "categorical", "loss_type": "huber",
 "lr": 0.0003, "num_episodes_between_training": 2, "num_epochs": 3, "stack_size": 1,
 "term_cond_avg_score": 350.0, "term_cond_max_episodes": 1000}
EOF
cat > "$d/reward_function.py" <<'EOF'
def reward_function(params):
    # DRfC's users write this; trackday runs it unchanged.
    if not params["all_wheels_on_track"]:
        return 1e-3
    return float(1.0 - params["distance_from_center"] / (0.5 * params["track_width"]))
EOF
cat > "$d/training_params.yaml" <<'EOF'
---
'AWS_REGION': 'us-east-1'
'JOB_TYPE': 'TRAINING'
'MIN_EVAL_TRIALS': '1'
'RACE_TYPE': 'TIME_TRIAL'
'REVERSE_DIR': 'False'
'REVERS_DIR': 'False'
'SAGEMAKER_SHARED_S3_PREFIX': 'drfc-model'
'WORLD_NAME': 'Oval_track'
EOF
sed 's/Oval_track/reInvent2019_track/' "$d/training_params.yaml" > "$d/training_params_1.yaml"
# deepracer-for-cloud's evaluation settings (scripts/evaluation/prepare-config.py's style:
# every value quoted, some keys lists).
cat > "$d/evaluation_params.yaml" <<'EOF'
---
'CAR_COLOR':
- 'Red'
'DISPLAY_NAME':
- 'racer1'
'EVAL_CHECKPOINT': 'last'
'IS_CONTINUOUS': 'False'
'JOB_TYPE': 'EVALUATION'
'NUMBER_OF_RESETS': '0'
'NUMBER_OF_TRIALS': '2'
'OFF_TRACK_PENALTY': '5.0'
'RACE_TYPE': 'TIME_TRIAL'
'RESET_BEHIND_DIST': '1.0'
'WORLD_NAME': 'Oval_track'
EOF
for f in model_12.pb 12_Step-3400.ckpt.index 12_Step-3400.ckpt.meta \
    12_Step-3400.ckpt.data-00000-of-00001 checkpoint .coach_checkpoint; do
    echo "not a real checkpoint" > "$d/model/$f"
done
printf 'episode,steps\n' > "$d/training-simtrace/0-iteration.csv"

m="$tmp/m1"
out=$("$bin" import "$d" -o "$m" 2>&1)
rc=$?
[ $rc -eq 0 ] &&
    grep -q <<<"$out" "model_metadata.json    from $d/model/model_metadata.json" &&
    grep -q <<<"$out" "hyperparameters.json   from $d/ip/hyperparameters.json" &&
    grep -q <<<"$out" "reward_function.py     from $d/reward_function.py" &&
    grep -q <<<"$out" "training_params.yaml   from $d/training_params.yaml" &&
    grep -q <<<"$out" "evaluation_params.yaml from $d/evaluation_params.yaml" &&
    grep -q <<<"$out" "warning: $m/training_params.yaml:7: unknown key \"REVERS_DIR\" ignored; did you mean \"REVERSE_DIR\"?" &&
    ! grep -q <<<"$out" "\.import-" &&
    grep -q <<<"$out" "not loadable: 6 TensorFlow checkpoint files" &&
    grep -q <<<"$out" "version 4" &&
    cmp -s "$d/reward_function.py" "$m/reward_function.py" &&
    cmp -s "$d/model/model_metadata.json" "$m/model_metadata.json"
check import_drfc_folder "files from DRfC's places, checkpoints reported (rc $rc): $out" \
    $(( rc || $? ))

out=$("$bin" train "$m" --iterations 1 --envs 2 --quiet 2>&1)
rc=$?
[ $rc -eq 0 ] && [ -s "$m/model/last.tdm" ] && grep -q <<<"$out" "^stopped: iteration limit"
check import_trains "the imported directory trains (rc $rc): $out" $(( rc || $? ))

# The evaluation reads evaluation_params.yaml, as DeepRacer's evaluation worker does: its
# checkpoint, trial count and reset limit (the training settings have none of them). A model
# trained one iteration completes no lap: the exit status may say so (1).
out=$("$bin" eval "$m" 2>&1)
rc=$?
[ $rc -le 1 ] && grep -q <<<"$out" "^$m/model/last.tdm on Oval_track (separate trials, no resets): [0-9] of 2 laps"
check eval_reads_evaluation_params "evaluation_params.yaml's settings (rc $rc): $out" $(( rc > 1 || $? ))

out=$("$bin" import "$d" -o "$m" 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q <<<"$out" "already exists"
check import_refuses_existing "an existing directory is kept (rc $rc): $out" $(( rc != 1 || $? ))
out=$("$bin" import "$d" -o "$m" --force 2>&1)
rc=$?
[ $rc -eq 0 ] && ls -d "$m".before-import-* > /dev/null 2>&1 && [ ! -e "$m/model/last.tdm" ]
check import_force_moves_aside "--force keeps the old directory beside it (rc $rc): $out" \
    $(( rc || $? ))

# ---- a DeepRacer on AWS virtual model (.tar.gz with a top folder) ----
v="$tmp/vm/Abc123XyZ"
mkdir -p "$v/model" "$v/ip" "$v/metrics/training"
cat > "$v/model_metadata.json" <<'EOF'
{"action_space": {"speed": {"high": 2.5, "low": 1}, "steering_angle": {"high": 25, "low": -25}},
 "action_space_type": "continuous", "neural_network": "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW",
 "sensor": ["FRONT_FACING_CAMERA"], "training_algorithm": "clipped_ppo", "version": "5"}
EOF
cp "$v/model_metadata.json" "$v/model/model_metadata.json"
printf 'def reward_function(params):\n    return float(params["speed"])\n' > "$v/reward_function.py"
printf '{"batch_size": 64, "lr": 0.0003, "num_epochs": 3}\n' > "$v/ip/hyperparameters.json"
cat > "$v/training_params.yaml" <<'EOF'
WORLD_NAME: 2022_april_open
RACE_TYPE: TIME_TRIAL
CHANGE_START_POSITION: true
CAR_COLOR: Black
BODY_SHELL_TYPE: deepracer
MODEL_S3_BUCKET: bucket
EOF
echo x > "$v/model/model_5.pb"
echo x > "$v/model/.coach_checkpoint"
echo '{"metrics": []}' > "$v/metrics/training/training-20260306.json"
(cd "$tmp/vm" && tar czf "$tmp/virtualmodel-test.tar.gz" Abc123XyZ)
out=$(cd "$tmp" && "$bin" import virtualmodel-test.tar.gz 2>&1)
rc=$?
m2="$tmp/virtualmodel-test"
[ $rc -eq 0 ] &&
    grep -q <<<"$out" "model_metadata.json    from virtualmodel-test.tar.gz/Abc123XyZ/model_metadata.json" &&
    grep -q <<<"$out" "not loadable: 2 TensorFlow checkpoint files" &&
    grep -q <<<"$out" "continuous action space" &&
    grep -q <<<"$out" "WORLD_NAME 2022_april_open is not on the track search path" &&
    [ -s "$m2/training_params.yaml" ] && [ -s "$m2/hyperparameters.json" ]
check import_virtual_model "a .tar.gz virtual model (rc $rc): $out" $(( rc || $? ))

# ---- refused ----
mkdir -p "$tmp/empty"
out=$("$bin" import "$tmp/empty" -o "$tmp/m3" 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q <<<"$out" "no model_metadata.json in this model folder" &&
    [ ! -e "$tmp/m3" ]
check import_without_metadata "refused, nothing written (rc $rc): $out" $(( rc != 1 || $? ))
printf '{"sensor": ["FRONT_FACING_CAMERA"], "version": "5"}' > "$tmp/empty/model_metadata.json"
out=$("$bin" import "$tmp/empty" -o "$tmp/m3" 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q <<<"$out" "do not load as trackday reads them: $tmp/empty/model_metadata.json: no \"action_space\"" &&
    [ ! -e "$tmp/m3" ] &&
    [ -z "$(ls -d "$tmp"/m3.import-* 2> /dev/null)" ]
check import_bad_metadata "refused with DeepRacer's reason, nothing left (rc $rc): $out" \
    $(( rc != 1 || $? ))
head -c 300 "$tmp/virtualmodel-test.tar.gz" > "$tmp/cut.tar.gz"
out=$("$bin" import "$tmp/cut.tar.gz" -o "$tmp/m4" 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q <<<"$out" "cut.tar.gz: " && [ ! -e "$tmp/m4" ]
check import_damaged_archive "a cut archive is refused (rc $rc): $out" $(( rc != 1 || $? ))

if [ $fail -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $fail
