// My models: the list, and a new model from DeepRacer-like templates (track, race type,
// sensor, algorithm, action space with a live picture, hyperparameters with explanations,
// a starting reward function). The model directory is made here and uploaded as .tar.gz,
// exactly what `trackday push DIR` sends, so the hub checks it as it checks any push.
import { get, post } from '../api.js';
import { h, field, setFieldError, select, fmtTime, id } from '../dom.js';
import { navigate, session } from '../app.js';
import { tarGz } from '../tar.js';
import { actionGrid } from '../actiongrid.js';
import {
    REWARDS, RACE_TYPES, SENSORS, LIMITS, HYPERPARAMETERS, CONSOLE_DEFAULTS, discreteActions, checkActionSpace, modelFiles,
} from '../templates.js';
const D = CONSOLE_DEFAULTS;

export async function modelsPage(main) {
    const data = await get('/models?limit=500');
    const rows = data.models.map((m) =>
        h('tr', null,
            h('td', null, h('a', { href: `/models/${m.id}` }, m.name)),
            h('td', null, `v${m.latest_version}`),
            session.user.role !== 'learner' ? h('td', null, m.owner.username) : null,
            h('td', null, m.description || ''),
            h('td', null, fmtTime(m.updated_at))));
    main.append(
        h('div', { class: 'page-head' },
            h('h1', null, 'Models'),
            h('a', { href: '/models/new', class: 'button primary' }, 'New model')),
        data.models.length
            ? h('table', { class: 'list' },
                h('caption', { class: 'sr-only' }, 'Your models'),
                h('thead', null, h('tr', null,
                    h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Version'),
                    session.user.role !== 'learner' ? h('th', { scope: 'col' }, 'Owner') : null,
                    h('th', { scope: 'col' }, 'Description'), h('th', { scope: 'col' }, 'Updated'))),
                h('tbody', null, rows))
            : h('p', { class: 'empty' }, 'No models yet. Make one from a template: ', h('a', { href: '/models/new' }, 'new model'), '.'),
    );
}

function numberInput(name, value, min, max, step) {
    return h('input', { name, type: 'number', value, min, max, step: step ?? 'any', inputmode: 'decimal', required: true });
}

export async function newModelPage(main) {
    const tracks = (await get('/tracks')).tracks;
    const form = h('form', { class: 'new-model', novalidate: true });
    const status = h('p', { class: 'error', role: 'alert', hidden: true });

    const name = field('Model name', h('input', { name: 'name', required: true, maxlength: 64, pattern: '[A-Za-z0-9._-]+', autocomplete: 'off' }),
        'Letters, digits, dot, dash and underscore.');
    // The console's default track when the hub has its route file, else the hub's first track,
    // and the form says so.
    const consoleTrack = tracks.find((t) => t.name === D.track);
    const defTrack = consoleTrack || tracks[0];
    const trackHelp = consoleTrack
        ? `The track the car trains on (WORLD_NAME). Proposed: DeepRacer's default, ${D.trackLabel} (${D.track}).`
        : `The track the car trains on (WORLD_NAME). DeepRacer's default, ${D.trackLabel} (${D.track}), is not on this hub${defTrack ? `: its first track, ${defTrack.name}, is proposed` : ''}.`;
    const track = field('Track', select(tracks.map((t) => [t.name, `${t.name}${t.source ? ` (${t.source})` : ''}`]), defTrack && defTrack.name, { name: 'track' }),
        trackHelp);
    const raceName = id('race');
    const race = h('fieldset', { class: 'radios' }, h('legend', null, 'Race type'),
        RACE_TYPES.map(([v, label, help], i) => h('label', null,
            h('input', { type: 'radio', name: raceName, value: v, checked: i === 0 }), ` ${label}`,
            h('span', { class: 'hint' }, ` ${help}`))));
    const sensor = field('Sensor', select(SENSORS.map(([v, label]) => [v, label]), D.sensor, { name: 'sensor' }),
        'What the car sees: DeepRacer\'s front camera (its default), or trackday\'s track-relative state, which trains in minutes but which DeepRacer cannot load.');
    const algoName = id('algo');
    const algo = h('fieldset', { class: 'radios' }, h('legend', null, 'Training algorithm'),
        h('label', null, h('input', { type: 'radio', name: algoName, value: 'ppo', checked: D.algorithm === 'ppo' }), ' PPO', h('span', { class: 'hint' }, ' (clipped PPO: discrete or continuous actions; steady)')),
        h('label', null, h('input', { type: 'radio', name: algoName, value: 'sac', checked: D.algorithm === 'sac' }), ' SAC', h('span', { class: 'hint' }, ' (soft actor-critic: continuous actions only; sample-efficient, sensitive to settings)')));

    // Action space.
    const typeName = id('atype');
    const atype = h('fieldset', { class: 'radios' }, h('legend', null, 'Action space'),
        h('label', null, h('input', { type: 'radio', name: typeName, value: 'discrete', checked: D.actionType === 'discrete' }), ' Discrete', h('span', { class: 'hint' }, ' (a fixed list of steering-speed pairs)')),
        h('label', null, h('input', { type: 'radio', name: typeName, value: 'continuous', checked: D.actionType === 'continuous' }), ' Continuous', h('span', { class: 'hint' }, ' (any steering and speed in a range)')));
    const maxSteer = field('Maximum steering angle (degrees)', numberInput('maxSteer', D.maxSteer, LIMITS.maxSteering[0], LIMITS.maxSteering[1], 1), '1 to 30');
    const sg = field('Steering angle granularity', select(LIMITS.steeringGranularity.map((v) => [v, String(v)]), D.sg, { name: 'sg' }), 'How many steering angles from left to right.');
    const maxSpeed = field('Maximum speed (m/s)', numberInput('maxSpeed', D.maxSpeed, LIMITS.maxSpeed[0], LIMITS.maxSpeed[1], 0.1), '0.1 to 4');
    const sp = field('Speed granularity', select(LIMITS.speedGranularity.map((v) => [v, String(v)]), D.sp, { name: 'sp' }), 'How many speeds up to the maximum.');
    const steerLow = field('Lowest steering angle (degrees)', numberInput('steerLow', D.steerLow, -30, 30, 1), '-30 to 30');
    const steerHigh = field('Highest steering angle (degrees)', numberInput('steerHigh', D.steerHigh, -30, 30, 1));
    const speedLow = field('Lowest speed (m/s)', numberInput('speedLow', D.speedLow, 0.5, 4, 0.1), '0.5 to 4');
    const speedHigh = field('Highest speed (m/s)', numberInput('speedHigh', D.speedHigh, 0.5, 4, 0.1));
    const discreteBox = h('div', { class: 'grid2' }, maxSteer, sg, maxSpeed, sp);
    const contBox = h('div', { class: 'grid2' }, steerLow, steerHigh, speedLow, speedHigh);
    const picture = h('figure', { class: 'action-picture' });
    const actionList = h('p', { class: 'hint', 'aria-live': 'polite' });
    const afields = { maxSteer, maxSpeed, steerLow, speedLow };

    function actionChoice() {
        const sac = form.querySelector(`input[name=${algoName}]:checked`).value === 'sac';
        const type = sac ? 'continuous' : form.querySelector(`input[name=${typeName}]:checked`).value;
        return {
            type,
            maxSteer: Number(maxSteer.control.value), sg: Number(sg.control.value),
            maxSpeed: Number(maxSpeed.control.value), sp: Number(sp.control.value),
            steerLow: Number(steerLow.control.value), steerHigh: Number(steerHigh.control.value),
            speedLow: Number(speedLow.control.value), speedHigh: Number(speedHigh.control.value),
        };
    }
    function redraw() {
        const a = actionChoice();
        const sac = a.type === 'continuous' && form.querySelector(`input[name=${algoName}]:checked`).value === 'sac';
        atype.querySelector('input[value=discrete]').disabled = sac;
        if (sac) atype.querySelector('input[value=continuous]').checked = true;
        discreteBox.hidden = a.type !== 'discrete';
        contBox.hidden = a.type === 'discrete';
        Object.values(afields).forEach((f) => setFieldError(f, ''));
        const bad = checkActionSpace(a);
        if (bad) {
            setFieldError(afields[bad[0]], bad[1]);
            return;
        }
        const space = a.type === 'discrete' ? { type: 'discrete', actions: discreteActions(a.maxSteer, a.sg, a.maxSpeed, a.sp) } : { type: 'continuous', ...a };
        picture.replaceChildren(actionGrid(space), h('figcaption', null, a.type === 'discrete' ? `${space.actions.length} actions` : 'Continuous range'));
        actionList.textContent = a.type === 'discrete'
            ? space.actions.map((x) => `${x.index}: ${x.steering_angle}°, ${x.speed} m/s`).join('; ')
            : `steering ${a.steerLow}° to ${a.steerHigh}°, speed ${a.speedLow} to ${a.speedHigh} m/s`;
    }
    form.addEventListener('input', redraw);
    form.addEventListener('change', redraw);

    // Hyperparameters.
    const hyper = HYPERPARAMETERS.map((p) => {
        const ctl = p.choices
            ? select(p.choices.map((c) => [c, String(c)]), p.def, { name: p.key })
            : numberInput(p.key, p.def, p.min, p.max, p.step);
        const f = field(p.label, ctl, p.help);
        f.key = p.key;
        f.spec = p;
        return f;
    });

    // The console's SAC starts from mean squared error (DEFAULT_SAC_HYPERPARAMETERS), its PPO
    // from Huber: the loss follows the algorithm until it is chosen by hand.
    const loss = hyper.find((f) => f.key === 'loss_type');
    loss.control.addEventListener('change', () => { loss.chosen = true; });
    algo.querySelectorAll('input').forEach((r) => r.addEventListener('change', () => {
        if (!loss.chosen) loss.control.value = r.value === 'sac' ? D.sacLoss : loss.spec.def;
    }));

    const rewardSel = field('Starting reward function', select(REWARDS.map(([v, label]) => [v, label]), D.reward, { name: 'reward' }),
        'Proposed: DeepRacer\'s default, follow the centre line. You can edit it in the reward editor after the model is made.');

    const create = h('button', { type: 'submit', class: 'primary' }, 'Create model');
    form.append(
        h('h1', null, 'New model'),
        h('section', { class: 'card' }, h('h2', null, 'Name and track'), name, track, race),
        h('section', { class: 'card' }, h('h2', null, 'Car'), sensor, algo, atype, discreteBox, contBox, picture, actionList),
        h('details', { class: 'card' }, h('summary', null, h('h2', { class: 'inline' }, 'Hyperparameters')), hyper),
        h('section', { class: 'card' }, h('h2', null, 'Reward'), rewardSel),
        status, create,
    );
    redraw();

    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        status.hidden = true;
        setFieldError(name, '');
        const a = actionChoice();
        const bad = checkActionSpace(a);
        if (bad) {
            setFieldError(afields[bad[0]], bad[1]);
            afields[bad[0]].control.focus();
            return;
        }
        const n = name.control.value.trim();
        if (!/^[A-Za-z0-9._-]{1,64}$/.test(n)) {
            setFieldError(name, 'A name of 1 to 64 letters, digits, dots, dashes or underscores');
            name.control.focus();
            return;
        }
        const hp = {};
        for (const f of hyper) {
            const v = f.spec.choices && typeof f.spec.def === 'string' ? f.control.value : Number(f.control.value);
            setFieldError(f, '');
            if (typeof v === 'number' && (!Number.isFinite(v) || (f.spec.min !== undefined && (v < f.spec.min || v > f.spec.max)))) {
                setFieldError(f, `${f.spec.label} must be ${f.spec.min} to ${f.spec.max}`);
                f.closest('details').open = true;
                f.control.focus();
                return;
            }
            hp[f.key] = v;
        }
        const files = modelFiles({
            track: track.control.value,
            raceType: form.querySelector(`input[name=${raceName}]:checked`).value,
            sensor: sensor.control.value,
            algorithm: form.querySelector(`input[name=${algoName}]:checked`).value,
            action: a,
            hyper: hp,
            reward: REWARDS.find((r) => r[0] === rewardSel.control.value)[2],
        });
        create.disabled = true;
        try {
            const blob = await tarGz(files);
            const m = await post(`/models?name=${encodeURIComponent(n)}`, blob);
            navigate(`/models/${m.id}`);
        } catch (err) {
            if (err.status === 409 || /name/.test(err.message)) {
                setFieldError(name, err.message);
                name.control.focus();
            } else {
                status.textContent = err.message;
                status.hidden = false;
            }
        } finally {
            create.disabled = false;
        }
    });
    main.append(form);
}
