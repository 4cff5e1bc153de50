// kit: what the live screens share: the line saying whether pushed events arrive, the alert line where an
// action's refusal shows the API's own message (and the fields a 422 names), the line saying what an action did,
// and a reload that coalesces a burst of events into one load.
import { h } from './dom.js';
import { t } from './i18n.js';

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

