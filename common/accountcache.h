/* accountcache: what the API's guard knows of each account (active, the earliest iat its tokens may
 * carry, role, clinic), held in memory so that an authenticated request needs no database round
 * trip of its own, and trusted only while every change of an account is sure to be heard.
 *
 * The source of truth is the database (account_guard_state, sql/0020); every change of what it
 * answers is announced by NOTIFY account_changed at commit. The cache is trusted only while the
 * process listens for it: the listener (api-server/account_listener.c) calls accountcache_listening
 * once its LISTEN is in place, renews that trust with each heartbeat the connection answers, and
 * calls accountcache_lost when the connection fails. Until the first accountcache_listening, after
 * a loss, and whenever the last renewal's deadline has passed (a listener that stopped answering),
 * the cache is bypassed: every lookup misses and nothing is stored, so every request asks the
 * database. Each transition to listening or lost drops every entry, so nothing fetched before a
 * gap in listening survives it (a change announced during the gap was never heard).
 *
 * A notification forgets its user (accountcache_forget); fills are safe against it by
 * slotcache's tickets (a fetch that began before the forget is not stored). Bounded by slotcache.
 *
 * Thread-safe: the trust deadline is one atomic; the entries are slotcache's (its mutex). A store
 * checks trust before its ticket, and a loss withdraws trust before it clears, so a store racing a
 * loss is either refused by its ticket or cleared after it. */
#ifndef CLINIC_ACCOUNTCACHE_H
#define CLINIC_ACCOUNTCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "token.h"

/* What the guard reads of an account. */
struct account_state {
    int64_t iat_floor; /* tokens with an earlier iat are refused (token_iat_floor) */
    int64_t clinic_id; /* 0 for none */
    enum role role;
    bool active;
};

struct accountcache;

/* A cache of at most entries accounts (0: never holds any; every lookup goes to the database), not
 * trusted until accountcache_listening. NULL when out of memory. */
struct accountcache *accountcache_new(size_t entries);
void accountcache_free(struct accountcache *c);

/* The state of user at now_ms (a CLOCK_MONOTONIC time in milliseconds) into *out, true when held
 * and trusted; otherwise false with *ticket for accountcache_put. */
bool accountcache_get(struct accountcache *c, int64_t user, int64_t now_ms, struct account_state *out,
                      uint64_t *ticket);
/* Stores what was fetched from the database for user after accountcache_get gave ticket, when the
 * cache is trusted at now_ms and nothing was forgotten since. */
void accountcache_put(struct accountcache *c, int64_t user, int64_t now_ms, const struct account_state *st,
                      uint64_t ticket);
/* A change of user was announced. */
void accountcache_forget(struct accountcache *c, int64_t user);
/* A change of any account, or of an unknown one, was announced: everything goes. */
void accountcache_forget_all(struct accountcache *c);

/* The listener's LISTEN is in place (after a start or a loss): drops everything, then trusts the
 * cache until until_ms. */
void accountcache_listening(struct accountcache *c, int64_t until_ms);
/* The connection answered a heartbeat, every notification before it handled: trusted until until_ms. */
void accountcache_renew(struct accountcache *c, int64_t until_ms);
/* The listener's connection is gone: distrusts the cache, then drops everything. */
void accountcache_lost(struct accountcache *c);

/* Whether the cache is trusted at now_ms, the accounts held and the most it holds (tests, logs). */
bool accountcache_trusted(struct accountcache *c, int64_t now_ms);
size_t accountcache_count(struct accountcache *c);
size_t accountcache_capacity(const struct accountcache *c);

#endif
