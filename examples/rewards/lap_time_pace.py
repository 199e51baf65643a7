# Idea: reward being on pace for a target lap time. sim_time is the simulated time since
# the episode started (15 steps per second) and progress the percent of the lap done since
# then, so the car is "on pace" when progress / 100 * target_time >= sim_time. Measuring in
# seconds rather than steps makes the reward independent of the control rate.

TARGET_LAP_TIME = 12.0  # seconds; set it a little faster than your model's current best


def reward_function(params):
    if params['is_offtrack']:
        return 1e-3
    # sim_time is missing from DeepRacer's validator's test inputs: 15 steps a second.
    t = params.get('sim_time', params['steps'] / 15.0)
    if t < 0.5:
        return 0.5  # too early to judge the pace
    expected_progress = 100.0 * t / TARGET_LAP_TIME
    ratio = params['progress'] / expected_progress  # 1.0 = exactly on pace
    return float(min(max(ratio, 0.01), 1.5))
