/* Unit tests for common/errjson.c and common/status.c (the error envelope and the status -> HTTP
 * mapping) and for the helpers in common/crypto.c (base64url encode/decode, SHA-256 hex, hex,
 * opaque random tokens). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "errjson.h"
#include "status.h"

static const char B64URL_ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Compact, key-sorted serialisation compared as a string, so a failure shows both documents. */
static void assert_json_equal(const json_t *j, const char *want)
{
    char *got = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

/* ---- status ------------------------------------------------------------------------------- */

static void test_status_http_every_value(void **state)
{
    (void)state;
    static const struct {
        enum status st;
        int http;
        const char *code;
    } table[] = {
        {ST_OK, 200, "ok"},
        {ST_CREATED, 201, "created"},
        {ST_NO_CONTENT, 204, "no_content"},
        {ST_BAD_REQUEST, 400, "bad_request"},
        {ST_UNAUTHORIZED, 401, "unauthorized"},
        {ST_FORBIDDEN, 403, "forbidden"},
        {ST_NOT_FOUND, 404, "not_found"},
        {ST_METHOD_NOT_ALLOWED, 405, "method_not_allowed"},
        {ST_CONFLICT, 409, "conflict"},
        {ST_GONE, 410, "gone"},
        {ST_TOO_LARGE, 413, "payload_too_large"},
        {ST_UNSUPPORTED_MEDIA, 415, "unsupported_media_type"},
        {ST_INVALID, 422, "validation_failed"},
        {ST_THROTTLED, 429, "too_many_attempts"},
        {ST_INTERNAL, 500, "internal_error"},
        {ST_UNAVAILABLE, 503, "service_unavailable"},
        {ST_RANGE_NOT_SATISFIABLE, 416, "range_not_satisfiable"},
        {ST_INSUFFICIENT_STORAGE, 507, "storage_quota_exceeded"},
    };
    /* the table covers every enum value */
    assert_int_equal(sizeof table / sizeof *table, ST_COUNT);
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        assert_int_equal(table[i].st, (enum status)i);
        assert_int_equal(status_http(table[i].st), table[i].http);
        assert_string_equal(status_code(table[i].st), table[i].code);
        const char *msg = status_message(table[i].st);
        assert_non_null(msg);
        assert_true(strlen(msg) > 0);
    }
}

static void test_status_out_of_range(void **state)
{
    (void)state;
    static const enum status bad[] = {ST_COUNT, (enum status)(ST_COUNT + 1), (enum status)99, (enum status)-1,
                                      (enum status)0x7fffffff};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(status_http(bad[i]), 500);
        assert_string_equal(status_code(bad[i]), "internal_error");
        assert_string_equal(status_message(bad[i]), "An internal error occurred.");
    }
}

/* ---- errjson ------------------------------------------------------------------------------ */

static void test_errjson_defaults(void **state)
{
    (void)state;
    static const enum status sts[] = {ST_BAD_REQUEST, ST_UNAUTHORIZED, ST_FORBIDDEN, ST_NOT_FOUND, ST_CONFLICT,
                                      ST_INVALID,     ST_THROTTLED,    ST_INTERNAL,  ST_UNAVAILABLE};
    for (size_t i = 0; i < sizeof sts / sizeof *sts; i++) {
        json_t *e = errjson_build(sts[i], NULL, NULL, NULL);
        assert_non_null(e);
        char want[300];
        snprintf(want, sizeof want, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", status_code(sts[i]),
                 status_message(sts[i]));
        assert_json_equal(e, want);
        json_decref(e);
    }
    json_t *e = errjson_build(ST_NOT_FOUND, NULL, NULL, NULL);
    assert_json_equal(e, "{\"error\":{\"code\":\"not_found\",\"message\":\"The requested resource was not found.\"}}");
    json_decref(e);
    e = errjson_build(ST_UNAUTHORIZED, NULL, NULL, NULL);
    assert_json_equal(e, "{\"error\":{\"code\":\"unauthorized\",\"message\":\"A valid access token is required.\"}}");
    json_decref(e);
}

static void test_errjson_custom_code_and_message(void **state)
{
    (void)state;
    json_t *e = errjson_build(ST_CONFLICT, "email_taken", "That e-mail address is already in use.", NULL);
    assert_json_equal(e, "{\"error\":{\"code\":\"email_taken\",\"message\":\"That e-mail address is already in use.\"}}");
    json_decref(e);

    /* only one of them: the other keeps its default */
    e = errjson_build(ST_FORBIDDEN, "not_your_patient", NULL, NULL);
    assert_json_equal(e, "{\"error\":{\"code\":\"not_your_patient\",\"message\":\"Your role may not perform this action.\"}}");
    json_decref(e);
    e = errjson_build(ST_FORBIDDEN, NULL, "Cl\xc3\xadnica fechada.", NULL);
    assert_json_equal(e, "{\"error\":{\"code\":\"forbidden\",\"message\":\"Cl\xc3\xadnica fechada.\"}}");
    json_decref(e);

    /* text that needs escaping stays intact */
    e = errjson_build(ST_BAD_REQUEST, "x", "quote \" backslash \\ newline \n", NULL);
    json_t *err = json_object_get(e, "error");
    assert_string_equal(json_string_value(json_object_get(err, "message")), "quote \" backslash \\ newline \n");
    json_decref(e);
}

static void test_errjson_fields_kept(void **state)
{
    (void)state;
    json_t *fields = json_pack("{s:s, s:s}", "email", "is required", "cpf", "has invalid check digits");
    json_t *e = errjson_build(ST_INVALID, NULL, NULL, fields); /* fields is stolen */
    assert_json_equal(e, "{\"error\":{\"code\":\"validation_failed\",\"fields\":{\"cpf\":\"has invalid check digits\","
                         "\"email\":\"is required\"},\"message\":\"Some fields are invalid.\"}}");
    /* the very object passed in is the one in the envelope */
    assert_ptr_equal(json_object_get(json_object_get(e, "error"), "fields"), fields);
    json_decref(e);
}

static void test_errjson_fields_dropped(void **state)
{
    (void)state;
    /* empty object */
    json_t *e = errjson_build(ST_INVALID, NULL, NULL, json_object());
    assert_json_equal(e, "{\"error\":{\"code\":\"validation_failed\",\"message\":\"Some fields are invalid.\"}}");
    json_decref(e);
    /* NULL */
    e = errjson_build(ST_INVALID, NULL, NULL, NULL);
    assert_json_equal(e, "{\"error\":{\"code\":\"validation_failed\",\"message\":\"Some fields are invalid.\"}}");
    json_decref(e);
    /* not an object */
    e = errjson_build(ST_BAD_REQUEST, NULL, NULL, json_pack("[s]", "x"));
    assert_json_equal(e, "{\"error\":{\"code\":\"bad_request\",\"message\":\"The request could not be understood.\"}}");
    json_decref(e);
    e = errjson_build(ST_BAD_REQUEST, NULL, NULL, json_string("fields"));
    assert_json_equal(e, "{\"error\":{\"code\":\"bad_request\",\"message\":\"The request could not be understood.\"}}");
    json_decref(e);
}

static void test_errjson_no_other_keys(void **state)
{
    (void)state;
    json_t *e = errjson_build(ST_INVALID, "c", "m", json_pack("{s:s}", "a", "b"));
    assert_true(json_is_object(e));
    assert_int_equal(json_object_size(e), 1);
    json_t *err = json_object_get(e, "error");
    assert_true(json_is_object(err));
    assert_int_equal(json_object_size(err), 3);
    assert_true(json_is_string(json_object_get(err, "code")));
    assert_true(json_is_string(json_object_get(err, "message")));
    assert_true(json_is_object(json_object_get(err, "fields")));
    json_decref(e);

    e = errjson_build(ST_NOT_FOUND, NULL, NULL, NULL);
    assert_int_equal(json_object_size(e), 1);
    assert_int_equal(json_object_size(json_object_get(e, "error")), 2);
    assert_null(json_object_get(json_object_get(e, "error"), "fields"));
    json_decref(e);
}

static void test_errjson_out_of_range_status(void **state)
{
    (void)state;
    json_t *e = errjson_build(ST_COUNT, NULL, NULL, NULL);
    assert_json_equal(e, "{\"error\":{\"code\":\"internal_error\",\"message\":\"An internal error occurred.\"}}");
    json_decref(e);
}

/* ---- crypto: base64url -------------------------------------------------------------------- */

static void test_b64url_known_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *plain;
        size_t n;
        const char *enc;
    } v[] = {
        {"", 0, ""},
        {"f", 1, "Zg"},
        {"fo", 2, "Zm8"},
        {"foo", 3, "Zm9v"},
        {"foob", 4, "Zm9vYg"},
        {"fooba", 5, "Zm9vYmE"},
        {"foobar", 6, "Zm9vYmFy"},
        {"\xfb\xff", 2, "-_8"},            /* "+/8=" in standard base64 */
        {"\xff\xff\xff", 3, "____"},
        {"\x00\x00\x00", 3, "AAAA"},
        {"\xfa\xfb\xfc\xfd", 4, "-vv8_Q"},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        char out[32];
        size_t len = crypto_b64url((const unsigned char *)v[i].plain, v[i].n, out);
        assert_string_equal(out, v[i].enc);
        assert_int_equal(len, strlen(v[i].enc));

        unsigned char back[32];
        long m = crypto_b64url_decode(v[i].enc, back, sizeof back);
        assert_int_equal(m, (long)v[i].n);
        assert_memory_equal(back, v[i].plain, v[i].n);
    }
}

static void test_b64url_round_trip_lengths(void **state)
{
    (void)state;
    unsigned char in[41];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (unsigned char)(i * 97 + 251); /* covers 0x00..0xff-ish and high bits */
    for (size_t n = 0; n <= 40; n++) {
        char enc[64];
        memset(enc, '#', sizeof enc);
        size_t len = crypto_b64url(in, n, enc);
        assert_int_equal(len, (4 * n + 2) / 3); /* no padding */
        assert_int_equal(strlen(enc), len);
        assert_int_equal(strspn(enc, B64URL_ALPHABET), len);

        unsigned char dec[64];
        memset(dec, 0xEE, sizeof dec);
        long m = crypto_b64url_decode(enc, dec, sizeof dec);
        assert_int_equal(m, (long)n);
        assert_memory_equal(dec, in, n);
        assert_int_equal(dec[n], 0xEE); /* nothing written past the end */

        /* a buffer of exactly n bytes is enough, one less is not */
        unsigned char *exact = malloc(n ? n : 1);
        assert_non_null(exact);
        assert_int_equal(crypto_b64url_decode(enc, exact, n), (long)n);
        assert_memory_equal(exact, in, n);
        if (n > 0)
            assert_int_equal(crypto_b64url_decode(enc, exact, n - 1), -1);
        free(exact);
    }
}

static void test_b64url_decode_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Zm9v+A",    /* standard-alphabet characters */
        "Zm9v/A",
        "Zm9vYg==", /* padding */
        "Zg=",
        "Zm 9v",     /* white space */
        "Zm9v\n",
        "Zm9v.YmFy", /* separator */
        "Zm9v!",
        "Zm\xc3\xa9v",
        "A",         /* length % 4 == 1 */
        "AAAAA",
        "Zm9vYmFyZ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        unsigned char out[64];
        char label[64];
        snprintf(label, sizeof label, "decode(#%zu) = %ld", i, crypto_b64url_decode(bad[i], out, sizeof out));
        char want[64];
        snprintf(want, sizeof want, "decode(#%zu) = -1", i);
        assert_string_equal(label, want);
    }
}

/* ---- crypto: digests, hex, tokens --------------------------------------------------------- */

static void test_sha256_hex(void **state)
{
    (void)state;
    char out[65];
    crypto_sha256_hex("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    crypto_sha256_hex("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    crypto_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, out);
    assert_string_equal(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* only n bytes are hashed */
    crypto_sha256_hex("abcdef", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_hex(void **state)
{
    (void)state;
    static const unsigned char in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    char out[13];
    crypto_hex(in, sizeof in, out);
    assert_string_equal(out, "00017f80abff");
    char empty[1] = {'x'};
    crypto_hex(in, 0, empty);
    assert_string_equal(empty, "");
}

static void test_crypto_token(void **state)
{
    (void)state;
    char a[44], b[44];
    memset(a, '#', sizeof a);
    memset(b, '#', sizeof b);
    assert_true(crypto_token(a));
    assert_true(crypto_token(b));
    assert_int_equal(strlen(a), 43);
    assert_int_equal(strlen(b), 43);
    assert_int_equal(strspn(a, B64URL_ALPHABET), 43);
    assert_int_equal(strspn(b, B64URL_ALPHABET), 43);
    assert_string_not_equal(a, b);

    /* 43 characters decode back to 32 bytes */
    unsigned char raw[64];
    assert_int_equal(crypto_b64url_decode(a, raw, sizeof raw), 32);
}

static void test_random_hex16(void **state)
{
    (void)state;
    char a[33], b[33];
    assert_true(crypto_random_hex16(a));
    assert_true(crypto_random_hex16(b));
    assert_int_equal(strlen(a), 32);
    assert_int_equal(strspn(a, "0123456789abcdef"), 32);
    assert_string_not_equal(a, b);

    unsigned char r1[32] = {0}, r2[32] = {0};
    assert_true(crypto_random(r1, sizeof r1));
    assert_true(crypto_random(r2, sizeof r2));
    assert_memory_not_equal(r1, r2, sizeof r1);
    assert_true(crypto_random(r1, 0));
}

/* coturn REST credentials: base64 HMAC-SHA1 of the username with the shared secret (a vector
 * computed independently). */
static void test_turn_password(void **state)
{
    (void)state;
    char out[29];
    assert_true(crypto_turn_password("north-secret", "1700000000:7", out));
    assert_string_equal(out, "KwvOdwGgpsw6aqSpOvw42PBEN6I=");
    assert_true(crypto_turn_password("other-secret", "1700000000:7", out));
    assert_string_not_equal(out, "KwvOdwGgpsw6aqSpOvw42PBEN6I=");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_http_every_value),
        cmocka_unit_test(test_status_out_of_range),
        cmocka_unit_test(test_errjson_defaults),
        cmocka_unit_test(test_errjson_custom_code_and_message),
        cmocka_unit_test(test_errjson_fields_kept),
        cmocka_unit_test(test_errjson_fields_dropped),
        cmocka_unit_test(test_errjson_no_other_keys),
        cmocka_unit_test(test_errjson_out_of_range_status),
        cmocka_unit_test(test_b64url_known_vectors),
        cmocka_unit_test(test_b64url_round_trip_lengths),
        cmocka_unit_test(test_b64url_decode_rejects),
        cmocka_unit_test(test_sha256_hex),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_crypto_token),
        cmocka_unit_test(test_random_hex16),
        cmocka_unit_test(test_turn_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
