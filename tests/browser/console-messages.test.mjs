// The console's Messages screen (web/app/messages.js, messages-thread.js) and inbox (web/app/inbox.js), in Chromium:
// a patient on a phone-sized page starts a conversation with their clinic and writes; the receptionist's list shows
// it live with its unread count, the receptionist opens it (read: the count goes to 0), sees the patient typing,
// replies; the patient sees the reply and the desk typing live; each message once on each side with its sender;
// a send past CHAT_MESSAGES_PER_MINUTE shows the server's refusal with Retry-After; past 50 messages a conversation
// opens on its newest 50 (before_id) and "Earlier messages" shows the older ones; a message arriving leaves the rows
// shown and the keyboard where they were; opening one on a phone does not raise its keyboard. The inbox: the
// receptionist's patient search answers Enter with a search (never a conversation with the patient chosen before),
// the bell counts a patient's message live, the notification opens that conversation, "mark all read" empties it. Every
// page: no console error, no failed request, no unexpected answer >= 400, axe-core without a serious or critical
// violation on each new screen (console-lib.mjs).
//
// Run by scripts/browser-test.sh inside its loopback-only network namespace.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import { API_URL, createClinic, expectStatus, get, patientSession, post, staffSession, uniq } from '../lib/api.mjs';
import { WAIT, assertClean, axeCheck, eventually, openPage, shot, signIn } from './console-lib.mjs';
import { CHROMIUM, CHROMIUM_ARGS } from './lib.mjs';

const PHONE = { width: 390, height: 844 };
const C = '/api/conversations';

// The open conversation's messages on a page: [{who, text}] in the order shown.
const shown = (p) => p.page.evaluate(() => [...document.querySelectorAll('.thread .chat-list li')].map((li) => ({
  who: li.querySelector('.chat-who').textContent, text: li.querySelector('.chat-text').textContent,
})));
const box = (p) => p.page.getByRole('textbox', { name: 'Mensagem' });
// The conversation's button in the list (its accessible name holds its title).
const convButton = (p, text) => p.page.locator('.conv-list button.conv').filter({ hasText: text });
const bell = (p) => p.page.getByRole('button', { name: /^Notificações/ });

// Types text key by key (so typing notices go out) into the message box, then Enter.
async function typeAndSend(p, text) {
  await box(p).click();
  await p.page.keyboard.type(text, { delay: 25 });
  await p.page.keyboard.press('Enter');
}

async function signedIn(p, who, landing) {
  await p.page.goto(`${API_URL}/`);
  await signIn(p, who.email, who.password);
  await p.page.getByRole('heading', { name: landing, exact: true }).waitFor({ timeout: WAIT });
}

describe('the console: messages and the inbox', () => {
  let browser;
  const w = {};

  before(async () => {
    assert.ok(process.env.SIGNALING_URL, 'SIGNALING_URL must name the signaling-server the console is told about');
    w.clinic = await createClinic({ name: `Clínica Mensagens ${uniq()}`, timezone: 'America/Sao_Paulo' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: process.env.BROWSER_HEADLESS !== '0', timeout: 60000 });
  });

  after(async () => {
    await browser?.close();
  });

  test('a patient on a phone writes to the clinic; the desk sees it live, reads and replies; typing both ways', { timeout: 180000 }, async () => {
    const rec = await staffSession('RECEPTIONIST', w.clinic.id, { full_name: `Recepção ${uniq()}` });
    const pat = await patientSession(w.clinic.id, { full_name: `Marta Mensagem ${uniq()}` });
    const desk = await openPage(browser, 'desk-messages');
    const patient = await openPage(browser, 'patient-messages', { viewport: PHONE });
    try {
      await signedIn(desk, rec, 'Fila de hoje');
      await desk.page.getByRole('link', { name: 'Mensagens', exact: true }).click();
      await desk.page.getByRole('heading', { name: 'Mensagens', level: 1 }).waitFor({ timeout: WAIT });
      await desk.page.getByText('Nenhuma conversa ainda.').waitFor({ timeout: WAIT });
      await desk.page.getByText('Ao vivo').first().waitFor({ timeout: WAIT });

      await signedIn(patient, pat, 'Minhas consultas');
      await patient.page.getByRole('link', { name: 'Mensagens', exact: true }).click();
      await patient.page.getByText('Nova conversa').click();
      await patient.page.getByLabel('Assunto (opcional)').fill('Resultado do exame');
      await axeCheck(patient, 'messages (patient, phone, new conversation)');
      await patient.page.getByRole('button', { name: 'Começar a conversa' }).click();
      await patient.page.getByRole('heading', { name: 'Resultado do exame', level: 2 }).waitFor({ timeout: WAIT });
      assert.match(patient.page.url(), /#\/messages\/\d+$/, 'the address names the open conversation');
      const convId = Number(/(\d+)$/.exec(patient.page.url())[1]);
      // On a phone the open conversation takes the screen; the list is one button away.
      assert.equal(await patient.page.locator('.conv-list').isVisible(), false);
      await patient.page.getByRole('button', { name: 'Todas as conversas' }).waitFor({ timeout: WAIT });
      assert.equal(await patient.page.evaluate(() => document.activeElement?.id), 'thread-h', 'no phone keyboard raised on open');

      await typeAndSend(patient, 'Bom dia, o exame já chegou?');
      await patient.page.getByRole('log', { name: 'Resultado do exame' }).getByText('Bom dia, o exame já chegou?').waitFor({ timeout: WAIT });

      // The desk: the conversation appears live, bold with its unread count, named by the API's patient label.
      const label = expectStatus(await get(`${C}/${convId}`, rec.access), 200).body.patient_label;
      const item = convButton(desk, label);
      await item.filter({ hasText: /1 não lida(?!s)/ }).waitFor({ timeout: WAIT });
      assert.match(await item.textContent(), /Resultado do exame/);
      assert.match(await item.textContent(), /Paciente: Bom dia, o exame já chegou\?/);
      assert.equal(await desk.page.locator('.conv-list li.unread').count(), 1, 'bold while unread');
      await axeCheck(desk, 'messages (desk, list)');

      // Opening it reads it: the count goes to 0 (the server's answer, seen in the list and through the API).
      await item.click();
      await desk.page.getByRole('heading', { name: `${label} · Resultado do exame`, level: 2 }).waitFor({ timeout: WAIT });
      await eventually(() => desk.page.locator('.conv-list li.unread').count(), (n) => n === 0, WAIT, 'the desk list read');
      const mine = (await get(C, rec.access)).body.items.find((c) => c.id === convId);
      assert.equal(mine.unread_count, 0, "the desk's read receipt moved");
      assert.deepEqual(await shown(desk), [{ who: 'Paciente', text: 'Bom dia, o exame já chegou?' }]);
      assert.match(await desk.page.locator('.thread time').first().textContent(), /^\d{2}\/\d{2}\/\d{4},? \d{2}:\d{2}$/);

      // The patient types: the desk sees it; the desk types: the patient sees it.
      await box(patient).click();
      await patient.page.keyboard.type('Aguardo', { delay: 40 });
      await desk.page.getByText('O paciente está digitando…').waitFor({ timeout: WAIT });
      await patient.page.keyboard.press('Shift+Enter');
      await patient.page.keyboard.type('obrigada', { delay: 20 });
      assert.equal(await box(patient).inputValue(), 'Aguardo\nobrigada', 'Shift+Enter is a new line');
      await patient.page.keyboard.press('Enter');
      await desk.page.getByRole('log').getByText('obrigada', { exact: false }).waitFor({ timeout: WAIT });

      await box(desk).click();
      await desk.page.keyboard.type('Bom dia! Chegou sim', { delay: 40 });
      await patient.page.getByText('A recepção está digitando…').waitFor({ timeout: WAIT });
      await desk.page.keyboard.press('Enter');
      await patient.page.getByRole('log').getByText('Bom dia! Chegou sim').waitFor({ timeout: WAIT });
      await patient.page.getByText('A recepção está digitando…').waitFor({ state: 'hidden', timeout: WAIT });

      const expectPatient = [
        { who: 'Você', text: 'Bom dia, o exame já chegou?' }, { who: 'Você', text: 'Aguardo\nobrigada' },
        { who: 'Recepção', text: 'Bom dia! Chegou sim' }];
      const expectDesk = expectPatient.map((m) => ({ who: { Você: 'Paciente', Recepção: 'Você' }[m.who], text: m.text }));
      await eventually(() => shown(patient), (m) => m.length === 3, WAIT, 'three messages on the patient');
      await eventually(() => shown(desk), (m) => m.length === 3, WAIT, 'three messages on the desk');
      // A moment for any duplicate to arrive, then each message once on each side.
      await new Promise((r) => setTimeout(r, 800));
      assert.deepEqual(await shown(patient), expectPatient);
      assert.deepEqual(await shown(desk), expectDesk);
      assert.equal(await box(desk).inputValue(), '', 'the sent text left the box');

      // Both read everything they have on screen: unread 0 on each side.
      await eventually(async () => (await get(C, pat.access)).body.items.find((c) => c.id === convId).unread_count, (n) => n === 0, WAIT,
        "the patient's unread count");
      await eventually(async () => (await get(C, rec.access)).body.items.find((c) => c.id === convId).unread_count, (n) => n === 0, WAIT,
        "the desk's unread count");
      await axeCheck(patient, 'messages (patient, phone, conversation open)');
      await axeCheck(desk, 'messages (desk, conversation open)');
      await shot(patient, 'messages-patient-phone.png');
      await shot(desk, 'messages-desk.png');

      // The per-minute limit: the API's own refusal, with Retry-After, and the text stays to be sent again.
      for (let i = 0; ; i += 1) {
        const r = await post(`${C}/${convId}/messages`, { text: `enchendo ${i}` }, pat.access);
        if (r.status === 429) break;
        expectStatus(r, 201);
        assert.ok(i < 200, 'the per-minute limit was never reached');
      }
      patient.allowed.push({ status: 429, path: `${C}/${convId}/messages`, console: 'status of 429' });
      await typeAndSend(patient, 'Mais uma pergunta');
      const refusal = await patient.page.locator('.thread .message').filter({ hasText: /Tente de novo em \d+ s\./ }).textContent({ timeout: WAIT });
      assert.match(refusal, /minute|minuto|limit/i, `the server's message: ${refusal}`);
      assert.equal(await box(patient).inputValue(), 'Mais uma pergunta');

      // Back to the list on the phone.
      await patient.page.getByRole('button', { name: 'Todas as conversas' }).click();
      await convButton(patient, 'Resultado do exame').waitFor({ timeout: WAIT });

      // Past 50 messages: the newest 50 shown, "Earlier messages" shows the rest (the desk writes the rest, 30 a minute).
      for (let i = 0; i < 25; i += 1) expectStatus(await post(`${C}/${convId}/messages`, { text: `resposta ${i}` }, rec.access), 201);
      const total = (await get(`${C}/${convId}/messages?limit=200`, pat.access)).body.items.length;
      assert.ok(total > 50, `test setup: ${total} messages`);
      await eventually(() => convButton(patient, 'Resultado do exame').textContent(), (x) => x.includes('resposta 24'), WAIT, 'the last reply in the list');
      // It opens on its newest page (before_id, not the whole conversation), and pages back with before_id.
      const newestPage = patient.page.waitForRequest((r) => /\/messages\?before_id=\d+&limit=50$/.test(r.url()), { timeout: WAIT });
      await convButton(patient, 'Resultado do exame').click();
      await newestPage;
      await eventually(() => shown(patient), (m) => m.length === 50, WAIT, 'the newest 50');
      assert.equal((await shown(patient)).at(-1).text, 'resposta 24', 'the newest last');
      await patient.page.getByRole('button', { name: 'Mensagens anteriores' }).click();
      await eventually(() => shown(patient), (m) => m.length === total, WAIT, 'every message');
      assert.equal((await shown(patient))[0].text, 'Bom dia, o exame já chegou?', 'the oldest first');
      assert.equal(await patient.page.getByRole('button', { name: 'Mensagens anteriores' }).isVisible(), false);
      assert.equal(await patient.page.getByRole('log').evaluate((el) => el === document.activeElement), true, 'the keyboard on the log');
      assertClean(desk, 'after the conversation');
      assertClean(patient, 'after the conversation');
    } finally {
      await desk.context.close();
      await patient.context.close();
    }
  });

  test('the inbox: the bell counts a message live, the notification opens it, mark all read empties it', { timeout: 180000 }, async () => {
    const rec = await staffSession('RECEPTIONIST', w.clinic.id, { full_name: `Recepção ${uniq()}` });
    const [a, b] = await Promise.all([patientSession(w.clinic.id, { full_name: `Ana Sino ${uniq()}` }),
      patientSession(w.clinic.id, { full_name: `Bruno Sino ${uniq()}` })]);
    const desk = await openPage(browser, 'desk-inbox');
    try {
      await signedIn(desk, rec, 'Fila de hoje');
      await bell(desk).waitFor({ timeout: WAIT });
      assert.equal(await bell(desk).textContent(), 'Notificações ', 'nothing unread yet');
      await desk.page.getByText('Ao vivo').first().waitFor({ timeout: WAIT });

      // The desk starts a conversation with Bruno, found by the patient search.
      await desk.page.getByRole('link', { name: 'Mensagens', exact: true }).click();
      await desk.page.getByText('Nova conversa').click();
      const search = desk.page.getByLabel('Buscar paciente (nome, CPF, telefone)');
      const chosen = desk.page.getByRole('combobox', { name: 'Paciente' });
      await search.fill(b.patient.full_name);
      await desk.page.getByRole('button', { name: 'Buscar', exact: true }).click();
      await chosen.locator('option', { hasText: b.patient.full_name }).waitFor({ state: 'attached', timeout: WAIT });
      // Enter in the search field searches again: it never starts a conversation with the patient chosen before.
      const convsBefore = expectStatus(await get(C, rec.access), 200).body.items.length;
      await search.fill(a.patient.full_name);
      assert.equal(await chosen.inputValue(), '', 'a changed search drops the choice');
      await search.press('Enter');
      await chosen.locator('option', { hasText: a.patient.full_name }).waitFor({ state: 'attached', timeout: WAIT });
      assert.equal(await chosen.locator('option', { hasText: b.patient.full_name }).count(), 0);
      assert.equal(expectStatus(await get(C, rec.access), 200).body.items.length, convsBefore, 'Enter in the search started nothing');
      await search.fill(b.patient.full_name);
      await search.press('Enter');
      await chosen.locator('option', { hasText: b.patient.full_name }).waitFor({ state: 'attached', timeout: WAIT });
      await desk.page.getByLabel('Assunto (opcional)').fill('Retorno');
      await desk.page.getByRole('button', { name: 'Começar a conversa' }).click();
      await desk.page.getByRole('heading', { name: / · Retorno$/, level: 2 }).waitFor({ timeout: WAIT });
      await typeAndSend(desk, 'Podemos marcar o retorno?');
      await desk.page.getByRole('log').getByText('Podemos marcar o retorno?').waitFor({ timeout: WAIT });
      const bConv = (await get(C, b.access)).body.items[0];
      assert.equal(await desk.page.getByRole('heading', { level: 2, name: / · Retorno$/ }).textContent(), `${bConv.patient_label} · Retorno`);
      assert.equal(bConv.unread_count, 1, "the desk's message is unread for Bruno");
      assert.equal(bConv.doctor_id, null);

      // Back on the desk board, Ana writes (through the API): the bell counts it live.
      await desk.page.getByRole('link', { name: 'Recepção', exact: true }).click();
      const aConv = expectStatus(await post(C, { subject: 'Receita' }, a.access), 201).body;
      expectStatus(await post(`${C}/${aConv.id}/messages`, { text: 'Preciso da receita' }, a.access), 201);
      await eventually(() => bell(desk).textContent(), (x) => x === 'Notificações (1)', WAIT, 'the bell counting one');
      // Bruno answers too: two conversations, two unread lines.
      expectStatus(await post(`${C}/${bConv.id}/messages`, { text: 'Pode ser sexta' }, b.access), 201);
      await eventually(() => bell(desk).textContent(), (x) => x === 'Notificações (2)', WAIT, 'the bell counting two');

      await bell(desk).click();
      const panel = desk.page.getByRole('region', { name: 'Notificações' });
      await panel.getByText('Preciso da receita', { exact: false }).waitFor({ timeout: WAIT });
      assert.equal(await bell(desk).getAttribute('aria-expanded'), 'true');
      assert.equal(await panel.locator('li.unread').count(), 2);
      await axeCheck(desk, 'inbox panel');

      // Ana's notification opens her conversation; reading it there marks the notification read.
      await panel.locator('li', { hasText: 'Preciso da receita' }).getByRole('link', { name: 'Abrir a conversa' }).click();
      await desk.page.getByRole('heading', { name: `${aConv.patient_label} · Receita`, level: 2 }).waitFor({ timeout: WAIT });
      assert.match(desk.page.url(), new RegExp(`#/messages/${aConv.id}$`));
      await desk.page.getByRole('log').getByText('Preciso da receita').waitFor({ timeout: WAIT });
      await eventually(() => bell(desk).textContent(), (x) => x === 'Notificações (1)', WAIT, 'the bell after reading Ana');

      // Another message from Ana while her conversation is open: shown once, read at once, the bell stays at 1.
      expectStatus(await post(`${C}/${aConv.id}/messages`, { text: 'Obrigada!' }, a.access), 201);
      await desk.page.getByRole('log').getByText('Obrigada!').waitFor({ timeout: WAIT });
      await eventually(async () => (await get(C, rec.access)).body.items.find((c) => c.id === aConv.id).unread_count, (n) => n === 0, WAIT,
        'Ana read');
      await eventually(async () => (await get('/api/notifications/unread-count', rec.access)).body.unread, (n) => n === 1, WAIT, 'one unread');
      await eventually(() => bell(desk).textContent(), (x) => x === 'Notificações (1)', WAIT, 'the bell with Bruno only');

      // Mark all read: the bell and the server at 0.
      await bell(desk).click();
      await panel.locator('li.unread').first().waitFor({ timeout: WAIT });
      await panel.getByRole('button', { name: 'Marcar todas como lidas' }).click();
      await eventually(() => bell(desk).textContent(), (x) => x === 'Notificações ', WAIT, 'the bell emptied');
      assert.equal(await panel.locator('li.unread').count(), 0);
      assert.equal((await get('/api/notifications/unread-count', rec.access)).body.unread, 0);
      await desk.page.keyboard.press('Escape');
      assert.equal(await panel.isVisible(), false, 'Escape closes the panel');
      assert.equal(await bell(desk).evaluate((el) => el === document.activeElement), true, 'the keyboard back on the bell');
      assertClean(desk, 'after the inbox');
    } finally {
      await desk.context.close();
    }
  });
  test('a doctor starts a conversation with a patient (it names the doctor), edits and deletes a message of theirs', { timeout: 120000 }, async () => {
    const doc = await staffSession('DOCTOR', w.clinic.id, { full_name: `Dra. Conversa ${uniq()}` });
    const pat = await patientSession(w.clinic.id, { full_name: `Caio Conversa ${uniq()}` });
    const p = await openPage(browser, 'doctor-messages');
    try {
      await signedIn(p, doc, 'Trabalho de hoje');
      await p.page.getByRole('link', { name: 'Mensagens', exact: true }).click();
      await p.page.getByText('Nova conversa').click();
      await p.page.getByLabel('Buscar paciente (nome, CPF, telefone)').fill(pat.patient.full_name);
      await p.page.getByRole('button', { name: 'Buscar', exact: true }).click();
      await p.page.getByRole('combobox', { name: 'Paciente' }).locator('option', { hasText: pat.patient.full_name }).waitFor({ state: 'attached', timeout: WAIT });
      await p.page.getByRole('button', { name: 'Começar a conversa' }).click();
      await eventually(() => p.page.url(), (u) => /#\/messages\/\d+$/.test(u), WAIT, 'the conversation open');
      const convId = Number(/(\d+)$/.exec(p.page.url())[1]);
      const conv = expectStatus(await get(`${C}/${convId}`, pat.access), 200).body;
      assert.equal(conv.doctor_id, doc.user.doctor_id, "the doctor's conversation names them");
      assert.equal(conv.subject, null);

      await typeAndSend(p, 'Como está a pressão?');
      await typeAndSend(p, 'Mensagem errada');
      await eventually(() => shown(p), (m) => m.length === 2, WAIT, 'two messages');
      // The patient answers (through the API): it arrives live, added to the log without redrawing the rows there
      // (the keyboard stays on the Edit button it was on).
      const first = p.page.locator('.thread .chat-list li', { hasText: 'Como está a pressão?' });
      await first.getByRole('button', { name: 'Editar' }).focus();
      await first.evaluate((li) => { li.dataset.kept = 'yes'; });
      expectStatus(await post(`${C}/${convId}/messages`, { text: 'Estável, doutora' }, pat.access), 201);
      await p.page.getByRole('log').getByText('Estável, doutora').waitFor({ timeout: WAIT });
      assert.equal(await first.getAttribute('data-kept'), 'yes', 'the row was kept');
      assert.equal(await p.page.evaluate(() => document.activeElement?.textContent), 'Editar', 'the keyboard stayed on Edit');

      // Edit the first: the box takes its text, saving replaces it in place (marked edited), nothing new is sent.
      await first.getByRole('button', { name: 'Editar' }).click();
      assert.equal(await p.page.getByRole('textbox', { name: 'Editando sua mensagem' }).inputValue(), 'Como está a pressão?');
      await p.page.getByRole('textbox', { name: 'Editando sua mensagem' }).fill('Como está a sua pressão hoje?');
      await p.page.keyboard.press('Enter');
      await p.page.getByRole('log').getByText('Como está a sua pressão hoje?').waitFor({ timeout: WAIT });
      assert.match(await p.page.locator('.thread .chat-list li').first().textContent(), /\(editada\)/);
      await box(p).waitFor({ timeout: WAIT });

      // Delete the second: asked again, then shown as deleted; the patient reads it so too.
      const second = p.page.locator('.thread .chat-list li', { hasText: 'Mensagem errada' });
      await second.getByRole('button', { name: 'Apagar' }).click();
      await second.getByRole('button', { name: 'Apagar mesmo?' }).click();
      await eventually(() => shown(p), (m) => m[1]?.text === 'mensagem apagada', WAIT, 'the message deleted');
      assert.deepEqual(await shown(p), [{ who: 'Você', text: 'Como está a sua pressão hoje?' }, { who: 'Você', text: 'mensagem apagada' },
        { who: 'Paciente', text: 'Estável, doutora' }]);
      const read = (await get(`${C}/${convId}/messages`, pat.access)).body.items;
      assert.deepEqual(read.map((m) => m.text), ['Como está a sua pressão hoje?', null, 'Estável, doutora']);
      await axeCheck(p, 'messages (doctor)');
      assertClean(p, 'after the doctor\'s conversation');
    } finally {
      await p.context.close();
    }
  });
});
