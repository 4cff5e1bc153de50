/* byterange: see byterange.h. */
#include "byterange.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* Reads 1..18 digits at *s into *v, advancing *s; false when there are none or too many. */
static bool digits(const char **s, uint64_t *v)
{
    size_t n = strspn(*s, "0123456789");
    if (n == 0 || n > 18)
        return false;
    *v = 0;
    for (size_t i = 0; i < n; i++)
        *v = *v * 10 + (uint64_t)((*s)[i] - '0');
    *s += n;
    return true;
}

enum byterange byterange_parse(const char *header, uint64_t size, uint64_t *first, uint64_t *count)
{
    if (!header || strncasecmp(header, "bytes=", 6) != 0 || strchr(header, ','))
        return BYTERANGE_WHOLE;
    const char *s = header + 6;
    while (*s == ' ')
        s++;
    uint64_t a = 0, b = 0;
    if (*s == '-') { /* the last b bytes */
        s++;
        if (!digits(&s, &b) || *s)
            return BYTERANGE_WHOLE;
        if (b == 0)
            return BYTERANGE_UNSATISFIABLE;
        *first = b >= size ? 0 : size - b;
        *count = size - *first;
        return BYTERANGE_PART;
    }
    if (!digits(&s, &a) || *s++ != '-')
        return BYTERANGE_WHOLE;
    bool open_ended = *s == '\0';
    if (!open_ended && (!digits(&s, &b) || *s || b < a))
        return BYTERANGE_WHOLE;
    if (a >= size)
        return BYTERANGE_UNSATISFIABLE;
    if (open_ended || b >= size)
        b = size - 1;
    *first = a;
    *count = b - a + 1;
    return BYTERANGE_PART;
}
