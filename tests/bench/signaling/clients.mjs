// Load generator of the signaling benchmark: one forked process (bench.mjs starts several), driven
// over IPC. It holds many clients that speak the Engine.IO v4 / Socket.IO v5 text framing directly,
// without socket.io-client (whose per-socket cost made the old generator the bottleneck):
//  - WebSocket (`ws`, no compression, no UTF-8 validation): GET /socket.io/?EIO=4&transport=websocket,
//    the server's open packet `0{...}`, then `40{"token":...}`; `40...` is the CONNECT's answer, `44...`
//    its refusal; a ping `2` is answered `3`.
//  - Long-polling (raw HTTP through one keep-alive http.Agent): the handshake GET (`0{"sid":...}`),
//    a POST of `40{"token":...}`, then one GET held at a time, the next sent as soon as one is answered;
//    the packets of an answer are separated by 0x1e; pings are answered by a POST of `3`.
// Of an event packet `42["name",{...}]` only a few bytes are looked at, in the Buffer, never parsed as
// JSON: whether it is patient_with_doctor, whether it is a fan-out event (the marker "fanout") and the
// transaction id that starts its event_id ("<txid>-<id>"). Every receipt is kept as (txid, time, flags);
// the driver knows which move each transaction was, and when it started, so latency is computed here at
// the end (`results`). Times come from CLOCK_MONOTONIC (process.hrtime), which every process of the
// machine shares, in ms.
// Each client knows the rooms its token puts it in (clinic when desk or doctor, doctor, patient), so for
// a move (clinic, doctor, patient, forward) the process knows how many receipts its clients are owed:
// visit_status_changed and queue_updated to the clinic room (a doctor is in it), patient_with_doctor to
// the doctor's room on a move to the doctor, visit_status_changed to the patient's room. A client in
// several rooms gets each event once.
// Messages in: {cmd: 'connect', url, clients: [{token, transport: 'ws'|'poll', clinic, doctor, patient}],
// concurrency}, {cmd: 'stats'}, {cmd: 'quiet', ms, max}, {cmd: 'wait-tx', tx, move, ms}, {cmd: 'fanout-arm',
// n}, {cmd: 'fanout-status'}, {cmd: 'drain', moves, ms}, {cmd: 'results', moves: [{tx, clinic, doctor,
// patient, forward, t0, t1}]} (t0: the move's statement sent, t1: its answer).
// Messages out: 'connected', 'stats', 'quiet', 'tx-done', 'armed', 'fanout', 'fanout-status', 'drained',
// 'results' (latencies per transport and of patient_with_doctor, and the receipts owed of each).
import { Agent, request } from 'node:http';

import WebSocket from 'ws';

// CLOCK_MONOTONIC in ms, the same in every process (performance.now() is not: its origin moves by
// some ms while a process starts).
const clock = () => Number(process.hrtime.bigint()) / 1e6;

const EID = Buffer.from('"event_id":');
const FAN = Buffer.from('fanout');
const PWD = Buffer.from('42["patient_with_doctor"');
const F_PWD = 1;
const F_POLL = 2;

const clients = [];
const rooms = { ws: new Map(), poll: new Map() }; // per transport: 'c5' | 'd7' | 'p9' -> clients up in that room
let disconnects = 0;
let connectErrors = 0;
let lastError = '';
let eventsIn = 0;
let lastIn = 0;
let fanTarget = 0;
let fanPending = 0;
let fanLast = 0;

// Receipts: parallel growable arrays.
let cap = 1 << 16;
let rxTx = new Float64Array(cap);
let rxT = new Float64Array(cap);
let rxF = new Uint8Array(cap);
let rxN = 0;
const perTx = new Map(); // txid -> receipts so far
const waits = new Map(); // txid -> {want, timer}

function grow() {
  cap *= 2;
  const a = new Float64Array(cap); a.set(rxTx); rxTx = a;
  const b = new Float64Array(cap); b.set(rxT); rxT = b;
  const c = new Uint8Array(cap); c.set(rxF); rxF = c;
}

function roomKeys(c) {
  const k = [];
  if (c.role !== 'PATIENT') k.push(`c${c.clinic}`);
  if (c.doctor) k.push(`d${c.doctor}`);
  if (c.patient) k.push(`p${c.patient}`);
  return k;
}
function joinRooms(c, delta) {
  const r = rooms[c.transport];
  for (const k of c.keys) r.set(k, (r.get(k) || 0) + delta);
}
// Receipts of a move owed to this process's clients of one transport: {all, pwd}.
function owedBy(m, r) {
  const doctor = m.forward ? r.get(`d${m.doctor}`) || 0 : 0;
  return { all: 2 * (r.get(`c${m.clinic}`) || 0) + doctor + (m.patient ? r.get(`p${m.patient}`) || 0 : 0), pwd: doctor };
}
const owed = (m) => owedBy(m, rooms.ws).all + owedBy(m, rooms.poll).all;

function onEvent(c, b, t) {
  eventsIn++;
  lastIn = t;
  if (fanTarget && b.indexOf(FAN, 4) >= 0) {
    if (++c.fan === fanTarget) {
      fanLast = t;
      if (--fanPending === 0) process.send({ type: 'fanout', last: fanLast });
    }
    return;
  }
  const i = b.indexOf(EID, 4);
  if (i < 0) return;
  let j = i + EID.length;
  while (b[j] === 0x20 || b[j] === 0x22) j++;
  let tx = 0;
  for (let d = b[j]; d >= 0x30 && d <= 0x39; d = b[++j]) tx = tx * 10 + (d - 0x30);
  if (rxN === cap) grow();
  rxTx[rxN] = tx;
  rxT[rxN] = t;
  rxF[rxN] = (b.length > PWD.length && b.compare(PWD, 0, PWD.length, 0, PWD.length) === 0 ? F_PWD : 0) |
    (c.transport === 'poll' ? F_POLL : 0);
  rxN++;
  const n = (perTx.get(tx) || 0) + 1;
  perTx.set(tx, n);
  if (waits.size) {
    const w = waits.get(tx);
    if (w && n >= w.want) {
      clearTimeout(w.timer);
      waits.delete(tx);
      process.send({ type: 'tx-done', tx, ok: true, got: n, want: w.want });
    }
  }
}

// One Engine.IO packet of client c, in b (a Buffer holding exactly that packet).
function onPacket(c, b, t) {
  const p0 = b[0];
  if (p0 === 0x34) { // 4: a Socket.IO packet
    const p1 = b[1];
    if (p1 === 0x32) onEvent(c, b, t);
    else if (p1 === 0x30) c.connected(true, '');
    else if (p1 === 0x34) c.connected(false, b.toString('utf8', 2, 200));
    return;
  }
  if (p0 === 0x32) c.send('3'); // ping
  else if (p0 === 0x30) c.opened(b);
  else if (p0 === 0x31) c.gone(); // close
}

function makeClient(spec, resolve) {
  const c = {
    transport: spec.transport, role: spec.role, clinic: spec.clinic, doctor: spec.doctor, patient: spec.patient,
    keys: null, up: false, done: false, closed: false, fan: 0, send: null, close: null,
  };
  c.keys = roomKeys(c);
  const timer = setTimeout(() => c.connected(false, 'timeout'), 30000);
  c.connected = (ok, why) => {
    if (c.done) return;
    c.done = true;
    clearTimeout(timer);
    if (ok) {
      c.up = true;
      joinRooms(c, 1);
      resolve(c);
    } else {
      connectErrors++;
      lastError = why;
      c.close();
      resolve(null);
    }
  };
  c.gone = () => {
    c.closed = true;
    if (c.up) {
      c.up = false;
      disconnects++;
      joinRooms(c, -1);
    } else if (!c.done) c.connected(false, 'closed');
  };
  return c;
}

function openWs(url, spec) {
  return new Promise((resolve) => {
    const c = makeClient(spec, resolve);
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`,
      { perMessageDeflate: false, skipUTF8Validation: true, handshakeTimeout: 30000 });
    c.send = (s) => { if (ws.readyState === 1) ws.send(s); };
    c.close = () => { try { ws.terminate(); } catch { /* gone */ } };
    c.opened = () => c.send(`40${JSON.stringify({ token: spec.token })}`);
    ws.on('message', (data) => onPacket(c, data, clock()));
    ws.on('close', () => c.gone());
    ws.on('error', (e) => { lastError = e.message; });
  });
}

const agent = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 65536, scheduling: 'lifo' });

// One HTTP request: resolves {status, body, t} (t: when the body was complete) or {status: 0} on error.
function http(url, method, body) {
  return new Promise((resolve) => {
    const req = request(url, {
      method, agent,
      headers: body === undefined ? {} : { 'content-type': 'text/plain;charset=UTF-8', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks), t: clock() }));
      res.on('error', () => resolve({ status: 0 }));
    });
    req.on('error', (e) => { lastError = e.message; resolve({ status: 0 }); });
    req.end(body);
  });
}

function eachPacket(c, b, t) {
  let s = 0;
  for (;;) {
    const e = b.indexOf(0x1e, s);
    onPacket(c, e < 0 ? b.subarray(s) : b.subarray(s, e), t);
    if (e < 0 || c.closed) return;
    s = e + 1;
  }
}

function openPoll(url, spec) {
  return new Promise((resolve) => {
    const c = makeClient(spec, resolve);
    const base = `${url}/socket.io/?EIO=4&transport=polling`;
    let sid = '';
    c.close = () => { c.closed = true; };
    c.send = (s) => {
      if (c.closed || !sid) return;
      http(`${base}&sid=${sid}`, 'POST', s).then((r) => { if (r.status !== 200) { c.closed = true; c.gone(); } });
    };
    c.opened = (b) => {
      try { sid = JSON.parse(b.toString('utf8', 1)).sid; } catch { sid = ''; }
      if (!sid) { c.connected(false, 'no sid in the open packet'); return; }
      c.send(`40${JSON.stringify({ token: spec.token })}`);
    };
    const loop = async () => {
      const first = await http(base, 'GET');
      if (first.status !== 200) { c.connected(false, `handshake ${first.status}`); return; }
      eachPacket(c, first.body, first.t);
      while (!c.closed) {
        const r = await http(`${base}&sid=${sid}`, 'GET');
        if (r.status !== 200) { c.closed = true; c.gone(); return; }
        eachPacket(c, r.body, r.t);
      }
    };
    loop();
  });
}

async function connectAll({ url, clients: list, concurrency }) {
  const t0 = clock();
  let next = 0;
  let ok = 0;
  async function lane() {
    while (next < list.length) {
      const spec = list[next++];
      const c = await (spec.transport === 'poll' ? openPoll(url, spec) : openWs(url, spec));
      if (!c) continue;
      clients.push(c);
      ok++;
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, list.length) }, lane));
  process.send({ type: 'connected', ok, failed: list.length - ok, ms: clock() - t0, error: lastError });
}

function results(moves) {
  const byTx = new Map();
  for (const m of moves) byTx.set(m.tx, m);
  const ws = new Float64Array(rxN);
  const poll = new Float64Array(rxN);
  const pwd = new Float64Array(rxN);
  const ack = new Float64Array(rxN); // from the statement's answer instead of its start
  let nw = 0;
  let np = 0;
  let nd = 0;
  let na = 0;
  let unmatched = 0;
  for (let i = 0; i < rxN; i++) {
    const m = byTx.get(rxTx[i]);
    if (!m) { unmatched++; continue; }
    const lat = rxT[i] - m.t0;
    if (rxF[i] & F_POLL) poll[np++] = lat;
    else ws[nw++] = lat;
    if (rxF[i] & F_PWD) pwd[nd++] = lat;
    ack[na++] = rxT[i] - m.t1;
  }
  // Receipts owed, as the rooms stand now (clients that dropped are in the totals of 'stats').
  const o = { ws: 0, poll: 0, pwd: 0, ack: 0 };
  for (const m of moves) {
    const a = owedBy(m, rooms.ws);
    const b = owedBy(m, rooms.poll);
    o.ws += a.all;
    o.poll += b.all;
    o.pwd += a.pwd + b.pwd;
    o.ack += a.all + b.all;
  }
  rxN = 0;
  perTx.clear();
  return { type: 'results', ws: ws.slice(0, nw), poll: poll.slice(0, np), pwd: pwd.slice(0, nd), ack: ack.slice(0, na), unmatched,
    owed: o };
}

// Answers once the clients here have every receipt the moves owe them, or after ms.
function drain(moves, ms) {
  let want = 0;
  for (const m of moves) want += owed(m);
  const t0 = clock();
  const check = () => {
    let got = 0;
    for (const m of moves) got += Math.min(perTx.get(m.tx) || 0, owed(m));
    if (got >= want || clock() - t0 >= ms) process.send({ type: 'drained', ok: got >= want, got, want });
    else setTimeout(check, 20);
  };
  check();
}

process.on('message', async (m) => {
  switch (m.cmd) {
    case 'connect':
      await connectAll(m);
      break;
    case 'stats': {
      const cpu = process.cpuUsage();
      process.send({ type: 'stats', up: clients.filter((c) => c.up).length, disconnects, connectErrors, lastError,
        eventsIn, lastIn, rss: process.memoryUsage().rss, cpuMs: (cpu.user + cpu.system) / 1000, now: clock() });
      break;
    }
    case 'quiet': {
      // Answers once nothing came for m.ms (or after m.max ms).
      const t0 = clock();
      const check = () => {
        const t = clock();
        if (t - lastIn >= m.ms || t - t0 >= m.max) process.send({ type: 'quiet', ok: t - lastIn >= m.ms });
        else setTimeout(check, Math.max(1, m.ms - (t - lastIn)));
      };
      check();
      break;
    }
    case 'wait-tx': {
      // Answers once this process's clients have all they are owed of transaction m.tx (or after m.ms).
      const want = owed(m.move);
      const got = perTx.get(m.tx) || 0;
      if (got >= want) { process.send({ type: 'tx-done', tx: m.tx, ok: true, got, want }); break; }
      const timer = setTimeout(() => {
        waits.delete(m.tx);
        process.send({ type: 'tx-done', tx: m.tx, ok: false, got: perTx.get(m.tx) || 0, want });
      }, m.ms);
      waits.set(m.tx, { want, timer });
      break;
    }
    case 'fanout-arm':
      fanTarget = m.n;
      fanPending = 0;
      for (const c of clients) { c.fan = 0; if (c.up) fanPending++; }
      process.send({ type: 'armed', clients: fanPending });
      if (fanPending === 0) process.send({ type: 'fanout', last: clock() });
      break;
    case 'fanout-status': {
      let short = 0;
      let least = Infinity;
      for (const c of clients) if (c.up) { if (c.fan < fanTarget) short++; least = Math.min(least, c.fan); }
      process.send({ type: 'fanout-status', short, least: least === Infinity ? 0 : least });
      fanTarget = 0;
      break;
    }
    case 'results':
      process.send(results(m.moves));
      break;
    case 'drain':
      drain(m.moves, m.ms);
      break;
    default:
      break;
  }
});
process.on('disconnect', () => process.exit(0));
