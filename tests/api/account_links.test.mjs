// Account links (DESIGN §10 "Account links", sql/0022_account_links.sql, api-server/h_account_links.c): the desk
// creates a patient's account without a password and the activation link goes to the patient's own e-mail, received
// here by a real SMTP server (npm smtp-server) from an api-server started with SMTP_URL; the link sets the password;
// links are single use, expire and replace each other; password reset for every role with one answer for unknown
// e-mails; the per-account and per-address limits; permissions; the token never in an answer or the audit log.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { SMTPServer } from 'smtp-server';

import {
  asAdmin,
  createClinic,
  createPatient,
  createStaff,
  expectError,
  expectStatus,
  freshEmail,
  psql,
  request,
  staffSession,
  startApi,
  uniq,
} from '../lib/api.mjs';

const LINK_URL = 'http://console.test:8080/activate';
const PER_ACCOUNT = 2;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The text of a message: its headers (RFC 2047 words decoded) and every base64 part decoded.
function messageText(raw) {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]/g, ' ')
    .replace(/=\?UTF-8\?B\?([A-Za-z0-9+/=]*)\?=/gi, (_, b) => Buffer.from(b, 'base64').toString('utf8'));
  const parts = [...raw.matchAll(/Content-Transfer-Encoding: base64\r\n\r\n([A-Za-z0-9+/=\r\n]+)/gi)]
    .map((m) => Buffer.from(m[1].replace(/\s+/g, ''), 'base64').toString('utf8'));
  return [head, ...parts].join('\n');
}

const mail = [];
const smtp = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  disableReverseLookup: true,
  onData(stream, session, cb) {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => {
      mail.push({ to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()), text: messageText(Buffer.concat(chunks).toString('utf8')) });
      cb();
    });
  },
});
let api;
const base = () => api.url;
const call = (method, path, body, token) => request(method, path, { base: base(), body, token });

before(async () => {
  await new Promise((r) => smtp.listen(0, '127.0.0.1', r));
  api = await startApi({
    SMTP_URL: `smtp://127.0.0.1:${smtp.server.address().port}`, SMTP_FROM: 'no-reply@clinic.test', SMTP_STARTTLS: 'off',
    DELIVERY_WORKERS: '1', DELIVERY_POLL_MS: '200', ACCOUNT_LINK_URL: LINK_URL,
    PASSWORD_RESET_PER_ACCOUNT: String(PER_ACCOUNT), PASSWORD_RESET_PER_ADDRESS: '1000',
  });
});
after(async () => {
  await api?.stop();
  await new Promise((r) => smtp.close(r));
});

// The messages to address so far.
const mailTo = (address) => mail.filter((m) => m.to.includes(address.toLowerCase()));

// Waits for the n-th message to address and returns the token of its link.
async function linkFor(address, n = 1) {
  const deadline = Date.now() + 15000;
  while (mailTo(address).length < n) {
    if (Date.now() > deadline) assert.fail(`no message #${n} to ${address}`);
    await sleep(100);
  }
  const m = mailTo(address)[n - 1];
  const found = new RegExp(`${LINK_URL.replace(/[.?]/g, '\\$&')}\\?token=([A-Za-z0-9_-]{43})`).exec(m.text);
  assert.ok(found, `no link in ${m.text}`);
  return { token: found[1], text: m.text };
}

const login = (email, password) => call('POST', '/api/auth/login', { email, password });

// A patient of clinicId with an account activated through the link in their mail, signed in.
async function patientSession(clinicId) {
  const email = freshEmail('patient');
  const patient = await createPatient(await asAdmin(), { clinic_id: clinicId, email });
  expectStatus(await call('POST', `/api/patients/${patient.id}/account`, {}, await asAdmin()), 201);
  const password = `pw-${uniq()}`;
  expectStatus(await call('POST', '/api/auth/activate', { token: (await linkFor(email)).token, password }), 204);
  const tokens = expectStatus(await login(email, password), 200).body;
  return { patient, email, password, access: tokens.access_token, refresh: tokens.refresh_token };
}

describe('patient account activation', () => {
  let clinic;
  let rec;
  before(async () => {
    clinic = await createClinic({ language: 'en' });
    rec = await staffSession('RECEPTIONIST', clinic.id);
  });

  test('the desk sends the link; the patient sets the password and signs in; the desk never sees it', async () => {
    const email = freshEmail('activate');
    const p = await createPatient(rec.access, { email, phone: '+55 11 98888-7777' });
    const res = expectStatus(await call('POST', `/api/patients/${p.id}/account`, {}, rec.access), 201);
    assert.equal(res.body.email, email);
    assert.equal(res.body.role, 'PATIENT');
    assert.equal(res.body.patient_id, p.id);
    const { token, text } = await linkFor(email);
    assert.match(text, /activate your account/);
    assert.match(text, new RegExp(clinic.name));
    assert.doesNotMatch(res.text, new RegExp(token));
    // no password signs in before activation
    expectError(await login(email, '$argon2id$unset'), 401, 'invalid_credentials');

    const password = `pw-${uniq()}`;
    expectStatus(await call('POST', '/api/auth/activate', { token, password }), 204);
    const tokens = expectStatus(await login(email, password), 200).body;
    const me = expectStatus(await call('GET', '/api/patients/me', undefined, tokens.access_token), 200).body;
    assert.equal(me.id, p.id);

    // the link is single use
    expectError(await call('POST', '/api/auth/activate', { token, password: 'another-password' }), 400, 'invalid_link');
    // an account with a password: no new activation link
    expectError(await call('POST', `/api/patients/${p.id}/account`, {}, rec.access), 409, 'conflict');

    // audited, without the token anywhere (audit rows, the admin's delivery list)
    const audit = await psql(`SELECT string_agg(action || ' ' || details::text, E'\\n' ORDER BY id) FROM audit_log
                              WHERE entity = 'user' AND entity_id = ${res.body.id}`);
    assert.match(audit, /patient_account_create/);
    assert.match(audit, /account_link_issued .*"purpose": "activation"/);
    assert.match(audit, /account_link_used/);
    assert.ok(!audit.includes(token));
    const admin = await asAdmin();
    const list = expectStatus(await call('GET', `/api/deliveries`, undefined, admin), 200);
    assert.ok(!list.text.includes(token));
    // once delivered, the queue forgets the link
    const payloads = await psql(`SELECT string_agg(payload::text, ' ') FROM deliveries WHERE entity = 'account_link'
                                 AND recipient = '${email}' AND status = 'delivered'`);
    assert.ok(payloads && !payloads.includes(token));
  });

  test('a password in the body is refused; the contacts must be the record\'s', async () => {
    const p = await createPatient(rec.access, { email: freshEmail('pw'), phone: '+55 11 97777-6666' });
    expectError(await call('POST', `/api/patients/${p.id}/account`, { password: 'desk-chosen-1' }, rec.access), 422, 'validation_failed', ['password']);
    expectError(await call('POST', `/api/patients/${p.id}/account`, { email: freshEmail('desk') }, rec.access), 422, 'validation_failed', ['email']);
    expectError(await call('POST', `/api/patients/${p.id}/account`, { phone: '+55 11 90000-0000' }, rec.access), 422, 'validation_failed', ['phone']);
    expectError(await call('POST', `/api/patients/${p.id}/account`, { email: 'nope' }, rec.access), 422, 'validation_failed', ['email']);
    const none = await createPatient(rec.access, {});
    expectError(await call('POST', `/api/patients/${none.id}/account`, {}, rec.access), 422, 'validation_failed', ['email']);
    // nothing was written
    assert.equal(await psql(`SELECT count(*) FROM patients WHERE id IN (${p.id}, ${none.id}) AND user_id IS NOT NULL`), '0');
    // the record's own e-mail, in another case, is accepted
    expectStatus(await call('POST', `/api/patients/${p.id}/account`, { email: p.email.toUpperCase() }, rec.access), 201);
  });

  test('a second link replaces the first; a link expires', async () => {
    const email = freshEmail('again');
    const p = await createPatient(rec.access, { email });
    expectStatus(await call('POST', `/api/patients/${p.id}/account`, {}, rec.access), 201);
    const first = (await linkFor(email, 1)).token;
    expectStatus(await call('POST', `/api/patients/${p.id}/account`, {}, rec.access), 200);
    const second = (await linkFor(email, 2)).token;
    assert.notEqual(first, second);
    expectError(await call('POST', '/api/auth/activate', { token: first, password: 'first-password' }), 400, 'invalid_link');
    // the clock moves past the second link's end
    await psql(`UPDATE account_links SET expires_at = now() - interval '1 second'
                WHERE token_hash = encode(sha256(convert_to('${second}', 'UTF8')), 'hex')`);
    expectError(await call('POST', '/api/auth/activate', { token: second, password: 'second-password' }), 400, 'invalid_link');
    // unknown and malformed tokens: the same answer; a short password: 422
    expectError(await call('POST', '/api/auth/activate', { token: 'x'.repeat(43), password: 'any-password' }), 400, 'invalid_link');
    expectError(await call('POST', '/api/auth/activate', { token: first, password: 'short' }), 422, 'validation_failed', ['password']);
    expectError(await call('POST', '/api/auth/activate', { password: 'long-enough' }), 422, 'validation_failed', ['token']);
    // a third link works
    expectStatus(await call('POST', `/api/patients/${p.id}/account`, {}, rec.access), 200);
    const third = (await linkFor(email, 3)).token;
    expectStatus(await call('POST', '/api/auth/activate', { token: third, password: 'third-password' }), 204);
    expectStatus(await login(email, 'third-password'), 200);
  });

  test('who may send it: the clinic\'s desk and admins; not another clinic, doctors or patients', async () => {
    const p = await createPatient(rec.access, { email: freshEmail('perm') });
    const other = await staffSession('RECEPTIONIST', (await createClinic()).id);
    expectError(await call('POST', `/api/patients/${p.id}/account`, {}, other.access), 404, 'not_found');
    const doc = await staffSession('DOCTOR', clinic.id);
    expectError(await call('POST', `/api/patients/${p.id}/account`, {}, doc.access), 403, 'forbidden');
    const pat = await patientSession(clinic.id);
    expectError(await call('POST', `/api/patients/${p.id}/account`, {}, pat.access), 403, 'forbidden');
    expectError(await call('POST', `/api/patients/${p.id}/account`, {}), 401, 'unauthorized');
    assert.equal(await psql(`SELECT count(*) FROM patients WHERE id = ${p.id} AND user_id IS NOT NULL`), '0');
  });

  test('the message is in the clinic\'s language (pt-BR)', async () => {
    const ptClinic = await createClinic({ language: 'pt-BR' });
    const admin = await asAdmin();
    const email = freshEmail('pt');
    const p = await createPatient(admin, { clinic_id: ptClinic.id, email });
    expectStatus(await call('POST', `/api/patients/${p.id}/account`, {}, admin), 201);
    const { text } = await linkFor(email);
    assert.match(text, /ative sua conta/);
    assert.match(text, /vale por 48 horas/);
  });
});

describe('password reset', () => {
  test('every role gets a link that sets a new password and ends its sessions', async () => {
    const clinic = await createClinic();
    for (const role of ['ADMIN', 'RECEPTIONIST', 'DOCTOR', 'PATIENT']) {
      const s = role === 'PATIENT' ? await patientSession(clinic.id) : await staffSession(role, clinic.id);
      const before = mailTo(s.email).length;
      const res = expectStatus(await call('POST', '/api/auth/password-reset', { email: s.email.toUpperCase() }), 202);
      assert.deepEqual(res.body, {});
      const { token, text } = await linkFor(s.email, before + 1);
      assert.match(text, /senha/);
      const password = `new-${uniq()}`;
      expectStatus(await call('POST', '/api/auth/activate', { token, password }), 204);
      expectError(await login(s.email, s.password), 401, 'invalid_credentials');
      expectStatus(await login(s.email, password), 200);
      expectError(await call('GET', '/api/auth/me', undefined, s.access), 401, 'unauthorized');
      expectError(await call('POST', '/api/auth/refresh', { refresh_token: s.refresh }), 401, 'invalid_refresh_token');
      expectError(await call('POST', '/api/auth/activate', { token, password: 'again-password' }), 400, 'invalid_link');
    }
    const used = await psql(`SELECT count(*) FROM audit_log WHERE action = 'account_link_used' AND details->>'purpose' = 'reset'`);
    assert.ok(Number(used) >= 4);
  });

  test('an unknown or deactivated e-mail gets the same answer and no message', async () => {
    const unknown = freshEmail('nobody');
    const a = expectStatus(await call('POST', '/api/auth/password-reset', { email: unknown }), 202);
    const off = await createStaff('RECEPTIONIST', (await createClinic()).id);
    await psql(`UPDATE users SET active = false WHERE id = ${off.id}`);
    const b = expectStatus(await call('POST', '/api/auth/password-reset', { email: off.email }), 202);
    assert.equal(a.text, b.text);
    expectError(await call('POST', '/api/auth/password-reset', {}), 422, 'validation_failed', ['email']);
    await sleep(1000);
    assert.equal(mailTo(unknown).length + mailTo(off.email).length, 0);
    assert.equal(await psql(`SELECT count(*) FROM account_links WHERE user_id = ${off.id}`), '0');
  });

  test(`an account gets at most ${PER_ACCOUNT} reset links per window; the answer does not change`, async () => {
    const s = await createStaff('DOCTOR', (await createClinic()).id);
    for (let i = 0; i < PER_ACCOUNT + 2; i++) expectStatus(await call('POST', '/api/auth/password-reset', { email: s.email }), 202);
    assert.equal(await psql(`SELECT count(*) FROM account_links WHERE user_id = ${s.id}`), String(PER_ACCOUNT));
    assert.equal(await psql(`SELECT count(*) FROM audit_log WHERE action = 'password_reset_throttled' AND entity_id = ${s.id}`), '2');
    // only the newest is live
    assert.equal(await psql(`SELECT count(*) FROM account_links WHERE user_id = ${s.id} AND revoked_at IS NULL`), '1');
  });

  test('one address asking too often is answered 429 with Retry-After', async () => {
    const limited = await startApi({ PASSWORD_RESET_PER_ADDRESS: '3', DELIVERY_WORKERS: '0' });
    try {
      await psql('DELETE FROM password_reset_requests');
      for (let i = 0; i < 3; i++) {
        expectStatus(await request('POST', '/api/auth/password-reset', { base: limited.url, body: { email: freshEmail('flood') } }), 202);
      }
      const res = await request('POST', '/api/auth/password-reset', { base: limited.url, body: { email: freshEmail('flood') } });
      expectError(res, 429, 'too_many_attempts');
      assert.ok(Number(res.headers.get('retry-after')) > 3500);
    } finally {
      await limited.stop();
      await psql('DELETE FROM password_reset_requests');
    }
  });
});
