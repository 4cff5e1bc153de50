// patient: the signed-in patient's appointments, live: upcoming (with the video consultation to join once the
// clinic has opened its session, and a cancellation with a reason) and past, in the clinic's time zone. Joining
// shows the waiting room, then the call (video.js). Everything comes from the API as the patient may read it
// (GET /appointments, /video-consultations/sessions, /doctors, /services); the pushed events of the patient's
// own room reload it (an appointment booked, changed or cancelled, a session opened or changed, the doctor ready).
import { field, h, replace } from './dom.js';
import { formatDate, formatTime, localDate } from './format.js';
import { lang, t } from './i18n.js';
import { focusKeeper } from './kit.js';
import { liveList } from './live-list.js';
import { allPages } from './pages.js';
import { api, currentUser } from './session.js';
import { callIn } from './video.js';

const ACTIVE = ['requested', 'confirmed', 'checked_in'];
const OPEN = ['scheduled', 'waiting', 'in_progress'];
const RELOAD_ON = new Set(['appointment_created', 'appointment_updated', 'appointment_cancelled', 'video_session_updated',
  'visit_status_changed', 'consultation_completed', 'video_doctor_ready']);
const PAST_DAYS = 365;

// The date YYYY-MM-DD n days after date (calendar arithmetic in UTC: no zone shift).
const addDays = (date, n) => new Date(Date.parse(`${date}T00:00:00Z`) + n * 86400000).toISOString().slice(0, 10);

// The clinic, its doctors and services, as the patient reads them (names for the lists): shared with booking.js.
export async function clinicFacts() {
  const me = currentUser();
  const [clinic, doctors, services] = await Promise.all([
    api('GET', `/clinics/${me.clinic_id}`), allPages('/doctors'), allPages('/services'),
  ]);
  return { clinic, doctors: new Map(doctors.map((d) => [d.id, d])), services: new Map(services.map((x) => [x.id, x])) };
}

export function patientScreen() {
  const s = { facts: null, appts: null, sessions: new Map(), cancelling: null, call: null, closed: false };
  const message = h('p', { class: 'message', role: 'alert' });
  const notice = h('p', { class: 'done', role: 'status' });
  const upcomingEl = h('section', { class: 'panel', 'aria-labelledby': 'up-h' });
  const pastEl = h('section', { class: 'panel', 'aria-labelledby': 'past-h' });
  const heading = h('h1', { tabindex: '-1' }, t('my_appointments'));
  const live = liveList({
    first: async () => { s.facts = await clinicFacts(); },
    load: () => load(),
    fail: (e) => { message.textContent = e.message; },
    reloadOn: RELOAD_ON,
    event: (name, data) => doctorReady(name, data),
  });
  const listView = h('div', {},
    h('div', { class: 'desk-head' }, heading, live.statusLine), message, notice,
    h('p', {}, h('a', { href: '#/book' }, t('book_new'))), upcomingEl, pastEl);
  const el = h('section', { class: 'patient-screen' }, listView);
  const cancelReason = h('input', { name: 'cancel_reason', autocomplete: 'off', maxlength: 500 });
  // A live reload keeps the keyboard where it was (the reason typed, a button); a cancelled appointment's buttons
  // are gone, and the line saying so takes it.
  message.tabIndex = -1;
  notice.tabIndex = -1;
  const keep = focusKeeper(listView, [message, notice, heading]);

  const say = (text) => { message.textContent = text || ''; };
  const act = async (fn) => {
    say('');
    try { await fn(); } catch (e) { say(e.message); }
  };
  const zone = () => s.facts.clinic.timezone;

  // "The doctor is ready", said until that session is no longer waiting for the doctor (admitted, or over).
  let readySession = null;
  function doctorReady(name, data) {
    if (name === 'video_doctor_ready') {
      readySession = data.session_id;
      notice.textContent = t('doctor_ready', data.doctor_name || '');
    } else if (name === 'video_session_updated' && readySession !== null && data.session?.id === readySession
      && !['scheduled', 'waiting'].includes(data.session.status)) {
      readySession = null;
      notice.textContent = '';
    }
  }
  const when = (instant) => `${formatDate(localDate(zone(), Date.parse(instant)), lang())} ${formatTime(instant, zone(), lang())}`;

  let loads = 0;
  async function load() {
    if (s.closed) return;
    const mine = ++loads;
    const from = addDays(localDate(zone()), -PAST_DAYS);
    const [appts, sessions] = await Promise.all([allPages(`/appointments?from=${from}`), allPages('/video-consultations/sessions')]);
    if (mine !== loads || s.closed) return;
    s.appts = appts;
    s.sessions = new Map();
    for (const v of sessions) s.sessions.set(v.appointment_id, v); // the newest last
    render();
  }
  function join(session) {
    notice.textContent = '';
    s.call = callIn(el, listView, {
      session,
      role: 'patient',
      zone: zone(),
      onBack: () => {
        s.call = null;
        live.reload();
        heading.focus();
      },
    });
  }

  function describe(a) {
    const d = s.facts.doctors.get(a.doctor_id);
    const svc = s.facts.services.get(a.service_id);
    return [d ? `${d.full_name}${d.specialty ? ` (${d.specialty})` : ''}` : t('doctor'), svc?.name, t(`type_${a.consultation_type}`)]
      .filter(Boolean).join(' · ');
  }

  function upcomingRow(a) {
    const v = s.sessions.get(a.id);
    const open = a.consultation_type === 'video' && v && OPEN.includes(v.status);
    const canCancel = a.status === 'requested' || a.status === 'confirmed';
    const label = `${when(a.start_time)} ${describe(a)}`;
    return h('li', {},
      h('span', {}, h('span', { class: 'when' }, when(a.start_time)), ` ${describe(a)} · ${t(`appt_${a.status}`)}`,
        a.consultation_type === 'video' && !open ? h('span', { class: 'meta' }, ` · ${t('video_not_open')}`) : null),
      h('span', { class: 'actions' },
        open ? h('button', { type: 'button', class: 'primary', onclick: () => act(async () => join(await api('GET', `/video-consultations/sessions/${v.id}`))) },
          t('join_video')) : null,
        canCancel && s.cancelling !== a.id ? h('button', { type: 'button', 'aria-label': `${t('cancel')}: ${label}`, 'data-key': `cancel:${a.id}`,
          onclick: () => { s.cancelling = a.id; cancelReason.value = ''; render(); cancelReason.focus(); } }, t('cancel')) : null),
      s.cancelling === a.id ? h('form', { class: 'cancel', onsubmit: (ev) => {
        ev.preventDefault();
        act(async () => {
          await api('POST', `/appointments/${a.id}/cancel`, { reason: cancelReason.value });
          s.cancelling = null;
          notice.textContent = t('my_cancelled', when(a.start_time));
          live.reload();
        });
      } }, field(t('cancel_reason'), cancelReason), h('button', { type: 'submit', class: 'primary' }, t('confirm_cancel')),
      h('button', { type: 'button', 'data-then': `cancel:${a.id}`, onclick: () => { s.cancelling = null; render(); } }, t('keep_appointment'))) : null);
  }

  function pastRow(a) {
    const v = s.sessions.get(a.id);
    const video = v?.status === 'completed' && v.duration_seconds != null
      ? ` · ${t('video_duration', Math.floor(v.duration_seconds / 60), v.duration_seconds % 60)}` : '';
    return h('li', {}, h('span', {}, h('span', { class: 'when' }, when(a.start_time)), ` ${describe(a)} · ${t(`appt_${a.status}`)}${video}`));
  }

  function render() {
    if (s.appts) keep(draw);
  }

  function draw() {
    const now = Date.now();
    const upcoming = s.appts.filter((a) => ACTIVE.includes(a.status) && Date.parse(a.end_time) > now);
    const past = s.appts.filter((a) => !upcoming.includes(a)).reverse();
    replace(upcomingEl, h('h2', { id: 'up-h' }, `${t('upcoming')} (${upcoming.length})`),
      upcoming.length ? h('ul', { class: 'appts' }, upcoming.map(upcomingRow)) : h('p', { class: 'empty' }, t('no_upcoming')));
    replace(pastEl, h('h2', { id: 'past-h' }, `${t('past')} (${past.length})`),
      past.length ? h('ul', { class: 'appts' }, past.map(pastRow)) : h('p', { class: 'empty' }, t('no_past')));
  }

  return live.screen(el, heading, () => {
    s.closed = true;
    s.call?.close();
  });
}
