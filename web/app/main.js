// main: the console's entry point. Reads /config.json, then shows the signed-in user's screen (sign-in when
// nobody is), with a tab for each screen of their role (screens.js). Pages are routed after '#', so the server
// never needs to answer a page path with index.html; a role's screen is kept across reloads by its address.
import { field, h, replace } from './dom.js';
import { LANGS, lang, setLang, t } from './i18n.js';
import { startInbox } from './inbox.js';
import { SCREENS, screenArg, screenFor } from './screens.js';
import { currentUser, loadConfig, onSession, signOut } from './session.js';
import { signInScreen } from './signin.js';

const root = document.getElementById('app');
let screen = null;
let notice = null; // why the session ended, shown on the sign-in screen
let inbox = null; // the signed-in user's notifications (inbox.js), kept across screens

function tabs(u, current) {
  const list = SCREENS[u.role] || [];
  if (list.length < 2) return null;
  return h('nav', { class: 'tabs', 'aria-label': t('screens_label') },
    list.map((s) => h('a', { href: `#/${s.path}`, 'aria-current': s.path === current ? 'page' : false }, t(`title_${s.path}`))));
}

function header() {
  const u = currentUser();
  const pick = h('select', { name: 'language', onchange: (ev) => {
    setLang(ev.target.value);
    inbox?.close(); // its button and panel are written in the language
    inbox = null;
    render();
  } },
    LANGS.map((l) => h('option', { value: l, selected: l === lang() }, t(`lang_${l}`))));
  return h('header', { class: 'bar' },
    h('span', { class: 'brand' }, t('app_name')),
    u ? h('span', { class: 'who' }, `${u.full_name} · ${t(`role_${u.role}`)}`) : null,
    h('span', { class: 'spacer' }),
    h('nav', { 'aria-label': t('nav_label') }, h('a', { href: '/docs/' }, t('api_reference'))),
    field(t('language'), pick),
    inbox ? inbox.button : null,
    u ? h('button', { type: 'button', onclick: () => signOut() }, t('sign_out')) : null);
}

function render() {
  screen?.close();
  const u = currentUser();
  const chosen = u ? screenFor(u.role, location.hash) : null;
  const route = chosen ? chosen.path : 'signin';
  const arg = chosen ? screenArg(route, location.hash) : '';
  const address = arg ? `#/${route}/${arg}` : `#/${route}`;
  if (location.hash !== address) history.replaceState(null, '', address);
  if (!u && inbox) {
    inbox.close();
    inbox = null;
  }
  if (u && !inbox) inbox = startInbox();
  screen = chosen ? chosen.open(arg) : signInScreen(notice);
  notice = null;
  document.documentElement.lang = lang();
  document.title = `${t(`title_${route}`)} · ${t('app_name')}`;
  replace(root, header(), inbox ? inbox.panel : null, u ? tabs(u, route) : null, h('main', { id: 'main' }, screen.el));
  // The keyboard goes to the new screen: its own choice, else its heading.
  if (screen.focus) screen.focus();
  else {
    const heading = screen.el.querySelector('h1');
    heading?.setAttribute('tabindex', '-1');
    heading?.focus();
  }
}

// A tab or a typed address moves to another screen of the same role.
window.addEventListener('hashchange', () => { if (currentUser()) render(); });

onSession((kind, detail) => {
  if (kind === 'refreshed') return;
  if (kind === 'signed-out' && detail) notice = t('session_ended', detail);
  render();
});

loadConfig().then(render, (e) => {
  replace(root, h('main', { id: 'main' }, h('p', { class: 'message', role: 'alert' }, `${t('no_config')} ${e.message}`)));
});
