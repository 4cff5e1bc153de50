// User photos (DESIGN §11): PUT /users/me/photo as a raw image body typed by its magic bytes, capped
// at PHOTO_MAX_BYTES, replaced whole; GET /users/{id}/photo to whom may see it; photo_url in the
// user, doctor and patient reads.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { before, test } from 'node:test';

import {
  API_URL, asAdmin, createClinic, del, expectError, expectStatus, get, patientSession, psql, request, staffSession,
} from '../lib/api.mjs';

const CAP = 2 * 1024 * 1024; // PHOTO_MAX_BYTES's default
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0]);
const image = (head, size = 2048) => Buffer.concat([head, randomBytes(size - head.length)]);
const sha = (b) => createHash('sha256').update(b).digest('hex');
const putPhoto = (token, raw, type = 'image/png') =>
  request('PUT', '/api/users/me/photo', { token, raw, headers: { 'content-type': type } });
const bytesOf = async (id, token) => {
  const r = await fetch(`${API_URL}/api/users/${id}/photo`, { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, type: r.headers.get('content-type'), etag: r.headers.get('etag'), nosniff: r.headers.get('x-content-type-options'), body: Buffer.from(await r.arrayBuffer()) };
};

let clinic, rec, doc, pat, pat2, foreign;
before(async () => {
  clinic = await createClinic();
  const other = await createClinic();
  [rec, doc, pat, pat2, foreign] = await Promise.all([staffSession('RECEPTIONIST', clinic.id), staffSession('DOCTOR', clinic.id),
    patientSession(clinic.id), patientSession(clinic.id), staffSession('RECEPTIONIST', other.id)]);
});

test('a doctor sets a photo: stored by its magic bytes, photo_url in user, doctor and patient reads, replaced whole', async () => {
  const first = image(PNG);
  const set = await putPhoto(doc.access, first);
  expectStatus(set, 200);
  assert.equal(set.body.photo_url, `/users/${doc.id}/photo`);
  assert.equal(set.body.sha256, sha(first));
  const me = await get('/api/auth/me', doc.access);
  assert.equal(me.body.photo_url ?? me.body.user?.photo_url, `/users/${doc.id}/photo`);
  for (const token of [rec.access, pat.access]) {
    const d = await get(`/api/doctors/${doc.user.doctor_id}`, token);
    expectStatus(d, 200);
    assert.equal(d.body.photo_url, `/users/${doc.id}/photo`);
  }
  const seen = await bytesOf(doc.id, pat.access);
  assert.equal(seen.status, 200);
  assert.equal(seen.type, 'image/png');
  assert.equal(seen.nosniff, 'nosniff');
  assert.deepEqual(seen.body, first);
  expectStatus(await request('GET', `/api/users/${doc.id}/photo`, { token: rec.access, headers: { 'if-none-match': seen.etag } }), 304);

  // a JPEG sent as image/png is a JPEG; it replaces the PNG
  const second = image(JPEG);
  expectStatus(await putPhoto(doc.access, second, 'image/png'), 200);
  const now = await bytesOf(doc.id, rec.access);
  assert.equal(now.type, 'image/jpeg');
  assert.deepEqual(now.body, second);
  assert.equal((await psql(`SELECT count(*) FROM user_photos WHERE user_id = ${doc.id}`)).trim(), '1');
  assert.equal((await psql(`SELECT count(*) FROM audit_log WHERE action = 'photo_set' AND entity_id = ${doc.id}`)).trim(), '2');

  expectStatus(await del('/api/users/me/photo', doc.access), 204);
  expectError(await del('/api/users/me/photo', doc.access), 404, 'not_found');
  expectError(await get(`/api/users/${doc.id}/photo`, rec.access), 404, 'not_found');
  const after = await get(`/api/doctors/${doc.user.doctor_id}`, rec.access);
  assert.equal(after.body.photo_url, null);
});

test('a patient photo: in the patient read, hidden from other patients and other clinics', async () => {
  expectStatus(await putPhoto(pat.access, image(PNG)), 200);
  const p = await get(`/api/patients/${pat.patient.id}`, rec.access);
  assert.equal(p.body.photo_url, `/users/${pat.user.id}/photo`);
  assert.equal((await bytesOf(pat.user.id, pat.access)).status, 200);
  assert.equal((await bytesOf(pat.user.id, doc.access)).status, 200);
  expectError(await get(`/api/users/${pat.user.id}/photo`, pat2.access), 404, 'not_found');
  expectError(await get(`/api/users/${pat.user.id}/photo`, foreign.access), 404, 'not_found');
  assert.equal((await bytesOf(pat.user.id, await asAdmin())).status, 200);
});

test('refusals: a declared type that is not an image, a body that is not one, empty, the cap and one byte over', async () => {
  expectError(await putPhoto(rec.access, image(PNG), 'application/pdf'), 415, 'unsupported_media_type');
  expectError(await putPhoto(rec.access, image(PNG), 'text/html'), 415, 'unsupported_media_type');
  expectError(await putPhoto(rec.access, Buffer.from('<html><script>alert(1)</script></html>')), 415, 'unsupported_media_type');
  expectError(await putPhoto(rec.access, Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(100)])), 415, 'unsupported_media_type');
  expectError(await putPhoto(rec.access, Buffer.alloc(0)), 422, 'validation_failed', ['photo']);
  const atCap = image(PNG, CAP);
  const ok = await putPhoto(rec.access, atCap);
  expectStatus(ok, 200);
  assert.equal(ok.body.size_bytes, CAP);
  assert.deepEqual((await bytesOf(rec.id, doc.access)).body, atCap);
  expectError(await putPhoto(rec.access, image(PNG, CAP + 1)), 413, 'payload_too_large');
  // chunked, no Content-Length: the body is counted as it arrives
  const over = image(PNG, CAP + 1);
  const stream = new ReadableStream({ start(c) { for (let o = 0; o < over.length; o += 65536) c.enqueue(over.subarray(o, o + 65536)); c.close(); } });
  expectError(await putPhoto(rec.access, stream), 413, 'payload_too_large');
  assert.deepEqual((await bytesOf(rec.id, doc.access)).body, atCap);
  expectError(await putPhoto(undefined, image(PNG)), 401, 'unauthorized');
});
