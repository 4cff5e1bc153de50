// Races: unique e-mail under concurrent creates, single-use refresh tokens under concurrent refreshes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { asAdmin, createClinic, expectError, expectStatus, freshEmail, get, listAll, post, staffSession } from '../lib/api.mjs';

function countBy(list, f) {
  const out = {};
  for (const x of list) out[f(x)] = (out[f(x)] || 0) + 1;
  return out;
}

describe('concurrency', () => {
  test('10 concurrent POST /users with one new e-mail: one 201, nine 409', async () => {
    const clinic = await createClinic();
    const admin = await asAdmin();
    const email = freshEmail('race');
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        post('/api/users', { email, password: `race-password-${i}`, full_name: `Racer ${i}`, role: 'RECEPTIONIST', clinic_id: clinic.id }, admin),
      ),
    );
    assert.deepEqual(countBy(results, (r) => r.status), { 201: 1, 409: 9 });
    for (const r of results.filter((x) => x.status === 409)) expectError(r, 409, 'conflict');
    const users = await listAll(`/api/users?clinic_id=${clinic.id}`, admin);
    assert.deepEqual(users.map((u) => u.email.toLowerCase()), [email]);
  });

  test('5 concurrent refreshes with one refresh token: exactly one 200', async () => {
    const clinic = await createClinic();
    const s = await staffSession('RECEPTIONIST', clinic.id);
    const results = await Promise.all(Array.from({ length: 5 }, () => post('/api/auth/refresh', { refresh_token: s.refresh })));
    assert.deepEqual(countBy(results, (r) => r.status), { 200: 1, 401: 4 });
    for (const r of results.filter((x) => x.status === 401)) expectError(r, 401, ['refresh_token_reused', 'invalid_refresh_token']);
    const winner = results.find((r) => r.status === 200);
    // The winner's access token is valid.
    expectStatus(await get('/api/auth/me', winner.body.access_token), 200);
  });
});
