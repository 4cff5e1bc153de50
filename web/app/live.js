// live: the pushed events of the signed-in user, from the signaling-server (socket.io-client's browser bundle with
// its default options: long-polling first, then WebSocket). The token goes in the CONNECT's auth, read afresh on
// every (re)connect together with the last event seen, so a reconnect replays what was missed; a rotated token is
// handed over with `authenticate` before the old one expires.
import { io } from '/vendor/socket.io.esm.min.js';

import { accessToken, getConfig, onSession } from './session.js';

// connectLive({event(name, data), connected(), status(state)}) -> {emit(name, data), close()}; state is 'live' or
// 'offline'. emit sends an event of the client (`typing`) when connected, and drops it otherwise (no buffering: a
// notice that arrives late says something false).
export function connectLive(handlers) {
  let lastEventId = null;
  let again = null; // the timer of a reconnect after the server ended the session
  const socket = io(getConfig().signaling_url, {
    auth: (cb) => cb(lastEventId ? { token: accessToken(), last_event_id: lastEventId } : { token: accessToken() }),
  });
  socket.on('connect', () => {
    handlers.status?.('live');
    handlers.connected?.();
  });
  socket.on('disconnect', (reason) => {
    handlers.status?.('offline');
    // The server ended this session (an expired token, say): connect again with the current one.
    if (reason === 'io server disconnect' && accessToken()) {
      clearTimeout(again);
      again = setTimeout(() => socket.connect(), 1000);
    }
  });
  socket.on('connect_error', () => handlers.status?.('offline'));
  socket.onAny((name, data) => {
    if (name === 'error') {
      if (data?.code === 'resync_required') lastEventId = null;
      return;
    }
    if (data && typeof data.event_id === 'string') lastEventId = data.event_id;
    handlers.event?.(name, data);
  });
  const off = onSession((kind) => {
    if (kind === 'refreshed' && socket.connected) socket.emit('authenticate', { token: accessToken() });
  });
  return {
    emit(name, data) {
      if (socket.connected) socket.emit(name, data);
    },
    close() {
      clearTimeout(again);
      off();
      socket.disconnect();
    },
  };
}
