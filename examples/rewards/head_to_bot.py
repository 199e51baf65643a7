# Idea: racing other cars (head-to-bot). Bot cars move: objects_speed is their speed and
# objects_heading their yaw (in radians). objects_distance is each object's position along
# the lap in metres, and projection_distance is ours, so their difference (wrapped around the
# lap) is how far ahead the next car is. Close behind a slower car: either overtake in the
# other lane or keep a safe gap; never sit right behind it in its lane.
import math


def reward_function(params):
    if params['is_crashed'] or not params['all_wheels_on_track']:
        return 1e-3
    reward = 0.5 + 0.5 * min(params['speed'] / 4.0, 1.0)  # racing: speed matters

    if not params['objects_location']:  # a time trial: the lists are empty
        return float(reward)

    track_length = params['track_length']
    nxt = params['closest_objects'][1]
    # projection_distance is missing from DeepRacer's validator's test inputs.
    me = params.get('projection_distance', params['progress'] / 100.0 * track_length)
    gap = (params['objects_distance'][nxt] - me) % track_length
    bot_speed = params['objects_speed'][nxt]
    bot_heading = params['objects_heading'][nxt]  # radians
    my_heading = math.radians(params['heading'])
    # Is the bot driving our way? (cos of the angle between the two headings)
    same_direction = math.cos(bot_heading - my_heading) > 0.0

    same_lane = params['objects_left_of_center'][nxt] == params['is_left_of_center']
    if gap < 1.0 and same_lane and same_direction and params['speed'] > bot_speed:
        # Closing in on it in its lane: change lanes now.
        reward *= 0.2 if gap < 0.5 else 0.5
    if params['object_in_camera'] and not same_lane:
        reward *= 1.2  # it is in view and we are in the passing lane: good
    return float(reward)
