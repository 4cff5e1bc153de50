// HTTP client and fixtures for the black-box API tests.
//
// Every JSON response is validated against ../../openapi.yaml (env OPENAPI_FILE overrides the
// path): the operation is found by method + path template, then the response schema for the
// status code (or `default`). A status the operation does not list fails the test, whatever the
// body, except 429 and 503, which any operation may answer. Responses to unknown paths and 405s
// validate against components/schemas/Error. A response that does not validate throws an AssertionError that lists
// the ajv errors. A CORS preflight's 204 (an allowed origin's OPTIONS) belongs to no operation:
// openapi.yaml describes it once for every path (info "Browsers (CORS)", responses/CorsPreflight),
// and it has no body to validate; its 404 and 405 answers are the Error envelope like any other.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

export const API_URL = (process.env.API_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
export const DEMO_PASSWORD = 'demo-password';
export const ROLES = ['ADMIN', 'RECEPTIONIST', 'DOCTOR', 'PATIENT'];
export const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
// The response headers both servers let a page of an allowed origin read (Access-Control-Expose-Headers), lower case.
export const CORS_EXPOSE_HEADERS = ['x-request-id', 'idempotent-replayed', 'location', 'retry-after',
  'content-disposition', 'www-authenticate', 'etag'];

const here = dirname(fileURLToPath(import.meta.url));
export const OPENAPI_FILE = process.env.OPENAPI_FILE || resolve(here, '../../openapi.yaml');

const REQUEST_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

// ---------------------------------------------------------------------------------------------
// OpenAPI document, operations and schema validation
// ---------------------------------------------------------------------------------------------

const DOC_ID = 'openapi.json';
let spec = null; // { doc, ajv, ops, basePath, cache }

function escapePointerSegment(s) {
  return encodeURIComponent(String(s).replace(/~/g, '~0').replace(/\//g, '~1'));
}

function pointer(segments) {
  return '#/' + segments.map(escapePointerSegment).join('/');
}

// Follows a local `$ref: '#/...'` (response objects may be refs to components/responses).
function deref(doc, node, segments) {
  const seen = new Set();
  while (node && typeof node === 'object' && typeof node.$ref === 'string') {
    const ref = node.$ref;
    assert.ok(ref.startsWith('#/'), `openapi.yaml: only local $refs are supported, got ${ref}`);
    assert.ok(!seen.has(ref), `openapi.yaml: $ref cycle at ${ref}`);
    seen.add(ref);
    segments = ref
      .slice(2)
      .split('/')
      .map((s) => decodeURIComponent(s).replace(/~1/g, '/').replace(/~0/g, '~'));
    node = segments.reduce((n, k) => (n == null ? undefined : n[k]), doc);
    assert.notEqual(node, undefined, `openapi.yaml: $ref ${ref} points nowhere`);
  }
  return { node, segments };
}

function serverBasePath(doc) {
  const url = doc.servers?.[0]?.url;
  if (!url || typeof url !== 'string') return '';
  let p;
  try {
    p = new URL(url, 'http://placeholder').pathname;
  } catch {
    return '';
  }
  return p === '/' ? '' : p.replace(/\/+$/, '');
}

function templateSegments(template) {
  return template
    .split('/')
    .filter((s) => s !== '')
    .map((s) => (/^\{[^}]+\}$/.test(s) ? null : s)); // null = parameter
}

// Loads and compiles openapi.yaml once.
export function openapi() {
  if (spec) return spec;
  let text;
  try {
    text = readFileSync(OPENAPI_FILE, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${OPENAPI_FILE}: ${e.message}`);
  }
  const doc = YAML.parse(text);
  assert.equal(typeof doc?.paths, 'object', `${OPENAPI_FILE} has no paths object`);
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false, logger: false });
  addFormats(ajv);
  for (const f of ['int32', 'int64', 'float', 'double', 'byte', 'binary', 'password']) {
    if (!ajv.formats[f]) ajv.addFormat(f, true);
  }
  ajv.addSchema(doc, DOC_ID);

  const basePath = serverBasePath(doc);
  const ops = [];
  const templates = [];
  for (const [p, item0] of Object.entries(doc.paths)) {
    const { node: item, segments: itemSegs } = deref(doc, item0, ['paths', p]);
    const full = basePath && !p.startsWith(basePath + '/') && p !== basePath ? basePath + p : p;
    const segs = templateSegments(full);
    const tpl = { template: full, docPath: p, segs, methods: {} };
    templates.push(tpl);
    for (const m of METHODS) {
      if (!item?.[m]) continue;
      const op = { method: m.toUpperCase(), path: full, docPath: p, op: item[m], itemSegs: [...itemSegs, m] };
      tpl.methods[op.method] = op;
      ops.push(op);
    }
  }
  spec = { doc, ajv, ops, templates, basePath, cache: new Map() };
  return spec;
}

// `GET /api/patients/{id}` -> `GET /api/patients/{}` (parameter names do not matter).
export function operationKey(method, template) {
  return `${method.toUpperCase()} ${template.replace(/\{[^}]*\}/g, '{}')}`;
}

// Every operation of openapi.yaml: [{method, path, key, op}]
export function openapiOperations() {
  return openapi().ops.map((o) => ({ method: o.method, path: o.path, key: operationKey(o.method, o.path), op: o.op }));
}

// Compares two templates matching the same concrete path: literal segments win, left to right.
function moreSpecific(a, b) {
  for (let i = 0; i < a.segs.length; i++) {
    const la = a.segs[i] !== null;
    const lb = b.segs[i] !== null;
    if (la !== lb) return la ? -1 : 1;
  }
  return 0;
}

function matchTemplates(concretePath) {
  const parts = concretePath.split('/').filter((s) => s !== '');
  return openapi()
    .templates.filter(
      (t) => t.segs.length === parts.length && t.segs.every((s, i) => s === null || s === decodeURIComponentSafe(parts[i])),
    )
    .sort(moreSpecific);
}

function decodeURIComponentSafe(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

// Finds the operation for method + concrete path. As in OpenAPI (and the server, whose path ids
// are numbers), a path written with literal segments is matched before a template: GET
// /api/doctors/me is the path /api/doctors/me, which has no GET (a 405), not GET
// /api/doctors/{id}. Returns {op, known} where known says whether any template matches the path.
export function findOperation(method, concretePath) {
  const matches = matchTemplates(concretePath);
  for (const t of matches.filter((m) => moreSpecific(m, matches[0]) === 0)) {
    const op = t.methods[method.toUpperCase()];
    if (op) return { op, known: true };
  }
  return { op: null, known: matches.length > 0 };
}

function validatorFor(ref) {
  const s = openapi();
  let v = s.cache.get(ref);
  if (!v) {
    try {
      v = s.ajv.compile({ $ref: DOC_ID + ref });
    } catch (e) {
      throw new Error(`openapi.yaml: cannot compile schema ${ref}: ${e.message}`);
    }
    s.cache.set(ref, v);
  }
  return v;
}

function errorSchemaRef() {
  const s = openapi();
  assert.ok(s.doc.components?.schemas?.Error, 'openapi.yaml has no components/schemas/Error');
  return pointer(['components', 'schemas', 'Error']);
}

function jsonContentSchemaSegments(doc, responseSegs, response) {
  const content = response?.content;
  if (!content || typeof content !== 'object') return null;
  const key =
    Object.keys(content).find((k) => k.toLowerCase().split(';')[0].trim() === 'application/json') ||
    Object.keys(content).find((k) => /json/i.test(k));
  if (!key || !content[key]?.schema) return null;
  return [...responseSegs, 'content', key, 'schema'];
}

// Statuses any operation may answer without listing them (openapi.yaml, "Limits under load"): 429
// too_many_requests and 503 service_unavailable. Any other status an operation does not list fails.
const GLOBAL_STATUSES = new Set([429, 503]);

// The key of responses documenting status for the operation of method + concrete path (the code,
// its range such as 4XX, or default); null when the path has no such operation (404/405 answers);
// throws when the operation lists no such response and status is not one of GLOBAL_STATUSES.
export function documentedStatus(method, concretePath, status) {
  const { op } = findOperation(method, concretePath);
  if (!op) return null;
  const responses = op.op.responses || {};
  const code = String(status);
  const range = `${code[0]}XX`;
  const key = [code, range, range.toLowerCase(), 'default'].find((k) => responses[k] !== undefined);
  if (key === undefined && !GLOBAL_STATUSES.has(status)) {
    assert.fail(`openapi.yaml documents no ${code} response for ${op.method} ${op.docPath} (${method} ${concretePath})`);
  }
  return key ?? null;
}

// Returns {ref, where} of the schema the response must satisfy, or throws when openapi.yaml does
// not document a JSON body for this response.
function responseSchemaRef(method, concretePath, status) {
  const s = openapi();
  const { op, known } = findOperation(method, concretePath);
  if (!op) {
    // Unknown path (404) or known path with another method (405): the error envelope.
    return { ref: errorSchemaRef(), where: known ? `Error (no ${method} on this path)` : 'Error (unknown path)' };
  }
  const responses = op.op.responses || {};
  const code = String(status);
  const range = `${code[0]}XX`;
  const key = [code, range, range.toLowerCase(), 'default'].find((k) => responses[k] !== undefined);
  const where = `${op.method} ${op.docPath}`;
  if (key === undefined) {
    if (GLOBAL_STATUSES.has(status)) return { ref: errorSchemaRef(), where: `Error (${code}, which any operation may answer)` };
    assert.fail(`openapi.yaml documents no ${code} response for ${where}`);
  }
  const { node: response, segments } = deref(s.doc, responses[key], [...op.itemSegs, 'responses', key]);
  const schemaSegs = jsonContentSchemaSegments(s.doc, segments, response);
  if (!schemaSegs) {
    if (status >= 400) return { ref: errorSchemaRef(), where: `Error (no JSON schema for ${code} of ${where})` };
    assert.fail(`openapi.yaml documents no JSON body for the ${code} response of ${where}, but the server sent one`);
  }
  return { ref: pointer(schemaSegs), where: `${where} -> ${key}` };
}

// Throws an AssertionError when body does not match the documented schema.
export function validateResponse(method, concretePath, status, body) {
  const { ref, where } = responseSchemaRef(method, concretePath, status);
  const validate = validatorFor(ref);
  if (!validate(body)) {
    throw new assert.AssertionError({
      message:
        `response to ${method} ${concretePath} (status ${status}) does not match openapi.yaml ${where}:\n` +
        JSON.stringify(validate.errors, null, 2) +
        `\nbody: ${JSON.stringify(body)}`,
      actual: body,
      expected: ref,
      operator: 'openapi',
    });
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

function isStream(x) {
  return x != null && typeof x === 'object' && typeof x.getReader === 'function';
}

/**
 * request(method, path, {token, body, headers, raw, validate})
 *  - body: serialised as JSON with Content-Type application/json.
 *  - raw: sent as is (string, Buffer or ReadableStream); Content-Type defaults to application/json
 *    unless headers set one (a header value of null removes it).
 *  - validate: false skips the openapi check (never used by the tests for JSON responses).
 *  - base: another server's URL (default API_URL), e.g. one started with startApi.
 * Returns {status, headers, body, text, method, path}; body is parsed JSON when the content type is
 * JSON, else the text ('' for empty bodies).
 */
export async function request(method, path, opts = {}) {
  const { token, body, raw, validate = true } = opts;
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let payload;
  if (raw !== undefined) {
    payload = raw;
    headers['content-type'] = 'application/json';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  for (const [k, v] of Object.entries(opts.headers || {})) {
    if (v === null || v === undefined) delete headers[k.toLowerCase()];
    else headers[k.toLowerCase()] = String(v);
  }
  const init = { method, headers, redirect: 'manual' };
  if (payload !== undefined) init.body = payload;
  if (isStream(payload)) init.duplex = 'half';

  const res = await fetch((opts.base || API_URL) + path, init);
  const text = await res.text();
  const ctype = res.headers.get('content-type') || '';
  let parsed = text;
  const isJson = /\bjson\b/i.test(ctype) && text !== '';
  if (isJson) {
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      assert.fail(`${method} ${path} -> ${res.status}: Content-Type is ${ctype} but the body is not JSON (${e.message}): ${text.slice(0, 300)}`);
    }
  }
  const out = { status: res.status, headers: res.headers, body: parsed, text, method, path };

  const rid = res.headers.get('x-request-id');
  assert.match(rid ?? '(missing)', REQUEST_ID_RE, `${method} ${path} -> ${res.status}: X-Request-Id missing or malformed: ${rid}`);

  if (validate) {
    const concrete = path.split('?')[0].split('#')[0];
    documentedStatus(method, concrete, res.status);
    if (isJson) validateResponse(method, concrete, res.status, parsed);
  }
  return out;
}

function describe(res) {
  const b = typeof res.body === 'string' ? res.body.slice(0, 500) : JSON.stringify(res.body);
  return `${res.method} ${res.path} -> ${res.status} ${b}`;
}

// Asserts the status (one value or a list); the message shows expected and actual.
export function expectStatus(res, expected) {
  const list = Array.isArray(expected) ? expected : [expected];
  if (!list.includes(res.status)) {
    throw new assert.AssertionError({
      message: `expected status ${list.join(' or ')}, got ${res.status}: ${describe(res)}`,
      actual: res.status,
      expected: list.length === 1 ? list[0] : list,
      operator: 'status',
    });
  }
  return res;
}

// Asserts an error envelope with status and code; fieldNames (optional) must all be in fields.
export function expectError(res, status, code, fieldNames) {
  expectStatus(res, status);
  const got = res.body?.error?.code;
  const codes = Array.isArray(code) ? code : [code];
  if (!codes.includes(got)) {
    throw new assert.AssertionError({
      message: `expected error code ${codes.join(' or ')}, got ${got}: ${describe(res)}`,
      actual: got,
      expected: code,
      operator: 'error.code',
    });
  }
  assert.equal(typeof res.body.error.message, 'string', `error.message is not a string: ${describe(res)}`);
  if (fieldNames) {
    const fields = res.body.error.fields || {};
    const missing = fieldNames.filter((f) => !(f in fields));
    if (missing.length) {
      throw new assert.AssertionError({
        message: `expected error.fields to name ${fieldNames.join(', ')}; missing ${missing.join(', ')}: ${describe(res)}`,
        actual: Object.keys(fields),
        expected: fieldNames,
        operator: 'error.fields',
      });
    }
  }
  return res;
}

export const get = (path, token, opts = {}) => request('GET', path, { ...opts, token });
export const post = (path, body, token, opts = {}) => request('POST', path, { ...opts, body, token });
export const patch = (path, body, token, opts = {}) => request('PATCH', path, { ...opts, body, token });
export const del = (path, token, opts = {}) => request('DELETE', path, { ...opts, token });

// Follows next_cursor with limit=200 and returns every item.
export async function listAll(path, token) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < 200; page++) {
    const sep = path.includes('?') ? '&' : '?';
    const url = `${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const res = expectStatus(await get(url, token), 200);
    items.push(...res.body.items);
    cursor = res.body.next_cursor;
    if (!cursor) return items;
  }
  assert.fail(`listAll(${path}): more than 200 pages`);
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

let counter = 0;
// A short unique lower-case suffix for fresh e-mails and names.
export function uniq() {
  counter += 1;
  return `${Date.now().toString(36)}${process.pid.toString(36)}${counter.toString(36)}${randomBytes(3).toString('hex')}`;
}

export function freshEmail(prefix = 'user') {
  return `${prefix}.${uniq()}@tests.example.org`;
}

// A random CPF with valid check digits (11 digits, not all equal).
export function cpf() {
  for (;;) {
    const d = Array.from(randomBytes(9), (b) => b % 10);
    if (d.every((x) => x === d[0])) continue;
    const check = (digits) => {
      const n = digits.length + 1;
      const sum = digits.reduce((acc, x, i) => acc + x * (n - i), 0);
      const r = (sum * 10) % 11;
      return r === 10 ? 0 : r;
    };
    d.push(check(d));
    d.push(check(d));
    return d.join('');
  }
}

export function formatCpf(digits) {
  return `${digits.slice(0, 3)}.${digits.slice(3, 6)}.${digits.slice(6, 9)}-${digits.slice(9)}`;
}

// A CPF whose last check digit is wrong.
export function badCpf() {
  const c = cpf();
  return c.slice(0, 10) + String((Number(c[10]) + 1) % 10);
}

// Logs in and returns the TokenPair body (asserts 200).
export async function login(email, password = DEMO_PASSWORD) {
  const res = await post('/api/auth/login', { email, password });
  expectStatus(res, 200);
  return res.body;
}

let adminPromise = null;
// Access token of the demo admin (logged in once per test file).
export function asAdmin() {
  if (!adminPromise) {
    adminPromise = login('admin@demo.clinic').then((t) => t.access_token);
    adminPromise.catch(() => {
      adminPromise = null;
    });
  }
  return adminPromise;
}

// Creates a clinic as the demo admin; returns the Clinic.
export async function createClinic(fields = {}) {
  const res = await post('/api/clinics', { name: `Clinic ${uniq()}`, timezone: 'America/Sao_Paulo', ...fields }, await asAdmin());
  expectStatus(res, 201);
  return res.body;
}

// Creates a staff user (ADMIN, RECEPTIONIST or DOCTOR) as the demo admin.
// Returns {user, id, email, password}.
export async function createStaff(role, clinicId, fields = {}) {
  const email = fields.email || freshEmail(role.toLowerCase());
  const password = fields.password || `pw-${uniq()}`;
  const body = { email, password, full_name: `${role[0]}${role.slice(1).toLowerCase()} ${uniq()}`, role, ...fields };
  if (role !== 'ADMIN' && clinicId !== undefined && body.clinic_id === undefined) body.clinic_id = clinicId;
  const res = await post('/api/users', body, await asAdmin());
  expectStatus(res, 201);
  return { user: res.body, id: res.body.id, email, password };
}

// createStaff + login: adds {access, refresh, tokens}.
export async function staffSession(role, clinicId, fields = {}) {
  const s = await createStaff(role, clinicId, fields);
  const tokens = await login(s.email, s.password);
  return { ...s, tokens, access: tokens.access_token, refresh: tokens.refresh_token };
}

// Creates a patient with token (admins must pass clinic_id in fields); returns the Patient.
export async function createPatient(token, fields = {}) {
  const res = await post('/api/patients', { full_name: `Patient ${uniq()}`, ...fields }, token);
  expectStatus(res, 201);
  return res.body;
}

// The token of the newest account link queued to e-mail address `to` (sql/0022_account_links.sql),
// read from the delivery queue's payload as the patient would read it in the message; null if none.
export async function accountLinkToken(to) {
  const text = await psql(`SELECT payload->>'text' FROM deliveries WHERE entity = 'account_link' AND channel = 'email'
                             AND lower(recipient) = lower('${to.replace(/'/g, "''")}') ORDER BY id DESC LIMIT 1`);
  return /[?&]token=([A-Za-z0-9_-]+)/.exec(text)?.[1] ?? null;
}

// Creates a patient in clinicId plus its PATIENT account (the desk's activation link, used to set
// the password) and logs in. Returns {patient, user, email, password, tokens, access, refresh}.
export async function patientSession(clinicId, fields = {}) {
  const admin = await asAdmin();
  const email = fields.email || freshEmail('patient');
  const patient = await createPatient(admin, { clinic_id: clinicId, ...fields, email });
  const password = `pw-${uniq()}`;
  const res = await post(`/api/patients/${patient.id}/account`, {}, admin);
  expectStatus(res, 201);
  expectStatus(await post('/api/auth/activate', { token: await accountLinkToken(email), password }), 204);
  const tokens = await login(email, password);
  return { patient, user: res.body, email, password, tokens, access: tokens.access_token, refresh: tokens.refresh_token };
}

// ---------------------------------------------------------------------------------------------
// Dates, services and schedules
// ---------------------------------------------------------------------------------------------

// 'YYYY-MM-DD' of a Date on the UTC calendar (today by default).
export function isoDate(d = new Date()) {
  return d.toISOString().slice(0, 10);
}

// The date n days after (or before, n < 0) a 'YYYY-MM-DD' date.
export function addDays(date, n) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return isoDate(d);
}

// ISO weekday of a 'YYYY-MM-DD' date: 1 = Monday .. 7 = Sunday.
export function isoWeekday(date) {
  const w = new Date(`${date}T00:00:00Z`).getUTCDay();
  return w === 0 ? 7 : w;
}

// The first date on ISO weekday `weekday` that is at least minDaysAhead days after today (UTC), so it
// is still in the future in every time zone.
export function nextWeekday(weekday, minDaysAhead = 7) {
  const start = addDays(isoDate(), minDaysAhead);
  return addDays(start, (weekday - isoWeekday(start) + 7) % 7);
}

// The n-th Sunday (1-based) of a month (1..12) as 'YYYY-MM-DD'.
export function nthSunday(year, month, n) {
  const first = new Date(Date.UTC(year, month - 1, 1));
  return isoDate(new Date(Date.UTC(year, month - 1, 1 + ((7 - first.getUTCDay()) % 7) + 7 * (n - 1))));
}

// Creates a service in clinicId (as the demo admin unless token is given); returns the Service.
export async function createService(clinicId, fields = {}, token) {
  const body = { clinic_id: clinicId, name: `Service ${uniq()}`, duration_minutes: 30, price_cents: 15000, ...fields };
  const res = await post('/api/services', body, token || (await asAdmin()));
  expectStatus(res, 201);
  return res.body;
}

// Creates a weekly availability rule of doctorId (Monday 09:00-10:00, 30-minute in-person slots unless
// fields say otherwise; as the demo admin unless token is given); returns the AvailabilityRule.
export async function createAvailability(doctorId, fields = {}, token) {
  const body = { weekday: 1, start_time: '09:00', end_time: '10:00', slot_minutes: 30, consultation_types: ['in_person'], ...fields };
  const res = await post(`/api/doctors/${doctorId}/availability`, body, token || (await asAdmin()));
  expectStatus(res, 201);
  return res.body;
}

// Creates an unavailability block of doctorId ({starts_at, ends_at, reason?}; as the demo admin unless
// token is given); returns the Unavailability.
export async function createUnavailability(doctorId, fields, token) {
  const res = await post(`/api/doctors/${doctorId}/unavailability`, fields, token || (await asAdmin()));
  expectStatus(res, 201);
  return res.body;
}

// ---------------------------------------------------------------------------------------------
// JWT helpers
// ---------------------------------------------------------------------------------------------

export function b64url(input) {
  return Buffer.from(input).toString('base64url');
}

export function decodeJwtPart(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

// ---------------------------------------------------------------------------------------------
// Appointments
// ---------------------------------------------------------------------------------------------

// Books an appointment with token: POST /api/appointments with body (consultation_type defaults to
// in_person); asserts 201 and returns the Appointment.
export async function createAppointment(token, body) {
  const res = await post('/api/appointments', { consultation_type: 'in_person', ...body }, token);
  expectStatus(res, 201);
  return res.body;
}

// ---------------------------------------------------------------------------------------------
// Visits and the queue
// ---------------------------------------------------------------------------------------------

// 'YYYY-MM-DD' of the instant ms (a Date.now() value) on the wall calendar of an IANA zone.
export function localDate(zone, ms = Date.now()) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(ms));
}

// Minutes from the instant ms to the next local midnight in zone.
function minutesToLocalMidnight(zone, ms) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', { timeZone: zone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit' })
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  return 24 * 60 - (Number(parts.hour) * 60 + Number(parts.minute));
}

export const TODAY_ZONES = ['Pacific/Kiritimati', 'Asia/Tokyo', 'Europe/Lisbon', 'America/Sao_Paulo', 'Pacific/Pago_Pago'];

// The zone of `zones` where it is still the same local date `hours` hours from now, preferring the one
// with the most time left before local midnight (so "today" lasts the whole test run).
export function pickTodayZone(hours = 2, zones = TODAY_ZONES) {
  const now = Date.now();
  const ok = zones.filter((z) => localDate(z, now) === localDate(z, now + hours * 3600000));
  assert.ok(ok.length > 0, `no zone of ${zones.join(', ')} keeps today's date for ${hours} hours`);
  return ok.sort((a, b) => minutesToLocalMidnight(b, now) - minutesToLocalMidnight(a, now))[0];
}

// POST /api/appointments/{id}/check-in with token (body: undefined = none); asserts 201, returns the Visit.
export async function checkIn(appointmentId, token, body) {
  const res = await post(`/api/appointments/${appointmentId}/check-in`, body, token);
  expectStatus(res, 201);
  return res.body;
}

// Walk-in: POST /api/visits with token; asserts 201, returns the Visit.
export async function walkIn(token, body) {
  const res = await post('/api/visits', body, token);
  expectStatus(res, 201);
  return res.body;
}

// POST /api/queue/phase/move {visit_id, phase}; asserts 200, returns the Visit.
export async function moveVisit(visitId, phase, token) {
  const res = await post('/api/queue/phase/move', { visit_id: visitId, phase }, token);
  expectStatus(res, 200);
  return res.body;
}

// POST /api/queue/complete-consultation {visit_id, ...fields} as the doctor; asserts 200, returns the Visit.
export async function completeVisit(visitId, token, fields = {}) {
  const res = await post('/api/queue/complete-consultation', { visit_id: visitId, ...fields }, token);
  expectStatus(res, 200);
  return res.body;
}

// Polls GET /api/events after `after` (null: from the start) until a page comes back empty, waiting up
// to a few seconds for at least `atLeast` events; checks next_cursor. Returns {items, cursor}.
export async function eventsSince(token, after, atLeast = 0) {
  const items = [];
  let cursor = after;
  const deadline = Date.now() + 5000;
  for (;;) {
    const url = `/api/events?limit=200${cursor ? `&after=${encodeURIComponent(cursor)}` : ''}`;
    const body = expectStatus(await get(url, token), 200).body;
    if (body.items.length > 0) {
      assert.equal(body.next_cursor, body.items.at(-1).event_id, 'next_cursor must be the event_id of the last item');
      cursor = body.next_cursor;
      items.push(...body.items);
      continue;
    }
    assert.equal(body.next_cursor, cursor ?? null, 'an empty poll must give back its `after` as next_cursor (null without one)');
    if (items.length >= atLeast || Date.now() > deadline) return { items, cursor };
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The cursor at the current end of the caller's events.
export async function eventsEnd(token) {
  return (await eventsSince(token, null)).cursor;
}

export const put = (path, body, token, opts = {}) => request('PUT', path, { ...opts, body, token });

// ---------------------------------------------------------------------------------------------
// Direct database access (for what only the database can show or do)
// ---------------------------------------------------------------------------------------------

// Runs a psql script on the test database (DATABASE_URL); resolves {ok, out, err} (out trimmed).
export function runPsql(script) {
  return new Promise((resolve) => {
    const p = spawn('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', process.env.DATABASE_URL], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('error', (e) => resolve({ ok: false, out: '', err: String(e) }));
    p.on('close', (code) => resolve({ ok: code === 0, out: out.trim(), err }));
    p.stdin.end(script);
  });
}

// The same, rejecting unless psql succeeds; resolves with its output.
export async function psql(script) {
  const r = await runPsql(script);
  if (!r.ok) throw new Error(`psql failed: ${r.err}`);
  return r.out;
}

// psql as the cluster's superuser on its socket (PG_DIR, PG_PORT) on database dbname, for what the
// application role may not do (creating and dropping a private database); resolves with the output.
export function superPsql(dbname, script) {
  return new Promise((resolve, reject) => {
    const p = spawn('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', process.env.PG_DIR, '-p', process.env.PG_PORT,
      '-U', 'postgres', '-d', dbname], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`psql: ${err}`))));
    p.stdin.end(script);
  });
}

// ---------------------------------------------------------------------------------------------
// Signaling-server instances
// ---------------------------------------------------------------------------------------------

// Whether nothing listens on 127.0.0.1:port now (it can be bound).
function portFree(port) {
  return new Promise((resolveFree) => {
    const probe = createServer();
    probe.once('error', () => resolveFree(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolveFree(true)));
  });
}

// Starts bin (with args) on a free port given in listenVar, with the environment of the tests plus
// env; resolves with {url, stop} once GET ready answers 200 (stop sends SIGTERM and waits for the exit).
async function startServer(bin, args, listenVar, ready, env, what) {
  let lastErr = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    // below the kernel's ephemeral range, as scripts/free-port.sh picks them, and free a moment ago
    let port = 20000 + Math.floor(Math.random() * 12000);
    for (let tries = 0; tries < 20 && !(await portFree(port)); tries++) port = 20000 + Math.floor(Math.random() * 12000);
    const child = spawn(bin, args, {
      env: { ...process.env, [listenVar]: `127.0.0.1:${port}`, LOG_LEVEL: 'warning', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let exited = false;
    child.stderr.on('data', (d) => { lastErr = (lastErr + d).slice(-2000); });
    child.on('exit', () => { exited = true; });
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 15000;
    while (!exited && Date.now() < deadline) {
      try {
        if ((await fetch(`${url}${ready}`)).status === 200) {
          // Ours, not another process that took the port first (ours would then have exited on its bind).
          await new Promise((r) => setTimeout(r, 150));
          if (exited) break;
          const stop = () => new Promise((res) => { if (exited) res(); else { child.on('exit', res); child.kill('SIGTERM'); } });
          return { url, stop };
        }
      } catch { /* not listening yet */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGKILL');
  }
  throw new Error(`could not start another ${what}: ${lastErr}`);
}

// Another signaling-server (SIGNALING_BIN), ready once its database connection is up.
export function startSignaling(env = {}) {
  return startServer(process.env.SIGNALING_BIN, [], 'SIGNALING_LISTEN', '/readyz', { SIGNALING_POLL_MS: '200', ...env },
    'signaling-server');
}

// Another api-server (API_BIN serve) against the same database.
export function startApi(env = {}) {
  return startServer(process.env.API_BIN, ['serve'], 'API_LISTEN', '/healthz', env, 'api-server');
}
