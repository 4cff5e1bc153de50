// main: the console's entry point. Reads /config.json, then shows the screen of the signed-in user's role
// (sign-in when nobody is): RECEPTIONIST the desk board, DOCTOR Today's Work, ADMIN and PATIENT a placeholder
// for now. Pages are routed after '#', so the server never needs to answer a page path with index.html.
import { field, h, replace } from './dom.js';
import { deskScreen } from './desk.js';
import { doctorScreen } from './doctor.js';
import { LANGS, lang, setLang, t } from './i18n.js';
import { otherScreen } from './other.js';
import { currentUser, loadConfig, onSession, signOut } from './session.js';
import { signInScreen } from './signin.js';

const root = document.getElementById('app');
let screen = null;
let notice = null; // why the session ended, shown on the sign-in screen

const ROUTES = { RECEPTIONIST: 'desk', DOCTOR: 'doctor', ADMIN: 'admin', PATIENT: 'patient' };

function header() {
  const u = currentUser();
  const pick = h('select', { name: 'language', onchange: (ev) => { setLang(ev.target.value); render(); } },
    LANGS.map((l) => h('option', { value: l, selected: l === lang() }, t(`lang_${l}`))));
  return h('header', { class: 'bar' },
    h('span', { class: 'brand' }, t('app_name')),
    u ? h('span', { class: 'who' }, `${u.full_name} · ${t(`role_${u.role}`)}`) : null,
    h('span', { class: 'spacer' }),
    h('nav', { 'aria-label': t('nav_label') }, h('a', { href: '/docs/' }, t('api_reference'))),
    field(t('language'), pick),
    u ? h('button', { type: 'button', onclick: () => signOut() }, t('sign_out')) : null);
}

function render() {
  screen?.close();
  const u = currentUser();
  const route = u ? ROUTES[u.role] : 'signin';
  if (location.hash !== `#/${route}`) history.replaceState(null, '', `#/${route}`);
  if (!u) screen = signInScreen(notice);
  else if (route === 'desk') screen = deskScreen();
  else if (route === 'doctor') screen = doctorScreen();
  else screen = otherScreen();
  notice = null;
  document.documentElement.lang = lang();
  document.title = `${t(`title_${route}`)} · ${t('app_name')}`;
  replace(root, header(), h('main', { id: 'main' }, screen.el));
  screen.focus?.();
}

onSession((kind, detail) => {
  if (kind === 'refreshed') return;
  if (kind === 'signed-out' && detail) notice = t('session_ended', detail);
  render();
});

loadConfig().then(render, (e) => {
  replace(root, h('main', { id: 'main' }, h('p', { class: 'message', role: 'alert' }, `${t('no_config')} ${e.message}`)));
});
