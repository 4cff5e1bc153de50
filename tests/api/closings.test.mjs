// Doctor earnings, the admin revenue dashboard and the monthly closings of the doctors' pay (money
// contract, "Earnings and revenue" and "Monthly closings"). Every clinic here is in America/Sao_Paulo
// and months are that zone's: a payment settled in an earlier month is placed there by settling it
// directly in the database (pending -> paid with paid_at in that month), everything else goes through
// the API. Every expected total is computed in the test from the payments as GET /api/payments/{id}
// shows them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  addDays,
  asAdmin,
  createClinic,
  createPatient,
  createService,
  eventsEnd,
  eventsSince,
  expectError,
  expectStatus,
  get,
  listAll,
  localDate,
  moveVisit,
  patch,
  patientSession,
  post,
  psql,
  put,
  staffSession,
  uniq,
  walkIn,
} from '../lib/api.mjs';

const TZ = 'America/Sao_Paulo';
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const NOT_FOUND_ID = 2147483000;

const CLOSING_KEYS = [
  'id', 'clinic_id', 'doctor_id', 'doctor_name', 'month', 'status', 'currency', 'gross_cents', 'net_cents',
  'consultation_count', 'pix_key_type', 'pix_key', 'payment_reference', 'dispute_reason', 'created_at', 'closed_at',
  'payment_confirmed_at', 'receipt_confirmed_at', 'updated_at',
].sort();
const CLOSING_FULL_KEYS = [...CLOSING_KEYS, 'lines', 'trail'].sort();
const LINE_KEYS = ['id', 'kind', 'payment_id', 'refund_id', 'amount_cents', 'doctor_cents', 'description', 'occurred_at', 'visit_id', 'patient_name'].sort();
const TRAIL_KEYS = ['id', 'action', 'from_status', 'to_status', 'actor_user_id', 'actor_role', 'note', 'at'].sort();
const TOTAL_KEYS = ['count', 'total_cents', 'paid_cents', 'pending_cents', 'refunded_cents'];
const REVENUE_KEYS = ['currency', 'count', 'billed_cents', 'collected_cents', 'pending_cents', 'refunded_cents', 'doctor_share_cents', 'center_share_cents'];
const CSV_HEADER = 'date,payment_id,visit_id,patient,service,status,method,currency,amount_cents,doctor_share_cents,doctor_refunded_cents,paid_at';

const keys = (o) => Object.keys(o).sort();
const pick = (o, ks) => Object.fromEntries(ks.map((k) => [k, o[k]]));
const sum = (xs, f) => xs.reduce((acc, x) => acc + f(x), 0);
const replayed = (res) => res.headers.get('idempotent-replayed');
const byId = (a, b) => a.id - b.id;

// The rounding rule: the doctor's share of an amount, half up to the cent.
function share(amount, bps) {
  return Number((BigInt(amount) * BigInt(bps) + 5000n) / 10000n);
}

// --- months and instants in the clinic zone ------------------------------------------------------------------------

const today = () => localDate(TZ);
const thisMonth = () => today().slice(0, 7);
function monthAdd(month, n) {
  const [y, m] = month.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1 + n, 1)).toISOString().slice(0, 7);
}
// SQL for the instant of the wall time `YYYY-MM-DD HH:MM:SS` in the clinic zone.
const at = (wall) => `(timestamp '${wall}' AT TIME ZONE '${TZ}')`;
// SQL for the last second of a month in the clinic zone (in UTC already the next month).
const lastSecondOf = (month) => `((timestamp '${monthAdd(month, 1)}-01 00:00:00' - interval '1 second') AT TIME ZONE '${TZ}')`;

// --- fixtures ------------------------------------------------------------------------------------------------------

let adminIdPromise = null;
async function adminId() {
  if (!adminIdPromise) adminIdPromise = asAdmin().then(async (t) => expectStatus(await get('/api/auth/me', t), 200).body.id);
  return adminIdPromise;
}

// A fresh clinic in São Paulo with a receptionist, `doctors` doctors, two services (prices) and a
// clinic-wide fee rule of bps (null: none).
async function world({ doctors = 2, bps = 3333, prices = [10001, 7777], currency } = {}) {
  const clinic = await createClinic({ timezone: TZ, ...(currency ? { currency } : {}) });
  const [rec, ...docs] = await Promise.all([
    staffSession('RECEPTIONIST', clinic.id),
    ...Array.from({ length: doctors }, () => staffSession('DOCTOR', clinic.id)),
  ]);
  const services = [];
  for (const [i, price] of prices.entries()) {
    services.push(await createService(clinic.id, { name: `Consulta ${i + 1} ${uniq()}`, price_cents: price, duration_minutes: 10 }));
  }
  if (bps !== null) {
    expectStatus(await put('/api/fee-rules', { clinic_id: clinic.id, doctor_share_bps: bps }, await asAdmin()), [200, 201]);
  }
  return { clinic, rec, docs, doc: docs[0], doc2: docs[1], services, service: services[0], bps };
}

async function getPayment(id) {
  return expectStatus(await get(`/api/payments/${id}`, await asAdmin()), 200).body;
}

// A walk-in of a fresh patient (named patientName when given) with doctor for service, completed by the
// doctor: returns its one payment (pending).
async function billed(w, { doctor = w.doc, service = w.service, patientName } = {}) {
  const patient = await createPatient(w.rec.access, patientName ? { full_name: patientName } : {});
  const visit = await walkIn(w.rec.access, { patient_id: patient.id, doctor_id: doctor.user.doctor_id, service_id: service.id });
  await moveVisit(visit.id, 'with_doctor', w.rec.access);
  expectStatus(await post('/api/queue/complete-consultation', { visit_id: visit.id }, doctor.access), 200);
  const list = await listAll(`/api/payments?visit_id=${visit.id}`, await asAdmin());
  assert.equal(list.length, 1, `one payment for visit ${visit.id}: ${JSON.stringify(list)}`);
  assert.equal(list[0].status, 'pending');
  return list[0];
}

async function pay(w, id, method = 'cash') {
  return expectStatus(await post(`/api/payments/${id}/pay`, { method }, w.rec.access), 200).body;
}

async function refund(w, id, amount, reason = 'Estorno') {
  return expectStatus(await post(`/api/payments/${id}/refund`, { amount_cents: amount, reason }, w.rec.access), 200).body;
}

// Settles a pending payment in the database at the instant the SQL expression `when` gives.
async function settle(id, when, method = 'pix') {
  const out = await psql(`UPDATE payments SET status = 'paid', method = '${method}', paid_at = ${when}
                           WHERE id = ${Number(id)} AND status = 'pending' RETURNING id;`);
  assert.equal(out, String(id), `payment ${id} settled in the database`);
  return getPayment(id);
}

// The doctor's part of what was refunded of a payment (the sum of its refunds' doctor parts).
const doctorRefunded = (p) => sum(p.refunds, (r) => r.doctor_share_cents);

// --- earnings expectations -----------------------------------------------------------------------------------------

function earningsTotals(ps) {
  const settled = ps.filter((p) => p.status !== 'pending');
  return {
    count: ps.length,
    total_cents: sum(ps, (p) => p.amount_cents),
    paid_cents: sum(settled, (p) => p.doctor_share_cents - doctorRefunded(p)),
    pending_cents: sum(ps.filter((p) => p.status === 'pending'), (p) => p.doctor_share_cents),
    refunded_cents: sum(ps, doctorRefunded),
  };
}

// The clinic-local day a payment was billed.
const billingDay = (p) => localDate(TZ, Date.parse(p.created_at));
const earningsItem = (p) => ({ ...p, date: billingDay(p), doctor_refunded_cents: doctorRefunded(p) });

function expectedGroups(ps, keyOf) {
  const groups = new Map();
  for (const p of ps) {
    const k = keyOf(p);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(p);
  }
  return [...groups.entries()].map(([key, list]) => ({ key, ...earningsTotals(list) })).sort((a, b) => String(a.key).localeCompare(String(b.key)));
}

const normGroups = (groups) => groups.map((g) => ({ key: g.key, ...pick(g, TOTAL_KEYS) })).sort((a, b) => String(a.key).localeCompare(String(b.key)));

const earnings = (query, token) => get(`/api/doctors/earnings${query ? `?${query}` : ''}`, token);

// Four payments of w.doc billed today: pending, paid cash, paid pix and partly refunded, paid card and fully
// refunded; plus one paid payment of w.doc2. Returns {w, mine (as GET shows them, in billing order), theirs}.
async function earningsWorld() {
  const w = await world();
  const pend = await billed(w);
  const cash = await billed(w, { service: w.services[1] });
  const pix = await billed(w);
  const card = await billed(w, { service: w.services[1] });
  await pay(w, cash.id, 'cash');
  await pay(w, pix.id, 'pix');
  await refund(w, pix.id, 1001);
  await pay(w, card.id, 'card');
  await refund(w, card.id, 2000);
  await refund(w, card.id, card.amount_cents - 2000);
  const theirs0 = await billed(w, { doctor: w.doc2 });
  await pay(w, theirs0.id, 'cash');
  const mine = await Promise.all([pend, cash, pix, card].map((p) => getPayment(p.id)));
  assert.deepEqual(mine.map((p) => p.status), ['pending', 'paid', 'partially_refunded', 'refunded'], 'test setup');
  return { w, mine, theirs: await getPayment(theirs0.id) };
}

// --- CSV -----------------------------------------------------------------------------------------------------------

// Parses RFC 4180 CSV (CRLF records); each field is {value, quoted}.
function parseCsv(text) {
  const rows = [];
  let row = [];
  let i = 0;
  while (i < text.length) {
    let value = '';
    let quoted = false;
    if (text[i] === '"') {
      quoted = true;
      i++;
      for (;;) {
        assert.ok(i < text.length, 'unterminated quoted CSV field');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            value += '"';
            i += 2;
          } else {
            i++;
            break;
          }
        } else value += text[i++];
      }
    } else {
      while (i < text.length && text[i] !== ',' && text[i] !== '\r' && text[i] !== '\n') value += text[i++];
    }
    row.push({ value, quoted });
    if (text[i] === ',') {
      i++;
    } else {
      assert.equal(text.slice(i, i + 2), '\r\n', `CSV records end with CRLF (at ${i}: ${JSON.stringify(text.slice(i, i + 10))})`);
      i += 2;
      rows.push(row);
      row = [];
    }
  }
  assert.equal(row.length, 0, 'the CSV ends with a CRLF');
  return rows;
}

const defused = (s) => (/^[=+\-@]/.test(s) ? `'${s}` : s);

// --- revenue expectations ------------------------------------------------------------------------------------------

function revenueTotals(ps, currency) {
  const settled = ps.filter((p) => p.status !== 'pending');
  const collected = sum(settled, (p) => p.amount_cents - p.refunded_cents);
  const doctor = sum(settled, (p) => p.doctor_share_cents - doctorRefunded(p));
  return {
    currency,
    count: ps.length,
    billed_cents: sum(ps, (p) => p.amount_cents),
    collected_cents: collected,
    pending_cents: sum(ps.filter((p) => p.status === 'pending'), (p) => p.amount_cents),
    refunded_cents: sum(ps, (p) => p.refunded_cents),
    doctor_share_cents: doctor,
    center_share_cents: collected - doctor,
  };
}

const revenue = (query, token) => get(`/api/dashboard/admin/revenue?${query}`, token);

// --- closings ------------------------------------------------------------------------------------------------------

const createClosing = async (doctorId, month, token) => post('/api/closings', { doctor_id: doctorId, month }, token || (await asAdmin()));

async function newClosing(doctorId, month) {
  const c = expectStatus(await createClosing(doctorId, month), 201).body;
  assertClosing(c);
  return c;
}

const step = (id, action, body, token, headers) => post(`/api/closings/${id}/${action}`, body, token, headers ? { headers } : {});

async function stepOk(id, action, body, token, headers) {
  const res = expectStatus(await step(id, action, body, token, headers), 200);
  assertClosing(res.body);
  return res;
}

async function getClosing(id, token) {
  return expectStatus(await get(`/api/closings/${id}`, token || (await asAdmin())), 200).body;
}

// Shape and the invariants of a closing: net is the sum of the lines' doctor parts, consultation_count the
// number of payment lines.
function assertClosing(c, full = true) {
  assert.deepEqual(keys(c), full ? CLOSING_FULL_KEYS : CLOSING_KEYS, `closing keys: ${JSON.stringify(c)}`);
  assert.match(c.month, /^\d{4}-\d{2}$/);
  assert.ok(['draft', 'closed', 'payment_confirmed', 'receipt_confirmed', 'disputed'].includes(c.status), c.status);
  assert.match(c.created_at, INSTANT);
  assert.match(c.updated_at, INSTANT);
  assert.equal(c.closed_at === null, c.status === 'draft', `closed_at of a ${c.status} closing: ${c.closed_at}`);
  if (c.closed_at !== null) assert.match(c.closed_at, INSTANT);
  assert.equal(c.receipt_confirmed_at === null, c.status !== 'receipt_confirmed');
  for (const k of ['gross_cents', 'net_cents', 'consultation_count']) assert.ok(Number.isInteger(c[k]), `${k}: ${c[k]}`);
  if (!full) return;
  for (const l of c.lines) {
    assert.deepEqual(keys(l), LINE_KEYS, `line keys: ${JSON.stringify(l)}`);
    assert.match(l.occurred_at, INSTANT);
    assert.equal(typeof l.description, 'string');
    if (l.kind === 'payment') {
      assert.ok(Number.isInteger(l.payment_id) && l.refund_id === null && l.amount_cents >= 0 && l.doctor_cents >= 0, JSON.stringify(l));
    } else if (l.kind === 'refund') {
      assert.ok(Number.isInteger(l.payment_id) && Number.isInteger(l.refund_id) && l.amount_cents < 0 && l.doctor_cents <= 0, JSON.stringify(l));
    } else {
      assert.equal(l.kind, 'adjustment');
      assert.deepEqual([l.payment_id, l.refund_id, l.amount_cents], [null, null, 0], JSON.stringify(l));
      assert.notEqual(l.doctor_cents, 0);
    }
  }
  assert.equal(c.net_cents, sum(c.lines, (l) => l.doctor_cents), `net_cents is the sum of the lines' doctor_cents: ${JSON.stringify(c)}`);
  assert.equal(c.consultation_count, c.lines.filter((l) => l.kind === 'payment').length, 'consultation_count counts the payment lines');
  for (const t of c.trail) {
    assert.deepEqual(keys(t), TRAIL_KEYS, `trail keys: ${JSON.stringify(t)}`);
    assert.match(t.at, INSTANT);
  }
  assert.deepEqual(c.trail.map((t) => t.id), [...c.trail.map((t) => t.id)].sort((a, b) => a - b), 'the trail is in order');
}

const summaryOf = ({ lines, trail, ...rest }) => rest;

// The line a payment gives (fields compared).
const paymentLine = (p) => ({
  kind: 'payment', payment_id: p.id, refund_id: null, amount_cents: p.amount_cents, doctor_cents: p.doctor_share_cents,
  occurred_at: p.paid_at, visit_id: p.visit_id, patient_name: p.patient_name,
});
const refundLine = (p, r) => ({
  kind: 'refund', payment_id: p.id, refund_id: r.id, amount_cents: -r.amount_cents, doctor_cents: -r.doctor_share_cents,
  occurred_at: r.created_at, visit_id: p.visit_id, patient_name: p.patient_name,
});
const LINE_CMP = ['kind', 'payment_id', 'refund_id', 'amount_cents', 'doctor_cents', 'occurred_at', 'visit_id', 'patient_name'];
const lineOrder = (a, b) => a.kind.localeCompare(b.kind) || (a.payment_id ?? 0) - (b.payment_id ?? 0) || (a.refund_id ?? 0) - (b.refund_id ?? 0);
function assertLines(c, expected, msg = '') {
  const got = c.lines.filter((l) => l.kind !== 'adjustment').map((l) => pick(l, LINE_CMP)).sort(lineOrder);
  assert.deepEqual(got, [...expected].sort(lineOrder), `lines of closing ${c.id} ${c.month} ${msg}: ${JSON.stringify(c.lines)}`);
}

const trailRows = (c) => c.trail.map((t) => [t.action, t.from_status, t.to_status, t.actor_user_id, t.actor_role]);
const closingEvents = (events, id) => events.filter((e) => e.name === 'closing_updated' && e.data?.closing?.id === id);

// ===================================================================================================================

describe('earnings: the doctor\'s own report', () => {
  test('GET /doctors/earnings as the doctor: own payments only, each with date and doctor_refunded_cents, and the summary computed from them', async () => {
    const { w, mine } = await earningsWorld();
    const res = expectStatus(await earnings('', w.doc.access), 200);
    const body = res.body;
    assert.deepEqual(body.items, mine.map(earningsItem), 'items: the doctor\'s payments in billing order, as GET /payments/{id} shows them');
    assert.equal(body.next_cursor, null);
    assert.equal(body.groups, null, 'groups is null without group_by');
    const expected = earningsTotals(mine);
    assert.deepEqual(pick(body.summary, TOTAL_KEYS), expected, `summary: ${JSON.stringify(body.summary)}`);
    assert.equal(body.summary.currency, w.clinic.currency);
    assert.deepEqual(pick(body.summary.this_month, TOTAL_KEYS), expected, 'this month: the same payments (all billed today)');
    // cross-check the hand-computed parts: the pix one refunded 1001, the card one in full
    const [pend, cash, pix, card] = mine;
    assert.equal(doctorRefunded(pix), share(1001, w.bps));
    assert.equal(doctorRefunded(card), card.doctor_share_cents);
    assert.deepEqual(expected, {
      count: 4,
      total_cents: 10001 + 7777 + 10001 + 7777,
      paid_cents: cash.doctor_share_cents + pix.doctor_share_cents - share(1001, w.bps),
      pending_cents: pend.doctor_share_cents,
      refunded_cents: share(1001, w.bps) + card.doctor_share_cents,
    });

    // the other doctor sees only theirs
    const theirs = expectStatus(await earnings('', w.doc2.access), 200).body;
    assert.equal(theirs.items.length, 1);
    assert.equal(theirs.items[0].doctor_id, w.doc2.user.doctor_id);
    assert.equal(theirs.summary.count, 1);
  });

  test('filters start_date, end_date, status and method; this_month stays unfiltered; end before start and malformed dates 400', async () => {
    const { w, mine } = await earningsWorld();
    const t = today();
    const all = earningsTotals(mine);
    const check = async (query, expectedPayments) => {
      const body = expectStatus(await earnings(query, w.doc.access), 200).body;
      assert.deepEqual(body.items.map((i) => i.id), expectedPayments.map((p) => p.id), `items for ?${query}`);
      assert.deepEqual(pick(body.summary, TOTAL_KEYS), earningsTotals(expectedPayments), `summary for ?${query}`);
      assert.deepEqual(pick(body.summary.this_month, TOTAL_KEYS), all, `this_month for ?${query} ignores the filters`);
    };
    const [pend, cash, pix, card] = mine;
    await check(`start_date=${t}&end_date=${t}`, mine);
    await check(`start_date=${t}`, mine);
    await check(`end_date=${t}`, mine);
    await check(`start_date=${addDays(t, 1)}`, []);
    await check(`end_date=${addDays(t, -1)}`, []);
    await check(`start_date=${addDays(t, -30)}&end_date=${addDays(t, -1)}`, []);
    await check('status=pending', [pend]);
    await check('status=paid', [cash]);
    await check('status=partially_refunded', [pix]);
    await check('status=refunded', [card]);
    await check('method=cash', [cash]);
    await check('method=pix', [pix]);
    await check('method=card', [card]);
    await check('method=insurance', []);
    await check(`status=refunded&method=card&start_date=${t}&end_date=${t}`, [card]);
    await check('status=paid&method=card', []);

    expectError(await earnings(`start_date=${t}&end_date=${addDays(t, -1)}`, w.doc.access), 400, 'invalid_query');
    for (const q of ['start_date=2025-02-30', 'end_date=tomorrow', 'start_date=2025-1-01', 'status=settled', 'method=bitcoin', 'group_by=week', 'format=xml', 'limit=0']) {
      expectError(await earnings(q, w.doc.access), 400, 'invalid_query');
    }
  });

  test('group_by day, status and method: one group per key with the totals of its payments', async () => {
    const { w, mine } = await earningsWorld();
    const day = expectStatus(await earnings('group_by=day', w.doc.access), 200).body;
    assert.deepEqual(normGroups(day.groups), expectedGroups(mine, billingDay));
    assert.equal(day.groups.length, 1, 'all billed today');
    const status = expectStatus(await earnings('group_by=status', w.doc.access), 200).body;
    assert.deepEqual(normGroups(status.groups), expectedGroups(mine, (p) => p.status));
    assert.equal(status.groups.length, 4);
    const method = expectStatus(await earnings('group_by=method', w.doc.access), 200).body;
    assert.deepEqual(normGroups(method.groups), expectedGroups(mine, (p) => p.method), 'the pending payment is the group of key null');
    // groups follow the filters
    const filtered = expectStatus(await earnings('group_by=status&method=pix', w.doc.access), 200).body;
    assert.deepEqual(normGroups(filtered.groups), expectedGroups([mine[2]], (p) => p.status));
    const none = expectStatus(await earnings(`group_by=day&start_date=${addDays(today(), 1)}`, w.doc.access), 200).body;
    assert.deepEqual(none.groups, []);
  });

  test('pagination: limit=1 walks every payment once with next_cursor, the summary is of all of them on every page', async () => {
    const { w, mine } = await earningsWorld();
    const all = earningsTotals(mine);
    for (const limit of [1, 3]) {
      const seen = [];
      let cursor = null;
      for (let page = 0; page < 10; page++) {
        const body = expectStatus(await earnings(`limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, w.doc.access), 200).body;
        assert.ok(body.items.length <= limit, `page of ${body.items.length} with limit ${limit}`);
        seen.push(...body.items);
        assert.deepEqual(pick(body.summary, TOTAL_KEYS), all, 'the summary covers every filtered payment, not the page');
        cursor = body.next_cursor;
        if (!cursor) break;
        assert.equal(typeof cursor, 'string');
      }
      assert.equal(cursor, null, 'the last page has no next_cursor');
      assert.deepEqual(seen, mine.map(earningsItem), `pages of ${limit}`);
    }
    // a filter keeps applying across pages
    const first = expectStatus(await earnings('limit=1&status=refunded', w.doc.access), 200).body;
    assert.deepEqual([first.items.map((i) => i.id), first.next_cursor], [[mine[3].id], null]);
    expectError(await earnings('limit=1&cursor=not-a-cursor', w.doc.access), 400, 'invalid_query');
  });

  test('format=csv: attachment, exact header, CRLF records, text fields quoted, a leading = + - @ defused with a quote', async () => {
    const w = await world();
    const names = ['=HYPERLINK("x")', 'Silva, "Zé" Júnior', '+55 Ana', '@Bia Costa', '-Carlos Lima'];
    const service = await createService(w.clinic.id, { name: `Consulta, retorno ${uniq()}`, price_cents: 4321, duration_minutes: 10 });
    const ps = [];
    for (const name of names) ps.push(await billed(w, { patientName: name, service: ps.length % 2 ? service : w.service }));
    await pay(w, ps[1].id, 'pix');
    await pay(w, ps[2].id, 'card');
    await refund(w, ps[2].id, 321, 'Parcial');
    const mine = await Promise.all(ps.map((p) => getPayment(p.id)));
    assert.deepEqual(mine.map((p) => p.patient_name), names, 'test setup: the names are stored as given');

    const res = expectStatus(await earnings('format=csv', w.doc.access), 200);
    assert.match(res.headers.get('content-type') || '', /^text\/csv/);
    assert.match(res.headers.get('content-disposition') || '', /^attachment/);
    const text = res.text;
    assert.ok(text.startsWith(`${CSV_HEADER}\r\n`), `header: ${JSON.stringify(text.slice(0, 200))}`);
    assert.ok(!/[^\r]\n/.test(text), 'every line ends with CRLF');
    assert.ok(text.includes(`"'=HYPERLINK(""x"")"`), `the formula is defused and its quotes doubled: ${text}`);
    const rows = parseCsv(text);
    assert.deepEqual(rows[0].map((f) => f.value), CSV_HEADER.split(','));
    const data = rows.slice(1);
    assert.equal(data.length, mine.length, text);
    for (const [i, p] of mine.entries()) {
      const r = data[i];
      assert.deepEqual(r.map((f) => f.value), [
        billingDay(p), String(p.id), String(p.visit_id), defused(p.patient_name), p.service_name, p.status, p.method ?? '', p.currency,
        String(p.amount_cents), String(p.doctor_share_cents), String(doctorRefunded(p)), p.paid_at ?? '',
      ], `row ${i}: ${JSON.stringify(r)}`);
      assert.ok(r[3].quoted && r[4].quoted, `patient and service are quoted: ${JSON.stringify(r)}`);
    }
    // filters apply to the export too, and an empty export is the header alone
    const paid = expectStatus(await earnings('format=csv&status=partially_refunded', w.doc.access), 200);
    assert.deepEqual(parseCsv(paid.text).slice(1).map((r) => r[1].value), [String(mine[2].id)]);
    const empty = expectStatus(await earnings(`format=csv&start_date=${addDays(today(), 1)}`, w.doc.access), 200);
    assert.equal(empty.text, `${CSV_HEADER}\r\n`);
    // the admin's export of the doctor is the same
    const byAdmin = expectStatus(await earnings(`format=csv&doctor_id=${w.doc.user.doctor_id}`, await asAdmin()), 200);
    assert.equal(byAdmin.text, text);
  });
});

describe('earnings: who may read them', () => {
  test('ADMIN needs doctor_id (400 invalid_query without); a doctor asking for another doctor_id 403; RECEPTIONIST and PATIENT 403', async () => {
    const { w, mine } = await earningsWorld();
    const admin = await asAdmin();
    const d1 = w.doc.user.doctor_id;
    const byAdmin = expectStatus(await earnings(`doctor_id=${d1}`, admin), 200).body;
    const byDoctor = expectStatus(await earnings('', w.doc.access), 200).body;
    assert.deepEqual(byAdmin, byDoctor, 'the admin sees the doctor\'s report as the doctor does');
    assert.deepEqual(byAdmin.items.map((i) => i.id), mine.map((p) => p.id));
    expectError(await earnings('', admin), 400, 'invalid_query');
    expectError(await earnings('status=paid', admin), 400, 'invalid_query');
    // the doctor naming themself is fine, naming another is not
    assert.deepEqual(expectStatus(await earnings(`doctor_id=${d1}`, w.doc.access), 200).body, byDoctor);
    expectError(await earnings(`doctor_id=${w.doc2.user.doctor_id}`, w.doc.access), 403, 'forbidden');
    expectError(await earnings(`doctor_id=${w.doc2.user.doctor_id}&format=csv`, w.doc.access), 403, 'forbidden');
    const pat = await patientSession(w.clinic.id);
    for (const token of [w.rec.access, pat.access]) {
      expectError(await earnings('', token), 403, 'forbidden');
      expectError(await earnings(`doctor_id=${d1}`, token), 403, 'forbidden');
      expectError(await earnings(`doctor_id=${d1}&format=csv`, token), 403, 'forbidden');
    }
  });

  test('GET /dashboard/doctor/stats revenue_today: the doctor\'s payments billed today', async () => {
    const { w, mine, theirs } = await earningsWorld();
    const stats = expectStatus(await get('/api/dashboard/doctor/stats', w.doc.access), 200).body;
    assert.deepEqual(stats.revenue_today, { currency: w.clinic.currency, ...earningsTotals(mine) });
    const stats2 = expectStatus(await get('/api/dashboard/doctor/stats', w.doc2.access), 200).body;
    assert.deepEqual(stats2.revenue_today, { currency: w.clinic.currency, ...earningsTotals([theirs]) });
    const w3 = await world({ currency: 'EUR' });
    const fresh = expectStatus(await get('/api/dashboard/doctor/stats', w3.doc.access), 200).body;
    assert.deepEqual(fresh.revenue_today, { currency: 'EUR', count: 0, total_cents: 0, paid_cents: 0, pending_cents: 0, refunded_cents: 0 });
  });
});

// ===================================================================================================================

describe('revenue: admin dashboard', () => {
  test('group_by doctor, day and clinic: summary and groups are the sums of the clinic\'s payments', async () => {
    const w = await world();
    const p1 = await billed(w);
    const p2 = await billed(w, { service: w.services[1] });
    const p3 = await billed(w);
    const q1 = await billed(w, { doctor: w.doc2 });
    const q2 = await billed(w, { doctor: w.doc2, service: w.services[1] });
    await pay(w, p2.id, 'cash');
    await pay(w, p3.id, 'pix');
    await refund(w, p3.id, 2345);
    await pay(w, q1.id, 'card');
    await refund(w, q1.id, q1.amount_cents);
    const mine = await Promise.all([p1, p2, p3].map((p) => getPayment(p.id)));
    const theirs = await Promise.all([q1, q2].map((p) => getPayment(p.id)));
    const all = [...mine, ...theirs];
    // another clinic, in euros: never in this clinic's figures
    const other = await world({ currency: 'EUR', prices: [999] });
    const o1 = await billed(other);
    await pay(other, o1.id, 'cash');
    const cur = w.clinic.currency;
    const t = today();
    const admin = await asAdmin();

    const byDoctor = expectStatus(await revenue(`from=${t}&to=${t}&group_by=doctor&clinic_id=${w.clinic.id}`, admin), 200).body;
    assert.deepEqual([byDoctor.from, byDoctor.to, byDoctor.group_by], [t, t, 'doctor']);
    assert.deepEqual(byDoctor.summary.map((s) => pick(s, REVENUE_KEYS)), [revenueTotals(all, cur)]);
    const docGroups = [...byDoctor.groups].sort((a, b) => String(a.key).localeCompare(String(b.key)));
    const expectedDoc = [
      { key: String(w.doc.user.doctor_id), label: w.doc.user.full_name, ...revenueTotals(mine, cur) },
      { key: String(w.doc2.user.doctor_id), label: w.doc2.user.full_name, ...revenueTotals(theirs, cur) },
    ].sort((a, b) => a.key.localeCompare(b.key));
    assert.deepEqual(docGroups.map((g) => ({ key: String(g.key), label: g.label, ...pick(g, REVENUE_KEYS) })), expectedDoc);

    const byDay = expectStatus(await revenue(`from=${addDays(t, -3)}&to=${t}&group_by=day&clinic_id=${w.clinic.id}`, admin), 200).body;
    assert.deepEqual(byDay.groups.map((g) => ({ key: String(g.key), ...pick(g, REVENUE_KEYS) })), [{ key: t, ...revenueTotals(all, cur) }]);
    assert.deepEqual(byDay.summary.map((s) => pick(s, REVENUE_KEYS)), [revenueTotals(all, cur)]);

    const byClinic = expectStatus(await revenue(`from=${t}&to=${t}&group_by=clinic&clinic_id=${w.clinic.id}`, admin), 200).body;
    assert.deepEqual(byClinic.groups.map((g) => ({ key: String(g.key), label: g.label, ...pick(g, REVENUE_KEYS) })),
      [{ key: String(w.clinic.id), label: w.clinic.name, ...revenueTotals(all, cur) }]);

    // without clinic_id, this clinic's group and the other clinic's are still exactly theirs
    const everyone = expectStatus(await revenue(`from=${t}&to=${t}&group_by=clinic`, admin), 200).body;
    const ours = everyone.groups.filter((g) => String(g.key) === String(w.clinic.id));
    assert.deepEqual(ours.map((g) => pick(g, REVENUE_KEYS)), [revenueTotals(all, cur)]);
    const theirsClinic = everyone.groups.filter((g) => String(g.key) === String(other.clinic.id));
    assert.deepEqual(theirsClinic.map((g) => pick(g, REVENUE_KEYS)), [revenueTotals([await getPayment(o1.id)], 'EUR')]);
    // the groups add up to the summary, per currency
    for (const s of everyone.summary) {
      const gs = everyone.groups.filter((g) => g.currency === s.currency);
      for (const k of REVENUE_KEYS.filter((x) => x !== 'currency')) assert.equal(sum(gs, (g) => g[k]), s[k], `${s.currency} ${k}`);
    }

    // days before: nothing
    const before = expectStatus(await revenue(`from=${addDays(t, -10)}&to=${addDays(t, -1)}&group_by=doctor&clinic_id=${w.clinic.id}`, admin), 200).body;
    assert.deepEqual([before.summary, before.groups], [[], []]);
  });

  test('from and to required, not reversed, at most 366 days (400 invalid_query); non-admins 403', async () => {
    const w = await world({ bps: null });
    const admin = await asAdmin();
    const t = today();
    const bad = [
      `to=${t}`,
      `from=${t}`,
      '',
      `from=${t}&to=${addDays(t, -1)}`,
      `from=${addDays(t, -367)}&to=${t}`,
      'from=2024-01-01&to=2025-01-02',
      'from=2025-02-30&to=2025-03-01',
      `from=${t}&to=${t}&group_by=week`,
      `from=${t}&to=${t}&clinic_id=abc`,
    ];
    for (const q of bad) expectError(await revenue(q, admin), 400, 'invalid_query');
    expectStatus(await revenue('from=2024-01-01&to=2025-01-01', admin), 200); // 366 days
    expectStatus(await revenue(`from=${addDays(t, -366)}&to=${t}&clinic_id=${w.clinic.id}`, admin), 200);
    expectStatus(await revenue(`from=${t}&to=${t}`, admin), 200);
    const pat = await patientSession(w.clinic.id);
    for (const token of [w.rec.access, w.doc.access, pat.access]) {
      expectError(await revenue(`from=${t}&to=${t}`, token), 403, 'forbidden');
      expectError(await revenue(`from=${t}&to=${t}&clinic_id=${w.clinic.id}&group_by=doctor`, token), 403, 'forbidden');
    }
  });
});

// ===================================================================================================================

describe('closings: creation', () => {
  test('POST /closings for last month: the payments settled in it (clinic zone) and in no closing, exact lines and totals; 409 on a second', async () => {
    const w = await world();
    const d = w.doc.user.doctor_id;
    const M = thisMonth();
    const M1 = monthAdd(M, -1);
    const M2 = monthAdd(M, -2);
    const a = await billed(w);
    const b = await billed(w, { service: w.services[1] });
    const c = await billed(w);
    const early = await billed(w, { service: w.services[1] });
    const pending = await billed(w);
    const now = await billed(w);
    const other = await billed(w, { doctor: w.doc2 });
    const A = await settle(a.id, at(`${M1}-15 12:00:00`), 'pix');
    const B = await settle(b.id, at(`${M1}-01 00:00:00`), 'cash'); // the month's first local instant
    const C = await settle(c.id, lastSecondOf(M1), 'card'); // its last one: in UTC the next month already
    const E = await settle(early.id, lastSecondOf(M2), 'pix'); // the month before, in UTC this one
    const O = await settle(other.id, at(`${M1}-10 10:00:00`), 'cash');
    const N = await pay(w, now.id, 'cash');
    assert.equal(C.paid_at.slice(0, 7), M, `test setup: ${C.paid_at} is in ${M} in UTC`);
    assert.equal(E.paid_at.slice(0, 7), M1, `test setup: ${E.paid_at} is in ${M1} in UTC`);

    const admin = await asAdmin();
    const me = await adminId();
    const res = expectStatus(await createClosing(d, M1), 201);
    const c1 = res.body;
    assertClosing(c1);
    assert.deepEqual(
      pick(c1, ['clinic_id', 'doctor_id', 'doctor_name', 'month', 'status', 'currency', 'pix_key_type', 'pix_key', 'payment_reference',
        'dispute_reason', 'closed_at', 'payment_confirmed_at', 'receipt_confirmed_at']),
      {
        clinic_id: w.clinic.id, doctor_id: d, doctor_name: w.doc.user.full_name, month: M1, status: 'draft', currency: w.clinic.currency,
        pix_key_type: null, pix_key: null, payment_reference: null, dispute_reason: null, closed_at: null, payment_confirmed_at: null,
        receipt_confirmed_at: null,
      },
    );
    // E, settled the month before and in no closing yet, is not left behind: it is taken too
    assertLines(c1, [A, B, C, E].map(paymentLine));
    assert.equal(c1.lines.length, 4);
    assert.deepEqual([c1.gross_cents, c1.net_cents, c1.consultation_count], [
      A.amount_cents + B.amount_cents + C.amount_cents + E.amount_cents,
      A.doctor_share_cents + B.doctor_share_cents + C.doctor_share_cents + E.doctor_share_cents,
      4,
    ]);
    assert.deepEqual([c1.gross_cents, c1.net_cents], [10001 + 7777 + 10001 + 7777, 2 * share(10001, 3333) + 2 * share(7777, 3333)]);
    assert.deepEqual(trailRows(c1), [['create', null, 'draft', me, 'ADMIN']]);
    assert.deepEqual(await getClosing(c1.id), c1, 'GET /closings/{id} is the created closing');
    assert.deepEqual(await getClosing(c1.id, w.doc.access), c1, 'the doctor reads the same');

    // a second one for the doctor and month: 409, nothing changes
    expectError(await createClosing(d, M1, admin), 409, 'conflict');
    assert.deepEqual(await getClosing(c1.id), c1);
    const listed = await listAll(`/api/closings?doctor_id=${d}&month=${M1}`, admin);
    assert.deepEqual(listed.map((x) => x.id), [c1.id]);

    // the month before, opened later, finds nothing left; this month takes its own; the other doctor's month only theirs
    const c2 = await newClosing(d, M2);
    assertLines(c2, []);
    assert.deepEqual([c2.gross_cents, c2.net_cents, c2.consultation_count], [0, 0, 0]);
    const c0 = await newClosing(d, M);
    assertLines(c0, [paymentLine(N)]);
    assert.deepEqual([c0.gross_cents, c0.net_cents, c0.consultation_count], [N.amount_cents, N.doctor_share_cents, 1]);
    const o1 = await newClosing(w.doc2.user.doctor_id, M1);
    assertLines(o1, [paymentLine(O)]);
    // a payment is never in two closings, and a pending one in none
    const paymentIds = [c1, c2, c0, o1].flatMap((x) => x.lines.map((l) => l.payment_id));
    assert.equal(new Set(paymentIds).size, paymentIds.length, `payment lines: ${paymentIds}`);
    assert.ok(!paymentIds.includes(pending.id));
    // nor does re-reading or a later closing take them again
    assert.deepEqual(await getClosing(c1.id), c1);
  });

  test('a payment settled in a month after that month was closed rolls into the next closing', async () => {
    const w = await world();
    const d = w.doc.user.doctor_id;
    const M = thisMonth();
    const M1 = monthAdd(M, -1);
    const [a, late] = await Promise.all([billed(w), billed(w, { service: w.services[1] })]);
    const A = await settle(a.id, at(`${M1}-10 10:00:00`), 'pix');
    const c1 = await newClosing(d, M1);
    expectStatus(await post(`/api/closings/${c1.id}/close`, undefined, await asAdmin()), 200);
    // settled afterwards, but dated in the closed month
    const L = await settle(late.id, at(`${M1}-20 10:00:00`), 'cash');
    const closed = await getClosing(c1.id);
    assertLines(closed, [paymentLine(A)]);
    const c0 = await newClosing(d, M);
    assertLines(c0, [paymentLine(L)]);
    assert.deepEqual([c0.gross_cents, c0.net_cents, c0.consultation_count], [L.amount_cents, L.doctor_share_cents, 1]);
  });

  test('a payment is in one closing only: the earlier month first, then the later; a later month takes what an earlier one left; an empty one', async () => {
    const w = await world();
    const d = w.doc.user.doctor_id;
    const M1 = monthAdd(thisMonth(), -1);
    const M2 = monthAdd(thisMonth(), -2);
    const M3 = monthAdd(thisMonth(), -3);
    const p = [];
    for (let i = 0; i < 4; i++) p.push(await billed(w, { service: w.services[i % 2] }));
    const P0 = await settle(p[0].id, at(`${M1}-02 08:00:00`));
    const P1 = await settle(p[1].id, at(`${M2}-28 18:30:00`));
    const P2 = await settle(p[2].id, at(`${M1}-20 08:00:00`), 'card');
    const P3 = await settle(p[3].id, at(`${M2}-03 09:00:00`), 'cash');
    // the earlier month first: each takes its own
    const c2 = await newClosing(d, M2);
    const c1 = await newClosing(d, M1);
    assertLines(c1, [P0, P2].map(paymentLine));
    assertLines(c2, [P1, P3].map(paymentLine));
    assert.deepEqual([c2.gross_cents, c2.net_cents, c2.consultation_count], [P1.amount_cents + P3.amount_cents, P1.doctor_share_cents + P3.doctor_share_cents, 2]);
    const c3 = await newClosing(d, M3);
    assert.deepEqual([c3.lines, c3.gross_cents, c3.net_cents, c3.consultation_count], [[], 0, 0, 0], 'a month without payments: an empty closing');
    // closing both keeps them apart (close re-collects only what is due)
    const k1 = (await stepOk(c1.id, 'close', undefined, await asAdmin())).body;
    const k2 = (await stepOk(c2.id, 'close', undefined, await asAdmin())).body;
    assertLines(k1, [P0, P2].map(paymentLine));
    assertLines(k2, [P1, P3].map(paymentLine));

    // the later month opened first takes the earlier month's payments too (none is left behind) and
    // the earlier month, opened afterwards, finds nothing
    const w2 = await world();
    const d2 = w2.doc.user.doctor_id;
    const [q0, q1] = [await billed(w2), await billed(w2)];
    const Q0 = await settle(q0.id, at(`${M1}-05 08:00:00`));
    const Q1 = await settle(q1.id, at(`${M2}-05 08:00:00`));
    const later = await newClosing(d2, M1);
    assertLines(later, [Q0, Q1].map(paymentLine));
    const earlier = await newClosing(d2, M2);
    assertLines(earlier, []);
  });

  test('month malformed or not begun in the clinic zone, unknown doctor: 422 naming the field, nothing created', async () => {
    const w = await world({ bps: null });
    const d = w.doc.user.doctor_id;
    const admin = await asAdmin();
    const M = thisMonth();
    for (const month of ['2025-13', '2025-00', '2025-1', '202501', '25-01', 'abcd-ef', '2025-01-01', '', 'YYYY-MM', '2025/01', 202501, null]) {
      expectError(await post('/api/closings', { doctor_id: d, month }, admin), 422, 'validation_failed', ['month']);
    }
    expectError(await post('/api/closings', { doctor_id: d }, admin), 422, 'validation_failed', ['month']);
    for (const month of [monthAdd(M, 1), monthAdd(M, 13), '2999-12']) {
      expectError(await post('/api/closings', { doctor_id: d, month }, admin), 422, 'validation_failed', ['month']);
    }
    expectError(await post('/api/closings', { doctor_id: NOT_FOUND_ID, month: monthAdd(M, -1) }, admin), 422, 'validation_failed', ['doctor_id']);
    expectError(await post('/api/closings', { month: monthAdd(M, -1) }, admin), 422, 'validation_failed', ['doctor_id']);
    assert.deepEqual(await listAll(`/api/closings?doctor_id=${d}`, admin), [], 'nothing was created');
    // the current month has begun: it can be opened
    const c = await newClosing(d, M);
    assert.equal(c.month, M);
  });
});

describe('closings: workflow', () => {
  test('draft -> close -> confirm-payment -> dispute -> adjustments -> close -> confirm-payment -> confirm-receipt: PIX snapshot, frozen totals, trail and closing_updated events', async () => {
    const w = await world();
    const d = w.doc.user.doctor_id;
    const docUser = w.doc.id;
    const admin = await asAdmin();
    const me = await adminId();
    const M1 = monthAdd(thisMonth(), -1);
    const p1 = await billed(w);
    const p2 = await billed(w, { service: w.services[1] });
    const late = await billed(w);
    const later = await billed(w, { service: w.services[1] });
    const P1 = await settle(p1.id, at(`${M1}-05 10:00:00`));
    const P2 = await settle(p2.id, at(`${M1}-20 16:00:00`), 'card');
    expectStatus(await patch('/api/doctors/me', { pix_key_type: 'cpf', pix_key: '529.982.247-25', current_password: w.doc.password }, w.doc.access), 200);
    const start = await eventsEnd(w.doc.access);

    const draft = await newClosing(d, M1);
    const id = draft.id;
    assertLines(draft, [P1, P2].map(paymentLine));
    const refused = async (action, body, token) => {
      const before = await getClosing(id);
      expectError(await step(id, action, body, token), 409, 'conflict');
      assert.deepEqual(await getClosing(id), before, `a refused ${action} changes nothing`);
    };
    await refused('confirm-receipt', undefined, w.doc.access);
    await refused('dispute', { reason: 'Antes da hora' }, w.doc.access);
    await refused('confirm-payment', { reference: 'TOO-EARLY' }, admin);

    // a payment settled in the month after the draft was opened is collected when it is closed
    const LATE = await settle(late.id, at(`${M1}-25 09:00:00`));
    const closed = (await stepOk(id, 'close', undefined, admin)).body;
    assert.equal(closed.status, 'closed');
    assert.match(closed.closed_at, INSTANT);
    assert.deepEqual([closed.pix_key_type, closed.pix_key], ['cpf', '*******4725'], 'the PIX key is snapshotted, masked');
    assertLines(closed, [P1, P2, LATE].map(paymentLine));
    assert.deepEqual([closed.gross_cents, closed.net_cents, closed.consultation_count], [
      P1.amount_cents + P2.amount_cents + LATE.amount_cents, P1.doctor_share_cents + P2.doctor_share_cents + LATE.doctor_share_cents, 3]);
    assert.deepEqual(trailRows(closed).at(-1), ['close', 'draft', 'closed', me, 'ADMIN']);

    await refused('close', undefined, admin);
    await refused('dispute', { reason: 'Cedo demais' }, w.doc.access);
    await refused('adjustments', { amount_cents: 100, reason: 'Ajuste' }, admin);
    await refused('confirm-receipt', undefined, w.doc.access);

    // frozen: a new key and a newly settled payment of the month do not touch the closed closing;
    // the key change is written to its trail
    expectStatus(await patch('/api/doctors/me', { pix_key_type: 'email', pix_key: 'doc.pix@example.com', current_password: w.doc.password }, w.doc.access), 200);
    const LATER = await settle(later.id, at(`${M1}-26 11:00:00`), 'cash');
    const frozen = await getClosing(id);
    assert.deepEqual(trailRows(frozen).at(-1), ['pix_key_changed', 'closed', 'closed', docUser, 'DOCTOR']);
    assert.deepEqual({ ...frozen, trail: closed.trail }, closed, 'a closed closing keeps its lines, totals and PIX key');

    const paid = (await stepOk(id, 'confirm-payment', { reference: 'E2E-REF-0001' }, admin)).body;
    assert.deepEqual([paid.status, paid.payment_reference], ['payment_confirmed', 'E2E-REF-0001']);
    assert.match(paid.payment_confirmed_at, INSTANT);
    assert.deepEqual(pick(paid, ['gross_cents', 'net_cents', 'consultation_count', 'pix_key_type', 'pix_key', 'lines']),
      pick(closed, ['gross_cents', 'net_cents', 'consultation_count', 'pix_key_type', 'pix_key', 'lines']));
    assert.deepEqual(trailRows(paid).at(-1), ['confirm_payment', 'closed', 'payment_confirmed', me, 'ADMIN']);
    await refused('close', undefined, admin);
    await refused('adjustments', { amount_cents: 100, reason: 'Ajuste' }, admin);
    await refused('confirm-payment', { reference: 'AGAIN' }, admin);

    const disputed = (await stepOk(id, 'dispute', { reason: 'Faltou a consulta do dia 26' }, w.doc.access)).body;
    assert.deepEqual([disputed.status, disputed.dispute_reason], ['disputed', 'Faltou a consulta do dia 26']);
    assert.deepEqual(trailRows(disputed).at(-1), ['dispute', 'payment_confirmed', 'disputed', docUser, 'DOCTOR']);
    assert.deepEqual(await getClosing(id, w.doc.access), disputed);
    await refused('confirm-receipt', undefined, w.doc.access);
    await refused('confirm-payment', { reference: 'WHILE-DISPUTED' }, admin);
    await refused('dispute', { reason: 'De novo' }, w.doc.access);

    const adj = (await stepOk(id, 'adjustments', { amount_cents: 2500, reason: 'Consulta do dia 26 em dinheiro' }, admin)).body;
    assert.equal(adj.status, 'disputed');
    const adjLines = adj.lines.filter((l) => l.kind === 'adjustment');
    assert.deepEqual(adjLines.map((l) => pick(l, ['amount_cents', 'doctor_cents', 'payment_id', 'refund_id'])),
      [{ amount_cents: 0, doctor_cents: 2500, payment_id: null, refund_id: null }]);
    assert.deepEqual([adj.gross_cents, adj.net_cents], [closed.gross_cents, closed.net_cents + 2500]);
    assert.deepEqual(trailRows(adj).at(-1), ['adjust', 'disputed', 'disputed', me, 'ADMIN']);
    const adj2 = (await stepOk(id, 'adjustments', { amount_cents: -300, reason: 'Taxa bancária' }, admin)).body;
    assert.deepEqual([adj2.gross_cents, adj2.net_cents], [closed.gross_cents, closed.net_cents + 2200]);
    for (const body of [{ amount_cents: 0, reason: 'Nada' }, { amount_cents: 100 }, { amount_cents: 100, reason: '' }, { amount_cents: 'x', reason: 'r' }, { reason: 'r' }]) {
      const before = await getClosing(id);
      expectError(await step(id, 'adjustments', body, admin), 422, 'validation_failed');
      assert.deepEqual(await getClosing(id), before);
    }

    // closed again: re-collects what became due (the payment settled meanwhile), snapshots the key again
    const reclosed = (await stepOk(id, 'close', undefined, admin)).body;
    assert.equal(reclosed.status, 'closed');
    assertLines(reclosed, [P1, P2, LATE, LATER].map(paymentLine));
    assert.equal(reclosed.lines.filter((l) => l.kind === 'adjustment').length, 2);
    assert.deepEqual([reclosed.gross_cents, reclosed.net_cents, reclosed.consultation_count],
      [closed.gross_cents + LATER.amount_cents, closed.net_cents + 2200 + LATER.doctor_share_cents, 4]);
    assert.deepEqual([reclosed.pix_key_type, reclosed.pix_key], ['email', `${'*'.repeat('doc.pix@example.com'.length - 4)}.com`]);
    assert.deepEqual(trailRows(reclosed).at(-1), ['close', 'disputed', 'closed', me, 'ADMIN']);

    const paid2 = (await stepOk(id, 'confirm-payment', { reference: 'E2E-REF-0002' }, admin)).body;
    assert.deepEqual([paid2.status, paid2.payment_reference], ['payment_confirmed', 'E2E-REF-0002']);
    const done = (await stepOk(id, 'confirm-receipt', undefined, w.doc.access)).body;
    assert.equal(done.status, 'receipt_confirmed');
    assert.match(done.receipt_confirmed_at, INSTANT);
    assert.deepEqual(pick(done, ['gross_cents', 'net_cents', 'consultation_count', 'lines']), pick(reclosed, ['gross_cents', 'net_cents', 'consultation_count', 'lines']));
    for (const [action, body, token] of [
      ['close', undefined, admin], ['adjustments', { amount_cents: 1, reason: 'x' }, admin], ['confirm-payment', { reference: 'x' }, admin],
      ['dispute', { reason: 'x' }, w.doc.access], ['confirm-receipt', undefined, w.doc.access],
    ]) await refused(action, body, token);

    const expectedTrail = [
      ['create', null, 'draft', me, 'ADMIN'],
      ['close', 'draft', 'closed', me, 'ADMIN'],
      ['pix_key_changed', 'closed', 'closed', docUser, 'DOCTOR'],
      ['confirm_payment', 'closed', 'payment_confirmed', me, 'ADMIN'],
      ['dispute', 'payment_confirmed', 'disputed', docUser, 'DOCTOR'],
      ['adjust', 'disputed', 'disputed', me, 'ADMIN'],
      ['adjust', 'disputed', 'disputed', me, 'ADMIN'],
      ['close', 'disputed', 'closed', me, 'ADMIN'],
      ['confirm_payment', 'closed', 'payment_confirmed', me, 'ADMIN'],
      ['confirm_receipt', 'payment_confirmed', 'receipt_confirmed', docUser, 'DOCTOR'],
    ];
    const final = await getClosing(id);
    assert.deepEqual(trailRows(final), expectedTrail);
    assert.deepEqual(final, done);
    assert.deepEqual(await getClosing(id, w.doc.access), done);

    // one closing_updated per step to the doctor, with the summary as it was then and the action
    const events = closingEvents((await eventsSince(w.doc.access, start, expectedTrail.length)).items, id);
    assert.deepEqual(events.map((e) => [e.data.action, e.data.closing.status]), expectedTrail.map((t) => [t[0], t[2]]),
      `closing_updated events: ${JSON.stringify(events.map((e) => e.data))}`);
    for (const e of events) {
      assert.deepEqual(keys(e.data), ['action', 'closing']);
      assertClosing(e.data.closing, false);
    }
    assert.deepEqual(events.at(-1).data.closing, summaryOf(done));
    assert.equal(events[1].data.closing.net_cents, closed.net_cents);
    // another doctor of the clinic hears nothing of it
    const other = (await eventsSince(w.doc2.access, null)).items;
    assert.equal(closingEvents(other, id).length, 0);
  });

  test('adjustments on a draft count in its net; the closed totals are what close froze', async () => {
    const w = await world();
    const d = w.doc.user.doctor_id;
    const admin = await asAdmin();
    const M1 = monthAdd(thisMonth(), -1);
    const P = await settle((await billed(w)).id, at(`${M1}-12 12:00:00`));
    const c = await newClosing(d, M1);
    const a = (await stepOk(c.id, 'adjustments', { amount_cents: -1234, reason: 'Adiantamento' }, admin)).body;
    assert.deepEqual([a.status, a.gross_cents, a.net_cents], ['draft', P.amount_cents, P.doctor_share_cents - 1234]);
    assert.deepEqual(trailRows(a).at(-1), ['adjust', 'draft', 'draft', await adminId(), 'ADMIN']);
    const closed = (await stepOk(c.id, 'close', undefined, admin)).body;
    assert.deepEqual([closed.gross_cents, closed.net_cents, closed.consultation_count], [P.amount_cents, P.doctor_share_cents - 1234, 1]);
    assert.deepEqual([closed.pix_key_type, closed.pix_key], [null, null], 'no PIX key to snapshot');
    expectError(await step(c.id, 'adjustments', { amount_cents: 5, reason: 'Tarde' }, admin), 409, 'conflict');
    assert.deepEqual(await getClosing(c.id), closed);
  });

  test('a refund after the month was closed lands in the next closing as a negative refund line; the closed one never changes', async () => {
    const w = await world();
    const d = w.doc.user.doctor_id;
    const admin = await asAdmin();
    const M = thisMonth();
    const M1 = monthAdd(M, -1);
    const M2 = monthAdd(M, -2);
    const p = await billed(w);
    const q = await billed(w, { service: w.services[1] });
    const r = await billed(w, { service: w.services[1] });
    await settle(p.id, at(`${M1}-10 15:00:00`), 'card');
    await pay(w, q.id, 'pix'); // this month
    await settle(r.id, at(`${M2}-10 15:00:00`), 'cash'); // a month nobody closed: last month's closing takes it

    const c1 = await newClosing(d, M1);
    const closed1 = (await stepOk(c1.id, 'close', undefined, admin)).body;
    assertLines(closed1, [paymentLine(await getPayment(p.id)), paymentLine(await getPayment(r.id))]);

    await refund(w, p.id, 3000, 'Devolução parcial');
    await refund(w, q.id, 1000, 'Desconto');
    await refund(w, r.id, 500, 'Erro de troco');
    const P = await getPayment(p.id);
    const Q = await getPayment(q.id);
    const R = await getPayment(r.id);
    assert.equal(P.refunds[0].doctor_share_cents, share(3000, w.bps), 'test setup: the rounding rule');
    assert.deepEqual(await getClosing(c1.id), closed1, 'the closed month is untouched by the refund');

    const c0 = await newClosing(d, M);
    assertLines(c0, [paymentLine(Q), refundLine(Q, Q.refunds[0]), refundLine(P, P.refunds[0]), refundLine(R, R.refunds[0])],
      'this month: its payment, its refund and the refunds of the payments last month\'s closing paid');
    const pRefund = c0.lines.find((l) => l.refund_id === P.refunds[0].id);
    assert.deepEqual([pRefund.amount_cents, pRefund.doctor_cents], [-3000, -share(3000, w.bps)]);
    assert.equal(c0.net_cents,
      Q.doctor_share_cents - Q.refunds[0].doctor_share_cents - P.refunds[0].doctor_share_cents - R.refunds[0].doctor_share_cents);
    assert.equal(c0.consultation_count, 1);

    // another refund of last month's payment while this month is a draft: collected when it is closed
    await refund(w, p.id, 700, 'Mais uma');
    const P2 = await getPayment(p.id);
    const closed0 = (await stepOk(c0.id, 'close', undefined, admin)).body;
    assertLines(closed0, [paymentLine(Q), refundLine(Q, Q.refunds[0]), refundLine(P2, P2.refunds[0]), refundLine(P2, P2.refunds[1]),
      refundLine(R, R.refunds[0])]);
    assert.equal(closed0.net_cents,
      Q.doctor_share_cents - Q.refunds[0].doctor_share_cents - doctorRefunded(P2) - R.refunds[0].doctor_share_cents);
    assert.deepEqual(await getClosing(c1.id), closed1);

    // the earlier month, opened only now, finds nothing left: its payment was paid last month
    const c2 = await newClosing(d, M2);
    assertLines(c2, []);
    assert.deepEqual([c2.net_cents, c2.consultation_count], [0, 0]);
    // every refund is in exactly one closing
    const refundIds = [closed1, closed0, c2].flatMap((x) => x.lines.filter((l) => l.kind === 'refund').map((l) => l.refund_id));
    assert.deepEqual([...refundIds].sort((x, y) => x - y), [...P2.refunds, ...Q.refunds, ...R.refunds].map((x) => x.id).sort((x, y) => x - y));
  });

  test('a refund of a payment closed in a month is not taken by a closing of an earlier month opened later', async () => {
    const w = await world();
    const d = w.doc.user.doctor_id;
    const admin = await asAdmin();
    const M = thisMonth();
    const M1 = monthAdd(M, -1);
    const M2 = monthAdd(M, -2);
    const p = await billed(w);
    await settle(p.id, at(`${M1}-18 10:00:00`));
    const c1 = await newClosing(d, M1);
    await stepOk(c1.id, 'close', undefined, admin);
    await refund(w, p.id, 1500, 'Devolução');
    const P = await getPayment(p.id);
    // the month before the payment's closing, opened only now: its payment is in a later closing, not in
    // this or an earlier one, so the refund is not this closing's
    const c2 = await newClosing(d, M2);
    assertLines(c2, [], 'a month before the refunded payment\'s own closing');
    assert.equal(c2.net_cents, 0);
    // it is the next closing's
    const c0 = await newClosing(d, M);
    assertLines(c0, [refundLine(P, P.refunds[0])]);
    assert.equal(c0.net_cents, -P.refunds[0].doctor_share_cents);
  });

  test('concurrent creates of one doctor\'s month: one 201, the others 409; concurrent steps: one executes', async () => {
    const w = await world();
    const d = w.doc.user.doctor_id;
    const admin = await asAdmin();
    const M1 = monthAdd(thisMonth(), -1);
    const P = await settle((await billed(w)).id, at(`${M1}-07 07:00:00`));
    const creates = await Promise.all(Array.from({ length: 5 }, () => createClosing(d, M1, admin)));
    assert.deepEqual(creates.map((r) => r.status).sort(), [201, 409, 409, 409, 409], JSON.stringify(creates.map((r) => r.body)));
    for (const r of creates.filter((x) => x.status === 409)) expectError(r, 409, 'conflict');
    const made = creates.find((r) => r.status === 201).body;
    assertLines(made, [paymentLine(P)]);
    assert.deepEqual((await listAll(`/api/closings?doctor_id=${d}`, admin)).map((c) => c.id), [made.id]);

    const closes = await Promise.all(Array.from({ length: 4 }, () => step(made.id, 'close', undefined, admin)));
    assert.deepEqual(closes.map((r) => r.status).sort(), [200, 409, 409, 409], JSON.stringify(closes.map((r) => r.body)));
    const confirms = await Promise.all(['A', 'B', 'C'].map((x) => step(made.id, 'confirm-payment', { reference: `REF-${x}` }, admin)));
    assert.deepEqual(confirms.map((r) => r.status).sort(), [200, 409, 409]);
    const receipts = await Promise.all([
      step(made.id, 'confirm-receipt', undefined, w.doc.access),
      step(made.id, 'dispute', { reason: 'Não recebi' }, w.doc.access),
      step(made.id, 'confirm-receipt', undefined, w.doc.access),
    ]);
    assert.deepEqual(receipts.map((r) => r.status).sort(), [200, 409, 409]);
    const final = await getClosing(made.id);
    assert.deepEqual(final.trail.map((t) => t.action).slice(0, 3), ['create', 'close', 'confirm_payment']);
    assert.equal(final.trail.length, 4, `one row per executed step: ${JSON.stringify(final.trail)}`);
    assert.equal(final.payment_reference, confirms.find((r) => r.status === 200).body.payment_reference);
    assert.equal(final.status, receipts.find((r) => r.status === 200).body.status);
  });

  test('Idempotency-Key on the steps: a retry returns the same body with Idempotent-Replayed: true and adds no trail row nor event', async () => {
    const w = await world();
    const d = w.doc.user.doctor_id;
    const admin = await asAdmin();
    const M1 = monthAdd(thisMonth(), -1);
    await settle((await billed(w)).id, at(`${M1}-08 08:00:00`));
    const start = await eventsEnd(w.doc.access);
    const c = await newClosing(d, M1);

    const closeKey = `close-${uniq()}`;
    const closed = await stepOk(c.id, 'close', undefined, admin, { 'Idempotency-Key': closeKey });
    assert.equal(replayed(closed), null, 'the first answer is not a replay');
    const closedAgain = expectStatus(await step(c.id, 'close', undefined, admin, { 'Idempotency-Key': closeKey }), 200);
    assert.equal(replayed(closedAgain), 'true');
    assert.deepEqual(closedAgain.body, closed.body);

    const payKey = `confirm-${uniq()}`;
    const paid = await stepOk(c.id, 'confirm-payment', { reference: 'REF-IDEM-1' }, admin, { 'Idempotency-Key': payKey });
    assert.equal(replayed(paid), null);
    const paidAgain = expectStatus(await step(c.id, 'confirm-payment', { reference: 'REF-IDEM-1' }, admin, { 'Idempotency-Key': payKey }), 200);
    assert.equal(replayed(paidAgain), 'true');
    assert.deepEqual(paidAgain.body, paid.body);
    // the close retried after the closing moved on: still the first answer
    const lateRetry = expectStatus(await step(c.id, 'close', undefined, admin, { 'Idempotency-Key': closeKey }), 200);
    assert.equal(replayed(lateRetry), 'true');
    assert.deepEqual(lateRetry.body, closed.body);
    // the same key with another body or on another step: 409 idempotency_key_reused
    expectError(await step(c.id, 'confirm-payment', { reference: 'REF-IDEM-2' }, admin, { 'Idempotency-Key': payKey }), 409, 'idempotency_key_reused');
    expectError(await step(c.id, 'adjustments', { amount_cents: 5, reason: 'x' }, admin, { 'Idempotency-Key': payKey }), 409, 'idempotency_key_reused');
    // a malformed key: 400, nothing runs
    expectError(await step(c.id, 'dispute', { reason: 'x' }, w.doc.access, { 'Idempotency-Key': 'two words' }), 400, 'invalid_idempotency_key');
    expectError(await step(c.id, 'dispute', { reason: 'x' }, w.doc.access, { 'Idempotency-Key': 'k'.repeat(101) }), 400, 'invalid_idempotency_key');

    // the doctor's steps too
    const disputeKey = `dispute-${uniq()}`;
    const disputed = await stepOk(c.id, 'dispute', { reason: 'Valor errado' }, w.doc.access, { 'Idempotency-Key': disputeKey });
    const disputedAgain = expectStatus(await step(c.id, 'dispute', { reason: 'Valor errado' }, w.doc.access, { 'Idempotency-Key': disputeKey }), 200);
    assert.equal(replayed(disputedAgain), 'true');
    assert.deepEqual(disputedAgain.body, disputed.body);
    const adjKey = `adjust-${uniq()}`;
    const adj = await stepOk(c.id, 'adjustments', { amount_cents: 450, reason: 'Correção' }, admin, { 'Idempotency-Key': adjKey });
    const adjAgain = expectStatus(await step(c.id, 'adjustments', { amount_cents: 450, reason: 'Correção' }, admin, { 'Idempotency-Key': adjKey }), 200);
    assert.equal(replayed(adjAgain), 'true');
    assert.deepEqual(adjAgain.body, adj.body);

    const now = await getClosing(c.id);
    assert.deepEqual(now, adj.body, 'the replays changed nothing');
    assert.deepEqual(now.trail.map((t) => t.action), ['create', 'close', 'confirm_payment', 'dispute', 'adjust'], 'one trail row per executed step');
    assert.equal(now.lines.filter((l) => l.kind === 'adjustment').length, 1, 'one adjustment line');
    const events = closingEvents((await eventsSince(w.doc.access, start, 5)).items, c.id);
    assert.deepEqual(events.map((e) => e.data.action), ['create', 'close', 'confirm_payment', 'dispute', 'adjust'], 'replays announce nothing');
  });
});

describe('closings: batch', () => {
  test('POST /closings/batch: one closing per doctor of the clinic, the existing ones in skipped; a second batch skips all', async () => {
    const w = await world({ doctors: 3 });
    const [d1, d2, d3] = w.docs.map((x) => x.user.doctor_id);
    const admin = await asAdmin();
    const M1 = monthAdd(thisMonth(), -1);
    const a = await settle((await billed(w, { doctor: w.docs[1] })).id, at(`${M1}-03 10:00:00`), 'cash');
    const b = await settle((await billed(w, { doctor: w.docs[2] })).id, at(`${M1}-04 10:00:00`), 'card');
    const c = await settle((await billed(w, { doctor: w.docs[2], service: w.services[1] })).id, at(`${M1}-05 10:00:00`), 'pix');
    const outsider = await world({ doctors: 1, bps: null });
    const existing = await newClosing(d1, M1);

    const res = expectStatus(await post('/api/closings/batch', { clinic_id: w.clinic.id, month: M1 }, admin), 201).body;
    assert.deepEqual(keys(res), ['items', 'skipped']);
    assert.equal(res.items.length, 2, JSON.stringify(res));
    for (const it of res.items) assertClosing(it, false);
    // items[0] is d2's, items[1] d3's (whatever order the answer has)
    const items = [d2, d3].map((d) => res.items.find((x) => x.doctor_id === d));
    assert.ok(items.every(Boolean), `one closing each for doctors ${d2} and ${d3}: ${JSON.stringify(res.items)}`);
    assert.deepEqual(items.map((x) => [x.doctor_id, x.clinic_id, x.month, x.status]), [[d2, w.clinic.id, M1, 'draft'], [d3, w.clinic.id, M1, 'draft']]);
    assert.deepEqual(items.map((x) => [x.gross_cents, x.net_cents, x.consultation_count]), [
      [a.amount_cents, a.doctor_share_cents, 1],
      [b.amount_cents + c.amount_cents, b.doctor_share_cents + c.doctor_share_cents, 2],
    ]);
    assert.deepEqual(res.skipped, [{ doctor_id: d1, closing_id: existing.id }]);
    // each made closing is a full one, with its lines and its create row
    const me = await adminId();
    for (const [it, ps] of [[items[0], [a]], [items[1], [b, c]]]) {
      const full = await getClosing(it.id);
      assert.deepEqual(summaryOf(full), it);
      assertLines(full, ps.map(paymentLine));
      assert.deepEqual(trailRows(full), [['create', null, 'draft', me, 'ADMIN']]);
    }
    assert.deepEqual(await getClosing(existing.id), existing, 'the existing closing is left alone');
    assert.deepEqual(await listAll(`/api/closings?doctor_id=${outsider.doc.user.doctor_id}`, admin), [], 'no closing for another clinic\'s doctor');

    const again = expectStatus(await post('/api/closings/batch', { clinic_id: w.clinic.id, month: M1 }, admin), 201).body;
    assert.deepEqual(again.items, []);
    assert.deepEqual([...again.skipped].sort((x, y) => x.doctor_id - y.doctor_id),
      [{ doctor_id: d1, closing_id: existing.id }, { doctor_id: d2, closing_id: items[0].id }, { doctor_id: d3, closing_id: items[1].id }]
        .sort((x, y) => x.doctor_id - y.doctor_id));
    const listed = await listAll(`/api/closings?clinic_id=${w.clinic.id}&month=${M1}`, admin);
    assert.deepEqual(listed.map((x) => x.id).sort((x, y) => x - y), [existing.id, items[0].id, items[1].id].sort((x, y) => x - y));

    // bad months
    for (const month of ['2025-13', 'x', monthAdd(thisMonth(), 1)]) {
      expectError(await post('/api/closings/batch', { clinic_id: w.clinic.id, month }, admin), 422, 'validation_failed', ['month']);
    }
    assert.equal((await listAll(`/api/closings?clinic_id=${w.clinic.id}`, admin)).length, 3);
  });
});

describe('closings: lists and role boundaries', () => {
  test('GET /closings: filters, pagination, summaries without lines; a doctor lists only their own, doctor_id of another 403', async () => {
    const w = await world();
    const [d1, d2] = [w.doc.user.doctor_id, w.doc2.user.doctor_id];
    const admin = await asAdmin();
    const M = thisMonth();
    const M1 = monthAdd(M, -1);
    const M2 = monthAdd(M, -2);
    const a = await newClosing(d1, M2);
    const b = await newClosing(d1, M1);
    const c = await newClosing(d2, M1);
    const e = await newClosing(d2, M);
    const bClosed = (await stepOk(b.id, 'close', undefined, admin)).body;
    const ids = (xs) => xs.map((x) => x.id).sort((x, y) => x - y);

    const all = await listAll(`/api/closings?clinic_id=${w.clinic.id}`, admin);
    assert.deepEqual(ids(all), ids([a, b, c, e]));
    for (const s of all) {
      assertClosing(s, false);
      assert.deepEqual(s, summaryOf(await getClosing(s.id)), 'a list item is the closing without lines and trail');
    }
    assert.deepEqual(all.find((s) => s.id === b.id), summaryOf(bClosed));
    assert.deepEqual(ids(await listAll(`/api/closings?clinic_id=${w.clinic.id}&month=${M1}`, admin)), ids([b, c]));
    assert.deepEqual(ids(await listAll(`/api/closings?doctor_id=${d1}`, admin)), ids([a, b]));
    assert.deepEqual(ids(await listAll(`/api/closings?clinic_id=${w.clinic.id}&status=closed`, admin)), [b.id]);
    assert.deepEqual(ids(await listAll(`/api/closings?clinic_id=${w.clinic.id}&status=draft&doctor_id=${d2}`, admin)), ids([c, e]));

    // limit=1 walks them all once
    const seen = [];
    let cursor = null;
    for (let i = 0; i < 10; i++) {
      const body = expectStatus(await get(`/api/closings?clinic_id=${w.clinic.id}&limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, admin), 200).body;
      assert.ok(body.items.length <= 1);
      seen.push(...body.items);
      cursor = body.next_cursor;
      if (!cursor) break;
    }
    assert.equal(cursor, null);
    assert.deepEqual(ids(seen), ids([a, b, c, e]));
    assert.equal(new Set(seen.map((s) => s.id)).size, 4);

    // the doctor: own only
    assert.deepEqual(ids(await listAll('/api/closings', w.doc.access)), ids([a, b]));
    assert.deepEqual(ids(await listAll(`/api/closings?clinic_id=${w.clinic.id}`, w.doc.access)), ids([a, b]));
    assert.deepEqual(ids(await listAll(`/api/closings?doctor_id=${d1}&month=${M1}`, w.doc.access)), [b.id]);
    assert.deepEqual(ids(await listAll('/api/closings', w.doc2.access)), ids([c, e]));
    expectError(await get(`/api/closings?doctor_id=${d2}`, w.doc.access), 403, 'forbidden');
    expectError(await get(`/api/closings?doctor_id=${d1}`, w.doc2.access), 403, 'forbidden');
    for (const q of ['month=2025-13', 'month=2025-1', 'status=open', 'limit=0', 'doctor_id=abc']) {
      expectError(await get(`/api/closings?${q}`, admin), 400, 'invalid_query');
    }
  });

  test('RECEPTIONIST and PATIENT: 403 everywhere; a doctor cannot create, batch, close, adjust or confirm a payment; the admin cannot confirm receipt or dispute; another doctor\'s closing 404', async () => {
    const w = await world();
    const [d1, d2] = [w.doc.user.doctor_id, w.doc2.user.doctor_id];
    const admin = await asAdmin();
    const M = thisMonth();
    const M1 = monthAdd(M, -1);
    await settle((await billed(w)).id, at(`${M1}-09 09:00:00`));
    const pat = await patientSession(w.clinic.id);
    const c = await newClosing(d1, M1);
    const c2 = await newClosing(d2, M1);

    const ops = {
      create: (t) => post('/api/closings', { doctor_id: d1, month: M }, t),
      batch: (t) => post('/api/closings/batch', { clinic_id: w.clinic.id, month: M }, t),
      list: (t) => get('/api/closings', t),
      listMine: (t) => get(`/api/closings?doctor_id=${d1}`, t),
      get: (t) => get(`/api/closings/${c.id}`, t),
      close: (t) => step(c.id, 'close', undefined, t),
      adjust: (t) => step(c.id, 'adjustments', { amount_cents: 100, reason: 'Ajuste' }, t),
      confirmPayment: (t) => step(c.id, 'confirm-payment', { reference: 'REF' }, t),
      confirmReceipt: (t) => step(c.id, 'confirm-receipt', undefined, t),
      dispute: (t) => step(c.id, 'dispute', { reason: 'Motivo' }, t),
    };
    const refusals = [];
    for (const [who, token] of [['RECEPTIONIST', w.rec.access], ['PATIENT', pat.access]]) {
      for (const [name, op] of Object.entries(ops)) {
        const res = await op(token);
        refusals.push([who, name, res.status, res.body?.error?.code]);
      }
    }
    for (const name of ['create', 'batch', 'close', 'adjust', 'confirmPayment']) {
      const res = await ops[name](w.doc.access);
      refusals.push(['DOCTOR', name, res.status, res.body?.error?.code]);
    }
    for (const name of ['confirmReceipt', 'dispute']) {
      const res = await ops[name](admin);
      refusals.push(['ADMIN', name, res.status, res.body?.error?.code]);
    }
    assert.deepEqual(refusals, refusals.map(([who, name]) => [who, name, 403, 'forbidden']));
    assert.deepEqual(await getClosing(c.id), c, 'nothing ran');
    assert.deepEqual(await listAll(`/api/closings?clinic_id=${w.clinic.id}&month=${M}`, admin), [], 'nothing was created');

    // another doctor's closing, at the step its own doctor could take: 404, and it stays as it is
    await stepOk(c.id, 'close', undefined, admin);
    const paid = (await stepOk(c.id, 'confirm-payment', { reference: 'PIX-123' }, admin)).body;
    expectError(await get(`/api/closings/${c.id}`, w.doc2.access), 404, 'not_found');
    expectError(await step(c.id, 'confirm-receipt', undefined, w.doc2.access), 404, 'not_found');
    expectError(await step(c.id, 'dispute', { reason: 'Não é meu' }, w.doc2.access), 404, 'not_found');
    expectError(await get(`/api/closings/${c2.id}`, w.doc.access), 404, 'not_found');
    assert.deepEqual(await getClosing(c.id), paid);
    // unknown ids
    expectError(await get(`/api/closings/${NOT_FOUND_ID}`, admin), 404, 'not_found');
    expectError(await step(NOT_FOUND_ID, 'close', undefined, admin), 404, 'not_found');
    expectError(await step(NOT_FOUND_ID, 'confirm-payment', { reference: 'x' }, admin), 404, 'not_found');
    expectError(await step(NOT_FOUND_ID, 'adjustments', { amount_cents: 1, reason: 'x' }, admin), 404, 'not_found');
    expectError(await step(NOT_FOUND_ID, 'confirm-receipt', undefined, w.doc.access), 404, 'not_found');
    // its own doctor can
    const done = (await stepOk(c.id, 'confirm-receipt', undefined, w.doc.access)).body;
    assert.equal(done.status, 'receipt_confirmed');
    assert.deepEqual(done.trail.at(-1).actor_user_id, w.doc.id);
  });
});
