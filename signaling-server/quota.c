/* quota: see quota.h. Counters per address and per user live in small hash tables of their own,
 * an entry freed when its count drops to zero, so their memory follows the live sessions. */
#include "quota.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sig.h"

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

/* The key a session's user is counted under: its user id, or a guest's invitation. */
static void user_key(const struct peer *p, char key[48])
{
    if (p->claims.sub > 0)
        snprintf(key, 48, "u%lld", (long long)p->claims.sub);
    else
        snprintf(key, 48, "%s", p->vident);
}

bool quota_may_open(const char *addr)
{
    return !sig.stopping && unauthenticated < sig.cfg.max_unauthenticated &&
           count_of(by_addr, addr) < sig.cfg.max_unauthenticated_per_address;
}

void quota_opened(struct peer *p, const char *addr)
{
    snprintf(p->addr, sizeof p->addr, "%s", addr);
    p->counted_addr = add(by_addr, p->addr, 1);
    p->counted_unauth = true;
    unauthenticated++;
}

const char *quota_authenticate(struct peer *p)
{
    char key[48];
    user_key(p, key);
    if (authenticated >= sig.cfg.max_connections)
        return "The server is at capacity; try again shortly.";
    if (count_of(by_user, key) >= sig.cfg.max_per_user)
        return "Too many connections for this user; close another one first.";
    if (!add(by_user, key, 1))
        return "The server is at capacity; try again shortly.";
    snprintf(p->user_key, sizeof p->user_key, "%s", key);
    if (p->counted_addr)
        add(by_addr, p->addr, -1);
    p->counted_addr = false;
    if (p->counted_unauth)
        unauthenticated--;
    p->counted_unauth = false;
    authenticated++;
    return NULL;
}

void quota_closed(struct peer *p)
{
    if (p->user_key[0]) {
        add(by_user, p->user_key, -1);
        p->user_key[0] = '\0';
        authenticated--;
    }
    if (p->counted_addr)
        add(by_addr, p->addr, -1);
    if (p->counted_unauth)
        unauthenticated--;
    p->counted_addr = p->counted_unauth = false;
}

long quota_unauthenticated(void) { return unauthenticated; }
