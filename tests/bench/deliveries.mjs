// Deliveries per second against a local SMTP sink (npm smtp-server, accepting everything): N e-mail rows
// queued at once, then `api-server deliver` started with one sender, then with two (two processes of one
// thread each), timed from the start until every row is delivered. Figures are printed, never asserted.
// Run against a migrated throwaway database (it adds rows):
//   DATABASE_URL=postgresql://... API_BIN=build/api-server node --test tests/bench/deliveries.mjs
// Env: BENCH_DELIVERIES (default 500).
import { spawn } from 'node:child_process';
import { test } from 'node:test';

import { SMTPServer } from 'smtp-server';

import { psql } from '../lib/api.mjs';

const N = Number(process.env.BENCH_DELIVERIES || 500);

async function sink() {
  let count = 0;
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false, disableReverseLookup: true, closeTimeout: 200,
    onData(stream, session, cb) { stream.on('data', () => {}); stream.on('end', () => { count += 1; cb(); }); },
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `smtp://127.0.0.1:${server.server.address().port}`, count: () => count, close: () => new Promise((r) => server.close(r)) };
}

async function run(t, processes, tag) {
  await psql(`INSERT INTO deliveries (channel, kind, recipient, payload)
    SELECT 'email', 'bench_${tag}', 'p' || g || '@bench.test',
           jsonb_build_object('to_name', 'Paciente ' || g, 'subject', 'Consulta confirmada', 'text', 'Olá, sua consulta está confirmada.', 'html', '<p>Olá</p>')
    FROM generate_series(1, ${N}) g`);
  const smtp = await sink();
  const t0 = process.hrtime.bigint();
  const kids = Array.from({ length: processes }, () => spawn(process.env.API_BIN, ['deliver'], {
    env: { ...process.env, SMTP_URL: smtp.url, SMTP_FROM: 'bench@clinic.test', SMTP_STARTTLS: 'off', DELIVERY_WORKERS: '1', LOG_LEVEL: 'error' }, stdio: 'ignore',
  }));
  for (;;) {
    const left = Number(await psql(`SELECT count(*) FROM deliveries WHERE kind = 'bench_${tag}' AND status <> 'delivered'`));
    if (left === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  await Promise.all(kids.map((k) => new Promise((r) => { k.on('exit', r); k.kill('SIGTERM'); })));
  await smtp.close();
  t.diagnostic(`deliveries: ${N} e-mails, ${processes} sender(s): ${s.toFixed(2)} s, ${(N / s).toFixed(0)} deliveries/s`);
}

test('deliveries per second, one and two senders', { timeout: 600000 }, async (t) => {
  await run(t, 1, 'one');
  await run(t, 2, 'two');
});
