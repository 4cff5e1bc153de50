// Services, doctors' weekly availability rules, unavailability blocks and free slots (SCHEDULE.md).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  addDays,
  asAdmin,
  createAvailability,
  createClinic,
  createService,
  createStaff,
  createUnavailability,
  del,
  expectError,
  expectStatus,
  get,
  isoDate,
  isoWeekday,
  listAll,
  nextWeekday,
  nthSunday,
  patch,
  patientSession,
  post,
  staffSession,
  uniq,
} from '../lib/api.mjs';

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const NOT_FOUND_ID = 2147483000;

async function auditRows(query) {
  return listAll(`/api/audit?${query}`, await asAdmin());
}

// A POST /availability body: Monday 09:00-10:00, 30-minute in-person slots unless overridden.
const ruleBody = (fields = {}) => ({
  weekday: 1,
  start_time: '09:00',
  end_time: '10:00',
  slot_minutes: 30,
  consultation_types: ['in_person'],
  ...fields,
});

const slot = (start, end, type = 'in_person') => ({ start_time: start, end_time: end, consultation_type: type });

// A fresh clinic with one doctor (no session): {clinic, doctor, doctorId}.
async function clinicWithDoctor(clinicFields = {}) {
  const clinic = await createClinic(clinicFields);
  const doctor = await createStaff('DOCTOR', clinic.id);
  return { clinic, doctor, doctorId: doctor.user.doctor_id };
}

async function slotsOf(doctorId, query, token) {
  const body = expectStatus(await get(`/api/doctors/${doctorId}/slots?${query}`, token || (await asAdmin())), 200).body;
  assert.equal(body.next_cursor, null, `slots next_cursor: ${JSON.stringify(body.next_cursor)}`);
  return body.items;
}

async function rulesOf(doctorId, token) {
  const body = expectStatus(await get(`/api/doctors/${doctorId}/availability`, token || (await asAdmin())), 200).body;
  assert.equal(body.next_cursor ?? null, null, `availability next_cursor: ${JSON.stringify(body.next_cursor)}`);
  return body.items;
}

async function blocksOf(doctorId, query = '', token) {
  const url = `/api/doctors/${doctorId}/unavailability${query ? `?${query}` : ''}`;
  const body = expectStatus(await get(url, token || (await asAdmin())), 200).body;
  assert.equal(body.next_cursor, null, `unavailability next_cursor: ${JSON.stringify(body.next_cursor)}`);
  return body.items;
}

const sortedTypes = (r) => [...r.consultation_types].sort();

describe('services', () => {
  test('create as admin: fields, the clinic currency, defaults, bounds, audit', async () => {
    const admin = await asAdmin();
    const clinic = await createClinic({ currency: 'USD' });
    const name = `Consulta ${uniq()}`;
    const s = expectStatus(await post('/api/services', { clinic_id: clinic.id, name, duration_minutes: 30, price_cents: 25000 }, admin), 201).body;
    assert.equal(Number.isInteger(s.id), true, `id: ${s.id}`);
    assert.deepEqual(
      { clinic_id: s.clinic_id, name: s.name, duration_minutes: s.duration_minutes, price_cents: s.price_cents, currency: s.currency, active: s.active },
      { clinic_id: clinic.id, name, duration_minutes: 30, price_cents: 25000, currency: 'USD', active: true },
    );
    assert.match(s.created_at, INSTANT);
    assert.deepEqual(expectStatus(await get(`/api/services/${s.id}`, admin), 200).body, s);

    const brl = await createService((await createClinic()).id);
    assert.equal(brl.currency, 'BRL');

    const off = await createService(clinic.id, { active: false });
    assert.equal(off.active, false);
    const low = await createService(clinic.id, { name: `L${uniq()}`, duration_minutes: 5, price_cents: 0 });
    assert.deepEqual([low.duration_minutes, low.price_cents], [5, 0]);
    const high = await createService(clinic.id, { name: `H${uniq()}`.padEnd(120, 'h'), duration_minutes: 480, price_cents: 100000000 });
    assert.deepEqual([high.name.length, high.duration_minutes, high.price_cents], [120, 480, 100000000]);

    const rows = await auditRows(`action=service_create&entity_id=${s.id}`);
    assert.equal(rows.length, 1, `service_create audit rows for service ${s.id}: ${JSON.stringify(rows)}`);
  });

  test('name is unique per clinic case-insensitively (409), free in another clinic', async () => {
    const admin = await asAdmin();
    const [c1, c2] = await Promise.all([createClinic(), createClinic()]);
    const name = `Retorno ${uniq()}`;
    const first = await createService(c1.id, { name });
    for (const n of [name, name.toUpperCase(), name.toLowerCase()]) {
      const dup = await post('/api/services', { clinic_id: c1.id, name: n, duration_minutes: 20, price_cents: 100 }, admin);
      expectError(dup, 409, 'conflict');
      assert.match(dup.body.error.message, /name/i);
    }
    const inOther = await createService(c2.id, { name: name.toUpperCase() });
    assert.equal(inOther.clinic_id, c2.id);
    const list = await listAll(`/api/services?clinic_id=${c1.id}`, admin);
    assert.deepEqual(list.map((s) => s.id), [first.id]);
  });

  test('validation: 422 lists every bad field; unknown clinic_id is 422', async () => {
    const admin = await asAdmin();
    const clinic = await createClinic();
    const base = () => ({ clinic_id: clinic.id, name: `Valid ${uniq()}`, duration_minutes: 30, price_cents: 1000 });

    expectError(await post('/api/services', {}, admin), 422, 'validation_failed', ['clinic_id', 'name', 'duration_minutes', 'price_cents']);
    expectError(
      await post('/api/services', { clinic_id: clinic.id, name: '', duration_minutes: 4, price_cents: -1, active: 'yes', currency: 'USD' }, admin),
      422,
      'validation_failed',
      ['name', 'duration_minutes', 'price_cents', 'active', 'currency'],
    );
    const bad = [
      [{ name: 'n'.repeat(121) }, 'name'],
      [{ name: null }, 'name'],
      [{ name: 42 }, 'name'],
      [{ duration_minutes: 481 }, 'duration_minutes'],
      [{ duration_minutes: 30.5 }, 'duration_minutes'],
      [{ duration_minutes: '30' }, 'duration_minutes'],
      [{ price_cents: 100000001 }, 'price_cents'],
      [{ price_cents: 10.5 }, 'price_cents'],
      [{ active: 1 }, 'active'],
      [{ clinic_id: NOT_FOUND_ID }, 'clinic_id'],
      [{ clinic_id: 'one' }, 'clinic_id'],
      [{ color: 'blue' }, 'color'],
    ];
    for (const [fields, field] of bad) {
      expectError(await post('/api/services', { ...base(), ...fields }, admin), 422, 'validation_failed', [field]);
    }
    assert.deepEqual(await listAll(`/api/services?clinic_id=${clinic.id}`, admin), []);
  });

  test('list: admin filter by clinic and active, ordered by name, paginated', async () => {
    const admin = await asAdmin();
    const [clinic, other] = await Promise.all([createClinic(), createClinic()]);
    const exame = await createService(clinic.id, { name: 'Exame' });
    const consulta = await createService(clinic.id, { name: 'Consulta' });
    const retorno = await createService(clinic.id, { name: 'Retorno' });
    const avaliacao = await createService(clinic.id, { name: 'Avaliacao' });
    const elsewhere = await createService(other.id, { name: 'Consulta' });

    const all = expectStatus(await get(`/api/services?clinic_id=${clinic.id}`, admin), 200).body;
    assert.deepEqual(all.items.map((s) => s.name), ['Avaliacao', 'Consulta', 'Exame', 'Retorno']);
    assert.deepEqual(all.items.map((s) => s.id), [avaliacao.id, consulta.id, exame.id, retorno.id]);
    assert.equal(all.next_cursor, null);
    assert.deepEqual(all.items[1], consulta);

    const page1 = expectStatus(await get(`/api/services?clinic_id=${clinic.id}&limit=2`, admin), 200).body;
    assert.deepEqual(page1.items.map((s) => s.name), ['Avaliacao', 'Consulta']);
    assert.equal(typeof page1.next_cursor, 'string');
    const page2 = expectStatus(
      await get(`/api/services?clinic_id=${clinic.id}&limit=2&cursor=${encodeURIComponent(page1.next_cursor)}`, admin),
      200,
    ).body;
    assert.deepEqual(page2.items.map((s) => s.name), ['Exame', 'Retorno']);
    if (page2.next_cursor !== null) {
      const page3 = expectStatus(
        await get(`/api/services?clinic_id=${clinic.id}&limit=2&cursor=${encodeURIComponent(page2.next_cursor)}`, admin),
        200,
      ).body;
      assert.deepEqual(page3, { items: [], next_cursor: null });
    }

    expectStatus(await patch(`/api/services/${exame.id}`, { active: false }, admin), 200);
    const inactive = expectStatus(await get(`/api/services?clinic_id=${clinic.id}&active=false`, admin), 200).body.items;
    assert.deepEqual(inactive.map((s) => s.id), [exame.id]);
    const active = expectStatus(await get(`/api/services?clinic_id=${clinic.id}&active=true`, admin), 200).body.items;
    assert.deepEqual(active.map((s) => s.id), [avaliacao.id, consulta.id, retorno.id]);

    const everything = await listAll('/api/services', admin);
    for (const id of [consulta.id, elsewhere.id]) assert.equal(everything.some((s) => s.id === id), true, `service ${id} missing from the admin list`);

    expectError(await get(`/api/services?clinic_id=${clinic.id}&active=maybe`, admin), 400, 'invalid_query', ['active']);
    expectError(await get('/api/services?limit=0', admin), 400, 'invalid_query', ['limit']);
  });

  test('scoping: staff and patients see their own clinic only; another clinic service is 404', async () => {
    const [c1, c2] = await Promise.all([createClinic(), createClinic()]);
    const [s1, s2] = await Promise.all([createService(c1.id), createService(c2.id)]);
    const [rec2, doc2, pat2, pat1, doc1] = await Promise.all([
      staffSession('RECEPTIONIST', c2.id),
      staffSession('DOCTOR', c2.id),
      patientSession(c2.id),
      patientSession(c1.id),
      staffSession('DOCTOR', c1.id),
    ]);

    for (const s of [rec2, doc2, pat2]) {
      const list = await listAll('/api/services', s.access);
      assert.deepEqual([...new Set(list.map((x) => x.clinic_id))], [c2.id]);
      assert.deepEqual(list.map((x) => x.id), [s2.id]);
      expectError(await get(`/api/services/${s1.id}`, s.access), 404, 'not_found');
      assert.deepEqual(expectStatus(await get(`/api/services/${s2.id}`, s.access), 200).body, s2);
      const filtered = await get(`/api/services?clinic_id=${c1.id}`, s.access);
      assert.deepEqual(expectStatus(filtered, 200).body.items.filter((x) => x.clinic_id !== c2.id), []);
    }
    for (const s of [pat1, doc1]) {
      const list = await listAll('/api/services', s.access);
      assert.deepEqual(list.map((x) => x.id), [s1.id]);
      assert.deepEqual(expectStatus(await get(`/api/services/${s1.id}`, s.access), 200).body, s1);
      expectError(await get(`/api/services/${s2.id}`, s.access), 404, 'not_found');
    }
    expectError(await get(`/api/services/${NOT_FOUND_ID}`, await asAdmin()), 404, 'not_found');
  });

  test('PATCH: partial update, name conflicts, read-only and bad fields', async () => {
    const admin = await asAdmin();
    const [clinic, c2] = await Promise.all([createClinic(), createClinic()]);
    const s = await createService(clinic.id, { name: `Consulta ${uniq()}` });
    const other = await createService(clinic.id, { name: `Exame ${uniq()}` });

    const newName = `Teleconsulta ${uniq()}`;
    const upd = expectStatus(await patch(`/api/services/${s.id}`, { name: newName, duration_minutes: 45, price_cents: 0, active: false }, admin), 200).body;
    assert.deepEqual(upd, { ...s, name: newName, duration_minutes: 45, price_cents: 0, active: false });
    assert.deepEqual(expectStatus(await get(`/api/services/${s.id}`, admin), 200).body, upd);

    const one = expectStatus(await patch(`/api/services/${s.id}`, { price_cents: 9900 }, admin), 200).body;
    assert.deepEqual(one, { ...upd, price_cents: 9900 });
    const back = expectStatus(await patch(`/api/services/${s.id}`, { active: true }, admin), 200).body;
    assert.equal(back.active, true);

    // renaming to its own name in another case is not a conflict
    const upper = expectStatus(await patch(`/api/services/${s.id}`, { name: newName.toUpperCase() }, admin), 200).body;
    assert.equal(upper.name, newName.toUpperCase());
    const dup = await patch(`/api/services/${s.id}`, { name: other.name.toLowerCase() }, admin);
    expectError(dup, 409, 'conflict');
    assert.match(dup.body.error.message, /name/i);

    const bad = [
      [{ clinic_id: c2.id }, 'clinic_id'],
      [{ currency: 'USD' }, 'currency'],
      [{ name: '' }, 'name'],
      [{ name: null }, 'name'],
      [{ duration_minutes: 4 }, 'duration_minutes'],
      [{ price_cents: -5 }, 'price_cents'],
      [{ active: 'no' }, 'active'],
    ];
    for (const [fields, field] of bad) {
      expectError(await patch(`/api/services/${s.id}`, fields, admin), 422, 'validation_failed', [field]);
    }
    assert.deepEqual(expectStatus(await get(`/api/services/${s.id}`, admin), 200).body, upper);
    expectError(await patch(`/api/services/${NOT_FOUND_ID}`, { price_cents: 1 }, admin), 404, 'not_found');

    const rows = await auditRows(`action=service_update&entity_id=${s.id}`);
    assert.equal(rows.length >= 1, true, `service_update audit rows for service ${s.id}: ${rows.length}`);
  });
});

describe('availability rules', () => {
  test('create by admin, by a receptionist of the clinic, by the doctor for themself; ordered list', async () => {
    const clinic = await createClinic();
    const [doc, rec] = await Promise.all([staffSession('DOCTOR', clinic.id), staffSession('RECEPTIONIST', clinic.id)]);
    const id = doc.user.doctor_id;
    const admin = await asAdmin();

    const byAdmin = expectStatus(
      await post(
        `/api/doctors/${id}/availability`,
        ruleBody({ weekday: 3, start_time: '14:00', end_time: '18:00', slot_minutes: 20, consultation_types: ['video', 'in_person'] }),
        admin,
      ),
      201,
    ).body;
    assert.equal(Number.isInteger(byAdmin.id), true, `id: ${byAdmin.id}`);
    assert.deepEqual(
      { doctor_id: byAdmin.doctor_id, weekday: byAdmin.weekday, start_time: byAdmin.start_time, end_time: byAdmin.end_time, slot_minutes: byAdmin.slot_minutes },
      { doctor_id: id, weekday: 3, start_time: '14:00', end_time: '18:00', slot_minutes: 20 },
    );
    assert.deepEqual(sortedTypes(byAdmin), ['in_person', 'video']);
    assert.match(byAdmin.created_at, INSTANT);

    const byRec = expectStatus(await post(`/api/doctors/${id}/availability`, ruleBody({ start_time: '09:00', end_time: '12:00' }), rec.access), 201).body;
    assert.deepEqual([byRec.doctor_id, byRec.weekday, byRec.start_time, byRec.end_time], [id, 1, '09:00', '12:00']);
    const byDoc = expectStatus(
      await post(`/api/doctors/${id}/availability`, ruleBody({ start_time: '07:00', end_time: '08:00', consultation_types: ['video'] }), doc.access),
      201,
    ).body;
    assert.deepEqual([byDoc.doctor_id, byDoc.start_time, byDoc.end_time, byDoc.consultation_types], [id, '07:00', '08:00', ['video']]);
    const sunday = await createAvailability(id, { weekday: 7, start_time: '00:00', end_time: '23:59', slot_minutes: 240 });
    assert.deepEqual([sunday.weekday, sunday.start_time, sunday.end_time, sunday.slot_minutes], [7, '00:00', '23:59', 240]);

    const expected = [byDoc, byRec, byAdmin, sunday].map((r) => r.id);
    for (const token of [doc.access, rec.access, admin]) {
      const items = await rulesOf(id, token);
      assert.deepEqual(items.map((r) => r.id), expected);
    }
    const listed = (await rulesOf(id)).find((r) => r.id === byRec.id);
    assert.deepEqual(listed, byRec);

    const rows = await auditRows(`action=availability_create&entity_id=${byAdmin.id}`);
    assert.equal(rows.length, 1, `availability_create audit rows for rule ${byAdmin.id}: ${JSON.stringify(rows)}`);
  });

  test('a doctor may change only their own rules (403 for a colleague); another clinic is 404', async () => {
    const [clinic, other] = await Promise.all([createClinic(), createClinic()]);
    const [docA, docB, rec2, doc2] = await Promise.all([
      staffSession('DOCTOR', clinic.id),
      createStaff('DOCTOR', clinic.id),
      staffSession('RECEPTIONIST', other.id),
      staffSession('DOCTOR', other.id),
    ]);
    const idA = docA.user.doctor_id;
    const idB = docB.user.doctor_id;

    expectError(await post(`/api/doctors/${idB}/availability`, ruleBody(), docA.access), 403, 'forbidden');
    assert.deepEqual(await rulesOf(idB), []);
    const ruleB = await createAvailability(idB);
    // reading a colleague's rules is fine
    assert.deepEqual((await rulesOf(idB, docA.access)).map((r) => r.id), [ruleB.id]);
    expectError(await del(`/api/doctors/${idB}/availability/${ruleB.id}`, docA.access), 403, 'forbidden');

    const ruleA = await createAvailability(idA, {}, docA.access);
    for (const s of [rec2, doc2]) {
      expectError(await post(`/api/doctors/${idA}/availability`, ruleBody({ weekday: 2 }), s.access), 404, 'not_found');
      expectError(await get(`/api/doctors/${idA}/availability`, s.access), 404, 'not_found');
      expectError(await del(`/api/doctors/${idA}/availability/${ruleA.id}`, s.access), 404, 'not_found');
    }
    assert.deepEqual((await rulesOf(idA)).map((r) => r.id), [ruleA.id]);
    assert.deepEqual((await rulesOf(idB)).map((r) => r.id), [ruleB.id]);

    const admin = await asAdmin();
    expectError(await get(`/api/doctors/${NOT_FOUND_ID}/availability`, admin), 404, 'not_found');
    expectError(await post(`/api/doctors/${NOT_FOUND_ID}/availability`, ruleBody(), admin), 404, 'not_found');
  });

  test('overlapping rules on one weekday are 409; adjacent, other weekdays and other doctors are fine', async () => {
    const { clinic, doctorId } = await clinicWithDoctor();
    const colleague = (await createStaff('DOCTOR', clinic.id)).user.doctor_id;
    const admin = await asAdmin();
    const first = await createAvailability(doctorId, { weekday: 1, start_time: '09:00', end_time: '10:00' });

    for (const [start_time, end_time] of [
      ['09:00', '10:00'],
      ['09:30', '10:30'],
      ['08:00', '09:01'],
      ['08:00', '11:00'],
      ['09:15', '09:45'],
      ['09:59', '10:29'],
    ]) {
      const res = await post(`/api/doctors/${doctorId}/availability`, ruleBody({ weekday: 1, start_time, end_time, slot_minutes: 5 }), admin);
      expectError(res, 409, 'conflict');
    }
    const after = await createAvailability(doctorId, { weekday: 1, start_time: '10:00', end_time: '11:00' });
    const before = await createAvailability(doctorId, { weekday: 1, start_time: '08:00', end_time: '09:00' });
    const tuesday = await createAvailability(doctorId, { weekday: 2, start_time: '09:00', end_time: '10:00' });
    const sunday = await createAvailability(doctorId, { weekday: 7, start_time: '09:00', end_time: '10:00' });
    await createAvailability(colleague, { weekday: 1, start_time: '09:00', end_time: '10:00' });

    assert.deepEqual((await rulesOf(doctorId)).map((r) => r.id), [before.id, first.id, after.id, tuesday.id, sunday.id]);

    // once a rule is gone its hours are free again
    expectStatus(await del(`/api/doctors/${doctorId}/availability/${first.id}`, admin), 204);
    await createAvailability(doctorId, { weekday: 1, start_time: '09:00', end_time: '10:00', slot_minutes: 60 });
  });

  test('validation: weekday, times, slot length, consultation types (422 with the fields)', async () => {
    const { doctorId } = await clinicWithDoctor();
    const admin = await asAdmin();
    const url = `/api/doctors/${doctorId}/availability`;

    expectError(await post(url, {}, admin), 422, 'validation_failed', ['weekday', 'start_time', 'end_time', 'slot_minutes', 'consultation_types']);
    expectError(
      await post(url, { weekday: 0, start_time: '25:00', end_time: '10:00', slot_minutes: 4, consultation_types: [] }, admin),
      422,
      'validation_failed',
      ['weekday', 'start_time', 'slot_minutes', 'consultation_types'],
    );
    const bad = [
      [{ weekday: 0 }, 'weekday'],
      [{ weekday: 8 }, 'weekday'],
      [{ weekday: 1.5 }, 'weekday'],
      [{ weekday: 'monday' }, 'weekday'],
      [{ start_time: '25:00' }, 'start_time'],
      [{ start_time: '09:60' }, 'start_time'],
      [{ start_time: '9am' }, 'start_time'],
      [{ start_time: '' }, 'start_time'],
      [{ end_time: '25:00' }, 'end_time'],
      [{ end_time: '24:00' }, 'end_time'],
      [{ start_time: '10:00', end_time: '10:00' }, 'end_time'],
      [{ start_time: '10:00', end_time: '09:00' }, 'end_time'],
      [{ start_time: '09:00', end_time: '09:20', slot_minutes: 30 }, 'slot_minutes'],
      [{ slot_minutes: 4 }, 'slot_minutes'],
      [{ start_time: '08:00', end_time: '13:00', slot_minutes: 241 }, 'slot_minutes'],
      [{ slot_minutes: 30.5 }, 'slot_minutes'],
      [{ consultation_types: [] }, 'consultation_types'],
      [{ consultation_types: ['in_person', 'in_person'] }, 'consultation_types'],
      [{ consultation_types: ['phone'] }, 'consultation_types'],
      [{ consultation_types: ['video', 'phone'] }, 'consultation_types'],
      [{ consultation_types: 'in_person' }, 'consultation_types'],
      [{ consultation_types: null }, 'consultation_types'],
      [{ doctor_id: doctorId }, 'doctor_id'],
      [{ color: 'red' }, 'color'],
    ];
    for (const [fields, field] of bad) {
      expectError(await post(url, ruleBody(fields), admin), 422, 'validation_failed', [field]);
    }
    assert.deepEqual(await rulesOf(doctorId), []);

    // the boundaries themselves are valid: a slot that fits exactly, 5 and 240 minutes
    const exact = await createAvailability(doctorId, { weekday: 2, start_time: '09:00', end_time: '09:30', slot_minutes: 30 });
    assert.equal(exact.slot_minutes, 30);
    await createAvailability(doctorId, { weekday: 3, start_time: '09:00', end_time: '09:05', slot_minutes: 5 });
    await createAvailability(doctorId, { weekday: 4, start_time: '08:00', end_time: '12:00', slot_minutes: 240 });
  });

  test('delete: 204, then 404; a rule of another doctor is 404; audit', async () => {
    const { clinic, doctorId } = await clinicWithDoctor();
    const doc = await staffSession('DOCTOR', clinic.id);
    const rec = await staffSession('RECEPTIONIST', clinic.id);
    const admin = await asAdmin();
    const own = doc.user.doctor_id;

    const r1 = await createAvailability(doctorId);
    const r2 = await createAvailability(doctorId, { weekday: 2 });
    const mine = await createAvailability(own, {}, doc.access);

    // a rule id under the wrong doctor
    expectError(await del(`/api/doctors/${own}/availability/${r1.id}`, admin), 404, 'not_found');
    expectError(await del(`/api/doctors/${doctorId}/availability/${mine.id}`, admin), 404, 'not_found');

    expectStatus(await del(`/api/doctors/${doctorId}/availability/${r1.id}`, admin), 204);
    expectError(await del(`/api/doctors/${doctorId}/availability/${r1.id}`, admin), 404, 'not_found');
    expectStatus(await del(`/api/doctors/${doctorId}/availability/${r2.id}`, rec.access), 204);
    expectStatus(await del(`/api/doctors/${own}/availability/${mine.id}`, doc.access), 204);
    expectError(await del(`/api/doctors/${own}/availability/${mine.id}`, doc.access), 404, 'not_found');
    expectError(await del(`/api/doctors/${doctorId}/availability/${NOT_FOUND_ID}`, admin), 404, 'not_found');

    assert.deepEqual(await rulesOf(doctorId), []);
    assert.deepEqual(await rulesOf(own), []);
    const rows = await auditRows(`action=availability_delete&entity_id=${r1.id}`);
    assert.equal(rows.length, 1, `availability_delete audit rows for rule ${r1.id}: ${JSON.stringify(rows)}`);
  });
});

describe('unavailability', () => {
  test('create with offsets (returned in UTC), list by local days in the clinic zone, delete', async () => {
    const { doctorId } = await clinicWithDoctor({ timezone: 'America/Sao_Paulo' });
    const admin = await asAdmin();
    const day = nextWeekday(1); // a future Monday
    const next = addDays(day, 1);

    const vacation = await createUnavailability(doctorId, {
      starts_at: `${addDays(day, 7)}T00:00:00-03:00`,
      ends_at: `${addDays(day, 12)}T00:00:00-03:00`,
      reason: 'Vacation',
    });
    assert.equal(Number.isInteger(vacation.id), true, `id: ${vacation.id}`);
    assert.deepEqual(
      { doctor_id: vacation.doctor_id, starts_at: vacation.starts_at, ends_at: vacation.ends_at, reason: vacation.reason },
      { doctor_id: doctorId, starts_at: `${addDays(day, 7)}T03:00:00Z`, ends_at: `${addDays(day, 12)}T03:00:00Z`, reason: 'Vacation' },
    );
    assert.match(vacation.created_at, INSTANT);

    // Monday 22:00-23:00 local is Tuesday 01:00-02:00 UTC: it belongs to Monday in the clinic's zone.
    const late = await createUnavailability(doctorId, { starts_at: `${day}T22:00:00-03:00`, ends_at: `${day}T23:00:00-03:00` });
    assert.deepEqual([late.starts_at, late.ends_at, late.reason], [`${next}T01:00:00Z`, `${next}T02:00:00Z`, null]);
    const morning = await createUnavailability(doctorId, {
      starts_at: `${day}T12:00:00Z`,
      ends_at: `${day}T20:30:00+05:30`,
      reason: null,
    });
    assert.deepEqual([morning.starts_at, morning.ends_at, morning.reason], [`${day}T12:00:00Z`, `${day}T15:00:00Z`, null]);
    const afternoon = await createUnavailability(doctorId, {
      starts_at: `${day}T14:00:00-03:00`,
      ends_at: `${day}T23:30:00+05:30`,
      reason: 'Conference',
    });
    assert.deepEqual([afternoon.starts_at, afternoon.ends_at], [`${day}T17:00:00Z`, `${day}T18:00:00Z`]);

    const all = await blocksOf(doctorId);
    assert.deepEqual(all.map((b) => b.id), [morning.id, afternoon.id, late.id, vacation.id]);
    assert.deepEqual(all[1], afternoon);
    assert.deepEqual((await blocksOf(doctorId, `from=${day}&to=${day}`)).map((b) => b.id), [morning.id, afternoon.id, late.id]);
    assert.deepEqual((await blocksOf(doctorId, `from=${next}&to=${next}`)).map((b) => b.id), []);
    assert.deepEqual((await blocksOf(doctorId, `from=${addDays(day, 8)}&to=${addDays(day, 9)}`)).map((b) => b.id), [vacation.id]);
    assert.deepEqual((await blocksOf(doctorId, `from=${addDays(day, 1)}`)).map((b) => b.id), [vacation.id]);
    assert.deepEqual((await blocksOf(doctorId, `to=${addDays(day, 1)}`)).map((b) => b.id), [morning.id, afternoon.id, late.id]);
    expectError(await get(`/api/doctors/${doctorId}/unavailability?from=not-a-date`, admin), 400, 'invalid_query', ['from']);

    expectStatus(await del(`/api/doctors/${doctorId}/unavailability/${late.id}`, admin), 204);
    expectError(await del(`/api/doctors/${doctorId}/unavailability/${late.id}`, admin), 404, 'not_found');
    assert.deepEqual((await blocksOf(doctorId, `from=${day}&to=${day}`)).map((b) => b.id), [morning.id, afternoon.id]);

    for (const [action, id] of [
      ['unavailability_create', vacation.id],
      ['unavailability_delete', late.id],
    ]) {
      const rows = await auditRows(`action=${action}&entity_id=${id}`);
      assert.equal(rows.length, 1, `${action} audit rows for block ${id}: ${JSON.stringify(rows)}`);
    }
  });

  test('validation: ends_at after starts_at, RFC 3339 instants, span, reason', async () => {
    const { doctorId } = await clinicWithDoctor();
    const admin = await asAdmin();
    const url = `/api/doctors/${doctorId}/unavailability`;
    const day = nextWeekday(2);
    const ok = { starts_at: `${day}T12:00:00Z`, ends_at: `${day}T13:00:00Z` };

    expectError(await post(url, {}, admin), 422, 'validation_failed', ['starts_at', 'ends_at']);
    const bad = [
      [{ ends_at: ok.starts_at }, 'ends_at'],
      [{ ends_at: `${day}T11:00:00Z` }, 'ends_at'],
      // the same instant written with an offset is still not after starts_at
      [{ ends_at: `${day}T09:00:00-03:00` }, 'ends_at'],
      [{ ends_at: `${addDays(day, 367)}T12:00:00Z` }, 'ends_at'],
      [{ starts_at: `${day}T12:00:00` }, 'starts_at'],
      [{ starts_at: `${day} 12:00` }, 'starts_at'],
      [{ starts_at: 'tomorrow' }, 'starts_at'],
      [{ starts_at: `${day}T25:00:00Z` }, 'starts_at'],
      [{ starts_at: null }, 'starts_at'],
      [{ ends_at: 1234567890 }, 'ends_at'],
      [{ reason: '' }, 'reason'],
      [{ reason: 'r'.repeat(201) }, 'reason'],
      [{ reason: 7 }, 'reason'],
      [{ doctor_id: doctorId }, 'doctor_id'],
    ];
    for (const [fields, field] of bad) {
      expectError(await post(url, { ...ok, ...fields }, admin), 422, 'validation_failed', [field]);
    }
    assert.deepEqual(await blocksOf(doctorId), []);

    const long = await createUnavailability(doctorId, { starts_at: ok.starts_at, ends_at: `${addDays(day, 366)}T12:00:00Z`, reason: 'r'.repeat(200) });
    assert.equal(long.reason.length, 200);
    const short = await createUnavailability(doctorId, { starts_at: ok.starts_at, ends_at: `${day}T12:00:01Z` });
    assert.equal(short.ends_at, `${day}T12:00:01Z`);
  });

  test('roles: the doctor only for themself (403 for a colleague); another clinic is 404', async () => {
    const [clinic, other] = await Promise.all([createClinic(), createClinic()]);
    const [doc, rec, colleague, rec2, doc2] = await Promise.all([
      staffSession('DOCTOR', clinic.id),
      staffSession('RECEPTIONIST', clinic.id),
      createStaff('DOCTOR', clinic.id),
      staffSession('RECEPTIONIST', other.id),
      staffSession('DOCTOR', other.id),
    ]);
    const own = doc.user.doctor_id;
    const col = colleague.user.doctor_id;
    const day = nextWeekday(3);
    const block = (h) => ({ starts_at: `${day}T${h}:00:00Z`, ends_at: `${day}T${h}:30:00Z` });

    const mine = await createUnavailability(own, block('10'), doc.access);
    assert.equal(mine.doctor_id, own);
    const byRec = await createUnavailability(col, block('11'), rec.access);
    assert.equal(byRec.doctor_id, col);
    expectError(await post(`/api/doctors/${col}/unavailability`, block('12'), doc.access), 403, 'forbidden');
    expectError(await del(`/api/doctors/${col}/unavailability/${byRec.id}`, doc.access), 403, 'forbidden');
    assert.deepEqual((await blocksOf(col, '', doc.access)).map((b) => b.id), [byRec.id]);
    // a block id under the wrong doctor
    expectError(await del(`/api/doctors/${own}/unavailability/${byRec.id}`, rec.access), 404, 'not_found');

    for (const s of [rec2, doc2]) {
      expectError(await post(`/api/doctors/${own}/unavailability`, block('13'), s.access), 404, 'not_found');
      expectError(await get(`/api/doctors/${own}/unavailability`, s.access), 404, 'not_found');
      expectError(await del(`/api/doctors/${own}/unavailability/${mine.id}`, s.access), 404, 'not_found');
    }
    assert.deepEqual((await blocksOf(own)).map((b) => b.id), [mine.id]);
    expectStatus(await del(`/api/doctors/${own}/unavailability/${mine.id}`, doc.access), 204);
    expectStatus(await del(`/api/doctors/${col}/unavailability/${byRec.id}`, rec.access), 204);
    assert.deepEqual(await blocksOf(own), []);
    assert.deepEqual(await blocksOf(col), []);
    expectError(await get(`/api/doctors/${NOT_FOUND_ID}/unavailability`, await asAdmin()), 404, 'not_found');
  });
});

describe('free slots', () => {
  test('a Monday rule in America/Sao_Paulo gives its slots in UTC; the type filter', async () => {
    const { doctorId } = await clinicWithDoctor({ timezone: 'America/Sao_Paulo' });
    await createAvailability(doctorId, { weekday: 1, start_time: '09:00', end_time: '10:00', slot_minutes: 30, consultation_types: ['in_person'] });
    const monday = nextWeekday(1);
    const expected = [slot(`${monday}T12:00:00Z`, `${monday}T12:30:00Z`), slot(`${monday}T12:30:00Z`, `${monday}T13:00:00Z`)];

    assert.deepEqual(await slotsOf(doctorId, `from=${monday}&to=${monday}`), expected);
    assert.deepEqual(await slotsOf(doctorId, `from=${monday}&to=${monday}&type=in_person`), expected);
    assert.deepEqual(await slotsOf(doctorId, `from=${monday}&to=${monday}&type=video`), []);
    // the other days of the week have nothing; a week-long range has just the Monday
    assert.deepEqual(await slotsOf(doctorId, `from=${addDays(monday, 1)}&to=${addDays(monday, 6)}`), []);
    assert.deepEqual(await slotsOf(doctorId, `from=${addDays(monday, -3)}&to=${addDays(monday, 3)}`), expected);
    // two Mondays
    const next = addDays(monday, 7);
    assert.deepEqual(await slotsOf(doctorId, `from=${monday}&to=${next}`), [
      ...expected,
      slot(`${next}T12:00:00Z`, `${next}T12:30:00Z`),
      slot(`${next}T12:30:00Z`, `${next}T13:00:00Z`),
    ]);
  });

  test('a rule with both types gives each slot once per type, ordered by start then type', async () => {
    const { doctorId } = await clinicWithDoctor({ timezone: 'America/Sao_Paulo' });
    await createAvailability(doctorId, { weekday: 1, start_time: '09:00', end_time: '10:00', slot_minutes: 30, consultation_types: ['video', 'in_person'] });
    const monday = nextWeekday(1);
    const a = [`${monday}T12:00:00Z`, `${monday}T12:30:00Z`];
    const b = [`${monday}T12:30:00Z`, `${monday}T13:00:00Z`];
    assert.deepEqual(await slotsOf(doctorId, `from=${monday}&to=${monday}`), [
      slot(...a, 'in_person'),
      slot(...a, 'video'),
      slot(...b, 'in_person'),
      slot(...b, 'video'),
    ]);
    assert.deepEqual(await slotsOf(doctorId, `from=${monday}&to=${monday}&type=video`), [slot(...a, 'video'), slot(...b, 'video')]);
    assert.deepEqual(await slotsOf(doctorId, `from=${monday}&to=${monday}&type=in_person`), [slot(...a, 'in_person'), slot(...b, 'in_person')]);
  });

  test('slots are cut to fit before end_time; rules of several weekdays merge in order', async () => {
    const { doctorId } = await clinicWithDoctor({ timezone: 'UTC' });
    const monday = nextWeekday(1);
    const tuesday = addDays(monday, 1);
    await createAvailability(doctorId, { weekday: 2, start_time: '08:00', end_time: '08:50', slot_minutes: 20, consultation_types: ['video'] });
    await createAvailability(doctorId, { weekday: 1, start_time: '14:00', end_time: '15:10', slot_minutes: 30 });
    await createAvailability(doctorId, { weekday: 1, start_time: '09:00', end_time: '09:45', slot_minutes: 45 });
    assert.deepEqual(await slotsOf(doctorId, `from=${monday}&to=${tuesday}`), [
      slot(`${monday}T09:00:00Z`, `${monday}T09:45:00Z`),
      slot(`${monday}T14:00:00Z`, `${monday}T14:30:00Z`),
      slot(`${monday}T14:30:00Z`, `${monday}T15:00:00Z`),
      slot(`${tuesday}T08:00:00Z`, `${tuesday}T08:20:00Z`, 'video'),
      slot(`${tuesday}T08:20:00Z`, `${tuesday}T08:40:00Z`, 'video'),
    ]);
    // a range of exactly 31 days is allowed
    const month = await slotsOf(doctorId, `from=${monday}&to=${addDays(monday, 30)}`);
    assert.equal(month.filter((s) => s.consultation_type === 'in_person').length, 5 * 3);
    assert.equal(month.filter((s) => s.consultation_type === 'video').length, 5 * 2);
  });

  test('DST in America/New_York: a 09:00 rule stays at 09:00 local across both changes', async () => {
    const { doctorId } = await clinicWithDoctor({ timezone: 'America/New_York' });
    await createAvailability(doctorId, { weekday: 7, start_time: '09:00', end_time: '10:00', slot_minutes: 60 });
    // Next year's US changes (second Sunday of March, first Sunday of November): 2027-03-14 and 2027-11-07
    // when this was written.
    const year = new Date().getUTCFullYear() + 1;
    const spring = nthSunday(year, 3, 2);
    const fall = nthSunday(year, 11, 1);
    assert.equal(isoWeekday(spring), 7);
    assert.equal(isoWeekday(fall), 7);

    const springBefore = addDays(spring, -7);
    assert.deepEqual(await slotsOf(doctorId, `from=${springBefore}&to=${spring}`), [
      slot(`${springBefore}T14:00:00Z`, `${springBefore}T15:00:00Z`), // EST, UTC-5
      slot(`${spring}T13:00:00Z`, `${spring}T14:00:00Z`), // EDT, UTC-4
    ]);
    const fallBefore = addDays(fall, -7);
    assert.deepEqual(await slotsOf(doctorId, `from=${fallBefore}&to=${fall}`), [
      slot(`${fallBefore}T13:00:00Z`, `${fallBefore}T14:00:00Z`), // EDT
      slot(`${fall}T14:00:00Z`, `${fall}T15:00:00Z`), // EST
    ]);
  });

  test('an unavailability block removes exactly the slots it overlaps', async () => {
    const { doctorId } = await clinicWithDoctor({ timezone: 'America/Sao_Paulo' });
    await createAvailability(doctorId, { weekday: 1, start_time: '09:00', end_time: '10:00', slot_minutes: 30 });
    const monday = nextWeekday(1);
    const next = addDays(monday, 7);
    const all = [
      slot(`${monday}T12:00:00Z`, `${monday}T12:30:00Z`),
      slot(`${monday}T12:30:00Z`, `${monday}T13:00:00Z`),
      slot(`${next}T12:00:00Z`, `${next}T12:30:00Z`),
      slot(`${next}T12:30:00Z`, `${next}T13:00:00Z`),
    ];
    const range = `from=${monday}&to=${next}`;
    assert.deepEqual(await slotsOf(doctorId, range), all);

    // 09:30-10:00 local: the 09:00 slot only touches it and stays
    const b1 = await createUnavailability(doctorId, { starts_at: `${monday}T09:30:00-03:00`, ends_at: `${monday}T10:00:00-03:00` });
    assert.deepEqual(await slotsOf(doctorId, range), [all[0], all[2], all[3]]);
    // 09:10-09:20 local, inside the 09:00 slot of the next Monday
    const b2 = await createUnavailability(doctorId, { starts_at: `${next}T12:10:00Z`, ends_at: `${next}T12:20:00Z`, reason: 'Errand' });
    assert.deepEqual(await slotsOf(doctorId, range), [all[0], all[3]]);

    const admin = await asAdmin();
    expectStatus(await del(`/api/doctors/${doctorId}/unavailability/${b1.id}`, admin), 204);
    expectStatus(await del(`/api/doctors/${doctorId}/unavailability/${b2.id}`, admin), 204);
    assert.deepEqual(await slotsOf(doctorId, range), all);

    // a whole-day block empties the day, ending exactly at the first slot leaves it
    await createUnavailability(doctorId, { starts_at: `${monday}T00:00:00-03:00`, ends_at: `${addDays(monday, 1)}T00:00:00-03:00` });
    await createUnavailability(doctorId, { starts_at: `${next}T08:00:00-03:00`, ends_at: `${next}T09:00:00-03:00` });
    assert.deepEqual(await slotsOf(doctorId, range), [all[2], all[3]]);
  });

  test('slots that already started are not offered', async () => {
    const { doctorId } = await clinicWithDoctor({ timezone: 'UTC' });
    const today = isoDate();
    await createAvailability(doctorId, { weekday: isoWeekday(today), start_time: '00:00', end_time: '23:59', slot_minutes: 60 });
    const all = Array.from({ length: 23 }, (_, h) => {
      const hh = String(h).padStart(2, '0');
      const h1 = String(h + 1).padStart(2, '0');
      return slot(`${today}T${hh}:00:00Z`, `${today}T${h1}:00:00Z`);
    });
    const before = Date.now();
    const items = await slotsOf(doctorId, `from=${addDays(today, -1)}&to=${today}`);
    const after = Date.now();
    for (const s of items) {
      assert.equal(Date.parse(s.start_time) > before, true, `slot ${s.start_time} had started when the request was sent`);
    }
    const mustHave = all.filter((s) => Date.parse(s.start_time) > after);
    assert.deepEqual(items.slice(items.length - mustHave.length), mustHave);
    assert.deepEqual(items, all.filter((s) => items.some((i) => i.start_time === s.start_time)));
    // last week's day is entirely in the past
    assert.deepEqual(await slotsOf(doctorId, `from=${addDays(today, -7)}&to=${addDays(today, -7)}`), []);
  });

  test('bad queries are 400 invalid_query', async () => {
    const { doctorId } = await clinicWithDoctor();
    const admin = await asAdmin();
    const day = nextWeekday(1);
    const url = (q) => `/api/doctors/${doctorId}/slots${q === null ? '' : `?${q}`}`;
    const cases = [
      [null, ['from']],
      [`to=${day}`, ['from']],
      [`from=${day}`, ['to']],
      [`from=${addDays(day, 1)}&to=${day}`, null],
      [`from=${day}&to=${addDays(day, 31)}`, null],
      [`from=${day}&to=${addDays(day, 365)}`, null],
      [`from=${day}&to=${day}&type=phone`, ['type']],
      [`from=${day}&to=${day}&type=`, ['type']],
      [`from=${day}&to=${day}&type=VIDEO`, ['type']],
      [`from=2027-02-30&to=2027-03-01`, ['from']],
      [`from=2027-3-1&to=2027-03-02`, ['from']],
      [`from=${day}&to=tomorrow`, ['to']],
      [`from=${day}T00:00:00Z&to=${day}`, ['from']],
      [`from=&to=${day}`, ['from']],
    ];
    for (const [q, fields] of cases) {
      expectError(await get(url(q), admin), 400, 'invalid_query', fields || undefined);
    }
    expectStatus(await get(url(`from=${day}&to=${addDays(day, 30)}`), admin), 200);
  });

  test('scoping: another clinic is 404; patients and staff of the clinic may read', async () => {
    const [c1, c2] = await Promise.all([createClinic({ timezone: 'America/Sao_Paulo' }), createClinic()]);
    const [doctor, colleague, rec1, pat1, rec2, doc2, pat2] = await Promise.all([
      createStaff('DOCTOR', c1.id),
      staffSession('DOCTOR', c1.id),
      staffSession('RECEPTIONIST', c1.id),
      patientSession(c1.id),
      staffSession('RECEPTIONIST', c2.id),
      staffSession('DOCTOR', c2.id),
      patientSession(c2.id),
    ]);
    const id = doctor.user.doctor_id;
    await createAvailability(id, { consultation_types: ['video'] });
    const monday = nextWeekday(1);
    const q = `from=${monday}&to=${monday}`;
    const expected = [slot(`${monday}T12:00:00Z`, `${monday}T12:30:00Z`, 'video'), slot(`${monday}T12:30:00Z`, `${monday}T13:00:00Z`, 'video')];

    for (const s of [rec2, doc2, pat2]) {
      expectError(await get(`/api/doctors/${id}/slots?${q}`, s.access), 404, 'not_found');
    }
    for (const s of [pat1, rec1, colleague]) {
      assert.deepEqual(await slotsOf(id, q, s.access), expected);
    }
    assert.deepEqual(await slotsOf(id, q), expected);
    expectError(await get(`/api/doctors/${NOT_FOUND_ID}/slots?${q}`, await asAdmin()), 404, 'not_found');
    expectError(await get(`/api/doctors/${id}/slots?${q}`), 401, 'unauthorized');
  });
});
