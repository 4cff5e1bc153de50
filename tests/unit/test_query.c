/* Unit tests for common/query.c: a raw query string checked against a parameter table, each
 * problem (unknown, repeated, not UTF-8, NUL, bad value, missing) named in the errors object, and
 * the accepted values as text and numbers (ids canonical, months as their first day, cursors as
 * their keys, limits defaulted, dates as day numbers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"
#include "validate.h"

static const char *const colours[] = {"red", "green", NULL};

static const struct query_param spec[] = {
    {.name = "id", .type = QT_ID},
    {.name = "day", .type = QT_DATE},
    {.name = "month", .type = QT_MONTH},
    {.name = "colour", .type = QT_ENUM, .choices = colours, .why = "must be red or green"},
    {.name = "q", .type = QT_STRING, .min = 1, .max = 5},
    {.name = "word", .type = QT_STRING, .min = 1, .max = 64, .charset = "abc_"},
    {.name = "on", .type = QT_BOOL},
    {.name = "limit", .type = QT_LIMIT, .min = 1, .max = 200, .def = 50},
    {.name = "cursor", .type = QT_CURSOR, .shape = "si"},
    {.name = "after", .type = QT_EVENT_ID},
    {.name = NULL},
};

static const struct query_param needs[] = {
    {.name = "from", .type = QT_DATE, .flags = QF_REQUIRED},
    {.name = NULL},
};

/* Parses raw against table; compares the errors with want (JSON, "{}" when it must be accepted). */
static void expect(const struct query_param *table, const char *raw, const char *want)
{
    struct query_values v;
    json_t *errors = json_object();
    bool ok = query_parse(raw, table, &v, errors);
    json_t *expected = json_loads(want, 0, NULL);
    assert_non_null(expected);
    if (!json_equal(errors, expected) || ok != (json_object_size(expected) == 0)) {
        char *got = json_dumps(errors, JSON_SORT_KEYS);
        fail_msg("query %s: ok %d, errors %s, want %s", raw ? raw : "(none)", ok, got, want);
    }
    json_decref(expected);
    json_decref(errors);
    query_values_clear(&v);
}

static void test_accepted_values(void **state)
{
    (void)state;
    struct query_values v;
    json_t *errors = json_object();
    /* [\"Ana\",7] in base64url */
    assert_true(query_parse("id=007&day=2027-03-01&month=2027-04&colour=red&q=a+b%C3%A9&on=false&cursor=WyJBbmEiLDdd",
                            spec, &v, errors));
    assert_string_equal(query_text(&v, "id"), "7");
    assert_int_equal(query_num(&v, "id"), 7);
    assert_string_equal(query_text(&v, "day"), "2027-03-01");
    assert_int_equal(query_num(&v, "day"), day_number(2027, 3, 1));
    assert_string_equal(query_text(&v, "month"), "2027-04-01");
    assert_string_equal(query_text(&v, "q"), "a b\xc3\xa9");
    assert_string_equal(query_text(&v, "on"), "false");
    assert_int_equal(query_num(&v, "on"), 0);
    assert_string_equal(query_text(&v, "limit"), "50");
    assert_int_equal(query_num(&v, "limit"), 50);
    assert_string_equal(query_text(&v, "cursor"), "[\"Ana\",7]");
    assert_null(query_text(&v, "colour_x"));
    assert_null(query_text(&v, "after"));
    assert_int_equal(json_object_size(errors), 0);
    query_values_clear(&v);
    json_decref(errors);
    expect(spec, NULL, "{}");
    expect(spec, "", "{}");
    expect(spec, "&&limit=200&", "{}");
    expect(spec, "after=12-34&word=a_b", "{}");
    expect(NULL, NULL, "{}");
}

static void test_refusals(void **state)
{
    (void)state;
    expect(spec, "nope=1", "{\"nope\": \"is not a known parameter\"}");
    expect(NULL, "id=1", "{\"id\": \"is not a known parameter\"}");
    expect(spec, "id=1&id=1", "{\"id\": \"must be given only once\"}");
    expect(spec, "id=x&id=1", "{\"id\": \"must be given only once\"}");
    expect(spec, "id=0&limit=201&q=&on=1", "{\"id\": \"must be a positive integer\", "
           "\"limit\": \"must be an integer between 1 and 200\", \"q\": \"must have 1 to 5 characters\", "
           "\"on\": \"must be true or false\"}");
    expect(spec, "colour=blue", "{\"colour\": \"must be red or green\"}");
    expect(spec, "day=2027-02-29&month=1999-12", "{\"day\": \"must be a date YYYY-MM-DD\", "
           "\"month\": \"must be a month YYYY-MM\"}");
    expect(spec, "word=abd", "{\"word\": \"must have 1 to 64 characters\"}");
    expect(spec, "cursor=WzcsIkFuYSJd", "{\"cursor\": \"is not a cursor this server issued\"}");
    expect(spec, "after=1", "{\"after\": \"is not an event_id this server issued\"}");
    expect(spec, "q=%FF", "{\"q\": \"must be valid UTF-8 once percent-decoded\"}");
    expect(spec, "q=a%00b", "{\"q\": \"must not contain NUL characters\"}");
    expect(spec, "%FF=1", "{\"%FF\": \"is not a parameter name (not valid UTF-8 once percent-decoded)\"}");
    expect(spec, "id%00=1", "{\"id%00\": \"is not a parameter name (not valid UTF-8 once percent-decoded)\"}");
    expect(spec, "id", "{\"id\": \"must be a positive integer\"}");
    expect(needs, "", "{\"from\": \"is required\"}");
    expect(needs, "x=1", "{\"x\": \"is not a known parameter\", \"from\": \"is required\"}");
}

static void test_errors_capped(void **state)
{
    (void)state;
    char raw[4096] = "";
    for (int i = 0; i < 80; i++) {
        char part[16];
        snprintf(part, sizeof part, "%sk%d=1", i ? "&" : "", i);
        strcat(raw, part);
    }
    struct query_values v;
    json_t *errors = json_object();
    assert_false(query_parse(raw, spec, &v, errors));
    assert_int_equal(json_object_size(errors), VALIDATE_MAX_ERRORS + 1);
    assert_non_null(json_object_get(errors, VALIDATE_MORE_KEY));
    json_decref(errors);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted_values),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_errors_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
