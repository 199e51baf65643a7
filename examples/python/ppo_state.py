"""PPO on trackday's state sensor with numpy alone (docs/python.md).

    PYTHONPATH=build/release/python /usr/bin/python3 examples/python/ppo_state.py

A Gaussian policy and a value function (two small tanh MLPs), generalized advantage
estimation, the clipped PPO objective and Adam, all written out in numpy. Each iteration
drives N cars for T steps in one trackday.VecEnv and prints the mean lap progress of the
episodes that ended; on the oval it climbs from a few percent (a random policy leaves the
track at once) to whole laps.
"""
import argparse
import sys
import time

import numpy as np

import trackday


class MLP:
    """tanh MLP with a linear output; forward keeps what backward needs."""

    def __init__(self, sizes, rng, out_scale=1.0):
        self.params = []
        for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            scale = np.sqrt(1.0 / a) * (out_scale if k == len(sizes) - 2 else 1.0)
            self.params += [rng.normal(0, scale, (a, b)).astype(np.float64), np.zeros(b)]

    def forward(self, x):
        self.acts = [x]
        n = len(self.params) // 2
        for k in range(n):
            x = x @ self.params[2 * k] + self.params[2 * k + 1]
            if k < n - 1:
                x = np.tanh(x)
            self.acts.append(x)
        return x

    def backward(self, grad):
        grads = [None] * len(self.params)
        n = len(self.params) // 2
        for k in reversed(range(n)):
            if k < n - 1:
                grad = grad * (1.0 - self.acts[k + 1] ** 2)
            grads[2 * k] = self.acts[k].T @ grad
            grads[2 * k + 1] = grad.sum(0)
            grad = grad @ self.params[2 * k].T
        return grads


class Adam:
    def __init__(self, params, lr):
        self.params, self.lr, self.t = params, lr, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads, max_norm=0.5):
        norm = np.sqrt(sum(float((g ** 2).sum()) for g in grads))
        scale = min(1.0, max_norm / (norm + 1e-8))
        self.t += 1
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            g = g * scale
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            p -= self.lr * (m / (1 - 0.9 ** self.t)) / (np.sqrt(v / (1 - 0.999 ** self.t)) + 1e-8)


def to_actions(a):
    """Policy outputs in R^2 to (steering degrees, speed m/s)."""
    a = np.clip(a, -1.0, 1.0)
    return np.stack([30.0 * a[:, 0], 1.25 + 0.75 * a[:, 1]], axis=1).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--track", default="oval")
    ap.add_argument("--cars", type=int, default=32)
    ap.add_argument("--steps", type=int, default=64, help="steps per car per iteration")
    ap.add_argument("--iterations", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    env = trackday.VecEnv(args.track, args.cars, sensor="state", seed=args.seed,
                          threads=args.threads, reward="center_and_speed")
    obs_dim = env.single_observation_space.shape[0]
    pi = MLP([obs_dim, 64, 64, 2], rng, out_scale=0.01)
    vf = MLP([obs_dim, 64, 64, 1], rng)
    log_std = np.full(2, -0.5)
    opt_pi = Adam(pi.params + [log_std], 3e-4)
    opt_vf = Adam(vf.params, 1e-3)
    gamma, lam, clip, epochs, minibatch = 0.99, 0.95, 0.2, 4, 512
    n, T = args.cars, args.steps

    obs, _ = env.reset()
    first_progress = None
    t0 = time.time()
    for it in range(args.iterations):
        OBS = np.zeros((T, n, obs_dim))
        A = np.zeros((T, n, 2))
        LP = np.zeros((T, n))
        R = np.zeros((T, n))
        D = np.zeros((T, n))
        V = np.zeros((T + 1, n))
        progress = []
        for t in range(T):
            OBS[t] = obs
            mean = pi.forward(OBS[t])
            V[t] = vf.forward(OBS[t])[:, 0]
            std = np.exp(log_std)
            a = mean + std * rng.standard_normal(mean.shape)
            A[t] = a
            LP[t] = (-0.5 * ((a - mean) / std) ** 2 - log_std - 0.5 * np.log(2 * np.pi)).sum(1)
            obs, rew, term, trunc, info = env.step(to_actions(a))
            R[t] = rew
            D[t] = term | trunc
            if "episode" in info:
                progress += list(info["episode"]["progress"][info["_episode"]])
        V[T] = vf.forward(np.asarray(obs, np.float64))[:, 0]
        # GAE; an ended episode does not bootstrap (same-step autoreset: obs is the next one's).
        adv = np.zeros((T, n))
        last = np.zeros(n)
        for t in reversed(range(T)):
            nonterminal = 1.0 - D[t]
            delta = R[t] + gamma * V[t + 1] * nonterminal - V[t]
            last = delta + gamma * lam * nonterminal * last
            adv[t] = last
        ret = adv + V[:T]
        O2, A2, LP2 = OBS.reshape(-1, obs_dim), A.reshape(-1, 2), LP.reshape(-1)
        ADV, RET = adv.reshape(-1), ret.reshape(-1)
        ADV = (ADV - ADV.mean()) / (ADV.std() + 1e-8)
        for _ in range(epochs):
            order = rng.permutation(len(O2))
            for s in range(0, len(O2), minibatch):
                idx = order[s:s + minibatch]
                o, a, lp_old, adv_b, ret_b = O2[idx], A2[idx], LP2[idx], ADV[idx], RET[idx]
                m = len(idx)
                mean = pi.forward(o)
                std = np.exp(log_std)
                z = (a - mean) / std
                lp = (-0.5 * z ** 2 - log_std - 0.5 * np.log(2 * np.pi)).sum(1)
                ratio = np.exp(lp - lp_old)
                unclipped = ratio * adv_b
                clipped = np.clip(ratio, 1 - clip, 1 + clip) * adv_b
                use = (unclipped <= clipped).astype(np.float64)  # where the min is unclipped
                # d(-min)/d(lp) = -adv * ratio where unclipped is the min, else 0
                dlp = -(use * adv_b * ratio) / m
                dmean = dlp[:, None] * (z / std)
                dlog_std = (dlp[:, None] * (z ** 2 - 1)).sum(0) - 0.001  # + entropy bonus
                grads = pi.backward(dmean)
                opt_pi.step(grads + [dlog_std])
                v = vf.forward(o)[:, 0]
                opt_vf.step(vf.backward(((v - ret_b) / m)[:, None]))
        mean_progress = float(np.mean(progress)) if progress else float("nan")
        if first_progress is None and progress:
            first_progress = mean_progress
        print(f"iteration {it + 1:3d}  episodes {len(progress):4d}  mean progress "
              f"{mean_progress:6.1f} %  reward/step {R.mean():.3f}  "
              f"{time.time() - t0:5.1f} s", flush=True)
    print(f"first iteration's mean progress {first_progress:.1f} %, last {mean_progress:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
