// Files: upload and download throughput of one 20 MiB document, and the api-server's memory while 8
// clients upload 20 MiB each at once (target: peak resident memory under 64 MiB above idle). Starts
// its own api-server (API_BIN serve) on the migrated, seeded database of the environment
// (DATABASE_URL, JWT_*_FILE, as tests/bench/run.sh and /work-style test runners export them), so it
// can read that process's /proc/<pid>/status: VmRSS sampled every 10 ms during the uploads, and VmHWM
// after clearing it (clear_refs 5) once the server is warm. Figures are printed, never asserted.
//   API_BIN=build/api-server node tests/bench/files.mjs
// Env: BENCH_FILE_MIB (default 20), BENCH_FILE_CLIENTS (default 8), BENCH_FILE_RUNS (default 3).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

const MIB = Number(process.env.BENCH_FILE_MIB || 20);
const CLIENTS = Number(process.env.BENCH_FILE_CLIENTS || 8);
const RUNS = Number(process.env.BENCH_FILE_RUNS || 3);
const SIZE = MIB * 1024 * 1024;

const port = 20000 + Math.floor(Math.random() * 12000);
const base = `http://127.0.0.1:${port}`;
const server = spawn(process.env.API_BIN || 'build/api-server', ['serve'], {
  env: {
    ...process.env, API_LISTEN: `127.0.0.1:${port}`, LOG_LEVEL: 'warning', DELIVERY_WORKERS: '0',
    API_RATE_PER_ADDRESS: '0', API_RATE_PER_USER: '0', API_BODY_TIMEOUT_MS: '600000',
  },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const status = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))[1]) / 1024;

async function ready() {
  for (let i = 0; i < 150; i++) {
    try { if ((await fetch(`${base}/healthz`)).status === 200) return; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('api-server did not start');
}

async function call(method, path, token, body, headers = {}) {
  const res = await fetch(`${base}${path}`, {
    method, body, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} -> ${res.status} ${text.slice(0, 200)}`);
  return JSON.parse(text);
}

function pdf(size) {
  const b = randomBytes(size);
  b.write('%PDF-1.7\n', 0);
  return b;
}

async function upload(token, patientId, file) {
  const fd = new FormData();
  fd.append('file', new Blob([file]), 'bench.pdf');
  fd.append('title', 'Bench');
  return call('POST', `/api/patients/${patientId}/documents`, token, fd);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mibps = (ms) => (MIB / (ms / 1000)).toFixed(0);

try {
  await ready();
  const admin = (await call('POST', '/api/auth/login', null, JSON.stringify({ email: 'admin@demo.clinic', password: 'demo-password' }),
    { 'content-type': 'application/json' })).access_token;
  const clinic = await call('POST', '/api/clinics', admin, JSON.stringify({ name: `Bench files ${Date.now()}`, timezone: 'America/Sao_Paulo' }),
    { 'content-type': 'application/json' });
  const patient = () => call('POST', '/api/patients', admin, JSON.stringify({ clinic_id: clinic.id, full_name: 'Bench Files' }),
    { 'content-type': 'application/json' });
  const p = await patient();
  await upload(admin, p.id, pdf(4096)); // warm: the pool's connections, the token cache

  const up = [], down = [];
  let last;
  for (let i = 0; i < RUNS; i++) {
    const file = pdf(SIZE);
    let t = performance.now();
    last = await upload(admin, p.id, file);
    up.push(performance.now() - t);
    t = performance.now();
    const res = await fetch(`${base}/api/documents/${last.id}/content`, { headers: { authorization: `Bearer ${admin}` } });
    const got = (await res.arrayBuffer()).byteLength;
    down.push(performance.now() - t);
    if (got !== SIZE) throw new Error(`downloaded ${got} bytes of ${SIZE}`);
  }
  console.log(`files: upload of ${MIB} MiB: median ${median(up).toFixed(0)} ms (${mibps(median(up))} MiB/s) over ${RUNS} runs`);
  console.log(`files: download of ${MIB} MiB: median ${median(down).toFixed(0)} ms (${mibps(median(down))} MiB/s) over ${RUNS} runs`);

  const files = Array.from({ length: CLIENTS }, () => pdf(SIZE));
  const patients = await Promise.all(files.map(() => patient()));
  await new Promise((r) => setTimeout(r, 500));
  const idle = status('VmRSS');
  writeFileSync(`/proc/${server.pid}/clear_refs`, '5'); // VmHWM := VmRSS
  let peak = idle;
  const sampler = setInterval(() => { peak = Math.max(peak, status('VmRSS')); }, 10);
  const t = performance.now();
  await Promise.all(files.map((f, i) => upload(admin, patients[i].id, f)));
  const ms = performance.now() - t;
  clearInterval(sampler);
  const hwm = status('VmHWM');
  console.log(`files: ${CLIENTS} concurrent uploads of ${MIB} MiB: ${ms.toFixed(0)} ms (${(CLIENTS * MIB / (ms / 1000)).toFixed(0)} MiB/s in all)`);
  console.log(`files: api-server resident memory: idle ${idle.toFixed(1)} MiB, peak sampled ${peak.toFixed(1)} MiB, ` +
    `VmHWM ${hwm.toFixed(1)} MiB: ${(Math.max(peak, hwm) - idle).toFixed(1)} MiB above idle (target < 64)`);
} finally {
  server.kill('SIGTERM');
}
