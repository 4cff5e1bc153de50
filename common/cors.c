/* cors: see cors.h. */
#include "cors.h"

#include <ctype.h>
#include <string.h>

static const char BAD_FORM[] =
    "each origin must be scheme://host[:port] in lower case (http or https), without a path";
static const char BAD_PORT[] = "a port must be 1 to 65535, without leading zeros";

/* The end of the host that starts at s[i]: [a-z0-9.-]+, or a bracketed IPv6 literal in lower-case
 * hexadecimal (as browsers write it). Returns i itself when there is no host. */
static size_t host_end(const char *s, size_t i, size_t len)
{
    size_t start = i;
    if (s[i] != '[') {
        while (i < len && (islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '.' || s[i] == '-'))
            i++;
        return i;
    }
    for (i++; i < len && s[i] != ']'; i++)
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f') && s[i] != ':' && s[i] != '.')
            return start;
    if (i == len || i == start + 1)
        return start;
    return i + 1;
}

static bool digits_only(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)p[i]))
            return false;
    return true;
}

/* The port in the digits p[0..n): 1 to 65535 without a leading zero, or -1. */
static long port_value(const char *p, size_t n)
{
    if (n < 1 || n > 5 || p[0] == '0')
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (p[i] - '0');
    return v <= 65535 ? v : -1;
}

/* Checks s[0..len) and writes it into out (CORS_ORIGIN_MAX bytes) as a browser would send it: the
 * scheme's default port (80 for http, 443 for https) is left out. NULL when valid, else why not. */
static const char *origin_normalise(const char *s, size_t len, char *out)
{
    bool https = len > 8 && strncmp(s, "https://", 8) == 0;
    if (!https && !(len > 7 && strncmp(s, "http://", 7) == 0))
        return BAD_FORM;
    size_t i = https ? 8 : 7;
    long def = https ? 443 : 80;
    size_t end = host_end(s, i, len);
    if (end == i || (end < len && (s[end] != ':' || !digits_only(s + end + 1, len - end - 1))))
        return BAD_FORM; /* anything after the host but ":digits" (a path, a query, a slash) */
    long port = end < len ? port_value(s + end + 1, len - end - 1) : def;
    if (port < 0)
        return BAD_PORT;
    size_t keep = port == def ? end : len;
    memcpy(out, s, keep);
    out[keep] = '\0';
    return NULL;
}

bool cors_origins_parse(const char *list, struct cors_origins *out, const char **why)
{
    out->n = 0;
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t len = strcspn(p, ",");
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len == 0)
            break;
        if (len >= CORS_ORIGIN_MAX) {
            *why = "an origin is longer than 127 characters";
            return false;
        }
        if (out->n == CORS_MAX_ORIGINS) {
            *why = "at most 16 origins";
            return false;
        }
        const char *bad = origin_normalise(p, len, out->origin[out->n]);
        if (bad) {
            *why = bad;
            return false;
        }
        out->n++;
        p += len;
    }
    return true;
}

bool cors_origin_allowed(const struct cors_origins *o, const char *origin)
{
    if (!origin || !*origin)
        return false;
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->origin[i], origin) == 0)
            return true;
    return false;
}
