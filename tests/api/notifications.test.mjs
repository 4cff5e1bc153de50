// The notification inbox and announcements (DESIGN §9, sql/0027_notifications.sql,
// api-server/h_notifications.c): every role's own inbox (cursor pages, newest first, ?unread=true),
// read marks (idempotent), the unread count, someone else's item as 404; the causes written in the
// transaction of the change (a booking made or cancelled, a closing to confirm, a payment processed,
// the generic notify_user hook), each exactly once and for the right user alone; the live push of
// `notification` to the personal room user:{id} (not to an admin's "every room"), its replay after a
// reconnect and over GET /api/events; the retention sweep; announcements' audience (installation,
// clinic, role), the receptionist's own-clinic boundary, thousands of recipients with one insert,
// and bad input.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { io } from 'socket.io-client';

import {
  asAdmin,
  createAppointment,
  createAvailability,
  createClinic,
  createService,
  eventsEnd,
  eventsSince,
  expectError,
  expectStatus,
  get,
  listAll,
  moveVisit,
  nextWeekday,
  patientSession,
  post,
  psql,
  staffSession,
  walkIn,
} from '../lib/api.mjs';

const SIGNALING_URL = process.env.SIGNALING_URL;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sp = (date, hhmm) => new Date(`${date}T${hhmm}:00-03:00`).toISOString().replace('.000Z', 'Z');
const MONDAYS = { weekday: 1, start_time: '08:00', end_time: '22:00', slot_minutes: 30, consultation_types: ['in_person'] };
const ITEM_KEYS = ['body', 'created_at', 'data', 'id', 'kind', 'read_at', 'title'];

// A fresh São Paulo clinic: a receptionist, two doctors (Mondays), a patient with an account, a service.
async function world() {
  const clinic = await createClinic({ timezone: 'America/Sao_Paulo' });
  const [rec, doc, doc2, pat, service] = await Promise.all([
    staffSession('RECEPTIONIST', clinic.id),
    staffSession('DOCTOR', clinic.id),
    staffSession('DOCTOR', clinic.id),
    patientSession(clinic.id),
    createService(clinic.id, { duration_minutes: 30, price_cents: 12000 }),
  ]);
  await createAvailability(doc.user.doctor_id, MONDAYS);
  return { clinic, rec, doc, doc2, pat, service, monday: nextWeekday(1) };
}

const inbox = async (token, query = '') => listAll(`/api/notifications${query}`, token);
const unread = async (token) => expectStatus(await get('/api/notifications/unread-count', token), 200).body.unread;
const ofKind = (items, kind) => items.filter((n) => n.kind === kind);

function book(w, hhmm = '09:00') {
  return createAppointment(w.rec.access, {
    patient_id: w.pat.patient.id, doctor_id: w.doc.user.doctor_id, service_id: w.service.id, start_time: sp(w.monday, hhmm),
  });
}

// Socket.IO connection resolving once connected; events collects {name, data}.
function connected(auth) {
  const s = io(SIGNALING_URL, { transports: ['websocket'], auth, reconnection: false, forceNew: true, timeout: 5000 });
  const events = [];
  s.onAny((name, data) => events.push({ name, data }));
  return new Promise((resolve, reject) => {
    s.on('connect', () => resolve({ s, events }));
    s.on('connect_error', (e) => { s.close(); reject(e); });
  });
}

async function until(what, pred, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const pushed = (events, id) => events.filter((e) => e.name === 'notification' && e.data.notification?.id === id);

describe('notifications: the inbox', () => {
  test('every role has an inbox; unread count, read, read-all idempotent; newest first in cursor pages; ?unread=true', async () => {
    const w = await world();
    const admin = await asAdmin();
    for (const t of [admin, w.rec.access, w.doc.access, w.pat.access]) {
      const page = expectStatus(await get('/api/notifications', t), 200).body;
      assert.ok(Array.isArray(page.items));
      assert.equal(typeof (await unread(t)), 'number');
      expectStatus(await post('/api/notifications/read-all', undefined, t), 200);
      assert.equal(await unread(t), 0, 'read-all leaves nothing unread');
    }
    const me = w.rec.id;
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(Number(await psql(`SELECT notify_user(${me}, 'doctor_ready', 'Note ${i}', 'body ${i}', '{"n": ${i}}')`)));
    assert.equal(await unread(w.rec.access), 5);
    const p1 = expectStatus(await get('/api/notifications?limit=2', w.rec.access), 200).body;
    assert.deepEqual(p1.items.map((n) => n.id), [ids[4], ids[3]], 'newest first');
    assert.deepEqual(Object.keys(p1.items[0]).sort(), ITEM_KEYS);
    assert.deepEqual([p1.items[0].kind, p1.items[0].title, p1.items[0].body, p1.items[0].data, p1.items[0].read_at], ['doctor_ready', 'Note 4', 'body 4', { n: 4 }, null]);
    const p2 = expectStatus(await get(`/api/notifications?limit=2&cursor=${p1.next_cursor}`, w.rec.access), 200).body;
    assert.deepEqual(p2.items.map((n) => n.id), [ids[2], ids[1]]);

    const r1 = expectStatus(await post(`/api/notifications/${ids[1]}/read`, undefined, w.rec.access), 200).body;
    assert.equal(r1.id, ids[1]);
    assert.ok(r1.read_at);
    await sleep(1100);
    const r2 = expectStatus(await post(`/api/notifications/${ids[1]}/read`, undefined, w.rec.access), 200).body;
    assert.equal(r2.read_at, r1.read_at, 'marking again keeps the first read time');
    assert.equal(await unread(w.rec.access), 4);
    assert.deepEqual((await inbox(w.rec.access, '?unread=true')).map((n) => n.id), [ids[4], ids[3], ids[2], ids[0]]);

    assert.equal(expectStatus(await post('/api/notifications/read-all', undefined, w.rec.access), 200).body.marked, 4);
    assert.equal(expectStatus(await post('/api/notifications/read-all', undefined, w.rec.access), 200).body.marked, 0, 'read-all again marks nothing');
    assert.equal(await unread(w.rec.access), 0);
    assert.deepEqual(await inbox(w.rec.access, '?unread=true'), []);
    assert.equal((await inbox(w.rec.access)).length, 5, 'read items stay in the inbox');
  });

  test('someone else\'s notification is 404 to read, and never listed; unknown ids 404', async () => {
    const w = await world();
    const id = Number(await psql(`SELECT notify_user(${w.doc.id}, 'doctor_ready', 'Mine', '', '{}')`));
    for (const t of [await asAdmin(), w.rec.access, w.doc2.access, w.pat.access]) {
      expectError(await post(`/api/notifications/${id}/read`, undefined, t), 404, 'not_found');
      assert.ok(!(await inbox(t)).some((n) => n.id === id));
    }
    assert.equal(await psql(`SELECT read_at IS NULL FROM notifications WHERE id = ${id}`), 't', 'nothing was marked');
    expectError(await post('/api/notifications/999999999/read', undefined, w.doc.access), 404, 'not_found');
    assert.ok((await inbox(w.doc.access)).some((n) => n.id === id));
  });

  test('bad input: bad cursor, bad unread, bad limit, unknown parameter; no token 401', async () => {
    const t = (await world()).rec.access;
    expectError(await get('/api/notifications?cursor=nonsense', t), 400, 'invalid_query');
    expectError(await get('/api/notifications?unread=yes', t), 400, 'invalid_query');
    expectError(await get('/api/notifications?limit=0', t), 400, 'invalid_query');
    expectError(await get('/api/notifications?limit=201', t), 400, 'invalid_query');
    expectError(await get('/api/notifications?kind=x', t), 400, 'invalid_query');
    expectError(await get('/api/notifications/unread-count?x=1', t), 400, 'invalid_query');
    expectError(await get('/api/notifications'), 401, 'unauthorized');
    expectError(await post('/api/notifications/read-all'), 401, 'unauthorized');
  });
});

describe('notifications: causes', () => {
  test('a booking made and cancelled: exactly one each for the doctor\'s user and the patient\'s user, none for others', async () => {
    const w = await world();
    const a = await book(w);
    const booked = async (t) => ofKind(await inbox(t), 'appointment_booked').filter((n) => n.data.appointment_id === a.id);
    assert.equal((await booked(w.doc.access)).length, 1);
    assert.equal((await booked(w.pat.access)).length, 1);
    for (const t of [w.rec.access, w.doc2.access, await asAdmin()]) assert.equal((await booked(t)).length, 0);
    const n = (await booked(w.doc.access))[0];
    assert.deepEqual([n.data.doctor_id, n.data.patient_id, n.data.clinic_id], [w.doc.user.doctor_id, w.pat.patient.id, w.clinic.id]);

    expectStatus(await post(`/api/appointments/${a.id}/cancel`, { reason: 'Agenda' }, w.rec.access), 200);
    const cancelled = async (t) => ofKind(await inbox(t), 'appointment_cancelled').filter((x) => x.data.appointment_id === a.id);
    assert.equal((await cancelled(w.doc.access)).length, 1);
    assert.equal((await cancelled(w.pat.access)).length, 1);
    for (const t of [w.rec.access, w.doc2.access]) assert.equal((await cancelled(t)).length, 0);
    assert.equal(Number(await psql(`SELECT count(*) FROM notifications WHERE data->>'appointment_id' = '${a.id}'`)), 4, 'four in all');
  });

  test('a payment processed: exactly one for the patient\'s user when paid; a refund adds none', async () => {
    const w = await world();
    const visit = await walkIn(w.rec.access, { patient_id: w.pat.patient.id, doctor_id: w.doc.user.doctor_id, service_id: w.service.id });
    await moveVisit(visit.id, 'with_doctor', w.rec.access);
    expectStatus(await post('/api/queue/complete-consultation', { visit_id: visit.id }, w.doc.access), 200);
    const pay = (await listAll(`/api/payments?visit_id=${visit.id}`, w.rec.access))[0];
    const mine = async (t) => ofKind(await inbox(t), 'payment_processed').filter((n) => n.data.payment_id === pay.id);
    assert.equal((await mine(w.pat.access)).length, 0, 'nothing while pending');
    expectStatus(await post(`/api/payments/${pay.id}/pay`, { method: 'cash' }, w.rec.access), 200);
    const got = await mine(w.pat.access);
    assert.equal(got.length, 1);
    assert.deepEqual([got[0].data.amount_cents, got[0].data.currency], [12000, 'BRL']);
    expectStatus(await post(`/api/payments/${pay.id}/refund`, { amount_cents: 100, reason: 'Troco' }, w.rec.access), 200);
    assert.equal((await mine(w.pat.access)).length, 1);
    for (const t of [w.rec.access, w.doc.access, w.doc2.access]) assert.equal((await mine(t)).length, 0);
  });

  test('a closing to confirm: exactly one for the doctor when the admin confirms the payment', async () => {
    const w = await world();
    const admin = await asAdmin();
    const d = new Date();
    const month = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1)).toISOString().slice(0, 7);
    const c = expectStatus(await post('/api/closings', { doctor_id: w.doc.user.doctor_id, month }, admin), 201).body;
    expectStatus(await post(`/api/closings/${c.id}/close`, undefined, admin), 200);
    const mine = async (t) => ofKind(await inbox(t), 'closing_to_confirm').filter((n) => n.data.closing_id === c.id);
    assert.equal((await mine(w.doc.access)).length, 0, 'nothing while only closed');
    expectStatus(await post(`/api/closings/${c.id}/confirm-payment`, { reference: 'REF-N-1' }, admin), 200);
    const got = await mine(w.doc.access);
    assert.equal(got.length, 1);
    assert.equal(got[0].data.month, month);
    for (const t of [w.doc2.access, w.rec.access, admin]) assert.equal((await mine(t)).length, 0);
  });

  test('notify_user(NULL, ...) is a no-op (a patient without an account)', async () => {
    assert.equal(await psql(`SELECT notify_user(NULL, 'doctor_ready', 'x', 'y') IS NULL`), 't');
  });
});

describe('notifications: live and replay', () => {
  test('pushed as `notification` to user:{id} only (not another doctor, nor an admin in every room); GET /api/events too', async () => {
    const w = await world();
    const admin = await asAdmin();
    const [mine, other, adm] = await Promise.all([
      connected({ token: w.doc.access }), connected({ token: w.doc2.access }), connected({ token: admin }),
    ]);
    const adminStart = await eventsEnd(admin);
    try {
      const id = Number(await psql(`SELECT notify_user(${w.doc.id}, 'doctor_ready', 'Ready', 'now', '{"x": 1}')`));
      const adminId = Number(await psql(`SELECT id FROM users WHERE email = 'admin@demo.clinic'`));
      const own = Number(await psql(`SELECT notify_user(${adminId}, 'doctor_ready', 'Admin own', '', '{}')`));
      await until('the doctor\'s notification', () => pushed(mine.events, id).length === 1);
      await until('the admin\'s own notification', () => pushed(adm.events, own).length === 1);
      const e = pushed(mine.events, id)[0].data;
      assert.deepEqual([e.notification.kind, e.notification.title, e.notification.data], ['doctor_ready', 'Ready', { x: 1 }]);
      assert.ok(e.event_id && e.occurred_at);
      await sleep(500);
      assert.equal(pushed(other.events, id).length, 0, 'another doctor hears nothing');
      assert.equal(pushed(adm.events, id).length, 0, 'an admin is not in another user\'s room');
      assert.equal(pushed(mine.events, own).length, 0);

      const polled = (await eventsSince(w.doc.access, null)).items.filter((x) => x.name === 'notification');
      assert.ok(polled.some((x) => x.data.notification.id === id), 'GET /api/events has it for its user');
      const adminPolled = (await eventsSince(admin, adminStart)).items.filter((x) => x.name === 'notification');
      assert.deepEqual(adminPolled.map((x) => x.data.notification.id), [own], 'an admin polls their own notifications only');
    } finally {
      for (const c of [mine, other, adm]) c.s.close();
    }
  });

  test('replay after a reconnect: the notifications missed, once; an admin replays only their own', async () => {
    const w = await world();
    const first = await connected({ token: w.pat.access });
    const start = await eventsEnd(await asAdmin()); // a position in the one outbox order (the patient has no event yet)
    first.s.close();
    const a = await book(w, '10:00');
    const missed = (await inbox(w.pat.access)).find((n) => n.data.appointment_id === a.id).id;
    const again = await connected({ token: w.pat.access, last_event_id: start });
    try {
      await until('the replayed notification', () => pushed(again.events, missed).length === 1);
      await sleep(400);
      assert.equal(pushed(again.events, missed).length, 1, 'exactly once');
    } finally {
      again.s.close();
    }
    const admin = await asAdmin();
    const adminStart = await eventsEnd(admin);
    const other = Number(await psql(`SELECT notify_user(${w.rec.id}, 'doctor_ready', 'Not for admin', '', '{}')`));
    const adm = await connected({ token: admin, last_event_id: adminStart });
    try {
      const marker = Number(await psql(`SELECT notify_user((SELECT id FROM users WHERE email = 'admin@demo.clinic'), 'doctor_ready', 'marker', '', '{}')`));
      await until('the admin\'s own notification', () => pushed(adm.events, marker).length === 1);
      assert.equal(pushed(adm.events, other).length, 0, 'the receptionist\'s notification is not replayed to an admin');
    } finally {
      adm.s.close();
    }
  });
});

describe('notifications: retention', () => {
  test('read notifications older than NOTIFICATION_RETENTION_DAYS (90) are swept; unread and recent ones stay', async () => {
    const w = await world();
    const u = w.doc2.id;
    const mk = async (t) => Number(await psql(`SELECT notify_user(${u}, 'doctor_ready', '${t}', '', '{}')`));
    const [oldRead, oldUnread, recentRead, edge] = [await mk('old read'), await mk('old unread'), await mk('recent read'), await mk('edge')];
    await psql(`UPDATE notifications SET created_at = now() - interval '200 days', read_at = now() - interval '91 days' WHERE id = ${oldRead};
                UPDATE notifications SET created_at = now() - interval '200 days' WHERE id = ${oldUnread};
                UPDATE notifications SET read_at = now() - interval '10 days' WHERE id = ${recentRead};
                UPDATE notifications SET read_at = now() - interval '89 days' WHERE id = ${edge};`);
    // the sweep runs on the inbox's marking routes (anyone's)
    expectStatus(await post('/api/notifications/read-all', undefined, w.rec.access), 200);
    const left = (await psql(`SELECT id FROM notifications WHERE user_id = ${u} ORDER BY id`)).split('\n').map(Number);
    assert.deepEqual(left, [oldUnread, recentRead, edge]);
    const ann = expectStatus(await post('/api/announcements', { title: 'Old news', body: 'x', clinic_id: w.clinic.id }, await asAdmin()), 201).body;
    await psql(`UPDATE announcements SET created_at = now() - interval '91 days' WHERE id = ${ann.id}`);
    expectStatus(await post('/api/notifications/read-all', undefined, w.rec.access), 200);
    assert.equal(await psql(`SELECT count(*) FROM announcements WHERE id = ${ann.id}`), '0', 'announcements expire after the same period');
  });
});

describe('announcements', () => {
  test('admin: installation-wide, one clinic, one role; the audience sees it (unread count too), others do not', async () => {
    const admin = await asAdmin();
    const w = await world();
    const w2 = await world();
    const everyone = expectStatus(await post('/api/announcements', { title: 'Maintenance', body: 'Sunday 02:00' }, admin), 201).body;
    assert.deepEqual([everyone.clinic_id, everyone.role, everyone.title, everyone.body], [null, null, 'Maintenance', 'Sunday 02:00']);
    const clinicOne = expectStatus(await post('/api/announcements', { title: 'Clinic one', body: 'Hi', clinic_id: w.clinic.id }, admin), 201).body;
    const doctorsOne = expectStatus(await post('/api/announcements', { title: 'Doctors', body: 'Meeting', clinic_id: w.clinic.id, role: 'DOCTOR' }, admin), 201).body;
    const admins = expectStatus(await post('/api/announcements', { title: 'Admins', body: 'Only', role: 'ADMIN' }, admin), 201).body;
    const sees = async (t) => (await inbox(t)).filter((n) => n.kind === 'announcement').map((n) => n.id);
    assert.deepEqual(await sees(w.doc.access), [doctorsOne.id, clinicOne.id, everyone.id]);
    assert.deepEqual(await sees(w.rec.access), [clinicOne.id, everyone.id]);
    assert.deepEqual(await sees(w.pat.access), [clinicOne.id, everyone.id]);
    assert.deepEqual(await sees(w2.doc.access), [everyone.id]);
    const adminSees = await sees(admin);
    assert.ok(adminSees.includes(admins.id) && adminSees.includes(everyone.id) && !adminSees.includes(clinicOne.id));
    const item = (await inbox(w.doc.access)).find((n) => n.id === doctorsOne.id);
    assert.deepEqual(item.data, { announcement_id: doctorsOne.id, clinic_id: w.clinic.id, role: 'DOCTOR' });

    const before = await unread(w.doc.access);
    expectStatus(await post(`/api/notifications/${doctorsOne.id}/read`, undefined, w.doc.access), 200);
    expectStatus(await post(`/api/notifications/${doctorsOne.id}/read`, undefined, w.doc.access), 200);
    assert.equal(await unread(w.doc.access), before - 1, 'reading an announcement counts once');
    assert.equal(await unread(w.doc2.access) >= 2, true, 'another doctor\'s copy is still unread');
    expectError(await post(`/api/notifications/${doctorsOne.id}/read`, undefined, w.rec.access), 404, 'not_found');
    expectError(await post(`/api/notifications/${clinicOne.id}/read`, undefined, w2.doc.access), 404, 'not_found');
    assert.ok(!(await inbox(w.doc.access, '?unread=true')).some((n) => n.id === doctorsOne.id));
    expectStatus(await post('/api/notifications/read-all', undefined, w.doc.access), 200);
    assert.equal(await unread(w.doc.access), 0);
  });

  test('receptionist: their own clinic only (forced when absent); another clinic 403; doctors and patients 403', async () => {
    const w = await world();
    const w2 = await world();
    const own = expectStatus(await post('/api/announcements', { title: 'Desk', body: 'Closed at noon' }, w.rec.access), 201).body;
    assert.equal(own.clinic_id, w.clinic.id);
    expectStatus(await post('/api/announcements', { title: 'Desk', body: 'Again', clinic_id: w.clinic.id, role: 'PATIENT' }, w.rec.access), 201);
    expectError(await post('/api/announcements', { title: 'X', body: 'Y', clinic_id: w2.clinic.id }, w.rec.access), 403, 'forbidden');
    expectError(await post('/api/announcements', { title: 'X', body: 'Y', clinic_id: 999999999 }, w.rec.access), 403, 'forbidden');
    for (const t of [w.doc.access, w.pat.access]) {
      expectError(await post('/api/announcements', { title: 'X', body: 'Y' }, t), 403, 'forbidden');
      expectError(await get('/api/announcements', t), 403, 'forbidden');
    }
    assert.ok(!(await inbox(w2.rec.access)).some((n) => n.id === own.id));
    const listed = await listAll('/api/announcements', w.rec.access);
    assert.ok(listed.every((a) => a.clinic_id === w.clinic.id) && listed.some((a) => a.id === own.id));
    assert.ok(!(await listAll('/api/announcements', w2.rec.access)).some((a) => a.id === own.id));
    assert.ok((await listAll('/api/announcements', await asAdmin())).some((a) => a.id === own.id));
  });

  test('bad input: empty or oversize title/body, unknown role, ADMIN for a clinic, unknown clinic, unknown field', async () => {
    const admin = await asAdmin();
    const w = await world();
    const bad = async (body, fields, t = admin) => expectError(await post('/api/announcements', body, t), 422, 'validation_failed', fields);
    await bad({ title: '', body: 'x' }, ['title']);
    await bad({ title: '   ', body: 'x' }, ['title']);
    await bad({ title: 'x'.repeat(201), body: 'x' }, ['title']);
    await bad({ title: 'x', body: '' }, ['body']);
    await bad({ title: 'x', body: 'x'.repeat(5001) }, ['body']);
    await bad({ body: 'x' }, ['title']);
    await bad({ title: 'x', body: 'y', role: 'NURSE' }, ['role']);
    await bad({ title: 'x', body: 'y', clinic_id: w.clinic.id, role: 'ADMIN' }, ['role']);
    await bad({ title: 'x', body: 'y', role: 'ADMIN' }, ['role'], w.rec.access);
    await bad({ title: 'x', body: 'y', clinic_id: 999999999 }, ['clinic_id']);
    await bad({ title: 'x', body: 'y', extra: 1 }, ['extra']);
    expectStatus(await post('/api/announcements', { title: 'x'.repeat(200), body: 'y'.repeat(5000) }, admin), 201);
  });

  test('thousands of recipients: one announcement to a 5,000-user clinic reaches its patients alone, unread counts right', async () => {
    const w = await world();
    const other = await world();
    const hash = await psql(`SELECT password_hash FROM users WHERE email = 'admin@demo.clinic'`);
    await psql(`WITH u AS (INSERT INTO users (email, password_hash, full_name, role, clinic_id)
                           SELECT 'bulk-' || ${w.clinic.id} || '-' || g || '@example.com', '${hash}', 'Bulk ' || g, 'PATIENT', ${w.clinic.id}
                           FROM generate_series(1, 4000) g RETURNING id, clinic_id)
                INSERT INTO patients (clinic_id, full_name, user_id) SELECT clinic_id, 'Bulk patient', id FROM u;
                INSERT INTO users (email, password_hash, full_name, role, clinic_id)
                SELECT 'bulkrec-' || ${w.clinic.id} || '-' || g || '@example.com', '${hash}', 'Bulk desk ' || g, 'RECEPTIONIST', ${w.clinic.id}
                FROM generate_series(1, 1000) g;`);
    const sample = Number(await psql(`SELECT id FROM users WHERE email = 'bulk-${w.clinic.id}-17@example.com'`));
    const desk = Number(await psql(`SELECT id FROM users WHERE email = 'bulkrec-${w.clinic.id}-17@example.com'`));
    const counts = async () => (await psql(`SELECT inbox_unread_count(${sample}) || ',' || inbox_unread_count(${desk})`)).split(',').map(Number);
    const [sample0, desk0] = await counts();
    const before = Number(await psql(`SELECT count(*) FROM notifications`));
    const a = expectStatus(await post('/api/announcements', { title: 'Flu shots', body: 'Ask at the desk', role: 'PATIENT' }, w.rec.access), 201).body;
    assert.equal(Number(await psql(`SELECT count(*) FROM notifications`)), before, 'no row per recipient');
    const reached = Number(await psql(`SELECT count(*) FROM users u JOIN announcements a ON announcement_for(a, u) WHERE a.id = ${a.id}`));
    assert.equal(reached, 4001, 'every patient of the clinic (4,000 bulk and the world\'s one)');
    assert.deepEqual(await counts(), [sample0 + 1, desk0], 'a patient has one more unread; a receptionist is not in a patients\' announcement');
    assert.equal(await psql(`SELECT count(*) FROM inbox_page(${sample}, NULL, true, 10) WHERE id = ${a.id}`), '1');
    assert.ok((await inbox(w.pat.access)).some((n) => n.id === a.id), 'the world\'s patient sees it');
    assert.ok(!(await inbox(other.pat.access)).some((n) => n.id === a.id), 'another clinic\'s patient does not');
    assert.ok(!(await inbox(w.rec.access)).some((n) => n.id === a.id), 'the sender (a receptionist) is not a recipient');
    const u0 = await unread(w.pat.access);
    expectStatus(await post(`/api/notifications/${a.id}/read`, undefined, w.pat.access), 200);
    assert.equal(await unread(w.pat.access), u0 - 1);
    assert.deepEqual(await counts(), [sample0 + 1, desk0], 'one reader\'s mark is theirs alone');
  });
});
