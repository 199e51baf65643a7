# Idea: "slow down when you see something". object_in_camera is True when the next object
# is inside the camera's field of view. A camera policy can only react to what it sees, so
# tie the speed reward to it: fast when the view is clear, moderate when an object is in
# view. In a time trial there are no objects and the key is False.


def reward_function(params):
    if not params['all_wheels_on_track']:
        return 1e-3
    speed = params['speed']
    if params['object_in_camera']:
        target = 1.5
    else:
        target = 3.5
    reward = max(1.0 - abs(speed - target) / 3.0, 0.1)
    # Keep some pull toward the road's middle.
    reward *= 1.0 - 0.4 * min(params['distance_from_center'] / (0.5 * params['track_width']), 1.0)
    return float(reward)
