// desk-appointments: today's confirmed appointments at the desk. Each can be checked in or cancelled with a reason
// (POST /appointments/{id}/cancel). One row at a time has its cancel form open; its input lives across re-renders.
import { field, h } from './dom.js';
import { t } from './i18n.js';
import { api } from './session.js';

// The inputs of the row forms (one open at a time), created once per screen.
export function rowInputs() {
  return {
    reason: h('input', { name: 'cancel-reason', autocomplete: 'off', required: true }),
  };
}

const open = (ctx, a, kind) => {
  const { s, forms } = ctx;
  s.rowAction = { id: a.id, kind };
  forms.row.reason.value = '';
  ctx.renderSide();
  forms.row.reason.focus();
};
const closeRow = (ctx) => { ctx.s.rowAction = null; ctx.renderSide(); };

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
  } }, field(t('cancel_reason'), reason), h('button', { type: 'submit' }, t('confirm_cancel')),
  h('button', { type: 'button', onclick: () => closeRow(ctx) }, t('keep_appointment')));
}

// One of today's appointments: check in, or cancel (the form opened in the row).
function appointmentRow(ctx, a) {
  const who = a.patient_name;
  const row = h('li', {},
    h('span', {}, h('span', { class: 'when' }, ctx.time(a.start_time)), ' ', h('span', { class: 'who' }, who),
      h('br'), h('span', { class: 'meta' }, ctx.doctorName(a.doctor_id))),
    h('span', { class: 'actions' },
      h('button', { type: 'button', 'aria-label': `${t('check_in')}: ${who}`,
        onclick: () => ctx.act(() => api('POST', `/appointments/${a.id}/check-in`)) }, t('check_in')),
      h('button', { type: 'button', 'aria-label': `${t('cancel')}: ${who}`, onclick: () => open(ctx, a, 'cancel') }, t('cancel'))));
  const action = ctx.s.rowAction;
  if (action?.id === a.id) row.append(cancelForm(ctx, a));
  return row;
}

export function appointmentsPanel(ctx) {
  const list = ctx.s.appointments;
  return h('section', { class: 'panel', 'aria-labelledby': 'appts-h' },
    h('h2', { id: 'appts-h' }, t('todays_appointments')),
    list.length ? h('ul', { class: 'appts' }, list.map((a) => appointmentRow(ctx, a))) : h('p', { class: 'empty' }, t('no_appointments')));
}
