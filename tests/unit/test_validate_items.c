/* Unit tests for the clinical-record validators of common/validate.c: ICD-10 codes (valid_icd10,
 * FT_ICD10), FT_ARRAY fields, and validate_items() checking each object of an array and naming the
 * bad item and field as "list[i].field", but not the items of a list refused for its length, and
 * no more than VALIDATE_MAX_ERRORS of them. */
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
    /* a list refused for its length is not checked item by item */
    expect_errors("{\"items\": [1, {}, {\"code\": 5}, {\"x\": 1}]}", "{\"items\": \"has too many items\"}");
    expect_errors("{\"items\": {\"code\": 5}}", "{\"items\": \"must be an array\"}");
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

/* A list of n items, each item_text (a new reference). */
static json_t *list_of(const char *item_text, int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_loads(item_text, JSON_DECODE_ANY, NULL));
    return json_pack("{s:o}", "items", arr);
}

/* A list within its cap but full of bad items lists VALIDATE_MAX_ERRORS of them, then the "more"
 * entry; an item with more problems than that alone does too. */
static void test_items_errors_capped(void **state)
{
    (void)state;
    json_t *obj = list_of("3", 1000), *errors = json_object();
    assert_false(validate_items(obj, "items", item_fields, 2, errors));
    assert_int_equal(json_object_size(errors), VALIDATE_MAX_ERRORS + 1);
    assert_string_equal(json_string_value(json_object_get(errors, "items[49]")), "must be an object");
    assert_null(json_object_get(errors, "items[50]"));
    assert_non_null(json_object_get(errors, VALIDATE_MORE_KEY));
    /* a full errors object takes no more; the list is not looked at */
    assert_true(validate_items(obj, "items", item_fields, 2, errors));
    assert_int_equal(json_object_size(errors), VALIDATE_MAX_ERRORS + 1);
    json_decref(obj);
    json_object_clear(errors);

    json_t *item = json_pack("{s:i}", "code", 1);
    char key[16];
    for (int i = 0; i < 2 * VALIDATE_MAX_ERRORS; i++) {
        snprintf(key, sizeof key, "x%d", i);
        json_object_set_new(item, key, json_null());
    }
    obj = json_pack("{s:[o]}", "items", item);
    assert_false(validate_items(obj, "items", item_fields, 2, errors));
    assert_int_equal(json_object_size(errors), VALIDATE_MAX_ERRORS + 1);
    assert_string_equal(json_string_value(json_object_get(errors, "items[0].code")), "must be a string");
    assert_non_null(json_object_get(errors, VALIDATE_MORE_KEY));
    json_decref(obj);
    json_decref(errors);
}

/* An unknown key in an item is listed cut whole characters; the cut once fell inside one, the
 * error was dropped and the item passed. */
static void test_items_long_key_cut(void **state)
{
    (void)state;
    char name[82], want[96];
    name[0] = 'a';
    for (int i = 0; i < 40; i++)
        memcpy(name + 1 + 2 * i, "\xc3\xa9", 2);
    name[81] = '\0';
    memcpy(want, "items[0].", 9);
    memcpy(want + 9, name, 63);
    strcpy(want + 72, "...");
    json_t *obj = json_pack("{s:[{s:s, s:b}]}", "items", "code", "A", name, 1);
    json_t *errors = json_object();
    assert_false(validate_items(obj, "items", item_fields, 2, errors));
    assert_int_equal(json_object_size(errors), 1);
    assert_string_equal(json_string_value(json_object_get(errors, want)), "is not a known field");
    json_decref(obj);
    json_decref(errors);
}

/* FT_ICD10: trimmed and checked with valid_icd10; the case is left to the database. */
static void test_icd10_field(void **state)
{
    (void)state;
    static const struct field_spec dx[] = {{"code", FT_ICD10, FF_REQUIRED, 0, 0, NULL}};
    json_t *obj = json_pack("{s:s}", "code", " j06.9 "), *errors = json_object();
    assert_true(validate_object(obj, dx, 1, false, errors));
    assert_string_equal(json_string_value(json_object_get(obj, "code")), "j06.9");
    json_decref(obj);
    const char *bad[] = {"J6", "", "J06.12345", "J06-9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        obj = json_pack("{s:s}", "code", bad[i]);
        assert_false(validate_object(obj, dx, 1, false, errors));
        assert_string_equal(json_string_value(json_object_get(errors, "code")), "must be an ICD-10 code such as J06.9");
        json_decref(obj);
    }
    obj = json_pack("{s:i}", "code", 106);
    assert_false(validate_object(obj, dx, 1, false, errors));
    assert_string_equal(json_string_value(json_object_get(errors, "code")), "must be a string");
    json_decref(obj);
    json_decref(errors);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_icd10),
        cmocka_unit_test(test_array_field),
        cmocka_unit_test(test_items_named_by_position),
        cmocka_unit_test(test_items_normalised_in_place),
        cmocka_unit_test(test_items_errors_capped),
        cmocka_unit_test(test_items_long_key_cut),
        cmocka_unit_test(test_icd10_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
