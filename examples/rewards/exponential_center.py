# Idea: a smooth reward instead of bands. With bands, moving from 11 % to 24 % of the width
# off centre changes nothing, so the policy gets no signal there. A Gaussian-shaped curve
# gives a slightly better reward for every centimetre closer to the centre line, which is
# easier to climb. sigma sets how quickly the reward falls off.
import math


def reward_function(params):
    if params['is_offtrack']:
        return 1e-3
    half_width = 0.5 * params['track_width']
    d = params['distance_from_center'] / half_width  # 0 on the centre, 1 on the border
    sigma = 0.4
    return float(math.exp(-0.5 * (d / sigma) ** 2))
