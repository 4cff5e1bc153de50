// What the console's browser tests share (tests/browser/console*.test.mjs): a page in its own browser context that
// records what it did wrong, the check that it did nothing wrong, axe-core in the page, screenshots into
// CONSOLE_SHOTS, signing in through the sign-in screen, and waiting for a condition (eventually).
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { API_URL } from '../lib/api.mjs';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
export const SHOTS = process.env.CONSOLE_SHOTS || join(process.env.TMPDIR || '/tmp', 'clinic-console-shots');
export const WAIT = 15000;
export const instant = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

// A page in its own browser context with what it did wrong: console errors, page errors, failed requests,
// answers >= 400 (but those `allowed` names), and requests to another origin.
export async function openPage(browser, name, { viewport = { width: 1366, height: 768 }, permissions = [] } = {}) {
  const context = await browser.newContext({ viewport, locale: 'pt-BR', permissions });
  const page = await context.newPage();
  const seen = { name, page, context, problems: [], lines: [], allowed: [], paths: [] };
  const origin = new URL(API_URL).origin;
  const signaling = new URL(process.env.SIGNALING_URL).origin;
  page.on('console', (m) => {
    seen.lines.push(`${m.type()}: ${m.text()}`);
    if (process.env.BROWSER_LOG === '1') console.log(`  [${name} console] ${m.text()}`);
    if (m.type() === 'error' && !seen.allowed.some((a) => a.console && m.text().includes(a.console))) seen.problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => seen.problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // A long-poll cut short by the upgrade to WebSocket or by closing the page is not a failure of the console.
    if (r.url().startsWith(signaling) && /ERR_ABORTED/.test(r.failure()?.errorText || '')) return;
    // Nor is the browser's own fetch of the page's icon, dropped when the page navigates away meanwhile.
    if (new URL(r.url()).pathname === '/favicon.svg' && /ERR_ABORTED/.test(r.failure()?.errorText || '')) return;
    seen.problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on('request', (r) => {
    const u = r.url();
    if (u.startsWith(origin)) seen.paths.push(new URL(u).pathname);
    if (!u.startsWith(origin) && !u.startsWith(signaling) && !u.startsWith('data:') && !u.startsWith('blob:')) {
      seen.problems.push(`request to another origin: ${u}`);
    }
  });
  page.on('response', (r) => {
    if (r.status() < 400) return;
    const path = new URL(r.url()).pathname;
    if (seen.allowed.some((a) => a.status === r.status() && a.path === path)) return;
    seen.problems.push(`answer ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  return seen;
}

// Polls read() until pred(value) holds; fails after ms with the last value.
export async function eventually(read, pred, ms, what) {
  const deadline = Date.now() + ms;
  let v;
  for (;;) {
    v = await read();
    if (pred(v)) return v;
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function assertClean(p, when) {
  assert.deepEqual(p.problems, [], `${p.name}, ${when}: problems\n    console (last 30):\n      ${p.lines.slice(-30).join('\n      ')}`);
}

// axe-core in the page: no violation of impact serious or critical.
export async function axeCheck(p, screen) {
  // Evaluated through the debugging protocol: the pages' Content-Security-Policy allows no inline script.
  await p.page.evaluate(AXE_SOURCE);
  const result = await p.page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const serious = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(serious, [], `${p.name}: axe-core on the ${screen} screen`);
}

export async function shot(p, file) {
  mkdirSync(SHOTS, { recursive: true });
  await p.page.evaluate(() => window.scrollTo(0, 0));
  await p.page.screenshot({ path: join(SHOTS, file) });
}

export async function signIn(p, email, password) {
  await p.page.getByLabel('E-mail').fill(email);
  await p.page.getByLabel('Senha').fill(password);
  await p.page.getByRole('button', { name: 'Entrar', exact: true }).click();
}

// The column (a region named "<phase> (n)") of the desk board.
export const column = (page, label) => page.getByRole('region', { name: new RegExp(`^${label} \\(\\d+\\)$`) });
