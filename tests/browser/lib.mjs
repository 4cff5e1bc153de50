// Helpers of the browser tests: Debian's Chromium driven by playwright-core, a static server for the test pages
// (call.html, cross-origin.html), and waiting on the state each page exposes (window.callState, see call.js).
//
// Environment: CHROMIUM (default /usr/bin/chromium), BROWSER_HEADLESS=0 to watch (needs a display),
// BROWSER_LOG=1 to echo the pages' console.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

// Playwright's own --disable-features list (playwright-core 1.65.1, chromiumSwitches.ts) plus ours: Chromium
// honours only the last --disable-features flag, so ours must repeat Playwright's. Update it with the pinned
// playwright-core version.
const PLAYWRIGHT_DISABLED_FEATURES = [
  'AvoidUnnecessaryBeforeUnloadCheckSync', 'DestroyProfileOnBrowserClose', 'HttpsUpgrades',
  'HttpsFirstBalancedModeAutoEnable', 'LensOverlay', 'MediaRouter', 'PaintHolding', 'ThirdPartyStoragePartitioning',
  'AvoidCorsURLLoaderRestartOnRedirect', 'TcpPortRandomizationWin', 'OptimizationHints', 'NetworkTimeServiceQuerying',
  'AimEnabled', 'PreconnectToSearch', 'msForceBrowserSignIn', 'msEdgeUpdateLaunchServicesPreferredVersion',
];
// Host candidates with raw addresses (127.0.0.1), not .local mDNS names.
const OUR_DISABLED_FEATURES = ['WebRtcHideLocalIpsWithMdns'];

export const CHROMIUM_ARGS = [
  ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
  '--autoplay-policy=no-user-gesture-required',
  '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1',
  `--disable-features=${[...PLAYWRIGHT_DISABLED_FEATURES, ...OUR_DISABLED_FEATURES].join(',')}`,
];

// Launches Chromium with a fresh profile; resolves {context, page, close}.
export async function launchBrowser(name = 'browser') {
  const dir = mkdtempSync(join(tmpdir(), `clinic-${name}-`));
  let context;
  try {
    context = await chromium.launchPersistentContext(dir, {
      executablePath: CHROMIUM,
      headless: process.env.BROWSER_HEADLESS !== '0',
      args: CHROMIUM_ARGS,
      timeout: 60000,
    });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const page = context.pages()[0] || (await context.newPage());
  const consoleLines = [];
  page.on('console', (m) => {
    consoleLines.push(m.text());
    if (process.env.BROWSER_LOG === '1') console.log(`  [${name} console] ${m.text()}`);
  });
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  const close = async () => {
    await context.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };
  return { context, page, consoleLines, close, name };
}

const FILES = {
  '/call.html': [resolve(here, 'call.html'), 'text/html; charset=utf-8'],
  '/call.js': [resolve(here, 'call.js'), 'text/javascript; charset=utf-8'],
  '/cross-origin.html': [resolve(here, 'cross-origin.html'), 'text/html; charset=utf-8'],
  '/socket.io.min.js': [resolve(here, '../node_modules/socket.io-client/dist/socket.io.min.js'), 'text/javascript; charset=utf-8'],
};

// Serves the pages of this directory and socket.io-client's browser bundle (nothing from the internet) on
// 127.0.0.1:port (default: a free port); resolves {url, origin, close}. A server on another port is another origin.
export function staticServer({ port = 0 } = {}) {
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const f = FILES[path === '/' ? '/call.html' : path];
    if (!f || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': f[1], 'cache-control': 'no-store' }).end(readFileSync(f[0]));
  });
  return new Promise((resolveP, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${server.address().port}`;
      resolveP({ url, origin: url, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

// Opens call.html in the browser's page and waits for call.js.
export async function openCallPage(browser, baseUrl) {
  await browser.page.goto(`${baseUrl}/call.html`);
  await browser.page.waitForFunction(() => typeof window.startCall === 'function');
}

export const snapshot = (browser) => browser.page.evaluate(() => window.callSnapshot());

// Polls the pages' states until pred(...states) holds; fails after ms with the states and the pages' logs.
export async function until(browsers, pred, ms, what) {
  const deadline = Date.now() + ms;
  let states;
  for (;;) {
    states = await Promise.all(browsers.map((b) => snapshot(b)));
    if (pred(...states)) return states;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out after ${ms} ms waiting for ${what}\n${describeStates(browsers, states)}`);
}

// A readable account of the pages' states (for failure messages).
export function describeStates(browsers, states) {
  return browsers
    .map((b, i) => {
      const s = { ...states[i] };
      const events = (s.events || []).map((e) => e.name);
      delete s.events;
      return `--- ${b.name}: ${JSON.stringify(s)}\n    events: ${JSON.stringify(events)}\n    console (last 40):\n      ${b.consoleLines.slice(-40).join('\n      ')}`;
    })
    .join('\n');
}

export const isConnected = (s) => s.iceConnectionState === 'connected' || s.iceConnectionState === 'completed';

// A connected call: ICE connected/completed, a remote video track, decoded frames.
export const inCall = (s) => isConnected(s) && s.remoteVideoTrack && s.framesDecoded > 0;
