// Bounded error bodies: a 422 never grows with the request. A list refused for its length is not
// checked item by item, at most 50 field errors are listed (then `_more` says more were found), and
// an unknown key is echoed cut to 64 bytes, so any body under the 1 MiB cap answers a few KiB.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createClinic, createPatient, expectError, moveVisit, put, staffSession, walkIn } from '../lib/api.mjs';

const MAX_BODY = 1048576;
const SMALL = 16384;
const MAX_FIELD_ERRORS = 50;

// A doctor and a visit of theirs in progress, so PUT /visits/{id}/evolution reaches its validation.
async function visitInProgress() {
  const clinic = await createClinic();
  const [rec, doc] = await Promise.all([staffSession('RECEPTIONIST', clinic.id), staffSession('DOCTOR', clinic.id)]);
  const patient = await createPatient(rec.access, { full_name: 'Limits Patient' });
  const v = await walkIn(rec.access, { patient_id: patient.id, doctor_id: doc.user.doctor_id });
  await moveVisit(v.id, 'with_doctor', rec.access);
  return { doc, path: `/api/visits/${v.id}/evolution` };
}

// The JSON text of body, asserted to be under the server's body cap.
function underCap(body) {
  const text = JSON.stringify(body);
  assert.ok(text.length < MAX_BODY, `request body of ${text.length} bytes is not under the cap`);
  return text;
}

// Sends raw JSON text; asserts a small 422 validation_failed and returns its fields.
async function smallInvalid(path, token, text) {
  const res = await put(path, undefined, token, { raw: text });
  expectError(res, 422, 'validation_failed');
  assert.ok(res.text.length < SMALL, `error body of ${res.text.length} bytes for a request of ${text.length}`);
  return res.body.error.fields;
}

test('a list over its cap answers only the cap error, however many bad items it holds', async () => {
  const { doc, path } = await visitInProgress();
  const diagnoses = underCap({ diagnoses: Array.from({ length: 75000 }, () => ({ code: 'x' })) });
  assert.deepEqual(await smallInvalid(path, doc.access, diagnoses), { diagnoses: 'has too many items' });
  const prescriptions = underCap({ prescriptions: Array.from({ length: 150000 }, () => 1), notes: 3 });
  assert.deepEqual(await smallInvalid(path, doc.access, prescriptions), {
    prescriptions: 'has too many items',
    notes: 'must be a string',
  });
});

test('at most 50 field errors are listed, then `_more`; a list within its cap is checked up to that limit', async () => {
  const { doc, path } = await visitInProgress();
  const unknown = Object.fromEntries(Array.from({ length: 40000 }, (_, i) => [`k${i}`, 0]));
  const fields = await smallInvalid(path, doc.access, underCap({ notes: 1, ...unknown }));
  const keys = Object.keys(fields);
  assert.equal(keys.length, MAX_FIELD_ERRORS + 1);
  assert.equal(fields.notes, 'must be a string');
  assert.match(fields._more, /50/);
  for (const k of keys.filter((key) => key !== 'notes' && key !== '_more')) assert.equal(fields[k], 'is not a known field');

  // 50 prescriptions with 7 bad fields each: 350 problems, 50 listed
  const bad = { drug: 1, dose: 2, route: 'by mouth', frequency: '', duration: 5, instructions: 6, x: 7 };
  const items = await smallInvalid(path, doc.access, underCap({ prescriptions: Array.from({ length: 50 }, () => bad) }));
  assert.equal(Object.keys(items).length, MAX_FIELD_ERRORS + 1);
  assert.equal(items['prescriptions[0].drug'], 'must be a string');
  assert.equal(typeof items._more, 'string');
});

test('an unknown key is echoed cut to 64 bytes, at a character boundary', async () => {
  const { doc, path } = await visitInProgress();
  const fields = await smallInvalid(path, doc.access, underCap({ ['k'.repeat(300000)]: 1, ['é'.repeat(100000)]: 2 }));
  assert.deepEqual(fields, { [`${'k'.repeat(64)}...`]: 'is not a known field', [`${'é'.repeat(32)}...`]: 'is not a known field' });
  // in an item too: a cut inside a character once dropped the error, and the item was saved
  const item = { code: 'J06', description: 'x', [`a${'é'.repeat(40)}`]: 1 };
  const items = await smallInvalid(path, doc.access, underCap({ diagnoses: [item] }));
  assert.deepEqual(items, { [`diagnoses[0].a${'é'.repeat(31)}...`]: 'is not a known field' });
});
