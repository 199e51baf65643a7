"""Gymnasium-style spaces: gymnasium.spaces.Box when gymnasium is installed, else a small
Box with the same attributes and methods that trackday uses (shape, dtype, low, high,
sample, contains, seed)."""
import numpy as np

try:  # pragma: no cover - depends on the machine
    from gymnasium.spaces import Box  # noqa: F401
    HAVE_GYMNASIUM = True
except ImportError:
    HAVE_GYMNASIUM = False

    class Box:
        """A box in R^n (or of integers), as gymnasium.spaces.Box."""

        def __init__(self, low, high, shape=None, dtype=np.float32, seed=None):
            self.dtype = np.dtype(dtype)
            if shape is None:
                shape = np.shape(low)
            self.shape = tuple(int(s) for s in shape)
            self.low = np.broadcast_to(np.asarray(low, dtype=self.dtype), self.shape).copy()
            self.high = np.broadcast_to(np.asarray(high, dtype=self.dtype), self.shape).copy()
            self.np_random = np.random.default_rng(seed)

        def seed(self, seed=None):
            self.np_random = np.random.default_rng(seed)
            return [seed]

        def sample(self):
            if self.dtype.kind in "ui":
                return self.np_random.integers(self.low, self.high.astype(np.int64) + 1,
                                               size=self.shape).astype(self.dtype)
            return self.np_random.uniform(self.low, self.high, size=self.shape).astype(self.dtype)

        def contains(self, x):
            x = np.asarray(x)
            return (x.shape == self.shape and bool(np.all(x >= self.low))
                    and bool(np.all(x <= self.high)))

        def __contains__(self, x):
            return self.contains(x)

        def __repr__(self):
            return f"Box({self.low.min()}, {self.high.max()}, {self.shape}, {self.dtype})"


class Dict(dict):
    """A dict of spaces (observation of several sensors), as gymnasium.spaces.Dict."""

    @property
    def spaces(self):
        return self

    def sample(self):
        return {k: v.sample() for k, v in self.items()}

    def contains(self, x):
        return isinstance(x, dict) and all(k in x and v.contains(x[k]) for k, v in self.items())
