// A browser client on another origin (docs/ARCHITECTURE.md §8), in Chromium through playwright-core: a page served by a static
// server of this test, on an origin the servers list in CORS_ALLOWED_ORIGINS, logs in with fetch (a JSON POST,
// so a preflight), reads the exposed X-Request-Id and calls the API with its token; socket.io-client's browser
// bundle connects from there with its default options (long-polling first, then upgraded to WebSocket) and, in a
// second page, with transports: ['polling']; a phase move made from the first page reaches both, each event once.
// A page of an origin that is not listed cannot read the API nor poll the signaling-server, while the same
// requests from node get their answers.
//
// Run by scripts/browser-test.sh inside its loopback-only network namespace, which starts both servers with
// CORS_ALLOWED_ORIGINS=BROWSER_ALLOWED_ORIGIN. Environment: API_URL, SIGNALING_URL, BROWSER_ALLOWED_ORIGIN and
// BROWSER_FOREIGN_ORIGIN (http://127.0.0.1:PORT each: the test serves its page on those two ports), and what the
// API suite needs (DATABASE_URL, ...).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { API_URL, asAdmin, createClinic, createPatient, createStaff, expectStatus, login, request, uniq } from '../lib/api.mjs';
import { launchBrowser, staticServer } from './lib.mjs';

const SIGNALING_URL = process.env.SIGNALING_URL;
const ALLOWED_ORIGIN = process.env.BROWSER_ALLOWED_ORIGIN;
const FOREIGN_ORIGIN = process.env.BROWSER_FOREIGN_ORIGIN;
const PAGE = '/cross-origin.html';

const portOf = (origin) => Number(new URL(origin).port);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A page of the browser with what it logs: all console lines (for failure messages) and the errors apart.
async function openPage(browser, origin, name, first = false) {
  const page = first ? browser.page : await browser.context.newPage();
  const seen = { name, page, lines: [], errors: [] };
  if (!first) {
    page.on('console', (m) => {
      if (process.env.BROWSER_LOG === '1') console.log(`  [${name} console] ${m.text()}`);
    });
  }
  page.on('console', (m) => {
    seen.lines.push(`${m.type()}: ${m.text()}`);
    if (m.type() === 'error') seen.errors.push({ text: m.text(), url: m.location()?.url });
  });
  page.on('pageerror', (e) => {
    seen.lines.push(`pageerror: ${e.message}`);
    seen.errors.push({ text: `pageerror: ${e.message}` });
  });
  await page.goto(`${origin}${PAGE}`);
  await page.waitForFunction(() => typeof window.connect === 'function' && typeof window.io === 'function');
  assert.equal(await page.evaluate(() => window.location.origin), origin, `${name}: the page's origin`);
  return seen;
}

const call = (p, method, path, opts = {}) =>
  p.page.evaluate(([m, pa, o, api]) => window.api(api, m, pa, o), [method, path, opts, API_URL]);
const snapshot = (p) => p.page.evaluate(() => window.clientSnapshot());
const describePage = (p, s) =>
  `--- ${p.name}: ${JSON.stringify({ ...s, events: s?.events?.map((e) => `${e.name}/${e.transport}`) })}\n    console:\n      ${p.lines.slice(-30).join('\n      ')}`;

// Polls the pages' snapshots until pred(...snapshots) holds; fails after ms with what each page saw.
async function until(pages, pred, ms, what) {
  const deadline = Date.now() + ms;
  let states;
  for (;;) {
    states = await Promise.all(pages.map(snapshot));
    if (pred(...states)) return states;
    if (Date.now() > deadline) break;
    await sleep(100);
  }
  assert.fail(`timed out after ${ms} ms waiting for ${what}\n${pages.map((p, i) => describePage(p, states[i])).join('\n')}`);
}

describe('a browser client on another origin', () => {
  let allowedWeb;
  let foreignWeb;
  let browser;
  let world;
  let signedIn; // the two pages of the allowed origin, logged in (once, by whichever test comes first)

  before(async () => {
    assert.ok(SIGNALING_URL, 'SIGNALING_URL must point at the signaling-server under test');
    assert.ok(ALLOWED_ORIGIN && FOREIGN_ORIGIN,
      'BROWSER_ALLOWED_ORIGIN and BROWSER_FOREIGN_ORIGIN must be set (scripts/browser-test.sh sets them and lists the first in CORS_ALLOWED_ORIGINS)');
    assert.notEqual(new URL(ALLOWED_ORIGIN).origin, new URL(API_URL).origin, 'the page must be on another origin than the API');
    [allowedWeb, foreignWeb] = await Promise.all([
      staticServer({ port: portOf(ALLOWED_ORIGIN) }), staticServer({ port: portOf(FOREIGN_ORIGIN) }),
    ]);
    assert.equal(allowedWeb.origin, ALLOWED_ORIGIN);
    assert.equal(foreignWeb.origin, FOREIGN_ORIGIN);
    browser = await launchBrowser('cross-origin');

    const clinic = await createClinic({ timezone: 'America/Sao_Paulo' });
    const [rec, doc, patient] = await Promise.all([
      createStaff('RECEPTIONIST', clinic.id), createStaff('DOCTOR', clinic.id),
      createPatient(await asAdmin(), { clinic_id: clinic.id }),
    ]);
    world = { clinic, rec, doc, patient, doctorId: doc.user.doctor_id };
  });

  after(async () => {
    await browser?.close();
    await Promise.all([allowedWeb?.close(), foreignWeb?.close()]);
  });

  // Logs in from the page with fetch and checks what a cross-origin page may read: the status, the body, the
  // exposed X-Request-Id; then GET /api/auth/me with the token (and an X-Request-Id of the page's own, both
  // preflighted headers) and without one (the 401's WWW-Authenticate is exposed too). Resolves the access token.
  async function pageLogin(p, who, role) {
    const res = await call(p, 'POST', '/api/auth/login', { body: { email: who.email, password: who.password } });
    assert.equal(res.error, undefined, `${p.name}: the login fetch failed: ${JSON.stringify(res.error)}`);
    assert.equal(res.status, 200, `${p.name}: login: ${JSON.stringify(res)}`);
    assert.equal(res.type, 'cors', `${p.name}: a CORS response`);
    assert.match(res.requestId ?? '(not readable)', /^[0-9a-f]{32}$/, `${p.name}: X-Request-Id of the login readable by the page`);
    const access = res.body?.access_token;
    assert.equal(typeof access, 'string', `${p.name}: access_token: ${JSON.stringify(res.body)}`);

    const rid = `cross-origin-${uniq()}`;
    const me = await call(p, 'GET', '/api/auth/me', { token: access, requestId: rid });
    assert.equal(me.status, 200, `${p.name}: GET /api/auth/me: ${JSON.stringify(me)}`);
    assert.equal(me.requestId, rid, `${p.name}: the page's own X-Request-Id comes back`);
    assert.equal(me.body.email, who.email);
    assert.equal(me.body.role, role);

    const anon = await call(p, 'GET', '/api/auth/me');
    assert.equal(anon.status, 401, `${p.name}: GET /api/auth/me without a token: ${JSON.stringify(anon)}`);
    assert.equal(anon.body?.error?.code, 'unauthorized', `${p.name}: the error body is readable: ${JSON.stringify(anon.body)}`);
    assert.match(anon.wwwAuthenticate ?? '(not readable)', /^Bearer\b/, `${p.name}: WWW-Authenticate readable by the page`);
    assert.match(anon.requestId ?? '(not readable)', /^[0-9a-f]{32}$/, `${p.name}: X-Request-Id of an error readable by the page`);
    return access;
  }

  function signIn() {
    if (!signedIn) {
      signedIn = (async () => {
        const desk = await openPage(browser, ALLOWED_ORIGIN, 'desk (default transports)', true);
        const doctor = await openPage(browser, ALLOWED_ORIGIN, 'doctor (polling only)');
        const deskToken = await pageLogin(desk, world.rec, 'RECEPTIONIST');
        const doctorToken = await pageLogin(doctor, world.doc, 'DOCTOR');
        return { desk, doctor, deskToken, doctorToken };
      })();
    }
    return signedIn;
  }

  // No console error nor uncaught exception, but for the one 401 pageLogin asks for (Chromium logs every
  // answer >= 400 as "Failed to load resource").
  const expected401 = (e) => e.url === `${API_URL}/api/auth/me` && e.text === 'Failed to load resource: the server responded with a status of 401 (Unauthorized)';
  const noConsoleErrors = (...pages) => {
    for (const p of pages) {
      assert.deepEqual(p.errors.filter((e) => !expected401(e)), [], `${p.name}: console errors or uncaught exceptions\n${p.lines.join('\n')}`);
    }
  };

  test('a page of an allowed origin logs in with a JSON POST (preflighted), reads X-Request-Id and calls the API with its token', { timeout: 60000 }, async () => {
    const { desk, doctor } = await signIn();
    noConsoleErrors(desk, doctor);
  });

  test('socket.io-client from that origin: default options upgrade to WebSocket, polling only stays polling; a phase move reaches both pages once', { timeout: 90000 }, async () => {
    const { desk, doctor, deskToken, doctorToken } = await signIn();

    // The desk's page with socket.io-client's defaults: long-polling first, then the upgrade (which may
    // finish before the CONNECT is answered: the server checks the account first; the one upgrade
    // recorded below is what shows it began on long-polling).
    const d = await desk.page.evaluate(([u, t]) => window.connect(u, t, {}), [SIGNALING_URL, deskToken]);
    assert.equal(d.connected, true, `desk page: connected\n${desk.lines.join('\n')}`);
    // The doctor's page with long-polling only.
    const o = await doctor.page.evaluate(([u, t]) => window.connect(u, t, { transports: ['polling'] }), [SIGNALING_URL, doctorToken]);
    assert.deepEqual(o, { connected: true, transport: 'polling' }, `doctor page: connected over long-polling\n${doctor.lines.join('\n')}`);

    const [up] = await until([desk], (s) => s.transport === 'websocket', 10000, 'the desk page upgraded to WebSocket');
    assert.deepEqual(up.upgrades.map((u) => u.to), ['websocket'], 'one upgrade, to WebSocket');
    assert.equal(await desk.page.evaluate(() => window.socket.io.engine.transport.name), 'websocket');

    // A walk-in and its move to the doctor, from the desk's page.
    const walk = await call(desk, 'POST', '/api/visits', { token: deskToken, body: { patient_id: world.patient.id, doctor_id: world.doctorId } });
    assert.equal(walk.status, 201, `walk-in from the page: ${JSON.stringify(walk)}`);
    const visit = walk.body;
    assert.equal(visit.status, 'waiting');
    const moved = await call(desk, 'POST', '/api/queue/phase/move', { token: deskToken, body: { visit_id: visit.id, phase: 'with_doctor' } });
    assert.equal(moved.status, 200, `phase move from the page: ${JSON.stringify(moved)}`);
    assert.equal(moved.body.status, 'in_progress');
    assert.match(moved.requestId ?? '(not readable)', /^[0-9a-f]{32}$/);

    const isMove = {
      queue_updated: (e) => e.name === 'queue_updated' && e.data?.visit_id === visit.id && e.data?.status === 'in_progress',
      visit_status_changed: (e) => e.name === 'visit_status_changed' && e.data?.visit?.id === visit.id && e.data?.visit?.status === 'in_progress',
      patient_with_doctor: (e) => e.name === 'patient_with_doctor' && e.data?.visit?.id === visit.id,
    };
    const has = (s, names) => names.every((n) => s.events.some(isMove[n]));
    const [ds, os] = await until([desk, doctor],
      (a, b) => has(a, ['queue_updated', 'visit_status_changed']) && has(b, ['queue_updated', 'visit_status_changed', 'patient_with_doctor']),
      10000, 'the phase move on both pages');

    // Each logical event once per page, over that page's transport; the same events on both pages.
    for (const [p, s, transport, names] of [
      [desk, ds, 'websocket', ['queue_updated', 'visit_status_changed']],
      [doctor, os, 'polling', ['queue_updated', 'visit_status_changed', 'patient_with_doctor']],
    ]) {
      for (const n of names) {
        const got = s.events.filter(isMove[n]);
        assert.equal(got.length, 1, `${p.name}: ${n} of the move once, got ${got.length}`);
        assert.equal(got[0].transport, transport, `${p.name}: ${n} came over ${got[0].transport}`);
        assert.match(got[0].data.event_id, /^\d+-\d+$/, `${p.name}: ${n} carries its event_id`);
      }
      const ids = s.events.map((e) => e.data?.event_id).filter(Boolean);
      assert.equal(new Set(ids).size, ids.length, `${p.name}: an event twice: ${JSON.stringify(s.events.map((e) => `${e.name} ${e.data?.event_id}`))}`);
      assert.deepEqual(s.connectErrors, [], `${p.name}: connect errors`);
      assert.deepEqual(s.disconnects, [], `${p.name}: disconnected`);
      assert.equal(s.connects.length, 1, `${p.name}: connected once`);
    }
    for (const n of ['queue_updated', 'visit_status_changed']) {
      assert.equal(ds.events.find(isMove[n]).data.event_id, os.events.find(isMove[n]).data.event_id, `the same ${n} event on both pages`);
    }
    assert.ok(!ds.events.some((e) => e.name === 'patient_with_doctor'), 'the patient card reached the desk');

    // The second page still polls, and never upgraded; the first is still on WebSocket.
    assert.equal(os.transport, 'polling');
    assert.deepEqual(os.upgrades, [], 'the polling-only page upgraded');
    assert.equal(await doctor.page.evaluate(() => window.socket.io.engine.transport.name), 'polling');
    assert.equal(ds.transport, 'websocket');
    noConsoleErrors(desk, doctor);
  });

  test('a page of an origin that is not listed cannot read the API nor poll the signaling-server; node gets the same answers', { timeout: 60000 }, async () => {
    const foreign = await openPage(browser, FOREIGN_ORIGIN, 'page of another origin');
    const creds = { email: world.rec.email, password: world.rec.password };

    // The login fetch (preflighted) fails in the page...
    const res = await call(foreign, 'POST', '/api/auth/login', { body: creds });
    assert.equal(res.error?.name, 'TypeError', `the login from another origin must fail in the page: ${JSON.stringify(res)}`);
    // ... while the same request from node, with that Origin, gets its answer, without CORS headers.
    const direct = expectStatus(await request('POST', '/api/auth/login', { body: creds, headers: { origin: FOREIGN_ORIGIN } }), 200);
    assert.equal(typeof direct.body.access_token, 'string');
    assert.equal(direct.headers.get('access-control-allow-origin'), null, 'Access-Control-Allow-Origin sent to an origin that is not listed');

    // With a token (preflighted: Authorization), and a simple GET (no preflight; the answer is not readable).
    const token = (await login(world.rec.email, world.rec.password)).access_token;
    const me = await call(foreign, 'GET', '/api/auth/me', { token });
    assert.equal(me.error?.name, 'TypeError', `GET /api/auth/me from another origin must fail in the page: ${JSON.stringify(me)}`);
    const health = await call(foreign, 'GET', '/healthz');
    assert.equal(health.error?.name, 'TypeError', `GET /healthz from another origin must not be readable: ${JSON.stringify(health)}`);
    // The server did answer that page (an opaque answer, not a network error).
    assert.deepEqual(await foreign.page.evaluate((u) => window.opaque(u), `${API_URL}/healthz`), { type: 'opaque', status: 0 });

    // The signaling-server's long-polling handshake is not readable from there either...
    const sio = await foreign.page.evaluate(([u, t]) => window.connect(u, t, { transports: ['polling'], reconnection: false, timeout: 5000 }),
      [SIGNALING_URL, token]);
    assert.ok(sio.error, `socket.io long-polling from another origin must not connect: ${JSON.stringify(sio)}`);
    // ... though the server answers it to node.
    const hs = await fetch(`${SIGNALING_URL}/socket.io/?EIO=4&transport=polling`, { headers: { origin: FOREIGN_ORIGIN } });
    assert.equal(hs.status, 200);
    assert.match(await hs.text(), /^0\{"sid":/, 'an Engine.IO open packet');
    assert.equal(hs.headers.get('access-control-allow-origin'), null, 'Access-Control-Allow-Origin sent to an origin that is not listed');

    // Chromium says why: the CORS policy.
    assert.ok(foreign.lines.some((l) => /CORS policy/.test(l)), `the console names the CORS policy:\n${foreign.lines.join('\n')}`);
    await foreign.page.close();
  });
});
