#!/usr/bin/python3
"""
drutils_reader.py - reads a model folder the way deepracer-utils' log classes do, with pandas.

Written by trackday for its tests. It is NOT deepracer-utils: deepracer-utils is not packaged
for Debian (trackday installs packages from apt only) and none of its code is copied here. This
reader mirrors what deepracer-utils (aws-deepracer-community/deepracer-utils at 262e3fe,
deepracer/logs) documents and expects of a folder, so that a test can show a trackday model
directory meets those expectations:

- the folder type, detected in deepracer-utils' order (handler.py FSFileHandler:
  sim-trace/ = a console export, training-simtrace/ = DRfC with one worker, 0/ = DRfC with
  several, model/ = an upload), and its glob patterns and file-name regular expressions;
- each simtrace CSV read with pandas.read_csv (log.py _read_csv): columns renamed (X, Y, steer,
  throttle, all_wheels_on_track), obstacle_crash_counter dropped, iteration (and the evaluation
  stream) taken from the file name, a non-numeric action replaced by -1;
- training episodes numbered as load_training_trace numbers them (unique_episode from each
  worker's episodes in iteration 0);
- per-episode aggregates as simulation_agg computes them (steps = last - first + 1, the largest
  progress, time = the sum of tstamp differences with prepare rows counted 0, reward sum,
  complete = progress 100);
- model/model_metadata.json and ip/hyperparameters.json (the keys _parse_trace_metadata reads);
- metrics/TrainingMetrics.json as TrainingMetrics._loadRound reads it.

Usage: drutils_reader.py DIR  ->  one JSON object on stdout (a failure raises).
"""
import glob
import json
import math
import os
import re
import sys

import numpy as np
import pandas as pd

RENAME = {"X": "x", "Y": "y", "steer": "steering_angle", "throttle": "speed",
          "all_wheels_on_track": "on_track"}
NUMERIC = ["episode", "steps", "x", "y", "yaw", "steering_angle", "speed", "reward", "progress",
           "closest_waypoint", "track_len", "tstamp", "pause_duration"]


def folder_type(d):
    if os.path.isdir(os.path.join(d, "sim-trace")):
        return "CONSOLE_MODEL_WITH_LOGS", None, None
    if os.path.isdir(os.path.join(d, "training-simtrace")):
        return ("DRFC_MODEL_SINGLE_WORKERS",
                (os.path.join(d, "training-simtrace", "*-iteration.csv"),
                 r"(.*)/training-simtrace/(.*)-iteration.csv"),
                (os.path.join(d, "evaluation-*", "evaluation-simtrace", "0-iteration.csv"),
                 r".*/evaluation-([0-9]{14})/evaluation-simtrace/(.*)-iteration\.csv"))
    if os.path.isdir(os.path.join(d, "0")):
        return "DRFC_MODEL_MULTIPLE_WORKERS", None, None
    if os.path.isdir(os.path.join(d, "model")):
        return ("DRFC_MODEL_UPLOAD", None,
                (os.path.join(d, "evaluation-*", "evaluation-simtrace", "0-iteration.csv"),
                 r".*/evaluation-([0-9]{14})/evaluation-simtrace/(.*)-iteration\.csv"))
    raise Exception("unknown folder type: %s" % d)


def read_csv(path, regex, evaluation):
    with open(path, "rb") as f:
        df = pd.read_csv(f, encoding="utf8")
    df = df.rename(columns=RENAME)
    if "obstacle_crash_counter" in df.columns:
        df = df.drop("obstacle_crash_counter", axis=1)
    for col in ("wall_clock", "pause_duration"):
        if col not in df.columns:
            df[col] = float("nan")
    m = re.compile(regex).search(path)
    if not m:
        raise Exception("%s does not match %s" % (path, regex))
    df["iteration"] = int(m.groups()[1])
    df["worker"] = 0
    if evaluation:
        df["stream"] = m.groups()[0]
    if "action" not in df.columns or not pd.api.types.is_numeric_dtype(df["action"]):
        df["action"] = -1
    for col in NUMERIC:
        if not pd.api.types.is_numeric_dtype(df[col]):
            raise Exception("%s: column %s is %s, not numeric" % (path, col, df[col].dtype))
    if not pd.api.types.is_float_dtype(df["steps"]):
        raise Exception("%s: steps is %s, DeepRacer writes floats" % (path, df["steps"].dtype))
    return df


def aggregate(df, first, second):
    df = df.copy()
    df["delta_time"] = df["tstamp"].astype(float).diff()
    df.loc[df["episode_status"] == "prepare", "delta_time"] = 0.0
    g = df.groupby([first, second])
    out = g["steps"].agg(lambda x: x.max() - x.min()).reset_index()
    out = out.merge(g["progress"].agg("max").reset_index(), on=[first, second])
    out = out.merge(g["delta_time"].agg("sum").reset_index().rename(
        columns={"delta_time": "time"}), on=[first, second])
    out = out.merge(g["reward"].agg("sum").reset_index(), on=[first, second])
    out["steps"] += 1
    out["complete"] = np.where(out["progress"] == 100, 1, 0)
    return out


def episodes(agg, key):
    return [{"key": str(r[key]), "steps": int(r["steps"]), "progress": float(r["progress"]),
             "time": float(r["time"]), "reward": float(r["reward"]),
             "complete": int(r["complete"])} for _, r in agg.iterrows()]


def main(d):
    d = d.rstrip("/")
    kind, train, evaluation = folder_type(d)
    out = {"type": kind}
    with open(os.path.join(d, "model", "model_metadata.json"), encoding="utf-8") as f:
        md = json.load(f)
    out["metadata"] = {"actions": len(md["action_space"]), "sensor": md["sensor"],
                       "network": md["neural_network"], "version": md["version"]}
    with open(os.path.join(d, "ip", "hyperparameters.json"), encoding="utf-8") as f:
        out["hyperparameters"] = json.load(f)

    files = sorted(p.replace("\\", "/") for p in glob.glob(train[0]))
    if not files:
        raise Exception("No training-simtrace files found.")
    df = pd.concat([read_csv(p, train[1], False) for p in files], ignore_index=True)
    per_iteration = int(df[df["iteration"] == 0]["episode"].max()) + 1
    df["unique_episode"] = df["episode"] % per_iteration + df["iteration"] * per_iteration
    df = df.sort_values(["unique_episode", "steps"]).reset_index(drop=True)
    out["training_files"] = len(files)
    out["episodes_per_iteration"] = per_iteration
    out["training"] = episodes(aggregate(df, "iteration", "unique_episode"), "unique_episode")

    with open(os.path.join(d, "metrics", "TrainingMetrics.json"), encoding="utf-8") as f:
        tm = pd.DataFrame(json.load(f)["metrics"])
    per = max(tm["trial"])
    tm["iteration"] = ((tm["episode"] - 1) / per).apply(np.floor).astype(int)
    tm["complete"] = tm["episode_status"].apply(lambda x: 1 if x == "Lap complete" else 0)
    tm["time"] = tm["elapsed_time_in_milliseconds"] / 1000
    out["training_metrics"] = {
        "training": int((tm["phase"] == "training").sum()),
        "evaluation": int((tm["phase"] == "evaluation").sum()),
        "iterations": int(max(tm["iteration"])) + 1,
        "complete": int(tm[tm["phase"] == "training"]["complete"].sum()),
    }

    efiles = sorted(p.replace("\\", "/") for p in glob.glob(evaluation[0]))
    out["evaluations"] = []
    if efiles:
        ev = pd.concat([read_csv(p, evaluation[1], True) for p in efiles], ignore_index=True)
        ev = ev.sort_values(["stream", "episode", "steps"]).reset_index(drop=True)
        for stream, part in ev.groupby("stream"):
            laps = episodes(aggregate(part, "stream", "episode"), "episode")
            mfile = os.path.join(d, "metrics", "EvaluationMetrics-%s.json" % stream)
            with open(mfile, encoding="utf-8") as f:
                em = json.load(f)["metrics"]
            out["evaluations"].append({
                "stream": stream, "laps": laps,
                "official_ms": [m["elapsed_time_in_milliseconds"] for m in em],
                "official_status": [m["episode_status"] for m in em]})
    json.dump(out, sys.stdout, indent=1, allow_nan=False)
    print()
    return 0 if all(math.isfinite(e["time"]) for e in out["training"]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
