// Flood benchmark of the api-server's limits under load (what `make bench` runs after wrk, and what
// README "Limits under load" quotes): how long a normal client waits for GET /healthz while
//   1. one address (127.0.0.2) holds --one connections (default 1,500),
//   2. --many addresses (127.0.1.1, 127.0.1.2, ...) hold one connection each (default 1,000),
// each flood connection sending a request head one byte every --trickle ms and never finishing it,
// and opening again whenever the server closes it (as an attacker would); and, with --pid, the
// server's resident memory and threads while --idle connections (default 2,000, 8 per address) sit
// idle. The normal client connects from 127.0.0.1 with a new connection per request, every 250 ms,
// and gives up after 5 s. Linux routes all of 127/8 to the loopback, so the flood's addresses need
// no setup; the server must listen on 127.0.0.1 (any address of 127/8 may connect to it).
//
// Figures are printed, never asserted. Every flood ends by itself after --seconds.
// Usage: node tests/bench/api-flood.mjs --url http://127.0.0.1:8080 [--pid N] [--one 1500]
//        [--many 1000] [--idle 2000] [--seconds 12] [--trickle 5000] [--only one,many,idle]
import http from 'node:http';
import net from 'node:net';
import { readFileSync } from 'node:fs';

const opts = { url: process.env.API_URL || 'http://127.0.0.1:8080', pid: 0, one: 1500, many: 1000, idle: 2000,
  seconds: 12, trickle: 5000, only: 'one,many,idle' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opts)) throw new Error(`unknown option ${process.argv[i]}`);
  opts[k] = typeof opts[k] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}
const target = new URL(opts.url);
const host = target.hostname;
const port = Number(target.port || 80);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The n-th flood address of a /16 inside 127/8: 127.<base>.<1 + n / 250>.<1 + n % 250>.
function address(base, n) {
  return `127.${base}.${1 + Math.floor(n / 250)}.${1 + (n % 250)}`;
}

// Holds count connections from the addresses addr(i), each trickling a request head, reopening the
// ones the server closes until stop() is called. Returns {stats, stop}.
function flood(count, addr, { trickle = true } = {}) {
  const stats = { opened: 0, closedByServer: 0, errors: 0, open: 0 };
  const sockets = new Set();
  let stopped = false;
  const open = (i) => {
    if (stopped) return;
    const s = net.connect({ host, port, localAddress: addr(i) });
    let timer = null;
    let connected = false;
    sockets.add(s);
    s.setNoDelay(true);
    s.on('connect', () => {
      connected = true;
      stats.opened += 1;
      stats.open += 1;
      if (!trickle) return;
      s.write('GET /healthz HTTP/1.1\r\nHost: flood\r\nX-Slow: ');
      timer = setInterval(() => s.write('a'), opts.trickle);
    });
    s.on('error', () => { stats.errors += 1; });
    s.on('close', () => {
      clearInterval(timer);
      sockets.delete(s);
      if (connected) stats.open -= 1;
      if (stopped) return;
      if (connected) stats.closedByServer += 1;
      setTimeout(() => open(i), 200);
    });
  };
  for (let i = 0; i < count; i++) open(i);
  return {
    stats,
    stop() {
      stopped = true;
      for (const s of sockets) s.destroy();
    },
  };
}

// One GET /healthz on a new connection from 127.0.0.1: {ms, status} or {ms, error}.
function probe(timeoutMs = 5000) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.get({ host, port, path: '/healthz', localAddress: '127.0.0.1', agent: false, timeout: timeoutMs },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ ms: performance.now() - t0, status: res.statusCode }));
      });
    req.on('timeout', () => { req.destroy(new Error('timed out')); });
    req.on('error', (e) => resolve({ ms: performance.now() - t0, error: e.message }));
  });
}

// Probes every 250 ms for seconds; prints the latencies.
async function measure(label, seconds) {
  const results = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const t = Date.now();
    results.push(await probe());
    await sleep(Math.max(0, 250 - (Date.now() - t)));
  }
  const ok = results.filter((r) => r.status === 200).map((r) => r.ms).sort((a, b) => a - b);
  const failed = results.filter((r) => r.status !== 200);
  const pct = (p) => (ok.length ? `${ok[Math.min(ok.length - 1, Math.floor(p * ok.length))].toFixed(1)} ms` : '-');
  const reasons = [...new Set(failed.map((r) => r.error || `status ${r.status}`))].join(', ');
  console.log(`${label.padEnd(44)} ${String(ok.length).padStart(3)}/${results.length} answered   p50 ${pct(0.5).padStart(9)}` +
    `   p99 ${pct(0.99).padStart(9)}   max ${pct(1).padStart(9)}${failed.length ? `   failed: ${reasons}` : ''}`);
}

function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (k) => Number((status.match(new RegExp(`^${k}:\\s+(\\d+)`, 'm')) || [])[1] || 0);
  return { rss: field('VmRSS'), size: field('VmSize'), threads: field('Threads') };
}

async function run() {
  const only = new Set(opts.only.split(','));
  console.log(`api-flood: ${opts.url}, ${opts.seconds} s per flood, a head byte every ${opts.trickle} ms`);
  await measure('no flood', 2);
  if (only.has('one')) {
    const f = flood(opts.one, () => '127.0.0.2');
    await sleep(1000);
    await measure(`${opts.one} connections from one address`, opts.seconds);
    f.stop();
    console.log(`   flood: ${f.stats.opened} connections opened, ${f.stats.closedByServer} closed by the server`);
    await sleep(1000);
  }
  if (only.has('many')) {
    const f = flood(opts.many, (i) => address(1, i));
    await sleep(1000);
    await measure(`${opts.many} connections from ${opts.many} addresses`, opts.seconds);
    f.stop();
    console.log(`   flood: ${f.stats.opened} connections opened, ${f.stats.closedByServer} closed by the server`);
    await sleep(1000);
  }
  if (only.has('idle') && opts.pid) {
    const before = memory(opts.pid);
    const f = flood(opts.idle, (i) => address(2, Math.floor(i / 8)), { trickle: false });
    const deadline = Date.now() + 5000;
    while (f.stats.opened < opts.idle && Date.now() < deadline) await sleep(100);
    await sleep(500);
    const during = memory(opts.pid);
    f.stop();
    const kib = (n) => `${(n / 1024).toFixed(1)} MiB`;
    console.log(`${`${opts.idle} idle connections (${f.stats.opened} open)`.padEnd(44)} RSS ${kib(during.rss)} ` +
      `(idle server ${kib(before.rss)}, +${((during.rss - before.rss) / Math.max(1, during.threads - before.threads)).toFixed(1)} KiB a thread), ` +
      `${during.threads} threads, virtual ${kib(during.size)}`);
  }
}

await run();
