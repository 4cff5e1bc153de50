// messages-thread: one open conversation of the Messages screen (messages.js): its messages, oldest first and the
// newest last, each once by its id, with the sender (You / Patient / Doctor / Front desk) and the time in the
// clinic's zone; "Earlier messages"; the other members' "… is typing" line; the form that sends (Enter sends,
// Shift+Enter a new line; a retry of the same text keeps its client_id, so the server stores it once); and the read
// receipt moved to the newest message shown while the conversation is open and the page visible. It opens on the
// newest PAGE messages (before_id: one past the conversation's last message) and pages back on demand ("Earlier
// messages", before_id: the first one shown); after that, pushed events (and a catch-up with after_id on a reconnect)
// add to it. Rows are inserted and replaced by id, never redrawn together (the log announces only what changed, and
// the keyboard stays on the row's buttons). A load that failed is tried again on the next reconnect or return to
// the page. My own messages can be edited and deleted within the server's window (CHAT_EDIT_WINDOW_SECONDS).
import { h } from './dom.js';
import { formatDateTime } from './format.js';
import { lang, t } from './i18n.js';
import { describeError } from './kit.js';
import { api, currentUser } from './session.js';

const MAX_TEXT = 4000; // the server's limit (common/chatmsg.c)
const PAGE = 50; // messages read at first, and by each "Earlier messages"
const CATCH_UP_PAGE = 200; // messages read per request when catching up after a reconnect
const EDIT_WINDOW_MS = 900 * 1000; // the server's CHAT_EDIT_WINDOW_SECONDS default: Edit and Delete go after it
const TYPING_SHOWN_MS = 3000;
const TYPING_EVERY_MS = 1000;

const FROM = { DOCTOR: 'chat_from_doctor', PATIENT: 'chat_from_patient', RECEPTIONIST: 'chat_from_desk' };
const TYPING = { DOCTOR: 'chat_typing_doctor', PATIENT: 'chat_typing_patient', RECEPTIONIST: 'chat_typing_desk' };

// A client_id for a message (a retry of the same text keeps it, so the server stores it once).
const newClientId = () => crypto.randomUUID();

// Every message of the conversation id after afterId (all when 0), page after page.
async function readAfter(id, afterId) {
  const items = [];
  let cursor = null;
  do {
    const q = new URLSearchParams({ limit: String(CATCH_UP_PAGE) });
    if (afterId) q.set('after_id', String(afterId));
    if (cursor) q.set('cursor', cursor);
    const page = await api('GET', `/conversations/${id}/messages?${q}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

// The PAGE newest messages of conversation id older than beforeId, oldest first.
const readBefore = (id, beforeId) => api('GET', `/conversations/${id}/messages?before_id=${beforeId}&limit=${PAGE}`).then((p) => p.items);

// When a message was last changed (deleted after edited after written): a page must not undo a newer version.
const changedAt = (m) => Math.max(Date.parse(m.deleted_at || 0) || 0, Date.parse(m.edited_at || 0) || 0);
const editableFor = (m) => Date.parse(m.created_at) + EDIT_WINDOW_MS - Date.now();

function threadElements(title, on) {
  const heading = h('h2', { id: 'thread-h', tabindex: '-1' }, title);
  const back = h('button', { type: 'button', class: 'thread-back', onclick: () => on.back() }, t('msg_back'));
  const earlier = h('button', { type: 'button', class: 'chat-earlier', hidden: true, onclick: () => on.earlier() }, t('chat_earlier'));
  const list = h('ol', { class: 'chat-list' });
  const box = h('div', { class: 'chat-log thread-log', role: 'log', 'aria-live': 'polite', 'aria-labelledby': 'thread-h', tabindex: '0',
    'aria-busy': 'true' }, list);
  const typingLine = h('p', { class: 'chat-typing', 'aria-live': 'polite' });
  const input = h('textarea', { id: 'thread-text', name: 'message_text', rows: 2, maxlength: MAX_TEXT, autocomplete: 'off',
    'aria-describedby': 'thread-keys', onkeydown: (ev) => on.key(ev), oninput: () => on.typed() });
  const send = h('button', { type: 'submit', class: 'primary' }, t('chat_send'));
  const cancel = h('button', { type: 'button', hidden: true, onclick: () => on.cancel() }, t('msg_cancel_edit'));
  const label = h('label', { for: 'thread-text' }, t('chat_message'));
  const error = h('p', { class: 'message', role: 'alert' });
  const form = h('form', { class: 'chat-form', onsubmit: (ev) => { ev.preventDefault(); on.send(); } },
    label, input, h('p', { id: 'thread-keys', class: 'meta' }, t('chat_keys')), send, ' ', cancel, error);
  const el = h('section', { class: 'thread', 'aria-labelledby': 'thread-h' }, back, heading, earlier, box, typingLine, form);
  return { el, heading, earlier, box, list, typingLine, input, send, cancel, label, error };
}

// openThread(conv, {zone, title, emit(name, data), back(), changed()}) -> {el, focus(), message(m), typing(data),
// catchUp(), visible(), close()}. changed(): my read receipt moved (the list's counts change).
export function openThread(conv, ctx) {
  const me = currentUser();
  const c = { all: new Map(), more: false, pending: null, sending: false, typedAt: 0, typingTimer: null, loading: false,
    lastRead: conv.last_read_message_id || 0, loaded: false, failed: false, closed: false, edit: null, confirm: null,
    timers: new Set() };
  const v = threadElements(ctx.title, { back: ctx.back, earlier, key, typed, send, cancel: () => editing(null) });
  const say = (text) => { v.error.textContent = text || ''; };
  const atBottom = () => v.box.scrollHeight - v.box.scrollTop - v.box.clientHeight < 40;

  function row(m) {
    const mine = m.sender_user_id !== null && m.sender_user_id === me.id;
    const left = mine && m.text !== null ? editableFor(m) : 0;
    if (left > 0) later(() => redraw(m.id), left + 1000);
    const who = mine ? t('chat_from_me') : t(FROM[m.sender_role] || 'chat_from_patient');
    const text = m.text === null ? t('chat_deleted') : m.text;
    return h('li', { class: mine ? 'mine' : 'theirs', 'data-id': m.id },
      h('span', { class: 'chat-who' }, who), ' ',
      h('time', { datetime: m.created_at }, formatDateTime(m.created_at, ctx.zone, lang())),
      m.edited_at && m.text !== null ? ` ${t('msg_edited')}` : '', ' ',
      h('span', { class: m.text === null ? 'chat-text deleted' : 'chat-text', id: `msg-${m.id}` }, text),
      left > 0 ? h('span', { class: 'msg-actions' },
        h('button', { type: 'button', class: 'link', 'aria-describedby': `msg-${m.id}`, onclick: () => editing(m) }, t('msg_edit')), ' ',
        h('button', { type: 'button', class: 'link', 'aria-describedby': `msg-${m.id}`, 'data-key': `del-${m.id}`, onclick: () => remove(m) },
          c.confirm === m.id ? t('msg_delete_confirm') : t('msg_delete'))) : null);
  }

  function later(fn, ms) {
    const timer = setTimeout(() => { c.timers.delete(timer); if (!c.closed) fn(); }, ms);
    c.timers.add(timer);
  }

  // Replaces the row of message id in place (its buttons changed); the keyboard on a button gone goes to the log.
  function redraw(id) {
    const x = c.all.get(id);
    if (!x) return;
    const had = x.li?.contains(document.activeElement);
    const li = row(x.m);
    x.li?.replaceWith(li);
    x.li = li;
    if (had) v.box.focus();
  }

  // My own message: the first click asks again, the second deletes it (the server keeps the sender and the window).
  async function remove(m) {
    if (c.confirm !== m.id) {
      const was = c.confirm;
      c.confirm = m.id;
      if (was) redraw(was);
      redraw(m.id);
      v.list.querySelector(`[data-key="del-${m.id}"]`)?.focus();
      return;
    }
    c.confirm = null;
    say('');
    try {
      message(await api('DELETE', `/conversations/${conv.id}/messages/${m.id}`));
    } catch (e) {
      say(describeError(e));
      redraw(m.id);
    }
    v.input.focus();
  }

  // Editing m in the message box (null: back to writing a new one, with what was being written).
  function editing(m) {
    if (m) c.edit = { id: m.id, draft: c.edit ? c.edit.draft : v.input.value };
    else if (c.edit) v.input.value = c.edit.draft;
    if (!m) c.edit = null;
    if (m) v.input.value = m.text;
    v.label.textContent = m ? t('msg_editing') : t('chat_message');
    v.send.textContent = m ? t('msg_save_edit') : t('chat_send');
    v.cancel.hidden = !m;
    v.input.focus();
  }

  // A message in its place by id (each once: the answer to my send, its event, a catch-up or a page overlapping the
  // events): a new row is inserted before the first with a greater id, a changed one replaced; the same or an
  // older version of one shown changes nothing. Answers whether the list changed.
  function add(m) {
    if (!m || m.conversation_id !== conv.id || !Number.isInteger(m.id)) return false;
    const old = c.all.get(m.id);
    if (old && ((old.m.text === m.text && old.m.edited_at === m.edited_at && old.m.deleted_at === m.deleted_at)
      || changedAt(m) < changedAt(old.m))) return false;
    if (old) {
      old.m = m;
      redraw(m.id);
      return true;
    }
    const li = row(m);
    c.all.set(m.id, { m, li });
    const next = [...v.list.children].find((x) => Number(x.dataset.id) > m.id);
    v.list.insertBefore(li, next || null);
    return true;
  }

  const newest = () => Math.max(0, ...c.all.keys());

  // My read receipt to the newest message, when the conversation is on screen (not for my own: nothing to read).
  async function markRead() {
    const id = newest();
    if (c.closed || !c.loaded || !id || id <= c.lastRead || document.visibilityState !== 'visible') return;
    if (c.all.get(id).m.sender_user_id === me.id) return;
    const was = c.lastRead;
    c.lastRead = id;
    try {
      await api('POST', `/conversations/${conv.id}/read`, { message_id: id });
      if (!c.closed) ctx.changed(conv.id);
    } catch (e) {
      if (c.lastRead === id) c.lastRead = was; // tried again with the next message or visit
      say(describeError(e));
    }
  }

  // Reads a page (aria-busy meanwhile: a page read is not news, the log announces only what arrives after it).
  async function page(beforeId) {
    c.loading = true;
    v.box.setAttribute('aria-busy', 'true');
    try {
      const items = await readBefore(conv.id, beforeId);
      if (c.closed) return false;
      for (const m of items) add(m);
      c.more = items.length === PAGE;
      v.earlier.hidden = !c.more;
      return true;
    } finally {
      c.loading = false;
      v.box.removeAttribute('aria-busy');
    }
  }

  // The newest page; a failure is said and the load tried again on the next reconnect or visit.
  async function load() {
    if (c.loading || c.closed) return;
    c.failed = false;
    say('');
    try {
      if (!await page((conv.last_message?.id ?? 0) + 1)) return;
      c.loaded = true;
      v.box.scrollTop = v.box.scrollHeight;
      markRead();
    } catch (e) {
      c.failed = true;
      say(describeError(e));
    }
  }

  async function earlier() {
    if (c.loading) return;
    const first = Math.min(...c.all.keys());
    const height = v.box.scrollHeight;
    say('');
    try {
      if (!await page(first)) return;
    } catch (e) {
      say(describeError(e));
      return;
    }
    v.box.scrollTop += v.box.scrollHeight - height; // the same messages stay in view
    if (v.earlier.hidden) v.box.focus(); // the first message is shown: the button is gone
  }

  // A pushed or answered message: shown once, scrolled to when the reader was at the bottom or wrote it.
  function message(m) {
    const bottom = atBottom();
    if (c.pending && m?.client_id === c.pending.clientId && m.sender_user_id === me.id) sent(m.text);
    if (!add(m)) return;
    if (m.sender_user_id !== me.id) showTyping(null);
    if (bottom || m.sender_user_id === me.id) v.box.scrollTop = v.box.scrollHeight;
    markRead();
  }

  function key(ev) {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      v.input.form.requestSubmit();
    }
  }

  // At most one typing notice a second while the user types.
  function typed() {
    if (!v.input.value.trim() || c.edit) return;
    const now = Date.now();
    if (now - c.typedAt < TYPING_EVERY_MS) return;
    c.typedAt = now;
    ctx.emit('typing', { conversation_id: conv.id });
  }

  async function saveEdit(text) {
    try {
      message(await api('PATCH', `/conversations/${conv.id}/messages/${c.edit.id}`, { text }));
      editing(null);
    } catch (e) { say(describeError(e)); }
  }

  async function send() {
    const text = v.input.value.trim();
    if (!text || c.sending) return;
    say('');
    if (c.edit) {
      await saveEdit(text);
      return;
    }
    if (c.pending?.text !== text) c.pending = { text, clientId: newClientId() };
    c.sending = true;
    v.send.disabled = true;
    try {
      message(await api('POST', `/conversations/${conv.id}/messages`, { text, client_id: c.pending.clientId }));
      c.typedAt = 0;
    } catch (e) {
      say(e.status === 429 && e.retryAfter ? `${describeError(e)} ${t('msg_retry_after', e.retryAfter)}` : describeError(e));
    } finally {
      c.sending = false;
      v.send.disabled = false;
    }
    if (!c.pending && document.activeElement !== v.input) v.input.focus();
  }

  // The text was stored: it leaves the box (what was typed after it stays), and its client_id is spent.
  function sent(text) {
    c.pending = null;
    const now = v.input.value.trim();
    if (now === text) v.input.value = '';
    else if (now.startsWith(text)) v.input.value = now.slice(text.length).trimStart();
  }

  // The typing line, written only when its text changes (it is a live region).
  function showTyping(role) {
    clearTimeout(c.typingTimer);
    const text = role ? t(TYPING[role]) : '';
    if (v.typingLine.textContent !== text) v.typingLine.textContent = text;
    if (role) c.typingTimer = setTimeout(() => showTyping(null), TYPING_SHOWN_MS);
  }

  function typing(data) {
    if (data.conversation_id !== conv.id || (data.user_id !== null && data.user_id === me.id) || !TYPING[data.sender_role]) return;
    showTyping(data.sender_role);
  }

  // After a reconnect: whatever was written meanwhile (or the first load again, when it failed).
  async function catchUp() {
    if (c.failed) {
      load();
      return;
    }
    if (!c.loaded) return;
    try {
      for (const m of await readAfter(conv.id, newest())) message(m);
    } catch (e) { say(describeError(e)); }
  }

  function visible() {
    if (c.failed) load();
    else markRead();
  }

  load();
  return {
    el: v.el,
    id: conv.id,
    // The message box takes the keyboard, except on a narrow screen (a phone's keyboard would cover the messages).
    focus: () => (matchMedia('(max-width: 700px)').matches ? v.heading.focus() : v.input.focus()),
    message,
    typing,
    catchUp,
    visible,
    close() {
      c.closed = true;
      clearTimeout(c.typingTimer);
      for (const timer of c.timers) clearTimeout(timer);
    },
  };
}
