# Idea: pace in metres. progress is a percentage of the lap; converting with track_length
# gives metres, which means the same thing on a short and a long track. Distance covered
# per step (about speed / 15 at 15 steps per second) rewards speed that actually moves the
# car along the track, not speed spent weaving side to side.


def reward_function(params):
    if params['is_offtrack']:
        return 1e-3
    steps = max(params['steps'], 1)
    metres = params['progress'] / 100.0 * params['track_length']
    per_step = metres / steps  # 4 m/s is about 0.27 m per step
    return float(max(per_step / 0.27, 1e-3))
