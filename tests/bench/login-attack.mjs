// Sign-in latency of a legitimate user while wrong passwords pour in (README "Sign-in throttling"):
// --attackers concurrent clients (default 100) post wrong passwords as fast as the server answers,
// from one address (--attack-address, default 127.0.0.66), while the user signs in with the right
// password from their own address (--user-address, 127.0.0.55) every 200 ms. Three rounds of --seconds each (default 10):
//   quiet    no attack (the baseline);
//   account  the attackers guess the user's own password;
//   spray    the attackers try one password over ever new e-mails (no account has them).
// Printed per round: the user's sign-ins (ok / refused, by status), their latency p50, p95 and max,
// and the attackers' answers by status. Figures are printed, never asserted. Linux routes all of
// 127/8 to the loopback: the server must listen on 127.0.0.1 (or 0.0.0.0).
// The counters a round leaves (a locked account, a delayed address) outlive it: give each round its
// own --email and --attack-address when running them one at a time.
// Usage: node tests/bench/login-attack.mjs --url http://127.0.0.1:8080 [--email reception1@demo.clinic]
//        [--password demo-password] [--attackers 100] [--seconds 10] [--only quiet,account,spray]
//        [--user-address 127.0.0.55] [--attack-address 127.0.0.66]
import http from 'node:http';
import { randomBytes } from 'node:crypto';

const opts = { url: process.env.API_URL || 'http://127.0.0.1:8080', email: 'reception1@demo.clinic', password: 'demo-password',
  attackers: 100, seconds: 10, only: 'quiet,account,spray', 'user-address': '127.0.0.55', 'attack-address': '127.0.0.66' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opts)) throw new Error(`unknown option ${process.argv[i]}`);
  opts[k] = typeof opts[k] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}
const target = new URL(opts.url);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const USER_ADDRESS = opts['user-address'];
const ATTACK_ADDRESS = opts['attack-address'];

// One POST /api/auth/login from `from`; resolves {status, ms} (status 0 on a network error).
function signIn(from, email, password) {
  const body = JSON.stringify({ email, password });
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    const req = http.request({
      host: target.hostname, port: target.port || 80, path: '/api/auth/login', method: 'POST', localAddress: from, agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    });
    req.on('error', () => resolve({ status: 0, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    req.setTimeout(30000, () => req.destroy());
    req.end(body);
  });
}

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN);
const byStatus = (list) => list.reduce((m, r) => ({ ...m, [r.status]: (m[r.status] || 0) + 1 }), {});

async function round(name, attack) {
  const until = Date.now() + opts.seconds * 1000;
  const attacks = [];
  const workers = attack
    ? Array.from({ length: opts.attackers }, async (_, w) => {
      for (let i = 0; Date.now() < until; i++) attacks.push(await signIn(ATTACK_ADDRESS, attack(w, i), `wrong-${w}-${i}`));
    })
    : [];
  const user = [];
  await sleep(attack ? 500 : 0); // let the attack reach full speed
  while (Date.now() < until) {
    user.push(await signIn(USER_ADDRESS, opts.email, opts.password));
    await sleep(200);
  }
  await Promise.all(workers);
  const ms = user.map((r) => r.ms).sort((a, b) => a - b);
  const f = (x) => `${x.toFixed(0)} ms`;
  console.log(`${name.padEnd(8)} user: ${JSON.stringify(byStatus(user))} p50 ${f(pct(ms, 50))} p95 ${f(pct(ms, 95))} max ${f(ms.at(-1) ?? NaN)}`
    + (attack ? `; attackers (${opts.attackers}): ${attacks.length} answers ${JSON.stringify(byStatus(attacks))}` : ''));
}

const rounds = {
  quiet: null,
  account: () => opts.email,
  spray: () => `spray.${randomBytes(6).toString('hex')}@bench.example.org`,
};
for (const name of opts.only.split(',')) {
  if (!(name in rounds)) throw new Error(`unknown round ${name}`);
  await round(name, rounds[name]);
}
