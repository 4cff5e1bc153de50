/* Unit tests for common/slotcache.c (the bound and the eviction order within a set, tickets that
 * refuse a fill begun before a forget, a cache that keeps nothing) and common/accountcache.c (no
 * trust before the listener listens, after a loss or past the last renewal; every transition drops
 * what was held; a fill begun before the LISTEN is refused). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "accountcache.h"
#include "slotcache.h"

static bool put_int(struct slotcache *c, int64_t key, int64_t value)
{
    uint64_t ticket;
    int64_t v;
    slotcache_get(c, &key, &v, &ticket);
    return slotcache_put(c, &key, &value, ticket);
}

/* The value of key, or -1 when not held. */
static int64_t get_int(struct slotcache *c, int64_t key)
{
    int64_t v;
    return slotcache_get(c, &key, &v, NULL) ? v : -1;
}

static void test_bounded_lru_within_a_set(void **state)
{
    (void)state;
    struct slotcache *c = slotcache_new(SLOTCACHE_WAYS, sizeof(int64_t), sizeof(int64_t)); /* one set */
    assert_int_equal(slotcache_capacity(c), SLOTCACHE_WAYS);
    for (int64_t k = 1; k <= SLOTCACHE_WAYS; k++)
        assert_true(put_int(c, k, k * 10));
    assert_int_equal(slotcache_count(c), SLOTCACHE_WAYS);
    assert_int_equal(get_int(c, 1), 10); /* 1 is now the most recently used; 2 the least */
    assert_true(put_int(c, 99, 990));
    assert_int_equal(slotcache_count(c), SLOTCACHE_WAYS);
    assert_int_equal(get_int(c, 2), -1);
    assert_int_equal(get_int(c, 1), 10);
    assert_int_equal(get_int(c, 99), 990);
    assert_true(put_int(c, 99, 991)); /* a key stored again replaces its value in place */
    assert_int_equal(get_int(c, 99), 991);
    assert_int_equal(slotcache_count(c), SLOTCACHE_WAYS);
    slotcache_free(c);

    /* many sets: never more than the capacity, whatever is stored */
    c = slotcache_new(10, sizeof(int64_t), sizeof(int64_t));
    assert_int_equal(slotcache_capacity(c), 12); /* rounded up to whole sets */
    for (int64_t k = 1; k <= 1000; k++) {
        assert_true(put_int(c, k, k));
        assert_true(slotcache_count(c) <= 12);
    }
    int held = 0;
    for (int64_t k = 1; k <= 1000; k++)
        if (get_int(c, k) != -1) {
            assert_int_equal(get_int(c, k), k);
            held++;
        }
    assert_int_equal(held, slotcache_count(c));
    slotcache_free(c);
}

static void test_tickets(void **state)
{
    (void)state;
    struct slotcache *c = slotcache_new(64, sizeof(int64_t), sizeof(int64_t));
    int64_t key = 7, other = 8, value = 70, v;
    uint64_t ticket;
    assert_false(slotcache_get(c, &key, &v, &ticket));
    /* a forget (of any key) between the miss and the fill: the fill is refused */
    slotcache_forget(c, &other);
    assert_false(slotcache_put(c, &key, &value, ticket));
    assert_int_equal(get_int(c, 7), -1);
    assert_false(slotcache_get(c, &key, &v, &ticket));
    assert_true(slotcache_put(c, &key, &value, ticket));
    assert_int_equal(get_int(c, 7), 70);
    /* a forget after the fill removes it */
    slotcache_forget(c, &key);
    assert_int_equal(get_int(c, 7), -1);
    assert_int_equal(slotcache_count(c), 0);
    /* clear: everything goes, and fills begun before it are refused */
    assert_true(put_int(c, 1, 1));
    assert_true(put_int(c, 2, 2));
    assert_false(slotcache_get(c, &key, &v, &ticket));
    slotcache_clear(c);
    assert_int_equal(slotcache_count(c), 0);
    assert_int_equal(get_int(c, 1), -1);
    assert_false(slotcache_put(c, &key, &value, ticket));
    slotcache_free(c);

    /* a cache of no entries keeps nothing */
    c = slotcache_new(0, sizeof(int64_t), sizeof(int64_t));
    assert_false(put_int(c, 1, 1));
    assert_int_equal(get_int(c, 1), -1);
    assert_int_equal(slotcache_capacity(c), 0);
    slotcache_free(c);
    assert_null(slotcache_new(4, 0, 8));
    assert_null(slotcache_new(4, SLOTCACHE_KEY_MAX + 1, 8));
}

static const struct account_state ACTIVE = {.iat_floor = 100, .clinic_id = 3, .role = ROLE_DOCTOR, .active = true};

/* Misses user at now, then stores st with the ticket of that miss; returns whether it is then held. */
static bool fill(struct accountcache *c, int64_t user, int64_t now, const struct account_state *st)
{
    struct account_state got;
    uint64_t ticket;
    assert_false(accountcache_get(c, user, now, &got, &ticket));
    accountcache_put(c, user, now, st, ticket);
    return accountcache_get(c, user, now, &got, &ticket);
}

static void test_account_trust(void **state)
{
    (void)state;
    struct accountcache *c = accountcache_new(16);
    struct account_state got;
    uint64_t ticket;
    /* before the listener listens: nothing is kept */
    assert_false(accountcache_trusted(c, 0));
    assert_false(fill(c, 5, 0, &ACTIVE));
    assert_int_equal(accountcache_count(c), 0);

    /* a miss before the LISTEN, filled after it: refused (its fetch may predate the LISTEN) */
    assert_false(accountcache_get(c, 5, 0, &got, &ticket));
    accountcache_listening(c, 1000);
    accountcache_put(c, 5, 10, &ACTIVE, ticket);
    assert_false(accountcache_get(c, 5, 10, &got, &ticket));

    assert_true(fill(c, 5, 10, &ACTIVE));
    assert_true(accountcache_get(c, 5, 999, &got, &ticket));
    assert_int_equal(got.iat_floor, 100);
    assert_int_equal(got.clinic_id, 3);
    assert_int_equal(got.role, ROLE_DOCTOR);
    assert_true(got.active);

    /* past the last renewal: bypassed (held, not used), until renewed */
    assert_false(accountcache_get(c, 5, 1000, &got, &ticket));
    accountcache_renew(c, 2000);
    assert_true(accountcache_get(c, 5, 1500, &got, &ticket));

    /* a notification forgets its user only */
    assert_true(fill(c, 6, 1500, &ACTIVE));
    accountcache_forget(c, 5);
    assert_false(accountcache_get(c, 5, 1500, &got, &ticket));
    assert_true(accountcache_get(c, 6, 1500, &got, &ticket));
    accountcache_forget_all(c);
    assert_false(accountcache_get(c, 6, 1500, &got, &ticket));

    /* a loss: nothing trusted, nothing kept, even once listening again */
    assert_true(fill(c, 7, 1500, &ACTIVE));
    accountcache_lost(c);
    assert_false(accountcache_trusted(c, 1500));
    assert_int_equal(accountcache_count(c), 0);
    assert_false(fill(c, 7, 1500, &ACTIVE));
    accountcache_listening(c, 5000);
    assert_false(accountcache_get(c, 7, 1600, &got, &ticket));
    assert_true(fill(c, 7, 1600, &ACTIVE));
    accountcache_free(c);

    /* no entries: trusted or not, every lookup misses */
    c = accountcache_new(0);
    accountcache_listening(c, 1000);
    assert_false(fill(c, 1, 0, &ACTIVE));
    accountcache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounded_lru_within_a_set),
        cmocka_unit_test(test_tickets),
        cmocka_unit_test(test_account_trust),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
