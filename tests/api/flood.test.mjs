// Limits under load, each against a throwaway api-server of its own (startApi) with small limits, so
// no flood ever reaches the shared server: connections per address (a flood from 127.0.0.2 while a
// client on 127.0.0.1 is answered at once), the request head's deadline that trickled bytes cannot
// extend, the body's deadline, the request rates per address and per user (429 too_many_requests
// with Retry-After, in the error envelope of openapi.yaml), JSON nested too deeply, and the start-up
// checks of the settings. Linux routes all of 127/8 to the loopback, so a client picks its address
// with localAddress. Every flood is bounded and ends by itself; timing figures live in
// tests/bench/api-flood.mjs, not here.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';

import { asAdmin, expectError, post, staffSession, startApi, validateResponse } from '../lib/api.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One request on a new connection from localAddress: {status, headers, body (parsed JSON), ms}, or
// {error, ms} when the connection fails or nothing comes within timeoutMs.
function call(base, method, path, { localAddress = '127.0.0.1', token, body, timeoutMs = 5000, headers: extra = {} } = {}) {
  const url = new URL(path, base);
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const headers = { ...extra };
  if (token) headers.authorization = `Bearer ${token}`;
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = Buffer.byteLength(payload);
  }
  return new Promise((resolve) => {
    const t0 = Date.now();
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers,
      localAddress, agent: false, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let parsed = text;
        try { parsed = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, body: parsed, ms: Date.now() - t0 });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => resolve({ error: e.message, ms: Date.now() - t0 }));
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

// A raw connection from localAddress. Resolves {socket, closed} once connected, where closed is a
// promise of {ms (after connecting), received (bytes the server sent)} when the server closes it;
// rejects if the connection fails.
function connect(base, localAddress = '127.0.0.1') {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: url.hostname, port: Number(url.port), localAddress });
    socket.once('error', reject);
    socket.once('connect', () => {
      const t0 = Date.now();
      let received = '';
      socket.on('data', (d) => { received += d; });
      socket.on('error', () => {});
      const closed = new Promise((res) => socket.once('close', () => res({ ms: Date.now() - t0, received })));
      resolve({ socket, closed });
    });
  });
}

// Writes one byte of text every everyMs until the socket closes or maxMs passed; resolves how many.
async function trickle(socket, text, everyMs, maxMs) {
  let sent = 0;
  const end = Date.now() + maxMs;
  while (!socket.destroyed && socket.writable && Date.now() < end) {
    socket.write(text[sent % text.length]);
    sent += 1;
    await sleep(everyMs);
  }
  return sent;
}

// Whether the promise settles within ms.
async function within(promise, ms) {
  let timer;
  const timeout = new Promise((r) => { timer = setTimeout(() => r(false), ms); });
  const done = await Promise.race([promise.then(() => true), timeout]);
  clearTimeout(timer);
  return done;
}

// Asserts a 429 too_many_requests envelope with Retry-After, as openapi.yaml documents it.
function assertThrottled(res, method, path) {
  assert.equal(res.status, 429, `${method} ${path}: ${JSON.stringify(res.body ?? res.error)}`);
  assert.equal(res.body?.error?.code, 'too_many_requests');
  assert.match(res.headers['retry-after'] ?? '', /^[1-9][0-9]*$/);
  assert.match(res.headers['x-request-id'] ?? '', /^[A-Za-z0-9._-]{1,64}$/);
  validateResponse(method, path, 429, res.body);
}

const servers = [];
async function server(env) {
  const s = await startApi({ API_RATE_PER_ADDRESS: '0', API_RATE_PER_USER: '0', ...env });
  servers.push(s);
  return s.url;
}
after(() => Promise.all(servers.map((s) => s.stop())));

test('load limits: 300 connections from one address hold 50; another address is still answered within a second', async () => {
  const base = await server({ API_MAX_CONNECTIONS: '400', API_MAX_CONNECTIONS_PER_ADDRESS: '50' });
  const flood = [];
  const refused = [];
  for (let i = 0; i < 300; i++) {
    flood.push(connect(base, '127.0.0.2').then((c) => {
      c.socket.write('GET /healthz HTTP/1.1\r\nHost: flood\r\nX-Slow: ');
      return c;
    }).catch((e) => { refused.push(e); return null; }));
  }
  const conns = (await Promise.all(flood)).filter(Boolean);
  try {
    // the ones over the limit are closed at once, without an answer
    await sleep(500);
    const open = conns.filter((c) => !c.socket.destroyed && c.socket.readyState === 'open');
    assert.ok(open.length <= 50, `${open.length} connections from one address still open`);
    assert.ok(open.length >= 45, `only ${open.length} of the 50 allowed connections stayed open`);
    for (const c of conns.filter((x) => !open.includes(x))) assert.equal((await c.closed).received, '');
    // the flood trickles on; another address is answered, typically within a second
    const ticks = setInterval(() => { for (const c of open) if (c.socket.writable) c.socket.write('a'); }, 200);
    try {
      const times = [];
      for (let i = 0; i < 3; i++) {
        const res = await call(base, 'GET', '/healthz', { localAddress: '127.0.0.1', timeoutMs: 3000 });
        assert.equal(res.status, 200, JSON.stringify(res));
        times.push(res.ms);
      }
      assert.ok(times.sort((a, b) => a - b)[1] < 1000, `answered in ${times.join(', ')} ms`);
      // the flooding address itself gets nothing more
      const more = await call(base, 'GET', '/healthz', { localAddress: '127.0.0.2', timeoutMs: 2000 });
      assert.ok(more.error, `a 51st connection from the flooding address was answered: ${more.status}`);
    } finally {
      clearInterval(ticks);
    }
  } finally {
    for (const c of conns) c.socket.destroy();
  }
});

test('load limits: a head trickled a byte every 200 ms is cut at API_HEADER_TIMEOUT_MS', async () => {
  const base = await server({ API_HEADER_TIMEOUT_MS: '1000' });
  const c = await connect(base, '127.0.0.3');
  const sending = trickle(c.socket, 'GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa', 200, 5000);
  assert.ok(await within(c.closed, 4000), 'the connection was still open after 4 s');
  const { ms, received } = await c.closed;
  const sent = await sending;
  assert.ok(ms >= 900 && ms < 3000, `closed after ${ms} ms`);
  assert.ok(sent >= 4, `only ${sent} bytes were sent before the close`);
  assert.equal(received, '', 'no answer to a request that never arrived');
});

test('load limits: the head deadline counts from the previous answer on a kept-alive connection', async () => {
  const base = await server({ API_HEADER_TIMEOUT_MS: '1000' });
  const c = await connect(base, '127.0.0.3');
  let answers = 0;
  c.socket.on('data', (d) => { answers += (String(d).match(/HTTP\/1\.1 200/g) || []).length; });
  // three requests 600 ms apart: 1.2 s after the connection opened, each within 1 s of the last answer
  for (let i = 0; i < 3; i++) {
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: keep\r\n\r\n');
    const deadline = Date.now() + 2000;
    while (answers < i + 1 && Date.now() < deadline) await sleep(20);
    assert.equal(answers, i + 1, `request ${i + 1} was not answered`);
    if (i < 2) await sleep(600);
  }
  // then, silent, it is closed about a second after the last answer
  assert.ok(await within(c.closed, 3000), 'an idle kept-alive connection was not closed');
});

test('load limits: a body trickled a byte every 200 ms is cut at API_BODY_TIMEOUT_MS', async () => {
  const base = await server({ API_HEADER_TIMEOUT_MS: '5000', API_BODY_TIMEOUT_MS: '1000' });
  const c = await connect(base, '127.0.0.3');
  c.socket.write('POST /api/auth/login HTTP/1.1\r\nHost: slow\r\nContent-Type: application/json\r\n' +
    'Content-Length: 200\r\n\r\n');
  const t0 = Date.now();
  const sending = trickle(c.socket, '{"email":"slow@example.org","password":"x"}', 200, 6000);
  assert.ok(await within(c.closed, 4500), 'the connection was still open after 4.5 s');
  const ms = Date.now() - t0;
  const sent = await sending;
  // the body deadline (1 s) applies, not the head's (5 s)
  assert.ok(ms >= 900 && ms < 3000, `closed ${ms} ms after the head`);
  assert.ok(sent >= 4 && sent < 200, `${sent} body bytes sent`);
  assert.equal((await c.closed).received, '');
});

// Sends the request from localAddress until it is answered 429 (at most 60 times); returns
// {ok (answers before it), res (the 429 or the last answer), seconds (elapsed)}.
async function untilThrottled(base, method, path, opts) {
  const t0 = Date.now();
  let ok = 0;
  let res;
  for (let i = 0; i < 60; i++) {
    res = await call(base, method, path, opts);
    if (res.status === 429) break;
    ok += 1;
  }
  return { ok, res, seconds: (Date.now() - t0) / 1000 };
}

test('load limits: requests per address over the burst answer 429 with Retry-After; other addresses go on', async () => {
  const base = await server({ API_RATE_PER_ADDRESS: '1', API_BURST_PER_ADDRESS: '10' });
  // the burst, plus at most the tokens refilled meanwhile (one a second)
  const first = await untilThrottled(base, 'GET', '/api/nothing-here', { localAddress: '127.0.0.4' });
  const emptyAt = Date.now(); // the bucket is empty from here; it refills one token a second
  assertThrottled(first.res, 'GET', '/api/nothing-here');
  assert.ok(first.ok >= 10 && first.ok <= 11 + first.seconds, `${first.ok} answers in ${first.seconds} s before the 429`);
  // every route counts, public ones included
  const login = await untilThrottled(base, 'POST', '/api/auth/login',
    { localAddress: '127.0.0.4', body: { email: 'nobody@example.org', password: 'x' } });
  assertThrottled(login.res, 'POST', '/api/auth/login');
  const since = (Date.now() - emptyAt) / 1000;
  assert.ok(login.ok <= 1 + since, `${login.ok} sign-ins answered before the 429, ${since} s after the bucket emptied`);
  assert.equal((await call(base, 'GET', '/healthz', { localAddress: '127.0.0.5' })).status, 200);
  // Retry-After seconds later a token is back
  await sleep(Number(login.res.headers['retry-after']) * 1000);
  assert.equal((await call(base, 'GET', '/healthz', { localAddress: '127.0.0.4' })).status, 200);
});

test('load limits behind a reverse proxy in TRUSTED_PROXIES: each client its X-Forwarded-For names has its own budget; a forged header from elsewhere buys nothing', async () => {
  const base = await server({ API_RATE_PER_ADDRESS: '1', API_BURST_PER_ADDRESS: '5', TRUSTED_PROXIES: '127.0.0.8' });
  const via = (client, localAddress = '127.0.0.8') => ({ localAddress, headers: { 'x-forwarded-for': client } });
  const one = await untilThrottled(base, 'GET', '/healthz', via('10.1.1.1, 198.51.100.1'));
  assertThrottled(one.res, 'GET', '/healthz');
  assert.ok(one.ok >= 5 && one.ok <= 6 + one.seconds, `${one.ok} answers before the 429`);
  // another client behind the same proxy, and the same client's IPv6 neighbours apart
  assert.equal((await call(base, 'GET', '/healthz', via('198.51.100.2'))).status, 200);
  const six = await untilThrottled(base, 'GET', '/healthz', via('2001:db8:5:6::1'));
  assertThrottled(six.res, 'GET', '/healthz');
  assert.equal((await call(base, 'GET', '/healthz', via('2001:db8:5:6::99'))).status, 429, 'the same /64');
  assert.equal((await call(base, 'GET', '/healthz', via('2001:db8:5:7::1'))).status, 200, 'another /64');
  // a client that is not a listed proxy: its header is ignored, it is counted as itself
  const forged = await untilThrottled(base, 'GET', '/healthz', via('198.51.100.3', '127.0.0.9'));
  assertThrottled(forged.res, 'GET', '/healthz');
  assert.equal((await call(base, 'GET', '/healthz', via('198.51.100.4', '127.0.0.9'))).status, 429);
});

test('load limits: requests per user over the burst answer 429 from any address; other users go on', async () => {
  const base = await server({ API_RATE_PER_USER: '1', API_BURST_PER_USER: '5' });
  const other = await staffSession('ADMIN');
  const token = (await staffSession('ADMIN')).access;
  const first = await untilThrottled(base, 'GET', '/api/auth/me', { localAddress: '127.0.0.6', token });
  const emptyAt = Date.now(); // the bucket is empty from here; it refills one token a second
  assertThrottled(first.res, 'GET', '/api/auth/me');
  assert.ok(first.ok >= 5 && first.ok <= 6 + first.seconds, `${first.ok} answers in ${first.seconds} s before the 429`);
  // the same bucket from another address: not a new burst of 5
  const moved = await untilThrottled(base, 'GET', '/api/auth/me', { localAddress: '127.0.0.7', token });
  assertThrottled(moved.res, 'GET', '/api/auth/me');
  const since = (Date.now() - emptyAt) / 1000;
  assert.ok(moved.ok <= 1 + since, `${moved.ok} answers from another address before the 429, ${since} s after the bucket emptied`);
  assert.equal((await call(base, 'GET', '/api/auth/me', { localAddress: '127.0.0.6', token: other.access })).status, 200);
  // public routes do not count against a user, and a bad token is still a 401, not a 429
  assert.equal((await call(base, 'GET', '/healthz', { localAddress: '127.0.0.6', token })).status, 200);
  const bad = await call(base, 'GET', '/api/auth/me', { localAddress: '127.0.0.6', token: `${token}x` });
  assert.equal(bad.status, 401);
});

test('load limits: a JSON body nested deeper than 32 levels is refused before it is parsed', async () => {
  const token = await asAdmin();
  const arrays = (n) => `${'['.repeat(n)}1${']'.repeat(n)}`;
  expectError(await post('/api/patients', undefined, token, { raw: `{"full_name":${arrays(2000)}}` }), 400, 'malformed_json');
  expectError(await post('/api/patients', undefined, token, { raw: `{"full_name":${arrays(32)}}` }), 400, 'malformed_json');
  // 31 arrays in the object are 32 levels, and brackets inside strings do not count: a 422
  const res = await post('/api/patients', undefined, token, { raw: `{"full_name":"${'['.repeat(100)}","x":${arrays(31)}}` });
  expectError(res, 422, 'validation_failed', ['x']);
});

// Runs API_BIN serve with env; resolves {code, stderr} (it must exit by itself within 10 s).
function serveExit(env, prefix = []) {
  return new Promise((resolve) => {
    const [cmd, args] = prefix.length ? [prefix[0], [...prefix.slice(1), process.env.API_BIN, 'serve']] : [process.env.API_BIN, ['serve']];
    const child = spawn(cmd, args, { env: { ...process.env, API_LISTEN: '127.0.0.1:1', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stderr }); });
  });
}

test('load limits: every bad setting is named at start-up and the server does not start', async () => {
  const { code, stderr } = await serveExit({
    API_MAX_CONNECTIONS: '100', API_MAX_CONNECTIONS_PER_ADDRESS: '101', API_THREAD_STACK_KB: '16',
    API_HEADER_TIMEOUT_MS: '5', API_BODY_TIMEOUT_MS: 'soon', API_IDLE_TIMEOUT_SECONDS: '0',
    API_RATE_PER_ADDRESS: '-1', API_BURST_PER_ADDRESS: '0', API_RATE_PER_USER: '1.5', API_BURST_PER_USER: '2000000',
    API_RATE_TABLE_SIZE: '10', TRUSTED_PROXIES: '10.0.0.1,proxy.example',
  });
  assert.equal(code, 2, stderr);
  assert.match(stderr, /configuration error: TRUSTED_PROXIES must be a comma-separated list/);
  for (const name of ['API_MAX_CONNECTIONS_PER_ADDRESS=101 is more than API_MAX_CONNECTIONS=100', 'API_THREAD_STACK_KB',
    'API_HEADER_TIMEOUT_MS', 'API_BODY_TIMEOUT_MS', 'API_IDLE_TIMEOUT_SECONDS', 'API_RATE_PER_ADDRESS',
    'API_BURST_PER_ADDRESS', 'API_RATE_PER_USER', 'API_BURST_PER_USER', 'API_RATE_TABLE_SIZE'])
    assert.ok(stderr.includes(name), `no error naming ${name}:\n${stderr}`);
  // more connections than the process may open files (checked by serve, after its other settings)
  const files = await serveExit({ API_MAX_CONNECTIONS: '5000' }, ['sh', '-c', 'ulimit -n 1024 && exec "$0" "$@"']);
  assert.equal(files.code, 1, files.stderr);
  assert.match(files.stderr, /API_MAX_CONNECTIONS=5000 needs \d+ open files, but the limit is 1024/);
});
