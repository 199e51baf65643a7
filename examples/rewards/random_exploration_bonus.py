# Idea: why a reward should be deterministic. This function adds a little random noise to
# an otherwise sensible reward, to show the effect: the same state now gets different
# rewards, which the policy cannot learn from; it only slows learning down. random is an
# allowed import, but use it for things like tie-breaking, never as part of the signal.
# (Try it against follow_center_line.py with `trackday reward explain` and compare.)
import random


def reward_function(params):
    if not params['all_wheels_on_track']:
        return 1e-3
    d = params['distance_from_center'] / (0.5 * params['track_width'])
    base = max(1.0 - d, 0.05)
    noise = random.uniform(-0.05, 0.05)  # the lesson: this makes learning harder
    return float(max(base + noise, 1e-3))
