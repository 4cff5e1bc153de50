// video-peer: a video call's media and WebRTC side: the local tracks switched off and on, the RTCPeerConnection
// (made again for a new offer), the offer or the answer, and the ICE candidates held until a description is set
// (both ways). It sends through ctx.emit and changes the phase through ctx.setPhase; the signaling (video-signal.js)
// calls it.
export function toggle(ctx, kind) {
  const { s } = ctx;
  const on = kind === 'audio' ? s.muted : s.cameraOff; // switching back on
  for (const tr of ctx.stream?.getTracks() || []) if (tr.kind === kind) tr.enabled = on;
  if (kind === 'audio') s.muted = !on;
  else s.cameraOff = !on;
  ctx.render();
}

export function makePeer(ctx) {
  const { s, stream } = ctx;
  ctx.pc?.close();
  const pc = new RTCPeerConnection({ iceServers: ctx.ice });
  ctx.pc = pc;
  ctx.offered = false;
  ctx.localSent = false;
  ctx.pendingLocal.length = 0;
  if (stream) for (const tr of stream.getTracks()) pc.addTrack(tr, stream);
  else {
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addTransceiver('video', { direction: 'recvonly' });
  }
  pc.onicecandidate = (e) => {
    if (!e.candidate || !e.candidate.candidate) return;
    if (ctx.localSent) ctx.emit('webrtc_ice_candidate', e.candidate.toJSON());
    else ctx.pendingLocal.push(e.candidate.toJSON());
  };
  pc.ontrack = (e) => {
    if (e.streams[0] && ctx.v.remote.srcObject !== e.streams[0]) ctx.v.remote.srcObject = e.streams[0];
  };
  pc.oniceconnectionstatechange = () => {
    const st = ctx.pc.iceConnectionState;
    if (st === 'connected' || st === 'completed') ctx.setPhase('in_call');
    else if (st === 'disconnected' && !s.ended) ctx.setPhase('reconnecting');
    else if (st === 'failed' && !s.ended) ctx.setPhase('failed');
  };
}

function flushLocal(ctx) {
  ctx.localSent = true;
  while (ctx.pendingLocal.length) ctx.emit('webrtc_ice_candidate', ctx.pendingLocal.shift());
}

export function addRemote(ctx, c) {
  ctx.pc.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex }).catch((e) => ctx.say(e.message));
}

function flushRemote(ctx) {
  while (ctx.pendingRemote.length) addRemote(ctx, ctx.pendingRemote.shift());
}

export async function offer(ctx) {
  if (ctx.offered) return;
  ctx.offered = true;
  await ctx.pc.setLocalDescription(await ctx.pc.createOffer());
  await ctx.emit('webrtc_offer', { sdp: ctx.pc.localDescription.sdp });
  flushLocal(ctx);
}

export async function answer(ctx, data) {
  // A new offer (the doctor came back): a new connection for it.
  if (ctx.pc.remoteDescription) makePeer(ctx);
  await ctx.pc.setRemoteDescription({ type: 'offer', sdp: data.sdp });
  flushRemote(ctx);
  await ctx.pc.setLocalDescription(await ctx.pc.createAnswer());
  await ctx.emit('webrtc_answer', { sdp: ctx.pc.localDescription.sdp });
  flushLocal(ctx);
}

export async function accept(ctx, data) {
  await ctx.pc.setRemoteDescription({ type: 'answer', sdp: data.sdp });
  flushRemote(ctx);
}
