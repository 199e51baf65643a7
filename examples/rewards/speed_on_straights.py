# Idea: fast where the road is straight, slower in turns. Look a few waypoints ahead: if the
# track direction barely changes, the road ahead is straight and high speed earns the most;
# if it turns sharply, a moderate speed does. This teaches the policy a speed profile, which
# a constant "go fast" term cannot.
import math


def direction(a, b):
    return math.atan2(b[1] - a[1], b[0] - a[0])


def reward_function(params):
    if not params['all_wheels_on_track']:
        return 1e-3

    waypoints = params['waypoints']
    n = len(waypoints) - 1  # the last waypoint repeats the first on a loop
    i = params['closest_waypoints'][1] % n
    LOOKAHEAD = 5

    here = direction(waypoints[i - 1], waypoints[i])
    ahead = direction(waypoints[(i + LOOKAHEAD - 1) % n], waypoints[(i + LOOKAHEAD) % n])
    turn = abs(math.degrees((ahead - here + math.pi) % (2 * math.pi) - math.pi))

    speed = params['speed']
    if turn < 10.0:  # straight: the faster the better
        target = 4.0
    elif turn < 25.0:
        target = 2.5
    else:
        target = 1.5
    # 1 at the target speed, less the further from it.
    return float(max(1.0 - abs(speed - target) / 4.0, 0.05))
