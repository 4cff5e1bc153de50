/* Unit tests for common/bodycache.c (the bounded cache of response bodies: hits by key and stamp,
 * the byte limit and its eviction order, references that outlive eviction, single flight) and
 * common/etag.c (If-None-Match). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bodycache.h"
#include "etag.h"

static void put_text(struct bodycache *c, const char *key, const char *stamp, const char *text, uint64_t flight)
{
    bodycache_put(c, key, stamp, text, strlen(text), flight);
}

/* The body of key at stamp as a new string, or NULL on a miss (whose flight is then abandoned). */
static char *get_text(struct bodycache *c, const char *key, const char *stamp)
{
    uint64_t flight = 99;
    const struct bodycache_body *b = bodycache_get(c, key, stamp, &flight);
    if (!b) {
        bodycache_abandon(c, key, flight);
        return NULL;
    }
    assert_int_equal(flight, 0);
    char *s = strndup(b->data, b->len);
    bodycache_release(b);
    return s;
}

static void test_hit_needs_the_same_stamp(void **state)
{
    (void)state;
    struct bodycache *c = bodycache_new(1 << 20, 100);
    uint64_t flight = 0;
    assert_null(bodycache_get(c, "k", "1", &flight));
    assert_int_not_equal(flight, 0);
    put_text(c, "k", "1", "one", flight);
    char *s = get_text(c, "k", "1");
    assert_string_equal(s, "one");
    free(s);
    assert_null(get_text(c, "k", "2"));
    assert_null(get_text(c, "other", "1"));
    put_text(c, "k", "2", "two", 0);
    assert_null(get_text(c, "k", "1"));
    s = get_text(c, "k", "2");
    assert_string_equal(s, "two");
    free(s);
    assert_int_equal(bodycache_entries(c), 1);
    bodycache_free(c);
}

static void test_limit_evicts_least_recently_used(void **state)
{
    (void)state;
    char body[1000];
    memset(body, 'x', sizeof body);
    body[sizeof body - 1] = '\0';
    /* room for two entries of this size, not three */
    struct bodycache *c = bodycache_new(2 * (sizeof body + 400), 100);
    put_text(c, "a", "1", body, 0);
    put_text(c, "b", "1", body, 0);
    free(get_text(c, "a", "1")); /* a is now more recent than b */
    put_text(c, "c", "1", body, 0);
    assert_true(bodycache_bytes(c) <= 2 * (sizeof body + 400));
    assert_int_equal(bodycache_entries(c), 2);
    char *a = get_text(c, "a", "1"), *b = get_text(c, "b", "1"), *cc = get_text(c, "c", "1");
    assert_non_null(a);
    assert_null(b);
    assert_non_null(cc);
    free(a);
    free(cc);
    bodycache_free(c);
}

static void test_too_big_or_off_keeps_nothing(void **state)
{
    (void)state;
    struct bodycache *c = bodycache_new(64, 100);
    uint64_t flight = 0;
    assert_null(bodycache_get(c, "k", "1", &flight));
    put_text(c, "k", "1", "a body longer than the whole cache may hold, by far", flight);
    assert_null(get_text(c, "k", "1"));
    assert_int_equal(bodycache_entries(c), 0);
    assert_int_equal(bodycache_bytes(c), 0);
    bodycache_free(c);

    c = bodycache_new(0, 100);
    flight = 7;
    assert_null(bodycache_get(c, "k", "1", &flight));
    assert_int_equal(flight, 0);
    put_text(c, "k", "1", "x", 0);
    assert_null(get_text(c, "k", "1"));
    bodycache_free(c);
}

static void test_reference_outlives_eviction(void **state)
{
    (void)state;
    struct bodycache *c = bodycache_new(1 << 20, 100);
    put_text(c, "k", "1", "first", 0);
    uint64_t flight;
    const struct bodycache_body *b = bodycache_get(c, "k", "1", &flight);
    assert_non_null(b);
    put_text(c, "k", "2", "second", 0); /* drops the first body from the table */
    assert_int_equal(b->len, 5);
    assert_memory_equal(b->data, "first", 5);
    assert_string_equal(b->stamp, "1");
    bodycache_release(b);
    bodycache_free(c);
}

struct waiter {
    struct bodycache *c;
    const char *stamp;
    char got[160];
    uint64_t flight;
};

static void *wait_body(void *p)
{
    struct waiter *w = p;
    const struct bodycache_body *b = bodycache_get(w->c, "k", w->stamp, &w->flight);
    if (b) {
        snprintf(w->got, sizeof w->got, "%.*s@%s", (int)b->len, b->data, b->stamp);
        bodycache_release(b);
    }
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Readers of the stamp being built wait and take the build's body, even under a newer stamp;
 * readers of another stamp do not wait. */
static void test_single_flight(void **state)
{
    (void)state;
    struct bodycache *c = bodycache_new(1 << 20, 5000);
    uint64_t flight = 0;
    assert_null(bodycache_get(c, "k", "1", &flight));
    assert_int_not_equal(flight, 0);
    struct waiter w[3] = {{c, "1", "", 0}, {c, "1", "", 0}, {c, "0", "", 0}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, wait_body, &w[i]);
    pthread_join(t[2], NULL);
    assert_string_equal(w[2].got, ""); /* another stamp: no wait, no flight */
    assert_int_equal(w[2].flight, 0);
    sleep_ms(50);
    put_text(c, "k", "2", "built", flight);
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        assert_string_equal(w[i].got, "built@2");
    }
    bodycache_free(c);
}

static void test_abandon_and_timeout(void **state)
{
    (void)state;
    struct bodycache *c = bodycache_new(1 << 20, 100);
    uint64_t flight = 0;
    assert_null(bodycache_get(c, "k", "1", &flight));
    struct waiter w = {c, "1", "", 0};
    pthread_t t;
    pthread_create(&t, NULL, wait_body, &w);
    pthread_join(t, NULL); /* runs out after 100 ms: builds alone */
    assert_string_equal(w.got, "");
    assert_int_equal(w.flight, 0);
    bodycache_abandon(c, "k", flight);
    assert_int_equal(bodycache_entries(c), 0);
    assert_null(bodycache_get(c, "k", "1", &flight)); /* a new flight */
    assert_int_not_equal(flight, 0);
    bodycache_abandon(c, "k", flight);
    bodycache_free(c);
}

static void test_etag_none_match(void **state)
{
    (void)state;
    const char *tag = "\"3.1.42\"";
    assert_false(etag_none_match_hits(NULL, tag));
    assert_false(etag_none_match_hits("", tag));
    assert_true(etag_none_match_hits("\"3.1.42\"", tag));
    assert_true(etag_none_match_hits("W/\"3.1.42\"", tag));
    assert_true(etag_none_match_hits(" \"a\", W/\"b\" ,\"3.1.42\"", tag));
    assert_true(etag_none_match_hits("*", tag));
    assert_true(etag_none_match_hits(" * ", tag));
    assert_false(etag_none_match_hits("*, \"x\"", tag));
    assert_false(etag_none_match_hits("\"3.1.4\"", tag));
    assert_false(etag_none_match_hits("\"3.1.420\"", tag));
    assert_false(etag_none_match_hits("3.1.42", tag));
    assert_false(etag_none_match_hits("\"3.1.42", tag));
    assert_false(etag_none_match_hits("w/\"3.1.42\"", tag));
    assert_false(etag_none_match_hits("\"a b\", \"3.1.42\"", tag)); /* malformed first member */
    assert_false(etag_none_match_hits("\"a\" \"3.1.42\"", tag));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_needs_the_same_stamp),
        cmocka_unit_test(test_limit_evicts_least_recently_used),
        cmocka_unit_test(test_too_big_or_off_keeps_nothing),
        cmocka_unit_test(test_reference_outlives_eviction),
        cmocka_unit_test(test_single_flight),
        cmocka_unit_test(test_abandon_and_timeout),
        cmocka_unit_test(test_etag_none_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
