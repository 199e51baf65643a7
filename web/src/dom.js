// Small DOM helpers: elements are built with properties and text nodes, never from HTML
// strings, so nothing a user or the API sends can become markup or script.

// h('button', {class: 'x', onclick: fn, 'aria-label': 'y'}, 'text', child, [more])
export function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
export function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
}

function setAttrs(el, attrs) {
    if (!attrs) return;
    for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else if (k === 'class') el.setAttribute('class', v);
        else if (k === 'value' && 'value' in el) el.value = v;
        else if (k === 'checked' || k === 'selected' || k === 'disabled' || k === 'hidden')
            el[k] = !!v;
        else if (k === 'dataset') Object.assign(el.dataset, v);
        else el.setAttribute(k, v === true ? '' : String(v));
    }
}

export function append(el, children) {
    for (const c of children.flat(Infinity)) {
        if (c === undefined || c === null || c === false) continue;
        el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
}

export function clear(el, ...children) {
    el.replaceChildren();
    return append(el, children);
}

let uid = 0;
export function id(prefix) {
    uid += 1;
    return `${prefix || 'f'}-${uid}`;
}

// A labelled form field: its <label>, the control, a hint and a place for its error (read out
// by screen readers through aria-describedby).
export function field(label, control, hint) {
    const cid = control.id || (control.id = id('f'));
    const err = h('p', { class: 'field-error', id: `${cid}-err`, role: 'alert', hidden: true });
    const hintEl = hint ? h('p', { class: 'hint', id: `${cid}-hint` }, hint) : null;
    control.setAttribute('aria-describedby', [hintEl && hintEl.id, err.id].filter(Boolean).join(' '));
    const wrap = h('div', { class: 'field' }, h('label', { for: cid }, label), control, hintEl, err);
    wrap.control = control;
    wrap.error = err;
    return wrap;
}

export function setFieldError(fieldEl, message) {
    fieldEl.error.textContent = message || '';
    fieldEl.error.hidden = !message;
    if (message) fieldEl.control.setAttribute('aria-invalid', 'true');
    else fieldEl.control.removeAttribute('aria-invalid');
}

export function select(options, value, attrs) {
    return h(
        'select',
        attrs,
        options.map(([v, label]) => h('option', { value: v, selected: String(v) === String(value) }, label)),
    );
}

export function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function fmtNum(x, digits = 2) {
    if (x === null || x === undefined || Number.isNaN(x)) return '–';
    return Number(x).toFixed(digits);
}

// Re-renders a part of a page that refreshes itself only when its data (compared as JSON)
// changed, and keeps the keyboard's focus on the same control (same text, link and label)
// when it did: a page updating every few seconds never takes the focus away.
export function refresh(container, data, render) {
    const key = JSON.stringify(data);
    if (container.refreshKey === key) return false;
    container.refreshKey = key;
    const a = document.activeElement;
    const was = a && a !== document.body && container.contains(a) ? [a.tagName, a.textContent, a.getAttribute('href'), a.getAttribute('aria-label')] : null;
    render();
    if (was) {
        const m = [...container.querySelectorAll(was[0])].find((e) => e.textContent === was[1] && e.getAttribute('href') === was[2] && e.getAttribute('aria-label') === was[3]);
        if (m) m.focus({ preventScroll: true });
    }
    return true;
}
