// doctor-card: the patient card of the doctor's Today's Work: who the patient is, their previous visits with this
// doctor, and the consultation: the evolution being written (notes, ICD-10 diagnoses, prescriptions; saved as a
// draft, then signed), or once signed, read only with its addenda; and the button that completes the consultation.
// The lists being written are the screen's state (ctx.s); the inputs are the screen's (ctx.form), alive across
// re-renders. What is allowed is the server's to say: its refusals are shown (ctx.act).
import { field, h, replace } from './dom.js';
import { formatDate } from './format.js';
import { lang, t } from './i18n.js';
import { api } from './session.js';

// Whole years from a 'YYYY-MM-DD' birth date to today.
function ageOf(birth) {
  const [y, m, d] = birth.split('-').map(Number);
  const now = new Date();
  let age = now.getFullYear() - y;
  if (now.getMonth() + 1 < m || (now.getMonth() + 1 === m && now.getDate() < d)) age -= 1;
  return age;
}

const evolutionBody = (ctx) => ({ notes: ctx.form.notes.value, diagnoses: ctx.s.diagnoses, prescriptions: ctx.s.prescriptions });
const prescriptionText = (p) => `${p.drug} ${p.dose} · ${t(`route_${p.route}`)} · ${p.frequency}${p.duration ? ` · ${p.duration}` : ''}`;

// The signed evolution, read only, and its addenda: what is added now is appended, never changed.
function signedView(ctx, visit) {
  const { s, form, time } = ctx;
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
      ctx.act(async () => {
        const added = await api('POST', `/visits/${visit.id}/evolution/addenda`, { text: form.addendum.value });
        if (added && Array.isArray(added.addenda)) s.evolution = added;
        else s.evolution = { ...s.evolution, addenda: [...s.evolution.addenda, added] };
        form.addendum.value = '';
        ctx.render();
      });
    } }, field(t('addendum'), form.addendum), h('button', { type: 'submit' }, t('add_addendum'))));
}

function diagnosesFieldset(ctx) {
  const { s, form } = ctx;
  return h('fieldset', {}, h('legend', {}, t('diagnoses')),
    s.diagnoses.length ? h('ul', {}, s.diagnoses.map((d, i) => h('li', {}, `${d.code} — ${d.description} `,
      h('button', { type: 'button', 'aria-label': `${t('remove')}: ${d.code}`, onclick: () => { s.diagnoses.splice(i, 1); ctx.render(); } }, t('remove')))))
      : null,
    h('div', { class: 'inline' }, field(t('icd10_code'), form.code), field(t('diagnosis_description'), form.description),
      h('button', { type: 'button', onclick: () => {
        const code = form.code.value.trim();
        const description = form.description.value.trim();
        if (!code && !description) return;
        s.diagnoses.push({ code, description }); // checked by the server when saved
        form.code.value = '';
        form.description.value = '';
        ctx.render();
        form.code.focus();
      } }, t('add_diagnosis'))));
}

function prescriptionsFieldset(ctx) {
  const { s, form } = ctx;
  return h('fieldset', {}, h('legend', {}, t('prescriptions')),
    s.prescriptions.length ? h('ul', {}, s.prescriptions.map((p, i) => h('li', {}, `${prescriptionText(p)} `,
      h('button', { type: 'button', 'aria-label': `${t('remove')}: ${p.drug}`, onclick: () => { s.prescriptions.splice(i, 1); ctx.render(); } }, t('remove')))))
      : null,
    h('div', { class: 'inline' }, field(t('drug'), form.drug), field(t('dose'), form.dose), field(t('route'), form.route),
      field(t('frequency'), form.frequency), field(t('duration'), form.duration),
      h('button', { type: 'button', onclick: () => {
        const p = { drug: form.drug.value.trim(), dose: form.dose.value.trim(), route: form.route.value,
          frequency: form.frequency.value.trim(), duration: form.duration.value.trim() || null, instructions: null };
        if (!p.drug) return;
        s.prescriptions.push(p); // checked by the server when saved
        for (const k of ['drug', 'dose', 'frequency', 'duration']) form[k].value = '';
        ctx.render();
        form.drug.focus();
      } }, t('add_prescription'))));
}

// The evolution being written: saved as a draft, or saved and signed.
function draftForm(ctx, visit) {
  const { s } = ctx;
  return h('form', { class: 'evolution', onsubmit: (ev) => {
    ev.preventDefault();
    ctx.act(async () => { s.evolution = await api('PUT', `/visits/${visit.id}/evolution`, evolutionBody(ctx)); ctx.say(t('draft_saved')); ctx.render(); });
  } },
  field(t('evolution_notes'), ctx.form.notes),
  diagnosesFieldset(ctx),
  prescriptionsFieldset(ctx),
  h('div', { class: 'actions' },
    h('button', { type: 'submit' }, t('save_draft')),
    h('button', { type: 'button', class: 'primary', onclick: () => ctx.act(async () => {
      await api('PUT', `/visits/${visit.id}/evolution`, evolutionBody(ctx));
      s.evolution = await api('POST', `/visits/${visit.id}/evolution/sign`);
      ctx.render();
    }) }, t('sign_evolution'))));
}

// The patient's previous visits with this doctor (newest first, as the API lists them).
function previousVisits(history) {
  return history.length ? h('ul', { class: 'previous' }, history.map((hv) => h('li', {},
    h('strong', {}, formatDate(hv.visit.queue_date, lang())), ` · ${hv.service_name || t('no_service')}`,
    hv.evolution ? ` · ${hv.evolution.diagnoses.map((d) => d.code).join(', ') || t('no_diagnosis')} · ${(hv.evolution.notes || '').slice(0, 140)}` : ''))) : h('p', { class: 'empty' }, t('first_visit'));
}

export function renderCard(ctx) {
  const { s, cardEl, time } = ctx;
  if (!s.card) {
    replace(cardEl, h('h2', { id: 'card-h' }, t('patient_card')), h('p', { class: 'empty' }, t('no_patient_in')));
    return;
  }
  const { visit, patient, visit_history: history } = s.card;
  const signed = s.evolution?.status === 'signed';
  const age = patient.birth_date ? ageOf(patient.birth_date) : null;
  const facts = [age !== null ? t('age', age) : null, patient.sex ? t(`sex_${patient.sex}`) : null, patient.phone].filter(Boolean);
  const evo = signed ? signedView(ctx, visit) : draftForm(ctx, visit);
  replace(cardEl,
    h('h2', { id: 'card-h' }, t('patient_card'), ': ', patient.full_name),
    h('p', { class: 'meta' }, `${t('queue_number_short', visit.queue_number)} · ${t('since', time(visit.start_time))}`, facts.length ? ` · ${facts.join(' · ')}` : ''),
    patient.medical_history ? h('div', { class: 'history-note' }, h('h3', {}, t('medical_history')), h('p', {}, patient.medical_history)) : null,
    h('h3', {}, t('previous_visits')),
    previousVisits(history),
    h('h3', {}, t('consultation')),
    evo,
    h('div', { class: 'actions' }, h('button', { type: 'button', class: signed ? 'primary' : '', onclick: () => ctx.act(async () => {
      await api('POST', '/queue/complete-consultation', { visit_id: visit.id });
      s.card = null;
      s.evolution = null;
      ctx.reload();
    }) }, t('complete_consultation'))));
}
