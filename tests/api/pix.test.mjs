// The PIX key a doctor is paid to: set with its type on the profile (PATCH /api/doctors/me, or an
// admin's PATCH /api/doctors/{id}), checked and stored normalised per type, shown in full in the
// answer to the edit and masked in every read. Setting it takes the caller's current password
// (lifecycle.test.mjs tests that rule).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { DEMO_PASSWORD, asAdmin, createClinic, expectError, expectStatus, get, patch, staffSession } from '../lib/api.mjs';

const VALID = [
  ['cpf', '529.982.247-25', '52998224725'],
  ['cpf', '52998224725', '52998224725'],
  ['cnpj', '11.222.333/0001-81', '11222333000181'],
  ['cnpj', '12.abc.345/01de-35', '12ABC34501DE35'],
  ['phone', '+55 (11) 91234-5678', '+5511912345678'],
  ['phone', '+55 21 3456-7890', '+552134567890'],
  ['email', '  Jane.Doe@Example.COM ', 'jane.doe@example.com'],
  ['evp', '123E4567-E89B-12D3-A456-426614174000', '123e4567-e89b-12d3-a456-426614174000'],
];

const INVALID = [
  ['cpf', '529.982.247-26'],
  ['cpf', '111.111.111-11'],
  ['cpf', '5299822472'],
  ['cnpj', '11.222.333/0001-82'],
  ['cnpj', '00.000.000/0000-00'],
  ['cnpj', '12.ABC.345/01DE-36'],
  ['phone', '11912345678'],
  ['phone', '+55 (11) 81234-5678'],
  ['phone', '+1 415 555 0100'],
  ['email', 'not-an-email'],
  ['email', `${'a'.repeat(64)}@${'b'.repeat(10)}.com`],
  ['evp', '123e4567-e89b-12d3-a456-42661417400'],
  ['evp', 'not-a-uuid'],
  // an 11-digit CPF is not a phone number, nor the reverse
  ['phone', '52998224725'],
  ['cpf', '+5511912345678'],
];

async function doctor() {
  const clinic = await createClinic();
  return staffSession('DOCTOR', clinic.id);
}

describe('PIX keys on the doctor profile', () => {
  test('each key type: stored normalised, shown in full to the edit, masked in reads', async () => {
    const doc = await doctor();
    for (const [type, key, stored] of VALID) {
      const res = expectStatus(await patch('/api/doctors/me', { pix_key_type: type, pix_key: key, current_password: doc.password }, doc.access), 200);
      assert.equal(res.body.pix_key_type, type);
      assert.equal(res.body.pix_key, stored, `${type} ${key}`);
      const read = expectStatus(await get(`/api/doctors/${doc.user.doctor_id}`, doc.access), 200).body;
      assert.equal(read.pix_key_type, type);
      assert.equal(read.pix_key, '*'.repeat(stored.length - 4) + stored.slice(-4), 'masked but its last four');
      const admin = expectStatus(await get(`/api/doctors/${doc.user.doctor_id}`, await asAdmin()), 200).body;
      assert.equal(admin.pix_key, read.pix_key, 'the admin reads it masked too');
    }
  });

  test('each invalid key: 422 naming pix_key, and the stored key is unchanged', async () => {
    const doc = await doctor();
    expectStatus(await patch('/api/doctors/me', { pix_key_type: 'cpf', pix_key: '529.982.247-25', current_password: doc.password }, doc.access), 200);
    for (const [type, key] of INVALID) {
      expectError(await patch('/api/doctors/me', { pix_key_type: type, pix_key: key, current_password: doc.password }, doc.access), 422, 'validation_failed',
        ['pix_key']);
    }
    expectError(await patch('/api/doctors/me', { pix_key_type: 'iban', pix_key: 'x', current_password: doc.password }, doc.access), 422, 'validation_failed',
      ['pix_key_type']);
    expectError(await patch('/api/doctors/me', { pix_key_type: 'cpf', pix_key: '1'.repeat(129), current_password: doc.password }, doc.access), 422,
      'validation_failed', ['pix_key']);
    const read = expectStatus(await get(`/api/doctors/${doc.user.doctor_id}`, doc.access), 200).body;
    assert.equal(read.pix_key_type, 'cpf');
    assert.equal(read.pix_key, '*******4725');
  });

  test('type and key go together; both null remove the key', async () => {
    const doc = await doctor();
    expectError(await patch('/api/doctors/me', { pix_key: '529.982.247-25', current_password: doc.password }, doc.access), 422, 'validation_failed', ['pix_key_type']);
    expectError(await patch('/api/doctors/me', { pix_key_type: 'cpf', current_password: doc.password }, doc.access), 422, 'validation_failed', ['pix_key']);
    expectError(await patch('/api/doctors/me', { pix_key_type: 'cpf', pix_key: null, current_password: doc.password }, doc.access), 422, 'validation_failed', ['pix_key']);
    expectStatus(await patch('/api/doctors/me', { pix_key_type: 'evp', pix_key: '123e4567-e89b-12d3-a456-426614174000', current_password: doc.password }, doc.access), 200);
    const cleared = expectStatus(await patch('/api/doctors/me', { pix_key_type: null, pix_key: null, current_password: doc.password }, doc.access), 200).body;
    assert.equal(cleared.pix_key_type, null);
    assert.equal(cleared.pix_key, null);
    // other fields leave the key alone
    expectStatus(await patch('/api/doctors/me', { pix_key_type: 'email', pix_key: 'doc@example.com', current_password: doc.password }, doc.access), 200);
    const renamed = expectStatus(await patch('/api/doctors/me', { specialty: 'Cardiologia' }, doc.access), 200).body;
    assert.equal(renamed.pix_key, 'doc@example.com');
  });

  test('only the doctor themself or an admin sets it', async () => {
    const doc = await doctor();
    const other = await staffSession('DOCTOR', doc.user.clinic_id);
    const rec = await staffSession('RECEPTIONIST', doc.user.clinic_id);
    const body = { pix_key_type: 'cpf', pix_key: '529.982.247-25' };
    expectError(await patch(`/api/doctors/${doc.user.doctor_id}`, body, other.access), 403, 'forbidden');
    expectError(await patch('/api/doctors/me', body, rec.access), 403, 'forbidden');
    expectError(await patch(`/api/doctors/${doc.user.doctor_id}`, body, rec.access), 403, 'forbidden');
    const byAdmin = expectStatus(await patch(`/api/doctors/${doc.user.doctor_id}`, { ...body, current_password: DEMO_PASSWORD }, await asAdmin()), 200).body;
    assert.equal(byAdmin.pix_key, '52998224725');
  });
});
