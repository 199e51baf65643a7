# Idea: shape HOW the car drives, not only where. On top of following the centre line, pay
# a little less whenever the chosen steering is sharp. A policy trained with this weaves
# less on straights, because every large steering command costs 20 % of the step's reward.
# (steering_angle is the commanded angle of the chosen action, in degrees, + = left.)


def reward_function(params):
    distance_from_center = params['distance_from_center']
    track_width = params['track_width']
    steering = abs(params['steering_angle'])

    if distance_from_center <= 0.1 * track_width:
        reward = 1.0
    elif distance_from_center <= 0.25 * track_width:
        reward = 0.5
    elif distance_from_center <= 0.5 * track_width:
        reward = 0.1
    else:
        reward = 1e-3

    STEERING_LIMIT = 15.0  # degrees; tune to your action space
    if steering > STEERING_LIMIT:
        reward *= 0.8

    return float(reward)
