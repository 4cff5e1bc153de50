// Chat delivery: the time from a message's send (POST /api/conversations/{id}/messages) to its arrival as
// chat_message on the other member's socket, at N concurrent conversations. One clinic, N patients and N doctors,
// conversation i between patient i and doctor i; both members of every conversation hold a Socket.IO WebSocket on
// a signaling-server started here (2N sockets). Messages are sent at a steady BENCH_CHAT_RATE a second for
// BENCH_CHAT_SECONDS, whatever the answers take (an open loop, as people type), going round the conversations and
// alternating patient and doctor. Prints p50/p99 of send -> delivered and of the POST alone. Figures are printed,
// never asserted.
// Run against a running api-server (API_URL) whose database is migrated and seeded (the demo admin), with
// SIGNALING_BIN, DATABASE_URL and JWT_PUBLIC_KEY_FILE set (tests/bench/run.sh does):
//   node --test --test-reporter=spec tests/bench/chat.mjs
// Env: BENCH_CHAT_CONVERSATIONS (default 50), BENCH_CHAT_RATE (messages a second, default 20),
// BENCH_CHAT_SECONDS (default 20).
import { test } from 'node:test';

import { createClinic, expectStatus, patientSession, post, staffSession, startSignaling } from '../lib/api.mjs';
import { sioConnected } from '../lib/sockets.mjs';

const N = Number(process.env.BENCH_CHAT_CONVERSATIONS || 50);
const RATE = Number(process.env.BENCH_CHAT_RATE || 20);
const SECONDS = Number(process.env.BENCH_CHAT_SECONDS || 20);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

test(`chat: send -> delivered at ${N} concurrent conversations, ${RATE} messages a second`, { timeout: 900000 }, async (t) => {
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
    const arrived = new Map(); // client_id -> time of arrival at the other member
    const waiters = new Map(); // client_id -> resolve
    const listen = (c, role) => c.s.on('chat_message', (d) => {
      const id = d.message.client_id;
      if (!id || !id.startsWith(role === 'doc' ? 'p' : 'd')) return; // the other member's messages only
      arrived.set(id, process.hrtime.bigint());
      waiters.get(id)?.();
    });
    await pool(pairs, 16, async (p) => {
      const [d, q] = await Promise.all([sioConnected({ token: p.doc.access }, { url: sig.url }),
        sioConnected({ token: p.pat.access }, { url: sig.url })]);
      listen(d, 'doc');
      listen(q, 'pat');
      socks.push(d, q);
    });
    const delivered = [];
    const posted = [];
    const sends = [];
    const total = RATE * SECONDS;
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < total; k++) {
      const due = t0 + BigInt(Math.round((k * 1e9) / RATE));
      const now = process.hrtime.bigint();
      if (due > now) await sleep(Number(due - now) / 1e6);
      const p = pairs[k % N];
      const fromPatient = Math.floor(k / N) % 2 === 0;
      const clientId = `${fromPatient ? 'p' : 'd'}${k}`;
      const got = new Promise((r) => waiters.set(clientId, r));
      sends.push((async () => {
        const start = process.hrtime.bigint();
        expectStatus(await post(`/api/conversations/${p.conv.id}/messages`, { text: `mensagem ${k}`, client_id: clientId },
          fromPatient ? p.pat.access : p.doc.access), 201);
        posted.push(Number(process.hrtime.bigint() - start) / 1e6);
        await got;
        delivered.push(Number(arrived.get(clientId) - start) / 1e6);
      })());
    }
    await Promise.all(sends);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    delivered.sort((a, b) => a - b);
    posted.sort((a, b) => a - b);
    t.diagnostic(`chat: ${N} conversations, ${2 * N} sockets, ${total} messages at ${RATE}/s in ${s.toFixed(2)} s; `
      + `send -> delivered p50 ${pct(delivered, 50).toFixed(1)} ms, p99 ${pct(delivered, 99).toFixed(1)} ms, max ${delivered.at(-1).toFixed(1)} ms; `
      + `POST alone p50 ${pct(posted, 50).toFixed(1)} ms, p99 ${pct(posted, 99).toFixed(1)} ms`);
  } finally {
    for (const c of socks) c.s.close();
    await sig.stop();
  }
});
