// admin-clinics: the admin's clinics: every clinic (paged by the API's cursor), a new one, and a clinic's name,
// time zone and currency edited. The server checks the zone and the currency (and refuses a currency change once
// the clinic has billed); its refusals are shown as it words them.
import { field, h, replace, uid } from './dom.js';
import { lang, t } from './i18n.js';
import { api } from './session.js';
import { formatInstant, pagedTable } from './admin-kit.js';
import { feedback, focusKeeper } from './kit.js';

// The zones the browser knows, offered as suggestions (the server decides which it accepts).
function zoneList() {
  const id = uid('zones');
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  return { id, el: h('datalist', { id }, zones.map((z) => h('option', { value: z }))) };
}

function clinicInputs(zones, c = {}) {
  return {
    name: h('input', { name: 'clinic-name', required: true, maxlength: 200, autocomplete: 'off', value: c.name || '' }),
    timezone: h('input', { name: 'clinic-timezone', required: true, list: zones.id, autocomplete: 'off', value: c.timezone || 'America/Sao_Paulo' }),
    currency: h('input', { name: 'clinic-currency', required: true, maxlength: 3, autocomplete: 'off', class: 'short', value: c.currency || 'BRL' }),
  };
}

export function clinicsScreen() {
  const fb = feedback();
  const zones = zoneList();
  const editor = h('div');
  const heading = h('h1', { tabindex: '-1' }, t('title_clinics'));
  const root = h('section', { class: 'admin' });
  // The editor closed: the keyboard goes back to the clinic's Edit button, or (removed) to the line saying so.
  const keep = focusKeeper(root, [fb.message, fb.done, heading]);
  let editing = null;

  const table = pagedTable({
    caption: t('adm_clinics_list'),
    onError: (e) => fb.say(e.message),
    load: (cursor) => api('GET', `/clinics?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`),
    columns: [
      { head: t('adm_name'), cell: (c) => c.name },
      { head: t('adm_timezone'), cell: (c) => c.timezone },
      { head: t('adm_currency'), cell: (c) => c.currency },
      { head: t('adm_created'), cell: (c) => formatInstant(c.created_at, c.timezone, lang()) },
      { head: t('adm_actions'), cell: (c) => h('button', { type: 'button', 'aria-label': `${t('adm_edit')}: ${c.name}`, 'data-key': `edit:${c.id}`, onclick: () => edit(c) },
        t('adm_edit')) },
    ],
  });

  function edit(c) {
    editing = c;
    const f = clinicInputs(zones, c);
    const id = uid('edit');
    replace(editor, h('form', { class: 'panel', 'aria-labelledby': id, onsubmit: (ev) => {
      ev.preventDefault();
      fb.act(async () => {
        const body = {};
        for (const k of ['name', 'timezone', 'currency']) if (f[k].value.trim() !== editing[k]) body[k] = f[k].value.trim();
        const saved = await api('PATCH', `/clinics/${editing.id}`, body);
        fb.tell(t('adm_clinic_saved', saved.name));
        close();
        table.reset();
      });
    } },
    h('h2', { id }, t('adm_edit_clinic', c.name)),
    h('div', { class: 'inline' }, field(t('adm_name'), f.name), field(t('adm_timezone'), f.timezone), field(t('adm_currency'), f.currency)),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', 'data-then': `edit:${c.id}` }, t('adm_save')),
      h('button', { type: 'button', 'data-then': `edit:${c.id}`, onclick: close }, t('cancel')), removal(c))));
    f.name.focus();
  }

  // Removing asks once more; the server refuses a clinic that still has users or patients.
  function removal(c) {
    const box = h('span', { class: 'actions' });
    const ask = () => {
      replace(box, h('button', { type: 'button', class: 'danger', onclick: () => fb.act(async () => {
        await api('DELETE', `/clinics/${c.id}`);
        fb.tell(t('adm_clinic_removed', c.name));
        close();
        table.reset();
      }) }, t('adm_confirm_remove_clinic', c.name)));
      box.querySelector('button').focus();
    };
    replace(box, h('button', { type: 'button', onclick: ask }, t('adm_remove_clinic')));
    return box;
  }
  function close() {
    editing = null;
    keep(() => replace(editor));
  }

  const n = clinicInputs(zones);
  const createId = uid('new');
  const create = h('form', { class: 'panel', 'aria-labelledby': createId, onsubmit: (ev) => {
    ev.preventDefault();
    fb.act(async () => {
      const made = await api('POST', '/clinics', { name: n.name.value.trim(), timezone: n.timezone.value.trim(), currency: n.currency.value.trim() });
      n.name.value = '';
      fb.tell(t('adm_clinic_created', made.name));
      table.reset();
    });
  } },
  h('h2', { id: createId }, t('adm_new_clinic')),
  h('div', { class: 'inline' }, field(t('adm_name'), n.name), field(t('adm_timezone'), n.timezone), field(t('adm_currency'), n.currency),
    h('button', { type: 'submit', class: 'primary' }, t('adm_create_clinic'))));

  root.append(heading, fb.message, fb.done, zones.el, create, editor, h('div', { class: 'panel' }, table.el));
  table.reset();
  return {
    el: root,
    close() {},
  };
}
