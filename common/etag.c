/* etag: see etag.h. */
#include "etag.h"

#include <string.h>

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* A character allowed inside the quotes of an entity tag (etagc: %x21 / %x23-7E / obs-text). */
static bool etagc(unsigned char c) { return c == 0x21 || (c >= 0x23 && c != 0x7f); }

bool etag_none_match_hits(const char *header, const char *etag)
{
    if (!header || !etag)
        return false;
    size_t etag_len = strlen(etag);
    const char *p = skip_ows(header);
    if (*p == '*')
        return *skip_ows(p + 1) == '\0';
    for (;;) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            return false;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p != '"')
            return false;
        const char *q = p + 1;
        while (*q && etagc((unsigned char)*q))
            q++;
        if (*q != '"')
            return false;
        size_t len = (size_t)(q - p) + 1; /* with both quotes */
        if (len == etag_len && memcmp(p, etag, len) == 0)
            return true;
        p = skip_ows(q + 1);
        if (*p != ',' && *p != '\0')
            return false;
    }
}
