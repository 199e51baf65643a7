# Idea: the usual "serious" reward is a weighted sum of small, normalized terms, each in
# 0..1, so the weights say how much each goal matters. Here: centre line, heading, speed and
# pace. Keep every term bounded, or one of them silently dominates; and make leaving the
# road override the sum.
import math


def reward_function(params):
    if params['is_offtrack'] or not params['all_wheels_on_track']:
        return 1e-3

    half = 0.5 * params['track_width']
    centre = 1.0 - min(params['distance_from_center'] / half, 1.0)

    wp = params['waypoints']
    a, b = params['closest_waypoints']
    track_dir = math.degrees(math.atan2(wp[b][1] - wp[a][1], wp[b][0] - wp[a][0]))
    diff = abs((params['heading'] - track_dir + 180.0) % 360.0 - 180.0)
    heading = max(1.0 - diff / 45.0, 0.0)

    speed = min(params['speed'] / 4.0, 1.0)
    pace = min(params['progress'] / max(params['steps'], 1) / 0.5, 1.0)

    W_CENTRE, W_HEADING, W_SPEED, W_PACE = 0.3, 0.2, 0.3, 0.2
    return float(W_CENTRE * centre + W_HEADING * heading + W_SPEED * speed + W_PACE * pace)
