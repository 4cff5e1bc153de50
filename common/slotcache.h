/* slotcache: a bounded, thread-safe map from fixed-size keys to fixed-size values, for small facts
 * that are cheap to hold and dear to fetch (what the API's guard knows of an account, a verified
 * access token).
 *
 * Bounded: the slots are allocated once, `entries` of them (rounded up to whole sets), and never
 * grow. They form sets of SLOTCACHE_WAYS; a key lives only in the set its hash picks, and storing
 * into a full set replaces that set's least recently used entry.
 *
 * Safe fills (tickets): a reader that misses gets a ticket, fetches the value from its source of
 * truth and stores it with that ticket. The store is refused when anything was forgotten
 * (slotcache_forget, slotcache_clear) since the ticket was issued, as the value fetched may
 * predate that change; a forget after the store removes what was stored. So a forget is never
 * undone by a fetch that began before it, whatever the order in which they end. The ticket is a
 * generation of the whole cache: any forget refuses every fill begun before it, which is right as
 * long as forgets are rare next to reads.
 *
 * Thread-safe: one mutex guards the slots, the generation and the counters; keys and values are
 * copied in and out under it, and no call blocks on anything else while holding it. */
#ifndef CLINIC_SLOTCACHE_H
#define CLINIC_SLOTCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLOTCACHE_WAYS 4
#define SLOTCACHE_KEY_MAX 32 /* longest key, bytes */

struct slotcache;

/* A cache of about entries values of value_len bytes under keys of key_len bytes (1..SLOTCACHE_KEY_MAX);
 * entries 0 makes a cache that keeps nothing. NULL when out of memory or key_len is out of range.
 * Caller frees with slotcache_free once no other thread uses it. */
struct slotcache *slotcache_new(size_t entries, size_t key_len, size_t value_len);
void slotcache_free(struct slotcache *c);

/* Copies the value of key into value_out and returns true when held; always sets *ticket (NULL: none
 * wanted) for a later slotcache_put of key. */
bool slotcache_get(struct slotcache *c, const void *key, void *value_out, uint64_t *ticket);
/* Stores value under key unless something was forgotten since ticket was issued (or the cache keeps
 * nothing); returns whether it was stored. */
bool slotcache_put(struct slotcache *c, const void *key, const void *value, uint64_t ticket);
/* Drops key's value (if held) and refuses every fill whose ticket was issued before. */
void slotcache_forget(struct slotcache *c, const void *key);
/* Drops every value and refuses every fill whose ticket was issued before. */
void slotcache_clear(struct slotcache *c);

/* The values held, and the most it can hold, for tests and logs. */
size_t slotcache_count(struct slotcache *c);
size_t slotcache_capacity(const struct slotcache *c);

#endif
