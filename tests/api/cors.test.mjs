// CORS (docs/ARCHITECTURE.md §8): the test server runs with CORS_ALLOWED_ORIGINS set (scripts/test.sh). An
// allowed origin's preflight is a 204 naming the path's methods, before any token is checked; every
// answer to it (errors included) carries Access-Control-Allow-Origin, Vary and the exposed headers;
// any other origin gets no CORS header; a bad list stops the server at start-up.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
  CORS_EXPOSE_HEADERS as EXPOSE_HEADERS, DEMO_PASSWORD, asAdmin, createClinic, expectError, expectStatus, request, staffSession,
  startApi, uniq,
} from '../lib/api.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = process.env.REPO_ROOT || resolve(here, '../..');
const bin = process.env.API_BIN || resolve(repo, 'build/api-server');

const ORIGINS = (process.env.CORS_ALLOWED_ORIGINS || '').split(',').map((s) => s.trim()).filter(Boolean);
const [ORIGIN, ORIGIN2] = ORIGINS;
const ALLOW_HEADERS = ['authorization', 'content-type', 'idempotency-key', 'if-none-match', 'x-request-id'];

const list = (v) => (v || '').split(',').map((s) => s.trim()).filter(Boolean);
const lower = (v) => list(v).map((s) => s.toLowerCase());
const sorted = (a) => [...a].sort();

// Every access-control-* header of an answer.
function corsHeaders(res) {
  return [...res.headers.keys()].filter((k) => k.startsWith('access-control-'));
}

const preflight = (path, origin, method = 'POST', headers = {}) =>
  request('OPTIONS', path, { headers: { origin, 'access-control-request-method': method, ...headers } });

// What every answer to an allowed origin carries.
function expectCors(res, origin) {
  const what = `${res.method} ${res.path} -> ${res.status}`;
  assert.equal(res.headers.get('access-control-allow-origin'), origin, `${what}: Access-Control-Allow-Origin`);
  assert.ok(lower(res.headers.get('vary')).includes('origin'), `${what}: Vary is ${res.headers.get('vary')}`);
  assert.deepEqual(sorted(lower(res.headers.get('access-control-expose-headers'))), sorted(EXPOSE_HEADERS),
    `${what}: Access-Control-Expose-Headers`);
  assert.equal(res.headers.get('access-control-allow-credentials'), null, `${what}: no Allow-Credentials`);
  return res;
}

// An answer to an origin that is not listed: no CORS header at all, but still Vary: Origin.
function expectNoCors(res) {
  const what = `${res.method} ${res.path} -> ${res.status}`;
  assert.deepEqual(corsHeaders(res), [], `${what}: CORS headers sent to an origin that is not listed`);
  assert.ok(lower(res.headers.get('vary')).includes('origin'), `${what}: Vary is ${res.headers.get('vary')}`);
  return res;
}

// A 204 preflight answer for origin listing exactly methods.
function expectPreflight(res, origin, methods) {
  expectStatus(res, 204);
  expectCors(res, origin);
  assert.equal(res.text, '', `preflight of ${res.path} has a body`);
  assert.deepEqual(sorted(list(res.headers.get('access-control-allow-methods'))), sorted(methods),
    `Access-Control-Allow-Methods of ${res.path}`);
  assert.deepEqual(sorted(lower(res.headers.get('access-control-allow-headers'))), sorted(ALLOW_HEADERS));
  assert.ok(Number(res.headers.get('access-control-max-age')) > 0, `Max-Age ${res.headers.get('access-control-max-age')}`);
  return res;
}

test('CORS: the test server allows two origins', () => {
  assert.ok(ORIGINS.length >= 2 && new URL(ORIGIN).port,
    `scripts/test.sh must start the api-server with CORS_ALLOWED_ORIGINS of two origins with ports, got "${process.env.CORS_ALLOWED_ORIGINS}"`);
});

test('CORS: a preflight of POST /api/auth/login from an allowed origin is 204 with every header', async () => {
  for (const origin of [ORIGIN, ORIGIN2]) {
    const res = await preflight('/api/auth/login', origin, 'POST', { 'access-control-request-headers': 'content-type' });
    expectPreflight(res, origin, ['POST']);
    assert.equal(res.headers.get('allow'), null, 'a preflight is not a 405');
  }
  // The request's own X-Request-Id is echoed on the preflight too.
  const rid = `cors-${uniq()}`;
  const res = await preflight('/api/auth/login', ORIGIN, 'POST', { 'x-request-id': rid });
  assert.equal(res.headers.get('x-request-id'), rid);
});

test("CORS: a preflight lists the path's methods, the same as a 405's Allow", async () => {
  const cases = [
    { path: '/api/patients/1', methods: ['GET', 'PATCH'], other: 'PUT' },
    { path: '/api/clinics/1', methods: ['GET', 'PATCH', 'DELETE'], other: 'POST' },
    { path: '/api/users', methods: ['GET', 'POST'], other: 'DELETE' },
    { path: '/api/visits/1/evolution', methods: ['GET', 'PUT'], other: 'DELETE' },
    { path: '/api/doctors/me', methods: ['PATCH'], other: 'GET' },
    { path: '/healthz', methods: ['GET'], other: 'POST' },
  ];
  const admin = await asAdmin();
  for (const c of cases) {
    const res = expectPreflight(await preflight(c.path, ORIGIN, c.methods.at(-1)), ORIGIN, c.methods);
    const refused = expectError(await request(c.other, c.path, { token: admin, headers: { origin: ORIGIN } }), 405,
      'method_not_allowed');
    assert.equal(res.headers.get('access-control-allow-methods'), refused.headers.get('allow'), c.path);
    assert.equal(list(res.headers.get('access-control-allow-methods')).includes('OPTIONS'), false);
  }
  // The answer names the path's methods whatever method is asked about; the browser decides.
  expectPreflight(await preflight('/api/auth/login', ORIGIN, 'DELETE'), ORIGIN, ['POST']);
});

test('CORS: a preflight needs no token, also on routes that do', async () => {
  expectPreflight(await preflight('/api/auth/me', ORIGIN, 'GET', { 'access-control-request-headers': 'authorization' }),
    ORIGIN, ['GET']);
  expectPreflight(await preflight('/api/audit', ORIGIN, 'GET'), ORIGIN, ['GET']);
  // A bad token on the preflight changes nothing: the guard does not run.
  const res = await request('OPTIONS', '/api/clinics', {
    token: 'not-a-token',
    headers: { origin: ORIGIN, 'access-control-request-method': 'POST' },
  });
  expectPreflight(res, ORIGIN, ['GET', 'POST']);
  assert.equal(res.headers.get('www-authenticate'), null);
});

test('CORS: a sign-in from an allowed origin carries the CORS headers, X-Request-Id readable', async () => {
  const rid = `cors-${uniq()}`;
  const res = await request('POST', '/api/auth/login', {
    body: { email: 'admin@demo.clinic', password: DEMO_PASSWORD },
    headers: { origin: ORIGIN2, 'x-request-id': rid },
  });
  expectStatus(res, 200);
  expectCors(res, ORIGIN2);
  assert.equal(res.headers.get('x-request-id'), rid);
  assert.ok(lower(res.headers.get('access-control-expose-headers')).includes('x-request-id'));
  assert.equal(corsHeaders(res).includes('access-control-allow-methods'), false, 'Allow-Methods only on preflights');
  expectCors(expectStatus(await request('GET', '/api/auth/me', { token: res.body.access_token, headers: { origin: ORIGIN } }),
    200), ORIGIN);
});

test('CORS: a page may revalidate the queue board: If-None-Match allowed, ETag readable, the 304 carries CORS', async () => {
  const clinic = await createClinic();
  const desk = await staffSession('RECEPTIONIST', clinic.id);
  const pre = expectStatus(await preflight('/api/queue', ORIGIN, 'GET', {
    'access-control-request-headers': 'authorization, if-none-match',
  }), 204);
  assert.ok(lower(pre.headers.get('access-control-allow-headers')).includes('if-none-match'));
  const first = expectStatus(await request('GET', '/api/queue', { token: desk.access, headers: { origin: ORIGIN } }), 200);
  expectCors(first, ORIGIN);
  const etag = first.headers.get('etag');
  assert.ok(etag, 'the board has an ETag');
  const again = expectStatus(await request('GET', '/api/queue', {
    token: desk.access, headers: { origin: ORIGIN, 'if-none-match': etag },
  }), 304);
  expectCors(again, ORIGIN);
});

test('CORS: error answers to an allowed origin carry the CORS headers', async () => {
  const h = { origin: ORIGIN };
  const unauth = expectCors(expectError(await request('GET', '/api/auth/me', { headers: h }), 401, 'unauthorized'), ORIGIN);
  assert.match(unauth.headers.get('www-authenticate') || '', /^Bearer/);
  const expired = await request('GET', '/api/auth/me', { token: 'x.y.z', headers: h });
  expectCors(expectError(expired, 401, 'unauthorized'), ORIGIN);
  expectCors(expectError(await request('GET', `/api/nothing-${uniq()}`, { headers: h }), 404, 'not_found'), ORIGIN);
  const m = expectCors(expectError(await request('DELETE', '/api/auth/login', { headers: h }), 405, 'method_not_allowed'),
    ORIGIN);
  assert.equal(m.headers.get('allow'), 'POST');
  assert.equal(m.headers.get('access-control-allow-methods'), null);
  expectCors(expectError(await request('POST', '/api/auth/login', { body: {}, headers: h }), 422, 'validation_failed',
    ['email', 'password']), ORIGIN);
  expectCors(expectError(await request('POST', '/api/auth/login', { raw: '{"email":', headers: h }), 400,
    'malformed_json'), ORIGIN);
  expectCors(expectError(await request('POST', '/api/auth/login', { raw: '{}', headers: { ...h, 'content-type': 'text/plain' } }),
    415, 'unsupported_media_type'), ORIGIN);
  const big = `{"email":"big@tests.example.org","password":"${'x'.repeat(1100 * 1024)}"}`;
  expectCors(expectError(await request('POST', '/api/auth/login', { raw: big, headers: h }), 413, 'payload_too_large'),
    ORIGIN);
  const admin = await asAdmin();
  expectCors(expectError(await request('POST', '/api/clinics', { token: admin, body: {}, headers: h }), 422,
    'validation_failed', ['name']), ORIGIN);
});

test('CORS: origins not listed get no CORS headers, on preflights and on requests', async () => {
  const u = new URL(ORIGIN);
  const others = [
    'http://evil.test',
    'null',
    ORIGIN.toUpperCase(),
    `${u.protocol}//${u.hostname.toUpperCase()}:${u.port}`,
    `${u.protocol}//${u.hostname}:${Number(u.port) + 1}`,
    `${u.protocol}//${u.hostname}`,
    `${ORIGIN}/`,
    `${u.protocol === 'http:' ? 'https:' : 'http:'}//${u.host}`,
    `${ORIGIN}.evil.test`,
    `${ORIGIN}, ${ORIGIN2}`,
  ];
  for (const origin of others) {
    const pre = await preflight('/api/auth/login', origin);
    expectNoCors(expectError(pre, 405, 'method_not_allowed'));
    assert.equal(pre.headers.get('allow'), 'POST', origin);
    expectNoCors(expectStatus(await request('GET', '/healthz', { headers: { origin } }), 200));
    expectNoCors(expectError(await request('GET', '/api/auth/me', { headers: { origin } }), 401, 'unauthorized'));
  }
  // Without Origin (not a browser's cross-origin call) there is nothing to allow either.
  expectNoCors(expectStatus(await request('GET', '/healthz'), 200));
  expectNoCors(expectError(await request('OPTIONS', '/api/auth/login', { headers: { 'access-control-request-method': 'POST' } }),
    405, 'method_not_allowed'));
});

test('CORS: a preflight of an unknown path is the 404 envelope, without Allow-Methods', async () => {
  for (const path of [`/api/nothing-${uniq()}`, '/api/patients/abc', '/api/patients/1/nothing', '/nowhere']) {
    const res = expectError(await preflight(path, ORIGIN, 'GET'), 404, 'not_found');
    expectCors(res, ORIGIN);
    for (const h of ['access-control-allow-methods', 'access-control-allow-headers', 'access-control-max-age', 'allow'])
      assert.equal(res.headers.get(h), null, `${path}: ${h}`);
  }
});

test('CORS: OPTIONS without Access-Control-Request-Method is still a 405 with Allow', async () => {
  const plain = expectError(await request('OPTIONS', '/api/users'), 405, 'method_not_allowed');
  assert.deepEqual(sorted(list(plain.headers.get('allow'))), ['GET', 'POST']);
  assert.deepEqual(corsHeaders(plain), []);
  const fromAllowed = expectError(await request('OPTIONS', '/api/users', { headers: { origin: ORIGIN } }), 405,
    'method_not_allowed');
  assert.deepEqual(sorted(list(fromAllowed.headers.get('allow'))), ['GET', 'POST']);
  expectCors(fromAllowed, ORIGIN);
  assert.equal(fromAllowed.headers.get('access-control-allow-methods'), null);
  const empty = await request('OPTIONS', '/api/users', { headers: { origin: ORIGIN, 'access-control-request-method': '' } });
  expectError(empty, 405, 'method_not_allowed');
});

test('CORS: an api-server without CORS_ALLOWED_ORIGINS answers no origin, and sends no Vary', async (t) => {
  const api = await startApi({ CORS_ALLOWED_ORIGINS: '' });
  t.after(() => api.stop());
  const pre = await fetch(`${api.url}/api/auth/login`, {
    method: 'OPTIONS',
    headers: { origin: ORIGIN, 'access-control-request-method': 'POST' },
  });
  assert.equal(pre.status, 405);
  assert.equal(pre.headers.get('allow'), 'POST');
  const get = await fetch(`${api.url}/healthz`, { headers: { origin: ORIGIN } });
  assert.equal(get.status, 200);
  for (const res of [pre, get]) {
    assert.deepEqual(corsHeaders(res), []);
    assert.equal(res.headers.get('vary'), null);
  }
});

test('CORS: a bad CORS_ALLOWED_ORIGINS stops the api-server at start-up, naming the variable', () => {
  const bad = ['http://localhost:5173/', 'null', 'localhost:5173', 'HTTP://localhost:5173', 'ftp://files.test',
    'http://localhost:99999', '*', `http://localhost:5173,http://console.test/app`];
  for (const value of bad) {
    const r = spawnSync(bin, ['serve'], {
      env: { ...process.env, API_LISTEN: '127.0.0.1:1', CORS_ALLOWED_ORIGINS: value },
      encoding: 'utf8',
      timeout: 20000,
    });
    const out = `${r.stdout}${r.stderr}`;
    assert.equal(r.status, 2, `${value}: ${out}`);
    assert.match(out, /configuration error: CORS_ALLOWED_ORIGINS=/, `${value}: ${out}`);
  }
});
