// admin-staff-new: the admin's form for a new staff user (a receptionist, a doctor with their doctor profile, an
// admin). The clinic is asked for a receptionist or a doctor, the profile fields for a doctor; whether a clinic is
// needed and which e-mails are taken is the server's to say.
import { field, h, uid } from './dom.js';
import { t } from './i18n.js';
import { api } from './session.js';

const STAFF_ROLES = ['RECEPTIONIST', 'DOCTOR', 'ADMIN'];

// -> {el, clinic}: the form, and its clinic select (filled once the clinics are known).
export function newUserForm(ctx) {
  const { fb } = ctx;
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
  const el = h('form', { class: 'panel', 'aria-labelledby': createId, onsubmit: (ev) => {
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
      ctx.table.reset();
    });
  } },
  h('h2', { id: createId }, t('adm_new_user')),
  h('div', { class: 'inline' }, field(t('adm_role'), nu.role), clinicField),
  h('div', { class: 'inline' }, field(t('full_name'), nu.name), field(t('email'), nu.email), field(t('adm_initial_password'), nu.password)),
  doctorFields,
  h('button', { type: 'submit', class: 'primary' }, t('adm_create_user')));
  shape();
  return { el, clinic: nu.clinic };
}
