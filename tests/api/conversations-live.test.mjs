// Conversations live (DESIGN §9, signaling-server/chat.c, sql/0026_conversations.sql): chat_message and message_read
// pushed to the members' sockets over Socket.IO (WebSocket and long-polling) and plain /ws, and never to others;
// replay after a reconnect on both transports; two signaling instances; the in-call chat in the video room; typing relayed to the other members only,
// never stored, at most one a second per sender, refused to non-members; a typing flood closes the connection.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import WebSocket from 'ws';

import {
  createAppointment,
  createClinic,
  createService,
  expectStatus,
  get,
  patientSession,
  post,
  psql,
  staffSession,
  startSignaling,
  uniq,
} from '../lib/api.mjs';
import { eventsUntil, sioConnected } from '../lib/sockets.mjs';

const SIGNALING_URL = process.env.SIGNALING_URL;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ctx = {};

before(async () => {
  const a = await createClinic();
  const [rec, doc, doc2, pat, rec2] = await Promise.all([
    staffSession('RECEPTIONIST', a.id), staffSession('DOCTOR', a.id), staffSession('DOCTOR', a.id), patientSession(a.id),
    staffSession('RECEPTIONIST', a.id),
  ]);
  Object.assign(ctx, { a, rec, doc, doc2, pat, rec2 });
});

const connected = sioConnected;

// A plain /ws connection, authenticated: {ws, events}.
function wsConnected(token, url = SIGNALING_URL) {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/ws`);
  const events = [];
  return new Promise((resolve, reject) => {
    ws.on('message', (d) => {
      const f = JSON.parse(String(d));
      if (f.event === 'hello') ws.send(JSON.stringify({ event: 'auth', data: { token } }));
      else if (f.event === 'connected') resolve({ ws, events });
      else if (f.event === 'ping') ws.send(JSON.stringify({ event: 'pong' }));
      else events.push({ name: f.event, env: f.data, ack: f.ack });
      if (f.ack !== undefined) events.push({ name: 'ack', env: f.data, ack: f.ack });
    });
    ws.on('error', reject);
  });
}

const until = eventsUntil;

const of = (c, name, convId) => c.events.filter((e) => e.name === name
  && (e.env?.message?.conversation_id ?? e.env?.conversation_id ?? e.env?.conversation?.id) === convId);

async function open(fields = {}) {
  return expectStatus(await post('/api/conversations', { patient_id: ctx.pat.patient.id, subject: `S ${uniq()}`, ...fields }, ctx.rec.access), 201).body;
}
const send = async (id, text, token) => expectStatus(await post(`/api/conversations/${id}/messages`, { text }, token), 201).body;
const typing = (c, conversationId) => c.s.timeout(5000).emitWithAck('typing', { conversation_id: conversationId });

describe('messages on sockets', () => {
  test('chat_message and message_read reach the members on WebSocket, polling and /ws; a doctor not named hears nothing', async () => {
    const conns = await Promise.all([
      connected({ token: ctx.rec.access }),
      connected({ token: ctx.doc.access }, { transports: ['polling'] }),
      connected({ token: ctx.doc2.access }),
    ]);
    const plain = await wsConnected(ctx.pat.access);
    try {
      const c = await open({ doctor_id: ctx.doc.user.doctor_id });
      const m = await send(c.id, 'Bom dia, doutor', ctx.pat.access);
      expectStatus(await post(`/api/conversations/${c.id}/read`, { message_id: m.id }, ctx.doc.access), 200);
      for (const conn of [conns[0], conns[1], plain]) {
        await until(conn.events, () => of(conn, 'chat_message', c.id).length === 1 && of(conn, 'message_read', c.id).length === 1,
          5000, 'chat_message and message_read');
        const got = of(conn, 'chat_message', c.id)[0].env;
        assert.equal(got.message.text, 'Bom dia, doutor');
        assert.equal(got.message.id, m.id);
        assert.match(got.event_id, /^\d+-\d+$/);
        assert.equal(of(conn, 'conversation_created', c.id).length, 1, 'the new conversation is announced');
      }
      await sleep(500);
      assert.deepEqual(of(conns[2], 'chat_message', c.id), [], 'another doctor of the clinic hears nothing');
      assert.deepEqual(of(conns[2], 'conversation_created', c.id), []);
    } finally {
      for (const x of conns) x.s.close();
      plain.ws.close();
    }
  });

  test('replay after a reconnect with last_event_id, over WebSocket and over polling', async () => {
    for (const transports of [['websocket'], ['polling']]) {
      const c = await open();
      const first = await connected({ token: ctx.doc.access }, { transports });
      await send(c.id, 'one', ctx.pat.access);
      await until(first.events, () => of(first, 'chat_message', c.id).length === 1);
      const last = of(first, 'chat_message', c.id)[0].env.event_id;
      first.s.close();
      await send(c.id, 'two', ctx.pat.access);
      await send(c.id, 'three', ctx.rec.access);
      const again = await connected({ token: ctx.doc.access, last_event_id: last }, { transports });
      try {
        await until(again.events, () => of(again, 'chat_message', c.id).length === 2, 5000, `replay over ${transports}`);
        assert.deepEqual(of(again, 'chat_message', c.id).map((e) => e.env.message.text), ['two', 'three']);
      } finally {
        again.s.close();
      }
    }
  });

  test('a member on another signaling instance gets the messages and the typing', async () => {
    const inst = await startSignaling();
    const here = await connected({ token: ctx.rec.access });
    const there = await connected({ token: ctx.pat.access }, { url: inst.url });
    try {
      const c = await open();
      await send(c.id, 'de uma instância a outra', ctx.rec.access);
      await until(there.events, () => of(there, 'chat_message', c.id).length === 1, 5000, 'the message on the other instance');
      assert.deepEqual(await typing(here, c.id), { ok: true });
      await until(there.events, () => of(there, 'typing', c.id).length === 1, 5000, 'typing on the other instance');
      assert.deepEqual(of(there, 'typing', c.id)[0].env, { conversation_id: c.id, user_id: ctx.rec.id, sender_role: 'RECEPTIONIST' });
    } finally {
      here.s.close();
      there.s.close();
      await inst.stop();
    }
  });
});

describe('the in-call chat', () => {
  test('a video session\'s conversation reaches the doctor\'s connection in the video room', async () => {
    const service = await createService(ctx.a.id, { duration_minutes: 5 });
    const at = new Date(Math.ceil(Date.now() / 60000) * 60000 + 3 * 60000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const appt = await createAppointment(ctx.rec.access, {
      patient_id: ctx.pat.patient.id, doctor_id: ctx.doc.user.doctor_id, service_id: service.id, start_time: at, consultation_type: 'video',
    });
    const session = expectStatus(await post('/api/video-consultations/sessions', { appointment_id: appt.id }, ctx.rec.access), 201).body;
    const join = expectStatus(await post(`/api/video-consultations/sessions/${session.id}/token`, undefined, ctx.doc.access), 200).body;
    const room = await connected({ token: join.token });
    try {
      const list = expectStatus(await get(`/api/conversations?patient_id=${ctx.pat.patient.id}&limit=200`, ctx.pat.access), 200).body;
      const c = list.items.find((x) => x.video_session_id === session.id);
      assert.ok(c, 'the session opened its conversation');
      await send(c.id, 'Estou na sala de espera', ctx.pat.access);
      await until(room.events, () => of(room, 'chat_message', c.id).length === 1, 5000, 'the in-call message');
      assert.equal(of(room, 'chat_message', c.id)[0].env.message.text, 'Estou na sala de espera');
      assert.deepEqual(await typing(room, c.id), { ok: true }, 'the doctor types from the room');
    } finally {
      room.s.close();
    }
  });
});

describe('typing', () => {
  test('relayed to the other members only, never stored, at most one a second per sender', async () => {
    const c = await open({ doctor_id: ctx.doc.user.doctor_id });
    const [rec, rec2, doc, doc2, pat] = await Promise.all([ctx.rec, ctx.rec2, ctx.doc, ctx.doc2, ctx.pat]
      .map((x) => connected({ token: x.access })));
    const plain = await wsConnected(ctx.pat.access);
    try {
      assert.deepEqual(await typing(pat, c.id), { ok: true });
      assert.deepEqual(await typing(pat, c.id), { ok: true }, 'a second within the second is accepted and dropped');
      for (const x of [rec, rec2, doc]) await until(x.events, () => of(x, 'typing', c.id).length === 1, 5000, 'typing');
      await sleep(500);
      for (const x of [rec, rec2, doc]) assert.equal(of(x, 'typing', c.id).length, 1, 'the extra typing was dropped');
      assert.deepEqual(of(pat, 'typing', c.id), [], 'the sender does not hear itself');
      assert.deepEqual(of(plain, 'typing', c.id), [], 'nor on its other connections');
      assert.deepEqual(of(doc2, 'typing', c.id), [], 'a doctor the conversation does not name hears nothing');
      assert.equal(await psql(`SELECT count(*) FROM events WHERE name = 'typing'`), '0');
      await sleep(600);
      plain.ws.send(JSON.stringify({ event: 'typing', data: { conversation_id: c.id }, ack: 7 }));
      await until(plain.events, () => plain.events.some((e) => e.name === 'ack' && e.ack === 7));
      assert.deepEqual(plain.events.find((e) => e.name === 'ack' && e.ack === 7).env, { ok: true });
      await until(rec.events, () => of(rec, 'typing', c.id).length === 2, 5000, 'typing over /ws, a second later');
    } finally {
      for (const x of [rec, rec2, doc, doc2, pat]) x.s.close();
      plain.ws.close();
    }
  });

  test('a non-member, an unknown conversation and bad data are refused', async () => {
    const c = await open({ doctor_id: ctx.doc.user.doctor_id });
    const other = await createClinic();
    const outsider = await staffSession('RECEPTIONIST', other.id);
    const [doc2, out, rec] = await Promise.all([connected({ token: ctx.doc2.access }), connected({ token: outsider.access }),
      connected({ token: ctx.rec.access })]);
    try {
      const r1 = await typing(doc2, c.id);
      assert.equal(r1.ok, false);
      assert.equal(r1.code, 'forbidden');
      assert.equal((await typing(out, c.id)).code, 'forbidden');
      assert.equal((await typing(rec, 999999999)).code, 'forbidden');
      const bad = await rec.s.timeout(5000).emitWithAck('typing', { conversation_id: 'x' });
      assert.equal(bad.code, 'bad_request');
      const extra = await rec.s.timeout(5000).emitWithAck('typing', { conversation_id: c.id, text: 'no' });
      assert.equal(extra.code, 'bad_request');
    } finally {
      for (const x of [doc2, out, rec]) x.s.close();
    }
  });

  test('a typing flood past the frame limit closes the connection', async () => {
    const c = await open();
    const inst = await startSignaling({ SIGNALING_MAX_MSGS_PER_SEC: '5' });
    const conn = await connected({ token: ctx.rec.access }, { url: inst.url });
    try {
      for (let i = 0; i < 30; i++) conn.s.emit('typing', { conversation_id: c.id });
      const why = await Promise.race([conn.closed, sleep(5000).then(() => 'still open')]);
      assert.notEqual(why, 'still open');
    } finally {
      conn.s.close();
      await inst.stop();
    }
  });
});

