// Query strings against the parameters each operation declares (api-server/routes.c, common/query.c):
// on every operation an unknown parameter, a repeated one and each documented parameter with a bad
// value are one 400 invalid_query naming that parameter; limits at and past their bounds; valid
// filters still filter; percent-decoding ('+', multibyte, NUL) as the server reads it.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import {
  asAdmin,
  createClinic,
  createPatient,
  createService,
  expectError,
  expectStatus,
  get,
  isoDate,
  addDays,
  openapi,
  openapiOperations,
  patientSession,
  request,
  staffSession,
  uniq,
} from '../lib/api.mjs';

const today = isoDate();

// The documented query parameters of an operation, dereferenced: [{name, required, schema}].
function queryParams(o) {
  const doc = openapi().doc;
  const deref = (x) => (x.$ref ? x.$ref.split('/').reduce((n, k) => (k === '#' ? doc : n[k]), doc) : x);
  return (o.op.parameters || [])
    .map(deref)
    .filter((p) => p.in === 'query')
    .map((p) => ({ name: p.name, required: !!p.required, schema: deref(p.schema || {}) }));
}

// A value the server accepts for p (a cursor has none without a list: null).
function goodValue(p, ctx) {
  const s = p.schema;
  if (p.name === 'cursor') return null;
  if (p.name === 'after') return '1-1';
  if (p.name === 'month') return '2027-01';
  if (p.name === 'limit') return '1';
  if (p.name === 'clinic_id') return String(ctx.clinicId);
  if (p.name === 'to' || p.name === 'end_date') return addDays(today, 1);
  if (s.enum) return s.enum[0];
  if (s.type === 'integer') return '1';
  if (s.type === 'boolean') return 'true';
  if (s.format === 'date') return today;
  return 'ab';
}

// Values the server must refuse for p, from its documented type.
function badValues(p) {
  const s = p.schema;
  if (p.name === 'cursor') return ['not-a-cursor!!', 'WzEsMl0', ''];
  if (p.name === 'after') return ['x', '1', '1-', '-1', '99999999999999999999999-1'];
  if (p.name === 'month') return ['2027-13', '1999-12', '2027-1', ''];
  if (p.name === 'limit') return [String(s.minimum - 1), String(s.maximum + 1), 'abc', '1.5', '', '+5'];
  if (s.enum) return ['nope', '', s.enum[0].toUpperCase() === s.enum[0] ? s.enum[0].toLowerCase() : s.enum[0].toUpperCase()];
  if (s.type === 'integer') return ['abc', '0', '-1', '1.5', '', ' 1', '99999999999999999999'];
  if (s.type === 'boolean') return ['maybe', '1', 'TRUE', ''];
  if (s.format === 'date') return ['2027-02-30', 'tomorrow', '27-01-01', '1899-12-31', ''];
  const out = [];
  if (s.minLength) out.push('');
  if (s.maxLength) out.push('x'.repeat(s.maxLength + 1));
  if (s.pattern) out.push('UPPER case', '', 'x'.repeat(65));
  return out;
}

// The query string giving every required parameter of o a valid value, except those in skip.
function requiredPart(o, ctx, skip = []) {
  return queryParams(o)
    .filter((p) => p.required && !skip.includes(p.name))
    .map((p) => `${p.name}=${encodeURIComponent(goodValue(p, ctx))}`);
}

const withQuery = (o, parts) => `${o.path.replace(/\{[^}]+\}/g, '1')}?${parts.join('&')}`;

describe('query parameters: one declared table per operation', () => {
  const ctx = {};
  before(async () => {
    const clinic = await createClinic();
    const [rec, doc, pat] = await Promise.all([
      staffSession('RECEPTIONIST', clinic.id),
      staffSession('DOCTOR', clinic.id),
      patientSession(clinic.id),
    ]);
    ctx.clinicId = clinic.id;
    ctx.tokens = { ADMIN: await asAdmin(), RECEPTIONIST: rec.access, DOCTOR: doc.access, PATIENT: pat.access };
  });
  const tokenFor = (o) => {
    const role = o.op['x-roles'].find((r) => ctx.tokens[r]);
    return role ? ctx.tokens[role] : undefined; // public operations need none
  };
  const send = (o, q) => request(o.method, q, { token: tokenFor(o), body: ['POST', 'PUT', 'PATCH'].includes(o.method) ? {} : undefined });

  test('every operation refuses a parameter it does not declare, naming it', async () => {
    const ops = openapiOperations();
    assert.ok(ops.length > 80, `only ${ops.length} operations`);
    for (const o of ops) {
      const r = await send(o, withQuery(o, [...requiredPart(o, ctx), 'no_such_filter=1']));
      expectError(r, 400, 'invalid_query', ['no_such_filter']);
      assert.deepEqual(Object.keys(r.body.error.fields), ['no_such_filter'], `${o.key}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.fields.no_such_filter, 'is not a known parameter');
    }
  });

  test('a misspelt filter is a 400, never a silently unfiltered list', async () => {
    const admin = ctx.tokens.ADMIN;
    for (const q of ['doctorid=1', 'Doctor_id=1', 'doctor_id =1', 'status[]=confirmed', 'limit%00=1']) {
      const r = await get(`/api/appointments?${q}`, admin);
      expectError(r, 400, 'invalid_query');
      assert.equal(Object.keys(r.body.error.fields).length, 1, `${q}: ${JSON.stringify(r.body)}`);
    }
    // every unknown name is listed at once, beside the bad values
    const r = await get('/api/appointments?a=1&b=2&limit=0&doctor_id=x', admin);
    expectError(r, 400, 'invalid_query', ['a', 'b', 'limit', 'doctor_id']);
  });

  test('each documented parameter with a bad value is a 400 naming only it', async () => {
    let checked = 0;
    for (const o of openapiOperations()) {
      for (const p of queryParams(o)) {
        for (const bad of badValues(p)) {
          const parts = [...requiredPart(o, ctx, [p.name]), `${p.name}=${encodeURIComponent(bad)}`];
          const r = await send(o, withQuery(o, parts));
          expectError(r, 400, 'invalid_query', [p.name]);
          assert.deepEqual(Object.keys(r.body.error.fields), [p.name], `${o.key} ${p.name}=${bad}: ${JSON.stringify(r.body)}`);
          checked++;
        }
      }
    }
    assert.ok(checked > 150, `only ${checked} bad values checked`);
  });

  test('each documented parameter with a value of its documented type is accepted', async () => {
    for (const o of openapiOperations()) {
      for (const p of queryParams(o)) {
        const v = goodValue(p, ctx);
        if (v === null) continue;
        const r = await send(o, withQuery(o, [...requiredPart(o, ctx, [p.name]), `${p.name}=${encodeURIComponent(v)}`]));
        // the handler may still refuse the request for its own reasons (a record not found, a rule between
        // parameters), but the parameter itself is read
        const named = r.status === 400 && r.body?.error?.fields && p.name in r.body.error.fields;
        assert.ok(!named, `${o.key} ${p.name}=${v}: ${r.status} ${JSON.stringify(r.body)}`);
      }
    }
  });

  test('a parameter given twice is a 400 naming it, even with the same valid value', async () => {
    let checked = 0;
    for (const o of openapiOperations()) {
      for (const p of queryParams(o)) {
        const v = goodValue(p, ctx);
        if (v === null) continue;
        const parts = [...requiredPart(o, ctx, [p.name]), `${p.name}=${encodeURIComponent(v)}`, `${p.name}=${encodeURIComponent(v)}`];
        const r = await send(o, withQuery(o, parts));
        expectError(r, 400, 'invalid_query', [p.name]);
        assert.equal(r.body.error.fields[p.name], 'must be given only once', `${o.key} ${p.name}`);
        checked++;
      }
    }
    assert.ok(checked > 60, `only ${checked} parameters checked`);
  });

  test('a required parameter left out is a 400 naming it', async () => {
    const admin = ctx.tokens.ADMIN;
    expectError(await get(`/api/dashboard/admin/revenue?from=${today}`, admin), 400, 'invalid_query', ['to']);
    expectError(await get('/api/closings/export.xlsx', admin), 400, 'invalid_query', ['month', 'clinic_id']);
    const r = await get(`/api/doctors/1/slots?type=video`, admin);
    expectError(r, 400, 'invalid_query', ['from', 'to']);
    assert.equal(r.body.error.fields.from, 'is required');
  });

  test('the token is checked before the query string', async () => {
    expectError(await get('/api/appointments?no_such_filter=1'), 401, 'unauthorized');
    expectError(await get('/api/audit?no_such_filter=1', ctx.tokens.RECEPTIONIST), 403, 'forbidden');
  });
});

describe('limits at and past their bounds', () => {
  test('every list with a limit refuses 0 and 201 and takes 1 and 200', async () => {
    const clinic = await createClinic();
    const admin = await asAdmin();
    for (let i = 0; i < 2; i++) await createPatient(admin, { clinic_id: clinic.id });
    const lists = openapiOperations().filter((o) => queryParams(o).some((p) => p.name === 'limit'));
    assert.ok(lists.length >= 15, `only ${lists.length} lists take a limit`);
    const doc = await staffSession('DOCTOR', clinic.id);
    const pat = await patientSession((await createClinic()).id); // elsewhere: the clinic's patients are counted below
    for (const o of lists) {
      const roles = o.op['x-roles'];
      const token = roles.includes('ADMIN') ? admin : roles.includes('DOCTOR') ? doc.access : pat.access;
      for (const bad of ['0', '201']) {
        const r = await get(withQuery(o, [`limit=${bad}`]), token);
        expectError(r, 400, 'invalid_query', ['limit']);
        assert.equal(r.body.error.fields.limit, 'must be an integer between 1 and 200');
      }
    }
    const one = expectStatus(await get(`/api/patients?clinic_id=${clinic.id}&limit=1`, admin), 200).body;
    assert.equal(one.items.length, 1);
    assert.equal(typeof one.next_cursor, 'string');
    const all = expectStatus(await get(`/api/patients?clinic_id=${clinic.id}&limit=200`, admin), 200).body;
    assert.equal(all.items.length, 2);
    assert.equal(all.next_cursor, null);
    // the next page through the cursor, which is itself checked against the list's shape
    const next = expectStatus(await get(`/api/patients?clinic_id=${clinic.id}&limit=1&cursor=${one.next_cursor}`, admin), 200).body;
    assert.equal(next.items.length, 1);
    assert.notEqual(next.items[0].id, one.items[0].id);
    expectError(await get(`/api/clinics?cursor=${one.next_cursor}`, admin), 400, 'invalid_query', ['cursor']);
    for (const path of ['/api/events', '/api/clinics', '/api/audit']) {
      expectStatus(await get(`${path}?limit=1`, admin), 200);
      expectStatus(await get(`${path}?limit=200`, admin), 200);
    }
  });
});

describe('valid filters still filter', () => {
  test('ids, enums, booleans and searches narrow the list as before', async () => {
    const admin = await asAdmin();
    const clinic = await createClinic();
    const other = await createClinic();
    const doc = await staffSession('DOCTOR', clinic.id);
    await staffSession('RECEPTIONIST', clinic.id);
    const users = expectStatus(await get(`/api/users?clinic_id=${clinic.id}&role=DOCTOR`, admin), 200).body.items;
    assert.deepEqual(users.map((u) => u.id), [doc.id]);
    const on = await createService(clinic.id);
    const off = await createService(clinic.id, { active: false });
    await createService(other.id);
    const active = expectStatus(await get(`/api/services?clinic_id=${clinic.id}&active=true`, admin), 200).body.items;
    assert.deepEqual(active.map((s) => s.id), [on.id]);
    const inactive = expectStatus(await get(`/api/services?clinic_id=${clinic.id}&active=false`, admin), 200).body.items;
    assert.deepEqual(inactive.map((s) => s.id), [off.id]);
    // '+' is a space and percent-encoded UTF-8 is read as text, as a form sends them
    const name = `Zélia Quérida ${uniq()}`;
    const p = await createPatient(admin, { clinic_id: clinic.id, full_name: name });
    await createPatient(admin, { clinic_id: clinic.id });
    const plus = name.replace(/ /g, '+').replace('é', '%C3%A9');
    const found = expectStatus(await get(`/api/patients?clinic_id=${clinic.id}&q=${plus}`, admin), 200).body.items;
    assert.deepEqual(found.map((x) => x.id), [p.id]);
    // a leading-zero id names the same record
    const zero = expectStatus(await get(`/api/users?clinic_id=00${clinic.id}&role=DOCTOR`, admin), 200).body.items;
    assert.deepEqual(zero.map((u) => u.id), [doc.id]);
    // a NUL in a value is refused, not cut
    expectError(await get(`/api/patients?q=ab%00cd`, admin), 400, 'invalid_query', ['q']);
  });
});
