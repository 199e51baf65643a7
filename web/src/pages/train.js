// Training: start a job with a time limit on the hub, then watch it: live curves (reward,
// progress, lap completion, entropy) drawn from the job's server-sent events, which the
// browser's EventSource resumes after a lost connection (Last-Event-ID); stop keeps what was
// trained as a version.
import uPlot from 'uplot';
import { get, post } from '../api.js';
import { h, field, select, fmtNum, setFieldError } from '../dom.js';
import { onLeave } from '../app.js';

const CURVES = [
    ['mean_reward', 'Mean reward per episode', ''],
    ['progress', 'Progress (%)', '%'],
    ['completion_rate', 'Lap completion (%)', '%'],
    ['entropy', 'Entropy', ''],
];

// Follows a job's event stream: onEvent(type, data) for state, progress, checkpoint, end;
// onConnection(state) with 'open', 'reconnecting'. Returns a stop function.
export function followJob(jobId, onEvent, onConnection) {
    let es = null, closed = false;
    function open() {
        es = new EventSource(`/api/v1/jobs/${jobId}/events`);
        es.onopen = () => onConnection && onConnection('open');
        es.onerror = () => {
            if (closed) return;
            // EventSource reconnects by itself (sending Last-Event-ID) unless the server
            // refused; a closed one is reopened here after a pause.
            onConnection && onConnection('reconnecting');
            if (es.readyState === EventSource.CLOSED) setTimeout(() => !closed && open(), 2000);
        };
        for (const type of ['state', 'progress', 'checkpoint', 'end']) {
            es.addEventListener(type, (e) => {
                let data = null;
                try {
                    data = JSON.parse(e.data);
                } catch {
                    return;
                }
                onEvent(type, data);
                if (type === 'end') stop();
            });
        }
    }
    function stop() {
        closed = true;
        if (es) es.close();
    }
    open();
    return stop;
}

function chart(key, label, width) {
    const box = h('figure', { class: 'chart' });
    const caption = h('figcaption', null, label);
    const plot = new uPlot({
        width, height: 170,
        scales: { x: { time: false } },
        axes: [{ label: 'iteration', size: 36 }, { size: 50 }],
        legend: { show: false },
        cursor: { show: false },
        series: [{ label: 'iteration' }, { label, stroke: '#0b5cad', width: 2, points: { show: true, size: 5 } }],
    }, [[], []], box);
    box.prepend(caption);
    // The chart fills its grid cell, whatever the window's width.
    new ResizeObserver(() => {
        const w = Math.floor(box.clientWidth - 16);
        if (w > 100 && w !== plot.width) plot.setSize({ width: w, height: 170 });
    }).observe(box);
    plot.root.setAttribute('role', 'img');
    plot.root.setAttribute('aria-label', `${label} by training iteration`);
    return { key, label, box, plot };
}

function pointOf(p) {
    return {
        iteration: p.iteration,
        mean_reward: p.mean_reward,
        progress: p.mean_progress,
        completion_rate: p.completion_rate != null ? p.completion_rate * 100 : null,
        entropy: p.entropy,
        eval_progress: p.eval_progress,
        elapsed_s: p.elapsed_s,
    };
}

// The live view of one training job inside el.
export function jobMonitor(el, job, opts = {}) {
    const width = 240;
    const charts = CURVES.map(([k, l]) => chart(k, l, width));
    const points = [];
    const state = h('p', { class: 'job-state', role: 'status', 'aria-live': 'polite' });
    const conn = h('p', { class: 'hint', 'aria-live': 'polite' });
    const summary = h('p', { class: 'job-summary' });
    const stopBtn = h('button', { type: 'button', class: 'danger', onclick: stopJob }, 'Stop training');
    const stopMsg = h('p', { role: 'alert', class: 'error', hidden: true });
    const table = h('tbody');
    el.append(
        h('div', { class: 'page-head' }, h('h2', null, `Job ${job.id}: ${job.type}`), stopBtn),
        state, conn, stopMsg,
        h('div', { class: 'charts' }, charts.map((c) => c.box)),
        summary,
        h('details', null, h('summary', null, 'The numbers'),
            h('div', { class: 'table-wrap' }, h('table', { class: 'list' },
                h('thead', null, h('tr', null, ['Iteration', 'Reward', 'Progress %', 'Completion %', 'Entropy', 'Evaluation progress %'].map((t) => h('th', { scope: 'col' }, t)))),
                table))),
    );
    function showState(s, extra) {
        state.textContent = `State: ${s}${extra ? ` (${extra})` : ''}`;
        state.className = `job-state state-${s}`;
        stopBtn.hidden = !['queued', 'running'].includes(s);
    }
    showState(job.state);
    async function stopJob() {
        stopBtn.disabled = true;
        try {
            const j = await post(`/jobs/${job.id}/cancel`);
            showState(j.state, j.state === 'running' ? 'stopping at the next heartbeat; what it trained is kept' : '');
        } catch (e) {
            stopMsg.textContent = `Could not stop: ${e.message}`;
            stopMsg.hidden = false;
        } finally {
            stopBtn.disabled = false;
        }
    }
    function add(p) {
        const pt = pointOf(p);
        if (pt.iteration == null || points.some((q) => q.iteration === pt.iteration)) return;
        points.push(pt);
        points.sort((a, b) => a.iteration - b.iteration);
        const xs = points.map((q) => q.iteration);
        for (const c of charts) c.plot.setData([xs, points.map((q) => q[c.key])]);
        el.dataset.points = String(points.length);
        summary.textContent = `Iteration ${pt.iteration}: reward ${fmtNum(pt.mean_reward, 1)}, progress ${fmtNum(pt.progress, 1)} %, lap completion ${fmtNum(pt.completion_rate, 0)} %, entropy ${fmtNum(pt.entropy, 3)}${pt.elapsed_s != null ? `, ${fmtNum(pt.elapsed_s, 0)} s trained` : ''}.`;
        table.append(h('tr', null, [pt.iteration, fmtNum(pt.mean_reward, 2), fmtNum(pt.progress, 1), fmtNum(pt.completion_rate, 0), fmtNum(pt.entropy, 3), fmtNum(pt.eval_progress, 1)].map((v) => h('td', null, String(v)))));
    }
    const stop = followJob(job.id, (type, d) => {
        if (type === 'progress') add(d);
        else if (type === 'state') showState(d.state, d.message && !d.message.startsWith(d.state) ? d.message : (d.message || '').slice(d.state.length).trim());
        else if (type === 'end') {
            showState(d.state, d.error || '');
            opts.onEnd && opts.onEnd(d);
        }
    }, (c) => {
        conn.textContent = c === 'reconnecting' ? 'Connection lost: reconnecting…' : '';
        el.dataset.connection = c;
    });
    onLeave(stop);
    return { stop };
}

export async function trainTab(panel, model) {
    const latest = model.versions[model.versions.length - 1];
    const tracks = (await get('/tracks')).tracks;
    const minutes = field('Time limit (minutes)', h('input', { name: 'minutes', type: 'number', min: 0.05, max: 1440, step: 'any', value: 10, required: true }),
        'Training stops after this long (0.05 to 1440 minutes); your class quota is charged at most this.');
    const track = field('Track', select(tracks.map((t) => [t.name, t.name]), latest.track || 'oval', { name: 'track' }));
    const startBtn = h('button', { type: 'submit', class: 'primary' }, 'Start training');
    const err = h('p', { class: 'error', role: 'alert', id: 'train-error', hidden: true });
    const live = h('section', { class: 'card job-live', 'aria-label': 'Training job' });
    live.hidden = true;
    const form = h('form', { class: 'card', novalidate: true },
        h('h2', null, `Train version ${latest.version}`),
        h('div', { class: 'grid2' }, minutes, track), err, startBtn);
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        err.hidden = true;
        setFieldError(minutes, '');
        const m = Number(minutes.control.value);
        if (!(m >= 0.05 && m <= 1440)) {
            setFieldError(minutes, 'The time limit must be 0.05 to 1440 minutes');
            minutes.control.focus();
            return;
        }
        startBtn.disabled = true;
        try {
            const job = await post('/jobs', { type: 'train', model: model.id, minutes: m, track: track.control.value });
            watch(job);
        } catch (ex) {
            err.textContent = ex.message;
            err.hidden = false;
            if (ex.field === 'minutes') setFieldError(minutes, ex.message);
        } finally {
            startBtn.disabled = false;
        }
    });
    function watch(job) {
        live.replaceChildren();
        live.hidden = false;
        jobMonitor(live, job, {
            onEnd: (d) => {
                if (d.result_version)
                    live.append(h('p', { class: 'ok' }, `Trained: version ${d.result_version}. `,
                        h('a', { href: `/models/${model.id}/evaluate` }, 'Evaluate it')));
            },
        });
    }
    panel.append(form, live);
    // A job of this model already running: watch it.
    const active = await get(`/jobs?model=${model.id}&state=active&limit=1`);
    if (active.jobs.length && active.jobs[0].type === 'train') watch(active.jobs[0]);
}
