// Authentication: login, refresh rotation, logout, /auth/me, password change, deactivated
// accounts and forged/expired access tokens. Sign-in throttling and the end of every session of an
// account are in lifecycle.test.mjs.
import assert from 'node:assert/strict';
import { createHmac, randomBytes, sign as cryptoSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import {
  asAdmin,
  b64url,
  createClinic,
  createStaff,
  decodeJwtPart,
  expectError,
  expectStatus,
  get,
  listAll,
  login,
  post,
  request,
  staffSession,
  uniq,
} from '../lib/api.mjs';

const me = (token) => get('/api/auth/me', token);
const refresh = (refresh_token) => post('/api/auth/refresh', { refresh_token });

function assertTokenPair(body, email) {
  assert.equal(body.token_type, 'Bearer');
  assert.equal(Number.isInteger(body.expires_in) && body.expires_in > 0, true, `expires_in must be a positive integer, got ${body.expires_in}`);
  assert.equal(typeof body.access_token, 'string');
  assert.equal(body.access_token.split('.').length, 3, `access_token is not a JWT: ${body.access_token}`);
  assert.equal(typeof body.refresh_token, 'string');
  assert.notEqual(body.refresh_token, '');
  assert.equal(body.user.email.toLowerCase(), email.toLowerCase());
}

function assertUnauthorized(res, tokenSent) {
  expectError(res, 401, 'unauthorized');
  const www = res.headers.get('www-authenticate') || '';
  assert.match(www, /^Bearer\b/, `WWW-Authenticate must start with Bearer, got ${JSON.stringify(www)}`);
  if (tokenSent) {
    assert.match(www, /error="invalid_token"/, `WWW-Authenticate must carry error="invalid_token" when a token was sent, got ${JSON.stringify(www)}`);
  }
}

describe('login', () => {
  test('success returns a TokenPair with the user', async () => {
    const res = expectStatus(await post('/api/auth/login', { email: 'admin@demo.clinic', password: 'demo-password' }), 200);
    assertTokenPair(res.body, 'admin@demo.clinic');
    assert.equal(res.body.user.role, 'ADMIN');
    assert.equal(res.body.user.clinic_id, null);
    assert.equal(res.body.user.active, true);
    expectStatus(await me(res.body.access_token), 200);
  });

  test('wrong password and unknown e-mail give the identical 401 body', async () => {
    const clinic = await createClinic();
    const s = await createStaff('RECEPTIONIST', clinic.id);
    const wrong = expectError(await post('/api/auth/login', { email: s.email, password: 'not-the-password' }), 401, 'invalid_credentials');
    const unknown = expectError(
      await post('/api/auth/login', { email: `nobody.${uniq()}@tests.example.org`, password: 'not-the-password' }),
      401,
      'invalid_credentials',
    );
    assert.deepEqual(unknown.body, wrong.body);
    // A success in between resets the failure counter for the account.
    await login(s.email, s.password);
  });

  test('e-mail is case-insensitive', async () => {
    const clinic = await createClinic();
    const s = await createStaff('DOCTOR', clinic.id);
    const upper = await login(s.email.toUpperCase(), s.password);
    assert.equal(upper.user.id, s.id);
    const mixed = await login(`${s.email.slice(0, 3).toUpperCase()}${s.email.slice(3)}`, s.password);
    assert.equal(mixed.user.id, s.id);
  });

  test('missing fields are a 422 listing them', async () => {
    expectError(await post('/api/auth/login', {}), 422, 'validation_failed', ['email', 'password']);
  });
});

describe('refresh tokens', () => {
  test('rotation: new pair works, reuse of the old token is detected and revokes the family', async () => {
    const clinic = await createClinic();
    const s = await staffSession('RECEPTIONIST', clinic.id);
    const r1 = s.refresh;

    const second = expectStatus(await refresh(r1), 200);
    assertTokenPair(second.body, s.email);
    assert.notEqual(second.body.refresh_token, r1);
    assert.equal(second.body.user.id, s.id);
    const meRes = expectStatus(await me(second.body.access_token), 200);
    assert.equal(meRes.body.id, s.id);

    const r2 = second.body.refresh_token;
    const third = expectStatus(await refresh(r2), 200);
    const r3 = third.body.refresh_token;

    // r1 and r2 were already rotated: reuse revokes the whole family, r3 included.
    expectError(await refresh(r1), 401, 'refresh_token_reused');
    expectError(await refresh(r3), 401, ['invalid_refresh_token', 'refresh_token_reused']);
    expectError(await refresh(r2), 401, ['invalid_refresh_token', 'refresh_token_reused']);

    // Another login starts a new, unaffected family.
    const again = await login(s.email, s.password);
    expectStatus(await refresh(again.refresh_token), 200);
  });

  test('unknown refresh token is 401 invalid_refresh_token', async () => {
    expectError(await refresh(`nope-${uniq()}`), 401, 'invalid_refresh_token');
    expectError(await refresh(randomBytes(32).toString('base64url')), 401, 'invalid_refresh_token');
  });

  test('logout revokes the token family; unknown token is also 204', async () => {
    const clinic = await createClinic();
    const s = await staffSession('DOCTOR', clinic.id);
    const rotated = expectStatus(await refresh(s.refresh), 200).body;
    expectStatus(await post('/api/auth/logout', { refresh_token: rotated.refresh_token }), 204);
    expectError(await refresh(rotated.refresh_token), 401, ['invalid_refresh_token', 'refresh_token_reused']);
    expectStatus(await post('/api/auth/logout', { refresh_token: `unknown-${uniq()}` }), 204);
    // Other sessions of the same user are unaffected.
    const other = await login(s.email, s.password);
    expectStatus(await refresh(other.refresh_token), 200);
  });
});

describe('/auth/me', () => {
  const cases = [
    { email: 'admin@demo.clinic', role: 'ADMIN', clinic: false, doctor: false, patient: false },
    { email: 'reception1@demo.clinic', role: 'RECEPTIONIST', clinic: true, doctor: false, patient: false },
    { email: 'doctor1@demo.clinic', role: 'DOCTOR', clinic: true, doctor: true, patient: false },
    { email: 'patient1@demo.clinic', role: 'PATIENT', clinic: true, doctor: false, patient: true },
    { email: 'reception2@demo.clinic', role: 'RECEPTIONIST', clinic: true, doctor: false, patient: false },
    { email: 'doctor2@demo.clinic', role: 'DOCTOR', clinic: true, doctor: true, patient: false },
    { email: 'patient2@demo.clinic', role: 'PATIENT', clinic: true, doctor: false, patient: true },
  ];
  for (const c of cases) {
    test(`${c.role} ${c.email}`, async () => {
      const t = await login(c.email);
      const res = expectStatus(await me(t.access_token), 200);
      const u = res.body;
      assert.equal(u.email, c.email);
      assert.equal(u.role, c.role);
      assert.equal(u.active, true);
      assert.equal(u.id, t.user.id);
      assert.equal(Number.isInteger(u.clinic_id), c.clinic, `clinic_id: ${u.clinic_id}`);
      assert.equal(Number.isInteger(u.doctor_id), c.doctor, `doctor_id: ${u.doctor_id}`);
      assert.equal(Number.isInteger(u.patient_id), c.patient, `patient_id: ${u.patient_id}`);
      if (!c.clinic) assert.equal(u.clinic_id, null);
      if (!c.doctor) assert.equal(u.doctor_id, null);
      if (!c.patient) assert.equal(u.patient_id, null);
      if (c.doctor) {
        const d = expectStatus(await get(`/api/doctors/${u.doctor_id}`, t.access_token), 200).body;
        assert.equal(d.user_id, u.id);
        assert.equal(d.clinic_id, u.clinic_id);
      }
      if (c.patient) {
        const p = expectStatus(await get('/api/patients/me', t.access_token), 200).body;
        assert.equal(p.id, u.patient_id);
        assert.equal(p.clinic_id, u.clinic_id);
        assert.equal(p.user_id, u.id);
      }
    });
  }

  test('demo clinics 1 and 2 are different', async () => {
    const r1 = (await login('reception1@demo.clinic')).user;
    const r2 = (await login('reception2@demo.clinic')).user;
    assert.notEqual(r1.clinic_id, r2.clinic_id);
    const d1b = (await login('doctor1b@demo.clinic')).user;
    const d2b = (await login('doctor2b@demo.clinic')).user;
    assert.equal(d1b.clinic_id, r1.clinic_id);
    assert.equal(d2b.clinic_id, r2.clinic_id);
  });
});

describe('password change', () => {
  test('wrong current password is 422; success revokes old password and refresh tokens', async () => {
    const clinic = await createClinic();
    const s = await staffSession('RECEPTIONIST', clinic.id);
    const newPassword = `new-pw-${uniq()}`;

    expectError(
      await post('/api/auth/password', { current_password: 'definitely-wrong', new_password: newPassword }, s.access),
      422,
      'validation_failed',
      ['current_password'],
    );
    expectError(await post('/api/auth/password', { current_password: s.password, new_password: 'short' }, s.access), 422, 'validation_failed', [
      'new_password',
    ]);
    expectError(
      await post('/api/auth/password', { current_password: s.password, new_password: s.password }, s.access),
      422,
      'validation_failed',
      ['new_password'],
    );

    expectStatus(await post('/api/auth/password', { current_password: s.password, new_password: newPassword }, s.access), 204);

    expectError(await post('/api/auth/login', { email: s.email, password: s.password }), 401, 'invalid_credentials');
    const fresh = await login(s.email, newPassword);
    assert.equal(fresh.user.id, s.id);
    expectError(await refresh(s.refresh), 401, ['invalid_refresh_token', 'refresh_token_reused']);
    expectStatus(await refresh(fresh.refresh_token), 200);

    const audit = await listAll('/api/audit?action=password_change', await asAdmin());
    const mine = audit.filter((r) => r.actor_user_id === s.id || r.entity_id === s.id);
    assert.notEqual(mine.length, 0, `no password_change audit row for user ${s.id} among ${audit.length} rows`);
  });

  test('no token is 401', async () => {
    assertUnauthorized(await post('/api/auth/password', { current_password: 'a-password', new_password: 'b-password' }), false);
  });
});

describe('deactivated user', () => {
  test('right password is 403 account_disabled, wrong password 401, refresh token 401', async () => {
    const clinic = await createClinic();
    const s = await staffSession('DOCTOR', clinic.id);
    const res = expectStatus(await post(`/api/users/${s.id}/deactivate`, {}, await asAdmin()), 200);
    assert.equal(res.body.active, false);
    assert.equal(res.body.id, s.id);

    expectError(await post('/api/auth/login', { email: s.email, password: s.password }), 403, 'account_disabled');
    expectError(await post('/api/auth/login', { email: s.email, password: 'wrong-password' }), 401, 'invalid_credentials');
    expectError(await refresh(s.refresh), 401, 'invalid_refresh_token');
  });
});

describe('access token attacks', () => {
  const envSkip = (name) => (process.env[name] ? false : `${name} is not set`);

  async function realToken() {
    const t = await login('reception1@demo.clinic');
    const [h, p, sig] = t.access_token.split('.');
    return { token: t.access_token, header: decodeJwtPart(h), payload: decodeJwtPart(p), parts: [h, p, sig], user: t.user };
  }

  function es256(payload, pem) {
    const header = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT' }));
    const body = b64url(JSON.stringify(payload));
    const sig = cryptoSign('sha256', Buffer.from(`${header}.${body}`), { key: pem, dsaEncoding: 'ieee-p1363' });
    return `${header}.${body}.${sig.toString('base64url')}`;
  }

  test('the issued token is an ES256 JWT with an exp claim', async () => {
    const { header, payload } = await realToken();
    assert.equal(header.alg, 'ES256');
    assert.equal(typeof payload.exp, 'number');
    assert.equal(payload.exp > Date.now() / 1000, true, `exp ${payload.exp} is not in the future`);
  });

  test('missing token: 401 with WWW-Authenticate: Bearer', async () => {
    assertUnauthorized(await get('/api/auth/me'), false);
    assertUnauthorized(await get('/api/patients'), false);
  });

  test('garbage tokens: 401', async () => {
    for (const bad of ['garbage', 'a.b.c', 'eyJhbGciOiJFUzI1NiJ9..', `${'x'.repeat(5000)}`]) {
      assertUnauthorized(await get('/api/auth/me', bad), true);
    }
    const noScheme = await request('GET', '/api/auth/me', { headers: { authorization: 'Basic YWRtaW46eA==' } });
    expectError(noScheme, 401, 'unauthorized');
  });

  test('alg none: 401', async () => {
    const { parts } = await realToken();
    const header = b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }));
    assertUnauthorized(await get('/api/auth/me', `${header}.${parts[1]}.`), true);
    const headerNone2 = b64url(JSON.stringify({ alg: 'None', typ: 'JWT' }));
    assertUnauthorized(await get('/api/auth/me', `${headerNone2}.${parts[1]}.`), true);
  });

  test('tampered payload (role ADMIN, original signature): 401', async () => {
    const { parts, payload } = await realToken();
    const forged = b64url(JSON.stringify({ ...payload, role: 'ADMIN' }));
    assertUnauthorized(await get('/api/auth/me', `${parts[0]}.${forged}.${parts[2]}`), true);
    assertUnauthorized(await get('/api/users', `${parts[0]}.${forged}.${parts[2]}`), true);
  });

  test('HS256 signed with the public key as HMAC secret: 401', { skip: envSkip('JWT_PUBLIC_KEY_FILE') }, async () => {
    const pem = readFileSync(process.env.JWT_PUBLIC_KEY_FILE);
    const { payload } = await realToken();
    for (const claims of [payload, { ...payload, role: 'ADMIN' }]) {
      const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
      const body = b64url(JSON.stringify(claims));
      for (const secret of [pem, pem.toString('utf8').trim()]) {
        const sig = createHmac('sha256', secret).update(`${header}.${body}`).digest('base64url');
        assertUnauthorized(await get('/api/auth/me', `${header}.${body}.${sig}`), true);
      }
    }
  });

  test('expired token signed with the real key: 401 (a valid one signed the same way works)', { skip: envSkip('JWT_PRIVATE_KEY_FILE') }, async () => {
    const pem = readFileSync(process.env.JWT_PRIVATE_KEY_FILE, 'utf8');
    const { payload, user } = await realToken();
    const now = Math.floor(Date.now() / 1000);

    const valid = es256({ ...payload, iat: now, exp: now + 300, jti: randomBytes(16).toString('hex') }, pem);
    const ok = expectStatus(await get('/api/auth/me', valid), 200);
    assert.equal(ok.body.id, user.id);

    const expired = es256({ ...payload, iat: now - 7200, exp: now - 3600, jti: randomBytes(16).toString('hex') }, pem);
    assertUnauthorized(await get('/api/auth/me', expired), true);

  });
});
