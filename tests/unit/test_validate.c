/* Unit tests for common/validate.c: the CPF, e-mail, date, phone, time-zone and currency
 * validators, utf8_length, and validate_object() driven by a field_spec table (required and
 * unknown fields, JSON types, null handling, trimming, character lengths, normalisation written
 * back into the object, enums, FF_PAST dates, partial mode, collecting every bad field, and the
 * bounds on what is collected: at most VALIDATE_MAX_ERRORS fields, long unknown keys cut). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "validate.h"

/* ---- helpers ------------------------------------------------------------------------------ */

/* Compares a boolean verdict, naming the function and input on both sides of the assertion so a
 * failure shows which case broke, e.g. valid_email("a@b") = true != valid_email("a@b") = false. */
static void check_verdict(const char *fn, const char *input, bool got, bool want)
{
    char g[1024], w[1024];
    snprintf(g, sizeof g, "%s(\"%s\") = %s", fn, input, got ? "true" : "false");
    snprintf(w, sizeof w, "%s(\"%s\") = %s", fn, input, want ? "true" : "false");
    assert_string_equal(g, w);
}

static json_t *parse_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad JSON in test: %s (%s)", text, e.text);
    return j;
}

/* Compact, key-sorted serialisation; the caller frees it. */
static char *dump_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    assert_non_null(s);
    return s;
}

static void assert_json_equal(const json_t *j, const char *want)
{
    char *got = dump_json(j);
    assert_string_equal(got, want);
    free(got);
}

/* A date string days away from today (UTC). */
static void date_from_today(int days, char out[11])
{
    time_t t = time(NULL) + (time_t)days * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

/* Reference check digits (the usual textbook formulation: r = sum % 11, digit = r < 2 ? 0 : 11 - r),
 * written independently of the library to act as an oracle. */
static void ref_cpf_complete(char cpf[12])
{
    for (int k = 9; k <= 10; k++) {
        int sum = 0;
        for (int i = 0; i < k; i++)
            sum += (cpf[i] - '0') * (k + 1 - i);
        int r = sum % 11;
        cpf[k] = (char)('0' + (r < 2 ? 0 : 11 - r));
    }
    cpf[11] = '\0';
}

static bool ref_cpf_valid(const char *cpf)
{
    char copy[12];
    memcpy(copy, cpf, 12);
    ref_cpf_complete(copy);
    bool all_same = true;
    for (int i = 1; i < 11; i++)
        if (cpf[i] != cpf[0])
            all_same = false;
    return !all_same && strcmp(copy, cpf) == 0;
}

/* ---- CPF ---------------------------------------------------------------------------------- */

static void test_cpf_valid_examples(void **state)
{
    (void)state;
    static const char *const good[] = {"12345678909", "23456789173", "11144477735", "52998224725",
                                       "00000000191", "98765432100"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        check_verdict("valid_cpf_digits", good[i], valid_cpf_digits(good[i]), true);
}

/* For CPFs whose two check digits are non-zero every single-digit change breaks a check digit. */
static void test_cpf_single_digit_corruption_fails(void **state)
{
    (void)state;
    static const char *const good[] = {"23456789173", "11144477735", "52998224725", "00000000191"};
    for (size_t g = 0; g < sizeof good / sizeof *good; g++) {
        check_verdict("valid_cpf_digits", good[g], valid_cpf_digits(good[g]), true);
        for (int pos = 0; pos < 11; pos++) {
            for (char c = '0'; c <= '9'; c++) {
                if (c == good[g][pos])
                    continue;
                char bad[12];
                memcpy(bad, good[g], 12);
                bad[pos] = c;
                check_verdict("valid_cpf_digits", bad, valid_cpf_digits(bad), false);
            }
        }
    }
}

/* 12345678909 has a first check digit of 0 reached through the "remainder 10 -> 0" collapse, so
 * the algorithm itself cannot see a +1 change in the first digit: 22345678909 is also a valid
 * CPF. Every other corruption must fail, and the library must agree with the reference. */
static void test_cpf_corruptions_of_12345678909(void **state)
{
    (void)state;
    const char *base = "12345678909";
    int accepted = 0;
    for (int pos = 0; pos < 11; pos++) {
        for (char c = '0'; c <= '9'; c++) {
            if (c == base[pos])
                continue;
            char bad[12];
            memcpy(bad, base, 12);
            bad[pos] = c;
            bool got = valid_cpf_digits(bad);
            check_verdict("valid_cpf_digits", bad, got, ref_cpf_valid(bad));
            if (got) {
                assert_string_equal(bad, "22345678909");
                accepted++;
            }
        }
    }
    assert_int_equal(accepted, 1);
    /* the check digits themselves: any change is caught */
    static const char *const bad_check[] = {"12345678919", "12345678999", "12345678900", "12345678901",
                                            "12345678908"};
    for (size_t i = 0; i < sizeof bad_check / sizeof *bad_check; i++)
        check_verdict("valid_cpf_digits", bad_check[i], valid_cpf_digits(bad_check[i]), false);
}

/* Library vs reference over many prefixes: the right check digits pass, every other pair fails. */
static void test_cpf_matches_reference(void **state)
{
    (void)state;
    unsigned long long x = 88172645463325252ull;
    for (int n = 0; n < 3000; n++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        char cpf[12];
        unsigned long long v = x;
        for (int i = 0; i < 9; i++, v /= 10)
            cpf[i] = (char)('0' + v % 10);
        ref_cpf_complete(cpf);
        check_verdict("valid_cpf_digits", cpf, valid_cpf_digits(cpf), ref_cpf_valid(cpf));
        char right9 = cpf[9], right10 = cpf[10];
        for (char a = '0'; a <= '9'; a++) {
            for (char b = '0'; b <= '9'; b++) {
                if (a == right9 && b == right10)
                    continue;
                cpf[9] = a;
                cpf[10] = b;
                check_verdict("valid_cpf_digits", cpf, valid_cpf_digits(cpf), false);
            }
        }
    }
}

static void test_cpf_all_equal_digits_fail(void **state)
{
    (void)state;
    for (char c = '0'; c <= '9'; c++) {
        char cpf[12];
        memset(cpf, c, 11);
        cpf[11] = '\0';
        check_verdict("valid_cpf_digits", cpf, valid_cpf_digits(cpf), false);
    }
}

static void test_cpf_wrong_shapes_fail(void **state)
{
    (void)state;
    static const char *const bad[] = {"",           "1234567890",     "123456789090",  "1234567890a",
                                      "a2345678909", "123.456.789-09", "12345678909 ", " 12345678909",
                                      "１２３４５６７８９０９"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        check_verdict("valid_cpf_digits", bad[i], valid_cpf_digits(bad[i]), false);
}

static void test_normalize_cpf(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bool ok;
        const char *out;
    } cases[] = {
        {"123.456.789-09", true, "12345678909"},
        {"12345678909", true, "12345678909"},
        {"123 456 789 09", true, "12345678909"},
        {" 234.567.891-73 ", true, "23456789173"},
        {"111.111.111-11", true, "11111111111"}, /* shape only; check digits are not its job */
        {"123.456.789-0", false, NULL},          /* 10 digits */
        {"1234567890", false, NULL},
        {"123.456.789-091", false, NULL}, /* 12 digits */
        {"123456789091", false, NULL},
        {"1234567890912345", false, NULL},
        {"123.456.789/09", false, NULL},
        {"123.456.789-0a", false, NULL},
        {"abc.def.ghi-jk", false, NULL},
        {"12345678909x", false, NULL},
        {"", false, NULL},
        {"..- ", false, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[12] = "untouched";
        bool ok = normalize_cpf(cases[i].in, out);
        check_verdict("normalize_cpf", cases[i].in, ok, cases[i].ok);
        if (cases[i].ok)
            assert_string_equal(out, cases[i].out);
    }
    char out[12];
    assert_true(normalize_cpf("123.456.789-09", out));
    check_verdict("valid_cpf_digits", out, valid_cpf_digits(out), true);
    assert_true(normalize_cpf("123.456.789-00", out));
    check_verdict("valid_cpf_digits", out, valid_cpf_digits(out), false);
}

/* ---- e-mail ------------------------------------------------------------------------------- */

static void test_valid_email_good(void **state)
{
    (void)state;
    static const char *const good[] = {
        "a@b.co",
        "user@example.com",
        "first.last@example.com",
        "user+tag@example.com",
        "USER@EXAMPLE.COM",
        "x_y-z@sub.domain.com.br",
        "o'brien@example.ie",
        "1234567890@numbers.example",
        "jos\xc3\xa9@example.com", /* UTF-8 local part */
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        check_verdict("valid_email", good[i], valid_email(good[i]), true);

    /* local part of exactly 64 characters is allowed */
    char s[300];
    memset(s, 'a', 64);
    strcpy(s + 64, "@example.com");
    check_verdict("valid_email", s, valid_email(s), true);

    /* total length 254 is allowed */
    memset(s, 0, sizeof s);
    memset(s, 'a', 10);
    strcpy(s + 10, "@");
    size_t at = strlen(s);
    memset(s + at, 'd', 254 - at - 4);
    strcpy(s + 254 - 4, ".com");
    assert_int_equal(strlen(s), 254);
    check_verdict("valid_email", s, valid_email(s), true);
}

static void test_valid_email_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "a",
        "ab",
        "@",
        "a@",
        "@example.com",
        "user@",
        "user@example",
        "user@@example.com",
        "a@b@example.com",
        "user@.com",
        "user@example.",
        "user@example.com.",
        "user@exa..mple.com",
        "user@example..com",
        "user name@example.com",
        "user@exam ple.com",
        " user@example.com",
        "user@example.com ",
        "user\t@example.com",
        "user@example.com\n",
        "<user>@example.com",
        "user@example.com>",
        "\"user\"@example.com",
        "user,other@example.com",
        "user;other@example.com",
        "user:pw@example.com",
        "user(comment)@example.com",
        "user@[192.168.0.1]",
        "back\\slash@example.com",
        "del\x7f@example.com",
        "userexample.com",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        check_verdict("valid_email", bad[i], valid_email(bad[i]), false);

    /* local part of 65 characters */
    char s[400];
    memset(s, 'a', 65);
    strcpy(s + 65, "@example.com");
    check_verdict("valid_email", s, valid_email(s), false);

    /* 255 characters in total */
    memset(s, 0, sizeof s);
    memset(s, 'a', 10);
    strcpy(s + 10, "@");
    size_t at = strlen(s);
    memset(s + at, 'd', 255 - at - 4);
    strcpy(s + 255 - 4, ".com");
    assert_int_equal(strlen(s), 255);
    check_verdict("valid_email", s, valid_email(s), false);
}

/* A domain whose first label is empty (a leading dot) is not a "dotted domain". */
static void test_valid_email_domain_leading_dot(void **state)
{
    (void)state;
    check_verdict("valid_email", "user@.com", valid_email("user@.com"), false);
    check_verdict("valid_email", "user@.example.com", valid_email("user@.example.com"), false);
}

/* ---- dates -------------------------------------------------------------------------------- */

static void test_parse_date_good(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int y, m, d;
    } cases[] = {
        {"2024-02-29", 2024, 2, 29}, {"2000-02-29", 2000, 2, 29}, {"2023-02-28", 2023, 2, 28},
        {"1900-02-28", 1900, 2, 28}, {"2023-12-31", 2023, 12, 31}, {"2024-01-01", 2024, 1, 1},
        {"2024-04-30", 2024, 4, 30}, {"0001-01-01", 1, 1, 1},     {"9999-12-31", 9999, 12, 31},
        {"1899-12-31", 1899, 12, 31},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int y = -1, m = -1, d = -1;
        check_verdict("parse_date", cases[i].s, parse_date(cases[i].s, &y, &m, &d), true);
        assert_int_equal(y, cases[i].y);
        assert_int_equal(m, cases[i].m);
        assert_int_equal(d, cases[i].d);
    }
}

static void test_parse_date_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "2023-02-29", /* not a leap year */
        "1900-02-29", /* century, not divisible by 400 */
        "2100-02-29",
        "2024-02-30",
        "2024-13-01", /* month 13 */
        "2024-00-10", /* month 0 */
        "2024-01-00", /* day 0 */
        "2024-01-32",
        "2024-04-31",
        "2024-06-31",
        "2024-09-31",
        "2024-11-31",
        "0000-01-01", /* year 0 */
        "",
        "2024-2-29",
        "2024-02-9",
        "24-02-29",
        "2024/02/29",
        "2024.02.29",
        "20240229",
        "2024-02-29T00:00:00Z",
        "2024-02-290",
        " 2024-02-29",
        "2024-02-29 ",
        "2024-0a-10",
        "202a-01-10",
        "+024-01-10",
        "2024--1-10",
        "2024-01- 1",
        "abcd-ef-gh",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int y = -1, m = -1, d = -1;
        check_verdict("parse_date", bad[i], parse_date(bad[i], &y, &m, &d), false);
    }
}

/* ---- phone, time zone, currency ----------------------------------------------------------- */

static void test_valid_phone(void **state)
{
    (void)state;
    static const char *const good[] = {
        "12345678", "+55 11 91234-5678", "(11) 91234-5678", "+1 (555) 123-4567", "5511912345678",
        "12345678901234567890", /* 20 characters */
        "1234-5678",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        check_verdict("valid_phone", good[i], valid_phone(good[i]), true);

    static const char *const bad[] = {
        "",
        "1234567",               /* too short */
        "1234 567",              /* 8 characters, 7 digits */
        "(11) 123-45",           /* 7 digits */
        "---(((+)))---",         /* no digits */
        "123456789012345678901", /* 21 characters */
        "12345678a",
        "1234.5678",
        "1234/5678",
        "55+11912345678",  /* '+' not first */
        "++5511912345678", /* two '+' */
        "+55 11 9123+4567",
        "phone: 12345678",
        "1234\n5678",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        check_verdict("valid_phone", bad[i], valid_phone(bad[i]), false);
}

static void test_valid_timezone_name(void **state)
{
    (void)state;
    static const char *const good[] = {
        "UTC",          "America/Sao_Paulo", "America/Argentina/Buenos_Aires", "Etc/GMT+3",
        "Etc/GMT-14",   "America/Port-au-Prince", "Europe/London", "GMT0",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        check_verdict("valid_timezone_name", good[i], valid_timezone_name(good[i]), true);

    static const char *const bad[] = {
        "",
        "/UTC",
        "UTC/",
        "America//Sao_Paulo",
        "../etc/passwd",
        "America/../etc",
        "America/Sao Paulo",
        "Europe/Lon.don",
        "America\\Sao_Paulo",
        "1America",
        "_UTC",
        "+03:00",
        "-03",
        "America/Sao_Paulo\n",
        "S\xc3\xa3o_Paulo",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        check_verdict("valid_timezone_name", bad[i], valid_timezone_name(bad[i]), false);

    char name[80];
    memset(name, 'A', 64);
    name[64] = '\0';
    check_verdict("valid_timezone_name", name, valid_timezone_name(name), true);
    name[64] = 'A';
    name[65] = '\0';
    check_verdict("valid_timezone_name", name, valid_timezone_name(name), false);
}

static void test_valid_currency(void **state)
{
    (void)state;
    static const char *const good[] = {"BRL", "USD", "EUR", "XAU"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        check_verdict("valid_currency", good[i], valid_currency(good[i]), true);
    static const char *const bad[] = {"", "B", "BR", "BRLL", "brl", "Brl", "BRl", "B1L", "BR ", " BRL", "R$"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        check_verdict("valid_currency", bad[i], valid_currency(bad[i]), false);
}

static void test_utf8_length(void **state)
{
    (void)state;
    assert_int_equal(utf8_length(""), 0);
    assert_int_equal(utf8_length("abc"), 3);
    assert_int_equal(utf8_length("a\xc3\xa7\xc3\xa3o"), 4);               /* "ação": 6 bytes */
    assert_int_equal(utf8_length("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"), 3); /* 3 CJK chars */
    assert_int_equal(utf8_length("\xf0\x9f\x98\x80"), 1);                   /* one emoji, 4 bytes */
    assert_int_equal(utf8_length("S\xc3\xa3o Paulo \xf0\x9f\x98\x80!"), 12);
    assert_int_equal(utf8_length("na\xc3\xafve caf\xc3\xa9"), 10);
}

/* ---- validate_object ---------------------------------------------------------------------- */

static const char *const visit_kinds[] = {"IN_PERSON", "VIDEO", NULL};

static const struct field_spec specs[] = {
    {"name", FT_STRING, FF_REQUIRED, 1, 10, NULL},
    {"email", FT_EMAIL, FF_REQUIRED | FF_LOWER, 0, 254, NULL},
    {"cpf", FT_CPF, FF_REQUIRED, 0, 0, NULL},
    {"birth_date", FT_DATE, FF_PAST | FF_NULLABLE, 0, 0, NULL},
    {"starts_on", FT_DATE, 0, 0, 0, NULL},
    {"phone", FT_PHONE, FF_NULLABLE, 0, 0, NULL},
    {"nickname", FT_STRING, 0, 3, 0, NULL},
    {"notes", FT_STRING, FF_NULLABLE, 0, 0, NULL},
    {"kind", FT_ENUM, 0, 0, 0, visit_kinds},
    {"doctor_id", FT_INT, 0, 0, 0, NULL},
    {"duration", FT_INT, 0, 5, 240, NULL},
    {"active", FT_BOOL, 0, 0, 0, NULL},
    {"timezone", FT_TIMEZONE, 0, 0, 0, NULL},
    {"currency", FT_CURRENCY, 0, 0, 0, NULL},
    {"contact_email", FT_EMAIL, 0, 0, 20, NULL},
};
#define NSPECS (sizeof specs / sizeof *specs)

/* Runs validate_object on input and compares the verdict, the errors object and (when want_obj
 * is not NULL) the object after normalisation, all as compact key-sorted JSON. */
static void check_validation(const char *input, bool partial, bool want_ok, const char *want_errors,
                             const char *want_obj)
{
    json_t *obj = parse_json(input);
    json_t *errors = json_object();
    bool ok = validate_object(obj, specs, NSPECS, partial, errors);
    assert_json_equal(errors, want_errors);
    assert_int_equal(ok, want_ok);
    if (want_obj)
        assert_json_equal(obj, want_obj);
    json_decref(errors);
    json_decref(obj);
}

static void test_validate_object_all_good(void **state)
{
    (void)state;
    check_validation("{\"name\":\"  Ana  \",\"email\":\" Ana.Silva@Example.COM \",\"cpf\":\"123.456.789-09\","
                     "\"birth_date\":\"1990-05-17\",\"starts_on\":\"2999-01-01\",\"phone\":\"+55 11 91234-5678\","
                     "\"nickname\":\"Aninha\",\"notes\":\"\",\"kind\":\" VIDEO \",\"doctor_id\":7,"
                     "\"duration\":30,\"active\":false,\"timezone\":\"America/Sao_Paulo\","
                     "\"currency\":\"BRL\",\"contact_email\":\"Ana@X.io\"}",
                     false, true, "{}",
                     "{\"active\":false,\"birth_date\":\"1990-05-17\",\"contact_email\":\"Ana@X.io\","
                     "\"cpf\":\"12345678909\",\"currency\":\"BRL\",\"doctor_id\":7,\"duration\":30,"
                     "\"email\":\"ana.silva@example.com\",\"kind\":\"VIDEO\",\"name\":\"Ana\","
                     "\"nickname\":\"Aninha\",\"notes\":\"\",\"phone\":\"+55 11 91234-5678\","
                     "\"starts_on\":\"2999-01-01\",\"timezone\":\"America/Sao_Paulo\"}");
}

static void test_validate_object_required_missing(void **state)
{
    (void)state;
    check_validation("{}", false, false,
                     "{\"cpf\":\"is required\",\"email\":\"is required\",\"name\":\"is required\"}", "{}");
    check_validation("{\"name\":\"Ana\",\"cpf\":\"12345678909\"}", false, false, "{\"email\":\"is required\"}",
                     NULL);
}

static void test_validate_object_unknown_field(void **state)
{
    (void)state;
    check_validation("{\"name\":\"Ana\",\"email\":\"a@b.co\",\"cpf\":\"12345678909\",\"role\":\"ADMIN\"}", false,
                     false, "{\"role\":\"is not a known field\"}", NULL);
    check_validation("{\"Name\":\"Ana\"}", true, false, "{\"Name\":\"is not a known field\"}", NULL);
}

static void test_validate_object_wrong_types(void **state)
{
    (void)state;
    check_validation("{\"name\":5}", true, false, "{\"name\":\"must be a string\"}", NULL);
    check_validation("{\"name\":[\"Ana\"]}", true, false, "{\"name\":\"must be a string\"}", NULL);
    check_validation("{\"email\":{}}", true, false, "{\"email\":\"must be a string\"}", NULL);
    check_validation("{\"cpf\":12345678909}", true, false, "{\"cpf\":\"must be a string\"}", NULL);
    check_validation("{\"birth_date\":19900517}", true, false, "{\"birth_date\":\"must be a string\"}", NULL);
    check_validation("{\"kind\":true}", true, false, "{\"kind\":\"must be a string\"}", NULL);
    check_validation("{\"doctor_id\":\"7\"}", true, false, "{\"doctor_id\":\"must be an integer\"}", NULL);
    check_validation("{\"doctor_id\":7.0}", true, false, "{\"doctor_id\":\"must be an integer\"}", NULL);
    check_validation("{\"doctor_id\":true}", true, false, "{\"doctor_id\":\"must be an integer\"}", NULL);
    check_validation("{\"duration\":30.5}", true, false, "{\"duration\":\"must be an integer\"}", NULL);
    check_validation("{\"active\":\"true\"}", true, false, "{\"active\":\"must be true or false\"}", NULL);
    check_validation("{\"active\":1}", true, false, "{\"active\":\"must be true or false\"}", NULL);
    check_validation("{\"active\":true}", true, true, "{}", "{\"active\":true}");
}

static void test_validate_object_int_bounds(void **state)
{
    (void)state;
    check_validation("{\"doctor_id\":1}", true, true, "{}", "{\"doctor_id\":1}");
    check_validation("{\"doctor_id\":9007199254740993}", true, true, "{}", "{\"doctor_id\":9007199254740993}");
    check_validation("{\"doctor_id\":0}", true, false, "{\"doctor_id\":\"must be a positive integer\"}", NULL);
    check_validation("{\"doctor_id\":-3}", true, false, "{\"doctor_id\":\"must be a positive integer\"}", NULL);
    check_validation("{\"duration\":5}", true, true, "{}", NULL);
    check_validation("{\"duration\":240}", true, true, "{}", NULL);
    check_validation("{\"duration\":4}", true, false, "{\"duration\":\"is out of range\"}", NULL);
    check_validation("{\"duration\":241}", true, false, "{\"duration\":\"is out of range\"}", NULL);
    check_validation("{\"duration\":-30}", true, false, "{\"duration\":\"is out of range\"}", NULL);
}

static void test_validate_object_null_handling(void **state)
{
    (void)state;
    check_validation("{\"name\":null}", true, false, "{\"name\":\"must not be null\"}", NULL);
    check_validation("{\"doctor_id\":null}", true, false, "{\"doctor_id\":\"must not be null\"}", NULL);
    check_validation("{\"active\":null}", true, false, "{\"active\":\"must not be null\"}", NULL);
    check_validation("{\"kind\":null}", true, false, "{\"kind\":\"must not be null\"}", NULL);
    check_validation("{\"birth_date\":null,\"phone\":null,\"notes\":null}", true, true, "{}",
                     "{\"birth_date\":null,\"notes\":null,\"phone\":null}");
    /* a required field given as null is reported once, as null, not as missing */
    check_validation("{\"name\":null,\"email\":\"a@b.co\",\"cpf\":\"12345678909\"}", false, false,
                     "{\"name\":\"must not be null\"}", NULL);
}

static void test_validate_object_string_trim_and_length(void **state)
{
    (void)state;
    check_validation("{\"name\":\"\\t  Ana Maria \\n\"}", true, true, "{}", "{\"name\":\"Ana Maria\"}");
    check_validation("{\"name\":\"\"}", true, false, "{\"name\":\"must not be empty\"}", NULL);
    check_validation("{\"name\":\"   \"}", true, false, "{\"name\":\"must not be empty\"}", NULL);
    /* max 10 characters: "Joãozinho!" is 10 characters but 11 bytes */
    check_validation("{\"name\":\"Jo\xc3\xa3ozinho!\"}", true, true, "{}", "{\"name\":\"Jo\xc3\xa3ozinho!\"}");
    check_validation("{\"name\":\"  \xc3\xa7\xc3\xa3\xc3\xa9\xc3\xad\xc3\xb3\xc3\xba\xc3\xa0\xc3\xa2\xc3\xaa\xc3\xb4  \"}",
                     true, true, "{}",
                     "{\"name\":\"\xc3\xa7\xc3\xa3\xc3\xa9\xc3\xad\xc3\xb3\xc3\xba\xc3\xa0\xc3\xa2\xc3\xaa\xc3\xb4\"}");
    check_validation("{\"name\":\"Jo\xc3\xa3ozinho!!\"}", true, false, "{\"name\":\"is too long\"}", NULL);
    check_validation("{\"name\":\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
                     "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\"}",
                     true, true, "{}", NULL);
    check_validation("{\"name\":\"ABCDEFGHIJK\"}", true, false, "{\"name\":\"is too long\"}", NULL);
    /* min 3 characters, counted after trimming */
    check_validation("{\"nickname\":\" \xc3\xa3\xc3\xa3\xc3\xa3 \"}", true, true, "{}",
                     "{\"nickname\":\"\xc3\xa3\xc3\xa3\xc3\xa3\"}");
    check_validation("{\"nickname\":\"  ab  \"}", true, false, "{\"nickname\":\"is too short\"}",
                     "{\"nickname\":\"  ab  \"}");
    /* no maximum */
    char big[5100];
    strcpy(big, "{\"notes\":\"");
    memset(big + strlen(big), 'x', 5000);
    strcpy(big + 10 + 5000, "\"}");
    check_validation(big, true, true, "{}", NULL);
}

static void test_validate_object_email_lowercase(void **state)
{
    (void)state;
    check_validation("{\"email\":\"  MiXeD.Case+Tag@Example.COM  \"}", true, true, "{}",
                     "{\"email\":\"mixed.case+tag@example.com\"}");
    /* without FF_LOWER the case is kept (but the value is still trimmed) */
    check_validation("{\"contact_email\":\" Ana@X.IO \"}", true, true, "{}", "{\"contact_email\":\"Ana@X.IO\"}");
    /* contact_email has max 20 characters */
    check_validation("{\"contact_email\":\"abcdefghij@example.com\"}", true, false,
                     "{\"contact_email\":\"is too long\"}", NULL);
    /* a rejected value is left as sent */
    check_validation("{\"email\":\" NOT-AN-EMAIL \"}", true, false,
                     "{\"email\":\"must be a valid e-mail address\"}", "{\"email\":\" NOT-AN-EMAIL \"}");
}

static void test_validate_object_cpf_normalised(void **state)
{
    (void)state;
    check_validation("{\"cpf\":\"123.456.789-09\"}", true, true, "{}", "{\"cpf\":\"12345678909\"}");
    check_validation("{\"cpf\":\" 234 567 891 73 \"}", true, true, "{}", "{\"cpf\":\"23456789173\"}");
    check_validation("{\"cpf\":\"123.456.789-00\"}", true, false, "{\"cpf\":\"has invalid check digits\"}",
                     "{\"cpf\":\"123.456.789-00\"}");
    check_validation("{\"cpf\":\"111.111.111-11\"}", true, false, "{\"cpf\":\"has invalid check digits\"}", NULL);
    check_validation("{\"cpf\":\"123.456.789-0\"}", true, false, "{\"cpf\":\"must have 11 digits\"}", NULL);
    check_validation("{\"cpf\":\"123.456.789-091\"}", true, false, "{\"cpf\":\"must have 11 digits\"}", NULL);
    check_validation("{\"cpf\":\"123x456x789x09\"}", true, false, "{\"cpf\":\"must have 11 digits\"}", NULL);
}

static void test_validate_object_enum(void **state)
{
    (void)state;
    check_validation("{\"kind\":\"IN_PERSON\"}", true, true, "{}", "{\"kind\":\"IN_PERSON\"}");
    check_validation("{\"kind\":\"VIDEO\"}", true, true, "{}", "{\"kind\":\"VIDEO\"}");
    check_validation("{\"kind\":\"video\"}", true, false, "{\"kind\":\"must be one of the allowed values\"}", NULL);
    check_validation("{\"kind\":\"PHONE\"}", true, false, "{\"kind\":\"must be one of the allowed values\"}", NULL);
    check_validation("{\"kind\":\"\"}", true, false, "{\"kind\":\"must be one of the allowed values\"}", NULL);
    check_validation("{\"kind\":\"VIDEOS\"}", true, false, "{\"kind\":\"must be one of the allowed values\"}", NULL);
}

static void test_validate_object_dates(void **state)
{
    (void)state;
    char today[11], tomorrow[11], two_days[11], in_a_year[11], input[128], want[128];

    date_from_today(0, today);
    date_from_today(1, tomorrow);
    date_from_today(2, two_days);
    date_from_today(366, in_a_year);

    snprintf(input, sizeof input, "{\"birth_date\":\"%s\"}", today);
    check_validation(input, true, true, "{}", input);
    /* "Today" is bounded by the earliest zone (UTC+14), where tomorrow (UTC) may already have begun;
     * two days ahead is in the future everywhere. The clinic's own today is checked in SQL. */
    snprintf(input, sizeof input, "{\"birth_date\":\"%s\"}", two_days);
    check_validation(input, true, false, "{\"birth_date\":\"must be a date between 1900-01-01 and today\"}", NULL);
    snprintf(input, sizeof input, "{\"birth_date\":\"%s\"}", in_a_year);
    check_validation(input, true, false, "{\"birth_date\":\"must be a date between 1900-01-01 and today\"}", NULL);
    check_validation("{\"birth_date\":\"2999-01-01\"}", true, false,
                     "{\"birth_date\":\"must be a date between 1900-01-01 and today\"}", NULL);
    check_validation("{\"birth_date\":\"1899-12-31\"}", true, false,
                     "{\"birth_date\":\"must be a date between 1900-01-01 and today\"}", NULL);
    check_validation("{\"birth_date\":\"1900-01-01\"}", true, true, "{}", NULL);
    check_validation("{\"birth_date\":\" 2000-02-29 \"}", true, true, "{}", "{\"birth_date\":\"2000-02-29\"}");
    check_validation("{\"birth_date\":\"2023-02-29\"}", true, false, "{\"birth_date\":\"must be a date YYYY-MM-DD\"}",
                     NULL);
    check_validation("{\"birth_date\":\"17/05/1990\"}", true, false, "{\"birth_date\":\"must be a date YYYY-MM-DD\"}",
                     NULL);
    /* without FF_PAST any real date is fine, including the future and before 1900 */
    snprintf(input, sizeof input, "{\"starts_on\":\"%s\"}", tomorrow);
    snprintf(want, sizeof want, "{\"starts_on\":\"%s\"}", tomorrow);
    check_validation(input, true, true, "{}", want);
    check_validation("{\"starts_on\":\"1850-06-01\"}", true, true, "{}", NULL);
    check_validation("{\"starts_on\":\"2024-13-01\"}", true, false, "{\"starts_on\":\"must be a date YYYY-MM-DD\"}",
                     NULL);
}

static void test_validate_object_other_string_types(void **state)
{
    (void)state;
    check_validation("{\"phone\":\" (11) 91234-5678 \",\"timezone\":\"America/Manaus\",\"currency\":\"USD\"}", true,
                     true, "{}", "{\"currency\":\"USD\",\"phone\":\"(11) 91234-5678\",\"timezone\":\"America/Manaus\"}");
    check_validation("{\"phone\":\"1234\"}", true, false,
                     "{\"phone\":\"must be a phone number with at least 8 digits\"}", NULL);
    check_validation("{\"timezone\":\"../etc/passwd\"}", true, false,
                     "{\"timezone\":\"must be an IANA time zone name such as America/Sao_Paulo\"}", NULL);
    check_validation("{\"currency\":\"brl\"}", true, false,
                     "{\"currency\":\"must be an ISO 4217 code such as BRL\"}", NULL);
}

static void test_validate_object_partial(void **state)
{
    (void)state;
    check_validation("{}", true, true, "{}", "{}");
    check_validation("{\"name\":\" Bea \"}", true, true, "{}", "{\"name\":\"Bea\"}");
    /* partial mode still checks the fields that are present, and unknown ones */
    check_validation("{\"email\":\"nope\",\"zzz\":1}", true, false,
                     "{\"email\":\"must be a valid e-mail address\",\"zzz\":\"is not a known field\"}", NULL);
}

static void test_validate_object_collects_all_errors(void **state)
{
    (void)state;
    check_validation("{\"name\":\"\",\"email\":\"x@y\",\"cpf\":\"11111111111\",\"birth_date\":\"1899-01-01\","
                     "\"phone\":\"abc\",\"kind\":\"AUDIO\",\"doctor_id\":0,\"duration\":1000,\"active\":\"yes\","
                     "\"timezone\":\"/\",\"currency\":\"R$\",\"notes\":5,\"extra\":true}",
                     false, false,
                     "{\"active\":\"must be true or false\","
                     "\"birth_date\":\"must be a date between 1900-01-01 and today\","
                     "\"cpf\":\"has invalid check digits\","
                     "\"currency\":\"must be an ISO 4217 code such as BRL\","
                     "\"doctor_id\":\"must be a positive integer\","
                     "\"duration\":\"is out of range\","
                     "\"email\":\"must be a valid e-mail address\","
                     "\"extra\":\"is not a known field\","
                     "\"kind\":\"must be one of the allowed values\","
                     "\"name\":\"must not be empty\","
                     "\"notes\":\"must be a string\","
                     "\"phone\":\"must be a phone number with at least 8 digits\","
                     "\"timezone\":\"must be an IANA time zone name such as America/Sao_Paulo\"}",
                     NULL);
    /* missing required fields are reported together with bad present ones */
    check_validation("{\"cpf\":\"1\",\"unknown\":null}", false, false,
                     "{\"cpf\":\"must have 11 digits\",\"email\":\"is required\",\"name\":\"is required\","
                     "\"unknown\":\"is not a known field\"}",
                     NULL);
}

/* The result says whether this call added errors, not whether the errors object is empty. */
static void test_validate_object_existing_errors(void **state)
{
    (void)state;
    json_t *obj = parse_json("{\"name\":\"Ana\"}");
    json_t *errors = parse_json("{\"earlier\":\"problem\"}");
    assert_true(validate_object(obj, specs, NSPECS, true, errors));
    assert_json_equal(errors, "{\"earlier\":\"problem\"}");
    json_decref(obj);

    obj = parse_json("{\"name\":7}");
    assert_false(validate_object(obj, specs, NSPECS, true, errors));
    assert_json_equal(errors, "{\"earlier\":\"problem\",\"name\":\"must be a string\"}");
    json_decref(obj);
    json_decref(errors);
}

/* FT_TEXT keeps the string byte for byte (an SDP's line breaks); FT_NUMBER takes integers and reals
 * within bounds. */
static void test_validate_object_text_and_number(void **state)
{
    (void)state;
    static const struct field_spec media[] = {
        {"sdp", FT_TEXT, FF_REQUIRED, 1, 10, NULL},
        {"loss", FT_NUMBER, 0, 0, 1, NULL},
    };
    json_t *obj = json_pack("{s:s, s:f}", "sdp", " v=0\r\n", "loss", 0.25);
    json_t *errors = json_object();
    assert_true(validate_object(obj, media, 2, false, errors));
    assert_string_equal(json_string_value(json_object_get(obj, "sdp")), " v=0\r\n");
    json_decref(obj);
    obj = json_pack("{s:s, s:i}", "sdp", "0123456789A", "loss", 2);
    assert_false(validate_object(obj, media, 2, false, errors));
    assert_string_equal(json_string_value(json_object_get(errors, "sdp")), "is too long");
    assert_string_equal(json_string_value(json_object_get(errors, "loss")), "is out of range");
    json_decref(obj);
    json_object_clear(errors);
    obj = json_pack("{s:i, s:s}", "sdp", 5, "loss", "0.1");
    assert_false(validate_object(obj, media, 2, false, errors));
    assert_string_equal(json_string_value(json_object_get(errors, "sdp")), "must be a string");
    assert_string_equal(json_string_value(json_object_get(errors, "loss")), "must be a number");
    json_decref(obj);
    json_object_clear(errors);
    obj = json_object();
    json_object_set_new(obj, "sdp", json_stringn("a\0b", 3));
    assert_false(validate_object(obj, media, 2, false, errors));
    assert_string_equal(json_string_value(json_object_get(errors, "sdp")), "must not contain NUL characters");
    json_decref(obj);
    json_decref(errors);
}

/* ---- bounded errors ----------------------------------------------------------------------- */

/* An object of n unknown keys "k0".."k<n-1>" (a new reference). */
static json_t *unknown_keys(int n)
{
    json_t *obj = json_object();
    char key[16];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "k%d", i);
        json_object_set_new(obj, key, json_integer(i));
    }
    return obj;
}

/* Exactly VALIDATE_MAX_ERRORS problems are all listed; past that the first ones are, then the
 * "more" entry, and checking stops. */
static void test_validate_object_errors_capped(void **state)
{
    (void)state;
    json_t *obj = unknown_keys(VALIDATE_MAX_ERRORS), *errors = json_object();
    assert_false(validate_object(obj, specs, NSPECS, true, errors));
    assert_int_equal(json_object_size(errors), VALIDATE_MAX_ERRORS);
    assert_null(json_object_get(errors, VALIDATE_MORE_KEY));
    json_decref(obj);
    json_object_clear(errors);

    obj = unknown_keys(100000);
    assert_false(validate_object(obj, specs, NSPECS, false, errors));
    assert_int_equal(json_object_size(errors), VALIDATE_MAX_ERRORS + 1);
    assert_string_equal(json_string_value(json_object_get(errors, "k0")), "is not a known field");
    assert_non_null(json_object_get(errors, "k49"));
    assert_null(json_object_get(errors, "k50"));
    assert_null(json_object_get(errors, "name")); /* the required fields come after: not reached */
    assert_string_equal(json_string_value(json_object_get(errors, VALIDATE_MORE_KEY)),
                        "more fields are invalid; only the first 50 are listed");
    json_decref(obj);

    /* a full errors object takes no more, yet the call still reports its problem */
    obj = parse_json("{\"name\":7}");
    assert_false(validate_object(obj, specs, NSPECS, true, errors));
    assert_int_equal(json_object_size(errors), VALIDATE_MAX_ERRORS + 1);
    assert_null(json_object_get(errors, "name"));
    json_decref(obj);
    json_decref(errors);
}

/* A client's own key named like the "more" entry is an unknown field, and listing goes on. */
static void test_validate_object_more_key_sent(void **state)
{
    (void)state;
    check_validation("{\"" VALIDATE_MORE_KEY "\":1,\"zz\":2}", true, false,
                     "{\"" VALIDATE_MORE_KEY "\":\"is not a known field\",\"zz\":\"is not a known field\"}", NULL);
}

/* Unknown keys longer than VALIDATE_MAX_KEY_BYTES are listed cut at a character boundary. */
static void test_validate_object_long_keys_cut(void **state)
{
    (void)state;
    char k64[65], k100[101], k100_cut[68], e81[82], e81_cut[67];
    memset(k64, 'k', 64);
    k64[64] = '\0';
    memset(k100, 'k', 100);
    k100[100] = '\0';
    memcpy(k100_cut, k100, 64);
    strcpy(k100_cut + 64, "...");
    e81[0] = 'a'; /* then 40 two-byte characters: byte 64 is the second half of one */
    for (int i = 0; i < 40; i++)
        memcpy(e81 + 1 + 2 * i, "\xc3\xa9", 2);
    e81[81] = '\0';
    memcpy(e81_cut, e81, 63);
    strcpy(e81_cut + 63, "...");

    json_t *obj = json_object(), *errors = json_object();
    json_object_set_new(obj, k64, json_true());
    json_object_set_new(obj, k100, json_true());
    json_object_set_new(obj, e81, json_true());
    assert_false(validate_object(obj, specs, NSPECS, true, errors));
    assert_int_equal(json_object_size(errors), 3);
    assert_string_equal(json_string_value(json_object_get(errors, k64)), "is not a known field");
    assert_string_equal(json_string_value(json_object_get(errors, k100_cut)), "is not a known field");
    assert_string_equal(json_string_value(json_object_get(errors, e81_cut)), "is not a known field");
    json_decref(obj);
    json_decref(errors);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpf_valid_examples),
        cmocka_unit_test(test_cpf_single_digit_corruption_fails),
        cmocka_unit_test(test_cpf_corruptions_of_12345678909),
        cmocka_unit_test(test_cpf_matches_reference),
        cmocka_unit_test(test_cpf_all_equal_digits_fail),
        cmocka_unit_test(test_cpf_wrong_shapes_fail),
        cmocka_unit_test(test_normalize_cpf),
        cmocka_unit_test(test_valid_email_good),
        cmocka_unit_test(test_valid_email_bad),
        cmocka_unit_test(test_valid_email_domain_leading_dot),
        cmocka_unit_test(test_parse_date_good),
        cmocka_unit_test(test_parse_date_bad),
        cmocka_unit_test(test_valid_phone),
        cmocka_unit_test(test_valid_timezone_name),
        cmocka_unit_test(test_valid_currency),
        cmocka_unit_test(test_utf8_length),
        cmocka_unit_test(test_validate_object_all_good),
        cmocka_unit_test(test_validate_object_required_missing),
        cmocka_unit_test(test_validate_object_unknown_field),
        cmocka_unit_test(test_validate_object_wrong_types),
        cmocka_unit_test(test_validate_object_int_bounds),
        cmocka_unit_test(test_validate_object_null_handling),
        cmocka_unit_test(test_validate_object_string_trim_and_length),
        cmocka_unit_test(test_validate_object_email_lowercase),
        cmocka_unit_test(test_validate_object_cpf_normalised),
        cmocka_unit_test(test_validate_object_enum),
        cmocka_unit_test(test_validate_object_dates),
        cmocka_unit_test(test_validate_object_other_string_types),
        cmocka_unit_test(test_validate_object_partial),
        cmocka_unit_test(test_validate_object_collects_all_errors),
        cmocka_unit_test(test_validate_object_existing_errors),
        cmocka_unit_test(test_validate_object_text_and_number),
        cmocka_unit_test(test_validate_object_errors_capped),
        cmocka_unit_test(test_validate_object_more_key_sent),
        cmocka_unit_test(test_validate_object_long_keys_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
