// messages: the Messages screen (RECEPTIONIST, DOCTOR, PATIENT): the caller's conversations, latest activity first,
// each with its patient and subject, the last message and the caller's unread count (bold while unread); one open
// beside the list (below it on a phone, which then shows only the open one) by messages-thread.js; and a new one
// started: staff pick a patient found by the desk's search and give an optional subject (a doctor's conversation
// is theirs: the server names them), a patient writes to their clinic. The address names the open conversation
// (#/messages/<id>), so a notification can lead to it. Live: a conversation event updates its row at once (its last
// message, my unread count, its place at the top) and the first page is read again at most every RECONCILE_MS to
// correct the rest (a busy clinic's events must not each cost every member a request); the open conversation takes
// its messages, edits and typing notices from them.
import { field, h, replace } from './dom.js';
import { formatDateTime } from './format.js';
import { lang, t } from './i18n.js';
import { describeError, feedback, focusKeeper, liveLine, sequence, throttled, userZone } from './kit.js';
import { connectLive } from './live.js';
import { openThread } from './messages-thread.js';
import { appendPage } from './pages.js';
import { api, currentUser } from './session.js';

const LIST_PAGE = 50;
const RECONCILE_MS = 5000;

// What a conversation is called: the patient (and the subject) for staff, the subject for the patient.
export function conversationTitle(conv) {
  if (currentUser().role === 'PATIENT') return conv.subject || t('msg_with_clinic');
  return conv.subject ? `${conv.patient_label} · ${conv.subject}` : conv.patient_label;
}

function startForm(s, fb, opened) {
  const staff = currentUser().role !== 'PATIENT';
  // Enter in the search field searches (it never submits the form); a changed search drops the choice made.
  const query = h('input', { type: 'search', name: 'patient-query', autocomplete: 'off',
    onkeydown: (ev) => { if (ev.key === 'Enter' && !ev.isComposing) { ev.preventDefault(); search(); } },
    oninput: () => { if (patient.value) replace(patient, h('option', { value: '' }, t('search_first'))); } });
  const patient = h('select', { name: 'patient' }, h('option', { value: '' }, t('search_first')));
  const subject = h('input', { name: 'subject', maxlength: 200, autocomplete: 'off' });
  const search = () => fb.act(async () => {
    const q = query.value.trim();
    const found = q ? (await api('GET', `/patients?q=${encodeURIComponent(q)}&limit=20`)).items : [];
    replace(patient, found.length ? found.map((p) => h('option', { value: String(p.id) }, `${p.full_name}${p.birth_date ? ` (${p.birth_date})` : ''}`))
      : h('option', { value: '' }, t('msg_none_found')));
    patient.focus();
  });
  const submit = (ev) => {
    ev.preventDefault();
    fb.act(async () => {
      const body = {};
      if (staff) body.patient_id = Number(patient.value) || null;
      if (subject.value.trim()) body.subject = subject.value.trim();
      const conv = await api('POST', '/conversations', body);
      subject.value = '';
      s.form.open = false;
      opened(conv);
    });
  };
  return h('details', { class: 'panel msg-new' },
    h('summary', {}, t('msg_new')),
    h('form', { 'aria-label': t('msg_new'), onsubmit: submit },
      staff ? h('div', { class: 'inline' }, field(t('find_patient'), query),
        h('button', { type: 'button', onclick: search }, t('search'))) : h('p', { class: 'meta' }, t('msg_new_patient_hint')),
      staff ? field(t('patient'), patient) : null,
      field(t('msg_subject'), subject),
      h('button', { type: 'submit', class: 'primary' }, t('msg_start'))));
}

function preview(conv) {
  const m = conv.last_message;
  if (!m) return t('msg_no_messages');
  const me = currentUser();
  const who = m.sender_user_id !== null && m.sender_user_id === me.id ? t('chat_from_me')
    : t({ DOCTOR: 'chat_from_doctor', RECEPTIONIST: 'chat_from_desk' }[m.sender_role] || 'chat_from_patient');
  return `${who}: ${m.text === null ? t('chat_deleted') : m.text}`;
}

function listItem(conv, s, open) {
  const unread = conv.unread_count > 0;
  return h('li', { class: unread ? 'unread' : null },
    h('button', { type: 'button', class: 'conv', 'data-key': `conv-${conv.id}`, 'aria-current': s.thread?.id === conv.id ? 'true' : false,
      onclick: () => open(conv) },
    h('span', { class: 'conv-title' }, conversationTitle(conv)),
    unread ? h('span', { class: 'badge' }, t(conv.unread_count === 1 ? 'msg_unread_one' : 'msg_unread', conv.unread_count)) : null,
    h('span', { class: 'conv-preview' }, preview(conv)),
    h('time', { datetime: conv.last_message_at || conv.created_at }, formatDateTime(conv.last_message_at || conv.created_at, s.zone, lang()))));
}

export function messagesScreen(arg) {
  const s = { items: [], cursor: null, paged: false, zone: null, thread: null, closed: false, form: null, seq: sequence() };
  const fb = feedback();
  const line = liveLine();
  const list = h('ul', { class: 'conv-list' });
  const more = h('button', { type: 'button', hidden: true, onclick: () => fb.act(loadMore) }, t('load_more'));
  const main = h('div', { class: 'msg-main' }, h('p', { class: 'meta' }, t('msg_pick')));
  const layout = h('div', { class: 'msg-layout' });
  const listHeading = h('h2', { id: 'conv-h', tabindex: '-1' }, t('msg_conversations'));
  const side = h('div', { class: 'msg-side' });

  const keep = focusKeeper(list, [listHeading]);
  const draw = () => keep(() => {
    replace(list, s.items.length ? s.items.map((c) => listItem(c, s, open)) : h('li', { class: 'meta' }, t('msg_none')));
    more.hidden = !s.cursor;
  });
  // The first page again: its order and counts are the server's (only the newest answer lands). Rows of the pages
  // loaded after it stay behind it, with their cursor (keyset by activity: a row that moved up is in the new page).
  async function loadList() {
    const mark = s.seq.latest();
    const page = await api('GET', `/conversations?limit=${LIST_PAGE}`);
    if (s.closed || !s.seq.isLatest(mark)) return;
    if (s.paged && page.next_cursor) {
      const have = new Set(page.items.map((c) => c.id));
      s.items = [...page.items, ...s.items.filter((c) => !have.has(c.id))];
    } else {
      s.items = page.items;
      s.cursor = page.next_cursor;
      s.paged = false;
    }
    draw();
  }
  async function loadMore() {
    const rows = [...s.items];
    const cursor = await appendPage('/conversations', s.cursor, rows, LIST_PAGE);
    if (s.closed) return;
    const have = new Set(s.items.map((c) => c.id));
    s.items.push(...rows.filter((c) => !have.has(c.id)));
    s.cursor = cursor;
    s.paged = true;
    draw();
  }
  const reconcile = throttled(loadList, fb.say, RECONCILE_MS);

  // A conversation event on its row at once (unknown rows and what events do not say wait for reconcile()).
  const row = (id) => s.items.find((c) => c.id === id);
  function posted(m) {
    const conv = row(m?.conversation_id);
    if (conv && !(conv.last_message?.id >= m.id)) {
      conv.last_message = m;
      conv.last_message_at = m.created_at;
      const seen = s.thread?.id === conv.id && document.visibilityState === 'visible';
      if (m.sender_user_id !== currentUser().id && !seen) conv.unread_count += 1;
      s.items = [conv, ...s.items.filter((c) => c !== conv)];
      draw();
    }
  }
  function updated(m) {
    const conv = row(m?.conversation_id);
    if (conv?.last_message?.id === m.id) {
      conv.last_message = m;
      draw();
    }
  }
  function readUpTo(id, messageId) {
    const conv = row(id);
    if (conv && conv.unread_count && (messageId === undefined || messageId >= (conv.last_message?.id ?? 0))) {
      conv.unread_count = 0;
      draw();
    }
  }

  function open(conv) {
    s.thread?.close();
    s.thread = openThread(conv, { zone: s.zone, title: conversationTitle(conv), emit: (n, d) => live.emit(n, d), back, changed: readUpTo });
    replace(main, s.thread.el);
    layout.classList.add('has-open');
    history.replaceState(null, '', `#/messages/${conv.id}`);
    draw();
    s.thread.focus();
  }
  function back() {
    s.thread?.close();
    s.thread = null;
    replace(main, h('p', { class: 'meta' }, t('msg_pick')));
    layout.classList.remove('has-open');
    history.replaceState(null, '', '#/messages');
    draw();
    listHeading.focus();
  }

  const live = connectLive({
    status: line.set,
    connected: () => { if (s.zone) { reconcile(); s.thread?.catchUp(); } },
    event: (name, data) => {
      if ((name === 'chat_message' || name === 'chat_message_updated') && data?.message?.conversation_id === s.thread?.id) s.thread.message(data.message);
      if (name === 'typing') s.thread?.typing(data || {});
      if (!s.zone) return;
      const mine = name === 'message_read' && data?.user_id === currentUser().id;
      if (name === 'chat_message') posted(data?.message);
      if (name === 'chat_message_updated') updated(data?.message);
      if (mine) readUpTo(data.conversation_id, data.message_id);
      if (mine || name === 'chat_message' || name === 'chat_message_updated' || name === 'conversation_created') reconcile();
    },
  });
  const onVisible = () => { if (document.visibilityState === 'visible') s.thread?.visible(); };
  document.addEventListener('visibilitychange', onVisible);

  s.form = startForm(s, fb, (conv) => {
    s.items = [conv, ...s.items.filter((c) => c.id !== conv.id)];
    reconcile();
    open(conv);
  });
  replace(side, s.form, h('section', { class: 'panel', 'aria-labelledby': 'conv-h' }, listHeading, list, more));
  replace(layout, side, main);
  const heading = h('h1', {}, t('title_messages'));
  const el = h('section', { class: 'messages' }, heading, line.el, fb.message, fb.done, layout);

  (async () => {
    const zone = await userZone();
    if (s.closed) return;
    s.zone = zone;
    await loadList();
    const id = Number(arg);
    if (s.closed || !Number.isInteger(id) || id <= 0) return;
    const conv = row(id) || await api('GET', `/conversations/${id}`);
    if (!s.closed) open(conv);
  })().catch((e) => fb.say(describeError(e)));

  return {
    el,
    close() {
      s.closed = true;
      reconcile.cancel();
      s.thread?.close();
      document.removeEventListener('visibilitychange', onVisible);
      live.close();
    },
  };
}
