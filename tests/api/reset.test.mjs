// The installation reset (POST /api/admin/reset, `api-server reset`; sql/0030_agenda_reset.sql
// installation_reset). Every test here runs against a database of its own, with its own api-servers
// and signaling-server: a reset of the shared test database would wipe what the other test files,
// running at the same time, rely on.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, describe, test } from 'node:test';

import { io } from 'socket.io-client';

import { expectError, expectStatus, request, startApi, startSignaling, superPsql, uniq } from '../lib/api.mjs';

const NAME = `Clinic Test ${uniq()}`;
const DEMO_PASSWORD = 'demo-password';

// Runs the api-server command line on the private database; resolves {code, out}.
function cli(args, env) {
  return new Promise((resolve) => {
    const p = spawn(process.env.API_BIN, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('close', (code) => resolve({ code, out }));
  });
}

const stops = [];
const dbs = [];
after(async () => {
  for (const s of stops.reverse()) await s();
  for (const name of dbs) await superPsql('postgres', `DROP DATABASE IF EXISTS ${name} WITH (FORCE);`);
});

// A private database with the demo data, an api-server that allows resets (`allowed`), one that does
// not (`refusing`) and a signaling-server, all on it.
async function installation() {
  const name = `clinic_reset_${uniq().replace(/[^a-z0-9]/g, '')}`.slice(0, 60);
  await superPsql('postgres', `CREATE DATABASE ${name} OWNER clinic;`);
  dbs.push(name);
  await superPsql(name, 'CREATE EXTENSION pg_trgm; CREATE EXTENSION btree_gist; CREATE EXTENSION pgcrypto;');
  const url = new URL(process.env.DATABASE_URL);
  url.pathname = `/${name}`;
  const env = { DATABASE_URL: url.toString(), INSTALLATION_NAME: NAME };
  for (const cmd of ['migrate', 'seed-demo']) {
    const r = await cli([cmd], env);
    assert.equal(r.code, 0, `${cmd}: ${r.out}`);
  }
  const [allowed, refusing, sig] = await Promise.all([
    startApi({ ...env, ALLOW_DATABASE_RESET: '1' }), startApi(env), startSignaling({ DATABASE_URL: env.DATABASE_URL }),
  ]);
  stops.push(allowed.stop, refusing.stop, sig.stop);
  const db = (sql) => superPsql(name, sql);
  return { name, env, allowed, refusing, sig, db };
}

const on = (server, method, path, token, body) => request(method, path, { base: server.url, token, body });
async function signIn(server, email, password = DEMO_PASSWORD) {
  return expectStatus(await on(server, 'POST', '/api/auth/login', null, { email, password }), 200).body.access_token;
}

// A Socket.IO connection to sig with token; resolves once connected, with a promise of its end.
function socket(sig, token) {
  const s = io(sig.url, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true, timeout: 5000 });
  const events = [];
  s.onAny((n, d) => events.push({ n, d }));
  const closed = new Promise((resolve) => s.on('disconnect', resolve));
  return new Promise((resolve, reject) => {
    s.on('connect', () => resolve({ s, events, closed }));
    s.on('connect_error', (e) => { s.close(); reject(e); });
  });
}

const counts = (db) => db(`SELECT json_build_object('clinics', (SELECT count(*) FROM clinics), 'users', (SELECT count(*) FROM users),
  'admins', (SELECT count(*) FROM users WHERE role = 'ADMIN'), 'patients', (SELECT count(*) FROM patients),
  'appointments', (SELECT count(*) FROM appointments), 'visits', (SELECT count(*) FROM visits),
  'deliveries', (SELECT count(*) FROM deliveries), 'events', (SELECT count(*) FROM events),
  'audit', (SELECT count(*) FROM audit_log))`).then(JSON.parse);

describe('POST /api/admin/reset', () => {
  test('refused: flag off (403), wrong or missing name (422), not an admin (403); nothing deleted', async () => {
    const inst = await installation();
    const before = await counts(inst.db);
    assert.ok(before.clinics > 0 && before.patients > 0 && before.appointments > 0, JSON.stringify(before));
    const admin = await signIn(inst.allowed, 'admin@demo.clinic');
    expectError(await on(inst.refusing, 'POST', '/api/admin/reset', admin, { confirm: NAME }), 403, 'reset_disabled');
    expectError(await on(inst.allowed, 'POST', '/api/admin/reset', admin, { confirm: `${NAME}.` }), 422, 'validation_failed', ['confirm']);
    expectError(await on(inst.allowed, 'POST', '/api/admin/reset', admin, { confirm: NAME.toLowerCase() }), 422, 'validation_failed', ['confirm']);
    expectError(await on(inst.allowed, 'POST', '/api/admin/reset', admin, {}), 422, 'validation_failed', ['confirm']);
    for (const who of ['reception1@demo.clinic', 'doctor1@demo.clinic', 'patient1@demo.clinic']) {
      const token = await signIn(inst.allowed, who);
      expectError(await on(inst.allowed, 'POST', '/api/admin/reset', token, { confirm: NAME }), 403, 'forbidden');
    }
    const cliOff = await cli(['reset', '--confirm', NAME], inst.env);
    assert.equal(cliOff.code, 2, cliOff.out);
    assert.match(cliOff.out, /ALLOW_DATABASE_RESET/);
    const cliWrong = await cli(['reset', '--confirm', 'another'], { ...inst.env, ALLOW_DATABASE_RESET: '1' });
    assert.equal(cliWrong.code, 2, cliWrong.out);
    const afterRefusals = await counts(inst.db);
    assert.deepEqual({ ...afterRefusals, audit: 0 }, { ...before, audit: 0 }, 'no clinic record was touched');
  });

  test('two resets at once: both answer, everything of the clinics is gone, admins and the audit log stay, sockets closed', async () => {
    const inst = await installation();
    const before = await counts(inst.db);
    const admin = await signIn(inst.allowed, 'admin@demo.clinic');
    const recToken = await signIn(inst.allowed, 'reception1@demo.clinic');
    const [recSock, docSock, adminSock] = await Promise.all([
      socket(inst.sig, recToken), socket(inst.sig, await signIn(inst.allowed, 'doctor1@demo.clinic')), socket(inst.sig, admin),
    ]);

    const [a, b] = await Promise.all([
      on(inst.allowed, 'POST', '/api/admin/reset', admin, { confirm: NAME }),
      on(inst.allowed, 'POST', '/api/admin/reset', admin, { confirm: NAME }),
    ]);
    expectStatus(a, 200);
    expectStatus(b, 200);
    const removed = [a.body, b.body].sort((x, y) => y.accounts_removed - x.accounts_removed);
    assert.equal(removed[0].accounts_removed, before.users - before.admins);
    assert.equal(removed[0].clinics_removed, before.clinics);
    assert.deepEqual([removed[1].accounts_removed, removed[1].clinics_removed], [0, 0], 'the second finds nothing left');

    const now = await counts(inst.db);
    assert.deepEqual({ ...now, audit: 0 }, {
      clinics: 0, users: before.admins, admins: before.admins, patients: 0, appointments: 0, visits: 0, deliveries: 0, events: 0, audit: 0,
    });
    assert.ok(now.audit >= before.audit + 2, 'the audit log is kept and grows');
    const rows = JSON.parse(await inst.db(`SELECT json_agg(json_build_object('actor', actor_user_id, 'role', actor_role, 'details', details))
      FROM audit_log WHERE action = 'installation_reset'`));
    assert.equal(rows.length, 2);
    for (const r of rows) assert.equal(r.role, 'ADMIN');

    // Every signaling connection is closed, the admin's too.
    await Promise.all([recSock.closed, docSock.closed, adminSock.closed].map((p) => Promise.race([
      p, new Promise((_, rej) => setTimeout(() => rej(new Error('a socket stayed open after the reset')), 5000)),
    ])));
    assert.ok(recSock.events.some((e) => e.n === 'error' && e.d?.code === 'session_ended'), JSON.stringify(recSock.events));
    // A removed account's token is refused at once, and it cannot sign in; the admin can.
    expectError(await on(inst.allowed, 'GET', '/api/auth/me', recToken), 401, 'unauthorized');
    expectError(await on(inst.allowed, 'POST', '/api/auth/login', null, { email: 'reception1@demo.clinic', password: DEMO_PASSWORD }), 401, 'invalid_credentials');
    const again = await signIn(inst.allowed, 'admin@demo.clinic');
    await assert.rejects(socket(inst.sig, recToken));
    (await socket(inst.sig, again)).s.close();

    // The installation works again from scratch.
    const clinic = expectStatus(await on(inst.allowed, 'POST', '/api/clinics', again, { name: 'New start', timezone: 'America/Sao_Paulo' }), 201).body;
    expectStatus(await on(inst.allowed, 'POST', '/api/users', again, {
      email: `rec-${uniq()}@example.com`, password: 'a-long-password', full_name: 'New Desk', role: 'RECEPTIONIST', clinic_id: clinic.id,
    }), 201);
    const audit = expectStatus(await on(inst.allowed, 'GET', '/api/audit?action=installation_reset', again), 200).body;
    assert.equal(audit.items.length, 2);
  });

  test('api-server reset: with the flag and the name it resets, printing what it removed', async () => {
    const inst = await installation();
    const before = await counts(inst.db);
    const r = await cli(['reset', '--confirm', NAME], { ...inst.env, ALLOW_DATABASE_RESET: '1' });
    assert.equal(r.code, 0, r.out);
    const summary = JSON.parse(r.out.trim().split('\n').find((l) => l.startsWith('{')));
    assert.equal(summary.clinics_removed, before.clinics);
    const now = await counts(inst.db);
    assert.equal(now.clinics, 0);
    assert.equal(now.users, before.admins);
    assert.equal(await inst.db(`SELECT count(*) FROM audit_log WHERE action = 'installation_reset' AND actor_user_id IS NULL`), '1');
  });
});
