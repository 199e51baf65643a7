// What a new model is made of: DeepRacer's model_metadata.json, hyperparameters.json,
// training_params.yaml and reward_function.py, from the choices of the "new model" form,
// with DeepRacer console's ranges (docs/deepracer.md) and the starting rewards of
// examples/rewards/ (bundled as text, so the browser offers exactly the shipped files).
import defaultReward from '../../examples/rewards/center_and_speed.py';
import followCenter from '../../examples/rewards/follow_center_line.py';
import twoBorders from '../../examples/rewards/stay_inside_two_borders.py';
import noZigzag from '../../examples/rewards/prevent_zigzag.py';
import objectAvoidance from '../../examples/rewards/object_avoidance.py';
import headToBot from '../../examples/rewards/head_to_bot.py';

export const REWARDS = [
    ['center_and_speed', 'Centre line and speed', defaultReward],
    ['follow_center_line', 'Follow the centre line (DeepRacer example 1)', followCenter],
    ['stay_inside_two_borders', 'Stay inside the two borders (example 2)', twoBorders],
    ['prevent_zigzag', 'Prevent zig-zag (example 3)', noZigzag],
    ['object_avoidance', 'Object avoidance', objectAvoidance],
    ['head_to_bot', 'Head-to-bot', headToBot],
];

export const RACE_TYPES = [
    ['TIME_TRIAL', 'Time trial', 'Alone on the track: the fastest lap wins.'],
    ['OBJECT_AVOIDANCE', 'Object avoidance', 'Boxes stand on the lanes; hitting one is a collision.'],
    ['HEAD_TO_BOT', 'Head-to-bot', 'Slower bot cars to overtake.'],
];

export const SENSORS = [
    ['state', 'Track state (trackday, fast)', ['STATE'], 'MLP'],
    ['camera', 'Front-facing camera', ['FRONT_FACING_CAMERA'], 'DEEP_CONVOLUTIONAL_NETWORK_SHALLOW'],
    ['stereo', 'Stereo cameras', ['STEREO_CAMERAS'], 'DEEP_CONVOLUTIONAL_NETWORK_SHALLOW'],
    ['lidar', 'Camera and LIDAR', ['FRONT_FACING_CAMERA', 'LIDAR'], 'DEEP_CONVOLUTIONAL_NETWORK_SHALLOW'],
];

// DeepRacer console's action-space limits.
export const LIMITS = {
    maxSteering: [1, 30],
    steeringGranularity: [3, 5, 7],
    maxSpeed: [0.1, 4],
    speedGranularity: [1, 2, 3],
    continuousSteering: [-30, 30],
    continuousSpeed: [0.5, 4],
};

export const HYPERPARAMETERS = [
    {
        key: 'batch_size', label: 'Gradient descent batch size', def: 64, choices: [32, 64, 128, 256, 512],
        help: 'How many recent experiences are sampled for each update of the network. Larger batches give steadier but slower updates.',
    },
    {
        key: 'num_epochs', label: 'Number of epochs', def: 10, min: 3, max: 10, step: 1,
        help: 'Passes over the collected experience per training iteration. More epochs learn more from each batch but can overfit it.',
    },
    {
        key: 'lr', label: 'Learning rate', def: 0.0003, min: 1e-8, max: 1e-3, step: 'any',
        help: 'How far each update moves the network. Too large diverges; too small learns slowly.',
    },
    {
        key: 'beta_entropy', label: 'Entropy', def: 0.01, min: 0, max: 1, step: 'any',
        help: 'A bonus for uncertainty in the policy: more entropy keeps the car exploring longer.',
    },
    {
        key: 'discount_factor', label: 'Discount factor', def: 0.99, min: 0, max: 1, step: 'any',
        help: 'How much future rewards count: 0.99 looks about 100 steps (7 s) ahead; lower values make the car short-sighted.',
    },
    {
        key: 'loss_type', label: 'Loss type', def: 'huber', choices: ['huber', 'mean squared error'],
        help: 'The value loss: Huber takes smaller steps on large errors (steadier); mean squared error learns faster but can be unstable.',
    },
    {
        key: 'num_episodes_between_training', label: 'Episodes between policy updates', def: 20, min: 5, max: 100, step: 1,
        help: 'Episodes of experience collected before each training iteration. More episodes give a better estimate per update.',
    },
];

// The discrete action grid DeepRacer's console makes from its four numbers (DeepRacer on AWS,
// DiscreteActionSpace/utils.ts computeDiscreteActionSpace): for each steering angle from -max to
// +max in `sg` steps, the speeds max/sp, 2max/sp, ..., max; so (30, 5, 1, 2) is `trackday init
// --discrete`: -30 degrees at 0.5 and 1 m/s, then -15, ...
export function discreteActions(maxSteer, sg, maxSpeed, sp) {
    const out = [];
    for (let i = 0; i < sg; i++) {
        const steer = sg === 1 ? 0 : Math.round((-maxSteer + (2 * maxSteer * i) / (sg - 1)) * 100) / 100;
        for (let j = 1; j <= sp; j++) {
            const speed = Math.round(((maxSpeed * j) / sp) * 100) / 100;
            out.push({ steering_angle: steer, speed, index: out.length });
        }
    }
    return out;
}

// What the DeepRacer on AWS console proposes for a new model (CreateModel/constants.ts
// initialFormValues; the same as `trackday init`): the front camera, PPO, the continuous action
// space steering -10..10 degrees and speed 1..2 m/s, the discrete form's 30 degrees in 5 steps
// and 1 m/s in 2, its follow-the-centre-line reward, and A to Z Speedway clockwise, which
// DeepRacer's simulator runs as the route reInvent2019_wide_cw.
export const CONSOLE_DEFAULTS = {
    sensor: 'camera',
    algorithm: 'ppo',
    actionType: 'continuous',
    steerLow: -10, steerHigh: 10, speedLow: 1, speedHigh: 2,
    maxSteer: 30, sg: 5, maxSpeed: 1, sp: 2,
    reward: 'follow_center_line',
    track: 'reInvent2019_wide_cw',
    trackLabel: 'A to Z Speedway clockwise',
    sacLoss: 'mean squared error',
};

// Checks the action-space numbers against DeepRacer's ranges: [field, message] or null.
export function checkActionSpace(a) {
    const inRange = (x, [lo, hi]) => Number.isFinite(x) && x >= lo && x <= hi;
    if (a.type === 'discrete') {
        if (!inRange(a.maxSteer, LIMITS.maxSteering)) return ['maxSteer', 'Maximum steering angle must be 1 to 30 degrees'];
        if (!inRange(a.maxSpeed, LIMITS.maxSpeed)) return ['maxSpeed', 'Maximum speed must be 0.1 to 4 m/s'];
    } else {
        if (!inRange(a.steerLow, LIMITS.continuousSteering) || !inRange(a.steerHigh, LIMITS.continuousSteering))
            return ['steerLow', 'Steering angles must be -30 to 30 degrees'];
        if (!(a.steerLow < a.steerHigh)) return ['steerLow', 'The lowest steering angle must be below the highest'];
        if (!inRange(a.speedLow, LIMITS.continuousSpeed) || !inRange(a.speedHigh, LIMITS.continuousSpeed))
            return ['speedLow', 'Speeds must be 0.5 to 4 m/s'];
        if (!(a.speedLow < a.speedHigh)) return ['speedLow', 'The lowest speed must be below the highest'];
    }
    return null;
}

function json(v) {
    return `${JSON.stringify(v, null, 2)}\n`;
}

// choices: {track, raceType, sensor, algorithm, action: {...}, hyper: {...}, reward}
export function modelFiles(c) {
    const sensor = SENSORS.find((x) => x[0] === c.sensor) || SENSORS[0];
    const sac = c.algorithm === 'sac';
    const continuous = sac || c.action.type === 'continuous';
    const meta = {
        action_space: continuous
            ? {
                  steering_angle: { low: c.action.steerLow, high: c.action.steerHigh },
                  speed: { low: c.action.speedLow, high: c.action.speedHigh },
              }
            : discreteActions(c.action.maxSteer, c.action.sg, c.action.maxSpeed, c.action.sp),
        action_space_type: continuous ? 'continuous' : 'discrete',
        sensor: sensor[2],
        neural_network: sensor[3],
        training_algorithm: sac ? 'sac' : 'clipped_ppo',
        version: '5',
    };
    const hp = {
        batch_size: 64, beta_entropy: 0.01, discount_factor: 0.99, e_greedy_value: 0.05,
        epsilon_steps: 10000, exploration_type: 'categorical',
        loss_type: 'huber', lr: 0.0003, num_episodes_between_training: 20, num_epochs: 10,
        stack_size: 1, term_cond_avg_score: 100000.0, term_cond_max_episodes: 100000, sac_alpha: 0.2,
        ...c.hyper,
    };
    if (sac) hp.num_episodes_between_training = 1;
    const obstacles = c.raceType === 'OBJECT_AVOIDANCE' ? 3 : 0;
    const bots = c.raceType === 'HEAD_TO_BOT' ? 3 : 0;
    const yaml = [
        '# training_params.yaml - the world the car trains in (DeepRacer\'s keys), written by',
        '# trackday\'s browser UI.',
        `WORLD_NAME: ${c.track}`,
        `RACE_TYPE: ${c.raceType}`,
        'REVERSE_DIR: false',
        'ALTERNATE_DRIVING_DIRECTION: false',
        'CHANGE_START_POSITION: true',
        'ROUND_ROBIN_ADVANCE_DIST: 0.05',
        `NUMBER_OF_OBSTACLES: ${obstacles}`,
        'RANDOMIZE_OBSTACLE_LOCATIONS: false',
        'MIN_DISTANCE_BETWEEN_OBSTACLES: 2.0',
        `NUMBER_OF_BOT_CARS: ${bots}`,
        'BOT_CAR_SPEED: 0.2',
        'IS_LANE_CHANGE: false',
        'LOWER_LANE_CHANGE_TIME: 3.0',
        'UPPER_LANE_CHANGE_TIME: 5.0',
        'LANE_CHANGE_DISTANCE: 1.0',
        'ENABLE_DOMAIN_RANDOMIZATION: false',
        '',
    ].join('\n');
    return [
        { name: 'model_metadata.json', text: json(meta) },
        { name: 'hyperparameters.json', text: json(hp) },
        { name: 'training_params.yaml', text: yaml },
        { name: 'reward_function.py', text: c.reward },
    ];
}
