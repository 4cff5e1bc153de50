/* config: reading settings from environment variables. Each reader takes the variable's name and
 * documented default, validates the value and, when it is bad, appends one clear message to a
 * cfg_errors list so start-up can report every bad value at once. */
#ifndef CLINIC_CONFIG_H
#define CLINIC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define CFG_MAX_ERRORS 16

struct cfg_errors {
    int n;
    char msg[CFG_MAX_ERRORS][200];
};

/* Pure parsers (unit tested). */
bool cfg_parse_long(const char *s, long min, long max, long *out);
/* A comma-separated list of distinct integers min..max (spaces around items allowed), at most max_n of
 * them, into out. Returns how many, or -1 (out left unspecified) when malformed, empty, too long or
 * repeating a value. */
int cfg_parse_long_list(const char *s, long min, long max, long *out, int max_n);
/* "host:port" with an IPv4 address or "localhost"; port 1..65535. */
bool cfg_parse_listen(const char *s, char *host, size_t hostlen, int *port);

/* The variable's value, or def when unset or empty. */
const char *cfg_env(const char *name, const char *def);
long cfg_env_long(const char *name, long def, long min, long max, struct cfg_errors *errs);
void cfg_env_listen(const char *name, const char *def, char *host, size_t hostlen, int *port,
                    struct cfg_errors *errs);
/* Appends a formatted message. */
void cfg_error(struct cfg_errors *errs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
