// Leagues (issue 13's API): the leagues you may enter or run; a new league (tracks public or
// hidden, race type, ranking, laps, limits, times); a league's page with its tracks (a hidden
// one without its name, to a learner, until the close), submitting a model version, your
// entries and the leaderboard; the race-day big screen (standings pushed by server-sent
// events) and the marshal's form for physical laps.
import { get, post, del, patch, api } from '../api.js';
import { h, field, select, setFieldError, fmtNum, fmtTime, clear, refresh } from '../dom.js';
import { isStaff, navigate, onLeave, session } from '../app.js';

const RACE_TYPES = [['time-trial', 'Time trial'], ['object-avoidance', 'Object avoidance'], ['head-to-bot', 'Head-to-bot']];
const RANKINGS = [['BEST_LAP_TIME', 'Best lap time'], ['AVG_LAP_TIME', 'Average lap time'], ['TOTAL_TIME', 'Total time']];

function trackLabel(t) {
    return t.name ? `${t.name}${t.hidden ? ' (hidden from learners until the close)' : ''}` : 'A hidden track (revealed when the league closes)';
}

function stateBadge(s) {
    return h('span', { class: `badge league-${s}` }, s);
}

export async function leaguesPage(main) {
    const data = await get('/leagues');
    main.append(h('h1', null, 'Leagues'));
    main.append(data.leagues.length
        ? h('div', { class: 'table-wrap' }, h('table', { class: 'list' }, h('caption', { class: 'sr-only' }, 'Leagues'),
            h('thead', null, h('tr', null, ['League', 'State', 'Tracks', 'Ranking', 'Closes'].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', null, data.leagues.map((l) => h('tr', null,
                h('td', null, h('a', { href: `/leagues/${l.id}` }, l.name)), h('td', null, stateBadge(l.state)),
                h('td', null, l.tracks.map(trackLabel).join('; ')), h('td', null, l.ranking), h('td', null, fmtTime(l.closes_at)))))))
        : h('p', { class: 'empty' }, 'No leagues yet.'));
    if (isStaff()) main.append(await newLeagueForm());
}

async function newLeagueForm() {
    const tracks = (await get('/tracks')).tracks;
    const classes = (await get('/classes')).classes;
    const name = field('League name', h('input', { name: 'name', required: true, maxlength: 100 }));
    const cls = field('Who races', select([['', 'Everyone on this hub (open)'], ...classes.map((c) => [c.id, `Class ${c.name}`])], '', { name: 'class' }));
    const trackRows = h('div', { class: 'track-rows' });
    function addTrack(value, hidden) {
        const n = trackRows.children.length + 1;
        const sel = select(tracks.map((t) => [t.name, t.name]), value, { name: `track${n}` });
        const hid = h('input', { type: 'checkbox', name: `hidden${n}`, checked: hidden });
        const row = h('div', { class: 'track-row' }, field(`Track ${n}`, sel),
            h('label', { class: 'check' }, hid, ' Hidden: learners get neither its name, its shape nor any result on it until the league closes'));
        row.sel = sel;
        row.hid = hid;
        trackRows.append(row);
    }
    addTrack(tracks.find((t) => t.name === 'oval') ? 'oval' : tracks[0].name, false);
    const addBtn = h('button', { type: 'button', onclick: () => trackRows.children.length < 8 && addTrack(tracks[0].name, true) }, 'Add a track');
    const race = field('Race type', select(RACE_TYPES, 'time-trial', { name: 'race_type' }));
    const ranking = field('Ranking', select(RANKINGS, 'BEST_LAP_TIME', { name: 'ranking' }), 'DeepRacer\'s timing methods; lap times include penalties.');
    const laps = field('Laps per evaluation', h('input', { name: 'laps', type: 'number', min: 1, max: 100, value: 3 }));
    const daily = field('Submissions per learner per day', h('input', { name: 'daily_limit', type: 'number', min: 1, placeholder: 'no limit' }));
    const closes = field('Closes at', h('input', { name: 'closes_at', type: 'datetime-local' }), 'Empty: in 30 days. Hidden tracks are revealed then.');
    const err = h('p', { class: 'error', role: 'alert', hidden: true });
    const form = h('form', { class: 'card new-league', novalidate: true }, h('h2', null, 'New league'), name, cls,
        h('fieldset', { class: 'plain' }, h('legend', null, 'Tracks'), trackRows, addBtn),
        h('div', { class: 'grid2' }, race, ranking, laps, daily, closes), err, h('button', { type: 'submit', class: 'primary' }, 'Create league'));
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        err.hidden = true;
        setFieldError(name, '');
        if (!name.control.value.trim()) {
            setFieldError(name, 'A league needs a name');
            name.control.focus();
            return;
        }
        const body = {
            name: name.control.value.trim(),
            tracks: [...trackRows.children].map((r) => ({ name: r.sel.value, hidden: r.hid.checked })),
            race_type: race.control.value,
            ranking: ranking.control.value,
            laps: Number(laps.control.value),
        };
        if (cls.control.value) body.class = Number(cls.control.value);
        if (daily.control.value) body.daily_limit = Number(daily.control.value);
        if (closes.control.value) body.closes_at = new Date(closes.control.value).toISOString().replace(/\.\d+Z$/, 'Z');
        try {
            const l = await post('/leagues', body);
            navigate(`/leagues/${l.id}`);
        } catch (ex) {
            const f = { name, laps, daily_limit: daily, closes_at: closes }[ex.field];
            if (f) {
                setFieldError(f, ex.message);
                f.control.focus();
            } else {
                err.textContent = ex.message;
                err.hidden = false;
            }
        }
    });
    return form;
}

function secs(v) {
    return v == null ? '–' : `${fmtNum(v, 3)} s`;
}

// The standings (virtual per division, and physical laps) as tables.
export function standingsView(board, opts = {}) {
    const wrap = h('div', { class: 'standings' });
    for (const d of board.divisions || []) {
        wrap.append(h('table', { class: 'list leaderboard' },
            h('caption', null, board.divisions.length > 1 || d.name !== 'all' ? `Leaderboard: ${d.name}` : 'Leaderboard'),
            h('thead', null, h('tr', null, ['Rank', 'Racer', 'Score', 'Best lap', 'Laps', opts.big ? null : 'Model', opts.big ? null : 'Entries'].filter(Boolean).map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', null, d.entries.length ? d.entries.map((e) => h('tr', { class: session.user && e.user && e.user.username === session.user.username ? 'me' : null },
                h('td', null, String(e.rank)), h('td', null, e.user ? e.user.username : e.username || ''),
                h('td', null, secs(e.score_s)), h('td', null, secs(e.best_lap_s)), h('td', null, String(e.laps_completed ?? e.laps ?? '')),
                opts.big ? null : h('td', null, e.model ? `${e.model.name} v${e.model.version}` : ''),
                opts.big ? null : h('td', null, String(e.entries ?? '')))) : h('tr', null, h('td', { colspan: opts.big ? 5 : 7 }, 'No counted entry yet.')))));
    }
    if (board.physical && board.physical.length) {
        wrap.append(h('table', { class: 'list leaderboard physical' }, h('caption', null, 'Physical track'),
            h('thead', null, h('tr', null, ['Rank', 'Racer', 'Score', 'Best lap', 'Laps', 'Off-tracks'].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', null, board.physical.map((e) => h('tr', null, h('td', null, String(e.rank)), h('td', null, e.racer),
                h('td', null, secs(e.score_s)), h('td', null, secs(e.best_lap_s)), h('td', null, String(e.laps)), h('td', null, String(e.off_tracks ?? 0)))))));
    }
    if ((board.hidden_tracks_not_counted || []).length)
        wrap.append(h('p', { class: 'hint' }, 'Scores count only the public tracks until the league closes.'));
    return wrap;
}

// A knockout bracket: one column per round, each match its two racers, the winner marked.
export function bracketView(b) {
    const side = (m, k) => {
        const x = m[k];
        if (!x) return h('li', { class: 'bye' }, 'bye');
        const won = m.winner === k;
        return h('li', { class: won ? 'winner' : null }, `${x.seed}. ${x.username}${won ? ' (wins)' : ''}`);
    };
    return h('section', { class: 'bracket', 'aria-label': `Bracket ${b.name}` },
        h('h2', null, `${b.name}: knockout on ${b.track}`),
        h('div', { class: 'rounds' }, b.rounds.map((r) => h('div', { class: 'round' },
            h('h3', null, r.round === b.rounds.length ? 'Final' : `Round ${r.round}`),
            r.matches.map((m) => h('ul', { class: `match match-${m.state}`, 'aria-label': `Match ${m.slot + 1} of round ${r.round}: ${m.state}` },
                side(m, 'a'), side(m, 'b'),
                m.state !== 'decided' ? h('li', { class: 'hint' }, m.state === 'failed' ? `failed${m.error ? `: ${m.error}` : ''}` : m.state) : null))))),
        b.champion ? h('p', { class: 'champion' }, `Champion: ${b.champion.username}`) : null);
}

function evaluationText(ev) {
    if (ev.state === 'hidden') return 'hidden track: results after the close';
    if (ev.state !== 'succeeded') return `${ev.track || 'hidden track'}: ${ev.state}${ev.error ? ` (${ev.error})` : ''}`;
    const laps = (ev.lap_times_s || []).map((x) => fmtNum(x, 2)).join(', ');
    return `${ev.track}: ${ev.laps_completed ?? (ev.lap_times_s || []).length} laps (${laps || 'none'} s), best ${secs(ev.best_lap_s)}, off-tracks ${ev.off_tracks ?? 0}`;
}

export async function leaguePage(main, id) {
    const l = await get(`/leagues/${id}`);
    main.append(h('div', { class: 'page-head' }, h('h1', null, l.name), stateBadge(l.state),
        h('a', { href: `/leagues/${id}/raceday`, class: 'button' }, 'Race-day screen'),
        l.can_manage || isStaff() ? h('a', { href: `/leagues/${id}/marshal`, class: 'button' }, 'Marshal: enter physical laps') : null));
    if (l.description) main.append(h('p', null, l.description));
    if (isStaff() && l.state !== 'closed') {
        const msg = h('p', { role: 'status' });
        main.append(h('div', { class: 'actions' }, h('button', { type: 'button', class: 'danger', onclick: async () => {
            try {
                await patch(`/leagues/${id}`, { closes_at: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
                msg.textContent = 'The league closes now: its hidden tracks and every result on them become visible.';
            } catch (e) {
                msg.textContent = e.message;
            }
        } }, 'Close the league now'), msg));
    }
    main.append(h('section', { class: 'card' }, h('h2', null, 'Rules'),
        h('ul', null,
            h('li', null, `Tracks: ${l.tracks.map(trackLabel).join('; ')}`),
            h('li', null, `${RACE_TYPES.find((r) => r[0] === l.race_type)?.[1] || l.race_type}, ${l.laps} lap${l.laps === 1 ? '' : 's'} per evaluation, ranked by ${RANKINGS.find((r) => r[0] === l.ranking)?.[1] || l.ranking}`),
            h('li', null, `Open ${fmtTime(l.opens_at)} to ${fmtTime(l.closes_at)}`),
            l.daily_limit ? h('li', null, `${l.daily_limit} submissions a day`) : null,
            l.total_limit ? h('li', null, `${l.total_limit} submissions in all`) : null)));

    // Submit.
    if (session.user.role === 'learner' || !isStaff()) {
        const models = (await get('/models?limit=500')).models;
        const model = field('Model', select(models.map((m) => [m.id, `${m.name} (v${m.latest_version})`]), models[0] && models[0].id, { name: 'model' }), 'Its latest version is frozen and raced.');
        const msg = h('p', { role: 'alert', class: 'error', hidden: true });
        const ok = h('p', { role: 'status', class: 'ok' });
        const btn = h('button', { type: 'submit', class: 'primary', disabled: !models.length || l.state !== 'open' }, 'Submit');
        const counts = h('p', { class: 'hint' });
        const showCounts = (x) => {
            counts.textContent = x && x.my_submissions ? `Your submissions: ${x.my_submissions.today} today, ${x.my_submissions.total} in all.` : '';
        };
        showCounts(l);
        const form = h('form', { class: 'card', novalidate: true }, h('h2', null, 'Submit a model'), model, msg, ok, btn, counts);
        form.addEventListener('submit', async (e) => {
            e.preventDefault();
            msg.hidden = true;
            btn.disabled = true;
            try {
                const s = await post(`/leagues/${id}/submissions`, { model: Number(model.control.value) });
                ok.textContent = `Submitted ${s.model.name} v${s.model.version} (entry ${s.submission}); the official evaluation is queued.`;
                await loadMine();
                showCounts(await get(`/leagues/${id}`));
            } catch (ex) {
                msg.textContent = ex.message;
                msg.hidden = false;
            } finally {
                btn.disabled = false;
            }
        });
        main.append(form);
    }
    const mine = h('section', { class: 'card', 'aria-labelledby': 'mine-h' }, h('h2', { id: 'mine-h' }, isStaff() ? 'Entries' : 'My entries'));
    const mineBody = h('div', { 'aria-live': 'polite' });
    mine.append(mineBody);
    async function loadMine() {
        const s = await get(`/leagues/${id}/submissions`);
        clear(mineBody, s.submissions.length ? h('ul', { class: 'entries' }, s.submissions.map((x) => h('li', null,
            h('strong', null, `Entry ${x.submission}`), ` ${x.user ? `${x.user.username}, ` : ''}${x.model ? `${x.model.name} v${x.model.version}` : ''}: ${x.state}${x.score_s != null ? `, score ${secs(x.score_s)}` : ''}`,
            h('ul', null, (x.evaluations || []).map((ev) => h('li', null, evaluationText(ev))))))) : h('p', { class: 'empty' }, 'No entries yet.'));
        return s;
    }
    main.append(mine);
    const boardBox = h('section', { class: 'card', 'aria-labelledby': 'board-h' }, h('h2', { id: 'board-h' }, 'Leaderboard'));
    const boardBody = h('div', { 'aria-live': 'polite' });
    const csvBtn = isStaff() ? h('button', { type: 'button', onclick: async () => {
        const res = await api('GET', `/leagues/${id}/leaderboard?format=csv`, undefined, { raw: true });
        const a = h('a', { href: URL.createObjectURL(await res.blob()), download: `league-${id}-leaderboard.csv` });
        document.body.append(a);
        a.click();
        a.remove();
    } }, 'Export CSV') : null;
    boardBox.append(boardBody);
    if (csvBtn) boardBox.append(csvBtn);
    if (isStaff()) {
        const size = field('Bracket size', select([[2, '2'], [4, '4'], [8, '8'], [16, '16']], 4, { name: 'size' }), 'The best entries of the leaderboard race head to head, 1 against the last seed.');
        const bname = field('Bracket name', h('input', { name: 'bracket', value: 'Race day', maxlength: 64 }));
        const bmsg = h('p', { role: 'status' });
        const bform = h('form', { class: 'bracket-form', novalidate: true }, h('h3', null, 'Knockout bracket'), h('div', { class: 'grid2' }, bname, size), bmsg,
            h('button', { type: 'submit' }, 'Draw the bracket'));
        bform.addEventListener('submit', async (e) => {
            e.preventDefault();
            try {
                const b = await post(`/leagues/${id}/brackets`, { name: bname.control.value.trim() || 'Race day', size: Number(size.control.value) });
                bmsg.textContent = `Bracket ${b.name} drawn: the races run on the workers; the race-day screen shows them.`;
                bmsg.className = 'ok';
            } catch (ex) {
                bmsg.textContent = ex.message;
                bmsg.className = 'error';
            }
        });
        boardBox.append(bform);
    }
    main.append(boardBox);
    async function loadBoard() {
        clear(boardBody, standingsView(await get(`/leagues/${id}/leaderboard`)));
    }
    await Promise.all([loadMine(), loadBoard()]);
    // Entries being evaluated: follow the standings' events and refresh both.
    const stop = followBoard(id, async (board) => {
        clear(boardBody, standingsView(board));
        await loadMine();
    });
    onLeave(stop);
}

// The leaderboard's server-sent events: onBoard(standings) now and at every change. The
// browser's EventSource reconnects by itself; a stream the hub refuses outright (a hub
// without it) falls back to asking every 5 seconds.
function followBoard(id, onBoard, onConn) {
    let closed = false, timer = 0;
    const es = new EventSource(`/api/v1/leagues/${id}/leaderboard/events`);
    es.addEventListener('leaderboard', (e) => {
        try {
            onBoard(JSON.parse(e.data));
        } catch {
            /* ignore a broken event */
        }
    });
    es.onopen = () => onConn && onConn('open');
    es.onerror = () => {
        if (closed) return;
        if (es.readyState === EventSource.CLOSED && !timer) {
            timer = setInterval(() => get(`/leagues/${id}/leaderboard`).then(onBoard).catch(() => {}), 5000);
            onConn && onConn('polling');
        } else onConn && onConn('reconnecting');
    };
    return () => {
        closed = true;
        clearInterval(timer);
        es.close();
    };
}

// The race day's big screen: no navigation, large type, updating itself.
export async function raceDayPage(main, id) {
    const l = await get(`/leagues/${id}`);
    document.body.classList.add('big-screen');
    onLeave(() => document.body.classList.remove('big-screen'));
    const status = h('p', { class: 'conn', 'aria-live': 'polite' });
    const board = h('div', { class: 'big-board', 'aria-live': 'polite' });
    const updated = h('p', { class: 'hint' });
    main.append(h('h1', null, l.name), status, board, updated,
        h('p', { class: 'hint' }, h('a', { href: `/leagues/${id}` }, 'Back to the league')));
    const brackets = h('div', { class: 'big-brackets', 'aria-live': 'polite' });
    main.insertBefore(brackets, updated);
    async function loadBrackets() {
        const list = (await get(`/leagues/${id}/brackets`).catch(() => ({ brackets: [] }))).brackets || [];
        refresh(brackets, list, () => clear(brackets, list.map(bracketView)));
        return list;
    }
    clear(board, standingsView(await get(`/leagues/${id}/leaderboard`), { big: true }));
    await loadBrackets();
    // Races end without changing the standings: while one runs, the brackets are asked again.
    const timer = setInterval(async () => {
        const list = await loadBrackets().catch(() => []);
        main.dataset.racing = String(list.some((b) => b.rounds.some((r) => r.matches.some((m) => m.state === 'racing'))));
    }, 3000);
    onLeave(() => clearInterval(timer));
    const stop = followBoard(id, (b) => {
        clear(board, standingsView(b, { big: true }));
        updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
        main.dataset.updates = String(Number(main.dataset.updates || 0) + 1);
        loadBrackets().catch(() => {});
    }, (c) => {
        status.textContent = c === 'reconnecting' ? 'Connection lost: reconnecting…' : '';
    });
    onLeave(stop);
}
raceDayPage.fullscreen = true;

// The marshal's form: a physical car's lap (works on a phone).
export async function marshalPage(main, id) {
    const l = await get(`/leagues/${id}`);
    const racer = field('Racer', h('input', { name: 'racer', required: true, maxlength: 64, autocomplete: 'off', autocapitalize: 'none' }), 'The racer\'s user name (their hub account) or the name on the car.');
    const attempt = field('Attempt', h('input', { name: 'attempt', type: 'number', min: 1, max: 1000, value: 1, inputmode: 'numeric' }));
    const lap = field('Lap time (seconds)', h('input', { name: 'lap_time', type: 'number', min: 0.5, max: 3600, step: 0.001, inputmode: 'decimal', required: true }));
    const off = field('Off-tracks', h('input', { name: 'off_tracks', type: 'number', min: 0, max: 100, value: 0, inputmode: 'numeric' }));
    const ok = h('p', { role: 'status', class: 'ok' });
    const err = h('p', { role: 'alert', class: 'error', hidden: true });
    const list = h('div', { 'aria-live': 'polite' });
    const form = h('form', { class: 'card marshal', novalidate: true }, h('h2', null, 'Enter a lap'), racer, h('div', { class: 'grid2 tight' }, attempt, off), lap, err, ok,
        h('button', { type: 'submit', class: 'primary big' }, 'Enter lap'));
    async function loadLaps() {
        const laps = (await get(`/leagues/${id}/laps`)).laps || [];
        clear(list, laps.length ? h('table', { class: 'list' }, h('caption', null, 'Laps entered'),
            h('thead', null, h('tr', null, ['Racer', 'Attempt', 'Lap', 'Off-tracks', ''].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', null, laps.slice().reverse().map((x) => h('tr', null, h('td', null, x.racer), h('td', null, String(x.attempt)),
                h('td', null, secs(x.lap_time_s ?? x.lap_time)), h('td', null, String(x.off_tracks ?? 0)),
                h('td', null, h('button', { type: 'button', class: 'link', onclick: async () => {
                    await del(`/leagues/${id}/laps/${x.id}`);
                    await loadLaps();
                } }, `Withdraw ${x.racer}'s lap`)))))) : h('p', { class: 'empty' }, 'No laps entered yet.'));
    }
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        err.hidden = true;
        ok.textContent = '';
        for (const f of [racer, lap, attempt, off]) setFieldError(f, '');
        const t = Number(lap.control.value);
        if (!racer.control.value.trim()) {
            setFieldError(racer, 'Who drove?');
            racer.control.focus();
            return;
        }
        if (!(t >= 0.5 && t <= 3600)) {
            setFieldError(lap, 'A lap time is 0.5 to 3600 seconds');
            lap.control.focus();
            return;
        }
        try {
            await post(`/leagues/${id}/laps`, { racer: racer.control.value.trim(), attempt: Number(attempt.control.value) || 1, lap_time: t, off_tracks: Number(off.control.value) || 0 });
            ok.textContent = `${racer.control.value.trim()}: ${fmtNum(t, 3)} s entered.`;
            lap.control.value = '';
            lap.control.focus();
            await loadLaps();
        } catch (ex) {
            const f = { racer, lap_time: lap, attempt, off_tracks: off }[ex.field];
            if (f) setFieldError(f, ex.message);
            else {
                err.textContent = ex.message;
                err.hidden = false;
            }
        }
    });
    main.append(h('h1', null, `Marshal: ${l.name}`), form, list);
    await loadLaps();
}
