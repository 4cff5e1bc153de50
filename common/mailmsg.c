/* mailmsg: see mailmsg.h. */
#include "mailmsg.h"

#include "crypto.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool mailmsg_addr_ok(const char *addr)
{
    if (!addr)
        return false;
    size_t len = strlen(addr);
    const char *at = strchr(addr, '@');
    if (len < 3 || len > 254 || !at || at == addr || !at[1] || strchr(at + 1, '@'))
        return false;
    for (const char *p = addr; *p; p++)
        if (*p <= ' ' || *p >= 127 || strchr("<>\",()\\;:[]", *p))
            return false;
    return true;
}

bool mailmsg_split_mailbox(const char *mailbox, char *name, size_t name_len, char *addr, size_t addr_len)
{
    const char *lt = strrchr(mailbox, '<');
    name[0] = '\0';
    if (!lt)
        return snprintf(addr, addr_len, "%s", mailbox) < (int)addr_len && mailmsg_addr_ok(addr);
    const char *gt = strchr(lt, '>');
    if (!gt || gt[1] != '\0' || (size_t)(gt - lt - 1) >= addr_len)
        return false;
    memcpy(addr, lt + 1, (size_t)(gt - lt - 1));
    addr[gt - lt - 1] = '\0';
    const char *s = mailbox, *e = lt;
    while (s < e && *s == ' ')
        s++;
    while (e > s && e[-1] == ' ')
        e--;
    if (e - s >= 2 && *s == '"' && e[-1] == '"')
        s++, e--;
    if ((size_t)(e - s) >= name_len)
        return false;
    memcpy(name, s, (size_t)(e - s));
    name[e - s] = '\0';
    return mailmsg_addr_ok(addr);
}

/* Whether every byte of s is printable ASCII and s holds no "=?" (which a reader would decode). */
static bool plain_ascii(const char *s)
{
    for (const char *p = s; *p; p++)
        if (*p < ' ' || *p >= 127)
            return false;
    return !strstr(s, "=?");
}

/* Encoded words of s into out (size n): chunks of at most 45 bytes (60 base64 characters, 72 with the
 * wrapper), cut before a UTF-8 continuation byte, folded with CRLF SP. */
static long encoded_words(const char *s, char *out, size_t n)
{
    size_t len = strlen(s), o = 0;
    for (size_t i = 0; i < len || i == 0;) {
        size_t take = len - i > 45 ? 45 : len - i;
        while (take > 0 && i + take < len && ((unsigned char)s[i + take] & 0xC0) == 0x80)
            take--;
        char enc[64];
        crypto_b64((const unsigned char *)s + i, take, enc);
        int w = snprintf(out + o, n - o, "%s=?UTF-8?B?%s?=", o ? "\r\n " : "", enc);
        if (w < 0 || (size_t)w >= n - o)
            return -1;
        o += (size_t)w;
        i += take;
        if (len == 0)
            break;
    }
    return (long)o;
}

long mailmsg_encode_text(const char *s, char *out, size_t n)
{
    if (plain_ascii(s)) {
        int w = snprintf(out, n, "%s", s);
        return w < 0 || (size_t)w >= n ? -1 : w;
    }
    return encoded_words(s, out, n);
}

long mailmsg_encode_phrase(const char *s, char *out, size_t n)
{
    if (!plain_ascii(s))
        return encoded_words(s, out, n);
    if (strcspn(s, "()<>[]:;@\\,.\"") == strlen(s) && s[0] != ' ') {
        int w = snprintf(out, n, "%s", s);
        return w < 0 || (size_t)w >= n ? -1 : w;
    }
    size_t o = 0;
    if (n < 3)
        return -1;
    out[o++] = '"';
    for (const char *p = s; *p; p++) {
        if (o + 4 >= n)
            return -1;
        if (*p == '"' || *p == '\\')
            out[o++] = '\\';
        out[o++] = *p;
    }
    out[o++] = '"';
    out[o] = '\0';
    return (long)o;
}

/* A growing output buffer; on allocation failure it turns "failed" and stays empty. */
struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 1024) + n;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

__attribute__((format(printf, 2, 3))) static void sb_fmt(struct sbuf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= sizeof tmp)
        b->failed = true;
    else
        sb_add(b, tmp, (size_t)w);
}

/* A body in base64, 76 characters a line. */
static void sb_base64(struct sbuf *b, const char *s)
{
    size_t len = strlen(s);
    char line[80];
    for (size_t i = 0; i < len; i += 57) {
        size_t w = crypto_b64((const unsigned char *)s + i, len - i > 57 ? 57 : len - i, line);
        sb_add(b, line, w);
        sb_add(b, "\r\n", 2);
    }
}

/* "Name <addr>" (or just addr) as a header value. */
static void sb_mailbox(struct sbuf *b, const char *name, const char *addr)
{
    if (name && *name) {
        char enc[4096];
        long w = mailmsg_encode_phrase(name, enc, sizeof enc);
        if (w < 0) {
            b->failed = true;
            return;
        }
        sb_add(b, enc, (size_t)w);
        sb_add(b, " <", 2);
        sb_add(b, addr, strlen(addr));
        sb_add(b, ">", 1);
    } else {
        sb_add(b, addr, strlen(addr));
    }
}

static void sb_part(struct sbuf *b, const char *boundary, const char *type, const char *body)
{
    sb_fmt(b, "--%s\r\nContent-Type: %s; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n", boundary, type);
    sb_base64(b, body);
}

char *mailmsg_build(const struct mail_msg *m, size_t *len)
{
    if (!mailmsg_addr_ok(m->from_addr) || !mailmsg_addr_ok(m->to_addr) || !m->subject || !m->text ||
        !m->boundary_tag || strspn(m->boundary_tag, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") !=
                                strlen(m->boundary_tag))
        return NULL;
    struct sbuf b = {0};
    char date[64], subject[4096], boundary[128];
    struct tm tm;
    gmtime_r(&m->date, &tm);
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    snprintf(date, sizeof date, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (mailmsg_encode_text(m->subject, subject, sizeof subject) < 0)
        return NULL;
    snprintf(boundary, sizeof boundary, "=_clinic_%" PRId64 "_%.64s", m->delivery_id, m->boundary_tag);

    sb_fmt(&b, "Date: %s\r\nFrom: ", date);
    sb_mailbox(&b, m->from_name, m->from_addr);
    sb_add(&b, "\r\nTo: ", 6);
    sb_mailbox(&b, m->to_name, m->to_addr);
    sb_add(&b, "\r\nSubject: ", 11);
    sb_add(&b, subject, strlen(subject));
    /* The same id on every attempt, so a receiver can drop a repeat. */
    sb_fmt(&b, "\r\nMessage-ID: <delivery-%" PRId64 "@%s>\r\n", m->delivery_id, strchr(m->from_addr, '@') + 1);
    sb_fmt(&b, "X-Clinic-Delivery: %" PRId64 "\r\nMIME-Version: 1.0\r\n", m->delivery_id);
    if (m->html) {
        sb_fmt(&b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary);
        sb_part(&b, boundary, "text/plain", m->text);
        sb_part(&b, boundary, "text/html", m->html);
        sb_fmt(&b, "--%s--\r\n", boundary);
    } else {
        sb_fmt(&b, "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n");
        sb_base64(&b, m->text);
    }
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
