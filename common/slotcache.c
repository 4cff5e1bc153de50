/* slotcache: see slotcache.h. One array of slots, set after set; a slot is a use stamp (0: empty),
 * then the key, then the value, padded to 8 bytes. Use stamps come from one counter that every hit
 * and store advances, so within a set the smallest stamp is the least recently used entry. */
#include "slotcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct slotcache {
    pthread_mutex_t lock;
    size_t sets, key_len, value_len, slot_size, count;
    uint64_t generation, clock;
    unsigned char *slots; /* sets * SLOTCACHE_WAYS slots of slot_size bytes */
};

struct slotcache *slotcache_new(size_t entries, size_t key_len, size_t value_len)
{
    if (key_len == 0 || key_len > SLOTCACHE_KEY_MAX)
        return NULL;
    struct slotcache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->key_len = key_len;
    c->value_len = value_len;
    c->slot_size = (sizeof(uint64_t) + key_len + value_len + 7) & ~(size_t)7;
    c->sets = (entries + SLOTCACHE_WAYS - 1) / SLOTCACHE_WAYS;
    if (c->sets && !(c->slots = calloc(c->sets * SLOTCACHE_WAYS, c->slot_size))) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void slotcache_free(struct slotcache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->lock);
    free(c->slots);
    free(c);
}

static uint64_t *slot_used(const struct slotcache *c, size_t set, size_t way)
{
    return (uint64_t *)(void *)(c->slots + (set * SLOTCACHE_WAYS + way) * c->slot_size);
}

static unsigned char *slot_key(const struct slotcache *c, size_t set, size_t way)
{
    return (unsigned char *)(slot_used(c, set, way) + 1);
}

static size_t set_of(const struct slotcache *c, const void *key)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a, then a final mix so the low bits depend on every byte */
    for (size_t i = 0; i < c->key_len; i++)
        h = (h ^ ((const unsigned char *)key)[i]) * 1099511628211ULL;
    h ^= h >> 29;
    return (size_t)(h % c->sets);
}

/* The way of set holding key, or -1. Called with the lock held. */
static int find(const struct slotcache *c, size_t set, const void *key)
{
    for (size_t w = 0; w < SLOTCACHE_WAYS; w++)
        if (*slot_used(c, set, w) && memcmp(slot_key(c, set, w), key, c->key_len) == 0)
            return (int)w;
    return -1;
}

bool slotcache_get(struct slotcache *c, const void *key, void *value_out, uint64_t *ticket)
{
    pthread_mutex_lock(&c->lock);
    if (ticket)
        *ticket = c->generation;
    bool hit = false;
    if (c->sets) {
        size_t set = set_of(c, key);
        int w = find(c, set, key);
        if (w >= 0) {
            *slot_used(c, set, (size_t)w) = ++c->clock;
            memcpy(value_out, slot_key(c, set, (size_t)w) + c->key_len, c->value_len);
            hit = true;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

bool slotcache_put(struct slotcache *c, const void *key, const void *value, uint64_t ticket)
{
    pthread_mutex_lock(&c->lock);
    bool stored = c->sets && ticket == c->generation;
    if (stored) {
        size_t set = set_of(c, key);
        int w = find(c, set, key);
        if (w < 0) { /* an empty way, else the least recently used */
            w = 0;
            for (size_t i = 1; i < SLOTCACHE_WAYS && *slot_used(c, set, (size_t)w); i++)
                if (*slot_used(c, set, i) < *slot_used(c, set, (size_t)w))
                    w = (int)i;
            if (!*slot_used(c, set, (size_t)w))
                c->count++;
        }
        *slot_used(c, set, (size_t)w) = ++c->clock;
        memcpy(slot_key(c, set, (size_t)w), key, c->key_len);
        memcpy(slot_key(c, set, (size_t)w) + c->key_len, value, c->value_len);
    }
    pthread_mutex_unlock(&c->lock);
    return stored;
}

void slotcache_forget(struct slotcache *c, const void *key)
{
    pthread_mutex_lock(&c->lock);
    c->generation++;
    if (c->sets) {
        size_t set = set_of(c, key);
        int w = find(c, set, key);
        if (w >= 0) {
            *slot_used(c, set, (size_t)w) = 0;
            c->count--;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

void slotcache_clear(struct slotcache *c)
{
    pthread_mutex_lock(&c->lock);
    c->generation++;
    for (size_t s = 0; s < c->sets; s++)
        for (size_t w = 0; w < SLOTCACHE_WAYS; w++)
            *slot_used(c, s, w) = 0;
    c->count = 0;
    pthread_mutex_unlock(&c->lock);
}

size_t slotcache_count(struct slotcache *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->count;
    pthread_mutex_unlock(&c->lock);
    return n;
}

size_t slotcache_capacity(const struct slotcache *c) { return c->sets * SLOTCACHE_WAYS; }
