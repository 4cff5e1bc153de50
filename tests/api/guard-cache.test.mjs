// The guard's caches (api-server/router.c, account_listener.c, common/accountcache.c, tokencache.c):
// what the guard knows of an account is kept in memory and forgotten when NOTIFY account_changed
// says it changed (sql/0012, sql/0020), so an account change is honoured at once, on the api-server
// that made it and on every other one sharing the database: a deactivation, a new password, a change
// of role or clinic, a deletion, also when written by SQL outside any api-server. When the
// listener's connection dies, the cache is dropped and bypassed until the listener listens again, so
// a change made meanwhile is never missed. ACCOUNT_CACHE_ENTRIES and TOKEN_CACHE_ENTRIES bound them.
import assert from 'node:assert/strict';
import { randomBytes, sign as cryptoSign } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import {
  API_URL,
  asAdmin,
  b64url,
  createClinic,
  decodeJwtPart,
  expectError,
  expectStatus,
  get,
  login,
  patch,
  post,
  psql,
  staffSession,
  startApi,
  uniq,
} from '../lib/api.mjs';

let second;
before(async () => {
  second = await startApi();
});
after(async () => {
  await second?.stop();
});

const me = (token, base, validate = true) => get('/api/auth/me', token, { base, validate });

function assertRefused(res, message, where) {
  expectError(res, 401, 'unauthorized');
  assert.match(res.headers.get('www-authenticate') || '', /^Bearer error="invalid_token"/);
  if (message) assert.match(res.body.error.message, message, `${where}: ${res.body.error.message}`);
}

// Asserts the token is refused on base as a token the account no longer accepts: at once when
// strict (the server whose request made the change has forgotten the account before it answered; one
// not listening asks the database), else once the notification reached it (polled for at most 3 s:
// PostgreSQL signals every listener at commit, before the writer hears its COMMIT answered, but when
// the listener wakes up is the scheduler's business).
async function refusedOn(base, token, message, strict) {
  // (while the guard still lets it through, GET /auth/me of a deleted account answers 404)
  for (const deadline = Date.now() + 3000; !strict && Date.now() < deadline;) {
    if ((await me(token, base, false)).status === 401) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  assertRefused(await me(token, base), message, base);
}

// refusedOn both servers; strict lists those that must refuse at once.
async function refusedEverywhere(token, message, strict = []) {
  for (const base of [API_URL, second.url]) await refusedOn(base, token, message, strict.includes(base));
}

async function acceptedEverywhere(token) {
  for (const base of [API_URL, second.url]) expectStatus(await me(token, base), 200);
}

// A receptionist of a fresh clinic, signed in, whose account both servers have already read.
async function knownEverywhere() {
  const clinic = await createClinic();
  const s = await staffSession('RECEPTIONIST', clinic.id);
  await acceptedEverywhere(s.access);
  await acceptedEverywhere(s.access); // and again: now from the caches
  return { ...s, clinic };
}

// The pid of the account listener of the api-server at url, or null when it has no connection.
async function listenerPid(url) {
  const name = `clinic-accounts ${new URL(url).host}`;
  const out = await psql(`SELECT pid FROM pg_stat_activity WHERE application_name = '${name}' AND state = 'idle'
    AND (query LIKE 'LISTEN %' OR query = 'SELECT 1');`);
  return out === '' ? null : Number(out);
}

async function until(what, fn, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('account changes are honoured at once on every api-server', () => {
  test('a deactivation through the API: refused on both at once, and reactivation does not bring the token back', async () => {
    const s = await knownEverywhere();
    const admin = await asAdmin();
    expectStatus(await post(`/api/users/${s.id}/deactivate`, {}, admin), 200);
    await refusedEverywhere(s.access, /deactivated/, [API_URL]);
    expectStatus(await patch(`/api/users/${s.id}`, { active: true }, admin), 200);
    await refusedEverywhere(s.access, /issued before/, [API_URL]);
    const back = await login(s.email, s.password);
    await acceptedEverywhere(back.access_token);
  });

  test('a deactivation through the second api-server, and one written by SQL outside any api-server', async () => {
    const s = await knownEverywhere();
    expectStatus(await post(`/api/users/${s.id}/deactivate`, {}, await asAdmin(), { base: second.url }), 200);
    await refusedEverywhere(s.access, /deactivated/, [second.url]);

    const t = await knownEverywhere();
    await psql(`UPDATE users SET active = false WHERE id = ${t.id};`);
    await refusedEverywhere(t.access, /deactivated/);
  });

  test('a new password refuses the older tokens at once on both; the new sign-in works on both', async () => {
    const s = await knownEverywhere();
    const phone = await login(s.email, s.password);
    await acceptedEverywhere(phone.access_token);
    const password = `new-${uniq()}`;
    expectStatus(await post('/api/auth/password', { current_password: s.password, new_password: password }, s.access,
      { base: second.url }), 204);
    for (const t of [s.access, phone.access_token]) await refusedEverywhere(t, /issued before/, [second.url]);
    await acceptedEverywhere((await login(s.email, password)).access_token);
  });

  test('logout-all and a tokens_valid_after moved by SQL: refused on both at once', async () => {
    const s = await knownEverywhere();
    expectStatus(await post('/api/auth/logout-all', undefined, s.access), 204);
    await refusedEverywhere(s.access, /issued before/, [API_URL]);
    const again = await login(s.email, s.password);
    await acceptedEverywhere(again.access_token);
    await new Promise((r) => setTimeout(r, 1100)); // the cut moves to the next whole second
    await psql(`UPDATE users SET tokens_valid_after = now() WHERE id = ${s.id};`);
    await refusedEverywhere(again.access_token, /issued before/);
  });

  test("a change of role or clinic refuses the tokens that carry the old one", async () => {
    const s = await knownEverywhere();
    await psql(`UPDATE users SET role = 'ADMIN', clinic_id = NULL WHERE id = ${s.id};`);
    await refusedEverywhere(s.access, /role or clinic changed/);
    const admin = await login(s.email, s.password);
    assert.equal(admin.user.role, 'ADMIN');
    await acceptedEverywhere(admin.access_token);

    const t = await knownEverywhere();
    const other = await createClinic();
    await psql(`UPDATE users SET clinic_id = ${other.id} WHERE id = ${t.id};`);
    await refusedEverywhere(t.access, /role or clinic changed/);
  });

  test('a deleted account: its tokens are refused on both at once', { skip: process.env.JWT_PRIVATE_KEY_FILE ? false : 'JWT_PRIVATE_KEY_FILE is not set' }, async () => {
    // A user written by SQL (nothing refers to it, so it can be deleted), with a token signed here.
    const clinic = await createClinic();
    const email = `gone-${uniq()}@tests.example.org`;
    const id = Number(await psql(`INSERT INTO users (email, password_hash, full_name, role, clinic_id)
      VALUES ('${email}', '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$aGFzaA', 'Gone Soon', 'RECEPTIONIST', ${clinic.id})
      RETURNING id;`));
    const pem = readFileSync(process.env.JWT_PRIVATE_KEY_FILE, 'utf8');
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT' }));
    const body = b64url(JSON.stringify({ sub: id, role: 'RECEPTIONIST', clinic_id: clinic.id, iat: now, exp: now + 600,
      jti: randomBytes(16).toString('hex'), typ: 'access' }));
    const sig = cryptoSign('sha256', Buffer.from(`${header}.${body}`), { key: pem, dsaEncoding: 'ieee-p1363' });
    const token = `${header}.${body}.${sig.toString('base64url')}`;
    assert.equal(decodeJwtPart(body).sub, id);
    await acceptedEverywhere(token);
    await acceptedEverywhere(token);
    await psql(`DELETE FROM users WHERE id = ${id};`);
    await refusedEverywhere(token, /no longer exists/);
  });
});

describe("the listener's connection", () => {
  test('killed: a deactivation while it is down is honoured, and so is every change once it listens again', async () => {
    const s = await knownEverywhere();
    const pid = await until('the listener of the second api-server', () => listenerPid(second.url));
    await psql(`SELECT pg_terminate_backend(${pid});`);
    // the change is announced while nobody listens on the second api-server's behalf
    await psql(`UPDATE users SET active = false WHERE id = ${s.id};`);
    await refusedEverywhere(s.access, /deactivated/, [second.url]);
    // listening again (a new connection): the entry from before the outage was dropped, not kept
    const again = await until('the listener to connect again', async () => {
      const p = await listenerPid(second.url);
      return p && p !== pid ? p : null;
    });
    assert.notEqual(again, pid);
    await refusedEverywhere(s.access, /deactivated/, [API_URL, second.url]);
    // and notifications reach it again
    const t = await knownEverywhere();
    await psql(`UPDATE users SET active = false WHERE id = ${t.id};`);
    await refusedEverywhere(t.access, /deactivated/);
  });

  test('killed while a change is written through the api-server that lost it', async () => {
    const s = await knownEverywhere();
    const pid = await until('the listener of the second api-server', () => listenerPid(second.url));
    await psql(`SELECT pg_terminate_backend(${pid});`);
    expectStatus(await post(`/api/users/${s.id}/deactivate`, {}, await asAdmin(), { base: second.url }), 200);
    await refusedEverywhere(s.access, /deactivated/, [second.url]);
    await until('the listener to connect again', async () => {
      const p = await listenerPid(second.url);
      return p && p !== pid ? p : null;
    });
    await refusedEverywhere(s.access, /deactivated/, [API_URL, second.url]);
  });
});

describe('bounds', () => {
  test('ACCOUNT_CACHE_ENTRIES and TOKEN_CACHE_ENTRIES: past the bound every account is still checked', async () => {
    const tiny = await startApi({ ACCOUNT_CACHE_ENTRIES: '4', TOKEN_CACHE_ENTRIES: '4' });
    const none = await startApi({ ACCOUNT_CACHE_ENTRIES: '0', TOKEN_CACHE_ENTRIES: '0' });
    try {
      const clinic = await createClinic();
      const users = await Promise.all(Array.from({ length: 10 }, () => staffSession('RECEPTIONIST', clinic.id)));
      for (let round = 0; round < 2; round++) {
        for (const u of users) {
          expectStatus(await me(u.access, tiny.url), 200);
          expectStatus(await me(u.access, none.url), 200);
        }
      }
      // the last (held by the tiny cache) and the first (long evicted from it) are deactivated; the
      // others stay good. Read back from the last: each miss evicts another.
      await psql(`UPDATE users SET active = false WHERE id IN (${users[0].id}, ${users[9].id});`);
      for (const [i, u] of [...users.entries()].reverse()) {
        if (i !== 0 && i !== 9) {
          for (const base of [tiny.url, none.url]) expectStatus(await me(u.access, base), 200);
          continue;
        }
        await refusedOn(none.url, u.access, /deactivated/, true); // no cache: at once
        await refusedOn(tiny.url, u.access, /deactivated/, false);
      }
    } finally {
      await Promise.all([tiny.stop(), none.stop()]);
    }
  });

  test('bad values of the guard cache settings stop the server with a message each', () => {
    const r = spawnSync(process.env.API_BIN, ['serve'], {
      env: { ...process.env, ACCOUNT_CACHE_ENTRIES: '-1', ACCOUNT_CACHE_HEARTBEAT_MS: '10', TOKEN_CACHE_ENTRIES: 'many' },
      encoding: 'utf8',
      timeout: 20000,
    });
    assert.equal(r.status, 2, r.stderr);
    for (const name of ['ACCOUNT_CACHE_ENTRIES', 'ACCOUNT_CACHE_HEARTBEAT_MS', 'TOKEN_CACHE_ENTRIES'])
      assert.match(r.stderr, new RegExp(`configuration error: ${name}=`), `no message for ${name}: ${r.stderr}`);
  });
});
