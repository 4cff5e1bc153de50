// desk: the receptionist's board of the day, live. Three phases as the API returns them (GET /queue), today's
// confirmed appointments to check in, a walk-in form, and the payments of completed consultations. Every change
// comes back as pushed events, which reload what they concern; nothing is polled. Every action is one API call
// whose refusal is shown as the API's message: the console decides no rule the server does not enforce.
import { field, h, replace, uid } from './dom.js';
import { formatDate, formatMoney, formatTime } from './format.js';
import { lang, t } from './i18n.js';
import { connectLive } from './live.js';
import { api, currentUser } from './session.js';

const METHODS = ['cash', 'card', 'pix', 'insurance', 'other'];
// Events that change what the desk shows.
// (participant_joined / participant_left: a doctor connected or left, for the online flags.)
const RELOAD_ON = new Set(['queue_updated', 'new_checkin', 'visit_status_changed', 'patient_with_doctor', 'consultation_completed',
  'appointment_created', 'appointment_updated', 'appointment_cancelled', 'payment_processed', 'participant_joined', 'participant_left']);

export function deskScreen() {
  const me = currentUser();
  const s = {
    clinic: null, doctors: [], services: [], board: null, stats: null, loadedAt: 0, cancelling: null, payMethod: new Map(), payKey: new Map(), appointments: [], pending: new Map(),
    settled: new Map(), patients: new Map(), doctorFilter: '', live: 'offline', found: [], closed: false,
  };
  const statusLine = h('p', { class: 'live', role: 'status', 'aria-live': 'polite' });
  const message = h('p', { class: 'message', role: 'alert' });
  const done = h('p', { class: 'done', role: 'status' }); // what an action did, when it is not on the board
  const summary = h('div', { class: 'summary' });
  const columns = h('div', { class: 'columns' });
  const side = h('aside', { class: 'side', 'aria-label': t('desk_side') });
  const el = h('section', { class: 'desk' },
    h('div', { class: 'desk-head' }, h('h1', {}, t('desk_title')), statusLine), message, done, summary,
    h('div', { class: 'desk-body' }, columns, side));

  const say = (text) => { message.textContent = text || ''; };
  const tell = (text) => { done.textContent = text || ''; };
  // Runs an action; its refusal is shown as the API's message (with the fields it names, for a 422).
  const act = async (fn) => {
    say('');
    tell('');
    try { await fn(); } catch (e) { say(describeError(e)); }
  };

  let pendingReload = null;
  const reload = () => {
    clearTimeout(pendingReload);
    pendingReload = setTimeout(() => load().catch((e) => say(e.message)), 120);
  };

  async function patientName(id) {
    if (!s.patients.has(id)) s.patients.set(id, api('GET', `/patients/${id}`).then((p) => p.full_name, () => `#${id}`));
    return s.patients.get(id);
  }

  // Loads can overlap (an event during a load): only the latest one's answers are shown.
  let loads = 0;
  async function load() {
    if (s.closed) return;
    const mine = ++loads;
    const q = s.doctorFilter ? `?doctor_id=${s.doctorFilter}` : '';
    const board = await api('GET', `/queue${q}`);
    const [appts, pays, stats] = await Promise.all([
      api('GET', `/appointments?from=${board.date}&to=${board.date}&status=confirmed&limit=200${s.doctorFilter ? `&doctor_id=${s.doctorFilter}` : ''}`),
      api('GET', '/payments?limit=200'), // the clinic's latest: today's consultations among them
      api('GET', '/dashboard/reception/stats'),
    ]);
    const names = await Promise.all(appts.items.map((a) => patientName(a.patient_id)));
    if (mine !== loads || s.closed) return;
    s.board = board;
    s.stats = stats;
    s.loadedAt = Date.now();
    s.appointments = appts.items.map((a, i) => ({ ...a, patient_name: names[i] }));
    s.pending = new Map(pays.items.filter((p) => p.status === 'pending').map((p) => [p.visit_id, p]));
    for (const p of pays.items) if (p.status !== 'pending') s.settled.set(p.visit_id, p);
    render();
  }

  const doctorName = (id) => s.doctors.find((d) => d.id === id)?.full_name || `#${id}`;
  const money = (cents, currency) => formatMoney(cents, currency || s.clinic.currency, lang());
  const time = (instant) => formatTime(instant, s.clinic.timezone, lang());
  // Minutes waited as the board said, plus the time since it was read for those still waiting.
  const waited = (e) => e.minutes_waited + (e.phase === 'waiting' ? Math.floor((Date.now() - s.loadedAt) / 60000) : 0);

  function card(e) {
    const who = e.patient_name;
    const actions = [];
    if (e.phase === 'waiting') {
      actions.push(h('button', { type: 'button', class: 'primary', 'aria-label': `${t('send_to_doctor')}: ${who}`,
        onclick: () => act(() => api('POST', '/queue/phase/move', { visit_id: e.id, phase: 'with_doctor' })) }, t('send_to_doctor')));
      actions.push(h('button', { type: 'button', 'aria-label': `${t('mark_left')}: ${who}`,
        onclick: () => act(() => api('POST', `/visits/${e.id}/left`)) }, t('mark_left')));
    } else if (e.phase === 'with_doctor') {
      actions.push(h('button', { type: 'button', 'aria-label': `${t('back_to_waiting')}: ${who}`,
        onclick: () => act(() => api('POST', '/queue/phase/move', { visit_id: e.id, phase: 'waiting' })) }, t('back_to_waiting')));
    } else {
      actions.push(paymentBlock(e));
    }
    const facts = [
      e.phase === 'waiting' ? t('waited_min', waited(e)) : e.phase === 'with_doctor' ? t('since', time(e.start_time)) : t('ended_at', time(e.end_time)),
      e.phase === 'waiting' ? t('position_est', e.position, e.estimated_wait_minutes) : null,
    ].filter(Boolean);
    return h('li', { class: `card ${e.status}` },
      h('article', { 'aria-label': `${t('queue_number_short', e.queue_number)} ${who}` },
        h('h3', {}, h('span', { class: 'qn' }, t('queue_number_short', e.queue_number)), ' ', who),
        h('p', { class: 'meta' }, `${doctorName(e.doctor_id)}${e.service_name ? ` · ${e.service_name}` : ''}${e.status === 'called' ? ` · ${t('status_called')}` : ''}`),
        h('p', { class: 'facts' }, facts.join(' · ')),
        h('div', { class: 'actions' }, actions)));
  }

  function paymentBlock(e) {
    const p = s.pending.get(e.id);
    if (!p) {
      const done = s.settled.get(e.id);
      return h('p', { class: done ? 'paid' : 'meta' }, done ? t(`payment_${done.status}`) : t('no_pending_payment'));
    }
    // The method picked and the Idempotency-Key are kept per payment across renders (an event may redraw the board
    // between picking and paying); one key per payment, so a repeated click cannot pay twice.
    const method = h('select', { name: 'method', onchange: (ev) => s.payMethod.set(p.id, ev.target.value) },
      METHODS.map((m) => h('option', { value: m, selected: m === s.payMethod.get(p.id) }, t(`method_${m}`))));
    if (!s.payKey.has(p.id)) s.payKey.set(p.id, crypto.randomUUID());
    const key = s.payKey.get(p.id);
    return h('form', { class: 'pay', 'aria-label': `${t('payment_of')} ${e.patient_name}`,
      onsubmit: (ev) => {
        ev.preventDefault();
        act(async () => {
          const paid = await api('POST', `/payments/${p.id}/pay`, { method: method.value }, { 'idempotency-key': key });
          s.settled.set(e.id, paid);
          s.pending.delete(e.id);
          render();
        });
      } },
      h('p', { class: 'amount' }, `${t('amount_due')}: `, h('strong', {}, money(p.amount_cents, p.currency))),
      field(t('payment_method'), method),
      h('button', { type: 'submit', class: 'primary', 'aria-label': `${t('take_payment')}: ${e.patient_name}` }, t('take_payment')));
  }

  function column(phase, entries) {
    const id = uid('col');
    return h('section', { class: `column ${phase}`, 'aria-labelledby': id },
      h('h2', { id }, `${t(`phase_${phase}`)} (${entries.length})`),
      entries.length ? h('ol', { class: 'cards' }, entries.map(card)) : h('p', { class: 'empty' }, t('nobody')));
  }

  function renderSummary() {
    const b = s.board;
    // The longest estimated wait of each doctor's line, from the board.
    const longest = new Map();
    for (const e of b.phases.waiting) longest.set(e.doctor_id, Math.max(longest.get(e.doctor_id) || 0, e.estimated_wait_minutes || 0));
    const filter = h('select', { onchange: (ev) => { s.doctorFilter = ev.target.value; load().catch((err) => say(err.message)); } },
      h('option', { value: '' }, t('all_doctors')),
      s.doctors.map((d) => h('option', { value: String(d.id), selected: String(d.id) === s.doctorFilter }, d.full_name)));
    const avg = s.stats.average_wait_minutes;
    replace(summary,
      h('div', { class: 'clinic-line' },
        h('strong', {}, s.clinic.name), ` · ${formatDate(b.date, lang())} · `,
        t('counts', b.counts.waiting, b.counts.with_doctor, b.counts.completed, b.counts.left),
        avg === null ? '' : ` · ${t('average_wait', avg)}`),
      field(t('doctor_filter'), filter),
      h('ul', { class: 'per-doctor', 'aria-label': t('per_doctor') }, s.stats.doctors.map((d) =>
        h('li', {}, h('span', { class: d.online ? 'online' : 'away' }, d.online ? t('online') : t('away')), ' ',
          h('strong', {}, d.full_name),
          `: ${t('doctor_line', d.waiting, longest.get(d.doctor_id) || 0, b.median_consultation_minutes[String(d.doctor_id)] ?? '—')}`,
          d.in_progress ? ` · ${t('in_consultation')}` : ''))));
  }

  function renderSide() {
    const appts = h('section', { class: 'panel', 'aria-labelledby': 'appts-h' },
      h('h2', { id: 'appts-h' }, t('todays_appointments')),
      s.appointments.length
        ? h('ul', { class: 'appts' }, s.appointments.map(appointmentRow))
        : h('p', { class: 'empty' }, t('no_appointments')));
    replace(side, appts, walkInForm(), bookForm());
  }

  const cancelReason = h('input', { name: 'cancel-reason', autocomplete: 'off', required: true });
  // One of today's appointments: check in, or cancel with a reason (asked for in the row).
  function appointmentRow(a) {
    const row = h('li', {},
      h('span', {}, h('span', { class: 'when' }, time(a.start_time)), ' ', h('span', { class: 'who' }, a.patient_name),
        h('br'), h('span', { class: 'meta' }, doctorName(a.doctor_id))),
      h('span', { class: 'actions' },
        h('button', { type: 'button', 'aria-label': `${t('check_in')}: ${a.patient_name}`,
          onclick: () => act(() => api('POST', `/appointments/${a.id}/check-in`)) }, t('check_in')),
        h('button', { type: 'button', 'aria-label': `${t('cancel')}: ${a.patient_name}`,
          onclick: () => { s.cancelling = a.id; cancelReason.value = ''; renderSide(); cancelReason.focus(); } }, t('cancel'))));
    if (s.cancelling !== a.id) return row;
    const reason = cancelReason; // the same element across renders: what is typed survives an event
    row.append(h('form', { class: 'cancel', 'aria-label': `${t('cancel')}: ${a.patient_name}`, onsubmit: (ev) => {
      ev.preventDefault();
      act(async () => {
        await api('POST', `/appointments/${a.id}/cancel`, { reason: reason.value.trim() });
        s.cancelling = null;
        tell(t('cancelled', a.patient_name, time(a.start_time)));
        reload();
      });
    } }, field(t('cancel_reason'), reason), h('button', { type: 'submit' }, t('confirm_cancel')),
    h('button', { type: 'button', onclick: () => { s.cancelling = null; renderSide(); } }, t('keep_appointment'))));
    return row;
  }

  // Booking from a doctor's free slots (GET /doctors/{id}/slots, computed in the clinic's zone by the server), for
  // the patient picked in the walk-in form above.
  const bk = {
    open: false,
    doctor: h('select', { name: 'book-doctor' }),
    service: h('select', { name: 'book-service' }),
    date: h('input', { name: 'book-date', type: 'date' }),
    slots: null, // the free slots shown, or null before a search
  };
  function bookForm() {
    const keepDoctor = bk.doctor.value;
    replace(bk.doctor, s.doctors.map((d) => h('option', { value: String(d.id), selected: String(d.id) === keepDoctor }, d.full_name)));
    const keepService = bk.service.value;
    replace(bk.service, s.services.map((sv) => h('option', { value: String(sv.id), selected: String(sv.id) === keepService }, sv.name)));
    if (!bk.date.value && s.board) bk.date.value = s.board.date;
    const search = () => act(async () => {
      const d = bk.date.value;
      bk.slots = (await api('GET', `/doctors/${bk.doctor.value}/slots?from=${d}&to=${d}&type=in_person`)).items;
      renderSide();
    });
    const book = (slot) => act(async () => {
      const patient = s.found.find((p) => String(p.id) === wi.patient.value);
      const body = { patient_id: patient ? patient.id : null, doctor_id: Number(bk.doctor.value), service_id: Number(bk.service.value),
        start_time: slot.start_time, consultation_type: slot.consultation_type };
      await api('POST', '/appointments', body);
      bk.slots = null;
      tell(t('booked', patient?.full_name || '', formatDate(bk.date.value, lang()), time(slot.start_time)));
      reload();
    });
    return h('details', { class: 'panel book', open: bk.open || null, ontoggle: (ev) => { bk.open = ev.target.open; } },
      h('summary', {}, t('book')),
      h('p', { class: 'meta' }, t('book_for_patient_above')),
      field(t('doctor'), bk.doctor), field(t('service'), bk.service), field(t('date'), bk.date),
      h('button', { type: 'button', onclick: search }, t('free_slots')),
      bk.slots === null ? null : bk.slots.length
        ? h('ul', { class: 'slots', 'aria-label': t('free_slots') }, bk.slots.map((slot) => h('li', {},
          h('button', { type: 'button', 'aria-label': `${t('book_at')} ${time(slot.start_time)}`, onclick: () => book(slot) }, time(slot.start_time)))))
        : h('p', { class: 'empty' }, t('no_free_slots')));
  }

  // The walk-in form keeps its inputs across re-renders (the board changes while someone types).
  const wi = {
    query: h('input', { type: 'search', name: 'patient-query', autocomplete: 'off' }),
    patient: h('select', { name: 'patient' }),
    doctor: h('select', { name: 'doctor' }),
    service: h('select', { name: 'service' }),
  };
  function walkInForm() {
    const keepPatient = wi.patient.value;
    replace(wi.patient, s.found.length ? s.found.map((p) => h('option', { value: String(p.id), selected: String(p.id) === keepPatient },
      `${p.full_name}${p.birth_date ? ` (${p.birth_date})` : ''}`))
      : h('option', { value: '' }, t('search_first')));
    const keepDoctor = wi.doctor.value;
    replace(wi.doctor, s.doctors.map((d) => h('option', { value: String(d.id), selected: String(d.id) === keepDoctor }, d.full_name)));
    const keepService = wi.service.value;
    replace(wi.service, h('option', { value: '' }, t('no_service')),
      s.services.map((sv) => h('option', { value: String(sv.id), selected: String(sv.id) === keepService }, `${sv.name} · ${money(sv.price_cents, sv.currency)}`)));
    const search = async () => act(async () => {
      const q = wi.query.value.trim();
      s.found = q ? (await api('GET', `/patients?q=${encodeURIComponent(q)}&limit=20`)).items : [];
      renderSide();
      wi.patient.focus();
    });
    return h('div', {}, h('form', { class: 'panel walkin', 'aria-labelledby': 'walkin-h', onsubmit: (ev) => {
      ev.preventDefault();
      act(async () => {
        const body = { patient_id: Number(wi.patient.value) || null, doctor_id: Number(wi.doctor.value) || null };
        if (wi.service.value) body.service_id = Number(wi.service.value);
        await api('POST', '/visits', body);
        s.found = [];
        wi.query.value = '';
        renderSide();
      });
    } },
    h('h2', { id: 'walkin-h' }, t('walk_in')),
    h('div', { class: 'inline' }, field(t('find_patient'), wi.query),
      h('button', { type: 'button', onclick: search }, t('search'))),
    field(t('patient'), wi.patient), field(t('doctor'), wi.doctor), field(t('service'), wi.service),
    h('button', { type: 'submit', class: 'primary' }, t('add_to_queue'))), registerForm());
  }

  // A new patient, registered by the desk (the API checks the CPF, the phone and the dates), then picked for the
  // walk-in.
  const reg = {
    open: false, // whether the form is unfolded (kept across re-renders)
    name: h('input', { name: 'full_name', autocomplete: 'off', required: true }),
    phone: h('input', { name: 'phone', type: 'tel', autocomplete: 'off' }),
    cpf: h('input', { name: 'cpf', autocomplete: 'off', inputmode: 'numeric' }),
    birth: h('input', { name: 'birth_date', type: 'date' }),
  };
  function registerForm() {
    return h('details', { class: 'panel register', open: reg.open || null, ontoggle: (ev) => { reg.open = ev.target.open; } },
      h('summary', {}, t('register_patient')), h('form', { 'aria-label': t('register_patient'), onsubmit: (ev) => {
      ev.preventDefault();
      act(async () => {
        const body = { full_name: reg.name.value.trim() };
        if (reg.phone.value.trim()) body.phone = reg.phone.value.trim();
        if (reg.cpf.value.trim()) body.cpf = reg.cpf.value.trim();
        if (reg.birth.value) body.birth_date = reg.birth.value;
        const created = await api('POST', '/patients', body);
        for (const input of [reg.name, reg.phone, reg.cpf, reg.birth]) input.value = '';
        reg.open = false;
        s.found = [created];
        renderSide();
        wi.patient.focus();
      });
    } },
    field(t('full_name'), reg.name), h('div', { class: 'inline' }, field(t('phone'), reg.phone), field(t('cpf'), reg.cpf)),
    field(t('birth_date'), reg.birth),
    h('button', { type: 'submit' }, t('register'))));
  }

  function render() {
    if (!s.board) return;
    // Keep the keyboard where it was. The inputs of the side forms are the same elements across renders (what is
    // typed stays, and they get the focus back); a rebuilt button is found again by its accessible name.
    const active = el.contains(document.activeElement) ? document.activeElement : null;
    const key = active ? active.getAttribute('aria-label') || active.textContent : null;
    renderSummary();
    replace(columns, column('waiting', s.board.phases.waiting), column('with_doctor', s.board.phases.with_doctor),
      column('completed', s.board.phases.completed));
    renderSide();
    if (active?.isConnected) active.focus();
    else if (active) [...el.querySelectorAll('button, select, input, summary')].find((b) => (b.getAttribute('aria-label') || b.textContent) === key)?.focus();
  }

  const liveText = () => { statusLine.textContent = s.live === 'live' ? t('live') : t('offline'); statusLine.className = `live ${s.live}`; };
  liveText();
  const live = connectLive({
    status: (st) => { s.live = st; liveText(); },
    connected: reload,
    event: (name, data) => {
      if (name === 'payment_processed' && data?.payment) s.settled.set(data.payment.visit_id, data.payment);
      if (RELOAD_ON.has(name)) reload();
    },
  });
  // Minutes waited move on between events (no API call).
  const tick = setInterval(render, 30000);

  (async () => {
    try {
      const [clinic, doctors, services] = await Promise.all([
        api('GET', `/clinics/${me.clinic_id}`), api('GET', '/doctors?limit=200'), api('GET', '/services?limit=200'),
      ]);
      s.clinic = clinic;
      s.doctors = doctors.items;
      s.services = services.items.filter((sv) => sv.active);
      await load();
    } catch (e) { say(e.message); }
  })();

  return {
    el,
    close() {
      s.closed = true;
      clearInterval(tick);
      clearTimeout(pendingReload);
      live.close();
    },
  };
}

// The API's message, and for a 422 the fields it names.
function describeError(e) {
  const fields = e.fields ? Object.entries(e.fields).map(([k, v]) => `${k}: ${v}`).join('; ') : '';
  return fields ? `${e.message} (${fields})` : e.message;
}
