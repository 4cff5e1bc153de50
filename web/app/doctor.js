// doctor: Today's Work of the signed-in doctor, live. The day's counts (GET /dashboard/doctor/stats), their line
// (GET /queue?doctor_id=), their coming appointments (doctor-upcoming.js), and the patient card, which appears when the desk sends a patient in: the
// `patient_with_doctor` event of the doctor's own room carries the visit, the patient and the history with this
// doctor. The consultation view writes the evolution (notes, ICD-10 diagnoses), signs it and completes the
// consultation; the server decides what is allowed (a signed evolution cannot change, only the visit's doctor
// completes) and its refusals are shown as they come.
//
// This file holds the screen's state (ctx), its loading and live wiring, and the video note; the side panels
// (doctor-panels.js) and the patient card (doctor-card.js) draw from it.
import { h, replace } from './dom.js';
import { formatTime } from './format.js';
import { lang, t } from './i18n.js';
import { focusKeeper, liveLine } from './kit.js';
import { connectLive } from './live.js';
import { api, currentUser } from './session.js';
import { renderCard } from './doctor-card.js';
import { renderQueue, renderStats } from './doctor-panels.js';
import { loadUpcoming, upcomingPanel } from './doctor-upcoming.js';

const ROUTES = ['oral', 'sublingual', 'topical', 'inhaled', 'nasal', 'ophthalmic', 'otic', 'rectal', 'vaginal', 'transdermal',
  'subcutaneous', 'intramuscular', 'intravenous', 'other']; // openapi.yaml PrescriptionRoute
const RELOAD_ON = new Set(['queue_updated', 'new_checkin', 'visit_status_changed', 'consultation_completed', 'payment_processed',
  'appointment_created', 'appointment_updated', 'appointment_cancelled']);

// The consultation form's inputs live across re-renders.
function consultationInputs() {
  return {
    notes: h('textarea', { name: 'notes', rows: 6 }),
    code: h('input', { name: 'icd10', autocomplete: 'off', size: 8 }),
    description: h('input', { name: 'diagnosis', autocomplete: 'off' }),
    drug: h('input', { name: 'drug', autocomplete: 'off' }),
    dose: h('input', { name: 'dose', autocomplete: 'off', size: 10 }),
    route: h('select', { name: 'route' }, ROUTES.map((r) => h('option', { value: r }, t(`route_${r}`)))),
    frequency: h('input', { name: 'frequency', autocomplete: 'off', size: 12 }),
    duration: h('input', { name: 'duration', autocomplete: 'off', size: 10 }),
    addendum: h('textarea', { name: 'addendum', rows: 3 }),
  };
}

// The screen's state and elements, and the helpers every part of it uses (ctx).
function doctorContext() {
  const s = { clinic: null, stats: null, board: null, card: null, evolution: null, diagnoses: [], prescriptions: [], closed: false };
  const status = liveLine();
  const message = h('p', { class: 'message', role: 'alert' });
  const statsEl = h('section', { class: 'panel stats', 'aria-labelledby': 'stats-h' });
  const queueEl = h('section', { class: 'panel queue', 'aria-labelledby': 'queue-h' });
  const upcomingEl = h('div', {});
  const cardEl = h('section', { class: 'patient-card', 'aria-labelledby': 'card-h', 'aria-live': 'polite' });
  // The way to the video consultations (doctor-video.js), saying who waits in a video waiting room.
  const videoNote = h('p', { class: 'video-note', role: 'status' }, h('a', { href: '#/video' }, t('go_to_video')));
  const heading = h('h1', { tabindex: '-1' }, t('doctor_title'));
  const el = h('section', { class: 'doctor' },
    h('div', { class: 'desk-head' }, heading, status.el), message, videoNote,
    h('div', { class: 'doctor-body' }, h('div', { class: 'doctor-side' }, statsEl, queueEl, upcomingEl), cardEl));
  message.tabIndex = -1;
  const say = (text) => { message.textContent = text || ''; };
  const ctx = {
    me: currentUser(), s, el, status, statsEl, queueEl, upcomingEl, cardEl, videoNote, say,
    keep: focusKeeper(el, [message, heading]),
    act: async (fn) => {
      say('');
      try { await fn(); } catch (e) { say(e.message); }
    },
    time: (instant) => formatTime(instant, s.clinic.timezone, lang()),
    render: () => render(ctx),
    pendingReload: null, loads: 0, waitingSession: null,
  };
  ctx.reload = () => {
    clearTimeout(ctx.pendingReload);
    ctx.pendingReload = setTimeout(() => load(ctx).catch((e) => say(e.message)), 120);
  };
  ctx.form = consultationInputs();
  return ctx;
}

// Loads can overlap (an event during a load): only the latest one's answers are shown.
async function load(ctx) {
  const { s, me } = ctx;
  if (s.closed) return;
  const mine = ++ctx.loads;
  const [stats, board, upcoming] = await Promise.all([api('GET', '/dashboard/doctor/stats'), api('GET', `/queue?doctor_id=${me.doctor_id}`),
    loadUpcoming()]);
  if (mine !== ctx.loads || s.closed) return;
  s.stats = stats;
  s.board = board;
  s.upcoming = upcoming;
  const active = board.phases.with_doctor[0];
  if (!active) {
    s.card = null;
  } else if (!s.card || s.card.visit.id !== active.id) {
    // Opened with a consultation already in progress: the card from the patient and the history.
    const [patient, history] = await Promise.all([
      api('GET', `/patients/${active.patient_id}`),
      api('GET', `/patients/${active.patient_id}/history/${me.doctor_id}?limit=11`),
    ]);
    if (mine !== ctx.loads || s.closed) return;
    const current = history.items.find((hv) => hv.visit.id === active.id);
    if (s.card?.visit.id !== active.id) openCard(ctx, { visit: active, patient, visit_history: history.items.filter((hv) => hv.visit.id !== active.id).slice(0, 10) },
      current?.evolution || null);
  }
  render(ctx);
}

// The history comes nested from GET /patients/{id}/history/{doctor} ({visit, evolution, ...}) and flat in the
// event (the visit's fields at the top level): the card reads one shape.
const nested = (hv) => (hv.visit ? hv : { ...hv, visit: hv });

function openCard(ctx, data, evolution) {
  const { s } = ctx;
  s.card = { ...data, visit_history: data.visit_history.map(nested) };
  s.evolution = evolution;
  s.diagnoses = evolution ? evolution.diagnoses.map((d) => ({ code: d.code, description: d.description })) : [];
  s.prescriptions = evolution ? evolution.prescriptions.map(({ drug, dose, route, frequency, duration, instructions }) =>
    ({ drug, dose, route, frequency, duration, instructions })) : [];
  ctx.form.notes.value = evolution?.notes || '';
}

function render(ctx) {
  const { s } = ctx;
  if (!s.board) return;
  ctx.keep(() => {
    renderStats(ctx);
    renderQueue(ctx);
    replace(ctx.upcomingEl, upcomingPanel(s.upcoming, s.clinic.timezone));
    renderCard(ctx);
  });
}

// Who waits in a video waiting room, said until that session leaves 'waiting' (the patient admitted, or the
// session over): both come as video_session_updated.
function videoBanner(ctx, name, data) {
  if (name === 'patient_waiting' && data?.patient_label) {
    ctx.waitingSession = data.session_id;
    replace(ctx.videoNote, t('video_waiting_banner', data.patient_label), ' ', h('a', { href: '#/video' }, t('go_to_video')));
  } else if (name === 'video_session_updated' && data?.session?.id === ctx.waitingSession && data.session.status !== 'waiting') {
    ctx.waitingSession = null;
    replace(ctx.videoNote, h('a', { href: '#/video' }, t('go_to_video')));
  }
}

function onEvent(ctx, name, data) {
  if (name === 'patient_with_doctor' && data?.visit && data?.patient) {
    openCard(ctx, { visit: data.visit, patient: data.patient, visit_history: data.visit_history || [] }, null);
    render(ctx);
    ctx.reload();
  } else if (RELOAD_ON.has(name)) ctx.reload();
  videoBanner(ctx, name, data);
}

export function doctorScreen() {
  const ctx = doctorContext();
  const { s } = ctx;
  const live = connectLive({
    status: ctx.status.set,
    connected: ctx.reload,
    event: (name, data) => onEvent(ctx, name, data),
  });

  (async () => {
    try {
      s.clinic = await api('GET', `/clinics/${ctx.me.clinic_id}`);
      await load(ctx);
    } catch (e) { ctx.say(e.message); }
  })();

  return {
    el: ctx.el,
    close() {
      s.closed = true;
      clearTimeout(ctx.pendingReload);
      live.close();
    },
  };
}
