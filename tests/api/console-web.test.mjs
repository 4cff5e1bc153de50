// The console's pure modules, in node (no server, no browser): the string table (web/app/i18n.js) has the same keys
// in both languages and every key the screens use, the enumerations of openapi.yaml included; money is formatted
// exactly from integer cents (web/app/format.js), beyond 2^53 too; times in the clinic's zone.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { openapi } from '../lib/api.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const app = resolve(process.env.REPO_ROOT || resolve(here, '../..'), 'web/app');
const { STRINGS, LANGS, setLang, t } = await import(pathToFileURL(join(app, 'i18n.js')));
const { formatMoney, formatTime, formatDate, formatDateTime, localDate, zonedInstant } = await import(pathToFileURL(join(app, 'format.js')));

test('both languages have the same keys, none empty', () => {
  assert.deepEqual(LANGS, ['pt-BR', 'en']);
  const keys = (l) => Object.keys(STRINGS[l]).sort();
  assert.deepEqual(keys('en'), keys('pt-BR'));
  for (const l of LANGS) for (const [k, v] of Object.entries(STRINGS[l])) assert.ok(typeof v === 'string' && v.trim(), `${l} ${k}`);
});

test('every key the screens name exists, and every value of the enumerations they show', () => {
  const used = new Set();
  for (const f of readdirSync(app).filter((n) => n.endsWith('.js'))) {
    for (const m of readFileSync(join(app, f), 'utf8').matchAll(/\bt\('([a-z0-9_]+)'/g)) used.add(m[1]);
  }
  assert.ok(used.size > 50, `only ${used.size} keys found: the pattern no longer matches the code`);
  const schemas = openapi().doc.components.schemas;
  const families = {
    method: schemas.PaymentMethod.enum,
    payment: schemas.PaymentStatus.enum,
    role: schemas.Role.enum,
    phase: ['waiting', 'with_doctor', 'completed'],
    sex: ['F', 'M', 'O'],
    route: schemas.PrescriptionRoute.enum,
    title: ['signin', 'desk', 'doctor', 'patient', 'my_earnings', 'my_patients', 'my_schedule', 'video', 'book', 'messages'],
    visit: schemas.VisitStatus.enum,
    group: openapi().doc.paths['/api/doctors/earnings'].get.parameters.find((p) => p.name === 'group_by').schema.enum,
    weekday: [1, 2, 3, 4, 5, 6, 7],
    lang: LANGS.map((l) => l.replace('-', '_')),
    appt: schemas.AppointmentStatus.enum,
    vs: schemas.VideoSessionStatus.enum,
    type: schemas.ConsultationType.enum,
    quality: ['good', 'fair', 'poor'],
    call: ['joining', 'open', 'waiting', 'connecting', 'in_call', 'reconnecting', 'failed', 'offline', 'other_left', 'completed',
      'admission_denied', 'patient_removed', 'session_over', 'left', 'not_joined'],
  };
  for (const [family, values] of Object.entries(families)) for (const v of values) used.add(`${family}_${v}`);
  const missing = [...used].filter((k) => !(k in STRINGS['pt-BR'])).sort();
  assert.deepEqual(missing, [], 'keys used by web/app but not in the table');
});

test("the doctor's routes of administration are openapi.yaml's", () => {
  const src = readFileSync(join(app, 'doctor.js'), 'utf8');
  const list = /const ROUTES = \[([^\]]*)\]/.exec(src);
  assert.ok(list, 'ROUTES in web/app/doctor.js');
  assert.deepEqual([...list[1].matchAll(/'([a-z]+)'/g)].map((m) => m[1]), openapi().doc.components.schemas.PrescriptionRoute.enum);
});

test('t fills the arguments in the chosen language', () => {
  setLang('en');
  assert.equal(t('waited_min', 7), 'waiting 7 min');
  setLang('pt-BR');
  assert.equal(t('waited_min', 7), 'esperando há 7 min');
  assert.equal(t('lang_pt-BR'), 'Português (Brasil)');
});

test('money from integer cents, exactly, in the currency and language given', () => {
  const nb = (s) => s.replace(/\u00a0/g, ' ');
  assert.equal(nb(formatMoney(18050, 'BRL', 'pt-BR')), 'R$ 180,50');
  assert.equal(nb(formatMoney(5, 'BRL', 'pt-BR')), 'R$ 0,05');
  assert.equal(formatMoney(-5, 'USD', 'en'), '-$0.05');
  assert.equal(formatMoney(1234, 'JPY', 'en'), '¥1,234', 'a currency without minor units');
  assert.equal(formatMoney(5, 'KWD', 'en').replace(/\u00a0/g, ' '), 'KWD 0.005', 'three decimals');
  assert.equal(nb(formatMoney('900719925474099312', 'BRL', 'pt-BR')), 'R$ 9.007.199.254.740.993,12', 'past 2^53: no float');
});

test('times in the clinic zone, dates without a shift', () => {
  assert.equal(formatTime('2026-03-02T12:52:10Z', 'America/Sao_Paulo', 'pt-BR'), '09:52');
  assert.equal(formatTime('2026-03-02T12:52:10Z', 'Asia/Tokyo', 'en'), '21:52');
  assert.equal(formatDate('2026-03-02', 'en'), 'Mar 2, 2026');
  assert.equal(localDate('Pacific/Kiritimati', Date.parse('2026-03-02T12:00:00Z')), '2026-03-03');
});

test("the earnings screen's filters are openapi.yaml's", () => {
  const src = readFileSync(join(app, 'earnings.js'), 'utf8');
  const list = (name) => [...new RegExp(`const ${name} = \\[([^\\]]*)\\]`).exec(src)[1].matchAll(/'([a-z_]+)'/g)].map((m) => m[1]);
  const schemas = openapi().doc.components.schemas;
  assert.deepEqual(list('STATUSES'), schemas.PaymentStatus.enum);
  assert.deepEqual(list('METHODS'), schemas.PaymentMethod.enum);
});

test('date and time in the clinic zone; a wall-clock time of the zone as an instant with its offset then', () => {
  assert.equal(formatDateTime('2026-03-02T12:52:10Z', 'America/Sao_Paulo', 'pt-BR'), '02/03/2026, 09:52');
  assert.equal(zonedInstant('2026-03-02', '09:00', 'America/Sao_Paulo'), '2026-03-02T09:00:00-03:00');
  assert.equal(zonedInstant('2026-07-01', '09:30', 'Europe/Lisbon'), '2026-07-01T09:30:00+01:00', 'summer time');
  assert.equal(zonedInstant('2026-01-01', '09:30', 'Europe/Lisbon'), '2026-01-01T09:30:00+00:00');
  assert.equal(zonedInstant('2026-03-02', '23:30', 'Asia/Kolkata'), '2026-03-02T23:30:00+05:30', 'a half-hour offset');
  assert.equal(zonedInstant('2026-03-02', '00:15', 'Pacific/Kiritimati'), '2026-03-02T00:15:00+14:00');
  for (const [d, tm, z] of [['2026-03-29', '03:30', 'Europe/Lisbon'], ['2026-10-25', '12:00', 'America/New_York']]) {
    assert.equal(formatTime(zonedInstant(d, tm, z), z, 'en'), tm, `${z} ${d} ${tm} reads back`);
  }
});

test("the admin's screens: each closing status, line kind, trail step, tab, audit action, kind of record and PIX key type has its strings; the audit's actions, the closing statuses and the PIX key types are openapi.yaml's", () => {
  const schemas = openapi().doc.components.schemas;
  const entities = /const ENTITIES = \[([^\]]*)\]/.exec(readFileSync(join(app, 'admin-audit.js'), 'utf8'));
  assert.ok(entities, 'ENTITIES in web/app/admin-audit.js');
  // The kinds of record the server writes (the entity of every audit row written by api-server/ and sql/).
  const written = new Set();
  for (const dir of ['api-server', 'sql']) {
    for (const f of readdirSync(join(app, '../..', dir)).filter((n) => /\.(c|sql)$/.test(n))) {
      const src = readFileSync(join(app, '../..', dir, f), 'utf8');
      for (const m of src.matchAll(/\{\d+, *"[a-z_]+", *"([a-z_]+)"/g)) written.add(m[1]); // a write_desc {status, action, entity}
      for (const m of src.matchAll(/audit_write(?:_as)?\([^;]*?"[a-z_]+", *"([a-z_]+)"/g)) written.add(m[1]);
      for (const m of src.matchAll(/INSERT INTO audit_log[^;]*?'[a-z_]+', *'([a-z_]+)'/g)) written.add(m[1]);
    }
  }
  const listedEntities = [...entities[1].matchAll(/'([a-z_]+)'/g)].map((m) => m[1]);
  assert.deepEqual([...written].filter((e) => !listedEntities.includes(e)), [], 'kinds of record the server writes but ENTITIES lacks');
  const families = {
    adm_closing: schemas.ClosingStatus.enum,
    adm_line: schemas.ClosingLine.properties.kind.enum,
    adm_step: schemas.ClosingTrailEntry.properties.action.enum,
    title: ['clinics', 'staff', 'fees', 'closings', 'audit'],
    audit_action: schemas.AuditAction.enum,
    audit_entity: listedEntities,
    pix: schemas.DoctorUpdate.properties.pix_key_type.enum.filter((v) => v !== null),
  };
  for (const lang of LANGS) {
    const missing = Object.entries(families).flatMap(([family, values]) => values.map((v) => `${family}_${v}`)).filter((k) => !(k in STRINGS[lang]));
    assert.deepEqual(missing, [], `keys the admin screens build but not in the ${lang} table`);
  }
  // screens.js imports the browser's socket.io bundle: read, not imported.
  const admin = /ADMIN: \[([^\]]*)\]/.exec(readFileSync(join(app, 'screens.js'), 'utf8'));
  assert.ok(admin, 'the ADMIN entry of web/app/screens.js');
  assert.deepEqual([...admin[1].matchAll(/path: '([a-z]+)'/g)].map((m) => m[1]), families.title, "the admin's tabs");
  const listed = (file, name) => {
    const list = new RegExp(`const ${name} = \\[([^\\]]*)\\]`).exec(readFileSync(join(app, file), 'utf8'));
    assert.ok(list, `${name} in web/app/${file}`);
    return [...list[1].matchAll(/'([a-z_]+)'/g)].map((m) => m[1]);
  };
  assert.deepEqual(listed('admin-audit.js', 'ACTIONS'), schemas.AuditAction.enum);
  assert.deepEqual(listed('admin-closings.js', 'STATUSES'), schemas.ClosingStatus.enum);
  assert.deepEqual(listed('admin-staff.js', 'PIX_TYPES'), schemas.DoctorUpdate.properties.pix_key_type.enum.filter((v) => v !== null));
});
