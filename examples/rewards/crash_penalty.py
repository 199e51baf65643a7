# Idea: make the end of an episode an explicit lesson. Leaving the road or crashing into an
# object ends the episode; returning a very small reward at that step (and a normal one
# otherwise) tells the policy which states led there. Keep penalties in the same range as
# the rest of the reward: a -1000 can swamp everything else the policy learned.


def reward_function(params):
    if params['is_crashed']:
        return 1e-3
    if params['is_offtrack']:
        return 1e-3
    reward = 1.0
    if not params['all_wheels_on_track']:
        reward = 0.3  # some wheels over the line: a warning, not yet the end
    # A little for being near the centre, so the reward is not flat.
    reward *= 1.0 - 0.5 * min(params['distance_from_center'] / (0.5 * params['track_width']), 1.0)
    return float(reward)
