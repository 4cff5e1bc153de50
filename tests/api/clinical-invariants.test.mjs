// What the database itself keeps about visits and evolutions, whatever writes the rows (checked with
// psql against the test database), and the edges of the evolution routes: notes that no longer fit,
// oversized lists answered briefly.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  createClinic, createPatient, expectError, expectStatus, moveVisit, post, put, runPsql as sql, staffSession, walkIn,
} from '../lib/api.mjs';


async function refused(statement, pattern) {
  const r = await sql(statement);
  assert.equal(r.ok, false, `the database accepted: ${statement}`);
  assert.match(r.err, pattern);
}

// A clinic with a receptionist, a doctor, and a visit with that doctor (in progress unless told).
async function visitWorld({ start = true } = {}) {
  const clinic = await createClinic({ timezone: 'America/Sao_Paulo' });
  const [rec, doc, doc2] = await Promise.all([
    staffSession('RECEPTIONIST', clinic.id), staffSession('DOCTOR', clinic.id), staffSession('DOCTOR', clinic.id),
  ]);
  const patient = await createPatient(rec.access, { clinic_id: clinic.id });
  const visit = await walkIn(rec.access, { patient_id: patient.id, doctor_id: doc.user.doctor_id });
  if (start) await moveVisit(visit.id, 'with_doctor', rec.access);
  return { clinic, rec, doc, doc2, patient, visit };
}

describe('invariants kept by the database', () => {
  test('visit transitions outside the state machine are refused', async () => {
    const w = await visitWorld({ start: false });
    await refused(`UPDATE visits SET status = 'completed', start_time = now(), end_time = now() WHERE id = ${w.visit.id}`,
      /cannot become completed/);
    await refused(`UPDATE visits SET status = 'left', left_at = now() WHERE id = ${w.visit.id}; ` +
      `UPDATE visits SET status = 'waiting', left_at = NULL WHERE id = ${w.visit.id}`, /cannot become waiting/);
  });

  test('an evolution needs a started visit and stays with its visit\'s doctor', async () => {
    const waiting = await visitWorld({ start: false });
    const v = waiting.visit;
    await refused(`INSERT INTO evolutions (visit_id, clinic_id, doctor_id, patient_id) VALUES (${v.id}, ${v.clinic_id}, ${v.doctor_id}, ${v.patient_id})`,
      /has not started/);
    const w = await visitWorld();
    expectStatus(await put(`/api/visits/${w.visit.id}/evolution`, { notes: 'Tosse' }, w.doc.access), 201);
    await refused(`UPDATE evolutions SET doctor_id = ${w.doc2.user.doctor_id} WHERE visit_id = ${w.visit.id}`, /evolutions_visit_id_fkey/);
  });

  test('no diagnosis leaves or joins a signed evolution, not even by moving rows', async () => {
    const a = await visitWorld();
    const b = await visitWorld();
    const dx = { diagnoses: [{ code: 'J06.9', description: 'IVAS' }], notes: 'x' };
    expectStatus(await put(`/api/visits/${a.visit.id}/evolution`, dx, a.doc.access), 201);
    expectStatus(await put(`/api/visits/${b.visit.id}/evolution`, { notes: 'rascunho' }, b.doc.access), 201);
    expectStatus(await post(`/api/visits/${a.visit.id}/evolution/sign`, undefined, a.doc.access), 200);
    expectStatus(await post(`/api/visits/${a.visit.id}/evolution/addenda`, { text: 'Correção' }, a.doc.access), 201);
    await refused(`UPDATE evolution_diagnoses SET visit_id = ${b.visit.id} WHERE visit_id = ${a.visit.id}`, /signed/);
    await refused(`DELETE FROM evolution_diagnoses WHERE visit_id = ${a.visit.id}`, /signed/);
    await refused(`UPDATE evolutions SET notes = 'y' WHERE visit_id = ${a.visit.id}`, /signed/);
    await refused(`DELETE FROM evolution_addenda WHERE visit_id = ${a.visit.id}`, /append-only/);
    assert.equal((await sql(`SELECT count(*) FROM evolution_diagnoses WHERE visit_id = ${a.visit.id}`)).out, '1');
  });
});

describe('evolution edges', () => {
  test('completion notes that would overflow the draft are refused with fields.notes and change nothing', async () => {
    const w = await visitWorld();
    expectStatus(await put(`/api/visits/${w.visit.id}/evolution`, { notes: 'a'.repeat(19990) }, w.doc.access), 201);
    const r = await post('/api/queue/complete-consultation', { visit_id: w.visit.id, notes: 'Retorno em 7 dias.' }, w.doc.access);
    expectError(r, 422, 'validation_failed', ['notes']);
    const still = await post('/api/queue/complete-consultation', { visit_id: w.visit.id, notes: 'ok' }, w.doc.access);
    expectStatus(still, 200);
    assert.equal(still.body.status, 'completed');
  });

  test('an over-long list is refused as a whole, not item by item', async () => {
    const w = await visitWorld();
    const r = await put(`/api/visits/${w.visit.id}/evolution`, { diagnoses: Array.from({ length: 5000 }, () => ({})) }, w.doc.access);
    expectError(r, 422, 'validation_failed', ['diagnoses']);
    assert.deepEqual(Object.keys(r.body.error.fields), ['diagnoses']);
  });
});
