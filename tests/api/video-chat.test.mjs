// The in-call chat written from the video room (DESIGN §9, sql/0036_video_chat.sql, signaling-server/chat.c): the
// doctor and the patient, also a patient invited without an account, send `chat_message`, read `chat_history` and
// type through their video connection, over WebSocket, long-polling and plain /ws; a retry is stored once; a
// patient still waiting neither writes nor hears; the per-minute limit; bad data; an access-token connection is
// pointed to REST; a guest's message reads as the patient's everywhere (REST, unread counts, the inbox).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { before, describe, test } from 'node:test';

import WebSocket from 'ws';

import {
  createAppointment,
  createClinic,
  createService,
  del,
  expectStatus,
  get,
  patch,
  patientSession,
  pickTodayZone,
  post,
  psql,
  staffSession,
  startSignaling,
  uniq,
} from '../lib/api.mjs';
import { eventsUntil as until, sioConnected } from '../lib/sockets.mjs';

const SIGNALING_URL = process.env.SIGNALING_URL;
const V = '/api/video-consultations';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const named = (c, name) => c.events.filter((e) => e.name === name).map((e) => e.env);
const ctx = {};

before(async () => {
  const clinic = await createClinic({ timezone: pickTodayZone(3) });
  const [rec, service] = await Promise.all([staffSession('RECEPTIONIST', clinic.id),
    createService(clinic.id, { duration_minutes: 5 })]);
  Object.assign(ctx, { clinic, rec, service });
});

// A video session two minutes ahead between a new doctor and a new patient of the clinic (so sessions never
// overlap and their join windows are open), and its conversation: {s, conv, doc, pat}.
async function videoSession() {
  const [doc, pat] = await Promise.all([staffSession('DOCTOR', ctx.clinic.id),
    patientSession(ctx.clinic.id, { full_name: 'Clara Chamada Reis' })]);
  const at = new Date(Math.ceil(Date.now() / 60000) * 60000 + 2 * 60000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const appt = await createAppointment(ctx.rec.access, {
    patient_id: pat.patient.id, doctor_id: doc.user.doctor_id, service_id: ctx.service.id, start_time: at,
    consultation_type: 'video',
  });
  const s = expectStatus(await post(`${V}/sessions`, { appointment_id: appt.id }, ctx.rec.access), 201).body;
  const list = expectStatus(await get(`/api/conversations?patient_id=${pat.patient.id}`, ctx.rec.access), 200).body;
  return { s, conv: list.items.find((c) => c.video_session_id === s.id), doc, pat };
}

// The doctor's join token, and a guest's: an invitation redeemed without an account.
const doctorToken = async (s, doc) => expectStatus(await post(`${V}/sessions/${s.id}/token`, undefined, doc.access), 200).body.token;
async function guestToken(s) {
  const inv = expectStatus(await post(`${V}/sessions/${s.id}/invite`, undefined, ctx.rec.access), 201).body;
  return expectStatus(await post(`${V}/invitations/redeem`, { code: inv.code }), 200).body.token;
}

// A session with the doctor's and the guest's video connections; the guest admitted unless admit is false.
async function room({ admit = true, transports = ['websocket'], url = SIGNALING_URL } = {}) {
  const { s, conv, doc, pat } = await videoSession();
  const dv = await sioConnected({ token: await doctorToken(s, doc) }, { url });
  await until(dv.events, () => named(dv, 'session_state').length === 1, 5000, 'the doctor in the room');
  const gv = await sioConnected({ token: await guestToken(s) }, { url, transports });
  await until(dv.events, () => named(dv, 'patient_waiting').length === 1, 8000, 'the guest waiting');
  if (admit) {
    dv.s.emit('admit_patient', {});
    await until(gv.events, () => named(gv, 'patient_admitted').length === 1, 8000, 'the guest admitted');
  }
  return { s, conv, doc, pat, dv, gv };
}

const say = (c, data) => c.s.timeout(5000).emitWithAck('chat_message', data);
const messagesOf = (c, convId) => named(c, 'chat_message').filter((e) => e.message.conversation_id === convId).map((e) => e.message);

describe('the in-call chat from the room', () => {
  test('a guest and the doctor write and hear each other; a retry is stored once; the guest reads as the patient', async () => {
    const { conv, doc, pat, dv, gv } = await room();
    try {
      const clientId = `c-${uniq()}`;
      const first = await say(gv, { text: '  Consegue me ouvir?  ', client_id: clientId });
      assert.equal(first.ok, true, JSON.stringify(first));
      assert.ok(Number.isInteger(first.message_id));
      assert.deepEqual(await say(gv, { text: 'Consegue me ouvir?', client_id: clientId }), { ok: true, message_id: first.message_id },
        'a retry answers the stored message');
      for (const c of [dv, gv]) await until(c.events, () => messagesOf(c, conv.id).length === 1, 5000, 'the guest\'s message');
      const m = messagesOf(dv, conv.id)[0];
      assert.equal(m.id, first.message_id);
      assert.equal(m.text, 'Consegue me ouvir?', 'trimmed as a REST send is');
      assert.equal(m.sender_user_id, null);
      assert.equal(m.sender_role, 'PATIENT');
      assert.equal(m.sender_guest, true);
      assert.equal(await psql(`SELECT count(*) || ' ' || bool_and(sender_guest ~ '^t[0-9a-f]+$')
                              FROM conversation_messages WHERE conversation_id = ${conv.id}`), '1 true');
      // the desk's inbox names the guest by the patient's name (until a newer message replaces the line)
      assert.equal(await psql(`SELECT count(*) FROM notifications WHERE user_id = ${ctx.rec.id}
                               AND data ->> 'message_id' = '${first.message_id}' AND body = 'Clara Chamada Reis: Consegue me ouvir?'`), '1');

      // nobody may change what the guest said: not the doctor, the desk or the patient's own account
      for (const token of [doc.access, ctx.rec.access, pat.access]) {
        const path = `/api/conversations/${conv.id}/messages/${first.message_id}`;
        assert.equal((await patch(path, { text: 'outra coisa' }, token)).status, 403);
        assert.equal((await del(path, token)).status, 403);
      }

      const reply = await say(dv, { text: 'Sim, perfeitamente.' });
      assert.equal(reply.ok, true);
      await until(gv.events, () => messagesOf(gv, conv.id).length === 2, 5000, 'the doctor\'s reply on the guest');
      const r = messagesOf(gv, conv.id)[1];
      assert.deepEqual([r.sender_user_id, r.sender_role, r.sender_guest], [doc.id, 'DOCTOR', false]);

      // REST: the doctor and the desk read both; the guest's message is unread for them, the patient's
      // account is not told of what the patient wrote
      const page = expectStatus(await get(`/api/conversations/${conv.id}/messages`, doc.access), 200).body;
      assert.deepEqual(page.items.map((x) => [x.text, x.sender_guest]), [['Consegue me ouvir?', true], ['Sim, perfeitamente.', false]]);
      const asDesk = expectStatus(await get(`/api/conversations/${conv.id}`, ctx.rec.access), 200).body;
      assert.equal(asDesk.unread_count, 2);
      const asDoctor = expectStatus(await get(`/api/conversations/${conv.id}`, doc.access), 200).body;
      assert.equal(asDoctor.unread_count, 1, 'the guest\'s message is unread for the doctor, not their own');
      const asPatient = expectStatus(await get(`/api/conversations/${conv.id}`, pat.access), 200).body;
      assert.equal(asPatient.unread_count, 1, 'what the patient wrote as a guest is not unread for their account');
      assert.equal(await psql(`SELECT count(*) FROM notifications WHERE user_id = ${pat.user.id}
                               AND data ->> 'message_id' = '${first.message_id}'`), '0');
      assert.equal(await psql(`SELECT count(*) FROM notifications WHERE user_id = ${pat.user.id}
                               AND data ->> 'message_id' = '${reply.message_id}'`), '1', 'the patient\'s account hears the doctor');
    } finally {
      dv.s.close();
      gv.s.close();
    }
  });

  test('chat_history pages the call\'s messages oldest first, for both sides', async () => {
    const { conv, dv, gv } = await room();
    try {
      for (const [c, text] of [[gv, 'um'], [dv, 'dois'], [gv, 'três']]) assert.equal((await say(c, { text })).ok, true);
      const last = await gv.s.timeout(5000).emitWithAck('chat_history', { limit: 2 });
      assert.equal(last.ok, true);
      assert.equal(last.conversation_id, conv.id);
      assert.deepEqual(last.messages.map((m) => m.text), ['dois', 'três']);
      assert.equal(last.has_more, true);
      const older = await dv.s.timeout(5000).emitWithAck('chat_history', { before_id: last.messages[0].id });
      assert.deepEqual(older.messages.map((m) => m.text), ['um']);
      assert.equal(older.has_more, false);
      assert.deepEqual(Object.keys(older.messages[0]).sort(), ['client_id', 'conversation_id', 'created_at', 'deleted_at',
        'edited_at', 'id', 'sender_guest', 'sender_role', 'sender_user_id', 'text']);
      const bad = await gv.s.timeout(5000).emitWithAck('chat_history', { limit: 101 });
      assert.equal(bad.code, 'bad_request');
    } finally {
      dv.s.close();
      gv.s.close();
    }
  });

  test('a patient still waiting neither writes nor hears the chat; admitted, they do', async () => {
    const { conv, dv, gv } = await room({ admit: false });
    const desk = await sioConnected({ token: ctx.rec.access });
    try {
      assert.equal((await say(dv, { text: 'Já vou atendê-lo.' })).ok, true, 'the doctor writes before the admission');
      assert.equal((await dv.s.timeout(5000).emitWithAck('typing', {})).ok, true);
      // delivered to the desk, so the guest's connection (same instance, same events) had its chance
      await until(desk.events, () => messagesOf(desk, conv.id).length === 1
        && named(desk, 'typing').some((t) => t.conversation_id === conv.id), 5000, 'the desk hears both');
      const early = await say(gv, { text: 'Olá?' });
      assert.equal(early.ok, false);
      assert.equal(early.code, 'refused');
      assert.match(early.message, /admitted/);
      assert.equal((await gv.s.timeout(5000).emitWithAck('chat_history', {})).code, 'refused');
      await sleep(500);
      assert.deepEqual(named(gv, 'chat_message'), [], 'the waiting room hears no message');
      assert.deepEqual(named(gv, 'typing'), [], 'nor any typing');
      dv.s.emit('admit_patient', {});
      await until(gv.events, () => named(gv, 'patient_admitted').length === 1, 8000, 'the admission');
      const history = await gv.s.timeout(5000).emitWithAck('chat_history', {});
      assert.deepEqual(history.messages.map((m) => m.text), ['Já vou atendê-lo.'], 'what was said before is there to read');
      assert.equal((await say(gv, { text: 'Olá!' })).ok, true);
      await until(dv.events, () => messagesOf(dv, conv.id).some((m) => m.text === 'Olá!'), 5000, 'the guest\'s first message');
    } finally {
      for (const c of [dv, gv, desk]) c.s.close();
    }
  });

  test('typing from the room reaches the other side and the desk, never the sender', async () => {
    const { conv, doc, dv, gv } = await room();
    const desk = await sioConnected({ token: ctx.rec.access });
    try {
      assert.deepEqual(await gv.s.timeout(5000).emitWithAck('typing', {}), { ok: true });
      await until(dv.events, () => named(dv, 'typing').length === 1, 5000, 'the guest typing on the doctor');
      assert.deepEqual(named(dv, 'typing')[0], { conversation_id: conv.id, user_id: null, sender_role: 'PATIENT' });
      await until(desk.events, () => named(desk, 'typing').some((t) => t.conversation_id === conv.id), 5000, 'on the desk');
      assert.deepEqual(await dv.s.timeout(5000).emitWithAck('typing', { conversation_id: conv.id }), { ok: true });
      await until(gv.events, () => named(gv, 'typing').length === 1, 5000, 'the doctor typing on the guest');
      assert.deepEqual(named(gv, 'typing')[0], { conversation_id: conv.id, user_id: doc.id, sender_role: 'DOCTOR' });
      await sleep(400);
      assert.equal(named(gv, 'typing').length, 1, 'the guest does not hear itself');
      assert.equal(named(dv, 'typing').length, 1, 'nor the doctor');
      const other = await videoSession();
      await sleep(1100); // past the guest's one typing a second
      const wrong = await gv.s.timeout(5000).emitWithAck('typing', { conversation_id: other.conv.id });
      assert.equal(wrong.code, 'not_found', 'another conversation from the room');
    } finally {
      for (const c of [dv, gv, desk]) c.s.close();
    }
  });

  test('over long-polling and plain /ws too', async () => {
    const { s, conv, doc, dv, gv } = await room({ transports: ['polling'] });
    try {
      const polled = await say(gv, { text: 'por polling' });
      assert.equal(polled.ok, true);
      await until(dv.events, () => messagesOf(dv, conv.id).length === 1, 5000, 'the polled message');
      await until(gv.events, () => messagesOf(gv, conv.id).length === 1, 5000, 'its echo over polling');
      // the doctor's second connection on /ws
      const token = await doctorToken(s, doc);
      const ws = new WebSocket(`${SIGNALING_URL.replace('http', 'ws')}/ws`);
      const frames = [];
      ws.on('message', (d) => {
        const f = JSON.parse(String(d));
        frames.push(f);
        if (f.event === 'hello') ws.send(JSON.stringify({ event: 'auth', data: { token } }));
        if (f.event === 'connected') ws.send(JSON.stringify({ event: 'chat_message', data: { text: 'por /ws', client_id: 'w1' }, ack: 3 }));
      });
      try {
        await until(frames, () => frames.some((f) => f.ack === 3), 5000, 'the /ws ack');
        const ack = frames.find((f) => f.ack === 3).data;
        assert.equal(ack.ok, true);
        await until(gv.events, () => messagesOf(gv, conv.id).some((m) => m.id === ack.message_id), 5000, 'the /ws message on the guest');
        ws.send(JSON.stringify({ event: 'chat_message', data: { text: '' }, ack: 4 }));
        await until(frames, () => frames.some((f) => f.event === 'error'), 5000, 'the refusal');
        assert.equal(frames.find((f) => f.event === 'error').data.code, 'bad_message', 'a frame with bad data, as for every event');
      } finally {
        ws.close();
      }
    } finally {
      dv.s.close();
      gv.s.close();
    }
  });

  test('bad data, an access-token connection, the per-minute limit', async () => {
    const inst = await startSignaling({ CHAT_MESSAGES_PER_MINUTE: '3' });
    const { conv, dv, gv } = await room({ url: inst.url });
    const staff = await sioConnected({ token: ctx.rec.access }, { url: inst.url });
    try {
      for (const data of [{}, { text: '' }, { text: '   ' }, { text: 'x'.repeat(4001) }, { text: 'a', extra: 1 },
        { text: 'a', client_id: '' }, { text: 'a', client_id: 'x'.repeat(101) }, { text: 7 }]) {
        const r = await say(gv, data);
        assert.equal(r.code, 'bad_request', JSON.stringify(data).slice(0, 80));
      }
      assert.equal((await say(gv, { text: 'é'.repeat(4000) })).ok, true, '4,000 characters, not bytes');
      const fromDesk = await say(staff, { text: 'pela recepção' });
      assert.equal(fromDesk.code, 'forbidden');
      assert.match(fromDesk.message, /POST \/api\/conversations/);
      assert.equal((await staff.s.timeout(5000).emitWithAck('chat_history', {})).code, 'forbidden');
      // three a minute for the guest (the 4,000 above was one); the doctor counts apart
      assert.equal((await say(gv, { text: 'dois' })).ok, true);
      assert.equal((await say(gv, { text: 'três' })).ok, true);
      const over = await say(gv, { text: 'quatro' });
      assert.equal(over.ok, false);
      assert.equal(over.code, 'rate_limited');
      assert.ok(over.retry_after_seconds >= 1 && over.retry_after_seconds <= 60, JSON.stringify(over));
      const doctorSays = await say(dv, { text: 'o médico ainda pode', client_id: 'd1' });
      assert.equal(doctorSays.ok, true);
      assert.equal((await say(dv, { text: 'o médico ainda pode', client_id: 'd1' })).message_id, doctorSays.message_id);
      assert.equal(await psql(`SELECT count(*) FROM conversation_messages WHERE conversation_id = ${conv.id}`), '4');
      const metrics = await (await fetch(`${inst.url}/metrics`)).text();
      assert.match(metrics, /signaling_chat_messages_total 4\n/, 'stored messages, a retry not counted again');
    } finally {
      for (const c of [dv, gv, staff]) c.s.close();
      await inst.stop();
    }
  });

  test('a patient with an account writes as their user; a removed guest is cut off and the next holder\'s retry key is theirs', async () => {
    const { s, conv, pat, dv, gv } = await room();
    try {
      const first = await say(gv, { text: 'primeiro convidado', client_id: 'k1' });
      assert.equal(first.ok, true);
      dv.s.emit('remove_patient', { reason: 'conexão ruim' });
      await gv.closed;
      // the patient's own account joins with its join token: their messages carry their user
      const own = expectStatus(await post(`${V}/sessions/${s.id}/token`, undefined, pat.access), 200).body.token;
      const pv = await sioConnected({ token: own });
      try {
        await until(dv.events, () => named(dv, 'patient_waiting').length === 2, 8000, 'the patient waiting again');
        dv.s.emit('admit_patient', {});
        await until(pv.events, () => named(pv, 'patient_admitted').length === 1, 8000, 'admitted');
        const again = await say(pv, { text: 'agora com a minha conta', client_id: 'k1' });
        assert.equal(again.ok, true);
        assert.notEqual(again.message_id, first.message_id, 'another sender\'s k1 is another message');
        await until(dv.events, () => messagesOf(dv, conv.id).some((m) => m.id === again.message_id), 5000, 'the message');
        const m = messagesOf(dv, conv.id).find((x) => x.id === again.message_id);
        assert.deepEqual([m.sender_user_id, m.sender_role, m.sender_guest], [pat.user.id, 'PATIENT', false]);
      } finally {
        pv.s.close();
      }
    } finally {
      dv.s.close();
      gv.s.close();
    }
  });

  test('two guests of one call each have their own retry keys; the call\'s end closes the chat', async () => {
    const { s, conv, doc, dv, gv } = await room();
    try {
      assert.equal((await say(gv, { text: 'sou o primeiro', client_id: 'same' })).ok, true);
      dv.s.emit('remove_patient', {});
      await gv.closed;
      const second = await sioConnected({ token: await guestToken(s) });
      try {
        await until(dv.events, () => named(dv, 'patient_waiting').length === 2, 8000, 'the second guest waiting');
        dv.s.emit('admit_patient', {});
        await until(second.events, () => named(second, 'patient_admitted').length === 1, 8000, 'admitted');
        const r = await say(second, { text: 'sou o segundo', client_id: 'same' });
        assert.equal(r.ok, true);
        assert.equal(await psql(`SELECT string_agg(text, '|' ORDER BY id) FROM conversation_messages
                                 WHERE conversation_id = ${conv.id}`), 'sou o primeiro|sou o segundo');
        assert.equal(await psql(`SELECT count(DISTINCT sender_guest) FROM conversation_messages WHERE conversation_id = ${conv.id}`), '2');
        expectStatus(await post(`${V}/sessions/${s.id}/end`, {}, doc.access), 200);
        for (const c of [dv, second]) {
          const after = await say(c, { text: 'ainda aí?' }).catch(() => ({ code: 'closed' }));
          assert.ok(['refused', 'closed'].includes(after.code), JSON.stringify(after));
          if (after.code === 'refused') assert.match(after.message, /over/);
        }
      } finally {
        second.s.close();
      }
    } finally {
      dv.s.close();
    }
  });

  test('a bad CHAT_MESSAGES_PER_MINUTE stops the signaling-server with a message', () => {
    for (const value of ['0', 'many', '100001']) {
      const r = spawnSync(process.env.SIGNALING_BIN, [], {
        env: { ...process.env, SIGNALING_LISTEN: '127.0.0.1:1', CHAT_MESSAGES_PER_MINUTE: value }, encoding: 'utf8', timeout: 20000,
      });
      assert.equal(r.status, 2, `${value}: ${r.stderr}`);
      assert.match(r.stderr, /configuration error: CHAT_MESSAGES_PER_MINUTE=/, r.stderr);
    }
  });
});
