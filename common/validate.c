/* validate: see validate.h. */
#include "validate.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool valid_cpf_digits(const char *d)
{
    if (strlen(d) != 11)
        return false;
    for (int i = 0; i < 11; i++)
        if (!isdigit((unsigned char)d[i]))
            return false;
    bool all_same = true;
    for (int i = 1; i < 11; i++)
        if (d[i] != d[0])
            all_same = false;
    if (all_same)
        return false; /* 000.000.000-00 and friends pass the arithmetic but are invalid */
    for (int check = 9; check <= 10; check++) {
        int sum = 0;
        for (int i = 0; i < check; i++)
            sum += (d[i] - '0') * (check + 1 - i);
        int digit = (sum * 10) % 11;
        if (digit == 10)
            digit = 0;
        if (digit != d[check] - '0')
            return false;
    }
    return true;
}

bool normalize_cpf(const char *in, char out[12])
{
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        if (isdigit((unsigned char)*p)) {
            if (n == 11)
                return false;
            out[n++] = *p;
        } else if (*p != '.' && *p != '-' && *p != ' ') {
            return false;
        }
    }
    out[n] = '\0';
    return n == 11;
}

bool valid_email(const char *s)
{
    size_t len = strlen(s);
    if (len < 3 || len > 254)
        return false;
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@') || at - s > 64)
        return false;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c == 0x7f || c == '"' || c == '(' || c == ')' || c == ',' || c == ':' ||
            c == ';' || c == '<' || c == '>' || c == '[' || c == '\\' || c == ']')
            return false;
    }
    const char *domain = at + 1;
    const char *dot = strrchr(domain, '.');
    if (!dot || domain[0] == '.' || dot[1] == '\0' || strstr(domain, "..") || domain[strlen(domain) - 1] == '.')
        return false;
    return true;
}

bool parse_date(const char *s, int *y, int *m, int *d)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return false;
    int yy = atoi(s), mm = atoi(s + 5), dd = atoi(s + 8);
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (yy < 1 || mm < 1 || mm > 12 || dd < 1)
        return false;
    int max = mdays[mm - 1];
    if (mm == 2 && ((yy % 4 == 0 && yy % 100 != 0) || yy % 400 == 0))
        max = 29;
    if (dd > max)
        return false;
    *y = yy;
    *m = mm;
    *d = dd;
    return true;
}

bool parse_month(const char *s, char out[11])
{
    if (!s || strlen(s) != 7 || s[4] != '-')
        return false;
    for (int i = 0; i < 7; i++)
        if (i != 4 && (s[i] < '0' || s[i] > '9'))
            return false;
    int y = atoi(s), m = atoi(s + 5);
    if (y < 2000 || y > 9999 || m < 1 || m > 12)
        return false;
    snprintf(out, 11, "%04d-%02d-01", y, m);
    return true;
}

long day_number(int y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool valid_phone(const char *s)
{
    size_t len = strlen(s), digits = 0;
    if (len < 8 || len > 20)
        return false;
    for (const char *p = s; *p; p++) {
        if (isdigit((unsigned char)*p))
            digits++;
        else if (!strchr(" +()-", *p))
            return false;
    }
    const char *plus = strchr(s, '+');
    if (plus && (plus != s || strchr(s + 1, '+')))
        return false;
    return digits >= 8;
}

bool valid_timezone_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 64 || s[0] == '/' || s[len - 1] == '/' || strstr(s, "//") || strstr(s, ".."))
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p))
            return false;
    return isalpha((unsigned char)s[0]);
}

bool valid_currency(const char *s)
{
    return strlen(s) == 3 && isupper((unsigned char)s[0]) && isupper((unsigned char)s[1]) &&
           isupper((unsigned char)s[2]);
}

static bool two_digits(const char *s, int max, int *out)
{
    if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
        return false;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return *out <= max;
}

bool valid_wall_time(const char *s)
{
    int h, m;
    return strlen(s) == 5 && s[2] == ':' && two_digits(s, 23, &h) && two_digits(s + 3, 59, &m);
}

bool valid_instant(const char *s)
{
    char date[11];
    int y, mo, d, h, mi, se;
    size_t len = strlen(s);
    if (len < 20 || len > 35 || (s[10] != 'T' && s[10] != 't'))
        return false;
    memcpy(date, s, 10);
    date[10] = '\0';
    if (!parse_date(date, &y, &mo, &d) || !two_digits(s + 11, 23, &h) || s[13] != ':' ||
        !two_digits(s + 14, 59, &mi) || s[16] != ':' || !two_digits(s + 17, 60, &se))
        return false;
    const char *p = s + 19;
    if (se == 60 && *p == '.') /* a leap second has no fraction */
        return false;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return true;
    int oh, om;
    /* Offsets in use stay within +-14:00; PostgreSQL refuses beyond 15:59. */
    return (*p == '+' || *p == '-') && strlen(p) == 6 && two_digits(p + 1, 15, &oh) && p[3] == ':' &&
           two_digits(p + 4, 59, &om);
}

size_t utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* Returns a newly allocated copy of s without leading/trailing white space. */
static char *trimmed_copy(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    char *out = malloc(len + 1);
    if (out) {
        memcpy(out, s, len);
        out[len] = '\0';
    }
    return out;
}

/* Not after today anywhere on Earth (UTC+14): the exact "today" is the clinic's, checked by the
 * database, which knows the clinic's time zone. */
static bool date_in_past_range(int y, int m, int d)
{
    time_t now = time(NULL) + 14 * 3600;
    struct tm tm;
    gmtime_r(&now, &tm);
    long given = (long)y * 10000 + m * 100 + d;
    long today = (long)(tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
    return given >= 19000101 && given <= today;
}

static const struct field_spec *find_spec(const struct field_spec *specs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(specs[i].name, name) == 0)
            return &specs[i];
    return NULL;
}

/* Checks and normalises a string-typed value; returns NULL when valid, else the reason. */
static const char *check_string(json_t *obj, const struct field_spec *f, const char *raw)
{
    char *s = trimmed_copy(raw);
    if (!s)
        return "could not be processed";
    const char *why = NULL;
    size_t len = utf8_length(s);
    char cpf[12];
    int y, m, d;

    switch (f->type) {
    case FT_STRING:
        if (f->min && (long long)len < f->min)
            why = f->min == 1 ? "must not be empty" : "is too short";
        else if (f->max && (long long)len > f->max)
            why = "is too long";
        break;
    case FT_EMAIL:
        if (!valid_email(s))
            why = "must be a valid e-mail address";
        else if (f->max && (long long)len > f->max)
            why = "is too long";
        else if (f->flags & FF_LOWER)
            for (char *p = s; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        break;
    case FT_DATE:
        if (!parse_date(s, &y, &m, &d))
            why = "must be a date YYYY-MM-DD";
        else if ((f->flags & FF_PAST) && !date_in_past_range(y, m, d))
            why = "must be a date between 1900-01-01 and today";
        break;
    case FT_ENUM:
        why = "must be one of the allowed values";
        for (const char *const *c = f->choices; c && *c; c++)
            if (strcmp(*c, s) == 0)
                why = NULL;
        break;
    case FT_CPF:
        if (!normalize_cpf(s, cpf))
            why = "must have 11 digits";
        else if (!valid_cpf_digits(cpf))
            why = "has invalid check digits";
        else
            strcpy(s, cpf); /* cpf is never longer than s */
        break;
    case FT_PHONE:
        if (!valid_phone(s))
            why = "must be a phone number with at least 8 digits";
        break;
    case FT_TIMEZONE:
        if (!valid_timezone_name(s))
            why = "must be an IANA time zone name such as America/Sao_Paulo";
        break;
    case FT_CURRENCY:
        if (!valid_currency(s))
            why = "must be an ISO 4217 code such as BRL";
        break;
    case FT_TIME:
        if (!valid_wall_time(s))
            why = "must be a time HH:MM between 00:00 and 23:59";
        break;
    case FT_INSTANT:
        if (!valid_instant(s))
            why = "must be an RFC 3339 date-time such as 2027-03-14T09:00:00Z";
        break;
    case FT_ICD10:
        if (!valid_icd10(s))
            why = "must be an ICD-10 code such as J06.9";
        break;
    default:
        why = "has an unexpected type";
    }
    if (!why)
        json_object_set_new(obj, f->name, json_string(s));
    free(s);
    return why;
}

static const char *check_value(json_t *obj, const struct field_spec *f, json_t *v)
{
    if (json_is_null(v))
        return (f->flags & FF_NULLABLE) ? NULL : "must not be null";
    switch (f->type) {
    case FT_TEXT: {
        if (!json_is_string(v))
            return "must be a string";
        size_t len = json_string_length(v);
        if (memchr(json_string_value(v), '\0', len))
            return "must not contain NUL characters";
        if ((long long)len < f->min)
            return f->min == 1 ? "must not be empty" : "is too short";
        return (long long)len > f->max ? "is too long" : NULL;
    }
    case FT_NUMBER: {
        if (!json_is_number(v))
            return "must be a number";
        double x = json_number_value(v);
        return x >= (double)f->min && x <= (double)f->max ? NULL : "is out of range";
    }
    case FT_INT:
        if (!json_is_integer(v))
            return "must be an integer";
        if (f->min == 0 && f->max == 0)
            return json_integer_value(v) > 0 ? NULL : "must be a positive integer";
        if (json_integer_value(v) < f->min || json_integer_value(v) > f->max)
            return "is out of range";
        return NULL;
    case FT_BOOL:
        return json_is_boolean(v) ? NULL : "must be true or false";
    case FT_ENUM_SET: {
        if (!json_is_array(v) || json_array_size(v) == 0)
            return "must be a non-empty array";
        size_t i, j;
        json_t *e;
        json_array_foreach(v, i, e) {
            bool known = false;
            for (const char *const *c = f->choices; c && *c && json_is_string(e); c++)
                if (strcmp(*c, json_string_value(e)) == 0)
                    known = true;
            if (!known)
                return "must contain only allowed values";
            for (j = 0; j < i; j++)
                if (json_equal(json_array_get(v, j), e))
                    return "must not repeat a value";
        }
        return NULL;
    }
    case FT_ARRAY:
        if (!json_is_array(v))
            return "must be an array";
        if ((long long)json_array_size(v) < f->min)
            return "has too few items";
        if (f->max > 0 && (long long)json_array_size(v) > f->max)
            return "has too many items";
        return NULL;
    default:
        if (!json_is_string(v))
            return "must be a string";
        return check_string(obj, f, json_string_value(v));
    }
}

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
static const char more_why[] =
    "more fields are invalid; only the first " STRINGIFY(VALIDATE_MAX_ERRORS) " are listed";

/* True once errors holds the "more" entry: nothing more is listed. A client's own key named like
 * it is told apart by its reason. */
static bool errors_full(json_t *errors)
{
    const char *why = json_string_value(json_object_get(errors, VALIDATE_MORE_KEY));
    return why && strcmp(why, more_why) == 0;
}

/* Lists key: why in errors while fewer than VALIDATE_MAX_ERRORS fields are listed; past that adds
 * the "more" entry instead. Returns false when errors is full (the caller stops checking). */
static bool add_error(json_t *errors, const char *key, const char *why)
{
    if (errors_full(errors))
        return false;
    if (json_object_size(errors) >= VALIDATE_MAX_ERRORS && !json_object_get(errors, key)) {
        json_object_set_new(errors, VALIDATE_MORE_KEY, json_string(more_why));
        return false;
    }
    json_object_set_new(errors, key, json_string(why));
    return true;
}

/* key as listed: when longer than VALIDATE_MAX_KEY_BYTES, its first whole characters within that
 * many bytes and "..." (written to out). */
static const char *listed_key(const char *key, char out[VALIDATE_MAX_KEY_BYTES + 4])
{
    size_t n = VALIDATE_MAX_KEY_BYTES;
    if (strlen(key) <= n)
        return key;
    while (n > 0 && ((unsigned char)key[n] & 0xC0) == 0x80) /* key[n] continues a character */
        n--;
    memcpy(out, key, n);
    memcpy(out + n, "...", 4);
    return out;
}

bool validate_add_error(json_t *errors, const char *key, const char *why)
{
    char cut[VALIDATE_MAX_KEY_BYTES + 4];
    return add_error(errors, listed_key(key, cut), why);
}

bool validate_object(json_t *obj, const struct field_spec *specs, size_t nspecs, bool partial,
                     json_t *errors)
{
    bool ok = true;
    const char *key;
    json_t *value;
    void *tmp;
    char cut[VALIDATE_MAX_KEY_BYTES + 4];

    json_object_foreach_safe(obj, tmp, key, value) {
        const struct field_spec *f = find_spec(specs, nspecs, key);
        const char *why = f ? check_value(obj, f, value) : "is not a known field";
        if (!why)
            continue;
        ok = false;
        if (!add_error(errors, f ? key : listed_key(key, cut), why))
            return false;
    }
    for (size_t i = 0; !partial && i < nspecs; i++)
        if ((specs[i].flags & FF_REQUIRED) && !json_object_get(obj, specs[i].name)) {
            ok = false;
            if (!add_error(errors, specs[i].name, "is required"))
                return false;
        }
    return ok;
}

/* Checks item i of list name into errors; false when it has a problem. */
static bool check_item(json_t *item, const char *name, size_t i, const struct field_spec *specs, size_t nspecs,
                       json_t *errors)
{
    char key[VALIDATE_MAX_KEY_BYTES + 96];
    if (!json_is_object(item)) {
        snprintf(key, sizeof key, "%s[%zu]", name, i);
        add_error(errors, key, "must be an object");
        return false;
    }
    json_t *item_errors = json_object(), *why;
    const char *field;
    bool ok = validate_object(item, specs, nspecs, false, item_errors);
    json_object_foreach(item_errors, field, why) {
        snprintf(key, sizeof key, "%s[%zu].%s", name, i, field);
        if (!add_error(errors, key, json_string_value(why)))
            break;
    }
    json_decref(item_errors);
    return ok;
}

bool validate_items(json_t *obj, const char *name, const struct field_spec *specs, size_t nspecs, json_t *errors)
{
    json_t *arr = json_object_get(obj, name), *item;
    bool ok = true;
    size_t i;
    if (!json_is_array(arr) || json_object_get(errors, name))
        return true;
    json_array_foreach(arr, i, item) {
        if (errors_full(errors))
            break;
        if (!check_item(item, name, i, specs, nspecs, errors))
            ok = false;
    }
    return ok;
}

bool valid_icd10(const char *s)
{
    if (!isalpha((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]))
        return false;
    if (s[3] == '\0')
        return true;
    if (s[3] != '.')
        return false;
    size_t n = strlen(s + 4);
    if (n < 1 || n > 4)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[4 + i]))
            return false;
    return true;
}

bool valid_event_id(const char *s)
{
    const char *dash = strchr(s, '-');
    size_t a = dash ? (size_t)(dash - s) : 0, b = dash ? strlen(dash + 1) : 0;
    if (!dash || a < 1 || a > 20 || b < 1 || b > 19 || strspn(s, "0123456789") != a ||
        strspn(dash + 1, "0123456789") != b)
        return false;
    errno = 0;
    (void)strtoull(s, NULL, 10);
    if (errno == ERANGE)
        return false;
    (void)strtoll(dash + 1, NULL, 10);
    return errno != ERANGE;
}
