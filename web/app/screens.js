// screens: which screens each role has, in the order of the role's tabs. The first is where the role lands after
// signing in. A screen is a function returning { el, close(), focus?() }; its path is the part of the address
// after '#/' and its title the i18n key `title_<path>`; what follows the path and a '/' is handed to the screen's
// function (#/messages/12: the conversation 12). Adding a screen is one line here.
import { deskScreen } from './desk.js';
import { doctorScreen } from './doctor.js';
import { earningsScreen } from './earnings.js';
import { messagesScreen } from './messages.js';
import { myPatientsScreen } from './mypatients.js';
import { scheduleScreen } from './schedule.js';
import { bookingScreen } from './booking.js';
import { doctorVideoScreen } from './doctor-video.js';
import { patientScreen } from './patient.js';
import { auditScreen } from './admin-audit.js';
import { clinicsScreen } from './admin-clinics.js';
import { closingsScreen } from './admin-closings.js';
import { feesScreen } from './admin-fees.js';
import { staffScreen } from './admin-staff.js';

export const SCREENS = {
  RECEPTIONIST: [
    { path: 'desk', open: deskScreen },
    { path: 'messages', open: messagesScreen },
  ],
  DOCTOR: [
    { path: 'doctor', open: doctorScreen },
    { path: 'my-earnings', open: earningsScreen },
    { path: 'my-patients', open: myPatientsScreen },
    { path: 'my-schedule', open: scheduleScreen },
    { path: 'video', open: doctorVideoScreen },
    { path: 'messages', open: messagesScreen },
  ],
  ADMIN: [
    { path: 'clinics', open: clinicsScreen },
    { path: 'staff', open: staffScreen },
    { path: 'fees', open: feesScreen },
    { path: 'closings', open: closingsScreen },
    { path: 'audit', open: auditScreen },
  ],
  PATIENT: [
    { path: 'patient', open: patientScreen },
    { path: 'book', open: bookingScreen },
    { path: 'messages', open: messagesScreen },
  ],
};

// The screen for an address and a role: the one named by the address when the role has it, else the role's first.
export function screenFor(role, hash) {
  const list = SCREENS[role] || [];
  const path = hash.replace(/^#\/?/, '').split('/')[0];
  return list.find((s) => s.path === path) || list[0];
}

// What the address says past the screen's path ('#/messages/12' -> '12'), '' when nothing or another screen's.
export function screenArg(path, hash) {
  const parts = hash.replace(/^#\/?/, '').split('/');
  return parts[0] === path ? parts.slice(1).join('/') : '';
}
