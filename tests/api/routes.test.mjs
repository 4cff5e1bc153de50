// The server's route table (`api-server routes`) and openapi.yaml describe the same operations with
// the same roles: a route added to one and not the other, or with different roles, fails here.
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

function serverRoutes() {
  const out = execFileSync(bin, ['routes'], { env: { ...process.env, API_PREFIX: '/api' } }).toString();
  const map = new Map();
  for (const line of out.trim().split('\n')) {
    const [method, path, ...roles] = line.trim().split(/\s+/);
    map.set(`${method} ${path}`, roles.sort().join(','));
  }
  return map;
}

function specRoutes() {
  const doc = YAML.parse(readFileSync(resolve(repo, 'openapi.yaml'), 'utf8'));
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
