// Evaluation: run an evaluation job (laps on a track, as DeepRacer's console did), show its
// report (lap times, off-tracks, penalties), and replay it: the track drawn from its geometry
// (GET /api/v1/tracks/{name}), the car moving along the evaluation's simtrace with the path
// coloured by speed, play/pause and a scrubber.
import { get, post, api } from '../api.js';
import { h, s, field, select, fmtNum, fmtTime, setFieldError } from '../dom.js';
import { onLeave } from '../app.js';
import { untarGz } from '../tar.js';
import { followJob } from './train.js';

const dec = new TextDecoder();

export function parseSimtrace(text) {
    const lines = text.split(/\r?\n/).filter((l) => l.trim());
    const head = lines[0].split(',');
    const col = (n) => head.indexOf(n);
    const ix = col('X'), iy = col('Y'), iyaw = col('yaw'), it = col('tstamp'), ithr = col('throttle'), iprog = col('progress'),
        iep = col('episode'), ist = col('episode_status'), ion = col('all_wheels_on_track');
    const pts = [];
    for (const l of lines.slice(1)) {
        const f = l.split(',');
        pts.push({
            x: Number(f[ix]), y: Number(f[iy]), yaw: Number(f[iyaw]), t: Number(f[it]), throttle: Number(f[ithr]),
            progress: Number(f[iprog]), episode: Number(f[iep]), status: f[ist], on: f[ion] === 'True',
        });
    }
    // The car's speed between steps, from its positions (m/s).
    for (let i = 0; i < pts.length; i++) {
        const a = pts[Math.max(i - 1, 0)], b = pts[i];
        const dt = b.t - a.t;
        b.speed = i > 0 && dt > 0 && a.episode === b.episode ? Math.hypot(b.x - a.x, b.y - a.y) / dt : b.throttle || 0;
    }
    return pts;
}

// Speed colour: slow blue to fast red, like DeepRacer's log notebooks.
export function speedColour(v, vmax) {
    const f = Math.max(0, Math.min(1, v / (vmax || 1)));
    const hue = 240 - 240 * f;
    return `hsl(${hue.toFixed(0)}, 85%, 45%)`;
}

export function replayView(track, pts, title) {
    const all = [...track.outer, ...track.inner, ...pts.map((p) => [p.x, p.y])];
    const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
    const minX = Math.min(...xs) - 0.3, maxX = Math.max(...xs) + 0.3, minY = Math.min(...ys) - 0.3, maxY = Math.max(...ys) + 0.3;
    const W = maxX - minX, H = maxY - minY;
    // SVG y grows downwards; the track's grows upwards: flip.
    const P = (x, y) => `${(x - minX).toFixed(3)},${(maxY - y).toFixed(3)}`;
    const poly = (arr) => arr.map((p) => P(p[0], p[1])).join(' ');
    const vmax = Math.max(...pts.map((p) => p.speed), 0.1);
    const svg = s('svg', { viewBox: `0 0 ${W.toFixed(3)} ${H.toFixed(3)}`, class: 'replay', role: 'img', 'aria-label': `${title}: the track and the car's path coloured by speed` });
    svg.append(s('rect', { x: 0, y: 0, width: W, height: H, class: 'grass' }));
    svg.append(s('polygon', { points: poly(track.outer), class: 'road' }));
    svg.append(s('polygon', { points: poly(track.inner), class: 'infield' }));
    svg.append(s('polyline', { points: poly(track.outer.concat([track.outer[0]])), class: 'border' }));
    svg.append(s('polyline', { points: poly(track.inner.concat([track.inner[0]])), class: 'border' }));
    svg.append(s('polyline', { points: poly(track.waypoints.concat(track.closed ? [track.waypoints[0]] : [])), class: 'centre' }));
    const path = s('g', { class: 'path' });
    for (let i = 1; i < pts.length; i++) {
        if (pts[i].episode !== pts[i - 1].episode) continue;
        path.append(s('line', {
            x1: pts[i - 1].x - minX, y1: maxY - pts[i - 1].y, x2: pts[i].x - minX, y2: maxY - pts[i].y,
            stroke: speedColour(pts[i].speed, vmax), class: 'seg',
        }));
    }
    svg.append(path);
    const car = s('g', { class: 'car' }, s('rect', { x: -0.14, y: -0.08, width: 0.28, height: 0.16, rx: 0.03 }), s('line', { x1: 0, y1: 0, x2: 0.2, y2: 0 }));
    svg.append(car);
    function place(i) {
        const p = pts[i];
        // yaw is counter-clockwise in degrees in the track's frame; flipped y: negate.
        car.setAttribute('transform', `translate(${(p.x - minX).toFixed(3)} ${(maxY - p.y).toFixed(3)}) rotate(${(-p.yaw).toFixed(1)})`);
    }
    place(0);
    return { svg, place, vmax };
}

// The car's camera at a step, rendered by the hub from the simtrace's pose
// (GET /api/v1/tracks/{name}/camera; evaluations store no frames). One request at a time: while
// one loads, only the latest step asked for waits.
function cameraView(trackName) {
    const img = h('img', { class: 'camera', width: 320, height: 240, alt: 'The car\u2019s camera view' });
    const cap = h('figcaption', { class: 'hint' }, 'The car\u2019s front camera (rendered from its pose; no obstacles)');
    const fig = h('figure', { class: 'camera-view' }, img, cap);
    let loading = false, want = null, shown = null;
    function load() {
        if (loading || !want || want.key === shown) return;
        const w = want;
        loading = true;
        img.src = `/api/v1/tracks/${encodeURIComponent(trackName)}/camera?x=${w.p.x}&y=${w.p.y}&yaw=${w.p.yaw}`;
        img.alt = `The car\u2019s camera at step ${w.step}`;
        img.onload = img.onerror = (e) => {
            loading = false;
            shown = w.key;
            fig.dataset.step = e.type === 'load' ? String(w.step - 1) : 'error';
            load();
        };
    }
    return {
        fig,
        at(step, p) {
            want = { step, p, key: `${p.x},${p.y},${p.yaw}` };
            load();
        },
    };
}

export function replayPlayer(container, track, pts, title) {
    const view = replayView(track, pts, title);
    const camera = cameraView(track.name);
    const playBtn = h('button', { type: 'button', class: 'primary', 'aria-pressed': 'false' }, 'Play');
    const scrub = h('input', { type: 'range', min: 0, max: pts.length - 1, value: 0, step: 1, 'aria-label': 'Position in the replay' });
    const rate = select([[1, '1x'], [2, '2x'], [4, '4x']], 1, { 'aria-label': 'Replay speed' });
    const readout = h('p', { class: 'replay-readout', 'aria-live': 'off' });
    const legend = h('p', { class: 'hint' }, `Path colour: blue slow to red fast (0 to ${fmtNum(view.vmax, 1)} m/s).`);
    let i = 0, playing = false, last = 0, raf = 0, clock = pts[0].t;
    function show(k) {
        i = Math.max(0, Math.min(pts.length - 1, k));
        view.place(i);
        scrub.value = String(i);
        const p = pts[i];
        const text = `step ${i + 1} of ${pts.length}, ${fmtNum(p.t, 2)} s, speed ${fmtNum(p.speed, 2)} m/s, progress ${fmtNum(p.progress, 1)} %${p.on ? '' : ', off track'}`;
        readout.textContent = text;
        scrub.setAttribute('aria-valuetext', text);
        container.dataset.step = String(i);
        camera.at(i + 1, p);
    }
    function frame(now) {
        if (!playing) return;
        const dt = last ? (now - last) / 1000 : 0;
        last = now;
        clock += dt * Number(rate.value);
        let k = i;
        while (k < pts.length - 1 && pts[k + 1].t <= clock) k++;
        if (pts[k].t > clock + 1 || k < i) k = i + 1; // a new episode restarts the clock
        show(k);
        if (i >= pts.length - 1) return pause();
        raf = requestAnimationFrame(frame);
    }
    function play() {
        if (i >= pts.length - 1) show(0);
        playing = true;
        last = 0;
        clock = pts[i].t;
        container.dataset.playing = 'true';
        playBtn.textContent = 'Pause';
        playBtn.setAttribute('aria-pressed', 'true');
        raf = requestAnimationFrame(frame);
    }
    function pause() {
        playing = false;
        cancelAnimationFrame(raf);
        container.dataset.playing = 'false';
        playBtn.textContent = 'Play';
        playBtn.setAttribute('aria-pressed', 'false');
    }
    playBtn.addEventListener('click', () => (playing ? pause() : play()));
    scrub.addEventListener('input', () => {
        pause();
        show(Number(scrub.value));
    });
    onLeave(pause);
    container.append(h('div', { class: 'replay-views' }, view.svg, camera.fig), h('div', { class: 'replay-controls' }, playBtn, scrub, rate), readout, legend);
    show(0);
}

function reportView(rep) {
    return h('div', { class: 'report' },
        h('p', { class: rep.completed ? 'ok' : 'warn' },
            `${rep.laps_completed} of ${rep.laps_requested} laps on ${rep.track}${rep.completed ? '' : ' (not completed)'}; total ${fmtNum(rep.total_time_s, 2)} s, best lap ${fmtNum(rep.best_lap_s, 2)} s, average ${fmtNum(rep.average_lap_s, 2)} s.`),
        h('table', { class: 'list' },
            h('caption', null, 'Laps'),
            h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Lap'), h('th', { scope: 'col' }, 'Time (s)'))),
            h('tbody', null, (rep.laps || []).map((l) => h('tr', null, h('td', null, String(l.lap)), h('td', null, fmtNum(l.time_s, 3)))))),
        h('p', null, `Off-tracks ${rep.off_tracks}, crashes ${rep.crashes}, resets ${rep.resets}, penalties ${fmtNum(rep.penalty_s, 1)} s.`));
}

// Loads an evaluation job's files and shows its report and replay in el.
export async function showEvaluation(el, job) {
    const res = await api('GET', `/jobs/${job.id}/result`, undefined, { raw: true });
    const files = await untarGz(await res.blob());
    const rep = job.result || JSON.parse(dec.decode(files.find((f) => /^eval-.*\.json$/.test(f.name)).text));
    el.append(reportView(rep));
    const sim = files.find((f) => /simtrace\.csv$/.test(f.name));
    if (!sim) {
        el.append(h('p', { class: 'warn' }, 'This evaluation stored no simtrace: nothing to replay.'));
        return;
    }
    const pts = parseSimtrace(dec.decode(sim.text));
    let track;
    try {
        track = await get(`/tracks/${encodeURIComponent(rep.track)}`);
    } catch (e) {
        el.append(h('p', { class: 'error', role: 'alert' }, `The track could not be loaded: ${e.message}`));
        return;
    }
    const box = h('section', { class: 'replay-box', 'aria-label': 'Replay' }, h('h3', null, 'Replay'));
    el.append(box);
    replayPlayer(box, track, pts, `Evaluation ${job.id} on ${rep.track}`);
}

export async function evaluateTab(panel, model) {
    const latest = model.versions[model.versions.length - 1];
    const tracks = (await get('/tracks')).tracks;
    const laps = field('Laps', h('input', { name: 'laps', type: 'number', min: 1, max: 100, step: 1, value: 3, required: true }), '1 to 100 (DeepRacer raced 3).');
    const track = field('Track', select(tracks.map((t) => [t.name, t.name]), latest.track || 'oval', { name: 'track' }));
    const btn = h('button', { type: 'submit', class: 'primary' }, 'Evaluate');
    const err = h('p', { class: 'error', role: 'alert', hidden: true });
    const out = h('section', { class: 'card evaluation', 'aria-label': 'Evaluation', 'aria-live': 'polite' });
    out.hidden = true;
    const form = h('form', { class: 'card', novalidate: true }, h('h2', null, `Evaluate version ${latest.version}`),
        h('div', { class: 'grid2' }, laps, track), err, btn);
    async function watch(job) {
        out.hidden = false;
        out.replaceChildren(h('h2', null, `Evaluation job ${job.id}`));
        const state = h('p', { class: 'job-state', role: 'status' }, `State: ${job.state}`);
        out.append(state);
        if (job.state === 'succeeded') {
            await showEvaluation(out, job);
            return;
        }
        const stop = followJob(job.id, async (type, d) => {
            if (type === 'state') state.textContent = `State: ${d.state}${d.message ? ` (${d.message})` : ''}`;
            if (type === 'end') {
                state.textContent = `State: ${d.state}${d.error ? `: ${d.error}` : ''}`;
                state.className = `job-state state-${d.state}`;
                if (d.state === 'succeeded') await showEvaluation(out, await get(`/jobs/${job.id}`));
            }
        });
        onLeave(stop);
    }
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        err.hidden = true;
        setFieldError(laps, '');
        const n = Number(laps.control.value);
        if (!(Number.isInteger(n) && n >= 1 && n <= 100)) {
            setFieldError(laps, 'Laps must be a whole number from 1 to 100');
            laps.control.focus();
            return;
        }
        btn.disabled = true;
        try {
            await watch(await post('/jobs', { type: 'evaluate', model: model.id, laps: n, track: track.control.value }));
        } catch (ex) {
            err.textContent = ex.message;
            err.hidden = false;
        } finally {
            btn.disabled = false;
        }
    });
    // Earlier evaluations of this model.
    const jobs = (await get(`/jobs?model=${model.id}&limit=50`)).jobs.filter((j) => j.type === 'evaluate');
    const list = jobs.length
        ? h('table', { class: 'list' }, h('caption', null, 'Evaluations'),
            h('thead', null, h('tr', null, ['Job', 'Version', 'Track', 'State', 'When', ''].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', null, jobs.map((j) => h('tr', null,
                h('td', null, String(j.id)), h('td', null, `v${j.model.version}`), h('td', null, (j.params && j.params.track) || ''),
                h('td', null, h('span', { class: `badge state-${j.state}` }, j.state)), h('td', null, fmtTime(j.created_at)),
                h('td', null, j.state === 'succeeded' ? h('button', { type: 'button', class: 'link', onclick: () => watch(j) }, `Show evaluation ${j.id}`) : '')))))
        : null;
    panel.append(form, out);
    if (list) panel.append(list);
}
