// desk-board: the desk's board of the day: the clinic line with the day's counts and the doctor filter, each
// doctor's line, and the three phase columns of cards (GET /queue), whose buttons move a patient or take the
// payment of a completed consultation (one Idempotency-Key per payment, so a repeated click cannot pay twice).
import { field, h, replace, uid } from './dom.js';
import { formatDate } from './format.js';
import { lang, t } from './i18n.js';
import { api } from './session.js';

const METHODS = ['cash', 'card', 'pix', 'insurance', 'other'];

// Minutes waited as the board said, plus the time since it was read for those still waiting.
const waited = (ctx, e) => e.minutes_waited + (e.phase === 'waiting' ? Math.floor((Date.now() - ctx.s.loadedAt) / 60000) : 0);

function cardActions(ctx, e) {
  const who = e.patient_name;
  const move = (phase) => () => ctx.act(() => api('POST', '/queue/phase/move', { visit_id: e.id, phase }));
  if (e.phase === 'waiting') {
    return [
      h('button', { type: 'button', class: 'primary', 'aria-label': `${t('send_to_doctor')}: ${who}`, onclick: move('with_doctor') }, t('send_to_doctor')),
      h('button', { type: 'button', 'aria-label': `${t('mark_left')}: ${who}`,
        onclick: () => ctx.act(() => api('POST', `/visits/${e.id}/left`)) }, t('mark_left')),
    ];
  }
  if (e.phase === 'with_doctor') {
    return [h('button', { type: 'button', 'aria-label': `${t('back_to_waiting')}: ${who}`, onclick: move('waiting') }, t('back_to_waiting'))];
  }
  return [paymentBlock(ctx, e)];
}

function card(ctx, e) {
  const who = e.patient_name;
  const facts = [
    e.phase === 'waiting' ? t('waited_min', waited(ctx, e)) : e.phase === 'with_doctor' ? t('since', ctx.time(e.start_time)) : t('ended_at', ctx.time(e.end_time)),
    e.phase === 'waiting' ? t('position_est', e.position, e.estimated_wait_minutes) : null,
  ].filter(Boolean);
  return h('li', { class: `card ${e.status}` },
    h('article', { 'aria-label': `${t('queue_number_short', e.queue_number)} ${who}` },
      h('h3', {}, h('span', { class: 'qn' }, t('queue_number_short', e.queue_number)), ' ', who),
      h('p', { class: 'meta' }, `${ctx.doctorName(e.doctor_id)}${e.service_name ? ` · ${e.service_name}` : ''}${e.status === 'called' ? ` · ${t('status_called')}` : ''}`),
      h('p', { class: 'facts' }, facts.join(' · ')),
      h('div', { class: 'actions' }, cardActions(ctx, e))));
}

function paymentBlock(ctx, e) {
  const { s } = ctx;
  const p = s.pending.get(e.id);
  if (!p) {
    const settled = s.settled.get(e.id);
    return h('p', { class: settled ? 'paid' : 'meta' }, settled ? t(`payment_${settled.status}`) : t('no_pending_payment'));
  }
  // The method picked and the Idempotency-Key are kept per payment across renders (an event may redraw the board
  // between picking and paying).
  const method = h('select', { name: 'method', onchange: (ev) => s.payMethod.set(p.id, ev.target.value) },
    METHODS.map((m) => h('option', { value: m, selected: m === s.payMethod.get(p.id) }, t(`method_${m}`))));
  if (!s.payKey.has(p.id)) s.payKey.set(p.id, crypto.randomUUID());
  const key = s.payKey.get(p.id);
  return h('form', { class: 'pay', 'aria-label': `${t('payment_of')} ${e.patient_name}`,
    onsubmit: (ev) => {
      ev.preventDefault();
      ctx.act(async () => {
        const paid = await api('POST', `/payments/${p.id}/pay`, { method: method.value }, { 'idempotency-key': key });
        s.settled.set(e.id, paid);
        s.pending.delete(e.id);
        ctx.render();
      });
    } },
    h('p', { class: 'amount' }, `${t('amount_due')}: `, h('strong', {}, ctx.money(p.amount_cents, p.currency))),
    field(t('payment_method'), method),
    h('button', { type: 'submit', class: 'primary', 'aria-label': `${t('take_payment')}: ${e.patient_name}` }, t('take_payment')));
}

function column(ctx, phase, entries) {
  const id = uid('col');
  return h('section', { class: `column ${phase}`, 'aria-labelledby': id },
    h('h2', { id }, `${t(`phase_${phase}`)} (${entries.length})`),
    entries.length ? h('ol', { class: 'cards' }, entries.map((e) => card(ctx, e))) : h('p', { class: 'empty' }, t('nobody')));
}

// The three columns of the board.
export function boardColumns(ctx) {
  const { phases } = ctx.s.board;
  return [column(ctx, 'waiting', phases.waiting), column(ctx, 'with_doctor', phases.with_doctor), column(ctx, 'completed', phases.completed)];
}

export function renderSummary(ctx) {
  const { s } = ctx;
  const b = s.board;
  // The longest estimated wait of each doctor's line, from the board.
  const longest = new Map();
  for (const e of b.phases.waiting) longest.set(e.doctor_id, Math.max(longest.get(e.doctor_id) || 0, e.estimated_wait_minutes || 0));
  const filter = h('select', { onchange: (ev) => { s.doctorFilter = ev.target.value; ctx.load().catch((err) => ctx.say(err.message)); } },
    h('option', { value: '' }, t('all_doctors')),
    s.doctors.map((d) => h('option', { value: String(d.id), selected: String(d.id) === s.doctorFilter }, d.full_name)));
  const avg = s.stats.average_wait_minutes;
  replace(ctx.summary,
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
