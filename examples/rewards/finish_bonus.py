# Idea: a sparse bonus for finishing, added to a dense reward. The dense part (stay on the
# road) teaches the basics; the bonus at progress == 100 makes finishing worth much more,
# and scaling it by how few steps the lap took makes a FAST finish worth the most.
# A bonus that only comes at the end is hard to find by chance: keep the dense part.


def reward_function(params):
    if not params['all_wheels_on_track']:
        return 1e-3

    reward = 1.0
    if params['progress'] >= 100.0:
        steps = max(params['steps'], 1)
        reward += 10000.0 / steps  # a 150-step lap earns about 67, a 300-step lap about 33
    return float(reward)
