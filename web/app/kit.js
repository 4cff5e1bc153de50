// kit: what the screens share: the line saying whether pushed events arrive, the alert line where an action's
// refusal shows the API's own message (and the fields a 422 or a 400 names), the line saying what an action did,
// a reload that coalesces a burst of events into one load (or runs at most every few seconds), the keyboard kept where it was across a re-render,
// and a file downloaded with the in-memory token (a Blob link: the token never goes into an address).
import { h } from './dom.js';
import { t } from './i18n.js';
import { connectLive } from './live.js';
import { api, currentUser, download } from './session.js';

// The API's message, and for a 422 the fields it names.
export function describeError(e) {
  const fields = e.fields ? Object.entries(e.fields).map(([k, v]) => `${k}: ${v}`).join('; ') : '';
  return fields ? `${e.message} (${fields})` : e.message;
}

// {message, done, say(text), tell(text), act(fn)}: act runs fn, clearing both lines first; a refusal is said, and
// act answers whether fn succeeded. Both lines take the keyboard when the control acted on is gone (focusKeeper).
export function feedback() {
  const message = h('p', { class: 'message', role: 'alert', tabindex: '-1' });
  const done = h('p', { class: 'done', role: 'status', tabindex: '-1' });
  const say = (text) => { message.textContent = text || ''; };
  const tell = (text) => { done.textContent = text || ''; };
  const act = async (fn) => {
    say('');
    tell('');
    try {
      await fn();
      return true;
    } catch (e) {
      say(describeError(e));
      return false;
    }
  };
  return { message, done, say, tell, act };
}

// What a control is across re-renders: its data-key, else its accessible name.
const identity = (el) => el.dataset?.key || el.getAttribute?.('aria-label') || el.textContent.trim();
const CONTROLS = 'button, input, select, textarea, summary, a[href]';

// focusKeeper(root, fallbacks) -> keep(draw): runs draw(), which may rebuild what is inside root, and keeps the
// keyboard: on the same element while it is still there; else on the control of the same identity; else on the
// one the gone control names in data-then; else on the first of `fallbacks` (elements, or functions returning one)
// that has text: the line saying what happened, the heading last. Focus outside root is left alone; a control of
// root removed earlier (the keyboard fell to <body>) is followed up the same way.
export function focusKeeper(root, fallbacks = []) {
  let last = null;
  root.addEventListener('focusin', (ev) => { last = ev.target; });
  return (draw) => {
    const active = document.activeElement;
    let was = active !== root && root.contains(active) ? active : null;
    if (!was && last && (!last.isConnected || last.disabled) && (!active || active === document.body)) was = last;
    const key = was && identity(was);
    const then = was?.dataset.then;
    draw();
    if (!was) return;
    last = null;
    if (was.isConnected && root.contains(was)) {
      if (document.activeElement !== was) was.focus();
      return;
    }
    const all = [...root.querySelectorAll(CONTROLS)].filter((x) => !x.disabled && !x.hidden && !x.closest('[hidden]'));
    const target = all.find((x) => identity(x) === key) || (then && all.find((x) => identity(x) === then))
      || fallbacks.map((f) => (typeof f === 'function' ? f() : f))
        .find((x) => x?.isConnected && x.textContent.trim() && (x.hasAttribute('tabindex') || x.matches(CONTROLS)));
    target?.focus();
  };
}

// Disables the buttons of `box` while fn runs (a second click cannot send the request twice), then enables them
// and gives the keyboard back to the one that had it, when it is still there and nothing else took it.
export async function busy(box, fn) {
  const buttons = [...box.querySelectorAll('button')].filter((b) => !b.disabled);
  const had = buttons.find((b) => b === document.activeElement);
  for (const b of buttons) b.disabled = true;
  try {
    return await fn();
  } finally {
    for (const b of buttons) b.disabled = false;
    if (had?.isConnected && (document.activeElement === document.body || !document.activeElement)) had.focus();
  }
}

// Downloads GET path as a file: fetched by session.download, then saved through a temporary Blob link under the
// answer's name (`fallback` without one). Answers the name; a refusal throws ApiError.
export async function saveDownload(path, fallback) {
  const { blob, filename } = await download(path, fallback);
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  return filename;
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

// throttled(load, onError, every) -> reload(): for a load that events only correct (the screen updates itself from
// them): runs load() 120 ms after a call, but never sooner than `every` ms after its last run; calls meanwhile join
// the run already planned, so a steady stream of events neither starves it (as it would coalesced) nor runs it
// more than once every `every` ms. reload.cancel() drops the planned run.
export function throttled(load, onError, every) {
  let pending = null;
  let last = -Infinity;
  const reload = () => {
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      last = Date.now();
      load().catch((e) => onError(describeError(e)));
    }, Math.max(120, last + every - Date.now()));
  };
  reload.cancel = () => { clearTimeout(pending); pending = null; };
  return reload;
}

// Loads can overlap (an event during a load): latest() marks a load, and isLatest(mark) tells whether it still is.
export function sequence() {
  let n = 0;
  return { latest: () => ++n, isLatest: (mark) => mark === n };
}

// A table with a caption, column headers and rows of cells (text or elements). The caption can take the keyboard
// (a "Load more" gone after the last page leaves it there).
export function table(caption, headers, rows, cls = 'grid') {
  return h('table', { class: cls },
    h('caption', { tabindex: '-1' }, caption),
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

// The time zone the signed-in user's times are shown in: their clinic's (read once per user), else, when it cannot
// be read (an admin has no clinic), the browser's.
let zoneOf = { user: null, zone: null };
export async function userZone() {
  const u = currentUser();
  if (zoneOf.user === u?.id && zoneOf.zone) return zoneOf.zone;
  let zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (u?.clinic_id) zone = await api('GET', `/clinics/${u.clinic_id}`).then((c) => c.timezone, () => zone);
  zoneOf = { user: u?.id, zone };
  return zone;
}
