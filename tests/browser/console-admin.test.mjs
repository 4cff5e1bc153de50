// The admin's screens of the clinic console, driven as the admin: a clinic created, edited, another removed (and
// one with people refused), and a receptionist created through the screens (the new receptionist then signs in; deactivated, reactivated, renamed), a doctor's profile edited, a fee
// rule created and edited, a past month's closings opened for the clinic's doctors, one closed and its payment
// confirmed with a reference, the doctor's receipt arriving live, the other doctor's dispute arriving live and
// corrected with an adjustment before closing it again, the payout workbook downloaded (a real .xlsx: a zip whose
// workbook names the sheets Closings and Lines), and each of those actions found in the audit screen, whose filters
// and cursor paging are used. Every screen: no console error, no failed request, no unexpected answer >= 400,
// nothing from another origin, no serious or critical axe-core violation, a screenshot into CONSOLE_SHOTS.
//
// Run by scripts/browser-test.sh (see console.test.mjs). The clinic with a doctor, a service and a consultation
// billed and settled in the previous month (settled in the database, as tests/api/closings.test.mjs does: the API
// settles payments now only) is made first through tests/lib/api.mjs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { inflateRawSync } from 'node:zlib';

import { chromium } from 'playwright-core';

import {
  API_URL, asAdmin, completeVisit, del, createClinic, createPatient, createService, expectStatus, get, listAll, localDate, login, moveVisit,
  patch, post, psql, put, staffSession, uniq, walkIn,
} from '../lib/api.mjs';
import { STRINGS } from '../../web/app/i18n.js';
import { WAIT, assertClean, axeCheck, openPage, shot, signIn } from './console-lib.mjs';
import { CHROMIUM, CHROMIUM_ARGS } from './lib.mjs';

const TZ = 'America/Sao_Paulo';
const PIX_KEY = '0f8c2d6e-3b1a-4c5d-9e7f-112233445566';

function previousMonth(date) {
  const [y, m] = date.split('-').map(Number);
  return new Date(Date.UTC(y, m - 2, 1)).toISOString().slice(0, 7);
}

// The names of the files in a zip (from its central directory) and the text of one of them.
function unzip(buf, wanted) {
  let eocd = buf.length - 22;
  while (eocd >= 0 && buf.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  assert.ok(eocd >= 0, 'a zip ends with its central directory record');
  const entries = buf.readUInt16LE(eocd + 10);
  let at = buf.readUInt32LE(eocd + 16);
  const names = [];
  let text = null;
  for (let i = 0; i < entries; i++) {
    assert.equal(buf.readUInt32LE(at), 0x02014b50, 'central directory entry');
    const method = buf.readUInt16LE(at + 10);
    const size = buf.readUInt32LE(at + 20);
    const nameLen = buf.readUInt16LE(at + 28);
    const extraLen = buf.readUInt16LE(at + 30);
    const commentLen = buf.readUInt16LE(at + 32);
    const local = buf.readUInt32LE(at + 42);
    const name = buf.toString('utf8', at + 46, at + 46 + nameLen);
    names.push(name);
    if (name === wanted) {
      const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
      const data = buf.subarray(start, start + size);
      text = (method === 8 ? inflateRawSync(data) : data).toString('utf8');
    }
    at += 46 + nameLen + extraLen + commentLen;
  }
  return { names, text };
}

describe("the admin's screens", () => {
  let browser;
  let w;
  let p; // the admin's page, across the tests (each test leaves it on its screen)

  before(async () => {
    assert.ok(process.env.DATABASE_URL, 'DATABASE_URL: the consultation is settled in an earlier month in the database');
    const admin = await asAdmin();
    const clinic = await createClinic({ name: `Clínica Jardim Paulista ${uniq()}`, timezone: TZ });
    const [rec, doc, doc2, service] = await Promise.all([
      staffSession('RECEPTIONIST', clinic.id, { full_name: 'Sara Lima' }),
      staffSession('DOCTOR', clinic.id, { full_name: 'Dr. Caio Menezes' }),
      staffSession('DOCTOR', clinic.id, { full_name: 'Dra. Lúcia Ramos' }),
      createService(clinic.id, { name: 'Consulta de rotina', duration_minutes: 20, price_cents: 20000 }),
    ]);
    expectStatus(await patch('/api/doctors/me', { pix_key_type: 'evp', pix_key: PIX_KEY, current_password: doc.password }, doc.access), 200);
    // The clinic-wide rule, set many times (each an audit entry), so its audit entries span more than one page.
    let rule;
    for (let i = 0; i < 55; i++) {
      rule = expectStatus(await put('/api/fee-rules', { clinic_id: clinic.id, doctor_share_bps: 4000 + i * 10 }, admin), [200, 201]).body;
    }
    rule = expectStatus(await put('/api/fee-rules', { clinic_id: clinic.id, doctor_share_bps: 5000 }, admin), 200).body;
    // A consultation billed at that rule (R$ 200,00, half to the doctor), settled in the previous month.
    const patient = await createPatient(rec.access, { full_name: 'Beatriz Campos' });
    const visit = await walkIn(rec.access, { patient_id: patient.id, doctor_id: doc.user.doctor_id, service_id: service.id });
    await moveVisit(visit.id, 'with_doctor', rec.access);
    await completeVisit(visit.id, doc.access);
    const [payment] = await listAll(`/api/payments?visit_id=${visit.id}`, admin);
    const month = previousMonth(localDate(TZ));
    const out = await psql(`UPDATE payments SET status = 'paid', method = 'pix', paid_at = (timestamp '${month}-15 12:00:00' AT TIME ZONE '${TZ}')
                            WHERE id = ${Number(payment.id)} AND status = 'pending' RETURNING id;`);
    assert.equal(out, String(payment.id), 'test setup: the payment is settled last month');
    const me = expectStatus(await get('/api/auth/me', admin), 200).body;
    w = { clinic, rec, doc, doc2, service, rule, payment, month, adminId: me.id, names: {} };
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: process.env.BROWSER_HEADLESS !== '0', timeout: 60000 });
    p = await openPage(browser, 'admin');
  });

  after(async () => {
    await p?.context.close();
    await browser?.close();
  });

  // Opens the edit form of a clinic of the list, asking for more pages until it is there.
  async function editClinic(name) {
    const rows = p.page.locator('.paged tbody tr');
    while (await p.page.getByRole('button', { name: `Editar: ${name}`, exact: true }).count() === 0) {
      const had = await rows.count();
      await p.page.getByRole('button', { name: 'Carregar mais' }).click();
      await p.page.waitForFunction((n) => document.querySelectorAll('.paged tbody tr').length > n, had, { timeout: WAIT });
    }
    await p.page.getByRole('button', { name: `Editar: ${name}`, exact: true }).click();
    return p.page.getByRole('form', { name: `Editar ${name}`, exact: true });
  }

  const tab = (name) => p.page.getByRole('navigation', { name: 'Telas' }).getByRole('link', { name, exact: true });

  test('clinics: the admin lands here, creates a clinic and edits it; removing one asks again, and the server refuses a clinic with people', async () => {
    await p.page.goto(`${API_URL}/`);
    await signIn(p, 'admin@demo.clinic', 'demo-password');
    await p.page.getByRole('heading', { name: 'Clínicas', exact: true }).waitFor({ timeout: WAIT });
    assert.equal(await tab('Clínicas').getAttribute('aria-current'), 'page');

    const name = `Clínica Moema ${uniq()}`;
    const form = p.page.getByRole('form', { name: 'Nova clínica' });
    await form.getByLabel('Nome').fill(name);
    await form.getByLabel('Fuso horário').fill('America/Sao_Paulo');
    await form.getByLabel('Moeda').fill('BRL');
    await form.getByRole('button', { name: 'Criar clínica' }).click();
    await p.page.getByRole('status').filter({ hasText: `Clínica ${name} criada.` }).waitFor({ timeout: WAIT });
    const made = (await listAll('/api/clinics', await asAdmin())).find((c) => c.name === name);
    assert.ok(made, 'the clinic exists');
    assert.deepEqual([made.timezone, made.currency], ['America/Sao_Paulo', 'BRL']);
    w.newClinic = made;

    // A zone the server does not know: its refusal, as it words it.
    const bad = await post('/api/clinics', { name: 'x', timezone: 'Mars/Olympus' }, await asAdmin());
    assert.equal(bad.status, 422, 'test setup: an unknown zone is refused');
    p.allowed.push({ status: 422, path: '/api/clinics', console: 'status of 422' });
    await form.getByLabel('Nome').fill('Clínica em Marte');
    await form.getByLabel('Fuso horário').fill('Mars/Olympus');
    await form.getByRole('button', { name: 'Criar clínica' }).click();
    await p.page.getByRole('alert').filter({ hasText: bad.body.error.message }).waitFor({ timeout: WAIT });
    p.allowed.pop();

    // Edit the new clinic (the list is paged: "more" until it shows).
    const edit = await editClinic(name);
    await edit.getByLabel('Nome').fill(`${name} II`);
    await edit.getByRole('button', { name: 'Salvar' }).click();
    await p.page.getByRole('status').filter({ hasText: `Clínica ${name} II salva.` }).waitFor({ timeout: WAIT });
    w.newClinic = expectStatus(await get(`/api/clinics/${made.id}`, await asAdmin()), 200).body;
    assert.equal(w.newClinic.name, `${name} II`);

    // Removing asks again; a clinic with people is refused (the server's message), an empty one goes.
    const busy = await del(`/api/clinics/${w.clinic.id}`, await asAdmin());
    assert.equal(busy.status, 409, 'test setup: a clinic with users stays');
    p.allowed.push({ status: 409, path: `/api/clinics/${w.clinic.id}`, console: 'status of 409' });
    const busyForm = await editClinic(w.clinic.name);
    await busyForm.getByRole('button', { name: 'Remover clínica' }).click();
    await busyForm.getByRole('button', { name: `Confirmar: remover ${w.clinic.name}` }).click();
    await p.page.getByRole('alert').filter({ hasText: busy.body.error.message }).waitFor({ timeout: WAIT });
    p.allowed.pop();
    await busyForm.getByRole('button', { name: 'Cancelar' }).click();
    const temp = `Clínica Provisória ${uniq()}`;
    await form.getByLabel('Nome').fill(temp);
    await form.getByLabel('Fuso horário').fill('America/Manaus');
    await form.getByRole('button', { name: 'Criar clínica' }).click();
    await p.page.getByRole('status').filter({ hasText: `Clínica ${temp} criada.` }).waitFor({ timeout: WAIT });
    const tempId = (await listAll('/api/clinics', await asAdmin())).find((c) => c.name === temp).id;
    const tempForm = await editClinic(temp);
    await tempForm.getByRole('button', { name: 'Remover clínica' }).click();
    await tempForm.getByRole('button', { name: `Confirmar: remover ${temp}` }).click();
    await p.page.getByRole('status').filter({ hasText: `Clínica ${temp} removida.` }).waitFor({ timeout: WAIT });
    assert.equal((await get(`/api/clinics/${tempId}`, await asAdmin())).status, 404, 'removed');
    await axeCheck(p, 'clinics');
    await shot(p, 'admin-clinics.png');
    assertClean(p, 'on the clinics');
  });

  test('staff: a receptionist created through the screen signs in; deactivated, reactivated, renamed; a doctor profile edited', async () => {
    await tab('Equipe').click();
    await p.page.getByRole('heading', { name: 'Equipe', exact: true }).waitFor({ timeout: WAIT });
    const form = p.page.getByRole('form', { name: 'Nova conta da equipe' });
    await form.getByLabel('Perfil').selectOption('RECEPTIONIST');
    await form.getByLabel('Clínica').selectOption(String(w.newClinic.id));
    assert.equal(await form.getByLabel('Especialidade').isVisible(), false, 'the doctor fields only for a doctor');
    const email = `recepcao.${uniq()}@moema.example`;
    const password = `senha-${uniq()}`;
    await form.getByLabel('Nome completo').fill('Vera Albuquerque');
    await form.getByLabel('E-mail').fill(email);
    await form.getByLabel('Senha inicial').fill(password);
    await form.getByRole('button', { name: 'Criar conta' }).click();
    await p.page.getByRole('status').filter({ hasText: `Conta de Vera Albuquerque (Recepção) criada: ${email}.` }).waitFor({ timeout: WAIT });
    const [user] = (await listAll(`/api/users?q=${encodeURIComponent(email)}`, await asAdmin()));
    assert.deepEqual([user.role, user.clinic_id, user.active], ['RECEPTIONIST', w.newClinic.id, true]);
    w.newUser = user;

    // The new receptionist signs in to the desk of the new clinic.
    const desk = await openPage(browser, 'new receptionist');
    try {
      await desk.page.goto(`${API_URL}/`);
      await signIn(desk, email, password);
      await desk.page.getByRole('heading', { name: 'Fila de hoje' }).waitFor({ timeout: WAIT });
      await desk.page.getByText(w.newClinic.name).waitFor({ timeout: WAIT });
      assertClean(desk, 'on the new receptionist\'s desk');
    } finally {
      await desk.context.close();
    }

    // Listed by clinic and role; deactivated (its sign-in refused), then reactivated.
    const filters = p.page.getByRole('form', { name: 'Filtros' });
    await filters.getByLabel('Clínica').selectOption(String(w.newClinic.id));
    await filters.getByLabel('Perfil').selectOption('RECEPTIONIST');
    await filters.getByRole('button', { name: 'Buscar' }).click();
    const table = p.page.getByRole('table', { name: 'Contas' });
    await table.getByRole('cell', { name: email, exact: true }).waitFor({ timeout: WAIT });
    // the unfiltered list (which has the new account too) may still be shown until the filtered answer lands
    for (const deadline = Date.now() + WAIT; await table.getByRole('row').count() !== 2 && Date.now() < deadline;) {
      await p.page.waitForTimeout(100);
    }
    assert.equal(await table.getByRole('row').count(), 2, 'the header and the one receptionist of the new clinic');
    await p.page.getByRole('button', { name: `Desativar: Vera Albuquerque (${email})` }).click();
    await p.page.getByRole('status').filter({ hasText: 'Conta de Vera Albuquerque desativada' }).waitFor({ timeout: WAIT });
    await table.getByRole('cell', { name: 'Desativada', exact: true }).waitFor({ timeout: WAIT });
    assert.equal((await post('/api/auth/login', { email, password })).status, 403, 'a deactivated account cannot sign in');
    await p.page.getByRole('button', { name: `Reativar: Vera Albuquerque (${email})` }).click();
    await table.getByRole('cell', { name: 'Ativa', exact: true }).waitFor({ timeout: WAIT });
    await login(email, password);

    // The account edited: a new name.
    await p.page.getByRole('button', { name: `Editar: Vera Albuquerque (${email})` }).click();
    const edit = p.page.getByRole('form', { name: 'Editar a conta de Vera Albuquerque' });
    await edit.getByLabel('Nome completo').fill('Vera Albuquerque Souza');
    await edit.getByRole('button', { name: 'Salvar' }).click();
    await p.page.getByRole('status').filter({ hasText: 'Conta de Vera Albuquerque Souza salva.' }).waitFor({ timeout: WAIT });
    assert.equal(expectStatus(await get(`/api/users/${user.id}`, await asAdmin()), 200).body.full_name, 'Vera Albuquerque Souza');

    // A doctor's profile edited from their account.
    await filters.getByLabel('Clínica').selectOption(String(w.clinic.id));
    await filters.getByLabel('Perfil').selectOption('DOCTOR');
    await filters.getByRole('button', { name: 'Buscar' }).click();
    await p.page.getByRole('button', { name: `Editar: Dr. Caio Menezes (${w.doc.email})` }).click();
    const prof = p.page.getByRole('form', { name: 'Editar a conta de Dr. Caio Menezes' });
    await prof.getByText('Chave PIX atual: Chave aleatória: ', { exact: false }).waitFor({ timeout: WAIT });
    await prof.getByLabel('Especialidade').fill('Clínica médica');
    await prof.getByLabel('Registro profissional (CRM)').fill('CRM-SP 123456');
    await prof.getByRole('button', { name: 'Salvar' }).click();
    await p.page.getByRole('status').filter({ hasText: 'Conta de Dr. Caio Menezes salva.' }).waitFor({ timeout: WAIT });
    const profile = expectStatus(await get(`/api/doctors/${w.doc.user.doctor_id}`, await asAdmin()), 200).body;
    assert.deepEqual([profile.specialty, profile.license_number, profile.pix_key_type], ['Clínica médica', 'CRM-SP 123456', 'evp']);

    // A doctor gets the profile fields.
    await form.getByLabel('Perfil').selectOption('DOCTOR');
    assert.equal(await form.getByLabel('Especialidade').isVisible(), true);
    await axeCheck(p, 'staff');
    await shot(p, 'admin-staff.png');
    assertClean(p, 'on the staff');
  });

  test('fee rules: a rule for a doctor created, then edited; a rule for a service removed', async () => {
    await tab('Regras de repasse').click();
    await p.page.getByRole('heading', { name: 'Regras de repasse', exact: true }).waitFor({ timeout: WAIT });
    await p.page.getByLabel('Clínica', { exact: true }).selectOption(String(w.clinic.id));
    const table = p.page.getByRole('table', { name: 'Regras da clínica' });
    await table.getByRole('cell', { name: '50%' }).waitFor({ timeout: WAIT });
    const form = p.page.getByRole('form', { name: 'Definir uma regra' });
    await form.getByLabel('Serviço', { exact: true }).selectOption(String(w.service.id));
    await form.getByLabel('Médico', { exact: true }).selectOption(String(w.doc.user.doctor_id));
    await form.getByLabel('Parte do médico (%)').fill('40');
    await form.getByLabel('Preço (opcional) (BRL)').fill('250,00');
    await form.getByRole('button', { name: 'Salvar regra' }).click();
    const scope = `Consulta de rotina · ${w.doc.user.full_name}`;
    await p.page.getByRole('status').filter({ hasText: `Regra ${scope} salva: 40% para o médico.` }).waitFor({ timeout: WAIT });
    await table.getByRole('cell', { name: 'R$ 250,00' }).waitFor({ timeout: WAIT });

    // Edit: the form takes the rule's scope and numbers; the new share replaces the old.
    await p.page.getByRole('button', { name: `Editar: ${scope}` }).click();
    assert.equal(await form.getByLabel('Parte do médico (%)').inputValue(), '40.00');
    assert.equal(await form.getByLabel('Preço (opcional) (BRL)').inputValue(), '250.00');
    await form.getByLabel('Parte do médico (%)').fill('45,5');
    await form.getByRole('button', { name: 'Salvar regra' }).click();
    await p.page.getByRole('status').filter({ hasText: `Regra ${scope} salva: 45,5% para o médico.` }).waitFor({ timeout: WAIT });
    const rules = await listAll(`/api/fee-rules?clinic_id=${w.clinic.id}&doctor_id=${w.doc.user.doctor_id}`, await asAdmin());
    assert.deepEqual(rules.map((r) => [r.service_id, r.doctor_share_bps, r.price_cents]), [[w.service.id, 4550, 25000]]);
    w.doctorRule = rules[0];
    await table.getByRole('cell', { name: '45,5%' }).waitFor({ timeout: WAIT });

    // Not a percentage: the browser says so before anything is sent.
    await form.getByLabel('Parte do médico (%)').fill('quarenta');
    await form.getByRole('button', { name: 'Salvar regra' }).click();
    assert.equal(await form.getByLabel('Parte do médico (%)').evaluate((el) => el.validationMessage), 'Informe uma porcentagem, como 40 ou 33,33.');

    // A rule for the service only, then removed: the rules left are the clinic's and the doctor's.
    await form.getByLabel('Médico', { exact: true }).selectOption('');
    await form.getByLabel('Parte do médico (%)').fill('30');
    await form.getByLabel('Preço (opcional) (BRL)').fill('');
    await form.getByRole('button', { name: 'Salvar regra' }).click();
    const serviceOnly = 'Consulta de rotina · Qualquer médico';
    await p.page.getByRole('status').filter({ hasText: `Regra ${serviceOnly} salva: 30% para o médico.` }).waitFor({ timeout: WAIT });
    await p.page.getByRole('button', { name: `Remover: ${serviceOnly}` }).click();
    await p.page.getByRole('status').filter({ hasText: `Regra ${serviceOnly} removida.` }).waitFor({ timeout: WAIT });
    await p.page.getByRole('button', { name: `Remover: ${serviceOnly}` }).waitFor({ state: 'detached', timeout: WAIT });
    const left = await listAll(`/api/fee-rules?clinic_id=${w.clinic.id}`, await asAdmin());
    assert.deepEqual(left.map((r) => r.id).sort((a, b) => a - b), [w.rule.id, w.doctorRule.id].sort((a, b) => a - b));
    await axeCheck(p, 'fee rules');
    await shot(p, 'admin-fees.png');
    assertClean(p, 'on the fee rules');
  });

  test('closings: the month opened, closed, paid with a reference; the receipt arrives live; the workbook downloads; a dispute corrected', async () => {
    await tab('Fechamentos').click();
    await p.page.getByRole('heading', { name: 'Fechamentos', exact: true }).waitFor({ timeout: WAIT });
    await p.page.getByRole('status').filter({ hasText: 'Ao vivo' }).waitFor({ timeout: WAIT });
    await p.page.getByLabel('Clínica', { exact: true }).selectOption(String(w.clinic.id));
    assert.equal(await p.page.getByLabel('Mês').inputValue(), w.month, 'the month before this one in the clinic zone');
    const table = p.page.getByRole('table', { name: 'Fechamentos do mês' });
    await p.page.getByText('Nenhum fechamento neste mês.').waitFor({ timeout: WAIT });

    await p.page.getByRole('button', { name: 'Abrir os fechamentos do mês' }).click();
    await p.page.getByRole('status').filter({ hasText: '2 fechamento(s) aberto(s); 0 médico(s) já tinham o seu.' }).waitFor({ timeout: WAIT });
    const row = table.getByRole('row').filter({ hasText: w.doc.user.full_name });
    await row.getByText('Rascunho').waitFor({ timeout: WAIT });
    assert.match(await row.innerText(), /R\$\s200,00/);
    assert.match(await row.innerText(), /R\$\s100,00/);
    const closings = await listAll(`/api/closings?clinic_id=${w.clinic.id}&month=${w.month}`, await asAdmin());
    const closing = closings.find((c) => c.doctor_id === w.doc.user.doctor_id);
    w.closing = closing;
    w.closing2 = closings.find((c) => c.doctor_id === w.doc2.user.doctor_id);

    // Its lines and trail.
    await p.page.getByRole('button', { name: `Detalhes: ${w.doc.user.full_name}` }).click();
    const lines = p.page.getByRole('table', { name: 'Lançamentos' });
    await lines.getByRole('cell', { name: 'Consulta de rotina: Beatriz Campos' }).waitFor({ timeout: WAIT });

    await p.page.getByRole('button', { name: `Fechar: ${w.doc.user.full_name}` }).click();
    await row.getByText('Fechado', { exact: true }).waitFor({ timeout: WAIT });
    assert.match(await row.innerText(), /Chave aleatória: \*+5566/, 'the PIX key snapshotted, masked, its type named');
    await axeCheck(p, 'closings, closed');

    // A step the server refuses in this state: its message.
    const again = await post(`/api/closings/${closing.id}/close`, undefined, await asAdmin());
    assert.equal(again.status, 409, 'test setup: closing twice is refused');

    await row.getByLabel('Referência da transferência').fill('E12345678202612071200abcdefghijk');
    await row.getByRole('button', { name: `Confirmar pagamento: ${w.doc.user.full_name}` }).click();
    await row.getByText('Pagamento confirmado', { exact: true }).waitFor({ timeout: WAIT });
    await row.getByText('Aguardando o médico confirmar o recebimento.').waitFor({ timeout: WAIT });
    assert.match(await row.innerText(), /Pago: E12345678202612071200abcdefghijk/);

    // The doctor confirms the receipt elsewhere: the row changes without a reload.
    await p.page.evaluate(() => { window.noReloadMark = 1; });
    expectStatus(await post(`/api/closings/${closing.id}/confirm-receipt`, undefined, w.doc.access), 200);
    await row.getByText('Recebimento confirmado', { exact: true }).waitFor({ timeout: WAIT });
    await row.getByText(/Recebimento confirmado em \d\d\/\d\d\/\d{4},? \d\d:\d\d\./).waitFor({ timeout: WAIT });
    assert.equal(await p.page.evaluate(() => window.noReloadMark), 1, 'no reload');
    const trail = p.page.getByRole('list').filter({ hasText: 'pagamento confirmado' });
    await trail.getByText('recebimento confirmado', { exact: false }).waitFor({ timeout: WAIT });

    // The payout workbook, downloaded with the token in memory.
    const downloading = p.page.waitForEvent('download', { timeout: WAIT });
    await p.page.getByRole('button', { name: 'Baixar planilha de repasses (.xlsx)' }).click();
    const file = await downloading;
    assert.equal(file.suggestedFilename(), `closings-${w.clinic.id}-${w.month}.xlsx`);
    const bytes = readFileSync(await file.path());
    assert.equal(bytes.subarray(0, 2).toString('latin1'), 'PK', 'an xlsx is a zip');
    const { names, text } = unzip(bytes, 'xl/workbook.xml');
    assert.ok(names.includes('xl/worksheets/sheet1.xml') && names.includes('xl/worksheets/sheet2.xml'), names.join(' '));
    assert.deepEqual([...text.matchAll(/<sheet [^>]*name="([^"]+)"/g)].map((m) => m[1]), ['Closings', 'Lines']);
    await p.page.getByRole('status').filter({ hasText: `Planilha closings-${w.clinic.id}-${w.month}.xlsx baixada.` }).waitFor({ timeout: WAIT });
    const done = expectStatus(await get(`/api/closings/${closing.id}`, await asAdmin()), 200).body;
    assert.deepEqual([done.status, done.payment_reference], ['receipt_confirmed', 'E12345678202612071200abcdefghijk']);

    // The other doctor disputes their payment: the row says so live; the admin corrects it and closes it again.
    const admin = await asAdmin();
    const id2 = w.closing2.id;
    expectStatus(await post(`/api/closings/${id2}/close`, undefined, admin), 200);
    expectStatus(await post(`/api/closings/${id2}/confirm-payment`, { reference: 'PIX-LR-1' }, admin), 200);
    expectStatus(await post(`/api/closings/${id2}/dispute`, { reason: 'Faltou o plantão do dia 20.' }, w.doc2.access), 200);
    const row2 = table.getByRole('row').filter({ hasText: 'Dra. Lúcia Ramos' });
    await row2.getByText('Contestado: Faltou o plantão do dia 20.').waitFor({ timeout: WAIT });
    await row2.getByRole('button', { name: 'Detalhes: Dra. Lúcia Ramos' }).click();
    const adjust = p.page.getByRole('form', { name: 'Lançar ajuste' });
    await adjust.getByLabel('Ajuste para o médico (negativo desconta) (BRL)').fill('150,00');
    await adjust.getByLabel('Motivo do ajuste').fill('Plantão do dia 20');
    await adjust.getByRole('button', { name: 'Lançar ajuste' }).click();
    await p.page.getByRole('status').filter({ hasText: 'Ajuste lançado no fechamento de Dra. Lúcia Ramos.' }).waitFor({ timeout: WAIT });
    await p.page.getByRole('table', { name: 'Lançamentos' }).getByRole('cell', { name: 'Plantão do dia 20' }).waitFor({ timeout: WAIT });
    // From the keyboard: the step replaces its button, and the keyboard stays in the doctor's row.
    await row2.getByRole('button', { name: 'Fechar: Dra. Lúcia Ramos' }).focus();
    await p.page.keyboard.press('Enter');
    await row2.getByText('Fechado', { exact: true }).waitFor({ timeout: WAIT });
    await p.page.waitForFunction(() => document.activeElement?.closest('tr')?.textContent.includes('Dra. Lúcia Ramos'), null, { timeout: WAIT });
    assert.equal(await p.page.evaluate(() => document.activeElement.name), `reference-${id2}`, 'on the reference of the payment to confirm next');
    const fixed = expectStatus(await get(`/api/closings/${id2}`, admin), 200).body;
    assert.deepEqual([fixed.status, fixed.net_cents, fixed.payment_reference], ['closed', 15000, null]);
    assert.match(await row2.innerText(), /R\$\s150,00/);

    // Only the closed ones.
    await p.page.getByLabel('Situação', { exact: true }).selectOption('closed');
    await table.getByRole('row').nth(1).filter({ hasText: 'Dra. Lúcia Ramos' }).waitFor({ timeout: WAIT });
    await table.getByRole('row').filter({ hasText: 'Dr. Caio Menezes' }).waitFor({ state: 'detached', timeout: WAIT });
    assert.equal(await table.getByRole('row').count(), 2);
    await p.page.getByLabel('Situação', { exact: true }).selectOption('');
    await row.waitFor({ timeout: WAIT });
    await axeCheck(p, 'closings');
    await shot(p, 'admin-closings.png');
    assertClean(p, 'on the closings');
  });

  test('audit: each of those actions found with the filters; a long list paged by cursor', async () => {
    await tab('Auditoria').click();
    await p.page.getByRole('heading', { name: 'Auditoria', exact: true }).waitFor({ timeout: WAIT });
    const filters = p.page.getByRole('form', { name: 'Filtros' });
    const table = p.page.getByRole('table', { name: 'Registros de auditoria, do mais recente' });
    // Actions and kinds of record are shown in the interface's language, never as the server's codes.
    const find = async (action, entityId, entity) => {
      await filters.getByLabel('Ação').selectOption(action);
      await filters.getByLabel('Id do registro').fill(String(entityId));
      await filters.getByRole('button', { name: 'Buscar' }).click();
      await table.getByRole('row').filter({ hasText: STRINGS['pt-BR'][`audit_action_${action}`] })
        .filter({ hasText: `${STRINGS['pt-BR'][`audit_entity_${entity}`]} #${entityId}` }).first().waitFor({ timeout: WAIT });
    };
    await find('clinic_create', w.newClinic.id, 'clinic');
    await find('clinic_update', w.newClinic.id, 'clinic');
    await find('user_create', w.newUser.id, 'user');
    await find('user_deactivate', w.newUser.id, 'user');
    await find('fee_rule_set', w.doctorRule.id, 'fee_rule');
    await find('closing_create_all', w.clinic.id, 'clinic');
    await find('closing_close', w.closing.id, 'closing');
    await find('closing_confirm_payment', w.closing.id, 'closing');
    await find('closing_export', w.clinic.id, 'clinic');
    await find('closing_adjust', w.closing2.id, 'closing');
    await find('doctor_update', w.doc.user.doctor_id, 'doctor');
    // The actor is named from their account, and filters the list.
    await table.getByText('admin@demo.clinic', { exact: false }).first().waitFor({ timeout: WAIT });
    await filters.getByLabel('Ação').selectOption('fee_rule_delete');
    await filters.getByLabel('Id do registro').fill('');
    await filters.getByLabel('Id de quem agiu').fill(String(w.adminId));
    await filters.getByRole('button', { name: 'Buscar' }).click();
    await table.getByRole('row').nth(1).filter({ hasText: 'Regra de repasse removida' }).filter({ hasText: 'admin@demo.clinic' }).waitFor({ timeout: WAIT });
    await filters.getByLabel('Id de quem agiu').fill(String(w.rec.id));
    await filters.getByRole('button', { name: 'Buscar' }).click();
    await p.page.getByText('Nada aqui.').waitFor({ timeout: WAIT });
    await filters.getByLabel('Id de quem agiu').fill('');

    // The clinic-wide rule was set 56 times: 50 on the first page, the rest after "more".
    await find('fee_rule_set', w.rule.id, 'fee_rule');
    await table.getByRole('row').nth(50).waitFor({ timeout: WAIT });
    assert.equal(await table.getByRole('row').count(), 51, 'the header and a first page of 50');
    await p.page.getByRole('button', { name: 'Carregar mais' }).click();
    await table.getByRole('row').nth(56).waitFor({ timeout: WAIT });
    assert.equal(await table.getByRole('row').count(), 57);
    assert.equal(await p.page.getByRole('button', { name: 'Carregar mais' }).isVisible(), false, 'no more pages');
    await axeCheck(p, 'audit');
    await shot(p, 'admin-audit.png');

    // The same screen in English, from the one string table.
    await p.page.getByLabel('Idioma').selectOption('en');
    await p.page.getByRole('heading', { name: 'Audit', exact: true }).waitFor({ timeout: WAIT });
    await p.page.getByRole('link', { name: 'Closings', exact: true }).waitFor({ timeout: WAIT });
    await p.page.getByLabel('Language').selectOption('pt-BR');
    await p.page.getByRole('heading', { name: 'Auditoria', exact: true }).waitFor({ timeout: WAIT });
    assertClean(p, 'on the audit');
  });
});
