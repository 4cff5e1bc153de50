// The payout spreadsheet export: GET /api/closings/export.xlsx?month=&clinic_id= (a clinic's month) and
// GET /api/closings/{id}/export.xlsx (one closing), ADMIN only. Each workbook is converted to CSV with
// LibreOffice headless (which shows the cached values of formulas, so the totals must be cached) and
// checked: one row per closing with its numbers, the PIX key in full, the status and the payment
// reference, a totals row, and every line on the second sheet. Every export leaves an audit row.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import {
  API_URL,
  asAdmin,
  createClinic,
  createPatient,
  createService,
  expectError,
  expectStatus,
  get,
  listAll,
  localDate,
  moveVisit,
  patch,
  patientSession,
  pickTodayZone,
  post,
  put,
  staffSession,
  walkIn,
} from '../lib/api.mjs';

const run = promisify(execFile);
const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
const NOT_FOUND_ID = 2147483000;
// A zone where it is still today two hours from now: the payments of the test stay in one month.
const TZ = pickTodayZone(2);
const MONTH = localDate(TZ).slice(0, 7);
// LibreOffice's CSV filter: comma, double quotes, UTF-8, cells as shown (token 9), every sheet to its
// own file <name>-<sheet>.csv (token 12 = -1, LibreOffice 7.2 and later).
const CSV_FILTER = 'csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1';

// Cents as LibreOffice prints "#,##0.00" (en-US): -1,234.50.
function units(cents) {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  const whole = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}${whole}.${String(abs % 100).padStart(2, '0')}`;
}

// 'YYYY-MM-DD HH:MM' of an instant on the clinic's wall clock.
function localStamp(iso) {
  const p = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', { timeZone: TZ, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' })
      .formatToParts(new Date(iso))
      .map((x) => [x.type, x.value]),
  );
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

// RFC 4180 CSV into rows of fields.
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

const CLOSINGS_HEADER = ['Doctor', 'Consultations', 'Gross (BRL)', 'Doctor net (BRL)', 'PIX key type', 'PIX key', 'Status', 'Payment reference'];
const LINES_HEADER = ['Doctor', 'Date', 'Kind', 'Description', 'Patient', 'Amount (BRL)', 'Doctor amount (BRL)'];

let work; // the temporary directory of this file: downloads, CSVs, LibreOffice's profile and HOME
let converted = 0;

// Downloads path as the admin (raw fetch: the body is a file, not JSON) and checks the answer.
async function download(path, filename) {
  const res = await fetch(API_URL + path, { headers: { authorization: `Bearer ${await asAdmin()}` } });
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200, `GET ${path} -> ${res.status} ${bytes.toString('utf8', 0, 500)}`);
  assert.equal(res.headers.get('content-type'), XLSX_TYPE);
  assert.equal(res.headers.get('content-disposition'), `attachment; filename="${filename}"`);
  assert.ok(bytes.length > 100 && bytes.subarray(0, 2).toString() === 'PK', 'the body is a zip (xlsx) file');
  return bytes;
}

// Converts an xlsx (bytes) with LibreOffice and returns {title, closings, lines}: the rows of each sheet from
// the header on, and the text of the title rows above it.
async function sheets(bytes) {
  converted += 1;
  const name = `export-${converted}`;
  const file = join(work, `${name}.xlsx`);
  writeFileSync(file, bytes);
  const args = [`-env:UserInstallation=file://${join(work, 'lo-profile')}`, '--headless', '--norestore', '--convert-to', CSV_FILTER,
    '--outdir', work, file];
  let out;
  try {
    out = await run('soffice', args, { env: { ...process.env, HOME: join(work, 'home') }, timeout: 240000 });
  } catch (e) {
    assert.fail(`soffice failed (install libreoffice-calc-nogui: scripts/deps.sh test): ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
  const read = (sheet) => {
    let text;
    try {
      text = readFileSync(join(work, `${name}-${sheet}.csv`), 'utf8');
    } catch (e) {
      assert.fail(`LibreOffice wrote no CSV for sheet ${sheet} (${e.message}); it said: ${out.stdout}${out.stderr}`);
    }
    const rows = parseCsv(text);
    const at = rows.findIndex((r) => r[0] === 'Doctor');
    assert.ok(at >= 0, `sheet ${sheet} has a header row: ${text}`);
    return { title: rows.slice(0, at).map((r) => r.filter((x) => x !== '').join(',')).join('\n'), rows: rows.slice(at) };
  };
  const c = read('Closings');
  const l = read('Lines');
  assert.equal(l.title, c.title, 'both sheets have the same title');
  return { title: c.title, closings: c.rows, lines: l.rows };
}

// The rows the Closings sheet must have for closings (details from the API), in any order.
function closingRows(list, keys) {
  return list.map((c) => [c.doctor_name, String(c.consultation_count), units(c.gross_cents), units(c.net_cents), c.pix_key_type ?? '',
    keys[c.id] ?? '', c.status, c.payment_reference ?? '']);
}

function totalsRow(list) {
  const sum = (k) => list.reduce((a, c) => a + c[k], 0);
  return ['Total', String(sum('consultation_count')), units(sum('gross_cents')), units(sum('net_cents')), '', '', '', ''];
}

function lineRows(list) {
  return list.flatMap((c) => c.lines.map((l) => [c.doctor_name, localStamp(l.occurred_at), l.kind, l.description, l.patient_name ?? '',
    units(l.amount_cents), units(l.doctor_cents)]));
}

const sortRows = (rows) => [...rows].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

// The world: a clinic (BRL, 60% to the doctors) with a receptionist, two doctors with PIX keys and one
// without, two services; paid consultations (one partly refunded), an adjustment, and the month's
// closings in three states.
const w = {};

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'exports-test-'));
  const admin = await asAdmin();
  w.clinic = await createClinic({ timezone: TZ });
  const [rec, doc1, doc2, doc3, serviceA, serviceB] = await Promise.all([
    staffSession('RECEPTIONIST', w.clinic.id),
    staffSession('DOCTOR', w.clinic.id),
    staffSession('DOCTOR', w.clinic.id),
    staffSession('DOCTOR', w.clinic.id),
    createService(w.clinic.id, { price_cents: 15000, duration_minutes: 10 }),
    createService(w.clinic.id, { price_cents: 9990, duration_minutes: 10 }),
  ]);
  Object.assign(w, { rec, doc1, doc2, doc3 });
  expectStatus(await patch('/api/doctors/me', { pix_key_type: 'cpf', pix_key: '529.982.247-25', current_password: doc1.password }, doc1.access), 200);
  expectStatus(await patch('/api/doctors/me', { pix_key_type: 'email', pix_key: '  Repasse.Doc2@Example.COM ', current_password: doc2.password }, doc2.access), 200);
  w.keys = { cpf: '52998224725', email: 'repasse.doc2@example.com' };
  expectStatus(await put('/api/fee-rules', { clinic_id: w.clinic.id, doctor_share_bps: 6000 }, admin), [200, 201]);

  // A walk-in with doctor for service, completed by them and paid by PIX; returns the payment.
  const paidConsultation = async (doctor, service) => {
    const patient = await createPatient(rec.access);
    const visit = await walkIn(rec.access, { patient_id: patient.id, doctor_id: doctor.user.doctor_id, service_id: service.id });
    await moveVisit(visit.id, 'with_doctor', rec.access);
    expectStatus(await post('/api/queue/complete-consultation', { visit_id: visit.id }, doctor.access), 200);
    const payments = await listAll(`/api/payments?visit_id=${visit.id}`, admin);
    assert.equal(payments.length, 1, `one payment for visit ${visit.id}`);
    return expectStatus(await post(`/api/payments/${payments[0].id}/pay`, { method: 'pix' }, rec.access), 200).body;
  };
  const p1 = await paidConsultation(doc1, serviceA);
  await paidConsultation(doc1, serviceB);
  await paidConsultation(doc2, serviceA);
  expectStatus(await post(`/api/payments/${p1.id}/refund`, { amount_cents: 5000, reason: 'Estorno parcial' }, rec.access), 200);

  const batch = expectStatus(await post('/api/closings/batch', { clinic_id: w.clinic.id, month: MONTH }, admin), 201).body;
  const byDoctor = Object.fromEntries(batch.items.map((c) => [c.doctor_id, c]));
  w.c1 = byDoctor[doc1.user.doctor_id];
  w.c2 = byDoctor[doc2.user.doctor_id];
  w.c3 = byDoctor[doc3.user.doctor_id];
  assert.ok(w.c1 && w.c2 && w.c3, `a closing for each doctor: ${JSON.stringify(batch)}`);
  expectStatus(await post(`/api/closings/${w.c1.id}/adjustments`, { amount_cents: 2500, reason: 'Bônus de produtividade' }, admin), 200);
  expectStatus(await post(`/api/closings/${w.c1.id}/close`, undefined, admin), 200);
  expectStatus(await post(`/api/closings/${w.c1.id}/confirm-payment`, { reference: 'E2E-PIX-0001' }, admin), 200);
  expectStatus(await post(`/api/closings/${w.c2.id}/close`, undefined, admin), 200);
  w.details = [];
  for (const c of [w.c1, w.c2, w.c3]) w.details.push(expectStatus(await get(`/api/closings/${c.id}`, admin), 200).body);
  // The key each closing shows in full: the one frozen when it was closed (none for the draft).
  w.fullKeys = { [w.c1.id]: w.keys.cpf, [w.c2.id]: w.keys.email };
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('closings export (.xlsx payout spreadsheet)', { timeout: 600000 }, () => {
  test('export of a clinic month: one row per closing, PIX keys in full, totals, every line', async () => {
    const [d1, d2, d3] = w.details;
    // The numbers the API reports are those of the consultations: 150.00 + 99.90 - 50.00 refunded for the
    // first doctor (60% each, plus a 25.00 adjustment), 150.00 for the second, nothing for the third.
    assert.deepEqual([d1.gross_cents, d1.consultation_count, d1.status], [19990, 2, 'payment_confirmed']);
    assert.equal(d1.net_cents, 9000 + 5994 - 3000 + 2500);
    assert.deepEqual([d2.gross_cents, d2.net_cents, d2.consultation_count, d2.status], [15000, 9000, 1, 'closed']);
    assert.deepEqual([d3.gross_cents, d3.net_cents, d3.consultation_count, d3.status], [0, 0, 0, 'draft']);
    assert.equal(d1.pix_key, '*******4725', 'the API masks the key');

    const bytes = await download(`/api/closings/export.xlsx?month=${MONTH}&clinic_id=${w.clinic.id}`,
      `closings-${w.clinic.id}-${MONTH}.xlsx`);
    const { title, closings, lines } = await sheets(bytes);
    assert.equal(title, `Payout closings: ${w.clinic.name}, ${MONTH}`);
    assert.deepEqual(closings[0], CLOSINGS_HEADER);
    const body = closings.slice(1, -1);
    assert.deepEqual(sortRows(body), sortRows(closingRows(w.details, w.fullKeys)));
    assert.deepEqual(closings.at(-1), totalsRow(w.details));
    assert.deepEqual(closings.at(-1), ['Total', '3', '349.90', '234.94', '', '', '', '']);
    const names = body.map((r) => r[0]);
    assert.deepEqual(names, [...names].sort(), 'one row per closing, by doctor name');
    const first = body.find((r) => r[0] === d1.doctor_name);
    assert.deepEqual(first.slice(1), ['2', '199.90', '144.94', 'cpf', '52998224725', 'payment_confirmed', 'E2E-PIX-0001']);
    const second = body.find((r) => r[0] === d2.doctor_name);
    assert.deepEqual(second.slice(1), ['1', '150.00', '90.00', 'email', 'repasse.doc2@example.com', 'closed', '']);

    assert.deepEqual(lines[0], LINES_HEADER);
    const expected = lineRows(w.details);
    assert.equal(expected.length, 5, 'two payments, a refund and an adjustment, then one payment');
    // closing by closing (the order of the first sheet), each by occurred_at as the API lists them
    const inOrder = names.map((n) => w.details.find((c) => c.doctor_name === n));
    assert.deepEqual(lines.slice(1), lineRows(inOrder));
    const kinds = lines.slice(1).filter((r) => r[0] === d1.doctor_name).map((r) => [r[2], r[5], r[6]]);
    assert.deepEqual(kinds, [['payment', '150.00', '90.00'], ['payment', '99.90', '59.94'], ['refund', '-50.00', '-30.00'],
      ['adjustment', '0.00', '25.00']]);
    const adjustment = lines.find((r) => r[2] === 'adjustment');
    assert.deepEqual([adjustment[3], adjustment[4]], ['Bônus de produtividade', ''], 'an adjustment has its reason and no patient');
  });

  test('export of one closing: the same workbook with that closing only', async () => {
    const [d1, d2] = w.details;
    const { title, closings, lines } = await sheets(await download(`/api/closings/${w.c2.id}/export.xlsx`, `closing-${w.c2.id}.xlsx`));
    assert.equal(title, `Payout closing ${w.c2.id}: ${w.clinic.name}, ${MONTH}`);
    assert.deepEqual(closings, [CLOSINGS_HEADER, ...closingRows([d2], w.fullKeys), totalsRow([d2])]);
    assert.deepEqual(closings.at(-1), ['Total', '1', '150.00', '90.00', '', '', '', '']);
    assert.deepEqual(lines, [LINES_HEADER, ...lineRows([d2])]);
    const one = await sheets(await download(`/api/closings/${w.c1.id}/export.xlsx`, `closing-${w.c1.id}.xlsx`));
    assert.deepEqual(one.closings, [CLOSINGS_HEADER, ...closingRows([d1], w.fullKeys), totalsRow([d1])]);
    assert.equal(one.closings[1][5], '52998224725', 'the PIX key in full');
    assert.deepEqual(one.lines, [LINES_HEADER, ...lineRows([d1])]);
  });

  test('export of a month without closings: the header and a zero totals row', async () => {
    const { closings, lines } = await sheets(await download(`/api/closings/export.xlsx?month=2020-01&clinic_id=${w.clinic.id}`,
      `closings-${w.clinic.id}-2020-01.xlsx`));
    assert.deepEqual(closings, [CLOSINGS_HEADER, ['Total', '0', '0.00', '0.00', '', '', '', '']]);
    assert.deepEqual(lines, [LINES_HEADER]);
  });

  test('export query errors: 400 invalid_query naming the field; unknown clinic or closing 404', async () => {
    const admin = await asAdmin();
    const c = w.clinic.id;
    expectError(await get(`/api/closings/export.xlsx?clinic_id=${c}`, admin), 400, 'invalid_query', ['month']);
    for (const m of ['2024-13', '2024-1', '202401', 'abcd-ef', '1999-12', '2024-01-01', '']) {
      expectError(await get(`/api/closings/export.xlsx?clinic_id=${c}&month=${encodeURIComponent(m)}`, admin), 400, 'invalid_query', ['month']);
    }
    expectError(await get(`/api/closings/export.xlsx?month=${MONTH}`, admin), 400, 'invalid_query', ['clinic_id']);
    for (const id of ['abc', '0', '-3', '1.5', '']) {
      expectError(await get(`/api/closings/export.xlsx?month=${MONTH}&clinic_id=${id}`, admin), 400, 'invalid_query', ['clinic_id']);
    }
    expectError(await get('/api/closings/export.xlsx', admin), 400, 'invalid_query', ['month', 'clinic_id']);
    expectError(await get(`/api/closings/export.xlsx?month=${MONTH}&clinic_id=${NOT_FOUND_ID}`, admin), 404, 'not_found');
    expectError(await get(`/api/closings/${NOT_FOUND_ID}/export.xlsx`, admin), 404, 'not_found');
  });

  test('export is for admins only: receptionist, doctor (even their own closing) and patient 403; no token 401', async () => {
    const patient = await patientSession(w.clinic.id);
    const month = `/api/closings/export.xlsx?month=${MONTH}&clinic_id=${w.clinic.id}`;
    const one = `/api/closings/${w.c1.id}/export.xlsx`;
    for (const token of [w.rec.access, w.doc1.access, w.doc2.access, patient.access]) {
      expectError(await get(month, token), 403, 'forbidden');
      expectError(await get(one, token), 403, 'forbidden');
    }
    expectError(await get(month), 401, 'unauthorized');
    expectError(await get(one), 401, 'unauthorized');
  });

  test('every export writes a closing_export audit row (entity clinic or closing, month and count)', async () => {
    const admin = await asAdmin();
    const byClinic = await listAll(`/api/audit?action=closing_export&entity=clinic&entity_id=${w.clinic.id}`, admin);
    const months = byClinic.map((a) => a.details).sort((a, b) => a.month.localeCompare(b.month));
    assert.deepEqual(months, [{ month: '2020-01', closings: 0 }, { month: MONTH, closings: 3 }]);
    const me = expectStatus(await get('/api/auth/me', admin), 200).body;
    for (const a of byClinic) {
      assert.equal(a.actor_role, 'ADMIN');
      assert.equal(a.actor_user_id, me.id);
    }
    for (const [c, n] of [[w.c1, 1], [w.c2, 1], [w.c3, 0]]) {
      const rows = await listAll(`/api/audit?action=closing_export&entity=closing&entity_id=${c.id}`, admin);
      assert.equal(rows.length, n, `exports of closing ${c.id}`);
      for (const a of rows) assert.deepEqual(a.details, { month: MONTH, closings: 1 });
    }
    // refused exports leave nothing
    const count = async () => (await listAll(`/api/audit?action=closing_export&entity=closing&entity_id=${w.c1.id}`, admin)).length;
    const before = await count();
    expectError(await get(`/api/closings/${w.c1.id}/export.xlsx`, w.rec.access), 403, 'forbidden');
    expectError(await get(`/api/closings/${w.c1.id}/export.xlsx`, w.doc1.access), 403, 'forbidden');
    assert.equal(await count(), before);
    assert.equal((await listAll(`/api/audit?action=closing_export&entity=closing&entity_id=${NOT_FOUND_ID}`, admin)).length, 0);
  });
});
