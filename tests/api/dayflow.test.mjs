// One day at the clinic, end to end: an appointment is booked, the patient checks in, is called, goes in
// to the doctor (who gets the patient card and the earlier visit through the events), the doctor writes
// and signs the evolution and completes the consultation, and the history shows it (VISITS.md).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  asAdmin,
  completeVisit,
  createAppointment,
  createClinic,
  createService,
  eventsEnd,
  eventsSince,
  expectStatus,
  get,
  listAll,
  localDate,
  moveVisit,
  patientSession,
  pickTodayZone,
  post,
  put,
  staffSession,
  walkIn,
} from '../lib/api.mjs';

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
// A zone where it is still today two hours from now: the appointment booked below is today's.
const TZ = pickTodayZone(2);
const instant = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('a day at the clinic', () => {
  test('book, check in, call, with the doctor (patient_with_doctor with the earlier visit), evolution signed, complete, history', async () => {
    const admin = await asAdmin();
    const clinic = await createClinic({ timezone: TZ });
    const today = localDate(TZ);
    const [rec, doc, pat, service] = await Promise.all([
      staffSession('RECEPTIONIST', clinic.id),
      staffSession('DOCTOR', clinic.id),
      patientSession(clinic.id, { full_name: 'Marcos Vieira Alves', birth_date: '1978-09-12', sex: 'M', phone: '+55 11 3333-4444' }),
      createService(clinic.id, { name: 'Consulta clínica', duration_minutes: 20 }),
    ]);
    const doctorId = doc.user.doctor_id;
    const patientId = pat.patient.id;
    const card = expectStatus(await get(`/api/patients/${patientId}`, doc.access), 200).body;

    // Earlier today: a walk-in, seen and signed off.
    const earlier = await walkIn(rec.access, { patient_id: patientId, doctor_id: doctorId, notes: 'Sem horário' });
    assert.equal(earlier.queue_number, 1);
    await moveVisit(earlier.id, 'with_doctor', rec.access);
    expectStatus(await put(`/api/visits/${earlier.id}/evolution`, { notes: 'Cefaleia tensional.', diagnoses: [{ code: 'g44.2', description: 'Cefaleia tensional' }] }, doc.access), 201);
    const earlierEvo = expectStatus(await post(`/api/visits/${earlier.id}/evolution/sign`, undefined, doc.access), 200).body;
    const earlierDone = await completeVisit(earlier.id, doc.access);
    assert.equal(earlierDone.status, 'completed');

    // 1. The desk books an appointment later today.
    const start = instant(Math.ceil(Date.now() / 60000) * 60000 + 30 * 60000);
    assert.equal(localDate(TZ, Date.parse(start)), today, 'test setup: the appointment must be today');
    const appt = await createAppointment(rec.access, { patient_id: patientId, doctor_id: doctorId, service_id: service.id, start_time: start });
    assert.equal(appt.status, 'confirmed');

    // 2. The patient arrives: check-in.
    const docCursor = await eventsEnd(doc.access);
    const visit = expectStatus(await post(`/api/appointments/${appt.id}/check-in`, { notes: 'Chegou cedo' }, rec.access), 201).body;
    assert.deepEqual(
      [visit.status, visit.phase, visit.queue_number, visit.queue_date, visit.appointment_id, visit.service_id, visit.doctor_id, visit.patient_id],
      ['waiting', 'waiting', 2, today, appt.id, service.id, doctorId, patientId],
    );
    assert.equal(expectStatus(await get(`/api/appointments/${appt.id}`, rec.access), 200).body.status, 'checked_in');
    let board = expectStatus(await get('/api/queue', rec.access), 200).body;
    assert.deepEqual(
      board.phases.waiting.map((e) => [e.id, e.position, e.estimated_wait_minutes, e.patient_name, e.service_name]),
      [[visit.id, 1, 0, 'Marcos Vieira Alves', 'Consulta clínica']],
    );
    assert.deepEqual(board.counts, { waiting: 1, with_doctor: 0, completed: 1, left: 0 });

    // 3. The doctor calls the patient.
    const called = expectStatus(await post(`/api/visits/${visit.id}/call`, {}, doc.access), 200).body;
    assert.equal(called.status, 'called');
    assert.match(called.called_at, INSTANT);

    // 4. The desk moves the patient to the doctor; the doctor's room gets the full card and history.
    const withDoctor = expectStatus(await post('/api/queue/phase/move', { visit_id: visit.id, phase: 'with_doctor' }, rec.access), 200).body;
    assert.deepEqual([withDoctor.status, withDoctor.phase], ['in_progress', 'with_doctor']);
    assert.match(withDoctor.start_time, INSTANT);
    const seen = (await eventsSince(doc.access, docCursor, 6)).items;
    const pwd = seen.filter((e) => e.name === 'patient_with_doctor');
    assert.equal(pwd.length, 1, `one patient_with_doctor event: ${JSON.stringify(seen.map((e) => e.name))}`);
    const { data } = pwd[0];
    assert.deepEqual(Object.keys(data).sort(), ['patient', 'visit', 'visit_history']);
    assert.deepEqual(data.visit, withDoctor);
    assert.deepEqual(data.patient, card);
    // flat visit objects, as the frontends read them: the visit's fields at the top level
    assert.deepEqual(data.visit_history, [
      {
        ...earlierDone,
        service_name: null,
        appointment: null,
        evolution: earlierEvo,
        payment_status: null,
      },
    ]);
    // the receptionist's room does not get the patient card
    const recEvents = (await eventsSince(rec.access, null)).items;
    assert.equal(recEvents.some((e) => e.name === 'patient_with_doctor'), false);

    // 5. The doctor writes and signs the evolution.
    const draft = expectStatus(
      await put(
        `/api/visits/${visit.id}/evolution`,
        {
          notes: 'Cefaleia melhorou. Pressão 12x8.',
          diagnoses: [{ code: 'g44.2', description: 'Cefaleia tensional' }],
          prescriptions: [{ drug: 'Dipirona', dose: '1 g', route: 'oral', frequency: '8/8h', duration: '5 dias', instructions: null }],
        },
        doc.access,
      ),
      201,
    ).body;
    assert.deepEqual([draft.status, draft.diagnoses[0].code], ['draft', 'G44.2']);
    const signed = expectStatus(await post(`/api/visits/${visit.id}/evolution/sign`, {}, doc.access), 200).body;
    assert.deepEqual([signed.status, signed.signed_by], ['signed', doc.id]);

    // 6. The doctor completes the consultation; the notes become an addendum to the signed evolution.
    const done = expectStatus(await post('/api/queue/complete-consultation', { visit_id: visit.id, notes: 'Retorno em 15 dias.' }, doc.access), 200).body;
    assert.deepEqual([done.status, done.phase, done.start_time], ['completed', 'completed', withDoctor.start_time]);
    assert.match(done.end_time, INSTANT);
    assert.equal(expectStatus(await get(`/api/appointments/${appt.id}`, pat.access), 200).body.status, 'completed');
    const finalEvo = expectStatus(await get(`/api/visits/${visit.id}/evolution`, pat.access), 200).body;
    assert.deepEqual({ ...finalEvo, addenda: [], updated_at: null }, { ...signed, addenda: [], updated_at: null });
    assert.deepEqual(finalEvo.addenda.map((a) => [a.text, a.author_user_id]), [['Retorno em 15 dias.', doc.id]]);

    // 7. The history shows the visit with its signed evolution, then the earlier one.
    const history = await listAll(`/api/patients/${patientId}/history/${doctorId}`, doc.access);
    assert.deepEqual(history, [
      {
        visit: done,
        service_name: 'Consulta clínica',
        appointment: { id: appt.id, start_time: appt.start_time, status: 'completed' },
        evolution: finalEvo,
        payment_status: 'pending', // billed on completion, not settled yet
      },
      { visit: earlierDone, service_name: null, appointment: null, evolution: earlierEvo, payment_status: null },
    ]);
    assert.deepEqual(await listAll(`/api/patients/${patientId}/history/${doctorId}`, admin), history);

    // The day's board and the doctor's dashboard agree.
    board = expectStatus(await get(`/api/queue?clinic_id=${clinic.id}`, admin), 200).body;
    assert.deepEqual(board.phases.completed.map((e) => e.id), [earlier.id, visit.id]);
    assert.deepEqual(board.counts, { waiting: 0, with_doctor: 0, completed: 2, left: 0 });
    const stats = expectStatus(await get('/api/dashboard/doctor/stats', doc.access), 200).body;
    assert.deepEqual(stats.today, { visits: 2, waiting: 0, called: 0, active_consultations: 0, completed: 2, left: 0 });
    assert.equal(stats.appointments_today, 1);
    assert.deepEqual(
      (await listAll('/api/visits/' + visit.id + '/transitions', rec.access)).map((t) => [t.from_status, t.to_status, t.actor_role]),
      [
        [null, 'waiting', 'RECEPTIONIST'],
        ['waiting', 'called', 'DOCTOR'],
        ['called', 'in_progress', 'RECEPTIONIST'],
        ['in_progress', 'completed', 'DOCTOR'],
      ],
    );
  });
});
