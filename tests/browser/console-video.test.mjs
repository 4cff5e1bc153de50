// The console's video consultation and the patient's screens, through the console's own pages in Chromium (fake
// camera and microphone, CHROMIUM_ARGS): the doctor opens the session of today's video appointment from the Video
// tab; the patient, signed in in another browser context, sees the join button appear without a reload and enters
// the waiting room; the doctor's Today's Work says who waits and leads to the Video tab; the doctor joins, sees the
// patient waiting and admits them; both pages decode the other's video (videoWidth > 0, frames increasing) and the
// connection quality is shown; mute and camera switch the local tracks; the patient hangs up and comes back without
// a new admission; the doctor ends the consultation and both pages say so (the session completed, with its
// duration, in the API too); the patient finds it among the past appointments. Then the patient, on a phone-sized
// page, books a free slot of tomorrow from their screen (a slot taken meanwhile by someone else is refused with the
// API's message), sees it in their appointments and cancels it with a reason from the keyboard. Every screen: no
// console error, no failed request, no unexpected answer >= 400, axe-core without a serious or critical violation,
// a screenshot into CONSOLE_SHOTS (the patient's at a phone size too).
//
// Run by scripts/browser-test.sh inside its loopback-only network namespace (API_URL serves the console,
// SIGNALING_URL is the signaling-server it is told about).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import {
  API_URL, addDays, createAppointment, createAvailability, createClinic, createService, expectStatus, get, isoWeekday, localDate,
  patientSession, pickTodayZone, post, staffSession, uniq,
} from '../lib/api.mjs';
import { WAIT, assertClean, axeCheck, eventually, openPage, shot, signIn } from './console-lib.mjs';
import { CHROMIUM, CHROMIUM_ARGS } from './lib.mjs';

const TZ = pickTodayZone(2);
const instant = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const PHONE = { width: 390, height: 844 };
const MEDIA = ['camera', 'microphone'];

// What a page's call shows: the remote video's size and frames, the local tracks' state.
const media = (p) => p.page.evaluate(() => {
  const remote = document.querySelector('video.remote');
  const local = document.querySelector('video.local');
  const tracks = (v) => (v?.srcObject ? v.srcObject.getTracks().map((tr) => ({ kind: tr.kind, enabled: tr.enabled, state: tr.readyState })) : []);
  return { width: remote?.videoWidth || 0, frames: remote?.getVideoPlaybackQuality?.().totalVideoFrames || 0, local: tracks(local) };
});

const track = (m, kind) => m.local.find((tr) => tr.kind === kind);
// Both local tracks (camera and microphone) there, and each in `state`.
const both = (m, state) => m.local.length === 2 && m.local.every((tr) => tr.state === state);

// Run in a page before its scripts: every camera stream and every WebSocket it opens is kept in window.__seen, so a
// test can tell whether a screen that went away stopped its tracks and closed its sockets.
function recordMediaAndSockets() {
  const seen = { streams: [], sockets: [] };
  window.__seen = seen;
  const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (c) => {
    const stream = await gum(c);
    seen.streams.push(stream);
    return stream;
  };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      seen.sockets.push(this);
    }
  };
}

describe('the console: video consultation and the patient', () => {
  let browser;
  let w;

  before(async () => {
    assert.ok(process.env.SIGNALING_URL, 'SIGNALING_URL must name the signaling-server the console is told about');
    const clinic = await createClinic({ name: `Clínica Jardins ${uniq()}`, timezone: TZ });
    const [rec, doc, pat, service] = await Promise.all([
      staffSession('RECEPTIONIST', clinic.id, { full_name: 'Rita Moreira' }),
      staffSession('DOCTOR', clinic.id, { full_name: 'Dra. Helena Prado' }),
      patientSession(clinic.id, { full_name: 'Marcos Vieira Alves' }),
      createService(clinic.id, { name: 'Teleconsulta', duration_minutes: 30, price_cents: 15000 }),
    ]);
    // Today's video appointment, in a few minutes (inside the join window, VIDEO_JOIN_EARLY_MINUTES).
    const start = instant(Math.ceil(Date.now() / 60000) * 60000 + 5 * 60000);
    assert.equal(localDate(TZ, Date.parse(start)), localDate(TZ), 'test setup: the appointment must be today');
    const appt = await createAppointment(rec.access, {
      patient_id: pat.patient.id, doctor_id: doc.user.doctor_id, service_id: service.id, start_time: start, consultation_type: 'video',
    });
    // The doctor's hours tomorrow, where the patient books.
    const tomorrow = addDays(localDate(TZ), 1);
    await createAvailability(doc.user.doctor_id, { weekday: isoWeekday(tomorrow), start_time: '09:00', end_time: '11:00', slot_minutes: 30,
      consultation_types: ['in_person', 'video'] });
    w = { clinic, rec, doc, pat, service, appt, tomorrow };
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: process.env.BROWSER_HEADLESS !== '0', timeout: 60000 });
  });

  after(async () => {
    await browser?.close();
  });

  test('the doctor opens the session, admits the waiting patient, both see and hear each other, mute and camera switch, the doctor ends it', { timeout: 180000 }, async () => {
    const doctor = await openPage(browser, 'doctor-video', { permissions: MEDIA });
    const patient = await openPage(browser, 'patient-video', { permissions: MEDIA });
    await patient.page.addInitScript(recordMediaAndSockets);
    const name = w.pat.patient.full_name;
    try {
      // The doctor's Video tab: today's video appointment, no session yet.
      await doctor.page.goto(`${API_URL}/`);
      await signIn(doctor, w.doc.email, w.doc.password);
      await doctor.page.getByRole('heading', { name: 'Trabalho de hoje' }).waitFor({ timeout: WAIT });
      await doctor.page.getByRole('link', { name: 'Teleconsultas', exact: true }).click();
      await doctor.page.getByRole('heading', { name: 'Teleconsultas de hoje' }).waitFor({ timeout: WAIT });
      await doctor.page.getByRole('status').filter({ hasText: 'Ao vivo' }).waitFor({ timeout: WAIT });
      await doctor.page.getByText('sala não aberta').waitFor({ timeout: WAIT });

      // The patient's appointments: the video consultation, not open yet.
      await patient.page.goto(`${API_URL}/`);
      await signIn(patient, w.pat.email, w.pat.password);
      await patient.page.getByRole('heading', { name: 'Minhas consultas' }).waitFor({ timeout: WAIT });
      await patient.page.getByRole('status').filter({ hasText: 'Ao vivo' }).waitFor({ timeout: WAIT });
      const upcoming = patient.page.getByRole('region', { name: /^Próximas \(\d+\)$/ });
      await upcoming.getByText('a sala de vídeo abre perto do horário', { exact: false }).waitFor({ timeout: WAIT });
      await upcoming.getByText(/Dra\. Helena Prado · Teleconsulta · por vídeo · confirmada/).waitFor({ timeout: WAIT });

      // The doctor opens the session: the patient's join button appears, pushed.
      await doctor.page.getByRole('button', { name: `Abrir a sala: ${name}` }).click();
      await doctor.page.getByRole('button', { name: `Entrar na chamada: ${name}` }).waitFor({ timeout: WAIT });
      await axeCheck(doctor, 'video list');
      await shot(doctor, 'doctor-video-list.png');
      const join = patient.page.getByRole('button', { name: 'Entrar na teleconsulta' });
      await join.waitFor({ timeout: WAIT });
      await axeCheck(patient, "patient's appointments");
      await shot(patient, 'patient-appointments.png');

      // The doctor goes back to Today's Work; the patient enters the waiting room; Today's Work says so.
      await doctor.page.getByRole('link', { name: 'Trabalho de hoje', exact: true }).click();
      await doctor.page.getByRole('heading', { name: 'Trabalho de hoje' }).waitFor({ timeout: WAIT });
      await join.click();
      await patient.page.getByText('Você está na sala de espera', { exact: false }).waitFor({ timeout: WAIT });
      await axeCheck(patient, 'waiting room');
      await shot(patient, 'patient-waiting-room.png');
      await patient.page.setViewportSize(PHONE);
      await axeCheck(patient, 'waiting room (phone)');
      await shot(patient, 'patient-waiting-room-phone.png');
      await patient.page.setViewportSize({ width: 1366, height: 768 });
      await doctor.page.getByText('está na sala de espera da teleconsulta', { exact: false }).waitFor({ timeout: WAIT });
      await doctor.page.getByRole('link', { name: 'Ir para as teleconsultas' }).click();
      await doctor.page.getByText('paciente na sala de espera').waitFor({ timeout: WAIT });

      // The doctor joins: the patient waits; admit.
      await doctor.page.getByRole('button', { name: `Entrar na chamada: ${name}` }).click();
      const admit = doctor.page.getByRole('button', { name: `Admitir: ${name}` });
      await admit.waitFor({ timeout: WAIT });
      await axeCheck(doctor, "doctor's waiting room");
      await shot(doctor, 'doctor-waiting-room.png');
      await admit.click();

      // Both decode the other's video, and keep decoding.
      const [d1, p1] = await Promise.all([doctor, patient].map((pg) => eventually(() => media(pg), (m) => m.width > 0 && m.frames > 0, 30000,
        `${pg.name} decoding video`)));
      await Promise.all([doctor, patient].map((pg) => pg.page.getByRole('status').filter({ hasText: 'Em chamada' }).waitFor({ timeout: WAIT })));
      await doctor.page.getByText(/Conexão: (boa|razoável|ruim) · ida e volta \d+ ms · perda [\d,]+\s?% · variação \d+ ms/).waitFor({ timeout: WAIT });
      await patient.page.getByText(/Conexão: (boa|razoável|ruim) · ida e volta \d+ ms/).waitFor({ timeout: WAIT });
      await doctor.page.getByText(`${name} está na chamada.`).waitFor({ timeout: WAIT });
      await Promise.all([doctor, patient].map((pg, i) => eventually(() => media(pg), (m) => m.frames > [d1, p1][i].frames + 10, 15000,
        `${pg.name}: frames keep being decoded`)));
      await axeCheck(doctor, "doctor's call");
      await axeCheck(patient, "patient's call");
      await shot(doctor, 'doctor-call.png');
      await shot(patient, 'patient-call.png');
      await patient.page.setViewportSize(PHONE);
      await shot(patient, 'patient-call-phone.png');
      await patient.page.setViewportSize({ width: 1366, height: 768 });

      // Mute and camera: the local tracks are switched off and on; the button says its state.
      const mute = doctor.page.getByRole('button', { name: 'Silenciar microfone' });
      assert.equal(track(await media(doctor), 'audio').enabled, true);
      await mute.click();
      const unmute = doctor.page.getByRole('button', { name: 'Ativar microfone' });
      assert.equal(await unmute.getAttribute('aria-pressed'), 'true');
      assert.equal(track(await media(doctor), 'audio').enabled, false, 'muted: the microphone track is off');
      await unmute.focus();
      await doctor.page.keyboard.press('Enter');
      await mute.waitFor({ timeout: WAIT });
      assert.equal(track(await media(doctor), 'audio').enabled, true, 'unmuted from the keyboard');
      // The same button, its label changed: the keyboard is still on it, across the renders of the call's events too.
      assert.equal(await doctor.page.evaluate(() => document.activeElement?.textContent), 'Silenciar microfone', 'the focus stays on the mute button');
      await doctor.page.keyboard.press('Enter');
      await unmute.waitFor({ timeout: WAIT });
      assert.equal(await doctor.page.evaluate(() => document.activeElement?.getAttribute('aria-pressed')), 'true', 'muted again from the keyboard');
      await doctor.page.keyboard.press('Enter');
      await mute.waitFor({ timeout: WAIT });
      await patient.page.getByRole('button', { name: 'Desligar câmera' }).click();
      assert.equal(track(await media(patient), 'video').enabled, false, 'camera off: the video track is off');
      await patient.page.getByRole('button', { name: 'Ligar câmera' }).click();
      assert.equal(track(await media(patient), 'video').enabled, true, 'camera on again');

      // The patient hangs up (camera released, the doctor told), comes back within the grace window: no new
      // admission, the doctor's page offers again and both decode video again.
      await patient.page.getByRole('button', { name: 'Sair da chamada' }).click();
      await patient.page.getByRole('status').filter({ hasText: 'Você saiu da chamada' }).waitFor({ timeout: WAIT });
      const hungUp = await media(patient);
      assert.ok(both(hungUp, 'ended'), `hung up: camera and microphone released: ${JSON.stringify(hungUp.local)}`);
      await doctor.page.getByRole('status').filter({ hasText: 'A outra pessoa saiu da chamada.' }).waitFor({ timeout: WAIT });
      await patient.page.getByRole('button', { name: 'Voltar' }).click();
      await patient.page.getByRole('button', { name: 'Entrar na teleconsulta' }).click();
      await Promise.all([doctor, patient].map((pg) => eventually(() => media(pg), (m) => m.width > 0 && m.frames > 0 && both(m, 'live'),
        30000, `${pg.name} decoding video again`)));
      await Promise.all([doctor, patient].map((pg) => pg.page.getByRole('status').filter({ hasText: 'Em chamada' }).waitFor({ timeout: WAIT })));

      // The patient switches tab during the call: the screen's close() stops the camera and the microphone and closes
      // every socket it had (the call's and the list's); one stays open, the inbox's (web/app/inbox.js), which lives
      // as long as the session; back on the list, the call is joined again.
      const streams = await patient.page.evaluate(() => window.__seen.streams.length);
      assert.ok(streams >= 2, `test setup: the patient's camera was taken for each join (${streams})`);
      await patient.page.getByRole('link', { name: 'Agendar', exact: true }).click();
      await patient.page.getByRole('heading', { name: 'Agendar consulta', level: 1 }).waitFor({ timeout: WAIT });
      await eventually(() => patient.page.evaluate(() => ({
        tracks: window.__seen.streams.flatMap((st) => st.getTracks().map((tr) => tr.readyState)),
        sockets: window.__seen.sockets.map((ws) => ws.readyState),
      })), (x) => x.tracks.length >= 4 && x.tracks.every((st) => st === 'ended') && x.sockets.length >= 2
        && x.sockets.filter((st) => st === 1).length === 1 && x.sockets.every((st) => st === 1 || st === 3),
      WAIT, "the tracks stopped and the screen's sockets closed after the tab switch (the inbox's left open)");
      await patient.page.getByRole('link', { name: 'Minhas consultas', exact: true }).click();
      await patient.page.getByRole('button', { name: 'Entrar na teleconsulta' }).click();
      await Promise.all([doctor, patient].map((pg) => eventually(() => media(pg), (m) => m.width > 0 && m.frames > 0 && both(m, 'live'),
        30000, `${pg.name} decoding video after the patient came back`)));

      // The doctor ends the consultation: both pages say so, the media stop, the session is completed.
      await doctor.page.getByRole('button', { name: 'Encerrar consulta' }).click();
      await doctor.page.getByRole('status').filter({ hasText: /Consulta encerrada\. Duração: \d+ min \d+ s/ }).waitFor({ timeout: WAIT });
      await patient.page.getByRole('status').filter({ hasText: 'Consulta encerrada.' }).waitFor({ timeout: WAIT });
      for (const pg of [doctor, patient]) {
        const m = await media(pg);
        assert.ok(both(m, 'ended'), `${pg.name}: camera and microphone released: ${JSON.stringify(m.local)}`);
      }
      const [session] = expectStatus(await get(`/api/video-consultations/sessions?date=${localDate(TZ)}`, w.doc.access), 200).body.items;
      assert.equal(session.status, 'completed');
      assert.ok(session.duration_seconds >= 1, `duration: ${JSON.stringify(session)}`);
      const full = expectStatus(await get(`/api/video-consultations/sessions/${session.id}`, w.doc.access), 200).body;
      assert.ok(full.quality.samples >= 1, `quality samples reached the server: ${JSON.stringify(full.quality)}`);
      await axeCheck(patient, 'call ended');
      await shot(patient, 'patient-call-ended.png');

      // Back to the lists: the patient's consultation is among the past ones, completed.
      await patient.page.getByRole('button', { name: 'Voltar' }).click();
      const past = patient.page.getByRole('region', { name: /^Anteriores \(\d+\)$/ });
      await past.getByText(/Dra\. Helena Prado · Teleconsulta · por vídeo · realizada/).waitFor({ timeout: WAIT });
      await doctor.page.getByRole('button', { name: 'Voltar' }).click();
      await doctor.page.getByText('concluída').waitFor({ timeout: WAIT });
      assertClean(doctor, 'after the video consultation');
      assertClean(patient, 'after the video consultation');
    } finally {
      await Promise.all([doctor.context.close(), patient.context.close()]);
    }
  });

  test('the patient books a free slot from their screen (phone size), sees it in their appointments and cancels it; a slot taken meanwhile is refused with the API message', { timeout: 120000 }, async () => {
    const p = await openPage(browser, 'patient-booking', { viewport: PHONE });
    try {
      await p.page.goto(`${API_URL}/`);
      await signIn(p, w.pat.email, w.pat.password);
      await p.page.getByRole('heading', { name: 'Minhas consultas' }).waitFor({ timeout: WAIT });
      await p.page.getByRole('status').filter({ hasText: 'Ao vivo' }).waitFor({ timeout: WAIT });
      await shot(p, 'patient-appointments-phone.png');

      await p.page.getByRole('link', { name: 'Agendar', exact: true }).click();
      await p.page.getByRole('heading', { name: 'Agendar consulta' }).waitFor({ timeout: WAIT });
      await p.page.getByLabel('Médico').locator('option', { hasText: 'Dra. Helena Prado' }).waitFor({ state: 'attached', timeout: WAIT });
      await p.page.getByLabel('Serviço').selectOption({ label: 'Teleconsulta · 30 min' });
      await p.page.getByLabel('Tipo de consulta').selectOption('in_person');
      await p.page.getByLabel('Data').fill(w.tomorrow);
      await p.page.getByRole('button', { name: 'Ver horários livres' }).click();
      const slots = p.page.getByRole('region', { name: /^Horários livres de Dra\. Helena Prado/ });
      await slots.getByRole('button', { name: 'Agendar às 09:00' }).waitFor({ timeout: WAIT });
      assert.equal(await slots.getByRole('button').count(), 4, 'four 30-minute slots from 09:00 to 11:00');
      await axeCheck(p, 'booking');
      await shot(p, 'patient-booking-phone.png');

      // Someone else takes 09:30 meanwhile: the refusal is the API's own.
      const other = await patientSession(w.clinic.id);
      const taken = expectStatus(await post('/api/appointments', {
        doctor_id: w.doc.user.doctor_id, service_id: w.service.id, consultation_type: 'in_person',
        start_time: (await get(`/api/doctors/${w.doc.user.doctor_id}/slots?from=${w.tomorrow}&to=${w.tomorrow}&type=in_person`, other.access)).body.items[1].start_time,
      }, other.access), 201).body;
      const again = await post('/api/appointments', { doctor_id: w.doc.user.doctor_id, service_id: w.service.id, consultation_type: 'in_person',
        start_time: taken.start_time }, w.pat.access);
      assert.equal(again.status, 409, 'test setup: the taken slot is refused');
      p.allowed.push({ status: 409, path: '/api/appointments', console: 'status of 409' });
      await slots.getByRole('button', { name: 'Agendar às 09:30' }).click();
      await p.page.getByRole('alert').filter({ hasText: again.body.error.message }).waitFor({ timeout: WAIT });
      p.allowed.pop();

      // 09:00 is free: booked with a double click, once (the slots are disabled while the first is sent, so no second
      // request and no refusal); the list of slots no longer has it, and the appointments show it.
      const posts = p.paths.length;
      // (Two clicks in one task: the second comes before any answer, as a quick double click's can.)
      await slots.getByRole('button', { name: 'Agendar às 09:00' }).evaluate((b) => { b.focus(); b.click(); b.click(); });
      await p.page.getByRole('status').filter({ hasText: /Consulta agendada para .* às 09:00 com Dra\. Helena Prado\./ }).waitFor({ timeout: WAIT });
      await slots.getByRole('button', { name: 'Agendar às 09:00' }).waitFor({ state: 'detached', timeout: WAIT });
      assert.equal(p.paths.slice(posts).filter((x) => x === '/api/appointments').length, 1, 'one POST /api/appointments for a double click');
      assert.equal(await p.page.evaluate(() => document.querySelector('[role=alert]').textContent), '', 'no refusal shown');
      assert.match(await p.page.evaluate(() => `${document.activeElement?.getAttribute('role')}: ${document.activeElement?.textContent}`),
        /^status: Consulta agendada para/, 'the booked slot is gone: the keyboard is on the line saying it was booked');
      await shot(p, 'patient-booked-phone.png');
      await p.page.getByRole('link', { name: 'Ver minhas consultas' }).click();
      const upcoming = p.page.getByRole('region', { name: /^Próximas \(\d+\)$/ });
      const row = upcoming.getByRole('listitem').filter({ hasText: '09:00' }).filter({ hasText: 'presencial · confirmada' });
      await row.waitFor({ timeout: WAIT });
      await axeCheck(p, "patient's appointments (phone)");
      const mine = expectStatus(await get(`/api/appointments?from=${w.tomorrow}&to=${w.tomorrow}`, w.pat.access), 200).body.items;
      assert.equal(mine.length, 1, `one appointment of the patient tomorrow: ${JSON.stringify(mine)}`);
      assert.equal(mine[0].consultation_type, 'in_person');

      // Cancelled from the keyboard with a reason: it moves to the past ones, cancelled by the patient.
      await row.getByRole('button', { name: /^Cancelar: / }).focus();
      await p.page.keyboard.press('Enter');
      await p.page.getByLabel('Motivo do cancelamento').fill('Viagem de trabalho');
      await p.page.keyboard.press('Enter');
      await p.page.getByRole('status').filter({ hasText: /^Consulta de .* cancelada\.$/ }).waitFor({ timeout: WAIT });
      const past = p.page.getByRole('region', { name: /^Anteriores \(\d+\)$/ });
      await past.getByRole('listitem').filter({ hasText: '09:00' }).filter({ hasText: 'presencial · cancelada' }).waitFor({ timeout: WAIT });
      assert.match(await p.page.evaluate(() => `${document.activeElement?.getAttribute('role')}: ${document.activeElement?.textContent}`),
        /^status: Consulta de .* cancelada\.$/, 'the cancelled row is gone: the keyboard is on the line saying so');
      const cancelled = expectStatus(await get(`/api/appointments/${mine[0].id}`, w.pat.access), 200).body;
      assert.equal(cancelled.status, 'cancelled');
      assert.equal(cancelled.cancelled_by, 'patient');
      assert.equal(cancelled.cancel_reason, 'Viagem de trabalho');

      // The booking screen at the desk's size too.
      await p.page.setViewportSize({ width: 1366, height: 768 });
      await shot(p, 'patient-appointments-after-booking.png');
      await p.page.getByRole('link', { name: 'Agendar', exact: true }).click();
      await p.page.getByRole('heading', { name: 'Agendar consulta' }).waitFor({ timeout: WAIT });
      await shot(p, 'patient-booking.png');
      assertClean(p, 'after booking');
    } finally {
      await p.context.close();
    }
  });
});
