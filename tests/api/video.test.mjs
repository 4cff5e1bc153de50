// Video consultations, end to end against the real servers: the doctors' video timings (the `video`
// availability rules), sessions and who may see or open them, join tokens (video JWTs), invitations
// redeemed without an account, the ICE servers (STUN only from GET /ice-servers; a join token's TURN
// credential, for its session and expiring with it, from a throwaway api-server that has a TURN secret),
// and the video room on the signaling-server: the waiting room reaching the doctor and the desk,
// admission, the WebRTC relay (large SDPs, across two signaling instances), denial, removal, quality
// samples and the end of the call completing the visit.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';

import { io } from 'socket.io-client';
import WebSocket from 'ws';

import {
  addDays,
  asAdmin,
  createAppointment,
  createAvailability,
  createClinic,
  createService,
  decodeJwtPart,
  del,
  expectError,
  expectStatus,
  get,
  listAll,
  localDate,
  patientSession,
  pickTodayZone,
  post,
  patch,
  psql,
  put,
  staffSession,
  startApi,
  startSignaling,
} from '../lib/api.mjs';

const SIGNALING_URL = process.env.SIGNALING_URL;
// A zone where it is still today three hours from now: the sessions booked below are today's.
const TZ = pickTodayZone(3);
const V = '/api/video-consultations';
const NOT_FOUND_ID = 2147483000;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const ROOM_TOKEN = /^[A-Za-z0-9_-]{43}$/;
const DEFAULT_INVITE_URL = 'http://127.0.0.1:8080/video/join';
const EXPIRE_MINUTES = 60; // VIDEO_EXPIRE_MINUTES default (the test servers do not set it)

const instant = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sec = (iso) => Date.parse(iso) / 1000;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

// A fresh clinic in TZ with a receptionist, two doctors, two patients with accounts (all logged in)
// and a 5-minute service. Bookings go to distinct 6-minute steps from two minutes ahead, so they never
// overlap and their join windows (from 30 minutes before the start) are already open.
async function world() {
  const clinic = await createClinic({ timezone: TZ });
  const [rec, doc, doc2, pat, pat2, service] = await Promise.all([
    staffSession('RECEPTIONIST', clinic.id),
    staffSession('DOCTOR', clinic.id),
    staffSession('DOCTOR', clinic.id),
    patientSession(clinic.id, { full_name: 'Ana Video Souza' }),
    patientSession(clinic.id, { full_name: 'Bruno Video Lima' }),
    createService(clinic.id, { duration_minutes: 5 }),
  ]);
  return { clinic, rec, doc, doc2, pat, pat2, service, doctorId: doc.user.doctor_id, next: 0 };
}

// Another clinic with its receptionist, doctor and patient.
async function otherClinic() {
  const clinic = await createClinic({ timezone: TZ });
  const [rec, doc, pat] = await Promise.all([
    staffSession('RECEPTIONIST', clinic.id),
    staffSession('DOCTOR', clinic.id),
    patientSession(clinic.id),
  ]);
  return { clinic, rec, doc, pat };
}

// Books an appointment of w (video unless type says otherwise) as the receptionist.
async function appointment(w, { doctor = w.doc, patient = w.pat, type = 'video', start } = {}) {
  let at = start;
  if (at === undefined) {
    w.next = Math.max(w.next, Math.ceil(Date.now() / 60000) * 60000 + 2 * 60000);
    at = instant(w.next);
    w.next += 6 * 60000;
  }
  return createAppointment(w.rec.access, {
    patient_id: patient.patient.id,
    doctor_id: doctor.user.doctor_id,
    service_id: w.service.id,
    start_time: at,
    consultation_type: type,
  });
}

// POST /sessions {appointment_id} with token; asserts 201, returns the session.
async function openSession(appointmentId, token) {
  return expectStatus(await post(`${V}/sessions`, { appointment_id: appointmentId }, token), 201).body;
}

// A video appointment of w and its session (opened by the receptionist unless token is given).
async function session(w, opts = {}, token) {
  const appt = await appointment(w, opts);
  const s = await openSession(appt.id, token || w.rec.access);
  return { appt, s };
}

// POST /sessions/{id}/token; asserts 200, returns the token response.
async function joinToken(sessionId, token) {
  return expectStatus(await post(`${V}/sessions/${sessionId}/token`, undefined, token), 200).body;
}

async function getSession(id, token) {
  return expectStatus(await get(`${V}/sessions/${id}`, token || (await asAdmin())), 200).body;
}

const jwtPayload = (jwt) => decodeJwtPart(jwt.split('.')[1]);

// The fields of a timing compared by these tests (a timing also has created_at).
const TIMING_KEYS = ['id', 'doctor_id', 'weekday', 'start_time', 'end_time', 'slot_minutes', 'shared'];
const timing = (t) => Object.fromEntries(TIMING_KEYS.map((k) => [k, t[k]]));

// Checks a token response and its JWT against the session; returns the JWT payload.
function checkTokenResponse(t, s, role) {
  assert.equal(t.role, role);
  assert.equal(t.session_id, s.id);
  assert.equal(typeof t.token, 'string');
  assert.match(t.expires_at, INSTANT);
  assert.ok(Array.isArray(t.ice_servers), 'ice_servers must be an array');
  assert.ok(Number.isInteger(t.ttl_seconds) && t.ttl_seconds > 0, `ttl_seconds: ${t.ttl_seconds}`);
  const p = jwtPayload(t.token);
  assert.equal(p.typ, 'video', `typ of ${JSON.stringify(p)}`);
  assert.equal(String(p.vsid), String(s.id), `vsid of ${JSON.stringify(p)}`);
  assert.equal(p.vrole, role, `vrole of ${JSON.stringify(p)}`);
  assert.ok(Number.isInteger(p.exp), `exp of ${JSON.stringify(p)}`);
  assert.ok(p.exp <= sec(s.expires_at), `token exp ${p.exp} is after the session's expires_at ${s.expires_at}`);
  assert.ok(p.exp > Date.now() / 1000, 'token already expired');
  assert.equal(p.exp, sec(t.expires_at), 'the response expires_at is the JWT exp');
  return p;
}

// ---------------------------------------------------------------------------------------------
// Signaling helpers
// ---------------------------------------------------------------------------------------------

function connect(auth, url = SIGNALING_URL) {
  return io(url, { transports: ['websocket'], auth, reconnection: false, forceNew: true, timeout: 5000 });
}

// Connects and resolves once CONNECT is acknowledged: {s, events, closed} (closed resolves at the
// disconnect). Rejects with the connect_error.
function connected(auth, url = SIGNALING_URL) {
  const s = connect(auth, url);
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
    await sleep(20);
  }
}

const named = (c, name) => c.events.filter((e) => e.name === name).map((e) => e.env);

// Waits for the n-th event `name` on connection c (1-based) and returns its data.
async function nth(c, name, n = 1, ms = 5000) {
  await until(c.events, (ev) => ev.filter((e) => e.name === name).length >= n, ms, `${name} #${n}`);
  return named(c, name)[n - 1];
}

// Asserts that no event `name` arrives on c within ms.
async function never(c, name, ms = 700) {
  await sleep(ms);
  assert.deepEqual(named(c, name), [], `${name} was delivered`);
}

// Waits until GET /sessions/{id} satisfies pred; returns the session.
async function sessionUntil(id, pred, what, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await getSession(id);
    if (pred(s)) return s;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(s)}`);
    await sleep(100);
  }
}

// A session of w with the doctor's and the patient's video connections (doctor first); the patient
// waits. Returns {appt, s, docTok, patTok, dv, pv}.
async function waitingRoom(w, { doctorUrl = SIGNALING_URL, patientUrl = SIGNALING_URL } = {}) {
  const { appt, s } = await session(w);
  const [docTok, patTok] = await Promise.all([joinToken(s.id, w.doc.access), joinToken(s.id, w.pat.access)]);
  const dv = await connected({ token: docTok.token }, doctorUrl);
  await nth(dv, 'session_state');
  const pv = await connected({ token: patTok.token }, patientUrl);
  await nth(pv, 'session_state');
  await nth(dv, 'patient_waiting', 1, 8000);
  return { appt, s, docTok, patTok, dv, pv };
}

// waitingRoom, then the doctor admits the patient; both got patient_admitted.
async function admitted(w, opts) {
  const r = await waitingRoom(w, opts);
  r.dv.s.emit('admit_patient', {});
  await nth(r.pv, 'patient_admitted', 1, 8000);
  await nth(r.dv, 'patient_admitted', 1, 8000);
  return r;
}

function closeAll(...conns) {
  for (const c of conns) if (c) c.s.close();
}

// A fake SDP of about n characters.
function bigSdp(n) {
  const lines = ['v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0 1'];
  let i = 0;
  while (lines.join('\r\n').length < n) {
    lines.push(`a=candidate:${i} 1 udp ${2122260223 - i} 192.168.${i % 250}.${(i * 7) % 250} ${40000 + (i % 20000)} typ host generation 0 network-id ${i}`);
    i += 1;
  }
  return (lines.join('\r\n') + '\r\n').slice(0, n);
}

// Relays one message from -> to and checks it arrives with `from` on `to` only; returns the received data.
async function relay(fromConn, toConn, fromRole, name, data) {
  const before = named(toConn, name).length;
  const beforeSelf = named(fromConn, name).length;
  const ack = await fromConn.s.timeout(5000).emitWithAck(name, data);
  assert.deepEqual(ack, { ok: true }, `ack of ${name} from the ${fromRole}`);
  const got = await nth(toConn, name, before + 1, 8000);
  for (const [k, v] of Object.entries(data)) assert.deepEqual(got[k], v, `${name}.${k} relayed intact`);
  assert.equal(got.from, fromRole);
  await sleep(150);
  assert.equal(named(fromConn, name).length, beforeSelf, `${name} echoed back to the sender`);
  return got;
}

// ---------------------------------------------------------------------------------------------
// Timings
// ---------------------------------------------------------------------------------------------

describe('video consultations: timings', () => {
  const body = (fields = {}) => ({ weekday: 2, start_time: '14:00', end_time: '16:00', slot_minutes: 30, ...fields });

  test('video timings CRUD by the ADMIN and by the doctor themself; they are the video rules of the schedule', async () => {
    const w = await world();
    const admin = await asAdmin();
    const { doctorId } = w;

    // an in-person rule is not a video timing
    await createAvailability(doctorId, { weekday: 1, start_time: '08:00', end_time: '09:00', consultation_types: ['in_person'] });
    assert.deepEqual(expectStatus(await get(`${V}/timings?doctor_id=${doctorId}`, admin), 200).body, { items: [] });

    const byAdmin = expectStatus(await post(`${V}/timings`, { doctor_id: doctorId, ...body() }, admin), 201).body;
    assert.deepEqual(
      { ...timing(byAdmin), id: 0 },
      { id: 0, doctor_id: doctorId, weekday: 2, start_time: '14:00', end_time: '16:00', slot_minutes: 30, shared: false },
    );
    const byDoctor = expectStatus(await post(`${V}/timings`, body({ weekday: 3, start_time: '08:00', end_time: '09:00', slot_minutes: 20 }), w.doc.access), 201).body;
    assert.deepEqual([byDoctor.doctor_id, byDoctor.weekday, byDoctor.slot_minutes, byDoctor.shared], [doctorId, 3, 20, false]);

    // the schedule shows them as video-only availability rules
    const rules = expectStatus(await get(`/api/doctors/${doctorId}/availability`, admin), 200).body.items;
    for (const t of [byAdmin, byDoctor]) {
      const r = rules.find((x) => x.id === t.id);
      assert.ok(r, `timing ${t.id} is not an availability rule of the doctor`);
      assert.deepEqual(r.consultation_types, ['video']);
    }

    // read by the doctor (own by default), the admin and the receptionist
    const mine = expectStatus(await get(`${V}/timings`, w.doc.access), 200).body.items;
    assert.deepEqual(mine.map((t) => t.id).sort((a, b) => a - b), [byAdmin.id, byDoctor.id].sort((a, b) => a - b));
    const byRec = expectStatus(await get(`${V}/timings?doctor_id=${doctorId}`, w.rec.access), 200).body.items;
    assert.deepEqual(byRec, mine);

    // update: by the doctor and by the admin
    const moved = expectStatus(await put(`${V}/timings/${byDoctor.id}`, body({ weekday: 4, start_time: '10:00', end_time: '11:30', slot_minutes: 45 }), w.doc.access), 200).body;
    assert.deepEqual(timing(moved), { id: byDoctor.id, doctor_id: doctorId, weekday: 4, start_time: '10:00', end_time: '11:30', slot_minutes: 45, shared: false });
    const moved2 = expectStatus(await put(`${V}/timings/${byAdmin.id}`, body({ slot_minutes: 60 }), admin), 200).body;
    assert.equal(moved2.slot_minutes, 60);
    const r2 = expectStatus(await get(`/api/doctors/${doctorId}/availability`, admin), 200).body.items.find((x) => x.id === byDoctor.id);
    assert.deepEqual([r2.weekday, r2.start_time, r2.end_time, r2.slot_minutes, r2.consultation_types], [4, '10:00', '11:30', 45, ['video']]);

    // delete
    expectStatus(await del(`${V}/timings/${byDoctor.id}`, w.doc.access), 204);
    expectStatus(await del(`${V}/timings/${byAdmin.id}`, admin), 204);
    expectError(await del(`${V}/timings/${byAdmin.id}`, admin), 404, 'not_found');
    expectError(await put(`${V}/timings/${NOT_FOUND_ID}`, body(), admin), 404, 'not_found');
    assert.deepEqual(expectStatus(await get(`${V}/timings`, w.doc.access), 200).body.items, []);
    // the in-person rule is untouched
    const left = expectStatus(await get(`/api/doctors/${doctorId}/availability`, admin), 200).body.items;
    assert.deepEqual(left.map((r) => r.consultation_types), [['in_person']]);
  });

  test('video timings list: doctor_id is required for the ADMIN and the RECEPTIONIST (400 invalid_query naming doctor_id)', async () => {
    const w = await world();
    expectError(await get(`${V}/timings`, await asAdmin()), 400, 'invalid_query', ['doctor_id']);
    expectError(await get(`${V}/timings`, w.rec.access), 400, 'invalid_query', ['doctor_id']);
  });

  test('video timings: another doctor is 403 (create) or 404 (timing), another clinic is 404', async () => {
    const w = await world();
    const other = await otherClinic();
    const admin = await asAdmin();
    const col = w.doc2.user.doctor_id;
    const foreign = other.doc.user.doctor_id;

    expectError(await post(`${V}/timings`, { doctor_id: col, ...body() }, w.doc.access), 403, 'forbidden');
    expectError(await post(`${V}/timings`, { doctor_id: foreign, ...body() }, w.doc.access), [403, 404], ['forbidden', 'not_found']);

    const colTiming = expectStatus(await post(`${V}/timings`, body(), w.doc2.access), 201).body;
    expectError(await put(`${V}/timings/${colTiming.id}`, body({ slot_minutes: 60 }), w.doc.access), 404, 'not_found');
    expectError(await del(`${V}/timings/${colTiming.id}`, w.doc.access), 404, 'not_found');

    const foreignTiming = expectStatus(await post(`${V}/timings`, { doctor_id: foreign, ...body() }, admin), 201).body;
    assert.equal(foreignTiming.doctor_id, foreign);
    expectError(await get(`${V}/timings?doctor_id=${foreign}`, w.rec.access), 404, 'not_found');
    expectError(await get(`${V}/timings?doctor_id=${foreign}`, w.doc.access), 404, 'not_found');
    expectError(await put(`${V}/timings/${foreignTiming.id}`, body({ slot_minutes: 60 }), w.doc.access), 404, 'not_found');
    expectError(await del(`${V}/timings/${foreignTiming.id}`, w.doc.access), 404, 'not_found');
    expectError(await get(`${V}/timings?doctor_id=${NOT_FOUND_ID}`, admin), 404, 'not_found');
    // nothing changed
    const still = expectStatus(await get(`${V}/timings?doctor_id=${col}`, admin), 200).body.items;
    assert.deepEqual(still, [colTiming]);
    const still2 = expectStatus(await get(`${V}/timings?doctor_id=${foreign}`, admin), 200).body.items;
    assert.deepEqual(still2, [foreignTiming]);
  });

  test('video timings validation: weekday, times, end after start, slot length (422 with the field)', async () => {
    const w = await world();
    const admin = await asAdmin();
    const bad = [
      [{ weekday: 0 }, 'weekday'],
      [{ weekday: 8 }, 'weekday'],
      [{ weekday: 'monday' }, 'weekday'],
      [{ start_time: '25:00' }, 'start_time'],
      [{ start_time: '09:60' }, 'start_time'],
      [{ start_time: '9am' }, 'start_time'],
      [{ end_time: '24:61' }, 'end_time'],
      [{ end_time: 'noon' }, 'end_time'],
      [{ start_time: '16:00', end_time: '16:00' }, 'end_time'],
      [{ start_time: '16:00', end_time: '14:00' }, 'end_time'],
      [{ start_time: '14:00', end_time: '14:20', slot_minutes: 30 }, 'slot_minutes'],
      [{ slot_minutes: 4 }, 'slot_minutes'],
      [{ start_time: '08:00', end_time: '13:00', slot_minutes: 241 }, 'slot_minutes'],
    ];
    for (const [fields, field] of bad) {
      expectError(await post(`${V}/timings`, { doctor_id: w.doctorId, ...body(fields) }, admin), 422, 'validation_failed', [field]);
      expectError(await post(`${V}/timings`, body(fields), w.doc.access), 422, 'validation_failed', [field]);
    }
    // the admin must name the doctor
    expectError(await post(`${V}/timings`, body(), admin), 422, 'validation_failed', ['doctor_id']);
    assert.deepEqual(expectStatus(await get(`${V}/timings`, w.doc.access), 200).body.items, []);

    // the same rules on update; the timing is unchanged after each refusal
    const t = expectStatus(await post(`${V}/timings`, body(), w.doc.access), 201).body;
    for (const [fields, field] of bad) {
      expectError(await put(`${V}/timings/${t.id}`, body(fields), w.doc.access), 422, 'validation_failed', [field]);
    }
    assert.deepEqual(expectStatus(await get(`${V}/timings`, w.doc.access), 200).body.items, [t]);
    // boundaries are valid: a slot that fits exactly, 5 and 240 minutes
    expectStatus(await put(`${V}/timings/${t.id}`, body({ start_time: '14:00', end_time: '14:30', slot_minutes: 30 }), w.doc.access), 200);
    expectStatus(await put(`${V}/timings/${t.id}`, body({ start_time: '14:00', end_time: '14:05', slot_minutes: 5 }), w.doc.access), 200);
    expectStatus(await put(`${V}/timings/${t.id}`, body({ start_time: '08:00', end_time: '12:00', slot_minutes: 240 }), w.doc.access), 200);
  });

  test('video timings: a rule shared with in-person consultations is listed as shared and cannot be changed here (409)', async () => {
    const w = await world();
    const admin = await asAdmin();
    const shared = await createAvailability(w.doctorId, { weekday: 5, start_time: '09:00', end_time: '11:00', slot_minutes: 30, consultation_types: ['in_person', 'video'] });
    const items = expectStatus(await get(`${V}/timings?doctor_id=${w.doctorId}`, admin), 200).body.items;
    assert.deepEqual(items.map(timing), [{ id: shared.id, doctor_id: w.doctorId, weekday: 5, start_time: '09:00', end_time: '11:00', slot_minutes: 30, shared: true }]);
    for (const token of [admin, w.doc.access]) {
      expectError(await put(`${V}/timings/${shared.id}`, body({ weekday: 5, start_time: '09:00', end_time: '12:00' }), token), 409, 'conflict');
      expectError(await del(`${V}/timings/${shared.id}`, token), 409, 'conflict');
    }
    const rule = expectStatus(await get(`/api/doctors/${w.doctorId}/availability`, admin), 200).body.items.find((r) => r.id === shared.id);
    assert.deepEqual(rule, shared);
  });
});

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

describe('video consultations: sessions', () => {
  test('video sessions follow their appointment: cancelled or given to another doctor ends the session; moved, its expiry moves', async () => {
    const w = await world();
    const { appt: a1, s: s1 } = await session(w);
    expectStatus(await post(`/api/appointments/${a1.id}/cancel`, { reason: 'Patient travels' }, w.rec.access), 200);
    const c1 = await getSession(s1.id);
    assert.deepEqual([c1.status, c1.end_reason], ['cancelled', 'appointment_cancelled']);
    expectError(await post(`${V}/sessions/${s1.id}/token`, undefined, w.doc.access), 409, 'conflict');

    const { appt: a2, s: s2 } = await session(w);
    expectStatus(await patch(`/api/appointments/${a2.id}`, { doctor_id: w.doc2.user.doctor_id }, w.rec.access), 200);
    const c2 = await getSession(s2.id);
    assert.deepEqual([c2.status, c2.end_reason], ['cancelled', 'appointment_changed']);
    expectError(await post(`${V}/sessions/${s2.id}/token`, undefined, w.doc.access), 409, 'conflict');
    expectError(await post(`${V}/sessions/${s2.id}/token`, undefined, w.doc2.access), 404, 'not_found');

    const { appt: a3, s: s3 } = await session(w);
    const later = new Date(Date.parse(a3.start_time) + 60 * 60000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const moved = expectStatus(await patch(`/api/appointments/${a3.id}`, { start_time: later }, w.rec.access), 200).body;
    const c3 = await getSession(s3.id);
    assert.equal(c3.status, 'scheduled');
    assert.equal(Date.parse(c3.expires_at) - Date.parse(moved.end_time), Date.parse(s3.expires_at) - Date.parse(a3.end_time),
      'the expiry keeps its distance from the appointment\'s end');
  });

  test('video tokens of a call in progress are not cut at the session\'s expiry', async () => {
    const w = await world();
    const { s } = await session(w);
    await psql(`UPDATE video_sessions SET status = 'waiting' WHERE id = ${s.id};
                UPDATE video_sessions SET status = 'in_progress', started_at = now(), expires_at = now() + interval '5 seconds' WHERE id = ${s.id};`);
    const t = await joinToken(s.id, w.doc.access);
    assert.ok(Date.parse(t.expires_at) > Date.now() + 60000, `a running call's token outlives expires_at: ${t.expires_at}`);
    await psql(`UPDATE video_sessions SET expires_at = now() - interval '1 minute' WHERE id = ${s.id};`);
    await joinToken(s.id, w.doc.access);
  });

  test('video session create by ADMIN, the clinic RECEPTIONIST and the appointment DOCTOR: 201 with a room token', async () => {
    const w = await world();
    const admin = await asAdmin();
    const made = [];
    for (const token of [admin, w.rec.access, w.doc.access]) {
      const appt = await appointment(w);
      const s = await openSession(appt.id, token);
      made.push(s);
      assert.equal(s.appointment_id, appt.id);
      assert.equal(s.clinic_id, w.clinic.id);
      assert.equal(s.doctor_id, w.doctorId);
      assert.equal(s.patient_id, w.pat.patient.id);
      assert.equal(s.visit_id, null);
      assert.equal(s.status, 'scheduled');
      assert.match(s.room_token, ROOM_TOKEN);
      assert.equal(s.scheduled_start, appt.start_time);
      assert.equal(s.scheduled_end, appt.end_time);
      assert.equal(s.expires_at, instant(Date.parse(appt.end_time) + EXPIRE_MINUTES * 60000));
      assert.match(s.created_at, INSTANT);
      for (const k of ['started_at', 'connected_at', 'ended_at', 'duration_seconds']) assert.equal(s[k], null, k);
      assert.deepEqual(s.doctor, { id: w.doctorId, full_name: w.doc.user.full_name });
      assert.deepEqual(s.patient, { id: w.pat.patient.id, full_name: 'Ana Video Souza' });
      assert.ok(Array.isArray(s.participants));
      assert.equal(s.quality.samples, 0);
      // the GET gives the same session
      assert.deepEqual(await getSession(s.id), s);
    }
    assert.equal(new Set(made.map((s) => s.room_token)).size, 3, 'room tokens must differ');
  });

  test('video session object: end_reason is null until the session ends without a call', async () => {
    const w = await world();
    const { s } = await session(w);
    for (const x of [s, await getSession(s.id), (await listAll(`${V}/sessions`, w.rec.access))[0]]) {
      assert.ok('end_reason' in x, `the session has no end_reason: ${JSON.stringify(x)}`);
      assert.equal(x.end_reason, null);
    }
  });

  test('video session create refusals: in-person 422, open session 409, not confirmed 409, other clinic/doctor 404', async () => {
    const w = await world();
    const other = await otherClinic();
    const admin = await asAdmin();

    const inPerson = await appointment(w, { type: 'in_person' });
    expectError(await post(`${V}/sessions`, { appointment_id: inPerson.id }, admin), 422, 'validation_failed', ['appointment_id']);
    expectError(await post(`${V}/sessions`, {}, admin), 422, 'validation_failed', ['appointment_id']);

    const appt = await appointment(w);
    expectError(await post(`${V}/sessions`, { appointment_id: appt.id }, other.rec.access), 404, 'not_found');
    expectError(await post(`${V}/sessions`, { appointment_id: appt.id }, w.doc2.access), 404, 'not_found');
    expectError(await post(`${V}/sessions`, { appointment_id: appt.id }, other.doc.access), 404, 'not_found');

    const s = await openSession(appt.id, w.rec.access);
    expectError(await post(`${V}/sessions`, { appointment_id: appt.id }, w.rec.access), 409, 'conflict');
    expectError(await post(`${V}/sessions`, { appointment_id: appt.id }, admin), 409, 'conflict');
    // once cancelled, the appointment may have a new session
    const cancelled = expectStatus(await post(`${V}/sessions/${s.id}/cancel`, { reason: 'link failed' }, w.rec.access), 200).body;
    assert.equal(cancelled.status, 'cancelled');
    expectError(await post(`${V}/sessions/${s.id}/cancel`, {}, w.rec.access), 409, 'conflict');
    expectError(await post(`${V}/sessions/${s.id}/end`, {}, w.doc.access), 409, 'conflict');
    const again = await openSession(appt.id, w.doc.access);
    assert.notEqual(again.id, s.id);
    assert.notEqual(again.room_token, s.room_token);
    // a scheduled session cannot be ended
    expectError(await post(`${V}/sessions/${again.id}/end`, {}, w.doc.access), 409, 'conflict');

    // an appointment that is not confirmed/checked in
    const gone = await appointment(w);
    expectStatus(await post(`/api/appointments/${gone.id}/cancel`, { reason: 'patient asked' }, w.rec.access), 200);
    expectError(await post(`${V}/sessions`, { appointment_id: gone.id }, w.rec.access), 409, 'conflict');
  });

  test('video session GET: admin, clinic receptionist, its doctor and its patient; anyone else 404', async () => {
    const w = await world();
    const other = await otherClinic();
    const { s } = await session(w);
    for (const token of [await asAdmin(), w.rec.access, w.doc.access, w.pat.access]) {
      const got = expectStatus(await get(`${V}/sessions/${s.id}`, token), 200).body;
      assert.equal(got.id, s.id);
      assert.equal(got.room_token, s.room_token);
    }
    for (const token of [w.doc2.access, w.pat2.access, other.rec.access, other.doc.access, other.pat.access]) {
      expectError(await get(`${V}/sessions/${s.id}`, token), 404, 'not_found');
    }
    expectError(await get(`${V}/sessions/${NOT_FOUND_ID}`, await asAdmin()), 404, 'not_found');
    expectStatus(await get(`${V}/sessions/${s.id}`), 401);
  });

  test('video session list: doctor_id, date and status filters, each role its own', async () => {
    const w = await world();
    const other = await otherClinic();
    const admin = await asAdmin();
    const today = localDate(TZ);
    const tomorrowAt = Math.ceil(Date.now() / 60000) * 60000 + 24 * 3600000;
    const tomorrow = localDate(TZ, tomorrowAt);
    assert.equal(tomorrow, addDays(today, 1), 'test setup: tomorrow');

    const { s: s1 } = await session(w); // doc, pat, today
    const { s: s2 } = await session(w, { doctor: w.doc2, patient: w.pat2 }); // doc2, pat2, today
    const { s: s3 } = await session(w, { start: instant(tomorrowAt) }); // doc, pat, tomorrow
    expectStatus(await post(`${V}/sessions/${s3.id}/cancel`, {}, w.doc.access), 200);
    const ids = (items) => items.map((x) => x.id);

    assert.deepEqual(ids(await listAll(`${V}/sessions?doctor_id=${w.doctorId}`, admin)), [s1.id, s3.id]);
    assert.deepEqual(ids(await listAll(`${V}/sessions?doctor_id=${w.doctorId}&date=${today}`, admin)), [s1.id]);
    assert.deepEqual(ids(await listAll(`${V}/sessions?doctor_id=${w.doctorId}&date=${tomorrow}`, admin)), [s3.id]);
    assert.deepEqual(ids(await listAll(`${V}/sessions?doctor_id=${w.doctorId}&status=cancelled`, admin)), [s3.id]);
    assert.deepEqual(ids(await listAll(`${V}/sessions?doctor_id=${w.doctorId}&status=scheduled`, admin)), [s1.id]);
    const cancelledItem = (await listAll(`${V}/sessions?doctor_id=${w.doctorId}&status=cancelled`, admin))[0];
    assert.equal(cancelledItem.status, 'cancelled');

    // receptionist: the clinic's, in scheduled_start order
    assert.deepEqual(ids(await listAll(`${V}/sessions`, w.rec.access)), [s1.id, s2.id, s3.id]);
    assert.deepEqual(ids(await listAll(`${V}/sessions?date=${today}`, w.rec.access)), [s1.id, s2.id]);
    assert.deepEqual(ids(await listAll(`${V}/sessions?doctor_id=${w.doc2.user.doctor_id}`, w.rec.access)), [s2.id]);
    assert.deepEqual(ids(await listAll(`${V}/sessions`, other.rec.access)), []);
    // pages of one
    const p1 = expectStatus(await get(`${V}/sessions?limit=1`, w.rec.access), 200).body;
    assert.deepEqual(ids(p1.items), [s1.id]);
    assert.ok(p1.next_cursor, 'a first page of one must have next_cursor');
    const p2 = expectStatus(await get(`${V}/sessions?limit=1&cursor=${encodeURIComponent(p1.next_cursor)}`, w.rec.access), 200).body;
    assert.deepEqual(ids(p2.items), [s2.id]);

    // doctor: own only; another doctor's is 403
    assert.deepEqual(ids(await listAll(`${V}/sessions`, w.doc.access)), [s1.id, s3.id]);
    assert.deepEqual(ids(await listAll(`${V}/sessions?doctor_id=${w.doctorId}&date=${today}`, w.doc.access)), [s1.id]);
    assert.deepEqual(ids(await listAll(`${V}/sessions`, w.doc2.access)), [s2.id]);
    expectError(await get(`${V}/sessions?doctor_id=${w.doc2.user.doctor_id}`, w.doc.access), 403, 'forbidden');

    // patient: own only
    assert.deepEqual(ids(await listAll(`${V}/sessions`, w.pat.access)), [s1.id, s3.id]);
    assert.deepEqual(ids(await listAll(`${V}/sessions`, w.pat2.access)), [s2.id]);
    assert.deepEqual(ids(await listAll(`${V}/sessions`, other.pat.access)), []);
  });
});

// ---------------------------------------------------------------------------------------------
// Join tokens and invitations
// ---------------------------------------------------------------------------------------------

describe('video consultations: tokens and invitations', () => {
  test('video join tokens: its doctor and its patient; admin and receptionist 403; others 404; ended 409; before the window 409', async () => {
    const w = await world();
    const other = await otherClinic();
    const { s } = await session(w);

    checkTokenResponse(await joinToken(s.id, w.doc.access), s, 'doctor');
    checkTokenResponse(await joinToken(s.id, w.pat.access), s, 'patient');

    expectError(await post(`${V}/sessions/${s.id}/token`, undefined, await asAdmin()), 403, 'forbidden');
    expectError(await post(`${V}/sessions/${s.id}/token`, undefined, w.rec.access), 403, 'forbidden');
    for (const token of [w.doc2.access, w.pat2.access, other.doc.access, other.pat.access]) {
      expectError(await post(`${V}/sessions/${s.id}/token`, undefined, token), 404, 'not_found');
    }
    expectError(await post(`${V}/sessions/${NOT_FOUND_ID}/token`, undefined, w.doc.access), 404, 'not_found');
    expectStatus(await post(`${V}/sessions/${s.id}/token`, undefined, undefined), 401);

    // a video token is no access token for the API
    const vt = (await joinToken(s.id, w.doc.access)).token;
    expectStatus(await get('/api/auth/me', vt), 401);

    // ended: no more tokens
    expectStatus(await post(`${V}/sessions/${s.id}/cancel`, {}, w.doc.access), 200);
    expectError(await post(`${V}/sessions/${s.id}/token`, undefined, w.doc.access), 409, 'conflict');
    expectError(await post(`${V}/sessions/${s.id}/token`, undefined, w.pat.access), 409, 'conflict');

    // the join window opens 30 minutes before the start: not yet for an appointment three hours ahead
    const later = await session(w, { start: instant(Math.ceil(Date.now() / 60000) * 60000 + 3 * 3600000) });
    expectError(await post(`${V}/sessions/${later.s.id}/token`, undefined, w.doc.access), 409, 'conflict');
    expectError(await post(`${V}/sessions/${later.s.id}/token`, undefined, w.pat.access), 409, 'conflict');
  });

  test('video invitations: create, redeem without an account (single use, 410 after), revoked 410, unknown 404, expired 410, ended 409', async () => {
    const w = await world();
    const other = await otherClinic();
    const admin = await asAdmin();
    const { s } = await session(w);

    const invites = [];
    for (const token of [w.doc.access, w.rec.access, admin]) {
      const inv = expectStatus(await post(`${V}/sessions/${s.id}/invite`, undefined, token), 201).body;
      assert.equal(typeof inv.code, 'string');
      assert.ok(inv.code.length >= 16, `an invitation code must be unguessable: ${inv.code}`);
      assert.equal(inv.url, `${DEFAULT_INVITE_URL}?code=${inv.code}`);
      assert.match(inv.expires_at, INSTANT);
      // VIDEO_INVITE_TTL (default 86400 s) from now, at most until the session expires
      const want = Math.min(Date.now() / 1000 + 86400, sec(s.expires_at));
      assert.ok(Math.abs(sec(inv.expires_at) - want) < 120, `invitation expires_at ${inv.expires_at}, expected about ${instant(want * 1000)}`);
      invites.push(inv);
    }
    assert.equal(new Set(invites.map((i) => i.code)).size, 3);
    for (const token of [w.doc2.access, other.rec.access, other.doc.access]) {
      expectError(await post(`${V}/sessions/${s.id}/invite`, undefined, token), 404, 'not_found');
    }

    // redeem: public, the patient's token; once
    const [first, second, third] = invites;
    const redeemed = expectStatus(await post(`${V}/invitations/redeem`, { code: first.code }), 200).body;
    checkTokenResponse(redeemed, s, 'patient');
    const reused = await post(`${V}/invitations/redeem`, { code: first.code });
    expectError(reused, 410, 'gone');
    assert.equal(reused.body.error.message, 'This invitation has already been used.');
    // the redeemed token opens the video room as the patient
    const c = await connected({ token: redeemed.token });
    try {
      const st = await nth(c, 'session_state');
      assert.equal(st.session_id, s.id);
      assert.equal(st.role, 'patient');
      assert.equal(st.admitted, false);
    } finally {
      c.s.close();
    }

    // revoked
    expectStatus(await del(`${V}/sessions/${s.id}/invitations/${second.id}`, w.rec.access), 204);
    const revoked = await post(`${V}/invitations/redeem`, { code: second.code });
    expectError(revoked, 410, 'gone');
    assert.equal(revoked.body.error.message, 'This invitation has been revoked.');
    expectError(await del(`${V}/sessions/${s.id}/invitations/${third.id}`, other.rec.access), 404, 'not_found');
    // unknown
    const unknown = await post(`${V}/invitations/redeem`, { code: 'no-such-invitation-code-0000000000000' });
    expectError(unknown, 404, 'not_found');
    assert.equal(unknown.body.error.message, 'No invitation has this code.');

    // expired (forced in the database)
    const table = await invitationsTable();
    const old = expectStatus(await post(`${V}/sessions/${s.id}/invite`, undefined, w.doc.access), 201).body;
    await psql(`UPDATE ${table} SET expires_at = now() - interval '1 minute' WHERE id = ${Number(old.id)};`);
    const expired = await post(`${V}/invitations/redeem`, { code: old.code });
    expectError(expired, 410, 'gone');
    assert.equal(expired.body.error.message, 'This invitation has expired.');

    // the session ends: invitations are refused with 409, no new ones
    expectStatus(await post(`${V}/sessions/${s.id}/cancel`, {}, w.rec.access), 200);
    expectError(await post(`${V}/invitations/redeem`, { code: third.code }), 409, 'conflict');
    expectError(await post(`${V}/sessions/${s.id}/invite`, undefined, w.doc.access), 409, 'conflict');
  });
});

// The table of the video invitations (found in the schema: the one with code and expires_at columns).
async function invitationsTable() {
  const out = await psql(`SELECT format('%I.%I', c.table_schema, c.table_name) FROM information_schema.columns c
     WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema') AND c.table_name ~ 'invit'
       AND c.column_name = 'expires_at' ORDER BY c.table_name LIMIT 1;`);
  assert.ok(out, 'no invitations table with an expires_at column in the schema');
  return out;
}

// ---------------------------------------------------------------------------------------------
// ICE servers
// ---------------------------------------------------------------------------------------------

describe('video consultations: ICE servers', () => {
  test('video ICE servers: shape for every role; no TURN entry without TURN configuration', async () => {
    const w = await world();
    for (const token of [await asAdmin(), w.rec.access, w.doc.access, w.pat.access]) {
      const body = expectStatus(await get(`${V}/ice-servers`, token), 200).body;
      assert.ok(Array.isArray(body.ice_servers));
      assert.ok(Number.isInteger(body.ttl_seconds) && body.ttl_seconds > 0);
      for (const e of body.ice_servers) {
        assert.ok(Array.isArray(e.urls) && e.urls.length > 0);
        assert.ok(!e.urls.some((u) => /^turns?:/.test(u)), `a TURN entry without TURN configuration: ${JSON.stringify(e)}`);
        assert.equal(e.username, undefined);
        assert.equal(e.credential, undefined);
      }
    }
    expectStatus(await get(`${V}/ice-servers`), 401);
  });

  test('video ICE servers with TURN_URLS/TURN_SECRET (throwaway api-server): no TURN credential from GET /ice-servers; the join token carries one for its session, expiring with it', async () => {
    const w = await world();
    const secret = 'turn-test-secret-0123456789';
    const turnUrls = ['turn:127.0.0.1:3478?transport=udp', 'turns:127.0.0.1:5349?transport=tcp'];
    const inst = await startApi({ TURN_URLS: turnUrls.join(','), TURN_SECRET: secret, TURN_TTL: '600', STUN_URLS: 'stun:127.0.0.1:3478' });
    try {
      const call = async (method, path, token, body) => {
        const headers = {};
        if (token) headers.authorization = `Bearer ${token}`;
        if (body !== undefined) headers['content-type'] = 'application/json';
        const r = await fetch(inst.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
        return { status: r.status, body: await r.json() };
      };
      const stunOnly = (body, who) => {
        assert.deepEqual(body.ice_servers, [{ urls: ['stun:127.0.0.1:3478'] }], `${who}: STUN only, no TURN entry nor credential: ${JSON.stringify(body)}`);
        assert.ok(!JSON.stringify(body).includes('credential'), `${who}: a credential in ${JSON.stringify(body)}`);
      };
      // The TURN entry of a join token answer: username "<exp>:v<session>:<role>" with exp the token's own,
      // credential the HMAC-SHA1 of the username; ttl_seconds is the time left until exp.
      const checkTurn = (body, sessionId, role) => {
        const p = jwtPayload(body.token);
        const turn = body.ice_servers.filter((e) => e.urls.some((u) => /^turns?:/.test(u)));
        assert.equal(turn.length, 1, `one TURN entry: ${JSON.stringify(body)}`);
        assert.deepEqual(turn[0].urls, turnUrls);
        assert.equal(turn[0].username, `${p.exp}:v${sessionId}:${role}`, 'the username carries the session, the role and the token\'s exp');
        assert.equal(Number(turn[0].username.split(':')[0]), sec(body.expires_at), 'the TURN expiry is the token\'s expires_at');
        assert.equal(turn[0].credential, createHmac('sha1', secret).update(turn[0].username).digest('base64'));
        const left = p.exp - Date.now() / 1000;
        assert.ok(Math.abs(body.ttl_seconds - left) <= 5, `ttl_seconds ${body.ttl_seconds} is not the time left until exp (${left})`);
        const stun = body.ice_servers.filter((e) => e.urls.some((u) => u.startsWith('stun:')));
        assert.deepEqual(stun, [{ urls: ['stun:127.0.0.1:3478'] }]);
        return turn[0];
      };

      // GET /ice-servers: STUN only, for every role, whatever the TURN configuration
      for (const [who, token] of [['admin', await asAdmin()], ['receptionist', w.rec.access], ['doctor', w.doc.access], ['patient', w.pat.access]]) {
        const r = await call('GET', `${V}/ice-servers`, token);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        stunOnly(r.body, who);
        assert.equal(r.body.ttl_seconds, 600);
      }

      // the session's doctor and its patient get a credential of that session and their role
      const { s } = await session(w);
      let r = await call('POST', `${V}/sessions/${s.id}/token`, w.doc.access);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      checkTokenResponse(r.body, s, 'doctor');
      checkTurn(r.body, s.id, 'doctor');
      r = await call('POST', `${V}/sessions/${s.id}/token`, w.pat.access);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const patTurn = checkTurn(r.body, s.id, 'patient');

      // a patient of another session gets nothing for this one; their own token names their own session
      r = await call('POST', `${V}/sessions/${s.id}/token`, w.pat2.access);
      assert.equal(r.status, 404, JSON.stringify(r.body));
      assert.equal(r.body.ice_servers, undefined);
      assert.ok(!JSON.stringify(r.body).includes('credential'));
      const { s: s2 } = await session(w, { patient: w.pat2 });
      r = await call('POST', `${V}/sessions/${s2.id}/token`, w.pat2.access);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const otherTurn = checkTurn(r.body, s2.id, 'patient');
      assert.notEqual(otherTurn.username, patTurn.username);
      // and neither another doctor nor the desk
      r = await call('POST', `${V}/sessions/${s.id}/token`, w.doc2.access);
      assert.equal(r.status, 404, JSON.stringify(r.body));
      assert.equal(r.body.ice_servers, undefined);
      r = await call('POST', `${V}/sessions/${s.id}/token`, w.rec.access);
      assert.equal(r.status, 403, JSON.stringify(r.body));
      assert.equal(r.body.ice_servers, undefined);

      // a redeemed invitation carries the patient's credential of its session
      const inv = expectStatus(await post(`${V}/sessions/${s.id}/invite`, undefined, w.rec.access), 201).body;
      r = await call('POST', `${V}/invitations/redeem`, undefined, { code: inv.code });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      checkTurn(r.body, s.id, 'patient');
    } finally {
      await inst.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Signaling: the video room
// ---------------------------------------------------------------------------------------------

describe('video consultations: signaling room', () => {
  test('video sessions nobody started expire: nobody_joined, or not_admitted with the waiting patient out of the queue', async () => {
    const w = await world();
    const { s: idle } = await session(w);
    const r = await waitingRoom(w);
    try {
      await psql(`UPDATE video_sessions SET expires_at = now() - interval '1 second' WHERE id IN (${idle.id}, ${r.s.id});`);
      const a = await sessionUntil(idle.id, (x) => x.status === 'expired', 'the idle session to expire', 15000);
      assert.equal(a.end_reason, 'nobody_joined');
      assert.match(a.ended_at, INSTANT);
      const b = await sessionUntil(r.s.id, (x) => x.status === 'expired', 'the waited session to expire', 15000);
      assert.equal(b.end_reason, 'not_admitted');
      assert.ok(b.participants.length === 2 && b.participants.every((p) => p.state === 'left' && !p.admitted),
        `participants: ${JSON.stringify(b.participants)}`);
      assert.equal(expectStatus(await get(`/api/visits/${b.visit_id}`, w.rec.access), 200).body.status, 'left');
      await until(r.dv.events, (ev) => ev.some((e) => e.name === 'video_session_updated' && e.env.session.id === r.s.id
        && e.env.session.status === 'expired'), 8000, 'video_session_updated expired (video room)');
      expectError(await post(`${V}/sessions/${r.s.id}/token`, undefined, w.doc.access), 409, 'conflict');
      // the appointment may get a new session
      await openSession(b.appointment_id, w.rec.access);
    } finally {
      closeAll(r.dv, r.pv);
    }
  });

  test('video waiting room: patient_waiting to the doctor and the desk, desk queue, no relay before admission, admission', async () => {
    const w = await world();
    const other = await otherClinic();
    const { appt, s } = await session(w);
    const [docTok, patTok] = await Promise.all([joinToken(s.id, w.doc.access), joinToken(s.id, w.pat.access)]);
    const da = await connected({ token: w.doc.access });
    const ra = await connected({ token: w.rec.access });
    const d2 = await connected({ token: w.doc2.access });
    const stranger = await connected({ token: other.rec.access });
    let dv; let pv;
    try {
      dv = await connected({ token: docTok.token });
      const dState = await nth(dv, 'session_state');
      assert.deepEqual([dState.session_id, dState.role, dState.status], [s.id, 'doctor', 'scheduled']);
      assert.ok(Array.isArray(dState.participants));

      // nobody waiting yet: admission is refused
      dv.s.emit('admit_patient', {});
      await nth(dv, 'error');

      pv = await connected({ token: patTok.token });
      const pState = await nth(pv, 'session_state');
      assert.deepEqual([pState.session_id, pState.role, pState.admitted], [s.id, 'patient', false]);
      assert.ok(['scheduled', 'waiting'].includes(pState.status), pState.status);

      // the doctor (access and video sockets) and the desk are told
      const pw = await nth(da, 'patient_waiting', 1, 8000);
      const cur = await sessionUntil(s.id, (x) => x.status === 'waiting' && x.visit_id !== null, 'the session waiting with a visit');
      assert.deepEqual([pw.session_id, pw.appointment_id, pw.visit_id, pw.patient_label], [s.id, appt.id, cur.visit_id, 'Ana S.']);
      const pwr = await nth(ra, 'patient_waiting', 1, 8000);
      assert.equal(pwr.session_id, s.id);
      const pwv = await nth(dv, 'patient_waiting', 1, 8000);
      assert.equal(pwv.session_id, s.id);
      await until(dv.events, (ev) => ev.some((e) => e.name === 'participant_joined' && e.env.role === 'patient'), 8000, 'participant_joined of the patient');
      const joined = named(dv, 'participant_joined').find((e) => e.role === 'patient');
      assert.deepEqual([joined.session_id, joined.role, joined.state], [s.id, 'patient', 'waiting']);
      const patientRow = cur.participants.find((p) => p.role === 'patient');
      assert.ok(patientRow, `no patient participant: ${JSON.stringify(cur.participants)}`);
      assert.deepEqual([patientRow.state, patientRow.admitted], ['waiting', false]);

      // the appointment is checked in; the desk queue shows the patient waiting
      assert.equal(expectStatus(await get(`/api/appointments/${appt.id}`, w.rec.access), 200).body.status, 'checked_in');
      const visit = expectStatus(await get(`/api/visits/${cur.visit_id}`, w.rec.access), 200).body;
      assert.deepEqual([visit.status, visit.appointment_id, visit.consultation_type, visit.doctor_id], ['waiting', appt.id, 'video', w.doctorId]);
      const board = expectStatus(await get('/api/queue', w.rec.access), 200).body;
      assert.deepEqual(board.phases.waiting.map((e) => e.id), [cur.visit_id]);

      // before admission the patient's offer is refused and reaches nobody
      pv.s.emit('webrtc_offer', { sdp: 'v=0\r\n' });
      await nth(pv, 'error');
      await never(dv, 'webrtc_offer');
      // nor may the patient admit themself
      const errs = named(pv, 'error').length;
      pv.s.emit('admit_patient', {});
      await nth(pv, 'error', errs + 1);
      assert.equal((await getSession(s.id)).status, 'waiting');

      // the doctor admits
      dv.s.emit('admit_patient', {});
      const pa = await nth(pv, 'patient_admitted', 1, 8000);
      assert.equal(pa.session_id, s.id);
      assert.equal((await nth(dv, 'patient_admitted', 1, 8000)).session_id, s.id);
      const pwd = await nth(da, 'patient_with_doctor', 1, 8000);
      assert.equal(pwd.visit.id, cur.visit_id);
      assert.equal(pwd.patient.id, w.pat.patient.id);
      const upd = await nth(da, 'video_session_updated', 1, 8000);
      assert.equal(upd.session.id, s.id);
      await until(ra.events, (ev) => ev.some((e) => e.name === 'video_session_updated' && e.env.session.status === 'in_progress'), 8000, 'video_session_updated in_progress at the desk');
      const live = await getSession(s.id);
      assert.equal(live.status, 'in_progress');
      assert.match(live.started_at, INSTANT);
      assert.deepEqual(live.participants.filter((p) => p.role === 'patient').map((p) => [p.state, p.admitted]), [['joined', true]]);
      assert.equal(expectStatus(await get(`/api/visits/${cur.visit_id}`, w.rec.access), 200).body.status, 'in_progress');

      // the video room holders are not in the clinic or doctor rooms; others got nothing of this session
      await sleep(300);
      for (const c of [dv, pv]) {
        for (const name of ['queue_updated', 'new_checkin', 'patient_with_doctor']) {
          assert.deepEqual(named(c, name), [], `${name} reached a video connection`);
        }
      }
      assert.deepEqual(named(d2, 'patient_with_doctor'), [], 'another doctor got the patient card');
      assert.deepEqual(named(stranger, 'patient_waiting'), [], 'another clinic got patient_waiting');
      assert.deepEqual(named(ra, 'patient_with_doctor'), [], 'the desk got the patient card');
      assert.ok('end_reason' in upd.session, `video_session_updated.session has no end_reason: ${JSON.stringify(upd.session)}`);
    } finally {
      closeAll(da, ra, d2, stranger, dv, pv);
    }
  });

  test('video relay: offer, answer, ICE candidates and hangup reach only the other side with from; a 20,000-character SDP arrives intact', async () => {
    const w = await world();
    const r = await admitted(w);
    try {
      await relay(r.dv, r.pv, 'doctor', 'webrtc_offer', { sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n' });
      await relay(r.pv, r.dv, 'patient', 'webrtc_answer', { sdp: 'v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\n' });
      await relay(r.dv, r.pv, 'doctor', 'webrtc_ice_candidate', { candidate: 'candidate:1 1 udp 2122260223 192.168.1.2 54321 typ host', sdpMid: '0', sdpMLineIndex: 0 });
      await relay(r.pv, r.dv, 'patient', 'webrtc_ice_candidate', { candidate: 'candidate:2 1 udp 2122260222 10.0.0.7 40000 typ host', sdpMid: '1', sdpMLineIndex: 1 });
      const sdp = bigSdp(20000);
      assert.equal(sdp.length, 20000);
      const got = await relay(r.pv, r.dv, 'patient', 'webrtc_offer', { sdp });
      assert.equal(got.sdp.length, 20000);
      const got2 = await relay(r.dv, r.pv, 'doctor', 'webrtc_answer', { sdp: bigSdp(20000) });
      assert.equal(got2.sdp, bigSdp(20000));
      await relay(r.dv, r.pv, 'doctor', 'hangup', {});
    } finally {
      closeAll(r.dv, r.pv);
    }
  });

  test('a hangup sent right before the connection closes still reaches the other side, however busy the database link', async () => {
    const w = await world();
    const r = await admitted(w);
    try {
      // Hold the link: a statement that waits on a lock is in flight, so what comes next queues behind it.
      const held = psql('BEGIN; LOCK TABLE video_sessions IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(1.5); COMMIT;');
      await sleep(300);
      r.dv.s.emit('webrtc_ice_candidate', { candidate: '', sdpMid: '0', sdpMLineIndex: 0 });
      await sleep(100);
      // The patient leaves as a client does: hangup, then the close, both while the link is held.
      r.pv.s.emit('hangup', {});
      r.pv.s.close();
      await held;
      const got = await nth(r.dv, 'hangup', 1, 8000);
      assert.equal(got.from, 'patient');
    } finally {
      closeAll(r.dv, r.pv);
    }
  });

  test('video relay across two signaling instances (doctor on the second, patient on the first)', async () => {
    const w = await world();
    const second = await startSignaling();
    const da = await connected({ token: w.doc.access }, second.url);
    let r;
    try {
      r = await admitted(w, { doctorUrl: second.url });
      await nth(da, 'patient_with_doctor', 1, 8000);
      await relay(r.dv, r.pv, 'doctor', 'webrtc_offer', { sdp: 'v=0\r\ns=cross\r\n' });
      await relay(r.pv, r.dv, 'patient', 'webrtc_answer', { sdp: 'v=0\r\ns=cross-answer\r\n' });
      await relay(r.pv, r.dv, 'patient', 'webrtc_ice_candidate', { candidate: 'candidate:3 1 udp 1 10.1.1.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 });
      await relay(r.dv, r.pv, 'doctor', 'webrtc_ice_candidate', { candidate: 'candidate:4 1 udp 1 10.1.1.2 5001 typ host', sdpMid: '0', sdpMLineIndex: 0 });
      const big = bigSdp(20000);
      const got = await relay(r.dv, r.pv, 'doctor', 'webrtc_offer', { sdp: big });
      assert.equal(got.sdp, big);
      const got2 = await relay(r.pv, r.dv, 'patient', 'webrtc_answer', { sdp: big });
      assert.equal(got2.sdp, big);
    } finally {
      closeAll(da, r?.dv, r?.pv);
      await second.stop();
    }
  });

  test('video deny_patient: the waiting patient gets admission_denied and is disconnected; that holder stays out, another may wait', async () => {
    const w = await world();
    const r = await waitingRoom(w);
    let again;
    let guest;
    try {
      r.dv.s.emit('deny_patient', { reason: 'Wrong room' });
      const denied = await nth(r.pv, 'admission_denied', 1, 8000);
      assert.deepEqual([denied.session_id, denied.reason], [r.s.id, 'Wrong room']);
      await Promise.race([r.pv.closed, sleep(5000).then(() => assert.fail('the denied patient was not disconnected'))]);
      assert.equal(r.pv.s.connected, false);
      assert.deepEqual(named(r.pv, 'patient_admitted'), []);
      const cur = await sessionUntil(r.s.id, (x) => x.participants.some((p) => p.role === 'patient' && p.state === 'denied'), 'the patient denied');
      assert.notEqual(cur.status, 'in_progress');
      const waitingBefore = named(r.dv, 'patient_waiting').length;

      // the same holder, even with a fresh token, is refused and never reaches the waiting room
      const fresh = await joinToken(r.s.id, w.pat.access);
      again = connect({ token: fresh.token });
      again.events = [];
      again.onAny((name, env) => again.events.push({ name, env }));
      const refused = await new Promise((resolve) => {
        again.on('error', (e) => resolve(e));
        setTimeout(() => resolve(null), 5000);
      });
      assert.match(refused?.message ?? '', /did not admit you/, `refusal: ${JSON.stringify(refused)}`);
      await sleep(700);
      assert.equal(named(r.dv, 'patient_waiting').length, waitingBefore, 'no new patient_waiting for the refused holder');

      // somebody else with the patient's invitation may wait, and be admitted
      const inv = expectStatus(await post(`${V}/sessions/${r.s.id}/invite`, undefined, w.rec.access), 201).body;
      const redeemed = expectStatus(await post(`${V}/invitations/redeem`, { code: inv.code }), 200).body;
      guest = await connected({ token: redeemed.token });
      const st = await nth(guest, 'session_state');
      assert.equal(st.admitted, false);
      guest.s.emit('webrtc_offer', { sdp: 'v=0\r\n' });
      await nth(guest, 'error');
      await never(r.dv, 'webrtc_offer');
      r.dv.s.emit('admit_patient', {});
      await nth(guest, 'patient_admitted', 1, 8000);
      await relay(guest, r.dv, 'patient', 'webrtc_offer', { sdp: 'v=0\r\ns=after-deny\r\n' });
    } finally {
      again?.close();
      closeAll(r.dv, r.pv, guest);
    }
  });

  test('video admission belongs to its holder: another patient token waits for nothing and receives no relay', async () => {
    const w = await world();
    const r = await admitted(w);
    let stranger;
    try {
      const inv = expectStatus(await post(`${V}/sessions/${r.s.id}/invite`, undefined, w.rec.access), 201).body;
      const redeemed = expectStatus(await post(`${V}/invitations/redeem`, { code: inv.code }), 200).body;
      stranger = connect({ token: redeemed.token });
      const refused = await new Promise((resolve) => {
        stranger.on('error', (e) => resolve(e));
        setTimeout(() => resolve(null), 5000);
      });
      assert.match(refused?.message ?? '', /Another person/, `refusal: ${JSON.stringify(refused)}`);
      // the admitted patient still gets the doctor's messages, the stranger none
      await relay(r.dv, r.pv, 'doctor', 'webrtc_offer', { sdp: 'v=0\r\ns=still-ours\r\n' });
    } finally {
      stranger?.close();
      closeAll(r.dv, r.pv);
    }
  });

  test('video remove_patient: the admitted patient is removed and disconnected; a new connection waits and relay is refused until re-admitted', async () => {
    const w = await world();
    const r = await admitted(w);
    let again;
    try {
      await relay(r.dv, r.pv, 'doctor', 'webrtc_offer', { sdp: 'v=0\r\ns=before\r\n' });
      r.dv.s.emit('remove_patient', { reason: 'Call restart' });
      const removed = await nth(r.pv, 'patient_removed', 1, 8000);
      assert.deepEqual([removed.session_id, removed.reason], [r.s.id, 'Call restart']);
      await Promise.race([r.pv.closed, sleep(5000).then(() => assert.fail('the removed patient was not disconnected'))]);

      // the doctor has nobody to talk to
      const dErr = named(r.dv, 'error').length;
      r.dv.s.emit('webrtc_offer', { sdp: 'v=0\r\ns=nobody\r\n' });
      await nth(r.dv, 'error', dErr + 1);

      // back within the grace window, still not admitted (removal revoked the admission)
      again = await connected({ token: r.patTok.token });
      const st = await nth(again, 'session_state');
      assert.equal(st.admitted, false);
      await sessionUntil(r.s.id, (x) => x.participants.some((p) => p.role === 'patient' && p.state === 'waiting' && p.admitted === false), 'the patient waiting again');
      again.s.emit('webrtc_answer', { sdp: 'v=0\r\ns=refused\r\n' });
      await nth(again, 'error');
      const dErr2 = named(r.dv, 'error').length;
      r.dv.s.emit('webrtc_offer', { sdp: 'v=0\r\ns=refused-too\r\n' });
      await nth(r.dv, 'error', dErr2 + 1);
      await sleep(500);
      assert.deepEqual(named(again, 'webrtc_offer'), [], 'an offer reached the removed patient');
      assert.equal(named(r.dv, 'webrtc_answer').length, 0, 'an answer from the removed patient reached the doctor');

      // re-admitted: relay works again
      r.dv.s.emit('admit_patient', {});
      await nth(again, 'patient_admitted', 1, 8000);
      await relay(r.dv, again, 'doctor', 'webrtc_offer', { sdp: 'v=0\r\ns=after\r\n' });
      await relay(again, r.dv, 'patient', 'webrtc_answer', { sdp: 'v=0\r\ns=after-answer\r\n' });
    } finally {
      closeAll(r.dv, r.pv, again);
    }
  });

  test('video quality samples then the doctor ends the call: completed with duration, participants, quality; the visit completes', async () => {
    const w = await world();
    const other = await otherClinic();
    const da = await connected({ token: w.doc.access });
    const r = await admitted(w);
    try {
      await relay(r.dv, r.pv, 'doctor', 'webrtc_offer', { sdp: 'v=0\r\n' });
      // a malformed sample is refused
      r.pv.s.emit('connection_quality', { rtt_ms: -5, packet_loss: 2, jitter_ms: 1 });
      await nth(r.pv, 'error');
      r.dv.s.emit('connection_quality', { rtt_ms: 40, packet_loss: 0.01, jitter_ms: 3 });
      r.pv.s.emit('connection_quality', { rtt_ms: 60, packet_loss: 0, jitter_ms: 5 });
      // a side's second sample within a second is acknowledged but not stored
      assert.deepEqual(await r.dv.s.timeout(5000).emitWithAck('connection_quality', { rtt_ms: 999, packet_loss: 0, jitter_ms: 1 }), { ok: true });
      await sleep(1100);
      r.dv.s.emit('connection_quality', { rtt_ms: 80, packet_loss: 0.02, jitter_ms: 7 });
      const withQ = await sessionUntil(r.s.id, (x) => x.quality.samples >= 3, '3 quality samples');
      assert.equal(withQ.quality.samples, 3);
      assert.match(withQ.connected_at, INSTANT);
      assert.equal(withQ.quality.rtt_ms_max, 80);
      assert.ok(Math.abs(withQ.quality.rtt_ms_avg - 60) < 0.5, `rtt_ms_avg ${withQ.quality.rtt_ms_avg}`);
      assert.ok(Math.abs(withQ.quality.packet_loss_avg - 0.01) < 0.001, `packet_loss_avg ${withQ.quality.packet_loss_avg}`);
      assert.ok(Math.abs(withQ.quality.jitter_ms_avg - 5) < 0.5, `jitter_ms_avg ${withQ.quality.jitter_ms_avg}`);

      // only its doctor ends it
      for (const token of [w.pat.access, w.rec.access, w.doc2.access, other.doc.access]) {
        expectStatus(await post(`${V}/sessions/${r.s.id}/end`, {}, token), [403, 404]);
      }
      expectError(await post(`${V}/sessions/${r.s.id}/cancel`, {}, w.rec.access), 409, 'conflict');
      const ended = expectStatus(await post(`${V}/sessions/${r.s.id}/end`, { notes: 'Teleconsulta sem intercorrências.' }, w.doc.access), 200).body;
      assert.equal(ended.status, 'completed');
      assert.match(ended.ended_at, INSTANT);
      assert.ok(Number.isInteger(ended.duration_seconds) && ended.duration_seconds >= 0, `duration_seconds ${ended.duration_seconds}`);
      assert.ok(Math.abs(ended.duration_seconds - (sec(ended.ended_at) - sec(ended.started_at))) <= 1, 'duration_seconds = ended_at - started_at');
      expectError(await post(`${V}/sessions/${r.s.id}/end`, {}, w.doc.access), 409, 'conflict');

      const fin = await getSession(r.s.id, w.pat.access);
      assert.equal(fin.status, 'completed');
      assert.equal(fin.quality.samples, 3);
      const roles = fin.participants.map((p) => p.role).sort();
      assert.deepEqual(roles, ['doctor', 'patient']);
      const pat = fin.participants.find((p) => p.role === 'patient');
      assert.equal(pat.admitted, true);
      assert.match(pat.joined_at, INSTANT);
      assert.equal(typeof pat.display_name, 'string');
      const doc = fin.participants.find((p) => p.role === 'doctor');
      assert.match(doc.joined_at, INSTANT);

      // the visit and the appointment are completed, the notes are in the evolution
      const visit = expectStatus(await get(`/api/visits/${fin.visit_id}`, w.rec.access), 200).body;
      assert.equal(visit.status, 'completed');
      assert.match(visit.end_time, INSTANT);
      assert.equal(expectStatus(await get(`/api/appointments/${r.appt.id}`, w.pat.access), 200).body.status, 'completed');
      const evo = expectStatus(await get(`/api/visits/${fin.visit_id}/evolution`, w.doc.access), 200).body;
      assert.match(evo.notes, /Teleconsulta sem intercorrências\./);

      // the end is announced to the room and the doctor
      await until(r.pv.events, (ev) => ev.some((e) => e.name === 'video_session_updated' && e.env.session.status === 'completed'), 8000, 'video_session_updated completed (patient)');
      await until(da.events, (ev) => ev.some((e) => e.name === 'video_session_updated' && e.env.session.status === 'completed'), 8000, 'video_session_updated completed (doctor room)');
      // ended: no more tokens, no relay
      expectError(await post(`${V}/sessions/${r.s.id}/token`, undefined, w.pat.access), 409, 'conflict');
    } finally {
      closeAll(da, r.dv, r.pv);
    }
  });
  test('the end of a call completes the consultation as the desk does (visit_complete): appointment, notes, billed exactly once', async () => {
    const w = await world();
    const r = await admitted(w);
    try {
      const visitId = (await getSession(r.s.id)).visit_id;
      assert.ok(Number.isInteger(visitId), 'the admitted patient has a visit');
      expectStatus(await post(`${V}/sessions/${r.s.id}/end`, { notes: 'Teleconsulta.' }, w.doc.access), 200);
      const visit = expectStatus(await get(`/api/visits/${visitId}`, w.rec.access), 200).body;
      assert.equal(visit.status, 'completed');
      assert.equal(expectStatus(await get(`/api/appointments/${r.appt.id}`, w.rec.access), 200).body.status, 'completed');
      assert.equal(expectStatus(await get(`/api/visits/${visitId}/evolution`, w.doc.access), 200).body.notes, 'Teleconsulta.');
      // the desk's completion of the same visit is the same move, refused now, naming it
      const again = await post('/api/queue/complete-consultation', { visit_id: visitId, notes: 'Twice' }, w.doc.access);
      expectError(again, 409, 'conflict');
      assert.deepEqual(again.body.error.transition, { from: 'completed', to: 'completed' });
      assert.equal(await psql(`SELECT count(*) FROM payments WHERE visit_id = ${Number(visitId)}`), '1');
      assert.equal(await psql(`SELECT count(*) FROM audit_log WHERE action = 'payment_create'
                               AND (details->>'visit_id')::bigint = ${Number(visitId)}`), '1');
      const steps = (await listAll(`/api/visits/${visitId}/transitions`, w.rec.access)).map((t) => `${t.from_status}>${t.to_status}`);
      assert.deepEqual(steps, ['null>waiting', 'waiting>in_progress', 'in_progress>completed']);
    } finally {
      closeAll(r.dv, r.pv);
    }
  });

  test("the patient's own room hears the session opened, the doctor ready, the admission and the end; nothing of another's session", async () => {
    const w = await world();
    const mine = await connected({ token: w.pat.access });
    const theirs = await connected({ token: w.pat2.access });
    let dv;
    let pv;
    try {
      const { s } = await session(w);
      const status = (c) => named(c, 'video_session_updated').filter((e) => e.session.id === s.id).map((e) => e.session.status);
      await until(mine.events, () => status(mine).includes('scheduled'), 8000, 'the session opened (patient room)');
      // the doctor arrives first: the patient is told the doctor is ready for them
      const [docTok, patTok] = await Promise.all([joinToken(s.id, w.doc.access), joinToken(s.id, w.pat.access)]);
      dv = await connected({ token: docTok.token });
      await nth(dv, 'session_state');
      const ready = await nth(mine, 'video_doctor_ready', 1, 8000);
      assert.equal(ready.session_id, s.id);
      assert.equal(ready.appointment_id, s.appointment_id);
      assert.equal(ready.doctor_id, w.doctorId);
      assert.equal(typeof ready.doctor_name, 'string');
      pv = await connected({ token: patTok.token });
      await nth(pv, 'session_state');
      await nth(dv, 'patient_waiting', 1, 8000);
      dv.s.emit('admit_patient', {});
      await until(mine.events, () => status(mine).includes('in_progress'), 8000, 'admitted (patient room)');
      expectStatus(await post(`${V}/sessions/${s.id}/end`, {}, w.doc.access), 200);
      await until(mine.events, () => status(mine).includes('completed'), 8000, 'ended (patient room)');
      // the doctor's own return to the room is not announced again while the patient is admitted
      assert.equal(named(mine, 'video_doctor_ready').length, 1);
      // another patient of the clinic hears nothing of it
      await sleep(300);
      assert.deepEqual(status(theirs), []);
      assert.deepEqual(named(theirs, 'video_doctor_ready'), []);
    } finally {
      closeAll(mine, theirs, dv, pv);
    }
  });

  test('a call past VIDEO_MAX_MINUTES (120) is warned five minutes before, then ended and its visit completed', async () => {
    const w = await world();
    const r = await admitted(w);
    try {
      // the call was admitted 116 minutes ago and has been connected since
      await psql(`UPDATE video_sessions SET started_at = now() - interval '116 minutes',
                                            connected_at = now() - interval '115 minutes' WHERE id = ${r.s.id};`);
      const [wd, wp] = await Promise.all([nth(r.dv, 'video_ending_soon', 1, 8000), nth(r.pv, 'video_ending_soon', 1, 8000)]);
      for (const x of [wd, wp]) {
        assert.equal(x.session_id, r.s.id);
        assert.equal(x.max_minutes, 120);
        assert.match(x.ends_at, INSTANT);
        assert.ok(Math.abs(sec(x.ends_at) - (Date.now() / 1000 + 4 * 60)) < 30, `ends_at ${x.ends_at}`);
      }
      assert.equal((await getSession(r.s.id)).status, 'in_progress');
      await sleep(1500);
      assert.equal(named(r.dv, 'video_ending_soon').length, 1, 'warned once');
      // past the limit: ended as the doctor's end would, with its reason
      await psql(`UPDATE video_sessions SET started_at = now() - interval '121 minutes' WHERE id = ${r.s.id};`);
      const done = await sessionUntil(r.s.id, (x) => x.status === 'completed', 'the call ended', 8000);
      assert.equal(done.end_reason, 'max_duration');
      for (const c of [r.dv, r.pv]) {
        await until(c.events, (ev) => ev.some((e) => e.name === 'video_session_updated' && e.env.session.status === 'completed'),
          8000, 'video_session_updated completed');
      }
      const visit = expectStatus(await get(`/api/visits/${done.visit_id}`, w.rec.access), 200).body;
      assert.equal(visit.status, 'completed');
    } finally {
      closeAll(r.dv, r.pv);
    }
  });

  test('a waiting patient hears nothing of the room but its own waiting; at the admission the other patient connections are closed', async () => {
    const w = await world();
    const { s } = await session(w);
    const [t1, t2, docTok] = await Promise.all([joinToken(s.id, w.pat.access), joinToken(s.id, w.pat.access),
      joinToken(s.id, w.doc.access)]);
    const first = await connected({ token: t1.token });
    await nth(first, 'session_state');
    let second;
    let dv;
    try {
      second = await connected({ token: t2.token });
      await nth(second, 'session_state');
      dv = await connected({ token: docTok.token });
      const seen = await nth(dv, 'session_state');
      assert.equal(seen.participants.find((x) => x.role === 'patient')?.state, 'waiting');
      // the doctor's arrival is the room's business: the waiting connections hear nothing of it
      await sleep(500);
      for (const c of [first, second]) {
        assert.deepEqual(c.events.map((e) => e.name).filter((n) => n !== 'session_state' && n !== 'video_session_updated'), []);
      }
      // the doctor admits the latest connection: the other one is told and closed
      dv.s.emit('admit_patient', {});
      await nth(second, 'patient_admitted', 1, 8000);
      const told = await nth(first, 'error', 1, 8000);
      assert.equal(told.code, 'admitted_elsewhere');
      await Promise.race([first.closed, sleep(5000).then(() => assert.fail('the other connection was not closed'))]);
      assert.deepEqual(named(first, 'patient_admitted'), []);
      // the admitted one hears the room from now on, the relay included
      await relay(dv, second, 'doctor', 'webrtc_offer', { sdp: 'v=0\r\ns=admitted\r\n' });
    } finally {
      closeAll(first, second, dv);
    }
  });

  test('video reconnection within the grace window: participant_reconnecting, then joined again still admitted', async () => {
    const w = await world();
    const r = await admitted(w);
    let back;
    try {
      // the patient's transport drops (no Socket.IO disconnect packet)
      r.pv.s.io.engine.close();
      const rc = await nth(r.dv, 'participant_reconnecting', 1, 8000);
      assert.deepEqual([rc.session_id, rc.role], [r.s.id, 'patient']);
      const joinsBefore = named(r.dv, 'participant_joined').filter((e) => e.role === 'patient').length;
      back = await connected({ token: r.patTok.token });
      const st = await nth(back, 'session_state');
      assert.equal(st.admitted, true, `back within the grace window but not admitted: ${JSON.stringify(st)}`);
      await until(r.dv.events, () => named(r.dv, 'participant_joined').filter((e) => e.role === 'patient').length > joinsBefore, 8000, 'participant_joined again');
      assert.deepEqual(named(r.dv, 'participant_left'), []);
      // no re-admission needed
      await relay(r.dv, back, 'doctor', 'webrtc_offer', { sdp: 'v=0\r\ns=resumed\r\n' });
      await relay(back, r.dv, 'patient', 'webrtc_answer', { sdp: 'v=0\r\ns=resumed-answer\r\n' });
      assert.equal((await getSession(r.s.id)).status, 'in_progress');
    } finally {
      closeAll(r.dv, r.pv, back);
    }
  });

  test('video grace window over (VIDEO_GRACE_SECONDS=1): participant_left, admission revoked, relay refused', async () => {
    const w = await world();
    const inst = await startSignaling({ VIDEO_GRACE_SECONDS: '1' });
    let r;
    let back;
    try {
      r = await admitted(w, { doctorUrl: inst.url, patientUrl: inst.url });
      r.pv.s.io.engine.close();
      const left = await nth(r.dv, 'participant_left', 1, 10000);
      assert.deepEqual([left.session_id, left.role], [r.s.id, 'patient']);
      back = await connected({ token: r.patTok.token }, inst.url);
      const st = await nth(back, 'session_state');
      assert.equal(st.admitted, false, 'admitted again after the grace window');
      back.s.emit('webrtc_offer', { sdp: 'v=0\r\n' });
      await nth(back, 'error');
      await never(r.dv, 'webrtc_offer');
    } finally {
      closeAll(r?.dv, r?.pv, back);
      await inst.stop();
    }
  });

  test('video admitted call with no quality sample (VIDEO_CONNECT_TIMEOUT_SECONDS=5): failed with never_connected', async () => {
    const w = await world();
    const inst = await startSignaling({ VIDEO_CONNECT_TIMEOUT_SECONDS: '5' });
    const da = await connected({ token: w.doc.access });
    let r;
    try {
      r = await admitted(w, { doctorUrl: inst.url, patientUrl: inst.url });
      const failed = await sessionUntil(r.s.id, (x) => !['in_progress', 'waiting', 'scheduled'].includes(x.status), 'the session to end', 20000);
      assert.equal(failed.status, 'failed');
      assert.match(failed.ended_at, INSTANT);
      assert.equal(failed.connected_at, null);
      await until(da.events, (ev) => ev.some((e) => e.name === 'video_session_updated' && e.env.session?.status === 'failed'), 8000, 'video_session_updated failed (doctor room)');
      await until(r.pv.events, (ev) => ev.some((e) => e.name === 'video_session_updated' && e.env.session?.status === 'failed'), 8000, 'video_session_updated failed (video room)');
      expectError(await post(`${V}/sessions/${r.s.id}/token`, undefined, w.doc.access), 409, 'conflict');
      assert.equal(failed.end_reason, 'never_connected', `end_reason: ${JSON.stringify(failed)}`);
    } finally {
      closeAll(da, r?.dv, r?.pv);
      await inst.stop();
    }
  });

  test('video room over the plain JSON protocol at /ws: session_state, relay with from, acks', async () => {
    const w = await world();
    const r = await waitingRoom(w);
    const frames = [];
    const sock = new WebSocket(`${SIGNALING_URL.replace('http', 'ws')}/ws`);
    sock.on('message', (d) => frames.push(JSON.parse(d.toString())));
    await new Promise((resolve, reject) => { sock.on('open', resolve); sock.on('error', reject); });
    const next = async (pred, what) => {
      await until(frames.map((f) => ({ name: f.event })), () => frames.some(pred), 8000, what);
      return frames.splice(frames.findIndex(pred), 1)[0];
    };
    try {
      // a second connection of the admitted patient, over /ws
      r.dv.s.emit('admit_patient', {});
      await nth(r.pv, 'patient_admitted', 1, 8000);
      sock.send(JSON.stringify({ event: 'auth', data: { token: r.patTok.token } }));
      const st = await next((f) => f.event === 'session_state', 'session_state over /ws');
      assert.deepEqual([st.data.session_id, st.data.role], [r.s.id, 'patient']);
      sock.send(JSON.stringify({ event: 'webrtc_answer', data: { sdp: 'v=0\r\ns=ws\r\n' }, ack: 5 }));
      assert.deepEqual(await next((f) => f.ack === 5, 'ack 5'), { ack: 5, data: { ok: true } });
      const got = await nth(r.dv, 'webrtc_answer', 1, 8000);
      assert.deepEqual([got.sdp, got.from], ['v=0\r\ns=ws\r\n', 'patient']);
      await r.dv.s.timeout(5000).emitWithAck('webrtc_offer', { sdp: 'v=0\r\ns=to-ws\r\n' });
      const offer = await next((f) => f.event === 'webrtc_offer', 'webrtc_offer over /ws');
      assert.deepEqual([offer.data.sdp, offer.data.from], ['v=0\r\ns=to-ws\r\n', 'doctor']);
    } finally {
      sock.close();
      closeAll(r.dv, r.pv);
    }
  });
});

