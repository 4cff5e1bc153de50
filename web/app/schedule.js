// schedule: the doctor's own Schedule: the weekly hours (GET/POST/DELETE /doctors/{id}/availability) and the
// periods blocked (GET/POST/DELETE /doctors/{id}/unavailability, from today on), which the free slots are cut
// from. A doctor may edit only their own (the API's permission), so the screen opens the signed-in doctor's. The
// hours are wall-clock times of the clinic's zone, sent as typed; a block's bounds are typed as clinic-zone dates
// and times and sent as instants with that zone's offset. Overlaps, spans and limits are the server's to refuse,
// and its message is shown. No event announces a schedule change, so the screen reloads after its own edits.
import { field, h, replace } from './dom.js';
import { formatDateTime, localDate, zonedInstant } from './format.js';
import { lang, t } from './i18n.js';
import { feedback, focusKeeper, query, table, withClinic } from './kit.js';
import { api, currentUser } from './session.js';

const TYPES = ['in_person', 'video'];
const dayName = (n) => t(`weekday_${n}`);

function inputs() {
  return {
    weekday: h('select', { name: 'weekday' }, [1, 2, 3, 4, 5, 6, 7].map((n) => h('option', { value: String(n) }, dayName(n)))),
    start: h('input', { name: 'start_time', type: 'time', value: '09:00' }),
    end: h('input', { name: 'end_time', type: 'time', value: '12:00' }),
    minutes: h('input', { name: 'slot_minutes', type: 'number', value: '30' }),
    types: TYPES.map((ty) => h('input', { type: 'checkbox', name: 'consultation_types', value: ty, checked: ty === 'in_person' })),
    fromDate: h('input', { name: 'block_from_date', type: 'date' }),
    fromTime: h('input', { name: 'block_from_time', type: 'time', value: '08:00' }),
    toDate: h('input', { name: 'block_to_date', type: 'date' }),
    toTime: h('input', { name: 'block_to_time', type: 'time', value: '18:00' }),
    reason: h('input', { name: 'reason', autocomplete: 'off' }),
  };
}

const base = () => `/doctors/${currentUser().doctor_id}`;
const removeButton = (ctx, label, path) => h('button', { type: 'button', 'aria-label': `${t('remove')}: ${label}`,
  onclick: () => ctx.act(async () => { await api('DELETE', path); ctx.tell(t('removed', label)); await load(ctx); }) }, t('remove'));

function rulesPanel(ctx) {
  const rows = ctx.s.rules.map((r) => {
    const label = `${dayName(r.weekday)} ${r.start_time}–${r.end_time}`;
    return [dayName(r.weekday), `${r.start_time}–${r.end_time}`, String(r.slot_minutes), r.consultation_types.map((ty) => t(`type_${ty}`)).join(', '),
      removeButton(ctx, label, `${base()}/availability/${r.id}`)];
  });
  return h('section', { class: 'panel', 'aria-labelledby': 'rules-h' }, h('h2', { id: 'rules-h' }, t('weekly_hours')),
    rows.length ? table(t('weekly_hours'), [t('weekday'), t('hours'), t('slot_minutes'), t('consultation_types'), t('actions')], rows, 'grid quiet')
      : h('p', { class: 'empty' }, t('no_weekly_hours')),
    ruleForm(ctx));
}

function ruleForm(ctx) {
  const f = ctx.f;
  return h('form', { class: 'rule-form', 'aria-label': t('add_hours'), onsubmit: (ev) => {
    ev.preventDefault();
    ctx.act(async () => {
      await api('POST', `${base()}/availability`, { weekday: Number(f.weekday.value), start_time: f.start.value, end_time: f.end.value,
        slot_minutes: Number(f.minutes.value), consultation_types: f.types.filter((c) => c.checked).map((c) => c.value) });
      ctx.tell(t('hours_added', dayName(f.weekday.value), f.start.value, f.end.value));
      await load(ctx);
    });
  } },
  h('div', { class: 'inline' }, field(t('weekday'), f.weekday), field(t('from_time'), f.start), field(t('to_time'), f.end),
    field(t('slot_minutes'), f.minutes),
    h('fieldset', { class: 'types' }, h('legend', {}, t('consultation_types')),
      f.types.map((c) => h('label', {}, c, ' ', t(`type_${c.value}`)))),
    h('button', { type: 'submit', class: 'primary' }, t('add_hours'))));
}

function blocksPanel(ctx) {
  const zone = ctx.s.clinic.timezone;
  const when = (x) => formatDateTime(x, zone, lang());
  const rows = ctx.s.blocks.map((b) => [when(b.starts_at), when(b.ends_at), b.reason || '—',
    removeButton(ctx, `${when(b.starts_at)}–${when(b.ends_at)}`, `${base()}/unavailability/${b.id}`)]);
  const f = ctx.f;
  return h('section', { class: 'panel', 'aria-labelledby': 'blocks-h' }, h('h2', { id: 'blocks-h' }, t('blocked_periods')),
    rows.length ? table(t('blocked_periods'), [t('block_from'), t('block_to'), t('reason'), t('actions')], rows, 'grid quiet')
      : h('p', { class: 'empty' }, t('no_blocks')),
    h('form', { class: 'block-form', 'aria-label': t('block_period'), onsubmit: (ev) => {
      ev.preventDefault();
      ctx.act(async () => {
        const body = { starts_at: zonedInstant(f.fromDate.value, f.fromTime.value, zone), ends_at: zonedInstant(f.toDate.value, f.toTime.value, zone) };
        if (f.reason.value.trim()) body.reason = f.reason.value.trim();
        await api('POST', `${base()}/unavailability`, body);
        f.reason.value = '';
        ctx.tell(t('period_blocked'));
        await load(ctx);
      });
    } },
    h('div', { class: 'inline' }, field(t('block_from_date'), f.fromDate), field(t('block_from_time'), f.fromTime),
      field(t('block_to_date'), f.toDate), field(t('block_to_time'), f.toTime), field(t('reason'), f.reason),
      h('button', { type: 'submit', class: 'primary' }, t('block_period')))));
}

async function load(ctx) {
  const { s } = ctx;
  const [rules, blocks] = await Promise.all([api('GET', `${base()}/availability`),
    api('GET', `${base()}/unavailability?${query({ from: localDate(s.clinic.timezone) })}`)]);
  if (s.closed) return;
  s.rules = rules.items;
  s.blocks = blocks.items;
  ctx.keep(() => replace(ctx.body, rulesPanel(ctx), blocksPanel(ctx)));
}

export function scheduleScreen() {
  const fb = feedback();
  const s = { clinic: null, rules: [], blocks: [], closed: false };
  const ctx = { s, ...fb, f: inputs(), body: h('div', { class: 'schedule-body' }) };
  const heading = h('h1', { tabindex: '-1' }, t('title_my_schedule'));
  const el = h('section', { class: 'schedule' }, heading, h('p', { class: 'meta' }, t('schedule_zone_note')),
    fb.message, fb.done, ctx.body);
  // An added row keeps the keyboard on its form's button; a removed one leaves it on the line saying so.
  ctx.keep = focusKeeper(el, [fb.message, fb.done, heading]);
  withClinic(s, fb.say, () => {
    const today = localDate(s.clinic.timezone);
    ctx.f.fromDate.value = today;
    ctx.f.toDate.value = today;
    return load(ctx);
  });
  return { el, close() { s.closed = true; } };
}
