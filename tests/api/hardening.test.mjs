// Attacks and races on sessions: immediate effect of deactivation, and inputs that once slipped
// through (long paths, long cursors, birth dates in the clinic's own "today"). Guessing passwords
// (parallel guesses, unknown e-mails, the password change route) is in lifecycle.test.mjs.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  asAdmin, createClinic, createPatient, expectError, expectStatus, get, patch, post, staffSession, uniq,
} from '../lib/api.mjs';

test("deactivation ends the user's access tokens at once; nobody changes their own active state", async () => {
  const admin = await asAdmin();
  const other = await staffSession('ADMIN');
  expectStatus(await get('/api/auth/me', other.access), 200);
  expectStatus(await post(`/api/users/${other.id}/deactivate`, {}, admin), 200);
  expectError(await get('/api/auth/me', other.access), 401, 'unauthorized');
  expectError(await patch(`/api/users/${other.id}`, { active: true }, other.access), 401, 'unauthorized');

  const me = (await get('/api/auth/me', admin)).body;
  expectError(await patch(`/api/users/${me.id}`, { active: true }, admin), 409, 'conflict');
});

test('a path longer than any route is a 404, never a truncated match', async () => {
  const admin = await asAdmin();
  const res = await get(`/api/clinics/1${'/'.repeat(300)}junk`, admin);
  expectError(res, 404, 'not_found');
});

test('cursors of pages ending in long multibyte names still work', async () => {
  const clinic = await createClinic();
  const admin = await asAdmin();
  const prefix = '患'.repeat(190);
  for (let i = 0; i < 3; i++) await createPatient(admin, { clinic_id: clinic.id, full_name: `${prefix}${i}${uniq().slice(0, 5)}` });
  const ids = [];
  const cursors = [];
  let cursor = null;
  do {
    const res = await get(`/api/patients?clinic_id=${clinic.id}&limit=1${cursor ? `&cursor=${cursor}` : ''}`, admin);
    expectStatus(res, 200);
    ids.push(...res.body.items.map((p) => p.id));
    cursor = res.body.next_cursor;
    cursors.push(cursor);
  } while (cursor && ids.length < 10);
  assert.equal(new Set(ids).size, 3);
  // pages 1 and 2 end in a long name (a long cursor), page 3 is the last
  assert.deepEqual(cursors.map((c) => (c === null ? null : c.length > 600)), [true, true, null]);
});

// Today's date in an IANA zone, as YYYY-MM-DD.
function localToday(zone, offsetDays = 0) {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' })
    .format(new Date(Date.now() + offsetDays * 86400000));
  return parts;
}

test("a birth date is checked against the clinic's own today", async () => {
  const zone = 'Pacific/Pago_Pago'; // UTC-11: its today is behind most of the world
  const clinic = await createClinic({ timezone: zone });
  const admin = await asAdmin();
  const today = localToday(zone);
  const [y, m, d] = today.split('-').map(Number);
  const tomorrow = new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
  const ok = await createPatient(admin, { clinic_id: clinic.id, birth_date: today });
  assert.equal(ok.birth_date, today);
  expectError(await post('/api/patients', { clinic_id: clinic.id, full_name: 'Tomorrow Baby', birth_date: tomorrow }, admin),
    422, 'validation_failed', ['birth_date']);
  expectError(await patch(`/api/patients/${ok.id}`, { birth_date: tomorrow }, admin), 422, 'validation_failed', ['birth_date']);
});
