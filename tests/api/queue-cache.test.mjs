// The queue board's validators and cache (GET /api/queue, api-server/h_board.c, sql/0016): an ETag on
// every board, 304 for a matching If-None-Match, a new tag and body after every change the board shows
// (on this api-server and on a second one against the same database, read at once), tags and cached
// bodies never shared between roles, clinics, days or doctor filters, and QUEUE_CACHE_BYTES bounding
// what one api-server keeps. A board's tag also changes with the minute, so a block that expects a tag
// to hold is run again when a minute boundary fell inside it (withinOneMinute).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  asAdmin,
  completeVisit,
  createClinic,
  createPatient,
  createService,
  expectError,
  expectStatus,
  moveVisit,
  openapi,
  patch,
  pickTodayZone,
  post,
  request,
  staffSession,
  startApi,
  uniq,
  walkIn,
} from '../lib/api.mjs';

const TZ = pickTodayZone(1);

// A fresh clinic with a receptionist, two doctors, a service and three patients.
async function clinicWorld() {
  const clinic = await createClinic({ timezone: TZ });
  const [rec, doc, doc2, service] = await Promise.all([
    staffSession('RECEPTIONIST', clinic.id),
    staffSession('DOCTOR', clinic.id),
    staffSession('DOCTOR', clinic.id),
    createService(clinic.id),
  ]);
  const patients = await Promise.all([1, 2, 3].map(() => createPatient(rec.access, { full_name: `Patient ${uniq()}` })));
  return { clinic, rec, doc, doc2, service, patients, doctorId: doc.user.doctor_id, doctor2Id: doc2.user.doctor_id };
}

// GET /api/queue[?query] with token, optionally If-None-Match, on base (default: the suite's server).
function board(token, { query = '', etag, base } = {}) {
  return request('GET', `/api/queue${query ? `?${query}` : ''}`, {
    token,
    base,
    headers: etag === undefined ? {} : { 'If-None-Match': etag },
  });
}

// Asserts a 200 board with its validators; returns {etag, body, cache}.
function full(res) {
  expectStatus(res, 200);
  const etag = res.headers.get('etag');
  assert.match(etag ?? '', /^"[!#-~]+"$/, `a strong ETag on the board: ${etag}`);
  assert.equal(res.headers.get('cache-control'), 'private, no-cache');
  assert.ok(['hit', 'miss'].includes(res.headers.get('x-cache')), `X-Cache: ${res.headers.get('x-cache')}`);
  return { etag, body: res.body, cache: res.headers.get('x-cache') };
}

// Asserts a 304 without a body carrying etag.
function notModified(res, etag) {
  expectStatus(res, 304);
  assert.equal(res.text, '', '304 has no body');
  assert.equal(res.headers.get('etag'), etag);
  assert.equal(res.headers.get('cache-control'), 'private, no-cache');
}

const minuteNow = () => Math.floor(Date.now() / 60000);

// Runs block until one run starts and ends within the same minute (a board's tag holds for a minute).
async function withinOneMinute(block) {
  for (let attempt = 0; ; attempt++) {
    if (Date.now() % 60000 > 50000) await new Promise((r) => setTimeout(r, 60000 - (Date.now() % 60000) + 200));
    const start = minuteNow();
    let error = null;
    await block().catch((e) => {
      error = e;
    });
    if (minuteNow() === start || attempt === 2) {
      if (error) throw error;
      return;
    }
  }
}

// Where visit id stands on a board: its phase, or null when not listed.
function phaseOf(body, id) {
  for (const [phase, list] of Object.entries(body.phases)) if (list.some((e) => e.id === id)) return phase;
  return null;
}

describe('queue board cache', () => {
  test('board cache: openapi.yaml documents the 304 and the validators of GET /api/queue', () => {
    const op = openapi().doc.paths['/api/queue'].get;
    assert.ok(op.responses['304'], 'GET /api/queue documents 304');
    assert.ok(op.responses['200'].headers.ETag, 'the 200 documents ETag');
    assert.ok(op.parameters.some((p) => p.in === 'header' && p.name === 'If-None-Match'), 'If-None-Match is a parameter');
  });

  test('board cache: ETag and 304 for a matching If-None-Match (strong, weak, in a list, *); others get the board', async () => {
    const w = await clinicWorld();
    await walkIn(w.rec.access, { patient_id: w.patients[0].id, doctor_id: w.doctorId });
    await withinOneMinute(async () => {
      const first = full(await board(w.rec.access));
      const again = full(await board(w.rec.access));
      assert.equal(again.etag, first.etag, 'the same board, the same tag');
      assert.deepEqual(again.body, first.body, 'and the same document');
      assert.equal(again.cache, 'hit', 'the second read is served from the cache');
      notModified(await board(w.rec.access, { etag: first.etag }), first.etag);
      notModified(await board(w.rec.access, { etag: `W/${first.etag}` }), first.etag);
      notModified(await board(w.rec.access, { etag: `"other", ${first.etag}` }), first.etag);
      notModified(await board(w.rec.access, { etag: '*' }), first.etag);
      for (const other of ['"other"', first.etag.slice(0, -2) + '"', first.etag.slice(1, -1), '']) {
        const r = full(await board(w.rec.access, { etag: other }));
        assert.equal(r.etag, first.etag, `If-None-Match ${other}`);
      }
    });
    // errors stay errors whatever the header says
    const o = await clinicWorld();
    const mine = full(await board(w.rec.access)).etag;
    expectError(await board(o.rec.access, { query: `clinic_id=${w.clinic.id}`, etag: mine }), 404, 'not_found');
    expectError(await board(w.rec.access, { query: 'date=2026-13-01', etag: '*' }), 400, 'invalid_query', ['date']);
    expectError(await board(await asAdmin(), { etag: '*' }), 400, 'invalid_query', ['clinic_id']);
  });

  test('board cache: every change the board shows gives a new tag and the new board at once', async () => {
    const w = await clinicWorld();
    const admin = await asAdmin();
    const v = await walkIn(w.rec.access, { patient_id: w.patients[0].id, doctor_id: w.doctorId, service_id: w.service.id });
    let last = full(await board(w.rec.access));
    const seen = new Set([last.etag]);
    // each step changes something the board shows; the old tag must get the new board, never a 304
    const ok = async (res) => expectStatus(await res, 200);
    const steps = [
      ['a walk-in', () => walkIn(w.rec.access, { patient_id: w.patients[1].id, doctor_id: w.doctor2Id }), (b) => b.counts.waiting === 2],
      ['a call', () => ok(post(`/api/visits/${v.id}/call`, undefined, w.rec.access)), (b) => b.phases.waiting[0].status === 'called'],
      ['to the doctor', () => moveVisit(v.id, 'with_doctor', w.rec.access), (b) => phaseOf(b, v.id) === 'with_doctor'],
      ['back to waiting', () => moveVisit(v.id, 'waiting', w.rec.access), (b) => phaseOf(b, v.id) === 'waiting'],
      ['to the doctor again', () => moveVisit(v.id, 'with_doctor', w.rec.access), (b) => phaseOf(b, v.id) === 'with_doctor'],
      ['completed', () => completeVisit(v.id, w.doc.access), (b) => phaseOf(b, v.id) === 'completed'],
      ['a patient renamed', () => ok(patch(`/api/patients/${w.patients[0].id}`, { full_name: 'Renamed Patient' }, w.rec.access)),
        (b) => b.phases.completed[0].patient_name === 'Renamed Patient'],
      ['a service renamed', () => ok(patch(`/api/services/${w.service.id}`, { name: `Renamed ${uniq()}` }, admin)),
        (b) => b.phases.completed[0].service_name.startsWith('Renamed ')],
      ['a doctor renamed', () => ok(patch(`/api/users/${w.doc.id}`, { full_name: 'Dr. Renamed' }, admin)),
        (b) => b.phases.completed[0].doctor_name === 'Dr. Renamed'],
    ];
    for (const [what, change, shows] of steps) {
      await change();
      const now = full(await board(w.rec.access, { etag: last.etag }));
      assert.ok(!seen.has(now.etag), `${what}: a new tag (${now.etag})`);
      assert.ok(shows(now.body), `${what}: the board shows it: ${JSON.stringify(now.body.phases)}`);
      seen.add(now.etag);
      last = now;
    }
  });

  test('board cache: a visit moved through one api-server is seen at once by both of two api-servers', async () => {
    const w = await clinicWorld();
    const other = await startApi();
    try {
      const v = await walkIn(w.rec.access, { patient_id: w.patients[0].id, doctor_id: w.doctorId });
      const urls = [undefined, other.url];
      // both instances hold the board in their caches
      const tags = [];
      for (const base of urls) {
        full(await board(w.rec.access, { base }));
        tags.push(full(await board(w.rec.access, { base })).etag);
      }
      const phases = ['with_doctor', 'waiting', 'with_doctor', 'waiting', 'with_doctor', 'waiting'];
      for (const [i, phase] of phases.entries()) {
        const via = urls[i % 2];
        const moved = expectStatus(await request('POST', '/api/queue/phase/move', {
          token: w.rec.access, base: via, body: { visit_id: v.id, phase },
        }), 200).body;
        // read at once on both, conditionally with the tag each held and unconditionally
        const reads = await Promise.all(urls.flatMap((base, k) => [
          board(w.rec.access, { base, etag: tags[k] }),
          board(w.rec.access, { base }),
        ]));
        const got = reads.map(full);
        for (const [k, g] of got.entries()) {
          assert.equal(phaseOf(g.body, v.id), phase, `move ${i} (${phase}) read ${k}: ${JSON.stringify(g.body.phases)}`);
          assert.equal(g.body.phases[phase][0].updated_at, moved.updated_at, `move ${i} read ${k}: the moved visit as written`);
          assert.notEqual(g.etag, tags[Math.floor(k / 2)], `move ${i} read ${k}: a new tag`);
        }
        tags.splice(0, 2, got[0].etag, got[2].etag);
      }
      // once nothing moves, both instances agree on the tag and answer 304 to it
      await withinOneMinute(async () => {
        const a = full(await board(w.rec.access));
        const b = full(await board(w.rec.access, { base: other.url }));
        assert.equal(a.etag, b.etag, 'two instances give the same tag to the same board');
        assert.deepEqual(a.body, b.body, 'and the same document');
        notModified(await board(w.rec.access, { base: other.url, etag: a.etag }), a.etag);
        notModified(await board(w.rec.access, { etag: b.etag }), b.etag);
      });
    } finally {
      await other.stop();
    }
  });

  test('board cache: roles, clinics, doctor filters and days never share a tag or a cached body', async () => {
    const [w, o] = await Promise.all([clinicWorld(), clinicWorld()]);
    const admin = await asAdmin();
    await walkIn(w.rec.access, { patient_id: w.patients[0].id, doctor_id: w.doctorId });
    await walkIn(o.rec.access, { patient_id: o.patients[0].id, doctor_id: o.doctorId });
    await withinOneMinute(async () => {
      const readers = [
        ['receptionist', w.rec.access, ''],
        ['doctor', w.doc.access, ''],
        ['admin', admin, `clinic_id=${w.clinic.id}`],
        ['doctor filter', w.rec.access, `doctor_id=${w.doctorId}`],
        ['another doctor filter', w.rec.access, `doctor_id=${w.doctor2Id}`],
        ['another day', w.rec.access, 'date=2030-01-02'],
        ['another clinic', o.rec.access, ''],
      ];
      const first = [];
      for (const [what, token, query] of readers) {
        const r = full(await board(token, { query }));
        assert.equal(r.cache, 'miss', `${what}: its first read is built, not another reader's body`);
        first.push(r);
      }
      assert.equal(new Set(first.map((r) => r.etag)).size, readers.length, `one tag per reader: ${first.map((r) => r.etag)}`);
      for (const [i, [what, token, query]] of readers.entries()) {
        const again = full(await board(token, { query }));
        assert.equal(again.cache, 'hit', `${what}: its second read is its own cached body`);
        assert.deepEqual(again.body, first[i].body, `${what}: the same board`);
        notModified(await board(token, { query, etag: first[i].etag }), first[i].etag);
        // anybody else's tag is not this board's: the full board, never a 304
        for (const [j, r] of first.entries()) {
          if (j === i) continue;
          const res = await board(token, { query, etag: r.etag });
          assert.equal(res.status, 200, `${what} with the tag of ${readers[j][0]}: ${res.status}`);
        }
      }
      assert.equal(first[6].body.clinic_id, o.clinic.id);
      assert.equal(first[3].body.doctor_id, w.doctorId);
      assert.equal(first[5].body.date, '2030-01-02');
    });
  });

  test('board cache: QUEUE_CACHE_BYTES bounds the bodies one api-server keeps; 0 keeps none', async () => {
    const w = await clinicWorld();
    await walkIn(w.rec.access, { patient_id: w.patients[0].id, doctor_id: w.doctorId });
    await walkIn(w.rec.access, { patient_id: w.patients[1].id, doctor_id: w.doctor2Id });
    const queries = [`doctor_id=${w.doctorId}`, `doctor_id=${w.doctor2Id}`];
    const sizes = [];
    for (const query of queries) sizes.push(Buffer.byteLength((await board(w.rec.access, { query })).text));
    // room for one of the two boards (with the bookkeeping of an entry), never for both
    const limit = Math.max(...sizes) + 600;
    assert.ok(limit < sizes[0] + sizes[1], `test setup: ${limit} must not hold ${sizes}`);
    const [one, none] = await Promise.all([startApi({ QUEUE_CACHE_BYTES: String(limit) }), startApi({ QUEUE_CACHE_BYTES: '0' })]);
    try {
      const read = async (base, query) => full(await board(w.rec.access, { base, query })).cache;
      await withinOneMinute(async () => {
        const [a, b] = queries;
        const got = [];
        for (const q of [a, a, b, b, a, a]) got.push(await read(one.url, q));
        assert.deepEqual(got, ['miss', 'hit', 'miss', 'hit', 'miss', 'hit'], 'one board kept at a time, the last one read');
      });
      await withinOneMinute(async () => {
        const got = [];
        for (let i = 0; i < 3; i++) got.push(await read(none.url, queries[0]));
        assert.deepEqual(got, ['miss', 'miss', 'miss'], 'QUEUE_CACHE_BYTES=0 keeps nothing');
        const tag = full(await board(w.rec.access, { base: none.url, query: queries[0] })).etag;
        notModified(await board(w.rec.access, { base: none.url, query: queries[0], etag: tag }), tag);
      });
    } finally {
      await Promise.all([one.stop(), none.stop()]);
    }
  });
});
