// One owner per rule (sql/0018_one_owner.sql, docs/ARCHITECTURE.md §6 and §10): the visit transition table
// `visit_moves` refuses every move it does not list, whatever route or statement asks, and the refusal names
// the move; the error catalogue's SQLSTATEs (CL001, CL002, CL003, and an upsert's `created`) surface as their
// documented HTTP statuses and JSON errors; an in-person consultation and a video call complete the same way
// (video.test.mjs has the video half).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  createAppointment,
  createClinic,
  createService,
  expectError,
  expectStatus,
  get,
  listAll,
  localDate,
  patientSession,
  pickTodayZone,
  post,
  put,
  psql,
  runPsql,
  staffSession,
  walkIn,
} from '../lib/api.mjs';

const TZ = pickTodayZone(2);
const NOT_FOUND_ID = 2147483000;
const instant = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

// The moves the table lists (docs/ARCHITECTURE.md §6), as "from>to".
const MOVES = ['called>in_progress', 'called>left', 'in_progress>completed', 'in_progress>waiting', 'waiting>called',
  'waiting>in_progress', 'waiting>left'];
const STATUSES = ['waiting', 'called', 'in_progress', 'completed', 'left'];

async function world() {
  const clinic = await createClinic({ timezone: TZ });
  const [rec, doc, doc2, pat, service] = await Promise.all([
    staffSession('RECEPTIONIST', clinic.id),
    staffSession('DOCTOR', clinic.id),
    staffSession('DOCTOR', clinic.id),
    patientSession(clinic.id),
    createService(clinic.id, { duration_minutes: 5 }),
  ]);
  return { clinic, rec, doc, doc2, pat, service };
}

const visitOf = (w) => walkIn(w.rec.access, { patient_id: w.pat.patient.id, doctor_id: w.doc.user.doctor_id });
const move = (w, id, phase) => post('/api/queue/phase/move', { visit_id: id, phase }, w.rec.access);
const complete = (w, id, token, fields = {}) =>
  post('/api/queue/complete-consultation', { visit_id: id, ...fields }, token || w.doc.access);

// A 409 conflict naming the refused move from -> to.
function expectRefusedMove(res, from, to) {
  expectError(res, 409, 'conflict');
  assert.deepEqual(res.body.error.transition, { from, to }, JSON.stringify(res.body));
  assert.equal(res.body.error.message,
    `The visit is ${from.replace('_', ' ')}; it cannot become ${to.replace('_', ' ')}.`);
}

describe('the visit transition table', () => {
  test('visit_moves lists exactly the documented moves', async () => {
    const rows = (await psql("SELECT from_status || '>' || to_status FROM visit_moves ORDER BY 1")).split('\n');
    assert.deepEqual(rows, MOVES);
  });

  test('every move the table does not list is refused: 409 conflict naming from and to, nothing changed', async () => {
    const w = await world();
    const v = await visitOf(w);
    // waiting: not to waiting again, not to completed
    expectRefusedMove(await move(w, v.id, 'waiting'), 'waiting', 'waiting');
    expectRefusedMove(await complete(w, v.id), 'waiting', 'completed');
    // called: not called again, not back to the waiting status by the desk's move
    expectStatus(await post(`/api/visits/${v.id}/call`, undefined, w.rec.access), 200);
    expectRefusedMove(await post(`/api/visits/${v.id}/call`, undefined, w.rec.access), 'called', 'called');
    expectRefusedMove(await move(w, v.id, 'waiting'), 'called', 'waiting');
    // in progress: not called, not left
    expectStatus(await move(w, v.id, 'with_doctor'), 200);
    expectRefusedMove(await move(w, v.id, 'with_doctor'), 'in_progress', 'in_progress');
    expectRefusedMove(await post(`/api/visits/${v.id}/call`, undefined, w.rec.access), 'in_progress', 'called');
    expectRefusedMove(await post(`/api/visits/${v.id}/left`, undefined, w.rec.access), 'in_progress', 'left');
    // completed is final
    expectStatus(await complete(w, v.id), 200);
    for (const [res, to] of [
      [await move(w, v.id, 'waiting'), 'waiting'],
      [await move(w, v.id, 'with_doctor'), 'in_progress'],
      [await post(`/api/visits/${v.id}/call`, undefined, w.rec.access), 'called'],
      [await post(`/api/visits/${v.id}/left`, undefined, w.rec.access), 'left'],
      [await complete(w, v.id), 'completed'],
    ]) expectRefusedMove(res, 'completed', to);
    // the refusals left no transition behind
    const steps = (await listAll(`/api/visits/${v.id}/transitions`, w.rec.access)).map((t) => `${t.from_status}>${t.to_status}`);
    assert.deepEqual(steps, ['null>waiting', 'waiting>called', 'called>in_progress', 'in_progress>completed']);
  });

  test('left is final too', async () => {
    const w = await world();
    const v = await visitOf(w);
    expectStatus(await post(`/api/visits/${v.id}/left`, undefined, w.rec.access), 200);
    expectRefusedMove(await post(`/api/visits/${v.id}/left`, undefined, w.rec.access), 'left', 'left');
    expectRefusedMove(await post(`/api/visits/${v.id}/call`, undefined, w.rec.access), 'left', 'called');
    expectRefusedMove(await move(w, v.id, 'with_doctor'), 'left', 'in_progress');
    expectRefusedMove(await complete(w, v.id), 'left', 'completed');
  });

  test('the table holds whatever writes the row: a direct UPDATE off the table fails with CL001 naming the move', async () => {
    const w = await world();
    const v = await visitOf(w);
    for (const to of STATUSES.filter((s) => !MOVES.includes(`waiting>${s}`))) {
      const r = await runPsql(`\\set VERBOSITY verbose\nUPDATE visits SET status = '${to}' WHERE id = ${Number(v.id)};`);
      assert.equal(r.ok, false, `waiting -> ${to} was written`);
      assert.match(r.err, /CL001/, r.err);
      assert.match(r.err, new RegExp(`DETAIL:\\s+\\{"from" : "waiting", "to" : "${to}"\\}`), r.err);
    }
    assert.equal(await psql(`SELECT status FROM visits WHERE id = ${Number(v.id)}`), 'waiting');
  });
});

describe('the error catalogue', () => {
  test('CL001 from state_transition (an appointment cancelled twice): 409 naming the move', async () => {
    const w = await world();
    const a = await createAppointment(w.rec.access, {
      patient_id: w.pat.patient.id, doctor_id: w.doc.user.doctor_id, service_id: w.service.id,
      start_time: instant(Math.ceil(Date.now() / 60000) * 60000 + 26 * 3600000),
    });
    expectStatus(await post(`/api/appointments/${a.id}/cancel`, { reason: 'Patient asked' }, w.rec.access), 200);
    const res = await post(`/api/appointments/${a.id}/cancel`, { reason: 'Again' }, w.rec.access);
    expectError(res, 409, 'conflict');
    assert.deepEqual(res.body.error.transition, { from: 'cancelled', to: 'cancelled' });
    assert.equal(res.body.error.message, 'The appointment is cancelled; it cannot become cancelled.');
  });

  test('CL002: a visit out of reach or not there is 404 not_found for a move, a completion and an evolution', async () => {
    const w = await world();
    const other = await world();
    const v = await visitOf(w);
    expectStatus(await move(w, v.id, 'with_doctor'), 200);
    for (const res of [
      await move(w, NOT_FOUND_ID, 'with_doctor'),
      await move(other, v.id, 'waiting'),
      await complete(w, v.id, w.doc2.access),
      await complete(w, NOT_FOUND_ID),
      await put(`/api/visits/${v.id}/evolution`, { notes: 'x' }, w.doc2.access),
      await post(`/api/visits/${v.id}/evolution/sign`, undefined, w.doc.access),
      await post(`/api/appointments/${NOT_FOUND_ID}/check-in`, undefined, w.rec.access),
    ]) expectError(res, 404, 'not_found');
    // nothing moved
    assert.equal(expectStatus(await get(`/api/visits/${v.id}`, w.rec.access), 200).body.status, 'in_progress');
  });

  test('created: the evolution upsert answers 201 when it creates and 200 when it changes', async () => {
    const w = await world();
    const v = await visitOf(w);
    expectStatus(await move(w, v.id, 'with_doctor'), 200);
    expectStatus(await put(`/api/visits/${v.id}/evolution`, { notes: 'First' }, w.doc.access), 201);
    expectStatus(await put(`/api/visits/${v.id}/evolution`, { notes: 'Second' }, w.doc.access), 200);
  });
});

describe('completing a consultation', () => {
  test('in person: the visit completed, its appointment completed, the notes kept, billed exactly once', async () => {
    const w = await world();
    const a = await createAppointment(w.rec.access, {
      patient_id: w.pat.patient.id, doctor_id: w.doc.user.doctor_id, service_id: w.service.id,
      start_time: instant(Math.ceil(Date.now() / 60000) * 60000 + 5 * 60000),
    });
    assert.equal(localDate(TZ, Date.parse(a.start_time)), localDate(TZ), 'test setup: the appointment is today');
    const v = expectStatus(await post(`/api/appointments/${a.id}/check-in`, undefined, w.rec.access), 201).body;
    expectStatus(await move(w, v.id, 'with_doctor'), 200);
    const done = expectStatus(await complete(w, v.id, null, { notes: 'Consulta sem intercorrências.' }), 200).body;
    assert.equal(done.status, 'completed');
    expectRefusedMove(await complete(w, v.id, null, { notes: 'Twice' }), 'completed', 'completed');
    assert.equal(expectStatus(await get(`/api/appointments/${a.id}`, w.rec.access), 200).body.status, 'completed');
    const evo = expectStatus(await get(`/api/visits/${v.id}/evolution`, w.doc.access), 200).body;
    assert.equal(evo.notes, 'Consulta sem intercorrências.');
    assert.equal(await psql(`SELECT count(*) FROM payments WHERE visit_id = ${Number(v.id)}`), '1');
    assert.equal(await psql(`SELECT count(*) FROM audit_log WHERE action = 'payment_create'
                             AND (details->>'visit_id')::bigint = ${Number(v.id)}`), '1');
  });
});
