// The signaling-server as socket.io-client 4.x sees it: health routes, the Socket.IO v4 handshake
// over WebSocket, refusal of bad tokens and other paths, rooms from the token (another clinic, another
// doctor), the live push of a phase move, and the replay of missed events from a last_event_id.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, sign as cryptoSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { describe, test } from 'node:test';

import { io } from 'socket.io-client';
import WebSocket from 'ws';

import {
  b64url, createClinic, createPatient, eventsEnd, eventsSince, moveVisit, psql, staffSession, startSignaling, walkIn,
} from '../lib/api.mjs';

// The access token of a session re-signed with the real key and another lifetime (seconds from now).
function reissued(access, lifetime) {
  const payload = JSON.parse(Buffer.from(access.split('.')[1], 'base64url').toString());
  const now = Math.floor(Date.now() / 1000);
  const body = b64url(JSON.stringify({ ...payload, iat: now, exp: now + lifetime, jti: randomBytes(16).toString('hex') }));
  const header = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT' }));
  const pem = readFileSync(process.env.JWT_PRIVATE_KEY_FILE, 'utf8');
  const sig = cryptoSign('sha256', Buffer.from(`${header}.${body}`), { key: pem, dsaEncoding: 'ieee-p1363' });
  return `${header}.${body}.${sig.toString('base64url')}`;
}

const SIGNALING_URL = process.env.SIGNALING_URL;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function connect(auth, opts = {}, url = SIGNALING_URL) {
  return io(url, { transports: ['websocket'], auth, reconnection: false, forceNew: true, timeout: 5000, ...opts });
}

// Connects and resolves once CONNECT is acknowledged (rejects with the connect_error).
function connected(auth, url = SIGNALING_URL) {
  const s = connect(auth, {}, url);
  const events = [];
  s.onAny((name, env) => events.push({ name, env }));
  const closed = new Promise((resolve) => s.on('disconnect', resolve));
  return new Promise((resolve, reject) => {
    s.on('connect', () => resolve({ s, events, closed }));
    s.on('connect_error', (e) => { s.close(); reject(e); });
  });
}

// Waits until pred(events) holds (or fails after ms).
async function until(events, pred, ms = 5000, what = 'events') {
  const deadline = Date.now() + ms;
  while (!pred(events)) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; got ${JSON.stringify(events.map((e) => e.name))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}


async function clinicWorld() {
  const clinic = await createClinic({ timezone: 'America/Sao_Paulo' });
  const [rec, doc, doc2] = await Promise.all([
    staffSession('RECEPTIONIST', clinic.id), staffSession('DOCTOR', clinic.id), staffSession('DOCTOR', clinic.id),
  ]);
  const patient = await createPatient(rec.access, { clinic_id: clinic.id });
  return { clinic, rec, doc, doc2, patient, doctorId: doc.user.doctor_id };
}

describe('signaling-server', () => {
  test('SIGNALING_URL is set by the test harness', () => {
    assert.ok(SIGNALING_URL, 'SIGNALING_URL must point at the signaling-server under test');
  });

  test('/healthz and /readyz answer JSON; other paths 404', async () => {
    let r = await fetch(`${SIGNALING_URL}/healthz`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { status: 'ok' });
    r = await fetch(`${SIGNALING_URL}/readyz`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { status: 'ready' });
    r = await fetch(`${SIGNALING_URL}/nothing`);
    assert.equal(r.status, 404);
    assert.equal((await r.json()).error.code, 'not_found');
  });

  test('a bad or missing token gets connect_error "invalid token"', async () => {
    for (const auth of [{}, { token: 'not.a.jwt' }, { token: 42 }]) {
      await assert.rejects(connected(auth), (e) => e.message === 'invalid token');
    }
  });

  test('another path is refused', async () => {
    const w = await clinicWorld();
    const s = connect({ token: w.rec.access }, { path: '/other/' });
    const err = await new Promise((resolve) => { s.on('connect_error', resolve); s.on('connect', () => resolve(null)); });
    s.close();
    assert.ok(err, 'connected on a path other than /socket.io/');
  });

  test('a phase move reaches the clinic room and the doctor, and nobody else', async () => {
    const w = await clinicWorld();
    const other = await clinicWorld();
    const [rec, doc, doc2, stranger] = await Promise.all([
      connected({ token: w.rec.access }), connected({ token: w.doc.access }), connected({ token: w.doc2.access }),
      connected({ token: other.rec.access }),
    ]);
    try {
      const visit = await walkIn(w.rec.access, { patient_id: w.patient.id, doctor_id: w.doctorId });
      await moveVisit(visit.id, 'with_doctor', w.rec.access);
      await until(doc.events, (ev) => ev.some((e) => e.name === 'patient_with_doctor'), 5000, 'patient_with_doctor');
      await until(rec.events, (ev) => ev.filter((e) => e.name === 'queue_updated').length >= 2, 5000, 'queue_updated x2');
      const pwd = doc.events.find((e) => e.name === 'patient_with_doctor').env;
      // docs/ARCHITECTURE.md §7: the one argument is the event's data with event_id and occurred_at added
      assert.equal(pwd.visit.id, visit.id);
      assert.equal(pwd.patient.id, w.patient.id);
      assert.ok(Array.isArray(pwd.visit_history));
      assert.match(pwd.event_id, /^\d+-\d+$/);
      assert.match(pwd.occurred_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      // the receptionist's clinic room: the same events /api/events gives, in the same order
      const api = (await eventsSince(w.rec.access, null)).items.filter((e) => e.data?.visit?.id === visit.id || e.data?.visit_id === visit.id);
      const pushed = rec.events.map((e) => e.env).filter((e) => e.visit?.id === visit.id || e.visit_id === visit.id);
      assert.deepEqual(pushed.map((e) => e.event_id), api.map((e) => e.event_id));
      assert.ok(!rec.events.some((e) => e.name === 'patient_with_doctor'), 'the clinic room got the patient card');
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(!doc2.events.some((e) => e.name === 'patient_with_doctor'), 'another doctor got patient_with_doctor');
      assert.deepEqual(stranger.events, [], 'another clinic received events');
    } finally {
      for (const c of [rec, doc, doc2, stranger]) c.s.close();
    }
  });

  test('one copy of each event: a doctor gets the copy of its own room only, live and by replay; the desk the general one', async () => {
    const w = await clinicWorld();
    const start = await eventsEnd(w.rec.access);
    const [rec, doc, doc2] = await Promise.all([
      connected({ token: w.rec.access }), connected({ token: w.doc.access }), connected({ token: w.doc2.access }),
    ]);
    const marker = randomBytes(8).toString('hex');
    // one logical event written as two rows, as the payments trigger does: in full to the doctor's room,
    // slim to the clinic's room except for the doctor's room
    await psql(`INSERT INTO events (name, rooms, except_rooms, data) VALUES
      ('payment_processed', ARRAY['doctor:${w.doctorId}'], '{}', '{"payment": {"id": 1, "copy": "full", "m": "${marker}"}}'),
      ('payment_processed', ARRAY['clinic:${w.clinic.id}'], ARRAY['doctor:${w.doctorId}'],
       '{"payment": {"id": 1, "copy": "slim", "m": "${marker}"}}');`);
    const copies = (c) => c.events.filter((e) => e.env?.payment?.m === marker).map((e) => e.env.payment.copy);
    try {
      await until(rec.events, (ev) => copies({ events: ev }).length >= 1, 5000, 'the desk copy');
      await until(doc2.events, (ev) => copies({ events: ev }).length >= 1, 5000, "another doctor's copy");
      await until(doc.events, (ev) => copies({ events: ev }).length >= 1, 5000, "the doctor's copy");
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(copies(doc), ['full']);
      assert.deepEqual(copies(rec), ['slim']);
      assert.deepEqual(copies(doc2), ['slim']);
      // the same by replay, over Socket.IO and over HTTP
      const again = await connected({ token: w.doc.access, last_event_id: start ?? '0-0' });
      try {
        await until(again.events, (ev) => copies({ events: ev }).length >= 1, 5000, 'the replayed copy');
        await new Promise((r) => setTimeout(r, 300));
        assert.deepEqual(copies(again), ['full']);
      } finally {
        again.s.close();
      }
      const api = (await eventsSince(w.doc.access, start)).items.filter((e) => e.data?.payment?.m === marker);
      assert.deepEqual(api.map((e) => e.data.payment.copy), ['full']);
    } finally {
      for (const c of [rec, doc, doc2]) c.s.close();
    }
  });

  test('connections closed before or during the handshake leave the server serving', async () => {
    const { port } = new URL(SIGNALING_URL);
    const churn = (text) => new Promise((resolve) => {
      const c = tcpConnect(Number(port), '127.0.0.1', () => { if (text) c.write(text); c.end(); });
      c.on('close', resolve);
      c.on('error', resolve);
    });
    for (let i = 0; i < 20; i++) {
      await churn('');
      await churn('GET /healthz HTTP/1.1\r\nHost: x');
      await churn('GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
    }
    const quick = Array.from({ length: 10 }, () => { const c = connect({}); c.close(); return c; });
    void quick;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await fetch(`${SIGNALING_URL}/healthz`)).status, 200);
  });

  test('a last_event_id that is empty or not one of ours is refused at connect', async () => {
    const w = await clinicWorld();
    for (const last of ['', 'abc', '1-', '-1', '1-2-3', '99999999999999999999999-1']) {
      await assert.rejects(connected({ token: w.rec.access, last_event_id: last }), (e) => e.message === 'invalid last_event_id', last);
    }
  });

  test('reconnecting with last_event_id replays what was missed, in order, then goes live', async () => {
    const w = await clinicWorld();
    const p2 = await createPatient(w.rec.access, { clinic_id: w.clinic.id });
    // The client saw the clinic's events up to the middle of the stream: its last_event_id is an event
    // of its own rooms, so the replay's lower bound decides whether that event comes again.
    const v1 = await walkIn(w.rec.access, { patient_id: w.patient.id, doctor_id: w.doctorId });
    const seen = (await eventsSince(w.rec.access, null, 2)).items;
    assert.ok(seen.length >= 2, `events of the first walk-in: ${JSON.stringify(seen.map((e) => e.name))}`);
    const start = seen.at(-1).event_id;
    const v2 = await walkIn(w.rec.access, { patient_id: p2.id, doctor_id: w.doctorId });
    await moveVisit(v1.id, 'with_doctor', w.rec.access);
    const missed = (await eventsSince(w.rec.access, start, 4)).items;
    assert.ok(!missed.some((e) => e.event_id === start), 'GET /api/events?after= gave back its own cursor');
    const c = await connected({ token: w.rec.access, last_event_id: start });
    try {
      await until(c.events, (ev) => ev.length >= missed.length, 5000, 'the replay');
      await new Promise((r) => setTimeout(r, 300)); // anything replayed beyond what was missed has arrived too
      const ids = c.events.map((e) => e.env.event_id);
      // exactly what came after the cursor: not the cursor's own event, nothing before it
      assert.deepEqual(ids, missed.map((e) => e.event_id));
      await moveVisit(v2.id, 'with_doctor', w.rec.access);
      await until(c.events, (ev) => ev.length >= ids.length + 2, 5000, 'live events after the replay');
      const all = c.events.map((e) => e.env.event_id);
      assert.equal(new Set(all).size, all.length, 'an event came twice at the seam');
      const api = (await eventsSince(w.rec.access, start, all.length)).items.map((e) => e.event_id);
      assert.deepEqual(all, api.slice(0, all.length));
    } finally {
      c.s.close();
    }
  });

  test('a last_event_id ahead of the instance (it has not read that far yet): those events are not sent again', async () => {
    const w = await clinicWorld();
    const v = await walkIn(w.rec.access, { patient_id: w.patient.id, doctor_id: w.doctorId });
    // An open transaction holds every instance's reading (and GET /api/events) below the events written
    // after it began; the client's cursor is read past it, as one another instance gave it would be once
    // this one lags behind.
    const holder = spawn('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', process.env.DATABASE_URL], { stdio: ['pipe', 'pipe', 'pipe'] });
    const held = new Promise((resolve) => holder.stdout.once('data', resolve));
    holder.stdin.write('BEGIN; SELECT pg_current_xact_id();\n');
    let c = null;
    try {
      await held;
      await moveVisit(v.id, 'with_doctor', w.rec.access);
      const ahead = await psql(`SELECT event_cursor(e) FROM events e WHERE e.rooms && ARRAY['clinic:${w.clinic.id}']
                                ORDER BY e.txid DESC, e.id DESC LIMIT 1`);
      c = await connected({ token: w.rec.access, last_event_id: ahead });
      holder.stdin.end('COMMIT;\n');
      await new Promise((resolve) => holder.on('close', resolve));
      await sleep(600); // several reads of the instance (SIGNALING_POLL_MS is 200 in the suite)
      assert.deepEqual(c.events.map((e) => e.name), [], 'events up to the last_event_id came again');
      await moveVisit(v.id, 'waiting', w.rec.access);
      await until(c.events, (ev) => ev.some((e) => e.name === 'visit_status_changed'), 5000, 'the next move');
      const api = (await eventsSince(w.rec.access, ahead, 10)).items.map((e) => e.event_id);
      assert.deepEqual(c.events.map((e) => e.env.event_id), api.slice(0, c.events.length));
    } finally {
      if (holder.exitCode === null) holder.kill();
      c?.s.close();
    }
  });

  test('room requests are acknowledged only for the rooms of the token; unknown events are refused', async () => {
    const w = await clinicWorld();
    const other = await clinicWorld();
    const doc = await connected({ token: w.doc.access });
    try {
      const ask = (name, arg) => doc.s.timeout(3000).emitWithAck(name, arg);
      assert.deepEqual(await ask('join_doctor_room', { doctor_id: w.doctorId }), { ok: true });
      assert.deepEqual(await ask('join_clinic_room', { clinic_id: w.clinic.id }), { ok: true });
      const refused = await ask('join_doctor_room', { doctor_id: w.doc2.user.doctor_id });
      assert.equal(refused.ok, false);
      assert.equal(refused.code, 'forbidden');
      assert.equal((await ask('join_clinic_room', { clinic_id: other.clinic.id })).code, 'forbidden');
      assert.equal((await ask('join_clinic_room', { clinic_id: 'x' })).code, 'bad_request');
      assert.equal((await ask('no_such_event', {})).code, 'unknown_event');
      // without an ack the refusal comes as an `error` event
      doc.s.emit('join_doctor_room', { doctor_id: w.doc2.user.doctor_id });
      await until(doc.events, (ev) => ev.some((e) => e.name === 'error'), 3000, 'an error event');
      assert.equal(doc.events.find((e) => e.name === 'error').env.code, 'forbidden');
    } finally {
      doc.s.close();
    }
  });

  test('at exp the client is told and closed, unless it sent a fresh token first', async () => {
    const w = await clinicWorld();
    const short = await connected({ token: reissued(w.rec.access, 2) });
    const renewed = await connected({ token: reissued(w.rec.access, 2) });
    try {
      const reply = await renewed.s.timeout(3000).emitWithAck('authenticate', { token: reissued(w.rec.access, 600) });
      assert.deepEqual(reply, { ok: true });
      const other = await renewed.s.timeout(3000).emitWithAck('authenticate', { token: w.doc.access });
      assert.equal(other.code, 'forbidden');
      const gone = new Promise((resolve) => short.s.on('disconnect', resolve));
      await until(short.events, (ev) => ev.some((e) => e.name === 'error' && e.env.code === 'token_expired'), 6000, 'token_expired');
      await gone;
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(renewed.s.connected, true, 'the renewed connection was closed at the old exp');
    } finally {
      short.s.close();
      renewed.s.close();
    }
  });

  test('a flood of frames closes the connection; /metrics counts it', async () => {
    const w = await clinicWorld();
    const c = await connected({ token: w.rec.access });
    const gone = new Promise((resolve) => c.s.on('disconnect', resolve));
    for (let i = 0; i < 200; i++) c.s.emit('join_clinic_room', { clinic_id: w.clinic.id });
    await gone;
    const r = await fetch(`${SIGNALING_URL}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/plain/);
    const text = await r.text();
    const abuse = Number(/signaling_closed_total\{cause="abuse"\} (\d+)/.exec(text)?.[1]);
    assert.ok(abuse >= 1, text);
    assert.match(text, /^signaling_database_up 1$/m);
    assert.match(text, /^signaling_events_delivered_total \d+$/m);
  });

  test('two instances (libev and poll() loops): a phase move reaches the receptionist on one and the doctor on the other', async () => {
    const w = await clinicWorld();
    const second = await startSignaling({ SIGNALING_EVENT_LOOP: 'poll' });
    const rec = await connected({ token: w.rec.access });
    const doc = await connected({ token: w.doc.access }, second.url);
    try {
      const visit = await walkIn(w.rec.access, { patient_id: w.patient.id, doctor_id: w.doctorId });
      await moveVisit(visit.id, 'with_doctor', w.rec.access);
      await until(doc.events, (ev) => ev.some((e) => e.name === 'patient_with_doctor' && e.env.visit.id === visit.id), 5000, 'patient_with_doctor on the second instance');
      await until(rec.events, (ev) => ev.filter((e) => e.name === 'queue_updated').length >= 2, 5000, 'queue_updated on the first');
      await until(doc.events, (ev) => ev.filter((e) => e.name === 'queue_updated').length >= 2, 5000, 'queue_updated on the second');
    } finally {
      rec.s.close();
      doc.s.close();
      await second.stop();
    }
  });

  test('a SIGNALING_EVENT_LOOP other than libev or poll stops the start with a message', () => {
    const r = spawnSync(process.env.SIGNALING_BIN, [], { env: { ...process.env, SIGNALING_EVENT_LOOP: 'epoll' }, encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /configuration error: SIGNALING_EVENT_LOOP="epoll" must be libev or poll/);
  });

  test('events written while the database connection is cut still arrive, once, in order', async () => {
    const w = await clinicWorld();
    const c = await connected({ token: w.rec.access });
    try {
      const start = await eventsEnd(w.rec.access);
      await psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'signaling-server';");
      const patients = await Promise.all([1, 2, 3].map(() => createPatient(w.rec.access, { clinic_id: w.clinic.id })));
      for (const p of patients) await walkIn(w.rec.access, { patient_id: p.id, doctor_id: w.doctorId });
      const expected = (await eventsSince(w.rec.access, start, 6)).items.map((e) => e.event_id);
      assert.equal(expected.length, 6);
      await until(c.events, (ev) => expected.every((id) => ev.some((e) => e.env.event_id === id)), 15000, 'the events written during the cut');
      const got = c.events.map((e) => e.env.event_id).filter((id) => expected.includes(id));
      assert.deepEqual(got, expected);
    } finally {
      c.s.close();
    }
  });

  test('across a PostgreSQL restart: the connected client misses nothing, one away during it catches up by replay', async () => {
    assert.ok(process.env.PG_DIR && process.env.PG_PORT, 'PG_DIR and PG_PORT are set by the test harness');
    const w = await clinicWorld();
    const live = await connected({ token: w.rec.access });
    let away = await connected({ token: w.doc.access });
    let back = null;
    try {
      const start = await eventsEnd(w.rec.access);
      const before = await createPatient(w.rec.access, { clinic_id: w.clinic.id });
      await walkIn(w.rec.access, { patient_id: before.id, doctor_id: w.doctorId });
      await until(away.events, (ev) => ev.some((e) => e.name === 'queue_updated'), 5000, 'the event before the restart');
      const lastSeen = away.events.filter((e) => e.env?.event_id).at(-1).env.event_id;
      away.s.close();
      away = null;

      const pg = (...args) => {
        const r = spawnSync('bash', ['scripts/pg.sh', ...args], { cwd: process.env.REPO_ROOT, encoding: 'utf8' });
        assert.equal(r.status, 0, `pg.sh ${args.join(' ')}: ${r.stderr}`);
      };
      pg('stop', process.env.PG_DIR);
      pg('start', process.env.PG_DIR, process.env.PG_PORT);

      // The api-server's pooled connections died with the server: its first answers may be 503.
      let patients = null;
      for (let i = 0; i < 50 && !patients; i++) {
        try {
          patients = await Promise.all([1, 2].map(() => createPatient(w.rec.access, { clinic_id: w.clinic.id })));
        } catch {
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      assert.ok(patients, 'the API works again after the restart');
      for (const p of patients) await walkIn(w.rec.access, { patient_id: p.id, doctor_id: w.doctorId });
      const expected = (await eventsSince(w.rec.access, start, 6)).items.map((e) => e.event_id);
      assert.equal(expected.length, 6);
      await until(live.events, (ev) => expected.every((id) => ev.some((e) => e.env.event_id === id)), 20000,
        'the events written after the restart, on the connection that stayed');
      assert.deepEqual(live.events.map((e) => e.env.event_id).filter((id) => expected.includes(id)), expected);

      back = await connected({ token: w.doc.access, last_event_id: lastSeen });
      const missed = expected.slice(expected.indexOf(lastSeen) + 1);
      assert.equal(missed.length, 4, 'two walk-ins while away: new_checkin and queue_updated each');
      await until(back.events, (ev) => missed.every((id) => ev.some((e) => e.env.event_id === id)), 10000, 'the replay');
      const got = back.events.map((e) => e.env?.event_id).filter(Boolean);
      assert.deepEqual(got.slice(0, missed.length), missed);
      assert.equal(new Set(got).size, got.length, 'an event came twice');
    } finally {
      live.s.close();
      away?.s.close();
      back?.s.close();
    }
  });

  test('plain JSON protocol at /ws: hello, auth, refusals, acks, live events', async () => {
    const w = await clinicWorld();
    const frames = [];
    const sock = new WebSocket(`${SIGNALING_URL.replace('http', 'ws')}/ws`);
    sock.on('message', (d) => frames.push(JSON.parse(d.toString())));
    await new Promise((resolve, reject) => { sock.on('open', resolve); sock.on('error', reject); });
    const next = async (pred, what) => {
      await until(frames.map((f) => ({ name: f.event })), () => frames.some(pred), 5000, what);
      return frames.splice(frames.findIndex(pred), 1)[0];
    };
    try {
      const hello = await next((f) => f.event === 'hello', 'hello');
      assert.match(hello.data.sid, /^[0-9a-f]{32}$/);
      sock.send('{"event":"join_clinic_room","data":{"clinic_id":1}}');
      assert.equal((await next((f) => f.event === 'error', 'not_connected')).data.code, 'not_connected');
      for (const bad of ['nope', '[]', '{"event":"auth"}', '{"event":"auth","data":{"token":"x","extra":1}}',
        '{"event":"teleport"}', '{"event":"auth","data":[]}', '{"event":"pong","extra":1}']) {
        sock.send(bad);
        assert.equal((await next((f) => f.event === 'error', `refusal of ${bad}`)).data.code, 'bad_message', bad);
      }
      sock.send(JSON.stringify({ event: 'auth', data: { token: w.rec.access } }));
      await next((f) => f.event === 'connected', 'connected');
      sock.send(JSON.stringify({ event: 'join_clinic_room', data: { clinic_id: w.clinic.id }, ack: 7 }));
      assert.deepEqual(await next((f) => f.ack === 7, 'ack 7'), { ack: 7, data: { ok: true } });
      sock.send(JSON.stringify({ event: 'join_doctor_room', data: { doctor_id: w.doctorId }, ack: 8 }));
      const refused = await next((f) => f.ack === 8, 'ack 8');
      assert.deepEqual([refused.data.ok, refused.data.code], [false, 'forbidden']);
      const visit = await walkIn(w.rec.access, { patient_id: w.patient.id, doctor_id: w.doctorId });
      const ev = await next((f) => f.event === 'new_checkin', 'new_checkin');
      assert.equal(ev.data.visit.id, visit.id);
      assert.match(ev.data.event_id, /^\d+-\d+$/);
    } finally {
      sock.close();
    }
  });

  test('a bad token on /ws is refused and the socket closed; binary frames close it', async () => {
    const url = `${SIGNALING_URL.replace('http', 'ws')}/ws`;
    const a = new WebSocket(url);
    const aFrames = [];
    a.on('message', (d) => aFrames.push(JSON.parse(d.toString())));
    await new Promise((resolve) => a.on('open', resolve));
    const aClosed = new Promise((resolve) => a.on('close', resolve));
    a.send(JSON.stringify({ event: 'auth', data: { token: 'x.y.z' } }));
    await aClosed;
    assert.equal(aFrames.find((f) => f.event === 'error')?.data.code, 'invalid_token');
    const b = new WebSocket(url);
    await new Promise((resolve) => b.on('open', resolve));
    const bClosed = new Promise((resolve) => b.on('close', (code) => resolve(code)));
    b.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.equal(await bClosed, 1003);
  });

  test('presence: who is online in a room, joined and left announced across instances, the doctor online on the desk', async () => {
    const w = await clinicWorld();
    const second = await startSignaling();
    const rec = await connected({ token: w.rec.access });
    try {
      const room = `clinic:${w.clinic.id}`;
      const before = await rec.s.timeout(3000).emitWithAck('presence', { room });
      assert.deepEqual(before.participants.map((x) => x.user_id), [w.rec.id]);
      assert.equal((await rec.s.timeout(3000).emitWithAck('presence', { room: 'clinic:999999' })).code, 'forbidden');
      const doc = await connected({ token: w.doc.access }, second.url);
      await until(rec.events, (ev) => ev.some((e) => e.name === 'participant_joined' && e.env.user_id === w.doc.id), 5000, 'participant_joined');
      const joined = rec.events.find((e) => e.name === 'participant_joined').env;
      assert.deepEqual([joined.room, joined.role, joined.display_name], [room, 'DOCTOR', w.doc.user.full_name]);
      const now = await rec.s.timeout(3000).emitWithAck('presence', { room });
      assert.deepEqual(now.participants.map((x) => x.user_id).sort((a, b) => a - b), [w.rec.id, w.doc.id].sort((a, b) => a - b));
      const stats = await (await fetch(`${process.env.API_URL}/api/dashboard/reception/stats`, { headers: { authorization: `Bearer ${w.rec.access}` } })).json();
      assert.equal(stats.doctors.find((d) => d.doctor_id === w.doctorId).online, true);
      assert.equal(stats.doctors.find((d) => d.doctor_id === w.doc2.user.doctor_id).online, false);
      // announced per user: a second connection of the doctor, and its departure, change nothing
      const again = await connected({ token: w.doc.access });
      again.s.close();
      await new Promise((r) => setTimeout(r, 500));
      const mine = (name) => rec.events.filter((e) => e.name === name && e.env.user_id === w.doc.id).length;
      assert.deepEqual([mine('participant_joined'), mine('participant_left')], [1, 0]);
      doc.s.close();
      await until(rec.events, (ev) => ev.some((e) => e.name === 'participant_left' && e.env.user_id === w.doc.id), 5000, 'participant_left');
      // an instance that stops takes its peers off the table
      const doc2 = await connected({ token: w.doc2.access }, second.url);
      await until(rec.events, (ev) => ev.some((e) => e.name === 'participant_joined' && e.env.user_id === w.doc2.id), 5000, 'second doctor joined');
      await second.stop();
      await until(rec.events, (ev) => ev.some((e) => e.name === 'participant_left' && e.env.user_id === w.doc2.id), 10000, 'left at the instance stop');
      doc2.s.close();
    } finally {
      rec.s.close();
      await second.stop();
    }
  });

  test('budgets: silent sockets cannot lock out a user with a token; per address, per user, in all', async () => {
    const w = await clinicWorld();
    const inst = await startSignaling({ SIGNALING_MAX_CONNECTIONS: '3', SIGNALING_MAX_UNAUTHENTICATED: '40',
      SIGNALING_MAX_UNAUTHENTICATED_PER_ADDRESS: '20', SIGNALING_MAX_PER_USER: '2', SIGNALING_AUTH_TIMEOUT_MS: '4000' });
    const base = `${inst.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`;
    const sockets = [];
    // a raw Engine.IO socket from localAddress; resolves with {ws, first} once open (first: the first frame),
    // or with {refused: true} when the upgrade is refused
    const raw = (localAddress) => new Promise((resolve) => {
      const ws = new WebSocket(base, { localAddress });
      sockets.push(ws);
      ws.once('message', (m) => resolve({ ws, first: String(m) }));
      ws.once('unexpected-response', () => resolve({ refused: true }));
      ws.once('error', () => resolve({ refused: true }));
    });
    // sends CONNECT with token on a raw socket and resolves with the answer frame
    const auth = async (localAddress, token) => {
      const r = await raw(localAddress);
      if (r.refused) return 'refused';
      return new Promise((resolve) => {
        r.ws.on('message', (m) => { const t = String(m); if (t.startsWith('4')) resolve(t); });
        r.ws.send(`40${JSON.stringify({ token })}`);
      });
    };
    try {
      // 20 silent sockets from one address fill its share: the 21st is refused ...
      const silent = await Promise.all(Array.from({ length: 20 }, () => raw('127.0.0.1')));
      assert.ok(silent.every((x) => !x.refused), 'the first 20 silent sockets open');
      assert.equal((await raw('127.0.0.1')).refused, true, 'the 21st silent socket from one address is refused');
      // ... while a user with a token from another address connects at once
      assert.match(await auth('127.0.0.2', w.rec.access), /^40\{"sid"/);
      // the whole unauthenticated budget (40): 20 more from a third address, then nobody new gets in unauthenticated
      await Promise.all(Array.from({ length: 20 }, () => raw('127.0.0.3')));
      assert.equal((await raw('127.0.0.4')).refused, true, 'past the unauthenticated budget');
      const metrics = await (await fetch(`${inst.url}/metrics`)).text();
      assert.match(metrics, /^signaling_unauthenticated_connections 40$/m);
      for (const x of silent) x.ws.close();
      await new Promise((r) => setTimeout(r, 300));
      // per user: a third connection of one user is refused with a reason
      assert.match(await auth('127.0.0.2', w.rec.access), /^40\{"sid"/);
      assert.match(await auth('127.0.0.2', w.rec.access), /^44\{"message":"Too many connections for this user/);
      // in all (3 authenticated): the doctor gets the third place, the second doctor none
      assert.match(await auth('127.0.0.5', w.doc.access), /^40\{"sid"/);
      assert.match(await auth('127.0.0.5', w.doc2.access), /^44\{"message":"The server is at capacity/);
    } finally {
      for (const ws of sockets) ws.terminate();
      await inst.stop();
    }
  });

  test('behind a trusted proxy the per-address budget counts the client X-Forwarded-For names; otherwise the header is ignored', async () => {
    const budget = { SIGNALING_MAX_UNAUTHENTICATED_PER_ADDRESS: '2', SIGNALING_AUTH_TIMEOUT_MS: '4000' };
    const proxied = await startSignaling({ ...budget, SIGNALING_TRUSTED_PROXIES: '127.0.0.9, 127.0.0.1' });
    const direct = await startSignaling(budget);
    const sockets = [];
    // a raw Engine.IO socket through "a proxy" at 127.0.0.1 that says the client is forwardedFor
    const raw = (url, forwardedFor, transport = 'websocket') => new Promise((resolve) => {
      if (transport === 'polling') {
        fetch(`${url}/socket.io/?EIO=4&transport=polling`, { headers: forwardedFor ? { 'X-Forwarded-For': forwardedFor } : {} })
          .then((r) => resolve({ refused: r.status !== 200 }), () => resolve({ refused: true }));
        return;
      }
      const ws = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`,
        { localAddress: '127.0.0.1', headers: forwardedFor ? { 'X-Forwarded-For': forwardedFor } : {} });
      sockets.push(ws);
      ws.once('message', () => resolve({ refused: false }));
      ws.once('unexpected-response', () => resolve({ refused: true }));
      ws.once('error', () => resolve({ refused: true }));
    });
    try {
      // two sockets of one client behind the proxy (the proxy appended it after what the client claimed)
      for (let i = 0; i < 2; i++) assert.equal((await raw(proxied.url, '10.9.9.9, 203.0.113.7')).refused, false);
      assert.equal((await raw(proxied.url, '203.0.113.7')).refused, true, 'its third is refused');
      assert.equal((await raw(proxied.url, '203.0.113.7', 'polling')).refused, true, 'over polling too');
      // another client behind the same proxy, and one behind two trusted proxies, still get in
      assert.equal((await raw(proxied.url, '203.0.113.8')).refused, false);
      assert.equal((await raw(proxied.url, '198.51.100.4, 127.0.0.9')).refused, false, 'a chain of trusted proxies');
      // IPv6 clients count per /64
      assert.equal((await raw(proxied.url, '2001:db8:1:2::10')).refused, false);
      assert.equal((await raw(proxied.url, '2001:db8:1:2::11')).refused, false);
      assert.equal((await raw(proxied.url, '2001:db8:1:2:ffff::1')).refused, true, 'the same /64');
      // without SIGNALING_TRUSTED_PROXIES the header is ignored: everyone is the peer, 127.0.0.1
      assert.equal((await raw(direct.url, '203.0.113.1')).refused, false);
      assert.equal((await raw(direct.url, '203.0.113.2')).refused, false);
      assert.equal((await raw(direct.url, '203.0.113.3')).refused, true, 'a forged header does not buy another share');
    } finally {
      for (const ws of sockets) ws.terminate();
      await Promise.all([proxied.stop(), direct.stop()]);
    }
  });

  test('a bad SIGNALING_TRUSTED_PROXIES stops the signaling-server with a message', () => {
    for (const value of ['proxy.example', '10.0.0.1,', '10.0.0.1,,10.0.0.2', Array.from({ length: 17 }, (_, i) => `10.0.0.${i + 1}`).join(',')]) {
      const r = spawnSync(process.env.SIGNALING_BIN, [], {
        env: { ...process.env, SIGNALING_LISTEN: '127.0.0.1:1', SIGNALING_TRUSTED_PROXIES: value }, encoding: 'utf8', timeout: 20000,
      });
      assert.equal(r.status, 2, `${value}: ${r.stderr}`);
      assert.match(r.stderr, /configuration error: SIGNALING_TRUSTED_PROXIES=/, r.stderr);
    }
  });

  test('replay storms: live events reach another clinic while many sockets replay, a turn at a time', async () => {
    const w = await clinicWorld();
    const other = await clinicWorld();
    const inst = await startSignaling({ SIGNALING_REPLAY_LIMIT: '20' });
    // a backlog of 2,000 events for w's clinic
    const start = await eventsEnd(w.rec.access);
    const backlog = 2000;
    await psql(`INSERT INTO events (name, rooms, data)
                SELECT 'queue_updated', ARRAY['clinic:${w.clinic.id}'], jsonb_build_object('clinic_id', ${w.clinic.id}, 'n', n)
                FROM generate_series(1, ${backlog}) n;`);
    const watcher = await connected({ token: other.rec.access }, inst.url);
    let storm = [];
    try {
      // eight sockets of the desk replay the whole backlog, 20 events a turn, while the other clinic moves on
      storm = await Promise.all(Array.from({ length: 8 }, () => connected({ token: w.rec.access, last_event_id: start ?? '0-0' }, inst.url)));
      const v = await walkIn(other.rec.access, { patient_id: other.patient.id, doctor_id: other.doctorId });
      await until(watcher.events, (ev) => ev.some((e) => e.env?.visit_id === v.id || e.env?.visit?.id === v.id), 5000,
        "the other clinic's live event");
      const replayedWhenLive = storm.map((c) => c.events.length);
      await Promise.all(storm.map((c) => until(c.events, (ev) => ev.length >= backlog, 30000, 'the whole replay')));
      // every replay is complete, once and in order
      for (const c of storm) {
        const ids = c.events.map((e) => e.env.event_id);
        assert.equal(new Set(ids).size, ids.length, 'an event came twice');
      }
      // the live event did not wait behind every replay
      assert.ok(replayedWhenLive.some((n) => n < backlog), `replays done when the live event arrived: ${replayedWhenLive}`);
    } finally {
      watcher.s.close();
      for (const c of storm) c.s.close();
      await inst.stop();
    }
  });

  test('a last_event_id followed by events older than the replay window is refused: the client resyncs', async () => {
    const w = await clinicWorld();
    const inst = await startSignaling({ SIGNALING_REPLAY_WINDOW_SECONDS: '60' });
    // an event of the clinic that happened long ago, and a cursor right before it (events that other
    // work writes meanwhile come after it: the first event after the cursor is this one)
    const old = await psql(`INSERT INTO events (name, rooms, data, occurred_at)
                VALUES ('queue_updated', ARRAY['clinic:${w.clinic.id}'], '{"clinic_id": ${w.clinic.id}}', now() - interval '2 minutes')
                RETURNING txid || '-' || (id - 1);`);
    const c = await connected({ token: w.rec.access, last_event_id: old }, inst.url);
    try {
      await until(c.events, (ev) => ev.some((e) => e.name === 'error'), 5000, 'the refusal');
      const err = c.events.find((e) => e.name === 'error').env;
      assert.equal(err.code, 'resync_required');
      assert.match(err.message, /older than the replay window/);
      await c.closed;
      assert.deepEqual(c.events.filter((e) => e.name === 'queue_updated'), [], 'nothing replayed');
      // without a cursor it connects and goes live
      const fresh = await connected({ token: w.rec.access }, inst.url);
      fresh.s.close();
    } finally {
      c.s.close();
      await inst.stop();
    }
  });

  test('/metrics with SIGNALING_METRICS_TOKEN: only for the bearer of the token', async () => {
    const inst = await startSignaling({ SIGNALING_METRICS_TOKEN: 'm3trics-s3cret' });
    try {
      for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'Bearer m3trics-s3cre' },
        { authorization: 'Bearer m3trics-s3cret-and-more' }, { authorization: 'Basic m3trics-s3cret' }]) {
        const r = await fetch(`${inst.url}/metrics`, { headers });
        assert.equal(r.status, 404, JSON.stringify(headers));
        assert.equal((await r.json()).error.code, 'not_found');
      }
      const r = await fetch(`${inst.url}/metrics`, { headers: { authorization: 'Bearer m3trics-s3cret' } });
      assert.equal(r.status, 200);
      assert.match(await r.text(), /^signaling_connections \d+$/m);
    } finally {
      await inst.stop();
    }
  });

  test('a fresh token given with authenticate is checked against the account like a CONNECT', async () => {
    const w = await clinicWorld();
    const before = w.rec.access; // issued before the cut below
    await psql(`UPDATE users SET tokens_valid_after = now() WHERE id = ${w.rec.id};`);
    await new Promise((r) => setTimeout(r, 1200));
    const c = await connected({ token: reissued(before, 600) });
    try {
      assert.deepEqual(await c.s.timeout(3000).emitWithAck('authenticate', { token: before }),
        { ok: false, code: 'invalid_token', message: 'The token is not valid.' });
      assert.deepEqual(await c.s.timeout(3000).emitWithAck('authenticate', { token: reissued(before, 900) }), { ok: true });
      assert.equal(c.s.connected, true);
    } finally {
      c.s.close();
    }
  });

  test('an account whose sessions end (deactivated, new password) is closed on every instance and cannot come back with an old token', async () => {
    const w = await clinicWorld();
    const second = await startSignaling();
    const here = await connected({ token: w.doc.access });
    const there = await connected({ token: w.doc.access }, second.url);
    const desk = await connected({ token: w.rec.access });
    try {
      // the admin deactivates the doctor: both of the doctor's sockets are told and closed, the desk stays
      await psql(`UPDATE users SET active = false WHERE id = ${w.doc.id};`);
      for (const c of [here, there]) {
        await until(c.events, (ev) => ev.some((e) => e.name === 'error' && e.env.code === 'session_ended'), 5000, 'session_ended');
        await c.closed;
      }
      assert.equal(desk.s.connected, true);
      // the same token cannot open a new socket
      await assert.rejects(connected({ token: w.doc.access }), /invalid token/);
      // active again, but the tokens issued before the deactivation stay refused
      await psql(`UPDATE users SET active = true WHERE id = ${w.doc.id};`);
      await assert.rejects(connected({ token: w.doc.access }), /invalid token/);
    } finally {
      for (const c of [here, there, desk]) c.s.close();
      await second.stop();
    }
  });

  test('deadlines and limits: no auth in time, no pong in time, oversized frames, other Engine.IO versions', async () => {
    const inst = await startSignaling({ SIGNALING_AUTH_TIMEOUT_MS: '500', SIGNALING_PING_INTERVAL_MS: '300',
      SIGNALING_PING_TIMEOUT_MS: '300', SIGNALING_MAX_FRAME: '1024' });
    const base = inst.url.replace('http', 'ws');
    const open = (path) => new Promise((resolve, reject) => {
      const ws = new WebSocket(`${base}${path}`);
      const frames = [];
      ws.on('message', (d) => frames.push(d.toString()));
      ws.on('open', () => resolve({ ws, frames, closed: new Promise((r) => ws.on('close', (code) => r(code))) }));
      ws.on('error', reject);
    });
    try {
      // silent after the handshake: closed at the auth deadline
      const silent = await open('/socket.io/?EIO=4&transport=websocket');
      const t0 = Date.now();
      await silent.closed;
      assert.ok(Date.now() - t0 < 3000);
      assert.match(silent.frames[0], /^0\{"sid":"[0-9a-f]{32}","upgrades":\[\],"pingInterval":300,"pingTimeout":300,"maxPayload":1024\}$/);
      // authenticated but never answering the pings: closed after interval + timeout
      const w = await clinicWorld();
      const mute = await open('/socket.io/?EIO=4&transport=websocket');
      mute.ws.send(`40${JSON.stringify({ token: w.rec.access })}`);
      await mute.closed;
      assert.ok(mute.frames.includes('2'), `no ping was sent: ${mute.frames}`);
      assert.ok(mute.frames.some((f) => f.startsWith('40{"sid"')));
      // a frame over SIGNALING_MAX_FRAME closes with 1009
      const big = await open('/ws');
      big.ws.send(JSON.stringify({ event: 'auth', data: { token: 'x'.repeat(2000) } }));
      assert.equal(await big.closed, 1009);
      // Engine.IO 3, or polling, is not served
      for (const q of ['/socket.io/?EIO=3&transport=websocket', '/socket.io/?EIO=4&transport=polling', '/other']) {
        await assert.rejects(open(q), undefined, q);
      }
    } finally {
      await inst.stop();
    }
  });

  test('a client that stops reading is closed at its send-queue cap; the others get everything', async () => {
    const inst = await startSignaling({ SIGNALING_SEND_QUEUE_BYTES: '1048576' });
    const w = await clinicWorld();
    const slow = await new Promise((resolve, reject) => {
      const ws = new WebSocket(`${inst.url.replace('http', 'ws')}/ws`);
      const frames = [];
      ws.on('message', (d) => frames.push(d.toString()));
      ws.on('open', () => resolve({ ws, frames, closed: new Promise((r) => ws.on('close', r)) }));
      ws.on('error', reject);
    });
    const fast = await connected({ token: w.doc.access }, inst.url);
    try {
      slow.ws.send(JSON.stringify({ event: 'auth', data: { token: w.doc.access } }));
      await until(slow.frames.map((f) => ({ name: f })), () => slow.frames.some((f) => f.includes('"connected"')), 3000, 'connected');
      slow.ws._socket.pause(); // stops reading: the kernel buffers fill, then the server's queue
      const room = `doctor:${w.doctorId}`;
      // Rounds of 500 kB (5 commits of 100 kB); the next round goes once the reading client has everything, so
      // it never lags by more than a round, half the 1 MiB cap, however slow the machine; the stalled client
      // falls further behind every round. How much the kernel buffers before the server's own queue grows
      // depends on the machine, so the rounds go on until the server reports the close (at most 48 MB).
      const batch = `INSERT INTO events (name, rooms, data) SELECT 'queue_updated', ARRAY['${room}'],
                     jsonb_build_object('pad', repeat('x', 20000)) FROM generate_series(1, 5); SELECT pg_sleep(0.01);`;
      const slowClosed = async () => /signaling_closed_total\{cause="slow_consumer"\} [1-9]/
        .test(await (await fetch(`${inst.url}/metrics`)).text());
      const padded = () => fast.events.filter((e) => e.env.pad).length;
      let rounds = 0;
      while (rounds < 96) {
        await psql(Array.from({ length: 5 }, () => batch).join('\n'));
        rounds += 1;
        await until(fast.events, () => padded() === rounds * 25, 30000, `round ${rounds} on the reading client`);
        if (rounds >= 8 && await slowClosed()) break;
      }
      assert.ok(await slowClosed(), `the stalled client was not closed after ${rounds} rounds`);
      assert.equal(fast.s.connected, true, 'the reading client stays');
      slow.ws._socket.resume();
      await slow.closed;
      assert.ok(slow.frames.filter((f) => f.includes('"pad"')).length < rounds * 25, 'the stalled client was closed before the end');
    } finally {
      fast.s.close();
      slow.ws.terminate();
      await inst.stop();
    }
  });
});
