// Socket.IO helpers for tests that talk to the signaling-server (socket.io-client from tests/node_modules).
import assert from 'node:assert/strict';

import { io } from 'socket.io-client';

// A Socket.IO connection to url with auth, recording every event as {name, env}; resolves with
// {s, events, closed} once connected (closed resolves at the disconnect), rejects with the connect_error.
export function sioConnected(auth, { url = process.env.SIGNALING_URL, transports = ['websocket'] } = {}) {
  const s = io(url, { transports, auth, reconnection: false, forceNew: true, timeout: 5000 });
  const events = [];
  s.onAny((name, env) => events.push({ name, env }));
  const closed = new Promise((resolve) => s.on('disconnect', resolve));
  return new Promise((resolve, reject) => {
    s.on('connect', () => resolve({ s, events, closed }));
    s.on('connect_error', (e) => { s.close(); reject(e); });
  });
}

// Waits until pred(events) holds, polling every 20 ms; fails after ms naming what it waited for.
export async function eventsUntil(events, pred, ms = 5000, what = 'events') {
  const deadline = Date.now() + ms;
  while (!pred(events)) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; got ${JSON.stringify(events.map((e) => e.name))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
