// activate: the page an account link points to (ACCOUNT_LINK_URL, README "Account links"): the token comes from the
// address (?token=), which is then cleared from the address bar and history; the new password, typed twice, goes to
// POST /auth/activate, and the page then leads to the console's sign-in. Activation and password reset alike.
import { field, h, replace } from './dom.js';
import { LANGS, lang, setLang, t } from './i18n.js';
import { callPublic, loadConfig } from './session.js';

const root = document.getElementById('app');
const token = new URLSearchParams(location.search).get('token');
if (token) history.replaceState(null, '', location.pathname);
let done = false;

function form() {
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', minlength: 8, maxlength: 128, required: true });
  const again = h('input', { type: 'password', name: 'password_again', autocomplete: 'new-password', required: true });
  const error = h('p', { class: 'message', role: 'alert' });
  const button = h('button', { type: 'submit', class: 'primary' }, t('activate_submit'));
  return h('form', { class: 'signin', onsubmit: async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    if (password.value !== again.value) {
      error.textContent = t('activate_mismatch');
      again.select();
      return;
    }
    button.disabled = true;
    try {
      await callPublic('POST', '/auth/activate', { token, password: password.value });
      done = true;
      render();
    } catch (e) {
      error.textContent = e.fields?.password ? `${t('password')}: ${e.fields.password}` : e.message;
      button.disabled = false;
    }
  } },
  h('h1', {}, t('activate_title')),
  h('p', {}, t('activate_intro')),
  field(t('new_password'), password), field(t('new_password_again'), again), error, button);
}

function render() {
  const pick = h('select', { name: 'language', onchange: (ev) => { setLang(ev.target.value); render(); } },
    LANGS.map((l) => h('option', { value: l, selected: l === lang() }, t(`lang_${l}`))));
  const body = done
    ? h('section', { class: 'signin', role: 'status' }, h('h1', {}, t('activate_title')), h('p', {}, t('activate_done')),
      h('a', { href: '/' }, t('sign_in')))
    : token ? form() : h('p', { class: 'message', role: 'alert' }, t('activate_no_token'));
  document.documentElement.lang = lang();
  document.title = `${t('activate_title')} · ${t('app_name')}`;
  replace(root, h('header', { class: 'bar' }, h('span', { class: 'brand' }, t('app_name')), h('span', { class: 'spacer' }),
    field(t('language'), pick)), h('main', { id: 'main' }, h('section', { class: 'signin-wrap' }, body)));
}

loadConfig().then(render, (e) => {
  replace(root, h('main', { id: 'main' }, h('p', { class: 'message', role: 'alert' }, `${t('no_config')} ${e.message}`)));
});
