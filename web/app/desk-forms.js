// desk-forms: the desk's side forms: a walk-in (find the patient, pick the doctor and service, add to the queue),
// registering a new patient (the API checks the CPF, the phone and the dates), and booking from a doctor's free
// slots for the patient picked in the walk-in form. Their inputs are created once per screen (deskForms) and kept
// across re-renders, so what is typed survives the board's events.
import { field, h, replace } from './dom.js';
import { formatDate } from './format.js';
import { lang, t } from './i18n.js';
import { api } from './session.js';
import { rowInputs } from './desk-appointments.js';
import { freeSlots, slotButtons } from './desk-slots.js';

export function deskForms() {
  return {
    wi: {
      query: h('input', { type: 'search', name: 'patient-query', autocomplete: 'off' }),
      patient: h('select', { name: 'patient' }),
      doctor: h('select', { name: 'doctor' }),
      service: h('select', { name: 'service' }),
    },
    bk: { open: false, doctor: h('select', { name: 'book-doctor' }), service: h('select', { name: 'book-service' }), date: h('input', { name: 'book-date', type: 'date' }), slots: null },
    reg: {
      open: false, // whether the form is unfolded
      name: h('input', { name: 'full_name', autocomplete: 'off', required: true }),
      phone: h('input', { name: 'phone', type: 'tel', autocomplete: 'off' }),
      cpf: h('input', { name: 'cpf', autocomplete: 'off', inputmode: 'numeric' }),
      birth: h('input', { name: 'birth_date', type: 'date' }),
    },
    row: rowInputs(),
  };
}

// Refills a select with options, keeping what was picked.
function refill(select, items, label, first = []) {
  const keep = select.value;
  replace(select, first, items.map((x) => h('option', { value: String(x.id), selected: String(x.id) === keep }, label(x))));
}

export function bookForm(ctx) {
  const { s, forms: { bk, wi } } = ctx;
  refill(bk.doctor, s.doctors, (d) => d.full_name);
  refill(bk.service, s.services, (sv) => sv.name);
  if (!bk.date.value && s.board) bk.date.value = s.board.date;
  const search = () => ctx.act(async () => {
    bk.slots = await freeSlots(bk.doctor.value, bk.date.value, 'in_person');
    ctx.renderSide();
  });
  const book = (slot) => ctx.act(async () => {
    const patient = s.found.find((p) => String(p.id) === wi.patient.value);
    const body = { patient_id: patient ? patient.id : null, doctor_id: Number(bk.doctor.value), service_id: Number(bk.service.value),
      start_time: slot.start_time, consultation_type: slot.consultation_type };
    await api('POST', '/appointments', body);
    bk.slots = null;
    ctx.tell(t('booked', patient?.full_name || '', formatDate(bk.date.value, lang()), ctx.time(slot.start_time)));
    ctx.reload();
  });
  return h('details', { class: 'panel book', open: bk.open || null, ontoggle: (ev) => { bk.open = ev.target.open; } },
    h('summary', {}, t('book')),
    h('p', { class: 'meta' }, t('book_for_patient_above')),
    field(t('doctor'), bk.doctor), field(t('service'), bk.service), field(t('date'), bk.date),
    h('button', { type: 'button', onclick: search }, t('free_slots')),
    slotButtons(ctx, bk.slots, t('book_at'), book));
}

export function walkInForm(ctx) {
  const { s, forms: { wi } } = ctx;
  const keepPatient = wi.patient.value;
  replace(wi.patient, s.found.length ? s.found.map((p) => h('option', { value: String(p.id), selected: String(p.id) === keepPatient },
    `${p.full_name}${p.birth_date ? ` (${p.birth_date})` : ''}`))
    : h('option', { value: '' }, t('search_first')));
  refill(wi.doctor, s.doctors, (d) => d.full_name);
  refill(wi.service, s.services, (sv) => `${sv.name} · ${ctx.money(sv.price_cents, sv.currency)}`, h('option', { value: '' }, t('no_service')));
  const search = async () => ctx.act(async () => {
    const q = wi.query.value.trim();
    s.found = q ? (await api('GET', `/patients?q=${encodeURIComponent(q)}&limit=20`)).items : [];
    ctx.renderSide();
    wi.patient.focus();
  });
  return h('div', {}, h('form', { class: 'panel walkin', 'aria-labelledby': 'walkin-h', onsubmit: (ev) => {
    ev.preventDefault();
    ctx.act(async () => {
      const body = { patient_id: Number(wi.patient.value) || null, doctor_id: Number(wi.doctor.value) || null };
      if (wi.service.value) body.service_id = Number(wi.service.value);
      await api('POST', '/visits', body);
      s.found = [];
      wi.query.value = '';
      ctx.renderSide();
    });
  } },
  h('h2', { id: 'walkin-h' }, t('walk_in')),
  h('div', { class: 'inline' }, field(t('find_patient'), wi.query),
    h('button', { type: 'button', onclick: search }, t('search'))),
  field(t('patient'), wi.patient), field(t('doctor'), wi.doctor), field(t('service'), wi.service),
  h('button', { type: 'submit', class: 'primary' }, t('add_to_queue'))), registerForm(ctx));
}

// A new patient, registered by the desk, then picked for the walk-in.
function registerForm(ctx) {
  const { s, forms: { reg, wi } } = ctx;
  return h('details', { class: 'panel register', open: reg.open || null, ontoggle: (ev) => { reg.open = ev.target.open; } },
    h('summary', {}, t('register_patient')), h('form', { 'aria-label': t('register_patient'), onsubmit: (ev) => {
      ev.preventDefault();
      ctx.act(async () => {
        const body = { full_name: reg.name.value.trim() };
        if (reg.phone.value.trim()) body.phone = reg.phone.value.trim();
        if (reg.cpf.value.trim()) body.cpf = reg.cpf.value.trim();
        if (reg.birth.value) body.birth_date = reg.birth.value;
        const created = await api('POST', '/patients', body);
        for (const input of [reg.name, reg.phone, reg.cpf, reg.birth]) input.value = '';
        reg.open = false;
        s.found = [created];
        ctx.renderSide();
        wi.patient.focus();
      });
    } },
    field(t('full_name'), reg.name), h('div', { class: 'inline' }, field(t('phone'), reg.phone), field(t('cpf'), reg.cpf)),
    field(t('birth_date'), reg.birth),
    h('button', { type: 'submit' }, t('register'))));
}
