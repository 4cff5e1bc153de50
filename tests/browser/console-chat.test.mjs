// The in-call chat of the console's video call (web/app/video-chat.js) and the guest's join page (web/video/join/,
// web/app/join.js), in Chromium with a fake camera: the doctor and the signed-in patient chat both ways in the call,
// each message shown once on each side with its sender and time (an edit or a deletion through the API changes it
// in place, live), the other side's "typing…" line, Enter sending
// and Shift+Enter a new line, the waiting patient's chat closed until the admission (and the doctor's message of
// that time then read from the history); a patient invited without an account opens the invitation link, waits,
// is admitted and chats until the per-minute limit refuses a message (shown as the server says it), hangs up and
// joins again; the spent link then shows the "already used" message (410), an unknown one the "not valid" one
// (404), in Portuguese and in English. Every page: no console error, no failed request, no unexpected answer >= 400,
// axe-core without a serious or critical violation (console-lib.mjs).
//
// Run by scripts/browser-test.sh inside its loopback-only network namespace.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import {
  API_URL, createAppointment, createClinic, createService, del, expectStatus, get, localDate, patch, patientSession,
  pickTodayZone, post, staffSession, uniq,
} from '../lib/api.mjs';
import { WAIT, assertClean, axeCheck, eventually, instant, openPage, shot, signIn } from './console-lib.mjs';
import { CHROMIUM, CHROMIUM_ARGS } from './lib.mjs';

const TZ = pickTodayZone(2);
const MEDIA = ['camera', 'microphone'];
const V = '/api/video-consultations';
const REDEEM = `${V}/invitations/redeem`;

// The chat's messages on a page: [{who, text}] in the order shown.
const messages = (p) => p.page.evaluate(() => [...document.querySelectorAll('.chat-list li')].map((li) => ({
  who: li.querySelector('.chat-who').textContent, text: li.querySelector('.chat-text').textContent, time: li.querySelector('time').textContent,
})));

// A video appointment of today in a few minutes (inside the join window) with a doctor of its own, and its
// session opened by the desk: {doc, session, patientName}.
async function openSession(w, patient) {
  const doc = await staffSession('DOCTOR', w.clinic.id, { full_name: `Dr. Chat ${uniq()}` });
  const start = instant(Math.ceil(Date.now() / 60000) * 60000 + 5 * 60000);
  assert.equal(localDate(TZ, Date.parse(start)), localDate(TZ), 'test setup: the appointment must be today');
  const appt = await createAppointment(w.rec.access, {
    patient_id: patient.id, doctor_id: doc.user.doctor_id, service_id: w.service.id, start_time: start, consultation_type: 'video',
  });
  const session = expectStatus(await post(`${V}/sessions`, { appointment_id: appt.id }, w.rec.access), 201).body;
  return { doc, session, patientName: patient.full_name };
}

// The doctor signs in, opens the Video tab and joins the session's call.
async function doctorJoins(p, doc, patientName) {
  await p.page.goto(`${API_URL}/`);
  await signIn(p, doc.email, doc.password);
  await p.page.getByRole('heading', { name: 'Trabalho de hoje' }).waitFor({ timeout: WAIT });
  await p.page.getByRole('link', { name: 'Teleconsultas', exact: true }).click();
  await p.page.getByRole('button', { name: `Entrar na chamada: ${patientName}` }).click();
  await p.page.getByRole('status').filter({ hasText: 'Você está na sala.' }).waitFor({ timeout: WAIT });
}

const chatBox = (p) => p.page.getByRole('textbox', { name: 'Mensagem' });
const chatLog = (p) => p.page.getByRole('log', { name: 'Chat da consulta' });

// Types text into the chat (key by key, so typing notices go out) and sends it with Enter.
async function typeAndSend(p, text) {
  await chatBox(p).click();
  await p.page.keyboard.type(text, { delay: 20 });
  await p.page.keyboard.press('Enter');
}

describe('the console: in-call chat and the guest join page', () => {
  let browser;
  const w = {};

  before(async () => {
    assert.ok(process.env.SIGNALING_URL, 'SIGNALING_URL must name the signaling-server the console is told about');
    w.clinic = await createClinic({ name: `Clínica Chat ${uniq()}`, timezone: TZ });
    [w.rec, w.service] = await Promise.all([staffSession('RECEPTIONIST', w.clinic.id),
      createService(w.clinic.id, { name: 'Teleconsulta', duration_minutes: 30, price_cents: 15000 })]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: process.env.BROWSER_HEADLESS !== '0', timeout: 60000 });
  });

  after(async () => {
    await browser?.close();
  });

  test('the doctor and the signed-in patient chat in the call: both ways, each message once, typing shown on the other side', { timeout: 180000 }, async () => {
    const pat = await patientSession(w.clinic.id, { full_name: `Lúcia Chat ${uniq()}` });
    const { doc, patientName } = await openSession(w, pat.patient);
    const doctor = await openPage(browser, 'doctor-chat', { permissions: MEDIA });
    const patient = await openPage(browser, 'patient-chat', { permissions: MEDIA });
    try {
      await doctorJoins(doctor, doc, patientName);
      // Before anyone waits, the doctor may already write; the patient, not yet admitted, will read it from the
      // history once admitted.
      await typeAndSend(doctor, 'Bom dia! Já vou admitir você.');
      await chatLog(doctor).getByText('Bom dia! Já vou admitir você.').waitFor({ timeout: WAIT });

      await patient.page.goto(`${API_URL}/`);
      await signIn(patient, pat.email, pat.password);
      await patient.page.getByRole('button', { name: 'Entrar na teleconsulta' }).click();
      await patient.page.getByText('Você está na sala de espera', { exact: false }).waitFor({ timeout: WAIT });
      await patient.page.getByText('O chat abre quando o médico admitir você.').waitFor({ timeout: WAIT });
      assert.equal(await chatBox(patient).isDisabled(), true, 'the waiting patient cannot write');
      assert.equal(await chatBox(patient).getAttribute('maxlength'), '4000');
      // A message the doctor writes while the patient waits does not reach the waiting patient.
      await typeAndSend(doctor, 'Um momento, por favor.');
      await chatLog(doctor).getByText('Um momento, por favor.').waitFor({ timeout: WAIT });
      await axeCheck(patient, 'waiting room with the chat closed');
      assert.deepEqual(await messages(patient), [], 'nothing of the chat reaches the waiting patient');

      await doctor.page.getByRole('button', { name: `Admitir: ${patientName}` }).click();
      // Admitted: the history, oldest first, the doctor's messages as the doctor's.
      const read = await eventually(() => messages(patient), (m) => m.length === 2, WAIT, 'the history on the patient');
      assert.deepEqual(read.map((m) => [m.who, m.text]), [['Médico', 'Bom dia! Já vou admitir você.'], ['Médico', 'Um momento, por favor.']]);
      assert.match(read[0].time, /^\d{2}:\d{2}$/);
      await patient.page.getByText('O chat abre quando o médico admitir você.').waitFor({ state: 'hidden', timeout: WAIT });

      // The patient types: the doctor sees "typing…"; Enter sends; Shift+Enter is a new line.
      await chatBox(patient).click();
      await patient.page.keyboard.type('Bom dia, doutor', { delay: 30 });
      await doctor.page.getByText('O paciente está digitando…').waitFor({ timeout: WAIT });
      await patient.page.keyboard.press('Shift+Enter');
      await patient.page.keyboard.type('estou com febre.', { delay: 10 });
      await patient.page.keyboard.press('Enter');
      await chatLog(doctor).getByText('estou com febre.').waitFor({ timeout: WAIT });
      assert.equal(await chatBox(patient).inputValue(), '', 'sent: the box is empty');
      // The typing line goes once the message came (and would after ~3 s anyway).
      await doctor.page.getByText('O paciente está digitando…').waitFor({ state: 'hidden', timeout: WAIT });

      // The doctor answers with the button; the patient sees them typing first.
      await chatBox(doctor).click();
      await doctor.page.keyboard.type('Desde quando?', { delay: 30 });
      await patient.page.getByText('O médico está digitando…').waitFor({ timeout: WAIT });
      await doctor.page.getByRole('button', { name: 'Enviar' }).click();
      await chatLog(patient).getByText('Desde quando?').waitFor({ timeout: WAIT });
      await eventually(() => doctor.page.evaluate(() => document.activeElement?.name), (n) => n === 'chat_text', WAIT,
        'the keyboard back on the message box after sending from the button');
      await typeAndSend(patient, 'Desde ontem.');
      await chatLog(doctor).getByText('Desde ontem.').waitFor({ timeout: WAIT });
      await chatLog(patient).getByText('Desde ontem.').waitFor({ timeout: WAIT });

      // Each message once on each side (the echo of one's own message included), in order, with its sender.
      await new Promise((r) => setTimeout(r, 1000)); // a late duplicate would have arrived by now
      const texts = ['Bom dia! Já vou admitir você.', 'Um momento, por favor.', 'Bom dia, doutor\nestou com febre.', 'Desde quando?', 'Desde ontem.'];
      const fromDoctor = [true, true, false, true, false];
      assert.deepEqual((await messages(doctor)).map((m) => [m.who, m.text]), texts.map((x, i) => [fromDoctor[i] ? 'Você' : 'Paciente', x]));
      assert.deepEqual((await messages(patient)).map((m) => [m.who, m.text]), texts.map((x, i) => [fromDoctor[i] ? 'Médico' : 'Você', x]));
      // The same conversation through the API: each stored once.
      const [conv] = expectStatus(await get(`/api/conversations?patient_id=${pat.patient.id}`, w.rec.access), 200).body.items;
      const stored = expectStatus(await get(`/api/conversations/${conv.id}/messages`, doc.access), 200).body.items;
      assert.deepEqual(stored.map((m) => m.text), texts);

      // A message edited and another deleted through the API (within the edit window) change in the call at once.
      const byText = (x) => stored.find((m) => m.text === x).id;
      expectStatus(await patch(`/api/conversations/${conv.id}/messages/${byText('Desde quando?')}`, { text: 'Desde quando tem febre?' },
        doc.access), 200);
      expectStatus(await del(`/api/conversations/${conv.id}/messages/${byText('Desde ontem.')}`, pat.access), 200);
      await chatLog(patient).getByText('Desde quando tem febre?').waitFor({ timeout: WAIT });
      await chatLog(doctor).getByText('mensagem apagada').waitFor({ timeout: WAIT });
      texts[3] = 'Desde quando tem febre?';
      texts[4] = 'mensagem apagada';
      assert.deepEqual((await messages(patient)).map((m) => m.text), texts, 'changed in place, nothing added');

      await axeCheck(doctor, "doctor's call with the chat");
      await axeCheck(patient, "patient's call with the chat");
      await shot(doctor, 'doctor-call-chat.png');
      await shot(patient, 'patient-call-chat.png');

      // The doctor ends the consultation: the chat is closed, its messages stay readable.
      await doctor.page.getByRole('button', { name: 'Encerrar consulta' }).click();
      await patient.page.getByRole('status').filter({ hasText: 'Consulta encerrada.' }).waitFor({ timeout: WAIT });
      await patient.page.getByText('O chat desta chamada está fechado.').waitFor({ timeout: WAIT });
      assert.equal(await chatBox(patient).isDisabled(), true);
      assert.equal((await messages(patient)).length, 5);
      assertClean(doctor, 'after the chat');
      assertClean(patient, 'after the chat');
    } finally {
      await Promise.all([doctor.context.close(), patient.context.close()]);
    }
  });

  test('a guest opens the invitation link, waits, is admitted and chats; the spent link says it was used, an unknown one that it is not valid', { timeout: 180000 }, async () => {
    const patientRecord = expectStatus(await post('/api/patients', { full_name: `Otávio Convidado ${uniq()}` }, w.rec.access), 201).body;
    const { doc, session, patientName } = await openSession(w, patientRecord);
    const invitation = expectStatus(await post(`${V}/sessions/${session.id}/invite`, undefined, w.rec.access), 201).body;
    assert.ok(invitation.code);
    const doctor = await openPage(browser, 'doctor-guest', { permissions: MEDIA });
    const guest = await openPage(browser, 'guest', { permissions: MEDIA, viewport: { width: 390, height: 844 } });
    try {
      await doctorJoins(doctor, doc, patientName);

      await guest.page.goto(`${API_URL}/video/join?code=${encodeURIComponent(invitation.code)}`);
      await guest.page.getByText('Você está na sala de espera', { exact: false }).waitFor({ timeout: WAIT });
      assert.ok(!guest.page.url().includes(invitation.code), `the code left the address: ${guest.page.url()}`);
      await guest.page.getByText('O chat abre quando o médico admitir você.').waitFor({ timeout: WAIT });
      await axeCheck(guest, "the guest's waiting room");
      await shot(guest, 'guest-waiting-room.png');

      await doctor.page.getByRole('button', { name: `Admitir: ${patientName}` }).click();
      await guest.page.getByText('O chat abre quando o médico admitir você.').waitFor({ state: 'hidden', timeout: WAIT });
      await typeAndSend(guest, 'Olá, consegue me ver?');
      await chatLog(doctor).getByText('Olá, consegue me ver?').waitFor({ timeout: WAIT });
      await typeAndSend(doctor, 'Sim, perfeitamente.');
      await chatLog(guest).getByText('Sim, perfeitamente.').waitFor({ timeout: WAIT });
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual((await messages(guest)).map((m) => [m.who, m.text]), [['Você', 'Olá, consegue me ver?'], ['Médico', 'Sim, perfeitamente.']]);
      assert.deepEqual((await messages(doctor)).map((m) => [m.who, m.text]), [['Paciente', 'Olá, consegue me ver?'], ['Você', 'Sim, perfeitamente.']]);
      // The per-minute limit (CHAT_MESSAGES_PER_MINUTE, 30 by default): the guest writes until the server refuses;
      // the refusal is shown in the chat in the page's language with the wait the server gives, the text kept for a
      // retry; what was sent reached the doctor once.
      const chatAlert = guest.page.locator('.call-chat [role=alert]');
      const outcome = async () => ({ box: await chatBox(guest).inputValue(), alert: await chatAlert.textContent() });
      let n = 1;
      for (; n < 200; n++) {
        await chatBox(guest).fill(`Mensagem ${n}`);
        await chatBox(guest).press('Enter');
        if ((await eventually(outcome, (o) => o.box === '' || o.alert !== '', WAIT, `message ${n} sent or refused`)).alert) break;
      }
      const refusal = /^Muitas mensagens em pouco tempo: espere (\d+) s e envie de novo\.$/.exec(await chatAlert.textContent());
      assert.ok(refusal, `the refusal in the chat: ${await chatAlert.textContent()}`);
      assert.ok(Number(refusal[1]) >= 1 && Number(refusal[1]) <= 60, refusal[1]);
      assert.equal(n, 30, 'refused past the limit, not before');
      assert.equal(await chatBox(guest).inputValue(), `Mensagem ${n}`, 'the refused text is kept');
      assert.equal(await guest.page.locator('.call [role=alert].message').first().textContent(), '', "the call's own line says nothing");
      await eventually(() => messages(doctor), (m) => m.length === n + 1 && new Set(m.map((x) => x.text)).size === n + 1, WAIT,
        "the guest's messages on the doctor's page, each once");
      await guest.page.getByRole('status').filter({ hasText: 'Em chamada' }).waitFor({ timeout: 30000 });
      await axeCheck(guest, "the guest's call");
      await shot(guest, 'guest-call-chat.png');

      // The guest hangs up and joins again with the same (in-memory) answer, without a new code.
      await guest.page.getByRole('button', { name: 'Sair da chamada' }).click();
      await guest.page.getByRole('button', { name: 'Voltar' }).click();
      await guest.page.getByText('Você saiu da teleconsulta.').waitFor({ timeout: WAIT });
      await guest.page.getByRole('button', { name: 'Entrar de novo' }).click();
      await chatLog(guest).getByText('Sim, perfeitamente.').waitFor({ timeout: WAIT });
      assertClean(doctor, 'after the guest chat');
      assertClean(guest, 'after the guest chat');
    } finally {
      await Promise.all([doctor.context.close(), guest.context.close()]);
    }

    // The spent link: 410, said in Portuguese, then in English; an unknown code: 404.
    const used = await openPage(browser, 'guest-used');
    try {
      used.allowed.push({ status: 410, path: REDEEM, console: 'status of 410' });
      await used.page.goto(`${API_URL}/video/join?code=${encodeURIComponent(invitation.code)}`);
      await used.page.getByRole('alert').filter({ hasText: 'Este link de convite já foi usado' }).waitFor({ timeout: WAIT });
      await axeCheck(used, 'the join page (used link)');
      await used.page.getByLabel('Idioma').selectOption('en');
      await used.page.getByRole('alert').filter({ hasText: 'This invitation link has already been used' }).waitFor({ timeout: WAIT });
      assert.equal(await used.page.evaluate(() => document.documentElement.lang), 'en');
      await axeCheck(used, 'the join page in English');
      await shot(used, 'guest-used-link.png');
      used.allowed.push({ status: 404, path: REDEEM, console: 'status of 404' });
      await used.page.goto(`${API_URL}/video/join?code=${'x'.repeat(43)}`);
      await used.page.getByRole('alert').filter({ hasText: 'This invitation link is not valid' }).waitFor({ timeout: WAIT });
      await used.page.goto(`${API_URL}/video/join`);
      await used.page.getByRole('alert').filter({ hasText: 'This address holds no invitation code' }).waitFor({ timeout: WAIT });
      assertClean(used, 'the refused links');
    } finally {
      await used.context.close();
    }
  });
});
