// Appointments: booking by staff and patients, no double booking (also under concurrency), list and
// visibility rules, reschedule, cancel, no-show, and the events they announce (APPOINTMENTS.md).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  addDays,
  asAdmin,
  cpf,
  createAppointment,
  createAvailability,
  createClinic,
  createPatient,
  createService,
  createStaff,
  createUnavailability,
  eventsEnd,
  eventsSince,
  expectError,
  expectStatus,
  freshEmail,
  get,
  isoDate,
  listAll,
  nextWeekday,
  patch,
  patientSession,
  post,
  staffSession,
  uniq,
} from '../lib/api.mjs';

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const NOT_FOUND_ID = 2147483000;
// UTC-03:00 all year (Brazil has had no daylight saving time since 2019).
const TZ = 'America/Sao_Paulo';
const APPOINTMENT_KEYS = [
  'id',
  'clinic_id',
  'patient_id',
  'doctor_id',
  'service_id',
  'consultation_type',
  'status',
  'start_time',
  'end_time',
  'notes',
  'cancel_reason',
  'cancelled_by',
  'cancelled_at',
  'created_at',
  'updated_at',
];
const EVENT_APPOINTMENT_KEYS = ['id', 'clinic_id', 'doctor_id', 'patient_id', 'service_id', 'consultation_type', 'status', 'start_time', 'end_time'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const instant = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
// The UTC instant of the São Paulo wall-clock time hh:mm on a date.
const sp = (date, hhmm) => instant(Date.parse(`${date}T${hhmm}:00-03:00`));
const plusMinutes = (iso, m) => instant(Date.parse(iso) + m * 60000);
const ids = (list) => list.map((x) => x.id);
const pick = (obj, keys) => Object.fromEntries(keys.map((k) => [k, obj[k]]));

function countBy(list, f) {
  const out = {};
  for (const x of list) out[f(x)] = (out[f(x)] || 0) + 1;
  return out;
}

// Both doctors of a world see patients on Mondays 08:00-22:00 local (the last slot, 21:30 local, is
// 00:30 UTC on Tuesday), in person or by video, in 30-minute slots.
const MONDAYS = { weekday: 1, start_time: '08:00', end_time: '22:00', slot_minutes: 30, consultation_types: ['in_person', 'video'] };

// A fresh São Paulo clinic: a receptionist, two doctors and two patients with accounts (all logged in),
// a 30-minute service, the Monday hours above for both doctors, and `monday` at least a week ahead.
async function world({ patient = {} } = {}) {
  const clinic = await createClinic({ timezone: TZ });
  const [rec, doc, doc2, pat, pat2, service] = await Promise.all([
    staffSession('RECEPTIONIST', clinic.id),
    staffSession('DOCTOR', clinic.id),
    staffSession('DOCTOR', clinic.id),
    patientSession(clinic.id, patient),
    patientSession(clinic.id),
    createService(clinic.id, { duration_minutes: 30 }),
  ]);
  await Promise.all([createAvailability(doc.user.doctor_id, MONDAYS), createAvailability(doc2.user.doctor_id, MONDAYS)]);
  return {
    clinic,
    rec,
    doc,
    doc2,
    pat,
    pat2,
    service,
    doctorId: doc.user.doctor_id,
    doctor2Id: doc2.user.doctor_id,
    patientId: pat.patient.id,
    patient2Id: pat2.patient.id,
    monday: nextWeekday(1),
  };
}

// A POST /api/appointments body with w's defaults: the first patient with the first doctor, the
// 30-minute service, in person, Monday 09:00 local.
const bookBody = (w, fields = {}) => ({
  patient_id: w.patientId,
  doctor_id: w.doctorId,
  service_id: w.service.id,
  start_time: sp(w.monday, '09:00'),
  consultation_type: 'in_person',
  ...fields,
});

// Books (asserting 201) as token, the receptionist of w by default.
const book = (w, fields = {}, token) => createAppointment(token || w.rec.access, bookBody(w, fields));
// The raw POST, for the calls that must fail.
const tryBook = (w, fields = {}, token) => post('/api/appointments', bookBody(w, fields), token || w.rec.access);

const cancel = (id, reason, token) => post(`/api/appointments/${id}/cancel`, { reason }, token);
const noShow = (id, token) => post(`/api/appointments/${id}/no-show`, undefined, token);

// A start_time two to three seconds ahead (whole seconds): bookable now, in the past soon after.
const soon = () => instant(Math.ceil(Date.now() / 1000) * 1000 + 2000);
async function waitUntilPast(iso) {
  const ms = Date.parse(iso) + 1000 - Date.now();
  if (ms > 0) await sleep(ms);
}

async function getAppointment(id, token) {
  return expectStatus(await get(`/api/appointments/${id}`, token || (await asAdmin())), 200).body;
}

// Free slots of a doctor on one local date as "start_time type" strings.
async function slotKeys(doctorId, date, token) {
  const body = expectStatus(await get(`/api/doctors/${doctorId}/slots?from=${date}&to=${date}`, token || (await asAdmin())), 200).body;
  return body.items.map((s) => `${s.start_time} ${s.consultation_type}`);
}

async function auditRows(query) {
  return listAll(`/api/audit?${query}`, await asAdmin());
}

function expectConflict(res, who) {
  expectError(res, 409, 'conflict');
  assert.match(res.body.error.message, new RegExp(who, 'i'), `the 409 message should name the ${who}: ${res.body.error.message}`);
}

describe('booking', () => {
  test('a receptionist books: 201 confirmed, end_time = start + the service duration; GET; audit', async () => {
    const w = await world();
    const service45 = await createService(w.clinic.id, { duration_minutes: 45 });
    const res = await tryBook(w, { service_id: service45.id, start_time: `${w.monday}T09:00:00-03:00`, notes: 'Primeira consulta' });
    const a = expectStatus(res, 201).body;
    for (const k of APPOINTMENT_KEYS) assert.ok(k in a, `Appointment has no ${k}: ${JSON.stringify(a)}`);
    assert.equal(Number.isInteger(a.id), true, `id: ${a.id}`);
    assert.deepEqual(pick(a, APPOINTMENT_KEYS.filter((k) => !['id', 'created_at', 'updated_at'].includes(k))), {
      clinic_id: w.clinic.id,
      patient_id: w.patientId,
      doctor_id: w.doctorId,
      service_id: service45.id,
      consultation_type: 'in_person',
      status: 'confirmed',
      start_time: sp(w.monday, '09:00'),
      end_time: sp(w.monday, '09:45'),
      notes: 'Primeira consulta',
      cancel_reason: null,
      cancelled_by: null,
      cancelled_at: null,
    });
    assert.match(a.created_at, INSTANT);
    assert.match(a.updated_at, INSTANT);
    assert.deepEqual(await getAppointment(a.id, w.rec.access), a);

    // video, notes omitted -> null; the end follows the 30-minute service
    const v = await book(w, { patient_id: w.patient2Id, start_time: sp(w.monday, '10:00'), consultation_type: 'video' });
    assert.deepEqual(
      pick(v, ['patient_id', 'consultation_type', 'status', 'start_time', 'end_time', 'notes']),
      { patient_id: w.patient2Id, consultation_type: 'video', status: 'confirmed', start_time: sp(w.monday, '10:00'), end_time: sp(w.monday, '10:30'), notes: null },
    );
    const nullNotes = await book(w, { doctor_id: w.doctor2Id, start_time: sp(w.monday, '11:00'), notes: null });
    assert.equal(nullNotes.notes, null);
    const longNotes = await book(w, { doctor_id: w.doctor2Id, start_time: sp(w.monday, '12:00'), notes: 'n'.repeat(2000) });
    assert.equal(longNotes.notes.length, 2000);

    const rows = await auditRows(`action=appointment_create&entity_id=${a.id}`);
    assert.equal(rows.length, 1, `appointment_create audit rows for appointment ${a.id}: ${JSON.stringify(rows)}`);
  });

  test('an admin books in any clinic; the patient, doctor and service must be of one clinic', async () => {
    const admin = await asAdmin();
    const [w, o] = await Promise.all([world(), world()]);
    const a = await book(w, {}, admin);
    assert.deepEqual([a.clinic_id, a.patient_id, a.doctor_id, a.status], [w.clinic.id, w.patientId, w.doctorId, 'confirmed']);
    const b = await book(o, {}, admin);
    assert.equal(b.clinic_id, o.clinic.id);

    // a doctor of another clinic than the patient and the service
    const mixed = await tryBook(w, { doctor_id: o.doctorId, start_time: sp(w.monday, '15:00') }, admin);
    expectError(mixed, 422, 'validation_failed');
    const named = Object.keys(mixed.body.error.fields || {});
    assert.ok(['patient_id', 'doctor_id', 'service_id'].some((f) => named.includes(f)), `fields should name the mismatched id: ${named}`);
    expectError(await tryBook(w, { service_id: o.service.id, start_time: sp(w.monday, '15:00') }, admin), 422, 'validation_failed');
    assert.deepEqual(ids(await listAll(`/api/appointments?doctor_id=${w.doctorId}`, admin)), [a.id]);
    assert.deepEqual(ids(await listAll(`/api/appointments?doctor_id=${o.doctorId}`, admin)), [b.id]);
  });

  test('a patient books a free slot of a doctor of their clinic; patient_id defaults to their own', async () => {
    const w = await world();
    const slots = expectStatus(await get(`/api/doctors/${w.doctorId}/slots?from=${w.monday}&to=${w.monday}&type=video`, w.pat.access), 200).body.items;
    const s = slots.find((x) => x.start_time === sp(w.monday, '10:00'));
    assert.ok(s, `no 10:00 video slot: ${JSON.stringify(slots)}`);

    const res = await post(
      '/api/appointments',
      { doctor_id: w.doctorId, service_id: w.service.id, start_time: s.start_time, consultation_type: 'video' },
      w.pat.access,
    );
    const a = expectStatus(res, 201).body;
    assert.deepEqual(pick(a, ['clinic_id', 'patient_id', 'doctor_id', 'consultation_type', 'status', 'start_time', 'end_time']), {
      clinic_id: w.clinic.id,
      patient_id: w.patientId,
      doctor_id: w.doctorId,
      consultation_type: 'video',
      status: 'confirmed',
      start_time: s.start_time,
      end_time: s.end_time,
    });
    assert.deepEqual(await getAppointment(a.id, w.pat.access), a);
    // the slot is gone, in both types
    const after = await slotKeys(w.doctorId, w.monday, w.pat.access);
    assert.deepEqual(after.filter((k) => k.startsWith(s.start_time)), []);
    assert.ok(after.includes(`${sp(w.monday, '10:30')} in_person`), 'the next slot is still free');

    // giving their own patient_id explicitly is fine
    const own = await createAppointment(w.pat.access, {
      patient_id: w.patientId,
      doctor_id: w.doctor2Id,
      service_id: w.service.id,
      start_time: sp(w.monday, '11:00'),
    });
    assert.equal(own.patient_id, w.patientId);
  });

  test('a patient may book only a free slot of that type (422 start_time), only for themself (422 patient_id)', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const wednesday = addDays(w.monday, 2);
    await createAvailability(w.doctorId, { weekday: 3, start_time: '09:00', end_time: '10:00', slot_minutes: 30, consultation_types: ['video'] });
    await createUnavailability(w.doctorId, { starts_at: sp(w.monday, '11:00'), ends_at: sp(w.monday, '12:00'), reason: 'Reunião' });
    const mine = { patient_id: undefined };

    const notSlots = [
      sp(w.monday, '09:10'), // inside a slot, not its start
      sp(w.monday, '07:30'), // before the hours
      sp(w.monday, '22:00'), // at the end of the hours
      sp(addDays(w.monday, 1), '09:00'), // a Tuesday: no hours
      sp(w.monday, '11:30'), // blocked
      `${w.monday}T09:00:00Z`, // 06:00 local
    ];
    for (const start_time of notSlots) {
      expectError(await tryBook(w, { ...mine, start_time }, w.pat.access), 422, 'validation_failed', ['start_time']);
    }
    // Wednesday only by video
    expectError(await tryBook(w, { ...mine, start_time: sp(wednesday, '09:00') }, w.pat.access), 422, 'validation_failed', ['start_time']);
    const wed = await book(w, { ...mine, start_time: sp(wednesday, '09:00'), consultation_type: 'video' }, w.pat.access);
    assert.equal(wed.patient_id, w.patientId);

    // someone else's patient_id
    expectError(await tryBook(w, { patient_id: w.patient2Id, start_time: sp(w.monday, '09:00') }, w.pat.access), 422, 'validation_failed', ['patient_id']);
    expectError(await tryBook(w, { patient_id: o.patientId, start_time: sp(w.monday, '09:00') }, w.pat.access), 422, 'validation_failed', ['patient_id']);
    // a doctor or service of another clinic
    expectError(await tryBook(w, { ...mine, doctor_id: o.doctorId, start_time: sp(o.monday, '09:00') }, w.pat.access), 422, 'validation_failed', ['doctor_id']);
    expectError(await tryBook(w, { ...mine, service_id: o.service.id }, w.pat.access), 422, 'validation_failed', ['service_id']);

    assert.deepEqual(ids(await listAll('/api/appointments', w.rec.access)), [wed.id]);
  });

  test('validation: 422 lists every bad field; start_time must be in the future', async () => {
    const w = await world();
    const admin = await asAdmin();

    expectError(
      await post(
        '/api/appointments',
        { patient_id: w.patientId, doctor_id: w.doctorId, start_time: 'tomorrow', consultation_type: 'phone', notes: 'n'.repeat(2001) },
        w.rec.access,
      ),
      422,
      'validation_failed',
      ['start_time', 'consultation_type', 'service_id', 'notes'],
    );
    expectError(await post('/api/appointments', {}, w.rec.access), 422, 'validation_failed', [
      'patient_id',
      'doctor_id',
      'service_id',
      'start_time',
      'consultation_type',
    ]);

    const bad = [
      [{ patient_id: undefined }, 'patient_id'], // only a PATIENT may omit it
      [{ patient_id: 0 }, 'patient_id'],
      [{ patient_id: -3 }, 'patient_id'],
      [{ patient_id: String(w.patientId) }, 'patient_id'],
      [{ patient_id: null }, 'patient_id'],
      [{ doctor_id: 1.5 }, 'doctor_id'],
      [{ doctor_id: null }, 'doctor_id'],
      [{ service_id: true }, 'service_id'],
      [{ service_id: 0 }, 'service_id'],
      [{ start_time: `${w.monday}T12:00:00` }, 'start_time'],
      [{ start_time: w.monday }, 'start_time'],
      [{ start_time: `${w.monday}T25:00:00Z` }, 'start_time'],
      [{ start_time: 1900000000 }, 'start_time'],
      [{ start_time: null }, 'start_time'],
      [{ start_time: `${addDays(isoDate(), -1)}T12:00:00Z` }, 'start_time'],
      [{ start_time: instant(Date.now() - 60000) }, 'start_time'],
      [{ consultation_type: 'VIDEO' }, 'consultation_type'],
      [{ consultation_type: null }, 'consultation_type'],
      [{ notes: 7 }, 'notes'],
      [{ notes: 'n'.repeat(2001) }, 'notes'],
      [{ status: 'cancelled' }, 'status'],
      [{ end_time: sp(w.monday, '10:00') }, 'end_time'],
      [{ clinic_id: w.clinic.id }, 'clinic_id'],
    ];
    for (const [fields, field] of bad) {
      expectError(await tryBook(w, fields), 422, 'validation_failed', [field]);
    }
    expectError(await tryBook(w, { start_time: `${addDays(isoDate(), -1)}T12:00:00Z` }, admin), 422, 'validation_failed', ['start_time']);
    assert.deepEqual(await listAll('/api/appointments', w.rec.access), []);
  });

  test('ids of another clinic, unknown ids and an inactive service are 422 naming the field', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const admin = await asAdmin();
    const cases = [
      [{ patient_id: o.patientId }, 'patient_id'],
      [{ doctor_id: o.doctorId }, 'doctor_id'],
      [{ service_id: o.service.id }, 'service_id'],
      [{ patient_id: NOT_FOUND_ID }, 'patient_id'],
      [{ doctor_id: NOT_FOUND_ID }, 'doctor_id'],
      [{ service_id: NOT_FOUND_ID }, 'service_id'],
    ];
    for (const [fields, field] of cases) {
      expectError(await tryBook(w, fields), 422, 'validation_failed', [field]);
    }
    for (const [fields, field] of cases.slice(3)) {
      expectError(await tryBook(w, fields, admin), 422, 'validation_failed', [field]);
    }

    const inactive = await createService(w.clinic.id, { active: false });
    expectError(await tryBook(w, { service_id: inactive.id }), 422, 'validation_failed', ['service_id']);
    expectError(await tryBook(w, { service_id: inactive.id }, admin), 422, 'validation_failed', ['service_id']);
    expectError(await tryBook(w, { patient_id: undefined, service_id: inactive.id }, w.pat.access), 422, 'validation_failed', ['service_id']);
    const deactivated = await createService(w.clinic.id);
    expectStatus(await patch(`/api/services/${deactivated.id}`, { active: false }, admin), 200);
    expectError(await tryBook(w, { service_id: deactivated.id }), 422, 'validation_failed', ['service_id']);

    assert.deepEqual(await listAll('/api/appointments', w.rec.access), []);
    assert.deepEqual(await listAll('/api/appointments', o.rec.access), []);
  });
});

describe('double booking', () => {
  test('same doctor overlapping: 409 naming the doctor; same patient with another doctor: 409 naming the patient; adjacent is fine', async () => {
    const w = await world();
    const service60 = await createService(w.clinic.id, { duration_minutes: 60 });
    const a = await book(w, { start_time: sp(w.monday, '10:00') }); // patient 1, doctor 1, 10:00-10:30

    expectConflict(await tryBook(w, { patient_id: w.patient2Id, start_time: sp(w.monday, '10:00') }), 'doctor');
    expectConflict(await tryBook(w, { patient_id: w.patient2Id, start_time: sp(w.monday, '10:15'), consultation_type: 'video' }), 'doctor');
    expectConflict(await tryBook(w, { patient_id: w.patient2Id, service_id: service60.id, start_time: sp(w.monday, '09:45') }), 'doctor');
    expectConflict(await tryBook(w, { doctor_id: w.doctor2Id, start_time: sp(w.monday, '10:15') }), 'patient');
    expectConflict(await tryBook(w, { doctor_id: w.doctor2Id, service_id: service60.id, start_time: sp(w.monday, '09:30') }), 'patient');
    // the patient themself, on a free slot of the other doctor
    expectConflict(await tryBook(w, { patient_id: undefined, doctor_id: w.doctor2Id, start_time: sp(w.monday, '10:00') }, w.pat.access), 'patient');

    // end == next start does not overlap
    const after = await book(w, { patient_id: w.patient2Id, start_time: sp(w.monday, '10:30') });
    const before = await book(w, { doctor_id: w.doctor2Id, start_time: sp(w.monday, '09:30') });
    const longBefore = await book(w, { patient_id: w.patient2Id, service_id: service60.id, start_time: sp(w.monday, '09:00') });
    assert.equal(longBefore.end_time, a.start_time);

    assert.deepEqual(ids(await listAll('/api/appointments', w.rec.access)), [longBefore.id, before.id, a.id, after.id]);
  });

  test('a cancelled appointment frees its time: its slot shows again and it can be booked', async () => {
    const w = await world();
    const at = sp(w.monday, '11:00');
    const free = await slotKeys(w.doctorId, w.monday, w.pat.access);
    for (const k of [`${at} in_person`, `${at} video`]) assert.ok(free.includes(k), `slot ${k} missing before booking`);

    const a = await book(w, { patient_id: w.patient2Id, start_time: at });
    const service45 = await createService(w.clinic.id, { duration_minutes: 45 });
    await book(w, { patient_id: w.patient2Id, service_id: service45.id, start_time: sp(w.monday, '13:00') });
    const booked = await slotKeys(w.doctorId, w.monday, w.pat.access);
    const gone = [at, sp(w.monday, '13:00'), sp(w.monday, '13:30')];
    assert.deepEqual(booked.filter((k) => gone.some((g) => k.startsWith(g))), [], 'slots overlapping a booking must not be offered');
    for (const t of [sp(w.monday, '10:30'), sp(w.monday, '11:30'), sp(w.monday, '14:00')]) {
      assert.ok(booked.includes(`${t} in_person`), `slot ${t} should still be free`);
    }
    assert.deepEqual(booked, free.filter((k) => !gone.some((g) => k.startsWith(g))));
    expectConflict(await tryBook(w, { start_time: at }), 'doctor');

    expectStatus(await cancel(a.id, 'Paciente desistiu', w.rec.access), 200);
    const again = await slotKeys(w.doctorId, w.monday, w.pat.access);
    for (const k of [`${at} in_person`, `${at} video`]) assert.ok(again.includes(k), `slot ${k} should be free again after the cancel`);
    // the patient (not the one cancelled) takes the freed slot
    const b = await book(w, { patient_id: undefined, start_time: at }, w.pat.access);
    assert.deepEqual([b.patient_id, b.start_time, b.status], [w.patientId, at, 'confirmed']);
    assert.deepEqual((await slotKeys(w.doctorId, w.monday)).filter((k) => k.startsWith(at)), []);
    // and the cancelled patient may book the same time with the other doctor
    await book(w, { patient_id: w.patient2Id, doctor_id: w.doctor2Id, start_time: at });
  });
});

describe('concurrency', () => {
  test('10 concurrent bookings of one slot by 10 patients: one 201, nine 409', async () => {
    const w = await world();
    const admin = await asAdmin();
    const patients = await Promise.all(Array.from({ length: 10 }, (_, i) => createPatient(admin, { clinic_id: w.clinic.id, full_name: `Racer ${i} ${uniq()}` })));
    const at = sp(w.monday, '14:00');
    const results = await Promise.all(patients.map((p) => tryBook(w, { patient_id: p.id, start_time: at })));
    assert.deepEqual(countBy(results, (r) => r.status), { 201: 1, 409: 9 });
    for (const r of results.filter((x) => x.status === 409)) expectConflict(r, 'doctor');
    const winner = results.find((r) => r.status === 201).body;
    const list = await listAll(`/api/appointments?doctor_id=${w.doctorId}`, w.rec.access);
    assert.deepEqual(list, [winner]);
  });

  test('10 concurrent bookings of one patient with 10 doctors: one 201, nine 409', async () => {
    const w = await world();
    const doctors = await Promise.all(Array.from({ length: 10 }, () => createStaff('DOCTOR', w.clinic.id)));
    const at = sp(w.monday, '15:00');
    const results = await Promise.all(doctors.map((d) => tryBook(w, { doctor_id: d.user.doctor_id, start_time: at })));
    assert.deepEqual(countBy(results, (r) => r.status), { 201: 1, 409: 9 });
    for (const r of results.filter((x) => x.status === 409)) expectConflict(r, 'patient');
    assert.deepEqual(ids(await listAll(`/api/appointments?patient_id=${w.patientId}`, w.rec.access)), [results.find((r) => r.status === 201).body.id]);
  });

  test('concurrent bookings at staggered times: the ones accepted never overlap', async () => {
    const w = await world();
    const admin = await asAdmin();
    const patients = await Promise.all(Array.from({ length: 10 }, () => createPatient(admin, { clinic_id: w.clinic.id })));
    const starts = patients.map((_, i) => plusMinutes(sp(w.monday, '16:00'), 5 * i)); // 16:00, 16:05 .. 16:45, each 30 minutes
    const results = await Promise.all(patients.map((p, i) => tryBook(w, { patient_id: p.id, start_time: starts[i] })));
    for (const r of results) expectStatus(r, [201, 409]);
    const created = results.filter((r) => r.status === 201).map((r) => r.body);
    assert.ok(created.length >= 1, 'at least one booking must succeed');
    const overlap = (s, e, x) => Date.parse(s) < Date.parse(x.end_time) && Date.parse(x.start_time) < Date.parse(e);
    for (const a of created) {
      for (const b of created) if (a !== b) assert.equal(overlap(a.start_time, a.end_time, b), false, `${a.start_time} and ${b.start_time} overlap`);
    }
    results.forEach((r, i) => {
      if (r.status !== 409) return;
      expectConflict(r, 'doctor');
      const s = starts[i];
      assert.ok(created.some((c) => overlap(s, plusMinutes(s, 30), c)), `${s} was refused but overlaps no accepted booking`);
    });
    const list = await listAll(`/api/appointments?doctor_id=${w.doctorId}`, w.rec.access);
    assert.deepEqual(ids(list), ids([...created].sort((a, b) => Date.parse(a.start_time) - Date.parse(b.start_time))));
  });
});

describe('listing and visibility', () => {
  test('receptionist: own clinic; doctor: own appointments; patient: own; other clinic 404', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const admin = await asAdmin();
    // created out of start order: the list is by start_time, then id
    const a1 = await book(w, { start_time: sp(w.monday, '10:00') });
    const a2 = await book(w, { patient_id: w.patient2Id, start_time: sp(w.monday, '09:00') });
    const a3 = await book(w, { doctor_id: w.doctor2Id, start_time: sp(w.monday, '09:00') });
    const a4 = await book(w, { patient_id: w.patient2Id, doctor_id: w.doctor2Id, start_time: sp(w.monday, '10:00') });
    const b1 = await book(o);
    const all = [a2, a3, a1, a4];

    const recList = await listAll('/api/appointments', w.rec.access);
    assert.deepEqual(recList, all);
    assert.deepEqual(await listAll('/api/appointments', w.doc.access), [a2, a1]);
    assert.deepEqual(await listAll('/api/appointments', w.doc2.access), [a3, a4]);
    assert.deepEqual(await listAll('/api/appointments', w.pat.access), [a3, a1]);
    assert.deepEqual(await listAll('/api/appointments', w.pat2.access), [a2, a4]);
    for (const s of [o.rec, o.doc, o.pat]) {
      const list = await listAll('/api/appointments', s.access);
      assert.deepEqual(list.filter((x) => ids(all).includes(x.id)), [], `${s.user.role} of another clinic listed clinic-1 appointments`);
    }
    assert.deepEqual(ids(await listAll('/api/appointments', o.rec.access)), [b1.id]);

    for (const a of all) {
      assert.deepEqual(await getAppointment(a.id, w.rec.access), a);
      for (const s of [o.rec, o.doc, o.pat]) expectError(await get(`/api/appointments/${a.id}`, s.access), 404, 'not_found');
    }
    expectError(await get(`/api/appointments/${b1.id}`, w.rec.access), 404, 'not_found');
    expectError(await get(`/api/appointments/${b1.id}`, w.doc.access), 404, 'not_found');
    // a doctor: only their own appointments
    assert.deepEqual(await getAppointment(a1.id, w.doc.access), a1);
    for (const a of [a3, a4]) expectError(await get(`/api/appointments/${a.id}`, w.doc.access), 404, 'not_found');
    // a patient: only their own
    assert.deepEqual(await getAppointment(a3.id, w.pat.access), a3);
    for (const a of [a2, a4]) expectError(await get(`/api/appointments/${a.id}`, w.pat.access), 404, 'not_found');
    // filters cannot widen the view
    const docOther = await get(`/api/appointments?doctor_id=${w.doctor2Id}`, w.doc.access);
    assert.deepEqual(expectStatus(docOther, 200).body.items, []);
    const patOther = await get(`/api/appointments?patient_id=${w.patient2Id}`, w.pat.access);
    assert.deepEqual(expectStatus(patOther, 200).body.items, []);
    const recOther = await get(`/api/appointments?doctor_id=${o.doctorId}`, w.rec.access);
    assert.deepEqual(expectStatus(recOther, 200).body.items, []);

    // the admin sees every clinic
    assert.deepEqual(await getAppointment(b1.id, admin), b1);
    assert.deepEqual(await listAll(`/api/appointments?doctor_id=${w.doctorId}`, admin), [a2, a1]);
    assert.deepEqual(await listAll(`/api/appointments?doctor_id=${o.doctorId}`, admin), [b1]);
    expectError(await get(`/api/appointments/${NOT_FOUND_ID}`, admin), 404, 'not_found');
  });

  test('filters: doctor_id, patient_id, status, from/to as local dates of the clinic (to inclusive)', async () => {
    const w = await world();
    const next = addDays(w.monday, 7);
    const a = await book(w, { start_time: sp(w.monday, '08:00') }); // 11:00Z Monday
    const b = await book(w, { patient_id: w.patient2Id, start_time: sp(w.monday, '21:30') }); // 00:30Z Tuesday, local Monday
    const c = await book(w, { doctor_id: w.doctor2Id, start_time: sp(next, '09:00') });
    const d = await book(w, { patient_id: w.patient2Id, doctor_id: w.doctor2Id, start_time: sp(next, '12:00') });
    assert.equal(b.start_time, `${addDays(w.monday, 1)}T00:30:00Z`);
    expectStatus(await cancel(d.id, 'Remarcar', w.rec.access), 200);

    const q = async (query, token = w.rec.access) => ids(await listAll(`/api/appointments?${query}`, token));
    assert.deepEqual(await q(''), ids([a, b, c, d]));
    assert.deepEqual(await q(`doctor_id=${w.doctorId}`), ids([a, b]));
    assert.deepEqual(await q(`doctor_id=${w.doctor2Id}`), ids([c, d]));
    assert.deepEqual(await q(`patient_id=${w.patient2Id}`), ids([b, d]));
    assert.deepEqual(await q(`patient_id=${w.patientId}&doctor_id=${w.doctor2Id}`), ids([c]));
    assert.deepEqual(await q('status=cancelled'), ids([d]));
    assert.deepEqual(await q('status=confirmed'), ids([a, b, c]));
    assert.deepEqual(await q('status=no_show'), []);
    assert.deepEqual(await q(`from=${w.monday}&to=${w.monday}`), ids([a, b]));
    assert.deepEqual(await q(`to=${w.monday}`), ids([a, b]));
    assert.deepEqual(await q(`from=${addDays(w.monday, 1)}&to=${addDays(w.monday, 1)}`), []);
    assert.deepEqual(await q(`from=${addDays(w.monday, 1)}`), ids([c, d]));
    assert.deepEqual(await q(`from=${w.monday}&to=${next}`), ids([a, b, c, d]));
    assert.deepEqual(await q(`from=${next}&to=${next}&status=confirmed`), ids([c]));
    assert.deepEqual(await q(`doctor_id=${w.doctorId}&from=${next}`), []);
    // the same filters for a doctor and a patient, within what they may see
    assert.deepEqual(await q(`from=${w.monday}&to=${w.monday}`, w.doc.access), ids([a, b]));
    assert.deepEqual(await q('status=cancelled', w.doc2.access), ids([d]));
    assert.deepEqual(await q(`from=${next}`, w.pat.access), ids([c]));
    assert.deepEqual(await q('status=cancelled', w.pat2.access), ids([d]));
  });

  test('pagination: limit=2 and next_cursor go through everything once, in order', async () => {
    const w = await world();
    const times = ['10:00', '09:00', '09:00', '11:00', '10:00'];
    const made = [];
    for (const [i, t] of times.entries()) {
      // alternate doctor and patient so equal start times do not collide
      made.push(
        await book(w, {
          doctor_id: i % 2 ? w.doctor2Id : w.doctorId,
          patient_id: i % 2 ? w.patient2Id : w.patientId,
          start_time: sp(i < 3 ? w.monday : addDays(w.monday, 7), t),
        }),
      );
    }
    const full = await listAll('/api/appointments', w.rec.access);
    assert.equal(full.length, 5);
    const sorted = [...made].sort((x, y) => Date.parse(x.start_time) - Date.parse(y.start_time) || x.id - y.id);
    assert.deepEqual(full, sorted);

    for (const [query, want] of [
      ['', sorted],
      [`doctor_id=${w.doctorId}&`, sorted.filter((x) => x.doctor_id === w.doctorId)],
    ]) {
      const seen = [];
      let cursor = null;
      for (let page = 0; page < 10; page++) {
        const url = `/api/appointments?${query}limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const body = expectStatus(await get(url, w.rec.access), 200).body;
        assert.ok(body.items.length <= 2, `page of ${body.items.length} items with limit=2`);
        seen.push(...body.items);
        if (body.next_cursor === null) break;
        assert.equal(typeof body.next_cursor, 'string');
        assert.ok(body.items.length > 0, 'an empty page must not carry a next_cursor');
        cursor = body.next_cursor;
      }
      assert.equal(new Set(ids(seen)).size, seen.length, `duplicates across pages: ${ids(seen)}`);
      assert.deepEqual(seen, want);
    }
  });

  test('bad query parameters are 400 invalid_query', async () => {
    const w = await world();
    const cases = [
      ['status=done', ['status']],
      ['status=CONFIRMED', ['status']],
      ['status=', ['status']],
      ['from=2027-02-30', ['from']],
      ['from=tomorrow', ['from']],
      [`from=${w.monday}T00:00:00Z`, ['from']],
      ['to=2027-3-1', ['to']],
      ['to=x', ['to']],
      ['doctor_id=abc', ['doctor_id']],
      ['patient_id=1.5', ['patient_id']],
      ['limit=0', ['limit']],
      ['limit=201', ['limit']],
      ['cursor=not-a-cursor', null],
    ];
    for (const [query, fields] of cases) {
      for (const token of [w.rec.access, await asAdmin()]) {
        expectError(await get(`/api/appointments?${query}`, token), 400, 'invalid_query', fields || undefined);
      }
    }
  });
});

describe('reschedule', () => {
  test('PATCH moves an appointment: end_time recomputed, the double-booking rule applies', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const admin = await asAdmin();
    const service60 = await createService(w.clinic.id, { duration_minutes: 60 });
    const a = await book(w, { start_time: sp(w.monday, '09:00'), notes: 'Antes' });

    const moved = expectStatus(await patch(`/api/appointments/${a.id}`, { start_time: `${w.monday}T11:00:00-03:00` }, w.rec.access), 200).body;
    assert.deepEqual(
      { ...moved, updated_at: a.updated_at },
      { ...a, start_time: sp(w.monday, '11:00'), end_time: sp(w.monday, '11:30') },
    );
    assert.match(moved.updated_at, INSTANT);
    assert.ok(moved.updated_at >= a.updated_at, `updated_at went back: ${moved.updated_at} < ${a.updated_at}`);
    assert.deepEqual(await getAppointment(a.id, w.rec.access), moved);

    const longer = expectStatus(await patch(`/api/appointments/${a.id}`, { service_id: service60.id }, w.rec.access), 200).body;
    assert.deepEqual([longer.service_id, longer.start_time, longer.end_time], [service60.id, sp(w.monday, '11:00'), sp(w.monday, '12:00')]);
    // overlapping only its own old time is fine
    const shifted = expectStatus(await patch(`/api/appointments/${a.id}`, { start_time: sp(w.monday, '11:30') }, admin), 200).body;
    assert.deepEqual([shifted.start_time, shifted.end_time], [sp(w.monday, '11:30'), sp(w.monday, '12:30')]);

    // onto another appointment of the doctor, or of the patient
    const b = await book(w, { patient_id: w.patient2Id, start_time: sp(w.monday, '14:00') });
    await book(w, { doctor_id: w.doctor2Id, start_time: sp(w.monday, '16:00') });
    expectConflict(await patch(`/api/appointments/${a.id}`, { start_time: sp(w.monday, '13:30') }, w.rec.access), 'doctor');
    expectConflict(await patch(`/api/appointments/${b.id}`, { service_id: service60.id, start_time: sp(w.monday, '11:00') }, w.rec.access), 'doctor');
    expectConflict(await patch(`/api/appointments/${a.id}`, { start_time: sp(w.monday, '15:45') }, w.rec.access), 'patient');
    expectConflict(await patch(`/api/appointments/${a.id}`, { doctor_id: w.doctor2Id, start_time: sp(w.monday, '16:00') }, w.rec.access), '(doctor|patient)');
    assert.deepEqual(await getAppointment(a.id), shifted);

    // another doctor, type and notes; the end follows the (unchanged) 60-minute service
    const changed = expectStatus(
      await patch(`/api/appointments/${a.id}`, { doctor_id: w.doctor2Id, consultation_type: 'video', notes: 'Depois' }, w.rec.access),
      200,
    ).body;
    assert.deepEqual(
      pick(changed, ['doctor_id', 'consultation_type', 'notes', 'start_time', 'end_time', 'status', 'patient_id']),
      { doctor_id: w.doctor2Id, consultation_type: 'video', notes: 'Depois', start_time: sp(w.monday, '11:30'), end_time: sp(w.monday, '12:30'), status: 'confirmed', patient_id: w.patientId },
    );
    const cleared = expectStatus(await patch(`/api/appointments/${a.id}`, { notes: null }, w.rec.access), 200).body;
    assert.equal(cleared.notes, null);
    // the first doctor's time is free again, the second doctor's is taken
    assert.ok((await slotKeys(w.doctorId, w.monday)).includes(`${sp(w.monday, '11:30')} in_person`));
    assert.equal((await slotKeys(w.doctor2Id, w.monday)).some((k) => k.startsWith(sp(w.monday, '11:30'))), false);

    const bad = [
      [{ start_time: `${addDays(isoDate(), -1)}T12:00:00Z` }, 'start_time'],
      [{ start_time: 'soon' }, 'start_time'],
      [{ start_time: null }, 'start_time'],
      [{ consultation_type: 'phone' }, 'consultation_type'],
      [{ notes: 'n'.repeat(2001) }, 'notes'],
      [{ doctor_id: o.doctorId }, 'doctor_id'],
      [{ doctor_id: NOT_FOUND_ID }, 'doctor_id'],
      [{ service_id: o.service.id }, 'service_id'],
      [{ status: 'completed' }, 'status'],
      [{ patient_id: w.patient2Id }, 'patient_id'],
      [{ end_time: sp(w.monday, '13:00') }, 'end_time'],
    ];
    for (const [fields, field] of bad) {
      expectError(await patch(`/api/appointments/${a.id}`, fields, w.rec.access), 422, 'validation_failed', [field]);
    }
    assert.deepEqual(await getAppointment(a.id), cleared);

    expectError(await patch(`/api/appointments/${a.id}`, { notes: 'x' }, o.rec.access), 404, 'not_found');
    expectError(await patch(`/api/appointments/${NOT_FOUND_ID}`, { notes: 'x' }, admin), 404, 'not_found');
    const rows = await auditRows(`action=appointment_update&entity_id=${a.id}`);
    assert.ok(rows.length >= 1, `appointment_update audit rows for appointment ${a.id}: ${rows.length}`);
  });
});

describe('cancel and no-show', () => {
  test('cancel: reason 1..500 required; cancelled_by clinic; then every change is 409', async () => {
    const w = await world();
    const admin = await asAdmin();
    const a = await book(w, { start_time: sp(w.monday, '09:00') });

    for (const [body, field] of [
      [{}, 'reason'],
      [{ reason: '' }, 'reason'],
      [{ reason: null }, 'reason'],
      [{ reason: 5 }, 'reason'],
      [{ reason: 'r'.repeat(501) }, 'reason'],
      [{ reason: 'ok', cancelled_by: 'patient' }, 'cancelled_by'],
    ]) {
      expectError(await post(`/api/appointments/${a.id}/cancel`, body, w.rec.access), 422, 'validation_failed', [field]);
    }
    assert.equal((await getAppointment(a.id)).status, 'confirmed');

    const reason = 'r'.repeat(500);
    const c = expectStatus(await cancel(a.id, reason, w.rec.access), 200).body;
    assert.deepEqual(
      { ...c, cancelled_at: null, updated_at: null },
      { ...a, status: 'cancelled', cancel_reason: reason, cancelled_by: 'clinic', cancelled_at: null, updated_at: null },
    );
    assert.match(c.cancelled_at, INSTANT);
    assert.ok(c.updated_at >= a.updated_at);
    assert.deepEqual(await getAppointment(a.id, w.rec.access), c);

    expectError(await cancel(a.id, 'again', w.rec.access), 409, 'conflict');
    expectError(await cancel(a.id, 'again', w.pat.access), 409, 'conflict');
    expectError(await patch(`/api/appointments/${a.id}`, { start_time: sp(w.monday, '10:00') }, w.rec.access), 409, 'conflict');
    expectError(await patch(`/api/appointments/${a.id}`, { notes: 'late' }, admin), 409, 'conflict');
    expectError(await noShow(a.id, w.rec.access), 409, 'conflict');
    assert.deepEqual(await getAppointment(a.id), c);

    const b = await book(w, { start_time: sp(w.monday, '10:00') });
    const byAdmin = expectStatus(await cancel(b.id, 'Médico em congresso', admin), 200).body;
    assert.deepEqual([byAdmin.status, byAdmin.cancelled_by, byAdmin.cancel_reason], ['cancelled', 'clinic', 'Médico em congresso']);

    const rows = await auditRows(`action=appointment_cancel&entity_id=${a.id}`);
    assert.equal(rows.length, 1, `appointment_cancel audit rows for appointment ${a.id}: ${JSON.stringify(rows)}`);
  });

  test('a patient cancels their own appointment (cancelled_by patient); others are 404', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const mine = await book(w, { start_time: sp(w.monday, '09:00') });
    const theirs = await book(w, { patient_id: w.patient2Id, start_time: sp(w.monday, '10:00') });

    expectError(await cancel(theirs.id, 'not mine', w.pat.access), 404, 'not_found');
    for (const s of [o.rec, o.pat]) expectError(await cancel(mine.id, 'other clinic', s.access), 404, 'not_found');
    expectError(await cancel(NOT_FOUND_ID, 'nothing', w.pat.access), 404, 'not_found');
    expectError(await cancel(mine.id, 'another doctor', w.doc2.access), 404, 'not_found');
    assert.equal((await getAppointment(theirs.id)).status, 'confirmed');

    const c = expectStatus(await cancel(mine.id, 'Não poderei ir', w.pat.access), 200).body;
    assert.deepEqual([c.status, c.cancelled_by, c.cancel_reason], ['cancelled', 'patient', 'Não poderei ir']);
    assert.match(c.cancelled_at, INSTANT);
    expectError(await cancel(mine.id, 'again', w.pat.access), 409, 'conflict');
  });

  test('no-show before the start is 409; only admin and receptionist of the clinic', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const admin = await asAdmin();
    const a = await book(w, { start_time: sp(w.monday, '09:00') });

    expectError(await noShow(a.id, w.rec.access), 409, 'conflict');
    expectError(await noShow(a.id, admin), 409, 'conflict');
    expectError(await noShow(a.id, o.rec.access), 404, 'not_found');
    expectError(await noShow(NOT_FOUND_ID, admin), 404, 'not_found');
    expectError(await noShow(a.id, w.doc.access), 403, 'forbidden');
    expectError(await noShow(a.id, w.pat.access), 403, 'forbidden');
    assert.deepEqual(await getAppointment(a.id), a);
    assert.deepEqual(await auditRows(`action=appointment_no_show&entity_id=${a.id}`), []);
  });

  test('no-show once the start has passed: 200 no_show, announced and audited; only from confirmed', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const admin = await asAdmin();
    const startRec = await eventsEnd(w.rec.access);
    const at = soon();
    const a = await book(w, { start_time: at });
    const b = await book(w, { patient_id: w.patient2Id, doctor_id: w.doctor2Id, start_time: at });
    expectStatus(await cancel(b.id, 'Desmarcou', w.rec.access), 200);
    await waitUntilPast(at);

    expectError(await noShow(b.id, w.rec.access), 409, 'conflict');
    expectError(await noShow(a.id, o.rec.access), 404, 'not_found');
    expectError(await noShow(a.id, w.doc.access), 403, 'forbidden');
    expectError(await noShow(a.id, w.pat.access), 403, 'forbidden');
    assert.deepEqual(await getAppointment(a.id), a);

    const n = expectStatus(await noShow(a.id, w.rec.access), 200).body;
    assert.deepEqual({ ...n, updated_at: a.updated_at }, { ...a, status: 'no_show' });
    assert.ok(n.updated_at >= a.updated_at);
    assert.deepEqual(await getAppointment(a.id, w.doc.access), n);
    expectError(await noShow(a.id, admin), 409, 'conflict');
    expectError(await cancel(a.id, 'late', w.rec.access), 409, 'conflict');
    expectError(await patch(`/api/appointments/${a.id}`, { start_time: sp(w.monday, '09:00') }, w.rec.access), 409, 'conflict');
    assert.deepEqual(await listAll('/api/appointments?status=no_show', w.rec.access), [n]);

    const rows = await auditRows(`action=appointment_no_show&entity_id=${a.id}`);
    assert.equal(rows.length, 1, `appointment_no_show audit rows for appointment ${a.id}: ${JSON.stringify(rows)}`);
    const events = (await eventsSince(w.rec.access, startRec, 4)).items.filter((e) => e.data.appointment.id === a.id);
    assert.deepEqual(events.map((e) => [e.name, e.data.appointment.status]), [
      ['appointment_created', 'confirmed'],
      ['appointment_updated', 'no_show'],
    ]);
  });
});

describe('events', () => {
  test('create, reschedule, cancel: three events, in order, to the clinic, the doctor and the patient only', async () => {
    const secrets = { cpf: cpf(), phone: '+55 11 98765-4321', email: freshEmail('mariana'), medical_history: 'Alergia a penicilina' };
    const [w, o] = await Promise.all([world({ patient: { full_name: 'Mariana Costa Souza', birth_date: '1990-05-17', ...secrets } }), world()]);
    const admin = await asAdmin();
    const watchers = { rec: w.rec, doc: w.doc, doc2: w.doc2, pat: w.pat, pat2: w.pat2, otherRec: o.rec, otherDoc: o.doc };
    const start = {};
    for (const [name, s] of Object.entries(watchers)) start[name] = await eventsEnd(s.access);
    start.admin = await eventsEnd(admin);

    const a = await book(w, { start_time: sp(w.monday, '09:00'), notes: 'Suspeita de diabetes' });
    // a refused booking announces nothing
    expectConflict(await tryBook(w, { patient_id: w.patient2Id, start_time: sp(w.monday, '09:00') }), 'doctor');
    const moved = expectStatus(await patch(`/api/appointments/${a.id}`, { start_time: sp(w.monday, '10:00') }, w.rec.access), 200).body;
    const cancelled = expectStatus(await cancel(a.id, 'Viagem', w.rec.access), 200).body;

    const { items, cursor } = await eventsSince(w.rec.access, start.rec, 3);
    assert.deepEqual(items.map((e) => e.name), ['appointment_created', 'appointment_updated', 'appointment_cancelled']);
    const states = [a, moved, cancelled];
    items.forEach((e, i) => {
      assert.equal(typeof e.event_id, 'string');
      assert.ok(e.event_id.length > 0, 'empty event_id');
      assert.match(e.occurred_at, INSTANT);
      assert.deepEqual(Object.keys(e.data).sort(), ['appointment', 'patient_label']);
      assert.deepEqual(Object.keys(e.data.appointment).sort(), [...EVENT_APPOINTMENT_KEYS].sort());
      assert.deepEqual(e.data.appointment, pick(states[i], EVENT_APPOINTMENT_KEYS));
      assert.equal(e.data.patient_label, 'Mariana S.');
    });
    assert.equal(items[1].data.appointment.start_time, sp(w.monday, '10:00'));
    assert.equal(items[2].data.appointment.status, 'cancelled');
    assert.equal(new Set(items.map((e) => e.event_id)).size, 3);
    const text = JSON.stringify(items);
    for (const leak of [secrets.cpf, secrets.phone, secrets.email, 'penicilina', 'Costa', 'Souza', '1990-05-17', 'diabetes', 'Viagem']) {
      assert.equal(text.includes(leak), false, `the events leak ${leak}: ${text}`);
    }
    assert.equal(/98765/.test(text), false, 'the events leak the phone number');

    // polling on finds nothing new, and gives the cursor back
    const again = expectStatus(await get(`/api/events?after=${encodeURIComponent(cursor)}`, w.rec.access), 200).body;
    assert.deepEqual(again, { items: [], next_cursor: cursor });

    // the same events, once each, for the doctor (clinic and doctor rooms), a colleague (clinic room)
    // and the patient (patient room)
    for (const name of ['doc', 'doc2', 'pat']) {
      // (their personal notifications of the booking travel in the same feed: sql/0027, tests/api/notifications.test.mjs)
      const seen = (await eventsSince(watchers[name].access, start[name], 3)).items.filter((e) => e.name !== 'notification');
      assert.deepEqual(seen, items, `${name} should see exactly the three events`);
    }
    const adminSeen = (await eventsSince(admin, start.admin, 3)).items.filter((e) => e.data?.appointment?.id === a.id);
    assert.deepEqual(adminSeen, items);
    // another patient of the clinic and another clinic's staff see nothing of it
    for (const name of ['pat2', 'otherRec', 'otherDoc']) {
      const seen = (await eventsSince(watchers[name].access, start[name])).items;
      assert.deepEqual(seen, [], `${name} must not see these events`);
    }
  });

  test('a patient booking and cancelling announces to the clinic and to the patient', async () => {
    const w = await world({ patient: { full_name: 'Paulo Pereira' } });
    const startRec = await eventsEnd(w.rec.access);
    const startPat = await eventsEnd(w.pat.access);
    const a = await book(w, { patient_id: undefined, start_time: sp(w.monday, '13:00'), consultation_type: 'video' }, w.pat.access);
    expectStatus(await cancel(a.id, 'Imprevisto', w.pat.access), 200);
    const recItems = (await eventsSince(w.rec.access, startRec, 2)).items;
    assert.deepEqual(recItems.map((e) => [e.name, e.data.appointment.id, e.data.patient_label]), [
      ['appointment_created', a.id, 'Paulo P.'],
      ['appointment_cancelled', a.id, 'Paulo P.'],
    ]);
    assert.deepEqual((await eventsSince(w.pat.access, startPat, 2)).items.filter((e) => e.name !== 'notification'), recItems);
  });

  test('malformed after and bad limit are 400 invalid_query', async () => {
    const w = await world();
    for (const token of [w.rec.access, w.pat.access, await asAdmin()]) {
      for (const after of ['abc', 'zz-zz', '!']) {
        expectError(await get(`/api/events?after=${encodeURIComponent(after)}`, token), 400, 'invalid_query', ['after']);
      }
      for (const limit of ['0', '201', 'abc']) {
        expectError(await get(`/api/events?limit=${limit}`, token), 400, 'invalid_query', ['limit']);
      }
    }
    const fresh = expectStatus(await get('/api/events?limit=1', w.rec.access), 200).body;
    assert.deepEqual(fresh, { items: [], next_cursor: null });
  });
});
