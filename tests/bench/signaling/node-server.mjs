// The comparison server of the signaling benchmark: a minimal socket.io 4 server doing what the
// signaling-server does on the benchmark's paths, in one Node process (one thread, like the C server),
// over WebSocket and Engine.IO long-polling (socket.io's default transports, with the upgrade).
//  - Auth: the same `auth: {token}`: the ES256 access token is verified with JWT_PUBLIC_KEY_FILE
//    (signature, typ "access", exp) and the socket joins the rooms of its claims: DOCTOR
//    clinic:{clinic_id} and doctor:{doctor_id}, RECEPTIONIST clinic:{clinic_id}, PATIENT
//    patient:{patient_id}, ADMIN none (not used by the benchmark); a bad token gets connect_error
//    "invalid token".
//  - Delivery: the same path as the C server, so push latency compares like with like: it LISTENs on
//    the PostgreSQL channel `events` (with `pg`, pinned in package.json) and on each NOTIFY (and every
//    second) reads the outbox rows after the last (txid, id) it delivered, below the snapshot's xmin,
//    as the C server does (one query in flight; NOTIFYs arriving meanwhile cause one more read),
//    emitting each row's data plus event_id and occurred_at to the row's rooms but not to its
//    except_rooms (a socket in several of the rooms gets the event once, as from the C server).
//    Simplifications, in its favour: no check of the account in the database at CONNECT, no presence
//    table, no replay, no per-client send-queue cap, no session caps, no metrics.
// Env: PORT, DATABASE_URL, JWT_PUBLIC_KEY_FILE. Prints "ready" once listening and LISTENing.
import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import pg from 'pg';
import { Server } from 'socket.io';

const key = createPublicKey(readFileSync(process.env.JWT_PUBLIC_KEY_FILE, 'utf8'));

function claimsOf(token) {
  if (typeof token !== 'string') return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url'));
    if (header.alg !== 'ES256') return null;
    const ok = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key, dsaEncoding: 'ieee-p1363' },
      Buffer.from(parts[2], 'base64url'));
    if (!ok) return null;
    const c = JSON.parse(Buffer.from(parts[1], 'base64url'));
    if (c.typ !== 'access' || !(c.exp > Date.now() / 1000)) return null;
    return c;
  } catch {
    return null;
  }
}

function roomsOf(c) {
  switch (c.role) {
    case 'DOCTOR': return [`clinic:${c.clinic_id}`, `doctor:${c.doctor_id}`];
    case 'RECEPTIONIST': return [`clinic:${c.clinic_id}`];
    case 'PATIENT': return [`patient:${c.patient_id}`];
    default: return [];
  }
}

const http = createServer((req, res) => {
  res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'application/json' });
  res.end(req.url === '/healthz' ? '{"status":"ok"}' : '{}');
});
const io = new Server(http, { transports: ['polling', 'websocket'], serveClient: false, maxHttpBufferSize: 65536 });
io.use((socket, next) => {
  const c = claimsOf(socket.handshake.auth?.token);
  if (!c) return next(new Error('invalid token'));
  socket.data.rooms = roomsOf(c);
  return next();
});
io.on('connection', (socket) => socket.join(socket.data.rooms));

const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
await db.connect();
// The cursor is (txid, id): only rows whose transaction is below the snapshot's xmin are read, in
// (txid, id) order, as the C server does (ids alone would skip the events of a transaction that took
// its ids before another one's but committed after it).
let last = (await db.query(`SELECT COALESCE((SELECT txid::text || '-' || id::text FROM events
  WHERE txid < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY txid DESC, id DESC LIMIT 1), '0-0') AS c`)).rows[0].c;
let reading = false;
let again = false;
const READ = `SELECT txid::text || '-' || id::text AS cursor, name, rooms, except_rooms,
  data || jsonb_build_object('event_id', txid::text || '-' || id::text,
                             'occurred_at', to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')) AS data
  FROM events WHERE (txid, id) > (split_part($1, '-', 1)::xid8, split_part($1, '-', 2)::bigint)
    AND txid < pg_snapshot_xmin(pg_current_snapshot())
  ORDER BY txid, id LIMIT 5000`;

async function read() {
  if (reading) { again = true; return; }
  reading = true;
  try {
    do {
      again = false;
      const { rows } = await db.query(READ, [last]);
      for (const r of rows) {
        if (r.except_rooms.length) io.to(r.rooms).except(r.except_rooms).emit(r.name, r.data);
        else io.to(r.rooms).emit(r.name, r.data);
      }
      if (rows.length) last = rows.at(-1).cursor;
      if (rows.length === 5000) again = true;
    } while (again);
  } finally {
    reading = false;
  }
}
const readNow = () => { read().catch((e) => console.error('node-server:', e.message)); };
// An event becomes readable once every older transaction has ended, which may come without a NOTIFY:
// a read every second too (SIGNALING_POLL_MS of the C server).
setInterval(readNow, 1000);
db.on('notification', readNow);
await db.query('LISTEN events');
http.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'));
process.on('SIGTERM', () => process.exit(0));
