// The fleet (admin): cars with their health and the bundle they run, deployments with their
// rollout, alerts to acknowledge; a car's page with its drift report (the checks, PSI and the
// other checks over its telemetry windows, lap times with the change point, every feature's
// PSI, KS and JS) and its history; a deployment's page with each car's part and a rollback.
import uPlot from 'uplot';
import { get, post } from '../api.js';
import { h, clear, field, select, fmtTime, fmtNum, refresh } from '../dom.js';
import { onLeave } from '../app.js';

const LEVEL_WORDS = { ok: 'ok', warning: 'warning', alert: 'alert', unknown: 'no reference' };
const CHECKS = [
    ['input_drift', 'Input drift (PSI)'], ['action_drift', 'Action drift (PSI)'], ['confidence', 'Confidence collapse'],
    ['latency', 'Latency (p95 / baseline)'], ['lap_time', 'Lap time (CUSUM)'],
];

// Three decimals; a rounding residue (-2e-16) shows as 0.
const num3 = (x) => (x == null ? '–' : fmtNum(Math.abs(x) < 0.0005 ? 0 : x, 3));

function badge(level) {
    return h('span', { class: `badge level-${level}` }, LEVEL_WORDS[level] || level);
}

function stateBadge(state) {
    return h('span', { class: `badge state-${state}` }, state.replace(/_/g, ' '));
}

function shortSha(sha) {
    return sha ? sha.slice(0, 12) : '';
}

// The bundles by SHA-256, to name what a car runs.
async function bundleNames() {
    const b = await get('/bundles');
    const m = new Map();
    for (const x of b.bundles) m.set(x.sha256, x);
    return m;
}

function bundleLabel(bundles, sha) {
    if (!sha) return 'none';
    const b = bundles.get(sha);
    return b ? `${b.name} (bundle ${b.id}, ${shortSha(sha)})` : shortSha(sha);
}

function driving(d) {
    const dr = d.status && d.status.driving;
    if (!dr) return '–';
    const laps = dr.lap_times_s || [];
    return `${dr.laps} laps, ${dr.off_tracks} off-tracks${laps.length ? `, last lap ${fmtNum(laps[laps.length - 1], 2)} s` : ''}`;
}

function alertRow(a, devices, after) {
    const dev = devices.get(a.device_id);
    const ack = a.state === 'open' ? h('button', { type: 'button', onclick: async (e) => {
        e.target.disabled = true;
        try {
            await post(`/alerts/${a.id}/acknowledge`);
            after(`Alert ${a.id} acknowledged.`);
        } catch (ex) {
            after(`Alert ${a.id}: ${ex.message}`, true);
        }
    } }, `Acknowledge alert ${a.id}`) : '';
    return h('tr', { dataset: { alert: String(a.id) } },
        h('td', { class: 'num' }, String(a.id)),
        h('td', null, dev ? h('a', { href: `/fleet/devices/${a.device_id}` }, dev.name) : `device ${a.device_id}`),
        h('td', null, (CHECKS.find((c) => c[0] === a.check) || [a.check, a.check])[1]),
        h('td', null, badge(a.level)),
        h('td', { class: 'num' }, num3(a.value)),
        h('td', null, a.detail),
        h('td', { class: 'num' }, String(a.window_seq)),
        h('td', null, fmtTime(a.created_at)),
        h('td', null, a.state, a.acknowledged_at ? h('span', { class: 'hint' }, ` ${fmtTime(a.acknowledged_at)}`) : null,
            a.pipeline ? h('p', { class: 'hint pipeline' }, `Retraining: ${a.pipeline.state.replace(/_/g, ' ')}${a.pipeline.version ? ` (version ${a.pipeline.version})` : ''}${a.pipeline.deployment ? `, deployment ${a.pipeline.deployment} ${a.pipeline.deployment_state || ''}` : ''}${a.pipeline.reason ? `: ${a.pipeline.reason}` : ''}`) : null),
        h('td', null, ack));
}

function alertsTable(caption, alerts, devices, after) {
    return h('table', { class: 'list alerts' }, h('caption', null, caption),
        h('thead', null, h('tr', null, ['Alert', 'Car', 'Check', 'Level', 'Value', 'Why', 'Window', 'Raised', 'State', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', null, alerts.length ? alerts.map((a) => alertRow(a, devices, after)) : h('tr', null, h('td', { colspan: 10 }, 'No alerts.'))));
}

export async function fleetPage(main) {
    const msg = h('p', { role: 'status', 'aria-live': 'polite' });
    const summary = h('div');
    const devBox = h('div');
    const depBox = h('div');
    const alertBox = h('div');
    main.append(h('h1', null, 'Fleet'), summary, msg,
        h('h2', { id: 'devices-h' }, 'Cars'), devBox,
        h('h2', { id: 'alerts-h' }, 'Alerts'), alertBox,
        h('h2', { id: 'deployments-h' }, 'Deployments'), depBox);
    const say = (text, bad) => {
        msg.textContent = text;
        msg.className = bad ? 'error' : 'ok';
        load().catch(() => {});
    };
    async function load() {
        const [devs, deps, alerts, bundles] = await Promise.all([get('/devices'), get('/deployments'), get('/alerts?state=active&limit=200'), bundleNames()]);
        refresh(main, [devs, deps, alerts, [...bundles.keys()]], () => render(devs, deps, alerts, bundles));
    }
    function render(devs, deps, alerts, bundles) {
        const byId = new Map(devs.devices.map((d) => [d.id, d]));
        const active = new Map();
        for (const a of alerts.alerts) active.set(a.device_id, [...(active.get(a.device_id) || []), a]);
        const online = devs.devices.filter((d) => d.online).length;
        main.dataset.devices = String(devs.devices.length);
        main.dataset.alerts = String(alerts.alerts.length);
        clear(summary, h('dl', { class: 'stats' },
            h('div', null, h('dt', null, 'Cars'), h('dd', null, `${devs.devices.length} · ${online} online`)),
            h('div', { class: alerts.alerts.length ? 'error' : null }, h('dt', null, 'Active alerts'), h('dd', null, String(alerts.alerts.length))),
            h('div', null, h('dt', null, 'Deployments'), h('dd', null, `${deps.deployments.length} · ${deps.deployments.filter((d) => !['succeeded', 'rolled_back'].includes(d.state)).length} in progress`)),
            h('div', null, h('dt', null, 'Bundles'), h('dd', null, String(bundles.size)))));
        clear(devBox, h('table', { class: 'list devices' }, h('caption', { class: 'sr-only' }, 'Cars'),
            h('thead', null, h('tr', null, ['Car', 'State', 'Group and tags', 'Health', 'Running', 'Driving', 'Last seen', ''].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', null, devs.devices.length ? devs.devices.map((d) => {
                const al = active.get(d.id) || [];
                const worst = al.some((a) => a.level === 'alert') ? 'alert' : al.length ? 'warning' : 'ok';
                const pending = d.desired && d.desired.sha256 && d.desired.sha256 !== d.active_sha256;
                return h('tr', { dataset: { device: String(d.id) } },
                    h('td', null, h('a', { href: `/fleet/devices/${d.id}` }, d.name)),
                    h('td', null, stateBadge(d.state)),
                    h('td', null, [d.group, ...d.tags].filter(Boolean).join(', ')),
                    h('td', { class: 'health' }, h('span', { class: d.online ? 'ok' : 'warn' }, d.online ? 'online' : 'offline'), ' · ', badge(worst),
                        al.length ? ` ${al.length} alert${al.length === 1 ? '' : 's'}` : null),
                    h('td', { class: 'running' }, bundleLabel(bundles, d.active_sha256),
                        pending ? h('p', { class: 'hint' }, `${d.desired.action === 'rollback' ? 'going back to' : 'to install'}: ${bundleLabel(bundles, d.desired.sha256)}`) : null),
                    h('td', null, driving(d)),
                    h('td', null, d.last_seen_at ? fmtTime(d.last_seen_at) : 'never'),
                    h('td', null, d.state === 'pending' ? h('button', { type: 'button', onclick: async () => {
                        try {
                            await post(`/devices/${d.id}/approve`);
                            say(`${d.name} approved (key ${d.key_id}).`);
                        } catch (ex) {
                            say(`${d.name}: ${ex.message}`, true);
                        }
                    } }, `Approve ${d.name} (key ${d.key_id})`) : ''));
            }) : h('tr', null, h('td', { colspan: 8 }, 'No cars yet: an enrollment token (trackday fleet enroll) lets cars register.')))));
        clear(alertBox, alertsTable('Active alerts (open or acknowledged)', alerts.alerts, byId, say));
        clear(depBox, h('table', { class: 'list deployments' }, h('caption', { class: 'sr-only' }, 'Deployments'),
            h('thead', null, h('tr', null, ['Deployment', 'Bundle', 'Target', 'Strategy', 'State', 'Cars', 'Started'].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', null, deps.deployments.length ? deps.deployments.map((d) => h('tr', { dataset: { deployment: String(d.id) } },
                h('td', null, h('a', { href: `/fleet/deployments/${d.id}` }, `Deployment ${d.id}`)),
                h('td', null, `${d.bundle.name} (bundle ${d.bundle.id})`),
                h('td', null, targetText(d.target)),
                h('td', null, strategyText(d.strategy)),
                h('td', null, stateBadge(d.state), d.reason ? h('p', { class: 'hint' }, d.reason) : null),
                h('td', { class: 'rollout' }, rolloutText(d.devices_by_state)),
                h('td', null, fmtTime(d.created_at)))) : h('tr', null, h('td', { colspan: 7 }, 'No deployments yet.')))));
    }
    await load();
    const timer = setInterval(() => load().catch(() => {}), 5000);
    onLeave(() => clearInterval(timer));
}

function targetText(t) {
    const parts = [];
    if (t.group) parts.push(`group ${t.group}`);
    if (t.tags && t.tags.length) parts.push(`tags ${t.tags.join(', ')}`);
    if (t.devices && t.devices.length) parts.push(`cars ${t.devices.join(', ')}`);
    return parts.join('; ') || 'every approved car';
}

function strategyText(s) {
    const parts = [`canary ${s.canary}`];
    if (s.wait_s) parts.push(`wait ${s.wait_s} s`);
    if (s.max_failures) parts.push(`${s.max_failures} failures allowed`);
    if (s.min_laps) parts.push(`at least ${s.min_laps} laps`);
    if (s.max_off_track_per_lap != null) parts.push(`at most ${s.max_off_track_per_lap} off-tracks a lap`);
    if (s.max_lap_s != null) parts.push(`laps under ${s.max_lap_s} s`);
    return parts.join(', ');
}

function rolloutText(by) {
    return Object.entries(by || {}).map(([k, v]) => `${v} ${k.replace(/_/g, ' ')}`).join(', ') || 'none';
}

// A chart of series over the windows (or laps); marks: [{x, label}] drawn as vertical lines.
function lineChart(label, xLabel, xs, series, opts = {}) {
    const box = h('figure', { class: 'chart' }, h('figcaption', null, label));
    const colours = ['#0b5cad', '#b00020', '#1e6b34', '#8a5300'];
    const marks = opts.marks || [];
    const plot = new uPlot({
        width: 520, height: 190,
        scales: { x: { time: false } },
        axes: [{ label: xLabel, size: 36 }, { size: 56 }],
        legend: { show: series.length > 1, live: false },
        cursor: { show: false },
        series: [{ label: xLabel }, ...series.map((s, i) => ({ label: s.label, stroke: s.stroke || colours[i % colours.length], width: s.width || 2, dash: s.dash,
            points: { show: !s.dash, size: 5 } }))],
        hooks: { draw: [(u) => {
            const ctx = u.ctx;
            for (const m of marks) {
                const x = u.valToPos(m.x, 'x', true);
                ctx.save();
                ctx.strokeStyle = '#b00020';
                ctx.setLineDash([4, 4]);
                ctx.lineWidth = 2;
                ctx.beginPath();
                ctx.moveTo(x, u.bbox.top);
                ctx.lineTo(x, u.bbox.top + u.bbox.height);
                ctx.stroke();
                ctx.restore();
            }
        }] },
    }, [xs, ...series.map((s) => s.values)], box);
    new ResizeObserver(() => {
        const w = Math.floor(box.clientWidth - 16);
        if (w > 100 && w !== plot.width) plot.setSize({ width: w, height: 190 });
    }).observe(box);
    plot.root.setAttribute('role', 'img');
    plot.root.setAttribute('aria-label', opts.describe || label);
    box.dataset.points = String(xs.length);
    return box;
}

function driftCharts(report) {
    const w = report.timeline.windows;
    const xs = w.map((_, i) => i + 1);
    const val = (k) => w.map((x) => (x[k] && x[k].value != null ? x[k].value : null));
    const th = (k, which) => xs.map(() => report.checks[k][which]);
    const figs = [];
    const first = report.timeline.first_alert_window || {};
    for (const [k, label] of CHECKS.slice(0, 4)) {
        const marks = first[k] != null ? [{ x: first[k] + 1 }] : [];
        const last = w.length ? w[w.length - 1][k] : null;
        figs.push(lineChart(`${label} by window`, 'window', xs, [
            { label, values: val(k) },
            { label: 'warning', values: th(k, 'warn'), stroke: '#8a5300', dash: [6, 4], width: 1 },
            { label: 'alert', values: th(k, 'alert'), stroke: '#b00020', dash: [6, 4], width: 1 },
        ], { marks, describe: `${label} over ${w.length} windows${last ? `, last ${fmtNum(last.value, 3)} (${last.level})` : ''}${marks.length ? `; first alert at window ${marks[0].x}` : ''}` }));
    }
    const laps = report.timeline.lap_times_s || [];
    if (laps.length) {
        const at = report.timeline.lap_change_at;
        figs.push(lineChart('Lap times (s), the change point marked', 'lap', laps.map((_, i) => i + 1), [
            { label: 'lap time', values: laps },
            { label: 'evaluation mean', values: laps.map(() => report.laps.reference_mean_s), stroke: '#1e6b34', dash: [6, 4], width: 1 },
        ], { marks: at != null ? [{ x: at + 1 }] : [], describe: `${laps.length} lap times${at != null ? `, the change point at lap ${at + 1}` : ', no change point'}` }));
    } else {
        figs.push(h('p', { class: 'hint' }, 'No laps timed in these windows: the lap-time check waits for laps.'));
    }
    return h('div', { class: 'charts' }, figs);
}

// A feature's distribution, the reference's against the current windows' (fractions of their
// frames per bin; the first and last bins are below lo and above hi).
function histChart(name, hst, level) {
    const n = hst.reference.length - 2;
    const w = (hst.hi - hst.lo) / n;
    // The bins' centres: k = 0 is below lo, k = n + 1 above hi.
    const xs = hst.reference.map((_, k) => hst.lo + (k - 0.5) * w);
    const frac = (a) => {
        const t = a.reduce((x, y) => x + y, 0) || 1;
        return a.map((c) => c / t);
    };
    const box = h('figure', { class: 'chart histogram', dataset: { feature: name } }, h('figcaption', null, `${name}: reference and current (${LEVEL_WORDS[level] || level})`));
    const plot = new uPlot({
        width: 520, height: 190,
        scales: { x: { time: false } },
        axes: [{ label: name, size: 36 }, { size: 56, values: (u, vals) => vals.map((v) => `${Math.round(v * 100)}%`) }],
        legend: { show: true, live: false },
        cursor: { show: false },
        series: [{ label: name },
            { label: 'reference', stroke: '#0b5cad', fill: 'rgba(11, 92, 173, 0.18)', width: 1, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } },
            { label: 'current', stroke: '#b00020', width: 2, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } }],
    }, [xs, frac(hst.reference), frac(hst.current)], box);
    new ResizeObserver(() => {
        const cw = Math.floor(box.clientWidth - 16);
        if (cw > 100 && cw !== plot.width) plot.setSize({ width: cw, height: 190 });
    }).observe(box);
    const mean = (a) => {
        const f = frac(a);
        return f.reduce((acc, v, k) => acc + v * xs[k], 0); // xs are the bins' centres
    };
    plot.root.setAttribute('role', 'img');
    plot.root.setAttribute('aria-label', `${name}: the reference's distribution (mean ${fmtNum(mean(hst.reference), 2)}) and the current windows' (mean ${fmtNum(mean(hst.current), 2)}), ${n} bins from ${fmtNum(hst.lo, 2)} to ${fmtNum(hst.hi, 2)}`);
    return box;
}

export async function devicePage(main, id) {
    const [d, bundles] = await Promise.all([get(`/devices/${id}`), bundleNames()]);
    const msg = h('p', { role: 'status', 'aria-live': 'polite' });
    const report = h('section', { class: 'drift', 'aria-labelledby': 'drift-h' });
    const alertsBox = h('div');
    const historyBox = h('div');
    main.append(
        h('p', null, h('a', { href: '/fleet' }, 'Fleet')),
        h('h1', null, d.name),
        h('dl', { class: 'stats' },
            h('div', null, h('dt', null, 'State'), h('dd', null, stateBadge(d.state))),
            h('div', null, h('dt', null, 'Health'), h('dd', null, d.online ? 'online' : 'offline', h('span', { class: 'hint' }, ` last seen ${d.last_seen_at ? fmtTime(d.last_seen_at) : 'never'}`))),
            h('div', null, h('dt', null, 'Running'), h('dd', { class: 'running' }, bundleLabel(bundles, d.active_sha256))),
            h('div', null, h('dt', null, 'Key'), h('dd', null, d.key_id)),
            h('div', null, h('dt', null, 'Group and tags'), h('dd', null, [d.group, ...d.tags].filter(Boolean).join(', ') || '–')),
            h('div', null, h('dt', null, 'Driving'), h('dd', null, driving(d)))),
        msg, report,
        h('h2', { id: 'device-alerts-h' }, 'Alerts'), alertsBox,
        h('h2', { id: 'history-h' }, 'History'), historyBox);
    const devices = new Map([[d.id, d]]);
    const say = (text, bad) => {
        msg.textContent = text;
        msg.className = bad ? 'error' : 'ok';
        loadAlerts().catch(() => {});
    };
    async function loadAlerts() {
        const a = await get(`/alerts?device=${d.id}&limit=100`);
        const active = a.alerts.filter((x) => x.state !== 'resolved');
        clear(alertsBox, alertsTable(`Alerts of ${d.name}, newest first`, a.alerts, devices, say),
            active.length ? await retrainForm(active) : null);
    }
    // Closing the loop (docs/drift.md): from an alert, a training job that continues a model with
    // domain randomization widened toward what the car's camera saw.
    async function retrainForm(active) {
        const models = (await get('/models?limit=500')).models;
        const alertSel = field('Alert', select(active.map((x) => [x.id, `Alert ${x.id}: ${x.check.replace(/_/g, ' ')} (${x.detail})`]), active[0].id, { name: 'alert' }));
        const modelSel = field('Model to retrain', select(models.map((m) => [m.id, `${m.name} (${m.owner ? m.owner.username : ''} v${m.latest_version})`]), models.length ? models[0].id : '', { name: 'model' }));
        const minutes = field('Training minutes', h('input', { type: 'number', name: 'minutes', min: '0.05', max: '1440', step: 'any', value: '10' }));
        const thenSel = field('Then', select([['', 'Only retrain'], ['evaluate', 'Evaluate it against the gates'], ['evaluate,canary', 'Evaluate it, then a canary on this car (signed by trackday fleet autopilot)']], '', { name: 'then' }));
        const out = h('div', { 'aria-live': 'polite' });
        const form = h('form', { class: 'card retrain', novalidate: true }, h('h3', null, 'Retrain from an alert'),
            h('p', { class: 'hint' }, 'Queues a training job continuing the model with its domain randomization widened toward the light and contrast this car\u2019s camera saw. "Then" makes it one action: the hub evaluates the new version against the gates, and trackday fleet autopilot (where the signing key is) deploys it as a canary on this car; each step shows on the alert (docs/drift.md).'),
            h('div', { class: 'grid2' }, alertSel, modelSel, minutes, thenSel), h('button', { type: 'submit', class: 'primary' }, 'Retrain'), out);
        form.addEventListener('submit', async (e) => {
            e.preventDefault();
            if (!models.length) {
                clear(out, h('p', { class: 'error', role: 'alert' }, 'No model to retrain: push or create one first.'));
                return;
            }
            try {
                const body = { model: Number(modelSel.control.value), minutes: Number(minutes.control.value) };
                if (thenSel.control.value) body.then = thenSel.control.value;
                const job = await post(`/alerts/${alertSel.control.value}/retrain`, body);
                const why = job.params && job.params.retrain ? ` (${job.params.retrain.why})` : '';
                clear(out, h('p', { class: 'ok', role: 'status' }, `Training job ${job.id} queued${why}. `, h('a', { href: '/jobs' }, 'Jobs')));
            } catch (ex) {
                clear(out, h('p', { class: 'error', role: 'alert' }, ex.message));
            }
        });
        return form;
    }
    let r = null;
    try {
        r = await get(`/devices/${d.id}/drift?windows=30&histograms=1`);
    } catch (e) {
        clear(report, h('h2', { id: 'drift-h' }, 'Drift'), h('p', null, e.status === 404 ? `No drift report yet: ${e.message}.` : e.message));
    }
    if (r) {
        main.dataset.driftLevel = r.level;
        const features = [...r.features].sort((a, b) => b.psi - a.psi);
        clear(report,
            h('div', { class: 'page-head' }, h('h2', { id: 'drift-h' }, 'Drift: ', badge(r.level)),
                h('a', { href: `/api/v1/devices/${d.id}/drift?format=html&windows=30`, download: `device-${d.id}-drift.html` }, 'The HTML report (with the histograms)')),
            h('p', { class: 'sub' }, `The last ${r.windows} telemetry windows (${r.frames.current} frames) of bundle ${bundleLabel(bundles, r.bundle_sha256)} against its reference (${r.frames.reference} frames of its evaluation). Thresholds: PSI 0.1 warning, 0.25 alert (docs/drift.md).`),
            h('table', { class: 'list checks' }, h('caption', null, 'Checks over these windows'),
                h('thead', null, h('tr', null, ['Check', 'Level', 'Value', 'Warning at', 'Alert at', 'Why'].map((t) => h('th', { scope: 'col' }, t)))),
                h('tbody', null, CHECKS.map(([k, label]) => {
                    const c = r.checks[k];
                    return c ? h('tr', { dataset: { check: k } }, h('td', null, label), h('td', null, badge(c.level)), h('td', { class: 'num' }, num3(c.value)),
                        h('td', { class: 'num' }, fmtNum(c.warn, 2)), h('td', { class: 'num' }, fmtNum(c.alert, 2)), h('td', null, c.detail || '–')) : null;
                }))),
            driftCharts(r),
            r.histograms ? h('h3', null, 'The most drifted features: reference against current') : null,
            r.histograms ? h('div', { class: 'charts histograms' }, features.filter((f) => r.histograms[f.name]).slice(0, 4)
                .map((f) => histChart(f.name, r.histograms[f.name], f.level))) : null,
            h('table', { class: 'list features' }, h('caption', null, 'Features, the most drifted first'),
                h('thead', null, h('tr', null, ['Feature', 'Level', 'PSI', 'KS', 'KS p', 'JS', 'Reference mean', 'Current mean'].map((t) => h('th', { scope: 'col' }, t)))),
                h('tbody', null, features.slice(0, 40).map((f) => h('tr', null, h('td', null, f.name), h('td', null, badge(f.level)),
                    h('td', { class: 'num' }, fmtNum(f.psi, 3)), h('td', { class: 'num' }, fmtNum(f.ks, 3)), h('td', { class: 'num' }, f.ks_p < 1e-4 ? f.ks_p.toExponential(1) : fmtNum(f.ks_p, 4)),
                    h('td', { class: 'num' }, fmtNum(f.js, 3)), h('td', { class: 'num' }, fmtNum(f.reference_mean, 3)), h('td', { class: 'num' }, fmtNum(f.current_mean, 3)))))));
    }
    await loadAlerts();
    const hist = await get(`/devices/${d.id}/history`);
    clear(historyBox, h('table', { class: 'list history' }, h('caption', { class: 'sr-only' }, `History of ${d.name}`),
        h('thead', null, h('tr', null, ['When', 'Event', 'Deployment', 'Bundle', 'Message'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', null, hist.history.map((e) => h('tr', null, h('td', null, fmtTime(e.time)), h('td', null, e.event.replace(/_/g, ' ')),
            h('td', null, e.deployment ? h('a', { href: `/fleet/deployments/${e.deployment}` }, `Deployment ${e.deployment}`) : ''),
            h('td', null, e.bundle || shortSha(e.sha256)), h('td', null, e.message))))));
}

export async function deploymentPage(main, id) {
    const msg = h('div', { 'aria-live': 'polite' });
    const body = h('div');
    main.append(h('p', null, h('a', { href: '/fleet' }, 'Fleet')), h('h1', null, `Deployment ${id}`), body, msg);
    const reason = field('Reason (kept in each car\u2019s history)', h('input', { name: 'reason', maxlength: 200 }));
    const form = h('form', { class: 'card', novalidate: true }, h('h2', null, 'Roll back'),
        h('p', null, 'Every car that got this bundle goes back to the bundle it ran before.'), reason,
        h('button', { type: 'submit', class: 'danger' }, 'Roll back this deployment'));
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        try {
            const r = await post(`/deployments/${id}/rollback`, reason.control.value.trim() ? { reason: reason.control.value.trim() } : {});
            clear(msg, h('p', { class: 'ok', role: 'status' }, `Deployment ${id}: ${r.state.replace(/_/g, ' ')}.`));
            await load();
        } catch (ex) {
            clear(msg, h('p', { class: 'error', role: 'alert' }, ex.message));
        }
    });
    async function load() {
        const d = await get(`/deployments/${id}`);
        main.dataset.state = d.state;
        clear(body,
            h('dl', { class: 'stats' },
                h('div', null, h('dt', null, 'State'), h('dd', null, stateBadge(d.state))),
                h('div', null, h('dt', null, 'Bundle'), h('dd', null, `${d.bundle.name} (bundle ${d.bundle.id}, ${shortSha(d.bundle.sha256)})`)),
                h('div', null, h('dt', null, 'Target'), h('dd', null, targetText(d.target))),
                h('div', null, h('dt', null, 'Strategy'), h('dd', null, strategyText(d.strategy))),
                h('div', null, h('dt', null, 'Cars'), h('dd', { class: 'rollout' }, rolloutText(d.devices_by_state)))),
            d.reason ? h('p', null, d.reason) : null,
            h('table', { class: 'list' }, h('caption', null, 'Each car\u2019s part (canaries first)'),
                h('thead', null, h('tr', null, ['Car', 'Canary', 'State', 'Released', 'Updated', 'Message'].map((t) => h('th', { scope: 'col' }, t)))),
                h('tbody', null, [...d.devices].sort((a, b) => b.canary - a.canary).map((x) => h('tr', null,
                    h('td', null, h('a', { href: `/fleet/devices/${x.device}` }, x.name)), h('td', null, x.canary ? 'canary' : ''),
                    h('td', null, stateBadge(x.state)), h('td', null, x.released_at ? fmtTime(x.released_at) : 'held'),
                    h('td', null, fmtTime(x.updated_at)), h('td', null, x.message))))),
            d.state === 'rolled_back' || d.state === 'rolling_back' ? null : form);
    }
    await load();
}
