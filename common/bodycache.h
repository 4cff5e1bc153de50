/* bodycache: a bounded in-memory cache of response bodies, each kept under a key together with the
 * stamp it is valid for (the version of the data it was built from, as the caller's source of
 * truth states it). One entry per key: a body stored under another stamp replaces the one before.
 *
 * Memory: the bytes kept (bodies, keys, bookkeeping) never exceed max_bytes; the least recently
 * used entries are dropped first, and a body that cannot fit at all is not kept. A body handed to
 * a reader is reference counted, so dropping an entry never frees bytes a reader is still copying
 * (those bytes leave the count when the entry is dropped and are freed by the last reader).
 *
 * Single flight: the first reader that misses a key at a stamp owns the build of it (a non-zero
 * flight number); readers missing the same key at the same stamp meanwhile wait, at most wait_ms,
 * for that build and take its body, so one change read by many screens at once costs one build.
 * The owner must end its flight, with bodycache_put (stored or not) or bodycache_abandon.
 *
 * Thread-safe: one mutex guards the table and its counters; readers copy body bytes outside it. */
#ifndef CLINIC_BODYCACHE_H
#define CLINIC_BODYCACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BODYCACHE_KEY_MAX 128  /* longest key, with its terminating NUL */
#define BODYCACHE_STAMP_MAX 64 /* longest stamp, with its terminating NUL */

struct bodycache;

/* A body as readers see it; read-only for them. */
struct bodycache_body {
    atomic_int refs; /* private */
    size_t len;
    char stamp[BODYCACHE_STAMP_MAX];
    char data[]; /* len bytes */
};

/* A new cache holding at most max_bytes (0: a cache that keeps nothing and never makes anyone
 * wait); NULL when out of memory. Caller frees with bodycache_free, after every reader is done. */
struct bodycache *bodycache_new(size_t max_bytes, unsigned wait_ms);
void bodycache_free(struct bodycache *c);

/* Looks key up at stamp. Returns a reference to a body (release it with bodycache_release): one
 * stored under stamp, or the one the build this call waited for produced (its own stamp, never an
 * older content than stamp describes). NULL means the caller builds the body; *flight is then
 * non-zero when the caller owns the build of key at stamp (and must end it), 0 when it builds on
 * its own (another stamp is being built, a wait ran out, or the cache keeps nothing). A key or
 * stamp that is too long is a miss with no flight. */
const struct bodycache_body *bodycache_get(struct bodycache *c, const char *key, const char *stamp,
                                           uint64_t *flight);
/* Gives back a reference from bodycache_get. NULL is ignored. */
void bodycache_release(const struct bodycache_body *b);

/* Stores len bytes of data under key and stamp (copied) unless they cannot fit, and ends flight
 * (0: none) when it is key's current build, waking its waiters. */
void bodycache_put(struct bodycache *c, const char *key, const char *stamp, const char *data, size_t len,
                   uint64_t flight);
/* Ends flight without a body (the build failed): its waiters build on their own. */
void bodycache_abandon(struct bodycache *c, const char *key, uint64_t flight);

/* The bytes counted against max_bytes and the entries, for tests and logs. */
size_t bodycache_bytes(struct bodycache *c);
size_t bodycache_entries(struct bodycache *c);

#endif
