// Visits and the day's queue: check-in, walk-in, reading a visit and its transitions, call, left, the
// queue board (phases, counts, positions, estimated waits), phase moves, completing a consultation, the
// events every change announces, and the races the database must settle (VISITS.md).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  addDays,
  asAdmin,
  checkIn,
  completeVisit,
  createAppointment,
  createClinic,
  createPatient,
  createService,
  eventsEnd,
  eventsSince,
  expectError,
  expectStatus,
  get,
  listAll,
  localDate,
  moveVisit,
  patientSession,
  pickTodayZone,
  post,
  put,
  request,
  staffSession,
  uniq,
  walkIn,
} from '../lib/api.mjs';

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const NOT_FOUND_ID = 2147483000;
// A zone where it is still today two hours from now: appointments booked a little ahead are today's.
const TZ = pickTodayZone(2);

const VISIT_KEYS = [
  'id',
  'clinic_id',
  'patient_id',
  'doctor_id',
  'service_id',
  'appointment_id',
  'consultation_type',
  'status',
  'phase',
  'queue_date',
  'queue_number',
  'check_in_time',
  'called_at',
  'start_time',
  'end_time',
  'left_at',
  'left_reason',
  'notes',
  'created_at',
  'updated_at',
];
const SUMMARY_KEYS = ['id', 'clinic_id', 'doctor_id', 'patient_id', 'appointment_id', 'status', 'queue_date', 'queue_number', 'check_in_time', 'start_time', 'end_time'];
const ENTRY_EXTRA_KEYS = ['patient_name', 'service_name', 'doctor_name', 'minutes_waited', 'position', 'estimated_wait_minutes'];
const TRANSITION_KEYS = ['id', 'visit_id', 'from_status', 'to_status', 'actor_user_id', 'actor_role', 'actor_name', 'at', 'reason'];
const DEFAULT_MEDIAN = 15;

const instant = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const pick = (obj, keys) => Object.fromEntries(keys.map((k) => [k, obj[k]]));
const sorted = (list) => [...list].sort();
const names = (events) => sorted(events.map((e) => e.name));

function countBy(list, f) {
  const out = {};
  for (const x of list) out[f(x)] = (out[f(x)] || 0) + 1;
  return out;
}

// A fresh clinic in TZ: two receptionists, two doctors and two patients with accounts (all logged in),
// a 5-minute service. `today` is the clinic's local date; bookings of the world go to distinct
// 5-minute times starting 10 minutes from now (so they never overlap and stay on today's date).
async function world({ patient = {} } = {}) {
  const clinic = await createClinic({ timezone: TZ });
  const [rec, rec2, doc, doc2, pat, pat2, service] = await Promise.all([
    staffSession('RECEPTIONIST', clinic.id),
    staffSession('RECEPTIONIST', clinic.id),
    staffSession('DOCTOR', clinic.id),
    staffSession('DOCTOR', clinic.id),
    patientSession(clinic.id, patient),
    patientSession(clinic.id),
    createService(clinic.id, { duration_minutes: 5 }),
  ]);
  return {
    clinic,
    rec,
    rec2,
    doc,
    doc2,
    pat,
    pat2,
    service,
    doctorId: doc.user.doctor_id,
    doctor2Id: doc2.user.doctor_id,
    patientId: pat.patient.id,
    patient2Id: pat2.patient.id,
    today: localDate(TZ),
    base: Math.ceil(Date.now() / 60000) * 60000 + 10 * 60000,
    slots: 0,
  };
}

// The next free booking time of w (today, in the future).
function nextStart(w) {
  const at = instant(w.base + w.slots++ * 5 * 60000);
  assert.equal(localDate(TZ, Date.parse(at)), w.today, `test setup: ${at} is not today (${w.today}) in ${TZ}`);
  return at;
}

// Books an appointment of today (as the receptionist unless token is given): the first patient with the
// first doctor, the 5-minute service, in person, unless fields say otherwise.
const bookToday = (w, fields = {}, token) =>
  createAppointment(token || w.rec.access, {
    patient_id: w.patientId,
    doctor_id: w.doctorId,
    service_id: w.service.id,
    start_time: nextStart(w),
    ...fields,
  });

// Books an appointment 24 hours from now: another local day.
async function bookTomorrow(w, fields = {}) {
  const at = instant(w.base + 24 * 3600000);
  assert.notEqual(localDate(TZ, Date.parse(at)), w.today);
  return bookToday(w, { start_time: at, ...fields });
}

const newPatient = (w, fields = {}) => createPatient(w.rec.access, { full_name: `Patient ${uniq()}`, ...fields });
const walkInBody = (w, fields = {}) => ({ patient_id: w.patientId, doctor_id: w.doctorId, ...fields });
const tryWalkIn = (w, fields = {}, token) => post('/api/visits', walkInBody(w, fields), token || w.rec.access);
const tryCheckIn = (id, token, body) => post(`/api/appointments/${id}/check-in`, body, token);
const tryMove = (id, phase, token) => post('/api/queue/phase/move', { visit_id: id, phase }, token);
const tryComplete = (id, token, fields = {}) => post('/api/queue/complete-consultation', { visit_id: id, ...fields }, token);
const call = (id, token, body) => post(`/api/visits/${id}/call`, body, token);
const left = (id, token, body) => post(`/api/visits/${id}/left`, body, token);

async function getVisit(id, token) {
  return expectStatus(await get(`/api/visits/${id}`, token || (await asAdmin())), 200).body;
}
async function getAppointment(id) {
  return expectStatus(await get(`/api/appointments/${id}`, await asAdmin()), 200).body;
}
async function transitions(id, token) {
  return listAll(`/api/visits/${id}/transitions`, token || (await asAdmin()));
}
async function board(token, query = '') {
  return expectStatus(await get(`/api/queue${query ? `?${query}` : ''}`, token), 200).body;
}
async function auditRows(query) {
  return listAll(`/api/audit?${query}`, await asAdmin());
}
const me = async (token) => expectStatus(await get('/api/auth/me', token), 200).body;

function assertVisitShape(v) {
  for (const k of VISIT_KEYS) assert.ok(k in v, `Visit has no ${k}: ${JSON.stringify(v)}`);
  assert.ok(Number.isInteger(v.id) && v.id > 0, `id: ${v.id}`);
  assert.ok(Number.isInteger(v.queue_number) && v.queue_number >= 1, `queue_number: ${v.queue_number}`);
  for (const k of ['check_in_time', 'created_at', 'updated_at']) assert.match(v[k], INSTANT, `${k}: ${v[k]}`);
  const phase = { waiting: 'waiting', called: 'waiting', in_progress: 'with_doctor', completed: 'completed', left: 'left' }[v.status];
  assert.equal(v.phase, phase, `phase of a ${v.status} visit`);
  assert.equal(v.start_time !== null, ['in_progress', 'completed'].includes(v.status), `start_time of a ${v.status} visit: ${v.start_time}`);
  assert.equal(v.end_time !== null, v.status === 'completed', `end_time of a ${v.status} visit: ${v.end_time}`);
  assert.equal(v.left_at !== null, v.status === 'left', `left_at of a ${v.status} visit: ${v.left_at}`);
  assert.equal(v.left_reason !== null, v.status === 'left', `left_reason of a ${v.status} visit: ${v.left_reason}`);
}

// Asserts an instant is within a minute of now (the server and the tests share a clock).
function assertRecent(iso, what) {
  assert.match(iso ?? '', INSTANT, `${what}: ${iso}`);
  assert.ok(Math.abs(Date.parse(iso) - Date.now()) < 60000, `${what} ${iso} is not about now`);
}

function expectConflict(res, pattern) {
  expectError(res, 409, 'conflict');
  if (pattern) assert.match(res.body.error.message, pattern, `the 409 message: ${res.body.error.message}`);
}

// "Firstname L." as APPOINTMENTS.md defines patient_label.
function label(fullName) {
  const parts = fullName.trim().split(/\s+/);
  return parts.length > 1 ? `${parts[0]} ${parts.at(-1)[0]}.` : parts[0];
}

describe('check-in', () => {
  test('check-in: 201 waiting visit of the appointment; appointment checked_in; numbers 1, 2; transition; audit', async () => {
    const w = await world();
    const admin = await asAdmin();
    const a = await bookToday(w, { consultation_type: 'video', notes: 'Retorno' });
    const res = await tryCheckIn(a.id, w.rec.access, { notes: 'Trouxe exames' });
    const v = expectStatus(res, 201).body;
    assertVisitShape(v);
    assert.deepEqual(pick(v, VISIT_KEYS.filter((k) => !['id', 'check_in_time', 'created_at', 'updated_at'].includes(k))), {
      clinic_id: w.clinic.id,
      patient_id: w.patientId,
      doctor_id: w.doctorId,
      service_id: w.service.id,
      appointment_id: a.id,
      consultation_type: 'video',
      status: 'waiting',
      phase: 'waiting',
      queue_date: w.today,
      queue_number: 1,
      called_at: null,
      start_time: null,
      end_time: null,
      left_at: null,
      left_reason: null,
      notes: 'Trouxe exames',
    });
    assertRecent(v.check_in_time, 'check_in_time');
    assert.equal((await getAppointment(a.id)).status, 'checked_in');
    for (const token of [w.rec.access, w.rec2.access, admin, w.doc.access, w.pat.access]) assert.deepEqual(await getVisit(v.id, token), v);

    // the next check-in of the clinic that day (by an admin, no body): number 2, notes null
    const b = await bookToday(w, { patient_id: w.patient2Id, doctor_id: w.doctor2Id });
    const v2 = await checkIn(b.id, admin);
    assert.deepEqual(pick(v2, ['queue_number', 'queue_date', 'patient_id', 'doctor_id', 'appointment_id', 'consultation_type', 'notes', 'status']), {
      queue_number: 2,
      queue_date: w.today,
      patient_id: w.patient2Id,
      doctor_id: w.doctor2Id,
      appointment_id: b.id,
      consultation_type: 'in_person',
      notes: null,
      status: 'waiting',
    });

    const t = await transitions(v.id, w.rec.access);
    assert.equal(t.length, 1, JSON.stringify(t));
    for (const k of TRANSITION_KEYS) assert.ok(k in t[0], `VisitTransition has no ${k}: ${JSON.stringify(t[0])}`);
    assert.deepEqual(pick(t[0], ['visit_id', 'from_status', 'to_status', 'actor_user_id', 'actor_role', 'actor_name']), {
      visit_id: v.id,
      from_status: null,
      to_status: 'waiting',
      actor_user_id: w.rec.id,
      actor_role: 'RECEPTIONIST',
      actor_name: w.rec.user.full_name,
    });
    assertRecent(t[0].at, 'transition at');

    assert.equal((await auditRows(`action=visit_check_in&actor_user_id=${w.rec.id}`)).length, 1, 'one visit_check_in audit row');
  });

  test('check-in validation: notes null or up to 500 chars; wrong types and unknown fields 422; malformed JSON 400', async () => {
    const w = await world();
    const a = await bookToday(w);
    for (const [body, field] of [
      [{ notes: 'n'.repeat(501) }, 'notes'],
      [{ notes: 5 }, 'notes'],
      [{ notes: true }, 'notes'],
      [{ notes: ['x'] }, 'notes'],
      [{ notes: { text: 'x' } }, 'notes'],
      [{ foo: 1 }, 'foo'],
      [{ status: 'waiting' }, 'status'],
      [{ queue_number: 1 }, 'queue_number'],
      [{ patient_id: w.patient2Id }, 'patient_id'],
    ]) {
      expectError(await tryCheckIn(a.id, w.rec.access, body), 422, 'validation_failed', [field]);
    }
    for (const raw of ['not json', '{"notes":', '[1]', '"x"']) {
      expectError(await request('POST', `/api/appointments/${a.id}/check-in`, { raw, token: w.rec.access }), 400, 'malformed_json');
    }
    assert.equal((await getAppointment(a.id)).status, 'confirmed', 'a refused check-in changes nothing');
    assert.deepEqual((await board(w.rec.access)).phases.waiting, []);

    const v = await checkIn(a.id, w.rec.access, { notes: 'n'.repeat(500) });
    assert.equal(v.notes.length, 500);
    assert.equal(v.queue_number, 1, 'the refused check-ins took no number');
    const b = await bookToday(w, { patient_id: w.patient2Id });
    const v2 = await checkIn(b.id, w.rec.access, { notes: null });
    assert.deepEqual([v2.notes, v2.queue_number], [null, 2]);
    const c = await bookToday(w, { patient_id: (await newPatient(w)).id });
    assert.equal((await checkIn(c.id, w.rec.access, {})).queue_number, 3);
  });

  test('check-in: 409 unless confirmed and today, or when the patient is already in the queue; refused ones take no number', async () => {
    const w = await world();
    const [pA, pB, pC] = [w.patientId, w.patient2Id, (await newPatient(w)).id];
    const first = await walkIn(w.rec.access, walkInBody(w, { patient_id: pA }));
    assert.equal(first.queue_number, 1);

    const apptB = await bookToday(w, { patient_id: pB });
    const vB = await checkIn(apptB.id, w.rec.access);
    assert.equal(vB.queue_number, 2);
    // already checked in
    expectConflict(await tryCheckIn(apptB.id, w.rec.access));
    // cancelled
    const cancelled = await bookToday(w, { patient_id: pC });
    expectStatus(await post(`/api/appointments/${cancelled.id}/cancel`, { reason: 'Desistiu' }, w.rec.access), 200);
    expectConflict(await tryCheckIn(cancelled.id, w.rec.access));
    // another day
    const tomorrow = await bookTomorrow(w, { patient_id: pC });
    expectConflict(await tryCheckIn(tomorrow.id, w.rec.access), /today|day/i);
    assert.equal((await getAppointment(tomorrow.id)).status, 'confirmed');
    // the patient is already waiting (walk-in)
    const apptA = await bookToday(w, { patient_id: pA, doctor_id: w.doctor2Id });
    expectConflict(await tryCheckIn(apptA.id, w.rec.access), /already in the queue/i);
    assert.equal((await getAppointment(apptA.id)).status, 'confirmed');

    // gap-free: the refusals took no number
    const apptC = await bookToday(w, { patient_id: pC });
    assert.equal((await checkIn(apptC.id, w.rec.access)).queue_number, 3);

    // called and in_progress visits are active too; left and completed ones are not
    expectStatus(await call(vB.id, w.rec.access), 200);
    expectConflict(await tryWalkIn(w, { patient_id: pB, doctor_id: w.doctor2Id }), /already in the queue/i);
    await moveVisit(vB.id, 'with_doctor', w.rec.access);
    expectConflict(await tryWalkIn(w, { patient_id: pB }), /already in the queue/i);
    await completeVisit(vB.id, w.doc.access);
    expectStatus(await left(first.id, w.rec.access), 200);
    assert.equal((await checkIn(apptA.id, w.rec.access)).queue_number, 4);
    assert.equal((await walkIn(w.rec.access, walkInBody(w, { patient_id: pB }))).queue_number, 5);
    assert.deepEqual(
      (await board(w.rec.access)).phases.waiting.map((e) => [e.patient_id, e.queue_number]),
      [[pC, 3], [pA, 4], [pB, 5]],
    );
  });

  test('check-in permissions: admin any clinic, receptionist own clinic (else 404); doctor and patient 403', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const admin = await asAdmin();
    const a = await bookToday(w);
    expectError(await tryCheckIn(a.id, o.rec.access), 404, 'not_found');
    expectError(await tryCheckIn(a.id, w.doc.access), 403, 'forbidden');
    expectError(await tryCheckIn(a.id, w.pat.access), 403, 'forbidden');
    expectError(await tryCheckIn(a.id, o.doc.access), 403, 'forbidden');
    expectError(await tryCheckIn(NOT_FOUND_ID, w.rec.access), 404, 'not_found');
    expectError(await tryCheckIn(NOT_FOUND_ID, admin), 404, 'not_found');
    assert.equal((await getAppointment(a.id)).status, 'confirmed');
    assert.deepEqual(await auditRows(`action=visit_check_in&actor_user_id=${o.rec.id}`), []);

    const v = await checkIn(a.id, admin);
    assert.deepEqual([v.clinic_id, v.queue_number, v.appointment_id], [w.clinic.id, 1, a.id]);
    // the other clinic numbers its own day from 1
    const b = await bookToday(o);
    assert.deepEqual([(await checkIn(b.id, o.rec.access)).queue_number], [1]);
  });
});

describe('walk-in', () => {
  test('walk-in: 201 waiting visit without appointment; in_person by default; service optional; admin in the doctor\'s clinic', async () => {
    const w = await world();
    const admin = await asAdmin();
    const res = await tryWalkIn(w);
    const v = expectStatus(res, 201).body;
    assertVisitShape(v);
    assert.deepEqual(pick(v, VISIT_KEYS.filter((k) => !['id', 'check_in_time', 'created_at', 'updated_at'].includes(k))), {
      clinic_id: w.clinic.id,
      patient_id: w.patientId,
      doctor_id: w.doctorId,
      service_id: null,
      appointment_id: null,
      consultation_type: 'in_person',
      status: 'waiting',
      phase: 'waiting',
      queue_date: w.today,
      queue_number: 1,
      called_at: null,
      start_time: null,
      end_time: null,
      left_at: null,
      left_reason: null,
      notes: null,
    });
    assertRecent(v.check_in_time, 'check_in_time');
    assert.deepEqual(await getVisit(v.id, w.rec.access), v);

    const v2 = await walkIn(w.rec2.access, {
      patient_id: w.patient2Id,
      doctor_id: w.doctor2Id,
      service_id: w.service.id,
      consultation_type: 'video',
      notes: 'Sem agendamento',
    });
    assert.deepEqual(pick(v2, ['queue_number', 'service_id', 'consultation_type', 'notes', 'appointment_id', 'doctor_id']), {
      queue_number: 2,
      service_id: w.service.id,
      consultation_type: 'video',
      notes: 'Sem agendamento',
      appointment_id: null,
      doctor_id: w.doctor2Id,
    });
    // an admin: the visit joins the doctor's clinic
    const p = await newPatient(w);
    const v3 = await walkIn(admin, { patient_id: p.id, doctor_id: w.doctorId, service_id: null, notes: null, consultation_type: 'in_person' });
    assert.deepEqual([v3.clinic_id, v3.queue_number, v3.service_id, v3.notes], [w.clinic.id, 3, null, null]);

    assert.equal((await auditRows(`action=visit_walk_in&actor_user_id=${w.rec.id}`)).length, 1, 'one visit_walk_in audit row');
    const t = await transitions(v3.id);
    assert.deepEqual(t.map((x) => [x.from_status, x.to_status, x.actor_role]), [[null, 'waiting', 'ADMIN']]);
  });

  test('walk-in validation: 422 naming every bad field, unknown fields too; nothing queued', async () => {
    const w = await world();
    expectError(await post('/api/visits', {}, w.rec.access), 422, 'validation_failed', ['patient_id', 'doctor_id']);
    expectError(
      await post('/api/visits', { patient_id: 'x', doctor_id: -1, consultation_type: 'phone', notes: 'n'.repeat(501), extra: 1 }, w.rec.access),
      422,
      'validation_failed',
      ['patient_id', 'doctor_id', 'consultation_type', 'notes', 'extra'],
    );
    const bad = [
      [{ patient_id: undefined }, 'patient_id'],
      [{ patient_id: null }, 'patient_id'],
      [{ patient_id: 0 }, 'patient_id'],
      [{ patient_id: -2 }, 'patient_id'],
      [{ patient_id: 1.5 }, 'patient_id'],
      [{ patient_id: String(w.patientId) }, 'patient_id'],
      [{ doctor_id: undefined }, 'doctor_id'],
      [{ doctor_id: null }, 'doctor_id'],
      [{ doctor_id: true }, 'doctor_id'],
      [{ doctor_id: [w.doctorId] }, 'doctor_id'],
      [{ service_id: 'one' }, 'service_id'],
      [{ service_id: 0 }, 'service_id'],
      [{ consultation_type: 'VIDEO' }, 'consultation_type'],
      [{ consultation_type: null }, 'consultation_type'],
      [{ consultation_type: 1 }, 'consultation_type'],
      [{ notes: 7 }, 'notes'],
      [{ notes: 'n'.repeat(501) }, 'notes'],
      [{ status: 'called' }, 'status'],
      [{ queue_number: 3 }, 'queue_number'],
      [{ appointment_id: 1 }, 'appointment_id'],
      [{ clinic_id: w.clinic.id }, 'clinic_id'],
    ];
    for (const [fields, field] of bad) {
      expectError(await tryWalkIn(w, fields), 422, 'validation_failed', [field]);
    }
    expectError(await request('POST', '/api/visits', { raw: '{"patient_id": 1,', token: w.rec.access }), 400, 'malformed_json');
    const b = await board(w.rec.access);
    assert.deepEqual(b.counts, { waiting: 0, with_doctor: 0, completed: 0, left: 0 });
    assert.equal((await walkIn(w.rec.access, walkInBody(w, { notes: 'n'.repeat(500) }))).queue_number, 1, 'the refusals took no number');
  });

  test('walk-in: unknown or other-clinic ids and inactive services are 422 naming the field', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const admin = await asAdmin();
    const inactive = await createService(w.clinic.id, { active: false });
    const cases = [
      [{ patient_id: o.patientId }, 'patient_id'],
      [{ doctor_id: o.doctorId }, 'doctor_id'],
      [{ service_id: o.service.id }, 'service_id'],
      [{ patient_id: NOT_FOUND_ID }, 'patient_id'],
      [{ doctor_id: NOT_FOUND_ID }, 'doctor_id'],
      [{ service_id: NOT_FOUND_ID }, 'service_id'],
      [{ service_id: inactive.id }, 'service_id'],
    ];
    for (const [fields, field] of cases) {
      expectError(await tryWalkIn(w, fields), 422, 'validation_failed', [field]);
    }
    // an admin: the patient and the service must be of the doctor's clinic
    for (const [fields, field] of [
      [{ patient_id: o.patientId }, 'patient_id'],
      [{ service_id: o.service.id }, 'service_id'],
      [{ service_id: inactive.id }, 'service_id'],
      [{ patient_id: NOT_FOUND_ID }, 'patient_id'],
      [{ doctor_id: NOT_FOUND_ID }, 'doctor_id'],
    ]) {
      expectError(await tryWalkIn(w, fields, admin), 422, 'validation_failed', [field]);
    }
    assert.deepEqual((await board(w.rec.access)).counts, { waiting: 0, with_doctor: 0, completed: 0, left: 0 });
    assert.deepEqual((await board(o.rec.access)).counts, { waiting: 0, with_doctor: 0, completed: 0, left: 0 });
  });

  test('walk-in permissions: doctor and patient 403; a patient already in the queue 409', async () => {
    const w = await world();
    expectError(await tryWalkIn(w, {}, w.doc.access), 403, 'forbidden');
    expectError(await tryWalkIn(w, {}, w.pat.access), 403, 'forbidden');
    const v = await walkIn(w.rec.access, walkInBody(w));
    expectConflict(await tryWalkIn(w), /already in the queue/i);
    expectConflict(await tryWalkIn(w, { doctor_id: w.doctor2Id }, w.rec2.access), /already in the queue/i);
    expectConflict(await tryWalkIn(w, {}, await asAdmin()), /already in the queue/i);
    const next = await walkIn(w.rec.access, walkInBody(w, { patient_id: w.patient2Id }));
    assert.deepEqual([v.queue_number, next.queue_number], [1, 2]);
  });
});

describe('reading visits', () => {
  test('GET /visits/{id} and its transitions: admin, the clinic\'s receptionists, the visit\'s doctor and patient; others 404', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const admin = await asAdmin();
    const v = await walkIn(w.rec.access, walkInBody(w));
    for (const token of [admin, w.rec.access, w.rec2.access, w.doc.access, w.pat.access]) {
      assert.deepEqual(await getVisit(v.id, token), v);
      const t = expectStatus(await get(`/api/visits/${v.id}/transitions`, token), 200).body;
      assert.deepEqual([t.items.length, t.next_cursor, t.items[0].visit_id], [1, null, v.id]);
    }
    for (const token of [w.doc2.access, w.pat2.access, o.rec.access, o.doc.access, o.pat.access]) {
      expectError(await get(`/api/visits/${v.id}`, token), 404, 'not_found');
      expectError(await get(`/api/visits/${v.id}/transitions`, token), 404, 'not_found');
    }
    for (const token of [admin, w.rec.access, w.doc.access, w.pat.access]) {
      expectError(await get(`/api/visits/${NOT_FOUND_ID}`, token), 404, 'not_found');
      expectError(await get(`/api/visits/${NOT_FOUND_ID}/transitions`, token), 404, 'not_found');
    }
    expectError(await get(`/api/visits/${v.id}`), 401, 'unauthorized');
  });

  test('transitions: every change with who made it, oldest first, cursor-paginated; bad limit or cursor 400', async () => {
    const w = await world();
    const admin = await asAdmin();
    const adminUser = await me(admin);
    const v = await walkIn(w.rec.access, walkInBody(w));
    expectStatus(await call(v.id, w.doc.access), 200);
    await moveVisit(v.id, 'with_doctor', w.rec2.access);
    await moveVisit(v.id, 'waiting', admin);
    await moveVisit(v.id, 'with_doctor', w.rec.access);
    await completeVisit(v.id, w.doc.access);

    const all = await transitions(v.id, w.rec.access);
    assert.deepEqual(
      all.map((t) => [t.from_status, t.to_status, t.actor_user_id, t.actor_role, t.actor_name]),
      [
        [null, 'waiting', w.rec.id, 'RECEPTIONIST', w.rec.user.full_name],
        ['waiting', 'called', w.doc.id, 'DOCTOR', w.doc.user.full_name],
        ['called', 'in_progress', w.rec2.id, 'RECEPTIONIST', w.rec2.user.full_name],
        ['in_progress', 'waiting', adminUser.id, 'ADMIN', adminUser.full_name],
        ['waiting', 'in_progress', w.rec.id, 'RECEPTIONIST', w.rec.user.full_name],
        ['in_progress', 'completed', w.doc.id, 'DOCTOR', w.doc.user.full_name],
      ],
    );
    for (const t of all) {
      assert.equal(t.visit_id, v.id);
      assert.match(t.at, INSTANT);
    }
    for (let i = 1; i < all.length; i++) assert.ok(all[i].at >= all[i - 1].at, 'transitions are oldest first');
    assert.equal(new Set(all.map((t) => t.id)).size, all.length);
    assert.deepEqual(await transitions(v.id, w.pat.access), all);

    const seen = [];
    let cursor = null;
    for (let page = 0; page < 10; page++) {
      const body = expectStatus(
        await get(`/api/visits/${v.id}/transitions?limit=4${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, w.doc.access),
        200,
      ).body;
      assert.ok(body.items.length <= 4);
      seen.push(...body.items);
      if (body.next_cursor === null) break;
      cursor = body.next_cursor;
    }
    assert.deepEqual(seen, all);

    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=201', 'limit'],
      ['limit=abc', 'limit'],
      ['cursor=not-a-cursor', null],
    ]) {
      expectError(await get(`/api/visits/${v.id}/transitions?${query}`, w.rec.access), 400, 'invalid_query', field ? [field] : undefined);
    }
  });
});

describe('call and left', () => {
  test('call: waiting -> called with called_at (receptionist, admin or the visit\'s doctor); then 409', async () => {
    const w = await world();
    const admin = await asAdmin();
    const v = await walkIn(w.rec.access, walkInBody(w));
    const res = await call(v.id, w.rec.access);
    const c = expectStatus(res, 200).body;
    assertVisitShape(c);
    assert.deepEqual({ ...c, called_at: null, updated_at: null }, { ...v, status: 'called', phase: 'waiting', called_at: null, updated_at: null });
    assertRecent(c.called_at, 'called_at');
    assert.ok(c.called_at >= v.check_in_time);
    assert.deepEqual(await getVisit(v.id), c);
    expectConflict(await call(v.id, w.rec.access));
    expectConflict(await call(v.id, w.doc.access));

    // the doctor calls their own patient, with an empty body; an admin with {}
    const v2 = await walkIn(w.rec.access, walkInBody(w, { patient_id: w.patient2Id }));
    assert.equal(expectStatus(await call(v2.id, w.doc.access, {}), 200).body.status, 'called');
    const v3 = await walkIn(w.rec.access, walkInBody(w, { patient_id: (await newPatient(w)).id, doctor_id: w.doctor2Id }));
    assert.equal(expectStatus(await call(v3.id, admin, {}), 200).body.status, 'called');

    // not from in_progress, completed or left
    await moveVisit(v.id, 'with_doctor', w.rec.access);
    expectConflict(await call(v.id, w.rec.access));
    await completeVisit(v.id, w.doc.access);
    expectConflict(await call(v.id, w.doc.access));
    expectStatus(await left(v2.id, w.rec.access), 200);
    expectConflict(await call(v2.id, w.rec.access));
    assert.equal((await auditRows(`action=visit_call&actor_user_id=${w.rec.id}`)).length, 1);
  });

  test('call: another doctor or clinic 404, a patient 403, unknown fields 422', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const v = await walkIn(w.rec.access, walkInBody(w));
    expectError(await call(v.id, w.doc2.access), 404, 'not_found');
    expectError(await call(v.id, o.rec.access), 404, 'not_found');
    expectError(await call(v.id, o.doc.access), 404, 'not_found');
    expectError(await call(NOT_FOUND_ID, w.rec.access), 404, 'not_found');
    expectError(await call(v.id, w.pat.access), 403, 'forbidden');
    expectError(await call(v.id, w.rec.access, { status: 'called' }), 422, 'validation_failed', ['status']);
    expectError(await call(v.id, w.rec.access, { foo: null }), 422, 'validation_failed', ['foo']);
    expectError(await request('POST', `/api/visits/${v.id}/call`, { raw: '{"', token: w.rec.access }), 400, 'malformed_json');
    assert.deepEqual(await getVisit(v.id), v);
  });

  test('left: waiting or called -> left with left_at; from in_progress, completed or left 409; roles', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const admin = await asAdmin();
    const v = await walkIn(w.rec.access, walkInBody(w));
    expectError(await left(v.id, w.doc.access), 403, 'forbidden');
    expectError(await left(v.id, w.pat.access), 403, 'forbidden');
    expectError(await left(v.id, o.rec.access), 404, 'not_found');
    expectError(await left(NOT_FOUND_ID, admin), 404, 'not_found');
    expectError(await left(v.id, w.rec.access, { reason: 'x' }), 422, 'validation_failed', ['reason']);
    assert.deepEqual(await getVisit(v.id), v);

    const l = expectStatus(await left(v.id, w.rec.access), 200).body;
    assertVisitShape(l);
    assert.deepEqual({ ...l, left_at: null, updated_at: null }, { ...v, status: 'left', phase: 'left', left_at: null, left_reason: 'patient_left', updated_at: null });
    assertRecent(l.left_at, 'left_at');
    expectConflict(await left(v.id, w.rec.access));

    const v2 = await walkIn(w.rec.access, walkInBody(w, { patient_id: w.patient2Id }));
    expectStatus(await call(v2.id, w.rec.access), 200);
    const l2 = expectStatus(await left(v2.id, admin, {}), 200).body;
    assert.deepEqual([l2.status, l2.phase, l2.called_at !== null], ['left', 'left', true]);

    const v3 = await walkIn(w.rec.access, walkInBody(w, { patient_id: (await newPatient(w)).id }));
    await moveVisit(v3.id, 'with_doctor', w.rec.access);
    expectConflict(await left(v3.id, w.rec.access));
    await completeVisit(v3.id, w.doc.access);
    expectConflict(await left(v3.id, w.rec.access));
    assert.deepEqual((await transitions(v2.id)).map((t) => [t.to_status, t.reason]), [['waiting', null], ['called', null], ['left', 'patient_left']]);
    assert.equal((await auditRows(`action=visit_left&actor_user_id=${w.rec.id}`)).length, 1);
  });
});

describe('queue board', () => {
  test('board: phases by queue number, counts, positions per doctor, estimated waits, names, minutes waited', async () => {
    const t0 = Date.now();
    const w = await world();
    const docA = w.doctorId;
    const docB = w.doctor2Id;
    const patients = [w.pat.patient, w.pat2.patient, ...(await Promise.all([1, 2, 3, 4].map(() => newPatient(w))))];
    const plan = [
      [docA, w.service.id], // q1
      [docB, null], // q2
      [docA, null], // q3
      [docA, w.service.id], // q4
      [docB, null], // q5
      [docA, null], // q6 (leaves)
    ];
    const visits = [];
    for (const [i, [doctor_id, service_id]] of plan.entries()) {
      visits.push(await walkIn(w.rec.access, { patient_id: patients[i].id, doctor_id, ...(service_id ? { service_id } : {}) }));
    }
    assert.deepEqual(visits.map((v) => v.queue_number), [1, 2, 3, 4, 5, 6]);
    const [v1, v2, v3, v4, v5, v6] = visits;
    expectStatus(await left(v6.id, w.rec.access), 200);

    // nobody with a doctor yet, no completed visits: m = 15 for both doctors
    let b = await board(w.rec.access);
    assert.deepEqual(
      b.phases.waiting.map((e) => [e.id, e.position, e.estimated_wait_minutes]),
      [
        [v1.id, 1, 0],
        [v2.id, 1, 0],
        [v3.id, 2, DEFAULT_MEDIAN],
        [v4.id, 3, 2 * DEFAULT_MEDIAN],
        [v5.id, 2, DEFAULT_MEDIAN],
      ],
    );
    assert.deepEqual(b.counts, { waiting: 5, with_doctor: 0, completed: 0, left: 1 });

    // v3 is called (still in the waiting phase, same place); v1 goes in to doctor A; doctor B sees v2
    // and completes it (a few seconds: m = 1 minute, rounded up)
    expectStatus(await call(v3.id, w.rec.access), 200);
    await moveVisit(v1.id, 'with_doctor', w.rec.access);
    await moveVisit(v2.id, 'with_doctor', w.rec.access);
    await completeVisit(v2.id, w.doc2.access);

    b = await board(w.rec.access);
    assert.ok(Date.now() - t0 < 50000, 'test setup took too long for whole-minute expectations');
    assert.deepEqual(pick(b, ['clinic_id', 'date', 'doctor_id']), { clinic_id: w.clinic.id, date: w.today, doctor_id: null });
    assertRecent(b.generated_at, 'generated_at');
    assert.match(b.generated_at, /:00Z$/, 'generated_at is the start of a minute');
    const mA = DEFAULT_MEDIAN;
    const mB = 1;
    assert.equal(b.median_consultation_minutes[String(docA)], mA);
    assert.equal(b.median_consultation_minutes[String(docB)], mB);
    for (const k of Object.keys(b.median_consultation_minutes)) assert.ok([String(docA), String(docB)].includes(k), `median of doctor ${k}?`);
    assert.deepEqual(b.counts, { waiting: 3, with_doctor: 1, completed: 1, left: 1 });

    const fresh = Object.fromEntries(await Promise.all(visits.map(async (v) => [v.id, await getVisit(v.id)])));
    const start1 = Date.parse(fresh[v1.id].start_time);
    // minutes count up to generated_at, the start of the minute the board was read in (at least 0)
    const busyA = Math.max(0, Math.floor((Date.parse(b.generated_at) - start1) / 60000));
    const ahead = Math.max(0, mA - busyA); // doctor A has v1 in progress
    const byId = Object.fromEntries(Object.values(b.phases).flat().map((e) => [e.id, e]));
    assert.deepEqual(b.phases.waiting.map((e) => e.id), [v3.id, v4.id, v5.id]);
    assert.deepEqual(b.phases.with_doctor.map((e) => e.id), [v1.id]);
    assert.deepEqual(b.phases.completed.map((e) => e.id), [v2.id]);
    assert.equal(byId[v6.id], undefined, 'left visits are counted, not listed');

    const expected = {
      [v3.id]: { position: 1, estimated_wait_minutes: 0 * mA + ahead, service_name: null, doctor: w.doc },
      [v4.id]: { position: 2, estimated_wait_minutes: 1 * mA + ahead, service_name: w.service.name, doctor: w.doc },
      [v5.id]: { position: 1, estimated_wait_minutes: 0, service_name: null, doctor: w.doc2 },
      [v1.id]: { position: null, estimated_wait_minutes: null, service_name: w.service.name, doctor: w.doc },
      [v2.id]: { position: null, estimated_wait_minutes: null, service_name: null, doctor: w.doc2 },
    };
    for (const [id, want] of Object.entries(expected)) {
      const e = byId[id];
      for (const k of [...VISIT_KEYS, ...ENTRY_EXTRA_KEYS]) assert.ok(k in e, `QueueEntry has no ${k}: ${JSON.stringify(e)}`);
      assert.deepEqual(pick(e, VISIT_KEYS), fresh[id], `the entry carries the visit as GET /visits/{id} shows it`);
      const patient = patients.find((p) => p.id === e.patient_id);
      assert.deepEqual(pick(e, ENTRY_EXTRA_KEYS.filter((k) => k !== 'minutes_waited')), {
        patient_name: patient.full_name,
        service_name: want.service_name,
        doctor_name: want.doctor.user.full_name,
        position: want.position,
        estimated_wait_minutes: want.estimated_wait_minutes,
      });
      // waiting: minutes since check-in; with the doctor or done: check-in to start (all under a minute here)
      const until = e.start_time ? Date.parse(e.start_time) : Date.parse(b.generated_at);
      assert.equal(e.minutes_waited, Math.max(0, Math.floor((until - Date.parse(e.check_in_time)) / 60000)), `minutes_waited of ${id}`);
      assert.equal(e.minutes_waited, 0);
    }
    assert.equal(ahead, DEFAULT_MEDIAN, 'doctor A started v1 under a minute ago');
    assert.equal(byId[v3.id].status, 'called');

    // one doctor's part of the board
    const bA = await board(w.rec.access, `doctor_id=${docA}`);
    assert.equal(bA.doctor_id, docA);
    assert.deepEqual(
      Object.fromEntries(Object.entries(bA.phases).map(([k, list]) => [k, list.map((e) => [e.id, e.position, e.estimated_wait_minutes])])),
      {
        waiting: [
          [v3.id, 1, ahead],
          [v4.id, 2, mA + ahead],
        ],
        with_doctor: [[v1.id, null, null]],
        completed: [],
      },
    );
    assert.deepEqual(bA.counts, { waiting: 2, with_doctor: 1, completed: 0, left: 1 });
    assert.equal(bA.median_consultation_minutes[String(docA)], mA);

    // the same board for an admin (clinic_id), the doctors and the other receptionist
    const strip = (x) => ({ ...x, generated_at: null });
    const admin = await asAdmin();
    for (const [token, query] of [
      [admin, `clinic_id=${w.clinic.id}`],
      [w.doc.access, ''],
      [w.doc2.access, `clinic_id=${w.clinic.id}`],
      [w.rec2.access, `date=${w.today}`],
    ]) {
      assert.deepEqual(strip(await board(token, query)), strip(b), `board for ${query}`);
    }
  });

  test('board parameters: clinic_id (admin required, others own else 404), date, doctor_id; 400 invalid_query; patient 403', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const admin = await asAdmin();
    const v = await walkIn(w.rec.access, walkInBody(w));
    const empty = { waiting: [], with_doctor: [], completed: [] };
    const zero = { waiting: 0, with_doctor: 0, completed: 0, left: 0 };

    expectError(await get('/api/queue', admin), 400, 'invalid_query', ['clinic_id']);
    expectError(await get(`/api/queue?clinic_id=${NOT_FOUND_ID}`, admin), 404, 'not_found');
    expectError(await get(`/api/queue?clinic_id=${o.clinic.id}`, w.rec.access), 404, 'not_found');
    expectError(await get(`/api/queue?clinic_id=${o.clinic.id}`, w.doc.access), 404, 'not_found');
    expectError(await get(`/api/queue?clinic_id=${NOT_FOUND_ID}`, w.rec.access), 404, 'not_found');
    expectError(await get('/api/queue', w.pat.access), 403, 'forbidden');
    expectError(await get(`/api/queue?clinic_id=${w.clinic.id}`, w.pat.access), 403, 'forbidden');

    const own = await board(w.rec.access, `clinic_id=${w.clinic.id}`);
    assert.deepEqual(own.phases.waiting.map((e) => e.id), [v.id]);
    assert.deepEqual((await board(o.rec.access)).phases, empty, 'another clinic\'s board does not show it');

    for (const date of [addDays(w.today, -1), addDays(w.today, 1), '2020-02-29']) {
      const past = await board(w.rec.access, `date=${date}`);
      assert.deepEqual(pick(past, ['clinic_id', 'date', 'doctor_id', 'phases', 'counts']), {
        clinic_id: w.clinic.id,
        date,
        doctor_id: null,
        phases: empty,
        counts: zero,
      });
    }
    for (const doctorId of [NOT_FOUND_ID, o.doctorId, w.doctor2Id]) {
      const only = await board(w.rec.access, `doctor_id=${doctorId}`);
      assert.deepEqual([only.doctor_id, only.phases, only.counts], [doctorId, empty, zero], `doctor_id=${doctorId}`);
    }
    assert.deepEqual((await board(admin, `clinic_id=${w.clinic.id}&doctor_id=${w.doctorId}&date=${w.today}`)).phases.waiting.map((e) => e.id), [v.id]);

    for (const [query, field] of [
      ['date=2026-13-01', 'date'],
      ['date=2027-02-30', 'date'],
      ['date=today', 'date'],
      ['date=20261121', 'date'],
      [`date=${w.today}T00:00:00Z`, 'date'],
      ['date=', 'date'],
      ['doctor_id=abc', 'doctor_id'],
      ['doctor_id=1.5', 'doctor_id'],
      ['doctor_id=-1', 'doctor_id'],
      ['clinic_id=abc', 'clinic_id'],
      ['clinic_id=', 'clinic_id'],
    ]) {
      expectError(await get(`/api/queue?${query}`, w.rec.access), 400, 'invalid_query', [field]);
      const adminQuery = field === 'clinic_id' ? query : `clinic_id=${w.clinic.id}&${query}`;
      expectError(await get(`/api/queue?${adminQuery}`, admin), 400, 'invalid_query', [field]);
    }
  });
});

describe('phase moves', () => {
  test('with_doctor from waiting or called (start_time = now); back to waiting clears start_time; again with_doctor', async () => {
    const w = await world();
    const admin = await asAdmin();
    const v = await walkIn(w.rec.access, walkInBody(w));
    const res = await tryMove(v.id, 'with_doctor', w.rec.access);
    const m = expectStatus(res, 200).body;
    assertVisitShape(m);
    assert.deepEqual(
      { ...m, start_time: null, updated_at: null },
      { ...v, status: 'in_progress', phase: 'with_doctor', start_time: null, updated_at: null },
    );
    assertRecent(m.start_time, 'start_time');
    assert.ok(m.start_time >= v.check_in_time);
    assert.deepEqual(await getVisit(v.id), m);

    const back = await moveVisit(v.id, 'waiting', admin);
    assert.deepEqual([back.status, back.phase, back.start_time, back.end_time], ['waiting', 'waiting', null, null]);
    const again = await moveVisit(v.id, 'with_doctor', w.rec2.access);
    assert.deepEqual([again.status, again.phase], ['in_progress', 'with_doctor']);
    assert.ok(again.start_time >= m.start_time);

    // from called
    const v2 = await walkIn(w.rec.access, walkInBody(w, { patient_id: w.patient2Id, doctor_id: w.doctor2Id }));
    const called = expectStatus(await call(v2.id, w.doc2.access), 200).body;
    const m2 = await moveVisit(v2.id, 'with_doctor', admin);
    assert.deepEqual([m2.status, m2.called_at], ['in_progress', called.called_at]);
    // back to waiting goes to status waiting
    assert.equal((await moveVisit(v2.id, 'waiting', w.rec.access)).status, 'waiting');

    assert.deepEqual(
      (await transitions(v.id)).map((t) => [t.from_status, t.to_status]),
      [
        [null, 'waiting'],
        ['waiting', 'in_progress'],
        ['in_progress', 'waiting'],
        ['waiting', 'in_progress'],
      ],
    );
    assert.equal((await auditRows(`action=visit_move&actor_user_id=${w.rec2.id}`)).length, 1);
  });

  test('moves: completed is 403 for everyone; 409 from other states; 422 validation; other clinic 404; doctor and patient 403', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const admin = await asAdmin();
    const v = await walkIn(w.rec.access, walkInBody(w));

    // completed: only the visit's doctor completes (checked before looking at the visit)
    for (const [id, token] of [
      [v.id, w.rec.access],
      [v.id, admin],
      [NOT_FOUND_ID, w.rec.access],
      [v.id, o.rec.access],
    ]) {
      const r = await tryMove(id, 'completed', token);
      expectError(r, 403, 'forbidden');
      assert.match(r.body.error.message, /doctor/i, r.body.error.message);
    }
    expectError(await tryMove(v.id, 'with_doctor', w.doc.access), 403, 'forbidden');
    expectError(await tryMove(v.id, 'with_doctor', w.pat.access), 403, 'forbidden');
    expectError(await tryMove(v.id, 'with_doctor', o.rec.access), 404, 'not_found');
    expectError(await tryMove(NOT_FOUND_ID, 'with_doctor', w.rec.access), 404, 'not_found');
    expectError(await tryMove(NOT_FOUND_ID, 'waiting', admin), 404, 'not_found');

    expectError(await post('/api/queue/phase/move', {}, w.rec.access), 422, 'validation_failed', ['visit_id', 'phase']);
    for (const [body, field] of [
      [{ phase: 'with_doctor' }, 'visit_id'],
      [{ visit_id: String(v.id), phase: 'with_doctor' }, 'visit_id'],
      [{ visit_id: null, phase: 'with_doctor' }, 'visit_id'],
      [{ visit_id: 0, phase: 'with_doctor' }, 'visit_id'],
      [{ visit_id: 2.5, phase: 'with_doctor' }, 'visit_id'],
      [{ visit_id: v.id }, 'phase'],
      [{ visit_id: v.id, phase: 'left' }, 'phase'],
      [{ visit_id: v.id, phase: 'in_progress' }, 'phase'],
      [{ visit_id: v.id, phase: 'called' }, 'phase'],
      [{ visit_id: v.id, phase: 'WITH_DOCTOR' }, 'phase'],
      [{ visit_id: v.id, phase: null }, 'phase'],
      [{ visit_id: v.id, phase: 2 }, 'phase'],
      [{ visit_id: v.id, phase: 'with_doctor', doctor_id: w.doctorId }, 'doctor_id'],
    ]) {
      expectError(await post('/api/queue/phase/move', body, w.rec.access), 422, 'validation_failed', [field]);
    }
    // validation comes before the completed rule
    expectError(await post('/api/queue/phase/move', { visit_id: 'x', phase: 'completed' }, w.rec.access), 422, 'validation_failed', ['visit_id']);
    expectError(await request('POST', '/api/queue/phase/move', { raw: 'nope', token: w.rec.access }), 400, 'malformed_json');
    assert.deepEqual(await getVisit(v.id), v);

    // state conflicts
    expectConflict(await tryMove(v.id, 'waiting', w.rec.access));
    await moveVisit(v.id, 'with_doctor', w.rec.access);
    expectConflict(await tryMove(v.id, 'with_doctor', w.rec.access));
    await completeVisit(v.id, w.doc.access);
    expectConflict(await tryMove(v.id, 'with_doctor', w.rec.access));
    expectConflict(await tryMove(v.id, 'waiting', admin));
    const u = await walkIn(w.rec.access, walkInBody(w, { patient_id: w.patient2Id }));
    expectStatus(await left(u.id, w.rec.access), 200);
    expectConflict(await tryMove(u.id, 'with_doctor', w.rec.access));
    expectConflict(await tryMove(u.id, 'waiting', w.rec.access));
    const called = await walkIn(w.rec.access, walkInBody(w, { patient_id: (await newPatient(w)).id }));
    expectStatus(await call(called.id, w.rec.access), 200);
    expectConflict(await tryMove(called.id, 'waiting', w.rec.access));
  });
});

describe('completing a consultation', () => {
  test('complete-consultation: the visit\'s doctor completes an in_progress visit; end_time; its appointment completed; 409 after', async () => {
    const w = await world();
    const a = await bookToday(w);
    const v = await checkIn(a.id, w.rec.access);
    const m = await moveVisit(v.id, 'with_doctor', w.rec.access);
    const res = await tryComplete(v.id, w.doc.access);
    const c = expectStatus(res, 200).body;
    assertVisitShape(c);
    assert.deepEqual(
      { ...c, end_time: null, updated_at: null },
      { ...m, status: 'completed', phase: 'completed', end_time: null, updated_at: null },
    );
    assertRecent(c.end_time, 'end_time');
    assert.ok(c.end_time >= c.start_time);
    assert.equal(c.start_time, m.start_time, 'start_time is kept');
    assert.deepEqual(await getVisit(v.id, w.doc.access), c);
    assert.equal((await getAppointment(a.id)).status, 'completed');
    expectConflict(await tryComplete(v.id, w.doc.access));
    // no notes: no evolution
    expectError(await get(`/api/visits/${v.id}/evolution`, w.doc.access), 404, 'not_found');
    assert.equal((await auditRows(`action=visit_complete&actor_user_id=${w.doc.id}`)).length, 1);
    assert.deepEqual((await transitions(v.id)).at(-1).to_status, 'completed');
  });

  test('complete: other doctor or clinic 404; waiting, called, left 409; only doctors; validation 422', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const admin = await asAdmin();
    const v = await walkIn(w.rec.access, walkInBody(w));
    expectConflict(await tryComplete(v.id, w.doc.access)); // waiting
    expectStatus(await call(v.id, w.rec.access), 200);
    expectConflict(await tryComplete(v.id, w.doc.access)); // called
    await moveVisit(v.id, 'with_doctor', w.rec.access);
    const before = await getVisit(v.id);

    expectError(await tryComplete(v.id, w.doc2.access), 404, 'not_found');
    expectError(await tryComplete(v.id, o.doc.access), 404, 'not_found');
    expectError(await tryComplete(NOT_FOUND_ID, w.doc.access), 404, 'not_found');
    for (const token of [w.rec.access, admin, w.pat.access]) {
      expectError(await tryComplete(v.id, token), 403, 'forbidden');
      expectError(await post('/api/queue/complete', { visit_id: v.id }, token), 403, 'forbidden');
    }
    expectError(await post('/api/queue/complete-consultation', {}, w.doc.access), 422, 'validation_failed', ['visit_id']);
    for (const [fields, field] of [
      [{ visit_id: String(v.id) }, 'visit_id'],
      [{ visit_id: null }, 'visit_id'],
      [{ visit_id: -1 }, 'visit_id'],
      [{ notes: 'n'.repeat(20001) }, 'notes'],
      [{ notes: 12 }, 'notes'],
      [{ notes: ['a'] }, 'notes'],
      [{ diagnoses: [] }, 'diagnoses'],
      [{ status: 'completed' }, 'status'],
    ]) {
      expectError(await post('/api/queue/complete-consultation', { visit_id: v.id, ...fields }, w.doc.access), 422, 'validation_failed', [field]);
    }
    expectError(await request('POST', '/api/queue/complete-consultation', { raw: '{x}', token: w.doc.access }), 400, 'malformed_json');
    assert.deepEqual(await getVisit(v.id), before, 'refusals change nothing');

    const u = await walkIn(w.rec.access, walkInBody(w, { patient_id: w.patient2Id }));
    expectStatus(await left(u.id, w.rec.access), 200);
    expectConflict(await tryComplete(u.id, w.doc.access));

    const done = await completeVisit(v.id, w.doc.access, { notes: null });
    assert.equal(done.status, 'completed');
    expectError(await get(`/api/visits/${v.id}/evolution`, w.doc.access), 404, 'not_found');
  });

  test('complete notes: a new draft evolution; appended to a draft after a blank line; an addendum when signed; empty adds nothing', async () => {
    const w = await world();
    const p3 = await newPatient(w);
    const p4 = await newPatient(w);
    const inProgress = async (patient_id) => {
      const v = await walkIn(w.rec.access, walkInBody(w, { patient_id }));
      await moveVisit(v.id, 'with_doctor', w.rec.access);
      return v;
    };
    const evolution = async (id) => expectStatus(await get(`/api/visits/${id}/evolution`, w.doc.access), 200).body;

    // none yet: a draft with the notes
    const v1 = await inProgress(w.patientId);
    await completeVisit(v1.id, w.doc.access, { notes: 'Dor de garganta há 3 dias.' });
    const e1 = await evolution(v1.id);
    assert.deepEqual(pick(e1, ['visit_id', 'clinic_id', 'doctor_id', 'patient_id', 'status', 'notes', 'diagnoses', 'prescriptions', 'signed_at', 'signed_by', 'addenda']), {
      visit_id: v1.id,
      clinic_id: w.clinic.id,
      doctor_id: w.doctorId,
      patient_id: w.patientId,
      status: 'draft',
      notes: 'Dor de garganta há 3 dias.',
      diagnoses: [],
      prescriptions: [],
      signed_at: null,
      signed_by: null,
      addenda: [],
    });

    // a draft: appended after a blank line
    const v2 = await inProgress(w.patient2Id);
    expectStatus(await put(`/api/visits/${v2.id}/evolution`, { notes: 'Exame físico normal.', diagnoses: [{ code: 'J06.9', description: 'IVAS' }] }, w.doc.access), 201);
    await completeVisit(v2.id, w.doc.access, { notes: 'Retorno em 7 dias.' });
    const e2 = await evolution(v2.id);
    assert.deepEqual([e2.status, e2.notes, e2.diagnoses], ['draft', 'Exame físico normal.\n\nRetorno em 7 dias.', [{ code: 'J06.9', description: 'IVAS' }]]);

    // signed: an addendum; the notes stay
    const v3 = await inProgress(p3.id);
    expectStatus(await put(`/api/visits/${v3.id}/evolution`, { notes: 'Assinada antes do fim.' }, w.doc.access), 201);
    const signed = expectStatus(await post(`/api/visits/${v3.id}/evolution/sign`, undefined, w.doc.access), 200).body;
    await completeVisit(v3.id, w.doc.access, { notes: 'Paciente orientado.' });
    const e3 = await evolution(v3.id);
    assert.deepEqual({ ...e3, addenda: [], updated_at: null }, { ...signed, addenda: [], updated_at: null });
    assert.deepEqual(e3.addenda.map((x) => [x.text, x.author_user_id, x.author_name]), [['Paciente orientado.', w.doc.id, w.doc.user.full_name]]);

    // empty notes: nothing
    const v4 = await inProgress(p4.id);
    await completeVisit(v4.id, w.doc.access, { notes: '' });
    expectError(await get(`/api/visits/${v4.id}/evolution`, w.doc.access), 404, 'not_found');
  });

  test('/queue/complete is the same as complete-consultation', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const a = await bookToday(w);
    const v = await checkIn(a.id, w.rec.access);
    await moveVisit(v.id, 'with_doctor', w.rec.access);
    expectError(await post('/api/queue/complete', { visit_id: v.id }, w.doc2.access), 404, 'not_found');
    expectError(await post('/api/queue/complete', { visit_id: v.id }, o.doc.access), 404, 'not_found');
    expectError(await post('/api/queue/complete', {}, w.doc.access), 422, 'validation_failed', ['visit_id']);
    expectError(await post('/api/queue/complete', { visit_id: v.id, notes: 5 }, w.doc.access), 422, 'validation_failed', ['notes']);
    expectError(await post('/api/queue/complete', { visit_id: v.id, foo: 5 }, w.doc.access), 422, 'validation_failed', ['foo']);
    const c = expectStatus(await post('/api/queue/complete', { visit_id: v.id, notes: 'Alta.' }, w.doc.access), 200).body;
    assert.deepEqual([c.status, c.phase, c.id], ['completed', 'completed', v.id]);
    assert.match(c.end_time, INSTANT);
    assert.equal((await getAppointment(a.id)).status, 'completed');
    assert.equal(expectStatus(await get(`/api/visits/${v.id}/evolution`, w.doc.access), 200).body.notes, 'Alta.');
    expectConflict(await post('/api/queue/complete', { visit_id: v.id }, w.doc.access));
    const u = await walkIn(w.rec.access, walkInBody(w, { patient_id: w.patient2Id }));
    expectConflict(await post('/api/queue/complete', { visit_id: u.id }, w.doc.access));
  });
});

describe('events', () => {
  test('check-in and walk-in announce new_checkin and queue_updated (and appointment_updated) to the clinic and doctor rooms', async () => {
    const [w, o] = await Promise.all([world({ patient: { full_name: 'Helena Duarte Lima', medical_history: 'Asma' } }), world()]);
    const admin = await asAdmin();
    const a = await bookToday(w, { notes: 'Consulta de rotina' });
    const watchers = { rec: w.rec, doc: w.doc, doc2: w.doc2, pat: w.pat, pat2: w.pat2, otherRec: o.rec, otherDoc: o.doc };
    const start = {};
    for (const [name, s] of Object.entries(watchers)) start[name] = await eventsEnd(s.access);
    start.admin = await eventsEnd(admin);

    const v = await checkIn(a.id, w.rec.access, { notes: 'Chegou com acompanhante' });
    const { items, cursor } = await eventsSince(w.rec.access, start.rec, 3);
    assert.deepEqual(names(items), ['appointment_updated', 'new_checkin', 'queue_updated']);
    const ev = Object.fromEntries(items.map((e) => [e.name, e]));
    for (const e of items) assert.match(e.occurred_at, INSTANT);
    assert.deepEqual(ev.new_checkin.data, { visit: pick(v, SUMMARY_KEYS), patient_label: 'Helena L.' });
    assert.deepEqual(ev.queue_updated.data, { clinic_id: w.clinic.id, doctor_id: w.doctorId, date: w.today, visit_id: v.id, status: 'waiting' });
    assert.deepEqual([ev.appointment_updated.data.appointment.id, ev.appointment_updated.data.appointment.status], [a.id, 'checked_in']);
    const text = JSON.stringify(items);
    for (const leak of ['acompanhante', 'Asma', 'rotina', 'Duarte']) assert.equal(text.includes(leak), false, `events leak ${leak}: ${text}`);

    // the doctor (clinic + doctor rooms) and a colleague (clinic room) see the same three; the patient only
    // the appointment change; another clinic nothing
    assert.deepEqual((await eventsSince(w.doc.access, start.doc, 3)).items, items);
    assert.deepEqual((await eventsSince(w.doc2.access, start.doc2, 3)).items, items);
    assert.deepEqual((await eventsSince(w.pat.access, start.pat, 1)).items, [ev.appointment_updated]);
    for (const name of ['pat2', 'otherRec', 'otherDoc']) {
      assert.deepEqual((await eventsSince(watchers[name].access, start[name])).items, [], `${name} must not see them`);
    }
    const adminSeen = (await eventsSince(admin, start.admin, 3)).items.filter((e) => items.some((x) => x.event_id === e.event_id));
    assert.deepEqual(adminSeen, items);

    // a walk-in: new_checkin and queue_updated only
    const u = await walkIn(w.rec2.access, { patient_id: w.patient2Id, doctor_id: w.doctor2Id });
    const walk = (await eventsSince(w.rec.access, cursor, 2)).items;
    assert.deepEqual(names(walk), ['new_checkin', 'queue_updated']);
    assert.deepEqual(walk.find((e) => e.name === 'new_checkin').data.visit, pick(u, SUMMARY_KEYS));
    assert.deepEqual(walk.find((e) => e.name === 'queue_updated').data, { clinic_id: w.clinic.id, doctor_id: w.doctor2Id, date: w.today, visit_id: u.id, status: 'waiting' });
    assert.deepEqual((await eventsSince(w.pat2.access, start.pat2)).items, [], 'clinic-room events do not reach the patient');

    // refused check-ins and walk-ins announce nothing
    const end = (await eventsSince(w.rec.access, cursor, 2)).cursor;
    expectConflict(await tryCheckIn(a.id, w.rec.access));
    expectConflict(await tryWalkIn(w, { patient_id: w.patient2Id }));
    expectError(await tryWalkIn(w, { patient_id: o.patientId }), 422, 'validation_failed', ['patient_id']);
    assert.deepEqual((await eventsSince(w.rec.access, end)).items, []);
  });

  test('call, left, moves and completion announce their events; patient_with_doctor reaches the doctor\'s room only', async () => {
    const w = await world({ patient: { full_name: 'Rafael Nogueira' } });
    const step = async (fn, counts) => {
      const before = {};
      for (const k of Object.keys(counts)) before[k] = await eventsEnd(w[k].access);
      const out = await fn();
      const seen = {};
      for (const [k, n] of Object.entries(counts)) seen[k] = (await eventsSince(w[k].access, before[k], n)).items;
      return { out, seen };
    };
    const v = await walkIn(w.rec.access, walkInBody(w));
    const summary = (x) => pick(x, SUMMARY_KEYS);
    const patientCard = expectStatus(await get(`/api/patients/${w.patientId}`, w.doc.access), 200).body;

    // call: visit_status_changed (clinic, doctor, patient) and queue_updated (clinic, doctor)
    let { out, seen } = await step(async () => expectStatus(await call(v.id, w.rec.access), 200).body, { rec: 2, doc: 2, doc2: 2, pat: 1 });
    assert.deepEqual(names(seen.rec), ['queue_updated', 'visit_status_changed']);
    const vsc = seen.rec.find((e) => e.name === 'visit_status_changed');
    assert.deepEqual(vsc.data, { visit: summary(out), from_status: 'waiting', patient_label: 'Rafael N.' });
    assert.deepEqual(seen.rec.find((e) => e.name === 'queue_updated').data, { clinic_id: w.clinic.id, doctor_id: w.doctorId, date: w.today, visit_id: v.id, status: 'called' });
    assert.deepEqual(seen.doc, seen.rec);
    assert.deepEqual(seen.doc2, seen.rec);
    assert.deepEqual(seen.pat, [vsc]);

    // refused: nothing
    ({ seen } = await step(async () => expectConflict(await call(v.id, w.rec.access)), { rec: 0, pat: 0 }));
    assert.deepEqual([seen.rec, seen.pat], [[], []]);

    // with_doctor: patient_with_doctor to the doctor's room only, with the full visit and patient card
    ({ out, seen } = await step(() => moveVisit(v.id, 'with_doctor', w.rec.access), { rec: 2, doc: 3, doc2: 2, pat: 1 }));
    assert.deepEqual(names(seen.rec), ['queue_updated', 'visit_status_changed']);
    assert.deepEqual(names(seen.doc), ['patient_with_doctor', 'queue_updated', 'visit_status_changed']);
    assert.deepEqual(names(seen.doc2), ['queue_updated', 'visit_status_changed']);
    assert.deepEqual(names(seen.pat), ['visit_status_changed']);
    const pwd = seen.doc.find((e) => e.name === 'patient_with_doctor');
    assert.deepEqual(pwd.data, { visit: out, patient: patientCard, visit_history: [] });
    assert.equal(seen.rec.find((e) => e.name === 'visit_status_changed').data.from_status, 'called');

    // back to waiting: visit_status_changed and queue_updated
    ({ out, seen } = await step(() => moveVisit(v.id, 'waiting', w.rec.access), { rec: 2, doc: 2, pat: 1 }));
    assert.deepEqual(names(seen.rec), ['queue_updated', 'visit_status_changed']);
    assert.deepEqual(names(seen.doc), ['queue_updated', 'visit_status_changed']);
    assert.deepEqual(seen.pat[0].data, { visit: summary(out), from_status: 'in_progress', patient_label: 'Rafael N.' });

    // completion: consultation_completed (clinic, doctor, patient) too
    await moveVisit(v.id, 'with_doctor', w.rec.access);
    ({ out, seen } = await step(() => completeVisit(v.id, w.doc.access, { notes: 'Diagnóstico reservado' }), { rec: 3, doc: 3, pat: 2 }));
    assert.deepEqual(names(seen.rec), ['consultation_completed', 'queue_updated', 'visit_status_changed']);
    assert.deepEqual(seen.doc, seen.rec);
    assert.deepEqual(names(seen.pat), ['consultation_completed', 'visit_status_changed']);
    assert.deepEqual(seen.rec.find((e) => e.name === 'consultation_completed').data, { visit: summary(out), patient_label: 'Rafael N.' });
    assert.equal(JSON.stringify(seen.rec).includes('reservado'), false, 'completion notes must not be broadcast');

    // left: visit_status_changed and queue_updated
    const u = await walkIn(w.rec.access, walkInBody(w, { patient_id: w.patient2Id }));
    ({ out, seen } = await step(async () => expectStatus(await left(u.id, w.rec.access), 200).body, { rec: 2, pat2: 1, pat: 0 }));
    assert.deepEqual(names(seen.rec), ['queue_updated', 'visit_status_changed']);
    assert.deepEqual(seen.rec.find((e) => e.name === 'queue_updated').data.status, 'left');
    assert.deepEqual(names(seen.pat2), ['visit_status_changed']);
    assert.deepEqual(seen.pat, []);

    // a completion with an appointment also announces appointment_updated (completed)
    const a = await bookToday(w, { patient_id: w.patient2Id });
    const av = await checkIn(a.id, w.rec.access);
    await moveVisit(av.id, 'with_doctor', w.rec.access);
    // (and, the appointment having a service, the consultation is billed: payment_processed)
    ({ seen } = await step(() => completeVisit(av.id, w.doc.access), { rec: 5, pat2: 3 }));
    assert.deepEqual(names(seen.rec),
      ['appointment_updated', 'consultation_completed', 'payment_processed', 'queue_updated', 'visit_status_changed']);
    assert.equal(seen.rec.find((e) => e.name === 'appointment_updated').data.appointment.status, 'completed');
    assert.deepEqual(names(seen.pat2), ['appointment_updated', 'consultation_completed', 'visit_status_changed']);
  });
});

describe('concurrency', () => {
  test('10 concurrent check-ins and walk-ins get queue numbers 1..10; the refused ones take none', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const patients = await Promise.all(Array.from({ length: 12 }, () => newPatient(w)));
    const appts = [];
    for (let i = 0; i < 5; i++) appts.push(await bookToday(w, { patient_id: patients[i].id, doctor_id: i % 2 ? w.doctor2Id : w.doctorId }));
    const cancelled = await bookToday(w, { patient_id: patients[10].id });
    expectStatus(await post(`/api/appointments/${cancelled.id}/cancel`, { reason: 'Desistiu' }, w.rec.access), 200);
    const tomorrow = await bookTomorrow(w, { patient_id: patients[11].id });
    const oPatients = await Promise.all(Array.from({ length: 3 }, () => newPatient(o)));

    const jobs = [
      ...appts.map((a, i) => ['ok', () => tryCheckIn(a.id, i % 2 ? w.rec.access : w.rec2.access)]),
      ...patients.slice(5, 10).map((p, i) => ['ok', () => tryWalkIn(w, { patient_id: p.id, doctor_id: i % 2 ? w.doctorId : w.doctor2Id }, i % 2 ? w.rec2.access : w.rec.access)]),
      ['dup', () => tryWalkIn(w, { patient_id: patients[5].id, doctor_id: w.doctor2Id }, w.rec2.access)], // patient 5 twice at once
      ['no', () => tryCheckIn(cancelled.id, w.rec.access)],
      ['no', () => tryCheckIn(tomorrow.id, w.rec2.access)],
      ...oPatients.map((p) => ['other', () => tryWalkIn(o, { patient_id: p.id })]),
    ];
    // interleave the refused ones with the good ones
    const order = [0, 10, 5, 1, 11, 6, 2, 12, 7, 3, 8, 13, 4, 14, 9, 15];
    assert.equal(order.length, jobs.length);
    const results = await Promise.all(order.map((i) => jobs[i][1]()));
    const byKind = (kind) => results.filter((_, j) => jobs[order[j]][0] === kind);

    const mine = [...byKind('ok'), ...byKind('dup'), ...byKind('no')];
    assert.deepEqual(countBy(mine, (r) => r.status), { 201: 10, 409: 3 }, JSON.stringify(mine.map((r) => [r.status, r.body?.error?.message])));
    for (const r of mine.filter((x) => x.status === 409)) expectError(r, 409, 'conflict');
    for (const r of byKind('no')) expectStatus(r, 409);
    const created = mine.filter((r) => r.status === 201).map((r) => r.body);
    assert.deepEqual(created.map((v) => v.queue_number).sort((x, y) => x - y), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(new Set(created.map((v) => v.patient_id)).size, 10);
    for (const v of created) assert.deepEqual([v.clinic_id, v.queue_date, v.status], [w.clinic.id, w.today, 'waiting']);
    assert.deepEqual(byKind('other').map((r) => expectStatus(r, 201).body.queue_number).sort(), [1, 2, 3]);

    const b = await board(w.rec.access);
    assert.deepEqual(b.phases.waiting.map((e) => e.queue_number), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual(b.counts, { waiting: 10, with_doctor: 0, completed: 0, left: 0 });
    for (const a of appts) assert.equal((await getAppointment(a.id)).status, 'checked_in');
    assert.equal((await getAppointment(tomorrow.id)).status, 'confirmed');
    // the next one continues without a gap
    const p = await newPatient(w);
    assert.equal((await walkIn(w.rec.access, walkInBody(w, { patient_id: p.id }))).queue_number, 11);
  });

  test('two receptionists move the same visit to with_doctor at once: one 200, one 409, one transition', async () => {
    const w = await world();
    const patients = [w.pat.patient, w.pat2.patient, ...(await Promise.all([1, 2, 3].map(() => newPatient(w))))];
    const visits = [];
    for (const [i, p] of patients.entries()) visits.push(await walkIn(w.rec.access, { patient_id: p.id, doctor_id: i % 2 ? w.doctor2Id : w.doctorId }));
    expectStatus(await call(visits[0].id, w.rec.access), 200);
    const results = await Promise.all(visits.flatMap((v) => [tryMove(v.id, 'with_doctor', w.rec.access), tryMove(v.id, 'with_doctor', w.rec2.access)]));
    for (const [i, v] of visits.entries()) {
      const pair = results.slice(2 * i, 2 * i + 2);
      assert.deepEqual(pair.map((r) => r.status).sort(), [200, 409], `visit ${v.id}: ${JSON.stringify(pair.map((r) => r.body))}`);
      const winner = pair.find((r) => r.status === 200).body;
      expectError(pair.find((r) => r.status === 409), 409, 'conflict');
      const now = await getVisit(v.id);
      assert.deepEqual(now, winner);
      assert.equal(now.status, 'in_progress');
      const t = await transitions(v.id);
      assert.equal(t.filter((x) => x.to_status === 'in_progress').length, 1, `transitions of visit ${v.id}: ${JSON.stringify(t)}`);
      assert.equal(t.length, i === 0 ? 3 : 2);
      const winnerId = pair[0].status === 200 ? w.rec.id : w.rec2.id;
      assert.equal(t.at(-1).actor_user_id, winnerId, 'the transition names the receptionist whose move won');
    }
  });

  test('two concurrent completions of one visit: one 200, one 409', async () => {
    const w = await world();
    const a = await bookToday(w);
    const v1 = await checkIn(a.id, w.rec.access);
    const v2 = await walkIn(w.rec.access, { patient_id: w.patient2Id, doctor_id: w.doctor2Id });
    await moveVisit(v1.id, 'with_doctor', w.rec.access);
    await moveVisit(v2.id, 'with_doctor', w.rec.access);
    const start = await eventsEnd(w.rec.access);
    const results = await Promise.all([
      tryComplete(v1.id, w.doc.access, { notes: 'primeira' }),
      tryComplete(v1.id, w.doc.access, { notes: 'segunda' }),
      tryComplete(v2.id, w.doc2.access),
      post('/api/queue/complete', { visit_id: v2.id }, w.doc2.access),
    ]);
    for (const pair of [results.slice(0, 2), results.slice(2)]) {
      assert.deepEqual(pair.map((r) => r.status).sort(), [200, 409], JSON.stringify(pair.map((r) => r.body)));
      expectError(pair.find((r) => r.status === 409), 409, 'conflict');
      const done = pair.find((r) => r.status === 200).body;
      assert.deepEqual(await getVisit(done.id), done);
      assert.equal((await transitions(done.id)).filter((t) => t.to_status === 'completed').length, 1);
    }
    assert.equal((await getAppointment(a.id)).status, 'completed');
    // only the winner's notes made it into the evolution
    const e = expectStatus(await get(`/api/visits/${v1.id}/evolution`, w.doc.access), 200).body;
    const won = results[0].status === 200 ? 'primeira' : 'segunda';
    assert.deepEqual([e.notes, e.addenda], [won, []]);
    // v1's appointment has a service: its consultation is billed once; v2, a walk-in without one, is not
    const events = (await eventsSince(w.rec.access, start, 8)).items;
    assert.deepEqual(countBy(events, (x) => x.name),
      { consultation_completed: 2, visit_status_changed: 2, queue_updated: 2, appointment_updated: 1, payment_processed: 1 });
  });
});
