// A video consultation in two real browsers (Debian's Chromium through playwright-core), as
// the README ("Video consultations") describes it: the desk books a `video` appointment for today, the doctor opens the
// session, both sides get a join token from the api-server, the patient waits in the waiting room, the doctor
// admits them, the doctor's page sends the WebRTC offer, the patient's page answers, both trickle ICE
// candidates through the signaling-server, both decode the other's video and report connection_quality; the
// doctor ends the session through the API and it is completed with its duration.
//
// The HTTP API calls happen here in node (cross-origin.test.mjs covers pages calling the API); the pages (call.html +
// call.js) only talk to the signaling-server. Run inside a loopback-only network namespace by
// scripts/browser-test.sh. Environment: API_URL, SIGNALING_URL, SIGNALING_BIN (and what it needs:
// DATABASE_URL, JWT_PUBLIC_KEY_FILE) as the API suite gets them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  createAppointment, createClinic, createService, expectStatus, get, localDate, patientSession, pickTodayZone, post,
  staffSession, startSignaling,
} from '../lib/api.mjs';
import { inCall, isConnected, launchBrowser, openCallPage, snapshot, staticServer, until } from './lib.mjs';

const SIGNALING_URL = process.env.SIGNALING_URL;
const TZ = pickTodayZone(2);
const instant = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const ENDED = ['completed', 'cancelled', 'expired', 'failed'];
const timings = [];

// A clinic with a receptionist, a doctor, a patient with an account, and a confirmed video appointment that
// starts in a few minutes (inside the join window of VIDEO_JOIN_EARLY_MINUTES, 30 by default).
async function videoWorld() {
  const clinic = await createClinic({ timezone: TZ });
  const [rec, doc, pat, service] = await Promise.all([
    staffSession('RECEPTIONIST', clinic.id),
    staffSession('DOCTOR', clinic.id),
    patientSession(clinic.id),
    createService(clinic.id, { name: 'Teleconsulta', duration_minutes: 30 }),
  ]);
  const start = instant(Math.ceil(Date.now() / 60000) * 60000 + 5 * 60000);
  assert.equal(localDate(TZ, Date.parse(start)), localDate(TZ), 'test setup: the appointment must be today');
  const appt = await createAppointment(rec.access, {
    patient_id: pat.patient.id, doctor_id: doc.user.doctor_id, service_id: service.id, start_time: start, consultation_type: 'video',
  });
  assert.equal(appt.status, 'confirmed', `a desk booking is confirmed: ${JSON.stringify(appt)}`);
  return { clinic, rec, doc, pat, service, appt };
}

const sessionPath = (id) => `/api/video-consultations/sessions/${id}`;

async function joinToken(sessionId, access, role) {
  const res = expectStatus(await post(`${sessionPath(sessionId)}/token`, undefined, access), 200);
  const b = res.body;
  assert.equal(typeof b.token, 'string', `token response: ${JSON.stringify(b)}`);
  assert.equal(b.role, role, `token role: ${JSON.stringify(b)}`);
  assert.equal(b.session_id, sessionId, `token session_id: ${JSON.stringify(b)}`);
  assert.ok(Array.isArray(b.ice_servers), `token ice_servers is a list: ${JSON.stringify(b)}`);
  return b;
}

// Polls GET session (as `access`) until pred(session) holds.
async function sessionUntil(id, access, pred, ms, what) {
  const deadline = Date.now() + ms;
  let s;
  for (;;) {
    s = expectStatus(await get(sessionPath(id), access), 200).body;
    if (pred(s)) return s;
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for the session: ${what}; last: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const participant = (s, role) => (s.participants || []).find((p) => p.role === role);

describe('video consultation in two browsers', () => {
  let web;
  let doctor;
  let patient;

  before(async () => {
    assert.ok(SIGNALING_URL, 'SIGNALING_URL must point at the signaling-server under test');
    web = await staticServer();
    [doctor, patient] = await Promise.all([launchBrowser('doctor'), launchBrowser('patient')]);
  });

  after(async () => {
    await Promise.all([doctor?.close(), patient?.close()]);
    await web?.close();
    if (timings.length) {
      console.log('admission -> connected (both pages ICE connected), per run:');
      for (const t of timings) console.log(`  ${t}`);
    }
  });

  // One consultation. doctorFirst: the doctor's page is connected before the patient arrives (admits on the
  // patient_waiting event) instead of arriving to a waiting patient (admits on session_state).
  async function consultation(label, { doctorUrl, patientUrl, doctorFirst }) {
    const w = await videoWorld();
    const docAccess = w.doc.access;

    // The doctor opens the session for the appointment.
    let session = expectStatus(await post('/api/video-consultations/sessions', { appointment_id: w.appt.id }, docAccess), 201).body;
    assert.equal(session.status, 'scheduled', `new session: ${JSON.stringify(session)}`);
    assert.equal(session.appointment_id, w.appt.id);
    const sid = session.id;

    const [docTok, patTok] = await Promise.all([joinToken(sid, docAccess, 'doctor'), joinToken(sid, w.pat.access, 'patient')]);

    await Promise.all([openCallPage(doctor, web.url), openCallPage(patient, web.url)]);
    const start = (b, role, url, tok) => b.page.evaluate((o) => window.startCall(o), { role, signalingUrl: url, token: tok.token, iceServers: tok.ice_servers });

    if (doctorFirst) {
      await start(doctor, 'doctor', doctorUrl, docTok);
      const [d] = await until([doctor], (s) => s.sessionState !== null, 5000, 'session_state on the doctor page');
      assert.equal(d.sessionState.role, 'doctor', `doctor's session_state: ${JSON.stringify(d.sessionState)}`);
      assert.equal(d.sessionState.session_id, sid);
      assert.equal(d.admitSent, 0, 'no admission before a patient waits');
    }

    // The patient enters the waiting room.
    await start(patient, 'patient', patientUrl, patTok);
    const [p0] = await until([patient], (s) => s.sessionState !== null, 5000, 'session_state on the patient page');
    assert.equal(p0.sessionState.role, 'patient', `patient's session_state: ${JSON.stringify(p0.sessionState)}`);
    assert.equal(p0.sessionState.session_id, sid);
    if (!doctorFirst) {
      assert.equal(p0.sessionState.admitted, false, `a new patient is not admitted: ${JSON.stringify(p0.sessionState)}`);
      session = await sessionUntil(sid, docAccess, (s) => s.status === 'waiting' && participant(s, 'patient')?.state === 'waiting', 5000,
        'status waiting with the patient waiting');
      assert.ok(session.visit_id, `the waiting patient has a visit: ${JSON.stringify(session)}`);
      // The doctor arrives to a waiting patient.
      await start(doctor, 'doctor', doctorUrl, docTok);
    }

    // The doctor's page admits; the offer/answer/ICE exchange follows; both sides decode video.
    const [d, p] = await until([doctor, patient], (a, b) => inCall(a) && inCall(b), 30000, `${label}: both pages in the call`);
    const both = Math.max(d.t.connected, p.t.connected) - d.t.admitSent;
    const line = `${label}: ${both.toFixed(1)} ms (doctor ${(d.t.connected - d.t.admitSent).toFixed(1)} ms, patient ${(p.t.connected - d.t.admitSent).toFixed(1)} ms; `
      + `patient_admitted after ${(p.t.admitted - d.t.admitSent).toFixed(1)} ms, offer at ${(d.t.offerSent - d.t.admitSent).toFixed(1)} ms, `
      + `answer received at ${(d.t.answerReceived - d.t.admitSent).toFixed(1)} ms; pair ${d.selectedPair?.local} <-> ${d.selectedPair?.remote})`;
    timings.push(line);
    console.log(`admission -> connected, ${line}`);

    assert.equal(d.admitSent, 1, 'the doctor admitted once');
    for (const [name, s] of [['doctor', d], ['patient', p]]) {
      assert.deepEqual(s.errors, [], `${name} page: no error events, refusals or exceptions`);
      assert.ok(s.admitted, `${name} page saw patient_admitted`);
      assert.ok(isConnected(s) && s.remoteVideoTrack && s.framesDecoded > 0, `${name} page decodes video`);
    }
    const offer = p.events.find((e) => e.name === 'webrtc_offer');
    const answer = d.events.find((e) => e.name === 'webrtc_answer');
    assert.equal(offer?.data?.from, 'doctor', 'the patient got the offer from the doctor');
    assert.equal(answer?.data?.from, 'patient', 'the doctor got the answer from the patient');
    const iceFrom = (s) => [...new Set(s.events.filter((e) => e.name === 'webrtc_ice_candidate').map((e) => e.data.from))];
    assert.deepEqual(iceFrom(p), ['doctor'], 'the patient got ICE candidates from the doctor only');
    assert.deepEqual(iceFrom(d), ['patient'], 'the doctor got ICE candidates from the patient only');
    if (doctorFirst) assert.ok(d.events.some((e) => e.name === 'patient_waiting'), 'patient_waiting reached the doctor page');

    // In progress, admitted; the first quality sample marks connected_at.
    await until([doctor, patient], (a, b) => a.qualitySent >= 1 && b.qualitySent >= 1, 5000, 'connection_quality from both pages');
    session = await sessionUntil(sid, docAccess, (s) => s.status === 'in_progress' && s.connected_at, 5000, 'in_progress with connected_at');
    assert.ok(session.started_at, `started_at set at admission: ${JSON.stringify(session)}`);
    assert.equal(participant(session, 'patient')?.admitted, true, `the patient is admitted: ${JSON.stringify(session.participants)}`);

    // A few more seconds of call (quality samples every 2 s), then the doctor ends it.
    await new Promise((r) => setTimeout(r, 2500));
    const [d2, p2] = await Promise.all([snapshot(doctor), snapshot(patient)]);
    assert.ok(d2.framesDecoded > d.framesDecoded && p2.framesDecoded > p.framesDecoded,
      `video keeps flowing: doctor ${d.framesDecoded} -> ${d2.framesDecoded}, patient ${p.framesDecoded} -> ${p2.framesDecoded} frames`);
    assert.ok(isConnected(d2) && isConnected(p2), `still connected: ${d2.iceConnectionState} / ${p2.iceConnectionState}`);

    const ended = expectStatus(await post(`${sessionPath(sid)}/end`, { notes: 'Teleconsulta pelo navegador.' }, docAccess), 200).body;
    assert.equal(ended.status, 'completed', `end: ${JSON.stringify(ended)}`);
    assert.equal(typeof ended.duration_seconds, 'number', `duration_seconds: ${JSON.stringify(ended)}`);
    assert.ok(ended.ended_at && ended.started_at, `ended_at and started_at: ${JSON.stringify(ended)}`);
    const expected = Math.round((Date.parse(ended.ended_at) - Date.parse(ended.started_at)) / 1000);
    assert.ok(Math.abs(ended.duration_seconds - expected) <= 1, `duration_seconds ${ended.duration_seconds} = ended_at - started_at (${expected})`);
    assert.ok(ended.duration_seconds >= 2 && ended.duration_seconds < 120, `duration_seconds ${ended.duration_seconds} matches the call`);

    // Both pages learn it ended; the patient sees the completed session with its duration and quality.
    await until([doctor, patient], (a, b) => a.sessionUpdates.some((x) => ENDED.includes(x)) && b.sessionUpdates.some((x) => ENDED.includes(x)), 5000,
      'video_session_updated (completed) on both pages');
    const [d3, p3] = await Promise.all([snapshot(doctor), snapshot(patient)]);
    assert.ok(d3.sessionUpdates.includes('completed') && p3.sessionUpdates.includes('completed'),
      `video_session_updated completed: doctor ${JSON.stringify(d3.sessionUpdates)}, patient ${JSON.stringify(p3.sessionUpdates)}`);
    const final = expectStatus(await get(sessionPath(sid), w.pat.access), 200).body;
    assert.equal(final.status, 'completed');
    assert.equal(final.duration_seconds, ended.duration_seconds);
    assert.ok(final.quality && final.quality.samples >= 2, `quality samples stored: ${JSON.stringify(final.quality)}`);
    assert.equal(expectStatus(await get(`/api/appointments/${w.appt.id}`, w.rec.access), 200).body.status, 'completed', 'the appointment is completed');
  }

  test('patient waits, doctor admits, both connect and decode video, doctor ends: completed with duration', { timeout: 120000 }, async () => {
    await consultation('same signaling-server', { doctorUrl: SIGNALING_URL, patientUrl: SIGNALING_URL, doctorFirst: false });
  });

  test('doctor on a second signaling-server instance, connected first: admits on patient_waiting, call connects across instances', { timeout: 120000 }, async () => {
    const second = await startSignaling();
    try {
      await consultation('two signaling-server instances', { doctorUrl: second.url, patientUrl: SIGNALING_URL, doctorFirst: true });
    } finally {
      await second.stop();
    }
  });
});
