// One side (doctor or patient) of a video consultation, as the README ("Video consultations") describes it, driven by the
// browser tests through window.startCall(opts). Plain browser JavaScript, no build step.
//
// The page only talks to the signaling-server (Socket.IO over WebSocket, not subject to CORS); the driver does
// the HTTP API calls in node and hands the page a join token and the ICE servers.
//
//   startCall({role, signalingUrl, token, iceServers, autoAdmit, transport})
//     role         'doctor' | 'patient'
//     transport    'socket' (default): Socket.IO to signalingUrl with auth {token};
//                  'driver': no server, every message goes to window.__toDriver(name, data) (exposed by the
//                  driver) and comes back through window.deliver(name, data) (the loopback self-test)
//     autoAdmit    doctor only (default true): emit admit_patient as soon as a patient is seen waiting
//   Resolves once the signaling connection is up (rejects with the connect_error message).
//
// window.callState holds what the driver checks; window.callSnapshot() returns a JSON copy. Times in `t` are
// epoch milliseconds with sub-millisecond precision (performance.timeOrigin + performance.now()), so times
// taken on two pages can be compared.
'use strict';

(function () {
  const now = () => performance.timeOrigin + performance.now();
  const ENDED = ['completed', 'cancelled', 'expired', 'failed'];

  const state = {
    role: null,
    transport: null,
    started: false,
    socketConnected: false,
    disconnectReason: null,
    sessionState: null, // the session_state event
    admitted: false, // patient_admitted seen
    admitSent: 0, // admit_patient emissions
    events: [], // [{name, at, data}] every event received (sdp shortened)
    errors: [], // problems: error events, failed acks, exceptions
    acks: {}, // event name -> [{ok, at, resp|err}]
    iceConnectionState: 'new',
    connectionState: 'new',
    iceStates: [], // [{state, at}]
    localCandidates: 0,
    remoteCandidates: 0,
    remoteTrack: false,
    remoteVideoTrack: false,
    framesDecoded: 0,
    framesEncoded: 0,
    selectedPair: null, // {local, remote, rtt_ms}
    qualitySent: 0,
    qualityAcked: 0,
    lastQuality: null,
    sessionUpdates: [], // statuses from video_session_updated
    ended: false,
    t: {}, // start, signaled, admitSent, admitted, offerSent, offerReceived, answerSent, answerReceived, track, connected, firstFrame, ended
  };
  window.callState = state;
  window.callSnapshot = () => JSON.parse(JSON.stringify(state));

  const logEl = () => document.getElementById('log');
  function log(...args) {
    const line = `${(now() - (state.t.start || now())).toFixed(0).padStart(6)} ms ${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}`;
    console.log(`[${state.role || '?'}] ${line}`);
    const el = logEl();
    if (el) el.textContent += line + '\n';
  }
  function problem(what, detail) {
    const p = { what, detail: detail === undefined ? null : detail, at: now() };
    state.errors.push(p);
    log('PROBLEM', what, detail === undefined ? '' : detail);
  }
  window.addEventListener('error', (e) => problem('uncaught', String(e.message)));
  window.addEventListener('unhandledrejection', (e) => problem('unhandled rejection', String(e.reason && e.reason.stack ? e.reason.stack : e.reason)));

  let pc = null;
  let send = null; // (name, data) -> Promise<ack response or null>
  const pendingRemote = []; // candidates received before the remote description
  const pendingLocal = []; // candidates gathered before our offer/answer went out
  let localDescSent = false;
  let offerStarted = false;
  let statsTimer = null;
  let qualityTimer = null;

  function shorten(data) {
    if (!data || typeof data !== 'object') return data;
    const out = {};
    for (const [k, v] of Object.entries(data)) out[k] = k === 'sdp' && typeof v === 'string' ? `<${v.length} chars>` : v;
    return out;
  }

  // The contract promises {ok: true} acks for the relayed events; for the others a refusal counts as a
  // problem, a missing ack does not.
  const MUST_ACK = ['webrtc_offer', 'webrtc_answer', 'webrtc_ice_candidate', 'hangup'];
  function recordAck(name, ok, detail, timedOut = false) {
    (state.acks[name] = state.acks[name] || []).push({ ok, at: now(), detail });
    if (!ok && (!timedOut || MUST_ACK.includes(name))) problem(`${name} not acknowledged with {ok: true}`, detail);
  }

  // ---- transports --------------------------------------------------------------------------------------------

  function socketTransport(opts) {
    return new Promise((resolve, reject) => {
      // eslint-disable-next-line no-undef
      const socket = io(opts.signalingUrl, { transports: ['websocket'], auth: { token: opts.token }, reconnection: false, forceNew: true, timeout: 10000 });
      window.callSocket = socket;
      socket.onAny((name, data) => receive(name, data));
      socket.on('connect', () => {
        state.socketConnected = true;
        state.t.signaled = now();
        log('signaling connected');
        resolve();
      });
      socket.on('connect_error', (e) => {
        problem('connect_error', String(e && e.message));
        reject(new Error(`connect_error: ${e && e.message}`));
      });
      socket.on('disconnect', (reason) => {
        state.socketConnected = false;
        state.disconnectReason = reason;
        log('signaling disconnected', reason);
      });
      send = (name, data) =>
        new Promise((res) => {
          socket.timeout(10000).emit(name, data, (err, resp) => {
            if (err) recordAck(name, false, `no ack: ${err.message}`, true);
            else recordAck(name, !!(resp && resp.ok === true), resp);
            res(err ? null : resp);
          });
        });
    });
  }

  function driverTransport() {
    if (typeof window.__toDriver !== 'function') throw new Error('transport "driver" needs window.__toDriver');
    window.deliver = (name, data) => receive(name, data);
    send = async (name, data) => {
      await window.__toDriver(name, data);
      recordAck(name, true, { ok: true });
      return { ok: true };
    };
    state.socketConnected = true;
    state.t.signaled = now();
    return Promise.resolve();
  }

  // ---- signaling events ----------------------------------------------------------------------------------------

  function receive(name, data) {
    state.events.push({ name, at: now(), data: shorten(data) });
    log('<-', name, shorten(data));
    try {
      handle(name, data || {});
    } catch (e) {
      problem(`handling ${name}`, String(e && e.stack ? e.stack : e));
    }
  }

  function patientWaitingIn(ss) {
    if (!ss) return false;
    const ps = Array.isArray(ss.participants) ? ss.participants : [];
    return ps.some((p) => p && p.role === 'patient' && p.state === 'waiting');
  }

  function handle(name, data) {
    switch (name) {
      case 'session_state':
        state.sessionState = data;
        if (data.admitted === true && state.role === 'patient') state.admitted = true;
        if (state.role === 'doctor' && patientWaitingIn(data)) maybeAdmit('session_state');
        break;
      case 'patient_waiting':
        if (state.role === 'doctor') maybeAdmit('patient_waiting');
        break;
      case 'participant_joined':
        if (state.role === 'doctor' && data.role === 'patient' && data.state === 'waiting') maybeAdmit('participant_joined');
        break;
      case 'patient_admitted':
        if (!state.admitted || !state.t.admitted) state.t.admitted = now();
        state.admitted = true;
        if (state.role === 'doctor') startOffer().catch((e) => problem('offer', String(e && e.stack ? e.stack : e)));
        break;
      case 'webrtc_offer':
        if (state.role !== 'patient') problem('webrtc_offer reached the doctor', data.from);
        else handleOffer(data).catch((e) => problem('answer', String(e && e.stack ? e.stack : e)));
        break;
      case 'webrtc_answer':
        if (state.role !== 'doctor') problem('webrtc_answer reached the patient', data.from);
        else handleAnswer(data).catch((e) => problem('setRemoteDescription(answer)', String(e && e.stack ? e.stack : e)));
        break;
      case 'webrtc_ice_candidate':
        state.remoteCandidates += 1;
        if (pc && pc.remoteDescription) addRemoteCandidate(data);
        else pendingRemote.push(data);
        break;
      case 'video_session_updated': {
        const s = data.session || {};
        state.sessionUpdates.push(s.status);
        if (ENDED.includes(s.status)) endCall(`session ${s.status}`);
        break;
      }
      case 'hangup':
        endCall('hangup');
        break;
      case 'admission_denied':
      case 'patient_removed':
        endCall(name);
        break;
      case 'error':
        problem('error event', data);
        break;
      default:
        break;
    }
  }

  function maybeAdmit(why) {
    if (!state.autoAdmit || state.admitted || state.admitInFlight) return;
    state.admitInFlight = true;
    state.admitSent += 1;
    state.t.admitSent = now();
    log('-> admit_patient', `(${why})`);
    send('admit_patient', {}).then((resp) => {
      // patient_admitted comes through the outbox, possibly after the ack: admit once. Only a refusal (already
      // recorded as a problem) lets a later patient_waiting / participant_joined try again.
      if (resp && resp.ok !== true) state.admitInFlight = false;
      if (!resp) log('admit_patient: no ack');
    });
  }

  // ---- WebRTC --------------------------------------------------------------------------------------------------

  function candidateJson(c) {
    return { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex };
  }

  function sendCandidate(c) {
    send('webrtc_ice_candidate', candidateJson(c));
  }

  function flushLocal() {
    localDescSent = true;
    while (pendingLocal.length) sendCandidate(pendingLocal.shift());
  }

  function addRemoteCandidate(data) {
    const init = { candidate: data.candidate, sdpMid: data.sdpMid, sdpMLineIndex: data.sdpMLineIndex };
    pc.addIceCandidate(init).catch((e) => problem('addIceCandidate', `${e && e.message}: ${JSON.stringify(init)}`));
  }

  function flushRemote() {
    while (pendingRemote.length) addRemoteCandidate(pendingRemote.shift());
  }

  function makePeer(iceServers, stream) {
    pc = new RTCPeerConnection({ iceServers: iceServers || [] });
    window.callPeer = pc;
    for (const track of stream.getTracks()) pc.addTrack(track, stream);
    pc.onicecandidate = (e) => {
      if (!e.candidate || !e.candidate.candidate) return; // end of candidates
      state.localCandidates += 1;
      log('local candidate', e.candidate.candidate);
      if (localDescSent) sendCandidate(e.candidate);
      else pendingLocal.push(e.candidate);
    };
    pc.oniceconnectionstatechange = () => {
      const s = pc.iceConnectionState;
      state.iceConnectionState = s;
      state.iceStates.push({ state: s, at: now() });
      log('iceConnectionState', s);
      if ((s === 'connected' || s === 'completed') && !state.t.connected) {
        state.t.connected = now();
        startQuality();
      }
    };
    pc.onconnectionstatechange = () => {
      state.connectionState = pc.connectionState;
      log('connectionState', pc.connectionState);
    };
    pc.ontrack = (e) => {
      state.remoteTrack = true;
      if (e.track.kind === 'video') state.remoteVideoTrack = true;
      if (!state.t.track) state.t.track = now();
      log('remote track', e.track.kind);
      const v = document.getElementById('remote');
      if (v && e.streams && e.streams[0] && v.srcObject !== e.streams[0]) v.srcObject = e.streams[0];
    };
  }

  async function startOffer() {
    if (offerStarted) return;
    offerStarted = true;
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    state.t.offerSent = now();
    log('-> webrtc_offer');
    const ack = send('webrtc_offer', { sdp: pc.localDescription.sdp });
    flushLocal();
    await ack;
  }

  async function handleOffer(data) {
    state.t.offerReceived = now();
    await pc.setRemoteDescription({ type: 'offer', sdp: data.sdp });
    flushRemote();
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    state.t.answerSent = now();
    log('-> webrtc_answer');
    const ack = send('webrtc_answer', { sdp: pc.localDescription.sdp });
    flushLocal();
    await ack;
  }

  async function handleAnswer(data) {
    state.t.answerReceived = now();
    await pc.setRemoteDescription({ type: 'answer', sdp: data.sdp });
    flushRemote();
  }

  // ---- statistics ----------------------------------------------------------------------------------------------

  async function readStats() {
    const report = await pc.getStats();
    const byId = new Map();
    report.forEach((r) => byId.set(r.id, r));
    const out = { framesDecoded: 0, framesEncoded: 0, lost: 0, received: 0, jitter: null, rtt: null, pair: null };
    let pair = null;
    report.forEach((r) => {
      if (r.type === 'inbound-rtp') {
        out.lost += Math.max(0, r.packetsLost || 0);
        out.received += r.packetsReceived || 0;
        if (r.kind === 'video') {
          out.framesDecoded += r.framesDecoded || 0;
          if (typeof r.jitter === 'number') out.jitter = r.jitter;
        }
      } else if (r.type === 'outbound-rtp' && r.kind === 'video') {
        out.framesEncoded += r.framesEncoded || 0;
      } else if (r.type === 'transport' && r.selectedCandidatePairId) {
        pair = byId.get(r.selectedCandidatePairId) || pair;
      } else if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded' && !pair) {
        pair = r;
      }
    });
    if (pair) {
      if (typeof pair.currentRoundTripTime === 'number') out.rtt = pair.currentRoundTripTime;
      const l = byId.get(pair.localCandidateId) || {};
      const rm = byId.get(pair.remoteCandidateId) || {};
      out.pair = {
        local: `${l.address || l.ip}:${l.port} ${l.candidateType} ${l.protocol}`,
        remote: `${rm.address || rm.ip}:${rm.port} ${rm.candidateType} ${rm.protocol}`,
      };
    }
    return out;
  }

  function startStats() {
    statsTimer = setInterval(async () => {
      if (!pc || state.ended) return;
      try {
        const s = await readStats();
        state.framesDecoded = s.framesDecoded;
        state.framesEncoded = s.framesEncoded;
        if (s.pair) state.selectedPair = { ...s.pair, rtt_ms: s.rtt === null ? null : s.rtt * 1000 };
        if (s.framesDecoded > 0 && !state.t.firstFrame) state.t.firstFrame = now();
      } catch (e) {
        problem('getStats', String(e));
      }
    }, 250);
  }

  const finite = (x) => (typeof x === 'number' && Number.isFinite(x) && x >= 0 ? x : 0);

  async function sendQuality() {
    if (!pc || state.ended) return;
    const s = await readStats();
    const total = s.lost + s.received;
    const q = {
      rtt_ms: Math.round(finite(s.rtt === null ? 0 : s.rtt * 1000) * 100) / 100,
      packet_loss: total > 0 ? Math.min(1, finite(s.lost / total)) : 0,
      jitter_ms: Math.round(finite(s.jitter === null ? 0 : s.jitter * 1000) * 100) / 100,
    };
    state.lastQuality = q;
    state.qualitySent += 1;
    const resp = await send('connection_quality', q);
    if (resp && resp.ok === true) state.qualityAcked += 1;
  }

  function startQuality() {
    if (qualityTimer) return;
    const tick = () => sendQuality().catch((e) => problem('connection_quality', String(e)));
    tick();
    qualityTimer = setInterval(tick, 2000);
  }

  function endCall(why) {
    if (state.ended) return;
    state.ended = true;
    state.t.ended = now();
    log('call ended:', why);
    clearInterval(statsTimer);
    clearInterval(qualityTimer);
  }

  // ---- entry point ---------------------------------------------------------------------------------------------

  window.startCall = async function startCall(opts) {
    if (state.started) throw new Error('startCall: already started');
    state.started = true;
    state.role = opts.role;
    state.transport = opts.transport || 'socket';
    state.autoAdmit = opts.role === 'doctor' && opts.autoAdmit !== false;
    state.t.start = now();
    document.getElementById('title').textContent = `${opts.role} (${state.transport})`;
    log('start', { role: opts.role, transport: state.transport, signalingUrl: opts.signalingUrl || null, iceServers: opts.iceServers || [] });

    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
    document.getElementById('local').srcObject = stream;
    makePeer(opts.iceServers, stream);
    startStats();

    if (state.transport === 'driver') await driverTransport();
    else await socketTransport(opts);
    return true;
  };

  // Manual use: call.html?role=...&signaling=...&token=...(&ice=...)
  const q = new URLSearchParams(location.search);
  if (q.get('role') && q.get('token') && q.get('signaling')) {
    window.startCall({ role: q.get('role'), signalingUrl: q.get('signaling'), token: q.get('token'), iceServers: q.get('ice') ? JSON.parse(q.get('ice')) : [] })
      .catch((e) => problem('startCall', String(e)));
  }
})();
