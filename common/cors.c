/* cors: see cors.h. */
#include "cors.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* "http://" or "https://", then a host of [a-z0-9.-] (or a bracketed IPv6 literal), then an
 * optional ":port" of 1 to 5 digits, and nothing else. */
static bool origin_valid(const char *s, size_t len)
{
    size_t i;
    if (len > 7 && strncmp(s, "http://", 7) == 0)
        i = 7;
    else if (len > 8 && strncmp(s, "https://", 8) == 0)
        i = 8;
    else
        return false;
    size_t host = i;
    if (s[i] == '[') {
        for (i++; i < len && s[i] != ']'; i++)
            if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.')
                return false;
        if (i == len || i == host + 1)
            return false;
        i++;
    } else {
        while (i < len && (islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '.' || s[i] == '-'))
            i++;
    }
    if (i == host)
        return false;
    if (i == len)
        return true;
    if (s[i] != ':')
        return false;
    size_t digits = len - i - 1;
    if (digits < 1 || digits > 5)
        return false;
    for (i++; i < len; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
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
        if (!origin_valid(p, len)) {
            *why = "each origin must be scheme://host[:port] in lower case (http or https), without a path";
            return false;
        }
        if (out->n == CORS_MAX_ORIGINS) {
            *why = "at most 16 origins";
            return false;
        }
        memcpy(out->origin[out->n], p, len);
        out->origin[out->n][len] = '\0';
        out->n++;
        p += len;
        while (*p == ' ')
            p++;
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
