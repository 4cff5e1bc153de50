/* Unit tests for common/cors.c: parsing CORS_ALLOWED_ORIGINS (valid lists, spaces, the empty list,
 * every kind of bad item with its reason, the default port dropped) and exact matching of a
 * request's Origin against the list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cors.h"

/* Parses list and compares "list -> ok a|b|c" or "list -> rejected: why" with the expectation, so
 * a failure shows the input on both sides. want is the stored origins joined by '|', or NULL for a
 * rejection; want_why (for rejections) must appear in the reason. */
static void check(const char *list, const char *want, const char *want_why)
{
    struct cors_origins o;
    const char *why = NULL;
    bool ok = cors_origins_parse(list, &o, &why);
    char got[CORS_MAX_ORIGINS * CORS_ORIGIN_MAX + 64] = "";
    char exp[sizeof got];
    size_t n = (size_t)snprintf(got, sizeof got, "\"%s\" -> %s", list ? list : "(null)", ok ? "ok " : "rejected");
    for (int i = 0; ok && i < o.n; i++)
        n += (size_t)snprintf(got + n, sizeof got - n, "%s%s", i ? "|" : "", o.origin[i]);
    snprintf(exp, sizeof exp, "\"%s\" -> %s%s", list ? list : "(null)", want ? "ok " : "rejected", want ? want : "");
    assert_string_equal(got, exp);
    if (!ok) {
        assert_non_null(why);
        if (!strstr(why, want_why))
            fail_msg("\"%s\": reason \"%s\" does not mention \"%s\"", list, why, want_why);
    }
}

#define FORM "scheme://host[:port]"
#define PORT "a port must be"

static void test_valid_lists(void **state)
{
    (void)state;
    check("http://localhost:5173", "http://localhost:5173", NULL);
    check("http://localhost:5173,https://console.example.org", "http://localhost:5173|https://console.example.org",
          NULL);
    check("http://127.0.0.1:8080,http://a-b.c.d:1,https://x9.example:65535",
          "http://127.0.0.1:8080|http://a-b.c.d:1|https://x9.example:65535", NULL);
    check("http://localhost", "http://localhost", NULL);
}

static void test_spaces_and_empty_items(void **state)
{
    (void)state;
    check("  http://localhost:5173 ,  http://console.test:8080  ", "http://localhost:5173|http://console.test:8080",
          NULL);
    check("http://a.test,,http://b.test,", "http://a.test|http://b.test", NULL);
    check(", http://a.test", "http://a.test", NULL);
    check("http://a .test", NULL, FORM); /* a space inside an item is not trimmed away */
}

static void test_empty_list(void **state)
{
    (void)state;
    check("", "", NULL);
    check("   ", "", NULL);
    check(" , ,", "", NULL);
    check(NULL, "", NULL);
    struct cors_origins o;
    const char *why = NULL;
    assert_true(cors_origins_parse("", &o, &why));
    assert_int_equal(o.n, 0);
    assert_false(cors_origin_allowed(&o, "http://localhost:5173"));
}

static void test_bad_items(void **state)
{
    (void)state;
    check("http://localhost:5173/", NULL, FORM);          /* trailing slash */
    check("http://localhost:5173/app", NULL, FORM);       /* path */
    check("http://localhost:5173?x=1", NULL, FORM);       /* query */
    check("http://Localhost:5173", NULL, FORM);           /* upper case host */
    check("HTTP://localhost:5173", NULL, FORM);           /* upper case scheme */
    check("localhost:5173", NULL, FORM);                  /* no scheme */
    check("//localhost:5173", NULL, FORM);                /* no scheme */
    check("ftp://files.example.org", NULL, FORM);         /* not http(s) */
    check("ws://localhost:8081", NULL, FORM);             /* not http(s) */
    check("null", NULL, FORM);                            /* the opaque origin */
    check("*", NULL, FORM);                               /* no wildcards */
    check("http://*.example.org", NULL, FORM);            /* no wildcards */
    check("http://", NULL, FORM);                         /* no host */
    check("https://", NULL, FORM);                        /* no host */
    check("http://:8080", NULL, FORM);                    /* no host */
    check("http://user@host.test", NULL, FORM);           /* credentials */
    check("http://localhost:5173,null", NULL, FORM);      /* one bad item spoils the list */
    check("http://a.test, http://b.test/", NULL, FORM);
}

static void test_bad_ports(void **state)
{
    (void)state;
    check("http://localhost:", NULL, PORT);
    check("http://localhost:0", NULL, PORT);
    check("http://localhost:65536", NULL, PORT);
    check("http://localhost:99999", NULL, PORT);
    check("http://localhost:123456", NULL, PORT);
    check("http://localhost:08080", NULL, PORT);
    check("http://localhost:80a", NULL, FORM);
    check("http://localhost:+80", NULL, FORM);
    check("http://localhost:-1", NULL, FORM);
    check("http://localhost:8080:1", NULL, FORM);
}

/* Browsers never send the scheme's default port, so a listed one is dropped; the other scheme's
 * default port is an ordinary port. */
static void test_default_port_dropped(void **state)
{
    (void)state;
    check("http://console.test:80,https://console.test:443", "http://console.test|https://console.test", NULL);
    check("http://console.test:443,https://console.test:80", "http://console.test:443|https://console.test:80",
          NULL);
    check("http://[::1]:80", "http://[::1]", NULL);
}

static void test_ipv6_literals(void **state)
{
    (void)state;
    check("http://[::1]:5173", "http://[::1]:5173", NULL);
    check("https://[2001:db8::a:1]", "https://[2001:db8::a:1]", NULL);
    check("http://[::ffff:127.0.0.1]:8080", "http://[::ffff:127.0.0.1]:8080", NULL);
    check("http://[2001:DB8::1]", NULL, FORM); /* browsers write IPv6 in lower case */
    check("http://[]:80", NULL, FORM);
    check("http://[::1", NULL, FORM);
    check("http://[::1]x", NULL, FORM);
    check("http://[::g]", NULL, FORM);
    check("http://::1", NULL, FORM);
}

static void test_too_many(void **state)
{
    (void)state;
    char list[CORS_MAX_ORIGINS * 32] = "";
    size_t n = 0;
    for (int i = 1; i <= CORS_MAX_ORIGINS; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%shttp://h%d.test", i > 1 ? "," : "", i);
    struct cors_origins o;
    const char *why = NULL;
    assert_true(cors_origins_parse(list, &o, &why));
    assert_int_equal(o.n, CORS_MAX_ORIGINS);
    assert_true(cors_origin_allowed(&o, "http://h16.test"));
    snprintf(list + n, sizeof list - n, ",http://h%d.test", CORS_MAX_ORIGINS + 1);
    check(list, NULL, "at most 16 origins");
}

static void test_too_long(void **state)
{
    (void)state;
    char item[CORS_ORIGIN_MAX + 8];
    /* "http://" + host + ".test" of exactly CORS_ORIGIN_MAX - 1 characters fits; one more does not. */
    size_t host = CORS_ORIGIN_MAX - 1 - strlen("http://") - strlen(".test");
    snprintf(item, sizeof item, "http://%0*d.test", (int)host, 0);
    memset(item + 7, 'a', host);
    assert_int_equal(strlen(item), CORS_ORIGIN_MAX - 1);
    check(item, item, NULL);
    snprintf(item, sizeof item, "http://%0*d.test", (int)host + 1, 0);
    memset(item + 7, 'a', host + 1);
    check(item, NULL, "longer than 127 characters");
}

static void test_matching(void **state)
{
    (void)state;
    struct cors_origins o;
    const char *why = NULL;
    assert_true(cors_origins_parse("http://localhost:5173, https://console.example.org:443, http://[::1]:3000", &o,
                                   &why));
    assert_true(cors_origin_allowed(&o, "http://localhost:5173"));
    assert_true(cors_origin_allowed(&o, "https://console.example.org"));
    assert_true(cors_origin_allowed(&o, "http://[::1]:3000"));

    assert_false(cors_origin_allowed(&o, NULL));
    assert_false(cors_origin_allowed(&o, ""));
    assert_false(cors_origin_allowed(&o, "null"));
    assert_false(cors_origin_allowed(&o, "http://localhost:5174"));   /* other port */
    assert_false(cors_origin_allowed(&o, "http://localhost"));        /* no port */
    assert_false(cors_origin_allowed(&o, "https://localhost:5173"));  /* other scheme */
    assert_false(cors_origin_allowed(&o, "http://LOCALHOST:5173"));   /* other case */
    assert_false(cors_origin_allowed(&o, "http://localhost:5173/"));  /* trailing slash */
    assert_false(cors_origin_allowed(&o, " http://localhost:5173"));  /* spaces are not trimmed */
    assert_false(cors_origin_allowed(&o, "http://localhost:51730"));  /* no prefix match */
    assert_false(cors_origin_allowed(&o, "http://localhost:517"));    /* no prefix match */
    assert_false(cors_origin_allowed(&o, "https://console.example.org:443")); /* browsers never send it */
    assert_false(cors_origin_allowed(&o, "http://localhost:5173,http://evil.test")); /* two Origin headers */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_lists),
        cmocka_unit_test(test_spaces_and_empty_items),
        cmocka_unit_test(test_empty_list),
        cmocka_unit_test(test_bad_items),
        cmocka_unit_test(test_bad_ports),
        cmocka_unit_test(test_default_port_dropped),
        cmocka_unit_test(test_ipv6_literals),
        cmocka_unit_test(test_too_many),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_matching),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
