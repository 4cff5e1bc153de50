// admin-closings: a clinic's monthly closings, live. The month's closings opened for every doctor at once (batch),
// each closed, corrected with an adjustment, its payment confirmed with the transfer's reference; the doctor's
// answer (receipt confirmed, or disputed with a reason) shown as it arrives; a closing's lines and trail; the payout
// workbook (.xlsx, the only place the PIX keys are in full) downloaded with the in-memory token. Every step arrives
// back as `closing_updated` and reloads what it concerns; nothing is polled. Each POST carries an Idempotency-Key
// kept until it succeeds, so a repeated click cannot take a step twice. The buttons offered follow the closing's
// status, but the state machine is the server's: a refused step shows its message.
//
// This file holds the screen's state (ctx), the filters, the month's buttons, the table and the live reload; a
// row's payment and steps are admin-closings-rows.js, an opened closing admin-closings-detail.js.
import { field, h, replace } from './dom.js';
import { formatMoney, localDate } from './format.js';
import { lang, t } from './i18n.js';
import { connectLive } from './live.js';
import { api } from './session.js';
import { clinicOptions, formatInstant, pagedTable, previousMonth } from './admin-kit.js';
import { feedback, liveLine, saveDownload } from './kit.js';
import { allPages } from './pages.js';
import { openDetailQuietly } from './admin-closings-detail.js';
import { actions, paymentState } from './admin-closings-rows.js';

const STATUSES = ['draft', 'closed', 'payment_confirmed', 'receipt_confirmed', 'disputed']; // ClosingStatus

// The screen's state and elements, and the helpers every part of it uses (ctx).
function closingsContext() {
  const s = { clinics: [], clinic: null, detail: null, closed: false };
  const keys = new Map(); // `${closing or clinic}:${step}` -> the Idempotency-Key of that step until it succeeds
  const ctx = {
    s, fb: feedback(), statusLine: liveLine(), details: h('div'), pending: null,
    refs: new Map(), // closing id -> its reference input (what is typed survives a reload)
    adjusts: new Map(), // closing id -> its adjustment inputs
    money: (cents, currency) => formatMoney(cents, currency, lang()),
    when: (instant) => formatInstant(instant, s.clinic.timezone, lang()),
    // A POST step with its Idempotency-Key: the same key on a retry after a failure, a new one after a success.
    async step(scope, path, body) {
      if (!keys.has(scope)) keys.set(scope, crypto.randomUUID());
      const res = await api('POST', path, body, { 'idempotency-key': keys.get(scope) });
      keys.delete(scope);
      return res;
    },
    reload: () => reload(ctx),
  };
  ctx.clinic = h('select', { name: 'closing-clinic', onchange: () => pick(ctx) });
  ctx.month = h('input', { type: 'month', name: 'closing-month', required: true, onchange: () => show(ctx) });
  ctx.status = h('select', { name: 'closing-status', onchange: () => show(ctx) }, h('option', { value: '' }, t('adm_any_status')),
    STATUSES.map((v) => h('option', { value: v }, t(`adm_closing_${v}`))));
  ctx.table = closingsTable(ctx);
  return ctx;
}

function closingsTable(ctx) {
  const { s, fb, month, status, money } = ctx;
  return pagedTable({
    caption: t('adm_closings_list'),
    onError: (e) => fb.say(e.message),
    empty: t('adm_no_closings'),
    load: (cursor) => api('GET', `/closings?clinic_id=${s.clinic.id}&month=${month.value}${status.value ? `&status=${status.value}` : ''}&limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`),
    columns: [
      { head: t('doctor'), cell: (c) => c.doctor_name },
      { head: t('adm_status'), cell: (c) => h('span', { class: `state ${c.status}` }, t(`adm_closing_${c.status}`)) },
      { head: t('adm_consultations'), cell: (c) => String(c.consultation_count) },
      { head: t('adm_gross'), cell: (c) => money(c.gross_cents, c.currency) },
      { head: t('adm_net'), cell: (c) => h('strong', {}, money(c.net_cents, c.currency)) },
      { head: t('adm_pix_key'), cell: (c) => (c.pix_key ? `${t(`pix_${c.pix_key_type}`)}: ${c.pix_key}` : '—') },
      { head: t('adm_payment'), cell: (c) => paymentState(ctx, c) },
      { head: t('adm_actions'), cell: (c) => actions(ctx, c) },
    ],
  });
}

// The month's buttons: open every doctor's closing at once (batch), download the payout workbook.
function monthButtons(ctx) {
  const { s, fb, month } = ctx;
  const batch = h('button', { type: 'button', class: 'primary', onclick: () => fb.act(async () => {
    const res = await ctx.step(`${s.clinic.id}:${month.value}:batch`, '/closings/batch', { clinic_id: s.clinic.id, month: month.value });
    fb.tell(t('adm_batch_done', res.items.length, res.skipped.length));
    reload(ctx);
  }) }, t('adm_open_month'));
  const workbook = h('button', { type: 'button', onclick: () => fb.act(async () => {
    const name = await saveDownload(`/closings/export.xlsx?month=${month.value}&clinic_id=${s.clinic.id}`, 'closings.xlsx');
    fb.tell(t('adm_downloaded', name));
  }) }, t('adm_download_workbook'));
  return [batch, workbook];
}

function reload(ctx) {
  const { s } = ctx;
  clearTimeout(ctx.pending);
  ctx.pending = setTimeout(() => {
    if (s.closed || !s.clinic) return;
    ctx.table.reset();
    if (s.detail) openDetailQuietly(ctx, s.detail);
  }, 120);
}

function show(ctx) {
  const { s } = ctx;
  if (!s.clinic || !ctx.month.value) return;
  s.detail = null;
  replace(ctx.details);
  ctx.table.reset();
}

function pick(ctx) {
  const { s, month } = ctx;
  s.clinic = s.clinics.find((c) => String(c.id) === ctx.clinic.value) || null;
  if (!s.clinic) return;
  if (!month.value) month.value = previousMonth(localDate(s.clinic.timezone));
  show(ctx);
}

export function closingsScreen() {
  const ctx = closingsContext();
  const { s, fb, statusLine, clinic, month } = ctx;
  const live = connectLive({
    status: statusLine.set,
    connected: ctx.reload,
    event: (name, data) => {
      if (name === 'closing_updated' && data?.closing?.clinic_id === s.clinic?.id && data.closing.month === month.value) reload(ctx);
    },
  });

  (async () => {
    try {
      s.clinics = await allPages('/clinics');
      replace(clinic, clinicOptions(s.clinics, s.clinics[0]?.id));
      pick(ctx);
    } catch (e) { fb.say(e.message); }
  })();

  return {
    el: h('section', { class: 'admin' },
      h('div', { class: 'desk-head' }, h('h1', {}, t('title_closings')), statusLine.el), fb.message, fb.done,
      h('div', { class: 'panel inline' }, field(t('adm_clinic'), clinic), field(t('adm_month'), month), field(t('adm_status'), ctx.status), ...monthButtons(ctx)),
      h('div', { class: 'panel' }, ctx.table.el), ctx.details),
    close() {
      s.closed = true;
      clearTimeout(ctx.pending);
      live.close();
    },
  };
}
