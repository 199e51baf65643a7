"""bench/python.py: steps per second of trackday.VecEnv stepped from Python, as a ratio to the
same env stepped in a C loop (Env.bench_c) in the same process, interleaved, for the state and
camera sensors with one thread and with every core (docs/benchmarks.md, "Python").

    nice /usr/bin/python3 bench/python.py [--build build/release] [--cars 64] [--seconds 1]

The Python loop is what a learner does: a new (n, 2) float32 action array every step (copied
into the env's buffer), env.step, the five returned arrays, info when episodes end. Each
configuration alternates C and Python rounds of the same steps (2000 state or 40 camera steps x
--seconds) and keeps each side's best round (the machine is shared). The ratio is of CPU time
with one thread, of wall time with several (CPU time would count the pool's spinning workers).
Prints one JSON line per configuration: python_steps_per_s, c_steps_per_s and their ratio
(target >= 0.8 at 64 cars).
"""
import argparse
import json
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--build", default=os.path.join(here, "..", "build", "release"))
    ap.add_argument("--cars", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--track", default="oval")
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(os.path.abspath(args.build), "python"))
    import numpy as np

    import trackday

    cores = os.cpu_count() or 1
    for sensor in ("state", "camera"):
        for threads in sorted({1, cores}):
            env = trackday.VecEnv(args.track, args.cars, sensor=sensor, seed=1, threads=threads,
                                  reward="follow_center_line")
            env.reset()
            rng = np.random.default_rng(0)
            pool = [np.stack([rng.uniform(-10, 10, args.cars), rng.uniform(0.5, 1.5, args.cars)],
                             axis=1).astype(np.float32) for _ in range(16)]
            env.actions[:] = pool[0]
            steps = max(1, int((2000 if sensor == "state" else 40) * args.seconds))
            best = {"c_cpu": 1e9, "c_wall": 1e9, "py_cpu": 1e9, "py_wall": 1e9}
            for _ in range(args.rounds):
                env.actions[:] = pool[0]
                c0, w0 = time.process_time(), time.perf_counter()
                env._env.bench_c(steps)
                c1, w1 = time.process_time(), time.perf_counter()
                for k in range(steps):
                    obs, rew, term, trunc, info = env.step(pool[k & 15])
                c2, w2 = time.process_time(), time.perf_counter()
                best["c_cpu"] = min(best["c_cpu"], c1 - c0)
                best["c_wall"] = min(best["c_wall"], w1 - w0)
                best["py_cpu"] = min(best["py_cpu"], c2 - c1)
                best["py_wall"] = min(best["py_wall"], w2 - w1)
            # One thread: CPU time of the process (what the steps cost, whatever else runs);
            # several: wall time (CPU time would count the pool's spinning workers).
            kind = "cpu" if threads == 1 else "wall"
            c_rate, py_rate = steps / best["c_" + kind], steps / best["py_" + kind]
            print(json.dumps({"bench": f"python_{sensor}_steps_per_s", "cars": args.cars,
                              "threads": threads, "time": kind,
                              "python_steps_per_s": round(py_rate, 1),
                              "c_steps_per_s": round(c_rate, 1),
                              "car_steps_per_s_python": round(py_rate * args.cars),
                              "ratio": round(py_rate / c_rate, 3), "target": 0.8,
                              "ratio_cpu": round(best["c_cpu"] / best["py_cpu"], 3),
                              "ratio_wall": round(best["c_wall"] / best["py_wall"], 3),
                              "steps_per_round": steps, "rounds": args.rounds}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
