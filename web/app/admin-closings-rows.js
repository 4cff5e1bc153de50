// admin-closings-rows: a row of the admin's closings table: where the payment stands (with the doctor's answer) and
// the steps the closing's status offers: close it, confirm its payment with the transfer's reference (an input kept
// per closing, so what is typed survives a reload), open its details. Each step goes through ctx.step (its
// Idempotency-Key); the server's refusal is shown (ctx.fb.act).
import { field, h } from './dom.js';
import { t } from './i18n.js';
import { openDetail } from './admin-closings-detail.js';

// Where the payment stands, with the doctor's answer.
export function paymentState(ctx, c) {
  const { when } = ctx;
  const parts = [];
  if (c.payment_reference) parts.push(h('div', {}, t('adm_paid_ref', c.payment_reference, when(c.payment_confirmed_at))));
  if (c.status === 'payment_confirmed') parts.push(h('div', { class: 'meta' }, t('adm_awaiting_receipt')));
  if (c.status === 'receipt_confirmed') parts.push(h('div', { class: 'ok' }, t('adm_receipt_confirmed', when(c.receipt_confirmed_at))));
  if (c.dispute_reason) parts.push(h('div', { class: 'bad' }, t('adm_disputed_because', c.dispute_reason)));
  return parts.length ? parts : '—';
}

function confirmForm(ctx, c) {
  const { refs, fb } = ctx;
  if (!refs.has(c.id)) refs.set(c.id, h('input', { name: `reference-${c.id}`, required: true, maxlength: 200, autocomplete: 'off' }));
  const ref = refs.get(c.id);
  return h('form', { class: 'confirm', 'aria-label': `${t('adm_confirm_payment')}: ${c.doctor_name}`, onsubmit: (ev) => {
    ev.preventDefault();
    fb.act(async () => {
      await ctx.step(`${c.id}:confirm`, `/closings/${c.id}/confirm-payment`, { reference: ref.value.trim() });
      refs.delete(c.id);
      fb.tell(t('adm_payment_confirmed', c.doctor_name));
      ctx.reload();
    });
  } }, field(t('adm_reference'), ref),
  h('button', { type: 'submit', 'aria-label': `${t('adm_confirm_payment')}: ${c.doctor_name}` }, t('adm_confirm_payment')));
}

export function actions(ctx, c) {
  const { fb } = ctx;
  const who = c.doctor_name;
  const out = [];
  if (c.status === 'draft' || c.status === 'disputed') {
    out.push(h('button', { type: 'button', class: 'primary', 'aria-label': `${t('adm_close')}: ${who}`, onclick: () => fb.act(async () => {
      await ctx.step(`${c.id}:close`, `/closings/${c.id}/close`);
      fb.tell(t('adm_closed', who));
      ctx.reload();
    }) }, t('adm_close')));
  }
  if (c.status === 'closed') out.push(confirmForm(ctx, c));
  out.push(h('button', { type: 'button', 'aria-label': `${t('adm_details')}: ${who}`, onclick: () => fb.act(() => openDetail(ctx, c.id)) }, t('adm_details')));
  return h('div', { class: 'actions' }, out);
}
