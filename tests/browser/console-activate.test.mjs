// The account link page (web/activate/, web/app/activate.js): the link the desk's activation message holds opens
// it, the token leaves the address bar, a mismatched repeat is caught in the page, the password is set and the
// patient signs in with it; the same link a second time shows the API's refusal. Under the pages'
// Content-Security-Policy, with no console error and axe-core clean (console-lib.mjs).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import { API_URL, accountLinkToken, asAdmin, createClinic, createPatient, expectStatus, freshEmail, post } from '../lib/api.mjs';
import { WAIT, assertClean, axeCheck, openPage } from './console-lib.mjs';
import { CHROMIUM, CHROMIUM_ARGS } from './lib.mjs';

describe('the account link page', () => {
  let browser;
  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: process.env.BROWSER_HEADLESS !== '0', timeout: 60000 });
  });
  after(async () => { await browser?.close(); });

  test('activation through the link in the message, then sign-in', async () => {
    const admin = await asAdmin();
    const clinic = await createClinic();
    const email = freshEmail('activate-page');
    const patient = await createPatient(admin, { clinic_id: clinic.id, email });
    expectStatus(await post(`/api/patients/${patient.id}/account`, {}, admin), 201);
    const token = await accountLinkToken(email);
    assert.ok(token);

    const p = await openPage(browser, 'activate');
    await p.page.goto(`${API_URL}/activate?token=${token}`);
    await p.page.getByRole('heading', { name: 'Definir sua senha' }).waitFor({ timeout: WAIT });
    assert.ok(!p.page.url().includes(token), `the token stays in the address: ${p.page.url()}`);
    await axeCheck(p, 'activate');
    await p.page.getByLabel('Nova senha', { exact: true }).fill('page-password-1');
    await p.page.getByLabel('Repita a nova senha').fill('page-password-2');
    await p.page.getByRole('button', { name: 'Salvar a senha' }).click();
    await p.page.getByRole('alert').filter({ hasText: 'não são iguais' }).waitFor({ timeout: WAIT });
    await p.page.getByLabel('Repita a nova senha').fill('page-password-1');
    await p.page.getByRole('button', { name: 'Salvar a senha' }).click();
    await p.page.getByRole('status').filter({ hasText: 'Sua senha foi definida' }).waitFor({ timeout: WAIT });
    assertClean(p, 'after activation');
    expectStatus(await post('/api/auth/login', { email, password: 'page-password-1' }), 200);

    // the same link again: the API's refusal, shown in the page
    const again = await openPage(browser, 'activate-again');
    again.allowed.push({ status: 400, path: '/api/auth/activate', console: 'status of 400' });
    await again.page.goto(`${API_URL}/activate?token=${token}`);
    await again.page.getByLabel('Nova senha', { exact: true }).fill('page-password-3');
    await again.page.getByLabel('Repita a nova senha').fill('page-password-3');
    await again.page.getByRole('button', { name: 'Salvar a senha' }).click();
    await again.page.getByRole('alert').filter({ hasText: 'link' }).waitFor({ timeout: WAIT });
    assertClean(again, 'a used link');
    await p.context.close();
    await again.context.close();
  });
});
