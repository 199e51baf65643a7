# Idea: use numpy for vector geometry. Turn the waypoints into an array once, then measure
# how far the car is from the straight line to a point a little ahead on the track, i.e.
# reward "aiming at where the road goes" rather than "being on the centre". numpy is one of
# the libraries DeepRacer allows (with math, random, scipy and shapely).
import numpy as np

_arrays = {}


def as_array(waypoints):
    # Keyed by the route's shape, so the forward and reverse directions get their own array.
    # tuple(...) makes the key hashable whether the points are tuples (training) or rows of a
    # numpy array (DeepRacer's validator passes waypoints as one).
    key = (len(waypoints), tuple(waypoints[0]), tuple(waypoints[len(waypoints) // 2]))
    if key not in _arrays:
        _arrays[key] = np.asarray(waypoints, dtype=float)
    return _arrays[key]


def reward_function(params):
    if params['is_offtrack']:
        return 1e-3
    wp = as_array(params['waypoints'])
    n = len(wp) - 1
    car = np.array([params['x'], params['y']])
    target = wp[(params['closest_waypoints'][1] + 3) % n]

    heading = np.radians(params['heading'])
    facing = np.array([np.cos(heading), np.sin(heading)])
    to_target = target - car
    norm = np.linalg.norm(to_target)
    if norm < 1e-6:
        return 1.0
    cos_angle = float(np.dot(facing, to_target) / norm)  # 1 when aimed straight at it
    return float(max(cos_angle, 0.0) ** 2 + 1e-3)
