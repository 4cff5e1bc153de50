/* quota: see quota.h. Counters per address and per user live in small hash tables of their own,
 * an entry freed when its count drops to zero, so their memory follows the live sessions. */
#include "quota.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "clientaddr.h"
#include "sig.h"

#define XFF_MAX 2048 /* an X-Forwarded-For header longer than this is not read */

#define BUCKETS 4096

struct counter {
    struct counter *next;
    int n;
    char key[48];
};

static struct counter *by_addr[BUCKETS], *by_user[BUCKETS];
static long unauthenticated, authenticated;

static unsigned hash(const char *key)
{
    unsigned h = 2166136261u;
    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 16777619u;
    return h % BUCKETS;
}

static int count_of(struct counter **table, const char *key)
{
    for (struct counter *c = table[hash(key)]; c; c = c->next)
        if (strcmp(c->key, key) == 0)
            return c->n;
    return 0;
}

/* Adds delta to key's count; false when a new entry cannot be made. */
static bool add(struct counter **table, const char *key, int delta)
{
    struct counter **link = &table[hash(key)];
    for (; *link; link = &(*link)->next)
        if (strcmp((*link)->key, key) == 0)
            break;
    struct counter *c = *link;
    if (!c) {
        if (delta <= 0 || !(c = calloc(1, sizeof *c)))
            return false;
        snprintf(c->key, sizeof c->key, "%s", key);
        *link = c;
    }
    c->n += delta;
    if (c->n <= 0) {
        *link = c->next;
        free(c);
    }
    return true;
}

bool quota_may_open(const char *addr)
{
    return !sig.stopping && unauthenticated < sig.cfg.max_unauthenticated &&
           count_of(by_addr, addr) < sig.cfg.max_unauthenticated_per_address;
}

void quota_opened(struct quota_peer *q, const char *addr)
{
    snprintf(q->addr, sizeof q->addr, "%s", addr);
    q->counted_addr = add(by_addr, q->addr, 1);
    q->counted_unauth = true;
    unauthenticated++;
}

const char *quota_authenticate(struct quota_peer *q, const char *key)
{
    if (authenticated >= sig.cfg.max_connections)
        return "The server is at capacity; try again shortly.";
    if (count_of(by_user, key) >= sig.cfg.max_per_user)
        return "Too many connections for this user; close another one first.";
    if (!add(by_user, key, 1))
        return "The server is at capacity; try again shortly.";
    snprintf(q->user_key, sizeof q->user_key, "%s", key);
    if (q->counted_addr)
        add(by_addr, q->addr, -1);
    q->counted_addr = false;
    if (q->counted_unauth)
        unauthenticated--;
    q->counted_unauth = false;
    authenticated++;
    return NULL;
}

void quota_closed(struct quota_peer *q)
{
    if (q->user_key[0]) {
        add(by_user, q->user_key, -1);
        q->user_key[0] = '\0';
        authenticated--;
    }
    if (q->counted_addr)
        add(by_addr, q->addr, -1);
    if (q->counted_unauth)
        unauthenticated--;
    q->counted_addr = q->counted_unauth = false;
}

long quota_unauthenticated(void) { return unauthenticated; }

void quota_client(struct lws *wsi, char out[48])
{
    char peer[64], key[CLIENTADDR_MAX], xff[XFF_MAX];
    const char *from = lws_get_peer_simple(wsi, peer, sizeof peer) ? peer : "";
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR);
    const char *forwarded = total > 0 && lws_hdr_copy(wsi, xff, sizeof xff, WSI_TOKEN_X_FORWARDED_FOR) > 0 ? xff : NULL;
    clientaddr_key(from, forwarded, sig.cfg.trusted_proxies, key);
    if (total > 0 && !forwarded && clientaddr_listed(from, sig.cfg.trusted_proxies))
        snprintf(key, sizeof key, "forwarded-oversized"); /* who is behind the proxy cannot be read */
    size_t n = strnlen(key, 47); /* keys are at most 24 characters ("prefix::/64"); bounded all the same */
    memcpy(out, key, n);
    out[n] = '\0';
}
