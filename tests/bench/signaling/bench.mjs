// Signaling benchmark (the last part of `make bench`, run by tests/bench/signaling/run.sh): the C
// signaling-server against a minimal Node socket.io 4 server (node-server.mjs), each alone, on the
// cluster and api-server tests/bench/run.sh started. Figures are printed, never asserted.
//  1. Push latency: 1,000 then 10,000 socket.io clients spread over the 20 doctor rooms of one clinic
//     (20 doctors created as the demo admin; many sockets share a doctor's token). Each round moves
//     doctor k's walk-in visit to with_doctor (POST /api/queue/phase/move; the time is taken just
//     before sending it) and waits until every socket of doctor k's room has its patient_with_doctor;
//     then the visit goes back to waiting and the next round waits until the clients receive nothing
//     for 25 ms (at most 2 s), so each move is measured alone. p50/p99 over all receipts.
//  2. Memory: VmRSS of the server idle and with the 10,000 clients connected and idle.
//  3. Fan-out: N queue_updated rows for clinic:<id> inserted in one transaction; the time until each
//     of the 1,000 clients has all N, as events delivered per second.
// The clients live in BENCH_SIG_WORKERS (2) forked processes (clients.mjs) that share the machine with
// the server under test, PostgreSQL and the api-server: the figures include their work.
// Env: API_URL, DATABASE_URL, JWT_PUBLIC_KEY_FILE (from run.sh), SIG_PORT, NODE_PORT (free ports),
// SIGNALING_BIN (build/signaling-server), BENCH_SECONDS (15: cap of each push phase),
// BENCH_SIG_ROUNDS (200), BENCH_SIG_CLIENTS (1000,10000), BENCH_SIG_FANOUT (1000 events),
// BENCH_SIG_GAP_MS (10: pause after moving a visit back, before waiting for the clients to get nothing
// for 25 ms), BENCH_SIG_SERVERS (c,node),
// BENCH_SIG_SETTLE_MS (20000: the longest wait, after connecting, for the clients to receive nothing
// for 600 ms; the C server announces each new connection to its rooms' members, participant_joined,
// which is quadratic in the sockets of one clinic: a wait cut short is printed "not quiet").
import { fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import pg from 'pg';

const here = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(here, '../../..');
const API = (process.env.API_URL || '').replace(/\/+$/, '');
const ROUNDS = Number(process.env.BENCH_SIG_ROUNDS || 200);
const SCALES = (process.env.BENCH_SIG_CLIENTS || '1000,10000').split(',').map(Number);
const FANOUT = Number(process.env.BENCH_SIG_FANOUT || 1000);
const GAP = Number(process.env.BENCH_SIG_GAP_MS || 10);
const PHASE_MS = 1000 * Number(process.env.BENCH_SECONDS || 15);
const NWORKERS = Number(process.env.BENCH_SIG_WORKERS || 2);
const SERVERS = (process.env.BENCH_SIG_SERVERS || 'c,node').split(',');
const DOCTORS = 20;
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = new Set();
const kill = () => { for (const c of children) try { c.kill('SIGKILL'); } catch { /* gone */ } };
process.on('exit', kill);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(1));

// --- API ---------------------------------------------------------------------------------------------
async function call(method, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} -> ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}
const login = async (email, password) => (await call('POST', '/api/auth/login', { email, password })).access_token;

async function world() {
  const admin = await login('admin@demo.clinic', 'demo-password');
  const tag = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const clinic = await call('POST', '/api/clinics', { name: `Bench Signaling ${tag}`, timezone: 'America/Sao_Paulo' }, admin);
  const doctors = await Promise.all(Array.from({ length: DOCTORS }, async (_, i) => {
    const email = `sig-doctor${i}.${tag}@bench.clinic`;
    const password = `pw-${tag}-${i}`;
    const user = await call('POST', '/api/users',
      { email, password, full_name: `Doctor Signaling ${i}`, role: 'DOCTOR', clinic_id: clinic.id }, admin);
    const patient = await call('POST', '/api/patients', { clinic_id: clinic.id, full_name: `Paciente Sinal ${i}` }, admin);
    const visit = await call('POST', '/api/visits', { patient_id: patient.id, doctor_id: user.doctor_id }, admin);
    return { token: await login(email, password), visit: visit.id };
  }));
  return { admin, clinic, doctors };
}

// --- servers -------------------------------------------------------------------------------------------
function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function waitHttp(url, child, ms = 15000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}) during startup`);
    try { if ((await fetch(url)).status === 200) return; } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error(`${url} did not answer 200 within ${ms} ms`);
}

async function startServer(kind) {
  let child;
  let url;
  let stderr = '';
  if (kind === 'c') {
    const port = process.env.SIG_PORT;
    url = `http://127.0.0.1:${port}`;
    child = spawn(process.env.SIGNALING_BIN || `${REPO}/build/signaling-server`, [], {
      env: { ...process.env, SIGNALING_LISTEN: `127.0.0.1:${port}`, SIGNALING_MAX_CONNECTIONS: '20000', LOG_LEVEL: 'warning' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.add(child);
    child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-4000); });
    await waitHttp(`${url}/readyz`, child);
  } else {
    const port = process.env.NODE_PORT;
    url = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [`${here}/node-server.mjs`], {
      env: { ...process.env, PORT: port }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-4000); });
    await new Promise((res, rej) => {
      child.stdout.on('data', (d) => { if (String(d).includes('ready')) res(); });
      child.on('exit', (c) => rej(new Error(`node-server exited (${c}): ${stderr}`)));
    });
  }
  return { kind, child, url, log: () => stderr };
}

async function stopServer(srv) {
  if (srv.child.exitCode !== null) return;
  const gone = new Promise((r) => srv.child.on('exit', r));
  srv.child.kill('SIGTERM');
  if (await Promise.race([gone.then(() => true), sleep(5000).then(() => false)]) === false) {
    srv.child.kill('SIGKILL');
    await gone;
  }
  children.delete(srv.child);
}

const framesOut = (m) => Number(/^signaling_frames_out_total (\d+)/m.exec(m)?.[1] ?? NaN);
async function metrics(srv) {
  if (srv.kind !== 'c') return '';
  try { return await (await fetch(`${srv.url}/metrics`)).text(); } catch { return ''; }
}

// --- client processes ------------------------------------------------------------------------------------
function startWorkers() {
  return Array.from({ length: NWORKERS }, () => {
    const w = fork(`${here}/clients.mjs`, [], { execArgv: ['--max-old-space-size=4096'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.add(w);
    w.waiters = [];
    w.on('message', (m) => {
      const i = w.waiters.findIndex((x) => x.pred(m));
      if (i >= 0) w.waiters.splice(i, 1)[0].resolve(m);
    });
    return w;
  });
}
function expect(w, pred, ms = 0) {
  return new Promise((resolveP) => {
    const entry = { pred, resolve: resolveP };
    w.waiters.push(entry);
    if (ms) setTimeout(() => { const i = w.waiters.indexOf(entry); if (i >= 0) { w.waiters.splice(i, 1); resolveP(null); } }, ms);
  });
}
async function ask(workers, cmd, type, extra = {}, ms = 0) {
  return Promise.all(workers.map((w) => { const p = expect(w, (m) => m.type === type, ms); w.send({ cmd, ...extra }); return p; }));
}
async function stats(workers) {
  const s = await ask(workers, 'stats', 'stats');
  return s.reduce((a, b) => ({ up: a.up + b.up, disconnects: a.disconnects + b.disconnects,
    connectErrors: a.connectErrors + b.connectErrors, eventsIn: a.eventsIn + b.eventsIn, rss: a.rss + b.rss }));
}

// Connects n more sockets (socket i of the whole run -> doctor i % 20), split over the workers.
async function connect(workers, url, doctors, from, n, perWorkerDoctor) {
  const lists = workers.map(() => []);
  for (let i = from; i < from + n; i++) {
    const d = i % DOCTORS;
    const wi = Math.floor(i / DOCTORS) % workers.length;
    lists[wi].push({ token: doctors[d].token, doctor: d });
    perWorkerDoctor[wi][d] = (perWorkerDoctor[wi][d] || 0) + 1;
  }
  const t0 = now();
  const res = await Promise.all(workers.map((w, i) => {
    const p = expect(w, (m) => m.type === 'connected');
    w.send({ cmd: 'connect', url, tokens: lists[i], concurrency: 100 });
    return p;
  }));
  return { ok: res.reduce((a, r) => a + r.ok, 0), failed: res.reduce((a, r) => a + r.failed, 0), ms: now() - t0 };
}

// Waits until the clients receive nothing for 600 ms (e.g. the presence announcements of new sockets).
async function settle(workers, maxMs = Number(process.env.BENCH_SIG_SETTLE_MS || 20000)) {
  const t0 = now();
  let before = (await stats(workers)).eventsIn;
  const first = before;
  for (;;) {
    await sleep(600);
    const s = await stats(workers);
    if (s.eventsIn === before || now() - t0 > maxMs) return { ms: now() - t0, events: s.eventsIn - first, quiet: s.eventsIn === before };
    before = s.eventsIn;
  }
}

function pct(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))];
}

async function pushRounds(workers, w0, perWorkerDoctor) {
  const sends = [];
  const rounds = new Map(); // visit -> forward moves so far
  let incomplete = 0;
  let noisy = 0;
  const http = [];
  const t0Phase = Date.now();
  let r = 0;
  for (; r < ROUNDS && Date.now() - t0Phase < PHASE_MS; r++) {
    const k = r % DOCTORS;
    const v = w0.doctors[k].visit;
    const j = (rounds.get(v) || 0) + 1;
    rounds.set(v, j);
    const waits = workers.map((w, wi) => {
      const n = perWorkerDoctor[wi][k] || 0;
      return n ? expect(w, (m) => m.type === 'pwd' && m.visit === v && m.count >= j * n, 3000) : Promise.resolve(true);
    });
    const t0 = now();
    sends.push([v, t0]);
    await call('POST', '/api/queue/phase/move', { visit_id: v, phase: 'with_doctor' }, w0.admin);
    http.push(now() - t0);
    if ((await Promise.all(waits)).some((x) => x === null)) incomplete++;
    await call('POST', '/api/queue/phase/move', { visit_id: v, phase: 'waiting' }, w0.admin);
    // The next move starts once the clients have had nothing for 25 ms (at most 2 s): each move's
    // events also go to the whole clinic room (visit_status_changed, queue_updated).
    await sleep(GAP);
    if ((await ask(workers, 'quiet', 'quiet', { ms: 25, max: 2000 })).some((q) => !q.ok)) noisy++;
  }
  const res = await ask(workers, 'latencies', 'latencies', { sends });
  const lat = res.flatMap((x) => x.lat).sort((a, b) => a - b);
  let expected = 0;
  for (let i = 0; i < r; i++) for (const pw of perWorkerDoctor) expected += pw[i % DOCTORS] || 0;
  http.sort((a, b) => a - b);
  return { rounds: r, lat, http, noisy, expected, incomplete, orphan: res.reduce((a, x) => a + x.orphan, 0) };
}

async function fanout(workers, w0, srvUrl) {
  const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await db.connect();
  const done = workers.map((w) => expect(w, (m) => m.type === 'fanout', 60000));
  await ask(workers, 'fanout-arm', 'armed', { n: FANOUT });
  const t0 = now();
  await db.query(`INSERT INTO events (name, rooms, data) SELECT 'queue_updated', ARRAY['clinic:${w0.clinic.id}'],
    '{"bench":"fanout"}'::jsonb FROM generate_series(1, $1)`, [FANOUT]);
  const tCommit = now();
  const res = await Promise.all(done);
  await db.end();
  void srvUrl;
  if (res.some((x) => x === null)) {
    const st = await ask(workers, 'fanout-status', 'fanout-status');
    return { complete: false, short: st.reduce((a, s) => a + s.short, 0), least: Math.min(...st.map((s) => s.least)), insertMs: tCommit - t0 };
  }
  await ask(workers, 'fanout-status', 'fanout-status');
  const ms = Math.max(...res.map((x) => x.last)) - t0;
  return { complete: true, ms, insertMs: tCommit - t0 };
}

// --- main ------------------------------------------------------------------------------------------------
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const mib = (kib) => (kib / 1024).toFixed(1);
const results = {};

async function benchServer(kind, w0) {
  const name = kind === 'c' ? 'C  ' : 'Node';
  const out = { push: {}, fan: null };
  results[kind] = out;
  const srv = await startServer(kind);
  try {
    await sleep(500);
    out.rssIdle = rssKiB(srv.child.pid);
    const workers = startWorkers();
    const perWorkerDoctor = workers.map(() => ({}));
    let held = 0;
    for (const n of SCALES) {
      const f0 = framesOut(await metrics(srv));
      const c = await connect(workers, srv.url, w0.doctors, held, n - held, perWorkerDoctor);
      const st = await settle(workers);
      const f1n = framesOut(await metrics(srv));
      held = n;
      const s = await stats(workers);
      const rss = rssKiB(srv.child.pid);
      out.push[n] = { rss, quiet: st.quiet };
      console.log(`signaling ${name} ${n} clients: connected ${c.ok} (${c.failed} refused) in ${(c.ms / 1000).toFixed(1)} s, ` +
        `then ${st.events} events to the clients in ${(st.ms / 1000).toFixed(1)} s until quiet${st.quiet ? '' : ' (NOT quiet: wait cut short)'}` +
        `${Number.isFinite(f1n - f0) ? ` (server frames out meanwhile: ${f1n - f0})` : ''}; ` +
        `up ${s.up}, dropped ${s.disconnects}; server RSS ${mib(rss)} MiB (idle ${mib(out.rssIdle)} MiB)`);
      const p = await pushRounds(workers, w0, perWorkerDoctor);
      Object.assign(out.push[n], { p50: pct(p.lat, 0.5), p99: pct(p.lat, 0.99) });
      const s2 = await stats(workers);
      console.log(`signaling ${name} push ${String(n).padStart(5)} clients: p50 ${f1(pct(p.lat, 0.5))} ms  p99 ${f1(pct(p.lat, 0.99))} ms  ` +
        `max ${f1(p.lat.at(-1))} ms; the move's HTTP answer p50 ${f1(pct(p.http, 0.5))} ms  (${p.rounds} moves, ${p.lat.length}/${p.expected} receipts, ${p.incomplete} rounds timed out, ${p.noisy} not quiet before the next` +
        `${p.orphan ? `, ${p.orphan} unmatched` : ''}; up ${s2.up}, dropped ${s2.disconnects})`);
      if (n === SCALES[0] && FANOUT > 0) {
        const f = await fanout(workers, w0);
        out.fan = f;
        if (f.complete) {
          console.log(`signaling ${name} fan-out: ${FANOUT} events x ${s2.up} clients of clinic:${w0.clinic.id} in ` +
            `${f1(f.ms)} ms (INSERT ${f1(f.insertMs)} ms): ${Math.round((FANOUT * s2.up) / (f.ms / 1000)).toLocaleString('en')} events/s delivered`);
          f.rate = (FANOUT * s2.up) / (f.ms / 1000);
        } else {
          console.log(`signaling ${name} fan-out: INCOMPLETE after 60 s: ${f.short} clients short of ${FANOUT}, least ${f.least}`);
        }
        await settle(workers, 10000);
      }
    }
    const m = await metrics(srv);
    if (m) {
      const pick = m.split('\n').filter((l) => l && !l.startsWith('#') && /clos|refus|slow|abuse|connections/.test(l));
      if (pick.length) console.log(`signaling ${name} /metrics: ${pick.join(', ')}`);
    }
    // The clients go away at once (no graceful close: a C server would announce 10,000 departures).
    for (const w of workers) { w.kill('SIGKILL'); children.delete(w); }
  } finally {
    const alive = srv.child.exitCode === null;
    await stopServer(srv);
    if (!alive) console.log(`signaling ${name}: the server had exited (${srv.child.exitCode}): ${srv.log().slice(-1000)}`);
  }
}

const t0 = Date.now();
const w0 = await world();
console.log(`signaling: ${SCALES.join(' then ')} socket.io clients over ${DOCTORS} doctor rooms of clinic ${w0.clinic.id} ` +
  `in ${NWORKERS} client processes, ulimit -n ${process.env.SIG_NOFILE || '?'}; up to ${ROUNDS} moves or ${PHASE_MS / 1000} s per push phase; ` +
  `C = build/signaling-server, Node = socket.io ${JSON.parse(readFileSync(`${here}/node_modules/socket.io/package.json`, 'utf8')).version} (node-server.mjs)`);
for (const kind of SERVERS) {
  try {
    await benchServer(kind, w0);
  } catch (e) {
    console.log(`signaling ${kind}: FAILED: ${e.message}`);
  }
}
const c = results.c;
const n = results.node;
if (c && n) {
  const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(2) : 'n/a');
  const parts = SCALES.map((s) => `push p50/p99 at ${s}: ${ratio(c.push[s]?.p50, n.push[s]?.p50)}/${ratio(c.push[s]?.p99, n.push[s]?.p99)}`);
  const top = SCALES.at(-1);
  const perConn = (r) => (r.push[top] ? ((r.push[top].rss - r.rssIdle) * 1024) / top : NaN);
  console.log(`signaling memory with ${top} idle clients: C ${mib(c.push[top]?.rss)} MiB (${Math.round(perConn(c))} B/connection), ` +
    `Node ${mib(n.push[top]?.rss)} MiB (${Math.round(perConn(n))} B/connection)`);
  if (c.push[top] && !c.push[top].quiet) parts.push(`(C at ${top} measured while its participant_joined announcements were still going out)`);
  parts.push(`RSS at ${top}: ${ratio(c.push[top]?.rss, n.push[top]?.rss)}`);
  parts.push(`fan-out events/s: ${ratio(c.fan?.rate, n.fan?.rate)}`);
  console.log(`signaling C / Node: ${parts.join(', ')}`);
}
console.log(`signaling: done in ${Math.round((Date.now() - t0) / 1000)} s`);
process.exit(0);
