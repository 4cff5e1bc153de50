/* query: see query.h. */
#include "query.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "validate.h"

static const char bad_utf8[] = "must be valid UTF-8 once percent-decoded";
static const char bad_nul[] = "must not contain NUL characters";

/* The value of one hex digit, or -1. */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes src[0..n) as a form is ('+' is a space; a '%' without two hex digits stays as
 * it is) into dst (room for n + 1 bytes); returns the decoded length. */
static size_t query_decode(const char *src, size_t n, char *dst)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi = i + 2 < n && src[i] == '%' ? hex_value(src[i + 1]) : -1;
        int lo = hi >= 0 ? hex_value(src[i + 2]) : -1;
        if (lo >= 0) {
            dst[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            dst[o++] = src[i] == '+' ? ' ' : src[i];
        }
    }
    dst[o] = '\0';
    return o;
}

/* Whether s[0..n) is valid UTF-8 (jansson refuses to make a string of anything else). */
static bool utf8_valid(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    json_decref(j);
    return j != NULL;
}

/* Whether s[0..n) can name a parameter in errors: valid UTF-8 without NUL. */
static bool printable_key(const char *s, size_t n)
{
    return !memchr(s, '\0', n) && utf8_valid(s, n);
}

/* Lists why under the parameter's name: decoded when that can be a key, else as sent, else "query". */
static void name_error(json_t *errors, const char *name, size_t nlen, const char *raw, size_t rawlen,
                       const char *why)
{
    char *sent = strndup(raw, rawlen);
    if (printable_key(name, nlen))
        validate_add_error(errors, name, why);
    else if (sent && printable_key(sent, rawlen))
        validate_add_error(errors, sent, why);
    else
        validate_add_error(errors, "query", why);
    free(sent);
}

/* A decimal integer of digits only, from min to max, into *out. */
static bool parse_bounded(const char *s, long long min, long long max, long long *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 18 || strspn(s, "0123456789") != n)
        return false;
    *out = strtoll(s, NULL, 10);
    return *out >= min && *out <= max;
}

static bool cursor_matches(json_t *v, const char *shape)
{
    if (!json_is_array(v) || json_array_size(v) != strlen(shape))
        return false;
    for (size_t i = 0; shape[i]; i++) {
        json_t *e = json_array_get(v, i);
        if ((shape[i] == 'i' && !json_is_integer(e)) || (shape[i] == 's' && !json_is_string(e)) ||
            (shape[i] == 't' && !(json_is_string(e) && valid_instant(json_string_value(e)))))
            return false;
    }
    return true;
}

/* The keys of cursor c as JSON text (caller frees), or NULL when it is not one of shape. */
static char *cursor_keys(const char *c, const char *shape)
{
    unsigned char raw[3072]; /* a 200-character name of 4-byte characters fits */
    long n = strlen(c) < 4096 ? crypto_b64url_decode(c, raw, sizeof raw) : -1;
    json_t *v = n > 0 ? json_loadb((const char *)raw, (size_t)n, 0, NULL) : NULL;
    char *text = cursor_matches(v, shape) ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    return text;
}

static bool in_choices(const char *s, const char *const *choices)
{
    for (const char *const *c = choices; c && *c; c++)
        if (strcmp(*c, s) == 0)
            return true;
    return false;
}

/* Why v is not a value of p (NULL when it is). Sets *num; when the accepted text is not v itself (an id
 * in canonical form, a month's first day) writes it into norm and points *v at it. A reason made
 * from p's bounds is written into why. */
static const char *value_problem(const struct query_param *p, const char **v, char norm[24], long long *num,
                                 char why[96])
{
    int y, m, d;
    switch (p->type) {
    case QT_ID:
        if (!parse_bounded(*v, 1, INT64_MAX / 2, num))
            return "must be a positive integer";
        snprintf(norm, 24, "%lld", *num);
        *v = norm;
        return NULL;
    case QT_DATE:
        if (!parse_date(*v, &y, &m, &d) || y < 1900 || y > 9999)
            return "must be a date YYYY-MM-DD";
        *num = day_number(y, m, d);
        return NULL;
    case QT_MONTH:
        if (!parse_month(*v, norm))
            return "must be a month YYYY-MM";
        *v = norm;
        return NULL;
    case QT_ENUM:
        return in_choices(*v, p->choices) ? NULL : "must be one of the allowed values";
    case QT_STRING: {
        long long n = (long long)utf8_length(*v);
        if (n >= p->min && n <= p->max && (!p->charset || strspn(*v, p->charset) == strlen(*v)))
            return NULL;
        snprintf(why, 96, "must have %lld to %lld characters", p->min, p->max);
        return why;
    }
    case QT_BOOL:
        *num = strcmp(*v, "true") == 0;
        return *num || strcmp(*v, "false") == 0 ? NULL : "must be true or false";
    case QT_LIMIT:
        if (parse_bounded(*v, p->min, p->max, num))
            return NULL;
        snprintf(why, 96, "must be an integer between %lld and %lld", p->min, p->max);
        return why;
    case QT_EVENT_ID:
        return valid_event_id(*v) ? NULL : "is not an event_id this server issued";
    case QT_CURSOR:
        break; /* check_value decodes it */
    }
    return "has an unexpected type";
}

/* Checks value v against p; on success sets *text (a new string) and *num and returns true, else
 * writes the reason (p->why when set) into why. */
static bool check_value(const struct query_param *p, const char *v, char **text, long long *num, char why[96])
{
    char norm[24];
    const char *bad;
    *num = 0;
    *text = NULL;
    if (p->type == QT_CURSOR) {
        *text = cursor_keys(v, p->shape);
        bad = *text ? NULL : "is not a cursor this server issued";
    } else {
        bad = value_problem(p, &v, norm, num, why);
        if (!bad && !(*text = strdup(v)))
            bad = "could not be processed";
    }
    const char *listed = p->why ? p->why : bad;
    if (bad && listed != why)
        snprintf(why, 96, "%s", listed);
    return !bad;
}

/* The row of spec named name[0..n), or -1. */
static int find_param(const struct query_param *spec, const char *name, size_t n)
{
    for (int i = 0; spec && i < QUERY_MAX_PARAMS && spec[i].name; i++)
        if (strlen(spec[i].name) == n && memcmp(spec[i].name, name, n) == 0)
            return i;
    return -1;
}

/* Buffers for one pair, each with room for the whole query string, and the rows already given. */
struct pair_bufs {
    char *name, *value;
    unsigned seen;
};

/* Checks one name=value pair (part[0..plen), as sent) into out; lists a problem in errors. */
static bool parse_pair(const char *part, size_t plen, const struct query_param *spec, struct query_values *out,
                       struct pair_bufs *b, json_t *errors)
{
    const char *eq = memchr(part, '=', plen);
    size_t rawlen = eq ? (size_t)(eq - part) : plen;
    size_t nlen = query_decode(part, rawlen, b->name);
    size_t vlen = eq ? query_decode(eq + 1, plen - rawlen - 1, b->value) : query_decode("", 0, b->value);
    char why[96];
    const char *bad = NULL;
    int i = printable_key(b->name, nlen) ? find_param(spec, b->name, nlen) : -1;
    bool repeated = i >= 0 && (b->seen & 1u << i);
    if (i >= 0)
        b->seen |= 1u << i;
    if (!printable_key(b->name, nlen))
        bad = "is not a parameter name (not valid UTF-8 once percent-decoded)";
    else if (i < 0)
        bad = "is not a known parameter";
    else if (repeated)
        bad = "must be given only once";
    else if (!utf8_valid(b->value, vlen))
        bad = bad_utf8;
    else if (memchr(b->value, '\0', vlen))
        bad = bad_nul;
    else if (!check_value(&spec[i], b->value, &out->text[i], &out->num[i], why))
        bad = why;
    if (bad)
        name_error(errors, b->name, nlen, part, rawlen, bad);
    return !bad;
}

/* Lists each required row that is absent and fills in the defaults of absent limits. */
static bool finish(const struct query_param *spec, struct query_values *out, json_t *errors)
{
    bool ok = true;
    char buf[24];
    for (int i = 0; spec && i < QUERY_MAX_PARAMS && spec[i].name; i++) {
        if (out->text[i])
            continue;
        if (spec[i].flags & QF_REQUIRED) {
            validate_add_error(errors, spec[i].name, "is required");
            ok = false;
        } else if (spec[i].type == QT_LIMIT) {
            snprintf(buf, sizeof buf, "%lld", spec[i].def);
            out->num[i] = spec[i].def;
            if (!(out->text[i] = strdup(buf)))
                ok = false;
        }
    }
    return ok;
}

bool query_parse(const char *raw, const struct query_param *spec, struct query_values *out, json_t *errors)
{
    memset(out, 0, sizeof *out);
    out->spec = spec;
    size_t len = raw ? strlen(raw) : 0;
    struct pair_bufs b = {malloc(len + 1), malloc(len + 1), 0};
    bool ok = b.name && b.value;
    if (!ok)
        validate_add_error(errors, "query", "could not be processed");
    for (const char *part = b.name && b.value ? raw : NULL; part && *part;) {
        size_t plen = strcspn(part, "&");
        if (plen > 0 && !parse_pair(part, plen, spec, out, &b, errors))
            ok = false;
        part += plen + (part[plen] == '&');
    }
    free(b.name);
    free(b.value);
    if (!finish(spec, out, errors))
        ok = false;
    if (!ok)
        query_values_clear(out);
    return ok;
}

void query_values_clear(struct query_values *v)
{
    for (int i = 0; i < QUERY_MAX_PARAMS; i++) {
        free(v->text[i]);
        v->text[i] = NULL;
        v->num[i] = 0;
    }
}

const char *query_text(const struct query_values *v, const char *name)
{
    int i = find_param(v->spec, name, strlen(name));
    return i < 0 ? NULL : v->text[i];
}

long long query_num(const struct query_values *v, const char *name)
{
    int i = find_param(v->spec, name, strlen(name));
    return i < 0 ? 0 : v->num[i];
}
