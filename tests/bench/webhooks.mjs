// Webhooks: deliveries per second to a local node:http receiver (answering 204 to everything), N events
// inserted at once for one subscription, then `api-server deliver` with one sender and with two (two
// processes of one thread each), timed until every row is delivered; and the time from an event's
// commit to its arrival at the receiver (one event at a time, 20 ms apart, with one idle sender: p50 and
// p99 of the receiver's clock minus the clock_timestamp() written into the event). Figures are printed,
// never asserted. Run against a migrated throwaway database (it adds rows):
//   DATABASE_URL=postgresql://... API_BIN=build/api-server node --test tests/bench/webhooks.mjs
// Env: BENCH_WEBHOOKS (default 500), BENCH_WEBHOOK_LATENCY (default 200 events).
import { spawn } from 'node:child_process';
import http from 'node:http';
import { test } from 'node:test';

import { psql } from '../lib/api.mjs';

const N = Number(process.env.BENCH_WEBHOOKS || 500);
const L = Number(process.env.BENCH_WEBHOOK_LATENCY || 200);

async function receiver(onBody) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c)).on('end', () => { onBody(Buffer.concat(chunks).toString()); res.writeHead(204).end(); });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}/hook`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

function senders(n) {
  return Array.from({ length: n }, () => spawn(process.env.API_BIN, ['deliver'], {
    env: { ...process.env, WEBHOOK_SEND: '1', WEBHOOK_ALLOW_PRIVATE: '1', DELIVERY_WORKERS: '1', LOG_LEVEL: 'error' }, stdio: 'ignore',
  }));
}
const stop = (kids) => Promise.all(kids.map((k) => new Promise((r) => { k.on('exit', r); k.kill('SIGTERM'); })));

async function subscription(url, name) {
  return Number(await psql(`INSERT INTO webhook_subscriptions (url, events, secret)
    VALUES ('${url}', '{${name}}', 'whsec_bench_bench_bench_bench_bench_bench') RETURNING id`));
}

async function throughput(t, processes) {
  const rx = await receiver(() => {});
  const sub = await subscription(rx.url, 'queue_updated');
  await psql(`INSERT INTO events (name, rooms, data) SELECT 'queue_updated', '{bench:webhooks}', jsonb_build_object('n', g) FROM generate_series(1, ${N}) g`);
  const t0 = process.hrtime.bigint();
  const kids = senders(processes);
  for (;;) {
    const left = Number(await psql(`SELECT count(*) FROM deliveries WHERE channel = 'webhook' AND entity_id = ${sub} AND status <> 'delivered'`));
    if (left === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  await stop(kids);
  await psql(`DELETE FROM webhook_subscriptions WHERE id = ${sub}`);
  await rx.close();
  t.diagnostic(`webhooks: ${N} calls, ${processes} sender(s): ${s.toFixed(2)} s, ${(N / s).toFixed(0)} deliveries/s`);
}

test('webhook deliveries per second, one and two senders; commit to arrival', { timeout: 600000 }, async (t) => {
  await throughput(t, 1);
  await throughput(t, 2);

  const lat = [];
  const rx = await receiver((body) => { lat.push(Date.now() - JSON.parse(body).data.t); });
  const sub = await subscription(rx.url, 'closing_updated');
  const kids = senders(1);
  await new Promise((r) => setTimeout(r, 1000));
  for (let i = 0; i < L; i++) {
    await psql(`INSERT INTO events (name, rooms, data) VALUES ('closing_updated', '{bench:webhooks}',
      jsonb_build_object('t', (extract(epoch FROM clock_timestamp()) * 1000)::bigint))`);
    await new Promise((r) => setTimeout(r, 20));
  }
  while (lat.length < L) await new Promise((r) => setTimeout(r, 50));
  await stop(kids);
  await psql(`DELETE FROM webhook_subscriptions WHERE id = ${sub}`);
  await rx.close();
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  t.diagnostic(`webhooks: commit to arrival over ${L} events: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${lat[lat.length - 1]} ms`);
});
