// inbox: the signed-in user's notifications, for every role: the button in the header bar with the unread count,
// and the panel it opens below the bar: the inbox newest first (the API's order, cursor pages), each marked read on
// its own or all at once, a new message's notification leading to the Messages screen with its conversation open.
// It lives as long as the session (main.js keeps it across screens) on a live connection of its own: a pushed
// `notification` is added at the top and counts at once (replacing the unread line of its conversation, as the
// server does), and the user's own `message_read` marks that conversation's lines read; the count is then read again
// from the server at most every RECONCILE_MS (only the newest answer lands, and none from before a local change),
// which also covers what is never pushed (announcements, a notification read in another tab).
import { h, replace } from './dom.js';
import { formatDateTime } from './format.js';
import { lang, t } from './i18n.js';
import { describeError, focusKeeper, sequence, throttled, userZone } from './kit.js';
import { connectLive } from './live.js';
import { appendPage } from './pages.js';
import { SCREENS } from './screens.js';
import { api, currentUser } from './session.js';

const PAGE = 20;
const RECONCILE_MS = 5000;

// startInbox() -> {button, panel, close()}: the two elements are kept across the header's re-renders.
export function startInbox() {
  const me = currentUser();
  const s = { count: 0, items: null, cursor: null, zone: null, closed: false, seq: sequence() };
  const badge = h('span', { class: 'badge' });
  const button = h('button', { type: 'button', class: 'bell', 'aria-expanded': 'false', 'aria-controls': 'inbox-panel',
    onclick: () => toggle() }, t('inbox'), ' ', badge);
  const error = h('p', { class: 'message', role: 'alert' });
  const list = h('ul', { class: 'inbox-list' });
  const more = h('button', { type: 'button', hidden: true, onclick: () => act(loadMore) }, t('load_more'));
  const allRead = h('button', { type: 'button', onclick: () => act(readAll) }, t('inbox_read_all'));
  const heading = h('h2', { id: 'inbox-h', tabindex: '-1' }, t('inbox'));
  const panel = h('section', { id: 'inbox-panel', class: 'inbox panel', 'aria-labelledby': 'inbox-h', hidden: true,
    onkeydown: (ev) => { if (ev.key === 'Escape') toggle(false); } },
  h('div', { class: 'inbox-head' }, heading, allRead, h('button', { type: 'button', onclick: () => toggle(false) }, t('close'))),
  error, list, more);
  const messages = (SCREENS[me.role] || []).some((x) => x.path === 'messages');

  const act = async (fn) => {
    error.textContent = '';
    try { await fn(); } catch (e) { error.textContent = describeError(e); }
  };
  // The count changed here: an answer asked for before it is stale.
  const drawCount = () => {
    s.seq.latest();
    badge.textContent = s.count ? `(${s.count})` : '';
    button.classList.toggle('has-unread', s.count > 0);
  };
  const refreshCount = throttled(async () => {
    const mark = s.seq.latest();
    const r = await api('GET', '/notifications/unread-count');
    if (s.closed || !s.seq.isLatest(mark)) return;
    s.count = r.unread;
    drawCount();
  }, (m) => { error.textContent = m; }, RECONCILE_MS);

  function item(n) {
    const conv = n.kind === 'conversation_message' && messages && n.data?.conversation_id;
    return h('li', { class: n.read_at ? 'read' : 'unread', 'data-id': n.id },
      h('strong', {}, n.title), ' ',
      h('time', { datetime: n.created_at }, formatDateTime(n.created_at, s.zone, lang())),
      n.body ? h('p', {}, n.body) : null,
      h('div', { class: 'actions' },
        conv ? h('a', { href: `#/messages/${Number(n.data.conversation_id)}`, onclick: () => { toggle(false); if (!n.read_at) act(() => read(n)); } },
          t('inbox_open_conversation')) : null,
        n.read_at ? null : h('button', { type: 'button', 'data-key': `read-${n.id}`, 'data-then': 'inbox-h',
          onclick: () => act(() => read(n)) }, t('inbox_mark_read', n.title))));
  }
  const keep = focusKeeper(list, [heading]);
  const draw = () => {
    if (!s.items) return;
    keep(() => replace(list, s.items.length ? s.items.map(item) : h('li', { class: 'meta' }, t('inbox_empty'))));
    more.hidden = !s.cursor;
  };

  async function loadFirst() {
    s.zone ||= await userZone();
    const page = await api('GET', `/notifications?limit=${PAGE}`);
    s.items = page.items;
    s.cursor = page.next_cursor;
    draw();
  }
  async function loadMore() {
    s.cursor = await appendPage('/notifications', s.cursor, s.items, PAGE);
    draw();
  }
  async function read(n) {
    const done = await api('POST', `/notifications/${n.id}/read`);
    if (!n.read_at) s.count = Math.max(0, s.count - 1); // not already marked by its conversation's read receipt
    n.read_at = done.read_at;
    drawCount();
    draw();
    heading.focus();
    refreshCount();
  }
  async function readAll() {
    await api('POST', '/notifications/read-all');
    const now = new Date().toISOString();
    for (const n of s.items || []) n.read_at ||= now;
    s.count = 0;
    drawCount();
    draw();
  }
  function toggle(open = panel.hidden) {
    panel.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open) {
      act(loadFirst);
      heading.focus();
    } else if (panel.contains(document.activeElement) || document.activeElement === document.body) button.focus();
  }

  // The unread lines of conversation id (as a string; all of them, or those up to message upTo).
  const unreadOf = (id, upTo = Infinity) => (s.items || []).filter((x) => !x.read_at && x.kind === 'conversation_message'
    && String(x.data?.conversation_id) === id && !(Number(x.data?.message_id) > upTo));

  // A pushed notification: at the top, once; the previous unread line of the same conversation it replaces goes
  // (and so is not counted twice).
  function pushed(n) {
    if (!n || !Number.isInteger(n.id)) return;
    if (s.items?.some((x) => x.id === n.id)) return;
    const replaced = n.kind === 'conversation_message' ? unreadOf(String(n.data?.conversation_id)) : [];
    if (!n.read_at && !replaced.length) s.count += 1;
    if (s.items) {
      s.items = [n, ...s.items.filter((x) => !replaced.includes(x))];
      draw();
    }
    drawCount();
    refreshCount();
  }

  // My read receipt moved in a conversation: its lines up to that message are read (the server marks them so).
  function conversationRead(data) {
    const now = new Date().toISOString();
    const lines = unreadOf(String(data?.conversation_id), Number(data?.message_id) || 0);
    for (const x of lines) x.read_at = now;
    if (lines.length) {
      s.count = Math.max(0, s.count - lines.length);
      drawCount();
      draw();
    }
    refreshCount();
  }

  const live = connectLive({
    connected: () => { refreshCount(); if (!panel.hidden) act(loadFirst); },
    event: (name, data) => {
      if (name === 'notification') pushed(data?.notification);
      if (name === 'message_read' && data?.user_id === me.id) conversationRead(data);
    },
  });
  refreshCount();

  return {
    button,
    panel,
    close() {
      s.closed = true;
      refreshCount.cancel();
      live.close();
    },
  };
}
