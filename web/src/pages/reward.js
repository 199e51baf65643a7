// The reward editor: CodeMirror 6 with Python highlighting; as you type (debounced) the hub
// checks the function in its sandbox (POST /api/v1/reward/check, what `trackday reward check`
// does) and each issue is marked at its line and listed in words under the editor; "Explain"
// shows `reward explain`'s table and picture; "Save" makes the model's next version with
// the new reward (the other files, checkpoints included, carried over).
import { EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter } from '@codemirror/view';
import { EditorState } from '@codemirror/state';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { syntaxHighlighting, defaultHighlightStyle, indentOnInput, bracketMatching } from '@codemirror/language';
import { python } from '@codemirror/lang-python';
import { linter, lintGutter, forceLinting } from '@codemirror/lint';
import { get, post, api } from '../api.js';
import { h, select, field, fmtNum } from '../dom.js';
import { navigate, onLeave } from '../app.js';
import { tarGz, untarGz } from '../tar.js';

const editorTheme = EditorView.theme({
    '&': { background: '#fff', border: '1px solid #8a949e', borderRadius: '6px', fontSize: '15px', minHeight: '12rem' },
    '&.cm-focused': { outline: '3px solid #ff9f1a', outlineOffset: '2px' },
    '.cm-scroller': { fontFamily: '"DejaVu Sans Mono", Menlo, Consolas, monospace', minHeight: '12rem' },
    '.cm-gutters': { background: '#f0f2f5', color: '#4d5661' },
});

const MAX_BYTES_TO_REPACK = 200 * 1024 * 1024;

// Makes the model's next version: the latest version's files with some replaced.
export async function saveVersion(model, replace) {
    const latest = model.versions[model.versions.length - 1];
    if (latest.bytes > MAX_BYTES_TO_REPACK)
        throw new Error(`This version holds ${(latest.bytes / 1e6).toFixed(0)} MB: too much for the browser to repack; use trackday pull and push`);
    const res = await api('GET', `/models/${model.id}/versions/${latest.version}/download`, undefined, { raw: true });
    const files = (await untarGz(await res.blob())).filter((f) => !(f.name in replace));
    for (const [name, text] of Object.entries(replace)) files.push({ name, text });
    return post(`/models/${model.id}/versions`, await tarGz(files));
}

export async function rewardTab(panel, model) {
    const latest = await get(`/models/${model.id}/versions/latest`);
    const tracks = (await get('/tracks')).tracks;
    const start = latest.reward_function || 'def reward_function(params):\n    return 1.0\n';
    const track = field('Check on track', select(tracks.map((t) => [t.name, t.name]), latest.track || 'oval', { name: 'check-track' }),
        'The reward is called in sampled states of this track.');
    const status = h('p', { class: 'check-status', role: 'status', 'aria-live': 'polite' }, 'Checking…');
    const issues = h('ul', { class: 'issues', 'aria-label': 'Problems found by the check' });
    const samples = h('div', { class: 'samples table-wrap' });
    const saveMsg = h('p', { role: 'status', 'aria-live': 'polite' });
    const explainOut = h('div', { class: 'explain' });
    let lastReport = null;
    let seq = 0;

    async function check(view) {
        const code = view.state.doc.toString();
        const mine = ++seq;
        status.textContent = 'Checking…';
        status.className = 'check-status';
        let report;
        try {
            report = await post('/reward/check', { code, track: track.control.value });
        } catch (e) {
            if (mine !== seq) return [];
            status.textContent = `The check could not run: ${e.message}`;
            status.className = 'check-status error';
            return [];
        }
        if (mine !== seq) return [];
        lastReport = report;
        showReport(report, view);
        const doc = view.state.doc;
        return (report.issues || []).filter((i) => i.line).map((i) => {
            const line = doc.line(Math.min(Math.max(i.line, 1), doc.lines));
            const from = Math.min(line.from + Math.max((i.col || 1) - 1, 0), line.to);
            return {
                from,
                to: Math.max(from, line.to),
                severity: i.severity === 'error' ? 'error' : i.severity === 'warning' ? 'warning' : 'info',
                message: i.message,
            };
        });
    }

    function showReport(report, view) {
        const errs = report.errors || 0, warns = report.warnings || 0;
        status.textContent = report.ok
            ? `No errors${warns ? `, ${warns} warning${warns > 1 ? 's' : ''}` : ''}: the reward ran in ${(report.samples || []).length} sampled states of ${report.track}.`
            : `${errs} error${errs === 1 ? '' : 's'}${warns ? `, ${warns} warning${warns > 1 ? 's' : ''}` : ''}${report.load_error ? `: ${report.load_error}` : ''}${report.not_run ? ` (${report.not_run})` : ''}`;
        status.className = `check-status ${report.ok ? 'ok' : 'error'}`;
        issues.replaceChildren(...(report.issues || []).map((i) => h('li', { class: i.severity },
            i.line ? h('button', {
                type: 'button', class: 'link',
                onclick: () => {
                    const line = view.state.doc.line(Math.min(i.line, view.state.doc.lines));
                    view.dispatch({ selection: { anchor: line.from }, scrollIntoView: true });
                    view.focus();
                },
            }, `Line ${i.line}${i.col ? `, column ${i.col}` : ''}`) : null,
            `${i.line ? ': ' : ''}${i.severity}: ${i.message}`)));
        const rows = (report.samples || []).map((s) => h('tr', null, h('td', null, s.state), h('td', null, s.error ? h('span', { class: 'error' }, s.error) : fmtNum(s.reward, 3))));
        samples.replaceChildren(rows.length
            ? h('details', null, h('summary', null, `The reward in ${rows.length} sampled states`),
                h('table', { class: 'list' }, h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col' }, 'Reward'))), h('tbody', null, rows)))
            : '');
        for (const n of report.notes || []) samples.append(h('p', { class: 'hint' }, typeof n === 'string' ? n : JSON.stringify(n)));
    }

    // The editor lives in a shadow root: there CodeMirror's styles go into constructed style
    // sheets (adoptedStyleSheets), which the Content-Security-Policy allows, instead of a
    // <style> element, which it refuses.
    const host = h('div', { class: 'editor-host' });
    const shadow = host.attachShadow({ mode: 'open' });
    const view = new EditorView({
        root: shadow,
        parent: shadow,
        state: EditorState.create({
            doc: start,
            extensions: [
                lineNumbers(), highlightActiveLineGutter(), highlightActiveLine(), history(), indentOnInput(), bracketMatching(),
                syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
                python(),
                keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
                lintGutter(),
                linter(check, { delay: 500 }),
                EditorView.contentAttributes.of({ 'aria-label': 'reward_function.py: the reward function; checked as you type' }),
                editorTheme,
                EditorView.lineWrapping,
            ],
        }),
    });
    track.control.addEventListener('change', () => forceLinting(view));

    const saveBtn = h('button', { type: 'button', class: 'primary', onclick: save }, 'Save as a new version');
    const explainBtn = h('button', { type: 'button', onclick: explain }, 'Explain');
    async function save() {
        saveBtn.disabled = true;
        saveMsg.className = '';
        saveMsg.textContent = 'Saving…';
        try {
            const v = await saveVersion(model, { 'reward_function.py': view.state.doc.toString() });
            saveMsg.textContent = `Saved as version ${v.version}.`;
            saveMsg.className = 'ok';
            model.versions.push(v);
        } catch (e) {
            saveMsg.textContent = `Not saved: ${e.message}`;
            saveMsg.className = 'error';
        } finally {
            saveBtn.disabled = false;
        }
    }
    async function explain() {
        explainBtn.disabled = true;
        explainOut.replaceChildren(h('p', { role: 'status' }, 'Driving a racing-line lap and a zig-zag lap…'));
        try {
            const r = await post('/reward/explain', { code: view.state.doc.toString(), track: track.control.value });
            explainOut.replaceChildren(
                h('img', { src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(r.svg)}`, alt: `The track ${r.track} coloured by the reward per step, on a racing-line lap and a zig-zag lap`, class: 'explain-picture' }),
                h('pre', { class: 'explain-text', tabindex: '0', 'aria-label': 'Reward per lap segment' }, r.text));
        } catch (e) {
            explainOut.replaceChildren(h('p', { class: 'error', role: 'alert' }, `Explain failed: ${e.message}`));
        } finally {
            explainBtn.disabled = false;
        }
    }
    onLeave(() => view.destroy());

    panel.append(
        h('div', { class: 'editor-layout' },
            h('div', { class: 'editor-main' },
                h('h2', { id: 'editor-label' }, 'reward_function.py'),
                h('p', { class: 'hint', id: 'editor-help' }, 'Checked as you type: problems are marked at their line. Tab indents; press Escape then Tab to leave the editor.'),
                host,
                status, issues, samples,
                h('div', { class: 'actions' }, saveBtn, explainBtn, saveMsg)),
            h('div', { class: 'editor-side' }, track)),
        explainOut,
    );
    void lastReport;
    void navigate;
}
