// video-view: what a video call shows: the heading, the phase line, the alert line, the two videos, the doctor's
// waiting room with its admit button, the quality line, the call's buttons (made once; a render only changes
// their state and label, so the keyboard stays on them) and the in-call chat's panel (video-chat.js) beside the
// videos (below them on a phone). It reads the call's state (ctx) and changes none of it.
import { h, replace } from './dom.js';
import { lang, t } from './i18n.js';

// The call's elements; `on` holds what the buttons do: toggle(kind), leave(), end(), back(); chatEl: the chat's panel.
export function callView(doctor, session, on, chatEl) {
  const heading = h('h1', { tabindex: '-1' }, doctor ? t('video_call_with', session.patient?.full_name || session.patient_label || '') : t('video_call_title'));
  const phaseLine = h('p', { class: 'call-phase', role: 'status', 'aria-live': 'polite' });
  const message = h('p', { class: 'message', role: 'alert', tabindex: '-1' });
  const remote = h('video', { class: 'remote', autoplay: true, playsinline: true, 'aria-label': doctor ? t('video_remote_patient') : t('video_remote_doctor') });
  const local = h('video', { class: 'local', autoplay: true, playsinline: true, muted: true, 'aria-label': t('video_local') });
  local.muted = true;
  const waitingEl = h('section', { class: 'waiting-room', 'aria-labelledby': 'waiting-h' });
  const qualityEl = h('p', { class: 'quality', 'aria-live': 'off' });
  const buttons = {
    mute: h('button', { type: 'button', onclick: () => on.toggle('audio') }),
    camera: h('button', { type: 'button', onclick: () => on.toggle('video') }),
    hangUp: h('button', { type: 'button', onclick: () => on.leave() }, t('hang_up')),
    end: doctor ? h('button', { type: 'button', class: 'danger', onclick: () => on.end() }, t('end_consultation')) : null,
    back: h('button', { type: 'button', class: 'primary', onclick: () => on.back() }, t('video_back')),
  };
  const controls = h('div', { class: 'call-controls' }, Object.values(buttons));
  const el = h('section', { class: 'call' },
    h('div', { class: 'desk-head' }, heading),
    phaseLine, message,
    h('div', { class: 'call-body' },
      h('div', { class: 'call-stage' }, h('div', { class: 'remote-wrap' }, remote), h('div', { class: 'local-wrap' }, local)),
      h('div', { class: 'call-side' }, doctor ? waitingEl : null, qualityEl, controls, chatEl)));
  return { el, heading, phaseLine, message, remote, local, waitingEl, qualityEl, buttons };
}

function renderWaiting(ctx) {
  const { s, v } = ctx;
  if (!ctx.doctor) return;
  const patient = s.participants.get('patient');
  const waiting = patient && patient.state === 'waiting' && !s.admitted;
  ctx.keep(() => replace(v.waitingEl, h('h2', { id: 'waiting-h' }, t('waiting_room')),
    waiting
      ? h('ul', { class: 'appts' }, h('li', {},
        h('span', {}, h('strong', {}, patient.display_name), ` · ${t('video_waits')}`),
        h('button', { type: 'button', class: 'primary', onclick: ctx.admit }, `${t('admit')}: ${patient.display_name}`)))
      : h('p', { class: 'empty' }, patient && s.admitted ? t('video_patient_in_call', patient.display_name) : t('video_nobody_waiting'))));
}

function renderControls(ctx) {
  const { s } = ctx;
  const track = (kind) => ctx.stream?.getTracks().find((tr) => tr.kind === kind);
  const { mute, camera, hangUp, end, back } = ctx.v.buttons;
  for (const b of [mute, camera, hangUp, end]) if (b) b.hidden = s.ended;
  back.hidden = !s.ended;
  mute.disabled = !track('audio');
  mute.setAttribute('aria-pressed', String(s.muted));
  mute.textContent = s.muted ? t('unmute') : t('mute');
  camera.disabled = !track('video');
  camera.setAttribute('aria-pressed', String(s.cameraOff));
  camera.textContent = s.cameraOff ? t('camera_on') : t('camera_off');
}

export function renderCall(ctx) {
  const { s, v } = ctx;
  if (s.closed) return;
  v.phaseLine.textContent = t(`call_${s.phase}`);
  v.phaseLine.className = `call-phase ${s.phase}`;
  renderWaiting(ctx);
  renderControls(ctx);
  ctx.chat.render();
}

// q: {label, rtt (s or null), loss (fraction), jitter (s or null)}, or null to clear the line.
export function showQuality(ctx, q) {
  const { qualityEl } = ctx.v;
  if (!q) { qualityEl.textContent = ''; return; }
  const pct = new Intl.NumberFormat(lang(), { style: 'percent', maximumFractionDigits: 1 }).format(q.loss);
  qualityEl.textContent = t('quality_line', t(`quality_${q.label}`), q.rtt === null ? '—' : String(Math.round(q.rtt * 1000)), pct,
    q.jitter === null ? '—' : String(Math.round(q.jitter * 1000)));
  qualityEl.className = `quality ${q.label}`;
}
