# Idea: a reward that works in both directions of a track. Driving a loop in reverse flips
# which side is the inside: on a counter-clockwise loop the inside is on the left; driven
# clockwise it is on the right. Rather than assume one, find the loop's orientation from the
# waypoints (they always follow the driving direction) with the sign of its area, and
# reward the inside lane (between the centre line and the inner border).

_orientation = {}


def loop_turns_left(waypoints):
    # tuple(...): hashable for tuples (training) and numpy rows (DeepRacer's validator).
    key = (len(waypoints), tuple(waypoints[0]), tuple(waypoints[len(waypoints) // 2]))
    if key not in _orientation:
        # Shoelace formula: positive area = counter-clockwise = turning left overall.
        area = 0.0
        for (x1, y1), (x2, y2) in zip(waypoints, waypoints[1:]):
            area += x1 * y2 - x2 * y1
        _orientation[key] = area > 0
    return _orientation[key]


def reward_function(params):
    if not params['all_wheels_on_track']:
        return 1e-3
    inside_is_left = loop_turns_left(params['waypoints'])
    on_inside = params['is_left_of_center'] == inside_is_left
    d = params['distance_from_center'] / (0.5 * params['track_width'])  # 0 centre, 1 border
    if on_inside and 0.2 <= d <= 0.7:
        return 1.0
    if on_inside:
        return 0.6
    return 0.3
