// admin-fees: a clinic's fee rules: the doctor's share (a percentage, sent as basis points) and optionally a price
// overriding the service's, for a scope of any or one service and any or one doctor. Saving a scope that has a
// rule replaces it (PUT, as the API defines), so "edit" fills the form with the rule's scope; a rule can be removed.
// Which rule applies to a consultation is the server's business: the screen only lists and sets them.
import { field, h, replace, uid } from './dom.js';
import { formatMoney } from './format.js';
import { lang, t } from './i18n.js';
import { api } from './session.js';
import { amountText, clinicOptions, currencyDigits, formatBps, formatInstant, pagedTable, parseAmount, parsePercent } from './admin-kit.js';
import { feedback } from './kit.js';
import { allPages } from './pages.js';

export function feesScreen() {
  const fb = feedback();
  const s = { clinics: [], clinic: null, doctors: [], services: [] };
  const clinic = h('select', { name: 'fee-clinic', onchange: () => pick().catch((e) => fb.say(e.message)) });
  const f = {
    service: h('select', { name: 'fee-service' }),
    doctor: h('select', { name: 'fee-doctor' }),
    share: h('input', { name: 'fee-share', required: true, inputmode: 'decimal', autocomplete: 'off', class: 'short' }),
    price: h('input', { name: 'fee-price', inputmode: 'decimal', autocomplete: 'off', class: 'short' }),
  };
  const nameOf = (list, id) => (id === null ? null : list.find((x) => x.id === id)?.full_name || list.find((x) => x.id === id)?.name || `#${id}`);
  const money = (cents) => formatMoney(cents, s.clinic.currency, lang());

  const table = pagedTable({
    caption: t('adm_fee_rules_list'),
    onError: (e) => fb.say(e.message),
    load: (cursor) => api('GET', `/fee-rules?clinic_id=${s.clinic.id}&limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`),
    columns: [
      { head: t('service'), cell: (r) => nameOf(s.services, r.service_id) ?? t('adm_any_service') },
      { head: t('doctor'), cell: (r) => nameOf(s.doctors, r.doctor_id) ?? t('adm_any_doctor') },
      { head: t('adm_doctor_share'), cell: (r) => formatBps(r.doctor_share_bps, lang()) },
      { head: t('adm_price'), cell: (r) => (r.price_cents === null ? t('adm_service_price') : money(r.price_cents)) },
      { head: t('adm_updated'), cell: (r) => formatInstant(r.updated_at, s.clinic.timezone, lang()) },
      { head: t('adm_actions'), cell: (r) => actions(r) },
    ],
  });

  function scopeText(r) {
    return `${nameOf(s.services, r.service_id) ?? t('adm_any_service')} · ${nameOf(s.doctors, r.doctor_id) ?? t('adm_any_doctor')}`;
  }
  function actions(r) {
    const scope = scopeText(r);
    return h('span', { class: 'actions' },
      h('button', { type: 'button', 'aria-label': `${t('adm_edit')}: ${scope}`, onclick: () => {
        f.service.value = r.service_id === null ? '' : String(r.service_id);
        f.doctor.value = r.doctor_id === null ? '' : String(r.doctor_id);
        f.share.value = amountText(r.doctor_share_bps, 2);
        f.price.value = r.price_cents === null ? '' : amountText(r.price_cents, currencyDigits(s.clinic.currency));
        f.share.focus();
      } }, t('adm_edit')),
      h('button', { type: 'button', 'aria-label': `${t('remove')}: ${scope}`, onclick: () => fb.act(async () => {
        await api('DELETE', `/fee-rules/${r.id}`);
        fb.tell(t('adm_rule_removed', scope));
        table.reset();
      }) }, t('remove')));
  }

  // Reads the typed percentage and price; a text that is not one is marked on its input (the browser says so).
  function readNumbers() {
    const bps = parsePercent(f.share.value);
    const price = parseAmount(f.price.value, currencyDigits(s.clinic.currency));
    f.share.setCustomValidity(Number.isNaN(bps) || bps === null ? t('adm_bad_percent') : '');
    f.price.setCustomValidity(Number.isNaN(price) ? t('adm_bad_amount') : '');
    return f.share.reportValidity() && f.price.reportValidity() ? { bps, price } : null;
  }
  for (const input of [f.share, f.price]) input.addEventListener('input', () => input.setCustomValidity(''));

  const formId = uid('fee');
  const form = h('form', { class: 'panel', 'aria-labelledby': formId, novalidate: true, onsubmit: (ev) => {
    ev.preventDefault();
    const n = readNumbers();
    if (!n) return;
    fb.act(async () => {
      const body = { clinic_id: s.clinic.id, service_id: Number(f.service.value) || null, doctor_id: Number(f.doctor.value) || null, doctor_share_bps: n.bps };
      if (n.price !== null) body.price_cents = n.price;
      const rule = await api('PUT', '/fee-rules', body);
      fb.tell(t('adm_rule_saved', scopeText(rule), formatBps(rule.doctor_share_bps, lang())));
      table.reset();
    });
  } },
  h('h2', { id: formId }, t('adm_set_rule')),
  h('p', { class: 'meta' }, t('adm_rule_hint')),
  h('div', { class: 'inline' }, field(t('service'), f.service), field(t('doctor'), f.doctor),
    field(t('adm_doctor_share_pct'), f.share), field(t('adm_price_optional'), f.price),
    h('button', { type: 'submit', class: 'primary' }, t('adm_save_rule'))));

  const priceLabel = form.querySelector(`label[for="${f.price.id}"]`);
  async function pick() {
    fb.say('');
    s.clinic = s.clinics.find((c) => String(c.id) === clinic.value) || null;
    if (!s.clinic) return;
    priceLabel.textContent = `${t('adm_price_optional')} (${s.clinic.currency})`;
    const [doctors, services] = await Promise.all([allPages(`/doctors?clinic_id=${s.clinic.id}`), allPages(`/services?clinic_id=${s.clinic.id}`)]);
    s.doctors = doctors;
    s.services = services;
    replace(f.service, h('option', { value: '' }, t('adm_any_service')), services.map((x) => h('option', { value: String(x.id) }, `${x.name} · ${money(x.price_cents)}`)));
    replace(f.doctor, h('option', { value: '' }, t('adm_any_doctor')), doctors.map((d) => h('option', { value: String(d.id) }, d.full_name)));
    await table.reset();
  }

  (async () => {
    try {
      s.clinics = await allPages('/clinics');
      replace(clinic, clinicOptions(s.clinics, s.clinics[0]?.id));
      await pick();
    } catch (e) { fb.say(e.message); }
  })();

  return {
    el: h('section', { class: 'admin' }, h('h1', {}, t('title_fees')), fb.message, fb.done,
      h('div', { class: 'panel inline' }, field(t('adm_clinic'), clinic)), form, h('div', { class: 'panel' }, table.el)),
    close() {},
  };
}
