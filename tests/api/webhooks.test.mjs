// Webhooks for integrators (DESIGN §10, sql/0023_webhooks.sql, api-server/h_webhooks.c, webhook_send.c,
// webhook_url.c): ADMIN subscriptions whose secret is shown once; each matching outbox event queued as a
// 'webhook' delivery in the event's transaction and POSTed to a real node:http receiver started here, signed
// (X-Clinic-Signature checked with node:crypto over the raw body); retries with backoff, redirects not
// followed, a receiver that times out, the SSRF guard at create time and at delivery time, the events and
// clinic filters, secret rotation with both signatures valid in the overlap, disabling after the failure
// window, re-enabling by hand, and the role boundary.
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { after, afterEach, describe, test } from 'node:test';

import {
  asAdmin,
  createClinic,
  createPatient,
  createService,
  createStaff,
  del,
  expectError,
  expectStatus,
  get,
  patch,
  post,
  psql,
  staffSession,
  patientSession,
  startApi,
  uniq,
} from '../lib/api.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const YEAR = new Date().getUTCFullYear() + 1;

async function waitFor(what, fn, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

// The receiver: answer(req, n) returns {status, headers, hang} for the n-th request (1-based) it gets.
async function receiver(answer = () => ({ status: 200 })) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const r = { method: req.method, url: req.url, headers: req.headers, raw, at: Date.now() };
      requests.push(r);
      const a = answer(r, requests.length);
      if (a.hang) return; // never answers
      res.writeHead(a.status, a.headers || {});
      res.end('ok');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  return {
    port,
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

// A receiver's check, as README "Webhooks" shows it: every v1 that matches one of the secrets.
function verified(req, secrets) {
  const parts = req.headers['x-clinic-signature'].split(',');
  const t = parts.find((p) => p.startsWith('t=')).slice(2);
  const sigs = parts.filter((p) => p.startsWith('v1=')).map((p) => Buffer.from(p.slice(3), 'hex'));
  return secrets.map((s) => {
    const want = createHmac('sha256', s).update(`${t}.${req.raw}`).digest();
    return sigs.some((g) => g.length === want.length && timingSafeEqual(g, want));
  });
}

const FAST = { DELIVERY_POLL_MS: '200', DELIVERY_BACKOFF_BASE_MS: '300', DELIVERY_BACKOFF_MAX_MS: '1200', DELIVERY_WORKERS: '1', LOG_LEVEL: 'warning' };
const stops = [];
after(async () => { for (const s of stops.reverse()) await s(); });
// Each test's own api-servers stop when it ends, so no sender of one test claims another's deliveries.
const servers = [];
afterEach(async () => { while (servers.length) await servers.pop()(); });

// A sending api-server allowed to reach 127.0.0.1.
async function sender(env = {}) {
  const api = await startApi({ ...FAST, WEBHOOK_SEND: '1', WEBHOOK_ALLOW_PRIVATE: '1', ...env });
  servers.push(api.stop);
  return api;
}

async function world() {
  const clinic = await createClinic({ name: `Clínica ${uniq()}`, timezone: 'Asia/Tokyo' });
  const doctor = await createStaff('DOCTOR', clinic.id);
  const service = await createService(clinic.id);
  const admin = await asAdmin();
  const patient = await createPatient(admin, { clinic_id: clinic.id, full_name: `João ${uniq()}` });
  return { clinic, doctor, service, patient, admin };
}

let slot = 0;
async function book(w) {
  slot += 1;
  const start = new Date(Date.UTC(YEAR, 4, 10, 1, 0) + slot * 3600000).toISOString().replace('.000', '');
  const res = await post('/api/appointments', {
    patient_id: w.patient.id, doctor_id: w.doctor.user.doctor_id, service_id: w.service.id, start_time: start, consultation_type: 'in_person',
  }, w.admin);
  expectStatus(res, 201);
  return res.body;
}

async function subscribe(api, token, body) {
  const res = expectStatus(await post('/api/webhooks', body, token, { base: api.url }), 201);
  stops.push(async () => { await del(`/api/webhooks/${res.body.id}`, token); });
  return res.body;
}

async function rowsOf(subId) {
  return JSON.parse(await psql(`SELECT coalesce(json_agg(json_build_object('id', id, 'kind', kind, 'status', status,
    'attempts', attempts, 'last_error', last_error) ORDER BY id), '[]') FROM deliveries
    WHERE channel = 'webhook' AND entity = 'webhook' AND entity_id = ${Number(subId)}`));
}

describe('subscriptions', () => {
  test('create shows the secret once; GET and the list never show it; the audit row holds no secret', async () => {
    const api = await sender();
    const admin = await asAdmin();
    const rx = await receiver();
    stops.push(rx.close);
    const sub = await subscribe(api, admin, { url: rx.url, events: ['appointment_created', 'appointment_cancelled'] });
    assert.match(sub.secret, /^whsec_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(sub.events, ['appointment_created', 'appointment_cancelled']);
    assert.equal(sub.active, true);
    assert.equal(sub.clinic_id, null);
    const one = expectStatus(await get(`/api/webhooks/${sub.id}`, admin), 200);
    assert.equal(one.body.secret, undefined);
    assert.ok(!JSON.stringify(one.body).includes(sub.secret));
    const list = expectStatus(await get('/api/webhooks?limit=100', admin), 200);
    assert.ok(list.body.items.some((w) => w.id === sub.id));
    assert.ok(!JSON.stringify(list.body).includes(sub.secret));
    const audit = await psql(`SELECT string_agg(details::text, ' ') FROM audit_log WHERE entity = 'webhook' AND entity_id = ${sub.id}`);
    assert.ok(audit.includes(rx.url) && !audit.includes(sub.secret), audit);
    expectStatus(await del(`/api/webhooks/${sub.id}`, admin), 204);
    expectStatus(await get(`/api/webhooks/${sub.id}`, admin), 404);
  });

  test('validation: events, clinic, and the URL guard naming url (loopback, private, link-local, metadata, ULA, localhost, schemes, credentials)', async () => {
    const admin = await asAdmin();
    expectError(await post('/api/webhooks', { url: 'https://example.com/h', events: [] }, admin), 422, 'validation_failed', ['events']);
    expectError(await post('/api/webhooks', { url: 'https://example.com/h', events: ['nope'] }, admin), 422, 'validation_failed', ['events']);
    expectError(await post('/api/webhooks', { events: ['queue_updated'] }, admin), 422, 'validation_failed', ['url']);
    expectError(await post('/api/webhooks', { url: 'http://93.184.215.14/h', events: ['queue_updated'], clinic_id: 999999999 }, admin), 422, 'validation_failed', ['clinic_id']);
    for (const url of [
      'http://127.0.0.1:9/h', 'http://127.1.2.3/h', 'http://10.1.2.3/h', 'http://172.16.0.1/h', 'http://172.31.255.254/h',
      'http://192.168.1.1/h', 'http://169.254.169.254/latest/meta-data/', 'http://169.254.1.1/', 'http://[::1]/h',
      'http://[fc00::1]/h', 'http://[fd12:3456::1]/h', 'http://[fe80::1]/h', 'http://[::ffff:127.0.0.1]/h', 'http://0.0.0.0/h',
      'http://localhost:8080/h', 'http://2130706433/h', 'http://100.64.0.1/h',
      'ftp://example.com/h', 'file:///etc/passwd', 'gopher://example.com/', 'javascript:alert(1)', 'example.com/h',
      'https://user:pass@example.com/h', 'https://user@example.com/h', 'http://exa mple.com/', 'http://no-such-host.invalid/h',
      `https://example.com/${'a'.repeat(2000)}`,
    ]) {
      const res = await post('/api/webhooks', { url, events: ['queue_updated'] }, admin);
      expectError(res, 422, 'validation_failed', ['url']);
    }
    // Public addresses pass the guard (no connection is made at create time).
    const quiet = await createClinic(); // no events: nothing is queued for it
    const ok = expectStatus(await post('/api/webhooks', { url: 'https://93.184.215.14:8443/hook?x=1', events: ['queue_updated'], clinic_id: quiet.id }, admin), 201);
    expectStatus(await del(`/api/webhooks/${ok.body.id}`, admin), 204);
  });

  test('only ADMIN: the other roles get 403 on every route; no token 401', async () => {
    const clinic = await createClinic();
    const admin = await asAdmin();
    const ok = expectStatus(await post('/api/webhooks', { url: 'https://93.184.215.14/h', events: ['queue_updated'], clinic_id: clinic.id }, admin), 201);
    const tokens = [
      (await staffSession('RECEPTIONIST', clinic.id)).access,
      (await staffSession('DOCTOR', clinic.id)).access,
      (await patientSession(clinic.id)).access,
    ];
    for (const t of tokens) {
      expectError(await get('/api/webhooks', t), 403, 'forbidden');
      expectError(await post('/api/webhooks', { url: 'https://93.184.215.14/h', events: ['queue_updated'] }, t), 403, 'forbidden');
      expectError(await get(`/api/webhooks/${ok.body.id}`, t), 403, 'forbidden');
      expectError(await patch(`/api/webhooks/${ok.body.id}`, { active: false }, t), 403, 'forbidden');
      expectError(await post(`/api/webhooks/${ok.body.id}/rotate-secret`, {}, t), 403, 'forbidden');
      expectError(await del(`/api/webhooks/${ok.body.id}`, t), 403, 'forbidden');
    }
    expectStatus(await get('/api/webhooks'), 401);
    expectStatus(await del(`/api/webhooks/${ok.body.id}`, admin), 204);
    expectStatus(await del(`/api/webhooks/${ok.body.id}`, admin), 404);
    expectError(await patch(`/api/webhooks/${ok.body.id}`, { active: 'yes' }, admin), 422, 'validation_failed', ['active']);
  });
});

describe('delivery', () => {
  test('a booking arrives signed, with the envelope as the raw body and the delivery id; the events and clinic filters hold', async () => {
    const api = await sender();
    const w = await world();
    const other = await world();
    const rx = await receiver();
    stops.push(rx.close);
    const admin = w.admin;
    const sub = await subscribe(api, admin, { url: rx.url, events: ['appointment_created'], clinic_id: w.clinic.id });
    const cancelOnly = await subscribe(api, admin, { url: `${rx.url}?cancel`, events: ['appointment_cancelled'], clinic_id: w.clinic.id });
    const appt = await book(w);
    await book(other); // another clinic: not sent to sub
    const [row] = await rowsOf(sub.id);
    assert.equal(row.kind, 'appointment_created');
    assert.deepEqual(await rowsOf(cancelOnly.id), []);
    const req = await waitFor('the webhook', () => rx.requests.find((r) => r.headers['x-clinic-delivery'] === String(row.id)));
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/hook');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['x-clinic-event'], 'appointment_created');
    assert.match(req.headers['x-clinic-signature'], /^t=\d+,v1=[0-9a-f]{64}$/);
    const t = Number(req.headers['x-clinic-signature'].slice(2).split(',')[0]);
    assert.ok(Math.abs(t - Date.now() / 1000) < 60);
    assert.deepEqual(verified(req, [sub.secret, cancelOnly.secret]), [true, false]);
    const env = JSON.parse(req.raw);
    assert.deepEqual(Object.keys(env).sort(), ['data', 'event_id', 'name', 'occurred_at']);
    assert.equal(env.name, 'appointment_created');
    assert.match(env.event_id, /^\d+-\d+$/);
    assert.equal(env.data.appointment.id, appt.id);
    // The same envelope as the event replay.
    const evRow = await psql(`SELECT event_json(e)::text FROM events e WHERE event_cursor(e) = '${env.event_id}'`);
    assert.equal(req.raw, evRow);
    // A tampered body does not verify.
    assert.deepEqual(verified({ ...req, raw: req.raw.replace('appointment_created', 'appointment_createD') }, [sub.secret]), [false]);
    await waitFor('delivered', async () => (await rowsOf(sub.id))[0].status === 'delivered');
    assert.equal(rx.requests.filter((r) => r.headers['x-clinic-delivery'] === String(row.id)).length, 1);
    assert.equal(rx.requests.length, 1, 'the other clinic and the other event were not sent');
    // Cancelling now reaches the second subscription.
    expectStatus(await post(`/api/appointments/${appt.id}/cancel`, { reason: 'x' }, admin), 200);
    const c = await waitFor('the cancellation', () => rx.requests.find((r) => r.url === '/hook?cancel'));
    assert.deepEqual(verified(c, [cancelOnly.secret]), [true]);
  });

  test('500 then 200: retried with growing delays and delivered; the attempts are counted', async () => {
    const api = await sender();
    const w = await world();
    const rx = await receiver((r, n) => ({ status: n <= 2 ? 500 : 200 }));
    stops.push(rx.close);
    const sub = await subscribe(api, w.admin, { url: rx.url, events: ['appointment_created'], clinic_id: w.clinic.id });
    await book(w);
    await waitFor('delivered', async () => (await rowsOf(sub.id))[0]?.status === 'delivered');
    const [row] = await rowsOf(sub.id);
    assert.equal(row.attempts, 3);
    assert.equal(rx.requests.length, 3);
    assert.ok(rx.requests.every((r) => r.headers['x-clinic-delivery'] === String(row.id)), 'the same delivery id on each try');
    const gaps = [rx.requests[1].at - rx.requests[0].at, rx.requests[2].at - rx.requests[1].at];
    // Backoff: base 300 ms × 2^(n-1) scaled by [0.5, 1): at least 150 ms, then at least 300 ms.
    assert.ok(gaps[0] >= 140 && gaps[1] >= 290, `gaps ${gaps}`);
    assert.ok(rx.requests.every((r) => verified(r, [sub.secret])[0]));
    const s = expectStatus(await get(`/api/webhooks/${sub.id}`, w.admin), 200);
    assert.equal(s.body.failing_since, null, 'a success clears the failure clock');
  });

  test('a 302 is not followed; a receiver that does not answer within WEBHOOK_TIMEOUT_SECONDS is retried', async () => {
    const api = await sender({ WEBHOOK_TIMEOUT_SECONDS: '1', DELIVERY_MAX_ATTEMPTS: '2' });
    const w = await world();
    const target = await receiver();
    const rx = await receiver((r) => (r.url === '/hang' ? { hang: true } : { status: 302, headers: { location: target.url } }));
    stops.push(rx.close, target.close);
    const sub = await subscribe(api, w.admin, { url: rx.url, events: ['appointment_created'], clinic_id: w.clinic.id });
    const slow = await subscribe(api, w.admin, { url: `http://127.0.0.1:${rx.port}/hang`, events: ['appointment_created'], clinic_id: w.clinic.id });
    await book(w);
    await waitFor('both failed', async () => (await rowsOf(sub.id))[0]?.status === 'failed' && (await rowsOf(slow.id))[0]?.status === 'failed');
    assert.equal(target.requests.length, 0, 'the redirect was not followed');
    const [r1] = await rowsOf(sub.id);
    assert.match(r1.last_error, /HTTP 302/);
    assert.equal(r1.attempts, 2);
    const [r2] = await rowsOf(slow.id);
    assert.match(r2.last_error, /timed out|Timeout/i);
    assert.equal(r2.attempts, 2);
    assert.equal(rx.requests.filter((r) => r.url === '/hang').length, 2);
  });

  test('without WEBHOOK_ALLOW_PRIVATE a subscription made while allowed is refused at delivery time', async () => {
    const allowed = await sender({ DELIVERY_WORKERS: '0' });
    const strict = await startApi({ ...FAST, WEBHOOK_SEND: '1', DELIVERY_MAX_ATTEMPTS: '2' });
    servers.push(strict.stop);
    const w = await world();
    const rx = await receiver();
    stops.push(rx.close);
    const sub = await subscribe(allowed, w.admin, { url: `http://localhost:${rx.port}/hook`, events: ['appointment_created'], clinic_id: w.clinic.id });
    await book(w);
    await waitFor('failed', async () => (await rowsOf(sub.id))[0]?.status === 'failed');
    const [row] = await rowsOf(sub.id);
    assert.match(row.last_error, /refused at delivery time/);
    assert.equal(rx.requests.length, 0);
  });
});

describe('secret rotation and failures', () => {
  test('rotation: the new secret shown once; both signatures valid during the overlap; none after WEBHOOK_SECRET_OVERLAP_SECONDS=0', async () => {
    const api = await sender();
    const w = await world();
    const rx = await receiver();
    stops.push(rx.close);
    const sub = await subscribe(api, w.admin, { url: rx.url, events: ['appointment_created'], clinic_id: w.clinic.id });
    const rot = expectStatus(await post(`/api/webhooks/${sub.id}/rotate-secret`, {}, w.admin, { base: api.url }), 200);
    assert.match(rot.body.secret, /^whsec_/);
    assert.notEqual(rot.body.secret, sub.secret);
    assert.ok(rot.body.previous_secret_expires_at);
    assert.equal((await get(`/api/webhooks/${sub.id}`, w.admin)).body.secret, undefined);
    await book(w);
    const req = await waitFor('the webhook', () => rx.requests[0]);
    assert.match(req.headers['x-clinic-signature'], /^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    assert.deepEqual(verified(req, [rot.body.secret, sub.secret]), [true, true]);
    // A server without an overlap: the old secret stops signing at once.
    const api2 = await sender({ WEBHOOK_SECRET_OVERLAP_SECONDS: '0' });
    await api.stop();
    const rot2 = expectStatus(await post(`/api/webhooks/${sub.id}/rotate-secret`, {}, w.admin, { base: api2.url }), 200);
    assert.equal(rot2.body.previous_secret_expires_at, null);
    await book(w);
    const req2 = await waitFor('the second webhook', () => rx.requests[1]);
    assert.deepEqual(verified(req2, [rot2.body.secret, rot.body.secret, sub.secret]), [true, false, false]);
    expectStatus(await post('/api/webhooks/999999999/rotate-secret', {}, w.admin), 404);
  });

  test('failing past WEBHOOK_DISABLE_AFTER_SECONDS disables it, audited, admins e-mailed; PATCH {active:true} re-enables', async () => {
    const api = await sender({ WEBHOOK_DISABLE_AFTER_SECONDS: '2', DELIVERY_MAX_ATTEMPTS: '100' });
    const w = await world();
    let up = false;
    const rx = await receiver(() => ({ status: up ? 200 : 503 }));
    stops.push(rx.close);
    const sub = await subscribe(api, w.admin, { url: rx.url, events: ['appointment_created'], clinic_id: w.clinic.id });
    await book(w);
    const off = await waitFor('disabled', async () => {
      const s = (await get(`/api/webhooks/${sub.id}`, w.admin)).body;
      return s.active === false ? s : null;
    });
    assert.ok(off.disabled_at && off.failing_since && off.disabled_reason.startsWith('failing since'));
    const audit = await psql(`SELECT count(*) FROM audit_log WHERE action = 'webhook_disable' AND entity_id = ${sub.id}`);
    assert.equal(audit, '1');
    const mails = JSON.parse(await psql(`SELECT json_agg(recipient) FROM deliveries WHERE channel = 'email' AND kind = 'webhook_disabled' AND entity_id = ${sub.id}`));
    const admins = JSON.parse(await psql(`SELECT json_agg(email) FROM users WHERE role = 'ADMIN' AND active`));
    assert.deepEqual(mails.sort(), admins.sort());
    // Its waiting row is dropped as failed; new events queue nothing while disabled.
    await waitFor('the row failed', async () => (await rowsOf(sub.id))[0].status === 'failed');
    assert.match((await rowsOf(sub.id))[0].last_error, /disabled/);
    await book(w);
    assert.equal((await rowsOf(sub.id)).length, 1);
    // Re-enabled by hand, the receiver fixed: the next event is delivered.
    up = true;
    const on = expectStatus(await patch(`/api/webhooks/${sub.id}`, { active: true }, w.admin), 200);
    assert.equal(on.body.active, true);
    assert.equal(on.body.disabled_at, null);
    await book(w);
    await waitFor('delivered after re-enabling', async () => (await rowsOf(sub.id)).some((r) => r.status === 'delivered'));
  });
});
