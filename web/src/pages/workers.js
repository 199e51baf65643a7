// Worker machines (admin): who runs jobs, when each was last seen, registering one (its token
// is shown once) and revoking one.
import { get, post, del } from '../api.js';
import { h, field, setFieldError, fmtTime } from '../dom.js';

export async function workersPage(main) {
    const body = h('tbody');
    const out = h('div', { 'aria-live': 'polite' });
    async function load() {
        const data = await get('/workers');
        body.replaceChildren(...data.workers.map((w) => h('tr', null, h('td', null, w.name), h('td', null, fmtTime(w.created_at)),
            h('td', null, w.last_seen_at ? fmtTime(w.last_seen_at) : 'never'), h('td', null, w.revoked ? 'revoked' : 'active'),
            h('td', null, w.revoked ? '' : h('button', { type: 'button', class: 'danger', onclick: async () => {
                try {
                    await del(`/workers/${w.id}`);
                    out.replaceChildren(h('p', { class: 'ok' }, `${w.name} revoked.`));
                } catch (e) {
                    out.replaceChildren(h('p', { class: 'error', role: 'alert' }, e.message));
                }
                load();
            } }, `Revoke ${w.name}`)))));
    }
    const name = field('Worker name', h('input', { name: 'name', required: true, maxlength: 64 }));
    const form = h('form', { class: 'card', novalidate: true }, h('h2', null, 'Register a worker machine'), name, h('button', { type: 'submit', class: 'primary' }, 'Register'));
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        setFieldError(name, '');
        try {
            const w = await post('/workers', { name: name.control.value.trim() });
            out.replaceChildren(h('div', { class: 'card' }, h('p', null, `Worker ${w.name} registered. Its token is shown only now; on that machine run:`),
                h('pre', { tabindex: '0' }, `trackday worker --hub ${location.origin} --token ${w.token}`)));
            name.control.value = '';
            load();
        } catch (ex) {
            setFieldError(name, ex.message);
            name.control.focus();
        }
    });
    main.append(h('h1', null, 'Workers'),
        h('div', { class: 'table-wrap' }, h('table', { class: 'list' }, h('caption', { class: 'sr-only' }, 'Worker machines'),
            h('thead', null, h('tr', null, ['Name', 'Registered', 'Last seen', 'State', ''].map((t) => h('th', { scope: 'col' }, t)))), body)),
        out, form);
    await load();
}
