// The doctor's own agenda: a doctor reschedules and cancels their own appointments (with a reason),
// blocks their own time, and confirms or declines the bookings of a clinic that requires confirmation
// (sql/0030_agenda_reset.sql: the appointment_moves table, appointment_confirm, appointment_decline).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  asAdmin,
  createAppointment,
  createAvailability,
  createClinic,
  createService,
  eventsEnd,
  eventsSince,
  expectError,
  expectStatus,
  get,
  listAll,
  nextWeekday,
  patch,
  patientSession,
  post,
  psql,
  staffSession,
} from '../lib/api.mjs';

const TZ = 'America/Sao_Paulo';
const MONDAYS = { weekday: 1, start_time: '08:00', end_time: '22:00', slot_minutes: 30, consultation_types: ['in_person', 'video'] };
const instant = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const sp = (date, hhmm) => instant(Date.parse(`${date}T${hhmm}:00-03:00`));

// A São Paulo clinic (fields: its settings) with a receptionist, two doctors with Monday hours, a
// patient with an account, a 30-minute service, and `monday` at least a week ahead.
async function world(fields = {}) {
  const clinic = await createClinic({ timezone: TZ, ...fields });
  const [rec, doc, doc2, pat, service] = await Promise.all([
    staffSession('RECEPTIONIST', clinic.id),
    staffSession('DOCTOR', clinic.id),
    staffSession('DOCTOR', clinic.id),
    patientSession(clinic.id),
    createService(clinic.id, { duration_minutes: 30 }),
  ]);
  await Promise.all([createAvailability(doc.user.doctor_id, MONDAYS), createAvailability(doc2.user.doctor_id, MONDAYS)]);
  return { clinic, rec, doc, doc2, pat, service, doctorId: doc.user.doctor_id, monday: nextWeekday(1) };
}

const body = (w, hhmm, fields = {}) => ({
  patient_id: w.pat.patient.id, doctor_id: w.doctorId, service_id: w.service.id, start_time: sp(w.monday, hhmm),
  consultation_type: 'in_person', ...fields,
});
// Booked by the desk (confirmed) or, with the patient's token, by the patient.
const book = (w, hhmm, token, fields) => createAppointment(token || w.rec.access, body(w, hhmm, fields));

async function deliveryKinds(appointmentId) {
  const out = await psql(`SELECT coalesce(string_agg(kind, ',' ORDER BY id), '') FROM deliveries
                          WHERE entity = 'appointment' AND entity_id = ${Number(appointmentId)} AND channel = 'email'`);
  return out ? out.split(',') : [];
}

async function auditOf(id, action) {
  return (await listAll(`/api/audit?entity=appointment&entity_id=${id}&action=${action}`, await asAdmin()));
}

describe("the doctor's own reschedule and cancellation", () => {
  test('a doctor reschedules their own appointment with a reason: stored, audited, in the event', async () => {
    const w = await world();
    const appt = await book(w, '09:00');
    const cursor = await eventsEnd(w.pat.access);
    const moved = expectStatus(await patch(`/api/appointments/${appt.id}`, { start_time: sp(w.monday, '10:00'), reason: 'surgery ran late' }, w.doc.access), 200).body;
    assert.equal(moved.start_time, sp(w.monday, '10:00'));
    assert.equal(moved.reschedule_reason, 'surgery ran late');
    assert.equal(moved.status, 'confirmed');
    const { items } = await eventsSince(w.pat.access, cursor, 1);
    const ev = items.find((e) => e.name === 'appointment_updated' && e.data.appointment.id === appt.id);
    assert.ok(ev, JSON.stringify(items));
    assert.equal(ev.data.reason, 'surgery ran late');
    const [row] = await auditOf(appt.id, 'appointment_update');
    assert.equal(row.details.reason, 'surgery ran late');
    assert.equal(row.actor_user_id, w.doc.id);
    // the patient's inbox has it, with the reason (sql/0035)
    const inbox = expectStatus(await get('/api/notifications?unread=true', w.pat.access), 200).body.items
      .filter((n) => n.kind === 'appointment_rescheduled' && n.data.appointment_id === appt.id);
    assert.equal(inbox.length, 1);
    assert.equal(inbox[0].data.reason, 'surgery ran late');
    assert.equal(inbox[0].data.start, sp(w.monday, '10:00'));
    assert.equal(inbox[0].data.previous_start, sp(w.monday, '09:00'));
    assert.match(inbox[0].body, /surgery ran late/);
    const notes = expectStatus(await patch(`/api/appointments/${appt.id}`, { notes: 'bring the exams' }, w.rec.access), 200).body;
    assert.equal(notes.reschedule_reason, 'surgery ran late', 'a change that does not move it keeps the reason');
    const again = expectStatus(await patch(`/api/appointments/${appt.id}`, { start_time: sp(w.monday, '11:00') }, w.rec.access), 200).body;
    assert.equal(again.reschedule_reason, null, 'a later move without a reason clears the old one');
  });

  test('without a reason a doctor is refused (422), nor may they hand the appointment to another doctor', async () => {
    const w = await world();
    const appt = await book(w, '09:00');
    expectError(await patch(`/api/appointments/${appt.id}`, { start_time: sp(w.monday, '10:00') }, w.doc.access), 422, 'validation_failed', ['reason']);
    expectError(await patch(`/api/appointments/${appt.id}`, { start_time: sp(w.monday, '10:00'), reason: '' }, w.doc.access), 422, 'validation_failed', ['reason']);
    expectError(await patch(`/api/appointments/${appt.id}`, { doctor_id: w.doc2.user.doctor_id, reason: 'swap' }, w.doc.access), 422, 'validation_failed', ['doctor_id']);
    expectError(await post(`/api/appointments/${appt.id}/cancel`, {}, w.doc.access), 422, 'validation_failed', ['reason']);
    for (const token of [w.doc.access, w.rec.access]) {
      expectError(await patch(`/api/appointments/${appt.id}`, { reason: 'nothing else' }, token), 422, 'validation_failed', ['reason']);
    }
    const still = expectStatus(await get(`/api/appointments/${appt.id}`, w.rec.access), 200).body;
    assert.equal(still.start_time, sp(w.monday, '09:00'));
    assert.equal(still.status, 'confirmed');
    // The desk may still reschedule without one.
    expectStatus(await patch(`/api/appointments/${appt.id}`, { start_time: sp(w.monday, '11:00') }, w.rec.access), 200);
  });

  test("another doctor's appointment is out of reach (404), in the same clinic or another", async () => {
    const w = await world();
    const other = await world();
    const appt = await book(w, '09:00');
    for (const token of [w.doc2.access, other.doc.access]) {
      expectError(await patch(`/api/appointments/${appt.id}`, { start_time: sp(w.monday, '10:00'), reason: 'x' }, token), 404, 'not_found');
      expectError(await post(`/api/appointments/${appt.id}/cancel`, { reason: 'x' }, token), 404, 'not_found');
    }
    assert.equal(expectStatus(await get(`/api/appointments/${appt.id}`, w.rec.access), 200).body.status, 'confirmed');
  });

  test('a doctor cancels their own appointment: cancelled_by doctor, the reason in the event, the patient notified', async () => {
    const w = await world();
    const appt = await book(w, '09:00');
    const cursor = await eventsEnd(w.pat.access);
    const deskCursor = await eventsEnd(w.rec.access);
    const done = expectStatus(await post(`/api/appointments/${appt.id}/cancel`, { reason: 'doctor ill' }, w.doc.access), 200).body;
    assert.equal(done.status, 'cancelled');
    assert.equal(done.cancelled_by, 'doctor');
    assert.equal(done.cancel_reason, 'doctor ill');
    const { items } = await eventsSince(w.pat.access, cursor, 1);
    const ev = items.find((e) => e.name === 'appointment_cancelled' && e.data.appointment.id === appt.id);
    assert.equal(ev?.data.reason, 'doctor ill');
    // The clinic's room (the desk, the other doctors) gets it without the reason.
    const desk = (await eventsSince(w.rec.access, deskCursor, 1)).items.find((e) => e.name === 'appointment_cancelled');
    assert.deepEqual(desk?.data.appointment, ev.data.appointment);
    assert.equal('reason' in desk.data, false, JSON.stringify(desk));
    const colleague = (await eventsSince(w.doc2.access, deskCursor, 1)).items.find((e) => e.name === 'appointment_cancelled');
    assert.equal(colleague && 'reason' in colleague.data, false);
    assert.deepEqual(await deliveryKinds(appt.id), ['appointment_confirmation', 'appointment_cancellation']);
    const [row] = await auditOf(appt.id, 'appointment_cancel');
    assert.deepEqual(row.details, { by: 'doctor', reason: 'doctor ill' });
    // Cancelled is final: a second cancellation is a refused move.
    const again = expectError(await post(`/api/appointments/${appt.id}/cancel`, { reason: 'again' }, w.doc.access), 409, 'conflict');
    assert.deepEqual(again.body.error.transition, { from: 'cancelled', to: 'cancelled' });
  });

  test('a doctor blocks their own time, not another doctor\'s; the block hides the slots', async () => {
    const w = await world();
    const block = { starts_at: sp(w.monday, '14:00'), ends_at: sp(w.monday, '15:00'), reason: 'meeting' };
    expectStatus(await post(`/api/doctors/${w.doctorId}/unavailability`, block, w.doc.access), 201);
    expectError(await post(`/api/doctors/${w.doc2.user.doctor_id}/unavailability`, block, w.doc.access), 403, 'forbidden');
    const other = await world();
    expectError(await post(`/api/doctors/${other.doctorId}/unavailability`, block, w.doc.access), 404, 'not_found');
    const slots = expectStatus(await get(`/api/doctors/${w.doctorId}/slots?from=${w.monday}&to=${w.monday}&type=in_person`, w.pat.access), 200).body.items;
    const starts = slots.map((s) => s.start_time);
    assert.ok(!starts.includes(sp(w.monday, '14:00')) && !starts.includes(sp(w.monday, '14:30')), 'blocked slots are hidden');
    assert.ok(starts.includes(sp(w.monday, '15:00')));
  });
});

describe('bookings that wait for confirmation', () => {
  test('booking_requires_confirmation: false by default, set by an admin, refused to others', async () => {
    const clinic = await createClinic({ timezone: TZ });
    assert.equal(clinic.booking_requires_confirmation, false);
    const admin = await asAdmin();
    const set = expectStatus(await patch(`/api/clinics/${clinic.id}`, { booking_requires_confirmation: true }, admin), 200).body;
    assert.equal(set.booking_requires_confirmation, true);
    expectError(await patch(`/api/clinics/${clinic.id}`, { booking_requires_confirmation: 'yes' }, admin), 422, 'validation_failed', ['booking_requires_confirmation']);
    const rec = await staffSession('RECEPTIONIST', clinic.id);
    expectError(await patch(`/api/clinics/${clinic.id}`, { booking_requires_confirmation: false }, rec.access), 403, 'forbidden');
    assert.equal(expectStatus(await get(`/api/clinics/${clinic.id}`, rec.access), 200).body.booking_requires_confirmation, true);
  });

  test("a patient's booking starts requested, holds its slot, and the confirmation e-mail goes out on confirm", async () => {
    const w = await world({ booking_requires_confirmation: true });
    const appt = await book(w, '09:00', w.pat.access);
    assert.equal(appt.status, 'requested');
    assert.deepEqual(await deliveryKinds(appt.id), [], 'no confirmation while requested');
    // The slot is held: hidden from the free slots, and a second booking of it is a double booking.
    const slots = expectStatus(await get(`/api/doctors/${w.doctorId}/slots?from=${w.monday}&to=${w.monday}&type=in_person`, w.pat.access), 200).body.items;
    assert.ok(!slots.some((s) => s.start_time === sp(w.monday, '09:00')));
    const other = await patientSession(w.clinic.id);
    expectError(await post('/api/appointments', body(w, '09:00', { patient_id: other.patient.id }), other.access), 409, 'conflict');
    expectError(await post('/api/appointments', body(w, '09:00', { patient_id: other.patient.id }), w.rec.access), 409, 'conflict');
    // A desk booking starts confirmed even here.
    assert.equal((await book(w, '12:00', w.rec.access, { patient_id: other.patient.id })).status, 'confirmed');

    const cursor = await eventsEnd(w.pat.access);
    const ok = expectStatus(await post(`/api/appointments/${appt.id}/confirm`, undefined, w.doc.access), 200).body;
    assert.equal(ok.status, 'confirmed');
    assert.deepEqual(await deliveryKinds(appt.id), ['appointment_confirmation']);
    const { items } = await eventsSince(w.pat.access, cursor, 1);
    assert.ok(items.some((e) => e.name === 'appointment_updated' && e.data.appointment.status === 'confirmed'));
    assert.equal((await auditOf(appt.id, 'appointment_confirm')).length, 1);
    // Confirmed once: again is a refused move.
    const again = expectError(await post(`/api/appointments/${appt.id}/confirm`, undefined, w.rec.access), 409, 'conflict');
    assert.deepEqual(again.body.error.transition, { from: 'confirmed', to: 'confirmed' });
    expectError(await post(`/api/appointments/${appt.id}/decline`, { reason: 'late' }, w.doc.access), 409, 'conflict');
  });

  test('the receptionist confirms; two confirmations at once: one wins', async () => {
    const w = await world({ booking_requires_confirmation: true });
    const appt = await book(w, '09:00', w.pat.access);
    const [a, b] = await Promise.all([
      post(`/api/appointments/${appt.id}/confirm`, undefined, w.rec.access),
      post(`/api/appointments/${appt.id}/confirm`, undefined, w.doc.access),
    ]);
    assert.deepEqual([a.status, b.status].sort(), [200, 409]);
    assert.deepEqual(await deliveryKinds(appt.id), ['appointment_confirmation']);
  });

  test('declines by the doctor and by the receptionist: cancelled with the reason, the slot freed, the patient told', async () => {
    const w = await world({ booking_requires_confirmation: true });
    for (const [who, by, hhmm] of [[w.doc, 'doctor', '09:00'], [w.rec, 'clinic', '10:00']]) {
      const appt = await book(w, hhmm, w.pat.access);
      expectError(await post(`/api/appointments/${appt.id}/decline`, {}, who.access), 422, 'validation_failed', ['reason']);
      const cursor = await eventsEnd(w.pat.access);
      const no = expectStatus(await post(`/api/appointments/${appt.id}/decline`, { reason: 'fully booked' }, who.access), 200).body;
      assert.equal(no.status, 'cancelled');
      assert.equal(no.cancelled_by, by);
      assert.equal(no.cancel_reason, 'fully booked');
      assert.deepEqual(await deliveryKinds(appt.id), ['appointment_cancellation']);
      const { items } = await eventsSince(w.pat.access, cursor, 1);
      // The doctor's reason is told to the patient in the event; the desk's stays in the record.
      assert.equal(items.find((e) => e.name === 'appointment_cancelled')?.data.reason, by === 'doctor' ? 'fully booked' : undefined);
      assert.deepEqual((await auditOf(appt.id, 'appointment_decline'))[0].details, { by, reason: 'fully booked' });
      // The slot is free again.
      assert.equal((await book(w, hhmm, w.pat.access)).status, 'requested');
    }
  });

  test('patients, other doctors and other clinics cannot confirm or decline', async () => {
    const w = await world({ booking_requires_confirmation: true });
    const other = await world({ booking_requires_confirmation: true });
    const appt = await book(w, '09:00', w.pat.access);
    expectError(await post(`/api/appointments/${appt.id}/confirm`, undefined, w.pat.access), 403, 'forbidden');
    expectError(await post(`/api/appointments/${appt.id}/decline`, { reason: 'x' }, w.pat.access), 403, 'forbidden');
    for (const token of [w.doc2.access, other.doc.access, other.rec.access]) {
      expectError(await post(`/api/appointments/${appt.id}/confirm`, undefined, token), 404, 'not_found');
      expectError(await post(`/api/appointments/${appt.id}/decline`, { reason: 'x' }, token), 404, 'not_found');
    }
    assert.equal(expectStatus(await get(`/api/appointments/${appt.id}`, w.rec.access), 200).body.status, 'requested');
    // A requested booking may still be cancelled by its patient.
    expectStatus(await post(`/api/appointments/${appt.id}/cancel`, { reason: 'changed my mind' }, w.pat.access), 200);
  });

  test('the database refuses a move outside appointment_moves, whatever writes it', async () => {
    const w = await world();
    const appt = await book(w, '09:00');
    const out = await psql(`DO $$ BEGIN UPDATE appointments SET status = 'completed' WHERE id = ${appt.id};
      EXCEPTION WHEN SQLSTATE 'CL001' THEN RAISE NOTICE 'refused'; END $$; SELECT status FROM appointments WHERE id = ${appt.id};`);
    assert.equal(out, 'confirmed');
  });
});
