// The api-server command line against the test database: create-admin, migration checksums,
// start-up refusals and configuration validation.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { request, uniq } from '../lib/api.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = process.env.REPO_ROOT || resolve(here, '../..');
const bin = process.env.API_BIN || resolve(repo, 'build/api-server');

function run(args, env = {}, input = undefined) {
  const r = spawnSync(bin, args, {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    input,
    encoding: 'utf8',
    timeout: 20000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('create-admin reads the password from stdin, and the new admin can sign in', async () => {
  const email = `ops-${uniq()}@example.com`;
  const r = run(['create-admin', '--email', email], { ADMIN_PASSWORD: '' }, 'a-long-admin-password\n');
  assert.equal(r.status, 0, r.out);
  const login = await request('POST', '/api/auth/login', { body: { email, password: 'a-long-admin-password' } });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  assert.equal(login.body.user.role, 'ADMIN');
});

test('create-admin refuses a short password and a bad e-mail', () => {
  assert.notEqual(run(['create-admin', '--email', `x-${uniq()}@example.com`], { ADMIN_PASSWORD: 'short' }).status, 0);
  assert.notEqual(run(['create-admin', '--email', 'not-an-email'], { ADMIN_PASSWORD: 'long-enough-pw' }).status, 0);
});

test('a changed applied migration stops migrate and serve; a pending one stops serve', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clinic-migrations-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(resolve(repo, 'sql'), dir, { recursive: true });

  const same = run(['migrate'], { MIGRATIONS_DIR: dir });
  assert.equal(same.status, 0, same.out);

  writeFileSync(join(dir, '9999_pending_change.sql'), 'SELECT 1;\n');
  const pending = run(['serve'], { MIGRATIONS_DIR: dir, API_LISTEN: '127.0.0.1:1' });
  assert.notEqual(pending.status, 0);
  assert.match(pending.out, /9999_pending_change\.sql is not applied/);
  rmSync(join(dir, '9999_pending_change.sql'));

  appendFileSync(join(dir, '0001_platform.sql'), '\n-- edited after it was applied\n');
  for (const cmd of ['migrate', 'serve']) {
    const r = run([cmd], { MIGRATIONS_DIR: dir, API_LISTEN: '127.0.0.1:1' });
    assert.notEqual(r.status, 0, `${cmd} must refuse: ${r.out}`);
    assert.match(r.out, /0001_platform\.sql was changed after it was applied/);
  }
});

test('every bad configuration value is reported, each with its variable name', () => {
  const r = run(['serve'], { API_LISTEN: 'nowhere', ACCESS_TOKEN_TTL: '5', LOG_LEVEL: 'loud', DB_POOL_SIZE: 'x',
    PASSWORD_MEMORY_KIB: '512', PASSWORD_ITERATIONS: '0' });
  assert.equal(r.status, 2, r.out);
  for (const name of ['API_LISTEN', 'ACCESS_TOKEN_TTL', 'LOG_LEVEL', 'DB_POOL_SIZE', 'PASSWORD_MEMORY_KIB', 'PASSWORD_ITERATIONS'])
    assert.match(r.out, new RegExp(`configuration error: ${name}=`), `no message for ${name}: ${r.out}`);
});

test('unknown subcommand prints the usage and exits 2', () => {
  const r = run(['frobnicate']);
  assert.equal(r.status, 2);
  assert.match(r.out, /usage: api-server/);
});
