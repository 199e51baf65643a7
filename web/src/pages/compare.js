// Compare two versions of a model: their training curves on the same axes (from each
// version's metrics/training.jsonl) and the laps of their evaluations.
import uPlot from 'uplot';
import { get, api } from '../api.js';
import { h, field, select, fmtNum, clear } from '../dom.js';

const SERIES = [
    ['mean_reward', 'Mean reward per episode'],
    ['mean_progress', 'Progress (%)'],
    ['completion_rate', 'Lap completion (%)', 100],
    ['entropy', 'Entropy'],
];
const COLOURS = ['#0b5cad', '#c2410c'];

async function metrics(model, v) {
    try {
        const res = await api('GET', `/models/${model.id}/versions/${v}/files/metrics/training.jsonl`, undefined, { raw: true });
        return (await res.text()).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    } catch (e) {
        if (e.status === 404) return [];
        throw e;
    }
}

function overlay(label, key, scale, runs, names) {
    const xs = [...new Set(runs.flatMap((r) => r.map((p) => p.iteration)))].sort((a, b) => a - b);
    const ys = runs.map((r) => {
        const by = new Map(r.map((p) => [p.iteration, p[key] == null ? null : p[key] * (scale || 1)]));
        return xs.map((x) => (by.has(x) ? by.get(x) : null));
    });
    const box = h('figure', { class: 'chart' }, h('figcaption', null, label));
    const plot = new uPlot({
        width: 240, height: 170, scales: { x: { time: false } }, legend: { show: false }, cursor: { show: false },
        axes: [{ label: 'iteration', size: 36 }, { size: 50 }],
        series: [{}, ...names.map((n, i) => ({ label: n, stroke: COLOURS[i], width: 2, spanGaps: true, dash: i ? [6, 4] : undefined }))],
    }, [xs, ...ys], box);
    plot.root.setAttribute('role', 'img');
    plot.root.setAttribute('aria-label', `${label}: ${names.join(' against ')}`);
    new ResizeObserver(() => {
        const w = Math.floor(box.clientWidth - 16);
        if (w > 100 && w !== plot.width) plot.setSize({ width: w, height: 170 });
    }).observe(box);
    return box;
}

export async function compareTab(panel, model) {
    const versions = model.versions.map((v) => [v.version, `v${v.version} (${v.source}${v.metrics && v.metrics.iteration ? `, ${v.metrics.iteration} iterations` : ''})`]);
    const last = model.versions.length;
    const a = field('Version A (solid)', select(versions, model.versions[Math.max(0, last - 2)].version, { name: 'a' }));
    const b = field('Version B (dashed)', select(versions, model.versions[last - 1].version, { name: 'b' }));
    const out = h('div', { 'aria-live': 'polite' });
    async function show() {
        const va = Number(a.control.value), vb = Number(b.control.value);
        const [ma, mb] = await Promise.all([metrics(model, va), metrics(model, vb)]);
        const names = [`v${va}`, `v${vb}`];
        const jobs = (await get(`/jobs?model=${model.id}&state=succeeded&limit=100`)).jobs.filter((j) => j.type === 'evaluate');
        const lapsOf = (v) => jobs.filter((j) => j.model.version === v && j.result);
        const lapRows = [[va, lapsOf(va)], [vb, lapsOf(vb)]].flatMap(([v, js]) => js.map((j) => h('tr', null,
            h('td', null, `v${v}`), h('td', null, String(j.id)), h('td', null, j.result.track || ''),
            h('td', null, `${j.result.laps_completed} of ${j.result.laps_requested}`),
            h('td', null, (j.result.laps || []).map((l) => fmtNum(l.time_s, 2)).join(', ') || '–'),
            h('td', null, fmtNum(j.result.best_lap_s, 2)), h('td', null, String(j.result.off_tracks ?? '')))));
        clear(out,
            !ma.length && !mb.length ? h('p', { class: 'empty' }, 'Neither version has been trained yet: no curves.') : null,
            ma.length || mb.length ? h('div', { class: 'charts' }, SERIES.map(([k, l, sc]) => overlay(l, k, sc, [ma, mb], names))) : null,
            h('p', null, `${names[0]}: ${ma.length} iterations${ma.length ? `, last progress ${fmtNum(ma[ma.length - 1].mean_progress, 1)} %` : ''}. ${names[1]}: ${mb.length} iterations${mb.length ? `, last progress ${fmtNum(mb[mb.length - 1].mean_progress, 1)} %` : ''}.`),
            h('table', { class: 'list' }, h('caption', null, 'Evaluations of the two versions'),
                h('thead', null, h('tr', null, ['Version', 'Job', 'Track', 'Laps', 'Lap times (s)', 'Best (s)', 'Off-tracks'].map((t) => h('th', { scope: 'col' }, t)))),
                h('tbody', null, lapRows.length ? lapRows : h('tr', null, h('td', { colspan: 7 }, 'No evaluation of these versions yet (Evaluate tab).')))));
        panel.dataset.compared = `${va},${vb}`;
    }
    a.control.addEventListener('change', show);
    b.control.addEventListener('change', show);
    panel.append(h('div', { class: 'grid2' }, a, b), out);
    await show();
}
