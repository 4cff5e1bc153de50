// Booking rules at the edges: slots across daylight-saving changes, a patient's own booking kept
// inside the doctor's published hours and clear of blocks, concurrent self-bookings of one slot,
// instants with fractions of a second, and malformed cursors and offsets.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  addDays, asAdmin, createAvailability, createClinic, createPatient, createService, createStaff,
  createUnavailability, expectError, expectStatus, get, nextWeekday, nthSunday, patch, patientSession, post,
  staffSession,
} from '../lib/api.mjs';

async function doctorIn(timezone) {
  const clinic = await createClinic({ timezone });
  const doctorId = (await createStaff('DOCTOR', clinic.id)).user.doctor_id;
  return { clinic, doctorId };
}

const minutes = (a, b) => (Date.parse(b) - Date.parse(a)) / 60000;

describe('slots across daylight-saving changes', () => {
  test('spring forward: the skipped hour has no slots, every slot lasts its length, blocks elsewhere change nothing', async () => {
    const { doctorId } = await doctorIn('America/New_York');
    await createAvailability(doctorId, { weekday: 7, start_time: '01:00', end_time: '04:00', slot_minutes: 30 });
    const spring = nthSunday(new Date().getUTCFullYear() + 1, 3, 2);
    const q = `/api/doctors/${doctorId}/slots?from=${spring}&to=${spring}&type=in_person`;
    const admin = await asAdmin();
    const items = expectStatus(await get(q, admin), 200).body.items;
    // 01:00 and 01:30 EST, then 03:00 and 03:30 EDT: 02:00-03:00 does not exist that night.
    assert.deepEqual(items.map((s) => [s.start_time, s.end_time]), [
      [`${spring}T06:00:00Z`, `${spring}T06:30:00Z`],
      [`${spring}T06:30:00Z`, `${spring}T07:00:00Z`],
      [`${spring}T07:00:00Z`, `${spring}T07:30:00Z`],
      [`${spring}T07:30:00Z`, `${spring}T08:00:00Z`],
    ]);
    await createUnavailability(doctorId, { starts_at: `${addDays(spring, 60)}T00:00:00Z`, ends_at: `${addDays(spring, 61)}T00:00:00Z` });
    assert.deepEqual(expectStatus(await get(q, admin), 200).body.items, items);
    const month = expectStatus(await get(`/api/doctors/${doctorId}/slots?from=${addDays(spring, -6)}&to=${addDays(spring, 6)}`, admin), 200);
    assert.ok(month.body.items.length >= items.length);
  });

  test('fall back: slots last their length and never overlap', async () => {
    const { doctorId } = await doctorIn('America/New_York');
    await createAvailability(doctorId, { weekday: 7, start_time: '00:00', end_time: '03:00', slot_minutes: 30 });
    const fall = nthSunday(new Date().getUTCFullYear() + 1, 11, 1);
    const items = expectStatus(await get(`/api/doctors/${doctorId}/slots?from=${fall}&to=${fall}`, await asAdmin()), 200).body.items;
    assert.ok(items.length >= 6, JSON.stringify(items));
    for (const [i, s] of items.entries()) {
      assert.equal(minutes(s.start_time, s.end_time), 30, JSON.stringify(s));
      if (i > 0) assert.ok(items[i - 1].end_time <= s.start_time, `overlap: ${JSON.stringify(items.slice(i - 1, i + 1))}`);
    }
  });
});

describe("a patient's own booking", () => {
  async function setup() {
    const { clinic, doctorId } = await doctorIn('America/Sao_Paulo');
    await createAvailability(doctorId, { weekday: 1, start_time: '09:00', end_time: '11:00', slot_minutes: 30 });
    const long = await createService(clinic.id, { duration_minutes: 60 });
    const monday = nextWeekday(1);
    const pat = await patientSession(clinic.id);
    const book = (start) => post('/api/appointments', { doctor_id: doctorId, service_id: long.id, start_time: start,
      consultation_type: 'in_person' }, pat.access);
    return { clinic, doctorId, monday, pat, book };
  }

  test('a service longer than the slot may not run into a block', async () => {
    const { doctorId, monday, book } = await setup();
    await createUnavailability(doctorId, { starts_at: `${monday}T10:00:00-03:00`, ends_at: `${monday}T11:00:00-03:00` });
    expectError(await book(`${monday}T09:30:00-03:00`), 422, 'validation_failed', ['start_time']);
    expectStatus(await book(`${monday}T09:00:00-03:00`), 201);
  });

  test('nor past the end of the hours', async () => {
    const { monday, book } = await setup();
    expectError(await book(`${monday}T10:30:00-03:00`), 422, 'validation_failed', ['start_time']);
    expectStatus(await book(`${monday}T10:00:00-03:00`), 201);
  });

  test('patients taking one slot at once: one 201, the others 409 naming the doctor', async () => {
    const { clinic, doctorId } = await doctorIn('America/Sao_Paulo');
    await createAvailability(doctorId, { weekday: 1, start_time: '09:00', end_time: '10:00', slot_minutes: 30 });
    const service = await createService(clinic.id, { duration_minutes: 30 });
    const monday = nextWeekday(1);
    const pats = await Promise.all(Array.from({ length: 6 }, () => patientSession(clinic.id)));
    const res = await Promise.all(pats.map((p) => post('/api/appointments', { doctor_id: doctorId, service_id: service.id,
      start_time: `${monday}T12:00:00Z`, consultation_type: 'in_person' }, p.access)));
    assert.deepEqual(res.map((r) => r.status).sort(), [201, 409, 409, 409, 409, 409]);
    for (const r of res.filter((x) => x.status === 409)) {
      expectError(r, 409, 'conflict');
      assert.match(r.body.error.message, /doctor/);
    }
  });
});

describe('instants and cursors', () => {
  test('fractions of a second are dropped, so the next slot stays bookable', async () => {
    const { clinic, doctorId } = await doctorIn('America/Sao_Paulo');
    const rec = await staffSession('RECEPTIONIST', clinic.id);
    const service = await createService(clinic.id, { duration_minutes: 30 });
    const p1 = await createPatient(rec.access, { clinic_id: clinic.id });
    const p2 = await createPatient(rec.access, { clinic_id: clinic.id });
    const day = nextWeekday(2);
    const first = await post('/api/appointments', { patient_id: p1.id, doctor_id: doctorId, service_id: service.id,
      start_time: `${day}T12:00:00.500Z`, consultation_type: 'in_person' }, rec.access);
    assert.deepEqual([first.body.start_time, first.body.end_time], [`${day}T12:00:00Z`, `${day}T12:30:00Z`]);
    expectStatus(await post('/api/appointments', { patient_id: p2.id, doctor_id: doctorId, service_id: service.id,
      start_time: `${day}T12:30:00Z`, consultation_type: 'in_person' }, rec.access), 201);
  });

  test('an event cursor out of range and a list cursor with a bad instant are 400', async () => {
    const admin = await asAdmin();
    expectError(await get('/api/events?after=1-9999999999999999999', admin), 400, 'invalid_query', ['after']);
    const cursor = Buffer.from('["garbage",1]').toString('base64url');
    expectError(await get(`/api/appointments?cursor=${cursor}`, admin), 400, 'invalid_query', ['cursor']);
  });

  test('offsets beyond +-15:59 and a leap second with a fraction are refused by name', async () => {
    const { doctorId } = await doctorIn('UTC');
    const admin = await asAdmin();
    expectError(await post(`/api/doctors/${doctorId}/unavailability`, { starts_at: '2030-01-01T10:00:00+16:00',
      ends_at: '2030-01-02T10:00:00Z' }, admin), 422, 'validation_failed', ['starts_at']);
    expectError(await post(`/api/doctors/${doctorId}/unavailability`, { starts_at: '2030-01-01T10:00:00Z',
      ends_at: '2030-06-30T23:59:60.5Z' }, admin), 422, 'validation_failed', ['ends_at']);
  });

  test('rescheduling onto a service no longer offered is refused', async () => {
    const { clinic, doctorId } = await doctorIn('America/Sao_Paulo');
    const rec = await staffSession('RECEPTIONIST', clinic.id);
    const [s1, s2] = await Promise.all([createService(clinic.id), createService(clinic.id)]);
    expectStatus(await patch(`/api/services/${s2.id}`, { active: false }, await asAdmin()), 200);
    const p = await createPatient(rec.access, { clinic_id: clinic.id });
    const a = expectStatus(await post('/api/appointments', { patient_id: p.id, doctor_id: doctorId, service_id: s1.id,
      start_time: `${nextWeekday(3)}T13:00:00Z`, consultation_type: 'in_person' }, rec.access), 201).body;
    expectError(await patch(`/api/appointments/${a.id}`, { service_id: s2.id }, rec.access), 422, 'validation_failed', ['service_id']);
  });
});
