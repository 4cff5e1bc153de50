/* tokencache: see tokencache.h. A slotcache keyed by the token's SHA-256, holding its claims. */
#include "tokencache.h"

#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "slotcache.h"

#define DIGEST_LEN 32
#define TOKEN_TEXT_MAX 8192 /* longer is never a token token_verify_access accepts */

struct tokencache {
    struct slotcache *entries;
};

struct tokencache *tokencache_new(size_t entries)
{
    struct tokencache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (!(c->entries = slotcache_new(entries, DIGEST_LEN, sizeof(struct claims)))) {
        free(c);
        return NULL;
    }
    return c;
}

void tokencache_free(struct tokencache *c)
{
    if (!c)
        return;
    slotcache_free(c->entries);
    free(c);
}

enum token_result tokencache_verify_access(struct tokencache *c, const struct token_keys *k, const char *token,
                                           time_t now, struct claims *out)
{
    unsigned char digest[DIGEST_LEN];
    size_t len = strnlen(token, TOKEN_TEXT_MAX + 1);
    if (!c || len > TOKEN_TEXT_MAX || !crypto_sha256(token, len, digest))
        return token_verify_access(k, token, now, out);
    struct claims held;
    uint64_t ticket;
    if (slotcache_get(c->entries, digest, &held, &ticket) && held.exp > now) {
        *out = held;
        return TOKEN_OK;
    }
    enum token_result res = token_verify_access(k, token, now, out);
    if (res == TOKEN_OK)
        slotcache_put(c->entries, digest, out, ticket);
    return res;
}

size_t tokencache_count(struct tokencache *c) { return c ? slotcache_count(c->entries) : 0; }

size_t tokencache_capacity(const struct tokencache *c) { return c ? slotcache_capacity(c->entries) : 0; }
