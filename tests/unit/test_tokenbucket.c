/* Unit tests for common/tokenbucket.c: the burst, the refill rate and the wait it announces, keys
 * kept apart, the fixed memory (a flood of new keys never grows the table, and a busy key
 * survives it), and the arguments refused. The clock is passed in, so nothing sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "tokenbucket.h"

/* Takes n tokens for key at now; returns how many were granted. */
static int take_n(struct tb_table *t, const char *key, int n, int64_t now)
{
    int granted = 0;
    for (int i = 0; i < n; i++)
        granted += tb_take(t, key, strlen(key), now) == 0;
    return granted;
}

static void test_burst_then_refused_with_wait(void **state)
{
    (void)state;
    struct tb_table *t = tb_new(10, 5, 100); /* 10 a second, burst 5 */
    assert_non_null(t);
    assert_int_equal(take_n(t, "a", 5, 1000), 5);
    /* empty: the next token is 100 ms away */
    assert_int_equal(tb_take(t, "a", 1, 1000), 100);
    assert_int_equal(tb_take(t, "a", 1, 1040), 60);
    /* a refused request takes nothing: at 1100 exactly one token is there */
    assert_int_equal(tb_take(t, "a", 1, 1100), 0);
    assert_int_equal(tb_take(t, "a", 1, 1100), 100);
    tb_free(t);
}

static void test_refill_is_capped_at_the_burst(void **state)
{
    (void)state;
    struct tb_table *t = tb_new(10, 5, 100);
    assert_int_equal(take_n(t, "a", 5, 0), 5);
    /* an hour later the bucket holds 5, not 36,000 */
    assert_int_equal(take_n(t, "a", 10, 3600 * 1000), 5);
    /* 250 ms refill 2.5 tokens: two are granted, the half stays */
    assert_int_equal(take_n(t, "a", 3, 3600 * 1000 + 250), 2);
    assert_int_equal(tb_take(t, "a", 1, 3600 * 1000 + 250), 50);
    tb_free(t);
}

static void test_sustained_rate(void **state)
{
    (void)state;
    struct tb_table *t = tb_new(50, 200, 100);
    int granted = 0;
    /* a request every millisecond for 10 s: the burst plus 50 a second */
    for (int64_t ms = 0; ms < 10000; ms++)
        granted += tb_take(t, "x", 1, ms) == 0;
    assert_in_range(granted, 200 + 50 * 10 - 1, 200 + 50 * 10);
    tb_free(t);
}

static void test_keys_are_apart(void **state)
{
    (void)state;
    struct tb_table *t = tb_new(1, 2, 100);
    unsigned char a4[4] = {127, 0, 0, 1}, b4[4] = {127, 0, 0, 2};
    assert_int_equal(tb_take(t, a4, 4, 0), 0);
    assert_int_equal(tb_take(t, a4, 4, 0), 0);
    assert_int_equal(tb_take(t, a4, 4, 0), 1000);
    assert_int_equal(tb_take(t, b4, 4, 0), 0);
    /* the same bytes with another length are another key */
    assert_int_equal(tb_take(t, a4, 3, 0), 0);
    assert_int_equal(tb_count(t), 3);
    tb_free(t);
}

static void test_memory_is_fixed_and_a_busy_key_survives_a_flood(void **state)
{
    (void)state;
    struct tb_table *t = tb_new(1, 2, 1000); /* a token a second, burst 2 */
    size_t cap = tb_capacity(t);
    assert_true(cap >= 1000 && cap < 2000);
    assert_int_equal(take_n(t, "busy", 2, 0), 2); /* empty, refilling */
    /* 50,000 new keys over 50 s, one a millisecond, each used once; the busy key asks every
     * 10 ms. Were it ever replaced it would come back with a full bucket and get more than its
     * token a second. */
    char key[32];
    int busy = 0;
    for (int i = 0; i < 50000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(tb_take(t, key, strlen(key), i), 0);
        if (i % 10 == 0)
            busy += tb_take(t, "busy", 4, i) == 0;
    }
    assert_true(tb_count(t) <= cap);
    assert_in_range(busy, 49, 50);
    tb_free(t);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_null(tb_new(0, 1, 10));
    assert_null(tb_new(1, 0, 10));
    assert_null(tb_new(1, 1, 0));
    assert_null(tb_new(TB_RATE_MAX + 1, 1, 10));
    struct tb_table *t = tb_new(1, 1, 10);
    char long_key[TB_KEY_MAX + 1] = {0};
    assert_int_equal(tb_take(t, long_key, sizeof long_key, 0), -1);
    assert_int_equal(tb_take(t, "", 0, 0), -1);
    assert_int_equal(tb_take(t, NULL, 4, 0), -1);
    assert_int_equal(tb_count(t), 0);
    tb_free(t);
    tb_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refused_with_wait),
        cmocka_unit_test(test_refill_is_capped_at_the_burst),
        cmocka_unit_test(test_sustained_rate),
        cmocka_unit_test(test_keys_are_apart),
        cmocka_unit_test(test_memory_is_fixed_and_a_busy_key_survives_a_flood),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
