// The signaling-server's Engine.IO v4 HTTP long-polling transport (docs/ARCHITECTURE.md §8), black box: the wire as
// raw HTTP (the handshake, CONNECT over POST, payloads of several packets joined by 0x1e, the held
// GET, Engine.IO's error answers, the limits, CORS), the upgrade to WebSocket by hand (the ws
// package) and by socket.io-client with its default options, and the guarantees of §5–§6 over
// polling: rooms from the token, replay from a last_event_id, every event once and in order across
// the upgrade, deadlines and the flood limit. Sessions are closed at the end of each test (the close
// packet, then any request still open is aborted); every wait has a deadline.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { describe, test } from 'node:test';

import { NodeWebSocket, NodeXHR, io } from 'socket.io-client';
import WebSocket from 'ws';

import {
  CORS_EXPOSE_HEADERS as EXPOSE_HEADERS, createClinic, createPatient, eventsEnd, eventsSince, moveVisit, staffSession, startSignaling, walkIn,
} from '../lib/api.mjs';

const SIGNALING_URL = process.env.SIGNALING_URL;
const RS = '\x1e';
// An origin the suite's signaling-server allows (scripts/test.sh: CORS_ALLOWED_ORIGINS).
const ALLOWED_ORIGIN = 'http://localhost:5173';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const lower = (v) => (v || '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);

function pollUrl(base, sid, query = 'EIO=4&transport=polling') {
  return `${base}/socket.io/?${query}${sid ? `&sid=${sid}` : ''}`;
}

/**
 * One HTTP request with a deadline: {status, headers, text, ms}. A request the server drops without
 * an answer resolves {status: 0, error} instead of throwing, so a test can say what happened.
 */
async function http(method, url, { body, headers = {}, timeout = 5000, signal } = {}) {
  const signals = [AbortSignal.timeout(timeout)];
  if (signal) signals.push(signal);
  const init = { method, headers, signal: AbortSignal.any(signals) };
  if (body !== undefined) init.body = body;
  if (body && typeof body.getReader === 'function') init.duplex = 'half';
  const t0 = Date.now();
  try {
    const res = await fetch(url, init);
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, ms: Date.now() - t0 };
  } catch (e) {
    return { status: 0, error: e.cause?.code || e.name || String(e), text: '', ms: Date.now() - t0 };
  }
}

const show = (r) => (r.status ? `${r.status} ${JSON.stringify(r.text.slice(0, 300))}` : `no answer (${r.error} after ${r.ms} ms)`);

// Engine.IO's error answer: 400 with {"code": n, "message": "..."}.
function expectEioError(r, code, message) {
  assert.equal(r.status, 400, `expected Engine.IO error ${code}, got ${show(r)}`);
  assert.match(r.headers.get('content-type') || '', /^application\/json/);
  const body = JSON.parse(r.text);
  assert.equal(body.code, code, `expected code ${code}: ${r.text}`);
  if (message instanceof RegExp) assert.match(body.message, message);
  else if (message) assert.equal(body.message, message);
  else assert.equal(typeof body.message, 'string');
  return body;
}

// Socket.IO packets of a payload: 42["name",data] events, 43n[...] acks, 40 / 44 connect answers.
function parsePacket(p) {
  let m;
  if ((m = /^42(\d*)(\[.*)$/s.exec(p))) {
    const [name, data] = JSON.parse(m[2]);
    return { type: 'event', name, data };
  }
  if ((m = /^43(\d+)(\[.*)$/s.exec(p))) return { type: 'ack', id: Number(m[1]), args: JSON.parse(m[2]) };
  if (p.startsWith('40')) return { type: 'connect', data: JSON.parse(p.slice(2)) };
  if (p.startsWith('44')) return { type: 'connect_error', data: JSON.parse(p.slice(2)) };
  return { type: 'eio', packet: p };
}

/**
 * A long-polling client written against the wire: handshake, POSTs of packets, GETs whose packets
 * are kept in `packets` (a ping is answered with a pong), and a background pump of GETs.
 */
class Poller {
  constructor(base = SIGNALING_URL) {
    this.base = base;
    this.packets = [];
    this.ended = false; // the close packet came, or the sid is unknown
    this.ctls = new Set();
    this.pumping = null;
  }

  get url() { return pollUrl(this.base, this.sid); }

  async handshake(headers = {}) {
    const r = await http('GET', pollUrl(this.base), { headers });
    assert.equal(r.status, 200, `handshake: ${show(r)}`);
    assert.equal(r.text[0], '0', `handshake: not an OPEN packet: ${r.text}`);
    this.open = JSON.parse(r.text.slice(1));
    this.sid = this.open.sid;
    return r;
  }

  post(payload, opts = {}) {
    const body = Array.isArray(payload) ? payload.join(RS) : payload;
    return http('POST', this.url, { ...opts, body, headers: { 'content-type': 'text/plain;charset=UTF-8', ...opts.headers } });
  }

  async get(opts = {}) {
    const ctl = new AbortController();
    this.ctls.add(ctl);
    try {
      return await http('GET', this.url, { timeout: 8000, ...opts, signal: ctl.signal });
    } finally {
      this.ctls.delete(ctl);
    }
  }

  // Keeps the packets of a GET's answer (200); a ping is answered with a pong. Returns the packets.
  async take(r) {
    assert.equal(r.status, 200, `GET of ${this.sid}: ${show(r)}`);
    const packets = r.text.split(RS);
    this.packets.push(...packets);
    if (packets.includes('1')) this.ended = true;
    if (packets.includes('2') && !this.ended) {
      const pong = await this.post('3');
      // a ping that crossed our own close packet is answered to a session already gone
      if (!(this.closing && pong.status === 400)) assert.equal(pong.status, 200, `pong: ${show(pong)}`);
    }
    return packets;
  }

  // One GET, answered within timeout ms.
  async poll(timeout = 8000) {
    return this.take(await this.get({ timeout }));
  }

  // GETs until pred(this.packets) holds; fails after ms.
  async until(pred, ms = 5000, what = 'packets') {
    const deadline = Date.now() + ms;
    const fail = (why) => assert.fail(`${why} waiting for ${what}; got ${JSON.stringify(this.packets).slice(0, 2000)}`);
    while (!pred(this.packets)) {
      if (this.ended) fail('the session ended');
      const left = deadline - Date.now();
      if (left <= 0) fail('timed out');
      const r = await this.get({ timeout: Math.max(left, 200) });
      if (r.status === 0 && r.error === 'TimeoutError') fail('timed out');
      await this.take(r);
    }
  }

  events() {
    return this.packets.map(parsePacket).filter((p) => p.type === 'event');
  }

  eventIds() {
    return this.events().map((e) => e.data.event_id).filter(Boolean);
  }

  // Handshake, CONNECT with auth over POST, GETs until the server's CONNECT answer.
  async connect(auth, headers = {}) {
    await this.handshake(headers);
    const r = await this.post(`40${JSON.stringify(auth)}`);
    assert.equal(r.status, 200, `CONNECT: ${show(r)}`);
    assert.equal(r.text, 'ok');
    await this.until((pk) => pk.some((p) => p.startsWith('40') || p.startsWith('44')), 5000, 'the CONNECT answer');
    const answer = this.packets.find((p) => p.startsWith('40') || p.startsWith('44'));
    assert.ok(answer.startsWith('40'), `CONNECT refused: ${answer}`);
    return parsePacket(answer).data;
  }

  // Keeps a GET open at all times (as a client does), until the session ends or close().
  pump() {
    this.pumping = (async () => {
      while (!this.ended && !this.stopped) {
        const r = await this.get({ timeout: 30000 });
        if (this.stopped) return;
        if (r.status !== 200) {
          this.pumpError = show(r);
          return;
        }
        await this.take(r);
      }
    })();
    return this.pumping;
  }

  // The close packet, then whatever is still open is aborted.
  async close() {
    this.closing = true;
    if (this.sid && !this.ended) await this.post('1', { timeout: 2000 });
    this.stopped = true;
    if (this.pumping) await Promise.race([this.pumping, sleep(1000)]);
    for (const ctl of this.ctls) ctl.abort();
  }
}

// Whether the session behind p is gone: its next GET is the close packet (then the sid is unknown)
// or a 400 "Session ID unknown" at once.
async function expectGone(p, what = 'the session') {
  for (let i = 0; i < 2; i++) {
    const r = await p.get({ timeout: 3000 });
    if (r.status === 400) {
      expectEioError(r, 1, 'Session ID unknown');
      p.ended = true;
      return;
    }
    assert.equal(r.status, 200, `${what}: ${show(r)}`);
    assert.ok(r.text.split(RS).at(-1) === '1', `${what} is still open: its GET answered ${JSON.stringify(r.text)}`);
  }
  const r = await p.get({ timeout: 3000 });
  expectEioError(r, 1, 'Session ID unknown');
  p.ended = true;
}

async function metric(base, name) {
  const r = await http('GET', `${base}/metrics`);
  assert.equal(r.status, 200);
  const m = new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} ([0-9.]+)$`, 'm').exec(r.text);
  assert.ok(m, `${name} is not in /metrics`);
  return Number(m[1]);
}

// The pid of the signaling-server started to listen at url (its SIGNALING_LISTEN), or null.
function serverPid(url) {
  const listen = `SIGNALING_LISTEN=127.0.0.1:${new URL(url).port}`;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/environ`, 'latin1').split('\0').includes(listen)) return Number(d);
    } catch { /* gone, or not ours */ }
  }
  return null;
}

// CPU seconds (user + system) a process has used so far.
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // from field 3 (state) on
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ)
}

async function untilTrue(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

// A clinic with a receptionist, a doctor, a patient and one visit in the queue, plus `move`, which
// moves the visit to the other phase (2 events in the clinic room each time).
async function clinicWorld() {
  const clinic = await createClinic({ timezone: 'America/Sao_Paulo' });
  const [rec, doc] = await Promise.all([staffSession('RECEPTIONIST', clinic.id), staffSession('DOCTOR', clinic.id)]);
  const patient = await createPatient(rec.access, { clinic_id: clinic.id });
  const visit = await walkIn(rec.access, { patient_id: patient.id, doctor_id: doc.user.doctor_id });
  const w = { clinic, rec, doc, patient, visit, doctorId: doc.user.doctor_id, phase: 'waiting' };
  w.move = async () => {
    w.phase = w.phase === 'waiting' ? 'with_doctor' : 'waiting';
    await moveVisit(visit.id, w.phase, rec.access);
  };
  return w;
}

// The ids of the receptionist's events after `start`, as GET /api/events gives them (at least n).
async function apiIds(w, start, n) {
  return (await eventsSince(w.rec.access, start, n)).items.map((e) => e.event_id);
}

// Closes what a test opened, whatever happened.
async function closeAll(list) {
  for (const c of list) {
    try {
      if (!c) continue;
      if (c instanceof Poller) await c.close();
      else if (c instanceof WebSocket) c.terminate();
      else if (typeof c.stop === 'function') await c.stop();
      else if (typeof c.close === 'function') c.close();
    } catch { /* closing anyway */ }
  }
}

describe('signaling-server long-polling', () => {
  test('polling: the handshake GET answers an OPEN packet offering the upgrade to websocket', { timeout: 20000 }, async () => {
    const r = await http('GET', pollUrl(SIGNALING_URL));
    assert.equal(r.status, 200, show(r));
    assert.match(r.headers.get('content-type'), /^text\/plain/);
    assert.match(r.text, /^0\{/);
    const open = JSON.parse(r.text.slice(1));
    assert.match(open.sid, /^[0-9a-f]{32}$/);
    assert.deepEqual(open.upgrades, ['websocket']);
    for (const k of ['pingInterval', 'pingTimeout', 'maxPayload']) {
      assert.ok(Number.isInteger(open[k]) && open[k] > 0, `${k}: ${open[k]}`);
    }
    const other = JSON.parse((await http('GET', pollUrl(SIGNALING_URL))).text.slice(1));
    assert.notEqual(other.sid, open.sid, 'two handshakes got the same sid');
    // both sessions end here (never authenticated): the close packet
    for (const sid of [open.sid, other.sid]) {
      const p = new Poller();
      p.sid = sid;
      await p.close();
    }
  });

  test('polling: CONNECT over POST is answered "ok", its answer comes on the next GET; a bad token ends the session', { timeout: 20000 }, async () => {
    const w = await clinicWorld();
    const good = new Poller();
    const bad = new Poller();
    let none = null;
    try {
      await good.handshake();
      const r = await good.post(`40${JSON.stringify({ token: w.rec.access })}`);
      assert.equal(r.status, 200, show(r));
      assert.match(r.headers.get('content-type'), /^text\/plain/);
      assert.equal(r.text, 'ok');
      const packets = await good.poll();
      assert.match(packets[0], /^40\{"sid":"[0-9a-f]{32}"\}$/);

      await bad.handshake();
      assert.equal((await bad.post(`40${JSON.stringify({ token: 'not.a.jwt' })}`)).text, 'ok');
      const refused = await bad.poll();
      assert.equal(refused[0], '44{"message":"invalid token"}');
      if (!refused.includes('1')) await expectGone(bad, 'a session refused at CONNECT');
      else {
        bad.ended = true;
        expectEioError(await bad.get(), 1, 'Session ID unknown');
      }
      // CONNECT without a token at all
      none = new Poller();
      await none.handshake();
      await none.post('40');
      assert.deepEqual(parsePacket((await none.poll())[0]), { type: 'connect_error', data: { message: 'invalid token' } });
      await expectGone(none, 'a session that sent CONNECT without auth');
    } finally {
      await closeAll([good, bad, none]);
    }
  });

  test('polling: a POST of several packets joined by 0x1e, and a GET answering several queued packets at once', { timeout: 20000 }, async () => {
    const w = await clinicWorld();
    const p = new Poller();
    try {
      await p.connect({ token: w.rec.access, last_event_id: await eventsEnd(w.rec.access) }); // what clinicWorld wrote is not sent
      const r = await p.post([
        `421${JSON.stringify(['join_clinic_room', { clinic_id: w.clinic.id }])}`,
        `422${JSON.stringify(['presence', { room: `clinic:${w.clinic.id}` }])}`,
        `423${JSON.stringify(['join_clinic_room', { clinic_id: w.clinic.id + 1000000 }])}`,
      ]);
      assert.equal(r.status, 200, show(r));
      assert.equal(r.text, 'ok');
      const acks = () => p.packets.map(parsePacket).filter((x) => x.type === 'ack');
      await p.until(() => acks().length >= 3, 5000, 'three acks');
      const byId = Object.fromEntries(acks().map((a) => [a.id, a.args[0]]));
      assert.deepEqual(byId[1], { ok: true });
      assert.equal(byId[2].ok, true);
      assert.deepEqual(byId[2].participants.map((x) => x.user_id), [w.rec.id]);
      assert.equal(byId[3].ok, false);
      assert.equal(byId[3].code, 'forbidden');

      // nothing is polled while four events are written; then one GET answers them all
      const start = await eventsEnd(w.rec.access);
      await w.move();
      await w.move();
      const expected = await apiIds(w, start, 4);
      assert.equal(expected.length, 4);
      await sleep(800);
      const before = p.packets.length;
      const one = await p.poll();
      assert.ok(one.length >= 2, `one GET answered one packet: ${JSON.stringify(one)}`);
      for (const pk of one) assert.match(pk, /^42\["(visit_status_changed|queue_updated)",/);
      await p.until(() => expected.every((id) => p.eventIds().includes(id)), 5000, 'the four events');
      assert.deepEqual(p.packets.slice(before).map(parsePacket).map((x) => x.data?.event_id), expected);
    } finally {
      await closeAll([p]);
    }
  });

  test('polling: a GET with nothing queued is held, and answered within a second of a phase move', { timeout: 20000 }, async () => {
    const w = await clinicWorld();
    const p = new Poller();
    try {
      // From the current end: what clinicWorld wrote is not sent, however far the instance has read.
      await p.connect({ token: w.rec.access, last_event_id: await eventsEnd(w.rec.access) });
      let settled = false;
      const held = p.get({ timeout: 10000 }).then((r) => { settled = true; return r; });
      await sleep(1000);
      assert.equal(settled, false, `the GET was answered with nothing to send: ${settled && show(await held)}`);
      const start = await eventsEnd(w.rec.access);
      await w.move();
      const moved = Date.now();
      const r = await held;
      const late = Date.now() - moved;
      assert.equal(r.status, 200, show(r));
      assert.ok(late < 1000, `the held GET came ${late} ms after the move`);
      const got = r.text.split(RS).map(parsePacket);
      assert.ok(got.length >= 1 && got.every((x) => x.type === 'event'), r.text);
      const expected = await apiIds(w, start, 2);
      assert.deepEqual(got.map((x) => x.data.event_id), expected.slice(0, got.length));
    } finally {
      await closeAll([p]);
    }
  });

  test('polling: a held GET lasts until the ping of pingInterval (12 s here), not dropped by the HTTP layer before', { timeout: 40000 }, async () => {
    const inst = await startSignaling({ SIGNALING_PING_INTERVAL_MS: '12000', SIGNALING_PING_TIMEOUT_MS: '5000' });
    const w = await clinicWorld();
    const p = new Poller(inst.url);
    try {
      await p.connect({ token: w.rec.access, last_event_id: await eventsEnd(w.rec.access) }); // what clinicWorld wrote is not sent
      assert.equal(p.open.pingInterval, 12000);
      const r = await p.get({ timeout: 20000 });
      assert.equal(r.status, 200, `the held GET: ${show(r)}`);
      assert.equal(r.text, '2', 'the held GET is answered by the ping');
      assert.ok(r.ms > 10000, `answered after ${r.ms} ms`);
      assert.equal((await p.post('3')).text, 'ok');
    } finally {
      await closeAll([p, inst]);
    }
  });

  test('polling: a client that gives up its held GET costs the server no CPU afterwards', { timeout: 30000 }, async (t) => {
    const inst = await startSignaling();
    const pid = serverPid(inst.url);
    const p = new Poller(inst.url);
    try {
      if (!pid) {
        t.skip('the pid of the signaling-server is not readable from /proc');
        return;
      }
      await p.handshake();
      const r = await p.get({ timeout: 300 }); // the client gives up (a page closed, a network change)
      assert.equal(r.status, 0, show(r));
      const before = cpuSeconds(pid);
      await sleep(2000);
      const used = cpuSeconds(pid) - before;
      assert.ok(used < 0.3, `the server used ${used.toFixed(2)} s of CPU in the 2 s after a client dropped its held GET`);
      assert.equal((await http('GET', `${inst.url}/healthz`)).status, 200);
    } finally {
      await closeAll([p, inst]);
    }
  });

  test('polling: socket.io-client with its default options upgrades to websocket; events from the connect on arrive once, in order', { timeout: 60000 }, async () => {
    const w = await clinicWorld();
    const start = await eventsEnd(w.rec.access);
    const s = io(SIGNALING_URL, { auth: { token: w.rec.access }, reconnection: false, forceNew: true, timeout: 5000 });
    const got = [];
    s.onAny((name, data) => got.push({ name, id: data?.event_id, transport: s.io.engine.transport.name }));
    try {
      await new Promise((resolve, reject) => {
        s.on('connect', resolve);
        s.on('connect_error', reject);
      });
      for (let i = 0; i < 20; i++) await w.move();
      const expected = await apiIds(w, start, 40);
      assert.equal(expected.length, 40);
      await untilTrue(() => got.length >= 40, 10000, `40 events (got ${got.length})`);
      await sleep(300);
      assert.deepEqual(got.map((e) => e.id), expected, 'every event once, in the order of /api/events');
      assert.equal(s.io.engine.transport.name, 'websocket');
    } finally {
      s.close();
    }
  });

  test('polling: events before, during and after the upgrade (a probe held back 600 ms) arrive once, in order', { timeout: 60000 }, async () => {
    // the WebSocket probe starts 600 ms late, so the first events go over polling
    class SlowProbe extends NodeWebSocket {
      doOpen() { setTimeout(() => { if (this.readyState === 'opening') super.doOpen(); }, 600); }
    }
    const w = await clinicWorld();
    const start = await eventsEnd(w.rec.access);
    const s = io(SIGNALING_URL, {
      auth: { token: w.rec.access }, reconnection: false, forceNew: true, timeout: 5000, transports: [NodeXHR, SlowProbe],
    });
    const got = [];
    let upgradedAt = null;
    s.onAny((name, data) => got.push({ name, id: data?.event_id, transport: s.io.engine.transport.name }));
    try {
      await new Promise((resolve, reject) => {
        s.on('connect', resolve);
        s.on('connect_error', reject);
      });
      assert.equal(s.io.engine.transport.name, 'polling');
      s.io.engine.on('upgrade', () => { upgradedAt = got.length; });
      const started = Date.now();
      for (let i = 0; i < 20; i++) {
        await w.move();
        if (i < 15) await sleep(Math.max(0, started + 80 * (i + 1) - Date.now()));
      }
      const expected = await apiIds(w, start, 40);
      await untilTrue(() => got.length >= 40, 10000, `40 events (got ${got.length})`);
      await sleep(300);
      assert.deepEqual(got.map((e) => e.id), expected, 'every event once, in the order of /api/events');
      assert.equal(s.io.engine.transport.name, 'websocket');
      assert.ok(got.some((e) => e.transport === 'polling'), 'no event came over polling');
      assert.ok(got.some((e) => e.transport === 'websocket'), 'no event came over websocket');
      assert.ok(upgradedAt !== null && upgradedAt > 0 && upgradedAt < 40, `upgraded after ${upgradedAt} events`);
    } finally {
      s.close();
    }
  });

  test('polling: the upgrade by hand: 2probe → 3probe, the held GET released with a noop, 5, then events on the websocket only', { timeout: 30000 }, async () => {
    const w = await clinicWorld();
    const p = new Poller();
    let ws = null;
    try {
      // From the current end: what clinicWorld wrote never answers the held GET before the probe.
      const start = await eventsEnd(w.rec.access);
      await p.connect({ token: w.rec.access, last_event_id: start });
      const held = p.get({ timeout: 10000 });
      await sleep(200);
      // a probe for a sid that is not a polling session is refused
      const stray = new WebSocket(`${SIGNALING_URL.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket&sid=${'0'.repeat(32)}`);
      await assert.rejects(new Promise((resolve, reject) => { stray.on('open', resolve); stray.on('error', reject); }));
      stray.terminate();

      ws = new WebSocket(`${SIGNALING_URL.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket&sid=${p.sid}`);
      const frames = [];
      ws.on('message', (d) => frames.push(d.toString()));
      await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
      const wsUntil = (pred, what) => untilTrue(() => pred(frames), 5000, `${what}; got ${JSON.stringify(frames)}`);
      ws.send('2probe');
      await wsUntil((f) => f.includes('3probe'), '3probe');
      const released = await held;
      assert.equal(released.status, 200, show(released));
      assert.equal(released.text, '6', 'the held GET is released with a noop');
      // an event written while the upgrade is half done waits in the session's queue
      await w.move();
      const first = await apiIds(w, start, 2);
      await sleep(500);
      assert.deepEqual(frames, ['3probe'], 'an event went over the probe before the upgrade');
      ws.send('5');
      await wsUntil((f) => f.filter((x) => x.startsWith('42')).length >= 2, 'the queued events on the websocket');
      await w.move();
      const expected = await apiIds(w, start, 4);
      await wsUntil((f) => f.filter((x) => x.startsWith('42')).length >= 4, 'a live event on the websocket');
      await sleep(300);
      const ids = frames.filter((x) => x.startsWith('42')).map((x) => parsePacket(x).data.event_id);
      assert.deepEqual(ids, expected);
      assert.deepEqual(ids.slice(0, 2), first);
      // the sid now belongs to the websocket
      expectEioError(await p.get({ timeout: 3000 }), 3, 'Bad request');
      p.ended = true;
      // and the websocket carries the session: an ack over it
      ws.send(`427${JSON.stringify(['join_clinic_room', { clinic_id: w.clinic.id }])}`);
      await wsUntil((f) => f.includes('437[{"ok":true}]'), 'the ack over the websocket');
    } finally {
      await closeAll([p, ws]);
    }
  });

  test('polling: a second GET while one is held is a 400 "Bad request"; the held one gets the close packet, the session ends', { timeout: 20000 }, async () => {
    const w = await clinicWorld();
    const p = new Poller();
    try {
      await p.connect({ token: w.rec.access, last_event_id: await eventsEnd(w.rec.access) }); // what clinicWorld wrote is not sent
      const held = p.get({ timeout: 8000 });
      await sleep(300);
      const second = await http('GET', p.url, { timeout: 3000 });
      assert.deepEqual(expectEioError(second, 3), { code: 3, message: 'Bad request' });
      const first = await held;
      assert.equal(first.status, 200, show(first));
      assert.equal(first.text, '1', 'the held GET is answered with the close packet');
      p.ended = true;
      expectEioError(await p.post(`42${JSON.stringify(['join_clinic_room', { clinic_id: w.clinic.id }])}`), 1, 'Session ID unknown');
      expectEioError(await p.get({ timeout: 3000 }), 1, 'Session ID unknown');
    } finally {
      await closeAll([p]);
    }
  });

  test('polling: GET errors: unknown sid (code 1), other Engine.IO versions (code 5), unknown transport (code 0)', { timeout: 20000 }, async () => {
    expectEioError(await http('GET', pollUrl(SIGNALING_URL, 'f'.repeat(32))), 1, 'Session ID unknown');
    expectEioError(await http('GET', pollUrl(SIGNALING_URL, 'nope')), 1, 'Session ID unknown');
    expectEioError(await http('GET', `${SIGNALING_URL}/socket.io/?EIO=3&transport=polling`), 5, 'Unsupported protocol version');
    expectEioError(await http('GET', `${SIGNALING_URL}/socket.io/?transport=polling`), 5, 'Unsupported protocol version');
    expectEioError(await http('GET', `${SIGNALING_URL}/socket.io/?EIO=4&transport=foo`), 0, 'Transport unknown');
    expectEioError(await http('GET', `${SIGNALING_URL}/socket.io/?EIO=4`), 0, 'Transport unknown');
  });

  test('polling: POST errors: no sid (code 2), unknown sid (code 1), other Engine.IO versions (code 5), unknown transport (code 0)', { timeout: 20000 }, async () => {
    const post = (query) => http('POST', `${SIGNALING_URL}/socket.io/?${query}`, { body: '40', headers: { 'content-type': 'text/plain;charset=UTF-8' } });
    expectEioError(await post(`EIO=4&transport=polling&sid=${'f'.repeat(32)}`), 1, 'Session ID unknown');
    expectEioError(await post('EIO=4&transport=polling'), 2, 'Bad handshake method');
    expectEioError(await post('EIO=3&transport=polling'), 5, 'Unsupported protocol version');
    expectEioError(await post('EIO=4&transport=foo'), 0, 'Transport unknown');
  });

  test('polling: a POST over maxPayload is refused with "Payload too large" and ends the session', { timeout: 20000 }, async () => {
    const w = await clinicWorld();
    const sized = new Poller();
    try {
      await sized.connect({ token: w.rec.access });
      const max = sized.open.maxPayload;
      const packet = (n) => {
        const head = `42${JSON.stringify(['join_clinic_room', { clinic_id: w.clinic.id, pad: '' }])}`;
        return head.replace('"pad":""', `"pad":"${'x'.repeat(n - head.length)}"`);
      };
      assert.equal(packet(max + 1).length, max + 1);
      const r = await sized.post(packet(max + 1));
      assert.equal(r.status, 400, `oversized POST: ${show(r)}`);
      assert.deepEqual(JSON.parse(r.text), { code: 3, message: 'Payload too large' });
      await expectGone(sized, 'a session that sent too much');
    } finally {
      await closeAll([sized]);
    }
  });

  test('polling: a POST without Content-Length (chunked) is answered, not left hanging', { timeout: 20000 }, async () => {
    const w = await clinicWorld();
    const p = new Poller();
    try {
      await p.handshake();
      const chunks = (text) => new ReadableStream({
        start(c) {
          for (let i = 0; i < text.length; i += 8192) c.enqueue(new TextEncoder().encode(text.slice(i, i + 8192)));
          c.close();
        },
      });
      const r = await p.post(chunks(`40${JSON.stringify({ token: w.rec.access })}`), { timeout: 3000 });
      assert.notEqual(r.status, 0, `a chunked POST got ${show(r)}`);
      if (r.status === 200) {
        assert.equal(r.text, 'ok');
        await p.until((pk) => pk.some((x) => x.startsWith('40')), 3000, 'the CONNECT answer');
        // over the cap, chunked: refused like one with a Content-Length
        const big = `42${JSON.stringify(['join_clinic_room', { clinic_id: w.clinic.id, pad: 'x'.repeat(p.open.maxPayload) }])}`;
        const rb = await p.post(chunks(big), { timeout: 3000 });
        assert.equal(rb.status, 400, `an oversized chunked POST: ${show(rb)}`);
        assert.deepEqual(JSON.parse(rb.text), { code: 3, message: 'Payload too large' });
        await expectGone(p, 'a session that sent too much, chunked');
      } else {
        assert.ok([400, 411].includes(r.status), `a chunked POST: ${show(r)}`);
      }
    } finally {
      await closeAll([p]);
    }
  });

  test('polling: a POST of exactly maxPayload bytes is taken', { timeout: 20000 }, async () => {
    const w = await clinicWorld();
    const p = new Poller();
    try {
      await p.connect({ token: w.rec.access });
      const max = p.open.maxPayload;
      const one = `421${JSON.stringify(['join_clinic_room', { clinic_id: w.clinic.id, pad: '' }])}`;
      const exact = one.replace('"pad":""', `"pad":"${'x'.repeat(max - one.length)}"`);
      assert.equal(exact.length, max);
      const r = await p.post(exact);
      assert.equal(r.status, 200, show(r));
      assert.equal(r.text, 'ok');
      await p.until((pk) => pk.some((x) => x.startsWith('431')), 5000, 'the ack');
    } finally {
      await closeAll([p]);
    }
  });

  test('polling: a binary packet, an empty packet or an empty payload in a POST is a 400 that ends the session', { timeout: 30000 }, async () => {
    const w = await clinicWorld();
    const join = `42${JSON.stringify(['join_clinic_room', { clinic_id: w.clinic.id }])}`;
    const cases = [
      ['a binary packet', ['bAQID']],
      ['a binary packet after a good one', [join, 'bAQID']],
      ['an empty packet in the middle', [join, '', join]],
      ['an empty packet at the end', [join, '']],
      ['an empty packet at the start', ['', join]],
      ['an empty payload', ''],
    ];
    const open = [];
    try {
      for (const [what, payload] of cases) {
        const p = new Poller();
        open.push(p);
        await p.connect({ token: w.rec.access });
        const r = await p.post(payload);
        assert.equal(r.status, 400, `${what}: ${show(r)}`);
        const body = JSON.parse(r.text);
        assert.equal(body.code, 3, `${what}: ${r.text}`);
        assert.equal(typeof body.message, 'string');
        await expectGone(p, `a session that sent ${what}`);
      }
    } finally {
      await closeAll(open);
    }
  });

  test('polling: a session whose client stops polling is gone after pingInterval + pingTimeout; /metrics counts it down', { timeout: 30000 }, async () => {
    const inst = await startSignaling({ SIGNALING_PING_INTERVAL_MS: '300', SIGNALING_PING_TIMEOUT_MS: '300' });
    const w = await clinicWorld();
    const mute = new Poller(inst.url);
    const alive = new Poller(inst.url);
    try {
      assert.equal(await metric(inst.url, 'signaling_connections'), 0);
      const t0 = Date.now();
      await mute.connect({ token: w.rec.access });
      assert.deepEqual([mute.open.pingInterval, mute.open.pingTimeout], [300, 300]);
      await alive.connect({ token: w.doc.access });
      assert.equal(await metric(inst.url, 'signaling_connections'), 2);
      const pump = alive.pump();
      await untilTrue(async () => (await metric(inst.url, 'signaling_connections')) === 1, 3000, 'the mute session to end');
      assert.ok(Date.now() - t0 >= 550, `ended ${Date.now() - t0} ms after its handshake, before pingInterval + pingTimeout`);
      expectEioError(await mute.get({ timeout: 3000 }), 1, 'Session ID unknown');
      mute.ended = true;
      // the one that polls and pongs outlives many intervals
      await sleep(1500);
      assert.equal(alive.pumpError, undefined);
      assert.equal(alive.ended, false, 'the session that answers its pings was closed');
      assert.ok(alive.packets.filter((x) => x === '2').length >= 3, `pings: ${JSON.stringify(alive.packets)}`);
      assert.equal(await metric(inst.url, 'signaling_connections'), 1);
      assert.ok((await metric(inst.url, 'signaling_closed_total{cause="timeout"}')) >= 1);
      // the close packet ends it now
      await alive.close();
      await Promise.race([pump, sleep(2000)]);
      await untilTrue(async () => (await metric(inst.url, 'signaling_connections')) === 0, 3000, 'the closed session to end');
    } finally {
      await closeAll([mute, alive, inst]);
    }
  });

  test('polling: a session that never sends CONNECT ends at the auth deadline, even while it polls and pongs', { timeout: 30000 }, async () => {
    // pinged well before the deadline; a pong may be late on a loaded machine without ending the authenticated one
    const inst = await startSignaling({ SIGNALING_AUTH_TIMEOUT_MS: '1200', SIGNALING_PING_INTERVAL_MS: '300', SIGNALING_PING_TIMEOUT_MS: '3000' });
    const w = await clinicWorld();
    const anon = new Poller(inst.url);
    const authed = new Poller(inst.url);
    try {
      const t0 = Date.now();
      await anon.handshake();
      await authed.connect({ token: w.rec.access });
      const [pumpAnon] = [anon.pump(), authed.pump()];
      await Promise.race([pumpAnon, sleep(5000)]);
      const took = Date.now() - t0;
      assert.equal(anon.ended, true, `no close packet: ${anon.pumpError ?? JSON.stringify(anon.packets)}`);
      assert.equal(anon.packets.at(-1), '1');
      assert.ok(anon.packets.includes('2'), 'pinged before the deadline');
      assert.ok(took >= 1000 && took < 4000, `ended after ${took} ms`);
      expectEioError(await anon.get({ timeout: 3000 }), 1, 'Session ID unknown');
      await sleep(600);
      assert.equal(authed.ended, false, 'the authenticated session was closed at the auth deadline');
      assert.equal(await metric(inst.url, 'signaling_connections'), 1);
    } finally {
      await closeAll([anon, authed, inst]);
    }
  });

  test('polling: the close packet from the client ends the session at once', { timeout: 20000 }, async () => {
    const inst = await startSignaling();
    const w = await clinicWorld();
    const p = new Poller(inst.url);
    try {
      await p.connect({ token: w.rec.access });
      assert.equal(await metric(inst.url, 'signaling_connections'), 1);
      // no GET is held: a client that closes does not poll again
      const r = await p.post('1');
      assert.equal(r.text, 'ok');
      p.ended = true;
      await untilTrue(async () => (await metric(inst.url, 'signaling_connections')) === 0, 1500,
        'the session closed by its client to end (signaling_connections back to 0)');
      expectEioError(await p.get({ timeout: 3000 }), 1, 'Session ID unknown');
    } finally {
      await closeAll([p, inst]);
    }
  });

  test('polling: replay from a last_event_id in the middle of the stream, then live events, each once', { timeout: 30000 }, async () => {
    const w = await clinicWorld();
    const other = await clinicWorld();
    const start = await eventsEnd(w.rec.access);
    for (let i = 0; i < 3; i++) await w.move();
    await other.move();
    const written = await apiIds(w, start, 6);
    assert.equal(written.length, 6);
    const mid = written[2];
    const p = new Poller();
    try {
      await p.connect({ token: w.rec.access, last_event_id: mid });
      await p.until(() => p.eventIds().length >= 3, 5000, 'the replay');
      await w.move();
      const all = await apiIds(w, mid, 5);
      await p.until(() => p.eventIds().length >= 5, 5000, 'the live events after the replay');
      await sleep(300);
      await p.poll(300).catch(() => {});
      const ids = p.eventIds();
      assert.deepEqual(ids.slice(0, 3), written.slice(3), 'the replay is exactly the events after last_event_id');
      assert.deepEqual(ids, all, 'replay then live, each once, in order');
    } finally {
      await closeAll([p]);
    }
  });

  test('polling: the sid announced to others in participant_joined does not open the polling session it names', { timeout: 30000 }, async () => {
    const w = await clinicWorld();
    const rec = io(SIGNALING_URL, { auth: { token: w.rec.access }, transports: ['websocket'], reconnection: false, forceNew: true, timeout: 5000 });
    const seen = [];
    rec.onAny((name, data) => seen.push({ name, data }));
    const doc = new Poller();
    let thief = null;
    try {
      await new Promise((resolve, reject) => { rec.on('connect', resolve); rec.on('connect_error', reject); });
      await doc.connect({ token: w.doc.access });
      await untilTrue(() => seen.find((e) => e.name === 'participant_joined' && e.data.user_id === w.doc.id), 5000,
        'participant_joined of the doctor on the desk');
      const announced = seen.find((e) => e.name === 'participant_joined' && e.data.user_id === w.doc.id).data;
      // the doctor's own room gets the patient card; the desk must not be able to read it
      await w.move();
      await sleep(500);
      if (announced.sid !== undefined) {
        const r = await http('GET', pollUrl(SIGNALING_URL, announced.sid), { timeout: 1500 });
        const leaked = r.status === 200 && r.text.includes('patient_with_doctor');
        assert.ok(!leaked, `the desk read the doctor's queue with the announced sid: ${show(r)}`);
        expectEioError(r, 1, 'Session ID unknown');
        thief = new WebSocket(`${SIGNALING_URL.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket&sid=${announced.sid}`);
        const opened = await new Promise((resolve) => { thief.on('open', () => resolve(true)); thief.on('error', () => resolve(false)); });
        assert.equal(opened, false, 'a websocket upgrade of the doctor\'s session opened with the announced sid');
      }
      await doc.until(() => doc.events().some((e) => e.name === 'patient_with_doctor'), 5000, 'the doctor\'s patient card');
    } finally {
      rec.close();
      await closeAll([doc, thief]);
    }
  });

  test('polling: two instances: a sid of one is unknown to the other; a polling client on either gets its clinic\'s events only', { timeout: 40000 }, async () => {
    const w = await clinicWorld();
    const other = await clinicWorld();
    const second = await startSignaling();
    const onA = new Poller();
    const onB = new Poller(second.url);
    const strangerB = new Poller(second.url);
    try {
      await onA.connect({ token: w.rec.access });
      await onB.connect({ token: w.doc.access });
      await strangerB.connect({ token: other.rec.access });
      // A's sid on B: unknown there, for GET and POST, and nothing of A's session moves
      expectEioError(await http('GET', pollUrl(second.url, onA.sid)), 1, 'Session ID unknown');
      expectEioError(await http('POST', pollUrl(second.url, onA.sid), { body: '1', headers: { 'content-type': 'text/plain;charset=UTF-8' } }), 1, 'Session ID unknown');
      expectEioError(await http('GET', pollUrl(SIGNALING_URL, onB.sid)), 1, 'Session ID unknown');
      const start = await eventsEnd(w.rec.access);
      const startDoc = await eventsEnd(w.doc.access);
      await w.move(); // to with_doctor: the doctor's room gets patient_with_doctor too
      const forRec = await apiIds(w, start, 2);
      const forDoc = (await eventsSince(w.doc.access, startDoc, 2)).items.map((e) => e.event_id);
      await onA.until(() => forRec.every((id) => onA.eventIds().includes(id)), 5000, 'the events on instance A');
      await onB.until(() => forDoc.every((id) => onB.eventIds().includes(id)), 5000, 'the events on instance B');
      assert.deepEqual(onA.eventIds(), forRec);
      assert.deepEqual(onB.eventIds(), forDoc);
      assert.ok(onB.events().some((e) => e.name === 'patient_with_doctor' && e.data.visit.id === w.visit.id));
      // the other clinic's receptionist on B got nothing (a GET held 500 ms comes back empty-handed)
      const r = await strangerB.get({ timeout: 700 });
      assert.equal(r.status, 0, `another clinic's client got ${show(r)}`);
    } finally {
      await closeAll([onA, onB, strangerB, second]);
    }
  });

  test('polling: more than SIGNALING_MAX_MSGS_PER_SEC packets in one POST end the session', { timeout: 30000 }, async () => {
    const inst = await startSignaling({ SIGNALING_MAX_MSGS_PER_SEC: '5' });
    const w = await clinicWorld();
    const ok = new Poller(inst.url);
    const flood = new Poller(inst.url);
    try {
      const join = `42${JSON.stringify(['join_clinic_room', { clinic_id: w.clinic.id }])}`;
      await ok.connect({ token: w.rec.access });
      await sleep(1100);
      const fine = await ok.post([join, join, join]);
      assert.equal(fine.status, 200, show(fine));
      assert.equal(fine.text, 'ok');
      const abuse = await metric(inst.url, 'signaling_closed_total{cause="abuse"}');
      await flood.connect({ token: w.rec.access });
      const r = await flood.post(Array.from({ length: 10 }, () => join));
      assert.equal(r.status, 400, `a flood in one POST: ${show(r)}`);
      assert.equal(JSON.parse(r.text).code, 3);
      await expectGone(flood, 'a session that flooded');
      assert.equal(await metric(inst.url, 'signaling_closed_total{cause="abuse"}'), abuse + 1);
      // the other session is still served
      await ok.post(`429${JSON.stringify(['join_clinic_room', { clinic_id: w.clinic.id }])}`);
      await ok.until((pk) => pk.includes('439[{"ok":true}]'), 3000, 'the ack of the session that did not flood');
    } finally {
      await closeAll([ok, flood, inst]);
    }
  });

  test('polling: CORS: an allowed origin gets its Access-Control-Allow-Origin on every polling answer; a preflight of POST is 204', { timeout: 20000 }, async () => {
    const w = await clinicWorld();
    const origin = { origin: ALLOWED_ORIGIN };
    const expectCors = (r, what) => {
      assert.equal(r.headers.get('access-control-allow-origin'), ALLOWED_ORIGIN, `${what}: ${show(r)}`);
      assert.ok(lower(r.headers.get('vary')).includes('origin'), `${what}: Vary ${r.headers.get('vary')}`);
      assert.deepEqual(lower(r.headers.get('access-control-expose-headers')).sort(), [...EXPOSE_HEADERS].sort(), what);
      assert.equal(r.headers.get('access-control-allow-credentials'), null, `${what}: no Allow-Credentials`);
    };
    const p = new Poller();
    try {
      expectCors(await p.handshake(origin), 'the handshake');
      const r = await p.post(`40${JSON.stringify({ token: w.rec.access })}`, { headers: origin });
      assert.equal(r.text, 'ok');
      expectCors(r, 'the POST');
      const connected = await p.get({ headers: origin });
      assert.match(connected.text, /^40/);
      expectCors(connected, 'a GET answered at once');
      const held = p.get({ headers: origin, timeout: 8000 });
      await sleep(300);
      await w.move();
      const late = await held;
      assert.match(late.text, /^42/);
      expectCors(late, 'a held GET answered later');
      const err = await http('GET', pollUrl(SIGNALING_URL, 'f'.repeat(32)), { headers: origin });
      assert.equal(err.status, 400);
      expectCors(err, 'an Engine.IO error');

      const pre = await http('OPTIONS', pollUrl(SIGNALING_URL, p.sid), {
        headers: { ...origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
      assert.equal(pre.status, 204, `preflight: ${show(pre)}`);
      assert.equal(pre.text, '');
      expectCors(pre, 'the preflight');
      assert.deepEqual(lower(pre.headers.get('access-control-allow-methods')).sort(), ['get', 'post']);
      assert.ok(lower(pre.headers.get('access-control-allow-headers')).includes('content-type'));
      assert.ok(Number(pre.headers.get('access-control-max-age')) > 0);

      // another origin: no CORS header, on answers and preflights alike
      const evil = { origin: 'http://evil.test' };
      const corsOf = (x) => [...x.headers.keys()].filter((k) => k.startsWith('access-control-'));
      const other = new Poller();
      const hs = await other.handshake(evil);
      assert.deepEqual(corsOf(hs), []);
      assert.ok(lower(hs.headers.get('vary')).includes('origin'));
      const post = await other.post('40{}', { headers: evil });
      assert.deepEqual(corsOf(post), []);
      const evilPre = await http('OPTIONS', pollUrl(SIGNALING_URL), {
        headers: { ...evil, 'access-control-request-method': 'POST' },
      });
      assert.notEqual(evilPre.status, 204);
      assert.deepEqual(corsOf(evilPre), []);
      await other.close();
    } finally {
      await closeAll([p]);
    }
  });

  test('polling: acks over polling: a client event with an ack id is answered 43<id>[...]', { timeout: 30000 }, async () => {
    const w = await clinicWorld();
    const other = await clinicWorld();
    const p = new Poller();
    let s = null;
    try {
      await p.connect({ token: w.doc.access });
      await p.post(`425${JSON.stringify(['join_doctor_room', { doctor_id: w.doctorId }])}`);
      await p.post(`4212345${JSON.stringify(['join_clinic_room', { clinic_id: other.clinic.id }])}`);
      await p.post(`427${JSON.stringify(['no_such_event', {}])}`);
      await p.post(`428${JSON.stringify(['join_clinic_room', { clinic_id: 'x' }])}`);
      const acks = () => Object.fromEntries(p.packets.map(parsePacket).filter((x) => x.type === 'ack').map((a) => [a.id, a.args]));
      await p.until(() => Object.keys(acks()).length >= 4, 5000, 'four acks');
      assert.ok(p.packets.includes('435[{"ok":true}]'), JSON.stringify(p.packets));
      assert.equal(acks()[12345][0].code, 'forbidden');
      assert.equal(acks()[7][0].code, 'unknown_event');
      assert.equal(acks()[8][0].code, 'bad_request');
      // without an ack id the refusal is an `error` event
      await p.post(`42${JSON.stringify(['join_clinic_room', { clinic_id: other.clinic.id }])}`);
      await p.until(() => p.events().some((e) => e.name === 'error'), 5000, 'an error event');
      assert.equal(p.events().find((e) => e.name === 'error').data.code, 'forbidden');

      // socket.io-client on polling only: emitWithAck, and the server's events
      s = io(SIGNALING_URL, { auth: { token: w.rec.access }, transports: ['polling'], reconnection: false, forceNew: true, timeout: 5000 });
      await new Promise((resolve, reject) => { s.on('connect', resolve); s.on('connect_error', reject); });
      assert.equal(s.io.engine.transport.name, 'polling');
      assert.deepEqual(await s.timeout(3000).emitWithAck('join_clinic_room', { clinic_id: w.clinic.id }), { ok: true });
      assert.equal((await s.timeout(3000).emitWithAck('join_clinic_room', { clinic_id: other.clinic.id })).code, 'forbidden');
      const got = [];
      s.onAny((name, data) => got.push({ name, data }));
      await w.move();
      await untilTrue(() => got.length >= 2, 5000, 'events on the polling-only client');
      assert.equal(s.io.engine.transport.name, 'polling');
    } finally {
      s?.close();
      await closeAll([p]);
    }
  });

  test('polling: one POST at a time: a second one while the first is still being read ends the session', { timeout: 20000 }, async () => {
    const p = new Poller();
    await p.handshake();
    // a first POST whose body is slow to come: 12 bytes announced, 2 sent
    const url = new URL(p.url);
    const slow = httpRequest({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'POST',
      headers: { 'content-type': 'text/plain;charset=UTF-8', 'content-length': '12' } });
    slow.on('error', () => {});
    slow.write('42');
    await sleep(200);
    expectEioError(await p.post('3'), 3, 'Bad request');
    slow.destroy();
    await expectGone(p, 'a session that overlapped its POSTs');
  });

  test('polling: one upgrade probe at a time: a second WebSocket for the same sid is refused', { timeout: 20000 }, async () => {
    const p = new Poller();
    await p.handshake();
    const wsUrl = `${SIGNALING_URL.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket&sid=${p.sid}`;
    const opened = (ws) => new Promise((resolve) => {
      ws.once('open', () => resolve(true));
      ws.once('unexpected-response', () => resolve(false));
      ws.once('error', () => resolve(false));
    });
    // Both handshakes are in flight at once: whichever the server reads first is the probe.
    const sockets = [new WebSocket(wsUrl), new WebSocket(wsUrl)];
    try {
      const results = await Promise.all(sockets.map(opened));
      assert.equal(results.filter(Boolean).length, 1, `exactly one probe opens: ${JSON.stringify(results)}`);
      // the one that opened still upgrades
      const probe = sockets[results.indexOf(true)];
      probe.send('2probe');
      const answer = await new Promise((resolve) => probe.once('message', (m) => resolve(String(m))));
      assert.equal(answer, '3probe');
    } finally {
      for (const ws of sockets) ws.terminate();
      await p.close();
    }
  });
});
