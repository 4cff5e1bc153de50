// format: money from integer minor units and instants in the clinic's time zone, in the interface's language.
// No floating point touches an amount: the decimal string is built from the integer and handed to
// Intl.NumberFormat as a string, which formats it exactly.

// formatMoney(15050, 'BRL', 'pt-BR') -> "R$ 150,50".
export function formatMoney(cents, currency, lang) {
  const nf = new Intl.NumberFormat(lang, { style: 'currency', currency });
  const digits = nf.resolvedOptions().maximumFractionDigits;
  const n = BigInt(cents);
  const neg = n < 0n;
  const abs = neg ? -n : n;
  const scale = 10n ** BigInt(digits);
  const whole = abs / scale;
  const frac = (abs % scale).toString().padStart(digits, '0');
  return nf.format(`${neg ? '-' : ''}${whole}${digits ? `.${frac}` : ''}`);
}

// formatTime('2026-03-02T12:52:10Z', 'America/Sao_Paulo', 'pt-BR') -> "09:52".
export function formatTime(instant, zone, lang) {
  if (!instant) return '';
  return new Intl.DateTimeFormat(lang, { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(instant));
}

// formatDate('2026-03-02', lang) -> "02/03/2026" (a date without time: no zone shift).
export function formatDate(date, lang) {
  if (!date) return '';
  return new Intl.DateTimeFormat(lang, { timeZone: 'UTC', dateStyle: 'medium' }).format(new Date(`${date}T00:00:00Z`));
}

// The local date 'YYYY-MM-DD' of an instant in zone.
export function localDate(zone, ms = Date.now()) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(ms));
}

// Whole minutes from instant to now (never negative).
export function minutesSince(instant, now = Date.now()) {
  return instant ? Math.max(0, Math.floor((now - Date.parse(instant)) / 60000)) : 0;
}

// formatDateTime('2026-03-02T12:52:10Z', 'America/Sao_Paulo', 'pt-BR') -> "02/03/2026, 09:52".
export function formatDateTime(instant, zone, lang) {
  if (!instant) return '';
  return new Intl.DateTimeFormat(lang, { timeZone: zone, dateStyle: 'short', timeStyle: 'short', hourCycle: 'h23' }).format(new Date(instant));
}

// The offset of zone from UTC at the instant ms, in minutes (east positive).
function zoneOffset(zone, ms) {
  const p = Object.fromEntries(new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit',
    day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  const wall = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour) % 24, Number(p.minute), Number(p.second));
  return Math.round((wall - Math.floor(ms / 1000) * 1000) / 60000);
}

// The wall-clock 'YYYY-MM-DD' + 'HH:MM' of zone as an RFC 3339 instant with that zone's offset then
// ('2026-03-02', '09:00', 'America/Sao_Paulo' -> '2026-03-02T09:00:00-03:00'). Only a notation: the server reads it.
export function zonedInstant(date, time, zone) {
  const wall = Date.parse(`${date}T${time}:00Z`);
  let offset = zoneOffset(zone, wall);
  offset = zoneOffset(zone, wall - offset * 60000);
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return `${date}T${time}:00${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}
