// Clinics, staff users, doctors, patients (validation, accounts, search, pagination) and audit.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  accountLinkToken,
  asAdmin,
  badCpf,
  cpf,
  createClinic,
  createPatient,
  createStaff,
  del,
  expectError,
  expectStatus,
  formatCpf,
  freshEmail,
  get,
  listAll,
  login,
  patch,
  patientSession,
  post,
  staffSession,
  uniq,
} from '../lib/api.mjs';

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const NOT_FOUND_ID = 2147483000;

function randomDigits(n) {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(Math.random() * 10);
  return s;
}

async function auditRows(query) {
  return listAll(`/api/audit?${query}`, await asAdmin());
}

describe('clinics', () => {
  test('create, get, list, update', async () => {
    const admin = await asAdmin();
    const name = `Clinic ${uniq()}`;
    const created = expectStatus(await post('/api/clinics', { name, timezone: 'America/Sao_Paulo' }, admin), 201).body;
    assert.equal(created.name, name);
    assert.equal(created.timezone, 'America/Sao_Paulo');
    assert.equal(created.currency, 'BRL');
    assert.match(created.created_at, INSTANT);

    const usd = expectStatus(await post('/api/clinics', { name: `Clinic ${uniq()}`, timezone: 'UTC', currency: 'USD' }, admin), 201).body;
    assert.equal(usd.currency, 'USD');

    assert.deepEqual(expectStatus(await get(`/api/clinics/${created.id}`, admin), 200).body, created);

    const renamed = `Renamed ${uniq()}`;
    const upd = expectStatus(await patch(`/api/clinics/${created.id}`, { name: renamed, currency: 'EUR' }, admin), 200).body;
    assert.deepEqual(upd, { ...created, name: renamed, currency: 'EUR' });
    const tz = expectStatus(await patch(`/api/clinics/${created.id}`, { timezone: 'Europe/Lisbon' }, admin), 200).body;
    assert.equal(tz.timezone, 'Europe/Lisbon');
    assert.equal(tz.name, renamed);

    const all = await listAll('/api/clinics', admin);
    const found = all.filter((c) => c.id === created.id);
    assert.deepEqual(found, [tz]);

    const rows = await auditRows(`action=clinic_create&entity_id=${created.id}`);
    assert.equal(rows.length, 1, `clinic_create audit rows for clinic ${created.id}: ${JSON.stringify(rows)}`);
  });

  test('a name already taken, in any case, is 409 conflict on create and on rename', async () => {
    const admin = await asAdmin();
    const name = `Clinic ${uniq()}`;
    const first = expectStatus(await post('/api/clinics', { name, timezone: 'UTC' }, admin), 201).body;
    const again = expectError(await post('/api/clinics', { name, timezone: 'UTC' }, admin), 409, 'conflict');
    assert.match(again.body.error.message, /name/i);
    expectError(await post('/api/clinics', { name: name.toUpperCase(), timezone: 'America/Sao_Paulo' }, admin), 409, 'conflict');
    const other = await createClinic();
    expectError(await patch(`/api/clinics/${other.id}`, { name: name.toLowerCase() }, admin), 409, 'conflict');
    const all = await listAll('/api/clinics', admin);
    assert.deepEqual(all.filter((c) => c.name.toLowerCase() === name.toLowerCase()).map((c) => c.id), [first.id]);
  });

  test('invalid timezone is 422 fields.timezone', async () => {
    const admin = await asAdmin();
    for (const timezone of ['Mars/Olympus_Mons', 'not a timezone', '']) {
      expectError(await post('/api/clinics', { name: `Clinic ${uniq()}`, timezone }, admin), 422, 'validation_failed', ['timezone']);
    }
    const clinic = await createClinic();
    expectError(await patch(`/api/clinics/${clinic.id}`, { timezone: 'Nowhere/Nothing' }, admin), 422, 'validation_failed', ['timezone']);
    assert.equal(expectStatus(await get(`/api/clinics/${clinic.id}`, admin), 200).body.timezone, clinic.timezone);
  });

  test('invalid currency is 422 fields.currency', async () => {
    const admin = await asAdmin();
    for (const currency of ['brl', 'US', 'EURO', 'U$D', '123']) {
      expectError(await post('/api/clinics', { name: `Clinic ${uniq()}`, timezone: 'UTC', currency }, admin), 422, 'validation_failed', ['currency']);
    }
    const clinic = await createClinic();
    expectError(await patch(`/api/clinics/${clinic.id}`, { currency: 'usd' }, admin), 422, 'validation_failed', ['currency']);
  });

  test('name and required fields', async () => {
    const admin = await asAdmin();
    expectError(await post('/api/clinics', {}, admin), 422, 'validation_failed', ['name', 'timezone']);
    expectError(await post('/api/clinics', { name: '', timezone: 'UTC' }, admin), 422, 'validation_failed', ['name']);
    expectError(await post('/api/clinics', { name: 'x'.repeat(201), timezone: 'UTC' }, admin), 422, 'validation_failed', ['name']);
    expectStatus(await post('/api/clinics', { name: `${'y'.repeat(180)}${uniq()}`.slice(0, 200), timezone: 'UTC' }, admin), 201);
  });

  test('delete: empty clinic 204, clinic in use 409, unknown 404', async () => {
    const admin = await asAdmin();
    const empty = await createClinic();
    expectStatus(await del(`/api/clinics/${empty.id}`, admin), 204);
    expectError(await get(`/api/clinics/${empty.id}`, admin), 404, 'not_found');
    expectError(await del(`/api/clinics/${empty.id}`, admin), 404, 'not_found');

    const withPatient = await createClinic();
    await createPatient(admin, { clinic_id: withPatient.id });
    expectError(await del(`/api/clinics/${withPatient.id}`, admin), 409, 'conflict');
    expectStatus(await get(`/api/clinics/${withPatient.id}`, admin), 200);

    const withUser = await createClinic();
    await createStaff('RECEPTIONIST', withUser.id);
    expectError(await del(`/api/clinics/${withUser.id}`, admin), 409, 'conflict');
    expectStatus(await get(`/api/clinics/${withUser.id}`, admin), 200);

    expectError(await get(`/api/clinics/${NOT_FOUND_ID}`, admin), 404, 'not_found');
    expectError(await patch(`/api/clinics/${NOT_FOUND_ID}`, { name: 'x' }, admin), 404, 'not_found');
  });
});

describe('staff users', () => {
  test('create receptionist and doctor', async () => {
    const clinic = await createClinic();
    const admin = await asAdmin();
    const email = freshEmail('rec');
    const rec = expectStatus(
      await post('/api/users', { email, password: 'reception-pw', full_name: 'Rita Reception', role: 'RECEPTIONIST', clinic_id: clinic.id }, admin),
      201,
    ).body;
    assert.equal(rec.email, email);
    assert.equal(rec.full_name, 'Rita Reception');
    assert.equal(rec.role, 'RECEPTIONIST');
    assert.equal(rec.clinic_id, clinic.id);
    assert.equal(rec.active, true);
    assert.equal(rec.doctor_id, null);
    assert.equal(rec.patient_id, null);
    assert.equal(rec.last_login_at, null);
    assert.match(rec.created_at, INSTANT);

    const t = await login(email, 'reception-pw');
    const after = expectStatus(await get(`/api/users/${rec.id}`, admin), 200).body;
    assert.match(after.last_login_at ?? '(null)', INSTANT);
    assert.equal(t.user.id, rec.id);

    const demail = freshEmail('doc');
    const doc = expectStatus(
      await post(
        '/api/users',
        {
          email: demail,
          password: 'doctor-pw-1',
          full_name: 'Davi Doctor',
          role: 'DOCTOR',
          clinic_id: clinic.id,
          specialty: 'Cardiology',
          license_number: 'CRM-12345',
        },
        admin,
      ),
      201,
    ).body;
    assert.equal(doc.role, 'DOCTOR');
    assert.equal(Number.isInteger(doc.doctor_id), true, `doctor_id: ${doc.doctor_id}`);

    const list = expectStatus(await get(`/api/doctors?user_id=${doc.id}`, admin), 200).body;
    assert.equal(list.items.length, 1, `GET /doctors?user_id=${doc.id}: ${JSON.stringify(list)}`);
    const d = list.items[0];
    assert.equal(d.id, doc.doctor_id);
    assert.equal(d.user_id, doc.id);
    assert.equal(d.clinic_id, clinic.id);
    assert.equal(d.full_name, 'Davi Doctor');
    assert.equal(d.email, demail);
    assert.equal(d.specialty, 'Cardiology');
    assert.equal(d.license_number, 'CRM-12345');
    assert.equal(d.active, true);
    assert.deepEqual(expectStatus(await get(`/api/doctors/${d.id}`, admin), 200).body, d);

    const admin2 = expectStatus(
      await post('/api/users', { email: freshEmail('adm'), password: 'admin-pw-12', full_name: 'Second Admin', role: 'ADMIN' }, admin),
      201,
    ).body;
    assert.equal(admin2.clinic_id, null);
    assert.equal(admin2.doctor_id, null);

    const rows = await auditRows(`action=user_create&entity_id=${rec.id}`);
    assert.equal(rows.length, 1, `user_create audit rows for ${rec.id}: ${JSON.stringify(rows)}`);
  });

  test('validation and conflicts', async () => {
    const clinic = await createClinic();
    const admin = await asAdmin();
    const base = () => ({ email: freshEmail('v'), password: 'valid-password', full_name: 'Valid Name', role: 'RECEPTIONIST', clinic_id: clinic.id });

    const first = await createStaff('RECEPTIONIST', clinic.id);
    const dup = await post('/api/users', { ...base(), email: first.email.toUpperCase() }, admin);
    expectError(dup, 409, 'conflict');
    assert.match(dup.body.error.message, /e-?mail/i);

    expectError(await post('/api/users', { ...base(), role: 'ADMIN' }, admin), 422, 'validation_failed', ['clinic_id']);
    const { clinic_id: _c, ...noClinic } = base();
    expectError(await post('/api/users', noClinic, admin), 422, 'validation_failed', ['clinic_id']);
    expectError(await post('/api/users', { ...noClinic, role: 'DOCTOR' }, admin), 422, 'validation_failed', ['clinic_id']);
    expectError(await post('/api/users', { ...base(), clinic_id: NOT_FOUND_ID }, admin), 422, 'validation_failed', ['clinic_id']);
    expectError(await post('/api/users', { ...base(), role: 'PATIENT' }, admin), 422, 'validation_failed', ['role']);
    expectError(await post('/api/users', { ...base(), role: 'SUPERUSER' }, admin), 422, 'validation_failed', ['role']);
    expectError(await post('/api/users', { ...base(), password: 'short' }, admin), 422, 'validation_failed', ['password']);
    expectError(await post('/api/users', { ...base(), password: 'p'.repeat(129) }, admin), 422, 'validation_failed', ['password']);
    expectError(await post('/api/users', { ...base(), email: 'not-an-email' }, admin), 422, 'validation_failed', ['email']);
    expectError(await post('/api/users', { ...base(), full_name: '' }, admin), 422, 'validation_failed', ['full_name']);
    expectError(
      await post('/api/users', { ...base(), role: 'DOCTOR', specialty: 's'.repeat(101), license_number: 'l'.repeat(51) }, admin),
      422,
      'validation_failed',
      ['specialty', 'license_number'],
    );
    expectError(await post('/api/users', {}, admin), 422, 'validation_failed', ['email', 'password', 'full_name', 'role']);
  });

  test('list with filters, ordered by id', async () => {
    const clinic = await createClinic();
    const admin = await asAdmin();
    const r1 = await createStaff('RECEPTIONIST', clinic.id);
    const d1 = await createStaff('DOCTOR', clinic.id);
    const r2 = await createStaff('RECEPTIONIST', clinic.id);

    const all = expectStatus(await get(`/api/users?clinic_id=${clinic.id}`, admin), 200).body;
    assert.deepEqual(all.items.map((u) => u.id), [r1.id, d1.id, r2.id]);
    assert.equal(all.next_cursor, null);

    const docs = expectStatus(await get(`/api/users?clinic_id=${clinic.id}&role=DOCTOR`, admin), 200).body.items;
    assert.deepEqual(docs.map((u) => u.id), [d1.id]);
    const recs = expectStatus(await get(`/api/users?clinic_id=${clinic.id}&role=RECEPTIONIST`, admin), 200).body.items;
    assert.deepEqual(recs.map((u) => u.id), [r1.id, r2.id]);

    expectStatus(await post(`/api/users/${r2.id}/deactivate`, {}, admin), 200);
    const inactive = expectStatus(await get(`/api/users?clinic_id=${clinic.id}&active=false`, admin), 200).body.items;
    assert.deepEqual(inactive.map((u) => u.id), [r2.id]);
    const active = expectStatus(await get(`/api/users?clinic_id=${clinic.id}&active=true`, admin), 200).body.items;
    assert.deepEqual(active.map((u) => u.id), [r1.id, d1.id]);

    const byQ = await listAll(`/api/users?q=${encodeURIComponent(d1.user.full_name)}`, admin);
    assert.deepEqual(byQ.map((u) => u.id), [d1.id]);

    const paged = expectStatus(await get(`/api/users?clinic_id=${clinic.id}&limit=2`, admin), 200).body;
    assert.deepEqual(paged.items.map((u) => u.id), [r1.id, d1.id]);
    assert.equal(typeof paged.next_cursor, 'string');
    const rest = expectStatus(await get(`/api/users?clinic_id=${clinic.id}&limit=2&cursor=${encodeURIComponent(paged.next_cursor)}`, admin), 200).body;
    assert.deepEqual(rest.items.map((u) => u.id), [r2.id]);
  });

  test('get, update, deactivate', async () => {
    const clinic = await createClinic();
    const admin = await asAdmin();
    const s = await createStaff('RECEPTIONIST', clinic.id);
    const other = await createStaff('RECEPTIONIST', clinic.id);

    const got = expectStatus(await get(`/api/users/${s.id}`, admin), 200).body;
    assert.equal(got.email, s.email);
    expectError(await get(`/api/users/${NOT_FOUND_ID}`, admin), 404, 'not_found');
    expectError(await patch(`/api/users/${NOT_FOUND_ID}`, { full_name: 'x' }, admin), 404, 'not_found');

    const newEmail = freshEmail('renamed');
    const upd = expectStatus(await patch(`/api/users/${s.id}`, { full_name: 'New Name', email: newEmail }, admin), 200).body;
    assert.equal(upd.full_name, 'New Name');
    assert.equal(upd.email, newEmail);
    await login(newEmail, s.password);
    expectError(await post('/api/auth/login', { email: s.email, password: s.password }), 401, 'invalid_credentials');

    expectStatus(await patch(`/api/users/${s.id}`, { password: 'changed-by-admin' }, admin), 200);
    await login(newEmail, 'changed-by-admin');
    expectError(await patch(`/api/users/${s.id}`, { password: 'short' }, admin), 422, 'validation_failed', ['password']);

    const taken = await patch(`/api/users/${s.id}`, { email: other.email.toUpperCase() }, admin);
    expectError(taken, 409, 'conflict');
    expectError(await patch(`/api/users/${s.id}`, { role: 'ADMIN' }, admin), 422, 'validation_failed', ['role']);
    expectError(await patch(`/api/users/${s.id}`, { full_name: '' }, admin), 422, 'validation_failed', ['full_name']);

    const off = expectStatus(await patch(`/api/users/${s.id}`, { active: false }, admin), 200).body;
    assert.equal(off.active, false);
    expectError(await post('/api/auth/login', { email: newEmail, password: 'changed-by-admin' }), 403, 'account_disabled');
    const on = expectStatus(await patch(`/api/users/${s.id}`, { active: true }, admin), 200).body;
    assert.equal(on.active, true);
    await login(newEmail, 'changed-by-admin');

    const deact = expectStatus(await post(`/api/users/${other.id}/deactivate`, {}, admin), 200).body;
    assert.equal(deact.active, false);
    assert.equal(deact.id, other.id);
    expectError(await post(`/api/users/${NOT_FOUND_ID}/deactivate`, {}, admin), 404, 'not_found');

    const rows = await auditRows(`action=user_deactivate&entity_id=${other.id}`);
    assert.equal(rows.length, 1, `user_deactivate audit rows for ${other.id}: ${JSON.stringify(rows)}`);
  });

  test('deactivating yourself is 409', async () => {
    const me = await staffSession('ADMIN');
    expectError(await post(`/api/users/${me.id}/deactivate`, {}, me.access), 409, 'conflict');
    expectStatus(await get('/api/auth/me', me.access), 200);
    assert.equal(expectStatus(await get(`/api/users/${me.id}`, me.access), 200).body.active, true);
  });

  test('admin can update and deactivate patient users', async () => {
    const clinic = await createClinic();
    const admin = await asAdmin();
    const p = await patientSession(clinic.id);
    const upd = expectStatus(await patch(`/api/users/${p.user.id}`, { full_name: 'Patient Renamed' }, admin), 200).body;
    assert.equal(upd.role, 'PATIENT');
    assert.equal(upd.patient_id, p.patient.id);
    const off = expectStatus(await post(`/api/users/${p.user.id}/deactivate`, {}, admin), 200).body;
    assert.equal(off.active, false);
    expectError(await post('/api/auth/login', { email: p.email, password: p.password }), 403, 'account_disabled');
    expectError(await post('/api/auth/refresh', { refresh_token: p.refresh }), 401, 'invalid_refresh_token');
  });
});

describe('doctors', () => {
  test('list and get within the clinic', async () => {
    const clinic = await createClinic();
    const d1 = await createStaff('DOCTOR', clinic.id, { specialty: 'Pediatrics' });
    const d2 = await createStaff('DOCTOR', clinic.id);
    const rec = await staffSession('RECEPTIONIST', clinic.id);

    const list = await listAll('/api/doctors', rec.access);
    assert.deepEqual(list.map((d) => d.id).sort((a, b) => a - b), [d1.user.doctor_id, d2.user.doctor_id].sort((a, b) => a - b));
    const one = expectStatus(await get(`/api/doctors/${d1.user.doctor_id}`, rec.access), 200).body;
    assert.equal(one.specialty, 'Pediatrics');
    assert.equal(one.user_id, d1.id);
    assert.equal(one.pix_key_type, null);
    assert.equal(one.pix_key, null);
    const filtered = expectStatus(await get(`/api/doctors?user_id=${d2.id}`, rec.access), 200).body.items;
    assert.deepEqual(filtered.map((d) => d.id), [d2.user.doctor_id]);
    expectError(await get(`/api/doctors/${NOT_FOUND_ID}`, rec.access), 404, 'not_found');
  });

  test('pix keys are masked to the last 4 characters', async () => {
    const doctors = await listAll('/api/doctors', await asAdmin());
    for (const d of doctors) {
      if (d.pix_key === null) continue;
      const hidden = d.pix_key.slice(0, -4);
      assert.match(hidden, /^\**$/, `doctor ${d.id} pix_key ${d.pix_key} is not masked`);
      assert.notEqual(d.pix_key_type, null);
    }
  });

  test('PATCH /doctors/me by the doctor', async () => {
    const clinic = await createClinic();
    const doc = await staffSession('DOCTOR', clinic.id);
    const res = expectStatus(
      await patch('/api/doctors/me', { full_name: 'Dr. Updated', specialty: 'Dermatology', license_number: 'CRM-999' }, doc.access),
      200,
    ).body;
    assert.equal(res.id, doc.user.doctor_id);
    assert.equal(res.full_name, 'Dr. Updated');
    assert.equal(res.specialty, 'Dermatology');
    assert.equal(res.license_number, 'CRM-999');
    assert.deepEqual(expectStatus(await get(`/api/doctors/${res.id}`, doc.access), 200).body, res);

    expectError(await patch('/api/doctors/me', { clinic_id: 1 }, doc.access), 422, 'validation_failed', ['clinic_id']);
    expectError(await patch('/api/doctors/me', { specialty: 's'.repeat(101) }, doc.access), 422, 'validation_failed', ['specialty']);
    expectError(await patch('/api/doctors/me', { full_name: '' }, doc.access), 422, 'validation_failed', ['full_name']);
  });

  test('PATCH /doctors/{id} by admin', async () => {
    const clinic = await createClinic();
    const admin = await asAdmin();
    const doc = await createStaff('DOCTOR', clinic.id);
    const res = expectStatus(await patch(`/api/doctors/${doc.user.doctor_id}`, { specialty: 'Oncology' }, admin), 200).body;
    assert.equal(res.specialty, 'Oncology');
    assert.equal(res.user_id, doc.id);
    expectError(await patch(`/api/doctors/${NOT_FOUND_ID}`, { specialty: 'x' }, admin), 404, 'not_found');
    const rows = (await auditRows('action=doctor_update')).filter((r) => r.entity_id === doc.user.doctor_id || r.entity_id === doc.id);
    assert.equal(rows.length, 1, `doctor_update audit rows for doctor ${doc.user.doctor_id}: ${JSON.stringify(rows)}`);
  });
});

describe('patients', () => {
  // Every desk field by the receptionist; medical_history, clinical, by a doctor (the desk neither
  // writes nor reads it: projections.test.mjs).
  test('create with every field; CPF punctuation stored as digits', async () => {
    const clinic = await createClinic();
    const [rec, doc] = await Promise.all([staffSession('RECEPTIONIST', clinic.id), staffSession('DOCTOR', clinic.id)]);
    const digits = cpf();
    const email = freshEmail('pat');
    const body = {
      full_name: 'Maria da Silva',
      phone: '+55 (11) 98765-4321',
      email,
      birth_date: '1990-05-17',
      sex: 'F',
      cpf: formatCpf(digits),
    };
    const p = expectStatus(await post('/api/patients', body, rec.access), 201).body;
    assert.deepEqual(
      { full_name: p.full_name, phone: p.phone, email: p.email, birth_date: p.birth_date, sex: p.sex, cpf: p.cpf },
      { ...body, cpf: digits },
    );
    assert.equal(p.clinic_id, clinic.id);
    assert.equal(p.user_id, null);
    assert.match(p.created_at, INSTANT);
    assert.match(p.updated_at, INSTANT);
    assert.deepEqual(expectStatus(await get(`/api/patients/${p.id}`, rec.access), 200).body, p);

    const clinical = { ...body, cpf: formatCpf(cpf()), email: freshEmail('pat'), medical_history: 'Asthma.' };
    const d = expectStatus(await post('/api/patients', clinical, doc.access), 201).body;
    assert.deepEqual(
      { full_name: d.full_name, phone: d.phone, email: d.email, birth_date: d.birth_date, sex: d.sex, cpf: d.cpf, medical_history: d.medical_history },
      { ...clinical, cpf: clinical.cpf.replace(/\D/g, '') },
    );
    assert.deepEqual(expectStatus(await get(`/api/patients/${d.id}`, doc.access), 200).body, d);

    const minimal = expectStatus(await post('/api/patients', { full_name: 'Only Name' }, rec.access), 201).body;
    for (const k of ['phone', 'email', 'birth_date', 'sex', 'cpf', 'user_id']) {
      assert.equal(minimal[k], null, `${k} should default to null, got ${JSON.stringify(minimal[k])}`);
    }
    const minimalByDoctor = expectStatus(await post('/api/patients', { full_name: 'Only Name' }, doc.access), 201).body;
    assert.equal(minimalByDoctor.medical_history, null);

    const rows = await auditRows(`action=patient_create&entity_id=${p.id}`);
    assert.equal(rows.length, 1, `patient_create audit rows for ${p.id}: ${JSON.stringify(rows)}`);
    assert.equal(rows[0].actor_user_id, rec.id);
    assert.equal(rows[0].actor_role, 'RECEPTIONIST');
  });

  test('CPF: check digits, uniqueness per clinic', async () => {
    const clinicA = await createClinic();
    const clinicB = await createClinic();
    const admin = await asAdmin();
    const recA = await staffSession('RECEPTIONIST', clinicA.id);

    expectError(await post('/api/patients', { full_name: 'Bad Cpf', cpf: badCpf() }, recA.access), 422, 'validation_failed', ['cpf']);
    expectError(await post('/api/patients', { full_name: 'Short Cpf', cpf: '1234567890' }, recA.access), 422, 'validation_failed', ['cpf']);
    expectError(await post('/api/patients', { full_name: 'Alpha Cpf', cpf: '123.456.789-0a' }, recA.access), 422, 'validation_failed', ['cpf']);

    const digits = cpf();
    await createPatient(recA.access, { cpf: digits });
    const dup = await post('/api/patients', { full_name: 'Dup Cpf', cpf: formatCpf(digits) }, recA.access);
    expectError(dup, 409, 'conflict');
    assert.match(dup.body.error.message, /cpf/i);
    const inB = await createPatient(admin, { clinic_id: clinicB.id, cpf: digits });
    assert.equal(inB.cpf, digits);
  });

  test('birth_date, phone, email, sex and full_name validation', async () => {
    const clinic = await createClinic();
    const rec = await staffSession('RECEPTIONIST', clinic.id);
    const nextYear = new Date().getUTCFullYear() + 1;
    const bad = async (fields, field) =>
      expectError(await post('/api/patients', { full_name: 'Valid Name', ...fields }, rec.access), 422, 'validation_failed', [field]);

    await bad({ birth_date: `${nextYear}-01-01` }, 'birth_date');
    await bad({ birth_date: '1899-12-31' }, 'birth_date');
    await bad({ birth_date: '2001-02-30' }, 'birth_date');
    await bad({ birth_date: '17/05/1990' }, 'birth_date');
    await bad({ phone: '1234567' }, 'phone');
    await bad({ phone: 'call me 12345678' }, 'phone');
    await bad({ phone: '1'.repeat(21) }, 'phone');
    await bad({ email: 'x@' }, 'email');
    await bad({ email: `${'a'.repeat(250)}@example.org` }, 'email');
    await bad({ sex: 'X' }, 'sex');
    await bad({ full_name: '' }, 'full_name');
    await bad({ full_name: 'n'.repeat(201) }, 'full_name');
    await bad({ full_name: null }, 'full_name');
    expectError(await post('/api/patients', { phone: '11987654321' }, rec.access), 422, 'validation_failed', ['full_name']);

    for (const phone of ['12345678', '+55 (11) 3333-4444', '1'.repeat(20)]) {
      expectStatus(await post('/api/patients', { full_name: 'Phone Ok', phone }, rec.access), 201);
    }
    for (const sex of ['F', 'M', 'O', null]) {
      expectStatus(await post('/api/patients', { full_name: 'Sex Ok', sex }, rec.access), 201);
    }
    expectStatus(await post('/api/patients', { full_name: 'Old', birth_date: '1900-01-02' }, rec.access), 201);
  });

  test('admin must give clinic_id', async () => {
    const admin = await asAdmin();
    expectError(await post('/api/patients', { full_name: 'No Clinic' }, admin), 422, 'validation_failed', ['clinic_id']);
  });

  test('update: nullable fields to null, full_name not null', async () => {
    const clinic = await createClinic();
    const [rec, doc] = await Promise.all([staffSession('RECEPTIONIST', clinic.id), staffSession('DOCTOR', clinic.id)]);
    const p = await createPatient(rec.access, {
      email: freshEmail('upd'),
      phone: '11 98888-7777',
      birth_date: '1980-01-01',
      sex: 'M',
      cpf: cpf(),
    });
    // medical_history is the doctor's (a receptionist sending it gets 422: projections.test.mjs)
    assert.equal(expectStatus(await patch(`/api/patients/${p.id}`, { medical_history: 'Something' }, doc.access), 200).body.medical_history, 'Something');

    const noEmail = expectStatus(await patch(`/api/patients/${p.id}`, { email: null }, rec.access), 200).body;
    assert.equal(noEmail.email, null);
    assert.equal(noEmail.phone, p.phone);
    assert.equal(noEmail.full_name, p.full_name);
    assert.equal(noEmail.updated_at >= p.updated_at, true, `updated_at ${noEmail.updated_at} < ${p.updated_at}`);

    const cleared = expectStatus(await patch(`/api/patients/${p.id}`, { phone: null, birth_date: null, sex: null, cpf: null }, rec.access), 200).body;
    for (const k of ['phone', 'birth_date', 'sex', 'cpf', 'email']) assert.equal(cleared[k], null, `${k}: ${cleared[k]}`);
    const noHistory = expectStatus(await patch(`/api/patients/${p.id}`, { medical_history: null }, doc.access), 200).body;
    assert.equal(noHistory.medical_history, null);

    expectError(await patch(`/api/patients/${p.id}`, { full_name: null }, rec.access), 422, 'validation_failed', ['full_name']);
    expectError(await patch(`/api/patients/${p.id}`, { full_name: '' }, rec.access), 422, 'validation_failed', ['full_name']);
    expectError(await patch(`/api/patients/${p.id}`, { nickname: 'x' }, rec.access), 422, 'validation_failed', ['nickname']);
    expectError(await patch(`/api/patients/${p.id}`, { cpf: badCpf() }, rec.access), 422, 'validation_failed', ['cpf']);

    const renamed = expectStatus(await patch(`/api/patients/${p.id}`, { full_name: 'Renamed Patient', cpf: formatCpf(cpf()) }, rec.access), 200).body;
    assert.equal(renamed.full_name, 'Renamed Patient');
    assert.match(renamed.cpf, /^\d{11}$/);

    const other = await createPatient(rec.access, { cpf: cpf() });
    expectError(await patch(`/api/patients/${p.id}`, { cpf: other.cpf }, rec.access), 409, 'conflict');

    expectError(await patch(`/api/patients/${NOT_FOUND_ID}`, { full_name: 'x' }, rec.access), 404, 'not_found');
    expectError(await get(`/api/patients/${NOT_FOUND_ID}`, rec.access), 404, 'not_found');

    const rows = await auditRows(`action=patient_update&entity_id=${p.id}`);
    assert.equal(rows.length >= 3, true, `patient_update audit rows for ${p.id}: ${rows.length}`);
  });

  test('patient account: POST /patients/{id}/account, the activation link, login, /patients/me', async () => {
    const clinic = await createClinic();
    const rec = await staffSession('RECEPTIONIST', clinic.id);
    const email = freshEmail('acct');
    const p = await createPatient(rec.access, { full_name: `Account Holder ${uniq()}`, email });

    // the desk no longer chooses the password
    expectError(await post(`/api/patients/${p.id}/account`, { password: 'patient-pw-1' }, rec.access), 422, 'validation_failed', ['password']);
    expectError(await post(`/api/patients/${p.id}/account`, { email: 'nope' }, rec.access), 422, 'validation_failed', ['email']);

    const user = expectStatus(await post(`/api/patients/${p.id}/account`, {}, rec.access), 201).body;
    assert.equal(user.role, 'PATIENT');
    assert.equal(user.email, email);
    assert.equal(user.patient_id, p.id);
    assert.equal(user.clinic_id, clinic.id);
    assert.equal(user.doctor_id, null);
    assert.equal(user.active, true);
    assert.equal(expectStatus(await get(`/api/patients/${p.id}`, rec.access), 200).body.user_id, user.id);

    // another patient with the same e-mail (any case) cannot get an account under it
    const p2 = await createPatient(rec.access, { email: email.toUpperCase() });
    expectError(await post(`/api/patients/${p2.id}/account`, {}, rec.access), 409, 'conflict');
    expectError(await post(`/api/patients/${NOT_FOUND_ID}/account`, {}, rec.access), 404, 'not_found');

    expectStatus(await post('/api/auth/activate', { token: await accountLinkToken(email), password: 'patient-pw-1' }), 204);
    expectError(await post(`/api/patients/${p.id}/account`, {}, rec.access), 409, 'conflict');
    const t = await login(email, 'patient-pw-1');
    assert.equal(t.user.patient_id, p.id);
    const mine = expectStatus(await get('/api/patients/me', t.access_token), 200).body;
    assert.equal(mine.id, p.id);
    assert.equal(mine.full_name, p.full_name);
    assert.equal(mine.user_id, user.id);
    const me = expectStatus(await get('/api/auth/me', t.access_token), 200).body;
    assert.equal(me.patient_id, p.id);

    const rows = await auditRows('action=patient_account_create');
    assert.equal(rows.some((r) => r.entity_id === user.id), true, `no patient_account_create row for patient ${p.id}`);
  });

  test('search q: name, phone digits, e-mail, CPF', async () => {
    const clinic = await createClinic();
    const rec = await staffSession('RECEPTIONIST', clinic.id);
    const u = uniq();
    const phoneDigits = `5521${randomDigits(9)}`;
    const target = await createPatient(rec.access, {
      full_name: `Zoraide Kwx${u} Pereira`,
      phone: `+${phoneDigits.slice(0, 2)} (${phoneDigits.slice(2, 4)}) ${phoneDigits.slice(4, 9)}-${phoneDigits.slice(9)}`,
      email: freshEmail('search'),
      cpf: cpf(),
    });
    const decoy = await createPatient(rec.access, {
      full_name: `Other Person ${uniq()}`,
      phone: `+55 (31) ${randomDigits(5)}-${randomDigits(4)}`,
      email: freshEmail('decoy'),
      cpf: cpf(),
    });

    const search = async (q) => {
      const items = await listAll(`/api/patients?q=${encodeURIComponent(q)}`, rec.access);
      return items.map((p) => p.id);
    };
    assert.deepEqual(await search(`kwx${u}`), [target.id]);
    assert.deepEqual(await search(`KWX${u.toUpperCase()} PEREIRA`), [target.id]);
    assert.deepEqual(await search('zoraide'), [target.id]);
    assert.deepEqual(await search(phoneDigits), [target.id]);
    assert.deepEqual(await search(target.email), [target.id]);
    assert.deepEqual(await search(target.cpf), [target.id]);
    assert.deepEqual(await search(decoy.cpf), [decoy.id]);
    assert.deepEqual(await search(`nobody-${uniq()}`), []);

    const admin = await asAdmin();
    const viaAdmin = await listAll(`/api/patients?clinic_id=${clinic.id}&q=${encodeURIComponent(`kwx${u}`)}`, admin);
    assert.deepEqual(viaAdmin.map((p) => p.id), [target.id]);

    expectError(await get(`/api/patients?q=${'q'.repeat(101)}`, rec.access), 400, 'invalid_query', ['q']);
  });

  test('pagination: limit=2 and next_cursor collect exactly the matching patients in order', async () => {
    const clinic = await createClinic();
    const rec = await staffSession('RECEPTIONIST', clinic.id);
    const prefix = `Pg${uniq()}`;
    const letters = ['C', 'A', 'E', 'B', 'D'];
    const created = [];
    for (const l of letters) created.push(await createPatient(rec.access, { full_name: `${prefix} ${l}` }));
    // decoys that must not match
    await createPatient(rec.access, { full_name: `Unrelated ${uniq()}` });

    const seen = [];
    const sizes = [];
    let cursor = null;
    for (let i = 0; i < 10; i++) {
      const url = `/api/patients?q=${encodeURIComponent(prefix)}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = expectStatus(await get(url, rec.access), 200).body;
      assert.equal(page.items.length <= 2, true, `page of ${page.items.length} items with limit=2`);
      seen.push(...page.items);
      sizes.push(page.items.length);
      cursor = page.next_cursor;
      if (cursor === null) break;
    }
    assert.equal(cursor, null, 'next_cursor never became null');
    assert.deepEqual(
      seen.map((p) => p.full_name),
      ['A', 'B', 'C', 'D', 'E'].map((l) => `${prefix} ${l}`),
    );
    assert.equal(new Set(seen.map((p) => p.id)).size, 5);
    assert.deepEqual(sizes.filter((n) => n > 0), [2, 2, 1]);

    const everything = await listAll('/api/patients', rec.access);
    assert.equal(everything.length, 6);
    const names = everything.map((p) => p.full_name);
    assert.deepEqual(names, [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    assert.deepEqual(
      created.map((p) => p.id).sort((a, b) => a - b),
      everything.filter((p) => p.full_name.startsWith(prefix)).map((p) => p.id).sort((a, b) => a - b),
    );
  });
});

describe('audit', () => {
  test('filters and newest-first order', async () => {
    const clinic = await createClinic();
    const rec = await staffSession('RECEPTIONIST', clinic.id);
    const p1 = await createPatient(rec.access);
    const p2 = await createPatient(rec.access);
    const admin = await asAdmin();

    const byActor = expectStatus(await get(`/api/audit?actor_user_id=${rec.id}&action=patient_create`, admin), 200).body.items;
    assert.deepEqual(byActor.map((r) => r.entity_id), [p2.id, p1.id]);
    for (const r of byActor) {
      assert.equal(r.actor_user_id, rec.id);
      assert.equal(r.action, 'patient_create');
      assert.match(r.at, INSTANT);
      assert.equal(typeof r.details, 'object');
    }
    const logins = (await listAll('/api/audit?action=login', admin)).filter((r) => r.actor_user_id === rec.id || r.entity_id === rec.id);
    assert.equal(logins.length, 1, `login audit rows for ${rec.id}: ${JSON.stringify(logins)}`);

    const recent = expectStatus(await get('/api/audit?limit=50', admin), 200).body.items;
    for (let i = 1; i < recent.length; i++) {
      assert.equal(recent[i - 1].at >= recent[i].at, true, `audit not newest first: ${recent[i - 1].at} before ${recent[i].at}`);
    }
    const entity = byActor[0].entity;
    const byEntity = expectStatus(await get(`/api/audit?entity=${encodeURIComponent(entity)}&entity_id=${p1.id}`, admin), 200).body.items;
    assert.equal(byEntity.some((r) => r.action === 'patient_create'), true, `no patient_create among ${JSON.stringify(byEntity)}`);
    for (const r of byEntity) {
      assert.equal(r.entity, entity);
      assert.equal(r.entity_id, p1.id);
    }
  });
});
