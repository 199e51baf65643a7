// trackday's browser UI end to end: a real hub and worker (started here on free loopback
// ports), Debian's Chromium headless through playwright-core, axe-core's accessibility rules
// on every main page, and screenshots of each main page into docs/images/ (shown in
// docs/ui.md). Run by tests/test_web.sh (make test):
//
//   node web/test/e2e.mjs TRACKDAY [--screenshots DIR]
//
// TD_WEB_ONLY=REGEX runs the checks whose names match (the later ones build on the earlier).
import { readFileSync, mkdirSync, writeFileSync, utimesSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { Hub, Runner, launchBrowser, newPage, signIn, assert, assertEq, stopAll, startProxy, fleetFixture } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const bin = process.argv[2];
if (!bin) {
    console.error('usage: node web/test/e2e.mjs TRACKDAY [--screenshots DIR]');
    process.exit(2);
}
const shotsArg = process.argv.indexOf('--screenshots');
const shots = shotsArg > 0 ? process.argv[shotsArg + 1] : path.join(root, 'docs/images');
mkdirSync(shots, { recursive: true });

const hub = new Hub(path.resolve(bin), path.join(root, 'web/dist'));
const t = new Runner();
let browser;

async function screenshot(page, name, fullPage = false) {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(shots, `ui-${name}.png`), fullPage });
}

// axe-core in the page (evaluated through the DevTools protocol, which the page's CSP does
// not govern): no serious or critical violation.
async function axe(page, what) {
    await page.evaluate(AXE);
    const res = await page.evaluate(async () =>
        // eslint-disable-next-line no-undef
        axe.run(document, { resultTypes: ['violations'] }));
    const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert(!bad.length, `${what}: axe: ${bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`).join('; ')}`);
    return res.violations.length;
}

async function noProblems(page) {
    assert(!page.problems.length, page.problems.join('\n'));
    // Nothing the script meant to fill in shows as a programming word.
    const text = await page.evaluate(() => document.body.innerText);
    const m = /\b(undefined|null|NaN)\b|\[object Object\]/.exec(text);
    assert(!m, `the page shows "${m && m[0]}": ...${m && text.slice(Math.max(0, m.index - 60), m.index + 20)}`);
}

// Polls until fn() is true (a condition another process makes true, not a time to wait).
async function waitFor(fn, timeoutMs, what) {
    const end = Date.now() + timeoutMs;
    while (!(await fn())) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 250));
    }
}

// A model trained one iteration (trackday init, train), pushed as who's model NAME.
async function pushModel(hub, who, name) {
    const dir = path.join(hub.dir, name);
    hub.run(['init', dir, '--sensor', 'state', '--track', 'oval']);
    hub.run(['train', dir, '--iterations', '1', '--quiet']);
    const tgz = spawnSync('tar', ['czf', '-', '-C', dir, '.'], { maxBuffer: 1 << 28 });
    assertEq(tgz.status, 0, 'tar');
    const res = await fetch(`${hub.url}/api/v1/models?name=${name}`, { method: 'POST', headers: { Authorization: `Bearer ${hub.tokens[who]}`, 'Content-Type': 'application/gzip' }, body: tgz.stdout });
    assertEq(res.status, 201, `push ${name}: ${res.status}`);
    return res.json();
}

// A keyboard-only walk of a page: Tab from the top of the document to the end. Every control a
// mouse could use (links, buttons, fields, summaries, scrollable regions, the editor) must be
// reached in turn, each with a visible focus ring; in the reward editor (where Tab indents)
// Escape then Tab leaves. Returns the labels reached, in order.
async function keyboardWalk(page, what) {
    await page.evaluate(() => {
        if (document.activeElement) document.activeElement.blur();
        window.scrollTo(0, 0);
        const SEL = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]:not([tabindex="-1"]), [contenteditable="true"]';
        let n = 0;
        // Controls in open shadow roots too (the reward editor lives in one).
        const roots = [document, ...[...document.querySelectorAll('*')].filter((e) => e.shadowRoot).map((e) => e.shadowRoot)];
        for (const el of roots.flatMap((r) => [...r.querySelectorAll(SEL)])) {
            const shown = el.checkVisibility({ checkVisibilityCSS: true }) || el.classList.contains('skip');
            if (el.disabled || el.tabIndex < 0 || !shown || el.closest('[inert]')) continue;
            el.dataset.kw = el.type === 'radio' ? `radio:${el.name}` : String(n++);
        }
    });
    const all = await page.evaluate(() => {
        const roots = [document, ...[...document.querySelectorAll('*')].filter((e) => e.shadowRoot).map((e) => e.shadowRoot)];
        return [...new Set(roots.flatMap((r) => [...r.querySelectorAll('[data-kw]')]).map((e) => e.dataset.kw))];
    });
    const seen = [], labels = [];
    let stuck = 0, last = null, wrapped = false;
    for (let i = 0; i < all.length * 2 + 10; i++) {
        await page.keyboard.press('Tab');
        const f = await page.evaluate(() => {
            let el = document.activeElement;
            if (!el || el === document.body) return null;
            while (el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
            const cs = getComputedStyle(el);
            const ring = (e) => {
                const c = getComputedStyle(e);
                return (c.outlineStyle !== 'none' && parseFloat(c.outlineWidth) >= 2) || (c.boxShadow && c.boxShadow !== 'none');
            };
            const editor = el.closest('.cm-editor');
            return {
                type: el.type || '', kw: el.dataset.kw || null, tag: `${el.tagName}${el.className && typeof el.className === 'string' ? `.${el.className.split(' ').join('.')}` : ''}`, editor: !!editor,
                label: (el.getAttribute('aria-label') || el.textContent || el.name || el.id || '').trim().slice(0, 40),
                ring: ring(el) || (editor ? ring(editor) : false), visible: cs.visibility !== 'hidden',
                style: `${cs.outlineStyle} ${cs.outlineWidth}${el.matches(':focus') ? ' :focus' : ''}${el.matches(':focus-visible') ? ' :focus-visible' : ''}`,
            };
        });
        // Past the last control the focus leaves the page, then comes back at the first: the
        // walk ends when it is round again (wherever the page had its focus at the start).
        if (!f) {
            if (wrapped) break;
            wrapped = true;
            continue;
        }
        if (wrapped && f.kw && seen.includes(f.kw)) break;
        if (!f.ring && f.editor) {
            // CodeMirror marks its focus (cm-focused) on its next update.
            f.ring = await page.waitForFunction(() => {
                let el = document.activeElement;
                while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
                const ed = el && el.closest('.cm-editor');
                return !!ed && ed.classList.contains('cm-focused') && parseFloat(getComputedStyle(ed).outlineWidth) >= 2;
            }, null, { timeout: 2000 }).then(() => true, () => false);
        }
        // In a date or time field's later parts Chromium reports no :focus on the field; the part
        // itself is highlighted by the browser (its native focus cue).
        assert(f.ring || (/date|time/.test(f.type) && f.kw === last), `${what}: no visible focus on ${f.tag} "${f.label}" (outline ${f.style})`);
        if (f.kw === last) {
            stuck += 1;
            // A date and time field takes a Tab per part (day, month, year, hours, minutes...).
            assert(stuck < (/date|time/.test(f.type) ? 8 : 3), `${what}: focus is trapped on ${f.tag} "${f.label}"`);
        } else {
            stuck = 0;
        }
        last = f.kw;
        if (f.kw) seen.push(f.kw);
        labels.push(f.label);
        if (f.editor) await page.keyboard.press('Escape'); // then Tab leaves the editor
    }
    const missed = all.filter((k) => !seen.includes(k));
    if (missed.length) {
        const names = await page.evaluate((ks) => ks.map((k) => {
            const roots = [document, ...[...document.querySelectorAll('*')].filter((e) => e.shadowRoot).map((e) => e.shadowRoot)];
            const el = roots.map((r) => r.querySelector(`[data-kw="${k}"]`)).find(Boolean);
            return `${el.tagName} "${(el.getAttribute('aria-label') || el.textContent || el.name || '').trim().slice(0, 40)}"`;
        }), missed);
        assert(false, `${what}: Tab never reached ${names.join(', ')}`);
    }
    return labels;
}

// Resolves once the page's DOM has not changed for 400 ms (its data loaded and drawn), or
// after 8 s of changes (a live page: the walk takes it as it is).
function settled(page) {
    return page.evaluate(() => new Promise((resolve) => {
        let timer = setTimeout(done, 400);
        const obs = new MutationObserver(() => {
            clearTimeout(timer);
            timer = setTimeout(done, 400);
        });
        const cap = setTimeout(done, 8000);
        function done() {
            obs.disconnect();
            clearTimeout(cap);
            resolve();
        }
        obs.observe(document.body, { childList: true, subtree: true, attributes: true, characterData: true });
    }));
}

// Presses Tab until the focused element's label matches re, then key (Enter or Space).
async function tabToAndPress(page, re, key, what) {
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    for (let i = 0; i < 200; i++) {
        await page.keyboard.press('Tab');
        const label = await page.evaluate(() => {
            let el = document.activeElement;
            while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
            if (el && el.closest('.cm-editor')) return '\u0000editor';
            return el ? (el.getAttribute('aria-label') || (el.labels && el.labels[0] && el.labels[0].textContent) || el.textContent || '').trim() : '';
        });
        if (label === '\u0000editor') await page.keyboard.press('Escape');
        if (re.test(label)) {
            await page.keyboard.press(key);
            return;
        }
    }
    throw new Error(`${what}: Tab never reached ${re}`);
}

async function noHorizontalScroll(page, what) {
    const w = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert(w[0] <= w[1] + 1, `${what}: the page is ${w[0]} px wide in a ${w[1]} px window`);
}

try {
    await hub.start();
    await hub.startWorker();
    const alicePw = await hub.user('alice', 'learner');
    await hub.user('ivan', 'instructor');
    browser = await launchBrowser();
    const page = await newPage(browser, hub);

    await t.check('pages_are_served_with_csp_and_cache_headers', async () => {
        const res = await fetch(`${hub.url}/models`);
        assertEq(res.status, 200, 'a router path answers index.html');
        const csp = res.headers.get('content-security-policy');
        const directive = (name) => (new RegExp(`(?:^|;)\\s*${name} ([^;]*)`).exec(csp) || [])[1];
        assertEq(directive('script-src'), "'self'", `script-src of ${csp}`);
        assertEq(directive('style-src'), "'self'", `style-src of ${csp}`);
        assertEq(directive('default-src'), "'self'", `default-src of ${csp}`);
        assertEq(directive('object-src'), "'none'");
        assertEq(directive('frame-ancestors'), "'none'");
        assertEq(res.headers.get('cache-control'), 'no-cache', 'index.html is revalidated');
        const html = await res.text();
        assert(!/<script(?![^>]*\bsrc=)[^>]*>/.test(html), 'no inline script in index.html');
        const js = /src="(\/assets\/app-[A-Z0-9]+\.js)"/.exec(html);
        assert(js, 'a content-hashed script');
        const a = await fetch(hub.url + js[1]);
        assertEq(a.status, 200);
        assert(/immutable/.test(a.headers.get('cache-control')), 'hashed assets are immutable');
        assert(/javascript/.test(a.headers.get('content-type')));
    });

    await t.check('sign_in_refused_with_the_hubs_words', async () => {
        await page.goto('/');
        await page.waitForURL(/\/login/);
        await page.getByLabel('User name').fill('alice');
        await page.getByLabel('Password').fill('not-her-password');
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByRole('alert').filter({ hasText: 'wrong user name or password' }).waitFor();
        await axe(page, 'sign-in page');
        await screenshot(page, 'sign-in');
    });

    await t.check('sign_in_sets_an_httponly_strict_cookie_script_cannot_read', async () => {
        await signIn(page, 'alice', alicePw);
        await page.getByRole('heading', { name: 'Models' }).waitFor();
        const cookies = await page.context().cookies();
        const c = cookies.find((x) => x.name === 'td_session');
        assert(c, 'a td_session cookie');
        assert(c.httpOnly, 'HttpOnly');
        assertEq(c.sameSite, 'Strict');
        const visible = await page.evaluate(() => document.cookie);
        assert(!visible.includes('td_session'), 'script cannot read the session');
    });

    await t.check('changes_need_the_csrf_token_and_bearer_clients_still_work', async () => {
        const r = await page.evaluate(async () => {
            const res = await fetch('/api/v1/models/1', { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: '{"description":"x"}' });
            return [res.status, await res.json()];
        });
        assertEq(r[0], 403, 'a cookie request without X-CSRF-Token');
        assertEq(r[1].error.code, 'csrf');
        const me = await hub.api('GET', '/users/me', undefined, 'alice');
        assertEq(me.username, 'alice', 'a bearer token works as before');
        const s = await page.evaluate(async () => (await fetch('/api/v1/sessions/current')).json());
        assert(/^csrf_/.test(s.csrf_token), 'the session tells its page its CSRF token');
    });

    let modelId;
    await t.check('a_learner_creates_a_model_from_a_template', async () => {
        await page.getByRole('link', { name: 'New model', exact: true }).click();
        await page.getByRole('heading', { name: 'New model' }).waitFor();
        const form = page.locator('form.new-model');
        // The DeepRacer on AWS console's new model (as `trackday init`): the front camera, PPO,
        // continuous steering -10..10 degrees and speed 1..2 m/s, its follow-the-centre-line
        // reward; its track, reInvent2019_wide_cw, is not on this hub: the hub's first track is
        // proposed, and the form says so.
        await form.locator('figcaption', { hasText: 'Continuous range' }).waitFor();
        assertEq(await page.getByLabel('Sensor').inputValue(), 'camera', 'the console\'s sensor');
        assert(await form.locator('input[type=radio][value=continuous]').isChecked(), 'continuous by default');
        assert(await form.locator('input[type=radio][value=ppo]').isChecked(), 'PPO by default');
        for (const [label, v] of [['Lowest steering angle (degrees)', '-10'], ['Highest steering angle (degrees)', '10'],
            ['Lowest speed (m/s)', '1'], ['Highest speed (m/s)', '2']])
            assertEq(await page.getByLabel(label).inputValue(), v, label);
        assertEq(await page.getByLabel('Starting reward function').inputValue(), 'follow_center_line', 'the console\'s reward');
        const hubTracks = (await hub.api('GET', '/tracks', undefined, 'alice')).tracks;
        assert(!hubTracks.some((x) => x.name === 'reInvent2019_wide_cw'), 'the harness hub has no reInvent2019_wide_cw');
        assertEq(await page.getByLabel('Track', { exact: true }).inputValue(), hubTracks[0].name, 'the hub\'s first track');
        await form.getByText(`A to Z Speedway clockwise (reInvent2019_wide_cw), is not on this hub: its first track, ${hubTracks[0].name}, is proposed`).waitFor();
        // The picture of docs/ui.md: the form as it is proposed (the whole page: the car's
        // section is below the fold), before the changes below.
        await page.getByLabel('Model name').fill('first-car');
        await screenshot(page, 'new-model', true);
        // SAC starts from the console's mean squared error, PPO from Huber.
        await form.locator('input[type=radio][value=sac]').check();
        assertEq(await page.getByLabel('Loss type').inputValue(), 'mean squared error', 'SAC\'s loss');
        await form.locator('input[type=radio][value=ppo]').check();
        assertEq(await page.getByLabel('Loss type').inputValue(), 'huber', 'PPO\'s loss');
        // Discrete: the console's grid, `trackday init --discrete` (30 degrees in 5, 1 m/s in 2,
        // each steering angle at both speeds).
        await form.locator('input[type=radio][value=discrete]').check();
        // The action grid follows the numbers as they change: 5 x 2 by default, 7 x 3 after.
        await form.locator('figcaption', { hasText: '10 actions' }).waitFor();
        await form.getByText('0: -30°, 0.5 m/s; 1: -30°, 1 m/s; 2: -15°, 0.5 m/s;').waitFor();
        await page.getByLabel('Sensor').selectOption('state');
        await page.getByLabel('Steering angle granularity').selectOption('7');
        await page.getByLabel('Speed granularity').selectOption('3');
        await form.locator('figcaption', { hasText: '21 actions' }).waitFor();
        assertEq(await page.locator('svg.action-grid .action-dot').count(), 21, 'one dot per action');
        // DeepRacer's range: 4 m/s at most, said next to the field.
        await page.getByLabel('Maximum speed (m/s)').fill('5');
        await form.getByText('Maximum speed must be 0.1 to 4 m/s').waitFor();
        await page.getByLabel('Maximum speed (m/s)').fill('2.4');
        await page.getByLabel('Model name').fill('first-car');
        await page.getByLabel('Track', { exact: true }).selectOption('oval');
        await page.locator('details summary').click();
        await page.getByLabel('Learning rate').fill('0.0005');
        await axe(page, 'new model page');
        await page.getByRole('button', { name: 'Create model' }).click();
        await page.waitForURL(/\/models\/\d+$/);
        modelId = Number(/\/models\/(\d+)/.exec(page.url())[1]);
        await page.getByRole('heading', { name: 'first-car' }).waitFor();
        const v = await hub.api('GET', `/models/${modelId}/versions/latest`, undefined, 'alice');
        assertEq(v.model_metadata.action_space.length, 21, 'the uploaded action space');
        assertEq(v.model_metadata.action_space[20].speed, 2.4, 'the fastest action');
        assertEq(v.model_metadata.action_space[0].steering_angle, -30);
        assertEq(v.model_metadata.action_space[1].steering_angle, -30, 'each steering angle at every speed, as the console orders them');
        assertEq(JSON.stringify(v.model_metadata.sensor), '["STATE"]', 'the sensor chosen');
        assertEq(v.hyperparameters.lr, 0.0005, 'the learning rate typed');
        assertEq(v.track, 'oval');
        assert(/def reward_function/.test(v.reward_function), 'a starting reward function');
        await noProblems(page);
    });

    await t.check('the_consoles_track_is_proposed_when_the_hub_has_it', async () => {
        // The hub's list as it would be with DeepRacer's reInvent2019_wide_cw.npy in its tracks.
        const real = (await hub.api('GET', '/tracks', undefined, 'alice')).tracks;
        await page.route('**/api/v1/tracks', (route) => route.fulfill({
            contentType: 'application/json',
            body: JSON.stringify({ tracks: [...real, { name: 'reInvent2019_wide_cw', source: 'deepracer' }] }),
        }));
        try {
            await page.goto('/models/new');
            await page.getByRole('heading', { name: 'New model' }).waitFor();
            assertEq(await page.getByLabel('Track', { exact: true }).inputValue(), 'reInvent2019_wide_cw', 'the console\'s track');
            await page.getByText('Proposed: DeepRacer\'s default, A to Z Speedway clockwise (reInvent2019_wide_cw).').waitFor();
        } finally {
            await page.unroute('**/api/v1/tracks');
        }
    });

    await t.check('a_taken_name_is_refused_next_to_the_name', async () => {
        await page.goto('/models/new');
        await page.getByLabel('Model name').fill('first-car');
        await page.getByRole('button', { name: 'Create model' }).click();
        const err = page.locator('#' + (await page.getByLabel('Model name').getAttribute('id')) + '-err');
        await err.filter({ hasText: /first-car|taken|exists/ }).waitFor();
        assertEq(await page.getByLabel('Model name').getAttribute('aria-invalid'), 'true');
    });

    await t.check('models_page_lists_the_model_and_fits_a_phone', async () => {
        await page.goto('/models');
        await page.getByRole('link', { name: 'first-car' }).waitFor();
        await axe(page, 'models page');
        await screenshot(page, 'models');
        await page.setViewportSize({ width: 390, height: 844 });
        await page.goto('/models/new');
        await page.getByRole('heading', { name: 'New model' }).waitFor();
        await noHorizontalScroll(page, 'new model at 390 px');
        await page.goto('/models');
        await page.getByRole('link', { name: 'first-car' }).waitFor();
        await noHorizontalScroll(page, 'models at 390 px');
        await page.setViewportSize({ width: 1280, height: 720 });
        await noProblems(page);
    });

    await t.check('keyboard_reaches_the_form_and_submits_it', async () => {
        await page.goto('/models');
        await page.getByRole('link', { name: 'first-car' }).waitFor();
        // Tab from the top: the skip link first, then on to "New model".
        await page.keyboard.press('Tab');
        const first = await page.evaluate(() => document.activeElement.textContent);
        assertEq(first, 'Skip to content');
        let found = false;
        for (let i = 0; i < 15 && !found; i++) {
            await page.keyboard.press('Tab');
            found = (await page.evaluate(() => document.activeElement.textContent)) === 'New model';
        }
        assert(found, 'New model is reachable with Tab');
        await page.keyboard.press('Enter');
        await page.getByRole('heading', { name: 'New model' }).waitFor();
    });

    await t.check('reward_editor_marks_a_syntax_error_at_its_line_then_passes', async () => {
        await page.goto(`/models/${modelId}/reward`);
        const editor = page.locator('.cm-content');
        await editor.waitFor();
        await page.locator('.check-status', { hasText: /No errors/ }).waitFor();
        await editor.click();
        await page.keyboard.press('Control+a');
        await page.keyboard.insertText('def reward_function(params):\n    speed = params["speed"\n    return float(speed)\n');
        // The check runs in the hub's sandbox; its error is marked in the editor at line 2 or 3
        // (Python names the line where the bracket is found unclosed) and listed in words.
        await page.locator('.check-status.error').waitFor();
        const item = page.locator('ul.issues li.error').first();
        await item.waitFor();
        const text = await item.textContent();
        assert(/^Line [23]/.test(text) && /SyntaxError|never closed|invalid syntax/.test(text), `the issue in words: ${text}`);
        const line = Number(/^Line (\d+)/.exec(text)[1]);
        const marked = await page.locator('.cm-lint-marker-error').count();
        assert(marked >= 1, 'an error marker in the gutter');
        const underlined = await page.locator('.cm-line').nth(line - 1).locator('.cm-lintRange-error').count();
        assert(underlined >= 1, `line ${line} is underlined`);
        await axe(page, 'reward editor with an error');
        await screenshot(page, 'reward-editor');
        // Fixed: the markers go and the report says so.
        await editor.click();
        await page.keyboard.press('Control+a');
        await page.keyboard.insertText('def reward_function(params):\n    if not params["all_wheels_on_track"]:\n        return 1e-3\n    return float(1.0 - params["distance_from_center"] / params["track_width"])\n');
        await page.locator('.check-status.ok', { hasText: /No errors/ }).waitFor();
        assertEq(await page.locator('.cm-lint-marker-error').count(), 0, 'no error marker left');
        await page.getByRole('button', { name: 'Save as a new version' }).click();
        await page.getByText(/Saved as version 2/).waitFor();
        const v = await hub.api('GET', `/models/${modelId}/versions/latest`, undefined, 'alice');
        assertEq(v.version, 2);
        assert(/distance_from_center/.test(v.reward_function), 'the saved reward');
        assertEq(v.model_metadata.action_space.length, 21, 'the other files carried over');
        await page.getByRole('button', { name: 'Explain' }).click();
        await page.locator('img.explain-picture').waitFor();
        assert(/racing line/.test(await page.locator('pre.explain-text').textContent()), 'the explain table');
        await noProblems(page);
    });


    await t.check('training_shows_live_curves_that_grow_then_a_new_version', async () => {
        const before = (await hub.api('GET', `/models/${modelId}`, undefined, 'alice')).latest_version;
        await page.goto(`/models/${modelId}/train`);
        await page.getByRole('heading', { name: /Train version/ }).waitFor();
        // One full minute (issue 14): the curve grows over the whole run.
        const t0 = Date.now();
        await page.getByLabel('Time limit (minutes)').fill('1');
        await page.getByLabel('Track', { exact: true }).selectOption('oval');
        await page.getByRole('button', { name: 'Start training' }).click();
        const live = page.locator('section.job-live');
        await live.locator('.job-state', { hasText: /running/ }).waitFor({ timeout: 60000 });
        // The chart gets a first point, then more as iterations arrive over the event stream.
        await page.waitForFunction(() => Number(document.querySelector('section.job-live').dataset.points || 0) >= 1, null, { timeout: 60000 });
        const first = Number(await live.getAttribute('data-points'));
        await page.waitForFunction((n) => Number(document.querySelector('section.job-live').dataset.points || 0) >= n + 2, first, { timeout: 60000 });
        await screenshot(page, 'training');
        await axe(page, 'training page');
        // Half-way through the minute the curve has more points than at the start.
        await page.waitForFunction(([n, at]) => Date.now() >= at && Number(document.querySelector('section.job-live').dataset.points || 0) > n,
            [first + 2, t0 + 30000], { timeout: 120000, polling: 500 });
        await live.getByText(/Trained: version \d+/).waitFor({ timeout: 150000 });
        const points = Number(await live.getAttribute('data-points'));
        assert(points >= 6, `the curve grew to ${points} points over the minute`);
        const job = (await hub.api('GET', `/jobs?limit=5`, undefined, 'alice')).jobs.find((j) => j.type === 'train' && j.state === 'succeeded');
        assert(job && job.used_minutes >= 0.9 && job.max_minutes === 1, `a one-minute run: ${JSON.stringify(job && { used: job.used_minutes, max: job.max_minutes })}`);
        // The uPlot series hold those points (drawn, not only counted).
        const rows = await live.locator('details tbody tr').count();
        assertEq(rows, points, 'one table row per iteration');
        const m = await hub.api('GET', `/models/${modelId}`, undefined, 'alice');
        assertEq(m.latest_version, before + 1, 'the trained version');
        await noProblems(page);
    });


    await t.check('live_curves_survive_a_lost_connection', async () => {
        // alice's browser reaches the hub through a proxy whose connections are cut mid-run.
        const proxy = await startProxy(hub.url);
        const p2 = await newPage(browser, { url: proxy.url });
        try {
            await signIn(p2, 'alice', alicePw);
            await p2.goto(`/models/${modelId}/train`);
            await p2.getByLabel('Time limit (minutes)').fill('0.25');
            await p2.getByLabel('Track', { exact: true }).selectOption('oval');
            await p2.getByRole('button', { name: 'Start training' }).click();
            const live = p2.locator('section.job-live');
            await p2.waitForFunction(() => Number(document.querySelector('section.job-live').dataset.points || 0) >= 1, null, { timeout: 60000 });
            assert(proxy.cut() > 0, 'connections were cut');
            await live.getByText('Connection lost: reconnecting…').waitFor();
            const before = Number(await live.getAttribute('data-points'));
            // The stream comes back (Last-Event-ID) and the curve goes on to the end.
            await live.getByText(/Trained: version \d+/).waitFor({ timeout: 90000 });
            assertEq(await live.getAttribute('data-connection'), 'open', 'reconnected');
            const after = Number(await live.getAttribute('data-points'));
            assert(after > before, `points after the reconnection: ${before} -> ${after}`);
            // Every iteration once: no gap and no duplicate from the resumed stream.
            const its = (await live.locator('details tbody tr td:first-child').allTextContents()).map(Number);
            assertEq(new Set(its).size, its.length, 'no iteration twice');
            assertEq(its[its.length - 1] - its[0] + 1, its.length, `no iteration missing: ${its.join(',')}`);
            // The browser logs the cut stream (net::ERR_...); anything else is a problem.
            p2.problems = p2.problems.filter((x) => !/net::ERR_(INCOMPLETE_CHUNKED_ENCODING|EMPTY_RESPONSE|CONNECTION_(RESET|CLOSED))/.test(x));
            await noProblems(p2);
        } finally {
            await p2.context().close();
            await proxy.close();
        }
    });

    await t.check('evaluation_report_and_replay_play_pause_scrub', async () => {
        await page.goto(`/models/${modelId}/evaluate`);
        await page.getByRole('heading', { name: /Evaluate version/ }).waitFor();
        await page.getByLabel('Laps').fill('1');
        await page.getByLabel('Track', { exact: true }).selectOption('oval');
        await page.getByRole('button', { name: 'Evaluate', exact: true }).click();
        const out = page.locator('section.evaluation');
        await out.locator('.job-state', { hasText: /succeeded|failed/ }).waitFor({ timeout: 90000 });
        await out.getByRole('table', { name: 'Laps' }).waitFor();
        // The track from its geometry: road, borders, centre line; the path coloured by speed.
        const svg = out.locator('svg.replay');
        await svg.waitFor();
        assertEq(await svg.locator('polygon.road').count(), 1, 'the road');
        const segs = await svg.locator('line.seg').count();
        assert(segs > 10, `the car's path: ${segs} segments`);
        const colours = await svg.locator('line.seg').evaluateAll((ls) => new Set(ls.map((l) => l.getAttribute('stroke'))).size);
        assert(colours > 2, `speed colours: ${colours}`);
        const box = out.locator('section.replay-box');
        const carAt = () => svg.locator('g.car').getAttribute('transform');
        const start = await carAt();
        // Play: the car moves along; pause: it stays.
        await box.getByRole('button', { name: 'Play' }).click();
        await page.waitForFunction(() => Number(document.querySelector('section.replay-box').dataset.step) > 5);
        await box.getByRole('button', { name: 'Pause' }).click();
        const paused = await box.getAttribute('data-step');
        const pausedAt = await carAt();
        assert(pausedAt !== start, 'the car moved');
        assertEq(await box.getByRole('button', { name: 'Play' }).getAttribute('aria-pressed'), 'false');
        assertEq(await box.getAttribute('data-playing'), 'false', 'the animation stopped');
        assertEq(await box.getAttribute('data-step'), paused, 'paused stays');
        // Scrub with the keyboard: End goes to the last step.
        const scrub = box.getByRole('slider', { name: 'Position in the replay' });
        await scrub.focus();
        await page.keyboard.press('End');
        const last = Number(await scrub.getAttribute('max'));
        await page.waitForFunction((n) => Number(document.querySelector('section.replay-box').dataset.step) === n, last);
        assert(/step \d+ of \d+/.test(await scrub.getAttribute('aria-valuetext')), 'the slider says where it is');
        // The car's camera at that step: a picture the hub renders from the simtrace's pose.
        const cam = box.locator('figure.camera-view');
        await page.waitForFunction((n) => document.querySelector('figure.camera-view').dataset.step === String(n), last);
        const endSrc = await cam.locator('img').getAttribute('src');
        assertEq(await cam.locator('img').evaluate((im) => [im.naturalWidth, im.naturalHeight].join('x')), '160x120', 'a camera frame');
        assertEq(await cam.locator('img').getAttribute('alt'), `The car\u2019s camera at step ${last + 1}`);
        await page.keyboard.press('Home');
        await page.waitForFunction(() => document.querySelector('section.replay-box').dataset.step === '0');
        assertEq(await carAt(), start, 'back at the start');
        await page.waitForFunction(() => document.querySelector('figure.camera-view').dataset.step === '0');
        assert((await cam.locator('img').getAttribute('src')) !== endSrc, 'the camera follows the scrubber');
        await axe(page, 'evaluation and replay');
        await box.scrollIntoViewIfNeeded();
        await page.screenshot({ path: path.join(shots, 'ui-replay.png') });
        await noProblems(page);
    });

    await t.check('compare_two_versions_curves_and_laps', async () => {
        const m = await hub.api('GET', `/models/${modelId}`, undefined, 'alice');
        const trained = m.versions.filter((v) => v.source === 'train').map((v) => v.version);
        assert(trained.length >= 2, `two trained versions: ${trained}`);
        await page.goto(`/models/${modelId}/compare`);
        await page.getByLabel('Version A (solid)').selectOption(String(trained[0]));
        await page.getByLabel('Version B (dashed)').selectOption(String(trained[1]));
        await page.waitForFunction((v) => document.querySelector('.tab-panel').dataset.compared === v, `${trained[0]},${trained[1]}`);
        // Both curves on each chart: uPlot draws one path per series.
        assertEq(await page.locator('figure.chart').count(), 4);
        const text = await page.locator('.tab-panel').innerText();
        assert(new RegExp(`v${trained[0]}: [1-9]\\d* iterations`).test(text) && new RegExp(`v${trained[1]}: [1-9]\\d* iterations`).test(text), text.slice(0, 300));
        await page.getByRole('table', { name: 'Evaluations of the two versions' }).waitFor();
        await axe(page, 'compare');
        await screenshot(page, 'compare');
        await noProblems(page);
    });

    let bobPw;
    const ivan = await newPage(browser, hub);
    await t.check('an_instructor_makes_a_class_from_a_csv_roster', async () => {
        await signIn(ivan, 'ivan', 'ivan-password-1');
        await ivan.getByRole('link', { name: 'Classes' }).click();
        await ivan.getByRole('heading', { name: 'Classes' }).waitFor();
        await ivan.getByLabel('Class name').fill('ML 101');
        await ivan.getByRole('button', { name: 'Create class' }).click();
        await ivan.getByRole('heading', { name: 'ML 101' }).waitFor();
        const code = (await ivan.locator('.join-code').textContent()).trim();
        assert(/^[A-Z0-9]{6,}$/.test(code), `a join code: ${code}`);
        // A roster with a header, a learner, a display name and a bad line.
        await ivan.getByLabel(/Roster CSV/).fill('name,email,role\nbob,bob@example.org,learner\nDan Smith,dan.smith@example.org,\n,,\nx y z,not-an-email,pilot\n');
        await ivan.getByRole('button', { name: 'Import roster' }).click();
        await ivan.getByText(/2 accounts created/).waitFor();
        const row = ivan.locator('.import-result tr', { hasText: 'bob' });
        bobPw = (await row.locator('code').textContent()).trim();
        assert(bobPw.length >= 8, 'bob\'s first password is shown');
        // The refused line is said with its number, next to the roster field.
        await ivan.locator('.import-result li.error', { hasText: /^Line 5/ }).waitFor();
        await ivan.locator('#roster-h ~ .table-wrap tbody tr', { hasText: 'dan.smith' }).waitFor();
        await axe(ivan, 'class page');
        await screenshot(ivan, 'class');
        await noProblems(ivan);
    });

    await t.check('a_quota_the_instructor_sets_refuses_a_learners_job_with_its_message', async () => {
        await ivan.getByLabel('Training minutes a month').fill('0');
        await ivan.getByRole('button', { name: 'Save quota' }).click();
        await ivan.getByText('Quota saved.').waitFor();
        const bob = await newPage(browser, hub);
        await signIn(bob, 'bob', bobPw);
        await bob.goto('/models/new');
        await bob.getByLabel('Model name').fill('bobs-car');
        await bob.getByLabel('Track', { exact: true }).selectOption('oval');
        await bob.getByRole('button', { name: 'Create model' }).click();
        await bob.waitForURL(/\/models\/\d+$/);
        await bob.getByRole('link', { name: 'Train' }).click();
        await bob.getByLabel('Time limit (minutes)').fill('1');
        await bob.getByRole('button', { name: 'Start training' }).click();
        const alert = bob.locator('#train-error');
        await alert.waitFor();
        const text = await alert.textContent();
        assert(/training quota/.test(text) && /resets on \d{4}-\d\d-\d\d/.test(text) && /ML 101/.test(text), `the quota refusal in words: ${text}`);
        await screenshot(bob, 'quota-refused');
        await bob.goto('/classes');
        await bob.getByRole('heading', { name: 'My quota' }).waitFor();
        await axe(bob, 'my classes page');
        await noProblems(bob);
        await bob.context().close();
    });

    await t.check('jobs_and_workers_pages', async () => {
        await ivan.goto('/jobs');
        await ivan.getByRole('heading', { name: 'Jobs' }).waitFor();
        // The instructor sees the jobs of their classes' learners only: alice is in no class.
        await axe(ivan, 'jobs page');
        const admin = await newPage(browser, hub);
        await signIn(admin, 'admin', 'admin-password-1');
        await admin.goto('/jobs');
        await admin.locator('tbody tr', { hasText: 'alice' }).first().waitFor();
        await screenshot(admin, 'jobs');
        await admin.getByRole('link', { name: 'Workers' }).click();
        await admin.getByRole('heading', { name: 'Workers' }).waitFor();
        await admin.getByLabel('Worker name').fill('lab-pc-7');
        await admin.getByRole('button', { name: 'Register' }).click();
        const cmd = await admin.locator('pre', { hasText: 'trackday worker --hub' }).textContent();
        assert(/--token tdw_/.test(cmd), 'the new worker\'s token, once');
        await axe(admin, 'workers page');
        await screenshot(admin, 'workers');
        await noProblems(admin);
        await admin.context().close();
    });


    await t.check('admin_storage_page_dry_run_then_collect', async () => {
        // An orphan two hours old (an upload whose rows were never written): the page counts it,
        // the dry run names it and deletes nothing, the run deletes it.
        const content = 'an orphaned upload\n';
        const sha = createHash('sha256').update(content).digest('hex');
        const dir = path.join(hub.data, 'blobs', sha.slice(0, 2));
        mkdirSync(dir, { recursive: true });
        const blob = path.join(dir, sha);
        writeFileSync(blob, content);
        const old = new Date(Date.now() - 2 * 3600 * 1000);
        utimesSync(blob, old, old);
        const admin = await newPage(browser, hub);
        await signIn(admin, 'admin', 'admin-password-1');
        await admin.getByRole('link', { name: 'Storage' }).click();
        await admin.getByRole('heading', { name: 'Storage', exact: true }).waitFor();
        // Other orphans may be there, newer (uploads refused earlier in this run): only this one is old.
        const before = await hub.api('GET', '/admin/storage', undefined, 'admin');
        assert(before.orphaned.count >= 1 && before.orphaned.older_than_an_hour === 1, JSON.stringify(before.orphaned));
        await admin.locator('dd.orphaned', { hasText: `${before.orphaned.count} · ` }).filter({ hasText: '(1 older than an hour)' }).waitFor();
        assert(Number(await admin.locator('main').getAttribute('data-blobs')) > 3, 'the stored files are counted');
        await admin.getByRole('table', { name: 'Storage by user' }).getByRole('cell', { name: 'alice', exact: true }).waitFor();
        await admin.getByRole('table', { name: 'Storage by model' }).getByRole('link', { name: 'first-car' }).waitFor();
        // The run is offered only after a dry run.
        const run = admin.getByRole('button', { name: 'Delete these files' });
        assert(await run.isDisabled(), 'no run before a dry run');
        await admin.getByRole('button', { name: 'Dry run' }).click();
        await admin.getByText('Dry run: the collection would delete 1 unused file (19 bytes), 0 filesets. Nothing was deleted.').waitFor();
        assert(existsSync(blob), 'the dry run deleted nothing');
        await axe(admin, 'storage page');
        await screenshot(admin, 'storage');
        await run.click();
        await admin.getByText('Deleted 1 unused file (19 bytes), 0 filesets.').waitFor();
        assert(!existsSync(blob), 'the run deleted the orphan');
        await admin.waitForFunction((n) => document.querySelector('main').dataset.orphans === String(n), before.orphaned.count - 1);
        // A bad number is said next to its field.
        await admin.getByLabel('Only files unchanged for (hours)').fill('-1');
        await admin.getByRole('button', { name: 'Dry run' }).click();
        await admin.getByText('A number of hours, 0 or more').waitFor();
        await noProblems(admin);
        await admin.context().close();
    });

    let fleet;
    await t.check('fleet_pages_show_cars_deployments_alerts_and_a_drift_report', async () => {
        // Three cars registered with their own keys, a canary deployment they installed, and
        // telemetry: car-3's inputs and laps moved (docs/api.md "Fleet", "Telemetry").
        const f = await fleetFixture(hub);
        fleet = f;
        const car3 = f.devices[2];
        const alerts = (await hub.api('GET', '/alerts?state=active', undefined, 'admin')).alerts;
        assert(alerts.length >= 1 && alerts.every((a) => a.device_id === car3.id), `alerts: ${JSON.stringify(alerts)}`);
        const admin = await newPage(browser, hub);
        await signIn(admin, 'admin', 'admin-password-1');
        await admin.getByRole('link', { name: 'Fleet' }).click();
        await admin.getByRole('heading', { name: 'Fleet', exact: true }).waitFor();
        const cars = admin.getByRole('table', { name: 'Cars' });
        for (const d of f.devices) {
            const row = cars.locator(`tr[data-device="${d.id}"]`);
            await row.getByRole('link', { name: d.name }).waitFor();
            assert(/^car \(bundle 1, [0-9a-f]{12}\)$/.test(await row.locator('td.running').innerText()), `${d.name} runs the bundle`);
            const health = await row.locator('td.health').innerText();
            assert(health.startsWith('online'), `${d.name}: ${health}`);
            assert(d === car3 ? /alert/.test(health) : /\bok\b/.test(health), `${d.name}'s health: ${health}`);
        }
        const dep = admin.getByRole('table', { name: 'Deployments' }).locator(`tr[data-deployment="${f.deployment}"]`);
        await dep.getByText('succeeded').waitFor();
        assertEq(await dep.locator('td.rollout').innerText(), '3 installed', 'the rollout');
        const alertTable = admin.getByRole('table', { name: /Active alerts/ });
        assertEq(await alertTable.locator('tbody tr[data-alert]').count(), alerts.length, 'one row per active alert');
        await alertTable.getByRole('cell', { name: /state\.\d+ PSI/ }).first().waitFor();
        await axe(admin, 'fleet page');
        await screenshot(admin, 'fleet');
        // Acknowledge the input-drift alert: the hub has it acknowledged.
        const input = alerts.find((a) => a.check === 'input_drift');
        await admin.getByRole('button', { name: `Acknowledge alert ${input.id}` }).click();
        await admin.getByText(`Alert ${input.id} acknowledged.`).waitFor();
        assertEq((await hub.api('GET', `/alerts/${input.id}`, undefined, 'admin')).state, 'acknowledged');
        // The car's drift report: the checks, the charts over its windows, the features.
        await cars.getByRole('link', { name: 'car-3' }).click();
        await admin.getByRole('heading', { name: 'car-3' }).waitFor();
        await admin.locator('main[data-drift-level="alert"]').waitFor();
        const checks = admin.getByRole('table', { name: 'Checks over these windows' });
        await checks.locator('tr[data-check="input_drift"]').getByText('alert').waitFor();
        await checks.locator('tr[data-check="lap_time"]').getByText('alert').waitFor();
        await checks.locator('tr[data-check="action_drift"]').getByText('ok').waitFor();
        const charts = admin.locator('section.drift .charts:not(.histograms) figure.chart');
        assertEq(await charts.count(), 5, 'four checks over the windows and the lap times');
        assertEq(await charts.first().getAttribute('data-points'), '6', 'one point per window');
        assert(/first alert at window 4/.test(await charts.first().locator('[role=img]').getAttribute('aria-label')), 'the first alert is marked (window 4: the shift began at 3, the hysteresis waits a window)');
        const laps = charts.nth(4);
        // The change point the page marks is the hub's (its lap-time check: docs/drift.md).
        const tl = (await hub.api('GET', `/devices/${car3.id}/drift`, undefined, 'admin')).timeline;
        assert(tl.lap_times_s.length === 18 && tl.lap_change_at != null, `the hub found a change point in 18 laps: ${JSON.stringify(tl)}`);
        const lapLabel = await laps.locator('[role=img]').getAttribute('aria-label');
        assert(lapLabel.includes(`18 lap times, the change point at lap ${tl.lap_change_at + 1}`), `the lap times and the change point: ${lapLabel}`);
        const feature = admin.getByRole('table', { name: 'Features, the most drifted first' }).locator('tbody tr').first();
        assert(/^state\.\d+/.test(await feature.locator('td').first().innerText()), 'a moved track-state input first');
        // The most drifted features' distributions, the reference's against the current windows'
        // (car-3's track-state inputs moved up): the chart draws the hub's bins.
        const hists = admin.locator('section.drift figure.histogram');
        const withBins = (await hub.api('GET', `/devices/${car3.id}/drift?histograms=1`, undefined, 'admin')).histograms;
        assert(withBins, 'the hub gives the drift report\'s bins (?histograms=1)');
        assertEq(await hists.count(), 4, 'four histograms');
        const top = await hists.first().getAttribute('data-feature');
        {
        assertEq(top, await feature.locator('td').first().innerText(), 'the most drifted first');
        const bins = (await hub.api('GET', `/devices/${car3.id}/drift?histograms=1`, undefined, 'admin')).histograms[top];
        const meanOf = (a) => {
            const w = (bins.hi - bins.lo) / (a.length - 2), t = a.reduce((x, y) => x + y, 0);
            return a.reduce((acc, c, k) => acc + (c / t) * (bins.lo + (k - 0.5) * w), 0);
        };
        const means = /mean (-?[\d.]+)\).*mean (-?[\d.]+)\)/.exec(await hists.first().locator('[role=img]').getAttribute('aria-label'));
        assert(means, 'the chart says its means');
        assertEq(Number(means[1]), Number(meanOf(bins.reference).toFixed(2)), 'the reference drawn');
        assertEq(Number(means[2]), Number(meanOf(bins.current).toFixed(2)), 'the current windows drawn');
        assert(Number(means[2]) > Number(means[1]) + 0.1, `the current distribution moved up: ${means[1]} -> ${means[2]}`);
        await hists.first().scrollIntoViewIfNeeded();
        await admin.screenshot({ path: path.join(shots, 'ui-drift-histograms.png') });
        }
        // Closing the loop from the alert: the retrain form asks the hub and says its answer.
        const routes = Object.keys((await hub.api('GET', '/openapi.json', undefined, 'admin')).paths);
        const retrain = admin.locator('form.retrain');
        await retrain.waitFor();
        assert(routes.includes('/api/v1/alerts/{id}/retrain'), 'the hub retrains from an alert');
        {
            await retrain.getByLabel('Alert').selectOption(String(input.id));
            await retrain.getByLabel('Model to retrain').selectOption(String(modelId));
            await retrain.getByLabel('Training minutes').fill('0.5');
            await retrain.getByRole('button', { name: 'Retrain' }).click();
            const said = retrain.locator('p.ok, p.error');
            await said.waitFor();
            if (await retrain.locator('p.error').count()) {
                // The same request from the API: the page shows the hub's words.
                const r = await fetch(`${hub.url}/api/v1/alerts/${input.id}/retrain`, { method: 'POST', headers: { Authorization: `Bearer ${hub.tokens.admin}`, 'Content-Type': 'application/json' },
                    body: JSON.stringify({ model: modelId, minutes: 0.5 }) });
                assert(r.status >= 400, `the hub refused it from the page but not from the API: ${r.status}`);
                assertEq(await retrain.locator('p.error').innerText(), (await r.json()).error.message, 'the refusal in the hub\'s words');
            } else {
                assert(/^Training job \d+ queued/.test(await said.innerText()), await said.innerText());
            }
        }
        await admin.getByRole('link', { name: /HTML report/ }).waitFor();
        await admin.getByRole('table', { name: /Alerts of car-3/ }).getByText('acknowledged').first().waitFor();
        await admin.getByRole('table', { name: 'History of car-3' }).getByText('installed').first().waitFor();
        await axe(admin, 'drift report page');
        await screenshot(admin, 'drift');
        await charts.first().scrollIntoViewIfNeeded();
        await admin.screenshot({ path: path.join(shots, 'ui-drift-charts.png') });
        // The deployment: each car's part, the canary first.
        await admin.goto(`/fleet/deployments/${f.deployment}`);
        const parts = admin.getByRole('table', { name: /Each car/ }).locator('tbody tr');
        await parts.first().waitFor();
        assertEq(await parts.count(), 3);
        assertEq(await parts.first().locator('td').nth(1).innerText(), 'canary');
        await axe(admin, 'deployment page');
        await noProblems(admin);
        await admin.context().close();
    });

    let leagueId;
    await t.check('an_assignment_graded_and_in_the_gradebook', async () => {
        // ivan adds alice to ML 101 and sets it an assignment; alice submits her trained model
        // and reads her grade criterion by criterion; ivan's gradebook has it.
        await ivan.goto('/classes');
        await ivan.getByRole('link', { name: 'ML 101' }).click();
        await ivan.getByLabel(/Roster CSV/).fill('alice,alice@example.org,learner\n');
        await ivan.getByRole('button', { name: 'Import roster' }).click();
        await ivan.getByText(/0 accounts created, 1 existing accounts added/).waitFor();
        await ivan.getByLabel('Assignment name').fill('Follow the centre line');
        await ivan.locator('form.new-assignment').getByLabel('Track', { exact: true }).selectOption('oval');
        await ivan.getByLabel('Deadline', { exact: true }).fill('2099-01-01T00:00');
        await ivan.getByLabel('Laps of the grading evaluation').fill('1');
        // A criterion nobody passes (a lap under a second) and one a clean reward passes.
        await ivan.getByLabel('Criterion 1', { exact: true }).selectOption('best_lap_under');
        await ivan.getByLabel('Criterion 1: N or S').fill('1');
        await ivan.getByRole('button', { name: 'Add a criterion' }).click();
        await ivan.getByRole('button', { name: 'Create assignment' }).click();
        await ivan.getByRole('link', { name: 'Follow the centre line' }).waitFor();
        await page.goto('/classes');
        await page.getByRole('link', { name: 'Follow the centre line' }).click();
        await page.getByText('The reward function passes the check (1 point)').waitFor();
        await page.getByLabel('Model', { exact: true }).selectOption(String(modelId));
        await page.getByRole('button', { name: 'Submit for grading' }).click();
        await page.getByRole('heading', { name: /Submission \d+: 1 of 2 points/ }).waitFor({ timeout: 90000 });
        await page.locator('.grade li.error', { hasText: 'Best lap under 1.0 seconds' }).waitFor();
        await page.locator('.grade li.ok', { hasText: 'The reward function passes the check' }).waitFor();
        await axe(page, 'assignment page');
        await screenshot(page, 'assignment');
        await noProblems(page);
        await ivan.reload();
        await ivan.getByRole('table', { name: /Gradebook/ }).locator('tr', { hasText: 'alice' }).getByText(/^1\/2/).waitFor();
        await noProblems(ivan);
    });

    await t.check('an_instructor_creates_a_league_with_a_hidden_track', async () => {
        await ivan.getByRole('link', { name: 'Leagues' }).click();
        await ivan.getByRole('heading', { name: 'New league' }).waitFor();
        await ivan.getByLabel('League name').fill('Oval time trial');
        await ivan.getByLabel('Track 1', { exact: true }).selectOption('oval');
        await ivan.getByRole('button', { name: 'Add a track' }).click();
        await ivan.getByLabel('Track 2', { exact: true }).selectOption('hairpin');
        assert(await ivan.locator('input[name=hidden2]').isChecked(), 'a second track starts hidden');
        await ivan.getByLabel('Laps per evaluation').fill('1');
        await axe(ivan, 'leagues page');
        await ivan.getByRole('button', { name: 'Create league' }).click();
        await ivan.waitForURL(/\/leagues\/\d+$/);
        leagueId = Number(/\/leagues\/(\d+)/.exec(ivan.url())[1]);
        await ivan.getByText('hairpin (hidden from learners until the close)').waitFor();
        await noProblems(ivan);
    });

    await t.check('a_learner_submits_and_finds_themself_on_the_leaderboard_without_learning_the_hidden_track', async () => {
        // Everything alice's browser receives is searched for the hidden track's name.
        const seen = [];
        const onResponse = async (res) => {
            try {
                seen.push(`${res.url()} ${await res.text()}`);
            } catch {
                /* a body that is gone */
            }
        };
        page.on('response', onResponse);
        await page.goto('/leagues');
        await page.getByRole('link', { name: 'Oval time trial' }).click();
        await page.getByRole('heading', { name: 'Oval time trial' }).waitFor();
        await page.getByText('A hidden track (revealed when the league closes)').first().waitFor();
        await page.getByLabel('Model', { exact: true }).selectOption(String(modelId));
        await page.getByRole('button', { name: 'Submit', exact: true }).click();
        await page.getByText(/Submitted first-car v\d+/).waitFor();
        // The official evaluation runs on the worker; the leaderboard shows alice when it is done.
        await page.locator('table.leaderboard tr.me', { hasText: 'alice' }).waitFor({ timeout: 90000 });
        await page.getByText('hidden track: results after the close').first().waitFor();
        await axe(page, 'league page');
        await screenshot(page, 'league');
        page.off('response', onResponse);
        const leak = seen.find((x) => /hairpin/.test(x.slice(x.indexOf(' '))));
        assert(!leak, `alice's browser received the hidden track's name: ${leak && leak.slice(0, 200)}`);
        // The track's name, geometry and picture: refused to alice's browser.
        const probes = await page.evaluate(async () => Promise.all(['/api/v1/tracks/hairpin', '/api/v1/tracks/hairpin/picture', '/api/v1/tracks']
            .map(async (u) => { const r = await fetch(u); return [u, r.status, await r.text()]; })));
        assertEq(probes[0][1], 404, 'the hidden track\'s geometry');
        assertEq(probes[1][1], 404, 'the hidden track\'s picture');
        assert(!/hairpin/.test(probes[2][2]), 'the track list leaves it out');
        // Nor may a reward function be checked or explained on it (its params and picture show
        // its shape): refused as a track that does not exist.
        const tries = await page.evaluate(async () => {
            const s = await (await fetch('/api/v1/sessions/current')).json();
            return Promise.all(['check', 'explain'].map(async (k) => {
                const r = await fetch(`/api/v1/reward/${k}`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf_token },
                    body: JSON.stringify({ code: 'def reward_function(params):\n    return 1.0\n', track: 'hairpin' }) });
                return [r.status, (await r.json()).error.message];
            }));
        });
        for (const [status, msg] of tries) {
            assertEq(status, 400, 'a hidden track for the reward tools');
            assertEq(msg, "no track named 'hairpin' (GET /api/v1/tracks lists them)");
        }
        assert(!/hairpin/.test(await page.evaluate(() => document.body.innerText)), 'not on the page');
        await noProblems(page);
        // Closed: the hidden track is revealed to the learner.
        await ivan.goto(`/leagues/${leagueId}`);
        await ivan.getByRole('button', { name: 'Close the league now' }).click();
        await ivan.getByText(/The league closes now/).waitFor();
        await page.reload();
        await page.getByText('Tracks: oval; hairpin').waitFor();
        const geo = await page.evaluate(async () => (await fetch('/api/v1/tracks/hairpin')).status);
        assertEq(geo, 200, 'the geometry after the close');
    });


    await t.check('race_day_screen_updates_when_a_marshal_enters_a_physical_lap', async () => {
        const l = await hub.api('POST', '/leagues', { name: 'Race day', tracks: ['oval'], laps: 1 }, 'ivan');
        // The projector: the big screen, as alice's browser shows it.
        const screen = await newPage(browser, hub, { width: 1920, height: 1080 });
        await signIn(screen, 'alice', alicePw);
        await screen.goto(`/leagues/${l.id}/raceday`);
        await screen.getByRole('heading', { name: 'Race day' }).waitFor();
        assertEq(await screen.locator('header.top').count(), 0, 'no navigation on the big screen');
        // The stream's first event has arrived before anything changes.
        await screen.waitForFunction(() => Number(document.getElementById('main').dataset.updates || 0) >= 1);
        const before = Number(await screen.locator('main').getAttribute('data-updates'));
        // The marshal, on a phone.
        const marshal = await newPage(browser, hub, { width: 390, height: 844 });
        await signIn(marshal, 'ivan', 'ivan-password-1');
        await marshal.goto(`/leagues/${l.id}/marshal`);
        await marshal.getByLabel('Racer').fill('Guest 7');
        await marshal.getByLabel('Lap time (seconds)').fill('10.412');
        await marshal.getByLabel('Off-tracks').fill('1');
        await noHorizontalScroll(marshal, 'the marshal form at 390 px');
        await axe(marshal, 'marshal form');
        await marshal.getByRole('button', { name: 'Enter lap' }).click();
        await marshal.getByText('Guest 7: 10.412 s entered.').waitFor();
        await marshal.getByRole('table', { name: 'Laps entered' }).getByRole('cell', { name: 'Guest 7', exact: true }).waitFor();
        await screenshot(marshal, 'marshal');
        // A lap time out of range is said next to the field.
        await marshal.getByLabel('Lap time (seconds)').fill('0.1');
        await marshal.getByRole('button', { name: 'Enter lap' }).click();
        await marshal.getByText('A lap time is 0.5 to 3600 seconds').waitFor();
        // The big screen shows the lap without being reloaded.
        await screen.getByRole('table', { name: 'Physical track' }).getByRole('cell', { name: 'Guest 7', exact: true }).waitFor();
        assert(Number(await screen.locator('main').getAttribute('data-updates')) > before, 'updated by the event stream');
        await axe(screen, 'race-day screen');
        await screenshot(screen, 'race-day');
        await noProblems(screen);
        await noProblems(marshal);
        await screen.context().close();
        await marshal.context().close();
    });

    await t.check('race_day_bracket_draws_the_seeded_pairs_and_marks_the_winners', async () => {
        // Three entrants (alice's trained model, two models trained one iteration), a bracket of
        // 4 drawn from the leaderboard: seed 1 against a bye, 2 against 3; the worker races the
        // matches and the race-day screen draws each pair and marks each winner as the hub has them.
        const l = await hub.api('POST', '/leagues', { name: 'Knockout cup', tracks: ['oval'], laps: 1 }, 'ivan');
        await hub.user('carol', 'learner');
        await hub.api('POST', `/leagues/${l.id}/submissions`, { model: modelId }, 'alice');
        for (const who of ['ivan', 'carol']) {
            const m = await pushModel(hub, who, `${who}-car`);
            await hub.api('POST', `/leagues/${l.id}/submissions`, { model: m.id }, who);
        }
        const entries = async () => ((await hub.api('GET', `/leagues/${l.id}/leaderboard`, undefined, 'ivan')).divisions[0] || { entries: [] }).entries;
        await waitFor(async () => (await entries()).length === 3, 120000, 'three entries on the leaderboard');
        const seeds = (await entries()).map((e) => e.user.username);
        // ivan draws it on the league's page.
        await ivan.goto(`/leagues/${l.id}`);
        await ivan.getByLabel('Bracket size').selectOption('4');
        await ivan.getByLabel('Bracket name').fill('Cup');
        await ivan.getByRole('button', { name: 'Draw the bracket' }).click();
        await ivan.getByText(/Bracket Cup drawn/).waitFor();
        const screen = await newPage(browser, hub, { width: 1920, height: 1080 });
        await signIn(screen, 'alice', alicePw);
        await screen.goto(`/leagues/${l.id}/raceday`);
        const bracket = screen.locator('section.bracket', { hasText: 'Cup: knockout on oval' });
        await bracket.waitFor();
        const rendered = async () => bracket.locator('ul.match').evaluateAll((ms) => ms.map((m) => ({
            label: m.getAttribute('aria-label'),
            sides: [...m.querySelectorAll('li:not(.hint)')].map((li) => [li.textContent, li.classList.contains('winner')]) })));
        // Round 1 as seeded: 1 against the bye, 2 against 3.
        let r = await rendered();
        assertEq(r.length, 3, 'two matches in round 1 and the final');
        assertEq(JSON.stringify(r[0].sides.map((x) => x[0].replace(' (wins)', ''))), JSON.stringify([`1. ${seeds[0]}`, 'bye']), 'match 1');
        assertEq(JSON.stringify(r[1].sides.map((x) => x[0].replace(' (wins)', ''))), JSON.stringify([`2. ${seeds[1]}`, `3. ${seeds[2]}`]), 'match 2');
        // The races run; the screen follows until the champion, each winner as the hub has it.
        await screen.locator('p.champion').waitFor({ timeout: 180000 });
        const b = (await hub.api('GET', `/leagues/${l.id}/brackets`, undefined, 'alice')).brackets.find((x) => x.name === 'Cup');
        r = await rendered();
        const flat = b.rounds.flatMap((round) => round.matches);
        assertEq(r.length, flat.length);
        flat.forEach((m, i) => {
            for (const [k, j] of [['a', 0], ['b', 1]]) {
                const want = m[k] ? `${m[k].seed}. ${m[k].username}` : 'bye';
                assertEq(r[i].sides[j][0].replace(' (wins)', ''), want, `match ${i + 1} side ${k}`);
                assertEq(r[i].sides[j][1], m.winner === k, `match ${i + 1}: ${want} ${m.winner === k ? 'wins' : 'does not win'}`);
            }
        });
        const final = flat[flat.length - 1];
        assert(final.state === 'decided' && [final.a, final.b].some((x) => x && x.username === seeds[0]), `seed 1 (a bye) reaches the final: ${JSON.stringify(final)}`);
        assertEq(await screen.locator('p.champion').innerText(), `Champion: ${b.champion.username}`);
        assertEq(b.champion.username, final[final.winner].username, 'the champion won the final');
        await axe(screen, 'race-day bracket');
        await bracket.scrollIntoViewIfNeeded();
        await screen.screenshot({ path: path.join(shots, 'ui-bracket.png') });
        await noProblems(screen);
        await screen.context().close();
    });

    await t.check('main_pages_fit_a_phone_and_pass_axe', async () => {
        const phone = await newPage(browser, hub, { width: 390, height: 844 });
        await signIn(phone, 'alice', alicePw);
        const pages = [
            [`/models/${modelId}`, 'first-car'], [`/models/${modelId}/reward`, 'reward_function.py'], [`/models/${modelId}/train`, /Train version/],
            [`/models/${modelId}/evaluate`, /Evaluate version/], ['/jobs', 'Jobs'], ['/leagues', 'Leagues'], ['/classes', 'My classes'],
        ];
        if (leagueId) pages.push([`/leagues/${leagueId}`, 'Oval time trial']);
        for (const [url, heading] of pages) {
            await phone.goto(url);
            await phone.getByRole('heading', { name: heading }).first().waitFor();
            await noHorizontalScroll(phone, `${url} at 390 px`);
            await axe(phone, `${url} at 390 px`);
        }
        await screenshot(phone, 'phone-reward');
        await noProblems(phone);
        await phone.context().close();
        await ivan.setViewportSize({ width: 390, height: 844 });
        await ivan.goto('/classes');
        await ivan.getByRole('link', { name: 'ML 101' }).click();
        await ivan.getByRole('heading', { name: 'Roster', exact: true }).waitFor();
        await noHorizontalScroll(ivan, 'a class at 390 px');
        await ivan.setViewportSize({ width: 1280, height: 720 });
    });

    await t.check('keyboard_only_walk_of_every_page', async () => {
        // Every page, as who uses it: Tab reaches every control with a visible focus, and Enter
        // and Space work the controls that matter there.
        const classes = (await hub.api('GET', '/classes', undefined, 'ivan')).classes;
        const ml101 = classes.find((c) => c.name === 'ML 101');
        const assignment = (await hub.api('GET', `/classes/${ml101.id}/assignments`, undefined, 'ivan')).assignments[0];
        const walks = [
            ['alice', [`/models`, `/models/new`, `/models/${modelId}`, `/models/${modelId}/reward`, `/models/${modelId}/train`, `/models/${modelId}/evaluate`,
                `/models/${modelId}/compare`, '/jobs', '/leagues', `/leagues/${leagueId}`, `/leagues/${leagueId}/raceday`, '/classes'].concat(assignment ? [`/assignments/${assignment.id}`] : [])],
            ['ivan', ['/classes', `/classes/${ml101.id}`, '/leagues', `/leagues/${leagueId}/marshal`]],
            ['admin', ['/workers', '/admin/storage', '/fleet', `/fleet/devices/${fleet.devices[2].id}`, `/fleet/deployments/${fleet.deployment}`]],
        ];
        const kb = await newPage(browser, hub);
        await kb.goto('/login');
        await kb.getByRole('heading', { name: 'Sign in' }).waitFor();
        await keyboardWalk(kb, '/login');
        let pages = 1, stops = 0;
        for (const [who, urls] of walks) {
            await signIn(kb, who, who === 'alice' ? alicePw : `${who}-password-1`);
            for (const url of urls) {
                await kb.goto(url);
                await kb.locator('main h1').first().waitFor();
                await settled(kb);
                stops += (await keyboardWalk(kb, url)).length;
                pages += 1;
            }
            await kb.context().clearCookies();
        }
        assert(pages >= (assignment ? 23 : 22) && stops > 200, `${pages} pages, ${stops} stops`);
        // Enter follows a link; Enter opens a summary; Space presses a button, ticks a box.
        await signIn(kb, 'alice', alicePw);
        await kb.goto('/models');
        await kb.getByRole('link', { name: 'first-car' }).waitFor();
        await tabToAndPress(kb, /^first-car$/, 'Enter', 'models');
        await kb.waitForURL(new RegExp(`/models/${modelId}$`));
        await kb.goto('/models/new');
        await kb.getByRole('heading', { name: 'New model' }).waitFor();
        const details = kb.locator('form.new-model details').first();
        assert(!(await details.evaluate((d) => d.open)), 'the hyperparameters start folded');
        await tabToAndPress(kb, /Hyperparameters/, 'Enter', 'new model');
        assert(await details.evaluate((d) => d.open), 'Enter opened the hyperparameters');
        await kb.goto(`/models/${modelId}/evaluate`);
        const play = kb.locator('section.replay-box').getByRole('button', { name: 'Play' });
        if (await play.count()) {
            await tabToAndPress(kb, /^Play$/, ' ', 'replay');
            await kb.waitForFunction(() => document.querySelector('section.replay-box').dataset.playing === 'true');
            await kb.keyboard.press(' ');
            await kb.waitForFunction(() => document.querySelector('section.replay-box').dataset.playing === 'false');
        }
        await kb.context().clearCookies();
        await signIn(kb, 'admin', 'admin-password-1');
        await kb.goto('/admin/storage');
        await kb.getByRole('heading', { name: 'Storage', exact: true }).waitFor();
        const purge = kb.getByLabel('Also forget the versions of deleted models');
        await tabToAndPress(kb, /^Also forget the versions of deleted models$/, ' ', 'storage checkbox');
        assert(await purge.isChecked(), 'Space ticks the box');
        await tabToAndPress(kb, /^Dry run$/, ' ', 'storage');
        await kb.getByText(/^Dry run: the collection would delete/).waitFor();
        await noProblems(kb);
        await kb.context().close();
    });

} catch (e) {
    t.failed += 1;
    console.log(`FAIL setup: ${e.stack || e.message}`);
} finally {
    if (browser) await browser.close();
    await hub.stop().catch(() => {});
    stopAll();
}
process.exit(t.summary());
