// doctor-video: the doctor's video consultations of the day, live. Each video appointment of today
// (GET /dashboard/doctor/appointments) with its session (GET /video-consultations/sessions?date=): open the
// session, see who is in the waiting room (pushed: video_session_updated, patient_waiting), join the call
// (video.js), where the doctor admits the patient and ends the consultation. The server decides what may be
// opened and joined; its refusals are shown.
import { h, replace } from './dom.js';
import { formatTime, localDate } from './format.js';
import { lang, t } from './i18n.js';
import { focusKeeper } from './kit.js';
import { liveList } from './live-list.js';
import { allPages } from './pages.js';
import { api, currentUser } from './session.js';
import { callIn } from './video.js';

const OPEN = ['scheduled', 'waiting', 'in_progress'];
const RELOAD_ON = new Set(['video_session_updated', 'patient_waiting', 'appointment_created', 'appointment_updated', 'appointment_cancelled']);

// The newest session of each appointment (the list is ordered by start, then id).
function byAppointment(sessions) {
  const map = new Map();
  for (const v of sessions) map.set(v.appointment_id, v);
  return map;
}

export function doctorVideoScreen() {
  const me = currentUser();
  const s = { clinic: null, items: null, sessions: new Map(), call: null, closed: false };
  const message = h('p', { class: 'message', role: 'alert' });
  const listEl = h('section', { class: 'panel', 'aria-labelledby': 'vlist-h' });
  const heading = h('h1', { tabindex: '-1' }, t('video_title'));
  const say = (text) => { message.textContent = text || ''; };
  // A session opened: its "Join" button (the same data-key as "Open session") takes the keyboard.
  const keep = focusKeeper(listEl, [message, heading]);
  message.tabIndex = -1;
  const live = liveList({
    first: async () => { s.clinic = await api('GET', `/clinics/${me.clinic_id}`); },
    load: () => load(),
    fail: (e) => say(e.message),
    reloadOn: RELOAD_ON,
  });
  const listView = h('div', {}, h('div', { class: 'desk-head' }, heading, live.statusLine), message, listEl);
  const el = h('section', { class: 'video-screen' }, listView);

  const act = async (fn) => {
    say('');
    try { await fn(); } catch (e) { say(e.message); }
  };

  let loads = 0;
  async function load() {
    if (s.closed) return;
    const mine = ++loads;
    const today = localDate(s.clinic.timezone);
    // Those still to be seen (confirmed, checked in) and those done today.
    const [items, done, sessions] = await Promise.all([
      allPages(`/dashboard/doctor/appointments?from=${today}&to=${today}`),
      allPages(`/dashboard/doctor/appointments?from=${today}&to=${today}&status=completed`),
      allPages(`/video-consultations/sessions?date=${today}`),
    ]);
    if (mine !== loads || s.closed) return;
    s.items = [...items, ...done].filter((i) => i.appointment.consultation_type === 'video')
      .sort((x, y) => Date.parse(x.appointment.start_time) - Date.parse(y.appointment.start_time) || x.appointment.id - y.appointment.id);
    s.sessions = byAppointment(sessions);
    render();
  }

  function join(session) {
    s.call = callIn(el, listView, {
      session,
      role: 'doctor',
      zone: s.clinic.timezone,
      onBack: () => {
        s.call = null;
        live.reload();
        heading.focus();
      },
    });
  }

  function row(item) {
    const { appointment: a, patient, service } = item;
    const v = s.sessions.get(a.id);
    const open = v && OPEN.includes(v.status);
    const state = v ? t(`vs_${v.status}`) : t('vs_none');
    return h('li', { class: v?.status === 'waiting' ? 'waiting' : '' },
      h('span', {}, h('span', { class: 'when' }, formatTime(a.start_time, s.clinic.timezone, lang())), ` ${patient.full_name} · ${service.name} · `,
        v?.status === 'waiting' ? h('strong', {}, state) : state),
      h('span', { class: 'actions' },
        open
          ? h('button', { type: 'button', class: 'primary', 'data-key': `session:${a.id}`, onclick: () => act(async () => join(await api('GET', `/video-consultations/sessions/${v.id}`))) },
            `${t('join_call')}: ${patient.full_name}`)
          : a.status === 'completed' ? null : h('button', { type: 'button', 'data-key': `session:${a.id}`, onclick: () => act(async () => {
            const opened = await api('POST', '/video-consultations/sessions', { appointment_id: a.id });
            s.sessions.set(a.id, opened);
            render();
          }) }, `${t('open_session')}: ${patient.full_name}`)));
  }

  function render() {
    if (!s.items) return;
    keep(() => replace(listEl, h('h2', { id: 'vlist-h' }, t('video_today')),
      s.items.length ? h('ul', { class: 'appts video-list' }, s.items.map(row)) : h('p', { class: 'empty' }, t('no_video_today'))));
  }

  return live.screen(el, heading, () => {
    s.closed = true;
    s.call?.close();
  });
}
