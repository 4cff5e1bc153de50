// join: the page an invitation to a video consultation points to (VIDEO_INVITE_URL, default /video/join, README
// "Video consultations"), for a patient who has no account or is not signed in. The code comes from the address
// (?code=), which is then cleared from the address bar and history; the page redeems it (POST
// /video-consultations/invitations/redeem, public: the code is spent by the first redemption) and runs the call as
// the patient with the join answer (video.js: the waiting room, the admission, the video and the chat, as in the
// console). An unknown, used or not yet joinable code, and a network failure, are said in the page's language
// (picked as the account link page's); the join answer lives in this page's memory only.
import { field, h, replace } from './dom.js';
import { LANGS, lang, setLang, t } from './i18n.js';
import { ApiError, callPublic, loadConfig } from './session.js';
import { videoCall } from './video.js';

const root = document.getElementById('app');
const code = new URLSearchParams(location.search).get('code');
if (code) history.replaceState(null, '', location.pathname);

// phase: 'redeeming' | 'refused' (problem: the string key; retry: the code is not spent) | 'call' | 'after'
const s = { phase: code ? 'redeeming' : 'refused', problem: code ? null : 'join_no_code', retry: false, joined: null, call: null, left: false,
  dismissed: false };

// What a refused redemption means for the patient (404 unknown, 410 spent, 409 not joinable now, else the network).
function problemOf(e) {
  if (!(e instanceof ApiError)) return { problem: 'join_network', retry: true };
  if (e.status === 410) return { problem: 'join_used', retry: false };
  if (e.status === 409) return { problem: 'join_not_now', retry: true };
  if (e.status === 404 || e.status === 400 || e.status === 422) return { problem: 'join_unknown', retry: false };
  return { problem: 'join_failed', retry: true };
}

async function redeem() {
  s.phase = 'redeeming';
  render();
  try {
    s.joined = await callPublic('POST', '/video-consultations/invitations/redeem', { code });
  } catch (e) {
    Object.assign(s, { phase: 'refused' }, problemOf(e));
    render();
    root.querySelector('[role=alert]')?.focus();
    return;
  }
  startCall();
}

function startCall() {
  const { joined } = s;
  s.phase = 'call';
  s.call = videoCall({
    session: { id: joined.session_id },
    role: 'patient',
    zone: undefined, // the clinic's zone is not the guest's to read: the browser's own
    join: async () => joined,
    onClose: () => {
      const phase = s.call.phase();
      s.left = phase === 'left';
      s.dismissed = phase === 'admission_denied' || phase === 'patient_removed';
      s.call.close();
      s.call = null;
      s.phase = 'after';
      render();
      root.querySelector('h1')?.focus();
    },
  });
  render();
  s.call.focus();
}

function body() {
  if (s.phase === 'call') return s.call.el;
  if (s.phase === 'redeeming') return h('section', { class: 'signin', role: 'status' }, h('h1', {}, t('join_title')), h('p', {}, t('join_redeeming')));
  if (s.phase === 'after') {
    const again = s.left && Date.parse(s.joined.expires_at) > Date.now();
    return h('section', { class: 'signin' }, h('h1', { tabindex: '-1' }, t('join_title')),
      h('p', { role: 'status' }, t(s.left ? 'join_left' : s.dismissed ? 'join_dismissed' : 'join_over')),
      again ? h('button', { type: 'button', class: 'primary', onclick: startCall }, t('join_again')) : null);
  }
  return h('section', { class: 'signin' }, h('h1', {}, t('join_title')),
    h('p', { class: 'message', role: 'alert', tabindex: '-1' }, t(s.problem)),
    s.retry ? h('button', { type: 'button', class: 'primary', onclick: redeem }, t('join_retry')) : null);
}

function render() {
  // The language is chosen outside the call (the call's labels are made when it starts).
  const pick = s.phase === 'call' ? null : h('select', { name: 'language', onchange: (ev) => { setLang(ev.target.value); render(); } },
    LANGS.map((l) => h('option', { value: l, selected: l === lang() }, t(`lang_${l}`))));
  document.documentElement.lang = lang();
  document.title = `${t('join_title')} · ${t('app_name')}`;
  replace(root, h('header', { class: 'bar' }, h('span', { class: 'brand' }, t('app_name')), h('span', { class: 'spacer' }),
    pick ? field(t('language'), pick) : null),
  h('main', { id: 'main' }, s.phase === 'call' ? body() : h('section', { class: 'signin-wrap' }, body())));
}

loadConfig().then(() => (code ? redeem() : render()), (e) => {
  replace(root, h('main', { id: 'main' }, h('p', { class: 'message', role: 'alert' }, `${t('no_config')} ${e.message}`)));
});
