// desk-appointments: today's confirmed appointments at the desk. Each can be checked in, cancelled with a reason
// (POST /appointments/{id}/cancel) or rescheduled to another free slot of its doctor on a chosen day (PATCH
// /appointments/{id} with the new start_time; the server keeps the double-booking rule and says why it refuses).
// One row at a time has its cancel or reschedule form open; their inputs live across re-renders.
import { field, h } from './dom.js';
import { formatDate, localDate } from './format.js';
import { lang, t } from './i18n.js';
import { api } from './session.js';
import { freeSlots, slotButtons } from './desk-slots.js';

// The inputs of the row forms (one open at a time), created once per screen.
export function rowInputs() {
  return {
    reason: h('input', { name: 'cancel-reason', autocomplete: 'off', required: true }),
    date: h('input', { name: 'reschedule-date', type: 'date' }),
    slots: null, // the free slots found for rescheduling, or null before a search
  };
}

const open = (ctx, a, kind) => {
  const { s, forms } = ctx;
  s.rowAction = { id: a.id, kind };
  forms.row.reason.value = '';
  forms.row.date.value = localDate(s.clinic.timezone, Date.parse(a.start_time));
  forms.row.slots = null;
  ctx.renderSide();
  (kind === 'cancel' ? forms.row.reason : forms.row.date).focus();
};
const closeRow = (ctx) => { ctx.s.rowAction = null; ctx.renderSide(); };
// The accessible names of a row's buttons: where the keyboard goes back to when its form closes.
const rescheduleLabel = (a) => `${t('reschedule')}: ${a.patient_name}`;
const cancelLabel = (a) => `${t('cancel')}: ${a.patient_name}`;

function cancelForm(ctx, a) {
  const { reason } = ctx.forms.row;
  return h('form', { class: 'cancel', 'aria-label': `${t('cancel')}: ${a.patient_name}`, onsubmit: (ev) => {
    ev.preventDefault();
    ctx.act(async () => {
      await api('POST', `/appointments/${a.id}/cancel`, { reason: reason.value.trim() });
      ctx.s.rowAction = null;
      ctx.tell(t('cancelled', a.patient_name, ctx.time(a.start_time)));
      ctx.reload();
    });
  } }, field(t('cancel_reason'), reason), h('button', { type: 'submit', 'data-then': cancelLabel(a) }, t('confirm_cancel')),
  h('button', { type: 'button', 'data-then': cancelLabel(a), onclick: () => closeRow(ctx) }, t('keep_appointment')));
}

function rescheduleForm(ctx, a) {
  const row = ctx.forms.row;
  const search = () => ctx.act(async () => {
    row.slots = await freeSlots(a.doctor_id, row.date.value, a.consultation_type);
    ctx.renderSide();
  });
  const move = (slot) => ctx.act(async () => {
    await api('PATCH', `/appointments/${a.id}`, { start_time: slot.start_time });
    ctx.s.rowAction = null;
    ctx.tell(t('rescheduled', a.patient_name, formatDate(row.date.value, lang()), ctx.time(slot.start_time)));
    ctx.reload();
  });
  return h('div', { class: 'reschedule', role: 'group', 'aria-label': `${t('reschedule')}: ${a.patient_name}` },
    h('div', { class: 'inline' }, field(t('new_date'), row.date), h('button', { type: 'button', onclick: search }, t('free_slots'))),
    slotButtons(ctx, row.slots, t('reschedule_to'), move, rescheduleLabel(a)),
    h('button', { type: 'button', 'data-then': rescheduleLabel(a), onclick: () => closeRow(ctx) }, t('keep_time')));
}

// One of today's appointments: check in, cancel, reschedule (the form opened in the row).
function appointmentRow(ctx, a) {
  const who = a.patient_name;
  const row = h('li', {},
    h('span', {}, h('span', { class: 'when' }, ctx.time(a.start_time)), ' ', h('span', { class: 'who' }, who),
      h('br'), h('span', { class: 'meta' }, ctx.doctorName(a.doctor_id))),
    h('span', { class: 'actions' },
      h('button', { type: 'button', 'aria-label': `${t('check_in')}: ${who}`,
        onclick: () => ctx.act(() => api('POST', `/appointments/${a.id}/check-in`)) }, t('check_in')),
      h('button', { type: 'button', 'aria-label': rescheduleLabel(a), onclick: () => open(ctx, a, 'reschedule') }, t('reschedule')),
      h('button', { type: 'button', 'aria-label': cancelLabel(a), onclick: () => open(ctx, a, 'cancel') }, t('cancel'))));
  const action = ctx.s.rowAction;
  if (action?.id === a.id) row.append(action.kind === 'cancel' ? cancelForm(ctx, a) : rescheduleForm(ctx, a));
  return row;
}

export function appointmentsPanel(ctx) {
  const list = ctx.s.appointments;
  return h('section', { class: 'panel', 'aria-labelledby': 'appts-h' },
    h('h2', { id: 'appts-h' }, t('todays_appointments')),
    list.length ? h('ul', { class: 'appts' }, list.map((a) => appointmentRow(ctx, a))) : h('p', { class: 'empty' }, t('no_appointments')));
}
