/* tokenbucket: a table of token buckets, one per key (a client address, a user id), for rate
 * limits, in a fixed amount of memory.
 *
 * A bucket holds up to `burst` tokens and refills at `rate` tokens a second; a request takes one.
 * A key seen for the first time starts with a full bucket. Amounts are integers in thousandths of
 * a token, so the arithmetic is exact; time is whatever monotonic milliseconds the caller passes
 * (tests drive the clock).
 *
 * Memory is allocated once, at tb_new: `capacity` slots split into lock stripes. A key's stripe
 * and position come from a hash seeded at random per table, so nobody can pick keys that collide.
 * Inside its stripe a key lives in one of TB_WINDOW slots from its position. A new key takes the
 * first empty slot there; when none is left it replaces a bucket that has refilled to full
 * (forgetting one changes nothing: a new bucket starts full), else the one used least recently
 * (forgetting its debt, which happens only when more keys are busy at once than the table holds).
 * Slots are never emptied, so a lookup stops at the first empty slot.
 *
 * Thread rules: tb_take and tb_count may run on any thread at once (each locks one stripe at a
 * time); tb_free runs alone. */
#ifndef CLINIC_TOKENBUCKET_H
#define CLINIC_TOKENBUCKET_H

#include <stddef.h>
#include <stdint.h>

#define TB_KEY_MAX 16   /* bytes: an IPv6 address */
#define TB_WINDOW 8     /* slots a key may occupy from its hash position */
#define TB_RATE_MAX 1000000L
#define TB_BURST_MAX 1000000L

struct tb_table;

/* A table of buckets of rate tokens a second (1..TB_RATE_MAX) and burst tokens
 * (1..TB_BURST_MAX), with room for at least capacity keys (>= 1). Returns a new table (free
 * with tb_free), or NULL on bad arguments or when memory is short. */
struct tb_table *tb_new(long rate, long burst, size_t capacity);
void tb_free(struct tb_table *t);

/* Takes a token from key's bucket (keylen 1..TB_KEY_MAX bytes) at now_ms. Returns 0 when one
 * was taken, else the milliseconds until the bucket holds a token again (>= 1); a refused
 * request takes nothing. A bad key is refused with -1. */
long tb_take(struct tb_table *t, const void *key, size_t keylen, int64_t now_ms);

/* Keys the table holds (slots in use). */
size_t tb_count(struct tb_table *t);
/* Slots the table has (capacity rounded up to whole stripes). */
size_t tb_capacity(const struct tb_table *t);

#endif
