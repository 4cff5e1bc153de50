// Appointment reminders and reschedule notices (DESIGN §10, sql/0024_reminders.sql, api-server/reminders.c):
// the schedule the database keeps per confirmed appointment and lead (REMINDER_LEAD_MINUTES), its release by
// the senders when due (rendered then: the appointment's time as it is, the patient's opt-outs as they are),
// moved by a reschedule, dropped by a cancellation, never two; the reschedule notice with the old and the new
// time in both languages; a bad REMINDER_LEAD_MINUTES refused at start. Messages go to a real SMTP server (npm
// smtp-server) and an HTTP receiver standing in for the SMS gateway, both started here.
//
// The leads are the database's (the one row of reminder_settings, written by every server at start), so the
// api-server started here sets them for the whole cluster: they are put back as they were at the end.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { SMTPServer } from 'smtp-server';

import {
  asAdmin,
  checkIn,
  createClinic,
  createPatient,
  createService,
  createStaff,
  expectStatus,
  patch,
  pickTodayZone,
  post,
  psql,
  startApi,
  uniq,
} from '../lib/api.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const LEADS = '1440,60,1';
// Tokyo keeps UTC+9 all year.
const TZ = 'Asia/Tokyo';
const ENV = {
  REMINDER_LEAD_MINUTES: LEADS, DELIVERY_POLL_MS: '200', DELIVERY_BACKOFF_BASE_MS: '200', DELIVERY_BACKOFF_MAX_MS: '800',
  SMTP_FROM: 'no-reply@clinic.test', SMTP_STARTTLS: 'off',
};

async function waitFor(what, fn, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

// The e-mails: envelope recipients, the delivery id and the subject (RFC 2047 words decoded) of each.
async function mailbox() {
  const messages = [];
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false, disableReverseLookup: true, closeTimeout: 200,
    onData(stream, session, cb) {
      const chunks = [];
      stream.on('data', (c) => chunks.push(c));
      stream.on('end', () => {
        const head = Buffer.concat(chunks).toString('utf8').split('\r\n\r\n')[0].replace(/\r\n[ \t]/g, ' ');
        const header = (name) => new RegExp(`^${name}: (.*)$`, 'im').exec(head)?.[1] || '';
        const subject = header('Subject').replace(/\?=\s+=\?/g, '?==?')
          .replace(/=\?UTF-8\?B\?([A-Za-z0-9+/=]*)\?=/gi, (_, b) => Buffer.from(b, 'base64').toString('utf8'));
        messages.push({ id: Number(header('X-Clinic-Delivery')), subject, rcpt: session.envelope.rcptTo.map((r) => r.address), at: Date.now() });
        cb();
      });
    },
  });
  server.on('error', () => {});
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `smtp://127.0.0.1:${server.server.address().port}`, messages, close: () => new Promise((r) => server.close(r)) };
}

// The SMS gateway: every request's JSON body and when it came.
async function smsGateway() {
  const requests = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (d) => { text += d; });
    req.on('end', () => {
      requests.push({ ...JSON.parse(text), at: Date.now() });
      res.writeHead(202, { 'content-type': 'application/json' });
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

// `api-server deliver` (or `serve` with bad settings) on its own; resolves with the exit code and stderr.
function spawnApi(cmd, env) {
  const child = spawn(process.env.API_BIN, [cmd], { env: { ...process.env, LOG_LEVEL: 'warning', ...ENV, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
  const exited = new Promise((r) => child.on('exit', (code) => r({ code, err })));
  return { exited, stop: () => { child.kill('SIGTERM'); return exited; } };
}

async function world(language, patientFields = {}, timezone = TZ) {
  const clinic = await createClinic({ name: `Clínica ${uniq()}`, timezone, language });
  const doctor = await createStaff('DOCTOR', clinic.id, { full_name: `Dra. Ana ${uniq()}` });
  const service = await createService(clinic.id);
  const admin = await asAdmin();
  const patient = await createPatient(admin, {
    clinic_id: clinic.id, full_name: `João ${uniq()}`, email: `p.${uniq()}@mail.test`, phone: '+55 11 91234-5678', ...patientFields,
  });
  return { clinic, doctor, service, patient, admin };
}

// An instant `ms` from now, whole seconds, as the API takes it.
const inMs = (ms) => new Date(Math.ceil((Date.now() + ms) / 1000) * 1000).toISOString().replace('.000', '');

async function book(w, startTime) {
  const res = await post('/api/appointments', {
    patient_id: w.patient.id, doctor_id: w.doctor.user.doctor_id, service_id: w.service.id, start_time: startTime, consultation_type: 'in_person',
  }, w.admin);
  expectStatus(res, 201);
  return res.body;
}

// The time as the clinic's patients read it (clinic_time_text): Tokyo is UTC+9.
function tokyo(iso, lang) {
  const t = new Date(Date.parse(iso) + 9 * 3600000).toISOString();
  const [d, hm] = [t.slice(0, 10), t.slice(11, 16)];
  const [y, m, day] = d.split('-');
  return lang === 'en' ? `${d} at ${hm} (${TZ})` : `${day}/${m}/${y} às ${hm} (${TZ})`;
}

async function schedule(apptId) {
  return JSON.parse(await psql(`SELECT coalesce(json_agg(json_build_object('lead', lead_minutes, 'due', extract(epoch FROM due_at) * 1000)
    ORDER BY lead_minutes DESC), '[]') FROM appointment_reminders WHERE appointment_id = ${Number(apptId)}`));
}

async function rowsOf(apptId, kind) {
  return JSON.parse(await psql(`SELECT coalesce(json_agg(json_build_object('id', id, 'channel', channel, 'status', status)
    ORDER BY id), '[]') FROM deliveries WHERE entity = 'appointment' AND entity_id = ${Number(apptId)} AND kind = '${kind}'`));
}

const stops = [];
let smtp;
let sms;
let leadsBefore;
before(async () => {
  leadsBefore = (await psql('SELECT lead_minutes FROM reminder_settings')).trim();
  smtp = await mailbox();
  sms = await smsGateway();
  stops.push(smtp.close, sms.close);
  const api = await startApi({ ...ENV, SMTP_URL: smtp.url, SMS_GATEWAY_URL: sms.url, DELIVERY_WORKERS: '2' });
  stops.push(api.stop);
});
after(async () => {
  for (const s of stops.reverse()) await s();
  await psql(`SELECT reminder_leads_set(${leadsBefore ? `'${leadsBefore}'` : "'{1440,60}'"}::integer[])`);
});

const remindersTo = (w) => smtp.messages.filter((m) => m.rcpt.includes(w.patient.email) && /reminder|lembrete/.test(m.subject));

describe('the schedule', () => {
  test('a confirmed booking schedules one reminder per lead at its start minus the lead; a lead already past is not', async () => {
    assert.equal((await psql('SELECT lead_minutes FROM reminder_settings')).trim(), `{${LEADS}}`);
    const w = await world('en');
    const far = await book(w, inMs(3 * 86400000));
    const start = Date.parse(far.start_time);
    assert.deepEqual(await schedule(far.id), [1440, 60, 1].map((lead) => ({ lead, due: start - lead * 60000 })));

    // Two hours ahead: the day-before reminder's time has passed.
    const soon = await book(w, inMs(2 * 3600000));
    assert.deepEqual((await schedule(soon.id)).map((r) => r.lead), [60, 1]);

    // The unique key: never two reminders for one appointment and lead.
    const dup = await psql(`DO $$ BEGIN INSERT INTO appointment_reminders VALUES (${far.id}, 60, now() + interval '1 day');
      EXCEPTION WHEN unique_violation THEN RAISE NOTICE 'refused'; END $$; SELECT count(*) FROM appointment_reminders WHERE appointment_id = ${far.id}`);
    assert.equal(dup.trim(), '3');
  });

  test('a reminder is sent when due, rendered then, in the clinic language and zone, on each channel, once', async () => {
    for (const [lang, word] of [['en', 'reminder of your appointment on'], ['pt-BR', 'lembrete da sua consulta em']]) {
      const w = await world(lang);
      const appt = await book(w, inMs(64000));
      const [{ lead, due }] = await schedule(appt.id);
      assert.equal(lead, 1);
      const when = tokyo(appt.start_time, lang);
      const mail = await waitFor(`the ${lang} reminder e-mail`, () => remindersTo(w)[0]);
      assert.ok(mail.at >= due, `sent at ${mail.at}, due at ${due}`);
      assert.equal(mail.subject, `${w.clinic.name}: ${word} ${when}`);
      const text = await waitFor(`the ${lang} reminder SMS`, () => sms.requests.find((r) => r.to === w.patient.phone && r.body.includes(w.clinic.name)
        && /reminder|lembrete/.test(r.body)));
      assert.ok(text.body.includes(when) && text.body.includes(w.doctor.user.full_name), text.body);
      const rows = await rowsOf(appt.id, 'appointment_reminder');
      assert.deepEqual(rows.map((r) => r.channel).sort(), ['email', 'sms']);
      assert.deepEqual(await schedule(appt.id), []);
      await waitFor('both delivered', async () => (await rowsOf(appt.id, 'appointment_reminder')).every((r) => r.status === 'delivered'));
      await sleep(500);
      assert.equal(remindersTo(w).length, 1);
    }
  });
});

describe('after the senders were away', () => {
  test('two leads come due together: one reminder, not two; the lead still ahead stays planned; none within ten minutes of the last', async () => {
    const w = await world('en');
    const appt = await book(w, inMs(3 * 86400000));
    // no sender ran at the day-before and the hour-before times: both are due now
    await psql(`UPDATE appointment_reminders SET due_at = now() - interval '1 minute'
                WHERE appointment_id = ${appt.id} AND lead_minutes IN (1440, 60)`);
    await waitFor('the reminder', () => remindersTo(w)[0]);
    await waitFor('its SMS', () => sms.requests.find((r) => r.to === w.patient.phone && r.body.includes(w.clinic.name)));
    await sleep(1500);
    assert.equal(remindersTo(w).length, 1, 'one e-mail');
    assert.equal(sms.requests.filter((r) => r.body.includes(w.clinic.name) && r.body.includes('reminder')).length, 1, 'one SMS');
    assert.deepEqual((await rowsOf(appt.id, 'appointment_reminder')).map((r) => r.channel).sort(), ['email', 'sms']);
    assert.deepEqual((await schedule(appt.id)).map((r) => r.lead), [1], 'the last lead is still to come');
    // A lead released just after (as by a second sender that held it): within ten minutes of the last
    // reminder, nothing more is queued.
    await psql(`UPDATE appointment_reminders SET due_at = now() WHERE appointment_id = ${appt.id}`);
    await waitFor('the last lead released', async () => (await schedule(appt.id)).length === 0);
    await sleep(1500);
    assert.equal(remindersTo(w).length, 1, 'still one e-mail');
    assert.equal((await rowsOf(appt.id, 'appointment_reminder')).length, 2, 'still one reminder on each channel');
  });
});

describe('changes to the appointment', () => {
  test('a reschedule sends the notice with the old and new time and moves the reminders: exactly one, showing the new time', async () => {
    for (const [lang, moved] of [['en', 'appointment moved to'], ['pt-BR', 'consulta remarcada para']]) {
      const w = await world(lang);
      const appt = await book(w, inMs(2 * 86400000));
      assert.equal((await schedule(appt.id)).length, 3);
      const oldWhen = tokyo(appt.start_time, lang);
      const res = expectStatus(await patch(`/api/appointments/${appt.id}`, { start_time: inMs(64000) }, w.admin), 200);
      const when = tokyo(res.body.start_time, lang);
      const sched = await schedule(appt.id);
      assert.deepEqual(sched, [{ lead: 1, due: Date.parse(res.body.start_time) - 60000 }]);

      const notice = await rowsOf(appt.id, 'appointment_reschedule');
      assert.deepEqual(notice.map((r) => r.channel).sort(), ['email', 'sms']);
      const mail = await waitFor('the reschedule e-mail', () => smtp.messages.find((m) => m.id === notice.find((r) => r.channel === 'email').id));
      assert.equal(mail.subject, `${w.clinic.name}: ${moved} ${when}`);
      const text = await waitFor('the reschedule SMS', () => sms.requests.find((r) => r.id === notice.find((x) => x.channel === 'sms').id));
      assert.ok(text.body.includes(oldWhen) && text.body.includes(when), text.body);

      const reminder = await waitFor('the reminder', () => remindersTo(w)[0]);
      assert.ok(reminder.subject.endsWith(when), `${reminder.subject} shows ${when}`);
      await sleep(800);
      assert.equal(remindersTo(w).length, 1, 'one reminder, not one per lead planned before the move');
    }
  });

  test('a change that keeps the start (notes) sends no notice and keeps the schedule', async () => {
    const w = await world('en');
    const appt = await book(w, inMs(2 * 86400000));
    const before = await schedule(appt.id);
    expectStatus(await patch(`/api/appointments/${appt.id}`, { notes: 'bring the exams' }, w.admin), 200);
    assert.deepEqual(await schedule(appt.id), before);
    assert.deepEqual(await rowsOf(appt.id, 'appointment_reschedule'), []);
  });

  test('a cancellation drops the reminders: none is sent', async () => {
    const w = await world('en');
    const appt = await book(w, inMs(63000));
    const [{ due }] = await schedule(appt.id);
    expectStatus(await post(`/api/appointments/${appt.id}/cancel`, { reason: 'cannot come' }, w.admin), 200);
    assert.deepEqual(await schedule(appt.id), []);
    await sleep(Math.max(0, due - Date.now()) + 1500);
    assert.deepEqual(await rowsOf(appt.id, 'appointment_reminder'), []);
    assert.equal(remindersTo(w).length, 0);
  });

  test('a check-in drops the reminders', async () => {
    const w = await world('en', {}, pickTodayZone(2));
    const appt = await book(w, inMs(90 * 60000));
    assert.deepEqual((await schedule(appt.id)).map((r) => r.lead), [60, 1]);
    await checkIn(appt.id, w.admin);
    assert.deepEqual(await schedule(appt.id), []);
  });

  test('a released reminder not yet sent is dropped by a cancellation', async () => {
    // Queued by hand as the release would, and not due for an hour (a sender that failed and waits to retry).
    const w = await world('en');
    const appt = await book(w, inMs(2 * 86400000));
    await psql(`BEGIN; SELECT delivery_enqueue_appointment(a, 'appointment_reminder') FROM appointments a WHERE a.id = ${appt.id};
      UPDATE deliveries SET next_attempt_at = now() + interval '1 hour' WHERE entity_id = ${appt.id} AND kind = 'appointment_reminder'; COMMIT;`);
    assert.equal((await rowsOf(appt.id, 'appointment_reminder')).length, 2);
    expectStatus(await post(`/api/appointments/${appt.id}/cancel`, { reason: 'cannot come' }, w.admin), 200);
    assert.deepEqual(await rowsOf(appt.id, 'appointment_reminder'), []);
  });
});

describe('the patient', () => {
  test('opted out of both channels: no reminder; opting out of e-mail after booking: the reminder goes by SMS only', async () => {
    const none = await world('en', { notify_email: false, notify_sms: false });
    const a1 = await book(none, inMs(63000));
    const both = await world('en');
    const a2 = await book(both, inMs(63000));
    expectStatus(await patch(`/api/patients/${both.patient.id}`, { notify_email: false }, both.admin), 200);
    const [{ due }] = await schedule(a2.id);
    await waitFor('the SMS reminder', async () => (await rowsOf(a2.id, 'appointment_reminder')).length > 0);
    assert.deepEqual((await rowsOf(a2.id, 'appointment_reminder')).map((r) => r.channel), ['sms']);
    await sleep(Math.max(0, due - Date.now()) + 1000);
    assert.deepEqual(await rowsOf(a1.id, 'appointment_reminder'), []);
    assert.deepEqual(await schedule(a1.id), []);
    assert.equal(remindersTo(none).length + remindersTo(both).length, 0);
  });
});

test('reminders due together, with more senders (two `deliver` processes besides `serve`): each sent once', async () => {
  const b1 = spawnApi('deliver', { SMTP_URL: smtp.url, SMS_GATEWAY_URL: sms.url, DELIVERY_WORKERS: '2' });
  const b2 = spawnApi('deliver', { SMTP_URL: smtp.url, SMS_GATEWAY_URL: sms.url, DELIVERY_WORKERS: '2' });
  const worlds = [];
  for (let i = 0; i < 4; i++) worlds.push(await world('en'));
  const start = inMs(64000);
  const appts = [];
  for (const w of worlds) appts.push(await book(w, start));
  for (const [i, w] of worlds.entries()) {
    await waitFor('the reminder', () => remindersTo(w)[0]);
    await waitFor('the SMS', () => sms.requests.find((r) => r.to === w.patient.phone && r.body.includes(w.clinic.name) && r.body.includes('reminder')));
    assert.equal((await rowsOf(appts[i].id, 'appointment_reminder')).length, 2);
  }
  await sleep(1000);
  for (const w of worlds) {
    assert.equal(remindersTo(w).length, 1);
    assert.equal(sms.requests.filter((r) => r.body.includes(w.clinic.name) && r.body.includes('reminder')).length, 1);
  }
  assert.equal((await b1.stop()).code, 0);
  assert.equal((await b2.stop()).code, 0);
});

test('a bad REMINDER_LEAD_MINUTES is refused at start with a message naming it', async () => {
  for (const value of ['1440,abc', '0', '43201', '60,60', '1440,', '1,2,3,4,5,6,7,8,9,10,11', '-5', 'soon']) {
    for (const cmd of ['serve', 'deliver']) {
      const r = await spawnApi(cmd, { REMINDER_LEAD_MINUTES: value, SMTP_URL: smtp.url }).exited;
      assert.equal(r.code, 2, `${cmd} with ${value}: ${r.err}`);
      assert.match(r.err, /configuration error: REMINDER_LEAD_MINUTES=".*" must be "none" or a comma-separated list of 1 to 10 different whole minutes, each 1-43200/, r.err);
    }
  }
});

test('REMINDER_LEAD_MINUTES=none: no reminders are scheduled', async () => {
  const b = spawnApi('deliver', { REMINDER_LEAD_MINUTES: 'none', SMTP_URL: smtp.url });
  await waitFor('the leads stored', async () => (await psql('SELECT lead_minutes FROM reminder_settings')).trim() === '{}');
  const w = await world('en');
  const appt = await book(w, inMs(2 * 86400000));
  assert.deepEqual(await schedule(appt.id), []);
  assert.equal((await b.stop()).code, 0);
  // Back to this file's leads: upcoming confirmed appointments are planned again.
  await psql(`SELECT reminder_leads_set('{${LEADS}}')`);
  assert.equal((await schedule(appt.id)).length, 3);
});
