/* Unit tests for the Engine.IO long-polling payload of signaling-server/eio.c: splitting a POST body
 * into packets (one, several, a last packet without separator), each refusal with its reason
 * (empty payload, empty packets at the start, the end and between two, binary packets), that the
 * split never reads past the length it was given, and joining packets back under a capacity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "eio.h"

#define LIT(s) (s), (sizeof(s) - 1)

/* Splits buf and checks the packets are exactly want[0..n) and then the end. */
static void split_is(const char *buf, size_t len, const char *const *want, int n)
{
    size_t pos = 0, plen = 0;
    const char *pkt = NULL, *why = NULL;
    for (int i = 0; i < n; i++) {
        int r = eio_payload_next(buf, len, &pos, &pkt, &plen, &why);
        if (r != 1)
            fail_msg("packet %d of \"%.*s\": got %d (%s)", i, (int)len, buf, r, why ? why : "");
        assert_int_equal(plen, strlen(want[i]));
        assert_memory_equal(pkt, want[i], plen);
    }
    assert_int_equal(eio_payload_next(buf, len, &pos, &pkt, &plen, &why), 0);
    assert_int_equal(pos, len);
}

/* Splits buf until it is refused, and checks the reason. */
static void refused(const char *buf, size_t len, const char *reason)
{
    size_t pos = 0, plen = 0;
    const char *pkt = NULL, *why = NULL;
    int r;
    while ((r = eio_payload_next(buf, len, &pos, &pkt, &plen, &why)) == 1)
        ;
    if (r != -1)
        fail_msg("\"%.*s\" was accepted", (int)len, buf);
    assert_string_equal(why, reason);
}

static void test_one_packet(void **state)
{
    (void)state;
    const char *one[] = {"40{\"token\":\"x\"}"};
    split_is(LIT("40{\"token\":\"x\"}"), one, 1);
    const char *ping[] = {"3"};
    split_is(LIT("3"), ping, 1);
}

static void test_several_packets(void **state)
{
    (void)state;
    const char *want[] = {"3", "421[\"presence\",{\"room\":\"clinic:1\"}]", "6"};
    split_is(LIT("3\x1e" "421[\"presence\",{\"room\":\"clinic:1\"}]\x1e" "6"), want, 3);
}

static void test_refusals(void **state)
{
    (void)state;
    refused("", 0, "empty payload");
    refused(LIT("\x1e" "3"), "empty packet in the payload");
    refused(LIT("3\x1e"), "empty packet in the payload");
    refused(LIT("3\x1e\x1e" "3"), "empty packet in the payload");
    refused(LIT("\x1e"), "empty packet in the payload");
    refused(LIT("bAQID"), "binary packets are not supported");
    refused(LIT("3\x1e" "bAQID"), "binary packets are not supported");
}

/* The length is the only bound: a separator just past it is not seen. */
static void test_reads_only_len(void **state)
{
    (void)state;
    char *buf = malloc(3);
    assert_non_null(buf);
    memcpy(buf, "3\x1e" "6", 3);
    const char *want[] = {"3"};
    split_is(buf, 1, want, 1);
    free(buf);
}

static void test_append(void **state)
{
    (void)state;
    char buf[8];
    size_t used = 0;
    assert_true(eio_payload_append(buf, sizeof buf, &used, "40", 2));
    assert_true(eio_payload_append(buf, sizeof buf, &used, "2", 1));
    assert_int_equal(used, 4);
    assert_memory_equal(buf, "40\x1e" "2", 4);
    assert_false(eio_payload_append(buf, sizeof buf, &used, "4242", 4)); /* needs 5 with its separator */
    assert_int_equal(used, 4);
    assert_true(eio_payload_append(buf, sizeof buf, &used, "424", 3));
    assert_int_equal(used, 8);
    const char *want[] = {"40", "2", "424"};
    split_is(buf, used, want, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_packet),
        cmocka_unit_test(test_several_packets),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_reads_only_len),
        cmocka_unit_test(test_append),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
