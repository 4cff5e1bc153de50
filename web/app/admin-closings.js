// admin-closings: a clinic's monthly closings, live. The month's closings opened for every doctor at once (batch),
// each closed, corrected with an adjustment, its payment confirmed with the transfer's reference; the doctor's
// answer (receipt confirmed, or disputed with a reason) shown as it arrives; a closing's lines and trail; the payout
// workbook (.xlsx, the only place the PIX keys are in full) downloaded with the in-memory token. Every step arrives
// back as `closing_updated` and reloads what it concerns; nothing is polled. Each POST carries an Idempotency-Key
// kept until it succeeds, so a repeated click cannot take a step twice. The buttons offered follow the closing's
// status, but the state machine is the server's: a refused step shows its message.
import { field, h, replace, uid } from './dom.js';
import { formatMoney, localDate } from './format.js';
import { lang, t } from './i18n.js';
import { connectLive } from './live.js';
import { api } from './session.js';
import { clinicOptions, currencyDigits, formatInstant, formatMonth, pagedTable, parseAmount, previousMonth } from './admin-kit.js';
import { feedback, liveLine, saveDownload } from './kit.js';
import { allPages } from './pages.js';

const STATUSES = ['draft', 'closed', 'payment_confirmed', 'receipt_confirmed', 'disputed']; // ClosingStatus

export function closingsScreen() {
  const fb = feedback();
  const s = { clinics: [], clinic: null, detail: null, closed: false };
  const keys = new Map(); // `${closing or clinic}:${step}` -> the Idempotency-Key of that step until it succeeds
  const refs = new Map(); // closing id -> its reference input (what is typed survives a reload)
  const adjusts = new Map(); // closing id -> its adjustment inputs
  const clinic = h('select', { name: 'closing-clinic', onchange: () => pick() });
  const month = h('input', { type: 'month', name: 'closing-month', required: true, onchange: () => show() });
  const status = h('select', { name: 'closing-status', onchange: () => show() }, h('option', { value: '' }, t('adm_any_status')),
    STATUSES.map((v) => h('option', { value: v }, t(`adm_closing_${v}`))));
  const statusLine = liveLine();
  const details = h('div');
  const zone = () => s.clinic.timezone;
  const money = (cents, currency) => formatMoney(cents, currency, lang());
  const when = (instant) => formatInstant(instant, zone(), lang());

  // A POST step with its Idempotency-Key: the same key on a retry after a failure, a new one after a success.
  async function step(scope, path, body) {
    if (!keys.has(scope)) keys.set(scope, crypto.randomUUID());
    const res = await api('POST', path, body, { 'idempotency-key': keys.get(scope) });
    keys.delete(scope);
    return res;
  }

  const table = pagedTable({
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
      { head: t('adm_payment'), cell: paymentState },
      { head: t('adm_actions'), cell: actions },
    ],
  });

  // Where the payment stands, with the doctor's answer.
  function paymentState(c) {
    const parts = [];
    if (c.payment_reference) parts.push(h('div', {}, t('adm_paid_ref', c.payment_reference, when(c.payment_confirmed_at))));
    if (c.status === 'payment_confirmed') parts.push(h('div', { class: 'meta' }, t('adm_awaiting_receipt')));
    if (c.status === 'receipt_confirmed') parts.push(h('div', { class: 'ok' }, t('adm_receipt_confirmed', when(c.receipt_confirmed_at))));
    if (c.dispute_reason) parts.push(h('div', { class: 'bad' }, t('adm_disputed_because', c.dispute_reason)));
    return parts.length ? parts : '—';
  }

  function actions(c) {
    const who = c.doctor_name;
    const out = [];
    if (c.status === 'draft' || c.status === 'disputed') {
      out.push(h('button', { type: 'button', class: 'primary', 'aria-label': `${t('adm_close')}: ${who}`, onclick: () => fb.act(async () => {
        await step(`${c.id}:close`, `/closings/${c.id}/close`);
        fb.tell(t('adm_closed', who));
        reload();
      }) }, t('adm_close')));
    }
    if (c.status === 'closed') out.push(confirmForm(c));
    out.push(h('button', { type: 'button', 'aria-label': `${t('adm_details')}: ${who}`, onclick: () => fb.act(() => openDetail(c.id)) }, t('adm_details')));
    return h('div', { class: 'actions' }, out);
  }

  function confirmForm(c) {
    if (!refs.has(c.id)) refs.set(c.id, h('input', { name: `reference-${c.id}`, required: true, maxlength: 200, autocomplete: 'off' }));
    const ref = refs.get(c.id);
    return h('form', { class: 'confirm', 'aria-label': `${t('adm_confirm_payment')}: ${c.doctor_name}`, onsubmit: (ev) => {
      ev.preventDefault();
      fb.act(async () => {
        await step(`${c.id}:confirm`, `/closings/${c.id}/confirm-payment`, { reference: ref.value.trim() });
        refs.delete(c.id);
        fb.tell(t('adm_payment_confirmed', c.doctor_name));
        reload();
      });
    } }, field(t('adm_reference'), ref),
    h('button', { type: 'submit', 'aria-label': `${t('adm_confirm_payment')}: ${c.doctor_name}` }, t('adm_confirm_payment')));
  }

  // A closing's lines and trail, and the adjustment form while it can be corrected.
  // `heading`: move the keyboard to the panel (opened by the user), else leave it where it is (a live reload).
  async function openDetail(id, heading = true) {
    const d = await api('GET', `/closings/${id}`);
    s.detail = d.id;
    const headId = uid('detail');
    const lineRows = d.lines.map((l) => h('tr', {}, h('td', {}, when(l.occurred_at)), h('td', {}, t(`adm_line_${l.kind}`)), h('td', {}, l.description),
      h('td', { class: 'num' }, money(l.amount_cents, d.currency)), h('td', { class: 'num' }, money(l.doctor_cents, d.currency))));
    const trail = d.trail.map((x) => h('li', {}, `${when(x.at)} · ${t(`adm_step_${x.action}`)} · ${x.from_status ? `${t(`adm_closing_${x.from_status}`)} → ` : ''}${t(`adm_closing_${x.to_status}`)}${x.actor_role ? ` · ${t(`role_${x.actor_role}`)}` : ''}${x.note ? ` · ${x.note}` : ''}`));
    replace(details, h('section', { class: 'panel', 'aria-labelledby': headId },
      h('h2', { id: headId, tabindex: '-1' }, t('adm_closing_of', d.doctor_name, formatMonth(d.month, lang()))),
      h('p', {}, `${t(`adm_closing_${d.status}`)} · ${t('adm_net')}: `, h('strong', {}, money(d.net_cents, d.currency)), ` · ${t('adm_gross')}: ${money(d.gross_cents, d.currency)}`),
      h('table', { class: 'grid' }, h('caption', {}, t('adm_lines')),
        h('thead', {}, h('tr', {}, [t('date'), t('adm_kind'), t('adm_description'), t('adm_amount'), t('adm_doctor_amount')].map((x) => h('th', { scope: 'col' }, x)))),
        h('tbody', {}, lineRows.length ? lineRows : h('tr', {}, h('td', { colspan: 5, class: 'empty' }, t('adm_none'))))),
      d.status === 'draft' || d.status === 'disputed' ? adjustForm(d) : null,
      h('h3', {}, t('adm_trail')), h('ol', { class: 'trail' }, trail),
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => fb.act(() => saveDownload(`/closings/${d.id}/export.xlsx`, `closing-${d.id}.xlsx`)) }, t('adm_download_one')),
        h('button', { type: 'button', onclick: () => { s.detail = null; replace(details); } }, t('adm_hide')))));
    if (heading) details.querySelector('h2').focus();
  }

  function adjustForm(d) {
    if (!adjusts.has(d.id)) {
      const input = h('input', { name: 'adjust-amount', required: true, inputmode: 'decimal', autocomplete: 'off', class: 'short' });
      input.addEventListener('input', () => input.setCustomValidity(''));
      adjusts.set(d.id, { amount: input, reason: h('input', { name: 'adjust-reason', required: true, maxlength: 500, autocomplete: 'off' }) });
    }
    const { amount, reason } = adjusts.get(d.id); // the same inputs across reloads: what is typed survives an event
    return h('form', { class: 'inline adjust', 'aria-label': t('adm_adjust'), onsubmit: (ev) => {
      ev.preventDefault();
      const cents = parseAmount(amount.value, currencyDigits(d.currency), true);
      amount.setCustomValidity(Number.isNaN(cents) || cents === null ? t('adm_bad_amount') : '');
      if (!amount.reportValidity()) return;
      fb.act(async () => {
        await step(`${d.id}:adjust`, `/closings/${d.id}/adjustments`, { amount_cents: cents, reason: reason.value.trim() });
        adjusts.delete(d.id);
        fb.tell(t('adm_adjusted', d.doctor_name));
        await openDetail(d.id);
        reload();
      });
    } }, field(`${t('adm_adjust_amount')} (${d.currency})`, amount), field(t('adm_adjust_reason'), reason),
    h('button', { type: 'submit' }, t('adm_adjust')));
  }

  const batch = h('button', { type: 'button', class: 'primary', onclick: () => fb.act(async () => {
    const res = await step(`${s.clinic.id}:${month.value}:batch`, '/closings/batch', { clinic_id: s.clinic.id, month: month.value });
    fb.tell(t('adm_batch_done', res.items.length, res.skipped.length));
    reload();
  }) }, t('adm_open_month'));
  const workbook = h('button', { type: 'button', onclick: () => fb.act(async () => {
    const name = await saveDownload(`/closings/export.xlsx?month=${month.value}&clinic_id=${s.clinic.id}`, 'closings.xlsx');
    fb.tell(t('adm_downloaded', name));
  }) }, t('adm_download_workbook'));

  let pending = null;
  function reload() {
    clearTimeout(pending);
    pending = setTimeout(() => {
      if (s.closed || !s.clinic) return;
      table.reset();
      if (s.detail) openDetailQuietly(s.detail);
    }, 120);
  }
  const openDetailQuietly = (id) => {
    const focused = details.contains(document.activeElement) ? document.activeElement : null;
    openDetail(id, false).then(() => { if (focused?.isConnected) focused.focus(); }, (e) => fb.say(e.message));
  };

  function show() {
    if (!s.clinic || !month.value) return;
    s.detail = null;
    replace(details);
    table.reset();
  }
  function pick() {
    s.clinic = s.clinics.find((c) => String(c.id) === clinic.value) || null;
    if (!s.clinic) return;
    if (!month.value) month.value = previousMonth(localDate(s.clinic.timezone));
    show();
  }

  const live = connectLive({
    status: statusLine.set,
    connected: reload,
    event: (name, data) => {
      if (name === 'closing_updated' && data?.closing?.clinic_id === s.clinic?.id && data.closing.month === month.value) reload();
    },
  });

  (async () => {
    try {
      s.clinics = await allPages('/clinics');
      replace(clinic, clinicOptions(s.clinics, s.clinics[0]?.id));
      pick();
    } catch (e) { fb.say(e.message); }
  })();

  return {
    el: h('section', { class: 'admin' },
      h('div', { class: 'desk-head' }, h('h1', {}, t('title_closings')), statusLine.el), fb.message, fb.done,
      h('div', { class: 'panel inline' }, field(t('adm_clinic'), clinic), field(t('adm_month'), month), field(t('adm_status'), status), batch, workbook),
      h('div', { class: 'panel' }, table.el), details),
    close() {
      s.closed = true;
      clearTimeout(pending);
      live.close();
    },
  };
}
