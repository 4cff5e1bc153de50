// Account lifecycle: sign-in throttling that slows an attacker's address without locking the owner
// out (per account and address, per account, per address; progressive delays; one audit row per
// delay window; counters that expire), the end of every session of an account (a new password,
// logout-all, deactivation: access tokens issued before are refused, also within the same second),
// and a doctor's PIX key change (current password required, the doctor told, the open closings'
// trail).
//
// Requests that must come from a given client address go through http.request with localAddress:
// every 127.x.y.z address reaches a server listening on 127.0.0.1. Each test takes fresh addresses
// and e-mails, so the counters of one never touch another's. Tests that depend on delays run
// against throwaway api-servers (startApi) with long or short delays; the counters live in the
// shared database either way.
import assert from 'node:assert/strict';
import { randomBytes, sign as cryptoSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import {
  API_URL,
  DEMO_PASSWORD,
  asAdmin,
  b64url,
  createClinic,
  createStaff,
  decodeJwtPart,
  eventsEnd,
  eventsSince,
  expectError,
  expectStatus,
  freshEmail,
  get,
  localDate,
  login,
  patch,
  post,
  psql,
  staffSession,
  startApi,
  validateResponse,
} from '../lib/api.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sqlText = (s) => `'${String(s).replace(/'/g, "''")}'`;

// A fresh loopback address for this process (127.<a>.<b>.<c>, never 127.0.0.1).
const octet = () => 2 + Math.floor(Math.random() * 250);
let addrSeq = 0;
function freshAddress() {
  addrSeq += 1;
  return `127.${octet()}.${1 + (addrSeq % 250)}.${octet()}`;
}

// One request to base from the local address `from`; the answer as lib's request() returns it,
// checked against openapi.yaml the same way.
function call(base, from, method, path, { token, body, headers = {} } = {}) {
  const url = new URL(base + path);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (payload !== undefined) {
    h['content-type'] = 'application/json';
    h['content-length'] = Buffer.byteLength(payload);
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers: h, localAddress: from, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { text += d; });
        res.on('end', () => {
          const json = /json/.test(res.headers['content-type'] || '') && text !== '';
          const parsed = json ? JSON.parse(text) : text;
          try {
            if (json) validateResponse(method, url.pathname, res.statusCode, parsed);
          } catch (e) {
            reject(e);
            return;
          }
          const headersOut = { get: (k) => res.headers[k.toLowerCase()] ?? null };
          resolve({ status: res.statusCode, headers: headersOut, body: parsed, text, method, path });
        });
      },
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

const signIn = (base, from, email, password, headers) => call(base, from, 'POST', '/api/auth/login', { body: { email, password }, headers });

function expectThrottled(res, max) {
  expectError(res, 429, 'too_many_attempts');
  const retry = res.headers.get('retry-after');
  assert.match(retry ?? '(missing)', /^\d+$/, `Retry-After must be whole seconds, got ${retry}`);
  assert.ok(Number(retry) >= 1 && Number(retry) <= max, `Retry-After ${retry} out of [1, ${max}]`);
  return Number(retry);
}

async function auditCounts(where) {
  const out = await psql(`SELECT count(*) FILTER (WHERE action = 'login_failed') || ' ' ||
                                 count(*) FILTER (WHERE action = 'login_throttled')
                          FROM audit_log WHERE ${where};`);
  const [failed, throttled] = out.split(' ').map(Number);
  return { failed, throttled };
}

const tally = (results) => results.reduce((m, r) => ({ ...m, [r.status]: (m[r.status] || 0) + 1 }), {});

// ---------------------------------------------------------------------------------------------
// Throttling, with delays long enough that nothing here depends on timing
// ---------------------------------------------------------------------------------------------

describe('sign-in throttling', () => {
  const proxy = freshAddress();
  let srv;
  before(async () => {
    srv = await startApi({
      LOGIN_DELAY_BASE: '60',
      LOGIN_ACCOUNT_FREE_FAILURES: '8',
      LOGIN_ADDRESS_FREE_FAILURES: '7',
      LOGIN_TRUSTED_PROXIES: proxy,
    });
  });
  after(async () => srv && srv.stop());

  test('five wrong passwords from one address delay that address only; the owner signs in from another', async () => {
    const clinic = await createClinic();
    const s = await createStaff('DOCTOR', clinic.id);
    const attacker = freshAddress();
    const owner = freshAddress();
    for (let i = 1; i <= 5; i++) expectError(await signIn(srv.url, attacker, s.email, `wrong-${i}`), 401, 'invalid_credentials');
    // the next attempt from there is refused without being checked, even with the right password
    expectThrottled(await signIn(srv.url, attacker, s.email, 'wrong-6'), 60);
    expectThrottled(await signIn(srv.url, attacker, s.email, s.password), 60);
    expectThrottled(await signIn(srv.url, attacker, s.email.toUpperCase(), s.password), 60);
    // 20 more refused attempts write nothing
    for (let i = 0; i < 20; i++) expectThrottled(await signIn(srv.url, attacker, s.email, `again-${i}`), 60);
    // the owner, elsewhere, is not affected
    const ok = expectStatus(await signIn(srv.url, owner, s.email, s.password), 200);
    assert.equal(ok.body.user.id, s.id);
    expectStatus(await get('/api/auth/me', ok.body.access_token), 200);
    expectError(await signIn(srv.url, owner, s.email, 'a-typo'), 401, 'invalid_credentials');
    expectStatus(await signIn(srv.url, owner, s.email, s.password), 200);

    // one audit row per delay window, not per attempt: 5 + 1 wrong passwords checked, one window
    assert.deepEqual(await auditCounts(`entity = 'user' AND entity_id = ${s.id}`), { failed: 6, throttled: 1 });
    const [row] = (await psql(`SELECT details::text FROM audit_log WHERE action = 'login_throttled' AND entity_id = ${s.id};`)).split('\n');
    assert.deepEqual(JSON.parse(row), { scope: 'account_address', address: attacker, delay_seconds: 60 });
  });

  test('parallel guesses get no more tries than sequential ones', async () => {
    const clinic = await createClinic();
    const s = await createStaff('RECEPTIONIST', clinic.id);
    const from = freshAddress();
    const wrong = Array.from({ length: 10 }, () => signIn(srv.url, from, s.email, 'wrong-pass'));
    assert.deepEqual(tally(await Promise.all(wrong)), { 401: 5, 429: 5 });
    expectThrottled(await signIn(srv.url, from, s.email, s.password), 60);
    expectStatus(await signIn(srv.url, freshAddress(), s.email, s.password), 200);
  });

  test('an unknown e-mail is throttled exactly like an account, so a 429 tells nothing', async () => {
    const clinic = await createClinic();
    const s = await createStaff('RECEPTIONIST', clinic.id);
    const nobody = freshEmail('nobody');
    const a = freshAddress();
    const b = freshAddress();
    const statuses = { known: [], unknown: [] };
    for (let i = 0; i < 6; i++) {
      statuses.known.push((await signIn(srv.url, a, s.email, 'x-wrong')).status);
      statuses.unknown.push((await signIn(srv.url, b, nobody, 'x-wrong')).status);
    }
    assert.deepEqual(statuses.known, [401, 401, 401, 401, 401, 429]);
    assert.deepEqual(statuses.unknown, statuses.known);
    const k = await signIn(srv.url, a, s.email, 'x-wrong');
    const u = await signIn(srv.url, b, nobody, 'x-wrong');
    assert.deepEqual(u.body, k.body);
    assert.deepEqual(await auditCounts(`details->>'email' = ${sqlText(nobody)}`), { failed: 5, throttled: 1 });
  });

  test('one address spraying many accounts is delayed across accounts; others still sign in', async () => {
    const clinic = await createClinic();
    const s = await createStaff('RECEPTIONIST', clinic.id);
    const sprayer = freshAddress();
    for (let i = 0; i < 7; i++) expectError(await signIn(srv.url, sprayer, freshEmail('spray'), 'Summer2024!'), 401, 'invalid_credentials');
    expectThrottled(await signIn(srv.url, sprayer, s.email, 'Summer2024!'), 60);
    expectThrottled(await signIn(srv.url, sprayer, s.email, s.password), 60);
    expectStatus(await signIn(srv.url, freshAddress(), s.email, s.password), 200);
  });

  test('guesses from many addresses delay the account, except at an address it signed in from', async () => {
    const clinic = await createClinic();
    const s = await createStaff('DOCTOR', clinic.id);
    const home = freshAddress();
    expectStatus(await signIn(srv.url, home, s.email, s.password), 200);
    for (let i = 0; i < 8; i++) expectError(await signIn(srv.url, freshAddress(), s.email, `botnet-${i}`), 401, 'invalid_credentials');
    // a new address is now delayed for this account, the right password included
    expectThrottled(await signIn(srv.url, freshAddress(), s.email, s.password), 60);
    // the owner's usual address is not
    expectStatus(await signIn(srv.url, home, s.email, s.password), 200);
    const rows = await psql(`SELECT details->>'scope' FROM audit_log WHERE action = 'login_throttled' AND entity_id = ${s.id};`);
    assert.equal(rows, 'account');
  });

  test('guessing the current password through POST /auth/password is throttled the same way', async () => {
    const clinic = await createClinic();
    const s = await createStaff('DOCTOR', clinic.id);
    const from = freshAddress();
    const token = expectStatus(await signIn(srv.url, from, s.email, s.password), 200).body.access_token;
    const statuses = [];
    for (let i = 0; i < 6; i++) {
      const res = await call(srv.url, from, 'POST', '/api/auth/password', { token, body: { current_password: `guess-${i}`, new_password: 'new-password-1' } });
      statuses.push(res.status);
    }
    assert.deepEqual(statuses, [422, 422, 422, 422, 422, 429]);
    // the owner's sign-in from elsewhere still works
    expectStatus(await signIn(srv.url, freshAddress(), s.email, s.password), 200);
  });

  test('behind a trusted proxy the client is the X-Forwarded-For address; IPv6 counts per /64', async () => {
    const clinic = await createClinic();
    const s = await createStaff('RECEPTIONIST', clinic.id);
    const xff = (a) => ({ 'x-forwarded-for': `198.51.100.23, ${a}` });
    for (let i = 0; i < 5; i++) expectError(await signIn(srv.url, proxy, s.email, 'wrong', xff('203.0.113.7')), 401, 'invalid_credentials');
    expectThrottled(await signIn(srv.url, proxy, s.email, s.password, xff('203.0.113.7')), 60);
    // another client behind the same proxy
    expectStatus(await signIn(srv.url, proxy, s.email, s.password, xff('203.0.113.8')), 200);
    // an untrusted peer cannot choose its address by sending the header
    expectStatus(await signIn(srv.url, freshAddress(), s.email, s.password, xff('203.0.113.7')), 200);
    const where = `action = 'login_failed' AND entity_id = ${s.id}`;
    assert.equal(await psql(`SELECT DISTINCT details->>'address' FROM audit_log WHERE ${where};`), '203.0.113.7');

    const t = await createStaff('RECEPTIONIST', clinic.id);
    for (let i = 0; i < 5; i++) expectError(await signIn(srv.url, proxy, t.email, 'wrong', xff(`2001:db8:7:9::${i + 1}`)), 401, 'invalid_credentials');
    expectThrottled(await signIn(srv.url, proxy, t.email, t.password, xff('2001:db8:7:9:ffff::1')), 60);
    expectStatus(await signIn(srv.url, proxy, t.email, t.password, xff('2001:db8:7:a::1')), 200);
    assert.equal(await psql(`SELECT DISTINCT details->>'address' FROM audit_log WHERE action = 'login_failed' AND entity_id = ${t.id};`),
      '2001:db8:7:9::/64');
  });
});

// ---------------------------------------------------------------------------------------------
// Progressive delays and expiry, with short delays (these tests wait a few seconds)
// ---------------------------------------------------------------------------------------------

describe('progressive delays and expiry', () => {
  let srv;
  let decaying;
  before(async () => {
    [srv, decaying] = await Promise.all([
      startApi({ LOGIN_FREE_FAILURES: '2', LOGIN_DELAY_BASE: '2', LOGIN_DELAY_MAX: '4', LOGIN_FAILURE_DECAY: '3600' }),
      startApi({ LOGIN_FREE_FAILURES: '2', LOGIN_DELAY_BASE: '1', LOGIN_FAILURE_DECAY: '3' }),
    ]);
  });
  after(async () => Promise.all([srv?.stop(), decaying?.stop()]));

  const failures = async (email, address) =>
    Number(await psql(`SELECT COALESCE(max(failures), 0) FROM login_failures WHERE email = lower(${sqlText(email)}) AND address = ${sqlText(address)};`));

  test('each further failure doubles the delay, up to LOGIN_DELAY_MAX; the right password clears it', async () => {
    const clinic = await createClinic();
    const s = await createStaff('RECEPTIONIST', clinic.id);
    const from = freshAddress();
    expectError(await signIn(srv.url, from, s.email, 'w1'), 401, 'invalid_credentials');
    expectError(await signIn(srv.url, from, s.email, 'w2'), 401, 'invalid_credentials');
    const first = expectThrottled(await signIn(srv.url, from, s.email, 'w3'), 2);
    await sleep(first * 1000 + 150);
    expectError(await signIn(srv.url, from, s.email, 'w3'), 401, 'invalid_credentials');
    expectThrottled(await signIn(srv.url, from, s.email, 'w4'), 4);
    assert.equal(await failures(s.email, from), 3);
    const [lo, hi] = (await psql(`SELECT extract(epoch FROM blocked_until - now()) FROM login_failures
                                   WHERE email = lower(${sqlText(s.email)}) AND address = ${sqlText(from)};`)).split('|').map(Number);
    assert.ok(lo > 0 && lo <= 4 && hi === undefined, `a 4-second delay, ${lo} s left`);
    await sleep(4150);
    expectError(await signIn(srv.url, from, s.email, 'w4'), 401, 'invalid_credentials');
    expectThrottled(await signIn(srv.url, from, s.email, 'w5'), 4); // capped
    await sleep(4150);
    expectStatus(await signIn(srv.url, from, s.email, s.password), 200);
    assert.equal(await failures(s.email, from), 0, "the right password clears the account's counter at that address");
  });

  test('counters forget failures with time, and spent rows are deleted', async () => {
    const clinic = await createClinic();
    const s = await createStaff('RECEPTIONIST', clinic.id);
    const from = freshAddress();
    const rows = async () => Number(await psql(`SELECT count(*) FROM login_failures WHERE email = lower(${sqlText(s.email)}) OR address = ${sqlText(from)};`));
    expectError(await signIn(decaying.url, from, s.email, 'w1'), 401, 'invalid_credentials');
    assert.equal(await rows(), 3, 'a counter for the account at that address, for the account, for the address');
    await sleep(4200);
    // forgotten: two more failures are needed again before any delay
    expectError(await signIn(decaying.url, from, s.email, 'w2'), 401, 'invalid_credentials');
    assert.equal(await failures(s.email, from), 1);
    // once empty and past any delay, a row goes at the next checked attempt (from anywhere)
    await psql(`UPDATE login_failures SET expires_at = now() - interval '1 second', blocked_until = NULL
                WHERE email = lower(${sqlText(s.email)}) OR address = ${sqlText(from)};`);
    expectError(await signIn(decaying.url, freshAddress(), freshEmail('other'), 'w'), 401, 'invalid_credentials');
    assert.equal(await rows(), 0);
  });
});

// ---------------------------------------------------------------------------------------------
// The end of every session
// ---------------------------------------------------------------------------------------------

function assertTokenRefused(res) {
  expectError(res, 401, 'unauthorized');
  assert.match(res.headers.get('www-authenticate') || '', /^Bearer error="invalid_token"/);
}

const validAfter = async (userId) =>
  Number(await psql(`SELECT COALESCE(extract(epoch FROM tokens_valid_after), 0)::bigint FROM users WHERE id = ${userId};`));

describe('ending sessions', () => {
  test('a password change refuses the access tokens issued before it and accepts those issued after, also within the same second', async () => {
    const clinic = await createClinic();
    const s = await staffSession('RECEPTIONIST', clinic.id);
    const other = await login(s.email, s.password); // a second device
    let password = s.password;
    let token = s.access;
    for (let i = 0; i < 3; i++) {
      const next = `changed-${i}-${randomBytes(4).toString('hex')}`;
      expectStatus(await post('/api/auth/password', { current_password: password, new_password: next }, token), 204);
      assertTokenRefused(await get('/api/auth/me', token));
      const fresh = await login(s.email, next);
      // issued right after the change, usually in the same second: accepted
      expectStatus(await get('/api/auth/me', fresh.access_token), 200);
      const iat = decodeJwtPart(fresh.access_token.split('.')[1]).iat;
      assert.ok(iat >= (await validAfter(s.id)), 'a new token is never issued before tokens_valid_after');
      password = next;
      token = fresh.access_token;
    }
    assertTokenRefused(await get('/api/auth/me', other.access_token));
    expectError(await post('/api/auth/refresh', { refresh_token: other.refresh_token }), 401, ['invalid_refresh_token', 'refresh_token_reused']);
  });

  test('POST /auth/logout-all ends every session of the caller: access and refresh tokens', async () => {
    const clinic = await createClinic();
    const s = await staffSession('DOCTOR', clinic.id);
    const phone = await login(s.email, s.password);
    const bystander = await staffSession('DOCTOR', clinic.id);
    expectStatus(await post('/api/auth/logout-all', undefined, s.access), 204);
    for (const t of [s.access, phone.access_token]) assertTokenRefused(await get('/api/auth/me', t));
    for (const r of [s.refresh, phone.refresh_token]) expectError(await post('/api/auth/refresh', { refresh_token: r }), 401, 'invalid_refresh_token');
    assertTokenRefused(await post('/api/auth/logout-all', undefined, s.access));
    // a new sign-in works at once; other users are untouched
    const again = await login(s.email, s.password);
    expectStatus(await get('/api/auth/me', again.access_token), 200);
    expectStatus(await post('/api/auth/refresh', { refresh_token: again.refresh_token }), 200);
    expectStatus(await get('/api/auth/me', bystander.access), 200);
    assert.equal(await psql(`SELECT count(*) FROM audit_log WHERE action = 'logout_all' AND actor_user_id = ${s.id};`), '1');
    expectError(await post('/api/auth/logout-all', undefined), 401, 'unauthorized');
  });

  test('the cut is in whole seconds: iat one second before tokens_valid_after is refused, iat at it accepted', { skip: process.env.JWT_PRIVATE_KEY_FILE ? false : 'JWT_PRIVATE_KEY_FILE is not set' }, async () => {
    const pem = readFileSync(process.env.JWT_PRIVATE_KEY_FILE, 'utf8');
    const clinic = await createClinic();
    const s = await staffSession('RECEPTIONIST', clinic.id);
    expectStatus(await post('/api/auth/logout-all', undefined, s.access), 204);
    const cut = await validAfter(s.id);
    const payload = decodeJwtPart(s.access.split('.')[1]);
    const forge = (iat) => {
      const header = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT' }));
      const body = b64url(JSON.stringify({ ...payload, iat, exp: iat + 600, jti: randomBytes(16).toString('hex') }));
      const sig = cryptoSign('sha256', Buffer.from(`${header}.${body}`), { key: pem, dsaEncoding: 'ieee-p1363' });
      return `${header}.${body}.${sig.toString('base64url')}`;
    };
    assertTokenRefused(await get('/api/auth/me', forge(cut - 1)));
    expectStatus(await get('/api/auth/me', forge(cut)), 200);
  });

  test('two ends of sessions within one second still move the cut forward, so no token issued between them survives', async () => {
    const clinic = await createClinic();
    const s = await createStaff('RECEPTIONIST', clinic.id);
    const out = await psql(`BEGIN;
      UPDATE users SET tokens_valid_after = now() WHERE id = ${s.id};
      SELECT token_issued_at(u) FROM users u WHERE id = ${s.id};
      UPDATE users SET tokens_valid_after = now() WHERE id = ${s.id};
      SELECT extract(epoch FROM tokens_valid_after)::bigint FROM users WHERE id = ${s.id};
      COMMIT;`);
    const [issuedBetween, secondCut] = out.split('\n').map(Number);
    assert.ok(secondCut > issuedBetween, `a token issued at ${issuedBetween} must fall before the second cut ${secondCut}`);
  });

  test("deactivation refuses existing tokens, and reactivation does not bring them back; an admin's new password ends sessions", async () => {
    const admin = await asAdmin();
    const clinic = await createClinic();
    const s = await staffSession('RECEPTIONIST', clinic.id);
    expectStatus(await post(`/api/users/${s.id}/deactivate`, {}, admin), 200);
    assertTokenRefused(await get('/api/auth/me', s.access));
    expectStatus(await patch(`/api/users/${s.id}`, { active: true }, admin), 200);
    assertTokenRefused(await get('/api/auth/me', s.access));
    expectError(await post('/api/auth/refresh', { refresh_token: s.refresh }), 401, 'invalid_refresh_token');
    const back = await login(s.email, s.password);
    expectStatus(await get('/api/auth/me', back.access_token), 200);

    expectStatus(await patch(`/api/users/${s.id}`, { password: 'set-by-the-admin' }, admin), 200);
    assertTokenRefused(await get('/api/auth/me', back.access_token));
    expectStatus(await get('/api/auth/me', (await login(s.email, 'set-by-the-admin')).access_token), 200);
  });

  test("the end of an account's sessions is notified as account_changed with the user id, at commit", async () => {
    const clinic = await createClinic();
    const s = await createStaff('RECEPTIONIST', clinic.id);
    const out = await psql(`LISTEN account_changed;
      UPDATE users SET tokens_valid_after = now() WHERE id = ${s.id};
      SELECT 'done';`);
    assert.ok(out.includes(`"account_changed" with payload "{"user_id":${s.id}}"`), `no notification in: ${out}`);
  });
});

// ---------------------------------------------------------------------------------------------
// The PIX key
// ---------------------------------------------------------------------------------------------

describe("a doctor's PIX key", () => {
  const CPF = { pix_key_type: 'cpf', pix_key: '529.982.247-25' };
  const EMAIL = { pix_key_type: 'email', pix_key: 'repasse.novo@example.com' };
  const pixOf = async (doctorId) =>
    (await psql(`SELECT COALESCE(pix_key_type, '-') || ' ' || COALESCE(pix_key, '-') FROM doctors WHERE id = ${doctorId};`));

  test('changes only with the current password: missing or wrong is a 422 on current_password and nothing changes', async () => {
    const clinic = await createClinic();
    const doc = await staffSession('DOCTOR', clinic.id);
    const d = doc.user.doctor_id;
    expectStatus(await patch('/api/doctors/me', { ...CPF, current_password: doc.password }, doc.access), 200);
    const start = await eventsEnd(doc.access);
    expectError(await patch('/api/doctors/me', EMAIL, doc.access), 422, 'validation_failed', ['current_password']);
    expectError(await patch('/api/doctors/me', { ...EMAIL, current_password: 'not-my-password' }, doc.access), 422, 'validation_failed', ['current_password']);
    expectError(await patch('/api/doctors/me', { pix_key_type: null, pix_key: null }, doc.access), 422, 'validation_failed', ['current_password']);
    assert.equal(await pixOf(d), 'cpf 52998224725');
    // a wrong one counts as a failed sign-in
    assert.equal(await psql(`SELECT count(*) FROM audit_log WHERE action = 'login_failed' AND entity_id = ${doc.id}
                             AND details->>'reason' = 'wrong_current_password';`), '1');
    // other profile fields need no password
    expectStatus(await patch('/api/doctors/me', { specialty: 'Cardiologia' }, doc.access), 200);
    assert.equal((await eventsSince(doc.access, start)).items.filter((e) => e.name === 'doctor_pix_changed').length, 0);
  });

  test('a change tells the doctor (doctor_pix_changed, keys masked) and is audited; the same key again tells nothing', async () => {
    const clinic = await createClinic();
    const doc = await staffSession('DOCTOR', clinic.id);
    const colleague = await staffSession('DOCTOR', clinic.id);
    const d = doc.user.doctor_id;
    expectStatus(await patch('/api/doctors/me', { ...CPF, current_password: doc.password }, doc.access), 200);
    const start = await eventsEnd(doc.access);
    const res = expectStatus(await patch('/api/doctors/me', { ...EMAIL, current_password: doc.password }, doc.access), 200);
    assert.equal(res.body.pix_key, 'repasse.novo@example.com');
    expectStatus(await patch('/api/doctors/me', { ...EMAIL, current_password: doc.password }, doc.access), 200);
    const events = (await eventsSince(doc.access, start, 1)).items.filter((e) => e.name === 'doctor_pix_changed');
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.deepEqual(events[0].data, {
      doctor_id: d, pix_key_type: 'email', pix_key: '********************.com', previous_pix_key_type: 'cpf',
      previous_pix_key: '*******4725', changed_by_user_id: doc.id, changed_by_role: 'DOCTOR',
    });
    const theirs = (await eventsSince(colleague.access, start)).items.filter((e) => e.name === 'doctor_pix_changed');
    assert.equal(theirs.length, 0, "another doctor's room hears nothing");
    const audit = await psql(`SELECT count(*) FROM audit_log WHERE action = 'doctor_pix_change' AND entity_id = ${d} AND actor_user_id = ${doc.id};`);
    assert.equal(audit, '3');
    // the password is never stored in the audit details
    assert.equal(await psql(`SELECT count(*) FROM audit_log WHERE entity = 'doctor' AND entity_id = ${d}
                             AND details::text LIKE '%current_password%';`), '0');
    assert.equal(await psql(`SELECT count(*) FROM audit_log WHERE details::text LIKE '%${doc.password}%';`), '0');
  });

  test("an admin changes it with the admin's own password", async () => {
    const clinic = await createClinic();
    const doc = await staffSession('DOCTOR', clinic.id);
    const admin = await asAdmin();
    const d = doc.user.doctor_id;
    expectError(await patch(`/api/doctors/${d}`, { ...CPF, current_password: doc.password }, admin), 422, 'validation_failed', ['current_password']);
    const start = await eventsEnd(doc.access);
    expectStatus(await patch(`/api/doctors/${d}`, { ...CPF, current_password: DEMO_PASSWORD }, admin), 200);
    const [e] = (await eventsSince(doc.access, start, 1)).items.filter((x) => x.name === 'doctor_pix_changed');
    assert.equal(e.data.changed_by_role, 'ADMIN');
    assert.equal(e.data.previous_pix_key, null);
  });

  test("the change is a step in the trail of the doctor's closings not yet paid, not of a paid one", async () => {
    const clinic = await createClinic();
    const admin = await asAdmin();
    const doc = await staffSession('DOCTOR', clinic.id);
    const d = doc.user.doctor_id;
    expectStatus(await patch('/api/doctors/me', { ...CPF, current_password: doc.password }, doc.access), 200);
    const month = localDate(clinic.timezone).slice(0, 7);
    const [y, m] = month.split('-').map(Number);
    const prev = (k) => new Date(Date.UTC(y, m - 1 - k, 1)).toISOString().slice(0, 7);
    const create = async (mm) => expectStatus(await post('/api/closings', { doctor_id: d, month: mm }, admin), 201).body;
    const draft = await create(month);
    const closed = await create(prev(1));
    expectStatus(await post(`/api/closings/${closed.id}/close`, undefined, admin), 200);
    const paid = await create(prev(2));
    expectStatus(await post(`/api/closings/${paid.id}/close`, undefined, admin), 200);
    expectStatus(await post(`/api/closings/${paid.id}/confirm-payment`, { reference: 'PIX-OK-1' }, admin), 200);
    const start = await eventsEnd(doc.access);

    expectStatus(await patch('/api/doctors/me', { ...EMAIL, current_password: doc.password }, doc.access), 200);

    const trail = async (id) => expectStatus(await get(`/api/closings/${id}`, admin), 200).body.trail;
    const last = (await trail(draft.id)).at(-1);
    assert.deepEqual([last.action, last.from_status, last.to_status, last.actor_user_id, last.actor_role],
      ['pix_key_changed', 'draft', 'draft', doc.id, 'DOCTOR']);
    assert.equal(last.note, 'PIX key changed from cpf *******4725 to email ********************.com.');
    const onClosed = (await trail(closed.id)).at(-1);
    assert.deepEqual([onClosed.action, onClosed.to_status], ['pix_key_changed', 'closed']);
    assert.match(onClosed.note, /keeps the key it was closed with/);
    assert.equal((await trail(paid.id)).some((t) => t.action === 'pix_key_changed'), false);
    // the closed closing still pays the key frozen when it was closed
    const c = expectStatus(await get(`/api/closings/${closed.id}`, admin), 200).body;
    assert.deepEqual([c.pix_key_type, c.pix_key], ['cpf', '*******4725']);

    const steps = (await eventsSince(doc.access, start, 3)).items.filter((e) => e.name === 'closing_updated');
    assert.deepEqual(steps.map((e) => [e.data.closing.id, e.data.action]).sort(), [[draft.id, 'pix_key_changed'], [closed.id, 'pix_key_changed']].sort());
  });
});
