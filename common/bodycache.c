/* bodycache: see bodycache.h. A chained hash table of entries plus a least-recently-used list
 * through the same entries; the table owns one reference to each entry's body. An entry being
 * built (building) is never evicted, so a waiter always finds its flight's entry again by key. */
#include "bodycache.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUCKETS 1024 /* a power of two */

struct entry {
    struct entry *next_in_bucket;
    struct entry *newer, *older; /* the LRU list: head is the most recently used */
    struct bodycache_body *body; /* NULL while the first build of the key runs */
    uint64_t flight;             /* the current or last flight of this key */
    uint64_t body_flight;        /* the flight that stored body; 0 when stored by no flight */
    bool building;
    char building_stamp[BODYCACHE_STAMP_MAX];
    char key[];
};

struct bodycache {
    pthread_mutex_t lock;
    pthread_cond_t built; /* broadcast whenever a flight ends */
    size_t max_bytes, bytes, entries;
    unsigned wait_ms;
    uint64_t flights;
    struct entry *newest, *oldest;
    struct entry *buckets[BUCKETS];
};

static size_t entry_cost(const char *key) { return sizeof(struct entry) + strlen(key) + 1; }
static size_t body_cost(size_t len) { return sizeof(struct bodycache_body) + len; }

static size_t bucket_of(const char *key)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)(h & (BUCKETS - 1));
}

struct bodycache *bodycache_new(size_t max_bytes, unsigned wait_ms)
{
    struct bodycache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->built, &attr);
    pthread_condattr_destroy(&attr);
    c->max_bytes = max_bytes;
    c->wait_ms = wait_ms;
    return c;
}

void bodycache_release(const struct bodycache_body *b)
{
    struct bodycache_body *m = (struct bodycache_body *)b;
    if (m && atomic_fetch_sub(&m->refs, 1) == 1)
        free(m);
}

static struct entry *find(struct bodycache *c, const char *key)
{
    for (struct entry *e = c->buckets[bucket_of(key)]; e; e = e->next_in_bucket)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void lru_unlink(struct bodycache *c, struct entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_touch(struct bodycache *c, struct entry *e)
{
    if (c->newest == e)
        return;
    if (e->newer || e->older)
        lru_unlink(c, e);
    e->older = c->newest;
    if (c->newest)
        c->newest->newer = e;
    c->newest = e;
    if (!c->oldest)
        c->oldest = e;
}

/* Drops e's body from the table (readers may still hold it). */
static void drop_body(struct bodycache *c, struct entry *e)
{
    if (!e->body)
        return;
    c->bytes -= body_cost(e->body->len);
    bodycache_release(e->body);
    e->body = NULL;
}

static void remove_entry(struct bodycache *c, struct entry *e)
{
    struct entry **pp = &c->buckets[bucket_of(e->key)];
    while (*pp != e)
        pp = &(*pp)->next_in_bucket;
    *pp = e->next_in_bucket;
    lru_unlink(c, e);
    drop_body(c, e);
    c->bytes -= entry_cost(e->key);
    c->entries--;
    free(e);
}

/* A new entry for key, linked into the table and the list; NULL when out of memory. */
static struct entry *add_entry(struct bodycache *c, const char *key)
{
    size_t klen = strlen(key);
    struct entry *e = calloc(1, sizeof *e + klen + 1);
    if (!e)
        return NULL;
    memcpy(e->key, key, klen + 1);
    size_t b = bucket_of(key);
    e->next_in_bucket = c->buckets[b];
    c->buckets[b] = e;
    lru_touch(c, e);
    c->bytes += entry_cost(key);
    c->entries++;
    return e;
}

/* Drops least recently used entries (never keep, never one being built) until the count fits. */
static void evict(struct bodycache *c, const struct entry *keep)
{
    struct entry *e = c->oldest;
    while (c->bytes > c->max_bytes && e) {
        struct entry *newer = e->newer;
        if (e != keep && !e->building)
            remove_entry(c, e);
        e = newer;
    }
}

static const struct bodycache_body *take(struct bodycache *c, struct entry *e)
{
    atomic_fetch_add(&e->body->refs, 1);
    lru_touch(c, e);
    return e->body;
}

/* Waits for flight f of key to end, at most c->wait_ms; the entry afterwards, or NULL. */
static struct entry *wait_flight(struct bodycache *c, const char *key, uint64_t f)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += c->wait_ms / 1000;
    until.tv_nsec += (long)(c->wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    struct entry *e;
    while ((e = find(c, key)) && e->building && e->flight == f)
        if (pthread_cond_timedwait(&c->built, &c->lock, &until) == ETIMEDOUT)
            return NULL;
    return e;
}

/* The lookup itself, under the lock. */
static const struct bodycache_body *get_locked(struct bodycache *c, const char *key, const char *stamp,
                                               uint64_t *flight)
{
    struct entry *e = find(c, key);
    if (e && e->body && strcmp(e->body->stamp, stamp) == 0)
        return take(c, e);
    if (e && e->building) {
        if (strcmp(e->building_stamp, stamp) != 0)
            return NULL; /* another stamp is being built: build alone */
        uint64_t f = e->flight;
        e = wait_flight(c, key, f);
        if (e && e->body && (e->body_flight == f || strcmp(e->body->stamp, stamp) == 0))
            return take(c, e);
        return NULL;
    }
    if (!e && entry_cost(key) > c->max_bytes)
        return NULL;
    if (!e && !(e = add_entry(c, key)))
        return NULL;
    e->building = true;
    e->flight = ++c->flights;
    snprintf(e->building_stamp, sizeof e->building_stamp, "%s", stamp);
    *flight = e->flight;
    evict(c, e);
    return NULL;
}

const struct bodycache_body *bodycache_get(struct bodycache *c, const char *key, const char *stamp,
                                           uint64_t *flight)
{
    *flight = 0;
    if (!c || c->max_bytes == 0 || strlen(key) >= BODYCACHE_KEY_MAX || strlen(stamp) >= BODYCACHE_STAMP_MAX)
        return NULL;
    pthread_mutex_lock(&c->lock);
    const struct bodycache_body *b = get_locked(c, key, stamp, flight);
    pthread_mutex_unlock(&c->lock);
    return b;
}

/* Ends e's flight f when it is the current one, waking every waiter. */
static void end_flight(struct bodycache *c, struct entry *e, uint64_t f)
{
    if (!e || !f || !e->building || e->flight != f)
        return;
    e->building = false;
    pthread_cond_broadcast(&c->built);
}

static struct bodycache_body *new_body(const char *stamp, const char *data, size_t len)
{
    struct bodycache_body *b = malloc(sizeof *b + len);
    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    b->len = len;
    snprintf(b->stamp, sizeof b->stamp, "%s", stamp);
    memcpy(b->data, data, len);
    return b;
}

void bodycache_put(struct bodycache *c, const char *key, const char *stamp, const char *data, size_t len,
                   uint64_t flight)
{
    if (!c || c->max_bytes == 0 || strlen(key) >= BODYCACHE_KEY_MAX || strlen(stamp) >= BODYCACHE_STAMP_MAX)
        return;
    bool fits = body_cost(len) + entry_cost(key) <= c->max_bytes;
    struct bodycache_body *b = fits ? new_body(stamp, data, len) : NULL;
    pthread_mutex_lock(&c->lock);
    struct entry *e = find(c, key);
    if (b && (e || (e = add_entry(c, key)))) {
        drop_body(c, e);
        e->body = b;
        b = NULL;
        c->bytes += body_cost(len);
        e->body_flight = e->building && e->flight == flight ? flight : 0;
        lru_touch(c, e);
    }
    end_flight(c, e, flight);
    if (e && !e->body && !e->building)
        remove_entry(c, e);
    else if (e)
        evict(c, e);
    pthread_mutex_unlock(&c->lock);
    free(b); /* not stored (out of memory) */
}

void bodycache_abandon(struct bodycache *c, const char *key, uint64_t flight)
{
    if (!c || !flight)
        return;
    pthread_mutex_lock(&c->lock);
    struct entry *e = find(c, key);
    end_flight(c, e, flight);
    if (e && !e->body && !e->building)
        remove_entry(c, e);
    pthread_mutex_unlock(&c->lock);
}

size_t bodycache_bytes(struct bodycache *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->bytes;
    pthread_mutex_unlock(&c->lock);
    return n;
}

size_t bodycache_entries(struct bodycache *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->entries;
    pthread_mutex_unlock(&c->lock);
    return n;
}

void bodycache_free(struct bodycache *c)
{
    if (!c)
        return;
    while (c->oldest)
        remove_entry(c, c->oldest);
    pthread_cond_destroy(&c->built);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
