# Idea: combine two goals by MULTIPLYING them. Staying near the centre line is the base;
# a speed factor between 0.5 and 1 scales it. A product means the car cannot make up for
# leaving the road by being fast (0.001 times anything is small), which an ADDITIVE mix
# (centre + speed) would allow.


def reward_function(params):
    track_width = params['track_width']
    d = params['distance_from_center']

    if d <= 0.1 * track_width:
        centre = 1.0
    elif d <= 0.25 * track_width:
        centre = 0.5
    elif d <= 0.5 * track_width:
        centre = 0.1
    else:
        centre = 1e-3

    speed_factor = 0.5 + 0.5 * min(params['speed'] / 4.0, 1.0)
    return float(centre * speed_factor)
