# Idea: reward pointing the car where the track goes. The direction of the track at the car
# is the direction from the previous to the next waypoint (closest_waypoints brackets the
# car). heading is the car's yaw in degrees (-180..180, 0 = +x, counter-clockwise), so the
# difference must be wrapped into -180..180 before comparing. A car that points the right
# way rarely has to correct sharply later.
import math


def reward_function(params):
    if params['is_offtrack']:
        return 1e-3

    waypoints = params['waypoints']
    prev_i, next_i = params['closest_waypoints']
    prev_pt = waypoints[prev_i]
    next_pt = waypoints[next_i]

    track_direction = math.degrees(math.atan2(next_pt[1] - prev_pt[1], next_pt[0] - prev_pt[0]))
    diff = params['heading'] - track_direction
    diff = (diff + 180.0) % 360.0 - 180.0  # wrap into [-180, 180)
    diff = abs(diff)

    # Full reward within 10 degrees, falling linearly to a small value at 40 degrees.
    if diff <= 10.0:
        return 1.0
    if diff >= 40.0:
        return 0.05
    return float(1.0 - 0.95 * (diff - 10.0) / 30.0)
