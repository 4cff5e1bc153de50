// admin-audit: the audit trail, newest first, with the filters GET /audit offers (action, kind of record, record
// id, acting user), paged by the API's cursor. The audit has no event of its own: "Search" reads it again. Actors
// are named from their accounts (read once each); times are on the wall clock of the zone picked (a clinic's, or
// the browser's), as the trail spans every clinic.
import { field, h } from './dom.js';
import { lang, t } from './i18n.js';
import { api } from './session.js';
import { formatInstant, pagedTable } from './admin-kit.js';
import { feedback } from './kit.js';
import { allPages } from './pages.js';

// AuditAction of openapi.yaml: the choices of the action filter (the server refuses any other).
const ACTIONS = [
  'login', 'login_failed', 'login_locked', 'login_throttled', 'logout_all', 'logout', 'token_refresh', 'refresh_reuse',
  'password_change', 'account_link_issued', 'account_link_used', 'password_reset_throttled', 'clinic_create',
  'clinic_update', 'clinic_delete', 'user_create', 'user_update', 'user_deactivate', 'doctor_update',
  'doctor_pix_change', 'patient_create', 'patient_update', 'patient_account_create', 'service_create',
  'service_update', 'availability_create', 'availability_delete', 'unavailability_create', 'unavailability_delete',
  'appointment_create', 'appointment_update', 'appointment_cancel', 'appointment_no_show', 'appointment_confirm',
  'appointment_decline', 'visit_check_in', 'visit_walk_in', 'visit_call', 'visit_left', 'visit_day_ended',
  'document_upload', 'document_delete', 'document_restore', 'photo_set', 'photo_delete', 'visit_move',
  'visit_complete', 'evolution_save', 'evolution_sign', 'evolution_addendum', 'video_timing_create',
  'video_timing_update', 'video_timing_delete', 'video_session_create', 'video_session_end', 'video_session_cancel',
  'video_invitation_create', 'video_invitation_revoke', 'fee_rule_set', 'fee_rule_delete', 'payment_create',
  'payment_pay', 'payment_refund', 'closing_create', 'closing_create_all', 'closing_close', 'closing_adjust',
  'closing_confirm_payment', 'closing_confirm_receipt', 'closing_dispute', 'closing_export', 'delivery_retry',
  'webhook_create', 'webhook_update', 'webhook_delete', 'webhook_rotate_secret', 'webhook_disable',
  'installation_reset', 'conversation_create', 'conversation_message_send', 'conversation_message_edit',
  'conversation_message_delete', 'conversation_read', 'announcement_create', 'patient_record_read', 'evolution_read',
  'visit_history_read', 'patient_history_read', 'video_token_issue', 'video_invitation_redeem', 'video_join',
  'video_leave', 'document_read',
];

// The kinds of record the server writes to the trail (AuditEntry.entity), for the kind filter and the names shown.
const ENTITIES = ['appointment', 'availability_rule', 'clinic', 'closing', 'delivery', 'doctor', 'evolution', 'fee_rule', 'patient',
  'payment', 'service', 'unavailability', 'user', 'video_invitation', 'video_session', 'visit', 'webhook', 'installation', 'announcement', 'conversation',
  'conversation_message', 'document', 'document_list'];

// An action or a kind in the interface's language; one the table does not know yet is shown as the server sends it.
const named = (family, code) => { const text = t(`${family}_${code}`); return text === `${family}_${code}` ? code : text; };

export function auditScreen() {
  const fb = feedback();
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const names = new Map(); // user id -> Promise of "name (role)"
  const f = {
    action: h('select', { name: 'audit-action' }, h('option', { value: '' }, t('adm_any_action')), ACTIONS.map((a) => h('option', { value: a }, t(`audit_action_${a}`)))),
    entity: h('select', { name: 'audit-entity' }, h('option', { value: '' }, t('adm_any_entity')),
      ENTITIES.map((x) => h('option', { value: x }, t(`audit_entity_${x}`)))),
    entityId: h('input', { name: 'audit-entity-id', type: 'number', min: 1, step: 1, class: 'short' }),
    actor: h('input', { name: 'audit-actor', type: 'number', min: 1, step: 1, class: 'short' }),
    zone: h('select', { name: 'audit-zone', onchange: () => table.reset() }, h('option', { value: browserZone }, t('adm_browser_zone', browserZone))),
  };

  function actorCell(e) {
    if (!e.actor_user_id) return '—';
    const cell = h('span', {}, `#${e.actor_user_id}`);
    if (!names.has(e.actor_user_id)) {
      names.set(e.actor_user_id, api('GET', `/users/${e.actor_user_id}`).then((u) => `${u.full_name} · ${u.email}`, () => null));
    }
    names.get(e.actor_user_id).then((n) => { if (n) cell.textContent = `${n} (#${e.actor_user_id})`; });
    return [cell, e.actor_role ? h('div', { class: 'meta' }, t(`role_${e.actor_role}`)) : null];
  }

  const table = pagedTable({
    caption: t('adm_audit_list'),
    onError: (e) => fb.say(e.message),
    load: (cursor) => {
      const p = new URLSearchParams();
      if (f.action.value) p.set('action', f.action.value);
      if (f.entity.value) p.set('entity', f.entity.value);
      if (f.entityId.value) p.set('entity_id', f.entityId.value);
      if (f.actor.value) p.set('actor_user_id', f.actor.value);
      p.set('limit', '50');
      if (cursor) p.set('cursor', cursor);
      return api('GET', `/audit?${p}`);
    },
    columns: [
      { head: t('adm_when'), cell: (e) => formatInstant(e.at, f.zone.value, lang()) },
      { head: t('adm_actor'), cell: actorCell },
      { head: t('adm_action'), cell: (e) => h('span', { title: e.action }, named('audit_action', e.action)) },
      { head: t('adm_entity'), cell: (e) => `${named('audit_entity', e.entity)}${e.entity_id ? ` #${e.entity_id}` : ''}` },
      { head: t('adm_details_col'), cell: (e) => h('code', { class: 'details' }, JSON.stringify(e.details)) },
    ],
  });

  const filters = h('form', { class: 'panel inline', 'aria-label': t('adm_filters'), onsubmit: (ev) => { ev.preventDefault(); fb.say(''); table.reset(); } },
    field(t('adm_action'), f.action), field(t('adm_entity'), f.entity), field(t('adm_entity_id'), f.entityId), field(t('adm_actor_id'), f.actor),
    field(t('adm_zone'), f.zone), h('button', { type: 'submit', class: 'primary' }, t('search')));

  (async () => {
    try {
      const clinics = await allPages('/clinics');
      const zones = [...new Set(clinics.map((c) => c.timezone))].filter((z) => z !== browserZone);
      f.zone.append(...zones.map((z) => h('option', { value: z }, z)));
      await table.reset();
    } catch (e) { fb.say(e.message); }
  })();

  return {
    el: h('section', { class: 'admin' }, h('h1', {}, t('title_audit')), fb.message, fb.done, filters, h('div', { class: 'panel' }, table.el)),
    close() {},
  };
}
