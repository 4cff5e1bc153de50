// Money: fee rules (the doctor's share of a service in basis points, per clinic, service, doctor or
// service and doctor, with an optional price override), the payment billed when a consultation with a
// service is completed (exactly once, its price and split snapshotted), its settlement and refunds (the
// rounding rule: shares and refund parts always sum exactly), Idempotency-Key on the money POSTs, who
// may see and touch what, the payment_processed events and the audit trail.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  asAdmin,
  createClinic,
  createPatient,
  createService,
  del,
  eventsEnd,
  eventsSince,
  expectError,
  expectStatus,
  get,
  listAll,
  moveVisit,
  patch,
  patientSession,
  pickTodayZone,
  post,
  put,
  staffSession,
  walkIn,
} from '../lib/api.mjs';

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const NOT_FOUND_ID = 2147483000;
// A zone where it is still today two hours from now: walk-ins of a test stay on one queue date.
const TZ = pickTodayZone(2);

const PAYMENT_KEYS = [
  'id',
  'clinic_id',
  'visit_id',
  'doctor_id',
  'patient_id',
  'service_id',
  'currency',
  'amount_cents',
  'doctor_share_bps',
  'doctor_share_cents',
  'center_share_cents',
  'refunded_cents',
  'status',
  'method',
  'paid_at',
  'created_at',
  'updated_at',
  'patient_name',
  'service_name',
  'refunds',
].sort();
const REFUND_KEYS = ['id', 'amount_cents', 'doctor_share_cents', 'center_share_cents', 'reason', 'created_at'].sort();
const RULE_KEYS = ['id', 'clinic_id', 'service_id', 'doctor_id', 'doctor_share_bps', 'price_cents', 'created_at', 'updated_at'].sort();
const SLIM_KEYS = ['doctor_id', 'id', 'status', 'visit_id'];

// The rounding rule: the doctor's share of an amount, half up to the cent (exact, in BigInt).
function share(amount, bps) {
  return Number((BigInt(amount) * BigInt(bps) + 5000n) / 10000n);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const keys = (o) => Object.keys(o).sort();
const replayed = (res) => res.headers.get('idempotent-replayed');

// A fresh clinic (currency given or BRL) with two receptionists, two doctors and a service.
async function world({ currency, price = 15000 } = {}) {
  const clinic = await createClinic({ timezone: TZ, ...(currency ? { currency } : {}) });
  const [rec, rec2, doc, doc2, service] = await Promise.all([
    staffSession('RECEPTIONIST', clinic.id),
    staffSession('RECEPTIONIST', clinic.id),
    staffSession('DOCTOR', clinic.id),
    staffSession('DOCTOR', clinic.id),
    createService(clinic.id, { price_cents: price, duration_minutes: 10 }),
  ]);
  return { clinic, rec, rec2, doc, doc2, service };
}

const putRule = (body, token) => put('/api/fee-rules', body, token);

// PUT /api/fee-rules as the admin; asserts 201 or 200 and returns the rule.
async function setRule(body) {
  const res = await putRule(body, await asAdmin());
  expectStatus(res, [200, 201]);
  return res.body;
}

// Payments of a visit (as the admin unless token is given).
async function paymentsOf(visitId, token) {
  return listAll(`/api/payments?visit_id=${visitId}`, token || (await asAdmin()));
}

async function getPayment(id, token) {
  return expectStatus(await get(`/api/payments/${id}`, token || (await asAdmin())), 200).body;
}

// A walk-in of a fresh patient with doctor (a staff session; w.doc by default) for service (w.service
// by default; null: none), moved to the doctor and completed by them. Returns {visit, patient}.
async function completedVisit(w, { doctor = w.doc, service = w.service } = {}) {
  const patient = await createPatient(w.rec.access);
  const visit = await walkIn(w.rec.access, { patient_id: patient.id, doctor_id: doctor.user.doctor_id, service_id: service ? service.id : null });
  await moveVisit(visit.id, 'with_doctor', w.rec.access);
  const done = expectStatus(await post('/api/queue/complete-consultation', { visit_id: visit.id }, doctor.access), 200).body;
  assert.equal(done.status, 'completed');
  return { visit: done, patient };
}

// completedVisit + its one payment (asserted); returns the Payment.
async function billed(w, opts = {}) {
  const { visit } = await completedVisit(w, opts);
  const list = await paymentsOf(visit.id);
  assert.equal(list.length, 1, `exactly one payment for visit ${visit.id}: ${JSON.stringify(list)}`);
  return list[0];
}

// Asserts the shape and the invariants every payment keeps.
function assertPayment(p) {
  assert.deepEqual(keys(p), PAYMENT_KEYS, `Payment keys: ${JSON.stringify(p)}`);
  for (const k of ['amount_cents', 'doctor_share_bps', 'doctor_share_cents', 'center_share_cents', 'refunded_cents']) {
    assert.ok(Number.isInteger(p[k]) && p[k] >= 0, `${k}: ${p[k]}`);
  }
  assert.equal(p.doctor_share_cents, share(p.amount_cents, p.doctor_share_bps), `doctor_share_cents follows the rounding rule: ${JSON.stringify(p)}`);
  assert.equal(p.doctor_share_cents + p.center_share_cents, p.amount_cents, 'the shares sum to the amount');
  assert.ok(['pending', 'paid', 'partially_refunded', 'refunded'].includes(p.status), `status ${p.status}`);
  assert.equal(p.paid_at === null, p.status === 'pending', `paid_at of a ${p.status} payment: ${p.paid_at}`);
  assert.equal(p.method === null, p.status === 'pending', `method of a ${p.status} payment: ${p.method}`);
  if (p.paid_at !== null) assert.match(p.paid_at, INSTANT);
  assert.match(p.created_at, INSTANT);
  assert.match(p.updated_at, INSTANT);
  assert.ok(Array.isArray(p.refunds), 'refunds is an array');
  let refunded = 0;
  let doctorBack = 0;
  for (const r of p.refunds) {
    assert.deepEqual(keys(r), REFUND_KEYS, `Refund keys: ${JSON.stringify(r)}`);
    assert.ok(r.amount_cents >= 1);
    assert.ok(r.doctor_share_cents >= 0 && r.center_share_cents >= 0, `refund parts are not negative: ${JSON.stringify(r)}`);
    assert.equal(r.doctor_share_cents + r.center_share_cents, r.amount_cents, 'a refund\'s parts sum to it');
    // the doctor's part of everything refunded so far is the share of that total
    assert.equal(r.doctor_share_cents, share(refunded + r.amount_cents, p.doctor_share_bps) - share(refunded, p.doctor_share_bps),
      `refund ${JSON.stringify(r)} after ${refunded} refunded of ${p.amount_cents} at ${p.doctor_share_bps} bps`);
    refunded += r.amount_cents;
    doctorBack += r.doctor_share_cents;
  }
  assert.equal(p.refunded_cents, refunded, 'refunded_cents is the sum of the refunds');
  assert.ok(doctorBack <= p.doctor_share_cents, 'never more than the doctor\'s share is taken back');
  const expectedStatus = p.status === 'pending' ? 'pending' : refunded === 0 ? 'paid' : refunded === p.amount_cents ? 'refunded' : 'partially_refunded';
  assert.equal(p.status, expectedStatus, `status with ${refunded} of ${p.amount_cents} refunded`);
  if (p.status === 'refunded') assert.equal(doctorBack, p.doctor_share_cents, 'a full refund takes back exactly the doctor\'s share');
}

async function pay(id, token, method = 'cash', headers) {
  return post(`/api/payments/${id}/pay`, { method }, token, headers ? { headers } : {});
}
async function refund(id, amount, token, headers, reason = 'Estorno') {
  return post(`/api/payments/${id}/refund`, { amount_cents: amount, reason }, token, headers ? { headers } : {});
}

const withoutRefunds = ({ refunds, ...rest }) => rest;

// A refund that must succeed: asserts 200 and that the answer is the payment as GET now shows it
// (refunds aside: the refund answer's own refunds list is checked by its own test). Returns
// {res, now} with now the payment from GET.
async function refundOk(id, amount, token, headers, reason) {
  const res = expectStatus(await refund(id, amount, token, headers, reason), 200);
  const now = await getPayment(id);
  assert.deepEqual(withoutRefunds(res.body), withoutRefunds(now), 'the refund answer is the payment as it now is');
  return { res, now };
}

async function auditRows(query) {
  return listAll(`/api/audit?${query}`, await asAdmin());
}

// payment_processed events of payment id among events.
const paymentEvents = (events, id) => events.filter((e) => e.name === 'payment_processed' && e.data?.payment?.id === id);

// ---------------------------------------------------------------------------------------------------------------

describe('payments: billing on completion', () => {
  test('a completed walk-in with a service gets one pending payment at the service price (no rule: doctor_share_bps 0), in the clinic currency', async () => {
    const w = await world({ currency: 'EUR', price: 12345 });
    // a clinic-wide rule of another clinic does not apply here
    const other = await createClinic({ timezone: TZ });
    await setRule({ clinic_id: other.id, doctor_share_bps: 5000 });

    const { visit, patient } = await completedVisit(w);
    const list = await paymentsOf(visit.id);
    assert.equal(list.length, 1, JSON.stringify(list));
    const p = list[0];
    assertPayment(p);
    assert.deepEqual(
      {
        clinic_id: p.clinic_id, visit_id: p.visit_id, doctor_id: p.doctor_id, patient_id: p.patient_id, service_id: p.service_id,
        currency: p.currency, amount_cents: p.amount_cents, doctor_share_bps: p.doctor_share_bps, doctor_share_cents: p.doctor_share_cents,
        center_share_cents: p.center_share_cents, refunded_cents: p.refunded_cents, status: p.status, method: p.method, paid_at: p.paid_at,
        patient_name: p.patient_name, service_name: p.service_name, refunds: p.refunds,
      },
      {
        clinic_id: w.clinic.id, visit_id: visit.id, doctor_id: w.doc.user.doctor_id, patient_id: patient.id, service_id: w.service.id,
        currency: 'EUR', amount_cents: 12345, doctor_share_bps: 0, doctor_share_cents: 0,
        center_share_cents: 12345, refunded_cents: 0, status: 'pending', method: null, paid_at: null,
        patient_name: patient.full_name, service_name: w.service.name, refunds: [],
      },
    );
    assert.ok(Math.abs(Date.parse(p.created_at) - Date.now()) < 60000, `created_at ${p.created_at} is about now`);
    assert.deepEqual(await getPayment(p.id), p);
    assert.deepEqual(await getPayment(p.id, w.rec.access), p);
    assert.deepEqual(await getPayment(p.id, w.doc.access), p);
  });

  test('a completed walk-in without a service is not billed; a visit not yet completed has no payment', async () => {
    const w = await world();
    const { visit } = await completedVisit(w, { service: null });
    assert.equal(visit.service_id, null);
    assert.deepEqual(await paymentsOf(visit.id), []);
    assert.deepEqual(await listAll(`/api/payments?clinic_id=${w.clinic.id}`, await asAdmin()), []);

    const patient = await createPatient(w.rec.access);
    const open = await walkIn(w.rec.access, { patient_id: patient.id, doctor_id: w.doc.user.doctor_id, service_id: w.service.id });
    await moveVisit(open.id, 'with_doctor', w.rec.access);
    assert.deepEqual(await paymentsOf(open.id), [], 'no payment before completion');
  });

  test('fee rules: the most specific rule wins ((service, doctor) > (service) > (doctor) > clinic-wide) and its price_cents overrides the service price', async () => {
    const w = await world({ price: 20000 });
    const s2 = await createService(w.clinic.id, { price_cents: 7777 });
    const d1 = w.doc.user.doctor_id;
    const d2 = w.doc2.user.doctor_id;

    // only a clinic-wide rule: it applies to everything
    const wide = await setRule({ clinic_id: w.clinic.id, doctor_share_bps: 1000 });
    assert.deepEqual([wide.clinic_id, wide.service_id, wide.doctor_id, wide.doctor_share_bps, wide.price_cents], [w.clinic.id, null, null, 1000, null]);
    let p = await billed(w, { doctor: w.doc, service: w.service });
    assert.deepEqual([p.amount_cents, p.doctor_share_bps, p.doctor_share_cents, p.center_share_cents], [20000, 1000, 2000, 18000]);

    // a doctor rule beats the clinic-wide one (for that doctor only)
    await setRule({ doctor_id: d1, doctor_share_bps: 3000 });
    p = await billed(w, { doctor: w.doc, service: w.service });
    assert.deepEqual([p.amount_cents, p.doctor_share_bps, p.doctor_share_cents], [20000, 3000, 6000]);
    p = await billed(w, { doctor: w.doc2, service: w.service });
    assert.deepEqual([p.amount_cents, p.doctor_share_bps], [20000, 1000]);

    // a service rule beats the doctor rule (for that service only)
    await setRule({ service_id: w.service.id, doctor_share_bps: 2000 });
    const cases = [];
    // a service + doctor rule beats them all, with its own price
    const sd = await setRule({ service_id: w.service.id, doctor_id: d1, doctor_share_bps: 4000, price_cents: 12345 });
    assert.deepEqual([sd.clinic_id, sd.service_id, sd.doctor_id, sd.doctor_share_bps, sd.price_cents], [w.clinic.id, w.service.id, d1, 4000, 12345]);
    for (const [doctor, service, amount, bps] of [
      [w.doc, w.service, 12345, 4000], // (S, D)
      [w.doc2, w.service, 20000, 2000], // (S, any)
      [w.doc, s2, 7777, 3000], // (any, D)
      [w.doc2, s2, 7777, 1000], // (any, any)
    ]) {
      cases.push(billed(w, { doctor, service }).then((pay) => ({ pay, doctor, service, amount, bps })));
    }
    for (const c of await Promise.all(cases)) {
      assertPayment(c.pay);
      assert.deepEqual(
        [c.pay.doctor_id, c.pay.service_id, c.pay.amount_cents, c.pay.doctor_share_bps, c.pay.doctor_share_cents, c.pay.center_share_cents],
        [c.doctor.user.doctor_id, c.service.id, c.amount, c.bps, share(c.amount, c.bps), c.amount - share(c.amount, c.bps)],
        `doctor ${c.doctor.user.doctor_id}, service ${c.service.id}`,
      );
    }

    // a price override on a clinic-wide rule (and price 0) applies to services without a more specific rule
    await setRule({ clinic_id: w.clinic.id, doctor_share_bps: 5000, price_cents: 0 });
    p = await billed(w, { doctor: w.doc2, service: s2 });
    assert.deepEqual([p.amount_cents, p.doctor_share_bps, p.doctor_share_cents, p.center_share_cents], [0, 5000, 0, 0]);
    // d2 rule with a price: beats the clinic-wide one, loses to the service rule
    await setRule({ doctor_id: d2, doctor_share_bps: 6667, price_cents: 101 });
    p = await billed(w, { doctor: w.doc2, service: s2 });
    assert.deepEqual([p.amount_cents, p.doctor_share_bps, p.doctor_share_cents, p.center_share_cents], [101, 6667, 67, 34]);
    p = await billed(w, { doctor: w.doc2, service: w.service });
    assert.deepEqual([p.amount_cents, p.doctor_share_bps], [20000, 2000]);
  });

  test('completion retried (second POST 409) and two concurrent completions: still exactly one payment', async () => {
    const w = await world();
    await setRule({ clinic_id: w.clinic.id, doctor_share_bps: 3333 });
    const { visit } = await completedVisit(w);
    for (const path of ['/api/queue/complete-consultation', '/api/queue/complete']) {
      expectError(await post(path, { visit_id: visit.id }, w.doc.access), 409, 'conflict');
    }
    const list = await paymentsOf(visit.id);
    assert.equal(list.length, 1, JSON.stringify(list));
    assert.deepEqual([list[0].amount_cents, list[0].doctor_share_bps, list[0].doctor_share_cents], [15000, 3333, share(15000, 3333)]);

    // concurrent completions of several visits, through both routes
    const visits = [];
    for (let i = 0; i < 3; i++) {
      const patient = await createPatient(w.rec.access);
      const v = await walkIn(w.rec.access, { patient_id: patient.id, doctor_id: w.doc.user.doctor_id, service_id: w.service.id });
      await moveVisit(v.id, 'with_doctor', w.rec.access);
      visits.push(v);
    }
    const results = await Promise.all(
      visits.flatMap((v) => [
        post('/api/queue/complete-consultation', { visit_id: v.id }, w.doc.access),
        post('/api/queue/complete', { visit_id: v.id }, w.doc.access),
        post('/api/queue/complete-consultation', { visit_id: v.id }, w.doc.access),
      ]),
    );
    for (let i = 0; i < visits.length; i++) {
      const trio = results.slice(3 * i, 3 * i + 3);
      assert.deepEqual(trio.map((r) => r.status).sort(), [200, 409, 409], JSON.stringify(trio.map((r) => r.body)));
      const ps = await paymentsOf(visits[i].id);
      assert.equal(ps.length, 1, `one payment for visit ${visits[i].id}: ${JSON.stringify(ps)}`);
      assertPayment(ps[0]);
      assert.equal(ps[0].status, 'pending');
    }
    assert.equal((await listAll(`/api/payments?clinic_id=${w.clinic.id}`, await asAdmin())).length, 4);
    const created = await Promise.all(visits.map(async (v) => (await auditRows(`action=payment_create&entity_id=${(await paymentsOf(v.id))[0].id}`)).length));
    assert.deepEqual(created, [1, 1, 1], 'one payment_create audit row per payment');
  });
});

describe('payments: money invariants', () => {
  test('shares sum exactly for awkward amounts and basis points (rounding half up to the cent)', async () => {
    const w = await world();
    const amounts = [1, 3, 99, 101, 99999999];
    const bpsList = [1, 3333, 5000, 6667, 9999];
    // one service per amount; the rule of each (service, doctor) pair gives the bps: each doctor is a
    // separate session so the 25 combinations are 25 (service, doctor) rules
    const services = await Promise.all(amounts.map((a) => createService(w.clinic.id, { price_cents: a })));
    const doctors = [w.doc, w.doc2, ...(await Promise.all([1, 2, 3].map(() => staffSession('DOCTOR', w.clinic.id))))];
    const combos = [];
    for (let i = 0; i < amounts.length; i++) {
      for (let j = 0; j < bpsList.length; j++) combos.push({ amount: amounts[i], bps: bpsList[j], service: services[i], doctor: doctors[j] });
    }
    await Promise.all(combos.map((c) => setRule({ service_id: c.service.id, doctor_id: c.doctor.user.doctor_id, doctor_share_bps: c.bps })));
    const got = [];
    for (let k = 0; k < combos.length; k += 5) {
      got.push(...(await Promise.all(combos.slice(k, k + 5).map((c) => billed(w, { doctor: c.doctor, service: c.service })))));
    }
    const table = got.map((p) => [p.amount_cents, p.doctor_share_bps, p.doctor_share_cents, p.center_share_cents]);
    const expected = combos.map((c) => [c.amount, c.bps, share(c.amount, c.bps), c.amount - share(c.amount, c.bps)]);
    assert.deepEqual(table, expected);
    for (const p of got) assertPayment(p);
    // spot checks of the rule itself (independent of share())
    const at = (a, b) => table.find((r) => r[0] === a && r[1] === b);
    assert.deepEqual(at(1, 5000), [1, 5000, 1, 0]); // 0.5 rounds up
    assert.deepEqual(at(1, 3333), [1, 3333, 0, 1]);
    assert.deepEqual(at(1, 9999), [1, 9999, 1, 0]);
    assert.deepEqual(at(3, 5000), [3, 5000, 2, 1]); // 1.5 rounds up
    assert.deepEqual(at(3, 1), [3, 1, 0, 3]);
    assert.deepEqual(at(99, 6667), [99, 6667, 66, 33]); // 66.0033
    assert.deepEqual(at(101, 5000), [101, 5000, 51, 50]); // 50.5 rounds up
    assert.deepEqual(at(99999999, 3333), [99999999, 3333, 33330000, 66669999]); // 33329999.67
    assert.deepEqual(at(99999999, 9999), [99999999, 9999, 99989999, 10000]); // 99989999.0001
    assert.deepEqual(at(99999999, 1), [99999999, 1, 10000, 99989999]); // 9999.9999
  });

  test('refunds in parts sum to exactly the doctor share at full refund (3 cents at 5000 bps as 1+1+1; 1001 cents at 3333 bps in 7 parts)', async () => {
    const w = await world({ price: 3 });
    const s1001 = await createService(w.clinic.id, { price_cents: 1001 });
    await setRule({ service_id: w.service.id, doctor_share_bps: 5000 });
    await setRule({ service_id: s1001.id, doctor_share_bps: 3333 });

    const p3 = await billed(w);
    assert.deepEqual([p3.amount_cents, p3.doctor_share_cents, p3.center_share_cents], [3, 2, 1]);
    expectStatus(await pay(p3.id, w.rec.access, 'pix'), 200);
    const parts3 = [];
    let last;
    for (const [i, status] of ['partially_refunded', 'partially_refunded', 'refunded'].entries()) {
      last = (await refundOk(p3.id, 1, w.rec.access, undefined, `parte ${i + 1}`)).now;
      assertPayment(last);
      assert.deepEqual([last.status, last.refunded_cents, last.refunds.length], [status, i + 1, i + 1]);
      parts3.push(last.refunds.at(-1));
    }
    assert.deepEqual(parts3.map((r) => [r.amount_cents, r.doctor_share_cents, r.center_share_cents, r.reason]), [
      [1, 1, 0, 'parte 1'],
      [1, 0, 1, 'parte 2'],
      [1, 1, 0, 'parte 3'],
    ]);
    // the snapshot of the split never changes with refunds
    assert.deepEqual([last.amount_cents, last.doctor_share_cents, last.center_share_cents], [3, 2, 1]);

    const p = await billed(w, { service: s1001 });
    assert.deepEqual([p.amount_cents, p.doctor_share_bps, p.doctor_share_cents, p.center_share_cents], [1001, 3333, 334, 667]);
    expectStatus(await pay(p.id, w.rec2.access, 'card'), 200);
    const parts = [1, 2, 3, 299, 7, 600, 89];
    assert.equal(parts.reduce((a, b) => a + b), 1001);
    let done = 0;
    for (const amount of parts) {
      const body = (await refundOk(p.id, amount, w.rec.access)).now;
      done += amount;
      assertPayment(body);
      assert.equal(body.refunded_cents, done);
      assert.equal(body.status, done === 1001 ? 'refunded' : 'partially_refunded');
      const r = body.refunds.at(-1);
      assert.equal(r.amount_cents, amount);
      assert.equal(r.doctor_share_cents, share(done, 3333) - share(done - amount, 3333));
    }
    const final = await getPayment(p.id);
    assertPayment(final);
    assert.equal(final.refunds.length, 7);
    assert.equal(final.refunds.reduce((a, r) => a + r.doctor_share_cents, 0), 334, 'the doctor gives back exactly their share');
    assert.equal(final.refunds.reduce((a, r) => a + r.center_share_cents, 0), 667, 'the centre gives back exactly its share');
    // refund ids are increasing, in order
    assert.deepEqual(final.refunds.map((r) => r.amount_cents), parts);
  });

  test('status transitions: pending -> paid -> partially_refunded -> refunded; refund of pending 409, pay twice 409, more than left 422', async () => {
    const w = await world({ price: 10000 });
    await setRule({ clinic_id: w.clinic.id, doctor_share_bps: 4000 });
    const p = await billed(w);
    assert.equal(p.status, 'pending');

    // refunding a pending payment
    expectError(await refund(p.id, 1, w.rec.access), 409, 'conflict');
    assert.deepEqual(await getPayment(p.id), p);

    // validation of pay
    for (const body of [{}, { method: 'bitcoin' }, { method: null }, { method: 'CASH' }]) {
      expectError(await post(`/api/payments/${p.id}/pay`, body, w.rec.access), 422, 'validation_failed', ['method']);
    }
    assert.deepEqual(await getPayment(p.id), p);

    const paid = expectStatus(await pay(p.id, w.rec.access, 'insurance'), 200).body;
    assertPayment(paid);
    assert.deepEqual([paid.status, paid.method, paid.refunded_cents, paid.refunds], ['paid', 'insurance', 0, []]);
    assert.ok(Math.abs(Date.parse(paid.paid_at) - Date.now()) < 60000, `paid_at ${paid.paid_at} is about now`);
    assert.deepEqual(
      [paid.amount_cents, paid.doctor_share_bps, paid.doctor_share_cents, paid.center_share_cents, paid.visit_id, paid.created_at],
      [p.amount_cents, p.doctor_share_bps, p.doctor_share_cents, p.center_share_cents, p.visit_id, p.created_at],
    );
    assert.deepEqual(await getPayment(p.id), paid);

    // pay twice
    expectError(await pay(p.id, w.rec.access, 'cash'), 409, 'conflict');
    expectError(await pay(p.id, await asAdmin(), 'insurance'), 409, 'conflict');
    assert.deepEqual(await getPayment(p.id), paid);

    // validation of refund
    for (const [body, field] of [
      [{ amount_cents: 0, reason: 'x' }, 'amount_cents'],
      [{ amount_cents: -5, reason: 'x' }, 'amount_cents'],
      [{ amount_cents: 1.5, reason: 'x' }, 'amount_cents'],
      [{ amount_cents: '10', reason: 'x' }, 'amount_cents'],
      [{ reason: 'x' }, 'amount_cents'],
      [{ amount_cents: 10 }, 'reason'],
      [{ amount_cents: 10, reason: '' }, 'reason'],
      [{ amount_cents: 10, reason: 'r'.repeat(501) }, 'reason'],
    ]) {
      expectError(await post(`/api/payments/${p.id}/refund`, body, w.rec.access), 422, 'validation_failed', [field]);
    }
    // more than the amount
    expectError(await refund(p.id, 10001, w.rec.access), 422, 'validation_failed', ['amount_cents']);
    assert.deepEqual(await getPayment(p.id), paid);

    const part = (await refundOk(p.id, 2500, w.rec.access, undefined, 'r'.repeat(500))).now;
    assertPayment(part);
    assert.deepEqual([part.status, part.refunded_cents, part.refunds.length, part.method, part.paid_at], ['partially_refunded', 2500, 1, 'insurance', paid.paid_at]);
    assert.deepEqual(
      [part.refunds[0].amount_cents, part.refunds[0].doctor_share_cents, part.refunds[0].center_share_cents, part.refunds[0].reason],
      [2500, 1000, 1500, 'r'.repeat(500)],
    );
    // pay on a partially refunded payment
    expectError(await pay(p.id, w.rec.access), 409, 'conflict');
    // more than what is left (7500)
    expectError(await refund(p.id, 7501, w.rec.access), 422, 'validation_failed', ['amount_cents']);
    assert.deepEqual(await getPayment(p.id), part);

    const full = (await refundOk(p.id, 7500, await asAdmin())).now;
    assertPayment(full);
    assert.deepEqual([full.status, full.refunded_cents, full.refunds.length], ['refunded', 10000, 2]);
    assert.equal(full.refunds[0].doctor_share_cents + full.refunds[1].doctor_share_cents, 4000);

    // nothing left: any refund of a refunded payment is refused (the state first: 409), pay too
    expectError(await refund(p.id, 1, w.rec.access), 409, 'conflict');
    expectError(await pay(p.id, w.rec.access), 409, 'conflict');
    assert.deepEqual(await getPayment(p.id), full);

    expectError(await pay(NOT_FOUND_ID, w.rec.access), 404, 'not_found');
    expectError(await refund(NOT_FOUND_ID, 1, w.rec.access), 404, 'not_found');
    expectError(await get(`/api/payments/${NOT_FOUND_ID}`, await asAdmin()), 404, 'not_found');
  });

  test('the pay and refund answers are the payment as it now is: the refund just made is in refunds (also in a replay)', async () => {
    const w = await world({ price: 1000 });
    await setRule({ clinic_id: w.clinic.id, doctor_share_bps: 5000 });
    const p = await billed(w);
    const paid = expectStatus(await pay(p.id, w.rec.access, 'cash'), 200).body;
    assert.deepEqual(paid, await getPayment(p.id));
    const first = expectStatus(await refund(p.id, 300, w.rec.access, undefined, 'primeiro'), 200).body;
    assert.deepEqual(first, await getPayment(p.id), 'POST refund answers the payment with the new refund');
    assert.deepEqual(first.refunds.map((r) => [r.amount_cents, r.doctor_share_cents, r.reason]), [[300, 150, 'primeiro']]);
    const key = `answer-${p.id}-${Date.now()}`;
    const second = expectStatus(await refund(p.id, 700, w.rec.access, { 'Idempotency-Key': key }, 'segundo'), 200).body;
    assert.deepEqual(second.refunds.map((r) => r.amount_cents), [300, 700]);
    assert.deepEqual(second, await getPayment(p.id));
    const replay = expectStatus(await refund(p.id, 700, w.rec.access, { 'Idempotency-Key': key }, 'segundo'), 200).body;
    assert.deepEqual(replay, second);
  });

  test('two concurrent refunds that together exceed what is left: one 200, one 422; refunded never exceeds the amount', async () => {
    const w = await world({ price: 100 });
    await setRule({ clinic_id: w.clinic.id, doctor_share_bps: 3333 });
    const p = await billed(w);
    expectStatus(await pay(p.id, w.rec.access), 200);
    const results = await Promise.all([refund(p.id, 60, w.rec.access), refund(p.id, 60, w.rec2.access), refund(p.id, 60, await asAdmin())]);
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 422, 422], JSON.stringify(results.map((r) => r.body)));
    for (const r of results.filter((x) => x.status === 422)) expectError(r, 422, 'validation_failed', ['amount_cents']);
    const after = await getPayment(p.id);
    assertPayment(after);
    assert.deepEqual([after.status, after.refunded_cents, after.refunds.length], ['partially_refunded', 60, 1]);
    // the remaining 40 in two concurrent halves
    const halves = await Promise.all([refund(p.id, 20, w.rec.access), refund(p.id, 20, w.rec2.access)]);
    assert.deepEqual(halves.map((r) => r.status), [200, 200]);
    const final = await getPayment(p.id);
    assertPayment(final);
    assert.deepEqual([final.status, final.refunded_cents, final.refunds.length], ['refunded', 100, 3]);
    assert.equal(final.refunds.reduce((a, r) => a + r.doctor_share_cents, 0), share(100, 3333));
  });
});

describe('payments: fee rule snapshot', () => {
  test('changing or deleting a fee rule after billing leaves existing payments unchanged; new payments follow the new rule', async () => {
    const w = await world({ price: 9000 });
    const rule = await setRule({ service_id: w.service.id, doctor_share_bps: 2500, price_cents: 10000 });
    const p1 = await billed(w);
    assert.deepEqual([p1.amount_cents, p1.doctor_share_bps, p1.doctor_share_cents], [10000, 2500, 2500]);

    // replace the rule (same scope: 200, same id)
    const res = await putRule({ service_id: w.service.id, doctor_share_bps: 7500, price_cents: 20000 }, await asAdmin());
    const changed = expectStatus(res, 200).body;
    assert.deepEqual([changed.id, changed.doctor_share_bps, changed.price_cents], [rule.id, 7500, 20000]);
    assert.deepEqual(await getPayment(p1.id), p1, 'the earlier payment keeps its snapshot');
    const p2 = await billed(w);
    assert.deepEqual([p2.amount_cents, p2.doctor_share_bps, p2.doctor_share_cents], [20000, 7500, 15000]);

    // a paid one keeps it too
    const p2paid = expectStatus(await pay(p2.id, w.rec.access), 200).body;

    // the rule is deleted and the service's price changes: billed payments keep theirs
    expectStatus(await del(`/api/fee-rules/${rule.id}`, await asAdmin()), 204);
    expectStatus(await patch(`/api/services/${w.service.id}`, { price_cents: 9500 }, await asAdmin()), 200);
    assert.deepEqual(await getPayment(p1.id), p1);
    assert.deepEqual(await getPayment(p2.id), p2paid);
    expectStatus(await post(`/api/payments/${p1.id}/pay`, { method: 'card' }, w.rec.access), 200);
    const refunded = (await refundOk(p2.id, 20000, w.rec.access)).now;
    assert.deepEqual([refunded.status, refunded.refunds[0].doctor_share_cents], ['refunded', 15000], 'a refund after the rule is gone splits by the snapshot');

    // without the rule: service price, 0 bps
    const p3 = await billed(w);
    assert.deepEqual([p3.amount_cents, p3.doctor_share_bps, p3.doctor_share_cents, p3.center_share_cents], [9500, 0, 0, 9500]);
    assert.equal((await paymentsOf(p1.visit_id))[0].amount_cents, 10000);
  });
});

describe('payments: Idempotency-Key', () => {
  test('pay and refund with a key: a retry gets the same status and body with Idempotent-Replayed: true and changes nothing', async () => {
    const w = await world({ price: 5000 });
    await setRule({ clinic_id: w.clinic.id, doctor_share_bps: 5000 });
    const p = await billed(w);

    const payKey = `pay-${p.id}-${Date.now()}`;
    const first = expectStatus(await pay(p.id, w.rec.access, 'pix', { 'Idempotency-Key': payKey }), 200);
    assert.equal(replayed(first), null, 'the first answer is not a replay');
    assert.equal(first.body.status, 'paid');
    await sleep(1100); // a re-execution would show in updated_at
    const again = expectStatus(await pay(p.id, w.rec.access, 'pix', { 'Idempotency-Key': payKey }), 200);
    assert.equal(replayed(again), 'true');
    assert.deepEqual(again.body, first.body);
    assert.deepEqual(await getPayment(p.id), first.body);
    assert.equal((await auditRows(`action=payment_pay&entity_id=${p.id}`)).length, 1, 'one payment_pay row');
    // without a key, paying again is the 409 it is
    expectError(await pay(p.id, w.rec.access, 'pix'), 409, 'conflict');
    // same key, different body (method) or different path: 409 idempotency_key_reused
    expectError(await pay(p.id, w.rec.access, 'cash', { 'Idempotency-Key': payKey }), 409, 'idempotency_key_reused');
    expectError(await refund(p.id, 100, w.rec.access, { 'Idempotency-Key': payKey }), 409, 'idempotency_key_reused');
    assert.deepEqual(await getPayment(p.id), first.body);

    const refundKey = `refund-${p.id}-${Date.now()}`;
    const { res: r1, now: afterR1 } = await refundOk(p.id, 1001, w.rec.access, { 'Idempotency-Key': refundKey }, 'Desistência');
    assert.equal(replayed(r1), null);
    assert.deepEqual([afterR1.status, afterR1.refunded_cents, afterR1.refunds.length], ['partially_refunded', 1001, 1]);
    const r2 = expectStatus(await refund(p.id, 1001, w.rec.access, { 'Idempotency-Key': refundKey }, 'Desistência'), 200);
    assert.equal(replayed(r2), 'true');
    assert.deepEqual(r2.body, r1.body);
    // the body is compared as a request: key order does not matter
    const r3 = expectStatus(await post(`/api/payments/${p.id}/refund`, { reason: 'Desistência', amount_cents: 1001 }, w.rec.access, { headers: { 'Idempotency-Key': refundKey } }), 200);
    assert.deepEqual(r3.body, r1.body);
    let now = await getPayment(p.id);
    assert.equal(now.refunds.length, 1, 'only one refund row');
    assert.deepEqual(now, afterR1, 'the replays changed nothing');
    // same key, different amount or reason: 409, nothing refunded
    expectError(await refund(p.id, 1000, w.rec.access, { 'Idempotency-Key': refundKey }, 'Desistência'), 409, 'idempotency_key_reused');
    expectError(await refund(p.id, 1001, w.rec.access, { 'Idempotency-Key': refundKey }, 'Outro motivo'), 409, 'idempotency_key_reused');
    now = await getPayment(p.id);
    assert.deepEqual([now.refunded_cents, now.refunds.length], [1001, 1]);
    // a new key refunds again
    const { res: r4, now: afterR4 } = await refundOk(p.id, 1001, w.rec.access, { 'Idempotency-Key': `${refundKey}-2` }, 'Desistência');
    assert.equal(replayed(r4), null);
    assert.deepEqual([afterR4.refunded_cents, afterR4.refunds.length], [2002, 2]);
    assert.equal((await auditRows(`action=payment_refund&entity_id=${p.id}`)).length, 2, 'two payment_refund rows');

    // a failed request keeps nothing: the retry with its key runs again
    const failKey = `fail-${p.id}-${Date.now()}`;
    expectError(await refund(p.id, 999999, w.rec.access, { 'Idempotency-Key': failKey }), 422, 'validation_failed', ['amount_cents']);
    const afterFail = await refund(p.id, 999999, w.rec.access, { 'Idempotency-Key': failKey });
    expectError(afterFail, 422, 'validation_failed', ['amount_cents']);
  });

  test('a bad key (101 characters, a space, a tab, empty, non-ASCII) is 400 invalid_idempotency_key and nothing runs; 100 visible characters are fine', async () => {
    const w = await world();
    const p = await billed(w);
    const bad = ['k'.repeat(101), 'two words', 'tab\there', 'x'.repeat(50) + ' ' + 'y'.repeat(10)];
    const answers = [];
    for (const key of bad) {
      const res = await pay(p.id, w.rec.access, 'cash', { 'Idempotency-Key': key });
      answers.push([JSON.stringify(key), res.status, res.body?.error?.code ?? res.body?.status]);
    }
    assert.deepEqual(answers, bad.map((k) => [JSON.stringify(k), 400, 'invalid_idempotency_key']), 'every bad key is refused');
    // an empty header value, if the client sends one
    const empty = await pay(p.id, w.rec.access, 'cash', { 'Idempotency-Key': '' });
    expectError(empty, 400, 'invalid_idempotency_key');
    assert.equal((await getPayment(p.id)).status, 'pending', 'nothing was paid with a bad key');

    const visible = Array.from({ length: 100 }, (_, i) => String.fromCharCode(0x21 + ((i * 7) % 94))).join('');
    const ok = expectStatus(await pay(p.id, w.rec.access, 'card', { 'Idempotency-Key': visible }), 200);
    assert.equal(ok.body.status, 'paid');
    for (const key of bad) {
      expectError(await refund(p.id, 1, w.rec.access, { 'Idempotency-Key': key }), 400, 'invalid_idempotency_key');
    }
    assert.deepEqual((await getPayment(p.id)).refunds, []);
    const again = expectStatus(await pay(p.id, w.rec.access, 'card', { 'Idempotency-Key': visible }), 200);
    assert.equal(replayed(again), 'true');
    assert.deepEqual(again.body, ok.body);

    // a key with a non-ASCII character (sent as its UTF-8 bytes: fetch writes each char of a header as one byte)
    // is not a valid key either
    const p2 = await billed(w);
    const latin = await pay(p2.id, w.rec.access, 'cash', { 'Idempotency-Key': Buffer.from('caf\u00e9').toString('latin1') });
    assert.equal((await getPayment(p2.id)).status, 'pending', `a non-ASCII key must not run the request: ${latin.status} ${JSON.stringify(latin.body)}`);
    expectError(latin, 400, 'invalid_idempotency_key');
  });

  test('keys are per user: the same key by another receptionist executes separately', async () => {
    const w = await world({ price: 4000 });
    const [a, b] = await Promise.all([billed(w), billed(w)]);
    const key = `shared-${Date.now()}`;
    const byRec = expectStatus(await pay(a.id, w.rec.access, 'cash', { 'Idempotency-Key': key }), 200);
    assert.equal(replayed(byRec), null);
    // the same user with the same key on another payment: reused
    expectError(await pay(b.id, w.rec.access, 'cash', { 'Idempotency-Key': key }), 409, 'idempotency_key_reused');
    assert.equal((await getPayment(b.id)).status, 'pending');
    // another receptionist with that key on the other payment: runs
    const byRec2 = expectStatus(await pay(b.id, w.rec2.access, 'cash', { 'Idempotency-Key': key }), 200);
    assert.equal(replayed(byRec2), null);
    assert.deepEqual([byRec2.body.id, byRec2.body.status], [b.id, 'paid']);
    // refunds with one key by two users: two refunds
    const rkey = `shared-refund-${Date.now()}`;
    const r1 = await refundOk(a.id, 500, w.rec.access, { 'Idempotency-Key': rkey });
    const r2 = await refundOk(a.id, 500, w.rec2.access, { 'Idempotency-Key': rkey });
    assert.equal(replayed(r2.res), null, 'another user\'s key is not a replay');
    assert.deepEqual([r1.now.refunds.length, r2.now.refunds.length, r2.now.refunded_cents], [1, 2, 1000]);
    // and the admin with the same key as a receptionist: runs too
    const r3 = await refundOk(a.id, 500, await asAdmin(), { 'Idempotency-Key': rkey });
    assert.equal(r3.now.refunds.length, 3);
    assert.equal((await getPayment(a.id)).refunded_cents, 1500);
  });

  test('concurrent requests with the same key: one executes, both get the same 200 body, one refund row', async () => {
    const w = await world({ price: 3000 });
    await setRule({ clinic_id: w.clinic.id, doctor_share_bps: 6667 });
    const p = await billed(w);
    const payKey = `cpay-${Date.now()}`;
    const pays = await Promise.all([1, 2, 3].map(() => pay(p.id, w.rec.access, 'card', { 'Idempotency-Key': payKey })));
    assert.deepEqual(pays.map((r) => r.status), [200, 200, 200], JSON.stringify(pays.map((r) => r.body)));
    assert.deepEqual(pays[1].body, pays[0].body);
    assert.deepEqual(pays[2].body, pays[0].body);
    assert.equal(pays.filter((r) => replayed(r) === 'true').length, 2, 'two of the three are replays');

    for (let round = 0; round < 3; round++) {
      const key = `crefund-${round}-${Date.now()}`;
      const rs = await Promise.all([refund(p.id, 100, w.rec.access, { 'Idempotency-Key': key }), refund(p.id, 100, w.rec.access, { 'Idempotency-Key': key })]);
      assert.deepEqual(rs.map((r) => r.status), [200, 200], JSON.stringify(rs.map((r) => r.body)));
      assert.deepEqual(rs[1].body, rs[0].body);
      assert.equal(rs.filter((r) => replayed(r) === 'true').length, 1, 'exactly one of the two is a replay');
      const now = await getPayment(p.id);
      assert.deepEqual([now.refunds.length, now.refunded_cents, rs[0].body.refunded_cents], [round + 1, 100 * (round + 1), 100 * (round + 1)]);
    }
    const final = await getPayment(p.id);
    assertPayment(final);
    assert.deepEqual([final.refunds.length, final.refunded_cents, final.status], [3, 300, 'partially_refunded']);
    assert.equal((await auditRows(`action=payment_refund&entity_id=${p.id}`)).length, 3);
    assert.equal((await auditRows(`action=payment_pay&entity_id=${p.id}`)).length, 1);
  });
});

describe('payments: role boundaries', () => {
  test('a doctor sees only their own payments: list filtered, another doctor\'s payment 404, doctor_id of another doctor 403', async () => {
    const w = await world();
    const [mine, theirs] = await Promise.all([billed(w, { doctor: w.doc }), billed(w, { doctor: w.doc2 })]);
    const d1 = w.doc.user.doctor_id;
    const d2 = w.doc2.user.doctor_id;

    const list = await listAll('/api/payments', w.doc.access);
    assert.ok(list.length >= 1);
    assert.ok(list.every((p) => p.doctor_id === d1), `only the doctor's own: ${JSON.stringify(list.map((p) => p.doctor_id))}`);
    assert.ok(list.some((p) => p.id === mine.id));
    assert.ok(!list.some((p) => p.id === theirs.id));
    assert.deepEqual((await listAll(`/api/payments?doctor_id=${d1}`, w.doc.access)).map((p) => p.id), list.map((p) => p.id));
    assert.deepEqual(await listAll(`/api/payments?visit_id=${theirs.visit_id}`, w.doc.access), []);
    assert.deepEqual(await listAll(`/api/payments?clinic_id=${w.clinic.id}`, w.doc.access), [mine]);
    expectError(await get(`/api/payments?doctor_id=${d2}`, w.doc.access), 403, 'forbidden');
    expectError(await get(`/api/payments/${theirs.id}`, w.doc.access), 404, 'not_found');
    assert.deepEqual(await getPayment(mine.id, w.doc.access), mine);
    assert.deepEqual(await getPayment(theirs.id, w.doc2.access), theirs);
    expectError(await get(`/api/payments/${mine.id}`, w.doc2.access), 404, 'not_found');

    // the clinic's desk and the admin see both
    const desk = await listAll('/api/payments', w.rec.access);
    assert.deepEqual(desk.map((p) => p.id).sort((a, b) => a - b), [mine.id, theirs.id].sort((a, b) => a - b));
    assert.deepEqual((await listAll(`/api/payments?doctor_id=${d2}`, w.rec.access)).map((p) => p.id), [theirs.id]);
    assert.deepEqual((await listAll(`/api/payments?clinic_id=${w.clinic.id}`, await asAdmin())).length, 2);

    // status filter
    expectStatus(await pay(theirs.id, w.rec.access), 200);
    assert.deepEqual((await listAll('/api/payments?status=paid', w.rec.access)).map((p) => p.id), [theirs.id]);
    assert.deepEqual((await listAll('/api/payments?status=pending', w.rec.access)).map((p) => p.id), [mine.id]);
    assert.deepEqual(await listAll('/api/payments?status=paid', w.doc.access), []);
    expectError(await get('/api/payments?status=done', w.rec.access), 400, 'invalid_query', ['status']);
  });

  test('receptionist of another clinic: 404 and their list excludes this clinic\'s; patient 403; doctor and patient 403 on pay and refund', async () => {
    const [w, o] = await Promise.all([world(), world()]);
    const pat = await patientSession(w.clinic.id);
    const p = await billed(w);
    const theirs = await billed(o);

    expectError(await get(`/api/payments/${p.id}`, o.rec.access), 404, 'not_found');
    const oList = await listAll('/api/payments', o.rec.access);
    assert.ok(oList.every((x) => x.clinic_id === o.clinic.id), 'only their clinic');
    assert.ok(oList.some((x) => x.id === theirs.id));
    assert.ok(!oList.some((x) => x.id === p.id));
    assert.deepEqual(await listAll(`/api/payments?visit_id=${p.visit_id}`, o.rec.access), []);
    const wList = await listAll('/api/payments', w.rec.access);
    assert.deepEqual(wList.map((x) => x.id), [p.id]);
    // another clinic's doctor
    expectError(await get(`/api/payments/${p.id}`, o.doc.access), 404, 'not_found');

    // another clinic's receptionist cannot settle or refund it
    const foreignPay = await pay(p.id, o.rec.access);
    expectStatus(foreignPay, [403, 404]);
    assert.equal((await getPayment(p.id)).status, 'pending');

    // patients have no access to money
    expectError(await get('/api/payments', pat.access), 403, 'forbidden');
    expectError(await get(`/api/payments/${p.id}`, pat.access), 403, 'forbidden');
    expectError(await get(`/api/payments?visit_id=${p.visit_id}`, pat.access), 403, 'forbidden');
    for (const token of [w.doc.access, w.doc2.access, pat.access]) {
      expectError(await pay(p.id, token), 403, 'forbidden');
      expectError(await refund(p.id, 1, token), 403, 'forbidden');
      expectError(await pay(p.id, token, 'cash', { 'Idempotency-Key': `role-${Date.now()}` }), 403, 'forbidden');
    }
    assert.equal((await getPayment(p.id)).status, 'pending');
    expectStatus(await pay(p.id, w.rec.access), 200);
    const foreignRefund = await refund(p.id, 1, o.rec.access);
    expectStatus(foreignRefund, [403, 404]);
    for (const token of [w.doc.access, pat.access]) expectError(await refund(p.id, 1, token), 403, 'forbidden');
    assert.deepEqual((await getPayment(p.id)).refunds, []);
    // without a token
    expectStatus(await get('/api/payments'), 401);
    expectStatus(await pay(p.id), 401);
  });
});

describe('fee rules', () => {
  test('fee rules: upsert (201 then 200, same id), list, delete 204; the scope gives the clinic', async () => {
    const admin = await asAdmin();
    const w = await world();
    const d1 = w.doc.user.doctor_id;

    const created = expectStatus(await putRule({ clinic_id: w.clinic.id, doctor_share_bps: 1234 }, admin), 201).body;
    assert.deepEqual(keys(created), RULE_KEYS);
    assert.deepEqual([created.clinic_id, created.service_id, created.doctor_id, created.doctor_share_bps, created.price_cents], [w.clinic.id, null, null, 1234, null]);
    assert.match(created.created_at, INSTANT);
    assert.match(created.updated_at, INSTANT);
    const replaced = expectStatus(await putRule({ clinic_id: w.clinic.id, doctor_share_bps: 4321, price_cents: 500 }, admin), 200).body;
    assert.deepEqual([replaced.id, replaced.doctor_share_bps, replaced.price_cents, replaced.created_at], [created.id, 4321, 500, created.created_at]);
    // price_cents null clears the override
    const cleared = expectStatus(await putRule({ clinic_id: w.clinic.id, doctor_share_bps: 4321, price_cents: null }, admin), 200).body;
    assert.deepEqual([cleared.id, cleared.price_cents], [created.id, null]);

    // the clinic of a doctor rule and of a service rule is theirs
    const byDoctor = expectStatus(await putRule({ doctor_id: d1, doctor_share_bps: 0 }, admin), 201).body;
    assert.deepEqual([byDoctor.clinic_id, byDoctor.service_id, byDoctor.doctor_id, byDoctor.doctor_share_bps], [w.clinic.id, null, d1, 0]);
    const byService = expectStatus(await putRule({ service_id: w.service.id, doctor_id: null, doctor_share_bps: 10000, price_cents: 100000000 }, admin), 201).body;
    assert.deepEqual([byService.clinic_id, byService.service_id, byService.doctor_id, byService.price_cents], [w.clinic.id, w.service.id, null, 100000000]);
    const both = expectStatus(await putRule({ service_id: w.service.id, doctor_id: d1, doctor_share_bps: 1 }, admin), 201).body;
    assert.equal(both.clinic_id, w.clinic.id);

    const all = await listAll(`/api/fee-rules?clinic_id=${w.clinic.id}`, admin);
    assert.deepEqual(all.map((r) => r.id).sort((a, b) => a - b), [created.id, byDoctor.id, byService.id, both.id].sort((a, b) => a - b));
    for (const r of all) assert.deepEqual(keys(r), RULE_KEYS);
    assert.deepEqual((await listAll(`/api/fee-rules?doctor_id=${d1}`, admin)).map((r) => r.id).sort((a, b) => a - b), [byDoctor.id, both.id].sort((a, b) => a - b));
    assert.deepEqual((await listAll(`/api/fee-rules?service_id=${w.service.id}`, admin)).map((r) => r.id).sort((a, b) => a - b), [byService.id, both.id].sort((a, b) => a - b));
    // paging
    const page = expectStatus(await get(`/api/fee-rules?clinic_id=${w.clinic.id}&limit=3`, admin), 200).body;
    assert.equal(page.items.length, 3);
    assert.equal(typeof page.next_cursor, 'string');
    const page2 = expectStatus(await get(`/api/fee-rules?clinic_id=${w.clinic.id}&limit=3&cursor=${encodeURIComponent(page.next_cursor)}`, admin), 200).body;
    assert.equal(page2.items.length, 1);
    assert.equal(page2.next_cursor, null);

    expectStatus(await del(`/api/fee-rules/${both.id}`, admin), 204);
    expectError(await del(`/api/fee-rules/${both.id}`, admin), 404, 'not_found');
    expectError(await del(`/api/fee-rules/${NOT_FOUND_ID}`, admin), 404, 'not_found');
    assert.equal((await listAll(`/api/fee-rules?clinic_id=${w.clinic.id}`, admin)).length, 3);
    // re-created after deletion: a new rule, 201
    const again = expectStatus(await putRule({ service_id: w.service.id, doctor_id: d1, doctor_share_bps: 2 }, admin), 201).body;
    assert.notEqual(again.id, both.id);
  });

  test('fee rules: only ADMIN writes; RECEPTIONIST reads their own clinic\'s; DOCTOR and PATIENT 403', async () => {
    const admin = await asAdmin();
    const [w, o] = await Promise.all([world(), world()]);
    const pat = await patientSession(w.clinic.id);
    const mine = await setRule({ clinic_id: w.clinic.id, doctor_share_bps: 2000 });
    const theirs = await setRule({ clinic_id: o.clinic.id, doctor_share_bps: 3000 });

    for (const token of [w.rec.access, w.doc.access, pat.access]) {
      expectError(await putRule({ clinic_id: w.clinic.id, doctor_share_bps: 9000 }, token), 403, 'forbidden');
      expectError(await putRule({ service_id: w.service.id, doctor_share_bps: 9000 }, token), 403, 'forbidden');
      expectError(await del(`/api/fee-rules/${mine.id}`, token), 403, 'forbidden');
    }
    for (const token of [w.doc.access, pat.access]) expectError(await get('/api/fee-rules', token), 403, 'forbidden');
    expectStatus(await get('/api/fee-rules'), 401);

    const seen = await listAll('/api/fee-rules', w.rec.access);
    assert.deepEqual(seen, [mine], 'the receptionist sees their clinic\'s rule, unchanged');
    assert.ok(!(await listAll('/api/fee-rules', o.rec.access)).some((r) => r.id === mine.id));
    assert.ok((await listAll('/api/fee-rules', o.rec.access)).some((r) => r.id === theirs.id));
    // another clinic's filter is the receptionist's own clinic's view narrowed to nothing
    const foreign = await get(`/api/fee-rules?clinic_id=${o.clinic.id}`, w.rec.access);
    assert.deepEqual(expectStatus(foreign, 200).body.items, [], 'another clinic\'s rules stay hidden');

    // nothing changed, and no service+doctor rule was created by the refused PUTs
    assert.deepEqual(await listAll(`/api/fee-rules?clinic_id=${w.clinic.id}`, admin), [mine]);
    assert.deepEqual(await auditRows(`action=fee_rule_set&actor_user_id=${w.rec.id}`), []);
  });

  test('fee rules validation: 422 for bps out of range, negative price, unknown service or doctor, no clinic when neither is named', async () => {
    const admin = await asAdmin();
    const [w, o] = await Promise.all([world(), world()]);
    const cid = w.clinic.id;
    for (const [body, fields] of [
      [{ clinic_id: cid, doctor_share_bps: -1 }, ['doctor_share_bps']],
      [{ clinic_id: cid, doctor_share_bps: 10001 }, ['doctor_share_bps']],
      [{ clinic_id: cid, doctor_share_bps: 50.5 }, ['doctor_share_bps']],
      [{ clinic_id: cid, doctor_share_bps: '5000' }, ['doctor_share_bps']],
      [{ clinic_id: cid }, ['doctor_share_bps']],
      [{ clinic_id: cid, doctor_share_bps: null }, ['doctor_share_bps']],
      [{ clinic_id: cid, doctor_share_bps: 5000, price_cents: -1 }, ['price_cents']],
      [{ clinic_id: cid, doctor_share_bps: 5000, price_cents: 1.5 }, ['price_cents']],
      [{ clinic_id: cid, doctor_share_bps: 5000, price_cents: 100000001 }, ['price_cents']],
      [{ service_id: NOT_FOUND_ID, doctor_share_bps: 5000 }, ['service_id']],
      [{ doctor_id: NOT_FOUND_ID, doctor_share_bps: 5000 }, ['doctor_id']],
      [{ clinic_id: cid, service_id: NOT_FOUND_ID, doctor_share_bps: 5000 }, ['service_id']],
      [{ clinic_id: cid, doctor_id: NOT_FOUND_ID, doctor_share_bps: 5000 }, ['doctor_id']],
      [{ doctor_share_bps: 5000 }, ['clinic_id']],
      [{ clinic_id: null, service_id: null, doctor_id: null, doctor_share_bps: 5000 }, ['clinic_id']],
      [{ clinic_id: NOT_FOUND_ID, doctor_share_bps: 5000 }, ['clinic_id']],
      [{ clinic_id: cid, doctor_share_bps: 5000, extra: 1 }, ['extra']],
    ]) {
      expectError(await putRule(body, admin), 422, 'validation_failed', fields);
    }
    // a service and a doctor of different clinics: refused, naming one of them
    const mixed = await putRule({ service_id: w.service.id, doctor_id: o.doc.user.doctor_id, doctor_share_bps: 5000 }, admin);
    expectError(mixed, 422, 'validation_failed', ['doctor_id']);
    // boundaries are accepted
    expectStatus(await putRule({ clinic_id: cid, doctor_share_bps: 0, price_cents: 0 }, admin), 201);
    expectStatus(await putRule({ clinic_id: cid, doctor_share_bps: 10000, price_cents: 100000000 }, admin), 200);
    assert.equal((await listAll(`/api/fee-rules?clinic_id=${cid}`, admin)).length, 1, 'only the valid rule was stored');
    assert.deepEqual(await listAll(`/api/fee-rules?clinic_id=${o.clinic.id}`, admin), []);
  });
});

describe('payments: events', () => {
  test('payment_processed: the doctor gets the full payment once, the desk only {id, visit_id, doctor_id, status}, another doctor no amounts', async () => {
    const w = await world({ price: 10001 });
    await setRule({ clinic_id: w.clinic.id, doctor_share_bps: 3333 });
    const [docStart, doc2Start, recStart] = await Promise.all([eventsEnd(w.doc.access), eventsEnd(w.doc2.access), eventsEnd(w.rec.access)]);

    const p = await billed(w);
    const paid = expectStatus(await pay(p.id, w.rec.access, 'pix'), 200).body;
    const part = (await refundOk(p.id, 1, w.rec.access)).now;
    const full = (await refundOk(p.id, 10000, w.rec2.access)).now;
    const states = [p, paid, part, full];

    // the doctor: one full event per change, equal to the payment as it was
    const docEvents = paymentEvents((await eventsSince(w.doc.access, docStart, 8)).items, p.id);
    const fullEvents = docEvents.filter((e) => 'amount_cents' in e.data.payment);
    assert.deepEqual(
      fullEvents.map((e) => e.data.payment),
      states,
      `the doctor's full events: ${JSON.stringify(docEvents.map((e) => e.data))}`,
    );
    for (const e of fullEvents) assert.deepEqual(keys(e.data), ['payment']);
    // one copy of each change, the doctor's own: never the desk's slim copy as well (docs/ARCHITECTURE.md §3)
    assert.equal(docEvents.length, states.length, `the doctor's events: ${JSON.stringify(docEvents.map((e) => e.data))}`);

    // the desk: only ids and status, in order
    const recEvents = paymentEvents((await eventsSince(w.rec.access, recStart, 4)).items, p.id);
    assert.deepEqual(
      recEvents.map((e) => e.data),
      states.map((s) => ({ payment: { id: s.id, visit_id: s.visit_id, doctor_id: s.doctor_id, status: s.status } })),
    );
    for (const e of recEvents) assert.deepEqual(keys(e.data.payment), SLIM_KEYS);

    // another doctor of the clinic: never the amounts
    const doc2All = (await eventsSince(w.doc2.access, doc2Start)).items;
    const doc2Events = paymentEvents(doc2All, p.id);
    assert.ok(doc2Events.length <= states.length);
    for (const e of doc2Events) assert.deepEqual(keys(e.data.payment), SLIM_KEYS, `another doctor sees ${JSON.stringify(e.data)}`);
    assert.ok(!JSON.stringify(doc2All).includes('"amount_cents"'), 'no amounts reach another doctor');
    assert.ok(!JSON.stringify((await eventsSince(w.rec.access, recStart)).items).includes('"doctor_share_cents"'), 'no amounts reach the desk');

    // an idempotent replay announces nothing
    const before = await eventsEnd(w.rec.access);
    const p2 = await billed(w);
    const key = `ev-${Date.now()}`;
    expectStatus(await pay(p2.id, w.rec.access, 'cash', { 'Idempotency-Key': key }), 200);
    expectStatus(await pay(p2.id, w.rec.access, 'cash', { 'Idempotency-Key': key }), 200);
    const p2Events = paymentEvents((await eventsSince(w.rec.access, before, 2)).items, p2.id);
    assert.deepEqual(p2Events.map((e) => e.data.payment.status), ['pending', 'paid']);
  });
});

describe('payments: audit', () => {
  test('GET /api/audit as admin shows payment_create, payment_pay and payment_refund rows for the payment, and fee_rule_set / fee_rule_delete', async () => {
    const w = await world({ price: 2000 });
    const rule = await setRule({ clinic_id: w.clinic.id, doctor_share_bps: 2500 });
    const p = await billed(w);
    expectStatus(await pay(p.id, w.rec.access, 'card', { 'Idempotency-Key': `audit-pay-${p.id}` }), 200);
    expectStatus(await pay(p.id, w.rec.access, 'card', { 'Idempotency-Key': `audit-pay-${p.id}` }), 200);
    expectStatus(await refund(p.id, 500, w.rec2.access), 200);
    expectStatus(await refund(p.id, 1500, w.rec.access, { 'Idempotency-Key': `audit-refund-${p.id}` }), 200);
    expectStatus(await refund(p.id, 1500, w.rec.access, { 'Idempotency-Key': `audit-refund-${p.id}` }), 200);
    expectError(await refund(p.id, 1, w.rec.access), 409, 'conflict');

    const created = await auditRows(`action=payment_create&entity_id=${p.id}`);
    assert.equal(created.length, 1, JSON.stringify(created));
    assert.equal(created[0].entity, 'payment');
    const pays = await auditRows(`action=payment_pay&entity_id=${p.id}`);
    assert.equal(pays.length, 1, JSON.stringify(pays));
    assert.deepEqual([pays[0].entity, pays[0].actor_user_id, pays[0].actor_role], ['payment', w.rec.id, 'RECEPTIONIST']);
    const refunds = await auditRows(`action=payment_refund&entity_id=${p.id}`);
    assert.equal(refunds.length, 2, JSON.stringify(refunds));
    assert.deepEqual(refunds.map((r) => [r.entity, r.actor_user_id]).sort(), [['payment', w.rec.id], ['payment', w.rec2.id]].sort());
    const all = await auditRows(`entity=payment&entity_id=${p.id}`);
    assert.deepEqual(all.map((r) => r.action).sort(), ['payment_create', 'payment_pay', 'payment_refund', 'payment_refund']);

    const admin = await asAdmin();
    expectStatus(await del(`/api/fee-rules/${rule.id}`, admin), 204);
    const sets = await auditRows(`action=fee_rule_set&entity_id=${rule.id}`);
    assert.equal(sets.length, 1, JSON.stringify(sets));
    assert.deepEqual([sets[0].entity, sets[0].actor_role], ['fee_rule', 'ADMIN']);
    const dels = await auditRows(`action=fee_rule_delete&entity_id=${rule.id}`);
    assert.equal(dels.length, 1, JSON.stringify(dels));
    assert.equal(dels[0].entity, 'fee_rule');
    // the payment's history survives the rule
    assert.equal((await auditRows(`action=payment_create&entity_id=${p.id}`)).length, 1);
  });
});

describe('payments: the clinic around the money', () => {
  test('a clinic that has billed keeps its currency (409); before that it may change', async () => {
    const admin = await asAdmin();
    const idle = await createClinic({ timezone: TZ });
    expectStatus(await patch(`/api/clinics/${idle.id}`, { currency: 'EUR' }, admin), 200);
    const w = await world();
    expectStatus(await patch(`/api/clinics/${w.clinic.id}`, { currency: 'USD' }, admin), 200);
    await billed(w);
    expectError(await patch(`/api/clinics/${w.clinic.id}`, { currency: 'BRL' }, admin), 409, 'conflict');
    assert.equal(expectStatus(await get(`/api/clinics/${w.clinic.id}`, admin), 200).body.currency, 'USD');
    // other changes still go through
    expectStatus(await patch(`/api/clinics/${w.clinic.id}`, { name: `Renamed ${Date.now()}` }, admin), 200);
  });

  test('the revenue dashboard refuses malformed dates without reading past them; a batch of a month not begun is 422 even without doctors', async () => {
    const admin = await asAdmin();
    for (const q of ['from=1&to=2026-01-01', 'from=2026-01&to=2026-01-31', 'from=&to=2026-01-01']) {
      expectError(await get(`/api/dashboard/admin/revenue?${q}`, admin), 400, 'invalid_query', ['from']);
    }
    const empty = await createClinic({ timezone: TZ });
    const year = Number(new Date().toISOString().slice(0, 4)) + 2;
    expectError(await post('/api/closings/batch', { clinic_id: empty.id, month: `${year}-01` }, admin), 422, 'validation_failed', ['month']);
  });
});
