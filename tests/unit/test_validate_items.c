/* Unit tests for the clinical-record validators of common/validate.c: ICD-10 codes (valid_icd10),
 * FT_ARRAY fields, and validate_items() checking each object of an array and naming the bad item
 * and field as "list[i].field". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

static void test_icd10(void **state)
{
    (void)state;
    const char *good[] = {"J06", "J06.9", "j06.9", "E11.65", "S72.001A", "U07.1", "Z00.00"};
    const char *bad[] = {"", "J6", "J06.", "J06.12345", "06.9", "JJ6.9", "J06-9", "J06.9 ", " J06", "J069", "J06.é"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!valid_icd10(good[i]))
            fail_msg("valid_icd10(\"%s\") should be true", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (valid_icd10(bad[i]))
            fail_msg("valid_icd10(\"%s\") should be false", bad[i]);
}

static const struct field_spec list_fields[] = {
    {"items", FT_ARRAY, 0, 1, 3, NULL},
};

static const struct field_spec item_fields[] = {
    {"code", FT_STRING, FF_REQUIRED, 1, 8, NULL},
    {"note", FT_STRING, FF_NULLABLE, 1, 10, NULL},
};

/* Validates body (JSON text) as a list and its items; compares the errors with want (JSON). */
static void expect_errors(const char *body, const char *want)
{
    json_t *obj = json_loads(body, 0, NULL);
    assert_non_null(obj);
    json_t *errors = json_object();
    validate_object(obj, list_fields, 1, false, errors);
    validate_items(obj, "items", item_fields, 2, errors);
    json_t *expected = json_loads(want, 0, NULL);
    assert_non_null(expected);
    if (!json_equal(errors, expected)) {
        char *got = json_dumps(errors, JSON_SORT_KEYS);
        fail_msg("body %s: errors %s, want %s", body, got, want);
    }
    json_decref(expected);
    json_decref(errors);
    json_decref(obj);
}

static void test_array_field(void **state)
{
    (void)state;
    expect_errors("{\"items\": [{\"code\": \"A\"}]}", "{}");
    expect_errors("{}", "{}");
    expect_errors("{\"items\": {}}", "{\"items\": \"must be an array\"}");
    expect_errors("{\"items\": \"x\"}", "{\"items\": \"must be an array\"}");
    expect_errors("{\"items\": []}", "{\"items\": \"has too few items\"}");
    expect_errors("{\"items\": [{\"code\": \"A\"}, {\"code\": \"B\"}, {\"code\": \"C\"}, {\"code\": \"D\"}]}",
                  "{\"items\": \"has too many items\"}");
}

static void test_items_named_by_position(void **state)
{
    (void)state;
    expect_errors("{\"items\": [{\"code\": \"A\"}, {}]}", "{\"items[1].code\": \"is required\"}");
    expect_errors("{\"items\": [{\"code\": \"A\", \"x\": 1}]}", "{\"items[0].x\": \"is not a known field\"}");
    expect_errors("{\"items\": [3, {\"code\": 5}]}",
                  "{\"items[0]\": \"must be an object\", \"items[1].code\": \"must be a string\"}");
    expect_errors("{\"items\": [{\"code\": \"A\", \"note\": null}, {\"code\": \"123456789\"}]}",
                  "{\"items[1].code\": \"is too long\"}");
}

static void test_items_normalised_in_place(void **state)
{
    (void)state;
    json_t *obj = json_loads("{\"items\": [{\"code\": \"  A1 \"}]}", 0, NULL);
    json_t *errors = json_object();
    assert_true(validate_items(obj, "items", item_fields, 2, errors));
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(obj, "items"), 0), "code")),
                        "A1");
    json_decref(errors);
    json_decref(obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_icd10),
        cmocka_unit_test(test_array_field),
        cmocka_unit_test(test_items_named_by_position),
        cmocka_unit_test(test_items_normalised_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
