// Storage (admin): what the hub stores (blobs, by kind, by user, model and job, orphans, the
// database) and the garbage collection: a dry run first, then the run, each said in words.
import { get, post } from '../api.js';
import { h, clear, field, setFieldError } from '../dom.js';

export function fmtBytes(n) {
    if (n === null || n === undefined) return '–';
    const units = ['bytes', 'kB', 'MB', 'GB', 'TB'];
    let i = 0, x = Number(n);
    while (x >= 1000 && i < units.length - 1) {
        x /= 1000;
        i += 1;
    }
    return i === 0 ? `${x} bytes` : `${x.toFixed(x < 10 ? 2 : 1)} ${units[i]}`;
}

const KINDS = [
    ['model_versions', 'Model versions'], ['job_checkpoints', 'Job checkpoints'], ['job_results', 'Job results'],
    ['bundles', 'Bundles (fleet)'], ['league_submissions', 'League submissions'], ['assignment_submissions', 'Assignment submissions'],
    ['unused_filesets', 'Filesets nothing refers to'],
];

function table(caption, cols, rows) {
    return h('table', { class: 'list' }, h('caption', null, caption),
        h('thead', null, h('tr', null, cols.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)))),
        h('tbody', null, rows.length ? rows.map((r) => h('tr', null, cols.map((c) => h('td', { class: c.num ? 'num' : null }, c.get(r)))))
            : h('tr', null, h('td', { colspan: cols.length }, 'None.'))));
}

export async function storagePage(main) {
    const summary = h('div', { class: 'storage-summary' });
    const detail = h('div');
    const result = h('div', { class: 'gc-result', 'aria-live': 'polite' });
    const older = field('Only files unchanged for (hours)', h('input', { type: 'number', min: '0', step: 'any', value: '1', name: 'older' }),
        'Uploads in progress are always kept, whatever this says.');
    const purge = h('input', { type: 'checkbox', id: 'gc-purge', name: 'purge' });
    const dryBtn = h('button', { type: 'submit', class: 'primary', name: 'dry' }, 'Dry run');
    const runBtn = h('button', { type: 'button', class: 'danger', disabled: true }, 'Delete these files');
    let lastDry = null;

    async function load() {
        const s = await get('/admin/storage');
        main.dataset.blobs = String(s.blobs.count);
        main.dataset.orphans = String(s.orphaned.count);
        clear(summary,
            h('dl', { class: 'stats' },
                h('div', null, h('dt', null, 'Stored files (blobs)'), h('dd', null, `${s.blobs.count} · ${fmtBytes(s.blobs.bytes)}`)),
                h('div', null, h('dt', null, 'Referenced'), h('dd', null, `${s.referenced.count} · ${fmtBytes(s.referenced.bytes)}`)),
                h('div', { class: s.orphaned.count ? 'warn' : null }, h('dt', null, 'Orphaned'),
                    h('dd', { class: 'orphaned' }, `${s.orphaned.count} · ${fmtBytes(s.orphaned.bytes)}`,
                        s.orphaned.count ? h('span', { class: 'hint' }, ` (${s.orphaned.older_than_an_hour} older than an hour)`) : null)),
                h('div', { class: s.missing ? 'error' : null }, h('dt', null, 'Missing'), h('dd', null, String(s.missing))),
                h('div', null, h('dt', null, 'Database'), h('dd', null, `${s.database.kind} · ${fmtBytes(s.database.bytes)}`)),
                h('div', null, h('dt', null, 'Models'), h('dd', null, `${s.models.count} (${s.models.deleted} deleted) · ${s.models.versions} version${s.models.versions === 1 ? '' : 's'}`)),
                h('div', null, h('dt', null, 'Filesets'), h('dd', null, `${s.filesets.count} (${s.filesets.unused} unused)`)),
            ),
            s.uploads_in_progress_since ? h('p', { class: 'hint' }, `An upload has been in progress since ${new Date(s.uploads_in_progress_since).toLocaleString()}.`) : null,
        );
        detail.replaceChildren(
            h('h2', { id: 'kinds-h' }, 'By kind'),
            table('Storage by kind (a file shared by two kinds counts in each)', [
                { label: 'Kind', get: (r) => r[1] },
                { label: 'Files', num: true, get: (r) => String(s.by_kind[r[0]].blobs) },
                { label: 'Size', num: true, get: (r) => fmtBytes(s.by_kind[r[0]].bytes) },
            ], KINDS),
            h('h2', null, 'By user'),
            table('Storage by user', [
                { label: 'User', get: (u) => u.username },
                { label: 'Models', num: true, get: (u) => String(u.models) },
                { label: 'Versions', num: true, get: (u) => String(u.versions) },
                { label: 'Models\u2019 files', num: true, get: (u) => fmtBytes(u.model_bytes) },
                { label: 'Jobs\u2019 files', num: true, get: (u) => fmtBytes(u.job_bytes) },
                { label: 'Total', num: true, get: (u) => fmtBytes(u.bytes) },
            ], s.by_user),
            h('h2', null, 'By model'),
            table('Storage by model', [
                { label: 'Model', get: (m) => (m.deleted ? `${m.name} (deleted)` : h('a', { href: `/models/${m.model_id}` }, m.name)) },
                { label: 'Owner', get: (m) => m.owner },
                { label: 'Versions', num: true, get: (m) => String(m.versions) },
                { label: 'Files', num: true, get: (m) => String(m.blobs) },
                { label: 'Size', num: true, get: (m) => fmtBytes(m.bytes) },
            ], s.by_model),
            h('h2', null, 'Job artifacts'),
            table('Job checkpoints and results', [
                { label: 'Job', num: true, get: (j) => String(j.job_id) },
                { label: 'Type', get: (j) => j.type },
                { label: 'State', get: (j) => j.state },
                { label: 'Owner', get: (j) => j.owner },
                { label: 'Checkpoint', num: true, get: (j) => fmtBytes(j.checkpoint_bytes) },
                { label: 'Results', num: true, get: (j) => fmtBytes(j.result_bytes) },
            ], s.by_job),
        );
    }

    function params(dry) {
        const hours = Number(older.control.value);
        if (!Number.isFinite(hours) || hours < 0) {
            setFieldError(older, 'A number of hours, 0 or more');
            older.control.focus();
            return null;
        }
        setFieldError(older, '');
        return { dry_run: dry, purge_deleted: purge.checked, older_than_s: Math.round(hours * 3600) };
    }

    function say(r) {
        const what = `${r.blobs} unused file${r.blobs === 1 ? '' : 's'} (${fmtBytes(r.bytes)}), ${r.filesets} fileset${r.filesets === 1 ? '' : 's'}`
            + (r.purge_deleted ? `, ${r.versions_purged} version${r.versions_purged === 1 ? '' : 's'} of deleted models` : '');
        return h('div', { class: 'card', role: 'status' },
            h('p', { class: r.dry_run ? null : 'ok' }, r.dry_run ? `Dry run: the collection would delete ${what}. Nothing was deleted.` : `Deleted ${what}.`),
            r.kept_recent || r.rescued ? h('p', { class: 'hint' }, `Kept: ${r.kept_recent} newer than the cutoff, ${r.rescued} found in use again.`) : null,
            r.uploads_in_progress_since ? h('p', { class: 'hint' }, `An upload in progress since ${new Date(r.uploads_in_progress_since).toLocaleString()} held the cutoff back.`) : null,
            r.sample.length ? h('details', null, h('summary', null, r.dry_run ? 'Some of these files' : 'Some of the deleted files'),
                h('ul', { class: 'mono' }, r.sample.map((x) => h('li', null, x)))) : null);
    }

    const form = h('form', { class: 'card gc', novalidate: true },
        h('h2', null, 'Garbage collection'),
        h('p', null, 'Deletes the files nothing refers to any more: uploads refused half-way, checkpoints a newer one replaced, versions of deleted models (if asked). Run a dry run first: it says what would go and deletes nothing.'),
        older,
        h('div', { class: 'field check' }, purge, h('label', { for: 'gc-purge' }, 'Also forget the versions of deleted models')),
        h('div', { class: 'actions' }, dryBtn, runBtn), result);
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const p = params(true);
        if (!p) return;
        try {
            lastDry = p;
            const r = await post('/admin/gc', p);
            result.replaceChildren(say(r));
            runBtn.disabled = false;
            runBtn.focus();
        } catch (ex) {
            result.replaceChildren(h('p', { class: 'error', role: 'alert' }, ex.message));
        }
    });
    // The run takes what the dry run was asked with; a change of the form asks for a new dry run.
    for (const c of [older.control, purge]) c.addEventListener('input', () => { runBtn.disabled = true; });
    runBtn.addEventListener('click', async () => {
        if (!lastDry) return;
        try {
            const r = await post('/admin/gc', { ...lastDry, dry_run: false });
            result.replaceChildren(say(r));
            runBtn.disabled = true;
            await load();
        } catch (ex) {
            result.replaceChildren(h('p', { class: 'error', role: 'alert' }, ex.message));
        }
    });
    main.append(h('h1', null, 'Storage'), summary, form, detail);
    await load();
}
