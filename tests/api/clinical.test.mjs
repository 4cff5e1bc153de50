// The clinical side of a visit: evolutions (draft, sign, addenda, frozen once signed), a patient's
// history with a doctor, the doctor's dashboard, appointment list and patients, and the reception
// dashboard (VISITS.md).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  addDays,
  asAdmin,
  checkIn,
  completeVisit,
  createAppointment,
  createClinic,
  createPatient,
  createService,
  expectError,
  expectStatus,
  get,
  listAll,
  localDate,
  moveVisit,
  patientSession,
  pickTodayZone,
  post,
  put,
  request,
  staffSession,
  uniq,
  walkIn,
} from '../lib/api.mjs';

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const NOT_FOUND_ID = 2147483000;
// A zone where it is still today two hours from now: appointments booked a little ahead are today's.
const TZ = pickTodayZone(2);
const EVOLUTION_KEYS = [
  'visit_id',
  'clinic_id',
  'doctor_id',
  'patient_id',
  'status',
  'notes',
  'diagnoses',
  'prescriptions',
  'signed_at',
  'signed_by',
  'addenda',
  'created_at',
  'updated_at',
];
const ROUTES = [
  'oral',
  'sublingual',
  'topical',
  'inhaled',
  'nasal',
  'ophthalmic',
  'otic',
  'rectal',
  'vaginal',
  'transdermal',
  'subcutaneous',
  'intramuscular',
  'intravenous',
  'other',
];
const DAY = 24 * 3600000;

const instant = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const pick = (obj, keys) => Object.fromEntries(keys.map((k) => [k, obj[k]]));
const byId = (list) => [...list].sort((a, b) => a.doctor_id - b.doctor_id);

// A fresh clinic in TZ: a receptionist, two doctors, two patients with accounts (all logged in), a
// 5-minute service. Bookings of the world go to distinct 5-minute times from 10 minutes ahead, today.
async function world({ patient = {}, patient2 = {} } = {}) {
  const clinic = await createClinic({ timezone: TZ });
  const [rec, doc, doc2, pat, pat2, service] = await Promise.all([
    staffSession('RECEPTIONIST', clinic.id),
    staffSession('DOCTOR', clinic.id),
    staffSession('DOCTOR', clinic.id),
    patientSession(clinic.id, patient),
    patientSession(clinic.id, patient2),
    createService(clinic.id, { duration_minutes: 5 }),
  ]);
  return {
    clinic,
    rec,
    doc,
    doc2,
    pat,
    pat2,
    service,
    doctorId: doc.user.doctor_id,
    doctor2Id: doc2.user.doctor_id,
    patientId: pat.patient.id,
    patient2Id: pat2.patient.id,
    today: localDate(TZ),
    base: Math.ceil(Date.now() / 60000) * 60000 + 10 * 60000,
    slots: 0,
  };
}

function nextStart(w) {
  const at = instant(w.base + w.slots++ * 5 * 60000);
  assert.equal(localDate(TZ, Date.parse(at)), w.today, `test setup: ${at} is not today (${w.today}) in ${TZ}`);
  return at;
}

// Books as the receptionist: today's next free time unless fields.start_time says otherwise.
const book = (w, fields = {}) =>
  createAppointment(w.rec.access, { patient_id: w.patientId, doctor_id: w.doctorId, service_id: w.service.id, start_time: nextStart(w), ...fields });
// A start time `days` days from now (whole minute).
const daysAhead = (w, days, minutes = 0) => instant(w.base + days * DAY + minutes * 60000);

const newPatient = (w, fields = {}) => createPatient(w.rec.access, { full_name: `Patient ${uniq()}`, ...fields });

// A walk-in of patientId with doctorId (w's first doctor by default), moved to with_doctor.
async function inProgress(w, patientId = w.patientId, doctorId = w.doctorId, fields = {}) {
  const v = await walkIn(w.rec.access, { patient_id: patientId, doctor_id: doctorId, ...fields });
  return moveVisit(v.id, 'with_doctor', w.rec.access);
}

const evoPath = (id) => `/api/visits/${id}/evolution`;
const putEvo = (id, body, token) => put(evoPath(id), body, token);
const sign = (id, token, body) => post(`${evoPath(id)}/sign`, body, token);
const addendum = (id, body, token) => post(`${evoPath(id)}/addenda`, body, token);
async function getEvo(id, token) {
  return expectStatus(await get(evoPath(id), token), 200).body;
}
async function getVisit(id) {
  return expectStatus(await get(`/api/visits/${id}`, await asAdmin()), 200).body;
}
async function getAppointment(id) {
  return expectStatus(await get(`/api/appointments/${id}`, await asAdmin()), 200).body;
}
async function auditRows(query) {
  return listAll(`/api/audit?${query}`, await asAdmin());
}

// 422 validation_failed whose fields name `prefix` itself or an item of it (`prefix[0].code`, `prefix.0`).
function expectFieldUnder(res, prefix) {
  expectError(res, 422, 'validation_failed');
  const keys = Object.keys(res.body.error.fields || {});
  assert.ok(
    keys.some((k) => k === prefix || k.startsWith(`${prefix}[`) || k.startsWith(`${prefix}.`)),
    `error.fields should name ${prefix} (or one of its items): ${JSON.stringify(res.body.error)}`,
  );
}

const DIAGNOSES = [
  { code: 'j06.9', description: 'Infecção aguda das vias aéreas superiores' },
  { code: 'R50', description: 'Febre' },
];
const PRESCRIPTIONS = [
  { drug: 'Paracetamol', dose: '750 mg', route: 'oral', frequency: '6/6h', duration: '3 dias', instructions: 'Se febre acima de 37,8' },
  { drug: 'Soro fisiológico', dose: '10 ml', route: 'nasal', frequency: '3x ao dia' },
];
const STORED_DIAGNOSES = [
  { code: 'J06.9', description: DIAGNOSES[0].description },
  { code: 'R50', description: 'Febre' },
];
const STORED_PRESCRIPTIONS = [PRESCRIPTIONS[0], { ...PRESCRIPTIONS[1], duration: null, instructions: null }];

describe('evolutions', () => {
  test('PUT creates the draft (201) with defaults, then updates it (200): absent keys kept, arrays replaced, codes upper-cased', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const admin = await asAdmin();
    const v = await inProgress(w);
    expectError(await get(evoPath(v.id), w.doc.access), 404, 'not_found');

    const created = expectStatus(await putEvo(v.id, {}, w.doc.access), 201).body;
    for (const k of EVOLUTION_KEYS) assert.ok(k in created, `Evolution has no ${k}: ${JSON.stringify(created)}`);
    assert.deepEqual(pick(created, EVOLUTION_KEYS.filter((k) => !['created_at', 'updated_at'].includes(k))), {
      visit_id: v.id,
      clinic_id: w.clinic.id,
      doctor_id: w.doctorId,
      patient_id: w.patientId,
      status: 'draft',
      notes: '',
      diagnoses: [],
      prescriptions: [],
      signed_at: null,
      signed_by: null,
      addenda: [],
    });
    assert.match(created.created_at, INSTANT);
    assert.match(created.updated_at, INSTANT);

    const notes = expectStatus(await putEvo(v.id, { notes: 'Febre e tosse há 2 dias.' }, w.doc.access), 200).body;
    assert.deepEqual({ ...notes, updated_at: null }, { ...created, notes: 'Febre e tosse há 2 dias.', updated_at: null });

    const full = expectStatus(await putEvo(v.id, { diagnoses: DIAGNOSES, prescriptions: PRESCRIPTIONS }, w.doc.access), 200).body;
    assert.deepEqual([full.notes, full.diagnoses, full.prescriptions], ['Febre e tosse há 2 dias.', STORED_DIAGNOSES, STORED_PRESCRIPTIONS]);

    // arrays replace the whole list; the other keys keep their value
    const fewer = expectStatus(await putEvo(v.id, { diagnoses: [{ code: 'r05', description: 'Tosse' }] }, w.doc.access), 200).body;
    assert.deepEqual([fewer.notes, fewer.diagnoses, fewer.prescriptions], ['Febre e tosse há 2 dias.', [{ code: 'R05', description: 'Tosse' }], STORED_PRESCRIPTIONS]);
    const cleared = expectStatus(await putEvo(v.id, { prescriptions: [], notes: '' }, w.doc.access), 200).body;
    assert.deepEqual([cleared.status, cleared.notes, cleared.diagnoses, cleared.prescriptions], ['draft', '', [{ code: 'R05', description: 'Tosse' }], []]);

    // every route and the ICD-10 code shapes
    const routes = ROUTES.map((route, i) => ({ drug: `Droga ${i}`, dose: '1', route, frequency: '1x', duration: null, instructions: null }));
    const codes = ['A00', 'z99.9', 'S72.0001', 'M54.5', 'C34.AB1'];
    const all = expectStatus(
      await putEvo(v.id, { prescriptions: routes, diagnoses: codes.map((code) => ({ code, description: 'x' })) }, w.doc.access),
      200,
    ).body;
    assert.deepEqual(all.prescriptions, routes);
    assert.deepEqual(all.diagnoses.map((d) => d.code), ['A00', 'Z99.9', 'S72.0001', 'M54.5', 'C34.AB1']);

    // the doctor and admins read it; a patient does not see a draft; a receptionist may not read evolutions
    assert.deepEqual(await getEvo(v.id, w.doc.access), all);
    assert.deepEqual(await getEvo(v.id, admin), all);
    expectError(await get(evoPath(v.id), w.pat.access), 404, 'not_found');
    expectError(await get(evoPath(v.id), w.pat2.access), 404, 'not_found');
    expectError(await get(evoPath(v.id), w.rec.access), 403, 'forbidden');
    expectError(await get(evoPath(v.id), w.doc2.access), 404, 'not_found');
    expectError(await get(evoPath(v.id), o.doc.access), 404, 'not_found');
    expectError(await get(evoPath(NOT_FOUND_ID), admin), 404, 'not_found');
    assert.ok((await auditRows(`action=evolution_save&actor_user_id=${w.doc.id}`)).length >= 1);
  });

  test('PUT validation: 422 naming the field (items too); nothing saved until valid; the limits themselves are fine', async () => {
    const w = await world();
    const v = await inProgress(w);
    const dx = (fields) => ({ diagnoses: [{ code: 'J06.9', description: 'IVAS', ...fields }] });
    const rx = (fields) => ({ prescriptions: [{ ...PRESCRIPTIONS[0], ...fields }] });
    const cases = [
      [{ notes: 'n'.repeat(20001) }, 'notes'],
      [{ notes: 5 }, 'notes'],
      [{ notes: null }, 'notes'],
      [{ notes: ['a'] }, 'notes'],
      [{ diagnoses: 'J06.9' }, 'diagnoses'],
      [{ diagnoses: null }, 'diagnoses'],
      [{ diagnoses: { code: 'J06.9', description: 'x' } }, 'diagnoses'],
      [{ diagnoses: Array.from({ length: 51 }, () => ({ code: 'J06.9', description: 'x' })) }, 'diagnoses'],
      [{ diagnoses: ['J06.9'] }, 'diagnoses'],
      [dx({ code: 'J6' }), 'diagnoses'],
      [dx({ code: 'J060' }), 'diagnoses'],
      [dx({ code: '06.9' }), 'diagnoses'],
      [dx({ code: 'J06.' }), 'diagnoses'],
      [dx({ code: 'J06.12345' }), 'diagnoses'],
      [dx({ code: 'JJ6.9' }), 'diagnoses'],
      [dx({ code: 'J06-9' }), 'diagnoses'],
      [dx({ code: '' }), 'diagnoses'],
      [dx({ code: null }), 'diagnoses'],
      [dx({ code: 106 }), 'diagnoses'],
      [dx({ code: undefined }), 'diagnoses'],
      [dx({ description: '' }), 'diagnoses'],
      [dx({ description: 'd'.repeat(501) }), 'diagnoses'],
      [dx({ description: undefined }), 'diagnoses'],
      [dx({ description: 7 }), 'diagnoses'],
      [dx({ severity: 'high' }), 'diagnoses'],
      [{ prescriptions: 'paracetamol' }, 'prescriptions'],
      [{ prescriptions: null }, 'prescriptions'],
      [{ prescriptions: Array.from({ length: 51 }, () => PRESCRIPTIONS[1]) }, 'prescriptions'],
      [{ prescriptions: [1] }, 'prescriptions'],
      [rx({ drug: undefined }), 'prescriptions'],
      [rx({ drug: '' }), 'prescriptions'],
      [rx({ drug: 'd'.repeat(201) }), 'prescriptions'],
      [rx({ drug: null }), 'prescriptions'],
      [rx({ dose: undefined }), 'prescriptions'],
      [rx({ dose: '' }), 'prescriptions'],
      [rx({ dose: 'd'.repeat(101) }), 'prescriptions'],
      [rx({ dose: 750 }), 'prescriptions'],
      [rx({ route: undefined }), 'prescriptions'],
      [rx({ route: 'by mouth' }), 'prescriptions'],
      [rx({ route: 'ORAL' }), 'prescriptions'],
      [rx({ route: null }), 'prescriptions'],
      [rx({ frequency: undefined }), 'prescriptions'],
      [rx({ frequency: '' }), 'prescriptions'],
      [rx({ frequency: 'f'.repeat(101) }), 'prescriptions'],
      [rx({ duration: '' }), 'prescriptions'],
      [rx({ duration: 'd'.repeat(101) }), 'prescriptions'],
      [rx({ duration: 3 }), 'prescriptions'],
      [rx({ instructions: '' }), 'prescriptions'],
      [rx({ instructions: 'i'.repeat(1001) }), 'prescriptions'],
      [rx({ quantity: 2 }), 'prescriptions'],
    ];
    for (const [body, field] of cases) {
      expectFieldUnder(await putEvo(v.id, body, w.doc.access), field);
    }
    for (const [body, field] of [
      [{ status: 'signed' }, 'status'],
      [{ signed_at: '2026-01-01T00:00:00Z' }, 'signed_at'],
      [{ addenda: [] }, 'addenda'],
      [{ patient_id: w.patient2Id }, 'patient_id'],
      [{ foo: 1 }, 'foo'],
    ]) {
      expectError(await putEvo(v.id, body, w.doc.access), 422, 'validation_failed', [field]);
    }
    // every bad field at once
    expectError(await putEvo(v.id, { notes: 1, diagnoses: 'x', prescriptions: 'y', extra: true }, w.doc.access), 422, 'validation_failed', [
      'notes',
      'diagnoses',
      'prescriptions',
      'extra',
    ]);
    expectError(await request('PUT', evoPath(v.id), { raw: '{"notes": ', token: w.doc.access }), 400, 'malformed_json');
    expectError(await get(evoPath(v.id), w.doc.access), 404, 'not_found');

    const max = {
      notes: 'n'.repeat(20000),
      diagnoses: Array.from({ length: 50 }, (_, i) => ({ code: `A${String(i).padStart(2, '0')}.1`, description: 'd'.repeat(500) })),
      prescriptions: Array.from({ length: 50 }, (_, i) => ({
        drug: 'd'.repeat(200),
        dose: 'x'.repeat(100),
        route: ROUTES[i % ROUTES.length],
        frequency: 'f'.repeat(100),
        duration: 'u'.repeat(100),
        instructions: 'i'.repeat(1000),
      })),
    };
    const e = expectStatus(await putEvo(v.id, max, w.doc.access), 201).body;
    assert.deepEqual([e.notes.length, e.diagnoses, e.prescriptions], [20000, max.diagnoses, max.prescriptions]);
  });

  test('PUT only while in_progress or completed, only by the visit\'s doctor; other doctors and clinics 404; other roles 403', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const admin = await asAdmin();
    const waiting = await walkIn(w.rec.access, { patient_id: w.patientId, doctor_id: w.doctorId });
    expectError(await putEvo(waiting.id, { notes: 'x' }, w.doc.access), 409, 'conflict');
    expectStatus(await post(`/api/visits/${waiting.id}/call`, undefined, w.rec.access), 200);
    expectError(await putEvo(waiting.id, { notes: 'x' }, w.doc.access), 409, 'conflict');
    expectStatus(await post(`/api/visits/${waiting.id}/left`, undefined, w.rec.access), 200);
    expectError(await putEvo(waiting.id, { notes: 'x' }, w.doc.access), 409, 'conflict');
    expectError(await get(evoPath(waiting.id), w.doc.access), 404, 'not_found');

    const v = await inProgress(w, w.patient2Id);
    expectError(await putEvo(v.id, { notes: 'x' }, w.doc2.access), 404, 'not_found');
    expectError(await putEvo(v.id, { notes: 'x' }, o.doc.access), 404, 'not_found');
    expectError(await putEvo(NOT_FOUND_ID, { notes: 'x' }, w.doc.access), 404, 'not_found');
    for (const token of [w.rec.access, admin, w.pat2.access]) expectError(await putEvo(v.id, { notes: 'x' }, token), 403, 'forbidden');
    expectError(await get(evoPath(v.id), w.doc.access), 404, 'not_found');

    // a completed visit's evolution may still be written
    await completeVisit(v.id, w.doc.access);
    const e = expectStatus(await putEvo(v.id, { notes: 'Escrito depois da consulta.' }, w.doc.access), 201).body;
    assert.deepEqual([e.status, e.notes, e.visit_id], ['draft', 'Escrito depois da consulta.', v.id]);
  });

  test('sign: 404 without an evolution, 422 when empty, then signed (signed_at, signed_by); again 409; PUT 409 afterwards', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const admin = await asAdmin();
    const v = await inProgress(w);
    expectError(await sign(v.id, w.doc.access), 404, 'not_found');
    expectStatus(await putEvo(v.id, {}, w.doc.access), 201);
    expectError(await sign(v.id, w.doc.access), 422, 'validation_failed', ['notes']);
    expectError(await sign(v.id, w.doc.access, {}), 422, 'validation_failed', ['notes']);
    const draft = expectStatus(await putEvo(v.id, { notes: 'Quadro viral.', diagnoses: DIAGNOSES, prescriptions: PRESCRIPTIONS }, w.doc.access), 200).body;

    expectError(await sign(v.id, w.doc.access, { signed_by: w.doc.id }), 422, 'validation_failed', ['signed_by']);
    expectError(await sign(v.id, w.doc2.access), 404, 'not_found');
    expectError(await sign(v.id, o.doc.access), 404, 'not_found');
    expectError(await sign(NOT_FOUND_ID, w.doc.access), 404, 'not_found');
    for (const token of [w.rec.access, admin, w.pat.access]) expectError(await sign(v.id, token), 403, 'forbidden');
    assert.deepEqual(await getEvo(v.id, w.doc.access), draft);

    const signed = expectStatus(await sign(v.id, w.doc.access), 200).body;
    assert.deepEqual(
      { ...signed, signed_at: null, updated_at: null },
      { ...draft, status: 'signed', signed_by: w.doc.id, signed_at: null, updated_at: null },
    );
    assert.match(signed.signed_at, INSTANT);
    assert.ok(Math.abs(Date.parse(signed.signed_at) - Date.now()) < 60000, `signed_at ${signed.signed_at}`);
    expectError(await sign(v.id, w.doc.access), 409, 'conflict');

    // frozen: every change is refused, the record stays as signed
    for (const body of [{ notes: 'mudança' }, { diagnoses: [] }, { prescriptions: [] }, {}, { notes: 'Quadro viral.' }]) {
      const r = await putEvo(v.id, body, w.doc.access);
      expectError(r, 409, 'conflict');
      assert.match(r.body.error.message, /addend/i, r.body.error.message);
    }
    await completeVisit(v.id, w.doc.access);
    expectError(await putEvo(v.id, { notes: 'depois' }, w.doc.access), 409, 'conflict');
    assert.deepEqual(await getEvo(v.id, w.doc.access), signed);

    // now the patient sees it (only their own); admins too
    assert.deepEqual(await getEvo(v.id, w.pat.access), signed);
    assert.deepEqual(await getEvo(v.id, admin), signed);
    expectError(await get(evoPath(v.id), w.pat2.access), 404, 'not_found');
    expectError(await get(evoPath(v.id), o.pat.access), 404, 'not_found');
    expectError(await get(evoPath(v.id), w.doc2.access), 404, 'not_found');
    expectError(await get(evoPath(v.id), w.rec.access), 403, 'forbidden');

    // diagnoses alone (empty notes) may be signed
    const v2 = await inProgress(w, w.patient2Id);
    expectStatus(await putEvo(v2.id, { diagnoses: [{ code: 'z00.0', description: 'Exame geral' }] }, w.doc.access), 201);
    const s2 = expectStatus(await sign(v2.id, w.doc.access, {}), 200).body;
    assert.deepEqual([s2.status, s2.notes, s2.diagnoses], ['signed', '', [{ code: 'Z00.0', description: 'Exame geral' }]]);
    assert.equal((await auditRows(`action=evolution_sign&actor_user_id=${w.doc.id}`)).length, 2);
  });

  test('addenda: only on a signed evolution (409 otherwise); text 1..5000; appended in order with their author', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const admin = await asAdmin();
    const v = await inProgress(w);
    expectStatus(await putEvo(v.id, { notes: 'Consulta.' }, w.doc.access), 201);
    expectError(await addendum(v.id, { text: 'ainda rascunho' }, w.doc.access), 409, 'conflict');
    const signed = expectStatus(await sign(v.id, w.doc.access), 200).body;

    for (const [body, field] of [
      [{}, 'text'],
      [{ text: '' }, 'text'],
      [{ text: null }, 'text'],
      [{ text: 5 }, 'text'],
      [{ text: 't'.repeat(5001) }, 'text'],
      [{ text: 'ok', author_user_id: 1 }, 'author_user_id'],
    ]) {
      expectError(await addendum(v.id, body, w.doc.access), 422, 'validation_failed', [field]);
    }
    expectError(await addendum(v.id, { text: 'x' }, w.doc2.access), 404, 'not_found');
    expectError(await addendum(v.id, { text: 'x' }, o.doc.access), 404, 'not_found');
    expectError(await addendum(NOT_FOUND_ID, { text: 'x' }, w.doc.access), 404, 'not_found');
    for (const token of [w.rec.access, admin, w.pat.access]) expectError(await addendum(v.id, { text: 'x' }, token), 403, 'forbidden');
    assert.deepEqual(await getEvo(v.id, w.doc.access), signed);

    const r1 = expectStatus(await addendum(v.id, { text: 'Resultado do exame: normal.' }, w.doc.access), 201).body;
    assert.deepEqual({ ...r1, addenda: [], updated_at: null }, { ...signed, addenda: [], updated_at: null });
    assert.equal(r1.addenda.length, 1);
    const a1 = r1.addenda[0];
    for (const k of ['id', 'text', 'author_user_id', 'author_name', 'created_at']) assert.ok(k in a1, `addendum has no ${k}`);
    assert.deepEqual(pick(a1, ['text', 'author_user_id', 'author_name']), { text: 'Resultado do exame: normal.', author_user_id: w.doc.id, author_name: w.doc.user.full_name });
    assert.match(a1.created_at, INSTANT);
    const long = 't'.repeat(5000);
    const r2 = expectStatus(await addendum(v.id, { text: long }, w.doc.access), 201).body;
    assert.deepEqual(r2.addenda.map((x) => x.text), ['Resultado do exame: normal.', long]);
    assert.deepEqual(r2.addenda[0], a1);
    assert.notEqual(r2.addenda[1].id, a1.id);
    assert.deepEqual([r2.notes, r2.diagnoses, r2.signed_at, r2.signed_by, r2.status], [signed.notes, signed.diagnoses, signed.signed_at, signed.signed_by, 'signed']);
    assert.deepEqual(await getEvo(v.id, w.doc.access), r2);
    assert.deepEqual(await getEvo(v.id, w.pat.access), r2);
    // the evolution stays frozen after addenda
    expectError(await putEvo(v.id, { notes: 'x' }, w.doc.access), 409, 'conflict');
    expectError(await sign(v.id, w.doc.access), 409, 'conflict');
    assert.equal((await auditRows(`action=evolution_addendum&actor_user_id=${w.doc.id}`)).length, 2);
  });

  test('addenda on a visit without any evolution: 409 (only a signed evolution takes addenda)', async () => {
    const w = await world();
    const v = await inProgress(w);
    expectError(await addendum(v.id, { text: 'cedo demais' }, w.doc.access), 409, 'conflict');
    expectError(await get(evoPath(v.id), w.doc.access), 404, 'not_found');
  });
});

describe('patient history', () => {
  test('history: the patient\'s visits with that doctor, newest first, with service, appointment and evolution', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const admin = await asAdmin();
    // v1: walk-in with a service, signed evolution
    const v1 = await inProgress(w, w.patientId, w.doctorId, { service_id: w.service.id });
    expectStatus(await putEvo(v1.id, { notes: 'Primeira consulta.', diagnoses: DIAGNOSES }, w.doc.access), 201);
    expectStatus(await sign(v1.id, w.doc.access), 200);
    await completeVisit(v1.id, w.doc.access);
    // v4: with the other doctor
    const v4 = await inProgress(w, w.patientId, w.doctor2Id);
    await completeVisit(v4.id, w.doc2.access);
    // v2: from an appointment, completed with notes (a draft)
    const a = await book(w);
    const c2 = await checkIn(a.id, w.rec.access);
    await moveVisit(c2.id, 'with_doctor', w.rec.access);
    await completeVisit(c2.id, w.doc.access, { notes: 'Retorno.' });
    // v3: waiting now
    const v3 = await walkIn(w.rec.access, { patient_id: w.patientId, doctor_id: w.doctorId });
    // another patient with the doctor
    const other = await inProgress(w, w.patient2Id);
    await completeVisit(other.id, w.doc.access);

    const [f1, f2, f3, f4] = await Promise.all([v1, c2, v3, v4].map((v) => getVisit(v.id)));
    const evo = async (id) => getEvo(id, admin);
    const expected = [
      { visit: f3, service_name: null, appointment: null, evolution: null, payment_status: null },
      { visit: f2, service_name: w.service.name, appointment: { id: a.id, start_time: a.start_time, status: 'completed' }, evolution: await evo(c2.id), payment_status: 'pending' },
      { visit: f1, service_name: w.service.name, appointment: null, evolution: await evo(v1.id), payment_status: 'pending' },
    ];
    assert.equal(expected[1].evolution.status, 'draft');
    assert.equal(expected[2].evolution.status, 'signed');

    const path = `/api/patients/${w.patientId}/history/${w.doctorId}`;
    const res = expectStatus(await get(path, w.doc.access), 200).body;
    assert.deepEqual(res, { items: expected, next_cursor: null });
    assert.deepEqual(await listAll(path, admin), expected);
    assert.deepEqual(await listAll(`/api/patients/${w.patientId}/history/${w.doctor2Id}`, w.doc2.access), [
      { visit: f4, service_name: null, appointment: null, evolution: null, payment_status: null },
    ]);
    assert.deepEqual(await listAll(`/api/patients/${w.patient2Id}/history/${w.doctor2Id}`, w.doc2.access), []);

    // pagination
    const seen = [];
    let cursor = null;
    for (let page = 0; page < 5; page++) {
      const body = expectStatus(await get(`${path}?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, w.doc.access), 200).body;
      assert.ok(body.items.length <= 1);
      seen.push(...body.items);
      if (body.next_cursor === null) break;
      cursor = body.next_cursor;
    }
    assert.deepEqual(seen, expected);
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=201', 'limit'],
      ['limit=x', 'limit'],
      ['cursor=garbage', null],
    ]) {
      expectError(await get(`${path}?${query}`, w.doc.access), 400, 'invalid_query', field ? [field] : undefined);
    }

    // only their own doctor id (403), only visible patients (404); receptionists and patients 403
    expectError(await get(`/api/patients/${w.patientId}/history/${w.doctor2Id}`, w.doc.access), 403, 'forbidden');
    expectError(await get(`/api/patients/${w.patientId}/history/${o.doctorId}`, w.doc.access), 403, 'forbidden');
    expectError(await get(`/api/patients/${o.patientId}/history/${w.doctorId}`, w.doc.access), 404, 'not_found');
    expectError(await get(`/api/patients/${NOT_FOUND_ID}/history/${w.doctorId}`, w.doc.access), 404, 'not_found');
    expectError(await get(`/api/patients/${NOT_FOUND_ID}/history/${w.doctorId}`, admin), 404, 'not_found');
    expectError(await get(path, o.doc.access), 403, 'forbidden');
    expectError(await get(path, w.rec.access), 403, 'forbidden');
    expectError(await get(path, w.pat.access), 403, 'forbidden');
    assert.deepEqual(await listAll(`/api/patients/${o.patientId}/history/${o.doctorId}`, admin), []);
  });
});

describe('doctor dashboard', () => {
  test('doctor stats: today\'s visits by status, appointments today, upcoming 7 days, median consultation', async () => {
    const w = await world();
    const admin = await asAdmin();
    const fresh = expectStatus(await get('/api/dashboard/doctor/stats', w.doc.access), 200).body;
    assert.deepEqual(fresh, {
      date: w.today,
      doctor_id: w.doctorId,
      today: { visits: 0, waiting: 0, called: 0, active_consultations: 0, completed: 0, left: 0 },
      appointments_today: 0,
      upcoming_appointments_7d: 0,
      median_consultation_minutes: null,
      revenue_today: { currency: 'BRL', count: 0, total_cents: 0, paid_cents: 0, pending_cents: 0, refunded_cents: 0 },
    });

    const ps = await Promise.all(Array.from({ length: 6 }, () => newPatient(w)));
    const a1 = await book(w); // checked in and completed
    await book(w, { patient_id: w.patient2Id }); // confirmed, later today
    await book(w, { patient_id: ps[0].id, start_time: daysAhead(w, 3) }); // confirmed, in 3 days
    await book(w, { patient_id: ps[0].id, start_time: daysAhead(w, 8) }); // confirmed, in 8 days: not within 7
    const cancelled = await book(w, { patient_id: ps[1].id, start_time: daysAhead(w, 2) });
    expectStatus(await post(`/api/appointments/${cancelled.id}/cancel`, { reason: 'Viagem' }, w.rec.access), 200);
    await book(w, { patient_id: ps[2].id, doctor_id: w.doctor2Id, start_time: daysAhead(w, 1) }); // the other doctor's

    const v1 = await checkIn(a1.id, w.rec.access);
    await moveVisit(v1.id, 'with_doctor', w.rec.access);
    await completeVisit(v1.id, w.doc.access);
    await walkIn(w.rec.access, { patient_id: ps[1].id, doctor_id: w.doctorId }); // waiting
    const called = await walkIn(w.rec.access, { patient_id: ps[2].id, doctor_id: w.doctorId });
    expectStatus(await post(`/api/visits/${called.id}/call`, undefined, w.doc.access), 200);
    await inProgress(w, ps[3].id); // in progress
    const gone = await walkIn(w.rec.access, { patient_id: ps[4].id, doctor_id: w.doctorId });
    expectStatus(await post(`/api/visits/${gone.id}/left`, undefined, w.rec.access), 200);
    await walkIn(w.rec.access, { patient_id: ps[5].id, doctor_id: w.doctor2Id }); // the other doctor's

    // the completed consultation was billed (pending; no fee rule: the doctor's share is 0)
    const [billed] = expectStatus(await get(`/api/payments?visit_id=${v1.id}`, admin), 200).body.items;
    const stats = expectStatus(await get('/api/dashboard/doctor/stats', w.doc.access), 200).body;
    assert.deepEqual(stats, {
      date: w.today,
      doctor_id: w.doctorId,
      today: { visits: 5, waiting: 1, called: 1, active_consultations: 1, completed: 1, left: 1 },
      appointments_today: 2,
      upcoming_appointments_7d: 2,
      median_consultation_minutes: 1, // one consultation of a few seconds, rounded up to a minute
      revenue_today: {
        currency: billed.currency, count: 1, total_cents: billed.amount_cents, paid_cents: 0,
        pending_cents: billed.doctor_share_cents, refunded_cents: 0,
      },
    });
    const stats2 = expectStatus(await get('/api/dashboard/doctor/stats', w.doc2.access), 200).body;
    assert.deepEqual(stats2, {
      date: w.today,
      doctor_id: w.doctor2Id,
      today: { visits: 1, waiting: 1, called: 0, active_consultations: 0, completed: 0, left: 0 },
      appointments_today: 0,
      upcoming_appointments_7d: 1,
      median_consultation_minutes: null,
      revenue_today: { currency: 'BRL', count: 0, total_cents: 0, paid_cents: 0, pending_cents: 0, refunded_cents: 0 },
    });
    for (const token of [w.rec.access, admin, w.pat.access]) expectError(await get('/api/dashboard/doctor/stats', token), 403, 'forbidden');
  });

  test('doctor appointments: from today, confirmed and checked_in by default; filters; patient and service; pages; 400; roles', async () => {
    const w = await world({ patient: { full_name: 'Beatriz Ramos', phone: '+55 11 98888-7777', birth_date: '1985-03-02', sex: 'F' } });
    const admin = await asAdmin();
    const p3 = await newPatient(w);
    const p4 = await newPatient(w);
    const a1 = await book(w); // confirmed today
    const a2 = await book(w, { patient_id: w.patient2Id }); // checked in
    const a3 = await book(w, { patient_id: p3.id }); // completed
    const a4 = await book(w, { patient_id: p3.id, start_time: daysAhead(w, 3) }); // confirmed
    const a5 = await book(w, { patient_id: p4.id, start_time: daysAhead(w, 2) }); // cancelled
    const a6 = await book(w, { patient_id: p4.id, start_time: daysAhead(w, 10) }); // confirmed
    const b1 = await book(w, { doctor_id: w.doctor2Id, patient_id: p4.id }); // the other doctor's
    await checkIn(a2.id, w.rec.access);
    const v3 = await checkIn(a3.id, w.rec.access);
    await moveVisit(v3.id, 'with_doctor', w.rec.access);
    await completeVisit(v3.id, w.doc.access);
    expectStatus(await post(`/api/appointments/${a5.id}/cancel`, { reason: 'Viagem' }, w.rec.access), 200);

    const patientOf = async (id) => {
      const p = expectStatus(await get(`/api/patients/${id}`, admin), 200).body;
      return pick(p, ['id', 'full_name', 'phone', 'birth_date', 'sex']);
    };
    const item = async (a) => ({
      appointment: await getAppointment(a.id),
      patient: await patientOf(a.patient_id),
      service: { id: w.service.id, name: w.service.name, duration_minutes: 5 },
    });
    const items = Object.fromEntries(await Promise.all([a1, a2, a3, a4, a5, a6, b1].map(async (a) => [a.id, await item(a)])));
    const want = (...list) => list.map((a) => items[a.id]);
    assert.deepEqual(items[a1.id].patient, { id: w.patientId, full_name: 'Beatriz Ramos', phone: '+55 11 98888-7777', birth_date: '1985-03-02', sex: 'F' });

    const q = async (query, token = w.doc.access) => listAll(`/api/dashboard/doctor/appointments${query ? `?${query}` : ''}`, token);
    assert.deepEqual(await q(''), want(a1, a2, a4, a6));
    assert.deepEqual(await q('status=confirmed'), want(a1, a4, a6));
    assert.deepEqual(await q('status=checked_in'), want(a2));
    assert.deepEqual(await q('status=completed'), want(a3));
    assert.deepEqual(await q('status=cancelled'), want(a5));
    assert.deepEqual(await q('status=no_show'), []);
    assert.deepEqual(await q(`from=${w.today}&to=${w.today}`), want(a1, a2));
    const d4 = localDate(TZ, Date.parse(a4.start_time));
    assert.deepEqual(await q(`to=${d4}`), want(a1, a2, a4));
    assert.deepEqual(await q(`from=${addDays(d4, 1)}`), want(a6));
    assert.deepEqual(await q(`from=${addDays(w.today, -30)}&to=${addDays(w.today, 30)}&status=cancelled`), want(a5));
    assert.deepEqual(await q(''), (await q(`from=${addDays(w.today, -1)}`)), 'nothing before today');
    assert.deepEqual(await q('', w.doc2.access), want(b1));

    const seen = [];
    let cursor = null;
    for (let page = 0; page < 5; page++) {
      const body = expectStatus(await get(`/api/dashboard/doctor/appointments?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, w.doc.access), 200).body;
      assert.ok(body.items.length <= 3);
      seen.push(...body.items);
      if (body.next_cursor === null) break;
      cursor = body.next_cursor;
    }
    assert.deepEqual(seen, want(a1, a2, a4, a6));

    for (const [query, field] of [
      ['status=done', 'status'],
      ['status=CONFIRMED', 'status'],
      ['from=2026-02-30', 'from'],
      ['from=today', 'from'],
      ['to=2026-1-1', 'to'],
      ['limit=0', 'limit'],
      ['limit=201', 'limit'],
      ['cursor=zzz', null],
    ]) {
      expectError(await get(`/api/dashboard/doctor/appointments?${query}`, w.doc.access), 400, 'invalid_query', field ? [field] : undefined);
    }
    for (const token of [w.rec.access, admin, w.pat.access]) expectError(await get('/api/dashboard/doctor/appointments', token), 403, 'forbidden');
  });

  test('doctors/patients: the doctor\'s own patients with visit count, last visit and next appointment; q; pages; roles', async () => {
    const w = await world();
    const admin = await asAdmin();
    const tag = uniq();
    const ana = await newPatient(w, { full_name: `Ana ${tag}` });
    const bruno = await newPatient(w, { full_name: `Bruno ${tag}` });
    const carla = await newPatient(w, { full_name: `Carla ${tag}`, phone: '+55 21 97654-3210' });
    const dora = await newPatient(w, { full_name: `Dora ${tag}` });
    await newPatient(w, { full_name: `Eva ${tag}` }); // nothing with any doctor

    // Ana: one completed visit and an appointment in 3 days
    const va = await inProgress(w, ana.id);
    await completeVisit(va.id, w.doc.access);
    const nextAna = await book(w, { patient_id: ana.id, start_time: daysAhead(w, 3) });
    // Bruno: an appointment only
    const nextBruno = await book(w, { patient_id: bruno.id, start_time: daysAhead(w, 2) });
    // Carla: a completed visit and one waiting now
    const vc1 = await inProgress(w, carla.id);
    await completeVisit(vc1.id, w.doc.access);
    const vc2 = await walkIn(w.rec.access, { patient_id: carla.id, doctor_id: w.doctorId });
    // Dora: only with the other doctor
    const vd = await walkIn(w.rec.access, { patient_id: dora.id, doctor_id: w.doctor2Id });

    const list = await listAll('/api/doctors/patients', w.doc.access);
    assert.deepEqual(list.map((x) => x.patient.id), [ana.id, bruno.id, carla.id]);
    const get1 = async (id) => expectStatus(await get(`/api/patients/${id}`, admin), 200).body;
    const [fa, fc2] = await Promise.all([getVisit(va.id), getVisit(vc2.id)]);
    const lastOf = (v) => [v.check_in_time, v.start_time, v.end_time];
    const expect = [
      [ana, 1, fa, nextAna.start_time],
      [bruno, 0, null, nextBruno.start_time],
      [carla, 2, fc2, null],
    ];
    for (const [i, [p, count, lastVisit, next]] of expect.entries()) {
      const x = list[i];
      assert.deepEqual(x.patient, await get1(p.id));
      assert.equal(x.visit_count, count, `visit_count of ${p.full_name}`);
      if (lastVisit) {
        assert.match(x.last_visit_at, INSTANT);
        assert.ok(lastOf(lastVisit).includes(x.last_visit_at), `last_visit_at ${x.last_visit_at} of ${p.full_name} is not a time of the latest visit ${JSON.stringify(lastVisit)}`);
      } else {
        assert.equal(x.last_visit_at, null);
      }
      assert.equal(x.next_appointment_at, next, `next_appointment_at of ${p.full_name}`);
    }

    assert.deepEqual((await listAll(`/api/doctors/patients?q=${encodeURIComponent(`bruno ${tag}`)}`, w.doc.access)).map((x) => x.patient.id), [bruno.id]);
    assert.deepEqual((await listAll(`/api/doctors/patients?q=${tag}`, w.doc.access)).map((x) => x.patient.id), [ana.id, bruno.id, carla.id]);
    assert.deepEqual((await listAll('/api/doctors/patients?q=976543210', w.doc.access)).map((x) => x.patient.id), [carla.id]);
    assert.deepEqual((await listAll(`/api/doctors/patients?q=Dora%20${tag}`, w.doc.access)), []);
    const doc2List = await listAll('/api/doctors/patients', w.doc2.access);
    assert.deepEqual(doc2List.map((x) => [x.patient.id, x.visit_count, x.next_appointment_at]), [[dora.id, 1, null]]);
    assert.equal(doc2List[0].last_visit_at, vd.check_in_time);

    const seen = [];
    let cursor = null;
    for (let page = 0; page < 5; page++) {
      const body = expectStatus(await get(`/api/doctors/patients?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, w.doc.access), 200).body;
      assert.ok(body.items.length <= 2);
      seen.push(...body.items);
      if (body.next_cursor === null) break;
      cursor = body.next_cursor;
    }
    assert.deepEqual(seen, list);
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=abc', 'limit'],
      [`q=${'x'.repeat(101)}`, 'q'],
      ['cursor=nope', null],
    ]) {
      expectError(await get(`/api/doctors/patients?${query}`, w.doc.access), 400, 'invalid_query', field ? [field] : undefined);
    }
    for (const token of [w.rec.access, admin, w.pat.access]) expectError(await get('/api/doctors/patients', token), 403, 'forbidden');
  });
});

describe('reception dashboard', () => {
  test('reception stats: the day\'s appointments and visits by status, walk-ins, average wait, per doctor; params; roles', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const admin = await asAdmin();
    const ps = await Promise.all(Array.from({ length: 6 }, () => newPatient(w)));
    const a1 = await book(w); // completed
    const a2 = await book(w, { patient_id: w.patient2Id, doctor_id: w.doctor2Id }); // checked in, waiting
    await book(w, { patient_id: ps[0].id }); // confirmed
    const a4 = await book(w, { patient_id: ps[1].id, doctor_id: w.doctor2Id }); // cancelled
    await book(w, { patient_id: ps[2].id, start_time: daysAhead(w, 1) }); // tomorrow
    expectStatus(await post(`/api/appointments/${a4.id}/cancel`, { reason: 'Imprevisto' }, w.rec.access), 200);
    const v1 = await checkIn(a1.id, w.rec.access);
    await moveVisit(v1.id, 'with_doctor', w.rec.access);
    await completeVisit(v1.id, w.doc.access);
    await checkIn(a2.id, w.rec.access);
    const called = await walkIn(w.rec.access, { patient_id: ps[3].id, doctor_id: w.doctorId });
    expectStatus(await post(`/api/visits/${called.id}/call`, undefined, w.rec.access), 200);
    await inProgress(w, ps[4].id, w.doctor2Id);
    const gone = await walkIn(w.rec.access, { patient_id: ps[5].id, doctor_id: w.doctorId });
    expectStatus(await post(`/api/visits/${gone.id}/left`, undefined, w.rec.access), 200);

    const path = '/api/dashboard/reception/stats';
    const stats = expectStatus(await get(path, w.rec.access), 200).body;
    assert.deepEqual({ ...stats, doctors: byId(stats.doctors) }, {
      clinic_id: w.clinic.id,
      date: w.today,
      appointments: { total: 4, requested: 0, confirmed: 1, checked_in: 1, completed: 1, cancelled: 1, no_show: 0 },
      visits: { total: 5, waiting: 1, called: 1, in_progress: 1, completed: 1, left: 1, walk_ins: 3 },
      average_wait_minutes: 0, // both started within seconds of their check-in
      doctors: byId([
        // waiting counts the waiting phase (waiting and called)
        { doctor_id: w.doctorId, full_name: w.doc.user.full_name, waiting: 1, in_progress: 0, completed: 1, online: false },
        { doctor_id: w.doctor2Id, full_name: w.doc2.user.full_name, waiting: 1, in_progress: 1, completed: 0, online: false },
      ]),
    });
    const strip = (s) => ({ ...s, doctors: byId(s.doctors) });
    assert.deepEqual(strip(expectStatus(await get(`${path}?clinic_id=${w.clinic.id}`, admin), 200).body), strip(stats));
    assert.deepEqual(strip(expectStatus(await get(`${path}?clinic_id=${w.clinic.id}&date=${w.today}`, w.rec.access), 200).body), strip(stats));

    // another day: only tomorrow's appointment
    const tomorrow = expectStatus(await get(`${path}?date=${addDays(w.today, 1)}`, w.rec.access), 200).body;
    assert.deepEqual(pick(tomorrow, ['clinic_id', 'date', 'appointments', 'visits', 'average_wait_minutes']), {
      clinic_id: w.clinic.id,
      date: addDays(w.today, 1),
      appointments: { total: 1, requested: 0, confirmed: 1, checked_in: 0, completed: 0, cancelled: 0, no_show: 0 },
      visits: { total: 0, waiting: 0, called: 0, in_progress: 0, completed: 0, left: 0, walk_ins: 0 },
      average_wait_minutes: null,
    });
    for (const d of tomorrow.doctors) {
      assert.ok([w.doctorId, w.doctor2Id].includes(d.doctor_id), `doctor ${d.doctor_id} is not of the clinic`);
      assert.deepEqual([d.waiting, d.in_progress, d.completed, d.online], [0, 0, 0, false]);
    }
    // a clinic with nothing started: no average
    const empty = expectStatus(await get(path, o.rec.access), 200).body;
    assert.deepEqual([empty.clinic_id, empty.average_wait_minutes, empty.visits.total, empty.appointments.total], [o.clinic.id, null, 0, 0]);

    expectError(await get(path, admin), 400, 'invalid_query', ['clinic_id']);
    expectError(await get(`${path}?clinic_id=${NOT_FOUND_ID}`, admin), 404, 'not_found');
    expectError(await get(`${path}?clinic_id=${o.clinic.id}`, w.rec.access), 404, 'not_found');
    for (const token of [w.doc.access, w.pat.access]) {
      expectError(await get(path, token), 403, 'forbidden');
      expectError(await get(`${path}?clinic_id=${w.clinic.id}`, token), 403, 'forbidden');
    }
    for (const [query, field] of [
      ['date=2026-02-30', 'date'],
      ['date=yesterday', 'date'],
      ['date=', 'date'],
      ['clinic_id=abc', 'clinic_id'],
    ]) {
      expectError(await get(`${path}?${query}`, w.rec.access), 400, 'invalid_query', [field]);
      const adminQuery = field === 'clinic_id' ? query : `clinic_id=${w.clinic.id}&${query}`;
      expectError(await get(`${path}?${adminQuery}`, admin), 400, 'invalid_query', [field]);
    }
  });
});
