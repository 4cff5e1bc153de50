/* tokencache: access tokens already verified, so a client repeating its token (every request of a
 * session) costs one SHA-256 instead of an ES256 verification and a JSON parse.
 *
 * An entry is the SHA-256 of the whole token text and the claims token_verify_access read from it.
 * A hit needs the same digest, so the same bytes: a verification's outcome depends only on those
 * bytes, the key and the time, and the key is loaded once per process; what depends on time is
 * checked again on every hit (exp). Only tokens that verified are stored, so a client sending
 * garbage cannot fill the cache. Whether the account still accepts the token is not the concern of
 * this cache (accountcache, the guard).
 *
 * Bounded and thread-safe by slotcache; an entry of an expired token is never used again and makes
 * room like any least recently used one. */
#ifndef CLINIC_TOKENCACHE_H
#define CLINIC_TOKENCACHE_H

#include <stddef.h>
#include <time.h>

#include "token.h"

struct tokencache;

/* A cache of at most entries tokens (0: none kept, every token verified). NULL when out of memory. */
struct tokencache *tokencache_new(size_t entries);
void tokencache_free(struct tokencache *c);

/* token_verify_access, answered from the cache when token verified before (c may be NULL: no cache). */
enum token_result tokencache_verify_access(struct tokencache *c, const struct token_keys *k, const char *token,
                                           time_t now, struct claims *out);

/* The tokens held and the most it holds (tests, logs). */
size_t tokencache_count(struct tokencache *c);
size_t tokencache_capacity(const struct tokencache *c);

#endif
