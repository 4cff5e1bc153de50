// video: one side of a video consultation, for the doctor and for the patient. It asks the API for a join token
// (with the ICE servers), takes the camera and the microphone, and connects to the signaling-server with that
// token on a socket of its own (the room of this session and nothing else). The patient waits until the doctor
// admits them; the doctor sees who waits and admits; then the doctor's side sends the WebRTC offer, the patient's
// answers, both trickle ICE candidates. Mute and camera switch the local tracks off and on; the connection's
// quality (round-trip time, packet loss, jitter from getStats) is shown and sent to the server as
// connection_quality samples. The doctor ends the consultation through the API; either side may leave the call.
// Both sides chat on the same socket (video-chat.js). The server decides everything (the join window, who may be
// admitted, who may end, who may chat): its refusals are shown.
//
// The join answer ({token, ice_servers, ...}) comes from POST /sessions/{id}/token with the signed-in user's access
// token, or from the caller (`join`): the guest's page (join.js) redeems an invitation code for it.
//
// This file holds the call's state (ctx), its start, the quality samples, its end and close(); what it shows is
// video-view.js, the media and WebRTC side video-peer.js, the socket and its events video-signal.js.
import { replace } from './dom.js';
import { t } from './i18n.js';
import { focusKeeper } from './kit.js';
import { api } from './session.js';
import { chatPanel } from './video-chat.js';
import { callView, renderCall, showQuality } from './video-view.js';
import { makePeer, toggle } from './video-peer.js';
import { admit, connect, emit } from './video-signal.js';

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

// The connection's quality, shown and sent as a connection_quality sample (while connected).
async function sample(ctx) {
  const { s } = ctx;
  if (!ctx.pc || s.ended || !s.admitted) return;
  const st = await readStats(ctx.pc);
  const total = st.lost + st.received;
  const loss = total > 0 ? Math.min(1, nonNegative(st.lost / total)) : 0;
  showQuality(ctx, { label: qualityLabel(st.rtt, loss), rtt: st.rtt, loss, jitter: st.jitter });
  if (ctx.pc.iceConnectionState === 'connected' || ctx.pc.iceConnectionState === 'completed') {
    ctx.emit('connection_quality', {
      rtt_ms: Math.round(nonNegative((st.rtt ?? 0) * 1000) * 100) / 100,
      packet_loss: loss,
      jitter_ms: Math.round(nonNegative((st.jitter ?? 0) * 1000) * 100) / 100,
    });
  }
}

// The call's state and elements, and the helpers every part of it uses (ctx).
function callContext({ session, role, zone, onClose, join }) {
  const doctor = role === 'doctor';
  const s = { phase: 'joining', participants: new Map(), admitted: false, ended: false, muted: false, cameraOff: false, closed: false };
  const ctx = {
    doctor, session, zone, s, pc: null, socket: null, stream: null, ice: [], qualityTimer: null,
    offered: false, pendingRemote: [], pendingLocal: [], localSent: false,
    join: join || (() => api('POST', `/video-consultations/sessions/${session.id}/token`)),
  };
  ctx.chat = chatPanel(ctx);
  ctx.v = callView(doctor, session, {
    toggle: (kind) => toggle(ctx, kind), leave: () => leave(ctx), end: () => endConsultation(ctx), back: () => onClose?.(),
  }, ctx.chat.el);
  ctx.keep = focusKeeper(ctx.v.waitingEl, [() => ctx.v.message, () => ctx.v.heading]);
  ctx.say = (text) => { ctx.v.message.textContent = text || ''; };
  ctx.render = () => renderCall(ctx);
  ctx.setPhase = (phase) => { s.phase = phase; ctx.render(); };
  ctx.emit = (name, data, say) => emit(ctx, name, data, say); // say: where a refusal shows (the alert line)
  ctx.admit = () => admit(ctx);
  ctx.finish = (status, data) => finish(ctx, status, data);
  return ctx;
}

// ---- ending ------------------------------------------------------------------------------------------------

function stopMedia(ctx) {
  clearInterval(ctx.qualityTimer);
  ctx.qualityTimer = null;
  for (const tr of ctx.stream?.getTracks() || []) tr.stop();
  ctx.pc?.close();
  ctx.pc = null;
  ctx.socket?.disconnect();
  ctx.socket = null;
}

// The session is over (or this patient was turned away): media stopped, the outcome said.
function finish(ctx, status, data) {
  const { s, v } = ctx;
  if (s.ended) return;
  s.ended = true;
  stopMedia(ctx);
  showQuality(ctx, null);
  if (status === 'completed') s.phase = 'completed';
  else if (status === 'admission_denied' || status === 'patient_removed') s.phase = status;
  else s.phase = 'session_over';
  ctx.render();
  if (status === 'completed' && data?.duration_seconds != null) {
    v.phaseLine.textContent = `${t('call_completed')} ${t('video_duration', Math.floor(data.duration_seconds / 60), data.duration_seconds % 60)}`;
  }
  if (data?.reason) ctx.say(data.reason);
  v.heading.focus();
}

// Leaves the call: the other side is told (hangup); the session stays open and may be joined again.
function leave(ctx) {
  const { s } = ctx;
  if (s.ended) return;
  if (ctx.socket && s.admitted) ctx.socket.emit('hangup', {});
  s.ended = true;
  stopMedia(ctx);
  showQuality(ctx, null);
  s.phase = 'left';
  ctx.render();
  ctx.v.heading.focus();
}

async function endConsultation(ctx) {
  ctx.say('');
  try {
    const ended = await api('POST', `/video-consultations/sessions/${ctx.session.id}/end`);
    finish(ctx, ended.status, ended);
  } catch (e) { ctx.say(e.message); }
}

// ---- start -------------------------------------------------------------------------------------------------

async function start(ctx) {
  const { s } = ctx;
  ctx.render();
  let joined;
  try {
    joined = await ctx.join();
  } catch (e) {
    ctx.say(e.message);
    s.ended = true;
    s.phase = 'not_joined';
    ctx.render();
    return;
  }
  if (s.closed) return;
  ctx.ice = joined.ice_servers;
  try {
    ctx.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
    ctx.v.local.srcObject = ctx.stream;
  } catch (e) {
    ctx.say(t('no_camera', e.message));
  }
  if (s.closed) { for (const tr of ctx.stream?.getTracks() || []) tr.stop(); return; }
  makePeer(ctx);
  connect(ctx, joined.token);
  ctx.qualityTimer = setInterval(() => sample(ctx).catch(() => {}), QUALITY_EVERY_MS);
  ctx.render();
}

// videoCall({session, role, zone, onClose, join}) -> {el, close(), focus(), phase()}. session: the VideoSession (or its
// summary, at least {id}) to join; role 'doctor' | 'patient'; zone: the clinic's time zone (undefined: the
// browser's); onClose(): back to the list; join(): the join answer, when not the signed-in user's token.
export function videoCall(opts) {
  const ctx = callContext(opts);
  const { s } = ctx;
  start(ctx);
  return {
    el: ctx.v.el,
    focus: () => ctx.v.heading.focus(),
    phase: () => s.phase,
    close() {
      if (s.closed) return;
      if (!s.ended && ctx.socket && s.admitted) ctx.socket.emit('hangup', {});
      s.closed = true;
      stopMedia(ctx);
      ctx.chat.stop();
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
