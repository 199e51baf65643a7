# Idea: the first reward most people write. Pay the car for staying close to the centre
# line, in four bands measured as a fraction of the track width. The policy learns to keep
# the road under it; it does not learn to be fast (speed is not in the reward at all).
# This is the same function as trackday's builtin:follow_center_line, and the DeepRacer on
# AWS console's default reward for a new model (its follow-the-centre-line example).


def reward_function(params):
    track_width = params['track_width']
    distance_from_center = params['distance_from_center']

    # Band edges: 10 %, 25 % and 50 % of the width (50 % is the border itself).
    if distance_from_center <= 0.1 * track_width:
        reward = 1.0
    elif distance_from_center <= 0.25 * track_width:
        reward = 0.5
    elif distance_from_center <= 0.5 * track_width:
        reward = 0.1
    else:
        reward = 1e-3  # probably off the road

    return float(reward)
