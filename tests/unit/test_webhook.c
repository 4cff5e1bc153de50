/* Unit tests for api-server/webhook_url.c (which addresses are public, the URL rules, the pin) and the
 * signature of api-server/webhook_send.c (a known HMAC-SHA256 vector, two secrets, the length limit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#include "webhook_send.h"
#include "webhook_url.h"

static bool public_addr(const char *text)
{
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    if (inet_pton(AF_INET, text, &v4.sin_addr) == 1)
        return webhook_addr_public((struct sockaddr *)&v4);
    assert_int_equal(inet_pton(AF_INET6, text, &v6.sin6_addr), 1);
    return webhook_addr_public((struct sockaddr *)&v6);
}

static void test_addresses(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254", "127.0.0.1",
        "127.255.255.254", "169.254.169.254", "169.254.0.1", "172.16.0.1", "172.31.255.255", "192.0.0.8",
        "192.168.0.1", "198.18.0.1", "198.19.255.255", "224.0.0.1", "239.255.255.250", "240.0.0.1",
        "255.255.255.255", "::", "::1", "::127.0.0.1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
        "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "fc00::1", "fd00:ec2::254", "fdff:ffff::1", "fe80::1", "febf::1",
        "fec0::1", "ff02::1"};
    static const char *const allowed[] = {"1.1.1.1", "8.8.8.8", "93.184.215.14", "100.63.255.255", "100.128.0.0",
                                          "172.15.255.255", "172.32.0.0", "169.253.255.255", "192.169.0.1",
                                          "198.17.255.255", "198.20.0.0", "223.255.255.255", "2001:4860:4860::8888",
                                          "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (public_addr(refused[i]))
            fail_msg("%s taken as public", refused[i]);
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (!public_addr(allowed[i]))
            fail_msg("%s taken as not public", allowed[i]);
}

static void test_urls(void **state)
{
    (void)state;
    assert_null(webhook_url_check("https://93.184.215.14:8443/x?y=1", false, true));
    assert_null(webhook_url_check("http://[2606:4700::1111]/", false, true));
    static const char *const bad[] = {
        "ftp://93.184.215.14/", "file:///etc/passwd", "93.184.215.14/x", "https://u:p@93.184.215.14/",
        "https://u@93.184.215.14/", "http://93.184.215.14/a b", "http://93.184.215.14/\r\nX: y", "http://127.0.0.1/",
        "http://[::1]/", "http://[::ffff:7f00:1]/", "http://2130706433/", "http://0x7f.1/",
        "http://169.254.169.254/latest/", "", "http://"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!webhook_url_check(bad[i], false, true) || !webhook_url_check(bad[i], false, false))
            fail_msg("%s allowed", bad[i]);
    /* libcurl reads "https:///x" as host "x": refused as a name that does not resolve. */
    assert_non_null(webhook_url_check("https:///x", false, true));
    /* Private targets pass only when allowed. A name resolving to a private address is refused when
     * resolved (at subscription time); without resolving (at delivery time) its addresses are checked
     * as libcurl connects, and an address literal is checked either way. */
    assert_null(webhook_url_check("http://127.0.0.1:9/", true, true));
    assert_null(webhook_url_check("http://localhost:8099/h", true, true));
    assert_non_null(webhook_url_check("http://localhost:8099/h", false, true));
    assert_null(webhook_url_check("http://localhost:8099/h", false, false));
    assert_non_null(webhook_url_check("http://[::1]:8099/h", false, false));
    assert_non_null(webhook_url_check("ftp://127.0.0.1/", true, true));
    assert_non_null(webhook_url_check("http://u:p@127.0.0.1/", true, true));
    char longurl[2100];
    memset(longurl, 'a', sizeof longurl - 1);
    longurl[sizeof longurl - 1] = '\0';
    memcpy(longurl, "http://93.184.215.14/", 21);
    assert_non_null(webhook_url_check(longurl, false, false));
}

static void test_signature(void **state)
{
    (void)state;
    char out[400];
    json_t *one = json_pack("[s]", "whsec_x");
    assert_true(webhook_signature(one, 1796000000, "{\"a\":1}", out, sizeof out));
    assert_string_equal(out, "t=1796000000,v1=4d6511d1852cbd39a326ef3515c302774e7139a4996330ca58204366044aa8bd");
    json_t *two = json_pack("[s,s]", "whsec_x", "whsec_old");
    assert_true(webhook_signature(two, 1796000000, "{\"a\":1}", out, sizeof out));
    assert_string_equal(out, "t=1796000000,v1=4d6511d1852cbd39a326ef3515c302774e7139a4996330ca58204366044aa8bd"
                             ",v1=126a0d68300b1026f937a8c7f200dea2b102f3daa50ab37553c88260f8fd92cb");
    assert_false(webhook_signature(two, 1796000000, "{}", out, 90)); /* does not fit */
    json_t *none = json_array();
    assert_false(webhook_signature(none, 1796000000, "{}", out, sizeof out));
    json_decref(one);
    json_decref(two);
    json_decref(none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_signature),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
