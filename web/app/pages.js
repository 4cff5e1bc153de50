// pages: every item of a paginated list of the API ({items, next_cursor}), page after page (200 a page) until the
// API gives no cursor: for the lists a screen shows whole (a patient's appointments, today's video consultations)
// and the choices of a form (clinics, a clinic's doctors and services). Nothing is cut short.
import { api } from './session.js';

export async function allPages(path) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api('GET', `${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

// The page of a list after `cursor` ("Load more"), appended to items without those already there (a live reload may
// have brought them in meanwhile). Answers the page's next_cursor.
export async function appendPage(path, cursor, items, limit = 50) {
  const sep = path.includes('?') ? '&' : '?';
  const page = await api('GET', `${path}${sep}limit=${limit}&cursor=${encodeURIComponent(cursor)}`);
  const have = new Set(items.map((x) => x.id));
  items.push(...page.items.filter((x) => !have.has(x.id)));
  return page.next_cursor;
}
