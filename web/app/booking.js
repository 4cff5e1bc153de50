// booking: the patient books for themself. They pick a doctor, a service, in person or by video, and a day (of
// the clinic's time zone); the free slots are the server's (GET /doctors/{id}/slots); a slot is booked with
// POST /appointments, which decides (published hours, double booking) and whose refusals are shown as they come.
import { field, h, replace } from './dom.js';
import { formatDate, formatTime, localDate } from './format.js';
import { lang, t } from './i18n.js';
import { busy, focusKeeper } from './kit.js';
import { api } from './session.js';
import { clinicFacts } from './patient.js';

const TYPES = ['in_person', 'video']; // openapi.yaml ConsultationType

export function bookingScreen() {
  const s = { facts: null, slots: null, asked: null, closed: false };
  const heading = h('h1', { tabindex: '-1' }, t('book_title'));
  const message = h('p', { class: 'message', role: 'alert', tabindex: '-1' });
  const done = h('p', { class: 'done', role: 'status', tabindex: '-1' });
  const doctor = h('select', { name: 'doctor', required: true });
  const service = h('select', { name: 'service', required: true });
  const type = h('select', { name: 'consultation_type' }, TYPES.map((x) => h('option', { value: x }, t(`type_${x}`))));
  const date = h('input', { type: 'date', name: 'date', required: true });
  const slotsEl = h('section', { class: 'slots-wrap', 'aria-labelledby': 'slots-h', 'aria-live': 'polite' });
  const form = h('form', { class: 'panel booking', onsubmit: (ev) => { ev.preventDefault(); done.textContent = ''; search(); } },
    field(t('doctor'), doctor), field(t('service'), service), field(t('consultation_type'), type), field(t('date'), date),
    h('button', { type: 'submit', class: 'primary' }, t('show_free_slots')));
  const el = h('section', { class: 'patient-screen' }, heading, message, done, form, slotsEl);

  // A booked slot leaves the list: the keyboard goes to the line saying it was booked.
  const keep = focusKeeper(el, [message, done, heading]);
  const say = (text) => { message.textContent = text || ''; };
  const zone = () => s.facts.clinic.timezone;

  async function search(again = false) {
    say('');
    if (!again) s.asked = { doctor: Number(doctor.value), service: Number(service.value), type: type.value, date: date.value };
    try {
      const list = await api('GET', `/doctors/${s.asked.doctor}/slots?from=${s.asked.date}&to=${s.asked.date}&type=${s.asked.type}`);
      if (s.closed) return;
      s.slots = list.items;
      renderSlots();
    } catch (e) { say(e.message); }
  }

  async function book(slot) {
    say('');
    try {
      const a = await api('POST', '/appointments', {
        doctor_id: s.asked.doctor, service_id: s.asked.service, start_time: slot.start_time, consultation_type: s.asked.type,
      });
      const d = s.facts.doctors.get(a.doctor_id);
      done.replaceChildren(t('my_booked', formatDate(localDate(zone(), Date.parse(a.start_time)), lang()), formatTime(a.start_time, zone(), lang()),
        d?.full_name || ''), ' ', h('a', { href: '#/patient' }, t('see_my_appointments')));
      await search(true);
    } catch (e) { say(e.message); }
  }

  function renderSlots() {
    const d = s.facts.doctors.get(s.asked.doctor);
    // While a slot is being booked every slot button is disabled: a double click books once.
    const list = h('ul', { class: 'slots' }, s.slots.map((sl) => h('li', {}, h('button', { type: 'button', onclick: () => busy(list, () => book(sl)),
      'aria-label': `${t('book_at')} ${formatTime(sl.start_time, zone(), lang())}` }, formatTime(sl.start_time, zone(), lang())))));
    keep(() => replace(slotsEl, h('h2', { id: 'slots-h' }, t('free_slots_of', d?.full_name || '', formatDate(s.asked.date, lang()))),
      s.slots.length ? list : h('p', { class: 'empty' }, t('no_free_slots'))));
  }

  (async () => {
    try {
      s.facts = await clinicFacts();
      if (s.closed) return;
      replace(doctor, [...s.facts.doctors.values()].filter((d) => d.active).map((d) => h('option', { value: d.id },
        d.specialty ? `${d.full_name} (${d.specialty})` : d.full_name)));
      replace(service, [...s.facts.services.values()].filter((x) => x.active).map((x) => h('option', { value: x.id },
        `${x.name} · ${t('minutes', x.duration_minutes)}`)));
      date.value = localDate(zone());
    } catch (e) { say(e.message); }
  })();

  return {
    el,
    focus: () => heading.focus(),
    close() { s.closed = true; },
  };
}
