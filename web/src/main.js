// trackday's browser UI: a small single-page app on the hub's JSON API. Pages are plain
// functions that build DOM; the router maps the path (the hub serves index.html for any path
// without a file) to a page.
import './style.css';
import 'uplot/dist/uPlot.min.css';
import { get, del, setCsrf, onUnauthorized } from './api.js';
import { h, clear } from './dom.js';
import { session, hooks, cleanup, extraRoutes, navigate } from './app.js';
import { loginPage } from './pages/login.js';
import { modelsPage, newModelPage } from './pages/models.js';
import { modelPage } from './pages/model.js';
import { jobsPage } from './pages/jobs.js';
import { classesPage, classPage } from './pages/classes.js';
import { workersPage } from './pages/workers.js';
import { leaguesPage, leaguePage, raceDayPage, marshalPage } from './pages/leagues.js';
import { assignmentPage } from './pages/assignments.js';
import { storagePage } from './pages/storage.js';
import { fleetPage, devicePage, deploymentPage } from './pages/fleet.js';

const routes = [
    [/^\/$/, () => navigate('/models', true)],
    [/^\/login$/, loginPage],
    [/^\/models$/, modelsPage],
    [/^\/models\/new$/, newModelPage],
    [/^\/models\/(\d+)$/, modelPage],
    [/^\/models\/(\d+)\/(reward|train|evaluate|compare|versions)$/, modelPage],
    [/^\/jobs$/, jobsPage],
    [/^\/classes$/, classesPage],
    [/^\/classes\/(\d+)$/, classPage],
    [/^\/workers$/, workersPage],
    [/^\/admin\/storage$/, storagePage],
    [/^\/fleet$/, fleetPage],
    [/^\/fleet\/devices\/(\d+)$/, devicePage],
    [/^\/fleet\/deployments\/(\d+)$/, deploymentPage],
    [/^\/leagues$/, leaguesPage],
    [/^\/assignments\/(\d+)$/, assignmentPage],
    [/^\/leagues\/(\d+)$/, leaguePage],
    [/^\/leagues\/(\d+)\/raceday$/, raceDayPage],
    [/^\/leagues\/(\d+)\/marshal$/, marshalPage],
];

function nav() {
    const u = session.user;
    const links = [['/models', 'Models'], ['/jobs', 'Jobs'], ['/leagues', 'Leagues'], ['/classes', u.role === 'learner' ? 'My classes' : 'Classes']];
    if (u.role === 'admin') links.push(['/workers', 'Workers'], ['/fleet', 'Fleet'], ['/admin/storage', 'Storage']);
    for (const r of extraRoutes) if (r.nav && (!r.roles || r.roles.includes(u.role))) links.push(r.nav);
    const here = location.pathname;
    return h(
        'header',
        { class: 'top' },
        h('a', { href: '/models', class: 'brand' }, 'trackday'),
        h(
            'nav',
            { 'aria-label': 'Main' },
            h('ul', null, links.map(([href, label]) =>
                h('li', null, h('a', { href, 'aria-current': here.startsWith(href) ? 'page' : null }, label)))),
        ),
        h(
            'div',
            { class: 'who' },
            h('span', null, `${u.username} (${u.role})`),
            h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out'),
        ),
    );
}

async function signOut() {
    try {
        await del('/sessions/current');
    } catch {
        /* already gone */
    }
    session.user = null;
    setCsrf(null);
    navigate('/login');
}

async function render() {
    for (const fn of cleanup.splice(0)) {
        try {
            fn();
        } catch {
            /* ignore */
        }
    }
    const app = document.getElementById('app');
    const path = location.pathname.replace(/\/+$/, '') || '/';
    if (!session.user && path !== '/login') {
        navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, true);
        return;
    }
    let page = null, match = null;
    for (const [re, fn] of [...routes, ...extraRoutes.map((r) => [r.re, r.page])]) {
        match = re.exec(path);
        if (match) {
            page = fn;
            break;
        }
    }
    const main = h('main', { id: 'main', tabindex: '-1' });
    const full = page && page.fullscreen;
    clear(
        app,
        h('a', { href: '#main', class: 'skip' }, 'Skip to content'),
        session.user && !full ? nav() : null,
        main,
    );
    if (!page) {
        clear(main, h('h1', null, 'Not found'), h('p', null, 'No page here. ', h('a', { href: '/models' }, 'Your models')));
        return;
    }
    try {
        const el = await page(main, ...match.slice(1));
        if (el instanceof Node) main.append(el);
    } catch (e) {
        main.append(h('p', { class: 'error', role: 'alert' }, e.message));
    }
    const h1 = main.querySelector('h1');
    if (h1) document.title = `${h1.textContent} · trackday`;
}

document.addEventListener('click', (e) => {
    const a = e.target.closest('a');
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    const href = a.getAttribute('href');
    if (!href || !href.startsWith('/') || href.startsWith('/api/') || a.hasAttribute('download')) return;
    e.preventDefault();
    navigate(href);
});
window.addEventListener('popstate', render);

onUnauthorized(() => {
    if (location.pathname !== '/login') {
        session.user = null;
        navigate(`/login?next=${encodeURIComponent(location.pathname)}`, true);
    }
});

async function start() {
    try {
        const s = await get('/sessions/current', { noRedirect: true });
        setCsrf(s.csrf_token);
        session.user = { id: s.user_id, username: s.username, role: s.role };
    } catch {
        session.user = null;
    }
    render();
}

hooks.render = render;

// Every table scrolls sideways inside its own region on a narrow screen (the page itself never
// does); the region is reachable with the keyboard and named by the table's caption.
function wrapTables(root) {
    for (const t of root.querySelectorAll('table')) {
        const parent = t.parentElement;
        if (parent && parent.classList.contains('table-wrap')) {
            if (!parent.hasAttribute('tabindex')) {
                parent.setAttribute('tabindex', '0');
                parent.setAttribute('role', 'region');
                parent.setAttribute('aria-label', (t.caption && t.caption.textContent) || 'Table');
            }
            continue;
        }
        const wrap = h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': (t.caption && t.caption.textContent) || 'Table' });
        t.replaceWith(wrap);
        wrap.append(t);
    }
}
new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) if (n.nodeType === 1) wrapTables(n.tagName === 'TABLE' ? n.parentElement || n : n);
}).observe(document.getElementById('app'), { childList: true, subtree: true });
start();
