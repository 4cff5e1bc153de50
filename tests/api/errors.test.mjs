// Error envelope, protocol errors (400/404/405/413/415/422/409), X-Request-Id, list query
// validation (also of query values that are not UTF-8, on every list) and the health endpoints.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  asAdmin,
  createClinic,
  createPatient,
  createStaff,
  expectError,
  expectStatus,
  get,
  openapiOperations,
  patientSession,
  post,
  request,
  staffSession,
  uniq,
} from '../lib/api.mjs';

const MiB = 1024 * 1024;

function bigLoginJson(totalBytes) {
  const head = '{"email":"big@tests.example.org","password":"';
  const tail = '"}';
  return head + 'x'.repeat(totalBytes - head.length - tail.length) + tail;
}

describe('health', () => {
  test('/healthz is 200 ok', async () => {
    const res = expectStatus(await get('/healthz'), 200);
    assert.deepEqual(res.body, { status: 'ok' });
  });
  test('/readyz is 200 ready', async () => {
    const res = expectStatus(await get('/readyz'), 200);
    assert.deepEqual(res.body, { status: 'ready' });
  });
});

describe('routing errors', () => {
  test('unknown path is 404 with the envelope', async () => {
    expectError(await get(`/api/no-such-thing-${uniq()}`), 404, 'not_found');
    expectError(await get(`/api/no-such-thing-${uniq()}`, await asAdmin()), 404, 'not_found');
    expectError(await post('/api/patients/1/nothing-here', {}, await asAdmin()), 404, 'not_found');
    expectError(await get('/no-prefix-here'), 404, 'not_found');
  });

  test('known path with another method is 405 with Allow', async () => {
    const admin = await asAdmin();
    const cases = [
      { method: 'DELETE', path: '/api/auth/login', allow: ['POST'] },
      { method: 'GET', path: '/api/auth/refresh', allow: ['POST'] },
      { method: 'PUT', path: '/api/patients', allow: ['GET', 'POST'] },
      { method: 'DELETE', path: '/api/users', allow: ['GET', 'POST'] },
      { method: 'POST', path: '/api/audit', allow: ['GET'] },
    ];
    for (const c of cases) {
      const res = expectError(await request(c.method, c.path, { token: admin }), 405, 'method_not_allowed');
      const allow = (res.headers.get('allow') || '')
        .split(',')
        .map((s) => s.trim().toUpperCase())
        .filter(Boolean);
      for (const m of c.allow) {
        assert.equal(allow.includes(m), true, `${c.method} ${c.path}: Allow ${JSON.stringify(allow)} lacks ${m}`);
      }
      assert.equal(allow.includes(c.method), false, `${c.method} ${c.path}: Allow ${JSON.stringify(allow)} lists the refused method`);
    }
  });
});

describe('request bodies', () => {
  test('malformed JSON is 400 malformed_json', async () => {
    expectError(await request('POST', '/api/auth/login', { raw: '{"email":' }), 400, 'malformed_json');
    expectError(await request('POST', '/api/auth/login', { raw: '{"email": "a@b.co", "password": "x",}' }), 400, 'malformed_json');
    expectError(await request('POST', '/api/patients', { raw: 'not json', token: await asAdmin() }), 400, 'malformed_json');
  });

  test('JSON that is not an object is 400 malformed_json', async () => {
    for (const raw of ['[]', '[{"email":"a@b.co","password":"demo-password"}]', '"text"', '42', 'null']) {
      expectError(await request('POST', '/api/auth/login', { raw }), 400, 'malformed_json');
    }
    expectError(await request('POST', '/api/clinics', { raw: '[1,2]', token: await asAdmin() }), 400, 'malformed_json');
  });

  test('a Content-Type other than application/json is 415', async () => {
    const raw = JSON.stringify({ email: 'admin@demo.clinic', password: 'demo-password' });
    expectError(await request('POST', '/api/auth/login', { raw, headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
    expectError(
      await request('POST', '/api/auth/login', { raw: 'email=a&password=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
      415,
      'unsupported_media_type',
    );
    const clinic = await createClinic();
    expectError(
      await request('PATCH', `/api/clinics/${clinic.id}`, {
        raw: JSON.stringify({ name: 'x' }),
        token: await asAdmin(),
        headers: { 'content-type': 'text/html' },
      }),
      415,
      'unsupported_media_type',
    );
    // charset parameter is fine
    expectStatus(
      await request('POST', '/api/auth/login', { raw, headers: { 'content-type': 'application/json; charset=utf-8' } }),
      200,
    );
  });

  test('routes that take no body ignore one, but refuse one that is not JSON (415) or not an object (400)', async () => {
    const admin = await asAdmin();
    const clinic = await createClinic();
    const staff = await createStaff('RECEPTIONIST', clinic.id);
    for (const path of [`/api/users/${staff.id}/deactivate`, '/api/appointments/2147483000/no-show', '/api/auth/logout-all']) {
      expectError(await request('POST', path, { raw: 'x', token: admin, headers: { 'content-type': 'text/plain' } }), 415,
        'unsupported_media_type');
      expectError(await request('POST', path, { raw: '[1]', token: admin }), 400, 'malformed_json');
    }
    const done = expectStatus(await request('POST', `/api/users/${staff.id}/deactivate`, { body: { ignored: true }, token: admin }), 200);
    assert.equal(done.body.active, false);
  });

  test('body over 1 MiB with Content-Length is 413', async () => {
    const raw = bigLoginJson(Math.floor(1.1 * MiB));
    expectError(await request('POST', '/api/auth/login', { raw }), 413, 'payload_too_large');
  });

  test('chunked body over 1 MiB without Content-Length is 413', async () => {
    const bytes = new TextEncoder().encode(bigLoginJson(Math.floor(1.1 * MiB)));
    const chunk = 64 * 1024;
    let offset = 0;
    const stream = new ReadableStream({
      pull(controller) {
        if (offset >= bytes.length) {
          controller.close();
          return;
        }
        controller.enqueue(bytes.subarray(offset, offset + chunk));
        offset += chunk;
      },
    });
    expectError(await request('POST', '/api/auth/login', { raw: stream }), 413, 'payload_too_large');
  });

  test('a body just under the limit is not 413', async () => {
    const raw = bigLoginJson(MiB - 1024);
    const res = await request('POST', '/api/auth/login', { raw });
    assert.notEqual(res.status, 413, `a ${raw.length}-byte body was refused as too large`);
  });

  test('422 lists every bad field at once', async () => {
    const clinic = await createClinic();
    const res = await post(
      '/api/patients',
      {
        clinic_id: clinic.id,
        full_name: '',
        cpf: '12345678900',
        email: 'not-an-email',
        birth_date: '2999-01-01',
        sex: 'X',
        phone: '12',
      },
      await asAdmin(),
    );
    expectError(res, 422, 'validation_failed', ['full_name', 'cpf', 'email', 'birth_date', 'sex', 'phone']);
    for (const [k, v] of Object.entries(res.body.error.fields)) {
      assert.equal(typeof v, 'string', `fields.${k} must be a string reason, got ${JSON.stringify(v)}`);
    }
  });

  test('unknown fields are rejected with 422', async () => {
    const clinic = await createClinic();
    const res = await post('/api/patients', { clinic_id: clinic.id, full_name: 'Known Field', favourite_colour: 'blue' }, await asAdmin());
    expectError(res, 422, 'validation_failed', ['favourite_colour']);
    expectError(await post('/api/auth/login', { email: 'admin@demo.clinic', password: 'demo-password', extra: 1 }), 422, 'validation_failed', [
      'extra',
    ]);
  });

  test('wrong JSON types are 422', async () => {
    const res = await post('/api/clinics', { name: 42, timezone: true }, await asAdmin());
    expectError(res, 422, 'validation_failed', ['name', 'timezone']);
  });

  test('unique violation is 409 conflict naming the field', async () => {
    const clinic = await createClinic();
    const s = await createStaff('RECEPTIONIST', clinic.id);
    const res = await post(
      '/api/users',
      { email: s.email, password: 'another-password', full_name: 'Dup', role: 'RECEPTIONIST', clinic_id: clinic.id },
      await asAdmin(),
    );
    expectError(res, 409, 'conflict');
    assert.match(res.body.error.message, /e-?mail/i);
  });
});

describe('X-Request-Id', () => {
  test('present on every kind of response', async () => {
    const responses = [
      await get('/healthz'),
      await get('/api/auth/me'),
      await get(`/api/nothing-${uniq()}`),
      await request('DELETE', '/api/auth/login'),
      await request('POST', '/api/auth/login', { raw: '{' }),
      await post('/api/auth/logout', { refresh_token: 'x' }),
    ];
    for (const r of responses) {
      const id = r.headers.get('x-request-id');
      assert.match(id ?? '(missing)', /^[A-Za-z0-9._-]{1,64}$/, `${r.method} ${r.path} -> ${r.status}: X-Request-Id ${id}`);
    }
  });

  test('a valid incoming id is echoed', async () => {
    for (const id of ['abc', 'Req-1.2_3', 'x'.repeat(64), uniq()]) {
      const ok = await request('GET', '/healthz', { headers: { 'x-request-id': id } });
      assert.equal(ok.headers.get('x-request-id'), id);
      const err = await request('GET', `/api/missing-${uniq()}`, { headers: { 'x-request-id': id } });
      assert.equal(err.headers.get('x-request-id'), id);
      const unauth = await request('GET', '/api/auth/me', { headers: { 'x-request-id': id } });
      assert.equal(unauth.headers.get('x-request-id'), id);
    }
  });

  test('an invalid incoming id is replaced by a new 32-hex id', async () => {
    for (const id of ['has space', 'x'.repeat(65), 'semi;colon', 'slash/slash', '%41bc']) {
      const res = await request('GET', '/healthz', { headers: { 'x-request-id': id } });
      const got = res.headers.get('x-request-id');
      assert.notEqual(got, id);
      assert.match(got ?? '(missing)', /^[0-9a-fA-F]{32}$/);
    }
  });

  test('ids generated by the server differ between requests', async () => {
    const a = (await get('/healthz')).headers.get('x-request-id');
    const b = (await get('/healthz')).headers.get('x-request-id');
    assert.notEqual(a, b);
    assert.match(a, /^[0-9a-fA-F]{32}$/);
  });
});

describe('list query parameters', () => {
  test('bad limit or cursor is 400 invalid_query', async () => {
    const admin = await asAdmin();
    for (const q of ['limit=abc', 'limit=0', 'limit=201', 'limit=-1', 'limit=1.5']) {
      expectError(await get(`/api/patients?${q}`, admin), 400, 'invalid_query', ['limit']);
    }
    for (const q of ['cursor=not-a-cursor!!', 'cursor=%00%01']) {
      expectError(await get(`/api/patients?${q}`, admin), 400, 'invalid_query', ['cursor']);
    }
    expectError(await get('/api/users?limit=abc', admin), 400, 'invalid_query', ['limit']);
    expectError(await get('/api/clinics?limit=1000', admin), 400, 'invalid_query', ['limit']);
    expectError(await get('/api/audit?limit=x', admin), 400, 'invalid_query', ['limit']);
    expectError(await get('/api/users?active=maybe', admin), 400, 'invalid_query', ['active']);
  });

  test('limit bounds 1 and 200 are accepted', async () => {
    const admin = await asAdmin();
    const one = expectStatus(await get('/api/clinics?limit=1', admin), 200);
    assert.equal(one.body.items.length <= 1, true, `limit=1 returned ${one.body.items.length} items`);
    expectStatus(await get('/api/clinics?limit=200', admin), 200);
  });
});

describe('query values that are not UTF-8', () => {
  test('every list answers 400 invalid_query naming the parameter, never a silently missing filter', async () => {
    const clinic = await createClinic();
    const [rec, doc, pat] = await Promise.all([
      staffSession('RECEPTIONIST', clinic.id), staffSession('DOCTOR', clinic.id), patientSession(clinic.id),
    ]);
    const tokens = { ADMIN: await asAdmin(), RECEPTIONIST: rec.access, DOCTOR: doc.access, PATIENT: pat.access };
    const lists = openapiOperations().filter((o) => {
      if (o.method !== 'GET') return false;
      const schema = o.op.responses?.['200']?.content?.['application/json']?.schema?.$ref ?? '';
      return /List$/.test(schema) || (o.op.parameters || []).some((p) => (p.$ref || '').endsWith('/Limit'));
    });
    assert.ok(lists.length >= 20, `only ${lists.length} list operations found`);
    for (const o of lists) {
      const role = o.op['x-roles'].find((r) => tokens[r]);
      const path = o.path.replace(/\{[^}]+\}/g, '1');
      // a valid limit where the list takes one; the required parameters (left out) are named too
      const params = (o.op.parameters || []).map((p) => p.$ref?.split('/').pop() ?? p.name);
      const required = (o.op.parameters || []).filter((p) => p.required && p.in === 'query').map((p) => p.name);
      const r = await get(`${path}?q=%FF${params.includes('Limit') ? '&limit=1' : ''}`, tokens[role]);
      expectError(r, 400, 'invalid_query', ['q']);
      assert.deepEqual(Object.keys(r.body.error.fields).sort(), ['q', ...required].sort(), `${o.key}: ${JSON.stringify(r.body)}`);
    }
    // a known filter, a name that is not UTF-8 itself, an overlong encoding, a lone continuation byte
    const admin = tokens.ADMIN;
    expectError(await get(`/api/patients?clinic_id=${clinic.id}&q=ok&active=%C0%AF`, admin), 400, 'invalid_query', ['active']);
    expectError(await get('/api/users?%FF=1', admin), 400, 'invalid_query', ['%FF']);
    expectError(await get('/api/audit?action=%80', admin), 400, 'invalid_query', ['action']);
    // valid multibyte values, and a '%' that encodes nothing, are read as before
    const p = await createPatient(admin, { clinic_id: clinic.id, full_name: `Élodie ${uniq()}` });
    const found = expectStatus(await get(`/api/patients?clinic_id=${clinic.id}&q=%C3%89lodie`, admin), 200).body.items;
    assert.deepEqual(found.map((x) => x.id), [p.id]);
    assert.deepEqual(expectStatus(await get(`/api/patients?clinic_id=${clinic.id}&q=100%`, admin), 200).body.items, []);
  });
});
