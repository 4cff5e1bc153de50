// signin: e-mail and password for every role; a refusal shows the API's own message.
import { field, h } from './dom.js';
import { t } from './i18n.js';
import { signIn } from './session.js';

export function signInScreen(notice) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'message', role: 'alert' });
  const button = h('button', { type: 'submit', class: 'primary' }, t('sign_in'));
  const form = h('form', { class: 'signin', onsubmit: async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    button.disabled = true;
    try {
      await signIn(email.value.trim(), password.value);
    } catch (e) {
      error.textContent = e.message;
      button.disabled = false;
      password.select();
    }
  } },
  h('h1', {}, t('sign_in_title')),
  notice ? h('p', { class: 'notice', role: 'status' }, notice) : null,
  field(t('email'), email), field(t('password'), password), error, button);
  return { el: h('section', { class: 'signin-wrap' }, form), focus: () => email.focus(), close() {} };
}
