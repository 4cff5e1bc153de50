// Live delivery during a replay storm (run alone, against a running signaling-server and api-server, once
// per build for a before/after): a desk socket of one clinic
// waits for live events while STORM sockets of another clinic reconnect in a loop with a
// last_event_id BACKLOG events back, each replaying them. Every SAMPLE_MS an event for the first
// clinic is committed (INSERT INTO events, with the time of the commit in its data) and the time until
// the desk socket has it is recorded: p50/p99/max, printed, never asserted. Run it against two
// builds for a before/after.
// The desks are the demo's reception1 and reception2 (password demo-password), signed in through the API.
// Env: SIGNALING_URL, API_URL, DATABASE_URL; STORM (8), BACKLOG (2000), SAMPLES (60), SAMPLE_MS (100).
import pg from 'pg';
import WebSocket from 'ws';

const URL = process.env.SIGNALING_URL.replace(/^http/, 'ws') + '/socket.io/?EIO=4&transport=websocket';
const STORM = Number(process.env.STORM || 8);
const BACKLOG = Number(process.env.BACKLOG || 2000);
const SAMPLES = Number(process.env.SAMPLES || 60);
const SAMPLE_MS = Number(process.env.SAMPLE_MS || 100);
async function signIn(email) {
  const r = await fetch(`${process.env.API_URL}/api/auth/login`, { method: 'POST',
    headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: 'demo-password' }) });
  const body = await r.json();
  if (r.status !== 200) throw new Error(`sign-in of ${email}: ${r.status} ${JSON.stringify(body)}`);
  return { token: body.access_token, clinic_id: body.user.clinic_id };
}

// A raw Socket.IO client: resolves once connected; onEvent(name, data) for each event.
function client(tok, last, onEvent, onClose) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(URL);
    ws.on('message', (m) => {
      const t = String(m);
      if (t[0] === '0') ws.send(`40${JSON.stringify(last ? { token: tok, last_event_id: last } : { token: tok })}`);
      else if (t === '2') ws.send('3');
      else if (t.startsWith('40')) resolve(ws);
      else if (t.startsWith('44')) reject(new Error(t));
      else if (t.startsWith('42')) { const [n, d] = JSON.parse(t.slice(2)); onEvent(n, d); }
    });
    ws.on('close', () => onClose && onClose());
    ws.on('error', reject);
  });
}

const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
await db.connect();
const [watched, storming] = [await signIn('reception1@demo.clinic'), await signIn('reception2@demo.clinic')];
const start = (await db.query(`SELECT event_cursor(e) AS c FROM events e ORDER BY txid DESC, id DESC LIMIT 1`)).rows[0]?.c ?? '0-0';
await db.query(`INSERT INTO events (name, rooms, data) SELECT 'queue_updated', ARRAY['clinic:' || $1::bigint],
                jsonb_build_object('clinic_id', $1::bigint, 'n', n) FROM generate_series(1, $2::int) n`,
  [storming.clinic_id, BACKLOG]);

const lat = [];
const waiting = new Map();
await client(watched.token, null, (n, d) => {
  const t0 = waiting.get(d.probe);
  if (t0 !== undefined) { lat.push(Number(process.hrtime.bigint() - t0) / 1e6); waiting.delete(d.probe); }
});
let stop = false;
let replays = 0;
async function stormer() {
  while (!stop) {
    let got = 0;
    await new Promise((done) => {
      client(storming.token, start, () => { if (++got >= BACKLOG) { replays++; ws?.close(); } }, done)
        .then((w) => { ws = w; }).catch(done);
      let ws;
    });
  }
}
const storms = Array.from({ length: STORM }, () => stormer());
await new Promise((r) => setTimeout(r, 1000));
for (let i = 0; i < SAMPLES; i++) {
  const probe = `p${i}`;
  waiting.set(probe, process.hrtime.bigint());
  await db.query(`INSERT INTO events (name, rooms, data) VALUES ('queue_updated', ARRAY['clinic:' || $1::bigint],
                  jsonb_build_object('clinic_id', $1::bigint, 'probe', $2::text))`, [watched.clinic_id, probe]);
  await new Promise((r) => setTimeout(r, SAMPLE_MS));
}
await new Promise((r) => setTimeout(r, 3000));
stop = true;
lat.sort((a, b) => a - b);
const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(1) : 'n/a');
console.log(`replay storm: ${STORM} sockets replaying ${BACKLOG} events in a loop (${replays} replays done); ` +
  `live delivery to another clinic: ${lat.length}/${SAMPLES} received, p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, ` +
  `max ${lat.length ? lat.at(-1).toFixed(1) : 'n/a'} ms`);
await db.end();
process.exit(0);
