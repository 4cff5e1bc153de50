// mypatients: the doctor's My Patients, live. GET /doctors/patients (the patients with a visit or an appointment
// with this doctor, searched as the API searches) with the visit count, the last visit and the next appointment;
// a patient's history with this doctor (GET /patients/{id}/history/{doctor_id}: visits, evolutions, payment
// status) opens beside the list. Visits and appointments of the doctor's rooms reload both; nothing is polled.
import { field, h, replace } from './dom.js';
import { formatDate, formatDateTime } from './format.js';
import { lang, t } from './i18n.js';
import { feedback, focusKeeper, liveLine, liveScreen, query, sequence, table } from './kit.js';
import { api, currentUser } from './session.js';

const RELOAD_ON = new Set(['new_checkin', 'visit_status_changed', 'consultation_completed', 'appointment_created', 'appointment_updated',
  'appointment_cancelled', 'payment_processed']);

function patientRows(ctx) {
  const when = (x) => (x ? formatDateTime(x, ctx.s.clinic.timezone, lang()) : '—');
  return ctx.s.list.map((row) => [row.patient.full_name, String(row.visit_count), when(row.last_visit_at), when(row.next_appointment_at),
    h('button', { type: 'button', 'aria-label': `${t('open_history')}: ${row.patient.full_name}`, onclick: () => ctx.act(() => openHistory(ctx, row.patient)) },
      t('open_history'))]);
}

function renderList(ctx) {
  const { s } = ctx;
  ctx.keepList(() => replace(ctx.listEl, s.list.length
    ? table(t('my_patients_list'), [t('patient'), t('visits_count'), t('last_visit'), t('next_appointment'), t('actions')], patientRows(ctx))
    : h('p', { class: 'empty' }, t('no_patients_found')),
  s.next ? h('button', { type: 'button', onclick: () => ctx.act(() => loadList(ctx, s.next)) }, t('load_more')) : null));
}

function visitItem(hv) {
  const e = hv.evolution;
  const diagnoses = e ? e.diagnoses.map((d) => `${d.code} — ${d.description}`).join('; ') : '';
  return h('li', {},
    h('strong', {}, formatDate(hv.visit.queue_date, lang())), ` · ${hv.service_name || t('no_service')} · ${t(`visit_${hv.visit.status}`)}`,
    hv.payment_status ? ` · ${t(`payment_${hv.payment_status}`)}` : '',
    e ? h('p', { class: 'meta' }, `${e.status === 'signed' ? t('evolution_is_signed') : t('evolution_is_draft')}${diagnoses ? ` · ${diagnoses}` : ''}`) : null,
    e?.notes ? h('p', { class: 'notes' }, e.notes) : null);
}

function renderHistory(ctx) {
  const { s } = ctx;
  if (!s.open) {
    replace(ctx.historyEl, h('h2', { id: 'hist-h' }, t('history_title')), h('p', { class: 'empty' }, t('pick_a_patient')));
    return;
  }
  ctx.keepHistory(() => replace(ctx.historyEl, h('h2', { id: 'hist-h', tabindex: '-1' }, t('history_of', s.open.full_name)),
    s.history.length ? h('ol', { class: 'history' }, s.history.map(visitItem)) : h('p', { class: 'empty' }, t('no_visits_yet')),
    s.historyNext ? h('button', { type: 'button', onclick: () => ctx.act(() => openHistory(ctx, s.open, s.historyNext)) },
      t('load_more')) : null));
}

async function openHistory(ctx, patient, cursor) {
  const { s } = ctx;
  const page = await api('GET', `/patients/${patient.id}/history/${currentUser().doctor_id}?${query({ limit: 20, cursor })}`);
  s.history = cursor ? [...s.history, ...page.items] : page.items;
  s.historyNext = page.next_cursor;
  const moved = s.open?.id !== patient.id;
  s.open = patient;
  renderHistory(ctx);
  if (moved) ctx.historyEl.querySelector('h2')?.focus();
}

// The search last submitted (s.q): a reload and "Load more" use it, not what is typed since.
async function loadList(ctx, cursor) {
  const { s } = ctx;
  const mine = ctx.seq.latest();
  const page = await api('GET', `/doctors/patients?${query({ q: s.q, limit: 50, cursor })}`);
  if (!ctx.seq.isLatest(mine) || s.closed) return;
  s.list = cursor ? [...s.list, ...page.items] : page.items;
  s.next = page.next_cursor;
  renderList(ctx);
}

async function refresh(ctx) {
  await loadList(ctx);
  if (ctx.s.open) await openHistory(ctx, ctx.s.open);
}

export function myPatientsScreen() {
  const fb = feedback();
  const status = liveLine();
  const s = { clinic: null, q: '', list: [], next: null, open: null, history: [], historyNext: null, closed: false };
  const ctx = { s, ...fb, seq: sequence(), q: h('input', { type: 'search', name: 'q', autocomplete: 'off' }),
    listEl: h('section', { class: 'panel', 'aria-label': t('my_patients_list') }), historyEl: h('section', { class: 'panel history-panel', 'aria-labelledby': 'hist-h' }) };
  const search = h('form', { class: 'inline', role: 'search', onsubmit: (ev) => { ev.preventDefault(); s.q = ctx.q.value.trim(); ctx.act(() => loadList(ctx)); } },
    field(t('search_patients'), ctx.q), h('button', { type: 'submit' }, t('search')));
  const heading = h('h1', { tabindex: '-1' }, t('title_my_patients'));
  const el = h('section', { class: 'mypatients' }, h('div', { class: 'desk-head' }, heading, status.el),
    fb.message, search, h('div', { class: 'two-cols' }, ctx.listEl, ctx.historyEl));
  // "Load more" keeps the keyboard while there are more; after the last page, the list's caption or the history's
  // heading takes it.
  ctx.keepList = focusKeeper(ctx.listEl, [fb.message, () => ctx.listEl.querySelector('caption'), heading]);
  ctx.keepHistory = focusKeeper(ctx.historyEl, [fb.message, () => ctx.historyEl.querySelector('h2'), heading]);
  renderHistory(ctx);
  const close = liveScreen({ s, status, say: fb.say, events: RELOAD_ON, reload: () => refresh(ctx), first: () => loadList(ctx) });
  return { el, close };
}
