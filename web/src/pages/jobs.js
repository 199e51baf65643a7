// Jobs: yours (an instructor's classes' too, an admin's all), newest first, with their state,
// and cancel for the active ones.
import { get, post } from '../api.js';
import { h, fmtTime, fmtNum, select, refresh } from '../dom.js';
import { session, onLeave } from '../app.js';

export async function jobsPage(main) {
    const filter = select([['', 'All'], ['active', 'Queued or running'], ['succeeded', 'Succeeded'], ['failed', 'Failed'], ['canceled', 'Canceled']], '', { id: 'job-filter' });
    const body = h('tbody');
    const msg = h('p', { role: 'status', 'aria-live': 'polite' });
    const staff = session.user.role !== 'learner';
    async function load() {
        const q = filter.value ? `&state=${filter.value}` : '';
        const data = await get(`/jobs?limit=100${q}`);
        refresh(body, data.jobs, () => body.replaceChildren(...data.jobs.map((j) => h('tr', null,
            h('td', null, String(j.id)), h('td', null, j.type),
            h('td', null, h('a', { href: `/models/${j.model.id}` }, `model ${j.model.id}`), ` v${j.model.version}`),
            staff ? h('td', null, j.owner.username) : null,
            h('td', null, h('span', { class: `badge state-${j.state}` }, j.state), j.error ? h('p', { class: 'hint' }, j.error) : null),
            staff ? h('td', null, j.worker || '') : null,
            h('td', null, `${fmtNum(j.used_minutes, 1)} of ${fmtNum(j.max_minutes, 1)}`),
            h('td', null, fmtTime(j.created_at)),
            h('td', null, ['queued', 'running'].includes(j.state) ? h('button', { type: 'button', class: 'danger', onclick: async () => {
                try {
                    await post(`/jobs/${j.id}/cancel`);
                    msg.textContent = `Job ${j.id} canceled.`;
                } catch (e) {
                    msg.textContent = `Job ${j.id}: ${e.message}`;
                }
                load();
            } }, `Cancel job ${j.id}`) : '')))));
    }
    filter.addEventListener('change', load);
    main.append(h('div', { class: 'page-head' }, h('h1', null, 'Jobs'),
        h('div', { class: 'field inline' }, h('label', { for: 'job-filter' }, 'Show'), filter)), msg,
        h('div', { class: 'table-wrap' }, h('table', { class: 'list' }, h('caption', { class: 'sr-only' }, 'Jobs'),
            h('thead', null, h('tr', null, ['Job', 'Type', 'Model', staff ? 'Owner' : null, 'State', staff ? 'Worker' : null, 'Minutes used', 'Queued', ''].filter((x) => x !== null).map((t) => h('th', { scope: 'col' }, t)))),
            body)));
    await load();
    const timer = setInterval(() => load().catch(() => {}), 5000);
    onLeave(() => clearInterval(timer));
}
