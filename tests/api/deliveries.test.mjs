// Outbound messages (DESIGN §10, sql/0021_deliveries.sql, api-server/delivery.c): booking confirmations and
// cancellation notices queued in the transaction of the change, sent by senders (threads of `serve` and
// `api-server deliver`) to a real SMTP server (npm smtp-server) and a real HTTP receiver standing in for the
// SMS gateway, both started here; retries with backoff, failure after the last attempt, a 429's Retry-After,
// messages waiting while no channel is configured, two senders never sending one delivery twice, a sender
// killed mid-delivery, header injection, and the admin's list and retry.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { after, describe, test } from 'node:test';

import { SMTPServer } from 'smtp-server';

import {
  asAdmin,
  createClinic,
  createPatient,
  createService,
  createStaff,
  expectError,
  expectStatus,
  get,
  patch,
  post,
  psql,
  staffSession,
  startApi,
  uniq,
} from '../lib/api.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const YEAR = new Date().getUTCFullYear() + 1;
// Tokyo keeps UTC+9 all year: 01:30Z is 10:30 there.
const TZ = 'Asia/Tokyo';

async function waitFor(what, fn, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

// ------------------------------------------------------------------------------------------------
// Reading the messages: headers unfolded, RFC 2047 words decoded, MIME parts with base64 bodies.
// ------------------------------------------------------------------------------------------------

function decodeWords(v) {
  return v
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?UTF-8\?B\?([A-Za-z0-9+/=]*)\?=/gi, (_, b) => Buffer.from(b, 'base64').toString('utf8'));
}

function splitHead(raw) {
  const at = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, at).replace(/\r\n[ \t]/g, ' ');
  const headers = {};
  for (const line of head.split('\r\n')) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { headers, headLines: raw.slice(0, at).split('\r\n'), body: raw.slice(at + 4) };
}

function parseMail(raw) {
  const { headers, headLines, body } = splitHead(raw);
  const boundary = /boundary="([^"]+)"/.exec(headers['content-type'] || '')?.[1];
  const parts = {};
  for (const chunk of body.split(`--${boundary}`).slice(1, -1)) {
    const p = splitHead(chunk.replace(/^\r\n/, ''));
    parts[p.headers['content-type'].split(';')[0]] = Buffer.from(p.body.replace(/\s+/g, ''), 'base64').toString('utf8');
  }
  return {
    raw,
    headers,
    headLines,
    id: Number(headers['x-clinic-delivery']),
    subject: decodeWords(headers.subject || ''),
    to: decodeWords(headers.to || ''),
    text: parts['text/plain'],
    html: parts['text/html'],
  };
}

// ------------------------------------------------------------------------------------------------
// Receivers
// ------------------------------------------------------------------------------------------------

// An SMTP server; behaviour(msg) says 'ok' (keep it), 'refuse' (554 after DATA) or 'hang' (never answer).
// tls: {key, cert} offers STARTTLS with them ({..., secure: true}: TLS from the first byte, smtps://).
async function smtpSink(behaviour = () => 'ok', tls = null) {
  const messages = [];
  const seen = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: tls ? ['AUTH'] : ['STARTTLS', 'AUTH'],
    ...(tls || {}),
    logger: false,
    disableReverseLookup: true,
    closeTimeout: 200,
    onData(stream, session, cb) {
      const chunks = [];
      stream.on('data', (c) => chunks.push(c));
      stream.on('end', () => {
        const msg = parseMail(Buffer.concat(chunks).toString('utf8'));
        msg.rcpt = session.envelope.rcptTo.map((r) => r.address);
        msg.secure = session.secure;
        msg.at = Date.now();
        seen.push(msg);
        const what = behaviour(msg);
        if (what === 'refuse') {
          const e = new Error('Message refused for testing');
          e.responseCode = 554;
          cb(e);
        } else if (what !== 'hang') {
          messages.push(msg);
          cb();
        }
      });
    },
  });
  server.on('error', () => {});
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `${tls?.secure ? 'smtps' : 'smtp'}://127.0.0.1:${server.server.address().port}`;
  return { url, messages, seen, close: () => new Promise((r) => server.close(r)) };
}

// An SMTP server that accepts the envelope, says 354 to DATA and drops the connection at the first bytes.
async function flakySmtp() {
  const state = { dropped: 0 };
  const sockets = new Set();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    sock.write('220 flaky ESMTP\r\n');
    let buf = '';
    let inData = false;
    sock.on('data', (d) => {
      if (inData) {
        state.dropped += 1;
        sock.destroy();
        return;
      }
      buf += d;
      let i;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const cmd = buf.slice(0, 4).toUpperCase();
        buf = buf.slice(i + 2);
        if (cmd === 'DATA') {
          inData = true;
          sock.write('354 go ahead\r\n');
          return;
        }
        sock.write(cmd === 'QUIT' ? '221 bye\r\n' : '250 ok\r\n');
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `smtp://127.0.0.1:${server.address().port}`,
    state,
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(r); }),
  };
}

// The SMS gateway: answer(body, n) returns {status, headers} for the n-th request of that id (1-based).
async function smsGateway(answer = () => ({ status: 202 })) {
  const requests = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (d) => { text += d; });
    req.on('end', () => {
      const body = JSON.parse(text);
      requests.push({ body, headers: req.headers, at: Date.now() });
      const n = requests.filter((r) => r.body.id === body.id).length;
      const a = answer(body, n);
      res.writeHead(a.status, { 'content-type': 'application/json', ...(a.headers || {}) });
      res.end('{}');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}/send`,
    requests,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

// Quick retries for the tests.
const FAST = { DELIVERY_POLL_MS: '200', DELIVERY_BACKOFF_BASE_MS: '200', DELIVERY_BACKOFF_MAX_MS: '800', SMTP_FROM: '"Clínica Teste" <no-reply@clinic.test>', SMTP_STARTTLS: 'off' };

// `api-server deliver` on its own; stop() sends SIGTERM and resolves with the exit code.
function startDeliver(env) {
  const child = spawn(process.env.API_BIN, ['deliver'], { env: { ...process.env, LOG_LEVEL: 'warning', ...FAST, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
  const exited = new Promise((r) => child.on('exit', (code, sig) => r({ code, sig, err })));
  return {
    child,
    exited,
    stop: () => { child.kill('SIGTERM'); return exited; },
    kill: () => { child.kill('SIGKILL'); return exited; },
  };
}

// ------------------------------------------------------------------------------------------------
// Fixtures
// ------------------------------------------------------------------------------------------------

async function world(language, patientFields = {}) {
  const clinic = await createClinic({ name: `Clínica ${uniq()}`, timezone: TZ, language });
  const doctor = await createStaff('DOCTOR', clinic.id, { full_name: `Dra. Ana ${uniq()}` });
  const service = await createService(clinic.id);
  const admin = await asAdmin();
  const patient = await createPatient(admin, {
    clinic_id: clinic.id, full_name: `João ${uniq()}`, email: `p.${uniq()}@mail.test`, phone: '+55 11 91234-5678', ...patientFields,
  });
  return { clinic, doctor, service, patient, admin };
}

let slot = 0;
async function book(w, startTime) {
  slot += 1;
  const start = startTime || new Date(Date.UTC(YEAR, 2, 10, 1, 30) + slot * 3600000).toISOString().replace('.000', '');
  const res = await post('/api/appointments', {
    patient_id: w.patient.id, doctor_id: w.doctor.user.doctor_id, service_id: w.service.id, start_time: start, consultation_type: 'in_person',
  }, w.admin);
  expectStatus(res, 201);
  return res.body;
}

async function rowsOf(entityId) {
  const out = await psql(`SELECT coalesce(json_agg(json_build_object('id', id, 'channel', channel, 'kind', kind, 'status', status,
    'attempts', attempts, 'last_error', last_error, 'recipient', recipient) ORDER BY id), '[]') FROM deliveries
    WHERE entity = 'appointment' AND entity_id = ${Number(entityId)}`);
  return JSON.parse(out);
}

const stops = [];
after(async () => { for (const s of stops.reverse()) await s(); });

// ------------------------------------------------------------------------------------------------

describe('booking confirmation and cancellation notice', () => {
  test('a booking queues an e-mail and an SMS in the clinic language and zone; the senders deliver them', async () => {
    const smtp = await smtpSink();
    const sms = await smsGateway();
    stops.push(smtp.close, sms.close);
    const api = await startApi({ ...FAST, SMTP_URL: smtp.url, SMS_GATEWAY_URL: sms.url, SMS_GATEWAY_TOKEN: 'gw-secret', DELIVERY_WORKERS: '2' });
    stops.push(api.stop);

    for (const [lang, when, subject, line] of [
      ['pt-BR', `10/03/${YEAR} às 11:30 (Asia/Tokyo)`, 'consulta confirmada para', 'está confirmada para'],
      ['en', `${YEAR}-03-10 at 11:30 (Asia/Tokyo)`, 'appointment confirmed for', 'is confirmed for'],
    ]) {
      const w = await world(lang);
      const appt = await book(w, `${YEAR}-03-10T02:30:00Z`);
      const rows = await rowsOf(appt.id);
      assert.deepEqual(rows.map((r) => [r.channel, r.kind]).sort(), [['email', 'appointment_confirmation'], ['sms', 'appointment_confirmation']]);
      const email = rows.find((r) => r.channel === 'email');
      const smsRow = rows.find((r) => r.channel === 'sms');
      const msg = await waitFor('the confirmation e-mail', () => smtp.messages.find((m) => m.id === email.id));
      assert.deepEqual(msg.rcpt, [w.patient.email]);
      assert.equal(msg.subject, `${w.clinic.name}: ${subject} ${when}`);
      assert.equal(msg.to, `${w.patient.full_name} <${w.patient.email}>`);
      assert.match(msg.headers['message-id'], new RegExp(`^<delivery-${email.id}@clinic\\.test>$`));
      assert.match(msg.headers.from, /<no-reply@clinic\.test>$/);
      assert.equal(decodeWords(msg.headers.from), 'Clínica Teste <no-reply@clinic.test>');
      for (const body of [msg.text, msg.html]) {
        assert.ok(body.includes(line), `${lang} body says ${line}: ${body}`);
        assert.ok(body.includes(when), `${lang} body has the time in the clinic zone: ${body}`);
        assert.ok(body.includes(w.clinic.name) && body.includes(w.doctor.user.full_name), body);
      }
      const got = await waitFor('the confirmation SMS', () => sms.requests.find((r) => r.body.id === smsRow.id));
      assert.equal(got.body.to, w.patient.phone);
      assert.ok(got.body.body.includes(when) && got.body.body.includes(w.clinic.name), got.body.body);
      assert.equal(got.headers.authorization, 'Bearer gw-secret');
      assert.equal(got.headers['content-type'], 'application/json');
      await waitFor('both delivered', async () => (await rowsOf(appt.id)).every((r) => r.status === 'delivered' && r.attempts === 1));

      // The cancellation notice.
      expectStatus(await post(`/api/appointments/${appt.id}/cancel`, { reason: 'doctor away' }, w.admin), 200);
      const cancel = (await rowsOf(appt.id)).filter((r) => r.kind === 'appointment_cancellation');
      assert.deepEqual(cancel.map((r) => r.channel).sort(), ['email', 'sms']);
      const notice = await waitFor('the cancellation e-mail', () => smtp.messages.find((m) => m.id === cancel.find((r) => r.channel === 'email').id));
      assert.ok(notice.subject.includes(lang === 'en' ? 'cancelled' : 'cancelada'), notice.subject);
      assert.ok(notice.text.includes(when), notice.text);
      await waitFor('the cancellation SMS', () => sms.requests.find((r) => r.body.id === cancel.find((x) => x.channel === 'sms').id));
    }
    await api.stop();
  });

  test('opt-outs are respected: nothing is queued on a channel the patient declined, or without a contact', async () => {
    const w = await world('en', { notify_email: false, notify_sms: false });
    assert.equal(w.patient.notify_email, false);
    assert.equal(w.patient.notify_sms, false);
    const a1 = await book(w);
    assert.deepEqual(await rowsOf(a1.id), []);

    // The desk turns e-mail back on: only e-mail is queued.
    const desk = await staffSession('RECEPTIONIST', w.clinic.id);
    const res = expectStatus(await patch(`/api/patients/${w.patient.id}`, { notify_email: true }, desk.access), 200);
    assert.equal(res.body.notify_email, true);
    assert.equal(res.body.notify_sms, false);
    const a2 = await book(w);
    assert.deepEqual((await rowsOf(a2.id)).map((r) => r.channel), ['email']);
    expectError(await patch(`/api/patients/${w.patient.id}`, { notify_sms: 'no' }, desk.access), 422, 'validation_failed', ['notify_sms']);

    // Defaults: opted in; no phone, so no SMS.
    const w2 = await world('en', { phone: null });
    assert.equal(w2.patient.notify_sms, true);
    const a3 = await book(w2);
    assert.deepEqual((await rowsOf(a3.id)).map((r) => r.channel), ['email']);
  });
});

describe('retries and failures', () => {
  test('an SMTP server that refuses: retried with growing delays, then failed after DELIVERY_MAX_ATTEMPTS with the error kept', async () => {
    const w = await world('en', { phone: null });
    const refused = new Set();
    const smtp = await smtpSink((m) => (m.rcpt.includes(w.patient.email) ? 'refuse' : 'ok'));
    stops.push(smtp.close);
    const api = await startApi({ ...FAST, SMTP_URL: smtp.url, DELIVERY_MAX_ATTEMPTS: '4', DELIVERY_WORKERS: '1' });
    stops.push(api.stop);
    const appt = await book(w);
    const [row] = await rowsOf(appt.id);
    const done = await waitFor('failed', async () => { const [r] = await rowsOf(appt.id); return r.status === 'failed' && r; });
    assert.equal(done.attempts, 4);
    assert.match(done.last_error, /554|refused/i);
    const tries = smtp.seen.filter((m) => m.id === row.id);
    for (const t of tries) refused.add(t.id);
    assert.equal(tries.length, 4, 'one SMTP transaction per attempt');
    // Backoff: at least base/2, 2*base/2, 4*base/2 between attempts (200 ms base, jitter in [0.5, 1)).
    const gaps = tries.slice(1).map((t, i) => t.at - tries[i].at);
    assert.ok(gaps[0] >= 90 && gaps[1] >= 190 && gaps[2] >= 390, `gaps ${gaps}`);
    assert.ok(gaps[2] > gaps[0], `the delay grows: ${gaps}`);
    await sleep(600);
    assert.equal(smtp.seen.filter((m) => m.id === row.id).length, 4, 'nothing after failed');
    await api.stop();
  });

  test('an SMTP server that closes mid-message: the attempts fail and are retried', async () => {
    const w = await world('en', { phone: null });
    const smtp = await flakySmtp();
    stops.push(smtp.close);
    const api = await startApi({ ...FAST, SMTP_URL: smtp.url, DELIVERY_MAX_ATTEMPTS: '2', DELIVERY_WORKERS: '1' });
    stops.push(api.stop);
    const appt = await book(w);
    const done = await waitFor('failed', async () => { const [r] = await rowsOf(appt.id); return r.status === 'failed' && r; });
    assert.equal(done.attempts, 2);
    assert.ok(done.last_error.length > 0);
    assert.ok(smtp.state.dropped >= 2);
    await api.stop();
  });

  test('an SMTP server that never answers the message: the attempt times out after DELIVERY_TIMEOUT_SECONDS', async () => {
    const w = await world('en', { phone: null });
    const hang = await smtpSink((m) => (m.rcpt.includes(w.patient.email) ? 'hang' : 'ok'));
    stops.push(hang.close);
    const d = startDeliver({ SMTP_URL: hang.url, DELIVERY_WORKERS: '1', DELIVERY_TIMEOUT_SECONDS: '1', DELIVERY_LEASE_SECONDS: '3', DELIVERY_MAX_ATTEMPTS: '1' });
    const appt = await book(w);
    const t0 = Date.now();
    const done = await waitFor('failed', async () => { const [r] = await rowsOf(appt.id); return r.status === 'failed' && r; }, 10000);
    assert.match(done.last_error, /time/i);
    assert.ok(Date.now() - t0 < 6000, `gave up after ${Date.now() - t0} ms`);
    assert.equal((await d.stop()).code, 0);
  });

  test('a gateway answering 429: retried no sooner than its Retry-After, then delivered', async () => {
    const w = await world('pt-BR', { email: null });
    const sms = await smsGateway((body, n) => (n === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }));
    stops.push(sms.close);
    const api = await startApi({ ...FAST, SMS_GATEWAY_URL: sms.url, DELIVERY_BACKOFF_BASE_MS: '20', DELIVERY_WORKERS: '1' });
    stops.push(api.stop);
    const appt = await book(w);
    const [row] = await rowsOf(appt.id);
    await waitFor('delivered', async () => (await rowsOf(appt.id))[0].status === 'delivered');
    const reqs = sms.requests.filter((r) => r.body.id === row.id);
    assert.equal(reqs.length, 2);
    assert.ok(reqs[1].at - reqs[0].at >= 950, `retried after ${reqs[1].at - reqs[0].at} ms`);
    const [final] = await rowsOf(appt.id);
    assert.equal(final.attempts, 2);
    assert.match(final.last_error, /429/);
    await api.stop();
  });
});

describe('no channel, several senders, a sender killed', () => {
  test('with no channel configured messages stay queued, and go once a sender with the channel starts', async () => {
    const w = await world('en', { phone: null });
    const appt = await book(w); // the suite's api-server has no SMTP_URL
    await sleep(700);
    const [row] = await rowsOf(appt.id);
    assert.equal(row.status, 'queued');
    assert.equal(row.attempts, 0);
    const deliverless = startDeliver({ SMTP_URL: '', SMS_GATEWAY_URL: '' });
    const r = await deliverless.exited;
    assert.equal(r.code, 2, 'deliver refuses to run without a channel');
    assert.match(r.err, /SMTP_URL, SMS_GATEWAY_URL or WEBHOOK_SEND=1/);

    const smtp = await smtpSink();
    stops.push(smtp.close);
    const d = startDeliver({ SMTP_URL: smtp.url, DELIVERY_WORKERS: '1' });
    await waitFor('the waiting e-mail', () => smtp.messages.find((m) => m.id === row.id));
    const exit = await d.stop();
    assert.equal(exit.code, 0, `deliver exits cleanly on SIGTERM: ${exit.err}`);
  });

  test('two deliver processes drain 200 deliveries without sending any twice', async () => {
    const w = await world('en', { phone: null });
    await psql(`INSERT INTO appointments (clinic_id, doctor_id, patient_id, service_id, consultation_type, period)
      SELECT ${w.clinic.id}, ${w.doctor.user.doctor_id}, ${w.patient.id}, ${w.service.id}, 'in_person',
             tstzrange(t, t + interval '30 minutes')
      FROM (SELECT timestamptz '${YEAR}-06-01 00:00Z' + g * interval '1 hour' AS t FROM generate_series(1, 200) g) s`);
    const ids = JSON.parse(await psql(`SELECT json_agg(id) FROM deliveries WHERE clinic_id = ${w.clinic.id}`));
    assert.equal(ids.length, 200);
    const smtp = await smtpSink();
    stops.push(smtp.close);
    const senders = [startDeliver({ SMTP_URL: smtp.url, DELIVERY_BATCH: '5' }), startDeliver({ SMTP_URL: smtp.url, DELIVERY_BATCH: '5' })];
    const mine = new Set(ids);
    await waitFor('200 delivered', async () => Number(await psql(`SELECT count(*) FROM deliveries WHERE clinic_id = ${w.clinic.id} AND status = 'delivered'`)) === 200, 60000);
    await sleep(300);
    const counts = new Map();
    for (const m of smtp.messages.filter((x) => mine.has(x.id))) counts.set(m.id, (counts.get(m.id) || 0) + 1);
    assert.equal(counts.size, 200);
    assert.deepEqual([...counts.values()].filter((n) => n !== 1), [], 'each delivery sent exactly once');
    for (const s of senders) assert.equal((await s.stop()).code, 0);
  });

  test('a sender killed with kill -9 mid-delivery: another sender sends it later, with the same delivery id', async () => {
    const w = await world('en', { phone: null });
    const hang = await smtpSink(() => 'hang');
    stops.push(hang.close);
    const a = startDeliver({ SMTP_URL: hang.url, DELIVERY_WORKERS: '1', DELIVERY_TIMEOUT_SECONDS: '3', DELIVERY_LEASE_SECONDS: '5' });
    const appt = await book(w);
    const [row] = await rowsOf(appt.id);
    await waitFor('the first attempt in flight', () => hang.seen.find((m) => m.id === row.id));
    const killed = await a.kill();
    assert.equal(killed.sig, 'SIGKILL');
    const [mid] = await rowsOf(appt.id);
    assert.equal(mid.status, 'sending');

    const smtp = await smtpSink();
    stops.push(smtp.close);
    const b = startDeliver({ SMTP_URL: smtp.url, DELIVERY_WORKERS: '1' });
    const msg = await waitFor('the re-sent e-mail', () => smtp.messages.find((m) => m.id === row.id), 20000);
    assert.equal(msg.headers['message-id'], hang.seen.find((m) => m.id === row.id).headers['message-id']);
    const [done] = await rowsOf(appt.id);
    assert.equal(done.status, 'delivered');
    assert.equal(done.attempts, 2);
    assert.equal((await b.stop()).code, 0);
  });

  test('SIGTERM mid-delivery: the sender aborts the transfer, gives the row back uncounted and exits cleanly', async () => {
    const w = await world('en', { phone: null });
    const hang = await smtpSink(() => 'hang');
    stops.push(hang.close);
    const a = startDeliver({ SMTP_URL: hang.url, DELIVERY_WORKERS: '2', DELIVERY_TIMEOUT_SECONDS: '30', DELIVERY_LEASE_SECONDS: '60' });
    const appt = await book(w);
    const [row] = await rowsOf(appt.id);
    await waitFor('the attempt in flight', () => hang.seen.find((m) => m.id === row.id));
    const t0 = Date.now();
    const exit = await a.stop();
    assert.equal(exit.code, 0, exit.err);
    assert.ok(Date.now() - t0 < 5000, `stopped in ${Date.now() - t0} ms, not after the transfer's timeout`);
    const [back] = await rowsOf(appt.id);
    assert.deepEqual([back.status, back.attempts], ['queued', 0]);

    const smtp = await smtpSink();
    stops.push(smtp.close);
    const b = startDeliver({ SMTP_URL: smtp.url, DELIVERY_WORKERS: '1' });
    await waitFor('the e-mail', () => smtp.messages.find((m) => m.id === row.id));
    assert.equal((await b.stop()).code, 0);
  });
});

test('bad channel settings are refused at start, each named', async () => {
  const r = await startDeliver({
    SMTP_URL: 'http://mail.test', SMTP_FROM: 'nobody', SMTP_STARTTLS: 'maybe', SMS_GATEWAY_URL: 'ftp://gw',
    DELIVERY_TIMEOUT_SECONDS: '30', DELIVERY_LEASE_SECONDS: '30', DELIVERY_MAX_ATTEMPTS: '0',
  }).exited;
  assert.equal(r.code, 2);
  for (const name of ['SMTP_URL', 'SMTP_FROM', 'SMTP_STARTTLS', 'SMS_GATEWAY_URL', 'DELIVERY_LEASE_SECONDS', 'DELIVERY_MAX_ATTEMPTS']) {
    assert.match(r.err, new RegExp(`configuration error: ${name}`), `${name} in ${r.err}`);
  }
});

describe('TLS', () => {
  // A self-signed certificate for 127.0.0.1, handed to the senders as SMTP_CA_FILE.
  const dir = mkdtempSync(path.join(tmpdir(), 'smtp-tls-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'),
    '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
  const tls = { key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) };
  const CA = path.join(dir, 'cert.pem');

  async function sendOne(sinkTls, env, expectDelivered) {
    const w = await world('en', { phone: null });
    const smtp = await smtpSink(() => 'ok', sinkTls);
    stops.push(smtp.close);
    const d = startDeliver({ SMTP_URL: smtp.url, DELIVERY_WORKERS: '1', DELIVERY_MAX_ATTEMPTS: '1', ...env });
    const appt = await book(w);
    const [row] = await rowsOf(appt.id);
    const done = await waitFor('an outcome', async () => { const [r] = await rowsOf(appt.id); return ['delivered', 'failed'].includes(r.status) && r; });
    assert.equal(done.status, expectDelivered ? 'delivered' : 'failed', done.last_error);
    assert.equal((await d.stop()).code, 0);
    return { done, msg: smtp.messages.find((m) => m.id === row.id) };
  }

  test('SMTP_STARTTLS=require upgrades the session, the certificate checked against SMTP_CA_FILE', async () => {
    const { msg } = await sendOne(tls, { SMTP_STARTTLS: 'require', SMTP_CA_FILE: CA }, true);
    assert.equal(msg.secure, true);
  });

  test('SMTP_STARTTLS=require never sends in clear to a server without STARTTLS', async () => {
    const { done, msg } = await sendOne(null, { SMTP_STARTTLS: 'require' }, false);
    assert.equal(msg, undefined);
    assert.match(done.last_error, /SSL|TLS|STARTTLS/i);
  });

  test('a certificate the senders do not trust is refused', async () => {
    const { done, msg } = await sendOne(tls, { SMTP_STARTTLS: 'require', SMTP_CA_FILE: '' }, false);
    assert.equal(msg, undefined);
    assert.match(done.last_error, /certificate|SSL/i);
  });

  test('smtps:// speaks TLS from the first byte', async () => {
    const { msg } = await sendOne({ ...tls, secure: true }, { SMTP_CA_FILE: CA, SMTP_STARTTLS: 'off' }, true);
    assert.equal(msg.secure, true);
  });
});

test('header injection through a patient or clinic name is encoded, never spliced', async () => {
  const w = await world('en', { phone: null });
  await psql(`UPDATE patients SET full_name = E'Eve\\r\\nBcc: victim@evil.test\\r\\nX-Evil: 1' WHERE id = ${w.patient.id};
              UPDATE clinics SET name = E'Evil\\nBcc: victim2@evil.test' WHERE id = ${w.clinic.id}`);
  const smtp = await smtpSink();
  stops.push(smtp.close);
  const d = startDeliver({ SMTP_URL: smtp.url, DELIVERY_WORKERS: '1' });
  const appt = await book(w);
  const [row] = await rowsOf(appt.id);
  const msg = await waitFor('the e-mail', () => smtp.messages.find((m) => m.id === row.id));
  assert.deepEqual(msg.rcpt, [w.patient.email], 'only the patient is a recipient');
  assert.equal(msg.headLines.filter((l) => /^(bcc|x-evil):/i.test(l)).length, 0, msg.raw.slice(0, 800));
  assert.ok(msg.headLines.every((l) => l.length <= 998));
  assert.equal(msg.to, `Eve\r\nBcc: victim@evil.test\r\nX-Evil: 1 <${w.patient.email}>`);
  assert.ok(msg.subject.startsWith('Evil\nBcc: victim2@evil.test: appointment confirmed'), msg.subject);
  assert.ok(msg.html.includes('Evil\nBcc: victim2@evil.test') || msg.html.includes('Evil'), 'names are in the body');
  assert.equal((await d.stop()).code, 0);
});

describe('admin list and retry', () => {
  test('GET /deliveries filters, pages and is ADMIN only; POST retry puts a failed one back', async () => {
    const w = await world('en', { phone: null });
    const appt = await book(w);
    const [row] = await rowsOf(appt.id);
    await psql(`UPDATE deliveries SET status = 'failed', attempts = 8, last_error = 'gave up' WHERE id = ${row.id}`);
    const admin = w.admin;

    const list = expectStatus(await get(`/api/deliveries?clinic_id=${w.clinic.id}&status=failed&channel=email`, admin), 200).body;
    assert.deepEqual(list.items.map((d) => d.id), [row.id]);
    assert.equal(list.items[0].last_error, 'gave up');
    assert.equal(list.items[0].kind, 'appointment_confirmation');
    assert.equal(list.items[0].entity_id, appt.id);
    assert.equal(list.next_cursor, null);
    assert.deepEqual(expectStatus(await get(`/api/deliveries?clinic_id=${w.clinic.id}&status=queued`, admin), 200).body.items, []);
    assert.deepEqual(expectStatus(await get(`/api/deliveries?clinic_id=${w.clinic.id}&channel=sms`, admin), 200).body.items, []);

    // Pages, newest first.
    await book(w);
    await book(w);
    const p1 = expectStatus(await get(`/api/deliveries?clinic_id=${w.clinic.id}&limit=2`, admin), 200).body;
    assert.equal(p1.items.length, 2);
    assert.ok(p1.items[0].id > p1.items[1].id);
    const p2 = expectStatus(await get(`/api/deliveries?clinic_id=${w.clinic.id}&limit=2&cursor=${encodeURIComponent(p1.next_cursor)}`, admin), 200).body;
    assert.deepEqual(p2.items.map((d) => d.id), [row.id]);
    assert.equal(p2.next_cursor, null);

    for (const q of ['status=bogus', 'channel=fax', 'clinic_id=abc', 'limit=0', 'cursor=%%%']) {
      expectError(await get(`/api/deliveries?${q}`, admin), 400, 'invalid_query');
    }

    for (const role of ['RECEPTIONIST', 'DOCTOR']) {
      const s = await staffSession(role, w.clinic.id);
      expectError(await get('/api/deliveries', s.access), 403, 'forbidden');
      expectError(await post(`/api/deliveries/${row.id}/retry`, undefined, s.access), 403, 'forbidden');
    }
    expectError(await get('/api/deliveries'), 401, 'unauthorized');

    const retried = expectStatus(await post(`/api/deliveries/${row.id}/retry`, undefined, admin), 200).body;
    assert.equal(retried.status, 'queued');
    assert.equal(retried.attempts, 0);
    assert.equal(typeof retried.next_attempt_at, 'string');
    expectError(await post(`/api/deliveries/${row.id}/retry`, undefined, admin), 409, 'conflict');
    expectError(await post('/api/deliveries/2147483000/retry', undefined, admin), 404, 'not_found');
    const audit = expectStatus(await get(`/api/audit?action=delivery_retry&entity_id=${row.id}`, admin), 200).body;
    assert.equal(audit.items.length, 1);

    // Sent once a sender runs.
    const smtp = await smtpSink();
    stops.push(smtp.close);
    const d = startDeliver({ SMTP_URL: smtp.url, DELIVERY_WORKERS: '1' });
    await waitFor('the retried e-mail', () => smtp.messages.find((m) => m.id === row.id));
    assert.equal((await d.stop()).code, 0);
  });
});
