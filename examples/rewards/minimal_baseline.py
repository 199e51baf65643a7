# Idea: the smallest reward that can work, as a baseline to compare others against. Every
# step on the road is worth 1, so the longer the car stays on, the more it earns: the policy
# learns to survive. It has no opinion on speed or line; anything you add should beat this.


def reward_function(params):
    if params['is_offtrack']:
        return 1e-3
    return 1.0
