// The browser side alone, without the servers: two Chromium instances run call.js and the test relays their
// signaling itself (as the signaling-server would: admit_patient -> patient_admitted, webrtc_* to the other side
// with `from`). Shows that Chromium starts, fake media flows and a WebRTC call connects on loopback, so a failure
// of video-call.test.mjs points at the servers rather than at the browser setup.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { inCall, launchBrowser, openCallPage, snapshot, staticServer, until } from './lib.mjs';

describe('browser WebRTC on loopback (signaling relayed by the test)', () => {
  let web;
  let doctor;
  let patient;

  before(async () => {
    web = await staticServer();
    [doctor, patient] = await Promise.all([launchBrowser('doctor'), launchBrowser('patient')]);
  });

  after(async () => {
    await Promise.all([doctor?.close(), patient?.close()]);
    await web?.close();
  });

  test('two pages connect, each decodes the other\'s video, only loopback candidates', { timeout: 60000 }, async () => {
    const pages = { doctor, patient };
    const other = { doctor: 'patient', patient: 'doctor' };
    const chains = { doctor: Promise.resolve(), patient: Promise.resolve() };
    const quality = { doctor: 0, patient: 0 };
    // In order, per receiving page.
    const deliver = (to, name, data) => {
      chains[to] = chains[to].then(() => pages[to].page.evaluate(([n, d]) => window.deliver(n, d), [name, data]));
      return chains[to];
    };
    for (const role of ['doctor', 'patient']) {
      await pages[role].page.exposeFunction('__toDriver', (name, data) => {
        if (name === 'admit_patient') {
          deliver('doctor', 'patient_admitted', { session_id: 'loopback' });
          deliver('patient', 'patient_admitted', { session_id: 'loopback' });
        } else if (name.startsWith('webrtc_')) {
          deliver(other[role], name, { ...data, from: role });
        } else if (name === 'connection_quality') {
          quality[role] += 1;
        }
        return { ok: true };
      });
      await openCallPage(pages[role], web.url);
    }
    await Promise.all(['doctor', 'patient'].map((role) =>
      pages[role].page.evaluate((r) => window.startCall({ role: r, transport: 'driver' }), role)));
    await deliver('doctor', 'patient_waiting', { session_id: 'loopback', patient_label: 'loopback patient' });

    const [d, p] = await until([doctor, patient], (a, b) => inCall(a) && inCall(b), 20000, 'both pages in the call');
    const ms = Math.max(d.t.connected, p.t.connected) - d.t.admitSent;
    console.log(`loopback: admission -> connected ${ms.toFixed(1)} ms (doctor ${(d.t.connected - d.t.admitSent).toFixed(1)} ms, patient ${(p.t.connected - d.t.admitSent).toFixed(1)} ms); selected pair ${d.selectedPair?.local} <-> ${d.selectedPair?.remote}`);

    for (const [name, s] of [['doctor', d], ['patient', p]]) {
      assert.deepEqual(s.errors, [], `${name}: no problems`);
      assert.ok(s.localCandidates > 0, `${name} gathered candidates`);
    }
    // Inside the loopback-only namespace every candidate pair is 127.0.0.1 (a peer-reflexive remote, learnt from a
    // check that came before its candidate was relayed, is shown by Chromium without its address).
    const pairs = await until([doctor, patient], (a, b) => a.selectedPair && b.selectedPair, 5000, 'selected candidate pairs');
    if (process.env.BROWSER_NETNS === '1') {
      for (const s of pairs) assert.match(`${s.selectedPair.local} ${s.selectedPair.remote}`, /^127\.0\.0\.1:\d+ \S+ \S+ (127\.0\.0\.1:\d+ \S+|:\d+ prflx) /, `selected pair on loopback: ${JSON.stringify(s.selectedPair)}`);
    }
    // The quality reports start once connected (first one at once, then every 2 s).
    await until([doctor, patient], (a, b) => a.qualitySent >= 1 && b.qualitySent >= 1, 5000, 'connection_quality from both');
    assert.ok(quality.doctor >= 1 && quality.patient >= 1, `quality samples relayed: ${JSON.stringify(quality)}`);
    const q = (await snapshot(doctor)).lastQuality;
    assert.ok(q.rtt_ms >= 0 && q.packet_loss >= 0 && q.packet_loss <= 1 && q.jitter_ms >= 0, `sane quality sample: ${JSON.stringify(q)}`);
  });
});
