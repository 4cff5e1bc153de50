/* tokenbucket: see tokenbucket.h. */
#include "tokenbucket.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define STRIPES 64
#define MILLI 1000 /* thousandths of a token per token */

struct slot {
    int64_t tokens;  /* thousandths of a token at last_ms */
    int64_t last_ms; /* when the bucket was last used */
    uint8_t key[TB_KEY_MAX];
    uint8_t len; /* 0: never used */
};

struct stripe {
    pthread_mutex_t lock;
    size_t n;    /* slots */
    size_t used; /* slots holding a key */
    struct slot *slots;
} __attribute__((aligned(64)));

struct tb_table {
    int64_t rate; /* tokens a second = thousandths of a token a millisecond */
    int64_t cap;  /* burst in thousandths */
    uint64_t seed[2];
    struct stripe stripes[STRIPES];
};

/* SplitMix64's finaliser: a bijection that spreads every input bit over the output. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t key_hash(const struct tb_table *t, const uint8_t key[TB_KEY_MAX], size_t len)
{
    uint64_t w0, w1;
    memcpy(&w0, key, 8);
    memcpy(&w1, key + 8, 8);
    return mix(mix(t->seed[0] ^ w0 ^ (uint64_t)len) ^ w1 ^ t->seed[1]);
}

/* The bucket's level at now_ms (refilled, at most the burst); slot unchanged. */
static int64_t level(const struct tb_table *t, const struct slot *s, int64_t now_ms)
{
    int64_t elapsed = now_ms - s->last_ms;
    if (elapsed <= 0)
        return s->tokens;
    if (elapsed > t->cap / t->rate + 1) /* long enough to fill any bucket; also no overflow */
        return t->cap;
    int64_t v = s->tokens + elapsed * t->rate;
    return v < t->cap ? v : t->cap;
}

struct tb_table *tb_new(long rate, long burst, size_t capacity)
{
    if (rate < 1 || rate > TB_RATE_MAX || burst < 1 || burst > TB_BURST_MAX || capacity < 1)
        return NULL;
    struct tb_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->rate = rate;
    t->cap = (int64_t)burst * MILLI;
    if (getrandom(t->seed, sizeof t->seed, 0) != (ssize_t)sizeof t->seed) {
        free(t);
        return NULL;
    }
    size_t per = (capacity + STRIPES - 1) / STRIPES;
    if (per < TB_WINDOW)
        per = TB_WINDOW;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&t->stripes[i].lock, NULL);
    for (int i = 0; i < STRIPES; i++) {
        struct stripe *st = &t->stripes[i];
        st->n = per;
        st->slots = calloc(per, sizeof *st->slots);
        if (!st->slots) {
            tb_free(t);
            return NULL;
        }
    }
    return t;
}

void tb_free(struct tb_table *t)
{
    if (!t)
        return;
    for (int i = 0; i < STRIPES; i++) {
        free(t->stripes[i].slots); /* NULL for stripes tb_new did not reach */
        pthread_mutex_destroy(&t->stripes[i].lock);
    }
    free(t);
}

/* The slot of key in its window: its own, else a fresh one (an empty slot, a full bucket, or the
 * least recently used). Called with the stripe locked. */
static struct slot *slot_for(const struct tb_table *t, struct stripe *st, size_t start, const uint8_t *key,
                             size_t len, int64_t now_ms)
{
    struct slot *victim = NULL;
    bool victim_full = false;
    for (size_t i = 0; i < TB_WINDOW && i < st->n; i++) {
        struct slot *s = &st->slots[(start + i) % st->n];
        if (s->len == 0) { /* no slot is ever emptied: the key is not further on */
            st->used++;
            victim = s;
            break;
        }
        if (s->len == len && memcmp(s->key, key, len) == 0)
            return s;
        bool full = level(t, s, now_ms) >= t->cap;
        if (!victim || (full && !victim_full) || (full == victim_full && s->last_ms < victim->last_ms)) {
            victim = s;
            victim_full = full;
        }
    }
    memcpy(victim->key, key, TB_KEY_MAX);
    victim->len = (uint8_t)len;
    victim->tokens = t->cap;
    victim->last_ms = now_ms;
    return victim;
}

long tb_take(struct tb_table *t, const void *key, size_t keylen, int64_t now_ms)
{
    if (!t || !key || keylen < 1 || keylen > TB_KEY_MAX)
        return -1;
    uint8_t k[TB_KEY_MAX] = {0};
    memcpy(k, key, keylen);
    uint64_t h = key_hash(t, k, keylen);
    struct stripe *st = &t->stripes[h % STRIPES];
    pthread_mutex_lock(&st->lock);
    struct slot *s = slot_for(t, st, (size_t)((h / STRIPES) % st->n), k, keylen, now_ms);
    s->tokens = level(t, s, now_ms);
    if (now_ms > s->last_ms)
        s->last_ms = now_ms;
    long wait = 0;
    if (s->tokens >= MILLI)
        s->tokens -= MILLI;
    else
        wait = (long)((MILLI - s->tokens + t->rate - 1) / t->rate);
    pthread_mutex_unlock(&st->lock);
    return wait;
}

size_t tb_count(struct tb_table *t)
{
    size_t n = 0;
    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_lock(&t->stripes[i].lock);
        n += t->stripes[i].used;
        pthread_mutex_unlock(&t->stripes[i].lock);
    }
    return n;
}

size_t tb_capacity(const struct tb_table *t) { return t->stripes[0].n * STRIPES; }
