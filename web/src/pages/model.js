// One model: its versions and settings, and the tabs that work on it (reward, train,
// evaluate, replay).
import { get } from '../api.js';
import { h, fmtTime } from '../dom.js';
import { tabs } from './modeltabs.js';

export async function modelPage(main, id, tab) {
    const m = await get(`/models/${id}`);
    const latest = m.versions[m.versions.length - 1] || {};
    const current = tab || 'versions';
    main.append(
        h('div', { class: 'page-head' },
            h('h1', null, m.name),
            h('p', { class: 'sub' }, `${m.owner.username} · v${m.latest_version} · ${latest.algorithm || ''} · ${latest.sensor || ''} · ${latest.track || ''}`)),
        h('nav', { class: 'tabs', 'aria-label': 'Model' },
            h('ul', null, tabs.map(([key, label]) =>
                h('li', null, h('a', { href: key === 'versions' ? `/models/${id}` : `/models/${id}/${key}`, 'aria-current': key === current ? 'page' : null }, label))))),
    );
    const panel = h('section', { class: 'tab-panel', 'aria-label': tabs.find((t) => t[0] === current)[1] });
    main.append(panel);
    const render = tabs.find((t) => t[0] === current)[2];
    await render(panel, m);
}

export function versionsTab(panel, m) {
    panel.append(
        h('table', { class: 'list' },
            h('caption', { class: 'sr-only' }, 'Versions'),
            h('thead', null, h('tr', null, ['Version', 'Made', 'How', 'Track', 'Algorithm', 'Last training line'].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', null, [...m.versions].reverse().map((v) => h('tr', null,
                h('td', null, `v${v.version}`),
                h('td', null, `${fmtTime(v.created_at)} by ${v.created_by.username}`),
                h('td', null, v.source + (v.job ? ` (job ${v.job})` : '') + (v.parent && v.source === 'clone' ? ` of model ${v.parent.model} v${v.parent.version}` : '')),
                h('td', null, v.track || ''),
                h('td', null, v.algorithm || ''),
                h('td', null, v.metrics ? `iteration ${v.metrics.iteration ?? ''}, progress ${v.metrics.progress ?? v.metrics.mean_progress ?? ''}` : '–')))),
        ),
    );
}
