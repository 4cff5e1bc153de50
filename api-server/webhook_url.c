/* webhook_url: the SSRF guard of webhook URLs; see webhook_url.h. */
#include "webhook_url.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static bool v4_public(uint32_t a)
{
    static const struct {
        uint32_t net, mask;
    } blocked[] = {
        {0x00000000u, 0xff000000u}, /* 0/8 "this network" */
        {0x0a000000u, 0xff000000u}, /* 10/8 */
        {0x64400000u, 0xffc00000u}, /* 100.64/10 shared (CGNAT) */
        {0x7f000000u, 0xff000000u}, /* 127/8 loopback */
        {0xa9fe0000u, 0xffff0000u}, /* 169.254/16 link-local, cloud metadata */
        {0xac100000u, 0xfff00000u}, /* 172.16/12 */
        {0xc0000000u, 0xffffff00u}, /* 192.0.0/24 protocol assignments */
        {0xc0a80000u, 0xffff0000u}, /* 192.168/16 */
        {0xc6120000u, 0xfffe0000u}, /* 198.18/15 benchmarking */
        {0xe0000000u, 0xe0000000u}, /* 224/4 multicast and 240/4 reserved, broadcast */
    };
    for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++)
        if ((a & blocked[i].mask) == blocked[i].net)
            return false;
    return true;
}

static bool v6_public(const unsigned char *b)
{
    static const unsigned char zero[12] = {0};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    uint32_t v4 = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
        return v4_public(v4);
    if (memcmp(b, zero, 12) == 0)
        return false; /* ::, ::1 and the deprecated v4-compatible ::a.b.c.d */
    if ((b[0] & 0xfe) == 0xfc || b[0] == 0xff)
        return false; /* fc00::/7 unique-local, ff00::/8 multicast */
    if (b[0] == 0xfe && (b[1] & 0x80) == 0x80)
        return false; /* fe80::/10 link-local, fec0::/10 site-local */
    return true;
}

bool webhook_addr_public(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return v4_public(ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr));
    if (sa->sa_family == AF_INET6)
        return v6_public(((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr);
    return false;
}

struct parsed {
    char host[256];
};

/* Parses url with libcurl; NULL or why not. */
static const char *parse(const char *url, struct parsed *p)
{
    if (strlen(url) > WEBHOOK_URL_MAX)
        return "must be at most 2000 characters";
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 127)
            return "must be an absolute http or https URL without spaces or control characters";
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *pass = NULL;
    const char *why = NULL;
    if (!u)
        return "cannot be checked now (out of memory)";
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        why = "must be an absolute http or https URL";
    else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
        why = "must use the http or https scheme";
    else if (curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_NO_USER ||
             curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) != CURLUE_NO_PASSWORD)
        why = "must not contain a user name or password";
    else if (!host[0] || strlen(host) >= sizeof p->host)
        why = "must name a host";
    else
        snprintf(p->host, sizeof p->host, "%s", host);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(user);
    curl_free(pass);
    curl_url_cleanup(u);
    return why;
}

const char *webhook_url_check(const char *url, bool allow_private, bool resolve)
{
    struct parsed p;
    const char *why = parse(url, &p);
    if (why)
        return why;
    char name[256];
    bool bracketed = p.host[0] == '[';
    snprintf(name, sizeof name, "%.*s", bracketed ? (int)strlen(p.host) - 2 : (int)strlen(p.host), p.host + bracketed);
    unsigned char bin[sizeof(struct in6_addr)];
    bool literal = bracketed || inet_pton(AF_INET, name, bin) == 1;
    if (!literal && !resolve)
        return NULL; /* the addresses are checked as libcurl connects (delivery_send.c) */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = literal ? AI_NUMERICHOST : 0}, *res = NULL;
    if (getaddrinfo(name, NULL, &hints, &res) != 0 || !res)
        return "must name a host that resolves";
    for (struct addrinfo *a = res; a && !why; a = a->ai_next)
        if (!allow_private && !webhook_addr_public(a->ai_addr))
            why = "must not point to a loopback, private, link-local or otherwise non-public address";
    freeaddrinfo(res);
    return why;
}
