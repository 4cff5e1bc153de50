// Invariants the database keeps whatever writes it (sql/0017_invariants.sql), seen through the API where it
// can be and through psql where only the database can show it: a user's role and their doctor or patient
// record, the last active admin (also under two admins deactivating each other at once, in a database of
// its own), the volatility of is_valid_timezone, and the end of a clinic's day (waiting and called visits
// leave the queue, day_ended; their appointments close).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, describe, test } from 'node:test';

import {
  asAdmin,
  checkIn,
  createAppointment,
  createClinic,
  createPatient,
  createService,
  eventsEnd,
  eventsSince,
  expectError,
  expectStatus,
  get,
  listAll,
  localDate,
  moveVisit,
  patientSession,
  pickTodayZone,
  post,
  psql,
  request,
  runPsql,
  staffSession,
  startApi,
  superPsql,
  uniq,
  walkIn,
} from '../lib/api.mjs';

const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Runs script in its own transaction; resolves {ok, err}.
const tx = (script) => runPsql(`BEGIN;\n${script}\nCOMMIT;`);

describe('a user\'s role and their doctor or patient record', () => {
  const LINK = /users_role_link|has \d+ doctor and \d+ patient records/;

  test('a DOCTOR user has exactly one doctor record, checked at commit', async () => {
    const clinic = await createClinic();
    const email = `doc.${uniq()}@tests.example.org`;
    // alone: refused at COMMIT, nothing stays
    let r = await tx(`INSERT INTO users (email, password_hash, full_name, role, clinic_id) VALUES ('${email}', '${HASH}', 'D', 'DOCTOR', ${clinic.id});`);
    assert.equal(r.ok, false);
    assert.match(r.err, LINK);
    assert.equal(await psql(`SELECT count(*) FROM users WHERE email = '${email}';`), '0');
    // the user and its record in two statements of one transaction: accepted
    r = await tx(`
      INSERT INTO users (email, password_hash, full_name, role, clinic_id) VALUES ('${email}', '${HASH}', 'D', 'DOCTOR', ${clinic.id});
      INSERT INTO doctors (user_id, clinic_id) SELECT id, clinic_id FROM users WHERE email = '${email}';`);
    assert.equal(r.ok, true, r.err);
    const uid = await psql(`SELECT id FROM users WHERE email = '${email}';`);
    // a second record, its removal, a patient record on top: refused
    r = await tx(`INSERT INTO doctors (user_id, clinic_id) VALUES (${uid}, ${clinic.id});`);
    assert.equal(r.ok, false);
    assert.match(r.err, /doctors_user_id_key/);
    r = await tx(`DELETE FROM doctors WHERE user_id = ${uid};`);
    assert.equal(r.ok, false);
    assert.match(r.err, LINK);
    r = await tx(`INSERT INTO patients (clinic_id, full_name, user_id) VALUES (${clinic.id}, 'P', ${uid});`);
    assert.equal(r.ok, false);
    assert.match(r.err, LINK);
    // the role cannot change away from its record
    r = await tx(`UPDATE users SET role = 'RECEPTIONIST' WHERE id = ${uid};`);
    assert.equal(r.ok, false);
    assert.match(r.err, LINK);
    assert.equal(await psql(`SELECT role || ' ' || (SELECT count(*) FROM doctors WHERE user_id = ${uid}) FROM users WHERE id = ${uid};`), 'DOCTOR 1');
  });

  test('a PATIENT user has exactly one patient record; ADMIN and RECEPTIONIST users have none', async () => {
    const clinic = await createClinic();
    const rec = await staffSession('RECEPTIONIST', clinic.id);
    const pat = await patientSession(clinic.id);
    const other = await createPatient(await asAdmin(), { clinic_id: clinic.id });
    const email = `pat.${uniq()}@tests.example.org`;
    let r = await tx(`INSERT INTO users (email, password_hash, full_name, role, clinic_id) VALUES ('${email}', '${HASH}', 'P', 'PATIENT', ${clinic.id});`);
    assert.equal(r.ok, false);
    assert.match(r.err, LINK);
    // one user for two patient records, a record moved to a receptionist, a record unlinked: refused
    r = await tx(`UPDATE patients SET user_id = ${pat.user.id} WHERE id = ${other.id};`);
    assert.equal(r.ok, false);
    assert.match(r.err, /patients_user_id_key/);
    r = await tx(`UPDATE patients SET user_id = ${rec.id} WHERE id = ${other.id};`);
    assert.equal(r.ok, false);
    assert.match(r.err, LINK);
    r = await tx(`UPDATE patients SET user_id = NULL WHERE id = ${pat.patient.id};`);
    assert.equal(r.ok, false);
    assert.match(r.err, LINK);
    r = await tx(`INSERT INTO doctors (user_id, clinic_id) VALUES (${rec.id}, ${clinic.id});`);
    assert.equal(r.ok, false);
    assert.match(r.err, LINK);
    // the API's own writes keep it: the account of a patient, a doctor with its record
    const doc = await staffSession('DOCTOR', clinic.id);
    assert.equal(typeof doc.user.doctor_id, 'number');
    assert.equal(pat.user.patient_id, pat.patient.id);
    assert.equal(await psql(`SELECT count(*) FROM users u WHERE u.id IN (${doc.id}, ${pat.user.id}, ${rec.id})
      AND (SELECT count(*) FROM doctors d WHERE d.user_id = u.id) = (u.role = 'DOCTOR')::int
      AND (SELECT count(*) FROM patients p WHERE p.user_id = u.id) = (u.role = 'PATIENT')::int;`), '3');
  });
});

// A psql session kept open, fed statement by statement: step(sql) resolves once psql has run it, with what
// it wrote to stderr meanwhile.
function session(url) {
  const p = spawn('psql', ['-X', '-q', '-At', url], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let n = 0;
  p.stdout.on('data', (d) => { out += d; });
  p.stderr.on('data', (d) => { err += d; });
  return {
    async step(sql, timeoutMs = 10000) {
      const mark = `step-done-${++n}`;
      const errBefore = err.length;
      p.stdin.write(`${sql}\n\\echo ${mark}\n`);
      const deadline = Date.now() + timeoutMs;
      while (!out.includes(mark)) {
        if (Date.now() > deadline) return { done: false, err: err.slice(errBefore) };
        await sleep(20);
      }
      return { done: true, err: err.slice(errBefore) };
    },
    // Waits for a step already sent (step with a short timeout returned done: false).
    async finish(timeoutMs = 10000) {
      const deadline = Date.now() + timeoutMs;
      while (!out.includes(`step-done-${n}`)) {
        if (Date.now() > deadline) return false;
        await sleep(20);
      }
      return true;
    },
    errors: () => err,
    end: () => new Promise((res) => { p.on('close', res); p.stdin.end(); }),
  };
}

describe('the last active admin', () => {
  // A database of its own (migrated, two admins, an api-server), so its admins are the only ones.
  let db = null;
  after(async () => {
    if (!db) return;
    await db.api?.stop();
    await superPsql('postgres', `DROP DATABASE IF EXISTS ${db.name} WITH (FORCE);`);
  });

  function run(args, env) {
    return new Promise((resolve) => {
      const p = spawn(process.env.API_BIN, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d) => { err += d; });
      p.on('close', (code) => resolve({ code, err }));
    });
  }

  async function setup() {
    const name = `clinic_admins_${uniq().replace(/[^a-z0-9]/g, '')}`.slice(0, 60);
    await superPsql('postgres', `CREATE DATABASE ${name} OWNER clinic;`);
    db = { name };
    await superPsql(name, 'CREATE EXTENSION pg_trgm; CREATE EXTENSION btree_gist; CREATE EXTENSION pgcrypto;');
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = `/${name}`;
    db.url = url.toString();
    const m = await run(['migrate'], { DATABASE_URL: db.url });
    assert.equal(m.code, 0, `migrate: ${m.err}`);
    db.admins = [];
    for (const who of ['a', 'b']) {
      const email = `admin-${who}.${uniq()}@tests.example.org`;
      const password = `pw-${uniq()}`;
      const c = await run(['create-admin', '--email', email], { DATABASE_URL: db.url, ADMIN_PASSWORD: password });
      assert.equal(c.code, 0, `create-admin: ${c.err}`);
      db.admins.push({ email, password });
    }
    db.api = await startApi({ DATABASE_URL: db.url });
  }

  // A fresh start for each test: the database of its own, both admins active and signed in.
  async function bothActive() {
    if (!db) await setup();
    await superPsql(db.name, `UPDATE users SET active = true WHERE role = 'ADMIN' AND NOT active;`);
    await Promise.all(db.admins.map(signIn));
    return db.admins;
  }

  const on = (method, path, token, body) => request(method, path, { base: db.api.url, token, body });
  async function signIn(a) {
    const t = expectStatus(await on('POST', '/api/auth/login', null, { email: a.email, password: a.password }), 200).body;
    a.token = t.access_token;
    a.id = t.user.id;
  }
  const LAST = /last active admin/i;

  test('two admins deactivating each other at the same moment: exactly one succeeds, one admin stays', async () => {
    const [a, b] = await bothActive();
    const ways = [
      (from, to) => on('POST', `/api/users/${to.id}/deactivate`, from.token),
      (from, to) => on('PATCH', `/api/users/${to.id}`, from.token, { active: false }),
    ];
    for (let round = 0; round < 6; round++) {
      const [wa, wb] = [ways[round % 2], ways[(round >> 1) % 2]];
      const [ra, rb] = await Promise.all([wa(a, b), wb(b, a)]);
      // The loser is refused by the rule (409) when both requests reached the database together, or
      // by the guard (401) when the winner's deactivation of its account had already committed.
      assert.equal([ra, rb].filter((r) => r.status === 200).length, 1, `round ${round}: ${JSON.stringify([ra.body, rb.body])}`);
      const [won, lost, refused] = ra.status === 200 ? [a, b, rb] : [b, a, ra];
      if (refused.status === 409) assert.match(expectError(refused, 409, 'conflict').body.error.message, LAST);
      else expectError(refused, 401, 'unauthorized');
      assert.equal(await superPsql(db.name, `SELECT string_agg(id::text, ',') FROM users WHERE role = 'ADMIN' AND active;`), String(won.id));
      // the survivor brings the other back for the next round
      expectStatus(await on('PATCH', `/api/users/${lost.id}`, won.token, { active: true }), 200);
      await signIn(lost);
    }
  });

  test('the last active admin cannot be deactivated, demoted or deleted, whoever writes it', async () => {
    const [a, b] = await bothActive();
    expectStatus(await on('POST', `/api/users/${b.id}/deactivate`, a.token), 200);
    for (const sql of [`UPDATE users SET active = false WHERE id = ${a.id};`,
      `UPDATE users SET role = 'RECEPTIONIST', clinic_id = NULL WHERE id = ${a.id};`,
      `DELETE FROM users WHERE id = ${a.id};`]) {
      await assert.rejects(superPsql(db.name, sql), LAST, sql);
    }
    // another active admin makes it possible again
    expectStatus(await on('PATCH', `/api/users/${b.id}`, a.token, { active: true }), 200);
    await signIn(b);
    expectStatus(await on('POST', `/api/users/${a.id}/deactivate`, b.token), 200);
    expectStatus(await on('PATCH', `/api/users/${a.id}`, b.token, { active: true }), 200);
  });

  test('the second of two interleaved deactivations waits for the first and sees its commit', async () => {
    const [a, b] = await bothActive();
    const url = db.url;
    const s1 = session(url);
    const s2 = session(url);
    try {
      assert.equal((await s1.step(`BEGIN; UPDATE users SET active = false WHERE id = ${b.id};`)).err, '');
      // s2 deactivates the other admin while s1 is open: it must wait for s1 (no row of it is locked
      // by s1, so only the admin rule can make it wait), then refuse
      const pending = await s2.step(`UPDATE users SET active = false WHERE id = ${a.id};`, 500);
      assert.equal(pending.done, false, `the second deactivation did not wait for the first: ${pending.err}`);
      assert.equal((await s1.step('COMMIT;')).err, '');
      assert.equal(await s2.finish(), true);
      assert.match(s2.errors(), LAST);
    } finally {
      await Promise.all([s1.end(), s2.end()]);
    }
    assert.equal(await superPsql(db.name, `SELECT string_agg(id::text, ',') FROM users WHERE role = 'ADMIN' AND active;`), String(a.id));
    expectStatus(await on('PATCH', `/api/users/${b.id}`, a.token, { active: true }), 200);
  });
});

describe('is_valid_timezone', () => {
  test('is STABLE (it reads pg_timezone_names), nothing IMMUTABLE depends on it, and clinics still check their zone', async () => {
    assert.equal(await psql(`SELECT provolatile FROM pg_proc WHERE proname = 'is_valid_timezone';`), 's');
    assert.equal(await psql(`SELECT count(*) FROM pg_proc WHERE provolatile = 'i' AND prosrc ~ 'is_valid_timezone';`), '0');
    assert.equal(await psql(`SELECT count(*) FROM pg_index i WHERE pg_get_indexdef(i.indexrelid) ~ 'is_valid_timezone';`), '0');
    const admin = await asAdmin();
    expectError(await post('/api/clinics', { name: `Clinic ${uniq()}`, timezone: 'Mars/Olympus_Mons' }, admin), 422, 'validation_failed', ['timezone']);
    const c = await createClinic({ timezone: 'America/Manaus' });
    expectError(await request('PATCH', `/api/clinics/${c.id}`, { token: admin, body: { timezone: 'Nowhere/Else' } }), 422, 'validation_failed', ['timezone']);
    const r = await tx(`UPDATE clinics SET timezone = 'Atlantis/Capital' WHERE id = ${c.id};`);
    assert.equal(r.ok, false);
    assert.match(r.err, /clinics_timezone_check/);
  });
});

describe('the end of a clinic\'s day', () => {
  const TZ = pickTodayZone(2);

  // A clinic in TZ with a receptionist, a doctor, a 5-minute service, and n patients.
  async function clinicDay(n) {
    const clinic = await createClinic({ timezone: TZ });
    const [rec, doc, service] = await Promise.all([
      staffSession('RECEPTIONIST', clinic.id), staffSession('DOCTOR', clinic.id), createService(clinic.id, { duration_minutes: 5 }),
    ]);
    const patients = await Promise.all(Array.from({ length: n }, () => createPatient(rec.access, { full_name: `Patient ${uniq()}` })));
    const base = Math.ceil(Date.now() / 60000) * 60000 + 10 * 60000;
    const book = (patient, i, fields = {}) => createAppointment(rec.access, {
      patient_id: patient.id, doctor_id: doc.user.doctor_id, service_id: service.id,
      start_time: new Date(base + i * 5 * 60000).toISOString().replace(/\.\d{3}Z$/, 'Z'), ...fields,
    });
    return { clinic, rec, doc, service, patients, book, today: localDate(TZ) };
  }

  async function until(what, f, ms = 15000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await f();
      if (v) return v;
      assert.ok(Date.now() < deadline, `${what}: not within ${ms} ms`);
      await sleep(200);
    }
  }

  const visit = async (id) => expectStatus(await get(`/api/visits/${id}`, await asAdmin()), 200).body;
  const appointment = async (id) => expectStatus(await get(`/api/appointments/${id}`, await asAdmin()), 200).body;

  test('waiting and called visits of a day that is over leave the queue (day_ended); their appointments close', async () => {
    const d = await clinicDay(4);
    const [a0, a1] = await Promise.all([d.book(d.patients[0], 0), d.book(d.patients[1], 1)]);
    const waiting = await checkIn(a0.id, d.rec.access);
    const called = await checkIn(a1.id, d.rec.access);
    expectStatus(await post(`/api/visits/${called.id}/call`, undefined, d.rec.access), 200);
    const withDoctor = await walkIn(d.rec.access, { patient_id: d.patients[2].id, doctor_id: d.doc.user.doctor_id });
    await moveVisit(withDoctor.id, 'with_doctor', d.rec.access);
    const today = await walkIn(d.rec.access, { patient_id: d.patients[3].id, doctor_id: d.doc.user.doctor_id });
    const cursor = await eventsEnd(d.rec.access);

    // the queue of these three is moved to yesterday, as if the clinic's midnight had passed since
    await psql(`UPDATE visits SET queue_date = queue_date - 1 WHERE id IN (${waiting.id}, ${called.id}, ${withDoctor.id});`);
    const yesterday = await psql(`SELECT to_char(queue_date, 'YYYY-MM-DD') FROM visits WHERE id = ${waiting.id};`);

    const [w, c] = await until('the day-end sweep', async () => {
      const vs = await Promise.all([visit(waiting.id), visit(called.id)]);
      return vs.every((v) => v.status === 'left') && vs;
    });
    for (const v of [w, c]) {
      assert.deepEqual([v.status, v.phase, v.left_reason, v.start_time], ['left', 'left', 'day_ended', null]);
      assert.ok(v.left_at >= v.check_in_time, `left_at ${v.left_at}`);
    }
    assert.equal(c.called_at, (await psql(`SELECT rfc3339(called_at) FROM visits WHERE id = ${called.id};`)));
    // a visit with its doctor stays with them, today's queue stays as it is
    assert.equal((await visit(withDoctor.id)).status, 'in_progress');
    assert.equal((await visit(today.id)).status, 'waiting');

    // the transition has the reason and no actor; the appointments are closed as no-shows
    const t = (await listAll(`/api/visits/${called.id}/transitions`, d.rec.access)).at(-1);
    assert.deepEqual([t.from_status, t.to_status, t.reason, t.actor_user_id, t.actor_role, t.actor_name], ['called', 'left', 'day_ended', null, null, null]);
    assert.deepEqual([(await appointment(a0.id)).status, (await appointment(a1.id)).status], ['no_show', 'no_show']);

    // yesterday's board lists nobody waiting any more
    const board = expectStatus(await get(`/api/queue?date=${yesterday}`, d.rec.access), 200).body;
    assert.deepEqual(board.phases.waiting, []);
    assert.deepEqual(board.counts, { waiting: 0, with_doctor: 1, completed: 0, left: 2 });

    // announced like any move, and audited without an actor
    const { items } = await eventsSince(d.rec.access, cursor, 6);
    const seen = items.map((e) => [e.name, e.data.visit?.id ?? e.data.visit_id ?? e.data.appointment?.id]);
    for (const [name, id] of [['visit_status_changed', waiting.id], ['visit_status_changed', called.id], ['queue_updated', waiting.id],
      ['queue_updated', called.id], ['appointment_updated', a0.id], ['appointment_updated', a1.id]]) {
      assert.ok(seen.some(([n, i]) => n === name && i === id), `${name} of ${id} in ${JSON.stringify(seen)}`);
    }
    const audit = await listAll(`/api/audit?action=visit_day_ended`, await asAdmin());
    const mine = audit.filter((e) => [waiting.id, called.id].includes(e.entity_id));
    assert.deepEqual(mine.map((e) => [e.entity, e.actor_user_id, e.details.queue_date]).sort(), [['visit', null, yesterday], ['visit', null, yesterday]]);
  });

  test('a checked-in appointment whose patient the desk records as gone is closed (no_show), with its event', async () => {
    const d = await clinicDay(2);
    const a = await d.book(d.patients[0], 0);
    const v = await checkIn(a.id, d.rec.access);
    const cursor = await eventsEnd(d.rec.access);
    const l = expectStatus(await post(`/api/visits/${v.id}/left`, undefined, d.rec.access), 200).body;
    assert.deepEqual([l.status, l.left_reason], ['left', 'patient_left']);
    assert.equal((await appointment(a.id)).status, 'no_show');
    const { items } = await eventsSince(d.rec.access, cursor, 3);
    const upd = items.filter((e) => e.name === 'appointment_updated' && e.data.appointment.id === a.id);
    assert.deepEqual(upd.map((e) => e.data.appointment.status), ['no_show']);
    // a walk-in has no appointment to close
    const wv = await walkIn(d.rec.access, { patient_id: d.patients[1].id, doctor_id: d.doc.user.doctor_id });
    assert.equal(expectStatus(await post(`/api/visits/${wv.id}/left`, undefined, d.rec.access), 200).body.left_reason, 'patient_left');
  });

  test('a video appointment whose visit left stays checked in (a new session may follow) until its day is over', async () => {
    const d = await clinicDay(1);
    const a = await d.book(d.patients[0], 0, { consultation_type: 'video' });
    assert.equal(a.consultation_type, 'video');
    const v = await checkIn(a.id, d.rec.access);
    expectStatus(await post(`/api/visits/${v.id}/left`, undefined, d.rec.access), 200);
    assert.equal((await appointment(a.id)).status, 'checked_in');
    expectStatus(await post('/api/video-consultations/sessions', { appointment_id: a.id }, d.rec.access), 201);
    // the day is over: the sweep closes it
    await psql(`UPDATE visits SET queue_date = queue_date - 1 WHERE id = ${v.id};`);
    await until('the day-end sweep', async () => (await appointment(a.id)).status === 'no_show');
    assert.deepEqual([(await visit(v.id)).status, (await visit(v.id)).left_reason], ['left', 'patient_left']);
  });
});
