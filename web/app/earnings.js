// earnings: the doctor's My Earnings, live. GET /doctors/earnings with the filters the API offers (billing days,
// payment status, settlement method) and an optional grouping (day, status, method): the summary of every
// filtered payment and this month's, the groups, and the payments page by page. The CSV is the API's own
// (format=csv), downloaded with the session's token. A payment billed, paid or refunded reaches the doctor's room
// as `payment_processed`, which reloads the report: nothing is polled, and no amount is computed here (money
// comes in integer cents and is only formatted).
import { field, h, replace } from './dom.js';
import { formatDate, formatMoney, localDate } from './format.js';
import { lang, t } from './i18n.js';
import { feedback, focusKeeper, liveLine, liveScreen, numbers, query, saveDownload, sequence, table } from './kit.js';
import { api } from './session.js';

const STATUSES = ['pending', 'paid', 'partially_refunded', 'refunded'];
const METHODS = ['cash', 'card', 'pix', 'insurance', 'other'];
const GROUPS = ['day', 'status', 'method'];
const RELOAD_ON = new Set(['payment_processed']);

function filterInputs() {
  const pick = (name, values, prefix, none) => h('select', { name }, h('option', { value: '' }, t(none)),
    values.map((v) => h('option', { value: v }, t(`${prefix}${v}`))));
  return {
    start: h('input', { name: 'start_date', type: 'date' }),
    end: h('input', { name: 'end_date', type: 'date' }),
    status: pick('status', STATUSES, 'payment_', 'any_status'),
    method: pick('method', METHODS, 'method_', 'any_method'),
    group: pick('group_by', GROUPS, 'group_', 'no_grouping'),
  };
}

const params = (f) => ({ start_date: f.start.value, end_date: f.end.value, status: f.status.value, method: f.method.value, group_by: f.group.value });

function totalsPairs(ctx, x) {
  return [[t('earn_count'), String(x.count)], [t('earn_billed'), ctx.money(x.total_cents)], [t('earn_paid'), ctx.money(x.paid_cents)],
    [t('earn_pending'), ctx.money(x.pending_cents)], [t('earn_refunded'), ctx.money(x.refunded_cents)]];
}

function groupKey(by, key) {
  if (key === null) return t('group_unsettled');
  if (by === 'day') return formatDate(key, lang());
  return t(by === 'status' ? `payment_${key}` : `method_${key}`);
}

function renderReport(ctx) {
  const { s } = ctx;
  const sum = s.report.summary;
  const by = s.groupedBy;
  const rows = s.items.map((p) => [formatDate(p.date, lang()), p.patient_name, p.service_name || '—', t(`payment_${p.status}`),
    p.method ? t(`method_${p.method}`) : '—', ctx.money(p.amount_cents), ctx.money(p.doctor_share_cents), ctx.money(p.doctor_refunded_cents)]);
  ctx.keep(() => replace(ctx.body,
    h('section', { class: 'panel', 'aria-labelledby': 'earn-sum-h' }, h('h2', { id: 'earn-sum-h' }, t('earn_filtered')),
      numbers(totalsPairs(ctx, sum), t('earn_filtered')),
      h('h3', {}, t('earn_this_month')), numbers(totalsPairs(ctx, sum.this_month), t('earn_this_month'))),
    s.report.groups ? h('section', { class: 'panel' }, table(t('earn_groups', t(`group_${by}`)),
      [t(`group_${by}`), t('earn_count'), t('earn_billed'), t('earn_paid'), t('earn_pending'), t('earn_refunded')],
      s.report.groups.map((g) => [groupKey(by, g.key), String(g.count), ...totalsPairs(ctx, g).slice(1).map((x) => x[1])]))) : null,
    h('section', { class: 'panel' }, rows.length
      ? table(t('earn_payments'), [t('date'), t('patient'), t('service'), t('earn_status'), t('payment_method'), t('earn_amount'),
        t('earn_share'), t('earn_refunded')], rows)
      : h('p', { class: 'empty' }, t('earn_none')),
    s.report.next_cursor ? h('button', { type: 'button', onclick: () => ctx.act(() => more(ctx)) }, t('load_more')) : null)));
}

// The filters last applied (Apply, or the first load): a reload and "Load more" use them, not what is typed since.
async function load(ctx) {
  const mine = ctx.seq.latest();
  const p = ctx.s.applied;
  const report = await api('GET', `/doctors/earnings?${query({ ...p, limit: 50 })}`);
  if (!ctx.seq.isLatest(mine) || ctx.s.closed) return;
  Object.assign(ctx.s, { report, items: report.items, groupedBy: p.group_by });
  renderReport(ctx);
}

async function more(ctx) {
  const { s } = ctx;
  const report = await api('GET', `/doctors/earnings?${query({ ...s.applied, limit: 50, cursor: s.report.next_cursor })}`);
  Object.assign(s, { report: { ...report, summary: s.report.summary, groups: s.report.groups }, items: [...s.items, ...report.items] });
  renderReport(ctx);
}

async function csv(ctx) {
  const filename = await saveDownload(`/doctors/earnings?${query({ ...ctx.s.applied, format: 'csv' })}`, 'earnings.csv');
  ctx.tell(t('csv_downloaded', filename));
}

function filterForm(ctx) {
  const { f } = ctx;
  return h('form', { class: 'panel filters', 'aria-label': t('earn_filters'), onsubmit: (ev) => { ev.preventDefault(); ctx.s.applied = params(f); ctx.act(() => load(ctx)); } },
    h('div', { class: 'inline' }, field(t('start_date'), f.start), field(t('end_date'), f.end), field(t('earn_status'), f.status),
      field(t('payment_method'), f.method), field(t('group_by'), f.group),
      h('button', { type: 'submit', class: 'primary' }, t('apply')),
      h('button', { type: 'button', onclick: () => ctx.act(() => csv(ctx)) }, t('download_csv'))));
}

export function earningsScreen() {
  const fb = feedback();
  const status = liveLine();
  const s = { clinic: null, report: null, items: [], groupedBy: '', applied: null, closed: false };
  const ctx = { s, ...fb, f: filterInputs(), body: h('div', {}), seq: sequence(), money: (c) => formatMoney(c, s.clinic.currency, lang()) };
  const heading = h('h1', { tabindex: '-1' }, t('title_my_earnings'));
  const el = h('section', { class: 'earnings' }, h('div', { class: 'desk-head' }, heading, status.el),
    fb.message, fb.done, filterForm(ctx), ctx.body);
  // "Load more" keeps the keyboard while there are more pages; after the last one, the table's caption takes it.
  ctx.keep = focusKeeper(el, [fb.message, () => [...ctx.body.querySelectorAll('caption')].pop(), heading]);
  const close = liveScreen({ s, status, say: fb.say, events: RELOAD_ON, reload: () => load(ctx), first: () => {
    const today = localDate(s.clinic.timezone);
    ctx.f.start.value = `${today.slice(0, 8)}01`; // this month, in the clinic's zone
    ctx.f.end.value = today;
    s.applied = params(ctx.f);
    return load(ctx);
  } });
  return { el, close };
}
