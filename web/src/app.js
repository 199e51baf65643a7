// What pages share: the signed-in user, navigation, and what to stop when leaving a page.
import { setCsrf } from './api.js';

export const session = { user: null };
export const hooks = { render: () => {} };
export const cleanup = [];
export const extraRoutes = [];

export function navigate(path, replace) {
    if (replace) history.replaceState(null, '', path);
    else history.pushState(null, '', path);
    hooks.render();
}

// A page registers what to stop when the user leaves it (event streams, timers).
export function onLeave(fn) {
    cleanup.push(fn);
}

// Pages added later (leagues, race day) register their routes: {re, page, nav, roles}.
export function addRoutes(list) {
    extraRoutes.push(...list);
}

export function signedIn(reply) {
    setCsrf(reply.csrf_token);
    session.user = { id: reply.user.id, username: reply.user.username, role: reply.user.role };
}

export const isStaff = () => session.user && session.user.role !== 'learner';
