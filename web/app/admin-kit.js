// admin-kit: what the admin's screens share besides kit.js: lists paged by the API's cursor (a "more" button, never
// a guessed page), the clinics an admin picks from, reading amounts typed in a currency and percentages into
// integers without floating point, and instants in a clinic's zone.
import { h, replace } from './dom.js';
import { t } from './i18n.js';
import { focusKeeper } from './kit.js';

// A table filled page by page: load(cursor) -> {items, next_cursor}; columns: [{head, cell(item) -> node|text}].
// reset() starts again from the first page; the "more" button asks for the next one while the API gives a cursor.
export function pagedTable({ caption, columns, load, onError, empty = t('adm_none') }) {
  const body = h('tbody');
  const more = h('button', { type: 'button', hidden: true, onclick: () => next() }, t('adm_more'));
  const note = h('p', { class: 'empty', hidden: true }, empty);
  const el = h('div', { class: 'paged' },
    h('table', { class: 'grid' }, h('caption', {}, caption), h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.head)))), body),
    note, more);
  const keep = focusKeeper(body);
  let cursor = null;
  let generation = 0;
  let count = 0;
  async function page(first) {
    const mine = first ? ++generation : generation;
    more.disabled = true;
    try {
      const res = await load(first ? null : cursor);
      if (mine !== generation) return;
      // A reload redraws the rows: the keyboard goes back to the same control, or the first of the same row.
      const row = body.contains(document.activeElement) ? [...body.rows].indexOf(document.activeElement.closest('tr')) : -1;
      keep(() => {
        if (first) { replace(body); count = 0; }
        for (const item of res.items) body.append(h('tr', {}, columns.map((c) => h('td', {}, c.cell(item)))));
      });
      if (row >= 0 && !body.contains(document.activeElement)) body.rows[row]?.querySelector('button, input, select')?.focus();
      count += res.items.length;
      cursor = res.next_cursor;
      more.hidden = !cursor;
      note.hidden = count > 0;
    } catch (e) {
      onError?.(e);
    } finally {
      more.disabled = false;
    }
  }
  const next = () => page(false);
  return { el, reset: () => page(true) };
}

// The <option>s of a clinic choice (value: the id), after a first option `anyText` when given.
export function clinicOptions(clinics, selected, anyText) {
  return [anyText ? h('option', { value: '' }, anyText) : null,
    ...clinics.map((c) => h('option', { value: String(c.id), selected: String(c.id) === String(selected ?? '') }, c.name))];
}

// '180,50' or '180.50' in a currency of `digits` decimals -> 18050 (an integer, built from the digits); null for
// an empty text; NaN when it is not an amount. `signed` lets a leading '-' through.
export function parseAmount(text, digits, signed = false) {
  const s = text.trim().replace(/\s/g, '');
  if (!s) return null;
  const m = (signed ? /^(-?)(\d+)(?:[.,](\d+))?$/ : /^()(\d+)(?:[.,](\d+))?$/).exec(s);
  if (!m || (m[3] || '').length > digits) return NaN;
  const n = Number(m[2] + (m[3] || '').padEnd(digits, '0'));
  return m[1] ? -n : n;
}

// The inverse for a form: 18050 with 2 digits -> '180.50' (digits only, no grouping).
export function amountText(n, digits) {
  const abs = String(Math.abs(n)).padStart(digits + 1, '0');
  const text = digits ? `${abs.slice(0, -digits)}.${abs.slice(-digits)}` : abs;
  return n < 0 ? `-${text}` : text;
}

// The decimals of a currency, as Intl knows them (BRL 2, JPY 0).
export const currencyDigits = (currency) =>
  new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;

// A percentage with up to two decimals -> basis points ('33,33' -> 3333); NaN when it is not one.
export const parsePercent = (text) => parseAmount(text, 2);

// Basis points as a percentage in the interface's language (3333 -> '33,33 %').
export function formatBps(bps, lang) {
  return new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 2 }).format(`${Math.trunc(bps / 10000)}.${String(bps % 10000).padStart(4, '0')}`);
}

// An instant as date and time on the wall clock of zone.
export function formatInstant(instant, zone, lang) {
  if (!instant) return '';
  return new Intl.DateTimeFormat(lang, { timeZone: zone, dateStyle: 'short', timeStyle: 'short', hourCycle: 'h23' }).format(new Date(instant));
}

// 'YYYY-MM' -> 'novembro de 2026'.
export function formatMonth(month, lang) {
  return new Intl.DateTimeFormat(lang, { timeZone: 'UTC', month: 'long', year: 'numeric' }).format(new Date(`${month}-01T00:00:00Z`));
}

// The month before the one of the local date 'YYYY-MM-DD'.
export function previousMonth(date) {
  const [y, m] = date.split('-').map(Number);
  return new Date(Date.UTC(y, m - 2, 1)).toISOString().slice(0, 7);
}
