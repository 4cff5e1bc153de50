// session: the signed-in user and the API calls made for them.
//
// Token storage: the access token and the refresh token live in this module's variables only, never in
// localStorage, sessionStorage or a cookie, so a script injected into the page later cannot find them in
// storage and nothing outlives the tab. The refresh token is used shortly before the access token expires
// (and once when a call answers 401), and is rotated by the server on every use; sign-out revokes it. The
// price: a reload or a new tab asks for the password again (the console never needs a reload: every screen is
// live).
let config = null; // GET /config.json: {api_prefix, signaling_url}
let access = null;
let refreshToken = null;
let user = null;
let timer = null;
let refreshing = null;
const listeners = new Set();

// An answer of the API that is not 2xx: the API's own message, code and fields, and a 429's Retry-After (seconds).
export class ApiError extends Error {
  constructor(status, body, retryAfter = null) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code || null;
    this.fields = body?.error?.fields || null;
    this.retryAfter = retryAfter;
  }
}

export async function loadConfig() {
  const r = await fetch('/config.json', { cache: 'no-store' });
  if (!r.ok) throw new Error(`GET /config.json: HTTP ${r.status}`);
  config = await r.json();
  return config;
}
export const getConfig = () => config;
export const currentUser = () => user;
export const accessToken = () => access;

// fn(kind, detail) on 'signed-in', 'refreshed', 'signed-out' (detail: the message when it was not asked for).
export function onSession(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
const emit = (kind, detail) => listeners.forEach((fn) => fn(kind, detail));

async function call(method, path, body, token, headers = {}, keepalive = false) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    h['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const r = await fetch(config.api_prefix + path, { method, headers: h, body: payload, cache: 'no-store', keepalive });
  const text = await r.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!r.ok) throw new ApiError(r.status, data, r.headers.get('retry-after'));
  return data;
}

// A call of a public operation, with no token (the account link page).
export const callPublic = (method, path, body) => call(method, path, body, null);

// An API call as the signed-in user: one refresh and one retry when the access token is refused.
export async function api(method, path, body, headers) {
  try {
    return await call(method, path, body, access, headers);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401 || !refreshToken) throw e;
    await refresh();
    return call(method, path, body, access, headers);
  }
}

function adopt(pair) {
  access = pair.access_token;
  refreshToken = pair.refresh_token;
  user = pair.user;
  clearTimeout(timer);
  // A minute before expiry (a fifth of the lifetime for short ones).
  const lead = Math.min(60, pair.expires_in / 5);
  timer = setTimeout(() => refresh().catch(() => {}), Math.max(1, pair.expires_in - lead) * 1000);
}

function forget() {
  clearTimeout(timer);
  timer = null;
  access = null;
  refreshToken = null;
  user = null;
}

export async function signIn(email, password) {
  adopt(await call('POST', '/auth/login', { email, password }));
  emit('signed-in');
  return user;
}

// Rotates the token pair (one at a time); a refused refresh ends the session with the API's message.
export function refresh() {
  if (!refreshing) {
    const token = refreshToken;
    refreshing = call('POST', '/auth/refresh', { refresh_token: token })
      .then((pair) => {
        adopt(pair);
        emit('refreshed');
      })
      .catch((e) => {
        forget();
        emit('signed-out', e.message);
        throw e;
      })
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

export async function signOut() {
  const token = refreshToken;
  forget();
  emit('signed-out');
  // keepalive: the revocation completes even when the page is closed or left right after.
  if (token) await call('POST', '/auth/logout', { refresh_token: token }, null, {}, true).catch(() => {});
}

// A download through the API as the signed-in user (the same refresh and retry as api()): {blob, filename}, the
// name from the answer's Content-Disposition (`fallback` without one). A refusal is an ApiError with the API's message.
export async function download(path, fallback = 'download') {
  const once = () => fetch(config.api_prefix + path, { headers: { authorization: `Bearer ${access}` }, cache: 'no-store' });
  let r = await once();
  if (r.status === 401 && refreshToken) {
    await refresh();
    r = await once();
  }
  if (!r.ok) {
    let body = null;
    try { body = await r.json(); } catch { body = null; }
    throw new ApiError(r.status, body);
  }
  const name = /filename="([^"]+)"/.exec(r.headers.get('content-disposition') || '');
  return { blob: await r.blob(), filename: name ? name[1] : fallback };
}
