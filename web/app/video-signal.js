// video-signal: a video call's socket to the signaling-server (its own, for this session's room only): messages
// sent with an acknowledgement (a refusal is shown as the server says it), and what each pushed event does to the
// call: who is in the room and waits, the admission, the offer, answer and ICE candidates handed to the peer
// (video-peer.js), the other side leaving, the session's end (ctx.finish), and the in-call chat's events handed to
// video-chat.js (ctx.chat), whose history is loaded once the call is the user's to chat in.
import { io } from '/vendor/socket.io.esm.min.js';

import { formatTime } from './format.js';
import { lang, t } from './i18n.js';
import { accept, addRemote, answer, makePeer, offer } from './video-peer.js';
import { getConfig } from './session.js';

const ENDED = ['completed', 'cancelled', 'expired', 'failed'];

// Sends with an acknowledgement; a refusal ({ok: false, message}) is shown as the server says it, by say (the
// call's alert line unless the caller has its own).
export function emit(ctx, name, data, say = ctx.say) {
  return new Promise((resolve) => {
    if (!ctx.socket) { resolve(null); return; }
    ctx.socket.timeout(10000).emit(name, data, (err, resp) => {
      if (!err && resp && resp.ok === false && name !== 'connection_quality') say(resp.message || resp.code);
      resolve(err ? null : resp);
    });
  });
}

export function admit(ctx) {
  ctx.say('');
  ctx.emit('admit_patient', {});
}

function participant(ctx, data) {
  const prev = ctx.s.participants.get(data.role) || {};
  ctx.s.participants.set(data.role, { ...prev, ...data });
}

const offerNow = (ctx) => offer(ctx).catch((e) => ctx.say(e.message));

function sessionState(ctx, data) {
  const { s, doctor } = ctx;
  for (const p of data.participants || []) participant(ctx, p);
  if (!doctor && data.admitted) s.admitted = true;
  if (doctor) {
    const patient = s.participants.get('patient');
    s.admitted = Boolean(patient?.admitted && patient.state !== 'left');
    // Back in a call already under way: a new offer to the admitted patient.
    if (s.admitted && patient.state === 'joined') offerNow(ctx);
  }
  ctx.setPhase(s.admitted ? 'connecting' : doctor ? 'open' : 'waiting');
  // The chat is the doctor's while the session is open, the patient's once admitted.
  if (doctor || s.admitted) ctx.chat.load();
}

function patientAdmitted(ctx) {
  ctx.s.admitted = true;
  participant(ctx, { role: 'patient', state: 'joined', admitted: true });
  ctx.setPhase('connecting');
  if (!ctx.doctor) ctx.chat.load();
  if (ctx.doctor) {
    if (ctx.offered) makePeer(ctx); // admitted again after leaving: a new connection
    offerNow(ctx);
  }
}

// What the room's comings and goings do.
const ROOM = {
  session_state: sessionState,
  patient_waiting(ctx, data) {
    participant(ctx, { role: 'patient', display_name: data.patient_label, state: 'waiting' });
    ctx.render();
  },
  participant_joined(ctx, data) {
    participant(ctx, data);
    if (ctx.doctor && data.role === 'patient' && data.state === 'joined' && ctx.s.admitted) { makePeer(ctx); offerNow(ctx); }
    ctx.render();
  },
  participant_reconnecting(ctx, data) {
    participant(ctx, { role: data.role, state: 'reconnecting' });
    ctx.render();
  },
  participant_left(ctx, data) {
    participant(ctx, { role: data.role, state: 'left' });
    if (ctx.doctor && data.role === 'patient') { ctx.s.admitted = false; ctx.setPhase('open'); }
    ctx.render();
  },
  patient_admitted: patientAdmitted,
};

// What the WebRTC exchange, the session's end and the server's notes do.
const CALL = {
  webrtc_offer(ctx, data) { if (!ctx.doctor) answer(ctx, data).catch((e) => ctx.say(e.message)); },
  webrtc_answer(ctx, data) { if (ctx.doctor) accept(ctx, data).catch((e) => ctx.say(e.message)); },
  webrtc_ice_candidate(ctx, data) {
    if (ctx.pc?.remoteDescription) addRemote(ctx, data);
    else ctx.pendingRemote.push(data);
  },
  hangup(ctx) {
    // The other side left the call (the session stays open): ready for their return.
    if (ctx.doctor) makePeer(ctx);
    ctx.setPhase('other_left');
  },
  video_session_updated(ctx, data) {
    const st = data.session?.status;
    if (ENDED.includes(st)) ctx.finish(st, data.session);
  },
  admission_denied(ctx, data, name) { if (!ctx.doctor) ctx.finish(name, data); },
  patient_removed(ctx, data, name) { if (!ctx.doctor) ctx.finish(name, data); },
  video_ending_soon(ctx, data) { ctx.say(t('video_ending_soon', formatTime(data.ends_at, ctx.zone, lang()))); },
  error(ctx, data) { ctx.say(data?.message || data?.code || ''); },
};

// The in-call chat (video-chat.js): a message (mine echoed too) and the other side typing.
const CHAT = {
  chat_message(ctx, data) { ctx.chat.message(data.message); },
  chat_message_updated(ctx, data) { ctx.chat.message(data.message); }, // edited or deleted (through REST)
  typing(ctx, data) { ctx.chat.typing(data); },
};

const HANDLERS = new Map(Object.entries({ ...ROOM, ...CALL, ...CHAT }));

function onEvent(ctx, name, data) {
  HANDLERS.get(name)?.(ctx, data, name);
}

export function connect(ctx, token) {
  const { s } = ctx;
  const socket = io(getConfig().signaling_url, { auth: { token }, forceNew: true, transports: ['websocket'] });
  ctx.socket = socket;
  socket.onAny((name, data) => { if (!s.closed) onEvent(ctx, name, data || {}); });
  socket.on('connect_error', (e) => { if (!s.ended) { ctx.say(e.message); ctx.setPhase('offline'); } });
  socket.on('disconnect', (reason) => {
    if (!s.ended && !s.closed && reason !== 'io client disconnect') ctx.setPhase('offline');
  });
}
