// admin-staff: the accounts the admin manages: users listed by clinic, role, state and a search (paged by the API's
// cursor), a new staff user (a receptionist, a doctor with their doctor profile, an admin), and an account
// deactivated (its sessions end) or reactivated. The server decides who needs a clinic, which e-mails are taken and
// that the last admin stays; its refusals are shown as it words them.
import { field, h, replace, uid } from './dom.js';
import { lang, t } from './i18n.js';
import { api } from './session.js';
import { clinicOptions, formatInstant, pagedTable } from './admin-kit.js';
import { feedback, focusKeeper } from './kit.js';
import { allPages } from './pages.js';

const STAFF_ROLES = ['RECEPTIONIST', 'DOCTOR', 'ADMIN'];
const ALL_ROLES = ['ADMIN', 'RECEPTIONIST', 'DOCTOR', 'PATIENT'];
const PIX_TYPES = ['cpf', 'cnpj', 'phone', 'email', 'evp']; // DoctorUpdate.pix_key_type

export function staffScreen() {
  const fb = feedback();
  const s = { clinics: [], zone: Intl.DateTimeFormat().resolvedOptions().timeZone };
  const clinicName = (id) => s.clinics.find((c) => c.id === id)?.name || (id ? `#${id}` : t('adm_no_clinic'));
  const zoneOf = (u) => s.clinics.find((c) => c.id === u.clinic_id)?.timezone || s.zone;

  // Filters.
  const fl = {
    clinic: h('select', { name: 'filter-clinic' }),
    role: h('select', { name: 'filter-role' }, h('option', { value: '' }, t('adm_any_role')), ALL_ROLES.map((r) => h('option', { value: r }, t(`role_${r}`)))),
    active: h('select', { name: 'filter-active' }, h('option', { value: '' }, t('adm_any_state')),
      h('option', { value: 'true' }, t('adm_active')), h('option', { value: 'false' }, t('adm_inactive'))),
    q: h('input', { type: 'search', name: 'filter-q', maxlength: 100, autocomplete: 'off' }),
  };
  const query = () => {
    const p = new URLSearchParams();
    if (fl.clinic.value) p.set('clinic_id', fl.clinic.value);
    if (fl.role.value) p.set('role', fl.role.value);
    if (fl.active.value) p.set('active', fl.active.value);
    if (fl.q.value.trim()) p.set('q', fl.q.value.trim());
    return p;
  };
  const filters = h('form', { class: 'panel inline', 'aria-label': t('adm_filters'), onsubmit: (ev) => { ev.preventDefault(); fb.say(''); table.reset(); } },
    field(t('adm_clinic'), fl.clinic), field(t('adm_role'), fl.role), field(t('adm_state'), fl.active), field(t('adm_search_user'), fl.q),
    h('button', { type: 'submit' }, t('search')));

  function stateAction(u) {
    const who = `${u.full_name} (${u.email})`;
    if (u.active) {
      return h('button', { type: 'button', 'aria-label': `${t('adm_deactivate')}: ${who}`, onclick: () => fb.act(async () => {
        await api('POST', `/users/${u.id}/deactivate`);
        fb.tell(t('adm_user_deactivated', u.full_name));
        table.reset();
      }) }, t('adm_deactivate'));
    }
    return h('button', { type: 'button', 'aria-label': `${t('adm_reactivate')}: ${who}`, onclick: () => fb.act(async () => {
      await api('PATCH', `/users/${u.id}`, { active: true });
      fb.tell(t('adm_user_reactivated', u.full_name));
      table.reset();
    }) }, t('adm_reactivate'));
  }

  const table = pagedTable({
    caption: t('adm_users_list'),
    onError: (e) => fb.say(e.message),
    load: (cursor) => {
      const p = query();
      p.set('limit', '50');
      if (cursor) p.set('cursor', cursor);
      return api('GET', `/users?${p}`);
    },
    columns: [
      { head: t('full_name'), cell: (u) => u.full_name },
      { head: t('email'), cell: (u) => u.email },
      { head: t('adm_role'), cell: (u) => t(`role_${u.role}`) },
      { head: t('adm_clinic'), cell: (u) => clinicName(u.clinic_id) },
      { head: t('adm_state'), cell: (u) => h('span', { class: u.active ? 'ok' : 'off' }, u.active ? t('adm_active') : t('adm_inactive')) },
      { head: t('adm_last_login'), cell: (u) => (u.last_login_at ? formatInstant(u.last_login_at, zoneOf(u), lang()) : t('adm_never')) },
      { head: t('adm_actions'), cell: (u) => h('div', { class: 'actions' },
        h('button', { type: 'button', 'aria-label': `${t('adm_edit')}: ${u.full_name} (${u.email})`, 'data-key': `edit:${u.id}`,
          onclick: () => fb.act(() => edit(u)) }, t('adm_edit')),
        stateAction(u)) },
    ],
  });

  // An account edited: name, e-mail, a new password (left empty: unchanged); a doctor's profile too, and their PIX
  // key, which the server takes with the admin's own password.
  // The editor closed: the keyboard goes back to the account's Edit button (focusKeeper).
  const editor = h('div');
  const heading = h('h1', { tabindex: '-1' }, t('title_staff'));
  const root = h('section', { class: 'admin' });
  const keep = focusKeeper(root, [fb.message, fb.done, heading]);
  const closeEditor = () => keep(() => replace(editor));
  async function edit(u) {
    const doctor = u.role === 'DOCTOR' ? (await api('GET', `/doctors?user_id=${u.id}`)).items[0] : null;
    const e = {
      name: h('input', { name: 'edit-full-name', required: true, maxlength: 200, autocomplete: 'off', value: u.full_name }),
      email: h('input', { name: 'edit-email', type: 'email', required: true, maxlength: 254, autocomplete: 'off', value: u.email }),
      password: h('input', { name: 'edit-password', type: 'password', minlength: 8, maxlength: 128, autocomplete: 'new-password' }),
      specialty: h('input', { name: 'edit-specialty', maxlength: 100, autocomplete: 'off', value: doctor?.specialty || '' }),
      license: h('input', { name: 'edit-license', maxlength: 50, autocomplete: 'off', value: doctor?.license_number || '' }),
      pixType: h('select', { name: 'edit-pix-type' }, PIX_TYPES.map((k) => h('option', { value: k, selected: k === doctor?.pix_key_type }, t(`pix_${k}`)))),
      pixKey: h('input', { name: 'edit-pix-key', maxlength: 128, autocomplete: 'off' }),
      mine: h('input', { name: 'edit-current-password', type: 'password', autocomplete: 'current-password' }),
    };
    const id = uid('edit');
    replace(editor, h('form', { class: 'panel', 'aria-labelledby': id, onsubmit: (ev) => {
      ev.preventDefault();
      fb.act(async () => {
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
        fb.tell(t('adm_user_saved', e.name.value.trim()));
        closeEditor();
        table.reset();
      });
    } },
    h('h2', { id }, t('adm_edit_user', u.full_name)),
    h('div', { class: 'inline' }, field(t('full_name'), e.name), field(t('email'), e.email), field(t('adm_new_password'), e.password)),
    doctor ? h('div', { class: 'inline' }, field(t('adm_specialty'), e.specialty), field(t('adm_license'), e.license)) : null,
    doctor ? h('div', { class: 'inline' },
      h('p', { class: 'meta' }, t('adm_pix_now', doctor.pix_key ? `${t(`pix_${doctor.pix_key_type}`)}: ${doctor.pix_key}` : t('adm_pix_none'))),
      field(t('adm_pix_type'), e.pixType), field(t('adm_pix_new'), e.pixKey), field(t('adm_your_password'), e.mine)) : null,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', 'data-then': `edit:${u.id}` }, t('adm_save')),
      h('button', { type: 'button', 'data-then': `edit:${u.id}`, onclick: closeEditor }, t('cancel')))));
    e.name.focus();
  }

  // A new staff user. The clinic is asked for a receptionist or a doctor, the profile fields for a doctor.
  const nu = {
    role: h('select', { name: 'new-role', onchange: () => shape() }, STAFF_ROLES.map((r) => h('option', { value: r }, t(`role_${r}`)))),
    name: h('input', { name: 'new-full-name', required: true, maxlength: 200, autocomplete: 'off' }),
    email: h('input', { name: 'new-email', type: 'email', required: true, maxlength: 254, autocomplete: 'off' }),
    password: h('input', { name: 'new-password', type: 'password', required: true, minlength: 8, maxlength: 128, autocomplete: 'new-password' }),
    clinic: h('select', { name: 'new-clinic' }),
    specialty: h('input', { name: 'new-specialty', maxlength: 100, autocomplete: 'off' }),
    license: h('input', { name: 'new-license', maxlength: 50, autocomplete: 'off' }),
  };
  const clinicField = field(t('adm_clinic'), nu.clinic);
  const doctorFields = h('div', { class: 'inline' }, field(t('adm_specialty'), nu.specialty), field(t('adm_license'), nu.license));
  function shape() {
    clinicField.hidden = nu.role.value === 'ADMIN';
    doctorFields.hidden = nu.role.value !== 'DOCTOR';
  }
  const createId = uid('new');
  const create = h('form', { class: 'panel', 'aria-labelledby': createId, onsubmit: (ev) => {
    ev.preventDefault();
    fb.act(async () => {
      const body = { role: nu.role.value, full_name: nu.name.value.trim(), email: nu.email.value.trim(), password: nu.password.value };
      if (body.role !== 'ADMIN') body.clinic_id = Number(nu.clinic.value) || null;
      if (body.role === 'DOCTOR') {
        if (nu.specialty.value.trim()) body.specialty = nu.specialty.value.trim();
        if (nu.license.value.trim()) body.license_number = nu.license.value.trim();
      }
      const made = await api('POST', '/users', body);
      for (const k of ['name', 'email', 'password', 'specialty', 'license']) nu[k].value = '';
      fb.tell(t('adm_user_created', made.full_name, t(`role_${made.role}`), made.email));
      table.reset();
    });
  } },
  h('h2', { id: createId }, t('adm_new_user')),
  h('div', { class: 'inline' }, field(t('adm_role'), nu.role), clinicField),
  h('div', { class: 'inline' }, field(t('full_name'), nu.name), field(t('email'), nu.email), field(t('adm_initial_password'), nu.password)),
  doctorFields,
  h('button', { type: 'submit', class: 'primary' }, t('adm_create_user')));
  shape();

  (async () => {
    try {
      s.clinics = await allPages('/clinics');
      replace(fl.clinic, clinicOptions(s.clinics, '', t('adm_all_clinics')));
      replace(nu.clinic, clinicOptions(s.clinics, s.clinics[0]?.id));
      await table.reset();
    } catch (e) { fb.say(e.message); }
  })();

  root.append(heading, fb.message, fb.done, editor, create, filters, h('div', { class: 'panel' }, table.el));
  return {
    el: root,
    close() {},
  };
}
