// docker-compose.yml and the coturn configuration it mounts (deploy/turnserver.conf), checked without a
// docker engine: `docker-compose config` refuses to render the file without a TURN_SECRET and a
// PostgreSQL password (and with empty ones), renders it with both, hands the password to the servers
// outside the database URL, and coturn relays to no private, loopback, link-local, CGNAT, multicast or
// reserved peer address, nor over TCP.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

const REPO = process.env.REPO_ROOT || path.resolve(import.meta.dirname, '../..');
const COMPOSE = path.join(REPO, 'docker-compose.yml');
const TURN_CONF = path.join(REPO, 'deploy/turnserver.conf');
const haveCompose = spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0;

// An empty env file, so that an .env beside docker-compose.yml cannot supply what a test leaves out.
const dir = mkdtempSync(path.join(tmpdir(), 'compose-test-'));
const emptyEnv = path.join(dir, 'empty.env');
writeFileSync(emptyEnv, '');
after(() => rmSync(dir, { recursive: true, force: true }));

// Runs `docker-compose config` with only PATH/HOME and vars in the environment; resolves to {status, out, err}.
function composeConfig(vars) {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME || dir, ...vars };
  return new Promise((resolve) => {
    execFile('docker-compose', ['--env-file', emptyEnv, '-f', COMPOSE, 'config'], { env, timeout: 60000 }, (e, out, err) =>
      resolve({ status: e ? (e.code ?? 1) : 0, out, err }));
  });
}

const SECRETS = { TURN_SECRET: 'compose-test-turn-secret-6f1d', POSTGRES_PASSWORD: 'compose-test-db-password-94ab' };

describe('docker-compose', { skip: haveCompose ? false : 'docker-compose is not installed' }, () => {
  test('compose config refuses to start without TURN_SECRET or POSTGRES_PASSWORD, or with empty ones', async () => {
    const cases = [
      ['TURN_SECRET', { POSTGRES_PASSWORD: SECRETS.POSTGRES_PASSWORD }],
      ['TURN_SECRET', { ...SECRETS, TURN_SECRET: '' }],
      ['POSTGRES_PASSWORD', { TURN_SECRET: SECRETS.TURN_SECRET }],
      ['POSTGRES_PASSWORD', { ...SECRETS, POSTGRES_PASSWORD: '' }],
    ];
    const results = await Promise.all(cases.map(([, vars]) => composeConfig(vars)));
    cases.forEach(([name, vars], i) => {
      const r = results[i];
      assert.notEqual(r.status, 0, `config passed with ${JSON.stringify(vars)}`);
      assert.match(r.err, new RegExp(`set ${name}\\b`), `the message names ${name}: ${r.err}`);
    });
  });

  test('compose config with both: the secret reaches the API and coturn, the password the database and both servers, nothing else', async () => {
    const r = await composeConfig(SECRETS);
    assert.equal(r.status, 0, r.err);
    const out = r.out;
    // docker-compose 1.x prints YAML; the values checked here are plain scalars on their own line.
    assert.ok(out.includes(`TURN_SECRET: ${SECRETS.TURN_SECRET}`), 'the api service gets TURN_SECRET');
    assert.ok(out.includes(`--static-auth-secret=${SECRETS.TURN_SECRET}`), 'coturn gets the same secret');
    assert.ok(out.includes(`POSTGRES_PASSWORD: ${SECRETS.POSTGRES_PASSWORD}`), 'postgres gets the password');
    assert.equal(out.split(`PGPASSWORD: ${SECRETS.POSTGRES_PASSWORD}`).length - 1, 3, 'api, deliver and signaling get PGPASSWORD');
    assert.match(out, /api-server deliver/, 'the deliver service runs the senders alone');
    for (const url of out.match(/DATABASE_URL: .*/g) || []) {
      assert.ok(!/\/\/[^/@]*:[^/@]*@/.test(url), `a password in ${url}`);
    }
    assert.ok(!/change-this|clinic:clinic@/.test(out), 'a built-in default secret or password is left');
    assert.match(out, /deploy\/turnserver\.conf:\/etc\/coturn\/turnserver\.conf:ro/, 'coturn mounts deploy/turnserver.conf');
    assert.match(out, /- -c\n\s+- \/etc\/coturn\/turnserver\.conf\n/, 'coturn reads the mounted file');
  });
});

// --- the coturn configuration -------------------------------------------------------------------------

// IPv4 or IPv6 text to a BigInt (IPv6 with :: and an optional dotted IPv4 tail).
function ipValue(ip) {
  if (isIP(ip) === 4) return ip.split('.').reduce((v, o) => (v << 8n) | BigInt(o), 0n);
  assert.equal(isIP(ip), 6, `not an IP address: ${ip}`);
  let text = ip;
  const v4 = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const n = ipValue(v4[1]);
    text = text.slice(0, -v4[1].length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, null];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === null ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  assert.equal(groups.length, 8, `bad IPv6 address ${ip}`);
  return groups.reduce((v, g) => (v << 16n) | BigInt(parseInt(g, 16)), 0n);
}

// A CIDR to [family, first, last].
function cidr(text) {
  const [ip, bits] = text.split('/');
  const fam = isIP(ip);
  const width = fam === 4 ? 32n : 128n;
  const host = width - BigInt(bits);
  const first = (ipValue(ip) >> host) << host;
  return [fam, first, first + (1n << host) - 1n];
}

const conf = readFileSync(TURN_CONF, 'utf8');
const options = conf
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const values = (name) => options.filter((l) => l.split('=')[0] === name).map((l) => l.slice(name.length + 1));
// denied-peer-ip entries as [family, first, last]
const denied = values('denied-peer-ip').map((v) => {
  const [a, b = a] = v.split('-');
  assert.equal(isIP(a), isIP(b), `one family in ${v}`);
  return [isIP(a), ipValue(a), ipValue(b)];
});
const isDenied = (fam, first, last) => denied.some(([f, lo, hi]) => f === fam && lo <= first && last <= hi);

describe('coturn configuration (deploy/turnserver.conf)', () => {
  test('coturn denies private, loopback, link-local, CGNAT, multicast and reserved peers, IPv4 and IPv6', () => {
    for (const range of [
      '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16',
      '224.0.0.0/4', '240.0.0.0/4', '::1/128', '::ffff:0.0.0.0/96', '64:ff9b::/96', 'fc00::/7', 'fe80::/10', 'ff00::/8',
    ]) {
      assert.ok(isDenied(...cidr(range)), `${range} is not denied`);
    }
    // Public addresses stay reachable: the other participant's address is one.
    for (const ip of ['8.8.8.8', '1.1.1.1', '100.128.0.1', '172.32.0.1', '2a00:1450::1']) {
      assert.ok(!isDenied(isIP(ip), ipValue(ip), ipValue(ip)), `${ip} is denied`);
    }
    // coturn 4.6 matches IPv4 peers against a range starting at ::, so such a range would deny everything.
    assert.ok(!values('denied-peer-ip').some((v) => v.startsWith('::-')), 'a range from :: denies every IPv4 peer');
  });

  test('coturn: no multicast peers, no TCP relay, no loopback or allowed peers, REST credentials with the secret from compose', () => {
    for (const flag of ['no-multicast-peers', 'no-tcp-relay', 'use-auth-secret', 'fingerprint', 'no-cli']) {
      assert.ok(options.includes(flag), `${flag} is not set`);
    }
    for (const opt of ['allow-loopback-peers', 'allowed-peer-ip', 'static-auth-secret', 'lt-cred-mech', 'user']) {
      assert.deepEqual(values(opt).concat(options.filter((l) => l === opt)), [], `${opt} must not be set`);
    }
  });
});
