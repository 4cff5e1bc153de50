/* pix: see pix.h. Character classes are spelled out as ASCII ranges so the result never depends on
 * the locale. */
#include "pix.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "validate.h"

static const char *const type_names[] = {
    [PIX_CPF] = "cpf", [PIX_CNPJ] = "cnpj", [PIX_PHONE] = "phone", [PIX_EMAIL] = "email", [PIX_EVP] = "evp",
};

enum pix_key_type pix_key_type_parse(const char *s)
{
    if (s)
        for (int t = PIX_CPF; t <= PIX_EVP; t++)
            if (strcmp(s, type_names[t]) == 0)
                return (enum pix_key_type)t;
    return (enum pix_key_type)0;
}

const char *pix_key_type_name(enum pix_key_type t)
{
    switch (t) {
    case PIX_CPF:
    case PIX_CNPJ:
    case PIX_PHONE:
    case PIX_EMAIL:
    case PIX_EVP:
        return type_names[t];
    }
    return NULL;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
static bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
static char to_lower(char c) { return is_upper(c) ? (char)(c - 'A' + 'a') : c; }

/* Copies s without surrounding white space into out (room for cap bytes); false when it does not
 * fit. */
static bool trim_copy(const char *s, char *out, size_t cap)
{
    while (is_space(*s))
        s++;
    size_t len = strlen(s);
    while (len > 0 && is_space(s[len - 1]))
        len--;
    if (len >= cap)
        return false;
    memcpy(out, s, len);
    out[len] = '\0';
    return true;
}

static const char *check_cpf(const char *key, char *out)
{
    char digits[12];
    if (!normalize_cpf(key, digits))
        return "must be a CPF of 11 digits";
    if (!valid_cpf_digits(digits))
        return "must be a valid CPF";
    memcpy(out, digits, sizeof digits);
    return NULL;
}

/* The check digit over the first n characters of c (values ASCII - 48) with weights that run from
 * n - 7 (n = 12: 5, n = 13: 6) down to 2, then from 9 down to 2. */
static int cnpj_check_digit(const char *c, int n)
{
    int sum = 0, weight = n - 7;
    for (int i = 0; i < n; i++) {
        sum += (c[i] - '0') * weight;
        weight = weight == 2 ? 9 : weight - 1;
    }
    int r = sum % 11;
    return r < 2 ? 0 : 11 - r;
}

static const char *check_cnpj(const char *key, char *out)
{
    static const char *const shape = "must be a CNPJ of 14 characters (12 letters or digits, then 2 digits)";
    char c[15];
    int n = 0;
    for (const char *p = key; *p; p++) {
        char ch = *p;
        if (ch == '.' || ch == '/' || ch == '-' || ch == ' ')
            continue;
        if (is_lower(ch))
            ch = (char)(ch - 'a' + 'A');
        if (n == 14 || !(is_digit(ch) || (n < 12 && is_upper(ch))))
            return shape;
        c[n++] = ch;
    }
    if (n != 14)
        return shape;
    c[14] = '\0';
    bool all_same = true;
    for (int i = 1; i < 14; i++)
        if (c[i] != c[0])
            all_same = false;
    if (all_same || cnpj_check_digit(c, 12) != c[12] - '0' || cnpj_check_digit(c, 13) != c[13] - '0')
        return "must be a valid CNPJ";
    memcpy(out, c, sizeof c);
    return NULL;
}

static const char *check_phone(const char *key, char *out)
{
    static const char *const shape =
        "must be +55, a 2-digit area code and an 8-digit landline or a 9-digit mobile number starting with 9";
    char c[15]; /* "+55" and 11 digits */
    size_t n = 0;
    bool too_long = false;
    for (const char *p = key; *p; p++) {
        if (*p == ' ' || *p == '(' || *p == ')' || *p == '-')
            continue;
        if (!is_digit(*p) && *p != '+')
            return shape;
        if (n == sizeof c - 1)
            too_long = true;
        else
            c[n++] = *p;
    }
    c[n] = '\0';
    if (n < 3 || c[0] != '+' || c[1] != '5' || c[2] != '5')
        return "must start with +55";
    for (size_t i = 3; i < n; i++)
        if (!is_digit(c[i]))
            return shape;
    size_t digits = n - 3;
    if (too_long || (digits != 10 && digits != 11))
        return shape;
    if (c[3] == '0' || (c[3] == '1' && c[4] == '0'))
        return "must have an area code from 11 to 99";
    if (digits == 11 && c[5] != '9')
        return "must be a mobile number starting with 9 when it has 9 digits";
    memcpy(out, c, n + 1);
    return NULL;
}

static const char *check_email(const char *key, char *out)
{
    static const char *const too_long = "must be at most 77 characters";
    char s[PIX_KEY_MAX + 1];
    if (!trim_copy(key, s, sizeof s))
        return too_long;
    for (char *p = s; *p; p++) {
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
            return "must be an e-mail address in printable ASCII";
        *p = to_lower(*p);
    }
    if (!valid_email(s))
        return "must be a valid e-mail address";
    memcpy(out, s, strlen(s) + 1);
    return NULL;
}

static const char *check_evp(const char *key, char *out)
{
    static const char *const shape = "must be a UUID (8-4-4-4-12 hexadecimal digits)";
    char s[37];
    if (!trim_copy(key, s, sizeof s) || strlen(s) != 36)
        return shape;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return shape;
        } else if (!is_hex(s[i])) {
            return shape;
        } else {
            s[i] = to_lower(s[i]);
        }
    }
    memcpy(out, s, sizeof s);
    return NULL;
}

const char *pix_key_normalize(enum pix_key_type t, const char *key, char *out, size_t cap)
{
    if (!out || cap < PIX_KEY_MAX + 1) {
        if (out && cap > 0)
            out[0] = '\0';
        return "cannot be checked (output buffer too small)";
    }
    out[0] = '\0';
    if (!pix_key_type_name(t))
        return "has an unknown PIX key type";
    if (!key)
        return "is required";
    if (strnlen(key, PIX_KEY_INPUT_MAX + 1) > PIX_KEY_INPUT_MAX)
        return t == PIX_EMAIL ? "must be at most 77 characters" : "is too long";
    const char *why = NULL;
    switch (t) {
    case PIX_CPF:
        why = check_cpf(key, out);
        break;
    case PIX_CNPJ:
        why = check_cnpj(key, out);
        break;
    case PIX_PHONE:
        why = check_phone(key, out);
        break;
    case PIX_EMAIL:
        why = check_email(key, out);
        break;
    case PIX_EVP:
        why = check_evp(key, out);
        break;
    }
    if (why)
        out[0] = '\0';
    return why;
}

void pix_key_mask(enum pix_key_type t, const char *normalised, char *out, size_t cap)
{
    if (!out || cap == 0)
        return;
    /* Only a key already in its normalised form is masked; anything else could put characters the
     * rule would hide at the places it shows. */
    char norm[PIX_KEY_MAX + 1];
    if (!normalised || pix_key_normalize(t, normalised, norm, sizeof norm) || strcmp(norm, normalised) != 0) {
        snprintf(out, cap, "***");
        return;
    }
    const char *k = norm;
    switch (t) {
    case PIX_CPF:
        snprintf(out, cap, "***.%.3s.%.3s-**", k + 3, k + 6);
        break;
    case PIX_CNPJ:
        snprintf(out, cap, "%.2s.***.***/****-%.2s", k, k + 12);
        break;
    case PIX_PHONE:
        snprintf(out, cap, "+55 ** %s-%s", strlen(k) == 14 ? "*****" : "****", k + strlen(k) - 4);
        break;
    case PIX_EMAIL:
        snprintf(out, cap, "%c***%s", k[0], strchr(k, '@'));
        break;
    case PIX_EVP:
        snprintf(out, cap, "%.4s****-****-****-****-********%s", k, k + 32);
        break;
    }
}
