// What logging a clinical read costs the read (sql/0029_record_access.sql): two throwaway api-servers on
// the same database, one with RECORD_ACCESS_LOG=1 and one with RECORD_ACCESS_LOG=0 (both without rate
// limits), read the same patient record (GET /api/patients/{id} as a doctor: the record with its
// clinical field) and the same evolution (GET /api/visits/{id}/evolution), in alternating rounds so drift
// hits both alike: one client in series (p50, p99 of the latency over keep-alive) and C clients at once
// (requests a second). Then the database alone: pgbench runs the patient read's own statement with the
// logging call and with a NULL role (what RECORD_ACCESS_LOG=0 sends), 1 and C clients, each statement its
// own transaction as in the server (PGBENCH, default /usr/lib/postgresql/15/bin/pgbench; skipped when
// missing). Figures are printed, never asserted. Run against a throwaway database with the demo data and
// an api-server serving it, with that server's environment (DATABASE_URL, the JWT key files) plus API_URL
// and API_BIN (it adds rows):
//   API_URL=http://127.0.0.1:8080 API_BIN=build/api-server DATABASE_URL=... node --test tests/bench/record-access.mjs
// Env: BENCH_READS (requests per round and mode, default 2000), BENCH_ROUNDS (3), BENCH_CONCURRENCY (16),
// BENCH_PGBENCH_SECONDS (5 a run; PGBENCH=0 skips pgbench), BENCH_DURABLE=1 (turn fsync and
// synchronous_commit on in the cluster for the run, as in production; the test clusters run without them;
// only on a throwaway cluster).
import { execFileSync } from 'node:child_process';
import { existsSync, unlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  createClinic, createService, expectStatus, moveVisit, patientSession, post, psql, put, staffSession, startApi, walkIn,
} from '../lib/api.mjs';

const N = Number(process.env.BENCH_READS || 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 3);
const C = Number(process.env.BENCH_CONCURRENCY || 16);
const LIMITS_OFF = { API_RATE_PER_ADDRESS: '0', API_RATE_PER_USER: '0', DELIVERY_WORKERS: '0', DB_POOL_SIZE: String(C) };

// n GETs of path with token over `conns` keep-alive connections; resolves with the latencies (ms) and seconds.
async function load(base, path, token, n, conns) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
  const url = new URL(base + path);
  const lat = [];
  let next = 0;
  const one = () => new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    http.get({ agent, host: url.hostname, port: url.port, path: url.pathname, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`${path}: ${res.statusCode}`));
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
        resolve();
      });
    }).on('error', reject);
  });
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: conns }, async () => { while (next++ < n) await one(); }));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  agent.destroy();
  return { lat: lat.sort((a, b) => a - b), s };
}

// pgbench of the patient read (the statement of h_patients.c) with role $role ('DOCTOR' logs, NULL does
// not), `clients` clients for `secs` seconds: "latency average = ... ms, tps = ...".
const PGBENCH_BIN = process.env.PGBENCH || '/usr/lib/postgresql/15/bin/pgbench';
function pgbench(patientId, actor, role, clients, secs) {
  const file = join(tmpdir(), `record-access-${process.pid}-${role}.sql`);
  writeFileSync(file, `SELECT patient_json_for(p, 'DOCTOR'), record_access_write(p.id, 'patient_record_read', 'patient', p.id, ${actor}, ${role}, 'bench') FROM patients p WHERE p.id = ${patientId};\n`);
  const out = execFileSync(PGBENCH_BIN, ['-n', '-M', 'extended', '-f', file, '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(secs), process.env.DATABASE_URL], { encoding: 'utf8' });
  unlinkSync(file);
  const lat = /latency average = ([\d.]+) ms/.exec(out)?.[1];
  const tps = /tps = ([\d.]+)/.exec(out)?.[1];
  return { lat: Number(lat), tps: Number(tps) };
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const fmt = (r) => `p50 ${pct(r.lat, 50).toFixed(3)} ms, p99 ${pct(r.lat, 99).toFixed(3)} ms`;

test('latency and throughput of clinical reads with record-access logging on and off', { timeout: 900000 }, async (t) => {
  const clinic = await createClinic({ timezone: 'UTC' });
  const [rec, doc, pat, service] = await Promise.all([
    staffSession('RECEPTIONIST', clinic.id), staffSession('DOCTOR', clinic.id), patientSession(clinic.id, { medical_history: 'Asthma since childhood.' }),
    createService(clinic.id, { duration_minutes: 15 }),
  ]);
  const v = await walkIn(rec.access, { patient_id: pat.patient.id, doctor_id: doc.user.doctor_id, service_id: service.id });
  await moveVisit(v.id, 'with_doctor', rec.access);
  expectStatus(await put(`/api/visits/${v.id}/evolution`, { notes: 'Wheezing.' }, doc.access), [200, 201]);
  expectStatus(await post(`/api/visits/${v.id}/evolution/sign`, undefined, doc.access), 200);
  if (process.env.BENCH_DURABLE === '1') {
    await psql("ALTER SYSTEM SET fsync = on; ALTER SYSTEM SET synchronous_commit = on; SELECT pg_reload_conf();");
  }
  const [on, off] = [await startApi({ ...LIMITS_OFF, RECORD_ACCESS_LOG: '1' }), await startApi({ ...LIMITS_OFF, RECORD_ACCESS_LOG: '0' })];
  try {
    const before = Number(await psql('SELECT count(*) FROM record_access'));
    for (const [name, path] of [['patient record', `/api/patients/${pat.patient.id}`], ['evolution', `/api/visits/${v.id}/evolution`]]) {
      const agg = { on: { serial: [], rounds: [], s: 0, par: 0 }, off: { serial: [], rounds: [], s: 0, par: 0 } };
      await load(on.url, path, doc.access, 200, 1); // warm both
      await load(off.url, path, doc.access, 200, 1);
      for (let r = 0; r < ROUNDS; r++) {
        for (const [mode, srv] of r % 2 ? [['off', off], ['on', on]] : [['on', on], ['off', off]]) {
          const serial = await load(srv.url, path, doc.access, N, 1);
          const par = await load(srv.url, path, doc.access, N, C);
          agg[mode].serial.push(...serial.lat);
          agg[mode].rounds.push(pct(serial.lat, 50).toFixed(2));
          agg[mode].s += par.s;
          agg[mode].par += N;
        }
      }
      for (const mode of ['on', 'off']) {
        const a = agg[mode];
        a.serial.sort((x, y) => x - y);
        t.diagnostic(`${name}, logging ${mode}: one client ${fmt({ lat: a.serial })} (p50 by round ${a.rounds.join(' ')}); `
          + `${C} clients ${(a.par / a.s).toFixed(0)} req/s`);
      }
    }
    const after = Number(await psql('SELECT count(*) FROM record_access'));
    if (process.env.PGBENCH !== '0' && existsSync(PGBENCH_BIN)) {
      const secs = Number(process.env.BENCH_PGBENCH_SECONDS || 5);
      for (const clients of [1, C]) {
        const runs = { on: [], off: [] };
        for (let r = 0; r < ROUNDS; r++) {
          for (const [mode, role] of r % 2 ? [['off', 'NULL'], ['on', "'DOCTOR'"]] : [['on', "'DOCTOR'"], ['off', 'NULL']]) {
            runs[mode].push(pgbench(pat.patient.id, doc.id, role, clients, secs));
          }
        }
        for (const mode of ['on', 'off']) {
          const lat = runs[mode].map((x) => x.lat).sort((a, b) => a - b);
          const tps = runs[mode].map((x) => x.tps).sort((a, b) => a - b);
          t.diagnostic(`database alone, ${clients} client(s), logging ${mode}: latency median ${lat[lat.length >> 1].toFixed(3)} ms `
            + `(rounds ${lat.map((x) => x.toFixed(3)).join(' ')}), tps median ${tps[tps.length >> 1].toFixed(0)}`);
        }
      }
    }
    t.diagnostic(`rows written by the logging server: ${after - before} (expected ${2 * (ROUNDS * 2 * N + 200)})`);
  } finally {
    await on.stop();
    await off.stop();
    if (process.env.BENCH_DURABLE === '1') {
      await psql("ALTER SYSTEM RESET fsync; ALTER SYSTEM RESET synchronous_commit; SELECT pg_reload_conf();");
    }
  }
});
