// admin-staff-edit: an account edited by the admin: name, e-mail, a new password (left empty: unchanged); for a
// doctor their profile too, and their PIX key, which the server takes with the admin's own password. Only what
// changed is sent. The editor closed, the keyboard goes back to the account's Edit button (ctx.keep, focusKeeper).
import { field, h, replace, uid } from './dom.js';
import { t } from './i18n.js';
import { api } from './session.js';

function editInputs(ctx, u, doctor) {
  return {
    name: h('input', { name: 'edit-full-name', required: true, maxlength: 200, autocomplete: 'off', value: u.full_name }),
    email: h('input', { name: 'edit-email', type: 'email', required: true, maxlength: 254, autocomplete: 'off', value: u.email }),
    password: h('input', { name: 'edit-password', type: 'password', minlength: 8, maxlength: 128, autocomplete: 'new-password' }),
    specialty: h('input', { name: 'edit-specialty', maxlength: 100, autocomplete: 'off', value: doctor?.specialty || '' }),
    license: h('input', { name: 'edit-license', maxlength: 50, autocomplete: 'off', value: doctor?.license_number || '' }),
    pixType: h('select', { name: 'edit-pix-type' }, ctx.pixTypes.map((k) => h('option', { value: k, selected: k === doctor?.pix_key_type }, t(`pix_${k}`)))),
    pixKey: h('input', { name: 'edit-pix-key', maxlength: 128, autocomplete: 'off' }),
    mine: h('input', { name: 'edit-current-password', type: 'password', autocomplete: 'current-password' }),
  };
}

// Sends what changed: the account, then the doctor's profile.
async function save(ctx, u, doctor, e) {
  const body = {};
  if (e.name.value.trim() !== u.full_name) body.full_name = e.name.value.trim();
  if (e.email.value.trim() !== u.email) body.email = e.email.value.trim();
  if (e.password.value) body.password = e.password.value;
  if (Object.keys(body).length) await api('PATCH', `/users/${u.id}`, body);
  if (doctor) {
    const prof = { specialty: e.specialty.value.trim() || null, license_number: e.license.value.trim() || null };
    if (body.full_name) prof.full_name = body.full_name;
    if (e.pixKey.value.trim()) Object.assign(prof, { pix_key_type: e.pixType.value, pix_key: e.pixKey.value.trim(), current_password: e.mine.value });
    await api('PATCH', `/doctors/${doctor.id}`, prof);
  }
  ctx.fb.tell(t('adm_user_saved', e.name.value.trim()));
  ctx.closeEditor();
  ctx.table.reset();
}

export async function edit(ctx, u) {
  const doctor = u.role === 'DOCTOR' ? (await api('GET', `/doctors?user_id=${u.id}`)).items[0] : null;
  const e = editInputs(ctx, u, doctor);
  const id = uid('edit');
  replace(ctx.editor, h('form', { class: 'panel', 'aria-labelledby': id, onsubmit: (ev) => {
    ev.preventDefault();
    ctx.fb.act(() => save(ctx, u, doctor, e));
  } },
  h('h2', { id }, t('adm_edit_user', u.full_name)),
  h('div', { class: 'inline' }, field(t('full_name'), e.name), field(t('email'), e.email), field(t('adm_new_password'), e.password)),
  doctor ? h('div', { class: 'inline' }, field(t('adm_specialty'), e.specialty), field(t('adm_license'), e.license)) : null,
  doctor ? h('div', { class: 'inline' },
    h('p', { class: 'meta' }, t('adm_pix_now', doctor.pix_key ? `${t(`pix_${doctor.pix_key_type}`)}: ${doctor.pix_key}` : t('adm_pix_none'))),
    field(t('adm_pix_type'), e.pixType), field(t('adm_pix_new'), e.pixKey), field(t('adm_your_password'), e.mine)) : null,
  h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', 'data-then': `edit:${u.id}` }, t('adm_save')),
    h('button', { type: 'button', 'data-then': `edit:${u.id}`, onclick: ctx.closeEditor }, t('cancel')))));
  e.name.focus();
}
