// doctor-panels: the side panels of the doctor's Today's Work: the day's counts (GET /dashboard/doctor/stats) and
// the doctor's line of waiting patients (GET /queue?doctor_id=), each with the button that calls them in.
import { h, replace } from './dom.js';
import { formatDate, formatMoney } from './format.js';
import { lang, t } from './i18n.js';
import { api } from './session.js';

export function renderStats(ctx) {
  const st = ctx.s.stats;
  const r = st.revenue_today;
  replace(ctx.statsEl, h('h2', { id: 'stats-h' }, t('todays_work'), ` · ${formatDate(st.date, lang())}`),
    h('dl', { class: 'numbers' },
      h('div', {}, h('dt', {}, t('stat_waiting')), h('dd', {}, String(st.today.waiting + st.today.called))),
      h('div', {}, h('dt', {}, t('stat_active')), h('dd', {}, String(st.today.active_consultations))),
      h('div', {}, h('dt', {}, t('stat_completed')), h('dd', {}, String(st.today.completed))),
      h('div', {}, h('dt', {}, t('stat_appointments')), h('dd', {}, String(st.appointments_today))),
      h('div', {}, h('dt', {}, t('stat_revenue')), h('dd', {}, formatMoney(r.total_cents, r.currency, lang())))));
}

export function renderQueue(ctx) {
  const waiting = ctx.s.board.phases.waiting;
  replace(ctx.queueEl, h('h2', { id: 'queue-h' }, `${t('my_queue')} (${waiting.length})`),
    waiting.length ? h('ol', { class: 'cards' }, waiting.map((e) => h('li', { class: `card ${e.status}` },
      h('h3', {}, h('span', { class: 'qn' }, t('queue_number_short', e.queue_number)), ' ', e.patient_name),
      h('p', { class: 'facts' }, `${t('waited_min', e.minutes_waited)} · ${t('position_est', e.position, e.estimated_wait_minutes)}`,
        e.status === 'called' ? ` · ${t('status_called')}` : ''),
      e.status === 'waiting' ? h('button', { type: 'button', 'aria-label': `${t('call_patient')}: ${e.patient_name}`,
        onclick: () => ctx.act(() => api('POST', `/visits/${e.id}/call`)) }, t('call_patient')) : null)))
      : h('p', { class: 'empty' }, t('nobody_waiting')));
}
