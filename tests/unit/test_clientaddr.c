/* Unit tests for common/clientaddr.c: the trusted-proxy list's validation and the client key behind
 * X-Forwarded-For (the right-most entry not itself a trusted proxy, walking only through trusted
 * hops), IPv6 keys per /64, IPv4-mapped addresses, malformed entries and peers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "clientaddr.h"

/* Compares "peer | xff | trusted -> key" so a failure names its inputs. */
static void check(const char *peer, const char *xff, const char *trusted, const char *want)
{
    char key[CLIENTADDR_MAX], got[512], exp[512];
    clientaddr_key(peer, xff, trusted, key);
    snprintf(got, sizeof got, "%s | %s | %s -> %s", peer ? peer : "(null)", xff ? xff : "(null)", trusted, key);
    snprintf(exp, sizeof exp, "%s | %s | %s -> %s", peer ? peer : "(null)", xff ? xff : "(null)", trusted, want);
    assert_string_equal(got, exp);
}

static void test_list_valid(void **state)
{
    (void)state;
    static const char *const good[] = {"", "10.0.0.1", "10.0.0.1,::1,2001:db8::7", "10.0.0.1, 10.0.0.2", " ::ffff:10.0.0.1"};
    static const char *const bad[] = {"proxy.example", "10.0.0.1,", ",10.0.0.1", "10.0.0.1,,10.0.0.2", "10.0.0.256",
                                      "10.0.0.0/8", " ", "10.0.0.1;10.0.0.2"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(clientaddr_list_valid(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(clientaddr_list_valid(bad[i]));
    char list[512] = "";
    for (int i = 1; i <= CLIENTADDR_MAX_PROXIES; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s10.0.0.%d", i > 1 ? "," : "", i);
    assert_true(clientaddr_list_valid(list));
    strcat(list, ",10.0.0.99");
    assert_false(clientaddr_list_valid(list));
}

static void test_no_proxy(void **state)
{
    (void)state;
    check("203.0.113.7", NULL, "", "203.0.113.7");
    check("203.0.113.7", "198.51.100.1", "", "203.0.113.7"); /* the header of an untrusted peer is ignored */
    check("203.0.113.7", "198.51.100.1", "10.0.0.1", "203.0.113.7");
    check("::ffff:203.0.113.7", NULL, "", "203.0.113.7");
    check("2001:db8:1:2:3:4:5:6", NULL, "", "2001:db8:1:2::/64");
    check("", NULL, "", "unknown");
    check(NULL, NULL, "", "unknown");
    check("not-an-address", "198.51.100.1", "not-an-address", "unknown");
}

static void test_trusted_walk(void **state)
{
    (void)state;
    const char *t = "10.0.0.1,10.0.0.2";
    check("10.0.0.1", "198.51.100.1", t, "198.51.100.1");
    check("10.0.0.1", "6.6.6.6, 198.51.100.1", t, "198.51.100.1");         /* what the client claimed is left alone */
    check("10.0.0.1", "6.6.6.6,198.51.100.1 , 10.0.0.2", t, "198.51.100.1"); /* through a second trusted hop */
    check("::ffff:10.0.0.1", "198.51.100.1", t, "198.51.100.1");           /* a mapped peer is its IPv4 address */
    check("10.0.0.1", "2001:db8:9:9::1", t, "2001:db8:9:9::/64");
    check("10.0.0.1", "10.0.0.2", t, "10.0.0.2");                           /* only trusted hops: the left-most */
    check("10.0.0.1", "198.51.100.1, garbage", t, "10.0.0.1");              /* a malformed entry ends the walk */
    check("10.0.0.1", "", t, "10.0.0.1");
    check("10.0.0.1", ",", t, "10.0.0.1");
    check("10.0.0.1", "198.51.100.1", NULL, "10.0.0.1");
}

static void test_listed(void **state)
{
    (void)state;
    assert_true(clientaddr_listed("10.0.0.2", "10.0.0.1, 10.0.0.2"));
    assert_true(clientaddr_listed("::ffff:10.0.0.2", "10.0.0.2"));
    assert_false(clientaddr_listed("10.0.0.3", "10.0.0.1,10.0.0.2"));
    assert_false(clientaddr_listed("10.0.0.3", ""));
    assert_false(clientaddr_listed(NULL, "10.0.0.1"));
    assert_false(clientaddr_listed("junk", "10.0.0.1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_valid),
        cmocka_unit_test(test_no_proxy),
        cmocka_unit_test(test_trusted_walk),
        cmocka_unit_test(test_listed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
