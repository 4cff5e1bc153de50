// video: one side of a video consultation, for the doctor and for the patient. It asks the API for a join token
// (with the ICE servers), takes the camera and the microphone, and connects to the signaling-server with that
// token on a socket of its own (the room of this session and nothing else). The patient waits until the doctor
// admits them; the doctor sees who waits and admits; then the doctor's side sends the WebRTC offer, the patient's
// answers, both trickle ICE candidates. Mute and camera switch the local tracks off and on; the connection's
// quality (round-trip time, packet loss, jitter from getStats) is shown and sent to the server as
// connection_quality samples. The doctor ends the consultation through the API; either side may leave the call.
// The server decides everything (the join window, who may be admitted, who may end): its refusals are shown.
import { io } from '/vendor/socket.io.esm.min.js';

import { h, replace } from './dom.js';
import { formatTime } from './format.js';
import { lang, t } from './i18n.js';
import { focusKeeper } from './kit.js';
import { api, getConfig } from './session.js';

const ENDED = ['completed', 'cancelled', 'expired', 'failed'];
const QUALITY_EVERY_MS = 2000;

// Good, fair or poor from the round-trip time (seconds, or null) and the fraction of packets lost.
export function qualityLabel(rtt, loss) {
  const ms = rtt === null ? 0 : rtt * 1000;
  if (ms < 150 && loss < 0.02) return 'good';
  if (ms < 400 && loss < 0.08) return 'fair';
  return 'poor';
}

// The numbers of one getStats() report: rtt (s) of the selected candidate pair, packets lost and received,
// jitter (s) and frames decoded of the incoming video.
async function readStats(pc) {
  const report = await pc.getStats();
  const byId = new Map();
  report.forEach((r) => byId.set(r.id, r));
  const out = { rtt: null, lost: 0, received: 0, jitter: null, frames: 0 };
  let pair = null;
  report.forEach((r) => {
    if (r.type === 'inbound-rtp') {
      out.lost += Math.max(0, r.packetsLost || 0);
      out.received += r.packetsReceived || 0;
      if (r.kind === 'video') {
        out.frames += r.framesDecoded || 0;
        if (typeof r.jitter === 'number') out.jitter = r.jitter;
      }
    } else if (r.type === 'transport' && r.selectedCandidatePairId) {
      pair = byId.get(r.selectedCandidatePairId) || pair;
    } else if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded' && !pair) {
      pair = r;
    }
  });
  if (pair && typeof pair.currentRoundTripTime === 'number') out.rtt = pair.currentRoundTripTime;
  return out;
}

const nonNegative = (x) => (Number.isFinite(x) && x >= 0 ? x : 0);

// videoCall({session, role, zone, onClose}) -> {el, close(), focus()}. session: the VideoSession (or its
// summary) to join; role 'doctor' | 'patient'; zone: the clinic's time zone; onClose(): back to the list.
export function videoCall({ session, role, zone, onClose }) {
  const doctor = role === 'doctor';
  const s = { phase: 'joining', participants: new Map(), admitted: false, ended: false, muted: false, cameraOff: false, closed: false };
  let pc = null;
  let socket = null;
  let stream = null;
  let ice = [];
  let qualityTimer = null;
  let offered = false;
  const pendingRemote = [];
  const pendingLocal = [];
  let localSent = false;

  const heading = h('h1', { tabindex: '-1' }, doctor ? t('video_call_with', session.patient?.full_name || session.patient_label || '') : t('video_call_title'));
  const phaseLine = h('p', { class: 'call-phase', role: 'status', 'aria-live': 'polite' });
  const message = h('p', { class: 'message', role: 'alert', tabindex: '-1' });
  const remote = h('video', { class: 'remote', autoplay: true, playsinline: true, 'aria-label': doctor ? t('video_remote_patient') : t('video_remote_doctor') });
  const local = h('video', { class: 'local', autoplay: true, playsinline: true, muted: true, 'aria-label': t('video_local') });
  local.muted = true;
  const waitingEl = h('section', { class: 'waiting-room', 'aria-labelledby': 'waiting-h' });
  const qualityEl = h('p', { class: 'quality', 'aria-live': 'off' });
  // The call's buttons are made once and only change state and label: the keyboard stays on them across renders.
  const buttons = {
    mute: h('button', { type: 'button', onclick: () => toggle('audio') }),
    camera: h('button', { type: 'button', onclick: () => toggle('video') }),
    hangUp: h('button', { type: 'button', onclick: () => leave() }, t('hang_up')),
    end: doctor ? h('button', { type: 'button', class: 'danger', onclick: () => endConsultation() }, t('end_consultation')) : null,
    back: h('button', { type: 'button', class: 'primary', onclick: () => onClose?.() }, t('video_back')),
  };
  const controls = h('div', { class: 'call-controls' }, Object.values(buttons));
  const el = h('section', { class: 'call' },
    h('div', { class: 'desk-head' }, heading),
    phaseLine, message,
    h('div', { class: 'call-body' },
      h('div', { class: 'call-stage' }, h('div', { class: 'remote-wrap' }, remote), h('div', { class: 'local-wrap' }, local)),
      h('div', { class: 'call-side' }, doctor ? waitingEl : null, qualityEl, controls)));

  const keep = focusKeeper(waitingEl, [() => message, () => heading]);
  const say = (text) => { message.textContent = text || ''; };
  const setPhase = (phase) => { s.phase = phase; render(); };

  // ---- what is shown ---------------------------------------------------------------------------------------

  function renderWaiting() {
    if (!doctor) return;
    const patient = s.participants.get('patient');
    const waiting = patient && patient.state === 'waiting' && !s.admitted;
    keep(() => replace(waitingEl, h('h2', { id: 'waiting-h' }, t('waiting_room')),
      waiting
        ? h('ul', { class: 'appts' }, h('li', {},
          h('span', {}, h('strong', {}, patient.display_name), ` · ${t('video_waits')}`),
          h('button', { type: 'button', class: 'primary', onclick: admit }, `${t('admit')}: ${patient.display_name}`)))
        : h('p', { class: 'empty' }, patient && s.admitted ? t('video_patient_in_call', patient.display_name) : t('video_nobody_waiting'))));
  }

  function renderControls() {
    const track = (kind) => stream?.getTracks().find((tr) => tr.kind === kind);
    const { mute, camera, hangUp, end, back } = buttons;
    for (const b of [mute, camera, hangUp, end]) if (b) b.hidden = s.ended;
    back.hidden = !s.ended;
    mute.disabled = !track('audio');
    mute.setAttribute('aria-pressed', String(s.muted));
    mute.textContent = s.muted ? t('unmute') : t('mute');
    camera.disabled = !track('video');
    camera.setAttribute('aria-pressed', String(s.cameraOff));
    camera.textContent = s.cameraOff ? t('camera_on') : t('camera_off');
  }

  function render() {
    if (s.closed) return;
    phaseLine.textContent = t(`call_${s.phase}`);
    phaseLine.className = `call-phase ${s.phase}`;
    renderWaiting();
    renderControls();
  }

  function showQuality(q) {
    if (!q) { qualityEl.textContent = ''; return; }
    const pct = new Intl.NumberFormat(lang(), { style: 'percent', maximumFractionDigits: 1 }).format(q.loss);
    qualityEl.textContent = t('quality_line', t(`quality_${q.label}`), q.rtt === null ? '—' : String(Math.round(q.rtt * 1000)), pct,
      q.jitter === null ? '—' : String(Math.round(q.jitter * 1000)));
    qualityEl.className = `quality ${q.label}`;
  }

  // ---- media and peer ----------------------------------------------------------------------------------------

  function toggle(kind) {
    const on = kind === 'audio' ? s.muted : s.cameraOff; // switching back on
    for (const tr of stream?.getTracks() || []) if (tr.kind === kind) tr.enabled = on;
    if (kind === 'audio') s.muted = !on;
    else s.cameraOff = !on;
    render();
  }

  function makePeer() {
    pc?.close();
    pc = new RTCPeerConnection({ iceServers: ice });
    offered = false;
    localSent = false;
    pendingLocal.length = 0;
    if (stream) for (const tr of stream.getTracks()) pc.addTrack(tr, stream);
    else {
      pc.addTransceiver('audio', { direction: 'recvonly' });
      pc.addTransceiver('video', { direction: 'recvonly' });
    }
    pc.onicecandidate = (e) => {
      if (!e.candidate || !e.candidate.candidate) return;
      if (localSent) emit('webrtc_ice_candidate', e.candidate.toJSON());
      else pendingLocal.push(e.candidate.toJSON());
    };
    pc.ontrack = (e) => {
      if (e.streams[0] && remote.srcObject !== e.streams[0]) remote.srcObject = e.streams[0];
    };
    pc.oniceconnectionstatechange = () => {
      const st = pc.iceConnectionState;
      if (st === 'connected' || st === 'completed') setPhase('in_call');
      else if (st === 'disconnected' && !s.ended) setPhase('reconnecting');
      else if (st === 'failed' && !s.ended) setPhase('failed');
    };
  }

  function flushLocal() {
    localSent = true;
    while (pendingLocal.length) emit('webrtc_ice_candidate', pendingLocal.shift());
  }

  function addRemote(c) {
    pc.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex }).catch((e) => say(e.message));
  }

  async function offer() {
    if (offered) return;
    offered = true;
    await pc.setLocalDescription(await pc.createOffer());
    await emit('webrtc_offer', { sdp: pc.localDescription.sdp });
    flushLocal();
  }

  async function answer(data) {
    // A new offer (the doctor came back): a new connection for it.
    if (pc.remoteDescription) makePeer();
    await pc.setRemoteDescription({ type: 'offer', sdp: data.sdp });
    while (pendingRemote.length) addRemote(pendingRemote.shift());
    await pc.setLocalDescription(await pc.createAnswer());
    await emit('webrtc_answer', { sdp: pc.localDescription.sdp });
    flushLocal();
  }

  async function accept(data) {
    await pc.setRemoteDescription({ type: 'answer', sdp: data.sdp });
    while (pendingRemote.length) addRemote(pendingRemote.shift());
  }

  async function sample() {
    if (!pc || s.ended || !s.admitted) return;
    const st = await readStats(pc);
    const total = st.lost + st.received;
    const loss = total > 0 ? Math.min(1, nonNegative(st.lost / total)) : 0;
    showQuality({ label: qualityLabel(st.rtt, loss), rtt: st.rtt, loss, jitter: st.jitter });
    if (pc.iceConnectionState === 'connected' || pc.iceConnectionState === 'completed') {
      emit('connection_quality', {
        rtt_ms: Math.round(nonNegative((st.rtt ?? 0) * 1000) * 100) / 100,
        packet_loss: loss,
        jitter_ms: Math.round(nonNegative((st.jitter ?? 0) * 1000) * 100) / 100,
      });
    }
  }

  // ---- signaling -----------------------------------------------------------------------------------------------

  // Sends with an acknowledgement; a refusal ({ok: false, message}) is shown as the server says it.
  function emit(name, data) {
    return new Promise((resolve) => {
      if (!socket) { resolve(null); return; }
      socket.timeout(10000).emit(name, data, (err, resp) => {
        if (!err && resp && resp.ok === false && name !== 'connection_quality') say(resp.message || resp.code);
        resolve(err ? null : resp);
      });
    });
  }

  function admit() {
    say('');
    emit('admit_patient', {});
  }

  function participant(data) {
    const prev = s.participants.get(data.role) || {};
    s.participants.set(data.role, { ...prev, ...data });
  }

  function onEvent(name, data) {
    switch (name) {
      case 'session_state':
        for (const p of data.participants || []) participant(p);
        if (!doctor && data.admitted) s.admitted = true;
        if (doctor) {
          const patient = s.participants.get('patient');
          s.admitted = Boolean(patient?.admitted && patient.state !== 'left');
          // Back in a call already under way: a new offer to the admitted patient.
          if (s.admitted && patient.state === 'joined') offer().catch((e) => say(e.message));
        }
        setPhase(s.admitted ? 'connecting' : doctor ? 'open' : 'waiting');
        break;
      case 'patient_waiting':
        participant({ role: 'patient', display_name: data.patient_label, state: 'waiting' });
        render();
        break;
      case 'participant_joined':
        participant(data);
        if (doctor && data.role === 'patient' && data.state === 'joined' && s.admitted) { makePeer(); offer().catch((e) => say(e.message)); }
        render();
        break;
      case 'participant_reconnecting':
        participant({ role: data.role, state: 'reconnecting' });
        render();
        break;
      case 'participant_left':
        participant({ role: data.role, state: 'left' });
        if (doctor && data.role === 'patient') { s.admitted = false; setPhase('open'); }
        render();
        break;
      case 'patient_admitted':
        s.admitted = true;
        participant({ role: 'patient', state: 'joined', admitted: true });
        setPhase('connecting');
        if (doctor) {
          if (offered) makePeer(); // admitted again after leaving: a new connection
          offer().catch((e) => say(e.message));
        }
        break;
      case 'webrtc_offer':
        if (!doctor) answer(data).catch((e) => say(e.message));
        break;
      case 'webrtc_answer':
        if (doctor) accept(data).catch((e) => say(e.message));
        break;
      case 'webrtc_ice_candidate':
        if (pc?.remoteDescription) addRemote(data);
        else pendingRemote.push(data);
        break;
      case 'hangup':
        // The other side left the call (the session stays open): ready for their return.
        if (doctor) makePeer();
        setPhase('other_left');
        break;
      case 'video_session_updated': {
        const st = data.session?.status;
        if (ENDED.includes(st)) finish(st, data.session);
        break;
      }
      case 'admission_denied':
      case 'patient_removed':
        if (!doctor) finish(name, data);
        break;
      case 'video_ending_soon':
        say(t('video_ending_soon', formatTime(data.ends_at, zone, lang())));
        break;
      case 'error':
        say(data?.message || data?.code || '');
        break;
      default:
        break;
    }
  }

  function connect(token) {
    socket = io(getConfig().signaling_url, { auth: { token }, forceNew: true, transports: ['websocket'] });
    socket.onAny((name, data) => { if (!s.closed) onEvent(name, data || {}); });
    socket.on('connect_error', (e) => { if (!s.ended) { say(e.message); setPhase('offline'); } });
    socket.on('disconnect', (reason) => {
      if (!s.ended && !s.closed && reason !== 'io client disconnect') setPhase('offline');
    });
  }

  // ---- ending ------------------------------------------------------------------------------------------------

  function stopMedia() {
    clearInterval(qualityTimer);
    qualityTimer = null;
    for (const tr of stream?.getTracks() || []) tr.stop();
    pc?.close();
    pc = null;
    socket?.disconnect();
    socket = null;
  }

  // The session is over (or this patient was turned away): media stopped, the outcome said.
  function finish(status, data) {
    if (s.ended) return;
    s.ended = true;
    stopMedia();
    showQuality(null);
    if (status === 'completed') s.phase = 'completed';
    else if (status === 'admission_denied' || status === 'patient_removed') s.phase = status;
    else s.phase = 'session_over';
    render();
    if (status === 'completed' && data?.duration_seconds != null) {
      phaseLine.textContent = `${t('call_completed')} ${t('video_duration', Math.floor(data.duration_seconds / 60), data.duration_seconds % 60)}`;
    }
    if (data?.reason) say(data.reason);
    heading.focus();
  }

  // Leaves the call: the other side is told (hangup); the session stays open and may be joined again.
  function leave() {
    if (s.ended) return;
    if (socket && s.admitted) socket.emit('hangup', {});
    s.ended = true;
    stopMedia();
    showQuality(null);
    s.phase = 'left';
    render();
    heading.focus();
  }

  async function endConsultation() {
    say('');
    try {
      const ended = await api('POST', `/video-consultations/sessions/${session.id}/end`);
      finish(ended.status, ended);
    } catch (e) { say(e.message); }
  }

  // ---- start -------------------------------------------------------------------------------------------------

  (async () => {
    render();
    let joined;
    try {
      joined = await api('POST', `/video-consultations/sessions/${session.id}/token`);
    } catch (e) {
      say(e.message);
      s.ended = true;
      s.phase = 'not_joined';
      render();
      return;
    }
    if (s.closed) return;
    ice = joined.ice_servers;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
      local.srcObject = stream;
    } catch (e) {
      say(t('no_camera', e.message));
    }
    if (s.closed) { for (const tr of stream?.getTracks() || []) tr.stop(); return; }
    makePeer();
    connect(joined.token);
    qualityTimer = setInterval(() => sample().catch(() => {}), QUALITY_EVERY_MS);
    render();
  })();

  return {
    el,
    focus: () => heading.focus(),
    close() {
      if (s.closed) return;
      if (!s.ended && socket && s.admitted) socket.emit('hangup', {});
      s.closed = true;
      stopMedia();
    },
  };
}

// Shows the call in host instead of back (the list it was joined from); leaving it puts back and calls onBack().
export function callIn(host, back, { onBack, ...opts }) {
  const call = videoCall({
    ...opts,
    onClose: () => {
      call.close();
      replace(host, back);
      onBack();
    },
  });
  replace(host, call.el);
  call.focus();
  return call;
}
