// The delivery queue through an SMTP outage: N e-mail rows queued at once while the local SMTP sink (npm
// smtp-server) is down, `api-server deliver` running against its address from the start with the retry settings
// of production (DELIVERY_* as in the environment, else the defaults); after the outage the sink comes up on that
// address. Printed: the queue's depth (queued / sending / delivered / failed) every BENCH_SAMPLE_SECONDS, the
// attempts spent during the outage, and the time from the sink's return until every row is delivered (or failed).
// Figures are printed, never asserted. Run against a migrated throwaway database (it adds rows):
//   DATABASE_URL=postgresql://... API_BIN=build/api-server node --test tests/bench/delivery-outage.mjs
// Env: BENCH_OUTAGE_DELIVERIES (default 10000), BENCH_OUTAGE_SECONDS (60), BENCH_SAMPLE_SECONDS (5),
// BENCH_OUTAGE_WORKERS (sender threads of the one `deliver` process, default 2 as in `serve`).
import { spawn } from 'node:child_process';
import net from 'node:net';
import { test } from 'node:test';

import { SMTPServer } from 'smtp-server';

import { psql } from '../lib/api.mjs';

const N = Number(process.env.BENCH_OUTAGE_DELIVERIES || 10000);
const OUTAGE = Number(process.env.BENCH_OUTAGE_SECONDS || 60);
const SAMPLE = Number(process.env.BENCH_SAMPLE_SECONDS || 5);
const WORKERS = process.env.BENCH_OUTAGE_WORKERS || '2';
const KIND = 'bench_outage';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A port nobody listens on now (the sink's address while it is down).
async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

async function sinkOn(port) {
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false, disableReverseLookup: true, closeTimeout: 200,
    onData(stream, session, cb) { stream.on('data', () => {}); stream.on('end', () => cb()); },
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return () => new Promise((r) => server.close(r));
}

// {queued, sending, delivered, failed, attempts} of the bench rows now.
async function depth() {
  const [queued, sending, delivered, failed, attempts] = (await psql(`SELECT
      count(*) FILTER (WHERE status = 'queued') || ' ' || count(*) FILTER (WHERE status = 'sending') || ' ' ||
      count(*) FILTER (WHERE status = 'delivered') || ' ' || count(*) FILTER (WHERE status = 'failed') || ' ' ||
      coalesce(sum(attempts), 0)
    FROM deliveries WHERE kind = '${KIND}'`)).split(' ').map(Number);
  return { queued, sending, delivered, failed, attempts };
}

const line = (t0, d, note = '') => `delivery-outage: t=${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s `
  + `queued ${d.queued} sending ${d.sending} delivered ${d.delivered} failed ${d.failed} attempts ${d.attempts}${note}`;

test('the delivery queue through an SMTP outage', { timeout: (OUTAGE + 3600) * 1000 }, async (t) => {
  const port = await freePort();
  await psql(`INSERT INTO deliveries (channel, kind, recipient, payload)
    SELECT 'email', '${KIND}', 'p' || g || '@bench.test',
           jsonb_build_object('to_name', 'Paciente ' || g, 'subject', 'Sua teleconsulta', 'text', 'Olá, sua teleconsulta está marcada.', 'html', '<p>Olá</p>')
    FROM generate_series(1, ${N}) g`);
  const t0 = Date.now();
  const kid = spawn(process.env.API_BIN, ['deliver'], {
    env: { ...process.env, SMTP_URL: `smtp://127.0.0.1:${port}`, SMTP_FROM: 'bench@clinic.test', SMTP_STARTTLS: 'off',
      DELIVERY_WORKERS: WORKERS, LOG_LEVEL: 'error' },
    stdio: 'ignore',
  });
  let stopSink = null;
  let upAt = 0;
  let maxWait = 0;
  let printed = -Infinity;
  for (;;) {
    if (!stopSink && Date.now() - t0 >= OUTAGE * 1000) {
      const d = await depth();
      t.diagnostic(line(t0, d, ` (sink up; ${(d.attempts / N).toFixed(2)} attempts per row during the outage)`));
      maxWait = Number(await psql(`SELECT coalesce(round(extract(epoch FROM max(next_attempt_at) - now())), 0)
        FROM deliveries WHERE kind = '${KIND}' AND status = 'queued'`));
      stopSink = await sinkOn(port);
      upAt = Date.now();
    }
    const d = await depth();
    if (upAt && d.queued + d.sending === 0) {
      t.diagnostic(line(t0, d, ' (drained)'));
      t.diagnostic(`delivery-outage: ${N} e-mails, outage ${OUTAGE} s, ${WORKERS} sender(s): drained ${((Date.now() - upAt) / 1000).toFixed(1)} s `
        + `after the sink came back (the latest retry was then due in ${maxWait} s); ${d.delivered} delivered, ${d.failed} failed, `
        + `${d.attempts} attempts in all`);
      break;
    }
    if (Date.now() - printed >= SAMPLE * 1000) {
      t.diagnostic(line(t0, d));
      printed = Date.now();
    }
    await sleep(200);
  }
  await new Promise((r) => { kid.on('exit', r); kid.kill('SIGTERM'); });
  await stopSink();
  await psql(`DELETE FROM deliveries WHERE kind = '${KIND}'`);
});
