// kit: what the live screens share: the line saying whether pushed events arrive, the alert line where an
// action's refusal shows the API's own message (and the fields a 422 names), the line saying what an action did,
// and a reload that coalesces a burst of events into one load.
import { h } from './dom.js';
import { t } from './i18n.js';
import { connectLive } from './live.js';
import { api, currentUser } from './session.js';

// The API's message, and for a 422 the fields it names.
export function describeError(e) {
  const fields = e.fields ? Object.entries(e.fields).map(([k, v]) => `${k}: ${v}`).join('; ') : '';
  return fields ? `${e.message} (${fields})` : e.message;
}

// {message, done, say(text), tell(text), act(fn)}: act runs fn, clearing both lines first; a refusal is said.
export function feedback() {
  const message = h('p', { class: 'message', role: 'alert' });
  const done = h('p', { class: 'done', role: 'status' });
  const say = (text) => { message.textContent = text || ''; };
  const tell = (text) => { done.textContent = text || ''; };
  const act = async (fn) => {
    say('');
    tell('');
    try { await fn(); } catch (e) { say(describeError(e)); }
  };
  return { message, done, say, tell, act };
}

// The connection's state line: {el, set(state)} with state 'live' or 'offline'.
export function liveLine() {
  const el = h('p', { class: 'live offline', role: 'status', 'aria-live': 'polite' }, t('offline'));
  return {
    el,
    set(state) {
      el.textContent = state === 'live' ? t('live') : t('offline');
      el.className = `live ${state}`;
    },
  };
}

// Reads the signed-in user's clinic (its zone and currency) into s.clinic, then runs first(); a failure is said.
export async function withClinic(s, say, first) {
  try {
    s.clinic = await api('GET', `/clinics/${currentUser().clinic_id}`);
    await first();
  } catch (e) { say(describeError(e)); }
}

// A screen kept live by pushed events: withClinic, then every event named in `events` (and every reconnect)
// reloads through reload() once the clinic is known. Returns close(), which also marks s.closed.
export function liveScreen({ s, status, say, events, first, reload: load }) {
  const reload = coalesced(load, say);
  const live = connectLive({ status: status.set, connected: () => { if (s.clinic) reload(); },
    event: (name) => { if (events.has(name) && s.clinic) reload(); } });
  withClinic(s, say, first);
  return () => { s.closed = true; reload.cancel(); live.close(); };
}

// reload() runs load() once, 120 ms after the last call of a burst; a failure goes to onError(message).
export function coalesced(load, onError) {
  let pending = null;
  const reload = () => {
    clearTimeout(pending);
    pending = setTimeout(() => load().catch((e) => onError(describeError(e))), 120);
  };
  reload.cancel = () => clearTimeout(pending);
  return reload;
}

// Loads can overlap (an event during a load): latest() marks a load, and isLatest(mark) tells whether it still is.
export function sequence() {
  let n = 0;
  return { latest: () => ++n, isLatest: (mark) => mark === n };
}

// A table with a caption, column headers and rows of cells (text or elements).
export function table(caption, headers, rows, cls = 'grid') {
  return h('table', { class: cls },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c) => h('td', {}, c))))));
}

// Numbers as a definition list: [[term, value], ...].
export function numbers(pairs, label) {
  return h('dl', { class: 'numbers', 'aria-label': label || null }, pairs.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))));
}

// 'a=1&b=2' from an object, leaving out empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v !== null && v !== undefined) q.set(k, String(v));
  return q.toString();
}
