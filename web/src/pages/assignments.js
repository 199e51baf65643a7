// Assignments (issue 13's autograding): on a class's page its instructors set one (track,
// public or hidden until the deadline, laps, deadline, pass criteria worth points) and read
// the gradebook; a learner sees their classes' assignments, submits a model version and reads
// their grade criterion by criterion.
import { get, post, api } from '../api.js';
import { h, field, select, setFieldError, fmtNum, fmtTime, clear } from '../dom.js';
import { onLeave } from '../app.js';

export const CRITERIA = [
    ['complete_laps', 'Complete at least N laps', 'laps'],
    ['avg_lap_under', 'Average lap under S seconds', 's'],
    ['best_lap_under', 'Best lap under S seconds', 's'],
    ['max_off_tracks', 'At most N off-tracks', 'off-tracks'],
    ['max_crashes', 'At most N crashes', 'crashes'],
    ['reward_check', 'The reward function passes the check', null],
];

export function criterionText(c) {
    const k = CRITERIA.find((x) => x[0] === c.kind);
    const label = k ? k[1] : c.kind;
    const v = c.value != null ? label.replace(/\bN\b|\bS\b/, fmtNum(c.value, c.kind.endsWith('_under') ? 1 : 0)) : label;
    return `${v} (${c.points} point${c.points === 1 ? '' : 's'})`;
}

function downloadCsv(path, name) {
    return async () => {
        const res = await api('GET', path, undefined, { raw: true });
        const a = h('a', { href: URL.createObjectURL(await res.blob()), download: name });
        document.body.append(a);
        a.click();
        a.remove();
    };
}

// The instructor's part of a class page: its assignments, a new one, the gradebook.
export async function classAssignments(classId) {
    const box = h('section', { class: 'card', 'aria-labelledby': 'asg-h' }, h('h2', { id: 'asg-h' }, 'Assignments'));
    const list = h('div');
    const book = h('div', { 'aria-live': 'polite' });
    async function load() {
        const a = (await get(`/classes/${classId}/assignments`)).assignments;
        clear(list, a.length ? h('ul', null, a.map((x) => h('li', null, h('a', { href: `/assignments/${x.id}` }, x.name),
            ` on ${x.track || 'a hidden track'}${x.hidden ? ' (hidden until the deadline)' : ''}, due ${fmtTime(x.deadline)}`))) : h('p', { class: 'empty' }, 'No assignments yet.'));
        const g = await get(`/classes/${classId}/gradebook`);
        clear(book, g.assignments.length ? h('table', { class: 'list' }, h('caption', null, 'Gradebook: each learner\'s best grade'),
            h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Learner'), g.assignments.map((x) => h('th', { scope: 'col' }, `${x.name} (/${x.max_points})`)), h('th', { scope: 'col' }, 'Total'))),
            h('tbody', null, g.learners.map((l) => h('tr', null, h('th', { scope: 'row' }, l.user.username),
                l.grades.map((x) => h('td', null, x.graded ? `${x.points}/${x.max_points}${x.passed ? ' passed' : ''}${x.late ? ' late' : ''}, ${x.attempts} attempt${x.attempts === 1 ? '' : 's'}` : x.attempts ? `${x.attempts} attempt${x.attempts === 1 ? '' : 's'}, not graded yet` : '–')),
                h('td', null, String(l.total_points)))))) : null,
        g.assignments.length ? h('button', { type: 'button', onclick: downloadCsv(`/classes/${classId}/gradebook?format=csv`, `class-${classId}-gradebook.csv`) }, 'Export gradebook CSV') : null);
    }
    const tracks = (await get('/tracks')).tracks;
    const name = field('Assignment name', h('input', { name: 'name', required: true, maxlength: 100 }));
    const track = field('Track', select(tracks.map((t) => [t.name, t.name]), 'oval', { name: 'track' }));
    const hidden = h('input', { type: 'checkbox', name: 'hidden' });
    const deadline = field('Deadline', h('input', { name: 'deadline', type: 'datetime-local', required: true }));
    const laps = field('Laps of the grading evaluation', h('input', { name: 'laps', type: 'number', min: 1, max: 100, value: 3 }));
    const rows = h('div', { class: 'criteria' });
    function addCriterion(kind = 'complete_laps', value = 1, points = 1) {
        const n = rows.children.length + 1;
        const k = select(CRITERIA.map(([v, l]) => [v, l]), kind, { 'aria-label': `Criterion ${n}` });
        const v = h('input', { type: 'number', min: 0, step: 'any', value, 'aria-label': `Criterion ${n}: N or S` });
        const p = h('input', { type: 'number', min: 0, step: 1, value: points, 'aria-label': `Criterion ${n}: points` });
        k.addEventListener('change', () => { v.disabled = k.value === 'reward_check'; });
        const row = h('div', { class: 'criterion' }, k, v, p);
        row.read = () => (k.value === 'reward_check' ? { kind: k.value, points: Number(p.value) } : { kind: k.value, value: Number(v.value), points: Number(p.value) });
        rows.append(row);
    }
    addCriterion();
    const err = h('p', { class: 'error', role: 'alert', hidden: true });
    const form = h('form', { class: 'new-assignment', novalidate: true }, h('h3', null, 'New assignment'), name,
        h('div', { class: 'grid2' }, track, deadline, laps),
        h('label', { class: 'check' }, hidden, ' Hidden track: learners get its name, shape and measured results only after the deadline'),
        h('fieldset', { class: 'plain' }, h('legend', null, 'Pass criteria (kind, N or S, points)'), rows,
            h('button', { type: 'button', onclick: () => addCriterion('reward_check', 0, 1) }, 'Add a criterion')),
        err, h('button', { type: 'submit', class: 'primary' }, 'Create assignment'));
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        err.hidden = true;
        setFieldError(name, '');
        setFieldError(deadline, '');
        if (!name.control.value.trim()) {
            setFieldError(name, 'An assignment needs a name');
            name.control.focus();
            return;
        }
        if (!deadline.control.value) {
            setFieldError(deadline, 'When is it due?');
            deadline.control.focus();
            return;
        }
        try {
            await post(`/classes/${classId}/assignments`, {
                name: name.control.value.trim(), track: track.control.value, hidden: hidden.checked,
                deadline: new Date(deadline.control.value).toISOString().replace(/\.\d+Z$/, 'Z'),
                laps: Number(laps.control.value), criteria: [...rows.children].map((r) => r.read()),
            });
            name.control.value = '';
            await load();
        } catch (ex) {
            err.textContent = ex.message;
            err.hidden = false;
        }
    });
    box.append(list, book, form);
    await load();
    return box;
}

// A learner's list of a class's assignments.
export async function myAssignments(classes) {
    const items = [];
    for (const c of classes) {
        const a = (await get(`/classes/${c.id}/assignments`)).assignments;
        for (const x of a) items.push(h('li', null, h('a', { href: `/assignments/${x.id}` }, x.name), ` (${c.name}), due ${fmtTime(x.deadline)}${x.past_deadline ? ': past the deadline' : ''}`));
    }
    return h('section', { class: 'card' }, h('h2', null, 'Assignments'), items.length ? h('ul', null, items) : h('p', { class: 'empty' }, 'No assignments.'));
}

export async function assignmentPage(main, id) {
    const a = await get(`/assignments/${id}`);
    if (a.description) main.append(h('h1', null, a.name), h('p', null, a.description));
    else main.append(h('h1', null, a.name));
    main.append(
        h('section', { class: 'card' }, h('h2', null, 'The task'),
            h('ul', null, h('li', null, `Track: ${a.track || 'a hidden track (named after the deadline)'}`),
                h('li', null, `${a.laps} lap${a.laps === 1 ? '' : 's'}, ${a.race_type}`),
                h('li', null, `Due ${fmtTime(a.deadline)}${a.accept_late ? ' (late work is accepted and marked late)' : ' (no late work)'}`)),
            h('h3', null, `Criteria (${a.max_points} points)`), h('ul', { class: 'criteria-list' }, a.criteria.map((c) => h('li', null, criterionText(c))))));
    const models = (await get('/models?limit=500')).models;
    const model = field('Model', select(models.map((m) => [m.id, `${m.name} (v${m.latest_version})`]), models[0] && models[0].id, { name: 'model' }), 'Its latest version is frozen and graded.');
    const msg = h('p', { class: 'error', role: 'alert', hidden: true });
    const ok = h('p', { role: 'status', class: 'ok' });
    const form = h('form', { class: 'card', novalidate: true }, h('h2', null, 'Submit'), model, msg, ok, h('button', { type: 'submit', class: 'primary', disabled: !models.length }, 'Submit for grading'));
    const subs = h('section', { class: 'card', 'aria-live': 'polite' });
    async function load() {
        const s = (await get(`/assignments/${id}/submissions`)).submissions;
        const details = await Promise.all(s.map((x) => get(`/assignments/${id}/submissions/${x.submission}`)));
        clear(subs, h('h2', null, 'My grades'), details.length ? details.map((d) => h('div', { class: 'grade' },
            h('h3', null, `Submission ${d.submission}: ${d.state === 'graded' ? `${d.points} of ${d.max_points} points${d.passed ? ', passed' : ''}` : d.state}${d.late ? ' (late)' : ''}`),
            d.error ? h('p', { class: 'error' }, d.error) : null,
            h('ul', null, (d.criteria || []).map((c) => h('li', { class: c.passed ? 'ok' : c.passed === false ? 'error' : '' },
                `${criterionText(c)}: ${c.passed ? 'passed' : c.passed === false ? 'not passed' : 'not graded yet'}${c.measured != null ? ` (measured ${typeof c.measured === 'number' ? fmtNum(c.measured, 2) : c.measured})` : ''}`))))) : h('p', { class: 'empty' }, 'Nothing submitted yet.'));
        return details;
    }
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        msg.hidden = true;
        try {
            const s = await post(`/assignments/${id}/submissions`, { model: Number(model.control.value) });
            ok.textContent = `Submitted (submission ${s.submission}${s.late ? ', late' : ''}); a worker grades it.`;
            await load();
        } catch (ex) {
            msg.textContent = ex.message;
            msg.hidden = false;
        }
    });
    main.append(form, subs);
    await load();
    // Grading takes a worker a few seconds: refresh until every submission is graded.
    const timer = setInterval(async () => {
        const d = await load().catch(() => []);
        if (d.every((x) => x.state === 'graded' || x.state === 'failed')) clearInterval(timer);
    }, 3000);
    onLeave(() => clearInterval(timer));
}
