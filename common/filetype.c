/* filetype: see filetype.h. */
#include "filetype.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *mime, *ext;
    size_t off;
    const char *magic;
    size_t len;
} types[] = {
    {"application/pdf", ".pdf", 0, "%PDF-", 5},
    {"image/png", ".png", 0, "\x89PNG\r\n\x1a\n", 8},
    {"image/jpeg", ".jpg", 0, "\xff\xd8\xff", 3},
    {"image/webp", ".webp", 8, "WEBP", 4}, /* after "RIFF" and the 32-bit size */
};
#define NTYPES (sizeof types / sizeof types[0])

const char *filetype_sniff(const unsigned char *head, size_t n, bool images_only)
{
    for (size_t i = 0; i < NTYPES; i++) {
        if (images_only && strcmp(types[i].mime, "application/pdf") == 0)
            continue;
        if (n < types[i].off + types[i].len || memcmp(head + types[i].off, types[i].magic, types[i].len) != 0)
            continue;
        if (types[i].off == 8 && memcmp(head, "RIFF", 4) != 0)
            continue;
        return types[i].mime;
    }
    return NULL;
}

const char *filetype_ext(const char *mime)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (strcmp(types[i].mime, mime) == 0)
            return types[i].ext;
    return "";
}

/* The length of the valid UTF-8 sequence at s (1..4), or 0 when s does not start one. */
static size_t utf8_seq(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || (n == 2 && s[0] < 0xC2) || (n == 4 && s[0] > 0xF4))
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((n == 3 && s[0] == 0xE0 && s[1] < 0xA0) || (n == 3 && s[0] == 0xED && s[1] >= 0xA0) ||
        (n == 4 && s[0] == 0xF0 && s[1] < 0x90) || (n == 4 && s[0] == 0xF4 && s[1] >= 0x90))
        return 0;
    return n;
}

void filetype_safe_name(const char *sent, const char *mime, char *out, size_t cap)
{
    const char *base = sent;
    for (const char *p = sent; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    const char *ext = filetype_ext(mime);
    size_t room = cap - strlen(ext) - 1, o = 0;
    const unsigned char *s = (const unsigned char *)base;
    while (*s) {
        size_t n = utf8_seq(s);
        if (n == 0 || (n == 1 && (*s < 0x20 || *s == 0x7f || *s == '"')) || (n == 2 && s[0] == 0xc2 && s[1] < 0xa0)) {
            /* a byte that is no UTF-8, a control character (C0, DEL, C1: U+0080..U+009F) or a quote: one _ */
            n = n == 2 ? 2 : 1;
            if (o + 1 > room)
                break;
            out[o++] = '_';
        } else {
            if (o + n > room)
                break;
            memcpy(out + o, s, n);
            o += n;
        }
        s += n;
    }
    out[o] = '\0';
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = '\0';
    while (out[0] == '.' || out[0] == ' ')
        memmove(out, out + 1, strlen(out));
    if (!out[0])
        snprintf(out, room + 1, "document");
    strcat(out, ext);
}

bool filetype_disposition(const char *name, char *out, size_t cap)
{
    static const char attr[] = "!#$&+-.^_`|~"; /* RFC 5987 attr-char besides letters and digits */
    int w = snprintf(out, cap, "attachment; filename=\"");
    size_t o = w > 0 ? (size_t)w : 0;
    for (const unsigned char *s = (const unsigned char *)name; *s && o + 1 < cap; s++)
        if ((*s & 0xC0) != 0x80) /* one '_' for each character outside ASCII */
            out[o++] = (*s < 0x80 && *s >= 0x20 && *s != '"' && *s != '\\' && *s != '%') ? (char)*s : '_';
    w = snprintf(out + o, o < cap ? cap - o : 0, "\"; filename*=UTF-8''");
    o += w > 0 ? (size_t)w : cap;
    for (const unsigned char *s = (const unsigned char *)name; *s && o + 4 < cap; s++) {
        if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
            (*s && strchr(attr, *s)))
            out[o++] = (char)*s;
        else
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", *s);
        if (!s[1]) {
            out[o] = '\0';
            return true;
        }
    }
    if (o >= cap)
        return false;
    out[o] = '\0';
    return !*name;
}
