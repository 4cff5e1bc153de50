// video-chat: the in-call chat of a video call, on the call's own socket (the session's conversation, written and
// read through the signaling-server: chat_message, chat_history, typing). It owns the chat's state (the messages
// by id, the ids this side sent, the conversation) and its elements: the list (oldest first, each with its sender
// and its time in the clinic's zone), "earlier messages", the "typing…" line, and the form. The server decides who
// may chat (the doctor while the session is open, the patient once admitted): its refusals are shown as it says
// them. video-signal.js hands it the pushed chat_message and typing events and says when to load the history.
import { h } from './dom.js';
import { formatTime } from './format.js';
import { lang, t } from './i18n.js';

export const MAX_TEXT = 4000; // the server's limit (common/chatmsg.c)
const HISTORY_LIMIT = 50;
const TYPING_SHOWN_MS = 3000;
const TYPING_EVERY_MS = 1000;

const FROM = {
  DOCTOR: () => t('chat_from_doctor'),
  PATIENT: () => t('chat_from_patient'),
  RECEPTIONIST: () => t('chat_from_desk'),
};
const TYPING = {
  DOCTOR: () => t('chat_typing_doctor'),
  PATIENT: () => t('chat_typing_patient'),
  RECEPTIONIST: () => t('chat_typing_desk'),
};

// A client_id for a message (a retry of the same text keeps it, so the server stores it once).
function newClientId() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

function chatElements(on) {
  const heading = h('h2', { id: 'chat-h' }, t('chat_title'));
  const hint = h('p', { class: 'chat-hint' });
  const earlier = h('button', { type: 'button', class: 'chat-earlier', hidden: true, onclick: () => on.earlier() }, t('chat_earlier'));
  const list = h('ol', { class: 'chat-list' });
  // The scrolled box (reachable from the keyboard) announcing what is added to the list.
  const box = h('div', { class: 'chat-log', role: 'log', 'aria-live': 'polite', 'aria-labelledby': 'chat-h', tabindex: '0' }, list);
  const typingLine = h('p', { class: 'chat-typing' });
  const input = h('textarea', { name: 'chat_text', rows: 2, maxlength: MAX_TEXT, autocomplete: 'off', 'aria-describedby': 'chat-keys',
    onkeydown: (ev) => on.key(ev), oninput: () => on.typed() });
  const send = h('button', { type: 'submit', class: 'primary' }, t('chat_send'));
  const error = h('p', { class: 'message', role: 'alert' });
  const form = h('form', { class: 'chat-form', onsubmit: (ev) => { ev.preventDefault(); on.send(); } },
    h('label', { for: 'chat-text' }, t('chat_message')), input,
    h('p', { id: 'chat-keys', class: 'meta' }, t('chat_keys')), send, error);
  input.id = 'chat-text';
  const el = h('section', { class: 'call-chat', 'aria-labelledby': 'chat-h' }, heading, hint, earlier, box, typingLine, form);
  return { el, hint, earlier, box, list, typingLine, input, send, error };
}

// chatPanel(ctx) -> {el, load(), message(m), typing(data), render(), stop()}. ctx: the call (ctx.emit, ctx.s,
// ctx.doctor, ctx.zone).
export function chatPanel(ctx) {
  const me = ctx.doctor ? 'DOCTOR' : 'PATIENT';
  const c = { items: new Map(), mine: new Set(), conversation: null, hasMore: false, loading: false, pending: null,
    typingTimer: null, typedAt: 0, sending: false, pagedBack: false };
  const v = chatElements({ earlier: () => load(true), key, typed, send });
  const say = (text) => { v.error.textContent = text || ''; };
  const usable = () => !ctx.s.ended && !ctx.s.closed && ctx.socket && (ctx.doctor ? ctx.s.phase !== 'joining' : ctx.s.admitted);

  function row(m) {
    const mine = c.mine.has(m.id) || m.sender_role === me;
    const who = mine ? t('chat_from_me') : (FROM[m.sender_role] || (() => m.sender_role))();
    return h('li', { class: mine ? 'mine' : 'theirs', 'data-id': m.id },
      h('span', { class: 'chat-who' }, who), ' ', h('time', { datetime: m.created_at }, formatTime(m.created_at, ctx.zone, lang())), ' ',
      h('span', { class: m.text === null ? 'chat-text deleted' : 'chat-text' }, m.text === null ? t('chat_deleted') : m.text));
  }

  // A message in its place by id (each once: the echo of my own message, a history page overlapping the events).
  function add(m) {
    if (!m || !Number.isInteger(m.id) || (c.conversation !== null && m.conversation_id !== c.conversation)) return;
    const old = c.items.get(m.id);
    if (old && old.m.text === m.text && old.m.edited_at === m.edited_at && old.m.deleted_at === m.deleted_at) return;
    const li = row(m);
    c.items.set(m.id, { m, li });
    if (old) { old.li.replaceWith(li); return; }
    const next = [...v.list.children].find((x) => Number(x.dataset.id) > m.id);
    v.list.insertBefore(li, next || null);
  }

  function scrollDown(was) {
    if (was) v.box.scrollTop = v.box.scrollHeight;
  }
  const atBottom = () => v.box.scrollHeight - v.box.scrollTop - v.box.clientHeight < 40;

  // The history: the newest page first, then earlier pages on demand.
  async function load(earlier = false) {
    if (c.loading || !usable()) return;
    c.loading = true;
    const data = { limit: HISTORY_LIMIT };
    if (earlier && c.items.size) data.before_id = Math.min(...c.items.keys());
    v.box.setAttribute('aria-busy', 'true');
    const bottom = atBottom();
    const resp = await ctx.emit('chat_history', data, say);
    c.loading = false;
    if (resp?.ok) {
      c.conversation = resp.conversation_id;
      for (const m of resp.messages) add(m);
      // Whether there is more before the oldest page read (a reload of the newest page leaves that alone).
      if (earlier || !c.pagedBack) c.hasMore = Boolean(resp.has_more);
      if (earlier) c.pagedBack = true;
    }
    const hadFocus = document.activeElement === v.earlier;
    render();
    // a page read is not news: the log announces only what arrives after it
    v.box.removeAttribute('aria-busy');
    if (hadFocus && v.earlier.hidden) v.box.focus(); // the last page read: the button is gone
    if (resp?.ok && !earlier) scrollDown(bottom);
  }

  function key(ev) {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      v.input.form.requestSubmit();
    }
  }

  // At most one typing notice a second while the user types.
  function typed() {
    if (!usable() || !v.input.value.trim()) return;
    const now = Date.now();
    if (now - c.typedAt < TYPING_EVERY_MS) return;
    c.typedAt = now;
    ctx.emit('typing', {}, () => {});
  }

  async function send() {
    const text = v.input.value.trim();
    if (!text || c.sending || !usable()) return;
    say('');
    if (c.pending?.text !== text) c.pending = { text, clientId: newClientId() };
    c.sending = true;
    render();
    const resp = await ctx.emit('chat_message', { text, client_id: c.pending.clientId }, say);
    c.sending = false;
    if (resp?.ok) {
      sent(resp.message_id, text);
      c.typedAt = 0;
    } else if (resp?.code === 'rate_limited') say(t('chat_rate_limited', resp.retry_after_seconds ?? 60));
    else if (!resp) say(t('chat_not_sent'));
    render();
    // Sent from the button (disabled meanwhile, which drops the keyboard): back to the box for the next one.
    const a = document.activeElement;
    if (resp?.ok && a !== v.input && (a === document.body || v.el.contains(a))) v.input.focus();
  }

  // The message of text was stored as id: it is mine, and leaves the box (what was typed after it stays).
  function sent(id, text) {
    c.mine.add(id);
    c.pending = null;
    const now = v.input.value.trim();
    if (now === text) v.input.value = '';
    else if (now.startsWith(text)) v.input.value = now.slice(text.length).trimStart();
  }

  function message(m) {
    const bottom = atBottom();
    // the echo of a send whose answer was lost: stored after all, so its client_id is spent
    if (m && c.pending && m.client_id === c.pending.clientId) sent(m.id, c.pending.text);
    add(m);
    if (m && TYPING[m.sender_role] && m.sender_role !== me) showTyping(null);
    scrollDown(bottom || c.mine.has(m?.id) || m?.sender_role === me);
  }

  function showTyping(role) {
    clearTimeout(c.typingTimer);
    v.typingLine.textContent = role ? TYPING[role]() : '';
    if (role) c.typingTimer = setTimeout(() => { v.typingLine.textContent = ''; }, TYPING_SHOWN_MS);
  }

  function typing(data) {
    if ((c.conversation !== null && data.conversation_id !== c.conversation) || data.sender_role === me || !TYPING[data.sender_role]) return;
    showTyping(data.sender_role);
  }

  function render() {
    const { s } = ctx;
    const ok = Boolean(usable());
    v.input.disabled = !ok;
    v.send.disabled = !ok || c.sending;
    v.earlier.hidden = !c.hasMore;
    v.earlier.disabled = !ok;
    let hint = '';
    if (s.ended) hint = t('chat_closed');
    else if (!ctx.doctor && !s.admitted) hint = t('chat_after_admission');
    v.hint.textContent = hint;
    v.hint.hidden = !hint;
  }

  return { el: v.el, load: () => load(false), message, typing, render, stop: () => clearTimeout(c.typingTimer) };
}
