// A patient's self-service: GET /api/patients/me/history (their own visits only, evolutions only once
// signed, payments without the doctor's share, upcoming appointments, the documents shared with them), and
// rescheduling (PATCH /api/appointments/{id}) and cancelling their own booking up to
// PATIENT_CHANGE_NOTICE_HOURS before it (default 24; a throwaway api-server with another value) into a
// free published slot only.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  asAdmin,
  completeVisit,
  createAppointment,
  createAvailability,
  createClinic,
  createService,
  expectError,
  expectStatus,
  get,
  listAll,
  moveVisit,
  patch,
  patientSession,
  post,
  put,
  request,
  staffSession,
  startApi,
  walkIn,
} from '../lib/api.mjs';

const HOUR = 3600000;
const instant = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
// The next whole half hour at least `hours` from now that is a published slot of the world's doctor
// (every half hour of the day but 23:30 UTC).
function slotAhead(hours) {
  let ms = Math.ceil((Date.now() + hours * HOUR) / (30 * 60000)) * 30 * 60000;
  if (new Date(ms).toISOString().slice(11, 16) === '23:30') ms += 30 * 60000;
  return instant(ms);
}

// A fresh UTC clinic whose doctor publishes 30-minute in-person slots all day, every day; a receptionist,
// two patients with accounts and a 30-minute service.
async function world() {
  const clinic = await createClinic({ timezone: 'UTC' });
  const [rec, doc, pat, pat2, service] = await Promise.all([
    staffSession('RECEPTIONIST', clinic.id),
    staffSession('DOCTOR', clinic.id),
    patientSession(clinic.id),
    patientSession(clinic.id),
    createService(clinic.id, { duration_minutes: 30 }),
  ]);
  const doctorId = doc.user.doctor_id;
  for (let weekday = 1; weekday <= 7; weekday++) {
    await createAvailability(doctorId, { weekday, start_time: '00:00', end_time: '23:30', slot_minutes: 30 });
  }
  return { clinic, rec, doc, pat, pat2, service, doctorId, patientId: pat.patient.id };
}

// The patient's own booking at start_time.
const bookOwn = (w, start_time, pat = w.pat) =>
  createAppointment(pat.access, { doctor_id: w.doctorId, service_id: w.service.id, start_time });

// A completed visit of patientId with w's doctor whose evolution has notes; signed unless told.
async function completedVisit(w, patientId, { signed = true, notes = 'Sore throat.' } = {}) {
  const v = await walkIn(w.rec.access, { patient_id: patientId, doctor_id: w.doctorId, service_id: w.service.id });
  await moveVisit(v.id, 'with_doctor', w.rec.access);
  expectStatus(await put(`/api/visits/${v.id}/evolution`, {
    notes, diagnoses: [{ code: 'J02.9', description: 'Acute pharyngitis' }],
    prescriptions: [{ drug: 'Ibuprofen', dose: '400 mg', route: 'oral', frequency: 'every 8 hours' }],
  }, w.doc.access), [200, 201]);
  if (signed) expectStatus(await post(`/api/visits/${v.id}/evolution/sign`, undefined, w.doc.access), 200);
  await completeVisit(v.id, w.doc.access);
  return v;
}

describe('GET /api/patients/me/history', () => {
  test('only my visits, evolutions only once signed, my payments without shares, my upcoming bookings, the documents shared with me', async () => {
    const w = await world();
    const signed = await completedVisit(w, w.patientId);
    const draft = await completedVisit(w, w.patientId, { signed: false, notes: 'Not signed yet.' });
    await completedVisit(w, w.pat2.patient.id, { notes: 'Someone else.' });
    const mine = await bookOwn(w, slotAhead(48));
    await bookOwn(w, slotAhead(72), w.pat2);
    const h = expectStatus(await get('/api/patients/me/history', w.pat.access), 200).body;
    assert.deepEqual(h.items.map((i) => i.visit.id), [draft.id, signed.id], 'my visits, newest first');
    assert.ok(h.items.every((i) => i.visit.patient_id === w.patientId));
    const [d, s] = h.items;
    assert.equal(d.evolution, null, 'a draft evolution is not shown');
    assert.equal(s.evolution.status, 'signed');
    assert.equal(s.evolution.notes, 'Sore throat.');
    assert.deepEqual(s.evolution.diagnoses, [{ code: 'J02.9', description: 'Acute pharyngitis' }]);
    assert.equal(s.evolution.prescriptions[0].drug, 'Ibuprofen');
    assert.equal(s.service_name, w.service.name);
    assert.equal(s.doctor_name, w.doc.user.full_name);
    assert.equal(s.payment.amount_cents, w.service.price_cents);
    assert.equal(s.payment.status, 'pending');
    assert.ok(!('doctor_share_cents' in s.payment));
    assert.deepEqual(h.upcoming_appointments.map((a) => a.id), [mine.id]);
    assert.deepEqual(h.documents, [], 'no documents yet');
    assert.equal(h.next_cursor, null);
    // a document shared with the patient is listed; one kept for the staff, and another patient's, are not
    const doc = async (patientId, shared) => {
      const fd = new FormData();
      fd.append('file', new Blob([Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.from(String(Math.random()))])]), 'r.pdf');
      fd.append('title', 'Result');
      fd.append('shared_with_patient', String(shared));
      return expectStatus(await request('POST', `/api/patients/${patientId}/documents`,
        { token: w.rec.access, raw: fd, headers: { 'content-type': null } }), 201).body;
    };
    const shared = await doc(w.patientId, true);
    await doc(w.patientId, false);
    await doc(w.pat2.patient.id, true);
    const again = expectStatus(await get('/api/patients/me/history', w.pat.access), 200).body;
    assert.deepEqual(again.documents.map((x) => x.id), [shared.id]);
  });

  test('pages by limit and cursor; at most limit upcoming bookings; staff get 403', async () => {
    const w = await world();
    const visits = [];
    for (let i = 0; i < 3; i++) visits.unshift((await completedVisit(w, w.patientId)).id);
    const a1 = await bookOwn(w, slotAhead(30));
    const a2 = await bookOwn(w, slotAhead(40));
    await bookOwn(w, slotAhead(50));
    const first = expectStatus(await get('/api/patients/me/history?limit=2', w.pat.access), 200).body;
    assert.deepEqual(first.items.map((i) => i.visit.id), visits.slice(0, 2));
    assert.deepEqual(first.upcoming_appointments.map((a) => a.id), [a1.id, a2.id], 'the first `limit`, soonest first');
    assert.ok(first.next_cursor);
    const second = expectStatus(await get(`/api/patients/me/history?limit=2&cursor=${first.next_cursor}`, w.pat.access), 200).body;
    assert.deepEqual(second.items.map((i) => i.visit.id), visits.slice(2));
    assert.equal(second.next_cursor, null);
    expectError(await get('/api/patients/me/history?limit=201', w.pat.access), 400, 'invalid_query', ['limit']);
    for (const token of [w.rec.access, w.doc.access, await asAdmin()]) {
      expectError(await get('/api/patients/me/history', token), 403, 'forbidden');
    }
  });
});

describe('a patient reschedules and cancels their own booking', () => {
  test('into a free published slot, outside the notice window; inside it a 409 naming the window', async () => {
    const w = await world();
    const appt = await bookOwn(w, slotAhead(48));
    const to = slotAhead(96);
    const moved = expectStatus(await patch(`/api/appointments/${appt.id}`, { start_time: to }, w.pat.access), 200).body;
    assert.equal(moved.start_time, to);
    assert.equal(moved.status, appt.status);
    const audit = await listAll(`/api/audit?action=appointment_update&entity_id=${appt.id}`, await asAdmin());
    assert.equal(audit.length, 1);
    assert.equal(audit[0].actor_user_id, w.pat.user.id);

    const soon = await bookOwn(w, slotAhead(3));
    const late = expectError(await patch(`/api/appointments/${soon.id}`, { start_time: slotAhead(100) }, w.pat.access), 409, 'conflict');
    assert.match(late.body.error.message, /24 hours/);
    expectError(await post(`/api/appointments/${soon.id}/cancel`, { reason: 'Cannot come' }, w.pat.access), 409, 'conflict');
    assert.equal((await get(`/api/appointments/${soon.id}`, w.pat.access)).body.start_time, soon.start_time, 'unchanged');
    // the clinic is not bound by the patient's window
    expectStatus(await patch(`/api/appointments/${soon.id}`, { start_time: slotAhead(101) }, w.rec.access), 200);
  });

  test('a taken slot is a 409, an unpublished time a 422, another field a 422, someone else\'s booking a 404', async () => {
    const w = await world();
    const appt = await bookOwn(w, slotAhead(48));
    const taken = await bookOwn(w, slotAhead(60), w.pat2);
    expectError(await patch(`/api/appointments/${appt.id}`, { start_time: taken.start_time }, w.pat.access), 409, 'conflict');
    const offSlot = instant(Date.parse(slotAhead(70)) + 10 * 60000);
    expectError(await patch(`/api/appointments/${appt.id}`, { start_time: offSlot }, w.pat.access), 422, 'validation_failed', ['start_time']);
    expectError(await patch(`/api/appointments/${appt.id}`, { start_time: instant(Date.now() - HOUR) }, w.pat.access), 422, 'validation_failed', ['start_time']);
    expectError(await patch(`/api/appointments/${appt.id}`, { start_time: slotAhead(80), notes: 'x' }, w.pat.access), 422, 'validation_failed', ['notes']);
    expectError(await patch(`/api/appointments/${appt.id}`, {}, w.pat.access), 422, 'validation_failed', ['start_time']);
    expectError(await patch(`/api/appointments/${taken.id}`, { start_time: slotAhead(80) }, w.pat.access), 404, 'not_found');
    expectError(await post(`/api/appointments/${taken.id}/cancel`, { reason: 'Not mine' }, w.pat.access), 404, 'not_found');
    const other = await world();
    const foreign = await bookOwn(other, slotAhead(48));
    expectError(await patch(`/api/appointments/${foreign.id}`, { start_time: slotAhead(80) }, w.pat.access), 404, 'not_found');
    // a blocked time is not a free published slot either
    const blocked = Date.parse(slotAhead(120));
    expectStatus(await post(`/api/doctors/${w.doctorId}/unavailability`, { starts_at: instant(blocked), ends_at: instant(blocked + HOUR) }, await asAdmin()), 201);
    expectError(await patch(`/api/appointments/${appt.id}`, { start_time: instant(blocked) }, w.pat.access), 422, 'validation_failed', ['start_time']);
    assert.equal((await get(`/api/appointments/${appt.id}`, w.pat.access)).body.start_time, appt.start_time, 'unchanged');
  });

  test('cancels own booking outside the window', async () => {
    const w = await world();
    const appt = await bookOwn(w, slotAhead(30));
    const c = expectStatus(await post(`/api/appointments/${appt.id}/cancel`, { reason: 'Travelling' }, w.pat.access), 200).body;
    assert.equal(c.status, 'cancelled');
    assert.equal(c.cancelled_by, 'patient');
    const h = expectStatus(await get('/api/patients/me/history', w.pat.access), 200).body;
    assert.deepEqual(h.upcoming_appointments, []);
  });

  test('PATIENT_CHANGE_NOTICE_HOURS sets the window', async () => {
    const w = await world();
    const appt = await bookOwn(w, slotAhead(3));
    const api = await startApi({ PATIENT_CHANGE_NOTICE_HOURS: '2', DELIVERY_WORKERS: '0' });
    try {
      const r = await request('PATCH', `/api/appointments/${appt.id}`, { body: { start_time: slotAhead(5) }, token: w.pat.access, base: api.url });
      expectStatus(r, 200);
      const late = await request('POST', `/api/appointments/${appt.id}/cancel`, { body: { reason: 'x' }, token: w.pat.access, base: api.url });
      expectStatus(late, 200);
      const soon = await bookOwn(w, slotAhead(1));
      const refused = await request('PATCH', `/api/appointments/${soon.id}`, { body: { start_time: slotAhead(8) }, token: w.pat.access, base: api.url });
      expectError(refused, 409, 'conflict');
      assert.match(refused.body.error.message, /2 hours/);
    } finally {
      await api.stop();
    }
  });
});
