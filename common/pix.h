/* pix: Brazilian PIX keys (the payout destination of a doctor): the five key types, checking a key
 * of an explicit type and writing its normalised form (the form the DICT directory stores), and a
 * masked form for display. Pure: no I/O, no allocation, no locale dependence.
 *
 * Normalised forms:
 *   cpf    11 digits                               "12345678909"
 *   cnpj   14 characters, 12 of [0-9A-Z] + 2 digits "12ABC34501DE35" (alphanumeric CNPJ, 2026)
 *   phone  "+55", area code 11..99, 8 or 9 digits   "+5511912345678"
 *   email  lower-case, at most PIX_KEY_MAX chars    "jane.doe@example.com"
 *   evp    lower-case UUID 8-4-4-4-12               "123e4567-e89b-12d3-a456-426614174000" */
#ifndef CLINIC_PIX_H
#define CLINIC_PIX_H

#include <stddef.h>

/* The longest normalised key (an e-mail key may have 77 characters). */
#define PIX_KEY_MAX 77
/* The longest masked key: an e-mail "j***@domain" is up to 3 characters longer than the key. */
#define PIX_MASK_MAX (PIX_KEY_MAX + 3)
/* Raw inputs longer than this many bytes are rejected before anything else ("is too long"), so no
 * amount of punctuation or padding can make a key out of an arbitrarily long string. */
#define PIX_KEY_INPUT_MAX 128

enum pix_key_type { PIX_CPF = 1, PIX_CNPJ, PIX_PHONE, PIX_EMAIL, PIX_EVP };

/* "cpf", "cnpj", "phone", "email", "evp" (exactly, lower-case) -> the type; 0 for anything else,
 * NULL included. */
enum pix_key_type pix_key_type_parse(const char *s);

/* The name pix_key_type_parse() accepts for t ("cpf", ...), a static string; NULL when t is not
 * one of the five types. */
const char *pix_key_type_name(enum pix_key_type t);

/* Checks key as a key of type t and writes its normalised form (NUL-terminated, at most
 * PIX_KEY_MAX characters) into out, which has room for cap bytes; cap must be at least
 * PIX_KEY_MAX + 1. Returns NULL when the key is valid, else a static reason to show after the
 * field name ("must be a valid CPF", ...) and out holds "" (when cap > 0).
 *
 * Accepted input per type (the raw key is at most PIX_KEY_INPUT_MAX bytes):
 *   cpf    11 digits with valid check digits; '.', '-' and ' ' anywhere are ignored; all-equal
 *          digit strings (111.111.111-11) are invalid.
 *   cnpj   12 characters [0-9A-Za-z] (lower-case is upper-cased) then 2 check digits; '.', '/',
 *          '-' and ' ' anywhere are ignored. Check digits: modulo 11 over the values ASCII - 48
 *          ('0'..'9' = 0..9, 'A' = 17 ... 'Z' = 42), weights 5,4,3,2,9,8,7,6,5,4,3,2 then
 *          6,5,4,3,2,9,8,7,6,5,4,3,2, digit = r < 2 ? 0 : 11 - r. All-equal strings are invalid.
 *   phone  "+55" then a 2-digit area code 11..99 and either 8 digits (landline) or 9 digits
 *          starting with 9 (mobile); ' ', '(', ')' and '-' anywhere are ignored. "+55" is never
 *          added: a key without it is invalid ("must start with +55").
 *   email  surrounding white space trimmed, then at most PIX_KEY_MAX characters, printable ASCII
 *          only, the shape valid_email() accepts (one '@', non-empty local part, dotted domain);
 *          normalised lower-case.
 *   evp    surrounding white space trimmed, then a UUID: 36 characters, 8-4-4-4-12 hexadecimal
 *          digits (either case) separated by '-'; normalised lower-case. Version bits unchecked.
 * A NULL key gives "is required"; an unknown t gives "has an unknown PIX key type"; out NULL or
 * cap < PIX_KEY_MAX + 1 is a caller bug and gives "cannot be checked (output buffer too small)". */
const char *pix_key_normalize(enum pix_key_type t, const char *key, char *out, size_t cap);

/* Writes the normalised key of type t masked for display into out (cap bytes, NUL-terminated,
 * truncated when cap is smaller than PIX_MASK_MAX + 1; nothing written when cap is 0):
 *   cpf    "***.456.789-**"         (the middle 6 digits)
 *   cnpj   the first 2 and the last 2 characters in the CNPJ layout, i.e. "12.***.***" then
 *          a slash then "****-35" (spelt out here only because the slash would end this comment)
 *   phone  "+55 ** *****-5678"      (the last 4 digits; "+55 ** ****-5678" for a landline)
 *   email  "j***@example.com"       (the first character of the local part and the domain)
 *   evp    "123e****-****-****-****-********4000" (the first 4 and the last 4 characters)
 * When normalised is NULL or not in the normalised form of t (or t is unknown), out gets "***":
 * a mask never reveals more than the rule above. */
void pix_key_mask(enum pix_key_type t, const char *normalised, char *out, size_t cap);

#endif
