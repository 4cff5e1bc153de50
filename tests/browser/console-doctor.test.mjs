// The console's rescheduling at the desk and the doctor's tabs beside Today's Work, driven as their users: the
// desk reschedules a confirmed appointment of today to a free slot of another day (after the API refuses a slot
// taken meanwhile, with its own message), and the doctor's Today's Work shows the new time without a reload; a
// consultation completed and then paid at the desk appears in the doctor's My Earnings as it happens, the filters
// and the grouping are the API's, and the CSV downloaded is the API's CSV byte for byte; My Patients lists the
// doctor's patients, searches and opens a history; Schedule shows the weekly hours and the blocked periods, and
// the doctor adds and removes both (the API's refusal of an overlap shown as it says it). Every screen: axe-core
// without serious or critical violations, no console error, no failed request, no answer >= 400 but the one
// expected; screenshots into CONSOLE_SHOTS.
//
// Run by scripts/browser-test.sh (see console.test.mjs). The clinic and its day are made through the API first.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import {
  API_URL, addDays, asAdmin, completeVisit, createAppointment, createAvailability, createClinic, createPatient, createService, expectStatus, get,
  isoWeekday, listAll, localDate, moveVisit, patch, pickTodayZone, post, put, staffSession, uniq, walkIn,
} from '../lib/api.mjs';
import { WAIT, assertClean, axeCheck, column, instant, openPage, shot, signIn } from './console-lib.mjs';
import { CHROMIUM, CHROMIUM_ARGS } from './lib.mjs';
import { formatDateTime, formatMoney, formatTime } from '../../web/app/format.js';

const TZ = pickTodayZone(2);
const when = (x) => formatDateTime(x, TZ, 'pt-BR');
const money = (cents) => formatMoney(cents, 'BRL', 'pt-BR');
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe("the console: rescheduling at the desk, the doctor's earnings, patients and schedule", () => {
  let browser;
  let w;
  let desk;
  let doctor;

  before(async () => {
    assert.ok(process.env.SIGNALING_URL, 'SIGNALING_URL must name the signaling-server the console is told about');
    // Unique on every run (clinic names are), readable in the screenshots.
    const clinic = await createClinic({ name: `Clínica Jardim Botânico ${uniq().slice(-6)}`, timezone: TZ, currency: 'BRL' });
    const [rec, doc, service] = await Promise.all([
      staffSession('RECEPTIONIST', clinic.id, { full_name: 'Sônia Prates' }),
      staffSession('DOCTOR', clinic.id, { full_name: 'Dr. Caio Menezes' }),
      createService(clinic.id, { name: 'Consulta de rotina', duration_minutes: 30, price_cents: 20000 }),
    ]);
    const doctorId = doc.user.doctor_id;
    // The doctor's share of this service: 60 %.
    expectStatus(await put('/api/fee-rules', { service_id: service.id, doctor_share_bps: 6000 }, await asAdmin()), 201);
    const [bia, davi, eva] = await Promise.all(['Beatriz Moura Lopes', 'Davi Nogueira Reis', 'Eva Campos Duarte']
      .map((full_name) => createPatient(rec.access, { full_name })));
    // Earlier today: Beatriz seen, signed off and paid by card.
    const earlier = await walkIn(rec.access, { patient_id: bia.id, doctor_id: doctorId, service_id: service.id });
    await moveVisit(earlier.id, 'with_doctor', rec.access);
    expectStatus(await put(`/api/visits/${earlier.id}/evolution`, { notes: 'Rinite alérgica, orientada.', diagnoses: [{ code: 'J30.4', description: 'Rinite alérgica' }] }, doc.access), 201);
    expectStatus(await post(`/api/visits/${earlier.id}/evolution/sign`, undefined, doc.access), 200);
    await completeVisit(earlier.id, doc.access);
    const [paid] = await listAll(`/api/payments?visit_id=${earlier.id}`, rec.access);
    expectStatus(await post(`/api/payments/${paid.id}/pay`, { method: 'card' }, rec.access), 200);
    // Beatriz's appointment later today, which the desk moves to tomorrow; the doctor's hours tomorrow.
    const start = instant(Math.ceil(Date.now() / 60000) * 60000 + 30 * 60000);
    assert.equal(localDate(TZ, Date.parse(start)), localDate(TZ), 'test setup: the appointment must be today');
    const appt = await createAppointment(rec.access, { patient_id: bia.id, doctor_id: doctorId, service_id: service.id, start_time: start });
    const tomorrow = addDays(localDate(TZ), 1);
    const rule = await createAvailability(doctorId, { weekday: isoWeekday(tomorrow), start_time: '09:00', end_time: '12:00', slot_minutes: 30 });
    w = { clinic, rec, doc, doctorId, service, bia, davi, eva, appt, tomorrow, rule };
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: process.env.BROWSER_HEADLESS !== '0', timeout: 60000 });
    desk = await openPage(browser, 'desk');
    doctor = await openPage(browser, 'doctor');
    await desk.page.goto(`${API_URL}/`);
    await signIn(desk, rec.email, rec.password);
    await doctor.page.goto(`${API_URL}/`);
    await signIn(doctor, doc.email, doc.password);
    for (const p of [desk, doctor]) await p.page.getByRole('status').filter({ hasText: 'Ao vivo' }).waitFor({ timeout: WAIT });
    // Marks the doctor's document: a reload would lose it.
    await doctor.page.evaluate(() => { window.noReloadMark = 1; });
  });

  after(async () => {
    await desk?.context.close();
    await doctor?.context.close();
    await browser?.close();
  });

  const noReload = async () => assert.equal(await doctor.page.evaluate(() => window.noReloadMark), 1, "the doctor's page was not reloaded");

  test("the desk reschedules today's appointment to a free slot tomorrow; Today's Work follows live", async () => {
    const name = w.bia.full_name;
    const upcoming = doctor.page.getByRole('region', { name: /^Próximas consultas \(\d+\)$/ });
    await upcoming.getByRole('listitem').filter({ hasText: name }).filter({ hasText: when(w.appt.start_time) }).waitFor({ timeout: WAIT });
    const booked = doctor.page.locator('div:has(> dt:text-is("Consultas agendadas")) > dd');
    assert.equal(await booked.innerText(), '1', "today's appointments");
    await axeCheck(doctor, "Today's Work with the coming appointments");

    // From the keyboard: the form opens with the focus on its day.
    await desk.page.getByRole('button', { name: `Remarcar: ${name}` }).focus();
    await desk.page.keyboard.press('Enter');
    const form = desk.page.getByRole('group', { name: `Remarcar: ${name}` });
    await form.getByLabel('Nova data').waitFor({ timeout: WAIT });
    assert.equal(await desk.page.evaluate(() => document.activeElement?.name), 'reschedule-date', 'the focus is on the new date');
    assert.equal(await form.getByLabel('Nova data').inputValue(), localDate(TZ), "the appointment's own day to start with");
    await form.getByLabel('Nova data').fill(w.tomorrow);
    await form.getByRole('button', { name: 'Horários livres' }).click();
    await form.getByRole('button', { name: 'Remarcar para 10:00' }).waitFor({ timeout: WAIT });
    await axeCheck(desk, 'desk, rescheduling');
    await shot(desk, 'desk-reschedule.png');

    // 10:00 is taken meanwhile (Eva books it): the API refuses, and the desk shows its message.
    const ten = (await get(`/api/doctors/${w.doctorId}/slots?from=${w.tomorrow}&to=${w.tomorrow}&type=in_person`, w.rec.access)).body.items
      .find((s) => formatTime(s.start_time, TZ, 'pt-BR') === '10:00');
    const eva = await createAppointment(w.rec.access, { patient_id: w.eva.id, doctor_id: w.doctorId, service_id: w.service.id, start_time: ten.start_time });
    // (Shown on the doctor's page first, so what comes next is the reschedule's own event.)
    await upcoming.getByRole('listitem').filter({ hasText: w.eva.full_name }).filter({ hasText: when(eva.start_time) }).waitFor({ timeout: WAIT });
    const refused = await patch(`/api/appointments/${w.appt.id}`, { start_time: ten.start_time }, w.rec.access);
    assert.equal(refused.status, 409, 'test setup: the taken slot is refused');
    desk.allowed.push({ status: 409, path: `/api/appointments/${w.appt.id}`, console: 'status of 409' });
    await form.getByRole('button', { name: 'Remarcar para 10:00' }).click();
    await desk.page.getByRole('alert').filter({ hasText: refused.body.error.message }).waitFor({ timeout: WAIT });
    desk.allowed.pop();

    // 10:30 then: gone from today's list, and the doctor sees the new day and time.
    await form.getByRole('button', { name: 'Remarcar para 10:30' }).focus();
    await desk.page.keyboard.press('Enter');
    await desk.page.getByRole('status').filter({ hasText: `Consulta de ${name} remarcada para` }).waitFor({ timeout: WAIT });
    await desk.page.getByRole('button', { name: `Registrar chegada: ${name}` }).waitFor({ state: 'detached', timeout: WAIT });
    // The slot pressed is gone with the row: the keyboard is on the line saying what was done, not on <body>.
    assert.match(await desk.page.evaluate(() => `${document.activeElement?.getAttribute('role')}: ${document.activeElement?.textContent}`),
      new RegExp(`^status: Consulta de ${name} remarcada para`), 'the focus after rescheduling');
    const moved = expectStatus(await get(`/api/appointments/${w.appt.id}`, w.rec.access), 200).body;
    assert.equal(localDate(TZ, Date.parse(moved.start_time)), w.tomorrow);
    assert.equal(formatTime(moved.start_time, TZ, 'pt-BR'), '10:30');
    assert.equal(moved.status, 'confirmed', 'rescheduling keeps the status');
    await upcoming.getByRole('listitem').filter({ hasText: name }).filter({ hasText: when(moved.start_time) }).waitFor({ timeout: WAIT });
    assert.equal(await upcoming.getByText(when(w.appt.start_time)).count(), 0, 'the old time is gone');
    await booked.filter({ hasText: /^0$/ }).waitFor({ timeout: WAIT });
    await noReload();
    await shot(doctor, 'doctor-upcoming.png');
    assertClean(desk, 'after rescheduling');
    assertClean(doctor, 'after rescheduling');
  });

  test('a consultation completed and paid at the desk appears in My Earnings live; filters, groups and the CSV are the API\'s', async () => {
    const page = doctor.page;
    await page.getByRole('link', { name: 'Meus ganhos' }).click();
    await page.getByRole('heading', { name: 'Meus ganhos', level: 1 }).waitFor({ timeout: WAIT });
    const payments = page.getByRole('table', { name: 'Pagamentos das suas consultas' });
    const row = (who) => payments.getByRole('row').filter({ hasText: who });
    await row(w.bia.full_name).filter({ hasText: 'Cartão' }).waitFor({ timeout: WAIT });
    await axeCheck(doctor, 'My Earnings');

    // Davi walks in, is seen and completed: billed, pending, then paid at the desk, each shown as it happens.
    const visit = await walkIn(w.rec.access, { patient_id: w.davi.id, doctor_id: w.doctorId, service_id: w.service.id });
    await moveVisit(visit.id, 'with_doctor', w.rec.access);
    await completeVisit(visit.id, w.doc.access);
    await row(w.davi.full_name).filter({ hasText: 'Pagamento pendente' }).waitFor({ timeout: WAIT });
    const done = column(desk.page, 'Atendidos').getByRole('article', { name: new RegExp(`${escape(w.davi.full_name)}$`) });
    await done.getByLabel('Forma de pagamento').selectOption('cash');
    await done.getByRole('button', { name: `Receber pagamento: ${w.davi.full_name}` }).click();
    await row(w.davi.full_name).filter({ hasText: 'Pago' }).filter({ hasText: 'Dinheiro' }).waitFor({ timeout: WAIT });
    await noReload();

    // The summary is the API's, every amount formatted from its integer cents.
    const today = localDate(TZ);
    const report = expectStatus(await get(`/api/doctors/earnings?start_date=${today.slice(0, 8)}01&end_date=${today}`, w.doc.access), 200).body;
    assert.equal(report.summary.count, 2);
    assert.equal(report.summary.total_cents, 40000);
    const summary = page.getByRole('region', { name: 'Total do período filtrado' });
    const term = (label) => summary.locator('dl').first().locator(`div:has(> dt:text-is("${label}")) > dd`);
    assert.equal(await term('Pagamentos').innerText(), '2');
    assert.equal(await term('Faturado').innerText(), money(40000));
    assert.equal(report.summary.paid_cents, 24000, "60 % of both payments");
    assert.equal(await term('Sua parte recebida').innerText(), money(24000));
    assert.equal(await row(w.davi.full_name).getByRole('cell').nth(6).innerText(), money(12000), "the doctor's share of Davi's");
    await shot(doctor, 'earnings.png');

    // Cash only, grouped by method: Davi's alone, and one group.
    await page.getByLabel('Forma de pagamento', { exact: true }).selectOption('cash');
    await page.getByLabel('Agrupar por').selectOption('method');
    await page.getByRole('button', { name: 'Aplicar' }).click();
    const groups = page.getByRole('table', { name: 'Totais por Forma de pagamento' });
    await groups.getByRole('row').filter({ hasText: 'Dinheiro' }).waitFor({ timeout: WAIT });
    await row(w.bia.full_name).waitFor({ state: 'detached', timeout: WAIT });
    assert.equal(await payments.getByRole('row').count(), 2, 'the header and Davi');
    await axeCheck(doctor, 'My Earnings, filtered and grouped');

    // The CSV of the same filters: the API's file, as the API gives it.
    const q = `start_date=${today.slice(0, 8)}01&end_date=${today}&method=cash&group_by=method&format=csv`;
    const api = await fetch(`${API_URL}/api/doctors/earnings?${q}`, { headers: { authorization: `Bearer ${w.doc.access}` } });
    assert.equal(api.status, 200);
    const expected = await api.text();
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: WAIT }), page.getByRole('button', { name: 'Baixar CSV' }).click()]);
    assert.equal(download.suggestedFilename(), `earnings-doctor-${w.doctorId}-from-${today.slice(0, 8)}01-to-${today}.csv`);
    const got = readFileSync(await download.path(), 'utf8');
    assert.equal(got, expected, 'the file is the API CSV');
    const lines = got.split('\r\n');
    assert.equal(lines[0], 'date,payment_id,visit_id,patient,service,status,method,currency,amount_cents,doctor_share_cents,doctor_refunded_cents,paid_at');
    assert.equal(lines.length, 3, 'the header, Davi, and the end of the last line');
    assert.match(lines[1], new RegExp(`^${today},\\d+,${visit.id},"${w.davi.full_name}","Consulta de rotina",paid,cash,BRL,20000,`));
    await page.getByRole('status').filter({ hasText: 'baixado' }).waitFor({ timeout: WAIT });
    assertClean(doctor, 'on My Earnings');
    assertClean(desk, 'after taking the payment');
  });

  test('My Patients lists the doctor\'s patients, searches, and opens a history', async () => {
    const page = doctor.page;
    await page.getByRole('link', { name: 'Meus pacientes' }).click();
    const list = page.getByRole('table', { name: 'Seus pacientes' });
    for (const p of [w.bia, w.davi, w.eva]) await list.getByRole('row').filter({ hasText: p.full_name }).waitFor({ timeout: WAIT });
    const bia = list.getByRole('row').filter({ hasText: w.bia.full_name });
    const moved = expectStatus(await get(`/api/appointments/${w.appt.id}`, w.rec.access), 200).body;
    assert.match(await bia.innerText(), new RegExp(`\\t1\\t.*\\t${escape(when(moved.start_time))}`), 'one visit, and the next appointment');
    await page.getByLabel('Buscar entre seus pacientes', { exact: false }).fill('Beatriz');
    await page.getByRole('button', { name: 'Buscar', exact: true }).click();
    await list.getByRole('row').filter({ hasText: w.davi.full_name }).waitFor({ state: 'detached', timeout: WAIT });
    assert.equal(await list.getByRole('row').count(), 2, 'the header and Beatriz');
    await page.getByRole('button', { name: `Ver histórico: ${w.bia.full_name}` }).click();
    const history = page.getByRole('region', { name: `Histórico de ${w.bia.full_name} com você` });
    await history.getByText('J30.4 — Rinite alérgica', { exact: false }).waitFor({ timeout: WAIT });
    assert.match(await history.innerText(), /Consulta de rotina · atendido · Pago/);
    assert.match(await history.innerText(), /evolução assinada/);
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), `Histórico de ${w.bia.full_name} com você`, 'the focus moves to the history');
    await axeCheck(doctor, 'My Patients');
    await shot(doctor, 'my-patients.png');
    assertClean(doctor, 'on My Patients');
  });

  test('Schedule shows the weekly hours and blocked periods; the doctor adds and removes both', async () => {
    const page = doctor.page;
    await page.getByRole('link', { name: 'Agenda' }).click();
    // A tab switch puts the keyboard on the new screen's heading.
    await page.waitForFunction(() => document.activeElement?.tagName === 'H1' && document.activeElement.textContent === 'Agenda', null, { timeout: WAIT });
    const weekdays = ['Segunda-feira', 'Terça-feira', 'Quarta-feira', 'Quinta-feira', 'Sexta-feira', 'Sábado', 'Domingo'];
    const hours = page.getByRole('table', { name: 'Horários semanais' });
    const day = weekdays[w.rule.weekday - 1];
    await hours.getByRole('row').filter({ hasText: day }).filter({ hasText: '09:00–12:00' }).waitFor({ timeout: WAIT });
    await axeCheck(doctor, 'Schedule');

    // New hours on the next weekday, in person and by video, 20-minute slots.
    const other = (w.rule.weekday % 7) + 1;
    await page.getByLabel('Dia da semana').selectOption(String(other));
    await page.getByLabel('Das', { exact: true }).fill('14:00');
    await page.getByLabel('Até as', { exact: true }).fill('18:00');
    await page.getByLabel('Minutos por horário').fill('20');
    await page.getByLabel('vídeo').check();
    await page.getByRole('button', { name: 'Adicionar horário' }).click();
    const added = hours.getByRole('row').filter({ hasText: weekdays[other - 1] }).filter({ hasText: '14:00–18:00' });
    await added.waitFor({ timeout: WAIT });
    assert.match(await added.innerText(), /20\tpresencial, por vídeo/);
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Adicionar horário', 'the focus stays on the rebuilt form\'s button');
    const rules = (await get(`/api/doctors/${w.doctorId}/availability`, w.doc.access)).body.items;
    const rule = rules.find((r) => r.weekday === other);
    assert.deepEqual([rule.start_time, rule.end_time, rule.slot_minutes, rule.consultation_types], ['14:00', '18:00', 20, ['in_person', 'video']]);

    // An overlap: the API's refusal, as it says it.
    const overlap = { weekday: other, start_time: '15:00', end_time: '16:00', slot_minutes: 20, consultation_types: ['in_person'] };
    const refused = await post(`/api/doctors/${w.doctorId}/availability`, overlap, w.doc.access);
    assert.equal(refused.status, 409, 'test setup: overlapping hours are refused');
    doctor.allowed.push({ status: 409, path: `/api/doctors/${w.doctorId}/availability`, console: 'status of 409' });
    await page.getByLabel('Das', { exact: true }).fill('15:00');
    await page.getByLabel('Até as', { exact: true }).fill('16:00');
    await page.getByRole('button', { name: 'Adicionar horário' }).click();
    await page.getByRole('alert').filter({ hasText: refused.body.error.message }).waitFor({ timeout: WAIT });
    doctor.allowed.pop();
    await page.getByRole('button', { name: `Remover: ${weekdays[other - 1]} 14:00–18:00` }).click();
    await added.waitFor({ state: 'detached', timeout: WAIT });
    assert.match(await page.evaluate(() => `${document.activeElement?.getAttribute('role')}: ${document.activeElement?.textContent}`), /^status: .*14:00–18:00/,
      'a removed row leaves the focus on the line saying so');
    assert.equal((await get(`/api/doctors/${w.doctorId}/availability`, w.doc.access)).body.items.length, 1);

    // Tomorrow 11:00 to 12:00 blocked, in the clinic's zone: those slots are no longer offered.
    await page.getByLabel('Bloquear a partir do dia').fill(w.tomorrow);
    await page.getByLabel('a partir das', { exact: true }).fill('11:00');
    await page.getByLabel('até o dia', { exact: true }).fill(w.tomorrow);
    await page.getByLabel('até as', { exact: true }).fill('12:00');
    await page.getByLabel('Motivo').fill('Congresso');
    await page.getByRole('button', { name: 'Bloquear período' }).click();
    const blocks = page.getByRole('table', { name: 'Períodos bloqueados (de hoje em diante)' });
    await blocks.getByRole('row').filter({ hasText: 'Congresso' }).waitFor({ timeout: WAIT });
    const [block] = (await get(`/api/doctors/${w.doctorId}/unavailability?from=${w.tomorrow}`, w.doc.access)).body.items;
    assert.deepEqual([localDate(TZ, Date.parse(block.starts_at)), formatTime(block.starts_at, TZ, 'pt-BR'), formatTime(block.ends_at, TZ, 'pt-BR')],
      [w.tomorrow, '11:00', '12:00']);
    const slots = (await get(`/api/doctors/${w.doctorId}/slots?from=${w.tomorrow}&to=${w.tomorrow}&type=in_person`, w.doc.access)).body.items
      .map((s) => formatTime(s.start_time, TZ, 'pt-BR'));
    assert.deepEqual(slots, ['09:00', '09:30'], '10:00 and 10:30 are booked, 11:00 and 11:30 blocked');
    await axeCheck(doctor, 'Schedule, with a block');
    await shot(doctor, 'schedule.png');
    await page.getByRole('button', { name: `Remover: ${when(block.starts_at)}–${when(block.ends_at)}` }).click();
    await page.getByText('Nenhum período bloqueado.').waitFor({ timeout: WAIT });

    // The same screen in English, from the one string table.
    await page.getByLabel('Idioma').selectOption('en');
    await page.getByRole('heading', { name: 'Schedule', level: 1 }).waitFor({ timeout: WAIT });
    await page.getByRole('table', { name: 'Weekly hours' }).getByRole('row').filter({ hasText: '09:00–12:00' }).waitFor({ timeout: WAIT });
    await page.getByRole('link', { name: 'My Earnings' }).waitFor({ timeout: WAIT });
    await page.getByLabel('Language').selectOption('pt-BR');
    await noReload();
    assertClean(doctor, 'on Schedule');
  });
});
