# Idea: object avoidance as "be in the other lane when something is close ahead". The
# object keys are in params in every race; in a time trial the lists are empty (and
# closest_objects is [0, 0]), so check for objects before indexing and fall back to a plain
# on-track reward. closest_objects gives [behind, ahead]: the object ahead is the one to
# avoid.
import math


def reward_function(params):
    if not params['all_wheels_on_track'] or params['is_crashed']:
        return 1e-3

    reward_lane = 1.0
    locations = params['objects_location']
    if locations:
        ahead = params['closest_objects'][1]
        ox, oy = locations[ahead]
        distance = math.hypot(ox - params['x'], oy - params['y'])
        same_side = params['objects_left_of_center'][ahead] == params['is_left_of_center']
        if same_side:
            if distance < 0.3:
                reward_lane = 1e-3  # about to hit it
            elif distance < 0.5:
                reward_lane = 0.2
            elif distance < 0.8:
                reward_lane = 0.5

    # Being near the middle of the road still matters a little when nothing is near.
    half = 0.5 * params['track_width']
    keep_on_road = 1.0 - 0.5 * min(params['distance_from_center'] / half, 1.0)
    return float(reward_lane * keep_on_road)
