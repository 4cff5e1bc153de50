// other: what the ADMIN and PATIENT roles see in this version of the console (their screens come later): who is
// signed in, and where the API reference is.
import { h } from './dom.js';
import { t } from './i18n.js';
import { currentUser } from './session.js';

export function otherScreen() {
  const u = currentUser();
  return {
    el: h('section', { class: 'panel other' },
      h('h1', {}, t('welcome', u.full_name)),
      h('p', {}, t('role_screen_later', t(`role_${u.role}`))),
      h('p', {}, h('a', { href: '/docs/' }, t('api_reference')))),
    close() {},
  };
}
