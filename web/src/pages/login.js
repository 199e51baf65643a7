// Sign in: user name and password; the hub answers with an HttpOnly session cookie and the
// CSRF token for this session. Failed logins show the hub's words (wrong password, too many
// attempts and when to try again).
import { post } from '../api.js';
import { h, field } from '../dom.js';
import { navigate, signedIn } from '../app.js';

export function loginPage(main) {
    const user = h('input', { name: 'username', autocomplete: 'username', required: true, autofocus: true });
    const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
    const status = h('p', { class: 'error', role: 'alert', id: 'login-error', hidden: true });
    const button = h('button', { type: 'submit' }, 'Sign in');
    const form = h(
        'form',
        { class: 'card narrow', 'aria-describedby': 'login-error', onsubmit: submit },
        h('h1', null, 'Sign in to trackday'),
        field('User name', user),
        field('Password', pass),
        status,
        button,
        h('p', { class: 'hint' }, 'Accounts are made by your instructor (a class roster) or an admin.'),
    );
    async function submit(e) {
        e.preventDefault();
        status.hidden = true;
        button.disabled = true;
        try {
            const reply = await post('/sessions', { username: user.value.trim(), password: pass.value, cookie: true }, { noRedirect: true });
            signedIn(reply);
            const next = new URLSearchParams(location.search).get('next');
            navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/models', true);
        } catch (err) {
            status.textContent = err.message;
            status.hidden = false;
            pass.select();
        } finally {
            button.disabled = false;
        }
    }
    main.append(form);
}
