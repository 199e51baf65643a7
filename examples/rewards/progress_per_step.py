# Idea: reward getting around the lap in few steps. progress is the percent of the lap done
# since the episode started and steps counts the steps taken, so progress / steps is the
# pace: a car that covers more of the lap per step (a faster car) earns more at every step.
# It says nothing about where on the road to be, so it learns slower at first than a
# centre-line reward, but it aims at what a race measures.


def reward_function(params):
    if params['is_offtrack']:
        return 1e-3

    steps = params['steps']
    progress = params['progress']
    if steps <= 0:
        return 1e-3

    # About 0.4 % per step is a 250-step lap; scale so a good pace is near 1.
    pace = progress / steps
    return float(max(pace * 2.5, 1e-3))
