/* accountcache: see accountcache.h. A slotcache keyed by the user id, plus the trust deadline. */
#include "accountcache.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "slotcache.h"

struct accountcache {
    struct slotcache *entries;
    atomic_int_least64_t trusted_until; /* CLOCK_MONOTONIC ms; 0: not trusted */
};

struct accountcache *accountcache_new(size_t entries)
{
    struct accountcache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (!(c->entries = slotcache_new(entries, sizeof(int64_t), sizeof(struct account_state)))) {
        free(c);
        return NULL;
    }
    atomic_init(&c->trusted_until, 0);
    return c;
}

void accountcache_free(struct accountcache *c)
{
    if (!c)
        return;
    slotcache_free(c->entries);
    free(c);
}

bool accountcache_trusted(struct accountcache *c, int64_t now_ms) { return now_ms < atomic_load(&c->trusted_until); }

bool accountcache_get(struct accountcache *c, int64_t user, int64_t now_ms, struct account_state *out,
                      uint64_t *ticket)
{
    struct account_state st;
    /* The ticket is taken even when not trusted: a store checks trust again. */
    bool hit = slotcache_get(c->entries, &user, &st, ticket);
    if (!hit || !accountcache_trusted(c, now_ms))
        return false;
    *out = st;
    return true;
}

void accountcache_put(struct accountcache *c, int64_t user, int64_t now_ms, const struct account_state *st,
                      uint64_t ticket)
{
    if (accountcache_trusted(c, now_ms))
        slotcache_put(c->entries, &user, st, ticket);
}

void accountcache_forget(struct accountcache *c, int64_t user) { slotcache_forget(c->entries, &user); }

void accountcache_forget_all(struct accountcache *c) { slotcache_clear(c->entries); }

void accountcache_listening(struct accountcache *c, int64_t until_ms)
{
    /* Cleared first: a fill whose ticket predates this (its fetch may predate the LISTEN) is refused. */
    slotcache_clear(c->entries);
    atomic_store(&c->trusted_until, until_ms);
}

void accountcache_renew(struct accountcache *c, int64_t until_ms) { atomic_store(&c->trusted_until, until_ms); }

void accountcache_lost(struct accountcache *c)
{
    atomic_store(&c->trusted_until, 0);
    slotcache_clear(c->entries);
}

size_t accountcache_count(struct accountcache *c) { return slotcache_count(c->entries); }

size_t accountcache_capacity(const struct accountcache *c) { return slotcache_capacity(c->entries); }
