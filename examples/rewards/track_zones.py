# Idea: different behaviour in different parts of the lap. Mark zones along the lap, as
# fractions of the FORWARD direction measured from the start line: projection_distance is
# how far along the lap (in metres, from waypoint 0 of the driving direction) the car is,
# and track_length the lap's length. When the race runs the track backwards (is_reversed),
# the lap is walked the other way, so a forward fraction f is at 1 - f: mirror the zones,
# or your "fast straight" lands in a hairpin.

# (start fraction, end fraction, target speed) on the forward direction of YOUR track.
ZONES = [
    (0.00, 0.15, 3.5),
    (0.15, 0.35, 2.0),
    (0.35, 0.60, 3.0),
    (0.60, 0.85, 1.8),
    (0.85, 1.00, 3.5),
]


def reward_function(params):
    if not params['all_wheels_on_track']:
        return 1e-3
    if 'projection_distance' in params:
        fraction = params['projection_distance'] / params['track_length']
    else:  # DeepRacer's validator tests without it: estimate from the waypoints
        fraction = params['closest_waypoints'][0] / max(len(params['waypoints']) - 1, 1)
    if params['is_reversed']:
        fraction = 1.0 - fraction
    target = 2.5
    for start, end, speed in ZONES:
        if start <= fraction < end:
            target = speed
            break
    return float(max(1.0 - abs(params['speed'] - target) / 3.0, 0.05))
