// The server's route table (`api-server routes`) and openapi.yaml describe the same operations with
// the same roles and the same query parameters: a route added to one and not the other, with
// different roles, or taking a query parameter the other does not list (or requires differently),
// fails here.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import YAML from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const repo = process.env.REPO_ROOT || resolve(here, '../..');
const bin = process.env.API_BIN || resolve(repo, 'build/api-server');
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

// "METHOD PATH [?name,name!] ROLE..." per line ("!" marks a required query parameter).
function serverTable() {
  const out = execFileSync(bin, ['routes'], { env: { ...process.env, API_PREFIX: '/api' } }).toString();
  const roles = new Map();
  const query = new Map();
  for (const line of out.trim().split('\n')) {
    const [method, path, ...rest] = line.trim().split(/\s+/);
    const q = rest[0]?.startsWith('?') ? rest.shift().slice(1).split(',') : [];
    roles.set(`${method} ${path}`, rest.sort().join(','));
    query.set(`${method} ${path}`, q.sort().join(','));
  }
  return { roles, query };
}
const serverRoutes = () => serverTable().roles;

function specDoc() {
  return YAML.parse(readFileSync(resolve(repo, 'openapi.yaml'), 'utf8'));
}

function specRoutes() {
  const doc = specDoc();
  const map = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const m of METHODS) {
      if (!item[m]) continue;
      const roles = item[m]['x-roles'];
      assert.ok(Array.isArray(roles), `${m.toUpperCase()} ${path} has no x-roles in openapi.yaml`);
      map.set(`${m.toUpperCase()} ${path}`, [...roles].sort().join(','));
    }
  }
  return map;
}

// The query parameters openapi.yaml documents per operation, as the server prints them.
function specQuery() {
  const doc = specDoc();
  const map = new Map();
  const deref = (p) => (p.$ref ? doc.components.parameters[p.$ref.split('/').pop()] : p);
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const m of METHODS) {
      if (!item[m]) continue;
      const params = [...(item.parameters || []), ...(item[m].parameters || [])].map(deref);
      const names = params.filter((p) => p.in === 'query').map((p) => `${p.name}${p.required ? '!' : ''}`);
      map.set(`${m.toUpperCase()} ${path}`, names.sort().join(','));
    }
  }
  return map;
}

test('every server route is in openapi.yaml with the same roles, and nothing else is', () => {
  const server = serverRoutes();
  const spec = specRoutes();
  assert.ok(server.size > 10, `the server printed only ${server.size} routes`);
  const missingInSpec = [...server.keys()].filter((k) => !spec.has(k));
  const missingInServer = [...spec.keys()].filter((k) => !server.has(k));
  assert.deepEqual(missingInSpec, [], 'routes the server has but openapi.yaml lacks');
  assert.deepEqual(missingInServer, [], 'operations openapi.yaml documents but the server lacks');
  for (const [k, roles] of server) assert.equal(spec.get(k), roles, `roles of ${k}`);
});

test('every route takes exactly the query parameters openapi.yaml documents for it', () => {
  const { query } = serverTable();
  const spec = specQuery();
  assert.ok([...query.values()].filter(Boolean).length >= 20, 'the server printed query parameters for too few routes');
  for (const [k, params] of query) assert.equal(spec.get(k), params, `query parameters of ${k}`);
});

test('every operation that takes a query string documents its 400', () => {
  // Any query string reaches the parameter check, so every operation can answer 400 invalid_query.
  const doc = specDoc();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const m of METHODS) {
      if (item[m]) assert.ok(item[m].responses?.['400'], `${m.toUpperCase()} ${path} does not document 400`);
    }
  }
});
