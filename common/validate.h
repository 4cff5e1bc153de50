/* validate: pure validators (CPF, e-mail, dates, phone, time-zone names, currency) and the
 * declarative checker for JSON request bodies.
 *
 * A body is described by a table of field_spec rows; validate_object() checks every row and
 * every key of the object, collecting one message per bad field into an errors object so a
 * single 422 lists them all. It also normalises accepted values in place (strings trimmed,
 * CPF punctuation removed, e-mail lower-cased where asked). Nothing here touches the database.
 *
 * An errors object stays small whatever the body: it lists at most VALIDATE_MAX_ERRORS fields,
 * then one VALIDATE_MORE_KEY entry says that more were found and checking stops; an unknown key
 * is listed cut to VALIDATE_MAX_KEY_BYTES (at a character boundary, "..." marking the cut); a
 * list already refused as a whole (too long) is not checked item by item. */
#ifndef CLINIC_VALIDATE_H
#define CLINIC_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum field_type {
    FT_STRING,   /* min/max are lengths in characters (after trimming) */
    FT_INT,      /* min/max are bounds (0,0 = any positive id) */
    FT_BOOL,
    FT_DATE,     /* YYYY-MM-DD, a real calendar date; FF_PAST: from 1900 to today (UTC+14) */
    FT_EMAIL,    /* <= 254 chars, one '@', a dotted domain; FF_LOWER lower-cases it */
    FT_ENUM,     /* one of choices (NULL-terminated) */
    FT_CPF,      /* Brazilian CPF: 11 digits with check digits; '.', '-' and spaces accepted */
    FT_PHONE,    /* 8..20 chars of digits, spaces, "+()-", at least 8 digits */
    FT_TIMEZONE, /* IANA-shaped name (existence is checked by the database) */
    FT_CURRENCY, /* three upper-case letters */
    FT_TIME,     /* wall-clock "HH:MM", 00:00..23:59 */
    FT_INSTANT,  /* RFC 3339 date-time with "Z" or a numeric offset, e.g. 2027-03-14T09:00:00-03:00 */
    FT_ENUM_SET, /* a non-empty JSON array of distinct strings, each one of choices */
    FT_ARRAY,    /* a JSON array of min..max items (the items are checked by validate_items) */
    FT_TEXT,     /* a string kept exactly as sent (no trimming: SDP), min..max bytes, no NUL */
    FT_NUMBER,   /* a JSON number (integer or real) from min to max */
    FT_ICD10,    /* an ICD-10 code (valid_icd10), trimmed; the database upper-cases it */
};

#define VALIDATE_MAX_ERRORS 50    /* fields listed in one errors object */
#define VALIDATE_MAX_KEY_BYTES 64 /* longer unknown keys are listed cut */
#define VALIDATE_MORE_KEY "_more" /* the entry saying more fields were invalid than listed */

#define FF_REQUIRED 1u /* must be present (on create) */
#define FF_NULLABLE 2u /* JSON null accepted */
#define FF_LOWER 4u    /* e-mail fields: lower-case the address */
#define FF_PAST 8u     /* dates: 1900-01-01 .. today in the earliest zone (UTC+14) */

struct field_spec {
    const char *name;
    enum field_type type;
    unsigned flags;
    long long min, max;
    const char *const *choices;
};

/* Checks obj against specs. Adds "field": "reason" to errors (an object owned by the caller) for
 * each problem, including unknown keys, until errors is full (see above); then stops, leaving obj
 * partly normalised. When partial is true FF_REQUIRED is ignored (PATCH). Returns true when this
 * call found no problem, listed or not. */
bool validate_object(json_t *obj, const struct field_spec *specs, size_t nspecs, bool partial,
                     json_t *errors);

/* Checks each item of the array obj[name] (when present and an array) against specs as a whole
 * object (FF_REQUIRED applies). Messages go to errors under "name[i].field", or "name[i]" when the
 * item is not an object, until errors is full. Items are not checked (and true is returned) when
 * errors already names the list itself, e.g. "has too many items" from validate_object, or is
 * full. Returns true when no problem was found. */
bool validate_items(json_t *obj, const char *name, const struct field_spec *specs, size_t nspecs, json_t *errors);

/* Lists key: why in errors as validate_object does: key cut as an unknown key is, and nothing
 * more once errors is full. Returns false when errors is full (the caller may stop checking). */
bool validate_add_error(json_t *errors, const char *key, const char *why);

/* Pure validators. */
/* An event_id as the outbox issues them: "<txid>-<id>", decimal, the transaction id within an
 * unsigned 64-bit xid8 and the id within a signed 64-bit bigint. */
bool valid_event_id(const char *s);
/* An ICD-10 code: a letter, two digits, optionally '.' and 1..4 letters or digits (e.g. "J06.9");
 * lower-case letters accepted. */
bool valid_icd10(const char *s);
bool valid_cpf_digits(const char *digits11);
/* Copies the digits of in (allowing '.', '-', ' ') to out[12]; false unless exactly 11 digits. */
bool normalize_cpf(const char *in, char out[12]);
bool valid_email(const char *s);
/* Parses YYYY-MM-DD; fills y/m/d; false for malformed or impossible dates. */
bool parse_date(const char *s, int *y, int *m, int *d);
/* A month "YYYY-MM" from 2000 to 9999: writes its first day "YYYY-MM-01" into out[11]. */
bool parse_month(const char *s, char out[11]);
/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
long day_number(int y, int m, int d);
bool valid_phone(const char *s);
bool valid_timezone_name(const char *s);
bool valid_currency(const char *s);
/* "HH:MM" with 00 <= HH <= 23 and 00 <= MM <= 59. */
bool valid_wall_time(const char *s);
/* RFC 3339 date-time with seconds, optional fraction, and "Z" or "+HH:MM"/"-HH:MM". */
bool valid_instant(const char *s);
/* Number of UTF-8 characters in s (s is valid UTF-8, as jansson guarantees). */
size_t utf8_length(const char *s);

#endif
