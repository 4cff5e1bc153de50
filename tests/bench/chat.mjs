// Chat delivery: the time from a message's send (POST /api/conversations/{id}/messages) to its arrival as
// chat_message on the other member's socket, at N concurrent conversations. One clinic, N patients and N doctors,
// conversation i between patient i and doctor i; every doctor holds a Socket.IO WebSocket on a signaling-server
// started here, every patient sends M messages one after another, all conversations at once. Prints p50/p99 of
// send -> delivered and of the POST alone. Figures are printed, never asserted.
// Run against a running api-server (API_URL) whose database is migrated and seeded (the demo admin), with
// SIGNALING_BIN, DATABASE_URL and JWT_PUBLIC_KEY_FILE set (tests/bench/run.sh does):
//   node --test --test-reporter=spec tests/bench/chat.mjs
// Env: BENCH_CHAT_CONVERSATIONS (default 50), BENCH_CHAT_MESSAGES (per conversation, default 20; keep it within
// CHAT_MESSAGES_PER_MINUTE of the api-server).
import { test } from 'node:test';

import { createClinic, expectStatus, patientSession, post, staffSession, startSignaling } from '../lib/api.mjs';
import { sioConnected } from '../lib/sockets.mjs';

const N = Number(process.env.BENCH_CHAT_CONVERSATIONS || 50);
const M = Number(process.env.BENCH_CHAT_MESSAGES || 20);

const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

// Runs fn over items with at most k at a time.
async function pool(items, k, fn) {
  const out = [];
  let next = 0;
  await Promise.all(Array.from({ length: k }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  }));
  return out;
}

test(`chat: send -> delivered at ${N} concurrent conversations`, { timeout: 900000 }, async (t) => {
  const clinic = await createClinic();
  const idx = Array.from({ length: N }, (_, i) => i);
  const pairs = await pool(idx, 8, async () => {
    const [pat, doc] = await Promise.all([patientSession(clinic.id), staffSession('DOCTOR', clinic.id)]);
    const conv = expectStatus(await post('/api/conversations', { patient_id: pat.patient.id, doctor_id: doc.user.doctor_id },
      doc.access), 201).body;
    return { pat, doc, conv };
  });
  const sig = await startSignaling({ LOG_LEVEL: 'error' });
  const socks = [];
  try {
    const arrived = new Map(); // client_id -> time of arrival
    const waiters = new Map(); // client_id -> resolve
    for (const p of pairs) {
      const c = await sioConnected({ token: p.doc.access }, { url: sig.url });
      c.s.on('chat_message', (d) => {
        const id = d.message.client_id;
        arrived.set(id, process.hrtime.bigint());
        waiters.get(id)?.();
      });
      socks.push(c);
    }
    const delivered = [];
    const posted = [];
    const t0 = process.hrtime.bigint();
    await Promise.all(pairs.map(async (p, i) => {
      for (let k = 0; k < M; k++) {
        const clientId = `b${i}-${k}`;
        const got = new Promise((r) => waiters.set(clientId, r));
        const start = process.hrtime.bigint();
        expectStatus(await post(`/api/conversations/${p.conv.id}/messages`, { text: `mensagem ${k}`, client_id: clientId },
          p.pat.access), 201);
        posted.push(Number(process.hrtime.bigint() - start) / 1e6);
        await got;
        delivered.push(Number(arrived.get(clientId) - start) / 1e6);
      }
    }));
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    delivered.sort((a, b) => a - b);
    posted.sort((a, b) => a - b);
    t.diagnostic(`chat: ${N} conversations x ${M} messages in ${s.toFixed(2)} s (${(N * M / s).toFixed(0)} messages/s); `
      + `send -> delivered p50 ${pct(delivered, 50).toFixed(1)} ms, p99 ${pct(delivered, 99).toFixed(1)} ms, max ${delivered.at(-1).toFixed(1)} ms; `
      + `POST alone p50 ${pct(posted, 50).toFixed(1)} ms, p99 ${pct(posted, 99).toFixed(1)} ms`);
  } finally {
    for (const c of socks) c.s.close();
    await sig.stop();
  }
});
