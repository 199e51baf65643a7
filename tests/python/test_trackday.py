"""The Python package `trackday` (docs/python.md), run by tests/test_python.sh:

    /usr/bin/python3 tests/python/test_trackday.py BUILD_DIR [TEST ...]

with BUILD_DIR/python on sys.path. Shapes, dtypes and zero-copy views; the same trajectory
as the C env (td_py_reference) for the same seed; params equal to `trackday probe`; errors as
trackday.Error with the C message; del and gc in any order without leaks (trackday's own
allocation counter); rewards from Python functions, built-ins and sandboxed files; a model
run as the C runtime runs it. Ends with "N passed, N failed".
"""
import gc
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

BUILD = os.path.abspath(sys.argv[1])
SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(BUILD, "python"))

import numpy as np  # noqa: E402

import trackday  # noqa: E402

TRACKDAY = os.path.join(BUILD, "trackday")
REFERENCE = os.path.join(BUILD, "td_py_reference")
OVAL = os.path.join(SRC, "tracks", "oval.json")
TMP = tempfile.mkdtemp(prefix="td_py_")


def actions(t, n):
    """The deterministic actions of tests/python/reference.c."""
    a = np.empty((n, 2), np.float32)
    for i in range(n):
        a[i, 0] = np.float32(25.0 * math.sin(0.07 * t + 0.5 * i))
        a[i, 1] = np.float32(0.5 + 0.25 * ((t + i) % 8))
    return a


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def raises(fn, exc_type, *needles):
    try:
        fn()
    except exc_type as e:
        text = str(e)
        for s in needles:
            check(s in text, f"{exc_type.__name__} message {text!r} lacks {s!r}")
        return e
    raise AssertionError(f"no {exc_type.__name__} raised")


# ---- tests ----------------------------------------------------------------------------------


def test_shapes_and_dtypes():
    env = trackday.VecEnv("oval", 5, sensor="state", seed=3)
    obs, info = env.reset()
    check(obs.shape == (5, 16) and obs.dtype == np.float32, f"state {obs.shape} {obs.dtype}")
    check(info == {}, "reset info")
    obs, rew, term, trunc, info = env.step(np.zeros((5, 2), np.float32))
    check(rew.shape == (5,) and rew.dtype == np.float32, "rewards")
    check(term.shape == (5,) and term.dtype == np.bool_, "terminated")
    check(trunc.shape == (5,) and trunc.dtype == np.bool_, "truncated")
    check(env.actions.shape == (5, 2) and env.actions.dtype == np.float32, "actions")
    check(env.action_space.shape == (5, 2) and env.single_action_space.shape == (2,), "spaces")
    check(env.observation_space.shape == (5, 16), "observation_space")
    check(env.single_observation_space.shape == (16,), "single_observation_space")
    check(float(env.single_action_space.high[0]) == 30.0, "steering range")
    check(env.params.shape == (5,) and env.params.dtype == trackday.PARAMS_DTYPE, "params")
    cam = trackday.VecEnv("oval", 2, sensor="camera", seed=3)
    o, _ = cam.reset()
    check(o.shape == (2, 120, 160, 1) and o.dtype == np.uint8, f"camera {o.shape}")
    check(int(o.max()) > int(o.min()), "the camera sees something")
    st = trackday.VecEnv("oval", 2, sensor="stereo")
    check(st.reset()[0].shape == (2, 120, 160, 2), "stereo")
    li = trackday.VecEnv("oval", 3, sensor="lidar")
    o, _ = li.reset()
    check(o.dtype == np.float32 and o.shape[0] == 3 and o.shape[1] > 0, f"lidar {o.shape}")
    multi = trackday.VecEnv("oval", 2, sensor=("state", "lidar"))
    o, _ = multi.reset()
    check(set(o) == {"state", "lidar"} and o["state"].shape == (2, 16), "dict observations")
    check(set(multi.observation_space) == {"state", "lidar"}, "dict observation_space")


def test_zero_copy_views():
    env = trackday.VecEnv("oval", 4, sensor="state", seed=1)
    obs, _ = env.reset()
    addr = env._env.buffer("state").address
    check(obs.__array_interface__["data"][0] == addr, "obs does not view the C buffer")
    check(not obs.flags.owndata and not obs.flags.writeable, "obs owns its data or is writable")
    env.step(actions(0, 4))  # the prepare step: every car held at its start
    before = obs.copy()
    obs2, rew, _, _, _ = env.step(actions(1, 4))
    check(obs2 is obs, "step returned a new array")
    check(not np.array_equal(before, obs), "the view did not change with the step")
    check(rew.__array_interface__["data"][0] == env._env.buffer("rewards").address, "rewards")
    # Actions written in place are what the step reads.
    env.actions[:] = actions(1, 4)
    env.step(env.actions)
    check(env.params_dict(2)["steering_angle"] == float(env.actions[2, 0]), "in-place actions")
    p = env.params
    check(p.__array_interface__["data"][0] == env._env.buffer("params").address, "params view")
    d = env.params_dict(1)
    for k in ("x", "y", "heading", "progress", "track_width", "distance_from_center"):
        check(p[1][k] == d[k], f"params[{k}] {p[1][k]} != dict {d[k]}")
    check(p[1]["steps"] == d["steps"] and bool(p[1]["is_offtrack"]) == d["is_offtrack"], "ints")
    cam = trackday.VecEnv("oval", 2, sensor="camera")
    o, _ = cam.reset()
    check(o.__array_interface__["data"][0] == cam._env.buffer("camera").address, "camera view")


def reference_run(n, seed, threads, steps, sensor):
    out = os.path.join(TMP, f"ref_{sensor}_{n}_{threads}.bin")
    subprocess.run([REFERENCE, "env", OVAL, str(n), str(seed), str(threads), str(steps), sensor,
                    out], check=True)
    return np.fromfile(out, np.uint8)


def python_run(n, seed, threads, steps, sensor):
    env = trackday.VecEnv(OVAL, n, sensor=sensor, seed=seed, threads=threads)
    obs, _ = env.reset()
    chunks = []
    for t in range(steps):
        obs, rew, term, trunc, _ = env.step(actions(t, n))
        chunks += [rew.tobytes(), (term | trunc).tobytes(), obs.tobytes()]  # copies: views change
    return np.frombuffer(b"".join(chunks), np.uint8), env


def test_same_trajectory_as_c():
    for n, threads, steps, sensor in ((6, 1, 120, "state"), (6, 2, 120, "state"),
                                      (2, 1, 20, "camera"), (3, 2, 30, "lidar")):
        ref = reference_run(n, 11, threads, steps, sensor)
        got, env = python_run(n, 11, threads, steps, sensor)
        check(ref.size == got.size, f"{sensor}: sizes {ref.size} {got.size}")
        check(np.array_equal(ref, got), f"{sensor} n={n} threads={threads}: trajectories differ")
    # and different actions give a different one (the comparison can fail)
    env = trackday.VecEnv(OVAL, 6, seed=11)
    env.reset()
    moved = b"".join(env.step(actions(t + 1, 6))[0].tobytes() for t in range(120))
    check(moved != got[-len(moved):].tobytes(), "different actions, same run")


def test_reset_with_a_seed():
    env = trackday.VecEnv("oval", 3, seed=5)
    env.reset()
    a = [env.step(actions(t, 3))[0].copy() for t in range(30)]
    env.reset(seed=5)  # the same seed: the same run again
    b = [env.step(actions(t, 3))[0].copy() for t in range(30)]
    env.reset()  # no seed: the episodes go on (new start positions)
    d = [env.step(actions(t, 3))[0].copy() for t in range(30)]
    env.reset(seed=6)
    check(not all(np.array_equal(x, y) for x, y in zip(a, d)), "reset() repeated the run")
    check(all(np.array_equal(x, y) for x, y in zip(a, b)), "same seed, different run")
    check(env.seed_value == 6 and env._env.seed == 6, "seed not applied")


def test_params_dict_equals_probe():
    poses = [(0.2, -1.4, 5.0), (1.0, -1.5, 2.0), (2.5, -1.2, 20.0), (3.0, 0.3, 95.0),
             (2.0, 1.2, 170.0), (-6.0, 5.0, 45.0)]
    text = "".join(f"{x} {y} {h}\n" for x, y, h in poses)
    out = subprocess.run([TRACKDAY, "probe", "--track", OVAL], input=text, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    check(len(out) == len(poses), f"probe printed {len(out)} lines")
    env = trackday.VecEnv(OVAL, 1, mode="eval")
    env.reset()
    for (x, y, h), line in zip(poses, out):
        want = json.loads(line)
        env.teleport(0, x, y, h)
        got = env.params_dict(0)
        check("waypoints" in got and len(got["waypoints"]) > 10, "no waypoints")
        check(got["waypoints"][0] == list(env.track.waypoints[0]), "waypoints differ")
        del got["waypoints"]
        check(list(got) == list(want), f"keys differ: {list(got)} vs {list(want)}")
        for k, v in want.items():
            g = got[k]
            check(type(g) is type(v), f"{k}: type {type(g).__name__} vs {type(v).__name__}")
            if isinstance(v, float):
                check(math.isclose(g, v, rel_tol=1e-10, abs_tol=1e-11), f"{k}: {g} vs {v}")
            else:
                check(g == v, f"{k}: {g} vs {v}")
    # Off the track (the last pose): the dict says so, and probe agrees.
    check(json.loads(out[-1])["is_offtrack"] is True, "the last pose is on the track")


def test_errors_carry_the_c_message():
    e = raises(lambda: trackday.Track("no_such_track_xyz"), trackday.Error, "no_such_track_xyz")
    check(e.code == "TD_ENOENT" and e.message == str(e), f"code {e.code}")
    bad = os.path.join(TMP, "bad.json")
    with open(bad, "w") as f:
        f.write('{"name": "x", "centerline": [[0, 0]]')
    e = raises(lambda: trackday.Track(bad), trackday.Error, "bad.json")
    check(e.code in ("TD_EFORMAT", "TD_EINVAL"), f"code {e.code}")
    e = raises(lambda: trackday.VecEnv("oval", 0), trackday.Error,
               "sim: the number of cars must be >= 1 (got 0)")
    check(e.code == "TD_EINVAL", e.code)
    raises(lambda: trackday.VecEnv("oval", 2, sensor="radar"), trackday.Error, "unknown sensor")
    raises(lambda: trackday.VecEnv("oval", 2, race_type="drag"), trackday.Error, "race_type")
    raises(lambda: trackday.VecEnv("oval", 2, reward="builtin:nope"), trackday.Error, "nope")
    raises(lambda: trackday.VecEnv("oval", 2, car="no-such-car"), trackday.Error, "no-such-car")
    raises(lambda: trackday.load_model(OVAL), trackday.Error)
    env = trackday.VecEnv("oval", 2)
    env.reset()
    raises(lambda: env.params_dict(2), IndexError, "car 2: the env has 2 cars")
    raises(lambda: env.step(np.zeros((3, 2))), ValueError)
    check(issubclass(trackday.Error, RuntimeError), "Error is not a RuntimeError")


def test_python_reward_function():
    seen = []

    def follow(params):
        seen.append(params["steps"])
        w, d = params["track_width"], params["distance_from_center"]
        return 1.0 if d <= 0.1 * w else 0.5 if d <= 0.25 * w else 0.1 if d <= 0.5 * w else 1e-3

    a = trackday.VecEnv("oval", 4, seed=2, reward=follow)
    b = trackday.VecEnv("oval", 4, seed=2, reward="follow_center_line")
    a.reset()
    b.reset()
    total = 0.0
    for t in range(60):
        ra = a.step(actions(t, 4))[1]
        rb = b.step(actions(t, 4))[1]
        check(np.array_equal(ra, rb), f"step {t}: python {ra} vs builtin {rb}")
        total += float(ra.sum())
    check(total > 10 and len(seen) > 100, f"rewards {total}, calls {len(seen)}")
    check(all(isinstance(s, float) for s in seen), "params['steps'] is not a float (DeepRacer)")

    def broken(params):
        if params["steps"] >= 3:
            return 1 / 0
        return 1.0

    env = trackday.VecEnv("oval", 2, reward=broken)
    env.reset()
    env.step(actions(0, 2))
    raises(lambda: [env.step(actions(t, 2)) for t in range(1, 6)], ZeroDivisionError)
    env2 = trackday.VecEnv("oval", 2, reward=lambda p: float("nan"))
    env2.reset()
    raises(lambda: [env2.step(actions(t, 2)) for t in range(3)], ValueError,
           "the reward function returned nan", "finite")


def test_reward_file_runs_sandboxed():
    path = os.path.join(TMP, "reward_function.py")
    with open(path, "w") as f:
        f.write("def reward_function(params):\n"
                "    return 2.0 if params['all_wheels_on_track'] else 0.5\n")
    env = trackday.VecEnv("oval", 3, reward=path)
    env.reset()
    got = [env.step(actions(t, 3))[1].copy() for t in range(4)]
    # The first step of an episode is DeepRacer's prepare step (reward 0).
    check(np.all(got[0] == 0) and all(np.all(r == 2.0) for r in got[1:]), f"rewards {got}")
    bad = os.path.join(TMP, "bad_reward.py")
    with open(bad, "w") as f:
        f.write("import socket\ndef reward_function(params):\n"
                "    socket.socket()\n    return 1.0\n")
    env = trackday.VecEnv("oval", 2, reward=bad)
    env.reset()
    raises(lambda: [env.step(actions(t, 2)) for t in range(3)], trackday.Error,
           "network access")


def test_episode_ends_and_info():
    env = trackday.VecEnv("oval", 3, max_steps=6, seed=1)
    env.reset()
    for t in range(5):
        _, _, term, trunc, info = env.step(np.tile([[0.0, 0.5]], (3, 1)).astype(np.float32))
        check(not term.any() and not trunc.any() and info == {}, f"step {t} ended")
    _, _, term, trunc, info = env.step(np.tile([[0.0, 0.5]], (3, 1)).astype(np.float32))
    check(trunc.all() and not term.any(), f"max_steps: term {term} trunc {trunc}")
    names = [trackday.STATUS_NAMES[k] for k in info["episode"]["status"]]
    check(info["_episode"].all() and names == ["time_up"] * 3, f"info {names}")
    check(info["episode"].dtype == trackday.EPISODE_DTYPE, "episode dtype")
    check(np.all(info["episode"]["steps"] == 6), f"steps {info['episode']['steps']}")
    check(env.last_episode(0)["status"] == "time_up", "last_episode")
    # Driving off the track terminates.
    env = trackday.VecEnv("oval", 2, seed=1)
    env.reset()
    ended = None
    for t in range(200):
        _, _, term, trunc, info = env.step(np.tile([[30.0, 3.0]], (2, 1)).astype(np.float32))
        if term.any():
            ended = info
            break
    check(ended is not None and not trunc.any(), "hard left at speed never ended")
    names = {trackday.STATUS_NAMES[k] for k in ended["episode"]["status"][ended["_episode"]]}
    check(names and names <= {"off_track", "crashed"}, f"status {names}")
    i = int(np.flatnonzero(ended["_episode"])[0])
    last = env.last_episode(i)
    check(ended["episode"]["progress"][i] == last["progress"] and
          ended["episode"]["steps"][i] == last["steps"], f"{ended['episode'][i]} vs {last}")


def test_del_and_gc_in_any_order():
    gc.collect()
    base = trackday._trackday.alloc_live()
    for order in range(4):
        track = trackday.Track("oval")
        env = trackday.VecEnv(track, 3, sensor=("state", "camera"), seed=4)
        obs, _ = env.reset()
        env.step(actions(0, 3))
        state, cam, params = obs["state"], obs["camera"], env.params
        keep = (state.copy(), cam.copy(), params.copy())
        if order == 0:
            del env, track
        elif order == 1:
            del track, env
        elif order == 2:  # a cycle: the reward function refers to the env
            holder = {"env": env}
            env2 = trackday.VecEnv(track, 2, reward=lambda p, h=holder: 1.0)
            holder["self"] = env2
            env2.reset()
            env2.step(actions(0, 2))
            del env, env2, holder, track
        else:
            del obs, env
            gc.collect()
            del track
        gc.collect()
        check(np.array_equal(state, keep[0]) and np.array_equal(cam, keep[1]), "arrays changed")
        check(params[0]["progress"] == keep[2][0]["progress"], "params changed")
        del state, cam, params, keep
        if order != 3:
            del obs
        gc.collect()
        live = trackday._trackday.alloc_live()
        check(live == base, f"order {order}: {live - base} allocations left")


def test_load_model_runs_infer():
    for name in ("state_ppo_discrete.tdm", "state_sac.tdm", "camera_ppo_discrete.tdm"):
        path = os.path.join(SRC, "tests", "fuzz", "corpus", "tdm", name)
        m = trackday.load_model(path)
        info = m.info
        rng = np.random.default_rng(1)
        n = 5
        st = rng.uniform(-1, 1, (n, info["state_dim"])).astype(np.float32)
        h, w, c = info["camera"]
        cam = rng.integers(0, 256, (n, h * w * c)).astype(np.uint8)
        li = rng.uniform(0, 1, (n, info["lidar_dim"])).astype(np.float32)
        acts, index = m.act(state=st if info["state_dim"] else None,
                            camera=cam.reshape(n, h, w, c) if h else None,
                            lidar=li if info["lidar_dim"] else None)
        rows = np.concatenate([cam.view(np.uint8).reshape(n, -1), li.view(np.uint8).reshape(n, -1),
                               st.view(np.uint8).reshape(n, -1)], axis=1)
        obs = os.path.join(TMP, "obs.bin")
        rows.tofile(obs)
        out = os.path.join(TMP, "acts.bin")
        subprocess.run([REFERENCE, "infer", path, obs, str(n), out], check=True)
        want = np.fromfile(out, np.float32).reshape(n, 2)
        check(np.array_equal(acts, want), f"{name}: {acts} vs C {want}")
        check(acts.shape == (n, 2) and index.shape == (n,), "shapes")
        if not info["continuous"]:
            check(np.all((index >= 0) & (index < info["n_actions"])), f"index {index}")
    raises(lambda: m.act(), ValueError, "give the model's inputs")
    m = trackday.load_model(os.path.join(SRC, "tests", "fuzz", "corpus", "tdm",
                                         "state_ppo_discrete.tdm"))
    raises(lambda: m.act(state=np.zeros((2, 16), np.float32)), ValueError,
           "not a whole number of observations of 6")


def test_log_callback():
    got = []
    trackday.set_log_handler(lambda level, msg: got.append((level, msg)))
    try:
        trackday._trackday.log(2, "hello from the library")
    finally:
        trackday.set_log_handler(None)
    check(got == [(2, "hello from the library")], f"log {got}")


def test_ppo_example_learns():
    r = subprocess.run([sys.executable, os.path.join(SRC, "examples", "python", "ppo_state.py"),
                        "--iterations", "14"], capture_output=True, text=True, timeout=900,
                       env=dict(os.environ, PYTHONPATH=os.path.join(BUILD, "python"),
                                OPENBLAS_NUM_THREADS="1"))  # numpy's sums in one order
    check(r.returncode == 0, f"ppo_state.py failed: {r.stderr[-1500:]}")
    last = r.stdout.strip().splitlines()[-1]
    words = last.replace("%", "").replace(",", "").split()
    first, final = float(words[4]), float(words[6])
    # A random policy leaves the oval within a few metres (about 10 % of a lap); PPO laps it.
    check(first < 30 and final >= 60, f"did not learn: {last}")


def test_docs_python_example():
    text = open(os.path.join(SRC, "docs", "python.md")).read()
    blocks = [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]
    check(len(blocks) >= 2, "docs/python.md has no python examples")
    for i, code in enumerate(blocks):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=dict(os.environ, PYTHONPATH=os.path.join(BUILD, "python")),
                           cwd=SRC, timeout=600)
        check(r.returncode == 0, f"example {i} failed: {r.stdout[-500:]} {r.stderr[-1500:]}")


def main():
    names = sys.argv[2:] or [n for n in globals() if n.startswith("test_")]
    passed = failed = 0
    for name in names:
        try:
            globals()[name]()
            print(f"PASS {name}", flush=True)
            passed += 1
        except Exception:
            print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
            failed += 1
    shutil.rmtree(TMP, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
