// doctor-upcoming: the doctor's coming appointments on Today's Work (GET /dashboard/doctor/appointments, from
// today: confirmed and checked in), with the day and time in the clinic's zone. Doctor.js reloads it on the
// appointment events of the doctor's rooms, so a booking, a reschedule or a cancellation at the desk shows here
// without a reload.
import { h } from './dom.js';
import { formatDateTime } from './format.js';
import { lang, t } from './i18n.js';
import { api } from './session.js';

// The next 20 (one page): the panel shows the soonest, and says "20+" when the API has more after them.
export const loadUpcoming = () => api('GET', '/dashboard/doctor/appointments?limit=20');

export function upcomingPanel(page, zone) {
  const items = page.items;
  return h('section', { class: 'panel upcoming', 'aria-labelledby': 'upcoming-h' },
    h('h2', { id: 'upcoming-h' }, `${t('upcoming_appointments')} (${items.length}${page.next_cursor ? '+' : ''})`),
    items.length ? h('ul', { class: 'appts' }, items.map(({ appointment: a, patient, service }) => h('li', {},
      h('span', {}, h('span', { class: 'when' }, formatDateTime(a.start_time, zone, lang())), ' ', h('span', { class: 'who' }, patient.full_name),
        h('br'), h('span', { class: 'meta' }, `${service.name} · ${t(`type_${a.consultation_type}`)} · ${t(`appt_${a.status}`)}`)))))
      : h('p', { class: 'empty' }, t('no_upcoming')));
}
