# Idea: the simplest "go fast" reward: the commanded speed, but only while all wheels are on
# the road. Speed alone is dangerous (the car learns to floor it and crash), so leaving the
# road must pay almost nothing. Note that speed in params is the speed of the chosen action,
# not the measured speed of the car.


def reward_function(params):
    if not params['all_wheels_on_track']:
        return 1e-3
    MAX_SPEED = 4.0  # the top speed of your action space
    return float(0.1 + min(params['speed'] / MAX_SPEED, 1.0))
