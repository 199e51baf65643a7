# Idea: do not over-constrain the car. Anywhere on the road is equally good, as long as all
# four wheels are on it and there is a little margin to the border. The policy is free to
# find its own line (often a faster one than the centre line), but nothing pushes it to be
# fast: it only learns "do not leave the road".


def reward_function(params):
    all_wheels_on_track = params['all_wheels_on_track']
    distance_from_center = params['distance_from_center']
    track_width = params['track_width']

    margin = 0.05  # metres kept between the model point and the border
    if all_wheels_on_track and (0.5 * track_width - distance_from_center) >= margin:
        return 1.0
    return 1e-3
