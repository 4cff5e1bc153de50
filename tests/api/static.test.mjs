// The console's files at the server root (api-server/h_static.c): content types, ETag and 304, Cache-Control, no
// directory listing, no way out of WEB_ROOT (.., encoded .., symlinks), the API's 404 envelope for anything else,
// and /config.json. The rules are checked on an api-server of this test whose WEB_ROOT is a directory it lays out
// itself (with a secret file and symlinks outside it); the shared server is checked for the real console.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { API_URL, get, startApi } from '../lib/api.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = process.env.REPO_ROOT || resolve(here, '../..');
const SECRET = 'secret-outside-the-web-root';

// One request with the path sent exactly as written (no normalisation of "..", no re-encoding).
function raw(base, method, path, headers = {}) {
  const url = new URL(base);
  return new Promise((res, rej) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path, headers, agent: false }, (r) => {
      const chunks = [];
      r.on('data', (d) => chunks.push(d));
      r.on('end', () => {
        const bytes = Buffer.concat(chunks);
        res({ status: r.statusCode, headers: r.headers, bytes, text: bytes.toString('utf8') });
      });
    });
    req.on('error', rej);
    req.end();
  });
}

function assertNotFound(r, what) {
  assert.equal(r.status, 404, `${what}: status ${r.status} ${r.text.slice(0, 200)}`);
  assert.match(r.headers['content-type'] || '', /^application\/json/, `${what}: the API's error envelope`);
  assert.equal(JSON.parse(r.text).error.code, 'not_found', what);
  assert.ok(!r.text.includes(SECRET), `${what}: the secret leaked`);
}

describe('static files from WEB_ROOT', () => {
  let dir;
  let root;
  let server;
  const files = {
    'index.html': '<!doctype html><title>root page</title>',
    'app.js': 'export const answer = 42;\n',
    'style.css': 'body { color: black; }\n',
    'data.json': '{"a":1}',
    'spec.yaml': 'openapi: 3.1.0\n',
    'font.woff2': 'wOF2-not-really',
    'blob.xyz': 'unknown kind',
    'sub/index.html': '<!doctype html><title>sub page</title>',
    'sub/deep/file.txt': 'deep text',
    'empty/.keep': '',
    '.hidden': 'hidden file',
    'api/inside.txt': 'shadowed by the API prefix',
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'clinic-static-'));
    root = join(dir, 'web');
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, name)), { recursive: true });
      writeFileSync(join(root, name), text);
    }
    writeFileSync(join(dir, 'secret.txt'), SECRET);
    mkdirSync(join(dir, 'outside'));
    writeFileSync(join(dir, 'outside', 'secret.txt'), SECRET);
    symlinkSync(join(dir, 'secret.txt'), join(root, 'link-out.txt'));
    symlinkSync(join(dir, 'outside'), join(root, 'dir-out'));
    symlinkSync('app.js', join(root, 'link-in.js'));
    symlinkSync('/etc/passwd', join(root, 'passwd.txt'));
    server = await startApi({ WEB_ROOT: root, SIGNALING_PUBLIC_URL: 'http://127.0.0.1:18999/some/path' });
  });
  after(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('each file with its Content-Type, a strong ETag, Cache-Control: no-cache and nosniff', async () => {
    const types = {
      '/index.html': 'text/html; charset=utf-8',
      '/app.js': 'text/javascript; charset=utf-8',
      '/style.css': 'text/css; charset=utf-8',
      '/data.json': 'application/json',
      '/spec.yaml': 'application/yaml; charset=utf-8',
      '/font.woff2': 'font/woff2',
      '/blob.xyz': 'application/octet-stream',
      '/sub/deep/file.txt': 'text/plain; charset=utf-8',
    };
    for (const [path, type] of Object.entries(types)) {
      const r = await raw(server.url, 'GET', path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-type'], type, path);
      assert.equal(r.text, files[path.slice(1)], path);
      assert.match(r.headers.etag || '', /^"[0-9a-f]{32}"$/, `${path}: a strong ETag`);
      assert.equal(r.headers['cache-control'], 'no-cache', path);
      assert.equal(r.headers['x-content-type-options'], 'nosniff', path);
      assert.match(r.headers['x-request-id'] || '', /^[0-9a-f]{32}$/, path);
    }
    const page = await raw(server.url, 'GET', '/index.html');
    const csp = page.headers['content-security-policy'] || '';
    assert.match(csp, /(^|; )script-src 'self'(;|$)/, 'pages run scripts of this origin only');
    assert.match(csp, /(^|; )frame-ancestors 'none'(;|$)/);
    assert.match(csp, /(^|; )connect-src 'self' http:\/\/127\.0\.0\.1:18999 ws:\/\/127\.0\.0\.1:18999(;|$)/,
      'pages connect to this origin and to SIGNALING_PUBLIC_URL, over HTTP and WebSocket');
    assert.equal((await raw(server.url, 'GET', '/app.js')).headers['content-security-policy'], undefined, 'only pages carry it');
    assert.equal(page.headers['x-frame-options'], 'DENY');
    assert.equal(page.headers['referrer-policy'], 'no-referrer');
  });

  test('a directory answers its index.html, never a listing', async () => {
    for (const path of ['/', '/sub/', '/sub']) {
      const r = await raw(server.url, 'GET', path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-type'], 'text/html; charset=utf-8', path);
      assert.equal(r.text, files[path === '/' ? 'index.html' : 'sub/index.html'], path);
    }
    for (const path of ['/empty', '/empty/', '/sub/deep/', '/dir-out/']) assertNotFound(await raw(server.url, 'GET', path), path);
  });

  test('If-None-Match with the current tag answers 304 without a body; a changed file has a new tag', async () => {
    const first = await raw(server.url, 'GET', '/app.js');
    const etag = first.headers.etag;
    assert.equal((await raw(server.url, 'GET', '/app.js')).headers.etag, etag, 'the same bytes, the same tag');
    for (const inm of [etag, `W/${etag}`, `"0000", ${etag}`, '*']) {
      const r = await raw(server.url, 'GET', '/app.js', { 'if-none-match': inm });
      assert.equal(r.status, 304, `If-None-Match: ${inm}`);
      assert.equal(r.bytes.length, 0, `If-None-Match: ${inm}: no body`);
      assert.equal(r.headers.etag, etag);
      assert.equal(r.headers['cache-control'], 'no-cache');
    }
    const other = await raw(server.url, 'GET', '/app.js', { 'if-none-match': '"0123456789abcdef0123456789abcdef"' });
    assert.equal(other.status, 200);
    assert.equal(other.text, files['app.js']);
    const other2 = await raw(server.url, 'GET', '/style.css', { 'if-none-match': etag });
    assert.equal(other2.status, 200, "another file's tag does not match");

    writeFileSync(join(root, 'app.js'), 'export const answer = 43;\n');
    try {
      const changed = await raw(server.url, 'GET', '/app.js', { 'if-none-match': etag });
      assert.equal(changed.status, 200, 'the old tag no longer matches');
      assert.equal(changed.text, 'export const answer = 43;\n');
      assert.notEqual(changed.headers.etag, etag);
    } finally {
      writeFileSync(join(root, 'app.js'), files['app.js']);
    }
  });

  test('HEAD answers the headers of GET without the body', async () => {
    const g = await raw(server.url, 'GET', '/style.css');
    const h = await raw(server.url, 'HEAD', '/style.css');
    assert.equal(h.status, 200);
    assert.equal(h.bytes.length, 0);
    assert.equal(h.headers['content-length'], String(Buffer.byteLength(files['style.css'])));
    assert.equal(h.headers.etag, g.headers.etag);
    assert.equal(h.headers['content-type'], g.headers['content-type']);
  });

  test('nothing outside WEB_ROOT: .., encoded .., symlinks out, hidden files', async () => {
    const attempts = [
      '/../secret.txt', '/sub/../../secret.txt', '/%2e%2e/secret.txt', '/%2E%2E/secret.txt', '/sub/%2e%2e/%2e%2e/secret.txt',
      '/..%2fsecret.txt', '/sub/..%2F..%2Fsecret.txt', '/%252e%252e/secret.txt', '/.%2e/secret.txt', '/..\\secret.txt',
      '/sub/..\\..\\secret.txt', '//secret.txt', '/./index.html', '/sub/./index.html', '/sub/../index.html',
      '/link-out.txt', '/dir-out/secret.txt', '/passwd.txt', '/.hidden', '/%2ehidden', '/index.html%00.js',
      '/index.html/', '/app.js/.', '/no-such-file.js', '/sub/none.html',
    ];
    for (const path of attempts) assertNotFound(await raw(server.url, 'GET', path), path);
    const inside = await raw(server.url, 'GET', '/link-in.js');
    assert.equal(inside.status, 200, 'a symlink that stays inside the root is served');
    assert.equal(inside.text, files['app.js']);
  });

  test('the API prefix, health routes and other methods are never files', async () => {
    assertNotFound(await raw(server.url, 'GET', '/api/inside.txt'), 'GET /api/inside.txt');
    assert.equal((await raw(server.url, 'GET', '/healthz')).text, '{"status":"ok"}');
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const r = await raw(server.url, method, '/index.html');
      assertNotFound(r, `${method} /index.html`);
    }
  });

  test('a missing WEB_ROOT serves nothing and the API still works', async () => {
    const other = await startApi({ WEB_ROOT: join(dir, 'no-such-dir') });
    try {
      assertNotFound(await raw(other.url, 'GET', '/'), 'GET / without a root');
      assertNotFound(await raw(other.url, 'GET', '/index.html'), 'GET /index.html without a root');
      assert.equal((await raw(other.url, 'GET', '/healthz')).status, 200);
    } finally {
      await other.stop();
    }
  });
});

describe('the console as served', () => {
  test('/ is the console page, /docs/ the API reference, both loading only files of this server', async () => {
    for (const path of ['/', '/docs/', '/docs']) {
      const r = await raw(API_URL, 'GET', path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-type'], 'text/html; charset=utf-8', path);
      for (const m of r.text.matchAll(/\b(?:src|href)="([^"]+)"/g)) {
        assert.ok(m[1].startsWith('/') && !m[1].startsWith('//'), `${path} loads ${m[1]}: only paths of this server`);
        const dep = await raw(API_URL, 'GET', m[1].split('#')[0]);
        assert.equal(dep.status, 200, `${path} loads ${m[1]}`);
      }
    }
  });

  test('the vendored files are there: socket.io-client, Redoc, and openapi.yaml as in the repository', async () => {
    const spec = await raw(API_URL, 'GET', '/vendor/openapi.yaml');
    assert.equal(spec.status, 200);
    assert.equal(spec.headers['content-type'], 'application/yaml; charset=utf-8');
    assert.equal(spec.text, readFileSync(resolve(repo, 'openapi.yaml'), 'utf8'), 'scripts/web.sh copies the current openapi.yaml');
    for (const path of ['/vendor/socket.io.esm.min.js', '/vendor/redoc.standalone.js']) {
      const r = await raw(API_URL, 'GET', path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-type'], 'text/javascript; charset=utf-8', path);
    }
  });

  test('GET /config.json tells browsers where the API and the signaling-server are', async () => {
    const r = await get('/config.json');
    assert.equal(r.status, 200);
    assert.equal(r.body.api_prefix, '/api');
    assert.match(r.body.signaling_url, /^https?:\/\/[^\s"]+$/);
  });
});
