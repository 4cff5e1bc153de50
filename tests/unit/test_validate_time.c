/* Unit tests for the schedule validators of common/validate.c: wall-clock times (valid_wall_time),
 * RFC 3339 instants (valid_instant), and FT_TIME / FT_INSTANT / FT_ENUM_SET fields in
 * validate_object(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

static void test_wall_time(void **state)
{
    (void)state;
    const char *good[] = {"00:00", "09:30", "23:59", "12:00"};
    const char *bad[] = {"24:00", "23:60", "9:30", "09:3", "0930", "09-30", "", "09:30:00", "ab:cd", " 09:30"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(valid_wall_time(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (valid_wall_time(bad[i]))
            fail_msg("\"%s\" accepted as a wall-clock time", bad[i]);
    }
}

static void test_instant(void **state)
{
    (void)state;
    const char *good[] = {"2027-03-14T09:00:00Z", "2027-03-14T09:00:00-03:00", "2027-03-14T09:00:00.123+05:30",
                          "2024-02-29T23:59:59z", "2027-12-31T00:00:00+14:00"};
    const char *bad[] = {"2027-03-14 09:00:00Z", "2027-03-14T09:00Z",       "2027-02-29T09:00:00Z",
                         "2027-03-14T24:00:00Z", "2027-03-14T09:00:00",     "2027-03-14T09:00:00+0300",
                         "2027-03-14T09:00:00.Z", "2027-03-14T09:00:00+24:00", "2027-03-14", "",
                         "2027-03-14T09:00:00Zjunk"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        if (!valid_instant(good[i]))
            fail_msg("\"%s\" refused as an instant", good[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (valid_instant(bad[i]))
            fail_msg("\"%s\" accepted as an instant", bad[i]);
    }
}

static const char *const kinds[] = {"in_person", "video", NULL};
static const struct field_spec specs[] = {
    {"start", FT_TIME, FF_REQUIRED, 0, 0, NULL},
    {"at", FT_INSTANT, 0, 0, 0, NULL},
    {"types", FT_ENUM_SET, 0, 0, 0, kinds},
};

/* Validates text; returns the errors object as compact JSON (caller frees). */
static char *errors_of(const char *text)
{
    json_t *obj = json_loads(text, 0, NULL);
    assert_non_null(obj);
    json_t *errors = json_object();
    validate_object(obj, specs, 3, false, errors);
    char *out = json_dumps(errors, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(errors);
    json_decref(obj);
    return out;
}

static void expect_errors(const char *input, const char *want)
{
    char *got = errors_of(input);
    assert_string_equal(got, want);
    free(got);
}

static void test_fields(void **state)
{
    (void)state;
    expect_errors("{\"start\":\"08:00\",\"at\":\"2027-01-01T00:00:00Z\",\"types\":[\"video\",\"in_person\"]}", "{}");
    expect_errors("{\"start\":\"08:00\",\"types\":[\"video\"]}", "{}");
    expect_errors("{\"start\":\"8h\",\"at\":\"tomorrow\",\"types\":[]}",
                  "{\"at\":\"must be an RFC 3339 date-time such as 2027-03-14T09:00:00Z\","
                  "\"start\":\"must be a time HH:MM between 00:00 and 23:59\",\"types\":\"must be a non-empty array\"}");
    expect_errors("{\"start\":\"08:00\",\"types\":[\"video\",\"video\"]}", "{\"types\":\"must not repeat a value\"}");
    expect_errors("{\"start\":\"08:00\",\"types\":[\"phone\"]}", "{\"types\":\"must contain only allowed values\"}");
    expect_errors("{\"start\":\"08:00\",\"types\":[1]}", "{\"types\":\"must contain only allowed values\"}");
    expect_errors("{\"start\":\"08:00\",\"types\":\"video\"}", "{\"types\":\"must be a non-empty array\"}");
    expect_errors("{}", "{\"start\":\"is required\"}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wall_time),
        cmocka_unit_test(test_instant),
        cmocka_unit_test(test_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
