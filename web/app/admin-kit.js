// admin-kit: what the admin's screens share. A message line for the API's refusals, lists paged by the API's cursor
// (a "more" button, never a guessed page), the clinics an admin picks from, reading amounts typed in a currency
// and percentages into integers without floating point, instants in a clinic's zone, and file downloads made with
// the in-memory bearer token (a Blob link: the token never goes into an address).
import { h, replace } from './dom.js';
import { t } from './i18n.js';
import { ApiError, accessToken, api, getConfig, refresh } from './session.js';

// The API's message, and for a 422 or a 400 the fields it names.
export function describeError(e) {
  const fields = e.fields ? Object.entries(e.fields).map(([k, v]) => `${k}: ${v}`).join('; ') : '';
  return fields ? `${e.message} (${fields})` : e.message;
}

// A refusal line (role alert) and a done line (role status); act(fn) runs fn and shows its refusal.
export function feedback() {
  const alert = h('p', { class: 'message', role: 'alert' });
  const done = h('p', { class: 'done', role: 'status' });
  const say = (text) => { alert.textContent = text || ''; };
  const tell = (text) => { done.textContent = text || ''; };
  async function act(fn) {
    say('');
    tell('');
    try {
      await fn();
      return true;
    } catch (e) {
      say(describeError(e));
      return false;
    }
  }
  return { alert, done, say, tell, act };
}

// A table filled page by page: load(cursor) -> {items, next_cursor}; columns: [{head, cell(item) -> node|text}].
// reset() starts again from the first page; the "more" button asks for the next one while the API gives a cursor.
export function pagedTable({ caption, columns, load, onError, empty = t('adm_none') }) {
  const body = h('tbody');
  const more = h('button', { type: 'button', hidden: true, onclick: () => next() }, t('adm_more'));
  const note = h('p', { class: 'empty', hidden: true }, empty);
  const el = h('div', { class: 'paged' },
    h('table', { class: 'grid' }, h('caption', {}, caption), h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.head)))), body),
    note, more);
  let cursor = null;
  let generation = 0;
  let count = 0;
  async function page(first) {
    const mine = first ? ++generation : generation;
    more.disabled = true;
    try {
      const res = await load(first ? null : cursor);
      if (mine !== generation) return;
      // A reload redraws the rows: the keyboard goes back to the same input, or the button of the same name, or
      // (a step that removed its button) the first control of the same row.
      const active = body.contains(document.activeElement) ? document.activeElement : null;
      const key = active?.getAttribute('aria-label') || active?.textContent;
      const rowIndex = active ? [...body.rows].indexOf(active.closest('tr')) : -1;
      if (first) { replace(body); count = 0; }
      for (const item of res.items) body.append(h('tr', {}, columns.map((c) => h('td', {}, c.cell(item)))));
      if (active?.isConnected) active.focus();
      else if (active) {
        const same = [...body.querySelectorAll('button')].find((b) => (b.getAttribute('aria-label') || b.textContent) === key);
        (same || body.rows[rowIndex]?.querySelector('button, input, select'))?.focus();
      }
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

// Every item of a list route (limit 200 a page), for the choices of a form (clinics, a clinic's doctors).
export async function listAll(path) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const res = await api('GET', `${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...res.items);
    cursor = res.next_cursor;
  } while (cursor);
  return items;
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

async function fetchFile(path) {
  return fetch(getConfig().api_prefix + path, { headers: { authorization: `Bearer ${accessToken()}` }, cache: 'no-store' });
}

// Downloads GET path as a file: fetched with the bearer token (one refresh and retry on 401), then saved through a
// temporary Blob link under the name of its Content-Disposition (`fallback` without one). Refusals throw ApiError.
export async function download(path, fallback) {
  let r = await fetchFile(path);
  if (r.status === 401) {
    await refresh();
    r = await fetchFile(path);
  }
  if (!r.ok) {
    let body = null;
    try { body = await r.json(); } catch { body = null; }
    throw new ApiError(r.status, body);
  }
  const blob = await r.blob();
  const name = /filename="([^"]+)"/.exec(r.headers.get('content-disposition') || '')?.[1] || fallback;
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  return name;
}
