// Authorization matrix (one entry per operation of openapi.yaml, checked both ways, and each allowed
// answer checked for what its caller's role must not read) and the clinic / own-record visibility
// rules.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import {
  addDays,
  asAdmin,
  createAppointment,
  createAvailability,
  createClinic,
  createPatient,
  createService,
  createStaff,
  createUnavailability,
  cpf,
  expectError,
  expectStatus,
  freshEmail,
  get,
  listAll,
  localDate,
  login,
  nextWeekday,
  openapiOperations,
  operationKey,
  patch,
  patientSession,
  post,
  psql,
  request,
  staffSession,
  uniq,
} from '../lib/api.mjs';

const A = 'allow';
const D = 'deny';
const CALLERS = ['public', 'ADMIN', 'RECEPTIONIST', 'DOCTOR', 'PATIENT'];

// Every caller allowed (public route).
const PUBLIC = { public: A, ADMIN: A, RECEPTIONIST: A, DOCTOR: A, PATIENT: A };
// Any authenticated role.
const ANY = { public: D, ADMIN: A, RECEPTIONIST: A, DOCTOR: A, PATIENT: A };
const only = (...roles) => Object.fromEntries(CALLERS.map((c) => [c, roles.includes(c) ? A : D]));
const STAFF = only('ADMIN', 'RECEPTIONIST', 'DOCTOR');

const ctx = {};

// What a role must not read, checked on every allowed call's JSON answer (openapi.yaml, "What each
// role reads"). Every clinical text the table writes (medical histories, evolution notes, diagnoses,
// addenda, completion notes) carries CLINICAL, and docA's licence number carries LICENCE, so a leak
// is found whatever field carries it.
const CLINICAL = 'Clinical-Sentinel';
const LICENCE = 'Licence-Sentinel';
// A RECEPTIONIST reads no clinical field.
const CLINICAL_KEYS = new Set(['medical_history', 'evolution', 'diagnoses', 'prescriptions', 'addenda', 'visit_history']);
// A PATIENT reads no doctor's private field, and no e-mail but their own.
const DOCTOR_PRIVATE_KEYS = new Set(['license_number', 'pix_key', 'pix_key_type']);
const MUST_NOT_READ = {
  RECEPTIONIST: (key, value) => {
    if (CLINICAL_KEYS.has(key)) return `the clinical field ${key}`;
    if (typeof value === 'string' && value.includes(CLINICAL)) return `clinical text ${JSON.stringify(value)}`;
    return null;
  },
  PATIENT: (key, value) => {
    if (DOCTOR_PRIVATE_KEYS.has(key)) return `the private field ${key}`;
    if (key === 'email' && value !== null && value !== ctx.patA.email) return `another's e-mail ${value}`;
    if (typeof value === 'string' && value.includes(LICENCE)) return `a licence number ${JSON.stringify(value)}`;
    return null;
  },
};

// Each [where, what] the caller must not read in body (key null for array items and the root).
function forbiddenReads(caller, body) {
  const rule = MUST_NOT_READ[caller];
  const found = [];
  const walk = (node, where, key) => {
    const what = rule(key, node);
    if (what) found.push(`${where}: ${what}`);
    if (Array.isArray(node)) node.forEach((v, i) => walk(v, `${where}[${i}]`, null));
    else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) walk(v, `${where}.${k}`, k);
  };
  if (rule) walk(body, '$', null);
  return found;
}

// Distinct, non-overlapping weekly hours for the availability rules the table creates for docA:
// the n-th call gets a half hour of its own (40 per weekday, from 02:00).
let windows = 0;
function nextWindow() {
  const n = windows++;
  const minutes = 120 + (n % 40) * 30;
  const hhmm = (m) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  return { weekday: 1 + (Math.floor(n / 40) % 7), start_time: hhmm(minutes), end_time: hhmm(minutes + 30), slot_minutes: 30, consultation_types: ['in_person'] };
}

// Distinct half-hour unavailability blocks for docA, on days more than a year ahead.
let blocks = 0;
function nextBlock() {
  const day = addDays(nextWeekday(1, 400), Math.floor(blocks / 20));
  const h = String(2 + (blocks++ % 20)).padStart(2, '0');
  return { starts_at: `${day}T${h}:00:00Z`, ends_at: `${day}T${h}:30:00Z` };
}

// Distinct half-hour appointment times of docA: Thursdays 08:00-18:00 in clinic A's time zone
// (America/Sao_Paulo, UTC-03:00), where before() gives docA hours, so each one is a free slot.
let bookings = 0;
function nextBooking() {
  const n = bookings++;
  const day = addDays(nextWeekday(4, 14), 7 * Math.floor(n / 20));
  const minutes = 11 * 60 + (n % 20) * 30; // 08:00 local is 11:00 UTC
  return `${day}T${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}:00Z`;
}

// A requested appointment of patA with docA at the next free time (written as a request, as a patient's
// booking is in a clinic requiring confirmation); resolves with its id.
async function requestedA() {
  const start = nextBooking();
  return Number(await psql(`INSERT INTO appointments (clinic_id, doctor_id, patient_id, service_id, consultation_type, status, period)
    SELECT s.clinic_id, ${ctx.docA.user.doctor_id}, ${ctx.patA.patient.id}, s.id, 'in_person', 'requested',
           tstzrange('${start}', '${start}'::timestamptz + make_interval(mins => s.duration_minutes))
    FROM services s WHERE s.id = ${ctx.serviceA.id} RETURNING id`));
}

// A confirmed appointment of patA with docA at the next free time (booked by the demo admin).
async function appointmentA() {
  return createAppointment(await asAdmin(), {
    patient_id: ctx.patA.patient.id,
    doctor_id: ctx.docA.user.doctor_id,
    service_id: ctx.serviceA.id,
    start_time: nextBooking(),
  });
}

// Visits of docA in clinic A's queue of today, each for a fresh patient (a patient stands in one queue
// at a time), put there by the demo admin as walk-ins.
async function waitingVisit() {
  const admin = await asAdmin();
  const patient = await createPatient(admin, { clinic_id: ctx.A.id });
  return expectStatus(await post('/api/visits', { patient_id: patient.id, doctor_id: ctx.docA.user.doctor_id }, admin), 201).body;
}

async function inProgressVisit() {
  const visit = await waitingVisit();
  return expectStatus(await post('/api/queue/phase/move', { visit_id: visit.id, phase: 'with_doctor' }, await asAdmin()), 200).body;
}

// An in-progress visit of docA with a draft evolution.
async function draftEvolutionVisit() {
  const visit = await inProgressVisit();
  expectStatus(await request('PUT', `/api/visits/${visit.id}/evolution`, { token: ctx.docA.access, body: { notes: `${CLINICAL} draft` } }), 201);
  return visit;
}

// Minutes from now to the next midnight in clinic A's zone (São Paulo).
function minutesToMidnightA() {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', { timeZone: ctx.A.timezone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit', second: '2-digit' })
      .formatToParts(new Date())
      .map((p) => [p.type, p.value]),
  );
  return 24 * 60 - (Number(parts.hour) * 60 + Number(parts.minute) + Number(parts.second) / 60);
}

// A confirmed appointment of clinic A starting a few seconds from now, so it can be checked in today
// (a fresh doctor and patient, so it overlaps nothing). Close to local midnight it waits for the new day.
async function appointmentToday() {
  const left = minutesToMidnightA();
  if (left < 1) await new Promise((r) => setTimeout(r, left * 60000 + 2000));
  const admin = await asAdmin();
  const [doctor, patient] = await Promise.all([createStaff('DOCTOR', ctx.A.id), createPatient(admin, { clinic_id: ctx.A.id })]);
  const start = Math.ceil(Date.now() / 1000) * 1000 + 10000;
  return createAppointment(admin, {
    patient_id: patient.id,
    doctor_id: doctor.user.doctor_id,
    service_id: ctx.serviceA.id,
    start_time: new Date(start).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  });
}

const isAllowed = (entryRoles, role) => entryRoles[role] === A;

// A video appointment of docA with a fresh patient at the next free Thursday time, and its session
// (opened by the demo admin).
async function videoSession() {
  const admin = await asAdmin();
  const patient = await createPatient(admin, { clinic_id: ctx.A.id });
  const appt = await createAppointment(admin, {
    patient_id: patient.id, doctor_id: ctx.docA.user.doctor_id, service_id: ctx.serviceA.id,
    start_time: nextBooking(), consultation_type: 'video',
  });
  return expectStatus(await post('/api/video-consultations/sessions', { appointment_id: appt.id }, admin), 201).body;
}

// A session of docA whose call is in progress (the admission is the signaling-server's: set here directly).
async function videoSessionInProgress() {
  const session = await videoSession();
  await psql(`UPDATE video_sessions SET status = 'waiting' WHERE id = ${session.id};
              UPDATE video_sessions SET status = 'in_progress', started_at = now() WHERE id = ${session.id};`);
  return session;
}

async function videoInvitation() {
  return expectStatus(await post(`/api/video-consultations/sessions/${ctx.sessionA.id}/invite`, undefined, await asAdmin()), 201).body;
}

// A video-only timing of docA (a half hour of its own).
async function videoTiming() {
  const { consultation_types: _, ...hours } = nextWindow();
  return expectStatus(await post('/api/video-consultations/timings', { doctor_id: ctx.docA.user.doctor_id, ...hours }, await asAdmin()), 201).body;
}

// A multipart upload of a new small PDF (request()'s raw body; fetch sets the boundary).
function documentForm() {
  const fd = new FormData();
  fd.append('file', new Blob([`%PDF-1.4 authz ${uniq()}`]), 'authz.pdf');
  fd.append('title', 'Authz');
  fd.append('shared_with_patient', 'true');
  return { raw: fd, headers: { 'content-type': null } };
}

// A new document of patA shared with them, uploaded with token.
async function documentA(token) {
  const { raw, headers } = documentForm();
  return expectStatus(await request('POST', `/api/patients/${ctx.patA.patient.id}/documents`, { token, raw, headers }), 201).body;
}

const VIDEO_WRITERS = only('ADMIN', 'DOCTOR');

// Money. A payment of docA (a walk-in with a service, completed by docA), pending or settled.
async function paymentA({ paid = false } = {}) {
  const admin = await asAdmin();
  const patient = await createPatient(admin, { clinic_id: ctx.A.id });
  const visit = expectStatus(await post('/api/visits', { patient_id: patient.id, doctor_id: ctx.docA.user.doctor_id, service_id: ctx.serviceA.id }, admin), 201).body;
  expectStatus(await post('/api/queue/phase/move', { visit_id: visit.id, phase: 'with_doctor' }, admin), 200);
  expectStatus(await post('/api/queue/complete-consultation', { visit_id: visit.id }, ctx.docA.access), 200);
  const payment = expectStatus(await get(`/api/payments?visit_id=${visit.id}`, admin), 200).body.items[0];
  if (paid) expectStatus(await post(`/api/payments/${payment.id}/pay`, { method: 'cash' }, admin), 200);
  return payment;
}

// "YYYY-MM" of clinic A's current month moved by `back` months into the past.
function monthA(back = 0) {
  const [y, m] = localDate(ctx.A.timezone).split('-').map(Number);
  const t = y * 12 + (m - 1) - back;
  return `${Math.floor(t / 12)}-${String((t % 12) + 1).padStart(2, '0')}`;
}

// A closing of clinic A for a fresh doctor, advanced through the given admin steps.
async function closingA(steps = []) {
  const admin = await asAdmin();
  const doctor = await createStaff('DOCTOR', ctx.A.id);
  let c = expectStatus(await post('/api/closings', { doctor_id: doctor.user.doctor_id, month: monthA() }, admin), 201).body;
  for (const [path, body] of steps) c = expectStatus(await post(`/api/closings/${c.id}/${path}`, body, admin), 200).body;
  return c;
}

// docA's closing of `back` months ago, closed and its payment confirmed by the admin.
async function confirmedClosingA(back) {
  const admin = await asAdmin();
  const c = expectStatus(await post('/api/closings', { doctor_id: ctx.docA.user.doctor_id, month: monthA(back) }, admin), 201).body;
  expectStatus(await post(`/api/closings/${c.id}/close`, undefined, admin), 200);
  return expectStatus(await post(`/api/closings/${c.id}/confirm-payment`, { reference: 'Authz' }, admin), 200).body;
}

const MONEY_DESK = only('ADMIN', 'RECEPTIONIST');

// op: "METHOD /path/template"; roles: expected outcome per caller; ok: the status an allowed call
// must get (the calls are built to succeed); req(role): {path, body, token?} for that caller (async
// allowed; token replaces the role's usual one).
const TABLE = [
  { op: 'GET /healthz', roles: PUBLIC, ok: 200, req: () => ({}) },
  { op: 'GET /readyz', roles: PUBLIC, ok: 200, req: () => ({}) },
  { op: 'GET /config.json', roles: PUBLIC, ok: 200, req: () => ({}) },

  { op: 'POST /api/auth/login', roles: PUBLIC, ok: 200, req: () => ({ body: { email: ctx.recA.email, password: ctx.recA.password } }) },
  {
    op: 'POST /api/auth/refresh',
    roles: PUBLIC,
    ok: 200,
    req: async () => ({ body: { refresh_token: (await login(ctx.recA.email, ctx.recA.password)).refresh_token } }),
  },
  { op: 'POST /api/auth/logout', roles: PUBLIC, ok: 204, req: () => ({ body: { refresh_token: `unknown-${uniq()}` } }) },
  { op: 'POST /api/auth/password-reset', roles: PUBLIC, ok: 202, req: () => ({ body: { email: freshEmail('authz-nobody') } }) },
  // An unknown link: the call is allowed (400 invalid_link) and no password changes.
  { op: 'POST /api/auth/activate', roles: PUBLIC, ok: 400, req: () => ({ body: { token: `unknown-${uniq()}`, password: 'authz-password' } }) },
  { op: 'GET /api/auth/me', roles: ANY, ok: 200, req: () => ({}) },
  // A wrong current password: the call is allowed (422) and nobody's password changes.
  {
    op: 'POST /api/auth/password',
    roles: ANY,
    ok: 422,
    req: () => ({ body: { current_password: 'wrong-current-password', new_password: 'another-password-123' } }),
  },
  // It ends the caller's sessions, so each allowed caller sends a token of its own fresh session.
  {
    op: 'POST /api/auth/logout-all',
    roles: ANY,
    ok: 204,
    req: async (role) => {
      const fresh = {
        ADMIN: () => staffSession('ADMIN'),
        RECEPTIONIST: () => staffSession('RECEPTIONIST', ctx.A.id),
        DOCTOR: () => staffSession('DOCTOR', ctx.A.id),
        PATIENT: () => patientSession(ctx.A.id),
      }[role];
      return fresh ? { token: (await fresh()).access } : {};
    },
  },

  { op: 'GET /api/clinics', roles: STAFF, ok: 200, req: () => ({}) },
  { op: 'POST /api/clinics', roles: only('ADMIN'), ok: 201, req: () => ({ body: { name: `Authz ${uniq()}`, timezone: 'UTC' } }) },
  { op: 'GET /api/clinics/{id}', roles: only('ADMIN', 'RECEPTIONIST', 'DOCTOR', 'PATIENT'), ok: 200, req: () => ({ path: `/api/clinics/${ctx.A.id}` }) },
  {
    op: 'PATCH /api/clinics/{id}',
    roles: only('ADMIN'),
    ok: 200,
    req: () => ({ path: `/api/clinics/${ctx.A.id}`, body: { name: `Authz A ${uniq()}` } }),
  },
  { op: 'DELETE /api/clinics/{id}', roles: only('ADMIN'), ok: 204, req: async () => ({ path: `/api/clinics/${(await createClinic()).id}` }) },

  {
    op: 'POST /api/users',
    roles: only('ADMIN'),
    ok: 201,
    req: () => ({
      body: { email: freshEmail('authz'), password: 'authz-password', full_name: 'Authz User', role: 'RECEPTIONIST', clinic_id: ctx.A.id },
    }),
  },
  { op: 'GET /api/users', roles: only('ADMIN'), ok: 200, req: () => ({}) },
  { op: 'GET /api/users/{id}', roles: only('ADMIN'), ok: 200, req: () => ({ path: `/api/users/${ctx.recA.id}` }) },
  {
    op: 'PATCH /api/users/{id}',
    roles: only('ADMIN'),
    ok: 200,
    req: () => ({ path: `/api/users/${ctx.recA.id}`, body: { full_name: `Reception A ${uniq()}` } }),
  },
  {
    op: 'POST /api/users/{id}/deactivate',
    roles: only('ADMIN'),
    ok: 200,
    req: async () => ({ path: `/api/users/${(await createStaff('RECEPTIONIST', ctx.A.id)).id}/deactivate` }),
  },

  { op: 'GET /api/doctors', roles: ANY, ok: 200, req: () => ({}) },
  { op: 'GET /api/doctors/{id}', roles: ANY, ok: 200, req: () => ({ path: `/api/doctors/${ctx.docA.user.doctor_id}` }) },
  { op: 'PATCH /api/doctors/me', roles: only('DOCTOR'), ok: 200, req: () => ({ body: { specialty: `Authz ${uniq()}` } }) },
  {
    op: 'PATCH /api/doctors/{id}',
    roles: only('ADMIN'),
    ok: 200,
    req: () => ({ path: `/api/doctors/${ctx.docA.user.doctor_id}`, body: { license_number: `${LICENCE}-${uniq()}` } }),
  },

  {
    op: 'POST /api/patients',
    roles: STAFF,
    ok: 201,
    req: (role) => ({ body: role === 'ADMIN' ? { full_name: `Authz ${uniq()}`, clinic_id: ctx.A.id } : { full_name: `Authz ${uniq()}` } }),
  },
  { op: 'GET /api/patients', roles: STAFF, ok: 200, req: () => ({}) },
  { op: 'GET /api/patients/me', roles: only('PATIENT'), ok: 200, req: () => ({}) },
  { op: 'GET /api/patients/me/history', roles: only('PATIENT'), ok: 200, req: () => ({}) },
  // The patient's own record: every role that may read patients gets it.
  { op: 'GET /api/patients/{id}', roles: ANY, ok: 200, req: () => ({ path: `/api/patients/${ctx.patA.patient.id}` }) },
  // Clinical fields are written by ADMIN and DOCTOR; the desk edits contacts (its medical_history is a 422).
  {
    op: 'PATCH /api/patients/{id}',
    roles: STAFF,
    ok: 200,
    req: (role) => ({
      path: `/api/patients/${ctx.patA.patient.id}`,
      body: role === 'RECEPTIONIST' ? { phone: `11 3${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}` } : { medical_history: `${CLINICAL} ${uniq()}` },
    }),
  },
  {
    op: 'POST /api/patients/{id}/account',
    roles: only('ADMIN', 'RECEPTIONIST'),
    ok: 201,
    req: async () => {
      const p = await createPatient(await asAdmin(), { clinic_id: ctx.A.id, email: freshEmail('authz-patient') });
      return { path: `/api/patients/${p.id}/account`, body: {} };
    },
  },

  // A patient reads who saw their own record.
  { op: 'GET /api/audit', roles: only('ADMIN', 'PATIENT'), ok: 200, req: () => ({}) },

  { op: 'GET /api/services', roles: ANY, ok: 200, req: () => ({}) },
  {
    op: 'POST /api/services',
    roles: only('ADMIN'),
    ok: 201,
    req: () => ({ body: { clinic_id: ctx.A.id, name: `Authz ${uniq()}`, duration_minutes: 30, price_cents: 12000 } }),
  },
  { op: 'GET /api/services/{id}', roles: ANY, ok: 200, req: () => ({ path: `/api/services/${ctx.serviceA.id}` }) },
  {
    op: 'PATCH /api/services/{id}',
    roles: only('ADMIN'),
    ok: 200,
    req: () => ({ path: `/api/services/${ctx.serviceA.id}`, body: { price_cents: 10000 + Math.floor(Math.random() * 1000) } }),
  },

  // docA is the DOCTOR caller: the doctor manages their own schedule.
  { op: 'GET /api/doctors/{id}/availability', roles: STAFF, ok: 200, req: () => ({ path: `/api/doctors/${ctx.docA.user.doctor_id}/availability` }) },
  {
    op: 'POST /api/doctors/{id}/availability',
    roles: STAFF,
    ok: 201,
    req: () => ({ path: `/api/doctors/${ctx.docA.user.doctor_id}/availability`, body: nextWindow() }),
  },
  {
    op: 'DELETE /api/doctors/{id}/availability/{rule_id}',
    roles: STAFF,
    ok: 204,
    req: async () => {
      const rule = await createAvailability(ctx.docA.user.doctor_id, nextWindow());
      return { path: `/api/doctors/${ctx.docA.user.doctor_id}/availability/${rule.id}` };
    },
  },
  {
    op: 'GET /api/doctors/{id}/unavailability',
    roles: STAFF,
    ok: 200,
    req: () => ({ path: `/api/doctors/${ctx.docA.user.doctor_id}/unavailability` }),
  },
  {
    op: 'POST /api/doctors/{id}/unavailability',
    roles: STAFF,
    ok: 201,
    req: () => ({ path: `/api/doctors/${ctx.docA.user.doctor_id}/unavailability`, body: { ...nextBlock(), reason: 'Authz' } }),
  },
  {
    op: 'DELETE /api/doctors/{id}/unavailability/{block_id}',
    roles: STAFF,
    ok: 204,
    req: async () => {
      const block = await createUnavailability(ctx.docA.user.doctor_id, nextBlock());
      return { path: `/api/doctors/${ctx.docA.user.doctor_id}/unavailability/${block.id}` };
    },
  },
  {
    op: 'GET /api/doctors/{id}/slots',
    roles: ANY,
    ok: 200,
    req: () => {
      const day = nextWeekday(1);
      return { path: `/api/doctors/${ctx.docA.user.doctor_id}/slots?from=${day}&to=${addDays(day, 6)}` };
    },
  },

  // Bookings of docA at free slots; the PATIENT books for themself (patient_id omitted).
  {
    op: 'POST /api/appointments',
    roles: only('ADMIN', 'RECEPTIONIST', 'PATIENT'),
    ok: 201,
    req: (role) => {
      const body = { doctor_id: ctx.docA.user.doctor_id, service_id: ctx.serviceA.id, start_time: nextBooking(), consultation_type: 'in_person' };
      if (role !== 'PATIENT') body.patient_id = ctx.patA.patient.id;
      return { body };
    },
  },
  { op: 'GET /api/appointments', roles: ANY, ok: 200, req: () => ({}) },
  // patA's appointment with docA: every role may read it.
  { op: 'GET /api/appointments/{id}', roles: ANY, ok: 200, req: () => ({ path: `/api/appointments/${ctx.apptA.id}` }) },
  // A patient moves their own booking to another free published slot (start_time alone).
  {
    op: 'PATCH /api/appointments/{id}',
    roles: ANY,
    ok: 200,
    req: async (role) => (role === 'PATIENT'
      ? { path: `/api/appointments/${(await appointmentA()).id}`, body: { start_time: nextBooking() } }
      : { path: `/api/appointments/${ctx.apptA.id}`, body: { notes: `Authz ${uniq()}`, reason: 'Authz' } }),
  },
  {
    op: 'POST /api/appointments/{id}/cancel',
    roles: ANY,
    ok: 200,
    req: async () => ({ path: `/api/appointments/${(await appointmentA()).id}/cancel`, body: { reason: 'Authz' } }),
  },
  // A no-show needs a start that has passed: an allowed caller gets an appointment of its own (fresh
  // doctor and patient of clinic A) booked two to three seconds ahead, then waited for; the others try
  // patA's appointment.
  {
    op: 'POST /api/appointments/{id}/no-show',
    roles: only('ADMIN', 'RECEPTIONIST'),
    ok: 200,
    req: async (role) => {
      if (role !== 'ADMIN' && role !== 'RECEPTIONIST') return { path: `/api/appointments/${ctx.apptA.id}/no-show` };
      const admin = await asAdmin();
      const [doctor, patient] = await Promise.all([createStaff('DOCTOR', ctx.A.id), createPatient(admin, { clinic_id: ctx.A.id })]);
      const start = Math.ceil(Date.now() / 1000) * 1000 + 2000;
      const appt = await createAppointment(admin, {
        patient_id: patient.id,
        doctor_id: doctor.user.doctor_id,
        service_id: ctx.serviceA.id,
        start_time: new Date(start).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      });
      await new Promise((r) => setTimeout(r, Math.max(0, start + 1000 - Date.now())));
      return { path: `/api/appointments/${appt.id}/no-show` };
    },
  },
  { op: 'GET /api/events', roles: ANY, ok: 200, req: () => ({}) },

  // The delivery queue (ADMIN only); each allowed retry gets a failed delivery of its own.
  { op: 'GET /api/deliveries', roles: only('ADMIN'), ok: 200, req: () => ({}) },
  {
    op: 'POST /api/deliveries/{id}/retry',
    roles: only('ADMIN'),
    ok: 200,
    req: async () => {
      const id = await psql(`INSERT INTO deliveries (channel, kind, recipient, payload, status, attempts, last_error)
        VALUES ('email', 'authz', 'authz@tests.example.org', '{}', 'failed', 8, 'test') RETURNING id`);
      return { path: `/api/deliveries/${Number(id)}/retry` };
    },
  },

  // Webhook subscriptions (ADMIN only). The URL is a public address literal (no DNS, no connection: nothing
  // here sends webhooks); each allowed call gets a subscription of its own, paused or scoped to a clinic
  // without events, so nothing is queued for it.
  { op: 'GET /api/webhooks', roles: only('ADMIN'), ok: 200, req: () => ({}) },
  {
    op: 'POST /api/webhooks',
    roles: only('ADMIN'),
    ok: 201,
    req: async () => ({ body: { url: 'https://93.184.215.14/authz', events: ['queue_updated'], clinic_id: (await createClinic()).id } }),
  },
  ...[['GET', '', 200], ['PATCH', '', 200, { active: false }], ['DELETE', '', 204], ['POST', '/rotate-secret', 200]].map(([m, tail, ok, body]) => ({
    op: `${m} /api/webhooks/{id}${tail}`,
    roles: only('ADMIN'),
    ok,
    req: async () => {
      const id = await psql(`INSERT INTO webhook_subscriptions (url, events, secret, active)
        VALUES ('https://93.184.215.14/authz', '{queue_updated}', 'whsec_authz_authz_authz_authz_authz_authz', false) RETURNING id`);
      return { path: `/api/webhooks/${Number(id)}${tail}`, ...(body ? { body } : {}) };
    },
  })),

  // Patient documents of patA (docA's patient): each upload and delete gets a fresh file (a patient
  // deletes only what they uploaded); the restore a document deleted just before.
  {
    op: 'POST /api/patients/{id}/documents',
    roles: ANY,
    ok: 201,
    req: () => ({ path: `/api/patients/${ctx.patA.patient.id}/documents`, ...documentForm() }),
  },
  { op: 'GET /api/patients/{id}/documents', roles: ANY, ok: 200, req: () => ({ path: `/api/patients/${ctx.patA.patient.id}/documents` }) },
  { op: 'GET /api/documents/{id}', roles: ANY, ok: 200, req: () => ({ path: `/api/documents/${ctx.documentA.id}` }) },
  {
    op: 'GET /api/documents/{id}/content',
    roles: only('ADMIN', 'DOCTOR', 'PATIENT'),
    ok: 200,
    req: () => ({ path: `/api/documents/${ctx.documentA.id}/content` }),
  },
  {
    op: 'DELETE /api/documents/{id}',
    roles: ANY,
    ok: 204,
    req: async (role) => ({ path: `/api/documents/${(await documentA(role === 'PATIENT' ? ctx.patA.access : ctx.admin.access)).id}` }),
  },
  {
    op: 'POST /api/documents/{id}/restore',
    roles: only('ADMIN'),
    ok: 200,
    req: async () => {
      const d = await documentA(ctx.admin.access);
      await psql(`UPDATE documents SET deleted_at = now(), deleted_by = ${ctx.admin.id} WHERE id = ${d.id}`);
      return { path: `/api/documents/${d.id}/restore` };
    },
  },

  // Photos: each caller sets and removes their own; docA's photo is seen by every role of clinic A.
  {
    op: 'PUT /api/users/me/photo',
    roles: ANY,
    ok: 200,
    req: () => ({ raw: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]), headers: { 'content-type': 'image/png' } }),
  },
  {
    op: 'DELETE /api/users/me/photo',
    roles: ANY,
    ok: 204,
    req: async (role) => {
      const token = ctx.tokens[role];
      if (token) await request('PUT', '/api/users/me/photo', { token, raw: Buffer.from([0xff, 0xd8, 0xff, 0]), headers: { 'content-type': 'image/jpeg' } });
      return {};
    },
  },
  {
    op: 'GET /api/users/{id}/photo',
    roles: ANY,
    ok: 200,
    req: async () => {
      await request('PUT', '/api/users/me/photo', { token: ctx.docA.access, raw: Buffer.from([0xff, 0xd8, 0xff, 1]), headers: { 'content-type': 'image/jpeg' } });
      return { path: `/api/users/${ctx.docA.id}/photo` };
    },
  },

  // Visits and the queue. Each allowed call that changes a visit gets a fresh one of docA (the DOCTOR
  // caller); the callers that are refused name ctx.visitA (patA's completed visit with docA, whose
  // evolution is signed), which every reading role may see.
  {
    op: 'POST /api/appointments/{id}/check-in',
    roles: only('ADMIN', 'RECEPTIONIST'),
    ok: 201,
    req: async (role) => {
      if (!isAllowed(only('ADMIN', 'RECEPTIONIST'), role)) return { path: `/api/appointments/${ctx.apptA.id}/check-in`, body: {} };
      return { path: `/api/appointments/${(await appointmentToday()).id}/check-in`, body: { notes: 'Authz' } };
    },
  },
  {
    op: 'POST /api/visits',
    roles: only('ADMIN', 'RECEPTIONIST'),
    ok: 201,
    req: async (role) => {
      if (!isAllowed(only('ADMIN', 'RECEPTIONIST'), role)) return { body: { patient_id: ctx.patA.patient.id, doctor_id: ctx.docA.user.doctor_id } };
      const patient = await createPatient(await asAdmin(), { clinic_id: ctx.A.id });
      return { body: { patient_id: patient.id, doctor_id: ctx.docA.user.doctor_id, service_id: ctx.serviceA.id, notes: 'Authz walk-in' } };
    },
  },
  { op: 'GET /api/visits/{id}', roles: ANY, ok: 200, req: () => ({ path: `/api/visits/${ctx.visitA.id}` }) },
  { op: 'GET /api/visits/{id}/transitions', roles: ANY, ok: 200, req: () => ({ path: `/api/visits/${ctx.visitA.id}/transitions` }) },
  {
    op: 'POST /api/visits/{id}/call',
    roles: STAFF,
    ok: 200,
    req: async (role) => ({ path: `/api/visits/${isAllowed(STAFF, role) ? (await waitingVisit()).id : ctx.visitA.id}/call` }),
  },
  {
    op: 'POST /api/visits/{id}/left',
    roles: only('ADMIN', 'RECEPTIONIST'),
    ok: 200,
    req: async (role) => ({
      path: `/api/visits/${isAllowed(only('ADMIN', 'RECEPTIONIST'), role) ? (await waitingVisit()).id : ctx.visitA.id}/left`,
      body: {},
    }),
  },
  { op: 'GET /api/queue', roles: STAFF, ok: 200, req: () => ({ path: `/api/queue?clinic_id=${ctx.A.id}` }) },
  {
    op: 'POST /api/queue/phase/move',
    roles: only('ADMIN', 'RECEPTIONIST'),
    ok: 200,
    req: async (role) => ({
      body: { visit_id: isAllowed(only('ADMIN', 'RECEPTIONIST'), role) ? (await waitingVisit()).id : ctx.visitA.id, phase: 'with_doctor' },
    }),
  },
  {
    op: 'POST /api/queue/complete-consultation',
    roles: only('DOCTOR'),
    ok: 200,
    req: async (role) => ({ body: { visit_id: role === 'DOCTOR' ? (await inProgressVisit()).id : ctx.visitA.id, notes: `${CLINICAL} notes` } }),
  },
  {
    op: 'POST /api/queue/complete',
    roles: only('DOCTOR'),
    ok: 200,
    req: async (role) => ({ body: { visit_id: role === 'DOCTOR' ? (await inProgressVisit()).id : ctx.visitA.id } }),
  },
  // patA's own visit, signed: the patient may read it too.
  { op: 'GET /api/visits/{id}/evolution', roles: only('ADMIN', 'DOCTOR', 'PATIENT'), ok: 200, req: () => ({ path: `/api/visits/${ctx.visitA.id}/evolution` }) },
  // The first save of a fresh in-progress visit's evolution creates it: 201.
  {
    op: 'PUT /api/visits/{id}/evolution',
    roles: only('DOCTOR'),
    ok: 201,
    req: async (role) => ({
      path: `/api/visits/${role === 'DOCTOR' ? (await inProgressVisit()).id : ctx.visitA.id}/evolution`,
      body: { notes: `${CLINICAL} evolution`, diagnoses: [{ code: 'j06.9', description: `${CLINICAL} infection` }] },
    }),
  },
  {
    op: 'POST /api/visits/{id}/evolution/sign',
    roles: only('DOCTOR'),
    ok: 200,
    req: async (role) => ({ path: `/api/visits/${role === 'DOCTOR' ? (await draftEvolutionVisit()).id : ctx.visitA.id}/evolution/sign` }),
  },
  {
    op: 'POST /api/visits/{id}/evolution/addenda',
    roles: only('DOCTOR'),
    ok: 201,
    req: () => ({ path: `/api/visits/${ctx.visitA.id}/evolution/addenda`, body: { text: `${CLINICAL} addendum ${uniq()}` } }),
  },
  {
    op: 'GET /api/patients/{patient_id}/history/{doctor_id}',
    roles: only('ADMIN', 'DOCTOR'),
    ok: 200,
    req: () => ({ path: `/api/patients/${ctx.patA.patient.id}/history/${ctx.docA.user.doctor_id}` }),
  },
  { op: 'GET /api/dashboard/doctor/stats', roles: only('DOCTOR'), ok: 200, req: () => ({}) },
  { op: 'GET /api/dashboard/doctor/appointments', roles: only('DOCTOR'), ok: 200, req: () => ({}) },
  { op: 'GET /api/doctors/patients', roles: only('DOCTOR'), ok: 200, req: () => ({}) },
  { op: 'GET /api/dashboard/reception/stats', roles: only('ADMIN', 'RECEPTIONIST'), ok: 200, req: () => ({ path: `/api/dashboard/reception/stats?clinic_id=${ctx.A.id}` }) },

  // Money.
  { op: 'GET /api/fee-rules', roles: MONEY_DESK, ok: 200, req: () => ({ path: `/api/fee-rules?clinic_id=${ctx.A.id}` }) },
  {
    op: 'PUT /api/fee-rules',
    roles: only('ADMIN'),
    ok: 201,
    req: async (role) => {
      if (role !== 'ADMIN') return { body: { clinic_id: ctx.A.id, doctor_share_bps: 5000 } };
      const service = await createService(ctx.A.id);
      return { body: { service_id: service.id, doctor_share_bps: 5000 } };
    },
  },
  {
    op: 'DELETE /api/fee-rules/{id}',
    roles: only('ADMIN'),
    ok: 204,
    req: async (role) => {
      if (role !== 'ADMIN') return { path: `/api/fee-rules/${ctx.feeRuleA.id}` };
      const service = await createService(ctx.A.id);
      const rule = expectStatus(await request('PUT', '/api/fee-rules', { token: await asAdmin(), body: { service_id: service.id, doctor_share_bps: 100 } }), 201).body;
      return { path: `/api/fee-rules/${rule.id}` };
    },
  },
  { op: 'GET /api/payments', roles: STAFF, ok: 200, req: () => ({}) },
  { op: 'GET /api/payments/{id}', roles: STAFF, ok: 200, req: () => ({ path: `/api/payments/${ctx.paymentA.id}` }) },
  {
    op: 'POST /api/payments/{id}/pay',
    roles: MONEY_DESK,
    ok: 200,
    req: async (role) => ({
      path: `/api/payments/${isAllowed(MONEY_DESK, role) ? (await paymentA()).id : ctx.paymentA.id}/pay`,
      body: { method: 'pix' },
    }),
  },
  {
    op: 'POST /api/payments/{id}/refund',
    roles: MONEY_DESK,
    ok: 200,
    req: async (role) => ({
      path: `/api/payments/${isAllowed(MONEY_DESK, role) ? (await paymentA({ paid: true })).id : ctx.paymentA.id}/refund`,
      body: { amount_cents: 1, reason: 'Authz' },
    }),
  },
  {
    op: 'GET /api/doctors/earnings',
    roles: only('ADMIN', 'DOCTOR'),
    ok: 200,
    req: () => ({ path: `/api/doctors/earnings?doctor_id=${ctx.docA.user.doctor_id}` }),
  },
  {
    op: 'GET /api/dashboard/admin/revenue',
    roles: only('ADMIN'),
    ok: 200,
    req: () => ({ path: `/api/dashboard/admin/revenue?from=${addDays(localDate(ctx.A.timezone), -30)}&to=${localDate(ctx.A.timezone)}` }),
  },
  {
    op: 'POST /api/closings',
    roles: only('ADMIN'),
    ok: 201,
    req: async (role) => {
      if (role !== 'ADMIN') return { body: { doctor_id: ctx.docA.user.doctor_id, month: monthA(1) } };
      const doctor = await createStaff('DOCTOR', ctx.A.id);
      return { body: { doctor_id: doctor.user.doctor_id, month: monthA() } };
    },
  },
  {
    op: 'POST /api/closings/batch',
    roles: only('ADMIN'),
    ok: 201,
    req: async (role) => ({ body: { clinic_id: role === 'ADMIN' ? (await createClinic()).id : ctx.A.id, month: monthA() } }),
  },
  { op: 'GET /api/closings', roles: only('ADMIN', 'DOCTOR'), ok: 200, req: () => ({}) },
  { op: 'GET /api/closings/{id}', roles: only('ADMIN', 'DOCTOR'), ok: 200, req: () => ({ path: `/api/closings/${ctx.closingA.id}` }) },
  {
    op: 'GET /api/closings/export.xlsx',
    roles: only('ADMIN'),
    ok: 200,
    req: () => ({ path: `/api/closings/export.xlsx?month=${monthA()}&clinic_id=${ctx.A.id}` }),
  },
  { op: 'GET /api/closings/{id}/export.xlsx', roles: only('ADMIN'), ok: 200, req: () => ({ path: `/api/closings/${ctx.closingA.id}/export.xlsx` }) },
  {
    op: 'POST /api/closings/{id}/close',
    roles: only('ADMIN'),
    ok: 200,
    req: async (role) => ({ path: `/api/closings/${role === 'ADMIN' ? (await closingA()).id : ctx.closingA.id}/close` }),
  },
  {
    op: 'POST /api/closings/{id}/adjustments',
    roles: only('ADMIN'),
    ok: 200,
    req: async (role) => ({
      path: `/api/closings/${role === 'ADMIN' ? (await closingA()).id : ctx.closingA.id}/adjustments`,
      body: { amount_cents: 100, reason: 'Authz' },
    }),
  },
  {
    op: 'POST /api/closings/{id}/confirm-payment',
    roles: only('ADMIN'),
    ok: 200,
    req: async (role) => ({
      path: `/api/closings/${role === 'ADMIN' ? (await closingA([['close']])).id : ctx.closingA.id}/confirm-payment`,
      body: { reference: 'Authz' },
    }),
  },
  {
    op: 'POST /api/closings/{id}/confirm-receipt',
    roles: only('DOCTOR'),
    ok: 200,
    req: async (role) => ({ path: `/api/closings/${role === 'DOCTOR' ? (await confirmedClosingA(2)).id : ctx.closingA.id}/confirm-receipt` }),
  },
  {
    op: 'POST /api/closings/{id}/dispute',
    roles: only('DOCTOR'),
    ok: 200,
    req: async (role) => ({
      path: `/api/closings/${role === 'DOCTOR' ? (await confirmedClosingA(3)).id : ctx.closingA.id}/dispute`,
      body: { reason: 'Authz' },
    }),
  },

  // Video consultations. ctx.sessionA is patA's session with docA, starting in a minute (in the join window).
  { op: 'GET /api/video-consultations/ice-servers', roles: ANY, ok: 200, req: () => ({}) },
  {
    op: 'GET /api/video-consultations/timings',
    roles: STAFF,
    ok: 200,
    req: () => ({ path: `/api/video-consultations/timings?doctor_id=${ctx.docA.user.doctor_id}` }),
  },
  {
    op: 'POST /api/video-consultations/timings',
    roles: VIDEO_WRITERS,
    ok: 201,
    req: () => {
      const { consultation_types: _, ...hours } = nextWindow();
      return { body: { doctor_id: ctx.docA.user.doctor_id, ...hours } };
    },
  },
  {
    op: 'PUT /api/video-consultations/timings/{id}',
    roles: VIDEO_WRITERS,
    ok: 200,
    req: async (role) => {
      const { consultation_types: _, ...hours } = nextWindow();
      const id = isAllowed(VIDEO_WRITERS, role) ? (await videoTiming()).id : ctx.timingA.id;
      return { path: `/api/video-consultations/timings/${id}`, body: hours };
    },
  },
  {
    op: 'DELETE /api/video-consultations/timings/{id}',
    roles: VIDEO_WRITERS,
    ok: 204,
    req: async (role) => ({
      path: `/api/video-consultations/timings/${isAllowed(VIDEO_WRITERS, role) ? (await videoTiming()).id : ctx.timingA.id}`,
    }),
  },
  {
    op: 'POST /api/video-consultations/sessions',
    roles: STAFF,
    ok: 201,
    req: async (role) => {
      if (!isAllowed(STAFF, role)) return { body: { appointment_id: ctx.sessionA.appointment_id } };
      const admin = await asAdmin();
      const patient = await createPatient(admin, { clinic_id: ctx.A.id });
      const appt = await createAppointment(admin, {
        patient_id: patient.id, doctor_id: ctx.docA.user.doctor_id, service_id: ctx.serviceA.id,
        start_time: nextBooking(), consultation_type: 'video',
      });
      return { body: { appointment_id: appt.id } };
    },
  },
  { op: 'GET /api/video-consultations/sessions', roles: ANY, ok: 200, req: () => ({}) },
  { op: 'GET /api/video-consultations/sessions/{id}', roles: ANY, ok: 200, req: () => ({ path: `/api/video-consultations/sessions/${ctx.sessionA.id}` }) },
  {
    op: 'POST /api/video-consultations/sessions/{id}/token',
    roles: only('DOCTOR', 'PATIENT'),
    ok: 200,
    req: () => ({ path: `/api/video-consultations/sessions/${ctx.sessionA.id}/token` }),
  },
  {
    op: 'POST /api/video-consultations/sessions/{id}/invite',
    roles: STAFF,
    ok: 201,
    req: () => ({ path: `/api/video-consultations/sessions/${ctx.sessionA.id}/invite` }),
  },
  {
    op: 'DELETE /api/video-consultations/sessions/{id}/invitations/{invitation_id}',
    roles: STAFF,
    ok: 204,
    req: async () => ({ path: `/api/video-consultations/sessions/${ctx.sessionA.id}/invitations/${(await videoInvitation()).id}` }),
  },
  {
    op: 'POST /api/video-consultations/invitations/redeem',
    roles: PUBLIC,
    ok: 200,
    req: async () => ({ body: { code: (await videoInvitation()).code } }),
  },
  {
    op: 'POST /api/video-consultations/sessions/{id}/end',
    roles: only('DOCTOR'),
    ok: 200,
    req: async (role) => ({
      path: `/api/video-consultations/sessions/${role === 'DOCTOR' ? (await videoSessionInProgress()).id : ctx.sessionA.id}/end`,
    }),
  },
  {
    op: 'POST /api/video-consultations/sessions/{id}/cancel',
    roles: STAFF,
    ok: 200,
    req: async (role) => ({
      path: `/api/video-consultations/sessions/${isAllowed(STAFF, role) ? (await videoSession()).id : ctx.sessionA.id}/cancel`,
      body: { reason: 'Authz' },
    }),
  },
  {
    op: 'POST /api/appointments/{id}/confirm',
    roles: STAFF,
    ok: 200,
    req: async () => ({ path: `/api/appointments/${await requestedA()}/confirm` }),
  },
  {
    op: 'POST /api/appointments/{id}/decline',
    roles: STAFF,
    ok: 200,
    req: async () => ({ path: `/api/appointments/${await requestedA()}/decline`, body: { reason: 'Authz' } }),
  },
  // The shared test servers never reset (ALLOW_DATABASE_RESET is off there): an admin gets 403
  // reset_disabled, the others 403 forbidden (tests/api/reset.test.mjs resets a private installation).
  {
    op: 'POST /api/admin/reset',
    roles: only('ADMIN'),
    ok: 403,
    req: () => ({ body: { confirm: 'not this installation' } }),
  },

  // Conversations: patA's with docA (recA opened it); each member writes its own message.
  { op: 'GET /api/conversations', roles: ANY, ok: 200, req: () => ({}) },
  {
    op: 'POST /api/conversations',
    roles: only('RECEPTIONIST', 'DOCTOR', 'PATIENT'),
    ok: 201,
    req: (role) => ({ body: role === 'PATIENT' ? {} : { patient_id: ctx.patA.patient.id } }),
  },
  { op: 'GET /api/conversations/{id}', roles: ANY, ok: 200, req: async () => ({ path: `/api/conversations/${(await conversationA()).id}` }) },
  { op: 'GET /api/conversations/{id}/messages', roles: ANY, ok: 200, req: async () => ({ path: `/api/conversations/${(await conversationA()).id}/messages` }) },
  {
    op: 'POST /api/conversations/{id}/messages',
    roles: only('RECEPTIONIST', 'DOCTOR', 'PATIENT'),
    ok: 201,
    req: async () => ({ path: `/api/conversations/${(await conversationA()).id}/messages`, body: { text: 'Authz' } }),
  },
  {
    op: 'PATCH /api/conversations/{id}/messages/{message_id}',
    roles: only('RECEPTIONIST', 'DOCTOR', 'PATIENT'),
    ok: 200,
    req: async (role) => ({ path: await ownMessagePath(role), body: { text: 'Authz edited' } }),
  },
  {
    op: 'DELETE /api/conversations/{id}/messages/{message_id}',
    roles: only('RECEPTIONIST', 'DOCTOR', 'PATIENT'),
    ok: 200,
    req: async (role) => ({ path: await ownMessagePath(role) }),
  },
  {
    op: 'POST /api/conversations/{id}/read',
    roles: only('RECEPTIONIST', 'DOCTOR', 'PATIENT'),
    ok: 200,
    req: async () => {
      const c = await conversationA();
      const m = expectStatus(await post(`/api/conversations/${c.id}/messages`, { text: 'Authz read' }, ctx.recA.access), 201).body;
      return { path: `/api/conversations/${c.id}/read`, body: { message_id: m.id } };
    },
  },

  // The inbox (every role, always the caller's own) and announcements (ADMIN, RECEPTIONIST of clinic A).
  { op: 'GET /api/notifications', roles: ANY, ok: 200, req: () => ({}) },
  { op: 'GET /api/notifications/unread-count', roles: ANY, ok: 200, req: () => ({}) },
  { op: 'POST /api/notifications/read-all', roles: ANY, ok: 200, req: () => ({}) },
  {
    op: 'POST /api/notifications/{id}/read',
    roles: ANY,
    ok: 200,
    req: async (role) => {
      const token = ctx.tokens[role];
      const user = token ? JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sub : ctx.admin.id;
      const id = await psql(`SELECT notify_user(${Number(user)}, 'authz', 'Authz', '', '{}')`);
      return { path: `/api/notifications/${Number(id)}/read` };
    },
  },
  { op: 'GET /api/announcements', roles: only('ADMIN', 'RECEPTIONIST'), ok: 200, req: () => ({}) },
  {
    op: 'POST /api/announcements',
    roles: only('ADMIN', 'RECEPTIONIST'),
    ok: 201,
    req: () => ({ body: { title: 'Authz', body: 'Authz', clinic_id: ctx.A.id } }),
  },
];

// patA's conversation with docA, opened once by recA.
async function conversationA() {
  if (!ctx.conversationA) {
    ctx.conversationA = expectStatus(await post('/api/conversations', { patient_id: ctx.patA.patient.id, doctor_id: ctx.docA.user.doctor_id },
      ctx.recA.access), 201).body;
  }
  return ctx.conversationA;
}

// The path of a new message of role's member of conversationA (recA's for a role that may not write).
async function ownMessagePath(role) {
  const c = await conversationA();
  const token = ctx.tokens[role] && role !== 'ADMIN' ? ctx.tokens[role] : ctx.recA.access;
  const m = expectStatus(await post(`/api/conversations/${c.id}/messages`, { text: 'Authz own' }, token), 201).body;
  return `/api/conversations/${c.id}/messages/${m.id}`;
}

const byKey = new Map(TABLE.map((e) => [operationKey(...e.op.split(' ')), e]));

before(async () => {
  const [admin, clinicA, clinicB] = await Promise.all([staffSession('ADMIN'), createClinic(), createClinic()]);
  ctx.admin = admin;
  ctx.A = clinicA;
  ctx.B = clinicB;
  [ctx.recA, ctx.docA, ctx.patA, ctx.recB, ctx.docB, ctx.patB, ctx.patientA2] = await Promise.all([
    staffSession('RECEPTIONIST', clinicA.id),
    staffSession('DOCTOR', clinicA.id, { specialty: 'General', license_number: `${LICENCE}-A` }),
    patientSession(clinicA.id, { medical_history: `${CLINICAL} patA`, cpf: cpf(), phone: '11 98765-4321' }),
    staffSession('RECEPTIONIST', clinicB.id),
    staffSession('DOCTOR', clinicB.id),
    patientSession(clinicB.id),
    createPatient(await asAdmin(), { clinic_id: clinicA.id, full_name: `Other A ${uniq()}`, medical_history: `${CLINICAL} other` }),
  ]);
  // docA has a PIX key (set in the database: how it is set is pix.test.mjs's subject).
  await psql(`UPDATE doctors SET pix_key_type = 'email', pix_key = 'pix.${uniq()}@example.org' WHERE id = ${ctx.docA.user.doctor_id};`);
  ctx.serviceA = await createService(clinicA.id);
  assert.equal(clinicA.timezone, 'America/Sao_Paulo', 'nextBooking() assumes clinic A is in São Paulo');
  await createAvailability(ctx.docA.user.doctor_id, { weekday: 4, start_time: '08:00', end_time: '18:00', slot_minutes: 30, consultation_types: ['in_person'] });
  ctx.apptA = await appointmentA();
  {
    const admin = await asAdmin();
    const start = new Date(Math.ceil(Date.now() / 1000) * 1000 + 60000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const appt = await createAppointment(admin, {
      patient_id: ctx.patA.patient.id, doctor_id: ctx.docA.user.doctor_id, service_id: ctx.serviceA.id,
      start_time: start, consultation_type: 'video',
    });
    ctx.sessionA = expectStatus(await post('/api/video-consultations/sessions', { appointment_id: appt.id }, admin), 201).body;
    ctx.timingA = await videoTiming();
    ctx.feeRuleA = expectStatus(await request('PUT', '/api/fee-rules', { token: admin, body: { clinic_id: clinicA.id, doctor_share_bps: 6000 } }), 201).body;
  }
  // patA's visit with docA, completed with a signed evolution (walk-in, with the doctor, evolution
  // written and signed, consultation completed).
  {
    const admin = await asAdmin();
    const visit = expectStatus(await post('/api/visits', { patient_id: ctx.patA.patient.id, doctor_id: ctx.docA.user.doctor_id }, admin), 201).body;
    expectStatus(await post('/api/queue/phase/move', { visit_id: visit.id, phase: 'with_doctor' }, admin), 200);
    const evolution = { notes: `${CLINICAL} visit`, diagnoses: [{ code: 'J06.9', description: `${CLINICAL} diagnosis` }] };
    expectStatus(await request('PUT', `/api/visits/${visit.id}/evolution`, { token: ctx.docA.access, body: evolution }), 201);
    expectStatus(await post(`/api/visits/${visit.id}/evolution/sign`, undefined, ctx.docA.access), 200);
    ctx.visitA = expectStatus(await post('/api/queue/complete-consultation', { visit_id: visit.id }, ctx.docA.access), 200).body;
  }
  ctx.paymentA = await paymentA();
  ctx.documentA = await documentA(await asAdmin());
  ctx.closingA = expectStatus(await post('/api/closings', { doctor_id: ctx.docA.user.doctor_id, month: monthA() }, await asAdmin()), 201).body;
  ctx.tokens = {
    public: undefined,
    ADMIN: ctx.admin.access,
    RECEPTIONIST: ctx.recA.access,
    DOCTOR: ctx.docA.access,
    PATIENT: ctx.patA.access,
  };
});

describe('authorization matrix', () => {
  test('the table has exactly the operations of openapi.yaml', () => {
    const inSpec = new Set(openapiOperations().map((o) => o.key));
    const missingFromTable = [...inSpec].filter((k) => !byKey.has(k)).sort();
    const notInSpec = [...byKey.keys()].filter((k) => !inSpec.has(k)).sort();
    assert.deepEqual({ missingFromTable, notInSpec }, { missingFromTable: [], notInSpec: [] });
    assert.equal(byKey.size, TABLE.length, 'duplicate entries in the table');
  });

  test('x-roles in openapi.yaml agree with the table', () => {
    const mismatches = [];
    for (const o of openapiOperations()) {
      const entry = byKey.get(o.key);
      if (!entry) continue; // reported by the test above
      const xr = o.op['x-roles'];
      if (!Array.isArray(xr)) {
        mismatches.push(`${o.key}: x-roles missing`);
        continue;
      }
      const declared = xr.includes('public') ? [...CALLERS] : [...xr];
      const expected = CALLERS.filter((c) => entry.roles[c] === A);
      if (JSON.stringify([...declared].sort()) !== JSON.stringify([...expected].sort())) {
        mismatches.push(`${o.key}: x-roles ${JSON.stringify(xr)} but the table allows ${JSON.stringify(expected)}`);
      }
    }
    assert.deepEqual(mismatches, []);
  });

  for (const entry of TABLE) {
    test(entry.op, async () => {
      const [method, template] = entry.op.split(' ');
      const failures = [];
      for (const caller of CALLERS) {
        const { path = template, body, raw, headers, token = ctx.tokens[caller] } = await entry.req(caller);
        assert.equal(path.includes('{'), false, `${entry.op}: req() must fill the path parameters`);
        const res = await request(method, path, { token, body, raw, headers });
        const want = entry.roles[caller];
        const got = `${res.status} ${res.body?.error?.code ?? ''}`.trim();
        if (want === A) {
          if (res.status !== entry.ok) failures.push(`${caller}: expected allowed with ${entry.ok}, got ${got}`);
          // A public route answers the same whoever calls it (a login answers that account's user).
          const json = (res.headers.get('content-type') || '').startsWith('application/json');
          if (json && entry.roles !== PUBLIC) for (const leak of forbiddenReads(caller, res.body)) failures.push(`${caller} reads ${leak}`);
        } else if (caller === 'public') {
          const www = res.headers.get('www-authenticate') || '';
          if (res.status !== 401 || res.body?.error?.code !== 'unauthorized' || !/^Bearer\b/.test(www)) {
            failures.push(`public: expected 401 unauthorized with WWW-Authenticate Bearer, got ${got} (WWW-Authenticate: ${JSON.stringify(www)})`);
          }
        } else if (res.status !== 403 || res.body?.error?.code !== 'forbidden') {
          failures.push(`${caller}: expected 403 forbidden, got ${got}`);
        }
      }
      assert.deepEqual(failures, []);
    });
  }
});

describe('clinic and record visibility', () => {
  test('clinic-2 staff get 404 (never 403) for clinic-1 records', async () => {
    const fresh = await createPatient(await asAdmin(), { clinic_id: ctx.A.id });
    // A patient reads their own clinic (its time zone), never another.
    expectError(await get(`/api/clinics/${ctx.A.id}`, ctx.patB.access), 404, 'not_found');
    expectStatus(await get(`/api/clinics/${ctx.B.id}`, ctx.patB.access), 200);
    for (const s of [ctx.recB, ctx.docB]) {
      const role = s.user.role;
      expectError(await get(`/api/clinics/${ctx.A.id}`, s.access), 404, 'not_found');
      expectError(await get(`/api/doctors/${ctx.docA.user.doctor_id}`, s.access), 404, 'not_found');
      expectError(await get(`/api/patients/${ctx.patientA2.id}`, s.access), 404, 'not_found');
      expectError(await patch(`/api/patients/${ctx.patientA2.id}`, { medical_history: `from ${role}` }, s.access), 404, 'not_found');
      // their own clinic's records are fine
      expectStatus(await get(`/api/clinics/${ctx.B.id}`, s.access), 200);
      expectStatus(await get(`/api/doctors/${ctx.docB.user.doctor_id}`, s.access), 200);
      expectStatus(await get(`/api/patients/${ctx.patB.patient.id}`, s.access), 200);
    }
    expectError(
      await post(`/api/patients/${fresh.id}/account`, {}, ctx.recB.access),
      404,
      'not_found',
    );
    expectError(await get(`/api/doctors/${ctx.docA.user.doctor_id}`, ctx.patB.access), 404, 'not_found');
    const after = expectStatus(await get(`/api/patients/${ctx.patientA2.id}`, await asAdmin()), 200).body;
    assert.equal(after.medical_history, ctx.patientA2.medical_history);
    const freshAfter = expectStatus(await get(`/api/patients/${fresh.id}`, await asAdmin()), 200).body;
    assert.equal(freshAfter.user_id, null);
  });

  test('lists never include the other clinic records', async () => {
    const aPatientIds = [ctx.patientA2.id, ctx.patA.patient.id];
    for (const s of [ctx.recB, ctx.docB]) {
      const patients = await listAll('/api/patients', s.access);
      assert.deepEqual([...new Set(patients.map((p) => p.clinic_id))], [ctx.B.id]);
      assert.deepEqual(patients.filter((p) => aPatientIds.includes(p.id)), []);
      assert.equal(patients.some((p) => p.id === ctx.patB.patient.id), true, `own clinic patient ${ctx.patB.patient.id} missing from the list`);

      const filtered = await get(`/api/patients?clinic_id=${ctx.A.id}`, s.access);
      assert.deepEqual(expectStatus(filtered, 200).body.items.filter((p) => p.clinic_id !== ctx.B.id), []);

      const clinics = await listAll('/api/clinics', s.access);
      assert.deepEqual(clinics.map((c) => c.id), [ctx.B.id]);
    }
    for (const s of [ctx.recB, ctx.docB, ctx.patB]) {
      const doctors = await listAll('/api/doctors', s.access);
      assert.deepEqual([...new Set(doctors.map((d) => d.clinic_id))], [ctx.B.id]);
      assert.equal(doctors.some((d) => d.id === ctx.docB.user.doctor_id), true, `own clinic doctor ${ctx.docB.user.doctor_id} missing`);
      const other = expectStatus(await get(`/api/doctors?clinic_id=${ctx.A.id}`, s.access), 200);
      assert.deepEqual(other.body.items, []);
      const byUser = expectStatus(await get(`/api/doctors?user_id=${ctx.docA.id}`, s.access), 200);
      assert.deepEqual(byUser.body.items, []);
    }
  });

  test('admin sees every clinic and filters by clinic_id', async () => {
    const admin = await asAdmin();
    const patients = await listAll(`/api/patients?clinic_id=${ctx.A.id}`, admin);
    assert.deepEqual([...new Set(patients.map((p) => p.clinic_id))], [ctx.A.id]);
    assert.equal(patients.some((p) => p.id === ctx.patientA2.id), true, `patient ${ctx.patientA2.id} missing`);
    const doctors = await listAll(`/api/doctors?clinic_id=${ctx.B.id}`, admin);
    assert.deepEqual(doctors.map((d) => d.id), [ctx.docB.user.doctor_id]);
    const clinics = await listAll('/api/clinics', admin);
    for (const id of [ctx.A.id, ctx.B.id]) assert.equal(clinics.some((c) => c.id === id), true, `clinic ${id} missing from admin list`);
  });

  test('a patient user gets 404 for another patient record', async () => {
    expectError(await get(`/api/patients/${ctx.patientA2.id}`, ctx.patA.access), 404, 'not_found');
    expectError(await get(`/api/patients/${ctx.patB.patient.id}`, ctx.patA.access), 404, 'not_found');
    expectError(await get(`/api/patients/${ctx.patA.patient.id}`, ctx.patB.access), 404, 'not_found');
    const own = expectStatus(await get(`/api/patients/${ctx.patA.patient.id}`, ctx.patA.access), 200);
    assert.equal(own.body.id, ctx.patA.patient.id);
  });

  test('visits, evolutions and histories of clinic 1 are 404 for clinic-2 callers and other patients', async () => {
    const v = ctx.visitA.id;
    for (const s of [ctx.recB, ctx.docB, ctx.patB]) {
      expectError(await get(`/api/visits/${v}`, s.access), 404, 'not_found');
      expectError(await get(`/api/visits/${v}/transitions`, s.access), 404, 'not_found');
    }
    expectError(await get(`/api/visits/${v}/evolution`, ctx.docB.access), 404, 'not_found');
    expectError(await get(`/api/visits/${v}/evolution`, ctx.patB.access), 404, 'not_found');
    expectError(await post(`/api/visits/${v}/call`, {}, ctx.recB.access), 404, 'not_found');
    expectError(await post('/api/queue/phase/move', { visit_id: v, phase: 'waiting' }, ctx.recB.access), 404, 'not_found');
    expectError(await get(`/api/queue?clinic_id=${ctx.A.id}`, ctx.recB.access), 404, 'not_found');
    expectError(await get(`/api/dashboard/reception/stats?clinic_id=${ctx.A.id}`, ctx.recB.access), 404, 'not_found');
    // another patient of clinic 1 does not see patA's visit either
    const other = await patientSession(ctx.A.id);
    expectError(await get(`/api/visits/${v}`, other.access), 404, 'not_found');
    expectError(await get(`/api/visits/${v}/evolution`, other.access), 404, 'not_found');
    // a doctor reads only their own history with a patient: another doctor id is 403
    expectError(await get(`/api/patients/${ctx.patA.patient.id}/history/${ctx.docB.user.doctor_id}`, ctx.docA.access), 403, 'forbidden');
    expectStatus(await get(`/api/patients/${ctx.patA.patient.id}/history/${ctx.docB.user.doctor_id}`, await asAdmin()), 200);
  });

  test('a doctor can create a patient in their own clinic, not in another', async () => {
    const created = expectStatus(await post('/api/patients', { full_name: `By Doctor ${uniq()}` }, ctx.docA.access), 201).body;
    assert.equal(created.clinic_id, ctx.A.id);
    expectStatus(await get(`/api/patients/${created.id}`, ctx.recA.access), 200);
    expectError(await get(`/api/patients/${created.id}`, ctx.recB.access), 404, 'not_found');

    const own = expectStatus(await post('/api/patients', { full_name: `By Doctor ${uniq()}`, clinic_id: ctx.A.id }, ctx.docA.access), 201);
    assert.equal(own.body.clinic_id, ctx.A.id);
    expectError(
      await post('/api/patients', { full_name: `By Doctor ${uniq()}`, clinic_id: ctx.B.id }, ctx.docA.access),
      422,
      'validation_failed',
      ['clinic_id'],
    );
  });
});
