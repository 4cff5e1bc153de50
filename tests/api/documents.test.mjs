// Patient documents (DESIGN §11): multipart upload typed by magic bytes, the caps (413), the clinic
// quota (507) under concurrent uploads, de-duplication, downloads with ETag and Range, who may read
// what (every role, another clinic), and soft delete with an admin's restore.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, test } from 'node:test';

import {
  API_URL, asAdmin, createClinic, createPatient, del, expectError, expectStatus, get, patientSession, post, psql,
  request, staffSession, startApi, walkIn,
} from '../lib/api.mjs';

const MAX = 20 * 1024 * 1024; // UPLOAD_MAX_BYTES's default

const MAGIC = {
  pdf: Buffer.from('%PDF-1.7\n'),
  png: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  jpeg: Buffer.from([0xff, 0xd8, 0xff, 0xe0]),
  webp: Buffer.concat([Buffer.from('RIFF'), Buffer.from([0x10, 0, 0, 0]), Buffer.from('WEBPVP8 ')]),
};
const MIME = { pdf: 'application/pdf', png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };

// A file of `size` bytes starting with the magic of kind, the rest random (so every file is new).
function fileOf(kind, size = 4096) {
  const head = MAGIC[kind];
  return Buffer.concat([head, randomBytes(Math.max(0, size - head.length))]).subarray(0, size);
}
const sha = (buf) => createHash('sha256').update(buf).digest('hex');

// POST /api/patients/{id}/documents as multipart (fetch's own encoding).
async function upload(patientId, token, { file, name = 'file.bin', title = 'Exam', fields = {}, base } = {}) {
  const fd = new FormData();
  if (file !== undefined) fd.append('file', new Blob([file]), name);
  if (title !== null) fd.append('title', title);
  for (const [k, v] of Object.entries(fields)) fd.append(k, String(v));
  return request('POST', `/api/patients/${patientId}/documents`, { token, raw: fd, headers: { 'content-type': null }, base });
}

// A multipart body built by hand: [head, file, tail] and its content type.
function multipart(file, name = 'big.pdf', title = 'Big') {
  const b = `----b${randomBytes(8).toString('hex')}`;
  const head = Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="title"\r\n\r\n${title}\r\n` +
    `--${b}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${b}--\r\n`);
  return { parts: [head, file, tail], type: `multipart/form-data; boundary=${b}` };
}

let clinic, rec, doc, otherDoc, patient, pat, foreign, foreignDoc;
before(async () => {
  clinic = await createClinic();
  [rec, doc, otherDoc] = await Promise.all([
    staffSession('RECEPTIONIST', clinic.id), staffSession('DOCTOR', clinic.id), staffSession('DOCTOR', clinic.id)]);
  pat = await patientSession(clinic.id);
  patient = pat.patient;
  // the doctor's patient: a visit with them
  await walkIn(rec.access, { patient_id: patient.id, doctor_id: doc.user.doctor_id });
  const otherClinic = await createClinic();
  [foreign, foreignDoc] = await Promise.all([
    staffSession('RECEPTIONIST', otherClinic.id), staffSession('DOCTOR', otherClinic.id)]);
});

test('each type is stored by its magic bytes, with its SHA-256, size and an audit row', async () => {
  for (const kind of ['pdf', 'png', 'jpeg', 'webp']) {
    const file = fileOf(kind);
    const res = await upload(patient.id, rec.access, { file, name: `scan.${kind}`, title: `A ${kind}` });
    expectStatus(res, 201);
    assert.equal(res.body.content_type, MIME[kind]);
    assert.equal(res.body.size_bytes, file.length);
    assert.equal(res.body.sha256, sha(file));
    assert.equal(res.body.patient_id, patient.id);
    assert.equal(res.body.shared_with_patient, false);
    const got = await request('GET', `/api/documents/${res.body.id}/content`, { token: doc.access });
    expectStatus(got, 200);
    assert.equal(got.headers.get('content-type'), MIME[kind]);
    assert.equal(sha(Buffer.from(await (await fetch(`${API_URL}/api/documents/${res.body.id}/content`,
      { headers: { authorization: `Bearer ${doc.access}` } })).arrayBuffer())), sha(file));
    const audit = await psql(`SELECT count(*) FROM audit_log WHERE action = 'document_upload' AND entity_id = ${res.body.id}`);
    assert.equal(audit.trim(), '1');
  }
});

test('the name never decides the type: a renamed PNG is a PNG, HTML is refused, a PDF-headed polyglot is a PDF', async () => {
  const png = fileOf('png');
  const renamed = await upload(patient.id, rec.access, { file: png, name: 'C:\\scans\\report.pdf' });
  expectStatus(renamed, 201);
  assert.equal(renamed.body.content_type, 'image/png');
  assert.equal(renamed.body.file_name, 'report.png');

  const html = Buffer.from('<html><body><script>alert(1)</script></body></html>');
  expectError(await upload(patient.id, rec.access, { file: html, name: 'result.pdf' }), 415, 'unsupported_media_type');
  // HTML carrying a PDF header further in: its first bytes are HTML, so it is refused
  const htmlFirst = Buffer.from('<!DOCTYPE html><html>%PDF-1.4\n<script>alert(1)</script></html>');
  expectError(await upload(patient.id, rec.access, { file: htmlFirst, name: 'x.pdf' }), 415, 'unsupported_media_type');
  // a PDF header first and HTML after it is a PDF: stored and served as one, an attachment never sniffed
  const pdfFirst = Buffer.from(`%PDF-1.4\n<html><script>alert(${Date.now()})</script></html>`);
  const poly = await upload(patient.id, rec.access, { file: pdfFirst, name: 'x.html' });
  expectStatus(poly, 201);
  assert.equal(poly.body.content_type, 'application/pdf');
  assert.equal(poly.body.file_name, 'x.pdf');
  const out = await request('GET', `/api/documents/${poly.body.id}/content`, { token: doc.access });
  assert.equal(out.headers.get('content-type'), 'application/pdf');
  assert.equal(out.headers.get('x-content-type-options'), 'nosniff');
  assert.match(out.headers.get('content-disposition'), /^attachment; filename="x\.pdf"; filename\*=UTF-8''x\.pdf$/);
});

test('form validation: empty file, missing file or title, bad fields, a visit of another patient, not multipart', async () => {
  expectError(await upload(patient.id, rec.access, { file: Buffer.alloc(0) }), 422, 'validation_failed', ['file']);
  expectError(await upload(patient.id, rec.access, {}), 422, 'validation_failed', ['file']);
  expectError(await upload(patient.id, rec.access, { file: fileOf('pdf'), title: null }), 422, 'validation_failed', ['title']);
  expectError(await upload(patient.id, rec.access, { file: fileOf('pdf'), title: 'x'.repeat(201) }), 422,
    'validation_failed', ['title']);
  expectError(await upload(patient.id, rec.access, { file: fileOf('pdf'), fields: { shared_with_patient: 'maybe', visit_id: 'x', color: 'red' } }),
    422, 'validation_failed', ['color', 'shared_with_patient', 'visit_id']);
  const other = await createPatient(rec.access);
  const v = await walkIn(rec.access, { patient_id: other.id, doctor_id: doc.user.doctor_id });
  expectError(await upload(patient.id, rec.access, { file: fileOf('pdf'), fields: { visit_id: v.id } }), 422,
    'validation_failed', ['visit_id']);
  const ok = await upload(other.id, rec.access, { file: fileOf('pdf'), fields: { visit_id: v.id } });
  expectStatus(ok, 201);
  assert.equal(ok.body.visit_id, v.id);
  expectError(await post(`/api/patients/${patient.id}/documents`, { title: 'x' }, rec.access), 415, 'unsupported_media_type');
  expectError(await upload(patient.id, undefined, { file: fileOf('pdf') }), 401, 'unauthorized');
});

test('the same file for the same patient answers the document already stored', async () => {
  const file = fileOf('jpeg');
  const first = await upload(patient.id, rec.access, { file, title: 'First' });
  expectStatus(first, 201);
  const again = await upload(patient.id, doc.access, { file, title: 'Again' });
  expectStatus(again, 200);
  assert.equal(again.body.id, first.body.id);
  assert.equal(again.body.title, 'First');
  // another patient's copy is their own document
  const other = await createPatient(rec.access);
  const theirs = await upload(other.id, rec.access, { file });
  expectStatus(theirs, 201);
  assert.notEqual(theirs.body.id, first.body.id);
});

test('an upload never tells what else the record holds: a file the uploader may not see is stored again, as theirs', async () => {
  const file = fileOf('pdf');
  const me = await patientSession(clinic.id); // a patient of their own: the other tests count this file's reads
  const hidden = await upload(me.patient.id, doc.access, { file, title: 'Not shared yet' });
  expectStatus(hidden, 201);
  // the patient sends the same bytes: their own document, not the doctor's
  const mine = await upload(me.patient.id, me.access, { file, title: 'My result' });
  expectStatus(mine, 201);
  assert.notEqual(mine.body.id, hidden.body.id);
  assert.equal(mine.body.title, 'My result');
  expectStatus(await get(`/api/documents/${mine.body.id}`, me.access), 200);
  expectError(await get(`/api/documents/${hidden.body.id}`, me.access), 404, 'not_found');
  // a doctor who does not treat the patient: their own copy too
  const theirs = await upload(me.patient.id, otherDoc.access, { file, title: 'Other doctor' });
  expectStatus(theirs, 201);
  assert.ok(![hidden.body.id, mine.body.id].includes(theirs.body.id));
  // the same uploader again still gets their document back
  const again = await upload(me.patient.id, me.access, { file, title: 'Again' });
  expectStatus(again, 200);
  assert.equal(again.body.id, mine.body.id);
});

test('a file of exactly UPLOAD_MAX_BYTES is stored, one byte more is 413, chunked too, and nothing is kept', async () => {
  const p = await createPatient(rec.access);
  const at = await upload(p.id, rec.access, { file: fileOf('pdf', MAX), name: 'max.pdf' });
  expectStatus(at, 201);
  assert.equal(at.body.size_bytes, MAX);
  const res = await fetch(`${API_URL}/api/documents/${at.body.id}/content`, { headers: { authorization: `Bearer ${rec.access}` } });
  assert.equal(res.status, 403); // the receptionist: metadata only
  const bytes = Buffer.from(await (await fetch(`${API_URL}/api/documents/${at.body.id}/content`,
    { headers: { authorization: `Bearer ${await asAdmin()}` } })).arrayBuffer());
  assert.equal(bytes.length, MAX);
  assert.equal(sha(bytes), at.body.sha256);

  expectError(await upload(p.id, rec.access, { file: fileOf('pdf', MAX + 1) }), 413, 'payload_too_large');
  // chunked: no Content-Length, the bytes are counted as they arrive
  const { parts, type } = multipart(fileOf('pdf', MAX + 1));
  const stream = new ReadableStream({
    start(c) {
      for (const part of parts) for (let o = 0; o < part.length; o += 1 << 20) c.enqueue(part.subarray(o, o + (1 << 20)));
      c.close();
    },
  });
  expectError(await request('POST', `/api/patients/${p.id}/documents`, { token: rec.access, raw: stream, headers: { 'content-type': type } }),
    413, 'payload_too_large');
  const list = await get(`/api/patients/${p.id}/documents`, rec.access);
  expectStatus(list, 200);
  assert.equal(list.body.items.length, 1);
});

test('an upload cut off midway stores nothing', async () => {
  const p = await createPatient(rec.access);
  const { parts, type } = multipart(fileOf('pdf', 1 << 20));
  const body = Buffer.concat(parts);
  const url = new URL(API_URL);
  await new Promise((resolve, reject) => {
    const s = net.connect(Number(url.port), url.hostname, () => {
      s.write(`POST /api/patients/${p.id}/documents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${rec.access}\r\n` +
        `Content-Type: ${type}\r\nContent-Length: ${body.length}\r\n\r\n`);
      s.write(body.subarray(0, body.length >> 1), () => setTimeout(() => { s.destroy(); resolve(); }, 200));
    });
    s.on('error', reject);
  });
  await new Promise((r) => setTimeout(r, 300));
  const list = await get(`/api/patients/${p.id}/documents`, rec.access);
  assert.deepEqual(list.body.items, []);
  assert.equal((await psql(`SELECT count(*) FROM documents WHERE patient_id = ${p.id}`)).trim(), '0');
  // the server goes on answering uploads on other connections
  expectStatus(await upload(p.id, rec.access, { file: fileOf('png') }), 201);
});

test('downloads: ETag and If-None-Match, one Range, several, unsatisfiable, If-Range, a UTF-8 name', async () => {
  const file = fileOf('pdf', 1000);
  const up = await upload(patient.id, rec.access, { file, name: 'exame de sangue ção 1.pdf' });
  expectStatus(up, 201);
  const path = `/api/documents/${up.body.id}/content`;
  const fetchRaw = (headers = {}) => fetch(`${API_URL}${path}`, { headers: { authorization: `Bearer ${doc.access}`, ...headers } });
  let r = await fetchRaw();
  assert.equal(r.status, 200);
  const etag = r.headers.get('etag');
  assert.equal(etag, `"${sha(file)}"`);
  assert.equal(r.headers.get('accept-ranges'), 'bytes');
  assert.equal(r.headers.get('content-disposition'),
    'attachment; filename="exame de sangue __o 1.pdf"; filename*=UTF-8\'\'exame%20de%20sangue%20%C3%A7%C3%A3o%201.pdf');
  await r.arrayBuffer();

  const n304 = await request('GET', path, { token: doc.access, headers: { 'if-none-match': etag } });
  expectStatus(n304, 304);
  expectStatus(await request('GET', path, { token: doc.access, headers: { 'if-none-match': '"other"' } }), 200);

  const cases = [
    ['bytes=0-9', 206, 0, 10], ['bytes=990-', 206, 990, 10], ['bytes=-5', 206, 995, 5], ['bytes=500-5000', 206, 500, 500],
    ['bytes=-5000', 206, 0, 1000], ['bytes=999-999', 206, 999, 1], ['bytes=0-1,5-6', 200, 0, 1000], ['bytes=9-1', 200, 0, 1000],
    ['pages=1-2', 200, 0, 1000], ['bytes=x-y', 200, 0, 1000],
  ];
  for (const [range, status, first, count] of cases) {
    r = await fetchRaw({ range });
    const body = Buffer.from(await r.arrayBuffer());
    assert.equal(r.status, status, range);
    assert.deepEqual(body, file.subarray(first, first + count), range);
    if (status === 206) assert.equal(r.headers.get('content-range'), `bytes ${first}-${first + count - 1}/1000`, range);
  }
  for (const range of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0']) {
    const res = await request('GET', path, { token: doc.access, headers: { range } });
    expectError(res, 416, 'range_not_satisfiable');
    assert.equal(res.headers.get('content-range'), 'bytes */1000');
  }
  r = await fetchRaw({ range: 'bytes=0-9', 'if-range': etag });
  assert.equal(r.status, 206);
  await r.arrayBuffer();
  r = await fetchRaw({ range: 'bytes=0-9', 'if-range': '"stale"' });
  assert.equal(r.status, 200);
  assert.equal((await r.arrayBuffer()).byteLength, 1000);
});

test('who reads: admin, the doctor of the patient, the receptionist (metadata only), the patient when shared, nobody else', async () => {
  const admin = await asAdmin();
  const hidden = await upload(patient.id, rec.access, { file: fileOf('png'), title: 'Internal' });
  const shared = await upload(patient.id, doc.access, { file: fileOf('pdf'), title: 'For you', fields: { shared_with_patient: true } });
  expectStatus(hidden, 201);
  expectStatus(shared, 201);
  const content = (id, token) => request('GET', `/api/documents/${id}/content`, { token });

  for (const token of [admin, doc.access]) {
    expectStatus(await get(`/api/documents/${hidden.body.id}`, token), 200);
    expectStatus(await content(hidden.body.id, token), 200);
  }
  // the receptionist sees the metadata, not the clinical content
  expectStatus(await get(`/api/documents/${hidden.body.id}`, rec.access), 200);
  expectError(await content(hidden.body.id, rec.access), 403, 'forbidden');
  expectError(await upload(patient.id, foreignDoc.access, { file: fileOf('pdf') }), 404, 'not_found');
  // a doctor of the clinic without this patient: nothing
  expectError(await get(`/api/documents/${hidden.body.id}`, otherDoc.access), 404, 'not_found');
  expectError(await content(hidden.body.id, otherDoc.access), 404, 'not_found');
  const otherList = await get(`/api/patients/${patient.id}/documents`, otherDoc.access);
  assert.deepEqual(otherList.body.items, []);
  // the patient: what is shared with them
  expectError(await get(`/api/documents/${hidden.body.id}`, pat.access), 404, 'not_found');
  expectError(await content(hidden.body.id, pat.access), 404, 'not_found');
  expectStatus(await content(shared.body.id, pat.access), 200);
  const mine = await get(`/api/patients/${patient.id}/documents`, pat.access);
  assert.ok(mine.body.items.some((d) => d.id === shared.body.id));
  assert.ok(!mine.body.items.some((d) => d.id === hidden.body.id));
  // another clinic: nothing exists
  for (const path of [`/api/documents/${shared.body.id}`, `/api/patients/${patient.id}/documents`]) {
    expectError(await get(path, foreign.access), 404, 'not_found');
  }
  for (const path of [`/api/documents/${shared.body.id}`, `/api/documents/${shared.body.id}/content`,
    `/api/patients/${patient.id}/documents`]) {
    expectError(await get(path, foreignDoc.access), 404, 'not_found');
  }
  // a receptionist never downloads (the route's roles)
  expectError(await content(shared.body.id, foreign.access), 403, 'forbidden');
  expectError(await upload(patient.id, foreign.access, { file: fileOf('pdf') }), 404, 'not_found');
  expectError(await del(`/api/documents/${shared.body.id}`, foreign.access), 404, 'not_found');
});

test('a patient uploads their own exam results (shared with them) and nobody else\'s', async () => {
  const res = await upload(patient.id, pat.access, { file: fileOf('jpeg'), title: 'My exam', fields: { shared_with_patient: false } });
  expectStatus(res, 201);
  assert.equal(res.body.shared_with_patient, true);
  assert.equal(res.body.uploaded_role, 'PATIENT');
  expectStatus(await request('GET', `/api/documents/${res.body.id}/content`, { token: pat.access }), 200);
  expectStatus(await request('GET', `/api/documents/${res.body.id}/content`, { token: doc.access }), 200);
  const other = await createPatient(rec.access);
  expectError(await upload(other.id, pat.access, { file: fileOf('pdf') }), 404, 'not_found');
  expectError(await get(`/api/patients/${other.id}/documents`, pat.access), 404, 'not_found');
});

test('soft delete hides the document, keeps it for the admin, who restores it within 30 days', async () => {
  const admin = await asAdmin();
  const up = await upload(patient.id, doc.access, { file: fileOf('pdf'), title: 'Old', fields: { shared_with_patient: true } });
  expectStatus(up, 201);
  const id = up.body.id;
  // a patient may not delete what the clinic uploaded
  expectError(await del(`/api/documents/${id}`, pat.access), 404, 'not_found');
  expectStatus(await del(`/api/documents/${id}`, rec.access), 204);
  expectError(await del(`/api/documents/${id}`, rec.access), 404, 'not_found');
  expectError(await get(`/api/documents/${id}`, doc.access), 404, 'not_found');
  expectError(await request('GET', `/api/documents/${id}/content`, { token: pat.access }), 404, 'not_found');
  const seen = await get(`/api/documents/${id}`, admin);
  expectStatus(seen, 200);
  assert.ok(seen.body.deleted_at);
  assert.equal((await psql(`SELECT count(*) FROM audit_log WHERE action = 'document_delete' AND entity_id = ${id}`)).trim(), '1');

  expectError(await post(`/api/documents/${id}/restore`, {}, rec.access), 403, 'forbidden');
  const back = await post(`/api/documents/${id}/restore`, {}, admin);
  expectStatus(back, 200);
  assert.equal(back.body.deleted_at, null);
  expectStatus(await get(`/api/documents/${id}`, doc.access), 200);
  expectError(await post(`/api/documents/${id}/restore`, {}, admin), 404, 'not_found');

  // the patient removes their own upload; restoring it after 30 days is too late
  const own = await upload(patient.id, pat.access, { file: fileOf('png') });
  expectStatus(await del(`/api/documents/${own.body.id}`, pat.access), 204);
  await psql(`UPDATE documents SET deleted_at = now() - interval '31 days' WHERE id = ${own.body.id}`);
  expectError(await post(`/api/documents/${own.body.id}/restore`, {}, admin), 410, 'gone');

  // past the 30 days the clinic's next upload deletes it for good and gives its bytes back
  const used = async () => Number(await psql(`SELECT used_bytes FROM clinic_storage WHERE clinic_id = ${clinic.id}`));
  const before = await used();
  const next = await upload(patient.id, rec.access, { file: fileOf('jpeg', 1000) });
  expectStatus(next, 201);
  assert.equal(await psql(`SELECT count(*) FROM documents WHERE id = ${own.body.id}`), '0');
  assert.equal(await psql(`SELECT count(*) FROM document_chunks WHERE document_id = ${own.body.id}`), '0');
  assert.equal(await used(), before - own.body.size_bytes + 1000);
  expectError(await post(`/api/documents/${own.body.id}/restore`, {}, admin), 404, 'not_found');
  assert.equal(await psql(`SELECT count(*) FROM documents WHERE id = ${id}`), '1', 'a document not deleted stays');
});

let small;
after(async () => { await small?.stop(); });

test('two concurrent uploads cannot both pass a quota that fits one (507), and a small cap is exact', async () => {
  small = await startApi({ CLINIC_STORAGE_QUOTA_BYTES: '150000', UPLOAD_MAX_BYTES: '100000' });
  const c = await createClinic();
  const r = await staffSession('RECEPTIONIST', c.id);
  const [p1, p2] = await Promise.all([createPatient(r.access), createPatient(r.access)]);
  const [a, b] = await Promise.all([
    upload(p1.id, r.access, { file: fileOf('pdf', 100000), base: small.url }),
    upload(p2.id, r.access, { file: fileOf('pdf', 100000), base: small.url }),
  ]);
  assert.deepEqual([a.status, b.status].sort(), [201, 507]);
  expectError(a.status === 507 ? a : b, 507, 'storage_quota_exceeded');
  assert.equal((await psql(`SELECT used_bytes FROM clinic_storage WHERE clinic_id = ${c.id}`)).trim(), '100000');
  expectError(await upload(p1.id, r.access, { file: fileOf('pdf', 100001), base: small.url }), 413, 'payload_too_large');
  expectStatus(await upload(p1.id, r.access, { file: fileOf('pdf', 50000), base: small.url }), 201);
  expectError(await upload(p1.id, r.access, { file: fileOf('png', 8), base: small.url }), 507, 'storage_quota_exceeded');
});

test('who saw this record: each read of a document, of its content and of the list writes one access row; a refused read none', async () => {
  const up = expectStatus(await upload(patient.id, rec.access, { file: fileOf('pdf'), name: 'lab.pdf', title: 'Lab' }), 201).body;
  const rows = async (action, entity, id) => Number(await psql(`SELECT count(*) FROM record_access WHERE patient_id = ${patient.id}
    AND action = '${action}' AND entity = '${entity}' AND entity_id = ${id}`));
  const before = { meta: await rows('document_read', 'document', up.id), list: await rows('document_read', 'document_list', patient.id) };
  expectStatus(await get(`/api/documents/${up.id}`, doc.access), 200);
  assert.equal(await rows('document_read', 'document', up.id), before.meta + 1, 'the metadata read');
  expectStatus(await request('GET', `/api/documents/${up.id}/content`, { token: doc.access }), 200);
  assert.equal(await rows('document_read', 'document', up.id), before.meta + 2, 'the content read');
  const [row] = (await psql(`SELECT actor_user_id || ',' || actor_role || ',' || (request_id IS NOT NULL) FROM record_access
    WHERE entity = 'document' AND entity_id = ${up.id} ORDER BY id DESC LIMIT 1`)).split('\n');
  assert.equal(row, `${doc.id},DOCTOR,true`);
  expectStatus(await get(`/api/patients/${patient.id}/documents`, doc.access), 200);
  assert.equal(await rows('document_read', 'document_list', patient.id), before.list + 1, 'the list: one row per page read');
  expectStatus(await request('GET', `/api/documents/${up.id}/content`, { token: rec.access }), 403);
  expectStatus(await get(`/api/documents/${up.id}`, foreignDoc.access), 404);
  expectStatus(await get(`/api/patients/${patient.id}/documents`, foreign.access), 404);
  // a doctor of the clinic who does not treat the patient sees an empty list and has read nothing
  const listed = Number(await psql(`SELECT count(*) FROM record_access WHERE patient_id = ${patient.id} AND actor_user_id = ${otherDoc.id}
    AND entity = 'document_list'`));
  const other = expectStatus(await get(`/api/patients/${patient.id}/documents`, otherDoc.access), 200).body;
  assert.deepEqual(other.items, []);
  assert.equal(Number(await psql(`SELECT count(*) FROM record_access WHERE patient_id = ${patient.id} AND actor_user_id = ${otherDoc.id}
    AND entity = 'document_list'`)), listed);
  assert.equal(await rows('document_read', 'document', up.id), before.meta + 2, 'refused reads write nothing');
  assert.equal(await rows('document_read', 'document_list', patient.id), before.list + 1);
});
