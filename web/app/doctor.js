// doctor: Today's Work of the signed-in doctor, live. The day's counts (GET /dashboard/doctor/stats), their line
// (GET /queue?doctor_id=), their coming appointments (doctor-upcoming.js), and the patient card, which appears when the desk sends a patient in: the
// `patient_with_doctor` event of the doctor's own room carries the visit, the patient and the history with this
// doctor. The consultation view writes the evolution (notes, ICD-10 diagnoses), signs it and completes the
// consultation; the server decides what is allowed (a signed evolution cannot change, only the visit's doctor
// completes) and its refusals are shown as they come.
import { field, h, replace } from './dom.js';
import { formatDate, formatMoney, formatTime } from './format.js';
import { lang, t } from './i18n.js';
import { focusKeeper, liveLine } from './kit.js';
import { connectLive } from './live.js';
import { api, currentUser } from './session.js';
import { loadUpcoming, upcomingPanel } from './doctor-upcoming.js';

const ROUTES = ['oral', 'sublingual', 'topical', 'inhaled', 'nasal', 'ophthalmic', 'otic', 'rectal', 'vaginal', 'transdermal',
  'subcutaneous', 'intramuscular', 'intravenous', 'other']; // openapi.yaml PrescriptionRoute
const RELOAD_ON = new Set(['queue_updated', 'new_checkin', 'visit_status_changed', 'consultation_completed', 'payment_processed',
  'appointment_created', 'appointment_updated', 'appointment_cancelled']);

export function doctorScreen() {
  const me = currentUser();
  const s = { clinic: null, stats: null, board: null, card: null, evolution: null, diagnoses: [], prescriptions: [], closed: false };
  const status = liveLine();
  const message = h('p', { class: 'message', role: 'alert' });
  const statsEl = h('section', { class: 'panel stats', 'aria-labelledby': 'stats-h' });
  const queueEl = h('section', { class: 'panel queue', 'aria-labelledby': 'queue-h' });
  const upcomingEl = h('div', {});
  const cardEl = h('section', { class: 'patient-card', 'aria-labelledby': 'card-h', 'aria-live': 'polite' });
  // The way to the video consultations (doctor-video.js), saying who waits in a video waiting room.
  const videoNote = h('p', { class: 'video-note', role: 'status' }, h('a', { href: '#/video' }, t('go_to_video')));
  const heading = h('h1', { tabindex: '-1' }, t('doctor_title'));
  const el = h('section', { class: 'doctor' },
    h('div', { class: 'desk-head' }, heading, status.el), message, videoNote,
    h('div', { class: 'doctor-body' }, h('div', { class: 'doctor-side' }, statsEl, queueEl, upcomingEl), cardEl));

  message.tabIndex = -1;
  const keep = focusKeeper(el, [message, heading]);
  const say = (text) => { message.textContent = text || ''; };
  const act = async (fn) => {
    say('');
    try { await fn(); } catch (e) { say(e.message); }
  };
  const time = (instant) => formatTime(instant, s.clinic.timezone, lang());

  let pendingReload = null;
  const reload = () => {
    clearTimeout(pendingReload);
    pendingReload = setTimeout(() => load().catch((e) => say(e.message)), 120);
  };

  // Loads can overlap (an event during a load): only the latest one's answers are shown.
  let loads = 0;
  async function load() {
    if (s.closed) return;
    const mine = ++loads;
    const [stats, board, upcoming] = await Promise.all([api('GET', '/dashboard/doctor/stats'), api('GET', `/queue?doctor_id=${me.doctor_id}`),
      loadUpcoming()]);
    if (mine !== loads || s.closed) return;
    s.stats = stats;
    s.board = board;
    s.upcoming = upcoming;
    const active = board.phases.with_doctor[0];
    if (!active) {
      s.card = null;
    } else if (!s.card || s.card.visit.id !== active.id) {
      // Opened with a consultation already in progress: the card from the patient and the history.
      const [patient, history] = await Promise.all([
        api('GET', `/patients/${active.patient_id}`),
        api('GET', `/patients/${active.patient_id}/history/${me.doctor_id}?limit=11`),
      ]);
      if (mine !== loads || s.closed) return;
      const current = history.items.find((hv) => hv.visit.id === active.id);
      if (s.card?.visit.id !== active.id) openCard({ visit: active, patient, visit_history: history.items.filter((hv) => hv.visit.id !== active.id).slice(0, 10) },
        current?.evolution || null);
    }
    render();
  }

  // The history comes nested from GET /patients/{id}/history/{doctor} ({visit, evolution, ...}) and flat in the
  // event (the visit's fields at the top level): the card reads one shape.
  const nested = (hv) => (hv.visit ? hv : { ...hv, visit: hv });

  function openCard(data, evolution) {
    s.card = { ...data, visit_history: data.visit_history.map(nested) };
    s.evolution = evolution;
    s.diagnoses = evolution ? evolution.diagnoses.map((d) => ({ code: d.code, description: d.description })) : [];
    s.prescriptions = evolution ? evolution.prescriptions.map(({ drug, dose, route, frequency, duration, instructions }) =>
      ({ drug, dose, route, frequency, duration, instructions })) : [];
    form.notes.value = evolution?.notes || '';
  }

  function renderStats() {
    const st = s.stats;
    const r = st.revenue_today;
    replace(statsEl, h('h2', { id: 'stats-h' }, t('todays_work'), ` · ${formatDate(st.date, lang())}`),
      h('dl', { class: 'numbers' },
        h('div', {}, h('dt', {}, t('stat_waiting')), h('dd', {}, String(st.today.waiting + st.today.called))),
        h('div', {}, h('dt', {}, t('stat_active')), h('dd', {}, String(st.today.active_consultations))),
        h('div', {}, h('dt', {}, t('stat_completed')), h('dd', {}, String(st.today.completed))),
        h('div', {}, h('dt', {}, t('stat_appointments')), h('dd', {}, String(st.appointments_today))),
        h('div', {}, h('dt', {}, t('stat_revenue')), h('dd', {}, formatMoney(r.total_cents, r.currency, lang())))));
  }

  function renderQueue() {
    const waiting = s.board.phases.waiting;
    replace(queueEl, h('h2', { id: 'queue-h' }, `${t('my_queue')} (${waiting.length})`),
      waiting.length ? h('ol', { class: 'cards' }, waiting.map((e) => h('li', { class: `card ${e.status}` },
        h('h3', {}, h('span', { class: 'qn' }, t('queue_number_short', e.queue_number)), ' ', e.patient_name),
        h('p', { class: 'facts' }, `${t('waited_min', e.minutes_waited)} · ${t('position_est', e.position, e.estimated_wait_minutes)}`,
          e.status === 'called' ? ` · ${t('status_called')}` : ''),
        e.status === 'waiting' ? h('button', { type: 'button', 'aria-label': `${t('call_patient')}: ${e.patient_name}`,
          onclick: () => act(() => api('POST', `/visits/${e.id}/call`)) }, t('call_patient')) : null)))
        : h('p', { class: 'empty' }, t('nobody_waiting')));
  }

  // The consultation form's inputs live across re-renders.
  const form = {
    notes: h('textarea', { name: 'notes', rows: 6 }),
    code: h('input', { name: 'icd10', autocomplete: 'off', size: 8 }),
    description: h('input', { name: 'diagnosis', autocomplete: 'off' }),
    drug: h('input', { name: 'drug', autocomplete: 'off' }),
    dose: h('input', { name: 'dose', autocomplete: 'off', size: 10 }),
    route: h('select', { name: 'route' }, ROUTES.map((r) => h('option', { value: r }, t(`route_${r}`)))),
    frequency: h('input', { name: 'frequency', autocomplete: 'off', size: 12 }),
    duration: h('input', { name: 'duration', autocomplete: 'off', size: 10 }),
    addendum: h('textarea', { name: 'addendum', rows: 3 }),
  };
  const evolutionBody = () => ({ notes: form.notes.value, diagnoses: s.diagnoses, prescriptions: s.prescriptions });
  const prescriptionText = (p) => `${p.drug} ${p.dose} · ${t(`route_${p.route}`)} · ${p.frequency}${p.duration ? ` · ${p.duration}` : ''}`;

  // The signed evolution, read only, and its addenda: what is added now is appended, never changed.
  function signedView(visit) {
    const e = s.evolution;
    return h('div', { class: 'signed' },
      h('p', {}, h('strong', {}, t('evolution_signed', time(e.signed_at)))),
      h('p', { class: 'notes' }, e.notes || '—'),
      e.diagnoses.length ? h('ul', { 'aria-label': t('diagnoses') }, e.diagnoses.map((d) => h('li', {}, `${d.code} — ${d.description}`))) : null,
      e.prescriptions.length ? h('ul', { 'aria-label': t('prescriptions') }, e.prescriptions.map((p) => h('li', {}, prescriptionText(p)))) : null,
      e.addenda.length ? h('div', {}, h('h4', {}, t('addenda')), h('ul', {}, e.addenda.map((a) => h('li', {},
        h('span', { class: 'meta' }, `${time(a.created_at)} · ${a.author_name}: `), a.text)))) : null,
      h('form', { class: 'addendum', onsubmit: (ev) => {
        ev.preventDefault();
        act(async () => {
          const added = await api('POST', `/visits/${visit.id}/evolution/addenda`, { text: form.addendum.value });
          if (added && Array.isArray(added.addenda)) s.evolution = added;
          else s.evolution = { ...s.evolution, addenda: [...s.evolution.addenda, added] };
          form.addendum.value = '';
          render();
        });
      } }, field(t('addendum'), form.addendum), h('button', { type: 'submit' }, t('add_addendum'))));
  }

  function renderCard() {
    if (!s.card) {
      replace(cardEl, h('h2', { id: 'card-h' }, t('patient_card')), h('p', { class: 'empty' }, t('no_patient_in')));
      return;
    }
    const { visit, patient, visit_history: history } = s.card;
    const signed = s.evolution?.status === 'signed';
    const age = patient.birth_date ? ageOf(patient.birth_date) : null;
    const facts = [age !== null ? t('age', age) : null, patient.sex ? t(`sex_${patient.sex}`) : null, patient.phone].filter(Boolean);
    const evo = signed
      ? signedView(visit)
      : h('form', { class: 'evolution', onsubmit: (ev) => {
        ev.preventDefault();
        act(async () => { s.evolution = await api('PUT', `/visits/${visit.id}/evolution`, evolutionBody()); say(t('draft_saved')); render(); });
      } },
      field(t('evolution_notes'), form.notes),
      h('fieldset', {}, h('legend', {}, t('diagnoses')),
        s.diagnoses.length ? h('ul', {}, s.diagnoses.map((d, i) => h('li', {}, `${d.code} — ${d.description} `,
          h('button', { type: 'button', 'aria-label': `${t('remove')}: ${d.code}`, onclick: () => { s.diagnoses.splice(i, 1); render(); } }, t('remove')))))
          : null,
        h('div', { class: 'inline' }, field(t('icd10_code'), form.code), field(t('diagnosis_description'), form.description),
          h('button', { type: 'button', onclick: () => {
            const code = form.code.value.trim();
            const description = form.description.value.trim();
            if (!code && !description) return;
            s.diagnoses.push({ code, description }); // checked by the server when saved
            form.code.value = '';
            form.description.value = '';
            render();
            form.code.focus();
          } }, t('add_diagnosis')))),
      h('fieldset', {}, h('legend', {}, t('prescriptions')),
        s.prescriptions.length ? h('ul', {}, s.prescriptions.map((p, i) => h('li', {}, `${prescriptionText(p)} `,
          h('button', { type: 'button', 'aria-label': `${t('remove')}: ${p.drug}`, onclick: () => { s.prescriptions.splice(i, 1); render(); } }, t('remove')))))
          : null,
        h('div', { class: 'inline' }, field(t('drug'), form.drug), field(t('dose'), form.dose), field(t('route'), form.route),
          field(t('frequency'), form.frequency), field(t('duration'), form.duration),
          h('button', { type: 'button', onclick: () => {
            const p = { drug: form.drug.value.trim(), dose: form.dose.value.trim(), route: form.route.value,
              frequency: form.frequency.value.trim(), duration: form.duration.value.trim() || null, instructions: null };
            if (!p.drug) return;
            s.prescriptions.push(p); // checked by the server when saved
            for (const k of ['drug', 'dose', 'frequency', 'duration']) form[k].value = '';
            render();
            form.drug.focus();
          } }, t('add_prescription')))),
      h('div', { class: 'actions' },
        h('button', { type: 'submit' }, t('save_draft')),
        h('button', { type: 'button', class: 'primary', onclick: () => act(async () => {
          await api('PUT', `/visits/${visit.id}/evolution`, evolutionBody());
          s.evolution = await api('POST', `/visits/${visit.id}/evolution/sign`);
          render();
        }) }, t('sign_evolution'))));
    replace(cardEl,
      h('h2', { id: 'card-h' }, t('patient_card'), ': ', patient.full_name),
      h('p', { class: 'meta' }, `${t('queue_number_short', visit.queue_number)} · ${t('since', time(visit.start_time))}`, facts.length ? ` · ${facts.join(' · ')}` : ''),
      patient.medical_history ? h('div', { class: 'history-note' }, h('h3', {}, t('medical_history')), h('p', {}, patient.medical_history)) : null,
      h('h3', {}, t('previous_visits')),
      history.length ? h('ul', { class: 'previous' }, history.map((hv) => h('li', {},
        h('strong', {}, formatDate(hv.visit.queue_date, lang())), ` · ${hv.service_name || t('no_service')}`,
        hv.evolution ? ` · ${hv.evolution.diagnoses.map((d) => d.code).join(', ') || t('no_diagnosis')} · ${(hv.evolution.notes || '').slice(0, 140)}` : ''))) : h('p', { class: 'empty' }, t('first_visit')),
      h('h3', {}, t('consultation')),
      evo,
      h('div', { class: 'actions' }, h('button', { type: 'button', class: signed ? 'primary' : '', onclick: () => act(async () => {
        await api('POST', '/queue/complete-consultation', { visit_id: visit.id });
        s.card = null;
        s.evolution = null;
        reload();
      }) }, t('complete_consultation'))));
  }

  function render() {
    if (!s.board) return;
    keep(() => {
      renderStats();
      renderQueue();
      replace(upcomingEl, upcomingPanel(s.upcoming, s.clinic.timezone));
      renderCard();
    });
  }

  // Who waits in a video waiting room, said until that session leaves 'waiting' (the patient admitted, or the
  // session over): both come as video_session_updated.
  let waitingSession = null;
  function videoBanner(name, data) {
    if (name === 'patient_waiting' && data?.patient_label) {
      waitingSession = data.session_id;
      replace(videoNote, t('video_waiting_banner', data.patient_label), ' ', h('a', { href: '#/video' }, t('go_to_video')));
    } else if (name === 'video_session_updated' && data?.session?.id === waitingSession && data.session.status !== 'waiting') {
      waitingSession = null;
      replace(videoNote, h('a', { href: '#/video' }, t('go_to_video')));
    }
  }

  const live = connectLive({
    status: status.set,
    connected: reload,
    event: (name, data) => {
      if (name === 'patient_with_doctor' && data?.visit && data?.patient) {
        openCard({ visit: data.visit, patient: data.patient, visit_history: data.visit_history || [] }, null);
        render();
        reload();
      } else if (RELOAD_ON.has(name)) reload();
      videoBanner(name, data);
    },
  });

  (async () => {
    try {
      s.clinic = await api('GET', `/clinics/${me.clinic_id}`);
      await load();
    } catch (e) { say(e.message); }
  })();

  return {
    el,
    close() {
      s.closed = true;
      clearTimeout(pendingReload);
      live.close();
    },
  };
}

// Whole years from a 'YYYY-MM-DD' birth date to today.
function ageOf(birth) {
  const [y, m, d] = birth.split('-').map(Number);
  const now = new Date();
  let age = now.getFullYear() - y;
  if (now.getMonth() + 1 < m || (now.getMonth() + 1 === m && now.getDate() < d)) age -= 1;
  return age;
}
