# reward_function.py - what the car is paid for at every step (DeepRacer's contract:
# reward_function(params) returns a float). trackday calls it 15 times per simulated
# second for every car. Change it, then train again and compare (trackday plot DIR).
#
# This one teaches two things at once: stay near the centre line (a safe line that
# the car can learn quickly) and drive fast (so laps get shorter).


def reward_function(params):
    # Leaving the track ends the episode; pay almost nothing for the step that did it.
    if not params["all_wheels_on_track"]:
        return 1e-3

    # 1 on the centre line, falling to 0 at the border.
    half_width = 0.5 * params["track_width"]
    centred = 1.0 - min(params["distance_from_center"] / half_width, 1.0)

    # Faster actions earn more (speed is the commanded speed, m/s).
    fast = params["speed"] / 4.0

    return float(0.2 + centred + fast)
