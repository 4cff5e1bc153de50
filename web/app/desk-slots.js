// desk-slots: a doctor's free slots on one day (GET /doctors/{id}/slots, computed by the server in the clinic's
// zone, so taken and past times are already left out), shown as one button per slot. Booking and rescheduling
// both pick from them.
import { h } from './dom.js';
import { t } from './i18n.js';
import { busy } from './kit.js';
import { api } from './session.js';

export async function freeSlots(doctorId, date, type) {
  return (await api('GET', `/doctors/${doctorId}/slots?from=${date}&to=${date}&type=${type}`)).items;
}

// The slots as buttons labelled `${verb} ${time}`; null (no search yet) draws nothing. While pick(slot) runs every
// slot button is disabled (a double click books once). `then`: where the keyboard goes once the slots are gone.
export function slotButtons(ctx, slots, verb, pick, then) {
  if (slots === null) return null;
  if (!slots.length) return h('p', { class: 'empty' }, t('no_free_slots'));
  const list = h('ul', { class: 'slots', 'aria-label': t('free_slots') }, slots.map((slot) => h('li', {},
    h('button', { type: 'button', 'aria-label': `${verb} ${ctx.time(slot.start_time)}`, 'data-then': then || null,
      onclick: () => busy(list, () => pick(slot)) }, ctx.time(slot.start_time)))));
  return list;
}
