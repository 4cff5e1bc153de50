// Conversations (DESIGN §9, sql/0026_conversations.sql, api-server/h_conversations.c): every route by role
// (admin, receptionist, doctor, patient) and own/other clinic; members decided from the token; a retried send
// stored once; edits and deletions kept as revisions; read receipts that never move back; unread counts; bad
// input; the events of a conversation reaching exactly its members' rooms; the two limits (a second api-server
// started with small ones); the in-call chat of a video session.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  asAdmin,
  createAppointment,
  createClinic,
  createService,
  eventsEnd,
  eventsSince,
  expectError,
  expectStatus,
  get,
  patientSession,
  post,
  psql,
  request,
  staffSession,
  startApi,
  uniq,
} from '../lib/api.mjs';

const ctx = {};

before(async () => {
  const [a, b] = await Promise.all([createClinic(), createClinic()]);
  const [recA, docA, docA2, patA, patA2, recB, docB, patB] = await Promise.all([
    staffSession('RECEPTIONIST', a.id), staffSession('DOCTOR', a.id), staffSession('DOCTOR', a.id),
    patientSession(a.id, { full_name: 'Clara Chat Souza' }), patientSession(a.id),
    staffSession('RECEPTIONIST', b.id), staffSession('DOCTOR', b.id), patientSession(b.id),
  ]);
  Object.assign(ctx, { a, b, recA, docA, docA2, patA, patA2, recB, docB, patB, admin: await asAdmin() });
});

const conv = (body, token) => post('/api/conversations', body, token);
const send = (id, body, token) => post(`/api/conversations/${id}/messages`, body, token);
const messages = async (id, token, q = '') => expectStatus(await get(`/api/conversations/${id}/messages${q}`, token), 200).body;
const edit = (id, mid, body, token) => request('PATCH', `/api/conversations/${id}/messages/${mid}`, { body, token });
const remove = (id, mid, token) => request('DELETE', `/api/conversations/${id}/messages/${mid}`, { token });
const markRead = (id, messageId, token) => post(`/api/conversations/${id}/read`, { message_id: messageId }, token);
const doctorId = (s) => s.user.doctor_id;

// A conversation of patient A opened by the receptionist (optionally naming a doctor).
async function openA(fields = {}) {
  return expectStatus(await conv({ patient_id: ctx.patA.patient.id, subject: `Subject ${uniq()}`, ...fields }, ctx.recA.access), 201).body;
}

describe('opening a conversation', () => {
  test('a patient opens one with their own clinic; patient_id comes from the token', async () => {
    const c = expectStatus(await conv({ subject: 'Dúvida sobre o exame' }, ctx.patA.access), 201).body;
    assert.equal(c.patient_id, ctx.patA.patient.id);
    assert.equal(c.clinic_id, ctx.a.id);
    assert.equal(c.doctor_id, null);
    assert.equal(c.subject, 'Dúvida sobre o exame');
    assert.equal(c.unread_count, 0);
    assert.equal(c.last_message, null);
    expectError(await conv({ patient_id: ctx.patA2.patient.id }, ctx.patA.access), 422, 'validation_failed', ['patient_id']);
  });

  test('staff open one with a patient of their clinic; another clinic\'s patient is refused', async () => {
    const c = await openA();
    assert.equal(c.created_by, ctx.recA.id);
    expectError(await conv({ patient_id: ctx.patB.patient.id }, ctx.recA.access), 422, 'validation_failed', ['patient_id']);
    expectError(await conv({}, ctx.recA.access), 422, 'validation_failed', ['patient_id']);
    expectError(await conv({ patient_id: ctx.patA.patient.id, doctor_id: doctorId(ctx.docB) }, ctx.recA.access), 422,
      'validation_failed', ['doctor_id']);
  });

  test('a doctor\'s conversation names the doctor; naming another doctor is refused', async () => {
    const c = expectStatus(await conv({ patient_id: ctx.patA.patient.id }, ctx.docA.access), 201).body;
    assert.equal(c.doctor_id, doctorId(ctx.docA));
    expectError(await conv({ patient_id: ctx.patA.patient.id, doctor_id: doctorId(ctx.docA2) }, ctx.docA.access), 422,
      'validation_failed', ['doctor_id']);
  });

  test('an admin may not open one (403); bad fields are 422', async () => {
    expectError(await conv({ patient_id: ctx.patA.patient.id }, ctx.admin), 403, 'forbidden');
    expectError(await conv({ patient_id: ctx.patA.patient.id, subject: 'x'.repeat(201) }, ctx.recA.access), 422,
      'validation_failed', ['subject']);
    expectError(await conv({ patient_id: ctx.patA.patient.id, color: 'red' }, ctx.recA.access), 422, 'validation_failed', ['color']);
    expectError(await conv({ patient_id: 'one' }, ctx.recA.access), 422, 'validation_failed', ['patient_id']);
    expectError(await conv({ patient_id: ctx.patA.patient.id, appointment_id: 999999999 }, ctx.recA.access), 422,
      'validation_failed', ['appointment_id']);
  });
});

describe('who reaches a conversation', () => {
  test('members by role, own and other clinic, for every read route', async () => {
    const named = await openA({ doctor_id: doctorId(ctx.docA) });
    const open = await openA();
    const m = expectStatus(await send(named.id, { text: 'Olá' }, ctx.patA.access), 201).body;
    // [token, reaches named, reaches open]
    const who = {
      admin: [ctx.admin, true, true],
      recA: [ctx.recA.access, true, true],
      docA: [ctx.docA.access, true, true],
      docA2: [ctx.docA2.access, false, true],
      patA: [ctx.patA.access, true, true],
      patA2: [ctx.patA2.access, false, false],
      recB: [ctx.recB.access, false, false],
      docB: [ctx.docB.access, false, false],
      patB: [ctx.patB.access, false, false],
    };
    for (const [name, [token, reachNamed, reachOpen]] of Object.entries(who)) {
      for (const [c, reach] of [[named, reachNamed], [open, reachOpen]]) {
        const g = await get(`/api/conversations/${c.id}`, token);
        const l = await get(`/api/conversations/${c.id}/messages`, token);
        if (reach) {
          expectStatus(g, 200);
          expectStatus(l, 200);
        } else {
          expectError(g, 404, 'not_found');
          expectError(l, 404, 'not_found');
        }
        const ids = (await get('/api/conversations?limit=200', token)).body.items.map((x) => x.id);
        assert.equal(ids.includes(c.id), reach, `${name} listing ${c.id}`);
      }
      // Writing: a member may, an admin is refused by role, an outsider finds nothing.
      const s = await send(named.id, { text: `from ${name}` }, token);
      const r = await markRead(named.id, m.id, token);
      if (name === 'admin') {
        expectError(s, 403, 'forbidden');
        expectError(r, 403, 'forbidden');
      } else if (reachNamed) {
        expectStatus(s, 201);
        expectStatus(r, 200);
      } else {
        expectError(s, 404, 'not_found');
        expectError(r, 404, 'not_found');
      }
      // Editing the patient's message: the sender may, another member is refused, an outsider finds nothing.
      const e = await edit(named.id, m.id, { text: 'changed' }, token);
      if (name === 'patA') expectStatus(e, 200);
      else if (name === 'admin' || reachNamed) expectError(e, 403, 'forbidden');
      else expectError(e, 404, 'not_found');
    }
  });

  test('an unknown conversation or message is 404, and a message of another conversation too', async () => {
    const c1 = await openA();
    const c2 = await openA();
    const m2 = expectStatus(await send(c2.id, { text: 'in c2' }, ctx.recA.access), 201).body;
    expectError(await get('/api/conversations/999999999', ctx.recA.access), 404, 'not_found');
    expectError(await send(999999999, { text: 'x' }, ctx.recA.access), 404, 'not_found');
    expectError(await edit(c1.id, m2.id, { text: 'x' }, ctx.recA.access), 404, 'not_found');
    expectError(await remove(c1.id, m2.id, ctx.recA.access), 404, 'not_found');
    expectError(await markRead(c1.id, m2.id, ctx.recA.access), 422, 'validation_failed', ['message_id']);
  });

  test('the list filters by patient and pages by cursor, most recent activity first', async () => {
    const cs = [];
    for (let i = 0; i < 3; i++) cs.push(await openA());
    expectStatus(await send(cs[0].id, { text: 'bump' }, ctx.recA.access), 201);
    const seen = [];
    let cursor = null;
    do {
      const body = expectStatus(await get(`/api/conversations?patient_id=${ctx.patA.patient.id}&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        ctx.recA.access), 200).body;
      seen.push(...body.items);
      cursor = body.next_cursor;
    } while (cursor);
    assert.ok(seen.every((c) => c.patient_id === ctx.patA.patient.id));
    assert.equal(new Set(seen.map((c) => c.id)).size, seen.length, 'no conversation twice');
    assert.equal(seen[0].id, cs[0].id, 'the one with the newest message first');
    expectError(await get('/api/conversations?patient_id=abc', ctx.recA.access), 400, 'invalid_query');
  });
});

describe('messages', () => {
  test('a message has the contract\'s shape; pages are oldest first, newest last; after_id= catches up', async () => {
    const c = await openA();
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(expectStatus(await send(c.id, { text: `m${i}` }, i % 2 ? ctx.patA.access : ctx.recA.access), 201).body);
    assert.deepEqual(Object.keys(sent[0]).sort(),
      ['client_id', 'conversation_id', 'created_at', 'deleted_at', 'edited_at', 'id', 'sender_guest', 'sender_role', 'sender_user_id',
        'text'].sort());
    assert.equal(sent[0].sender_guest, false);
    assert.equal(sent[1].sender_role, 'PATIENT');
    assert.equal(sent[1].sender_user_id, ctx.patA.user.id);
    const p1 = await messages(c.id, ctx.docA.access, '?limit=2');
    assert.deepEqual(p1.items.map((m) => m.text), ['m0', 'm1']);
    const p2 = await messages(c.id, ctx.docA.access, `?limit=2&cursor=${p1.next_cursor}`);
    assert.deepEqual(p2.items.map((m) => m.text), ['m2', 'm3']);
    const p3 = await messages(c.id, ctx.docA.access, `?limit=2&cursor=${p2.next_cursor}`);
    assert.deepEqual(p3.items.map((m) => m.text), ['m4']);
    assert.equal(p3.next_cursor, null);
    assert.deepEqual((await messages(c.id, ctx.docA.access, `?after_id=${sent[2].id}`)).items.map((m) => m.text), ['m3', 'm4']);
    const listed = (await get(`/api/conversations?patient_id=${ctx.patA.patient.id}`, ctx.docA.access)).body.items.find((x) => x.id === c.id);
    assert.equal(listed.last_message.text, 'm4');
  });

  test('before_id= opens a thread on its newest page and pages back; not with a cursor; another conversation\'s messages never', async () => {
    const c = await openA();
    const other = await openA();
    const sent = [];
    for (let i = 0; i < 7; i++) {
      sent.push(expectStatus(await send(c.id, { text: `b${i}` }, ctx.recA.access), 201).body);
      expectStatus(await send(other.id, { text: `o${i}` }, ctx.recA.access), 201); // interleaved ids
    }
    const newest = await messages(c.id, ctx.docA.access, `?before_id=${sent[6].id + 1}&limit=3`);
    assert.deepEqual(newest.items.map((m) => m.text), ['b4', 'b5', 'b6'], 'the newest three, oldest first');
    assert.equal(newest.next_cursor, null);
    const back = await messages(c.id, ctx.docA.access, `?before_id=${newest.items[0].id}&limit=3`);
    assert.deepEqual(back.items.map((m) => m.text), ['b1', 'b2', 'b3']);
    const first = await messages(c.id, ctx.docA.access, `?before_id=${back.items[0].id}&limit=3`);
    assert.deepEqual(first.items.map((m) => m.text), ['b0'], 'fewer than the limit: the start of the thread');
    assert.deepEqual((await messages(c.id, ctx.docA.access, `?before_id=${sent[0].id}`)).items, []);
    assert.deepEqual((await messages(c.id, ctx.docA.access, `?after_id=${sent[1].id}&before_id=${sent[4].id}`)).items.map((m) => m.text),
      ['b2', 'b3'], 'between two ids');
    const page = await messages(c.id, ctx.docA.access, '?limit=2');
    expectError(await get(`/api/conversations/${c.id}/messages?before_id=${sent[6].id}&cursor=${page.next_cursor}`, ctx.docA.access),
      400, 'invalid_query', ['cursor']);
    expectError(await get(`/api/conversations/${c.id}/messages?before_id=abc`, ctx.docA.access), 400, 'invalid_query');
    expectError(await get(`/api/conversations/${c.id}/messages?before_id=0`, ctx.docA.access), 400, 'invalid_query');
    expectError(await get(`/api/conversations/${c.id}/messages?before_id=${sent[6].id}`, ctx.docB.access), 404, 'not_found');
  });

  test('a retried send with the same client_id is stored once and answers the same message', async () => {
    const c = await openA();
    const clientId = `c-${uniq()}`;
    const first = expectStatus(await send(c.id, { text: 'Posso remarcar?', client_id: clientId }, ctx.patA.access), 201).body;
    const again = await Promise.all([1, 2, 3].map(() => send(c.id, { text: 'Posso remarcar?', client_id: clientId }, ctx.patA.access)));
    for (const r of again) assert.deepEqual(expectStatus(r, 201).body, first);
    assert.equal((await messages(c.id, ctx.recA.access)).items.length, 1);
    // The same client_id from another sender is another message.
    expectStatus(await send(c.id, { text: 'Sim', client_id: clientId }, ctx.recA.access), 201);
    assert.equal((await messages(c.id, ctx.recA.access)).items.length, 2);
  });

  test('concurrent first sends with one client_id store one message', async () => {
    const c = await openA();
    const clientId = `race-${uniq()}`;
    const rs = await Promise.all(Array.from({ length: 8 }, () => send(c.id, { text: 'race', client_id: clientId }, ctx.recA.access)));
    const ids = new Set(rs.map((r) => expectStatus(r, 201).body.id));
    assert.equal(ids.size, 1);
    assert.equal(await psql(`SELECT count(*) FROM conversation_messages WHERE conversation_id = ${c.id}`), '1');
  });

  test('bad input: empty, blank, oversize, wrong types, NUL, invalid UTF-8', async () => {
    const c = await openA();
    expectError(await send(c.id, { text: '' }, ctx.recA.access), 422, 'validation_failed', ['text']);
    expectError(await send(c.id, { text: '   ' }, ctx.recA.access), 422, 'validation_failed', ['text']);
    expectError(await send(c.id, {}, ctx.recA.access), 422, 'validation_failed', ['text']);
    expectError(await send(c.id, { text: 'x'.repeat(4001) }, ctx.recA.access), 422, 'validation_failed', ['text']);
    expectStatus(await send(c.id, { text: 'ç'.repeat(4000) }, ctx.recA.access), 201); // characters, not bytes
    expectError(await send(c.id, { text: 5 }, ctx.recA.access), 422, 'validation_failed', ['text']);
    expectError(await send(c.id, { text: 'ok', client_id: 'x'.repeat(101) }, ctx.recA.access), 422, 'validation_failed', ['client_id']);
    expectError(await send(c.id, { text: 'ok', extra: 1 }, ctx.recA.access), 422, 'validation_failed', ['extra']);
    const nul = await request('POST', `/api/conversations/${c.id}/messages`, { raw: '{"text":"a\\u0000b"}', token: ctx.recA.access });
    expectError(nul, 400, 'malformed_json');
    const bad = Buffer.concat([Buffer.from('{"text":"a'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    expectError(await request('POST', `/api/conversations/${c.id}/messages`, { raw: bad, token: ctx.recA.access }), 400, 'malformed_json');
    assert.equal((await messages(c.id, ctx.recA.access)).items.length, 1, 'only the valid message was stored');
  });
});

describe('edits and deletions', () => {
  test('the sender edits and deletes within the window; the old texts stay as revisions', async () => {
    const c = await openA();
    const m = expectStatus(await send(c.id, { text: 'Exame às 10h' }, ctx.recA.access), 201).body;
    const e = expectStatus(await edit(c.id, m.id, { text: 'Exame às 11h' }, ctx.recA.access), 200).body;
    assert.equal(e.text, 'Exame às 11h');
    assert.ok(e.edited_at);
    expectError(await edit(c.id, m.id, { text: 'mine now' }, ctx.docA.access), 403, 'forbidden');
    expectError(await remove(c.id, m.id, ctx.patA.access), 403, 'forbidden');
    expectError(await edit(c.id, m.id, { text: '' }, ctx.recA.access), 422, 'validation_failed', ['text']);
    const d = expectStatus(await remove(c.id, m.id, ctx.recA.access), 200).body;
    assert.equal(d.text, null);
    assert.ok(d.deleted_at);
    expectError(await edit(c.id, m.id, { text: 'back' }, ctx.recA.access), 409, 'conflict');
    expectError(await remove(c.id, m.id, ctx.recA.access), 409, 'conflict');
    const listed = (await messages(c.id, ctx.patA.access)).items;
    assert.equal(listed.length, 1);
    assert.equal(listed[0].text, null, 'a deleted message reads as deleted');
    assert.equal(await psql(`SELECT string_agg(kind || ':' || text, '|' ORDER BY id) FROM conversation_message_revisions WHERE message_id = ${m.id}`),
      'edit:Exame às 10h|delete:Exame às 11h');
  });

  test('past the edit window a message can no longer be changed', async () => {
    const c = await openA();
    const m = expectStatus(await send(c.id, { text: 'old' }, ctx.recA.access), 201).body;
    await psql(`UPDATE conversation_messages SET created_at = now() - interval '16 minutes' WHERE id = ${m.id}`);
    expectError(await edit(c.id, m.id, { text: 'new' }, ctx.recA.access), 409, 'conflict');
    expectError(await remove(c.id, m.id, ctx.recA.access), 409, 'conflict');
  });
});

describe('read receipts and unread counts', () => {
  test('unread counts per member; a receipt never moves back', async () => {
    const c = await openA({ doctor_id: doctorId(ctx.docA) });
    const ms = [];
    for (let i = 0; i < 4; i++) ms.push(expectStatus(await send(c.id, { text: `p${i}` }, ctx.patA.access), 201).body);
    const unread = async (token) => (await get(`/api/conversations/${c.id}`, token)).body.unread_count;
    assert.equal(await unread(ctx.recA.access), 4);
    assert.equal(await unread(ctx.docA.access), 4);
    assert.equal(await unread(ctx.patA.access), 0, 'one\'s own messages are never unread');
    let r = expectStatus(await markRead(c.id, ms[2].id, ctx.recA.access), 200).body;
    assert.equal(r.last_read_message_id, ms[2].id);
    assert.equal(r.unread_count, 1);
    r = expectStatus(await markRead(c.id, ms[0].id, ctx.recA.access), 200).body;
    assert.equal(r.last_read_message_id, ms[2].id, 'an older message leaves the receipt where it was');
    assert.equal(await unread(ctx.recA.access), 1);
    assert.equal(await unread(ctx.docA.access), 4, 'receipts are per member');
    expectStatus(await remove(c.id, ms[3].id, ctx.patA.access), 200);
    assert.equal(await unread(ctx.recA.access), 0, 'a deleted message is not unread');
    const detail = (await get(`/api/conversations/${c.id}`, ctx.patA.access)).body;
    assert.deepEqual(detail.reads.map((x) => [x.user_id, x.message_id]), [[ctx.recA.id, ms[2].id]]);
    expectError(await markRead(c.id, 999999999, ctx.recA.access), 422, 'validation_failed', ['message_id']);
    expectError(await post(`/api/conversations/${c.id}/read`, {}, ctx.recA.access), 422, 'validation_failed', ['message_id']);
  });

  test('concurrent receipts settle on the newest', async () => {
    const c = await openA();
    const ms = [];
    for (let i = 0; i < 6; i++) ms.push(expectStatus(await send(c.id, { text: `r${i}` }, ctx.patA.access), 201).body);
    await Promise.all(ms.map((m) => markRead(c.id, m.id, ctx.docA.access)));
    assert.equal((await get(`/api/conversations/${c.id}`, ctx.docA.access)).body.last_read_message_id, ms[5].id);
  });
});

describe('events', () => {
  test('chat_message, chat_message_updated and message_read reach the members\' rooms only', async () => {
    const ends = {};
    for (const k of ['recA', 'docA', 'docA2', 'patA', 'patA2', 'recB']) ends[k] = await eventsEnd(ctx[k].access);
    const c = await openA({ doctor_id: doctorId(ctx.docA) });
    const m = expectStatus(await send(c.id, { text: 'Resultado pronto' }, ctx.recA.access), 201).body;
    expectStatus(await edit(c.id, m.id, { text: 'Resultado pronto!' }, ctx.recA.access), 200);
    expectStatus(await markRead(c.id, m.id, ctx.patA.access), 200);
    const names = async (k, n) => (await eventsSince(ctx[k].access, ends[k], n)).items
      .filter((e) => (e.data.conversation?.id ?? e.data.message?.conversation_id ?? e.data.conversation_id) === c.id)
      .map((e) => e.name);
    const all = ['conversation_created', 'chat_message', 'chat_message_updated', 'message_read'];
    assert.deepEqual(await names('recA', 4), all);
    assert.deepEqual(await names('docA', 4), all);
    assert.deepEqual(await names('patA', 4), all);
    assert.deepEqual(await names('docA2', 0), [], 'a doctor the conversation does not name hears nothing');
    assert.deepEqual(await names('patA2', 0), []);
    assert.deepEqual(await names('recB', 0), []);
    const ev = (await eventsSince(ctx.patA.access, ends.patA, 4)).items.find((e) => e.name === 'chat_message' && e.data.message.id === m.id);
    assert.equal(ev.data.message.text, 'Resultado pronto');
    const read = (await eventsSince(ctx.recA.access, ends.recA, 4)).items.find((e) => e.name === 'message_read');
    assert.deepEqual(read.data, { conversation_id: c.id, message_id: m.id, user_id: ctx.patA.user.id });
  });

  test('a conversation naming no doctor reaches every doctor of the clinic', async () => {
    const end = await eventsEnd(ctx.docA2.access);
    const c = await openA();
    expectStatus(await send(c.id, { text: 'para todos' }, ctx.patA.access), 201);
    const got = (await eventsSince(ctx.docA2.access, end, 2)).items.filter((e) => e.name === 'chat_message' && e.data.message.conversation_id === c.id);
    assert.equal(got.length, 1);
  });
});

describe('limits', () => {
  let api;
  const call = (method, path, body, token) => request(method, path, { base: api.url, body, token });
  before(async () => {
    api = await startApi({ CHAT_MESSAGES_PER_MINUTE: '3', CHAT_CONVERSATIONS_PER_DAY: '2' });
  });
  after(async () => api?.stop());

  test('messages per minute per user: 429 with Retry-After, a retry of a stored send still answers', async () => {
    const c = await openA();
    const s = await staffSession('RECEPTIONIST', ctx.a.id);
    const first = expectStatus(await call('POST', `/api/conversations/${c.id}/messages`, { text: 'a', client_id: 'k1' }, s.access), 201).body;
    for (const t of ['b', 'c']) expectStatus(await call('POST', `/api/conversations/${c.id}/messages`, { text: t }, s.access), 201);
    const r = expectError(await call('POST', `/api/conversations/${c.id}/messages`, { text: 'd' }, s.access), 429, 'too_many_requests');
    const wait = Number(r.headers.get('retry-after'));
    assert.ok(wait >= 1 && wait <= 60, `Retry-After ${wait}`);
    assert.match(r.body.error.message, /3 messages a minute/);
    assert.deepEqual(expectStatus(await call('POST', `/api/conversations/${c.id}/messages`, { text: 'a', client_id: 'k1' }, s.access), 201).body, first);
    const other = await staffSession('RECEPTIONIST', ctx.a.id);
    expectStatus(await call('POST', `/api/conversations/${c.id}/messages`, { text: 'other user' }, other.access), 201);
    await psql(`UPDATE conversation_messages SET created_at = created_at - interval '61 seconds' WHERE sender_user_id = ${s.id}`);
    expectStatus(await call('POST', `/api/conversations/${c.id}/messages`, { text: 'e' }, s.access), 201);
  });

  test('conversations a patient opens per day: 429 with Retry-After; staff are not counted', async () => {
    const p = await patientSession(ctx.a.id);
    for (let i = 0; i < 2; i++) expectStatus(await call('POST', '/api/conversations', {}, p.access), 201);
    const r = expectError(await call('POST', '/api/conversations', {}, p.access), 429, 'too_many_requests');
    const wait = Number(r.headers.get('retry-after'));
    assert.ok(wait > 86000 && wait <= 86400, `Retry-After ${wait}`);
    for (let i = 0; i < 3; i++) expectStatus(await call('POST', '/api/conversations', { patient_id: p.patient.id }, ctx.recA.access), 201);
    await psql(`UPDATE conversations SET created_at = created_at - interval '1 day' WHERE created_by = ${p.user.id}`);
    expectStatus(await call('POST', '/api/conversations', {}, p.access), 201);
  });
});

describe('the in-call chat', () => {
  test('a video session opens its conversation, reached by its doctor and patient and announced to the video room', async () => {
    const service = await createService(ctx.a.id, { duration_minutes: 5 });
    const at = new Date(Math.ceil(Date.now() / 60000) * 60000 + 3 * 60000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const appt = await createAppointment(ctx.recA.access, {
      patient_id: ctx.patA.patient.id, doctor_id: doctorId(ctx.docA), service_id: service.id, start_time: at, consultation_type: 'video',
    });
    const sid = expectStatus(await post('/api/video-consultations/sessions', { appointment_id: appt.id }, ctx.recA.access), 201).body.id;
    const c = (await get(`/api/conversations?patient_id=${ctx.patA.patient.id}&limit=200`, ctx.docA.access)).body.items
      .find((x) => x.video_session_id === Number(sid));
    assert.ok(c, 'the session\'s conversation is listed for its doctor');
    assert.equal(c.doctor_id, doctorId(ctx.docA));
    expectStatus(await send(c.id, { text: 'Está me ouvindo?' }, ctx.patA.access), 201);
    expectError(await get(`/api/conversations/${c.id}`, ctx.docA2.access), 404, 'not_found');
    const rooms = await psql(`SELECT rooms FROM events WHERE name = 'chat_message' AND (data->'message'->>'conversation_id')::bigint = ${c.id}`);
    assert.ok(rooms.includes(`video:${sid}`), rooms);
  });
});

describe('the inbox', () => {
  const inbox = async (s) => expectStatus(await get('/api/notifications?unread=true&limit=200', s.access), 200).body.items
    .filter((n) => n.kind === 'conversation_message');
  const about = (items, c) => items.filter((n) => n.data.conversation_id === c.id);

  test('a message notifies every member but its sender, one unread line per conversation; a read receipt clears it', async () => {
    const c = await openA({ doctor_id: doctorId(ctx.docA) });
    const m1 = expectStatus(await send(c.id, { text: 'first question' }, ctx.patA.access), 201).body;
    const m2 = expectStatus(await send(c.id, { text: 'second question' }, ctx.patA.access), 201).body;
    for (const s of [ctx.recA, ctx.docA]) {
      const mine = about(await inbox(s), c);
      assert.equal(mine.length, 1, 'one unread line for the conversation');
      assert.equal(mine[0].data.message_id, m2.id, 'the newest message');
      assert.match(mine[0].body, /second question/);
    }
    assert.deepEqual(about(await inbox(ctx.patA), c), [], 'not the sender');
    assert.deepEqual(about(await inbox(ctx.docA2), c), [], 'not a doctor the conversation does not name');
    assert.deepEqual(about(await inbox(ctx.recB), c), [], 'not another clinic');
    expectStatus(await markRead(c.id, m1.id, ctx.recA.access), 200);
    assert.equal(about(await inbox(ctx.recA), c).length, 1, 'a receipt before the newest leaves it unread');
    expectStatus(await markRead(c.id, m2.id, ctx.recA.access), 200);
    assert.deepEqual(about(await inbox(ctx.recA), c), [], 'read up to the newest: read');
    assert.equal(about(await inbox(ctx.docA), c).length, 1, 'receipts are per member');
    const reply = expectStatus(await send(c.id, { text: 'the answer' }, ctx.recA.access), 201).body;
    const [toPatient] = about(await inbox(ctx.patA), c);
    assert.equal(toPatient.data.message_id, reply.id);
    assert.equal(about(await inbox(ctx.docA), c)[0].data.message_id, reply.id, 'the doctor\'s line moves to the reply');
  });

  test('an edit rewrites the preview in the inbox, a deletion removes the text', async () => {
    const c = await openA({ doctor_id: doctorId(ctx.docA) });
    const m = expectStatus(await send(c.id, { text: 'wrong patient: a secret' }, ctx.patA.access), 201).body;
    expectStatus(await edit(c.id, m.id, { text: 'corrected text' }, ctx.patA.access), 200);
    let [n] = about(await inbox(ctx.recA), c);
    assert.match(n.body, /corrected text/);
    assert.doesNotMatch(n.body, /secret/);
    expectStatus(await remove(c.id, m.id, ctx.patA.access), 200);
    [n] = about(await inbox(ctx.docA), c);
    assert.doesNotMatch(n.body, /corrected|secret/);
    assert.match(n.body, /deleted/);
  });

  test('a conversation naming no doctor notifies the desk, not the doctors', async () => {
    const c = await openA();
    expectStatus(await send(c.id, { text: 'to the desk' }, ctx.patA.access), 201);
    assert.equal(about(await inbox(ctx.recA), c).length, 1);
    assert.deepEqual(about(await inbox(ctx.docA), c), []);
  });
});
