// The browser tests' harness: a real `trackday serve` and `trackday worker` on free loopback
// ports in a scratch directory, accounts made through the API, one headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core), and a tiny runner that prints "ok NAME" or
// "FAIL NAME: why" per check and ends with "N passed, N failed".
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, rmSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createHash, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.TD_CHROMIUM || '/usr/bin/chromium';

export function assert(cond, msg) {
    if (!cond) throw new Error(msg || 'assertion failed');
}
export function assertEq(a, b, msg) {
    if (a !== b) throw new Error(`${msg || 'not equal'}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`);
}

const children = [];
export function stopAll() {
    for (const c of children.reverse()) {
        if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    }
}
process.on('exit', () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

// Starts a process; resolves with it once a line of its output matches re (its match is
// child.match). Rejects if it exits first.
function startUntil(cmd, args, opts, re, what) {
    return new Promise((resolve, reject) => {
        const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(child);
        child.log = '';
        let done = false;
        const onData = (d) => {
            child.log += d.toString();
            if (child.log.length > 1 << 20) child.log = child.log.slice(-(1 << 19));
            const m = re && re.exec(child.log);
            if (m && !done) {
                done = true;
                child.match = m;
                resolve(child);
            }
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        child.on('exit', (code, sig) => {
            if (!done) {
                done = true;
                reject(new Error(`${what} exited (${code ?? sig}) before it was ready:\n${child.log}`));
            }
        });
        if (!re) {
            done = true;
            resolve(child);
        }
    });
}

export class Hub {
    constructor(trackday, webDir) {
        this.bin = trackday;
        this.web = webDir;
        this.dir = mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), 'td-web-'));
        this.data = path.join(this.dir, 'data');
        this.tokens = {};
    }

    run(args, input) {
        const r = spawnSync(this.bin, args, { input, encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`trackday ${args.join(' ')}: exit ${r.status}\n${r.stdout}${r.stderr}`);
        return r.stdout;
    }

    async start() {
        this.run(['admin', 'create-user', '--data', this.data, '--name', 'admin', '--role', 'admin'], 'admin-password-1\n');
        this.serve = await startUntil(this.bin, ['serve', '--data', this.data, '--listen', '127.0.0.1:0', '--web', this.web,
            '--insecure-fast-passwords', '--grace', '2'], { cwd: this.dir }, /listening on (http:\/\/127\.0\.0\.1:\d+)/, 'trackday serve');
        this.url = this.serve.match[1];
        this.tokens.admin = (await this.api('POST', '/sessions', { username: 'admin', password: 'admin-password-1' })).token;
    }

    async startWorker() {
        const token = this.run(['admin', 'create-worker', '--data', this.data, '--name', `w${children.length}`]).trim().split('\n')[0];
        mkdirSync(path.join(this.dir, 'work'), { recursive: true });
        this.worker = await startUntil(this.bin, ['worker', '--hub', this.url, '--token', token, '--work', path.join(this.dir, 'work'),
            '--wait', '2', '--checkpoint-seconds', '1'], { cwd: this.dir }, null, 'trackday worker');
        return this.worker;
    }

    // The JSON API as a bearer-token client (what the CLI does); returns the parsed reply or
    // throws with the hub's error.
    async api(method, p, body, as) {
        const headers = {};
        if (as) headers.Authorization = `Bearer ${this.tokens[as] || as}`;
        let payload;
        if (typeof body === 'string') {
            payload = body;
            headers['Content-Type'] = 'text/csv';
        } else if (body !== undefined) {
            payload = JSON.stringify(body);
            headers['Content-Type'] = 'application/json';
        }
        const res = await fetch(`${this.url}/api/v1${p}`, { method, headers, body: payload });
        const text = await res.text();
        const json = text && (res.headers.get('content-type') || '').includes('json') ? JSON.parse(text) : text;
        if (!res.ok) {
            const e = new Error(`${method} ${p}: ${res.status} ${json && json.error ? json.error.message : text}`);
            e.status = res.status;
            e.body = json;
            throw e;
        }
        return json;
    }

    async user(name, role, password = `${name}-password-1`) {
        await this.api('POST', '/users', { username: name, password, role }, 'admin');
        this.tokens[name] = (await this.api('POST', '/sessions', { username: name, password })).token;
        return password;
    }

    async stop() {
        const wait = (c) => new Promise((res) => (c.exitCode !== null || c.signalCode !== null ? res() : c.on('exit', res)));
        for (const c of [this.worker, this.serve].filter(Boolean)) {
            if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
            await wait(c);
        }
        if (!process.env.TD_KEEP) rmSync(this.dir, { recursive: true, force: true });
    }
}

export async function launchBrowser() {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: scripts/install-deps installs Debian's chromium`);
    const userData = mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), 'td-chromium-'));
    const browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    });
    browser.on('disconnected', () => rmSync(userData, { recursive: true, force: true }));
    return browser;
}

// A page that records what must never happen: CSP violations, uncaught errors, console errors
// (other than the HTTP errors a test provokes on purpose).
export async function newPage(browser, hub, viewport = { width: 1280, height: 720 }) {
    const context = await browser.newContext({ viewport, baseURL: hub.url });
    const page = await context.newPage();
    page.setDefaultTimeout(Number(process.env.TD_WEB_TIMEOUT_MS || 20000));
    page.problems = [];
    page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
        const t = m.text();
        if (/Content Security Policy|Refused to/.test(t)) page.problems.push(`CSP: ${t}`);
        else if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of (4\d\d)/.test(t))
            page.problems.push(`console error: ${t}`);
    });
    return page;
}

export async function signIn(page, user, password) {
    await page.goto('/login');
    await page.getByLabel('User name').fill(user);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

export class Runner {
    constructor() {
        this.passed = 0;
        this.failed = 0;
        this.only = process.env.TD_WEB_ONLY ? new RegExp(process.env.TD_WEB_ONLY) : null;
    }

    async check(name, fn) {
        if (this.only && !this.only.test(name)) return;
        const t0 = Date.now();
        try {
            await fn();
            this.passed += 1;
            console.log(`ok ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        } catch (e) {
            this.failed += 1;
            console.log(`FAIL ${name}: ${e.stack || e.message}`);
        }
    }

    summary() {
        console.log(`${this.passed} passed, ${this.failed} failed`);
        return this.failed ? 1 : 0;
    }
}

// A TCP proxy on a free loopback port in front of the hub, whose connections the test can cut
// (a lost network, as a browser sees it): proxy.url, proxy.cut(), proxy.close().
export function startProxy(targetUrl) {
    const target = new URL(targetUrl);
    const sockets = new Set();
    const server = net.createServer((client) => {
        const upstream = net.connect(Number(target.port), target.hostname);
        for (const s of [client, upstream]) {
            sockets.add(s);
            s.on('close', () => sockets.delete(s));
            s.on('error', () => {});
        }
        client.pipe(upstream);
        upstream.pipe(client);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
    });
    return new Promise((resolve) => {
        server.listen(0, '127.0.0.1', () => {
            resolve({
                url: `http://127.0.0.1:${server.address().port}`,
                cut() {
                    const n = sockets.size;
                    for (const s of sockets) s.destroy();
                    return n;
                },
                close() {
                    for (const s of sockets) s.destroy();
                    return new Promise((r) => server.close(r));
                },
            });
        });
    });
}

// A small fleet on the hub, made through its API as cars and the admin would: a signing key, a
// bundle of a model trained one iteration (trackday keygen, init, train, export), three cars
// registered with their own Ed25519 keys (an auto-approving enrollment token), a deployment
// with one canary that the cars install (heartbeats and reports), and telemetry windows naming
// the bundle: cars 1 and 2 post what the bundle's reference saw, car 3 a world whose track-state
// inputs moved from its third window on, and slower laps (its drift checks alert). Returns {bundle, sha, deployment, devices: [{id, name,
// token}]}.
export async function fleetFixture(hub) {
    const dir = path.join(hub.dir, 'fleet');
    mkdirSync(dir, { recursive: true });
    const run = (args) => {
        const r = spawnSync(hub.bin, args, { cwd: dir, encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`trackday ${args.join(' ')}: exit ${r.status}\n${r.stdout}${r.stderr}`);
    };
    run(['keygen', '-o', 'fleet.key']);
    run(['init', 'car', '--sensor', 'state', '--discrete', '--fast-actions', '--track', 'oval']);
    // Enough training to lap the oval: the lap-time check needs the bundle's reference laps
    // (a model of one iteration leaves the oval on the calibrated car).
    run(['train', 'car', '--iterations', '20', '--quiet']);
    run(['export', 'car', '--format', 'bundle', '-o', 'car.tdb', '--key', 'fleet.key', '--laps', '1', '--train-steps', '50']);
    const tdb = readFileSync(path.join(dir, 'car.tdb'));
    const sha = createHash('sha256').update(tdb).digest('hex');
    await hub.api('PUT', '/fleet/signing-key', { public_key: readFileSync(path.join(dir, 'fleet.key.pub'), 'utf8').trim() }, 'admin');
    const up = await fetch(`${hub.url}/api/v1/bundles`, { method: 'POST', headers: { Authorization: `Bearer ${hub.tokens.admin}`, 'Content-Type': 'application/octet-stream' }, body: tdb });
    if (up.status !== 201) throw new Error(`POST /bundles: ${up.status} ${await up.text()}`);
    const bundle = await up.json();
    const enroll = await hub.api('POST', '/device-enrollments', { name: 'lab-cars', group: 'lab', tags: ['blue'], max_devices: 3, auto_approve: true }, 'admin');
    const devices = [];
    for (const name of ['car-1', 'car-2', 'car-3']) {
        const { publicKey, privateKey } = generateKeyPairSync('ed25519');
        const pk = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
        const sig = cryptoSign(null, Buffer.from(`trackday-device-register\n${name}\n${pk}`), privateKey).toString('base64');
        const d = await hub.api('POST', '/devices/register', { name, public_key: pk, signature: sig, agent: 'trackday-agent/1' }, enroll.token);
        devices.push({ id: d.id, name, token: d.token });
    }
    const dep = await hub.api('POST', '/deployments', { bundle: bundle.id, target: { group: 'lab' }, strategy: { canary: 1, wait_s: 0 } }, 'admin');
    // The cars: heartbeat, install what the hub asks, report; the canary first, then the rest.
    for (let round = 0; round < 4; round++) {
        for (const d of devices) {
            const hb = await hub.api('POST', `/devices/${d.id}/heartbeat`, { active_sha256: d.active || '', agent: 'trackday-agent/1',
                driving: d.active ? { laps: 3, off_tracks: 1, lap_times_s: [14.2, 14.8, 15.1] } : null }, d.token);
            if (hb.desired && hb.desired.action === 'install' && hb.desired.sha256 === sha && d.active !== sha) {
                await hub.api('POST', `/devices/${d.id}/report`, { deployment: hb.desired.deployment, sha256: sha, result: 'installed' }, d.token);
                d.active = sha;
            }
        }
    }
    // Telemetry: the bundle's reference statistics (what the car saw when it was evaluated).
    const ref = JSON.parse(tarFile(tdb, 'reference/stats.json')).evaluation;
    const refLaps = ref.outcomes.lap_times_s;
    if (!refLaps.length) throw new Error(`the bundle's reference drove no lap: ${JSON.stringify(ref.outcomes)}`);
    // Car 3's laps: as the reference's at first, then about a third slower (the lap-time check
    // compares them with the reference's mean, so they are scaled from it).
    const mu = refLaps.reduce((a, b) => a + b, 0) / refLaps.length;
    const lapsAt = (f) => f.map((x) => Math.round(mu * x * 100) / 100);
    const windows = (shift, laps = []) => {
        const s = JSON.parse(JSON.stringify(ref));
        s.outcomes = { lap_times_s: laps, laps: laps.length, episodes: laps.length, off_tracks: 0, crashes: 0, resets: 0, distance_m: 20 * laps.length };
        for (const [k, hst] of Object.entries(s.histograms)) {
            if (!shift || !k.startsWith('state.')) continue;
            const n = hst.counts.length, w = (hst.hi - hst.lo) / n, moved = new Array(n).fill(0);
            hst.counts.forEach((c, i) => { moved[Math.min(n - 1, i + shift)] += c; });
            hst.counts = moved;
            hst.sum += shift * w * hst.total;
            hst.sum_sq = moved.reduce((a, c, i) => a + c * (hst.lo + (i + 0.5) * w) ** 2, 0);
            hst.min += shift * w;
            hst.max += shift * w;
        }
        return s;
    };
    const t0 = Date.now() - 10 * 60000;
    for (const [i, d] of devices.entries()) {
        for (let seq = 1; seq <= 6; seq++) {
            await hub.api('POST', `/devices/${d.id}/telemetry`, { format: 'trackday-telemetry', version: 1, device: d.name, seq,
                start_ms: t0 + (seq - 1) * 60000, end_ms: t0 + seq * 60000, bundle_sha256: sha,
                summary: i === 2 ? windows(seq >= 3 ? 8 : 0, seq >= 3 ? lapsAt([1.31, 1.36, 1.34]) : lapsAt([0.99, 1.01, 1.0])) : windows(0) }, d.token);
        }
    }
    return { bundle, sha, deployment: dep.id, devices };
}

// One file of a tar archive (ustar, as trackday writes bundles), as text.
function tarFile(buf, name) {
    for (let off = 0; off + 512 <= buf.length;) {
        const h = buf.subarray(off, off + 512);
        if (h[0] === 0) break;
        const n = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
        const prefix = h.subarray(345, 500).toString('utf8').replace(/\0.*$/s, '');
        const size = parseInt(h.subarray(124, 136).toString('utf8').replace(/\0.*$/s, '').trim() || '0', 8);
        const full = prefix ? `${prefix}/${n}` : n;
        if (full === name) return buf.subarray(off + 512, off + 512 + size).toString('utf8');
        off += 512 + Math.ceil(size / 512) * 512;
    }
    throw new Error(`${name} is not in the bundle`);
}
