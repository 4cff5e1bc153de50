/* clientaddr: see clientaddr.h. */
#include "clientaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* An address in binary: family AF_INET (4 bytes) or AF_INET6 (16), IPv4-mapped IPv6 as IPv4. */
struct addr {
    int family;
    unsigned char b[16];
};

/* Parses the len bytes at s (spaces and tabs around them allowed). */
static bool addr_parse(const char *s, size_t len, struct addr *a)
{
    char one[INET6_ADDRSTRLEN];
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    memset(a, 0, sizeof *a);
    if (len == 0 || len >= sizeof one)
        return false;
    memcpy(one, s, len);
    one[len] = '\0';
    if (inet_pton(AF_INET, one, a->b) == 1) {
        a->family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, one, a->b) != 1)
        return false;
    a->family = AF_INET6;
    if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(const void *)a->b)) {
        memmove(a->b, a->b + 12, 4);
        memset(a->b + 4, 0, 12);
        a->family = AF_INET;
    }
    return true;
}

static bool addr_equal(const struct addr *x, const struct addr *y)
{
    return x->family == y->family && memcmp(x->b, y->b, x->family == AF_INET ? 4 : 16) == 0;
}

bool clientaddr_list_valid(const char *list)
{
    int n = 0;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        struct addr a;
        if (++n > CLIENTADDR_MAX_PROXIES || !addr_parse(p, len, &a))
            return false;
        p += len;
        if (*p == ',' && *++p == '\0')
            return false;
    }
    return true;
}

/* Whether a is one of the list's addresses. */
static bool trusted_has(const char *list, const struct addr *a)
{
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        struct addr t;
        if (addr_parse(p, len, &t) && addr_equal(&t, a))
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

bool clientaddr_listed(const char *addr, const char *list)
{
    struct addr a;
    return addr && list && addr_parse(addr, strlen(addr), &a) && trusted_has(list, &a);
}

static void key_of(const struct addr *a, char out[CLIENTADDR_MAX])
{
    char text[INET6_ADDRSTRLEN];
    if (a->family == AF_INET && inet_ntop(AF_INET, a->b, text, sizeof text)) {
        snprintf(out, CLIENTADDR_MAX, "%s", text);
        return;
    }
    unsigned char net[16] = {0};
    memcpy(net, a->b, 8);
    if (a->family == AF_INET6 && inet_ntop(AF_INET6, net, text, sizeof text))
        snprintf(out, CLIENTADDR_MAX, "%s/64", text);
    else
        snprintf(out, CLIENTADDR_MAX, "unknown");
}

void clientaddr_key(const char *peer, const char *xff, const char *trusted, char out[CLIENTADDR_MAX])
{
    struct addr cur;
    if (!peer || !addr_parse(peer, strlen(peer), &cur)) {
        snprintf(out, CLIENTADDR_MAX, "unknown");
        return;
    }
    /* From the right while the hop that told us is a proxy we trust. */
    size_t end = xff && trusted ? strlen(xff) : 0;
    while (end > 0 && trusted_has(trusted, &cur)) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        struct addr next;
        if (!addr_parse(xff + start, end - start, &next))
            break;
        cur = next;
        end = start > 0 ? start - 1 : 0;
    }
    key_of(&cur, out);
}
