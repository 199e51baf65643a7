"""trackday: the DeepRacer-faithful simulator as a fast vector environment (docs/python.md).

    import trackday
    env = trackday.VecEnv("oval", 64, sensor="state", seed=1, threads=2)
    obs, info = env.reset()
    obs, rewards, terminated, truncated, info = env.step(env.action_space.sample())

The arrays VecEnv returns are views of the C environment's own buffers: no copies, the same
objects at every step (copy them to keep a step's values). The environment follows
Gymnasium's vector-env conventions with same-step autoreset: a car whose episode ended in a
step has already started its next episode, and the observation returned is the new episode's.
"""
import os

import numpy as np

from . import _trackday, spaces
from ._trackday import Error

try:
    from . import _paths

    _TRACK_DIRS = list(_paths.TRACK_DIRS)
    __version__ = _paths.VERSION
except ImportError:  # pragma: no cover
    _TRACK_DIRS = []
    __version__ = "unknown"

__all__ = ["Error", "Track", "VecEnv", "Model", "load_model", "track_dirs", "reward_builtins",
           "set_log_handler", "PARAMS_DTYPE", "EPISODE_DTYPE", "STATUS_NAMES"]

# td_episode_status (sim.h), by value.
STATUS_NAMES = ("in_progress", "lap_complete", "crashed", "off_track", "reversed",
                "immobilized", "time_up", "prepare", "pause")


# info["episode"]: one record per car (episode_rec in _trackday.c); status is a
# STATUS_NAMES index.
EPISODE_DTYPE = np.dtype({"names": ["progress", "total_reward", "lap_time_s", "sim_time_s",
                                    "steps", "status"],
                          "formats": ["f8", "f8", "f8", "f8", "i4", "i4"],
                          "offsets": [0, 8, 16, 24, 32, 36], "itemsize": 40})


def _params_dtype():
    fields, itemsize, _ = _trackday.params_layout()
    names, formats, offsets = [], [], []
    for name, offset, fmt, count in fields:
        names.append(name)
        offsets.append(offset)
        if name == "objects_location":
            formats.append((fmt, (count // 2, 2)))
        elif count > 1:
            formats.append((fmt, (count,)))
        else:
            formats.append(fmt)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                     "itemsize": itemsize})


#: The numpy dtype of one car's td_params (sim.h): VecEnv.params is an array of it.
PARAMS_DTYPE = _params_dtype()


def track_dirs():
    """Where a track name is looked up: $TRACKDAY_TRACKS (':'-separated), the build tree's
    tracks and ../shared/tracks, then an installed prefix's share/trackday/tracks."""
    dirs = [d for d in os.environ.get("TRACKDAY_TRACKS", "").split(":") if d]
    dirs += _TRACK_DIRS
    here = os.path.dirname(os.path.abspath(__file__))
    dirs.append(os.path.normpath(os.path.join(here, "..", "..", "..", "..", "share", "trackday",
                                              "tracks")))
    return dirs


def reward_builtins():
    """The names of the built-in C reward functions (reward="NAME")."""
    return _trackday.reward_builtins()


def set_log_handler(fn):
    """Sends the library's messages to fn(level, message) (level 0 debug .. 3 error);
    None restores the default (stderr)."""
    _trackday.set_log_handler(fn)


class Track(_trackday.Track):
    """A track: a name looked up in track_dirs() (e.g. "oval", "reInvent2019_track") or a
    path to a .npy DeepRacer route or a trackday .json track."""

    def __init__(self, name_or_path):
        path = _trackday.find_track(os.fspath(name_or_path), track_dirs())
        super().__init__(path)
        self.path = path

    @property
    def waypoints(self):
        """(n, 2) centreline, params['waypoints'] (a read-only view)."""
        return np.asarray(self.center)

    def __repr__(self):
        return f"Track({self.name!r}, length={self.length:.2f} m, points={self.n})"


class VecEnv:
    """n cars on one track, stepped together in C (docs/python.md).

    sensor: "state", "camera", "stereo", "lidar" or a tuple of them (then observations are
    a dict by sensor). race_type: "time-trial", "object-avoidance" or "head-to-bot".
    reward: None (DeepRacer's follow-the-centre-line example, in C), a built-in's name
    (reward_builtins()), a reward_function.py path (run in the sandboxed reward process, as
    the trackday command does), or a Python callable f(params: dict) -> float, called once
    per car and step with DeepRacer's params dict. mode: "train", "eval" or "continuous".
    """

    metadata = {"autoreset_mode": "same-step", "render_modes": []}

    def __init__(self, track, n=1, sensor="state", race_type="time-trial", seed=0, threads=1,
                 reward=None, mode="train", max_steps=None, obstacles=None, bots=None, car=None,
                 max_resets=None):
        self.track = track if isinstance(track, _trackday.Track) else Track(track)
        self.sensor = sensor
        self._kw = dict(n=int(n), sensor=sensor, race_type=race_type, threads=int(threads),
                        reward=reward, mode=mode,
                        max_steps=-1 if max_steps is None else int(max_steps),
                        obstacles=-1 if obstacles is None else int(obstacles),
                        bots=-1 if bots is None else int(bots), car=car,
                        max_resets=-1 if max_resets is None else int(max_resets))
        self._make(seed)

    def _make(self, seed):
        k = self._kw
        env = _trackday.Env(self.track, k["n"], k["sensor"], k["race_type"], int(seed),
                            k["threads"], k["reward"], k["mode"], k["max_steps"], k["obstacles"],
                            k["bots"], k["car"], k["max_resets"])
        self._env = env
        self.num_envs = env.n
        self.seed_value = int(seed)
        self.actions = np.asarray(env.buffer("actions"))
        self.rewards = np.asarray(env.buffer("rewards"))
        self.dones = np.asarray(env.buffer("dones")).view(np.bool_)
        self.status = np.asarray(env.buffer("status"))
        self.params = np.asarray(env.buffer("params")).view(PARAMS_DTYPE).reshape(env.n)
        self._episodes = np.asarray(env.buffer("episodes")).view(EPISODE_DTYPE).reshape(env.n)
        self.terminated = np.asarray(env.buffer("terminated"))
        self.truncated = np.asarray(env.buffer("truncated"))
        names = (self.sensor,) if isinstance(self.sensor, str) else tuple(self.sensor)
        obs, single = {}, {}
        for name in names:
            a = np.asarray(env.buffer("camera" if name == "stereo" else name))
            obs[name] = a
            if a.dtype == np.uint8:
                single[name] = spaces.Box(0, 255, a.shape[1:], np.uint8)
            elif name == "state":
                single[name] = spaces.Box(-np.inf, np.inf, a.shape[1:], np.float32)
            else:
                single[name] = spaces.Box(0.0, np.inf, a.shape[1:], np.float32)
        if isinstance(self.sensor, str):
            self.obs = obs[self.sensor]
            self.single_observation_space = single[self.sensor]
            s = self.single_observation_space
            shape = (env.n,) + s.shape
            self.observation_space = spaces.Box(np.broadcast_to(s.low, shape),
                                                np.broadcast_to(s.high, shape), shape, s.dtype)
        else:
            self.obs = obs
            self.single_observation_space = spaces.Dict(single)
            self.observation_space = spaces.Dict(
                {k2: spaces.Box(np.broadcast_to(s.low, (env.n,) + s.shape),
                                np.broadcast_to(s.high, (env.n,) + s.shape), (env.n,) + s.shape,
                                s.dtype) for k2, s in single.items()})
        lo, hi = np.array(env.action_low, np.float32), np.array(env.action_high, np.float32)
        self.single_action_space = spaces.Box(lo, hi, (2,), np.float32)
        self.action_space = spaces.Box(np.tile(lo, (env.n, 1)), np.tile(hi, (env.n, 1)),
                                       (env.n, 2), np.float32)

    # ---- Gymnasium's vector-env API ------------------------------------------------------

    def reset(self, seed=None, options=None):
        """Starts a new episode for every car. With a seed, the env is rebuilt from it first (a
        run from reset(seed=s) is the same whatever ran before; the arrays of the old env
        stay valid but are no longer written: use the returned ones)."""
        if seed is not None:
            self._make(seed)
        self._env.reset()
        return self.obs, {}

    def step(self, actions):
        """actions: (n, 2) steering degrees (+ left) and speed m/s (env.actions itself, filled
        in place, saves a copy). Returns (obs, rewards, terminated, truncated, info); a car
        that ran out of max_steps is truncated, any other end (lap complete, off track,
        crashed, reversed, immobilized) terminates. info["episode"] (a record array of
        EPISODE_DTYPE: progress, total_reward, lap_time_s, sim_time_s, steps, status, an
        index of STATUS_NAMES), with the mask info["_episode"], holds the ended episodes'
        numbers."""
        if actions is not self.actions:
            np.copyto(self.actions, actions, casting="same_kind")
        if not self._env.step():  # no episode ended: the common, fast path
            return self.obs, self.rewards, self.terminated, self.truncated, {}
        info = {"episode": self._episodes.copy(), "_episode": self.dones.copy()}
        return self.obs, self.rewards, self.terminated, self.truncated, info

    def close(self):
        """Frees nothing early: the C env lives while any of its arrays does."""

    # ---- more than Gymnasium -------------------------------------------------------------

    def params_dict(self, i):
        """Car i's last params as DeepRacer's reward function got them (a new dict; the text
        `trackday probe` prints)."""
        return self._env.params_dict(int(i))

    def last_episode(self, i):
        """The numbers of car i's last ended episode (episode -1 if none ended yet)."""
        return self._env.last_episode(int(i))

    def current_episode(self, i):
        return self._env.current_episode(int(i))

    def teleport(self, i, x, y, heading_deg, speed=0.0):
        """Moves car i's origin to (x, y) at heading_deg and recomputes its params and
        observation, as `trackday probe` does (no step)."""
        self._env.teleport(int(i), float(x), float(y), float(np.radians(heading_deg)),
                           float(speed))

    def car(self, i):
        """Car i's dynamic state: x, y, yaw (radians), speed, steer."""
        return self._env.car(int(i))

    @property
    def threads(self):
        return self._env.threads

    def __repr__(self):
        return (f"VecEnv({self.track.name!r}, n={self.num_envs}, sensor={self.sensor!r}, "
                f"threads={self.threads})")


class Model:
    """A trained model (.tdm) in the device runtime (infer/, docs/infer.md)."""

    def __init__(self, path):
        self._m = _trackday.Model(os.fspath(path))
        self.info = self._m.info()

    def act(self, state=None, camera=None, lidar=None):
        """The model's actions for a batch of observations (or one: then a batch of 1).
        Returns (actions (n, 2) float32 steering degrees and speed, index (n,) int32, the
        discrete action's index or -1 for a continuous model)."""
        info = self.info

        def rows(x, dtype, per_row, what):
            if x is None:
                return None, None
            x = np.ascontiguousarray(x, dtype=dtype)
            if not per_row:
                raise ValueError(f"act: the model has no {what} input")
            if x.size == 0 or x.size % per_row:
                raise ValueError(f"act: {what} has {x.size} values, not a whole number of "
                                 f"observations of {per_row} (the model's {what} input)")
            return x, x.size // per_row

        cam_size = info["camera"][0] * info["camera"][1] * info["camera"][2]
        st, n1 = rows(state, np.float32, info["state_dim"], "state")
        cm, n2 = rows(camera, np.uint8, cam_size, "camera")
        li, n3 = rows(lidar, np.float32, info["lidar_dim"], "lidar")
        ns = [k for k in (n1, n2, n3) if k]
        if not ns:
            raise ValueError("act: give the model's inputs: state=, camera= and/or lidar=")
        if len(set(ns)) > 1:
            raise ValueError(f"act: the inputs hold different numbers of observations {ns}")
        n = ns[0]
        actions = np.empty((n, 2), np.float32)
        index = np.empty(n, np.int32)
        self._m.run(n, st, cm, li, actions, index)
        return actions, index

    __call__ = act

    def __repr__(self):
        i = self.info
        kind = "continuous" if i["continuous"] else f"{i['n_actions']} discrete actions"
        return f"Model({kind}, {i['n_params']} parameters)"


def load_model(path):
    """Loads a .tdm model (trackday train's model/best.tdm) for inference."""
    return Model(path)
