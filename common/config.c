/* config: see config.h. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cfg_parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !(isdigit((unsigned char)s[0]) || (s[0] == '-' && isdigit((unsigned char)s[1]))))
        return false;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

int cfg_parse_long_list(const char *s, long min, long max, long *out, int max_n)
{
    int n = 0;
    while (s) {
        char item[32];
        size_t len = strcspn(s, ",");
        const char *b = s, *e = s + len;
        while (b < e && *b == ' ')
            b++;
        while (e > b && e[-1] == ' ')
            e--;
        if (n >= max_n || (size_t)(e - b) >= sizeof item)
            return -1;
        memcpy(item, b, (size_t)(e - b));
        item[e - b] = '\0';
        if (!cfg_parse_long(item, min, max, &out[n]))
            return -1;
        for (int i = 0; i < n; i++)
            if (out[i] == out[n])
                return -1;
        n++;
        s = s[len] == ',' ? s + len + 1 : NULL;
    }
    return n;
}

bool cfg_parse_listen(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon = s ? strrchr(s, ':') : NULL;
    if (!colon || colon == s || (size_t)(colon - s) >= hostlen)
        return false;
    long p;
    if (!cfg_parse_long(colon + 1, 1, 65535, &p))
        return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    struct in_addr a;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, hostlen, "127.0.0.1");
    else if (inet_pton(AF_INET, host, &a) != 1)
        return false;
    *port = (int)p;
    return true;
}

const char *cfg_env(const char *name, const char *def)
{
    const char *v = getenv(name);
    return (v && *v) ? v : def;
}

void cfg_error(struct cfg_errors *errs, const char *fmt, ...)
{
    if (errs->n >= CFG_MAX_ERRORS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errs->msg[errs->n++], sizeof errs->msg[0], fmt, ap);
    va_end(ap);
}

long cfg_env_long(const char *name, long def, long min, long max, struct cfg_errors *errs)
{
    const char *v = cfg_env(name, NULL);
    long out = def;
    if (v && !cfg_parse_long(v, min, max, &out)) {
        cfg_error(errs, "%s=\"%.60s\" is not an integer between %ld and %ld", name, v, min, max);
        out = def;
    }
    return out;
}

void cfg_env_listen(const char *name, const char *def, char *host, size_t hostlen, int *port,
                    struct cfg_errors *errs)
{
    const char *v = cfg_env(name, def);
    if (!cfg_parse_listen(v, host, hostlen, port)) {
        cfg_error(errs, "%s=\"%.60s\" must be HOST:PORT with an IPv4 address and a port 1-65535", name, v);
        cfg_parse_listen(def, host, hostlen, port);
    }
}
