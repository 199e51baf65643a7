# Idea: fast OR sharp, not both. Real cars (and DeepRacer's) slide out when they steer hard
# at speed. Pay for speed, but subtract a penalty when a large steering angle comes with a
# high speed. The policy learns to brake for turns instead of discovering it by crashing.


def reward_function(params):
    if not params['all_wheels_on_track']:
        return 1e-3

    speed = params['speed']                  # m/s, the chosen action
    steering = abs(params['steering_angle'])  # degrees

    reward = 0.3 + 0.7 * min(speed / 4.0, 1.0)
    # 30 degrees at 4 m/s is the worst combination; 10 degrees at 1 m/s costs nothing.
    strain = (steering / 30.0) * (speed / 4.0)
    if strain > 0.25:
        reward *= 1.0 - min(strain, 0.9)
    return float(max(reward, 1e-3))
