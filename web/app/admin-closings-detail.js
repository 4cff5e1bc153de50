// admin-closings-detail: one closing opened below the admin's closings table: its lines and trail, its workbook,
// and while it can be corrected (draft or disputed) the adjustment form, whose inputs are kept per closing so what
// is typed survives a live reload. Opened by the user it takes the keyboard; reopened by a reload it leaves the
// keyboard where it was.
import { field, h, replace, uid } from './dom.js';
import { lang, t } from './i18n.js';
import { api } from './session.js';
import { currencyDigits, formatMonth, parseAmount } from './admin-kit.js';
import { saveDownload } from './kit.js';

function adjustForm(ctx, d) {
  const { adjusts, fb } = ctx;
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
      await ctx.step(`${d.id}:adjust`, `/closings/${d.id}/adjustments`, { amount_cents: cents, reason: reason.value.trim() });
      adjusts.delete(d.id);
      fb.tell(t('adm_adjusted', d.doctor_name));
      await openDetail(ctx, d.id);
      ctx.reload();
    });
  } }, field(`${t('adm_adjust_amount')} (${d.currency})`, amount), field(t('adm_adjust_reason'), reason),
  h('button', { type: 'submit' }, t('adm_adjust')));
}

function linesTable(ctx, d) {
  const { money, when } = ctx;
  const lineRows = d.lines.map((l) => h('tr', {}, h('td', {}, when(l.occurred_at)), h('td', {}, t(`adm_line_${l.kind}`)), h('td', {}, l.description),
    h('td', { class: 'num' }, money(l.amount_cents, d.currency)), h('td', { class: 'num' }, money(l.doctor_cents, d.currency))));
  return h('table', { class: 'grid' }, h('caption', {}, t('adm_lines')),
    h('thead', {}, h('tr', {}, [t('date'), t('adm_kind'), t('adm_description'), t('adm_amount'), t('adm_doctor_amount')].map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, lineRows.length ? lineRows : h('tr', {}, h('td', { colspan: 5, class: 'empty' }, t('adm_none')))));
}

// A closing's lines and trail, and the adjustment form while it can be corrected.
// `heading`: move the keyboard to the panel (opened by the user), else leave it where it is (a live reload).
export async function openDetail(ctx, id, heading = true) {
  const { s, details, fb, money, when } = ctx;
  const d = await api('GET', `/closings/${id}`);
  s.detail = d.id;
  const headId = uid('detail');
  const trail = d.trail.map((x) => h('li', {}, `${when(x.at)} · ${t(`adm_step_${x.action}`)} · ${x.from_status ? `${t(`adm_closing_${x.from_status}`)} → ` : ''}${t(`adm_closing_${x.to_status}`)}${x.actor_role ? ` · ${t(`role_${x.actor_role}`)}` : ''}${x.note ? ` · ${x.note}` : ''}`));
  replace(details, h('section', { class: 'panel', 'aria-labelledby': headId },
    h('h2', { id: headId, tabindex: '-1' }, t('adm_closing_of', d.doctor_name, formatMonth(d.month, lang()))),
    h('p', {}, `${t(`adm_closing_${d.status}`)} · ${t('adm_net')}: `, h('strong', {}, money(d.net_cents, d.currency)), ` · ${t('adm_gross')}: ${money(d.gross_cents, d.currency)}`),
    linesTable(ctx, d),
    d.status === 'draft' || d.status === 'disputed' ? adjustForm(ctx, d) : null,
    h('h3', {}, t('adm_trail')), h('ol', { class: 'trail' }, trail),
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => fb.act(() => saveDownload(`/closings/${d.id}/export.xlsx`, `closing-${d.id}.xlsx`)) }, t('adm_download_one')),
      h('button', { type: 'button', onclick: () => { s.detail = null; replace(details); } }, t('adm_hide')))));
  if (heading) details.querySelector('h2').focus();
}

// Reopened after a live event: the keyboard stays on the element of the panel it was on, when that is still there.
export function openDetailQuietly(ctx, id) {
  const { details } = ctx;
  const focused = details.contains(document.activeElement) ? document.activeElement : null;
  openDetail(ctx, id, false).then(() => { if (focused?.isConnected) focused.focus(); }, (e) => ctx.fb.say(e.message));
}
