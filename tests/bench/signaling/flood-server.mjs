// The load generator's ceiling (forked by bench.mjs): a server that costs next to nothing per event, so
// that what limits the events delivered per second is the clients' processes. It accepts the
// generator's WebSocket clients at any path (the HTTP upgrade by hand on a raw TCP socket), sends the
// Engine.IO open packet, answers the Socket.IO CONNECT, and on {cmd: 'flood', n} writes to every
// client one buffer built once: n WebSocket text frames `42["queue_updated",{"bench": "fanout", ...}]`
// of the size the servers under test send for the fan-out events. Answers {type: 'flooded', clients}
// once the writes are queued. Prints "ready <port>" (it listens on a port the kernel picks).
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const conns = new Set();

function frame(text) {
  const p = Buffer.from(text);
  if (p.length < 126) return Buffer.concat([Buffer.from([0x81, p.length]), p]);
  const h = Buffer.from([0x81, 126, 0, 0]);
  h.writeUInt16BE(p.length, 2);
  return Buffer.concat([h, p]);
}

const server = createServer((s) => {
  s.setNoDelay(true);
  let head = Buffer.alloc(0);
  let state = 0; // 0: HTTP head, 1: upgraded, 2: CONNECT answered
  s.on('data', (d) => {
    if (state === 0) {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const key = /^sec-websocket-key:\s*(\S+)/im.exec(head.toString('latin1', 0, end))?.[1] || '';
      const accept = createHash('sha1').update(key + GUID).digest('base64');
      s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      s.write(frame('0{"sid":"flood","upgrades":[],"pingInterval":600000,"pingTimeout":600000,"maxPayload":1000000}'));
      state = 1;
    } else if (state === 1) {
      // The client's first frame is its CONNECT (its content does not matter here).
      s.write(frame('40{"sid":"flood"}'));
      state = 2;
      conns.add(s);
    }
  });
  s.on('close', () => conns.delete(s));
  s.on('error', () => {});
});

process.on('message', (m) => {
  if (m.cmd !== 'flood') return;
  const frames = [];
  for (let i = 1; i <= m.n; i++) {
    frames.push(frame(`42["queue_updated",{"bench": "fanout", "event_id": "9${String(i).padStart(8, '0')}-${1000000 + i}", ` +
      '"occurred_at": "2026-01-01T12:00:00Z"}]'));
  }
  const all = Buffer.concat(frames);
  for (const s of conns) s.write(all);
  process.send({ type: 'flooded', clients: conns.size });
});
process.on('disconnect', () => process.exit(0));
server.listen(0, '127.0.0.1', () => console.log(`ready ${server.address().port}`));
