/* Unit tests for common/config.c: cfg_parse_long and cfg_parse_listen, and the environment
 * readers cfg_env, cfg_env_long and cfg_env_listen, which collect one message per bad variable
 * (naming it) into struct cfg_errors and fall back to the default. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define VAR_LONG "CLINIC_UNIT_TEST_LONG"
#define VAR_LONG2 "CLINIC_UNIT_TEST_LONG2"
#define VAR_LISTEN "CLINIC_UNIT_TEST_LISTEN"

/* Compares "input -> verdict value" so a failure names the input on both sides. */
static void check_long(const char *s, long min, long max, bool want_ok, long want)
{
    long out = -424242;
    bool ok = cfg_parse_long(s, min, max, &out);
    char g[256], w[256];
    snprintf(g, sizeof g, "cfg_parse_long(\"%s\", %ld, %ld) -> %s %ld", s ? s : "(null)", min, max,
             ok ? "ok" : "rejected", ok ? out : 0L);
    snprintf(w, sizeof w, "cfg_parse_long(\"%s\", %ld, %ld) -> %s %ld", s ? s : "(null)", min, max,
             want_ok ? "ok" : "rejected", want_ok ? want : 0L);
    assert_string_equal(g, w);
    if (!want_ok)
        assert_int_equal(out, -424242); /* out is left alone on failure */
}

static void check_listen(const char *s, bool want_ok, const char *want_host, int want_port)
{
    char host[64] = "unset";
    int port = -1;
    bool ok = cfg_parse_listen(s, host, sizeof host, &port);
    char g[256], w[256];
    snprintf(g, sizeof g, "cfg_parse_listen(\"%s\") -> %s %s:%d", s ? s : "(null)", ok ? "ok" : "rejected",
             ok ? host : "", ok ? port : 0);
    snprintf(w, sizeof w, "cfg_parse_listen(\"%s\") -> %s %s:%d", s ? s : "(null)", want_ok ? "ok" : "rejected",
             want_ok ? want_host : "", want_ok ? want_port : 0);
    assert_string_equal(g, w);
}

static int teardown_env(void **state)
{
    (void)state;
    unsetenv(VAR_LONG);
    unsetenv(VAR_LONG2);
    unsetenv(VAR_LISTEN);
    return 0;
}

/* ---- cfg_parse_long ----------------------------------------------------------------------- */

static void test_parse_long_in_bounds(void **state)
{
    (void)state;
    check_long("900", 60, 86400, true, 900);
    check_long("60", 60, 86400, true, 60);       /* lower bound inclusive */
    check_long("86400", 60, 86400, true, 86400); /* upper bound inclusive */
    check_long("0", 0, 0, true, 0);
    check_long("-5", -10, 10, true, -5);
    check_long("007", 0, 10, true, 7);
    check_long("9223372036854775807", 0, LONG_MAX, true, LONG_MAX);
    check_long("-9223372036854775808", LONG_MIN, 0, true, LONG_MIN);
}

static void test_parse_long_out_of_bounds(void **state)
{
    (void)state;
    check_long("59", 60, 86400, false, 0);
    check_long("86401", 60, 86400, false, 0);
    check_long("-1", 0, 100, false, 0);
    check_long("1", 0, 0, false, 0);
    check_long("65536", 1, 65535, false, 0);
}

static void test_parse_long_garbage(void **state)
{
    (void)state;
    static const char *const bad[] = {"abc", "12abc", "abc12", "1.5", "1e3", "0x10", "12 ", "1 2",
                                      "--1", "+-1", "-",   "+",     "\t",  "ten", "١٢"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        check_long(bad[i], LONG_MIN, LONG_MAX, false, 0);
}

static void test_parse_long_overflow(void **state)
{
    (void)state;
    check_long("9223372036854775808", LONG_MIN, LONG_MAX, false, 0);  /* LONG_MAX + 1 */
    check_long("-9223372036854775809", LONG_MIN, LONG_MAX, false, 0); /* LONG_MIN - 1 */
    check_long("99999999999999999999999999", LONG_MIN, LONG_MAX, false, 0);
    check_long("-99999999999999999999999999", LONG_MIN, LONG_MAX, false, 0);
}

static void test_parse_long_empty(void **state)
{
    (void)state;
    check_long("", LONG_MIN, LONG_MAX, false, 0);
    check_long(NULL, LONG_MIN, LONG_MAX, false, 0);
}

/* ---- cfg_parse_listen --------------------------------------------------------------------- */

/* ---- cfg_parse_long_list ------------------------------------------------------------------ */

/* "input -> n: a,b,c" or "input -> rejected", so a failure names the input. */
static void check_list(const char *s, const char *want)
{
    long out[4];
    int n = cfg_parse_long_list(s, 1, 43200, out, 4);
    char g[256];
    int w = snprintf(g, sizeof g, "\"%s\" ->", s ? s : "(null)");
    if (n < 0)
        snprintf(g + w, sizeof g - (size_t)w, " rejected");
    for (int i = 0; i < n; i++)
        w += snprintf(g + w, sizeof g - (size_t)w, "%s%ld", i ? "," : " ", out[i]);
    char e[256];
    snprintf(e, sizeof e, "\"%s\" -> %s", s ? s : "(null)", want);
    assert_string_equal(g, e);
}

static void test_parse_long_list(void **state)
{
    (void)state;
    check_list("1440,60", "1440,60");
    check_list("60", "60");
    check_list(" 1440 , 60 ,1", "1440,60,1");
    check_list("43200,1", "43200,1");
    check_list("1,2,3,4", "1,2,3,4");
}

static void test_parse_long_list_bad(void **state)
{
    (void)state;
    check_list("", "rejected");
    check_list(",", "rejected");
    check_list("1440,", "rejected");
    check_list(",60", "rejected");
    check_list("1440,,60", "rejected");
    check_list("0", "rejected");
    check_list("43201", "rejected");
    check_list("-5", "rejected");
    check_list("60,60", "rejected");
    check_list("1,2,3,4,5", "rejected");
    check_list("1h", "rejected");
    check_list("1440 60", "rejected");
    check_list("99999999999999999999", "rejected");
}

static void test_parse_listen_good(void **state)
{
    (void)state;
    check_listen("127.0.0.1:8080", true, "127.0.0.1", 8080);
    check_listen("0.0.0.0:1", true, "0.0.0.0", 1);
    check_listen("192.168.10.20:65535", true, "192.168.10.20", 65535);
    check_listen("localhost:80", true, "127.0.0.1", 80);
    check_listen("localhost:8080", true, "127.0.0.1", 8080);
}

static void test_parse_listen_bad_port(void **state)
{
    (void)state;
    check_listen("127.0.0.1", false, NULL, 0);       /* no port */
    check_listen("127.0.0.1:", false, NULL, 0);      /* empty port */
    check_listen("127.0.0.1:0", false, NULL, 0);     /* port 0 */
    check_listen("127.0.0.1:65536", false, NULL, 0); /* port too big */
    check_listen("127.0.0.1:-80", false, NULL, 0);
    check_listen("127.0.0.1:80a", false, NULL, 0);
    check_listen("127.0.0.1:http", false, NULL, 0);
    check_listen("127.0.0.1:99999999999999999999", false, NULL, 0);
    check_listen("localhost", false, NULL, 0);
}

static void test_parse_listen_bad_host(void **state)
{
    (void)state;
    check_listen("", false, NULL, 0);
    check_listen(NULL, false, NULL, 0);
    check_listen(":8080", false, NULL, 0);              /* no host */
    check_listen("example.com:80", false, NULL, 0);     /* a hostname, not IPv4 */
    check_listen("db:5432", false, NULL, 0);
    check_listen("LOCALHOST:80", false, NULL, 0);
    check_listen("256.0.0.1:80", false, NULL, 0);
    check_listen("1.2.3:80", false, NULL, 0);
    check_listen("1.2.3.4.5:80", false, NULL, 0);
    check_listen("::1:80", false, NULL, 0);             /* IPv6 is not supported */
    check_listen("[::1]:80", false, NULL, 0);
    check_listen(" 127.0.0.1:80", false, NULL, 0);
    check_listen("127.0.0.1:80:90", false, NULL, 0);
}

static void test_parse_listen_small_host_buffer(void **state)
{
    (void)state;
    char host[8];
    int port = -1;
    /* "127.0.0.1" needs 10 bytes */
    assert_false(cfg_parse_listen("127.0.0.1:8080", host, sizeof host, &port));
    assert_int_equal(port, -1);
    assert_true(cfg_parse_listen("1.2.3.4:9", host, sizeof host, &port));
    assert_string_equal(host, "1.2.3.4");
    assert_int_equal(port, 9);

    char exact[10];
    assert_true(cfg_parse_listen("localhost:81", exact, sizeof exact, &port));
    assert_string_equal(exact, "127.0.0.1");
    assert_int_equal(port, 81);
}

/* ---- environment readers ------------------------------------------------------------------ */

static void test_env_default_when_unset_or_empty(void **state)
{
    (void)state;
    unsetenv(VAR_LONG);
    assert_string_equal(cfg_env(VAR_LONG, "fallback"), "fallback");
    assert_null(cfg_env(VAR_LONG, NULL));
    setenv(VAR_LONG, "", 1);
    assert_string_equal(cfg_env(VAR_LONG, "fallback"), "fallback");
    setenv(VAR_LONG, "value", 1);
    assert_string_equal(cfg_env(VAR_LONG, "fallback"), "value");
}

static void test_env_long(void **state)
{
    (void)state;
    struct cfg_errors errs = {0};

    unsetenv(VAR_LONG);
    assert_int_equal(cfg_env_long(VAR_LONG, 900, 60, 86400, &errs), 900);
    assert_int_equal(errs.n, 0);

    setenv(VAR_LONG, "", 1);
    assert_int_equal(cfg_env_long(VAR_LONG, 900, 60, 86400, &errs), 900);
    assert_int_equal(errs.n, 0);

    setenv(VAR_LONG, "120", 1);
    assert_int_equal(cfg_env_long(VAR_LONG, 900, 60, 86400, &errs), 120);
    assert_int_equal(errs.n, 0);

    setenv(VAR_LONG, "86400", 1);
    assert_int_equal(cfg_env_long(VAR_LONG, 900, 60, 86400, &errs), 86400);
    assert_int_equal(errs.n, 0);
}

static void test_env_long_errors(void **state)
{
    (void)state;
    struct cfg_errors errs = {0};

    setenv(VAR_LONG, "fifteen", 1);
    assert_int_equal(cfg_env_long(VAR_LONG, 900, 60, 86400, &errs), 900);
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.msg[0], VAR_LONG "=\"fifteen\" is not an integer between 60 and 86400");

    setenv(VAR_LONG2, "59", 1);
    assert_int_equal(cfg_env_long(VAR_LONG2, 900, 60, 86400, &errs), 900);
    assert_int_equal(errs.n, 2);
    assert_non_null(strstr(errs.msg[1], VAR_LONG2 "=\"59\""));
    assert_non_null(strstr(errs.msg[1], "60"));
    assert_non_null(strstr(errs.msg[1], "86400"));
    /* the first message is untouched */
    assert_non_null(strstr(errs.msg[0], VAR_LONG "=\"fifteen\""));

    setenv(VAR_LONG2, "99999999999999999999999", 1);
    assert_int_equal(cfg_env_long(VAR_LONG2, 16, 1, 1000, &errs), 16);
    assert_int_equal(errs.n, 3);
    assert_non_null(strstr(errs.msg[2], VAR_LONG2));
}

static void test_env_long_long_value_is_cut(void **state)
{
    (void)state;
    struct cfg_errors errs = {0};
    char value[300];
    memset(value, 'x', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    setenv(VAR_LONG, value, 1);
    assert_int_equal(cfg_env_long(VAR_LONG, 5, 1, 10, &errs), 5);
    assert_int_equal(errs.n, 1);
    assert_true(strlen(errs.msg[0]) < sizeof errs.msg[0]);
    assert_non_null(strstr(errs.msg[0], VAR_LONG "=\""));
    /* at most 60 characters of the value are quoted */
    char sixty_one[62];
    memset(sixty_one, 'x', 61);
    sixty_one[61] = '\0';
    assert_null(strstr(errs.msg[0], sixty_one));
    assert_non_null(strstr(errs.msg[0], sixty_one + 1));
}

static void test_env_listen(void **state)
{
    (void)state;
    struct cfg_errors errs = {0};
    char host[64];
    int port = 0;

    unsetenv(VAR_LISTEN);
    cfg_env_listen(VAR_LISTEN, "127.0.0.1:8080", host, sizeof host, &port, &errs);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(errs.n, 0);

    setenv(VAR_LISTEN, "", 1);
    cfg_env_listen(VAR_LISTEN, "127.0.0.1:8080", host, sizeof host, &port, &errs);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(errs.n, 0);

    setenv(VAR_LISTEN, "0.0.0.0:9080", 1);
    cfg_env_listen(VAR_LISTEN, "127.0.0.1:8080", host, sizeof host, &port, &errs);
    assert_string_equal(host, "0.0.0.0");
    assert_int_equal(port, 9080);
    assert_int_equal(errs.n, 0);

    setenv(VAR_LISTEN, "localhost:7000", 1);
    cfg_env_listen(VAR_LISTEN, "127.0.0.1:8080", host, sizeof host, &port, &errs);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 7000);
    assert_int_equal(errs.n, 0);
}

static void test_env_listen_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {"example.com:80", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", ":80"};
    struct cfg_errors errs = {0};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char host[64] = "";
        int port = 0;
        setenv(VAR_LISTEN, bad[i], 1);
        cfg_env_listen(VAR_LISTEN, "127.0.0.1:8080", host, sizeof host, &port, &errs);
        /* falls back to the default */
        assert_string_equal(host, "127.0.0.1");
        assert_int_equal(port, 8080);
        assert_int_equal(errs.n, (int)i + 1);
        char want[200];
        snprintf(want, sizeof want,
                 VAR_LISTEN "=\"%s\" must be HOST:PORT with an IPv4 address and a port 1-65535", bad[i]);
        assert_string_equal(errs.msg[i], want);
    }
}

static void test_errors_collected_across_readers(void **state)
{
    (void)state;
    struct cfg_errors errs = {0};
    char host[64];
    int port;
    setenv(VAR_LONG, "x", 1);
    setenv(VAR_LISTEN, "nowhere:1", 1);
    setenv(VAR_LONG2, "3", 1);
    cfg_env_long(VAR_LONG, 1, 1, 10, &errs);
    cfg_env_listen(VAR_LISTEN, "127.0.0.1:8080", host, sizeof host, &port, &errs);
    cfg_env_long(VAR_LONG2, 1, 1, 10, &errs); /* good: no message */
    assert_int_equal(errs.n, 2);
    assert_non_null(strstr(errs.msg[0], VAR_LONG "="));
    assert_non_null(strstr(errs.msg[1], VAR_LISTEN "="));
}

static void test_cfg_error_caps_at_max(void **state)
{
    (void)state;
    struct cfg_errors errs = {0};
    for (int i = 0; i < CFG_MAX_ERRORS + 5; i++)
        cfg_error(&errs, "error number %d", i);
    assert_int_equal(errs.n, CFG_MAX_ERRORS);
    assert_string_equal(errs.msg[0], "error number 0");
    assert_string_equal(errs.msg[CFG_MAX_ERRORS - 1], "error number 15");

    /* a message longer than a slot is cut, not overflowed */
    struct cfg_errors one = {0};
    char longtext[500];
    memset(longtext, 'm', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = '\0';
    cfg_error(&one, "%s", longtext);
    assert_int_equal(one.n, 1);
    assert_int_equal(strlen(one.msg[0]), sizeof one.msg[0] - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_long_in_bounds),
        cmocka_unit_test(test_parse_long_out_of_bounds),
        cmocka_unit_test(test_parse_long_garbage),
        cmocka_unit_test(test_parse_long_overflow),
        cmocka_unit_test(test_parse_long_empty),
        cmocka_unit_test(test_parse_long_list),
        cmocka_unit_test(test_parse_long_list_bad),
        cmocka_unit_test(test_parse_listen_good),
        cmocka_unit_test(test_parse_listen_bad_port),
        cmocka_unit_test(test_parse_listen_bad_host),
        cmocka_unit_test(test_parse_listen_small_host_buffer),
        cmocka_unit_test_teardown(test_env_default_when_unset_or_empty, teardown_env),
        cmocka_unit_test_teardown(test_env_long, teardown_env),
        cmocka_unit_test_teardown(test_env_long_errors, teardown_env),
        cmocka_unit_test_teardown(test_env_long_long_value_is_cut, teardown_env),
        cmocka_unit_test_teardown(test_env_listen, teardown_env),
        cmocka_unit_test_teardown(test_env_listen_errors, teardown_env),
        cmocka_unit_test_teardown(test_errors_collected_across_readers, teardown_env),
        cmocka_unit_test(test_cfg_error_caps_at_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
