// The events outbox delivers every committed event exactly once, none that rolled back, in a stable
// order, even though transactions commit in another order than their ids were taken: many psql
// sessions write events in interleaved transactions (some rolled back) while a client polls
// GET /api/events with its cursor.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { asAdmin, expectStatus, get, psql, uniq } from '../lib/api.mjs';

const WRITERS = 8;
const PER_WRITER = 15;

function writerScript(run, w) {
  let s = '';
  for (let i = 1; i <= PER_WRITER; i++) {
    const end = i % 5 === 0 ? 'ROLLBACK' : 'COMMIT';
    s += `BEGIN;
SELECT pg_current_xact_id();
SELECT pg_sleep(random() * 0.01);
INSERT INTO events (name, rooms, data) VALUES ('outbox_test', ARRAY['test:${run}'], '{"run": "${run}", "w": ${w}, "i": ${i}}');
SELECT pg_sleep(random() * 0.03);
${end};
`;
  }
  return s;
}

// Key of an event_id for ordering: [txid, id].
const key = (eventId) => eventId.split('-').map(BigInt);
const before = (a, b) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

async function pollAll(admin, after, run, seen) {
  let cursor = after;
  for (;;) {
    const res = await get(`/api/events?limit=200${cursor ? `&after=${cursor}` : ''}`, admin);
    expectStatus(res, 200);
    for (const e of res.body.items) if (e.data?.run === run) seen.push(e);
    if (res.body.next_cursor) cursor = res.body.next_cursor;
    if (res.body.items.length < 200) return cursor;
  }
}

test('concurrent event-writing transactions: every committed event exactly once, in a stable order', async () => {
  assert.ok(process.env.DATABASE_URL, 'DATABASE_URL is needed to write events directly');
  const admin = await asAdmin();
  const run = `r${uniq()}`;
  const start = await pollAll(admin, null, run, []);

  const seen = [];
  let done = false;
  const writers = Promise.all(Array.from({ length: WRITERS }, (_, w) => psql(writerScript(run, w)))).finally(() => {
    done = true;
  });
  let cursor = start;
  while (!done) {
    cursor = await pollAll(admin, cursor, run, seen);
    await new Promise((r) => setTimeout(r, 5));
  }
  await writers;
  await pollAll(admin, cursor, run, seen);

  const expected = [];
  for (let w = 0; w < WRITERS; w++) for (let i = 1; i <= PER_WRITER; i++) if (i % 5 !== 0) expected.push(`${w}:${i}`);
  const got = seen.map((e) => `${e.data.w}:${e.data.i}`);
  assert.equal(new Set(got).size, got.length, 'an event was delivered twice');
  assert.deepEqual([...got].sort(), [...expected].sort(), 'the delivered events are not exactly the committed ones');
  for (let k = 1; k < seen.length; k++)
    assert.ok(before(key(seen[k - 1].event_id), key(seen[k].event_id)), `out of order at ${k}`);

  // A reader starting from the same place later sees the same sequence.
  const again = [];
  await pollAll(admin, start, run, again);
  assert.deepEqual(again.map((e) => e.event_id), seen.map((e) => e.event_id));
});
