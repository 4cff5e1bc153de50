// admin-staff: the accounts the admin manages: users listed by clinic, role, state and a search (paged by the API's
// cursor), a new staff user (a receptionist, a doctor with their doctor profile, an admin), and an account
// deactivated (its sessions end) or reactivated. The server decides who needs a clinic, which e-mails are taken and
// that the last admin stays; its refusals are shown as it words them.
//
// This file holds the screen's state (ctx), the filters and the list with each account's state button; the editor
// is admin-staff-edit.js, the new user's form admin-staff-new.js.
import { field, h, replace } from './dom.js';
import { lang, t } from './i18n.js';
import { api } from './session.js';
import { clinicOptions, formatInstant, pagedTable } from './admin-kit.js';
import { feedback, focusKeeper } from './kit.js';
import { allPages } from './pages.js';
import { edit } from './admin-staff-edit.js';
import { newUserForm } from './admin-staff-new.js';

const ALL_ROLES = ['ADMIN', 'RECEPTIONIST', 'DOCTOR', 'PATIENT'];
const PIX_TYPES = ['cpf', 'cnpj', 'phone', 'email', 'evp']; // DoctorUpdate.pix_key_type

// The filters, and the query they make.
function staffFilters(ctx) {
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
  const el = h('form', { class: 'panel inline', 'aria-label': t('adm_filters'), onsubmit: (ev) => { ev.preventDefault(); ctx.fb.say(''); ctx.table.reset(); } },
    field(t('adm_clinic'), fl.clinic), field(t('adm_role'), fl.role), field(t('adm_state'), fl.active), field(t('adm_search_user'), fl.q),
    h('button', { type: 'submit' }, t('search')));
  return { el, clinic: fl.clinic, query };
}

function stateAction(ctx, u) {
  const { fb } = ctx;
  const who = `${u.full_name} (${u.email})`;
  if (u.active) {
    return h('button', { type: 'button', 'aria-label': `${t('adm_deactivate')}: ${who}`, onclick: () => fb.act(async () => {
      await api('POST', `/users/${u.id}/deactivate`);
      fb.tell(t('adm_user_deactivated', u.full_name));
      ctx.table.reset();
    }) }, t('adm_deactivate'));
  }
  return h('button', { type: 'button', 'aria-label': `${t('adm_reactivate')}: ${who}`, onclick: () => fb.act(async () => {
    await api('PATCH', `/users/${u.id}`, { active: true });
    fb.tell(t('adm_user_reactivated', u.full_name));
    ctx.table.reset();
  }) }, t('adm_reactivate'));
}

function usersTable(ctx, query) {
  const { s, fb } = ctx;
  const clinicName = (id) => s.clinics.find((c) => c.id === id)?.name || (id ? `#${id}` : t('adm_no_clinic'));
  const zoneOf = (u) => s.clinics.find((c) => c.id === u.clinic_id)?.timezone || s.zone;
  return pagedTable({
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
          onclick: () => fb.act(() => edit(ctx, u)) }, t('adm_edit')),
        stateAction(ctx, u)) },
    ],
  });
}

export function staffScreen() {
  const fb = feedback();
  const s = { clinics: [], zone: Intl.DateTimeFormat().resolvedOptions().timeZone };
  const heading = h('h1', { tabindex: '-1' }, t('title_staff'));
  const root = h('section', { class: 'admin' });
  const ctx = { s, fb, pixTypes: PIX_TYPES, editor: h('div'), keep: focusKeeper(root, [fb.message, fb.done, heading]) };
  // The editor closed: the keyboard goes back to the account's Edit button (focusKeeper).
  ctx.closeEditor = () => ctx.keep(() => replace(ctx.editor));
  const filters = staffFilters(ctx);
  ctx.table = usersTable(ctx, filters.query);
  const create = newUserForm(ctx);

  (async () => {
    try {
      s.clinics = await allPages('/clinics');
      replace(filters.clinic, clinicOptions(s.clinics, '', t('adm_all_clinics')));
      replace(create.clinic, clinicOptions(s.clinics, s.clinics[0]?.id));
      await ctx.table.reset();
    } catch (e) { fb.say(e.message); }
  })();

  root.append(heading, fb.message, fb.done, ctx.editor, create.el, filters.el, h('div', { class: 'panel' }, ctx.table.el));
  return {
    el: root,
    close() {},
  };
}
