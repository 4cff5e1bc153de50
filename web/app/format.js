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
