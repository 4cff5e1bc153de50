// What each role reads of doctors and patients (openapi.yaml, "What each role reads"): patients read
// doctors through their public projection, receptionists read patients without clinical fields and
// do not write them, clinical routes are closed to receptionists; doctors and admins keep the full
// records. The rule lives in the database (sql/0013_projections.sql), checked here through every
// route that answers those records and once directly.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  asAdmin,
  completeVisit,
  cpf,
  createClinic,
  createPatient,
  createStaff,
  eventsEnd,
  eventsSince,
  expectError,
  expectStatus,
  freshEmail,
  get,
  listAll,
  moveVisit,
  patch,
  patientSession,
  post,
  psql,
  request,
  staffSession,
  uniq,
  walkIn,
} from '../lib/api.mjs';

const DOCTOR_KEYS = ['active', 'clinic_id', 'created_at', 'email', 'full_name', 'id', 'license_number', 'photo_url', 'pix_key', 'pix_key_type', 'specialty', 'user_id'];
const DOCTOR_PUBLIC_KEYS = ['active', 'clinic_id', 'full_name', 'id', 'photo_url', 'specialty'];
const PATIENT_KEYS = ['birth_date', 'clinic_id', 'cpf', 'created_at', 'email', 'full_name', 'id', 'medical_history', 'notify_email', 'notify_sms', 'phone', 'photo_url', 'sex', 'updated_at', 'user_id'];
const PATIENT_DESK_KEYS = PATIENT_KEYS.filter((k) => k !== 'medical_history');

const keys = (o) => Object.keys(o).sort();
const pick = (o, ks) => Object.fromEntries(ks.map((k) => [k, o[k]]));
const without = (o, k) => Object.fromEntries(Object.entries(o).filter(([key]) => key !== k));

// A clinic with a doctor (specialty, licence and PIX key set), a receptionist, a second doctor and a
// patient with an account and a medical history.
async function world() {
  const clinic = await createClinic();
  const licence = `CRM-SP ${uniq()}`;
  const [doc, doc2, rec, pat] = await Promise.all([
    staffSession('DOCTOR', clinic.id, { specialty: 'Cardiologia', license_number: licence }),
    staffSession('DOCTOR', clinic.id),
    staffSession('RECEPTIONIST', clinic.id),
    patientSession(clinic.id, {
      full_name: 'Beatriz Nogueira Campos',
      phone: '+55 11 97654-3210',
      email: freshEmail('beatriz'),
      birth_date: '1985-03-09',
      sex: 'F',
      cpf: cpf(),
      medical_history: 'Hipertensão; alergia a dipirona',
    }),
  ]);
  // The PIX key is set in the database: how it is set is pix.test.mjs's subject.
  const pix = `repasse.${uniq()}@example.org`;
  await psql(`UPDATE doctors SET pix_key_type = 'email', pix_key = '${pix}' WHERE id = ${doc.user.doctor_id};`);
  return { clinic, licence, pix, doc, doc2, rec, pat, admin: await asAdmin() };
}

describe('doctors: what each role reads', () => {
  test('a patient reads the public projection on the list, by id and filtered by user', async () => {
    const w = await world();
    const full = expectStatus(await get(`/api/doctors/${w.doc.user.doctor_id}`, w.admin), 200).body;
    assert.deepEqual(keys(full), DOCTOR_KEYS);

    const one = expectStatus(await get(`/api/doctors/${w.doc.user.doctor_id}`, w.pat.access), 200).body;
    assert.deepEqual(one, pick(full, DOCTOR_PUBLIC_KEYS));
    assert.equal(one.specialty, 'Cardiologia');
    assert.equal(one.active, true);

    const list = await listAll('/api/doctors', w.pat.access);
    assert.deepEqual(list.map((d) => d.id).sort((a, b) => a - b), [w.doc.user.doctor_id, w.doc2.user.doctor_id].sort((a, b) => a - b));
    for (const d of list) assert.deepEqual(keys(d), DOCTOR_PUBLIC_KEYS, `doctor ${d.id}`);
    assert.deepEqual(list.find((d) => d.id === one.id), one);

    const byUser = expectStatus(await get(`/api/doctors?user_id=${w.doc.id}`, w.pat.access), 200).body.items;
    assert.deepEqual(byUser, [one]);

    const text = JSON.stringify([one, list, byUser]);
    for (const secret of [w.doc.email, w.licence, w.pix.slice(-4)]) {
      assert.equal(text.includes(secret), false, `a patient reads ${secret}: ${text}`);
    }
  });

  test('a patient sees a deactivated doctor as inactive', async () => {
    const w = await world();
    expectStatus(await post(`/api/users/${w.doc2.id}/deactivate`, {}, w.admin), 200);
    const one = expectStatus(await get(`/api/doctors/${w.doc2.user.doctor_id}`, w.pat.access), 200).body;
    assert.equal(one.active, false);
  });

  test('staff read the full doctor with the PIX key masked; the answer to an edit shows it in full', async () => {
    const w = await world();
    const masked = '*'.repeat(w.pix.length - 4) + w.pix.slice(-4);
    for (const [who, token] of [['ADMIN', w.admin], ['RECEPTIONIST', w.rec.access], ['DOCTOR', w.doc.access], ['colleague', w.doc2.access]]) {
      const d = expectStatus(await get(`/api/doctors/${w.doc.user.doctor_id}`, token), 200).body;
      assert.deepEqual(keys(d), DOCTOR_KEYS, who);
      assert.deepEqual([d.email, d.license_number, d.pix_key_type, d.pix_key, d.user_id], [w.doc.email, w.licence, 'email', masked, w.doc.id], who);
      const listed = (await listAll('/api/doctors', token)).find((x) => x.id === d.id);
      assert.deepEqual(listed, d, who);
    }
    const edited = expectStatus(await patch('/api/doctors/me', { specialty: 'Cardiologia clínica' }, w.doc.access), 200).body;
    assert.deepEqual(keys(edited), DOCTOR_KEYS);
    assert.equal(edited.pix_key, w.pix);
    const byAdmin = expectStatus(await patch(`/api/doctors/${w.doc.user.doctor_id}`, { specialty: 'Cardiologia' }, w.admin), 200).body;
    assert.equal(byAdmin.pix_key, w.pix);
    assert.equal(byAdmin.email, w.doc.email);
  });
});

describe('patients: what each role reads', () => {
  test('a receptionist reads the desk projection on every patient route', async () => {
    const w = await world();
    const id = w.pat.patient.id;
    const full = expectStatus(await get(`/api/patients/${id}`, w.admin), 200).body;
    const desk = without(full, 'medical_history');

    const one = expectStatus(await get(`/api/patients/${id}`, w.rec.access), 200).body;
    assert.deepEqual(keys(one), PATIENT_DESK_KEYS);
    assert.deepEqual(one, desk, 'the desk keeps names, contacts and CPF');

    const found = expectStatus(await get(`/api/patients?q=${full.cpf}`, w.rec.access), 200).body.items;
    assert.deepEqual(found, [desk]);
    const all = await listAll('/api/patients', w.rec.access);
    assert.equal(all.length >= 1, true);
    for (const p of all) assert.deepEqual(keys(p), PATIENT_DESK_KEYS, `patient ${p.id}`);

    const created = expectStatus(await post('/api/patients', { full_name: `Desk ${uniq()}`, phone: '11 3333-4444' }, w.rec.access), 201).body;
    assert.deepEqual(keys(created), PATIENT_DESK_KEYS);
    const edited = expectStatus(await patch(`/api/patients/${id}`, { phone: '11 2222-3333' }, w.rec.access), 200).body;
    assert.deepEqual(keys(edited), PATIENT_DESK_KEYS);
    assert.equal(edited.phone, '11 2222-3333');
    // the desk's edit kept the history it cannot read
    const after = expectStatus(await get(`/api/patients/${id}`, w.admin), 200).body;
    assert.equal(after.medical_history, full.medical_history);
  });

  test('doctors, admins and the patient themself read the full record', async () => {
    const w = await world();
    const id = w.pat.patient.id;
    const history = 'Hipertensão; alergia a dipirona';
    for (const [who, path, token] of [
      ['ADMIN', `/api/patients/${id}`, w.admin],
      ['DOCTOR', `/api/patients/${id}`, w.doc.access],
      ['PATIENT', `/api/patients/${id}`, w.pat.access],
      ['PATIENT', '/api/patients/me', w.pat.access],
    ]) {
      const p = expectStatus(await get(path, token), 200).body;
      assert.deepEqual(keys(p), PATIENT_KEYS, `${who} ${path}`);
      assert.equal(p.medical_history, history, `${who} ${path}`);
    }
    const listed = (await listAll('/api/patients', w.doc.access)).find((p) => p.id === id);
    assert.equal(listed.medical_history, history);
    const byAdmin = (await listAll(`/api/patients?clinic_id=${w.clinic.id}`, w.admin)).find((p) => p.id === id);
    assert.equal(byAdmin.medical_history, history);
  });

  test('only doctors and admins write medical_history: the desk gets a 422 and nothing changes', async () => {
    const w = await world();
    const id = w.pat.patient.id;
    const before = expectStatus(await get(`/api/patients/${id}`, w.admin), 200).body;

    const name = `Refused ${uniq()}`;
    for (const medical_history of ['Diabetes tipo 2', null]) {
      expectError(await post('/api/patients', { full_name: name, medical_history }, w.rec.access), 422, 'validation_failed', ['medical_history']);
      expectError(await patch(`/api/patients/${id}`, { phone: '11 4444-5555', medical_history }, w.rec.access), 422, 'validation_failed', [
        'medical_history',
      ]);
    }
    assert.deepEqual(expectStatus(await get(`/api/patients?q=${encodeURIComponent(name)}`, w.rec.access), 200).body.items, []);
    assert.deepEqual(expectStatus(await get(`/api/patients/${id}`, w.admin), 200).body, before, 'the refused edits changed nothing');
    const audit = expectStatus(await get(`/api/audit?action=patient_update&entity_id=${id}`, w.admin), 200).body.items;
    assert.deepEqual(audit, [], 'a refused edit leaves no audit row');

    // another clinic's desk still finds nothing there: 404 before any field rule
    const other = await staffSession('RECEPTIONIST', (await createClinic()).id);
    expectError(await patch(`/api/patients/${id}`, { medical_history: 'x' }, other.access), 404, 'not_found');

    const byDoctor = expectStatus(await patch(`/api/patients/${id}`, { medical_history: 'Hipertensão controlada' }, w.doc.access), 200).body;
    assert.equal(byDoctor.medical_history, 'Hipertensão controlada');
    const created = await createPatient(w.admin, { clinic_id: w.clinic.id, medical_history: 'Asma' });
    assert.equal(created.medical_history, 'Asma');
    const byDoctorCreated = await createPatient(w.doc.access, { medical_history: 'Enxaqueca' });
    assert.equal(byDoctorCreated.medical_history, 'Enxaqueca');
  });
});

describe('clinical routes and the desk', () => {
  test('a receptionist cannot open evolutions, histories or a doctor\'s patients; visits, queue and events carry nothing clinical', async () => {
    const w = await world();
    const start = await eventsEnd(w.rec.access);
    const visit = await walkIn(w.rec.access, { patient_id: w.pat.patient.id, doctor_id: w.doc.user.doctor_id, notes: 'Chegou às 9h' });
    await moveVisit(visit.id, 'with_doctor', w.rec.access);
    const evolution = {
      notes: 'Dor torácica atípica',
      diagnoses: [{ code: 'R07.4', description: 'Dor torácica não especificada' }],
      prescriptions: [{ drug: 'Omeprazol', dose: '20 mg', route: 'oral', frequency: '1x ao dia' }],
    };
    expectStatus(await request('PUT', `/api/visits/${visit.id}/evolution`, { token: w.doc.access, body: evolution }), 201);
    expectStatus(await post(`/api/visits/${visit.id}/evolution/sign`, undefined, w.doc.access), 200);
    await completeVisit(visit.id, w.doc.access, { notes: 'Retorno em 30 dias' });
    const clinical = ['Dor torácica', 'R07.4', 'Omeprazol', 'Retorno em 30 dias', 'dipirona'];

    const pid = w.pat.patient.id;
    const did = w.doc.user.doctor_id;
    expectError(await get(`/api/visits/${visit.id}/evolution`, w.rec.access), 403, 'forbidden');
    expectError(await get(`/api/patients/${pid}/history/${did}`, w.rec.access), 403, 'forbidden');
    expectError(await get('/api/doctors/patients', w.rec.access), 403, 'forbidden');

    const reads = [
      expectStatus(await get(`/api/visits/${visit.id}`, w.rec.access), 200).body,
      expectStatus(await get(`/api/visits/${visit.id}/transitions`, w.rec.access), 200).body,
      expectStatus(await get('/api/queue', w.rec.access), 200).body,
      expectStatus(await get(`/api/patients/${pid}`, w.rec.access), 200).body,
      (await eventsSince(w.rec.access, start, 1)).items,
    ];
    const text = JSON.stringify(reads);
    assert.equal(text.includes('Chegou às 9h'), true, 'the desk keeps its own check-in notes');
    for (const leak of clinical) assert.equal(text.includes(leak), false, `the desk reads ${leak}: ${text}`);

    // the doctor and the admin keep the clinical record
    for (const token of [w.doc.access, w.admin]) {
      const items = expectStatus(await get(`/api/patients/${pid}/history/${did}`, token), 200).body.items;
      assert.equal(items[0].evolution.notes, evolution.notes);
      assert.equal(items[0].evolution.prescriptions[0].drug, 'Omeprazol');
      const e = expectStatus(await get(`/api/visits/${visit.id}/evolution`, token), 200).body;
      assert.equal(e.addenda[0].text, 'Retorno em 30 dias');
    }
    const mine = (await listAll('/api/doctors/patients', w.doc.access)).find((x) => x.patient.id === pid);
    assert.equal(mine.patient.medical_history, 'Hipertensão; alergia a dipirona');
  });
});

describe('the rule in the database', () => {
  test('an unknown or missing role reads the narrowest projection', async () => {
    const w = await world();
    const keysOf = async (expr) =>
      (await psql(`SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys((${expr})) k;`)).split(',');
    for (const role of ['NULL', "'UNKNOWN'", "''", "'patient'"]) {
      assert.deepEqual(
        await keysOf(`SELECT doctor_json_for(d, ${role}) FROM doctors d WHERE d.id = ${w.doc.user.doctor_id}`),
        DOCTOR_PUBLIC_KEYS,
        `doctor for ${role}`,
      );
    }
    for (const role of ['NULL', "'UNKNOWN'", "''", "'doctor'", "'RECEPTIONIST'"]) {
      assert.deepEqual(
        await keysOf(`SELECT patient_json_for(p, ${role}) FROM patients p WHERE p.id = ${w.pat.patient.id}`),
        PATIENT_DESK_KEYS,
        `patient for ${role}`,
      );
    }
  });
});
