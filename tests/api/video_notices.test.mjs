// Video consultation messages (DESIGN §10, sql/0025_video_notices.sql): the invitation link queued to the
// patient's e-mail and phone when staff invite (received here by a real SMTP server, npm smtp-server, and a real
// HTTP receiver standing in for the SMS gateway, from an api-server started with SMTP_URL and SMS_GATEWAY_URL),
// redeemed from the message; both languages; opt-outs and a patient without contacts; and the "your doctor is
// ready" notice driven through the real signaling-server: once when the doctor is in the room at or after the
// start and the patient is not there, not while the patient waits, not before the start (then at the start, by
// the signaling-server's sweep), not again when the doctor comes back. Other clinics and roles reach nothing.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { SMTPServer } from 'smtp-server';
import { io } from 'socket.io-client';

import {
  asAdmin,
  createAppointment,
  createClinic,
  createPatient,
  createService,
  expectError,
  expectStatus,
  pickTodayZone,
  psql,
  request,
  staffSession,
  startApi,
  uniq,
} from '../lib/api.mjs';

const SIGNALING_URL = process.env.SIGNALING_URL;
const V = '/api/video-consultations';
const JOIN_URL = 'http://portal.test:8080/video/join';
const TZ = pickTodayZone(3);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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
// Receivers and the api-server that sends
// ------------------------------------------------------------------------------------------------

// A message: its delivery id, recipients, and headers (RFC 2047 words decoded) plus every base64 part decoded.
function parseMail(raw, rcpt) {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]/g, ' ')
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?UTF-8\?B\?([A-Za-z0-9+/=]*)\?=/gi, (_, b) => Buffer.from(b, 'base64').toString('utf8'));
  const parts = [...raw.matchAll(/Content-Transfer-Encoding: base64\r\n\r\n([A-Za-z0-9+/=\r\n]+)/gi)]
    .map((m) => Buffer.from(m[1].replace(/\s+/g, ''), 'base64').toString('utf8'));
  return { id: Number(/^X-Clinic-Delivery: (\d+)/mi.exec(head)?.[1]), to: rcpt, text: [head, ...parts].join('\n') };
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
      mail.push(parseMail(Buffer.concat(chunks).toString('utf8'), session.envelope.rcptTo.map((r) => r.address.toLowerCase())));
      cb();
    });
  },
});
const sms = [];
const gateway = http.createServer((req, res) => {
  let text = '';
  req.on('data', (d) => { text += d; });
  req.on('end', () => {
    sms.push(JSON.parse(text));
    res.writeHead(202, { 'content-type': 'application/json' });
    res.end('{}');
  });
});

let api;
const call = (method, path, body, token) => request(method, path, { base: api.url, body, token });

before(async () => {
  await new Promise((r) => smtp.listen(0, '127.0.0.1', r));
  await new Promise((r) => gateway.listen(0, '127.0.0.1', r));
  api = await startApi({
    SMTP_URL: `smtp://127.0.0.1:${smtp.server.address().port}`, SMTP_FROM: 'no-reply@clinic.test', SMTP_STARTTLS: 'off',
    SMS_GATEWAY_URL: `http://127.0.0.1:${gateway.address().port}/send`, SMS_GATEWAY_TOKEN: 'gw',
    DELIVERY_WORKERS: '1', DELIVERY_POLL_MS: '200', VIDEO_INVITE_URL: JOIN_URL,
  });
});
after(async () => {
  await api?.stop();
  await new Promise((r) => smtp.close(r));
  gateway.closeAllConnections();
  await new Promise((r) => gateway.close(r));
});

// ------------------------------------------------------------------------------------------------
// Fixtures
// ------------------------------------------------------------------------------------------------

// A clinic in TZ speaking language with its receptionist, a doctor, a 5-minute service and a patient
// (no account) with an e-mail and a phone unless fields say otherwise.
async function world(language, fields = {}) {
  const clinic = await createClinic({ name: `Clínica ${uniq()}`, timezone: TZ, language });
  const [rec, doc, service] = await Promise.all([
    staffSession('RECEPTIONIST', clinic.id),
    staffSession('DOCTOR', clinic.id, { full_name: `Dra. Vera ${uniq()}` }),
    createService(clinic.id, { duration_minutes: 5 }),
  ]);
  const patient = await createPatient(await asAdmin(), {
    clinic_id: clinic.id, full_name: `Paula ${uniq()}`, email: `v.${uniq()}@mail.test`, phone: '+55 11 97777-1234', ...fields,
  });
  return { clinic, rec, doc, service, patient, next: 0 };
}

// A video appointment of w (from two minutes ahead, 6-minute steps) and its session, opened on the
// sending api-server. Returns {appt, s}.
async function session(w) {
  w.next = Math.max(w.next, Math.ceil(Date.now() / 60000) * 60000 + 2 * 60000);
  const start = new Date(w.next).toISOString().replace(/\.\d{3}Z$/, 'Z');
  w.next += 6 * 60000;
  const appt = await createAppointment(w.rec.access, {
    patient_id: w.patient.id, doctor_id: w.doc.user.doctor_id, service_id: w.service.id, start_time: start,
    consultation_type: 'video',
  });
  const s = expectStatus(await call('POST', `${V}/sessions`, { appointment_id: appt.id }, w.rec.access), 201).body;
  return { appt, s };
}

// The appointment of session s started a minute ago (its five minutes run until four from now).
const startedAlready = (s) => psql(`UPDATE appointments
  SET period = tstzrange(date_trunc('second', now()) - interval '1 minute', date_trunc('second', now()) + interval '4 minutes')
  WHERE id = ${s.appointment_id};`);

// The deliveries of kind for session s: [{id, channel, recipient, status}].
async function rowsOf(kind, s) {
  return JSON.parse(await psql(`SELECT coalesce(json_agg(json_build_object('id', d.id, 'channel', d.channel,
      'recipient', d.recipient, 'status', d.status) ORDER BY d.id), '[]')
    FROM deliveries d JOIN video_invitations i ON d.entity = 'video_invitation' AND i.id = d.entity_id
    WHERE d.kind = '${kind}' AND i.session_id = ${s.id}`));
}

const mailOf = (id) => mail.find((m) => m.id === id);
const smsOf = (id) => sms.find((m) => m.id === id);
const codeIn = (text) => new RegExp(`${JOIN_URL.replace(/[.?]/g, '\\$&')}\\?code=([A-Za-z0-9_-]{43})`).exec(text)?.[1];

// The time as the clinic's patients read it (clinic_time_text).
function when(iso, lang) {
  const p = Object.fromEntries(new Intl.DateTimeFormat('en-GB', {
    timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
  return lang === 'en' ? `${p.year}-${p.month}-${p.day} at ${p.hour}:${p.minute} (${TZ})`
    : `${p.day}/${p.month}/${p.year} às ${p.hour}:${p.minute} (${TZ})`;
}

// A signaling connection with token; resolves once the room's session_state arrived: {s, events}.
function inRoom(token) {
  const s = io(SIGNALING_URL, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true, timeout: 5000 });
  const events = [];
  s.onAny((name) => events.push(name));
  return new Promise((resolve, reject) => {
    s.on('connect_error', (e) => { s.close(); reject(e); });
    const t = setInterval(() => {
      if (events.includes('session_state')) { clearInterval(t); resolve({ s, events }); }
    }, 20);
  });
}

const doctorIn = async (w, s) =>
  inRoom(expectStatus(await call('POST', `${V}/sessions/${s.id}/token`, undefined, w.doc.access), 200).body.token);

// The doctor-ready notices of session s (video_notices rows).
const noticesOf = async (s) => Number(await psql(`SELECT count(*) FROM video_notices WHERE session_id = ${s.id}`));

// ------------------------------------------------------------------------------------------------
// Invitations
// ------------------------------------------------------------------------------------------------

describe('video invitation messages', () => {
  for (const lang of ['en', 'pt-BR']) {
    test(`the invitation goes to the patient by e-mail and SMS (${lang}); the link in the message works; a new invitation is sent again`, async () => {
      const w = await world(lang);
      const { s } = await session(w);
      const inv = expectStatus(await call('POST', `${V}/sessions/${s.id}/invite`, undefined, w.rec.access), 201).body;
      assert.deepEqual(inv.queued_channels, ['email', 'sms']);
      assert.equal(inv.not_queued_reason, null);
      assert.equal(inv.url, `${JOIN_URL}?code=${inv.code}`);
      const rows = await rowsOf('video_invitation', s);
      assert.deepEqual(rows.map((r) => [r.channel, r.recipient]), [['email', w.patient.email], ['sms', w.patient.phone]]);

      const m = await waitFor('the invitation e-mail', () => mailOf(rows[0].id));
      assert.deepEqual(m.to, [w.patient.email.toLowerCase()]);
      assert.ok(m.text.includes(w.clinic.name) && m.text.includes(when(s.scheduled_start, lang)), m.text);
      assert.match(m.text, lang === 'en' ? /video consultation/ : /teleconsulta/);
      assert.ok(m.text.includes(w.doc.user.full_name), m.text);
      const text = await waitFor('the invitation SMS', () => smsOf(rows[1].id));
      assert.equal(text.to, w.patient.phone);
      assert.equal(codeIn(text.body), inv.code);

      // the patient opens the link of the e-mail: a join token for the session
      const code = codeIn(m.text);
      assert.equal(code, inv.code);
      const tok = expectStatus(await call('POST', `${V}/invitations/redeem`, { code }), 200).body;
      assert.equal(tok.session_id, s.id);
      assert.equal(tok.role, 'patient');

      // once delivered, the queue keeps no link; the audit row never had it
      await waitFor('both delivered', async () => (await rowsOf('video_invitation', s)).every((r) => r.status === 'delivered'));
      assert.equal(await psql(`SELECT count(*) FROM deliveries WHERE position('${code}' in payload::text) > 0`), '0');
      assert.equal(await psql(`SELECT count(*) FROM audit_log WHERE position('${code}' in details::text) > 0`), '0');

      // a new invitation is a new link, sent again
      const again = expectStatus(await call('POST', `${V}/sessions/${s.id}/invite`, undefined, w.doc.access), 201).body;
      assert.notEqual(again.code, inv.code);
      const rows2 = await rowsOf('video_invitation', s);
      assert.equal(rows2.length, 4);
      assert.equal(codeIn((await waitFor('the second e-mail', () => mailOf(rows2[2].id))).text), again.code);
    });
  }

  test('opt-outs: only the chosen channel; none chosen or no contact answers why, with the link for the staff', async () => {
    const w = await world('en', { notify_sms: false });
    const { s } = await session(w);
    const inv = expectStatus(await call('POST', `${V}/sessions/${s.id}/invite`, undefined, w.rec.access), 201).body;
    assert.deepEqual(inv.queued_channels, ['email']);
    assert.deepEqual((await rowsOf('video_invitation', s)).map((r) => r.channel), ['email']);

    const w2 = await world('pt-BR', { notify_email: false, notify_sms: false });
    const { s: s2 } = await session(w2);
    const none = expectStatus(await call('POST', `${V}/sessions/${s2.id}/invite`, undefined, w2.rec.access), 201).body;
    assert.deepEqual(none.queued_channels, []);
    assert.equal(none.not_queued_reason, 'opted_out');
    assert.equal(none.url, `${JOIN_URL}?code=${none.code}`);

    const w3 = await world('en', { email: null, phone: null });
    const { s: s3 } = await session(w3);
    const bare = expectStatus(await call('POST', `${V}/sessions/${s3.id}/invite`, undefined, w3.rec.access), 201).body;
    assert.deepEqual(bare.queued_channels, []);
    assert.equal(bare.not_queued_reason, 'no_contact');
    assert.equal(bare.url, `${JOIN_URL}?code=${bare.code}`);
    for (const x of [s2, s3]) assert.deepEqual(await rowsOf('video_invitation', x), []);
    // the link still works
    expectStatus(await call('POST', `${V}/invitations/redeem`, { code: bare.code }), 200);
  });

  test('another clinic or another doctor: no invitation, nothing queued', async () => {
    const w = await world('en');
    const other = await world('en');
    const doc2 = await staffSession('DOCTOR', w.clinic.id);
    const { s } = await session(w);
    for (const token of [other.rec.access, other.doc.access, doc2.access]) {
      expectError(await call('POST', `${V}/sessions/${s.id}/invite`, undefined, token), 404, 'not_found');
    }
    assert.equal(await psql(`SELECT count(*) FROM video_invitations WHERE session_id = ${s.id}`), '0');
    assert.deepEqual(await rowsOf('video_invitation', s), []);
  });
});

// ------------------------------------------------------------------------------------------------
// The doctor is ready
// ------------------------------------------------------------------------------------------------

describe('"your doctor is ready"', () => {
  test('the doctor comes after the start and the patient is not there: one notice with a working link; not again when the doctor comes back', async () => {
    const w = await world('en');
    // the patient has an account (made here in SQL: the desk's activation link would race with this file's sender)
    const puser = await psql(`WITH u AS (INSERT INTO users (email, password_hash, full_name, role, clinic_id)
      VALUES ('acct.${uniq()}@mail.test', '$argon2id$unused', 'Paula', 'PATIENT', ${w.clinic.id}) RETURNING id)
      UPDATE patients SET user_id = (SELECT id FROM u) WHERE id = ${w.patient.id} RETURNING user_id`);
    const { s } = await session(w);
    await startedAlready(s);
    let dv = await doctorIn(w, s);
    try {
      const rows = await waitFor('the notice', async () => {
        const r = await rowsOf('video_doctor_ready', s);
        return r.length === 2 && r;
      });
      assert.deepEqual(rows.map((r) => r.channel), ['email', 'sms']);
      const m = await waitFor('the notice e-mail', () => mailOf(rows[0].id));
      assert.match(m.text, /is ready for you/);
      assert.ok(m.text.includes(w.doc.user.full_name) && m.text.includes(w.clinic.name), m.text);
      const text = await waitFor('the notice SMS', () => smsOf(rows[1].id));
      assert.equal(codeIn(text.body), codeIn(m.text));
      const tok = expectStatus(await call('POST', `${V}/invitations/redeem`, { code: codeIn(m.text) }), 200).body;
      assert.equal(tok.session_id, s.id);

      // the doctor leaves (past the grace window) and comes back; the sweeps run meanwhile
      dv.s.close();
      await waitFor('the doctor gone', async () => (await psql(`SELECT state FROM video_participants
        WHERE session_id = ${s.id} AND role = 'doctor'`)) === 'left', 10000);
      dv = await doctorIn(w, s);
      await sleep(2500);
      assert.equal((await rowsOf('video_doctor_ready', s)).length, 2);
      assert.equal(await noticesOf(s), 1);
      // and once in the patient's inbox (sql/0031)
      assert.equal(await psql(`SELECT count(*) FROM notifications WHERE user_id = ${puser} AND kind = 'doctor_ready'
        AND data ->> 'video_session_id' = '${s.id}'`), '1');
    } finally {
      dv.s.close();
    }
  });

  test('not while the patient waits in the room', async () => {
    const w = await world('pt-BR');
    const { s } = await session(w);
    await startedAlready(s);
    const inv = expectStatus(await call('POST', `${V}/sessions/${s.id}/invite`, undefined, w.rec.access), 201).body;
    const pv = await inRoom(expectStatus(await call('POST', `${V}/invitations/redeem`, { code: inv.code }), 200).body.token);
    const dv = await doctorIn(w, s);
    try {
      await sleep(2500);
      assert.deepEqual(await rowsOf('video_doctor_ready', s), []);
      assert.equal(await noticesOf(s), 0);
    } finally {
      dv.s.close();
      pv.s.close();
    }
  });

  test('not before the start; at the start, with the doctor still there, the sweep sends it (pt-BR, e-mail only)', async () => {
    const w = await world('pt-BR', { phone: null });
    const { s } = await session(w);
    const dv = await doctorIn(w, s);
    try {
      await sleep(2500);
      assert.equal(await noticesOf(s), 0);
      await startedAlready(s);
      const rows = await waitFor('the notice', async () => {
        const r = await rowsOf('video_doctor_ready', s);
        return r.length === 1 && r;
      });
      assert.equal(rows[0].channel, 'email');
      const m = await waitFor('the notice e-mail', () => mailOf(rows[0].id));
      assert.match(m.text, /já está esperando você/);
      assert.ok(codeIn(m.text), m.text);
    } finally {
      dv.s.close();
    }
  });

  test('a patient opted out of everything gets nothing, once recorded', async () => {
    const w = await world('en', { notify_email: false, notify_sms: false });
    const { s } = await session(w);
    await startedAlready(s);
    const dv = await doctorIn(w, s);
    try {
      await waitFor('the notice recorded', async () => (await noticesOf(s)) === 1);
      assert.equal(await psql(`SELECT channels::text FROM video_notices WHERE session_id = ${s.id}`), '{}');
      assert.deepEqual(await rowsOf('video_doctor_ready', s), []);
    } finally {
      dv.s.close();
    }
  });

  test('a doctor of another clinic or of another session cannot enter the room, so nothing is sent', async () => {
    const w = await world('en');
    const other = await world('en');
    const doc2 = await staffSession('DOCTOR', w.clinic.id);
    const { s } = await session(w);
    await startedAlready(s);
    for (const token of [other.doc.access, doc2.access]) {
      expectError(await call('POST', `${V}/sessions/${s.id}/token`, undefined, token), 404, 'not_found');
    }
    expectError(await call('POST', `${V}/sessions/${s.id}/token`, undefined, w.rec.access), 403, 'forbidden');
    await sleep(1500);
    assert.equal(await noticesOf(s), 0);
  });
});
