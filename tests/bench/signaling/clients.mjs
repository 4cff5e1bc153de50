// Client load generator of the signaling benchmark (forked by bench.mjs, driven over IPC).
// Holds socket.io-client 4.8.3 sockets (`io(url, {transports: ['websocket'], auth: {token}})`, as
// tests/api/signaling.test.mjs connects) and records, with a clock shared by every process on the
// machine (performance.timeOrigin + performance.now(), in ms):
//  - every `patient_with_doctor` receipt, per visit id (the driver pairs it with the move that caused it);
//  - per socket, how many fan-out events (`queue_updated` whose data has bench = "fanout") it got.
// Messages in: {cmd: 'connect', url, tokens: [{token, doctor}], concurrency}, {cmd: 'fanout-arm', n}, {cmd: 'fanout-status'},
// {cmd: 'latencies', sends: [[visit, t0], ...]}, {cmd: 'quiet', ms, max}, {cmd: 'stats'}, {cmd: 'close'}.
// Messages out: 'connected', 'armed', 'pwd' (a doctor room's sockets here all got a visit's event), 'fanout',
// 'latencies', 'stats', 'closed'.
import { io } from 'socket.io-client';

const now = () => performance.timeOrigin + performance.now();
const sockets = [];           // {s, doctor, fan}
const perDoctor = new Map();  // doctor index -> sockets of that doctor's room held here
const receipts = new Map();   // visit id -> [t, ...]
let disconnects = 0;
let connectErrors = 0;
let eventsIn = 0;             // every event received (to tell when a storm is over)
let lastIn = 0;               // when the last one came
let fanTarget = 0;
let fanPending = 0;           // sockets still short of fanTarget
let fanLast = 0;              // time of the last fan-out receipt

function onPwd(doctor, data) {
  const t = now();
  const v = data?.visit?.id;
  if (v === undefined) return;
  let list = receipts.get(v);
  if (!list) receipts.set(v, (list = []));
  list.push(t);
  const n = perDoctor.get(doctor) || 0;
  if (n > 0 && list.length % n === 0) process.send({ type: 'pwd', visit: v, count: list.length });
}

function open(url, token, doctor) {
  return new Promise((resolve) => {
    const s = io(url, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true, timeout: 20000 });
    const rec = { s, doctor, fan: 0, up: false };
    s.on('patient_with_doctor', (data) => onPwd(doctor, data));
    s.on('queue_updated', (data) => {
      if (data?.bench !== 'fanout' || fanTarget === 0) return;
      rec.fan++;
      if (rec.fan === fanTarget) {
        fanLast = now();
        if (--fanPending === 0) process.send({ type: 'fanout', last: fanLast });
      }
    });
    s.onAny(() => { eventsIn++; lastIn = now(); });
    s.on('connect', () => { rec.up = true; resolve(rec); });
    s.on('connect_error', (e) => { connectErrors++; s.close(); resolve(null); void e; });
    s.on('disconnect', () => { if (rec.up) disconnects++; rec.up = false; });
  });
}

async function connectAll({ url, tokens, concurrency }) {
  const t0 = now();
  let next = 0;
  let ok = 0;
  async function lane() {
    while (next < tokens.length) {
      const { token, doctor } = tokens[next++];
      const rec = await open(url, token, doctor);
      if (!rec) continue;
      sockets.push(rec);
      perDoctor.set(doctor, (perDoctor.get(doctor) || 0) + 1);
      ok++;
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, tokens.length) }, lane));
  process.send({ type: 'connected', ok, failed: tokens.length - ok, ms: now() - t0 });
}

process.on('message', async (m) => {
  switch (m.cmd) {
    case 'connect':
      await connectAll(m);
      break;
    case 'fanout-arm': {
      fanTarget = m.n;
      fanPending = 0;
      for (const r of sockets) {
        r.fan = 0;
        if (r.up) fanPending++;
      }
      process.send({ type: 'armed' });
      if (fanPending === 0) process.send({ type: 'fanout', last: now() });
      break;
    }
    case 'fanout-status': {
      // Sockets short of the target and the least any got (after a timeout).
      let short = 0;
      let least = Infinity;
      for (const r of sockets) if (r.up) { if (r.fan < fanTarget) short++; least = Math.min(least, r.fan); }
      process.send({ type: 'fanout-status', short, least: least === Infinity ? 0 : least });
      fanTarget = 0;
      break;
    }
    case 'latencies': {
      // m.sends: [[visit, t0], ...] in sending order: a receipt belongs to the last send of its visit
      // made at or before it (the driver waits for a visit's receipts before moving on).
      const byVisit = new Map();
      for (const [v, t0] of m.sends) {
        if (!byVisit.has(v)) byVisit.set(v, []);
        byVisit.get(v).push(t0);
      }
      const lat = [];
      let orphan = 0;
      for (const [v, ts] of receipts) {
        const t0s = byVisit.get(v) || [];
        let i = 0;
        for (const t of ts) {
          while (i + 1 < t0s.length && t0s[i + 1] <= t) i++;
          if (t0s.length && t0s[i] <= t) lat.push(t - t0s[i]);
          else orphan++;
        }
      }
      receipts.clear();
      process.send({ type: 'latencies', lat, orphan });
      break;
    }
    case 'quiet': {
      // Answers once nothing came for m.ms (or after m.max ms): the previous move's events are in.
      const t0 = now();
      const check = () => {
        const t = now();
        if (t - lastIn >= m.ms || t - t0 >= m.max) process.send({ type: 'quiet', ok: t - lastIn >= m.ms });
        else setTimeout(check, Math.max(1, m.ms - (t - lastIn)));
      };
      check();
      break;
    }
    case 'stats': {
      const mem = process.memoryUsage();
      process.send({ type: 'stats', up: sockets.filter((r) => r.up).length, disconnects, connectErrors, eventsIn, rss: mem.rss });
      break;
    }
    case 'close':
      for (const r of sockets) r.s.close();
      sockets.length = 0;
      perDoctor.clear();
      process.send({ type: 'closed' });
      break;
    default:
      break;
  }
});
process.on('disconnect', () => process.exit(0));
