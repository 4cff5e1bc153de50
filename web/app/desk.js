// desk: the receptionist's board of the day, live. Three phases as the API returns them (GET /queue), today's
// confirmed appointments to check in, cancel or reschedule, a walk-in form, booking from free slots, and the
// payments of completed consultations. Every change comes back as pushed events, which reload what they concern;
// nothing is polled. Every action is one API call whose refusal is shown as the API's message: the console
// decides no rule the server does not enforce. This file holds the screen's state, loading and live wiring; the
// board (desk-board.js), the appointments (desk-appointments.js) and the forms (desk-forms.js) draw from it.
import { h } from './dom.js';
import { formatMoney, formatTime } from './format.js';
import { lang, t } from './i18n.js';
import { coalesced, feedback, focusKeeper, liveLine, sequence } from './kit.js';
import { connectLive } from './live.js';
import { api, currentUser } from './session.js';
import { boardColumns, renderSummary } from './desk-board.js';
import { appointmentsPanel } from './desk-appointments.js';
import { bookForm, deskForms, walkInForm } from './desk-forms.js';

// Events that change what the desk shows.
// (participant_joined / participant_left: a doctor connected or left, for the online flags.)
const RELOAD_ON = new Set(['queue_updated', 'new_checkin', 'visit_status_changed', 'patient_with_doctor', 'consultation_completed',
  'appointment_created', 'appointment_updated', 'appointment_cancelled', 'payment_processed', 'participant_joined', 'participant_left']);

// The screen's state and elements, and the helpers every part of it uses (ctx).
function deskContext() {
  const s = {
    clinic: null, doctors: [], services: [], board: null, stats: null, loadedAt: 0, rowAction: null, payMethod: new Map(), payKey: new Map(),
    appointments: [], pending: new Map(), settled: new Map(), patients: new Map(), doctorFilter: '', found: [], closed: false,
  };
  const fb = feedback();
  const status = liveLine();
  const summary = h('div', { class: 'summary' });
  const columns = h('div', { class: 'columns' });
  const side = h('aside', { class: 'side', 'aria-label': t('desk_side') });
  const heading = h('h1', { tabindex: '-1' }, t('desk_title'));
  const el = h('section', { class: 'desk' },
    h('div', { class: 'desk-head' }, heading, status.el), fb.message, fb.done, summary,
    h('div', { class: 'desk-body' }, columns, side));
  const ctx = {
    s, el, summary, columns, side, status, ...fb, seq: sequence(), keep: focusKeeper(el, [fb.message, fb.done, heading]),
    money: (cents, currency) => formatMoney(cents, currency || s.clinic.currency, lang()),
    time: (instant) => formatTime(instant, s.clinic.timezone, lang()),
    doctorName: (id) => s.doctors.find((d) => d.id === id)?.full_name || `#${id}`,
    renderSide: () => ctx.keep(() => renderSide(ctx)),
    render: () => render(ctx),
    load: () => load(ctx),
  };
  ctx.reload = coalesced(ctx.load, fb.say);
  ctx.forms = deskForms();
  return ctx;
}

function patientName(ctx, id) {
  const { patients } = ctx.s;
  if (!patients.has(id)) patients.set(id, api('GET', `/patients/${id}`).then((p) => p.full_name, () => `#${id}`));
  return patients.get(id);
}

// Only the latest of overlapping loads is shown.
async function load(ctx) {
  const { s } = ctx;
  if (s.closed) return;
  const mine = ctx.seq.latest();
  const byDoctor = s.doctorFilter ? `&doctor_id=${s.doctorFilter}` : '';
  const board = await api('GET', `/queue${s.doctorFilter ? `?doctor_id=${s.doctorFilter}` : ''}`);
  const [appts, pays, stats] = await Promise.all([
    api('GET', `/appointments?from=${board.date}&to=${board.date}&status=confirmed&limit=200${byDoctor}`),
    api('GET', '/payments?limit=200'), // the clinic's latest: today's consultations among them
    api('GET', '/dashboard/reception/stats'),
  ]);
  const names = await Promise.all(appts.items.map((a) => patientName(ctx, a.patient_id)));
  if (!ctx.seq.isLatest(mine) || s.closed) return;
  s.board = board;
  s.stats = stats;
  s.loadedAt = Date.now();
  s.appointments = appts.items.map((a, i) => ({ ...a, patient_name: names[i] }));
  s.pending = new Map(pays.items.filter((p) => p.status === 'pending').map((p) => [p.visit_id, p]));
  for (const p of pays.items) if (p.status !== 'pending') s.settled.set(p.visit_id, p);
  render(ctx);
}

function renderSide(ctx) {
  ctx.side.replaceChildren(appointmentsPanel(ctx), walkInForm(ctx), bookForm(ctx));
}

function render(ctx) {
  if (!ctx.s.board) return;
  // Keep the keyboard where it was (focusKeeper). The inputs of the side forms are the same elements across renders
  // (what is typed stays, and they get the focus back); a rebuilt button is found again by its accessible name.
  ctx.keep(() => {
    renderSummary(ctx);
    ctx.columns.replaceChildren(...boardColumns(ctx));
    renderSide(ctx);
  });
}

async function start(ctx) {
  const { s } = ctx;
  try {
    const [clinic, doctors, services] = await Promise.all([
      api('GET', `/clinics/${currentUser().clinic_id}`), api('GET', '/doctors?limit=200'), api('GET', '/services?limit=200'),
    ]);
    s.clinic = clinic;
    s.doctors = doctors.items;
    s.services = services.items.filter((sv) => sv.active);
    await load(ctx);
  } catch (e) { ctx.say(e.message); }
}

export function deskScreen() {
  const ctx = deskContext();
  const { s } = ctx;
  const live = connectLive({
    status: ctx.status.set,
    connected: ctx.reload,
    event: (name, data) => {
      if (name === 'payment_processed' && data?.payment) s.settled.set(data.payment.visit_id, data.payment);
      if (RELOAD_ON.has(name)) ctx.reload();
    },
  });
  // Minutes waited move on between events (no API call).
  const tick = setInterval(() => render(ctx), 30000);
  start(ctx);
  return {
    el: ctx.el,
    close() {
      s.closed = true;
      clearInterval(tick);
      ctx.reload.cancel();
      live.close();
    },
  };
}
