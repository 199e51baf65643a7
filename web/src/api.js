// The hub's JSON API from the browser: the session is an HttpOnly cookie (script never sees
// it) and every request that changes something carries the session's CSRF token in
// X-CSRF-Token. Errors become ApiError with the hub's code and message, which pages show
// next to what caused them.

let csrf = null;

export class ApiError extends Error {
    constructor(status, code, message, details) {
        super(message);
        this.status = status;
        this.code = code;
        this.details = details || {};
    }
    // The request field a 400 names ("'name' must be ...", "field 'x'"), if any.
    get field() {
        const m = /(?:field |^)'([a-z_.]+)'/.exec(this.message);
        return m ? m[1] : null;
    }
}

export function setCsrf(token) {
    csrf = token || null;
}

const listeners = new Set();
// Called with the error when a request finds the session gone (401): the app shows sign-in.
export function onUnauthorized(fn) {
    listeners.add(fn);
}

export async function api(method, path, body, opts = {}) {
    const headers = { Accept: 'application/json' };
    let payload;
    if (body instanceof Blob || body instanceof ArrayBuffer || body instanceof Uint8Array) {
        payload = body;
        headers['Content-Type'] = opts.type || 'application/gzip';
    } else if (typeof body === 'string') {
        payload = body;
        headers['Content-Type'] = opts.type || 'text/plain';
    } else if (body !== undefined) {
        payload = JSON.stringify(body);
        headers['Content-Type'] = 'application/json';
    }
    if (method !== 'GET' && method !== 'HEAD' && csrf) headers['X-CSRF-Token'] = csrf;
    let res;
    try {
        res = await fetch(`/api/v1${path}`, {
            method,
            headers,
            body: payload,
            credentials: 'same-origin',
            signal: opts.signal,
        });
    } catch (e) {
        if (e.name === 'AbortError') throw e;
        throw new ApiError(0, 'network', 'The hub did not answer (is it running? is the network up?)');
    }
    if (res.status === 204) return null;
    const type = res.headers.get('Content-Type') || '';
    if (!res.ok) {
        let code = 'http', message = `${res.status} ${res.statusText}`, details = {};
        if (type.includes('json')) {
            const j = await res.json().catch(() => null);
            if (j && j.error) {
                code = j.error.code;
                message = j.error.message;
                details = j.error;
            }
        }
        const err = new ApiError(res.status, code, message, details);
        if (res.status === 401 && !opts.noRedirect) listeners.forEach((fn) => fn(err));
        throw err;
    }
    if (opts.raw) return res;
    if (type.includes('json')) return res.json();
    return res.text();
}

export const get = (p, o) => api('GET', p, undefined, o);
export const post = (p, b, o) => api('POST', p, b, o);
export const put = (p, b, o) => api('PUT', p, b, o);
export const patch = (p, b, o) => api('PATCH', p, b, o);
export const del = (p, o) => api('DELETE', p, undefined, o);
