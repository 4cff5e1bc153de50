// Who saw this record (sql/0029_record_access.sql): every read of a patient's clinical data writes one
// record-access row naming the actor, their role and the request id, and reads of non-clinical data
// write none; GET /api/audit?patient_id= answers for admins and for the patient about themselves; video
// join tokens, invitations redeemed and joins and leaves of the room (through the real signaling-server)
// join the same trail; RECORD_ACCESS_LOG=0 (a throwaway api-server) writes nothing.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';

import { io } from 'socket.io-client';

import {
  asAdmin,
  createAppointment,
  createClinic,
  createService,
  expectError,
  expectStatus,
  get,
  listAll,
  moveVisit,
  patientSession,
  pickTodayZone,
  post,
  put,
  request,
  staffSession,
  startApi,
  walkIn,
} from '../lib/api.mjs';

const TZ = pickTodayZone(3);
const V = '/api/video-consultations';
const ACCESS_ACTIONS = new Set(['patient_record_read', 'evolution_read', 'visit_history_read', 'patient_history_read',
  'video_token_issue', 'video_invitation_redeem', 'video_join', 'video_leave']);
const instant = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A fresh clinic: a receptionist, a doctor, two patients with accounts, a 5-minute service.
async function world() {
  const clinic = await createClinic({ timezone: TZ });
  const [rec, doc, pat, pat2, service] = await Promise.all([
    staffSession('RECEPTIONIST', clinic.id),
    staffSession('DOCTOR', clinic.id),
    patientSession(clinic.id),
    patientSession(clinic.id),
    createService(clinic.id, { duration_minutes: 5 }),
  ]);
  return { clinic, rec, doc, pat, pat2, service, doctorId: doc.user.doctor_id, patientId: pat.patient.id, next: 0 };
}

// GET path as token with a request id of our own; returns {res, rid}.
async function read(path, token, opts = {}) {
  const rid = `rid-${randomUUID()}`;
  const res = await request('GET', path, { ...opts, token, headers: { 'x-request-id': rid } });
  return { res, rid };
}

// The record-access entries of patientId (as the admin), oldest first.
async function trail(patientId) {
  const items = await listAll(`/api/audit?patient_id=${patientId}`, await asAdmin());
  return items.filter((e) => ACCESS_ACTIONS.has(e.action)).reverse();
}

// Runs fn and returns the access entries of patientId it added.
async function added(patientId, fn) {
  const before = new Set((await trail(patientId)).map((e) => e.id));
  await fn();
  return (await trail(patientId)).filter((e) => !before.has(e.id));
}

// Asserts entries is exactly one access entry with these fields.
function one(entries, { action, entity, entityId, actor, role, rid, details = {} }) {
  assert.equal(entries.length, 1, `one entry expected: ${JSON.stringify(entries)}`);
  const [e] = entries;
  assert.equal(e.action, action);
  assert.equal(e.entity, entity);
  assert.equal(e.entity_id, entityId);
  assert.equal(e.actor_user_id, actor);
  assert.equal(e.actor_role, role);
  assert.equal(e.request_id, rid);
  for (const [k, v] of Object.entries(details)) assert.equal(e.details[k], v, `details.${k}`);
}

// A visit of w's patient with w's doctor in progress, and its evolution written (signed if asked).
async function visitWithEvolution(w, { signed = true } = {}) {
  const v = await walkIn(w.rec.access, { patient_id: w.patientId, doctor_id: w.doctorId, service_id: w.service.id });
  await moveVisit(v.id, 'with_doctor', w.rec.access);
  expectStatus(await put(`/api/visits/${v.id}/evolution`, { notes: 'Cough for a week.' }, w.doc.access), [200, 201]);
  if (signed) expectStatus(await post(`/api/visits/${v.id}/evolution/sign`, undefined, w.doc.access), 200);
  return v;
}

describe('reads of clinical data are logged once each', () => {
  test('the patient record: doctor, admin and the patient themselves each write one row with their request id; the desk view writes none', async () => {
    const w = await world();
    const admin = await asAdmin();
    const adminId = (await get('/api/auth/me', admin)).body.id;
    const path = `/api/patients/${w.patientId}`;
    for (const [token, actor, role] of [[w.doc.access, w.doc.id, 'DOCTOR'], [admin, adminId, 'ADMIN'], [w.pat.access, w.pat.user.id, 'PATIENT']]) {
      let rid;
      const rows = await added(w.patientId, async () => {
        const r = await read(path, token);
        expectStatus(r.res, 200);
        assert.ok('medical_history' in r.res.body, `${role} reads the clinical field`);
        rid = r.rid;
      });
      one(rows, { action: 'patient_record_read', entity: 'patient', entityId: w.patientId, actor, role, rid });
    }
    let rid;
    one(await added(w.patientId, async () => {
      const r = await read('/api/patients/me', w.pat.access);
      expectStatus(r.res, 200);
      rid = r.rid;
    }), { action: 'patient_record_read', entity: 'patient', entityId: w.patientId, actor: w.pat.user.id, role: 'PATIENT', rid });
    const desk = await added(w.patientId, async () => {
      const r = await read(path, w.rec.access);
      expectStatus(r.res, 200);
      assert.ok(!('medical_history' in r.res.body), 'the desk view has no clinical field');
    });
    assert.deepEqual(desk, [], 'a receptionist reads no clinical data');
  });

  test('an evolution, the history with a doctor and the patient own history: one row each, with what was read', async () => {
    const w = await world();
    const v = await visitWithEvolution(w);
    let rid;
    one(await added(w.patientId, async () => {
      const r = await read(`/api/visits/${v.id}/evolution`, w.doc.access);
      expectStatus(r.res, 200);
      rid = r.rid;
    }), { action: 'evolution_read', entity: 'evolution', entityId: v.id, actor: w.doc.id, role: 'DOCTOR', rid });
    one(await added(w.patientId, async () => {
      const r = await read(`/api/visits/${v.id}/evolution`, w.pat.access);
      expectStatus(r.res, 200);
      rid = r.rid;
    }), { action: 'evolution_read', entity: 'evolution', entityId: v.id, actor: w.pat.user.id, role: 'PATIENT', rid });
    one(await added(w.patientId, async () => {
      const r = await read(`/api/patients/${w.patientId}/history/${w.doctorId}?limit=1`, w.doc.access);
      expectStatus(r.res, 200);
      assert.equal(r.res.body.items.length, 1);
      rid = r.rid;
    }), { action: 'visit_history_read', entity: 'patient', entityId: w.patientId, actor: w.doc.id, role: 'DOCTOR', rid,
      details: { doctor_id: w.doctorId, patient_id: w.patientId } });
    one(await added(w.patientId, async () => {
      const r = await read('/api/patients/me/history', w.pat.access);
      expectStatus(r.res, 200);
      rid = r.rid;
    }), { action: 'patient_history_read', entity: 'patient', entityId: w.patientId, actor: w.pat.user.id, role: 'PATIENT', rid });
  });

  test('lists that show the clinical field log each patient of the page, not the row past it; the desk list logs none', async () => {
    const w = await world();
    const both = [w.patientId, w.pat2.patient.id];
    // One entry per patient of the page: the list of patients as a doctor, one page of one.
    const trails = async () => (await Promise.all(both.map((id) => trail(id)))).map((t) => t.length);
    const before = await trails();
    const { res, rid } = await read('/api/patients?limit=1', w.doc.access);
    const page = expectStatus(res, 200).body;
    assert.equal(page.items.length, 1);
    assert.ok(page.next_cursor, 'a second page exists');
    const shown = page.items[0].id;
    const after = await trails();
    assert.deepEqual(after.map((n, i) => n - before[i]), both.map((id) => (id === shown ? 1 : 0)));
    const [entry] = (await trail(shown)).slice(-1);
    one([entry], { action: 'patient_record_read', entity: 'patient', entityId: shown, actor: w.doc.id, role: 'DOCTOR', rid });
    // The desk's list shows no clinical field.
    const desk = await added(w.patientId, async () => expectStatus(await get('/api/patients?limit=200', w.rec.access), 200));
    assert.deepEqual(desk, []);
    // The doctor's own patients (with the clinical field): the one with a visit.
    await visitWithEvolution(w, { signed: false });
    let rid2;
    one(await added(w.patientId, async () => {
      const r = await read('/api/doctors/patients', w.doc.access);
      assert.deepEqual(expectStatus(r.res, 200).body.items.map((i) => i.patient.id), [w.patientId]);
      rid2 = r.rid;
    }), { action: 'patient_record_read', entity: 'patient', entityId: w.patientId, actor: w.doc.id, role: 'DOCTOR', rid: rid2 });
  });

  test('non-clinical reads and refused reads write nothing', async () => {
    const w = await world();
    const v = await visitWithEvolution(w, { signed: false });
    const other = await world();
    const appt = await createAppointment(w.rec.access, {
      patient_id: w.patientId, doctor_id: w.doctorId, service_id: w.service.id, start_time: instant(Date.now() + 2 * 3600000),
    });
    const rows = await added(w.patientId, async () => {
      expectStatus((await read(`/api/visits/${v.id}`, w.doc.access)).res, 200);
      expectStatus((await read(`/api/appointments/${appt.id}`, w.pat.access)).res, 200);
      expectStatus((await read(`/api/visits/${v.id}/transitions`, w.doc.access)).res, 200);
      expectStatus((await read(`/api/patients/${w.patientId}`, w.rec.access)).res, 200);
      // refused: another clinic's doctor, a patient reading an unsigned evolution, the desk on clinical routes
      expectError((await read(`/api/patients/${w.patientId}`, other.doc.access)).res, 404, 'not_found');
      expectError((await read(`/api/visits/${v.id}/evolution`, w.pat.access)).res, 404, 'not_found');
      expectError((await read(`/api/visits/${v.id}/evolution`, other.doc.access)).res, 404, 'not_found');
      expectError((await read(`/api/patients/${w.patientId}/history/${w.doctorId}`, other.doc.access)).res, [403, 404], ['forbidden', 'not_found']);
      expectError((await read(`/api/patients/${w.patientId}/history/${w.doctorId}`, w.rec.access)).res, 403, 'forbidden');
    });
    assert.deepEqual(rows, []);
  });
});

describe('GET /api/audit?patient_id=: who may ask', () => {
  test('admin and the patient themselves read the same trail; another patient (same or other clinic) is a 404; desk and doctors 403', async () => {
    const w = await world();
    const other = await world();
    expectStatus(await get(`/api/patients/${w.patientId}`, w.doc.access), 200);
    const admin = await listAll(`/api/audit?patient_id=${w.patientId}`, await asAdmin());
    const own = await listAll(`/api/audit?patient_id=${w.patientId}`, w.pat.access);
    const implicit = await listAll('/api/audit', w.pat.access);
    assert.ok(admin.some((e) => e.action === 'patient_record_read' && e.actor_user_id === w.doc.id), 'the doctor read is listed');
    assert.ok(admin.some((e) => e.action === 'patient_create' && e.entity_id === w.patientId), 'the record changes are listed');
    assert.deepEqual(own.map((e) => e.id), admin.map((e) => e.id));
    assert.deepEqual(implicit.map((e) => e.id), admin.map((e) => e.id), 'a patient without patient_id reads their own');
    for (const e of admin) assert.ok(e.details.patient_id === w.patientId || e.entity_id === w.patientId, JSON.stringify(e));
    expectError(await get(`/api/audit?patient_id=${w.pat2.patient.id}`, w.pat.access), 404, 'not_found');
    expectError(await get(`/api/audit?patient_id=${other.patientId}`, w.pat.access), 404, 'not_found');
    expectError(await get(`/api/audit?patient_id=${w.patientId}`, w.rec.access), 403, 'forbidden');
    expectError(await get(`/api/audit?patient_id=${w.patientId}`, w.doc.access), 403, 'forbidden');
    expectError(await get('/api/audit?patient_id=0', await asAdmin()), 400, 'invalid_query', ['patient_id']);
  });

  test('pages by one cursor through record changes and reads, newest first; the filters apply', async () => {
    const w = await world();
    for (let i = 0; i < 3; i++) expectStatus(await get(`/api/patients/${w.patientId}`, w.doc.access), 200);
    const all = await listAll(`/api/audit?patient_id=${w.patientId}`, await asAdmin());
    const paged = [];
    let cursor = null;
    do {
      const q = `/api/audit?patient_id=${w.patientId}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = expectStatus(await get(q, await asAdmin()), 200).body;
      assert.ok(page.items.length <= 2);
      paged.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    assert.deepEqual(paged.map((e) => e.id), all.map((e) => e.id));
    assert.deepEqual(all.map((e) => e.id), [...all.map((e) => e.id)].sort((a, b) => b - a), 'newest first');
    const reads = await listAll(`/api/audit?patient_id=${w.patientId}&action=patient_record_read&actor_user_id=${w.doc.id}`, await asAdmin());
    assert.equal(reads.length, 3);
    const none = await listAll(`/api/audit?patient_id=${w.patientId}&entity=evolution`, await asAdmin());
    assert.deepEqual(none, []);
  });
});

describe('video access joins the trail', () => {
  test('join tokens, an invitation redeemed, and the joins and leaves of the room', async () => {
    const w = await world();
    const appt = await createAppointment(w.rec.access, {
      patient_id: w.patientId, doctor_id: w.doctorId, service_id: w.service.id,
      start_time: instant(Math.ceil(Date.now() / 60000) * 60000 + 2 * 60000), consultation_type: 'video',
    });
    const s = expectStatus(await post(`${V}/sessions`, { appointment_id: appt.id }, w.rec.access), 201).body;
    let docRid;
    let docTok;
    one(await added(w.patientId, async () => {
      const rid = `rid-${randomUUID()}`;
      const r = await request('POST', `${V}/sessions/${s.id}/token`, { token: w.doc.access, headers: { 'x-request-id': rid } });
      docTok = expectStatus(r, 200).body.token;
      docRid = rid;
    }), { action: 'video_token_issue', entity: 'video_session', entityId: s.id, actor: w.doc.id, role: 'DOCTOR', rid: docRid });
    const inv = expectStatus(await post(`${V}/sessions/${s.id}/invite`, undefined, w.rec.access), 201).body;
    let redeemRid;
    one(await added(w.patientId, async () => {
      const rid = `rid-${randomUUID()}`;
      expectStatus(await request('POST', `${V}/invitations/redeem`, { body: { code: inv.code }, headers: { 'x-request-id': rid } }), 200);
      redeemRid = rid;
    }), { action: 'video_invitation_redeem', entity: 'video_session', entityId: s.id, actor: null, role: 'PATIENT', rid: redeemRid });

    const rows = await added(w.patientId, async () => {
      const c = io(process.env.SIGNALING_URL, { transports: ['websocket'], auth: { token: docTok }, reconnection: false, forceNew: true });
      await new Promise((resolve, reject) => { c.on('session_state', resolve); c.on('connect_error', reject); });
      c.close();
      const deadline = Date.now() + 8000;
      while (!(await trail(w.patientId)).some((e) => e.action === 'video_leave')) {
        assert.ok(Date.now() < deadline, 'the leave was recorded');
        await sleep(100);
      }
    });
    assert.deepEqual(rows.map((e) => [e.action, e.actor_user_id, e.actor_role, e.entity_id]),
      [['video_join', w.doc.id, 'DOCTOR', s.id], ['video_leave', w.doc.id, 'DOCTOR', s.id]]);
    assert.ok(rows.every((e) => e.request_id === null), 'joins and leaves come from the signaling-server');
  });
});

describe('RECORD_ACCESS_LOG=0', () => {
  test('switches the logging off (for measurements)', async () => {
    const w = await world();
    const api = await startApi({ RECORD_ACCESS_LOG: '0' });
    try {
      const rows = await added(w.patientId, async () => {
        const r = await request('GET', `/api/patients/${w.patientId}`, { token: w.doc.access, base: api.url });
        expectStatus(r, 200);
      });
      assert.deepEqual(rows, []);
    } finally {
      await api.stop();
    }
  });
});
