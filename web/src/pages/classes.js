// Classes. Instructors and admins: their classes, a new class with its quota, and a class's
// page (roster with CSV import, join code, the class quota, each learner's override and
// usage). Learners: their classes, joining one by code, and their own quota.
import { get, post, patch, del } from '../api.js';
import { h, field, setFieldError, fmtNum, clear } from '../dom.js';
import { isStaff, navigate } from '../app.js';
import { classAssignments, myAssignments } from './assignments.js';

const QUOTAS = [
    ['training_minutes', 'Training minutes a month', 'Minutes of training each learner may use per calendar month (UTC); DeepRacer Student gave 600 (10 hours).'],
    ['concurrent_jobs', 'Jobs at once', 'Training and evaluation jobs a learner may have queued or running at the same time.'],
    ['models', 'Models', 'Models a learner may keep.'],
    ['storage_mb', 'Storage (MB)', 'Space a learner\'s model versions may take.'],
];

function quotaFields(quota) {
    return QUOTAS.map(([k, label, help]) => {
        const f = field(label, h('input', { name: k, type: 'number', min: 0, step: 1, value: quota && quota[k] != null ? quota[k] : '', placeholder: 'no limit' }), help);
        f.key = k;
        return f;
    });
}

function readQuota(fields) {
    const q = {};
    for (const f of fields) {
        setFieldError(f, '');
        const v = f.control.value.trim();
        if (v === '') q[f.key] = null;
        else if (!/^\d+$/.test(v)) {
            setFieldError(f, `${f.querySelector('label').textContent} must be a whole number (empty: no limit)`);
            throw f;
        } else q[f.key] = Number(v);
    }
    return q;
}

function usageText(u) {
    if (!u) return '';
    const lim = u.limit == null || u.limit < 0 ? 'no limit' : fmtNum(u.limit, 0);
    return `${fmtNum(u.used, u.used % 1 ? 1 : 0)} of ${lim}`;
}

async function myQuota() {
    const q = await get('/users/me/quota');
    return h('section', { class: 'card' }, h('h2', null, 'My quota'),
        h('table', { class: 'list' }, h('caption', { class: 'sr-only' }, 'My quota and usage'),
            h('thead', null, h('tr', null, ['Quota', 'Used', 'From'].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', null, QUOTAS.filter(([k]) => q[k]).map(([k, label]) => h('tr', null,
                h('td', null, label), h('td', null, usageText(q[k])), h('td', null, q[k].from || ''))))),
        q.training_minutes_reset_at ? h('p', { class: 'hint' }, `Training minutes reset on ${q.training_minutes_reset_at.slice(0, 10)}.`) : null);
}

export async function classesPage(main) {
    const data = await get('/classes');
    main.append(h('h1', null, isStaff() ? 'Classes' : 'My classes'));
    const list = data.classes.length
        ? h('table', { class: 'list' }, h('caption', { class: 'sr-only' }, 'Classes'),
            h('thead', null, h('tr', null, ['Class', 'Learners', 'My role', isStaff() ? 'Join code' : null].filter(Boolean).map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', null, data.classes.map((c) => h('tr', null,
                h('td', null, isStaff() ? h('a', { href: `/classes/${c.id}` }, c.name) : c.name),
                h('td', null, String(c.learners ?? '')), h('td', null, c.my_role || ''),
                isStaff() ? h('td', null, c.join_code || 'off') : null))))
        : h('p', { class: 'empty' }, 'No classes yet.');
    main.append(list);
    if (isStaff()) {
        const name = field('Class name', h('input', { name: 'name', required: true, maxlength: 100 }));
        const qf = quotaFields({ training_minutes: 600, concurrent_jobs: 2, models: 20, storage_mb: 1024 });
        const err = h('p', { class: 'error', role: 'alert', hidden: true });
        const form = h('form', { class: 'card', novalidate: true }, h('h2', null, 'New class'), name,
            h('fieldset', { class: 'plain' }, h('legend', null, 'Quota of each learner'), h('div', { class: 'grid2' }, qf)), err,
            h('button', { type: 'submit', class: 'primary' }, 'Create class'));
        form.addEventListener('submit', async (e) => {
            e.preventDefault();
            err.hidden = true;
            setFieldError(name, '');
            if (!name.control.value.trim()) {
                setFieldError(name, 'A class needs a name');
                name.control.focus();
                return;
            }
            let quota;
            try {
                quota = readQuota(qf);
            } catch (f) {
                f.control.focus();
                return;
            }
            try {
                const c = await post('/classes', { name: name.control.value.trim(), quota });
                navigate(`/classes/${c.id}`);
            } catch (ex) {
                if (/name/.test(ex.message)) setFieldError(name, ex.message);
                else {
                    err.textContent = ex.message;
                    err.hidden = false;
                }
            }
        });
        main.append(form);
    } else {
        const code = field('Join code', h('input', { name: 'code', required: true, autocomplete: 'off', maxlength: 32 }), 'Your instructor gives it.');
        const msg = h('p', { role: 'status' });
        const form = h('form', { class: 'card', novalidate: true }, h('h2', null, 'Join a class'), code, msg, h('button', { type: 'submit' }, 'Join'));
        form.addEventListener('submit', async (e) => {
            e.preventDefault();
            setFieldError(code, '');
            try {
                const c = await post('/classes/join', { code: code.control.value.trim() });
                msg.textContent = `You joined ${c.name}.`;
                navigate('/classes', true);
            } catch (ex) {
                setFieldError(code, ex.message);
                code.control.focus();
            }
        });
        main.append(form, await myAssignments(data.classes), await myQuota());
    }
}

export async function classPage(main, id) {
    const c = await get(`/classes/${id}`);
    main.append(h('h1', null, c.name));

    // Join code.
    const codeOut = h('strong', { class: 'join-code' }, c.join_code || 'off');
    const codeMsg = h('p', { role: 'status' });
    main.append(h('section', { class: 'card' }, h('h2', null, 'Join code'),
        h('p', null, 'Learners join with this code (Classes, Join a class) or sign up with it: ', codeOut),
        h('div', { class: 'actions' },
            h('button', { type: 'button', onclick: async () => {
                try {
                    const r = await post(`/classes/${id}/join-code`);
                    codeOut.textContent = r.join_code;
                    codeMsg.textContent = 'A new join code: the old one no longer works.';
                } catch (e) {
                    codeMsg.textContent = e.message;
                }
            } }, 'New join code'),
            h('button', { type: 'button', onclick: async () => {
                try {
                    await del(`/classes/${id}/join-code`);
                    codeOut.textContent = 'off';
                    codeMsg.textContent = 'Joining by code is off.';
                } catch (e) {
                    codeMsg.textContent = e.message;
                }
            } }, 'Turn off')),
        codeMsg));

    // Class quota.
    const qf = quotaFields(c.quota);
    const qmsg = h('p', { role: 'status' });
    const qform = h('form', { class: 'card', novalidate: true, 'aria-labelledby': 'quota-h' }, h('h2', { id: 'quota-h' }, 'Quota of each learner'),
        h('div', { class: 'grid2' }, qf), qmsg, h('button', { type: 'submit' }, 'Save quota'));
    qform.addEventListener('submit', async (e) => {
        e.preventDefault();
        let quota;
        try {
            quota = readQuota(qf);
        } catch (f) {
            f.control.focus();
            return;
        }
        try {
            await patch(`/classes/${id}`, { quota });
            qmsg.textContent = 'Quota saved.';
            qmsg.className = 'ok';
            await loadMembers();
        } catch (ex) {
            qmsg.textContent = ex.message;
            qmsg.className = 'error';
        }
    });
    main.append(qform);

    // Roster.
    const roster = h('section', { class: 'card', 'aria-labelledby': 'roster-h' });
    const tbody = h('tbody');
    async function loadMembers() {
        const m = await get(`/classes/${id}/members`);
        tbody.replaceChildren(...m.members.map((u) => memberRow(u)));
    }
    function memberRow(u) {
        const usage = u.usage || {};
        const over = h('input', { type: 'number', min: -1, step: 1, value: u.quota_override && u.quota_override.training_minutes != null ? u.quota_override.training_minutes : '', placeholder: 'class', 'aria-label': `Training minutes for ${u.username} (empty: the class's; -1: no limit)` });
        const msg = h('span', { role: 'status', class: 'hint' });
        const save = h('button', { type: 'button', onclick: async () => {
            const v = over.value.trim();
            try {
                await patch(`/classes/${id}/members/${u.user_id}`, { quota: { training_minutes: v === '' ? null : Number(v) } });
                msg.textContent = 'saved';
                over.removeAttribute('aria-invalid');
            } catch (e) {
                msg.textContent = e.message;
                over.setAttribute('aria-invalid', 'true');
            }
        } }, `Set for ${u.username}`);
        return h('tr', null, h('td', null, u.username), h('td', null, u.display_name || ''), h('td', null, u.role),
            h('td', null, usageText(usage.training_minutes)), h('td', null, usageText(usage.concurrent_jobs)), h('td', null, usageText(usage.models)),
            h('td', null, usageText(usage.storage_mb)),
            h('td', null, u.role === 'learner' ? h('div', { class: 'override' }, over, save, msg) : ''));
    }
    const csv = h('textarea', { name: 'roster', rows: 5, placeholder: 'name,email,role\nalice,alice@example.org,learner' });
    const file = h('input', { type: 'file', accept: '.csv,text/csv' });
    const csvField = field('Roster CSV (name,email,role; a header line is optional)', csv);
    const fileField = field('or a CSV file', file);
    const importOut = h('div', { class: 'import-result', 'aria-live': 'polite' });
    file.addEventListener('change', async () => {
        if (file.files[0]) csv.value = await file.files[0].text();
    });
    const importBtn = h('button', { type: 'button', class: 'primary' }, 'Import roster');
    importBtn.addEventListener('click', async () => {
        setFieldError(csvField, '');
        if (!csv.value.trim()) {
            setFieldError(csvField, 'Paste a roster or choose a CSV file');
            csv.focus();
            return;
        }
        importBtn.disabled = true;
        try {
            const r = await post(`/classes/${id}/members/import`, csv.value, { type: 'text/csv' });
            clear(importOut,
                h('p', { class: 'ok' }, `${r.created.length} accounts created, ${r.added.length} existing accounts added${r.errors.length ? `, ${r.errors.length} lines refused` : ''}.`),
                r.created.length ? h('table', { class: 'list' }, h('caption', null, 'New accounts: give each learner their first password (shown only now)'),
                    h('thead', null, h('tr', null, ['Line', 'User name', 'First password'].map((t) => h('th', { scope: 'col' }, t)))),
                    h('tbody', null, r.created.map((x) => h('tr', null, h('td', null, String(x.line)), h('td', null, x.username), h('td', null, h('code', null, x.initial_password || '')))))) : null,
                r.errors.length ? h('ul', { class: 'issues' }, r.errors.map((x) => h('li', { class: 'error' }, `Line ${x.line}: ${x.message || x.error || JSON.stringify(x)}`))) : null);
            if (r.errors.length) setFieldError(csvField, `${r.errors.length} line${r.errors.length > 1 ? 's' : ''} refused: see below`);
            await loadMembers();
        } catch (e) {
            setFieldError(csvField, e.message);
        } finally {
            importBtn.disabled = false;
        }
    });
    roster.append(h('h2', { id: 'roster-h' }, 'Roster'),
        h('div', { class: 'table-wrap' }, h('table', { class: 'list' }, h('caption', { class: 'sr-only' }, 'Members, their usage this month and their training-minute override'),
            h('thead', null, h('tr', null, ['User', 'Name', 'Role', 'Training minutes', 'Jobs at once', 'Models', 'Storage (MB)', 'Own training minutes'].map((t) => h('th', { scope: 'col' }, t)))),
            tbody)),
        h('h3', null, 'Add from a roster'), csvField, fileField, importBtn, importOut);
    main.append(roster);
    await loadMembers();
    main.append(await classAssignments(id));
}
