// live-list: what a screen that lists things and keeps them live needs (doctor-video.js, patient.js): the
// live/offline line, the pushed events, and a reload of the list shortly after an event that concerns it (one for
// a burst of events), never a poll.
import { liveLine } from './kit.js';
import { connectLive } from './live.js';

// liveList({first, load, fail, reloadOn, event}) -> {statusLine, reload(), screen(el, focusEl, onClose)}. first():
// what the list needs once (the clinic's zone, names), before the first load(); load(): reads and shows the list;
// fail(error): shows a failure; reloadOn: the event names that reload; event(name, data): any event.
export function liveList({ first, load, fail, reloadOn, event }) {
  const line = liveLine();
  let ready = false;
  let pending = null;
  const reload = () => {
    clearTimeout(pending);
    if (ready) pending = setTimeout(() => load().catch(fail), 120);
  };
  const live = connectLive({
    status: line.set,
    connected: reload,
    event: (name, data) => {
      event?.(name, data || {});
      if (reloadOn.has(name)) reload();
    },
  });
  (async () => {
    await first();
    ready = true;
    await load();
  })().catch(fail);
  return {
    statusLine: line.el,
    reload,
    // The screen object of screens.js: el, focus on focusEl, and closing ends the live connection after onClose().
    screen: (el, focusEl, onClose) => ({
      el,
      focus: () => focusEl.focus(),
      close() {
        onClose?.();
        clearTimeout(pending);
        live.close();
      },
    }),
  };
}
