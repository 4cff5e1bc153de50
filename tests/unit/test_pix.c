/* Unit tests for common/pix.c: the key type names, pix_key_normalize() for each type (valid and
 * invalid keys, normalisation, check digits against an independent oracle, every length boundary,
 * the raw input limit, caller errors and the output buffer) and pix_key_mask(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pix.h"

/* ---- helpers ------------------------------------------------------------------------------ */

/* Normalises key as type t and compares "type(key) -> reason | output" on both sides of the
 * assertion, so a failure names the case, e.g.
 * cpf("123.456.789-09") -> ok 12345678909 != cpf("123.456.789-09") -> must be a valid CPF.
 * want_out is the normalised form for a valid key; want_reason the reason for an invalid one
 * (NULL when the key must be valid; "*" when any reason will do). */
static void check_key(enum pix_key_type t, const char *key, const char *want_out, const char *want_reason)
{
    char out[PIX_KEY_MAX + 1];
    memset(out, 'X', sizeof out);
    const char *why = pix_key_normalize(t, key, out, sizeof out);
    if (want_reason && strcmp(want_reason, "*") == 0 && why)
        want_reason = why;
    const char *name = pix_key_type_name(t) ? pix_key_type_name(t) : "?";
    char g[512], w[512];
    snprintf(g, sizeof g, "%s(\"%s\") -> %s %s", name, key ? key : "(null)", why ? why : "ok", out);
    snprintf(w, sizeof w, "%s(\"%s\") -> %s %s", name, key ? key : "(null)", want_reason ? want_reason : "ok",
             want_reason ? "" : want_out);
    assert_string_equal(g, w);
}

static void valid(enum pix_key_type t, const char *key, const char *want_out) { check_key(t, key, want_out, NULL); }
static void invalid(enum pix_key_type t, const char *key, const char *reason) { check_key(t, key, NULL, reason); }

static void check_mask(enum pix_key_type t, const char *normalised, const char *want)
{
    char out[PIX_MASK_MAX + 1];
    memset(out, 'X', sizeof out);
    pix_key_mask(t, normalised, out, sizeof out);
    char g[512], w[512];
    snprintf(g, sizeof g, "mask(%d, \"%s\") = %s", (int)t, normalised ? normalised : "(null)", out);
    snprintf(w, sizeof w, "mask(%d, \"%s\") = %s", (int)t, normalised ? normalised : "(null)", want);
    assert_string_equal(g, w);
}

/* A deterministic pseudo-random sequence (xorshift32), so failures reproduce. */
static uint32_t rng_state = 2463534242u;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* Reference CPF check digits (r = sum % 11, digit = r < 2 ? 0 : 11 - r), independent of the library. */
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

/* Reference CNPJ check digits, formulated from the right as the Receita Federal publishes it:
 * weights 2, 3, ..., 9, 2, 3, ... from the last character leftwards, value = ASCII - 48. */
static void ref_cnpj_complete(char c[15])
{
    for (int n = 12; n <= 13; n++) {
        int sum = 0;
        for (int i = n - 1, w = 2; i >= 0; i--, w = w == 9 ? 2 : w + 1)
            sum += (c[i] - 48) * w;
        int r = sum % 11;
        c[n] = (char)('0' + (r < 2 ? 0 : 11 - r));
    }
    c[14] = '\0';
}

/* A string of n copies of c (n < size). */
static char *fill(char *buf, size_t size, char c, size_t n)
{
    assert_true(n < size);
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

/* ---- type names --------------------------------------------------------------------------- */

static void test_type_parse_and_name(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        enum pix_key_type t;
    } rows[] = {{"cpf", PIX_CPF}, {"cnpj", PIX_CNPJ}, {"phone", PIX_PHONE}, {"email", PIX_EMAIL}, {"evp", PIX_EVP}};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        assert_int_equal(pix_key_type_parse(rows[i].name), rows[i].t);
        assert_string_equal(pix_key_type_name(rows[i].t), rows[i].name);
        assert_int_equal(pix_key_type_parse(pix_key_type_name(rows[i].t)), rows[i].t);
    }
    assert_int_equal(PIX_CPF, 1);
    assert_int_equal(PIX_EVP, 5);
}

static void test_type_parse_unknown(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "CPF", "Cpf", "cpf ", " cpf", "cp", "cpfx", "e-mail", "mail",
                                      "telefone", "random", "aleatoria", "EVP", "uuid", "0", "1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(pix_key_type_parse(bad[i]), 0);
    assert_int_equal(pix_key_type_parse(NULL), 0);
}

static void test_type_name_unknown(void **state)
{
    (void)state;
    assert_null(pix_key_type_name((enum pix_key_type)0));
    assert_null(pix_key_type_name((enum pix_key_type)6));
    assert_null(pix_key_type_name((enum pix_key_type)-1));
    assert_null(pix_key_type_name((enum pix_key_type)0x7fffffff));
}

/* ---- CPF ---------------------------------------------------------------------------------- */

static void test_cpf_valid(void **state)
{
    (void)state;
    valid(PIX_CPF, "123.456.789-09", "12345678909");
    valid(PIX_CPF, "12345678909", "12345678909");
    valid(PIX_CPF, "529.982.247-25", "52998224725");
    valid(PIX_CPF, "111.444.777-35", "11144477735");
    valid(PIX_CPF, "000.000.001-91", "00000000191");
    valid(PIX_CPF, "987.654.321-00", "98765432100");
    valid(PIX_CPF, " 123 456 789 09 ", "12345678909");
    valid(PIX_CPF, "123456789-09", "12345678909");
}

static void test_cpf_invalid(void **state)
{
    (void)state;
    invalid(PIX_CPF, "123.456.789-08", "must be a valid CPF");  /* second check digit */
    invalid(PIX_CPF, "123.456.789-19", "must be a valid CPF");  /* first check digit */
    invalid(PIX_CPF, "213.456.789-09", "must be a valid CPF");  /* swapped digits */
    invalid(PIX_CPF, "111.111.111-11", "must be a valid CPF");
    char all[12];
    for (char d = '0'; d <= '9'; d++)
        invalid(PIX_CPF, fill(all, sizeof all, d, 11), "must be a valid CPF");
    invalid(PIX_CPF, "", "must be a CPF of 11 digits");
    invalid(PIX_CPF, "1234567890", "must be a CPF of 11 digits");    /* 10 digits */
    invalid(PIX_CPF, "123456789090", "must be a CPF of 11 digits");  /* 12 digits */
    invalid(PIX_CPF, "123.456.789/09", "must be a CPF of 11 digits");
    invalid(PIX_CPF, "123.456.789-0a", "must be a CPF of 11 digits");
    invalid(PIX_CPF, "123\t456.789-09", "must be a CPF of 11 digits");
    invalid(PIX_CPF, "+12345678909", "must be a CPF of 11 digits");
    invalid(PIX_CPF, "123.456.789-0\xd9\xa9", "must be a CPF of 11 digits"); /* Arabic-Indic nine */
}

static void test_cpf_against_oracle(void **state)
{
    (void)state;
    for (int n = 0; n < 2000; n++) {
        char cpf[12];
        for (int i = 0; i < 9; i++)
            cpf[i] = (char)('0' + rng() % 10);
        ref_cpf_complete(cpf);
        bool all_same = strspn(cpf, (char[]){cpf[0], '\0'}) == 11;
        if (all_same)
            invalid(PIX_CPF, cpf, "must be a valid CPF");
        else
            valid(PIX_CPF, cpf, cpf);
        for (int k = 9; k <= 10; k++) {
            char bad[12];
            memcpy(bad, cpf, sizeof bad);
            bad[k] = (char)('0' + (bad[k] - '0' + 1 + (int)(rng() % 9)) % 10);
            invalid(PIX_CPF, bad, "must be a valid CPF");
        }
    }
}

/* ---- CNPJ --------------------------------------------------------------------------------- */

static void test_cnpj_valid_numeric(void **state)
{
    (void)state;
    valid(PIX_CNPJ, "11.222.333/0001-81", "11222333000181");
    valid(PIX_CNPJ, "11222333000181", "11222333000181");
    valid(PIX_CNPJ, "11.444.777/0001-61", "11444777000161");
    valid(PIX_CNPJ, "00.000.000/0001-91", "00000000000191");
    valid(PIX_CNPJ, "33.000.167/0001-01", "33000167000101");
    valid(PIX_CNPJ, " 11 222 333 0001 81 ", "11222333000181");
    valid(PIX_CNPJ, "11.111.111/1111-80", "11111111111180"); /* not all equal: the check digits differ */
}

static void test_cnpj_valid_alphanumeric(void **state)
{
    (void)state;
    /* The Receita Federal's published example of the alphanumeric CNPJ. */
    valid(PIX_CNPJ, "12.ABC.345/01DE-35", "12ABC34501DE35");
    valid(PIX_CNPJ, "12ABC34501DE35", "12ABC34501DE35");
    valid(PIX_CNPJ, "12.abc.345/01de-35", "12ABC34501DE35");
    valid(PIX_CNPJ, "12.aBc.345/01dE-35", "12ABC34501DE35");
    valid(PIX_CNPJ, "ABCDEFGHIJKL80", "ABCDEFGHIJKL80");
    valid(PIX_CNPJ, "abcdefghijkl80", "ABCDEFGHIJKL80");
    valid(PIX_CNPJ, "ZZ.ZZZ.ZZZ/ZZZZ-62", "ZZZZZZZZZZZZ62");
    valid(PIX_CNPJ, "AAAAAAAAAAAA45", "AAAAAAAAAAAA45");
    valid(PIX_CNPJ, "A0.B1C.2D3/E4F5-08", "A0B1C2D3E4F508");
}

static void test_cnpj_invalid(void **state)
{
    (void)state;
    const char *shape = "must be a CNPJ of 14 characters (12 letters or digits, then 2 digits)";
    invalid(PIX_CNPJ, "11.222.333/0001-82", "must be a valid CNPJ");  /* second check digit */
    invalid(PIX_CNPJ, "11.222.333/0001-71", "must be a valid CNPJ");  /* first check digit */
    invalid(PIX_CNPJ, "12.ABC.345/01DE-36", "must be a valid CNPJ");
    invalid(PIX_CNPJ, "12.ABC.345/01DF-35", "must be a valid CNPJ");  /* a letter changed */
    invalid(PIX_CNPJ, "21.ABC.345/01DE-35", "must be a valid CNPJ");  /* swapped */
    char all[15];
    for (char d = '0'; d <= '9'; d++)
        invalid(PIX_CNPJ, fill(all, sizeof all, d, 14), "must be a valid CNPJ");
    invalid(PIX_CNPJ, "00.000.000/0000-00", "must be a valid CNPJ"); /* passes the arithmetic */
    invalid(PIX_CNPJ, "", shape);
    invalid(PIX_CNPJ, "1122233300018", shape);                    /* 13 */
    invalid(PIX_CNPJ, "112223330001810", shape);                  /* 15 */
    invalid(PIX_CNPJ, "12.ABC.345/01DE-3A", shape);               /* letter in a check digit */
    invalid(PIX_CNPJ, "12.ABC.345/01DE-A5", shape);
    invalid(PIX_CNPJ, "12,ABC,345/01DE-35", shape);
    invalid(PIX_CNPJ, "12_ABC_345_01DE_35", shape);
    invalid(PIX_CNPJ, "12\tABC34501DE35", shape);
    invalid(PIX_CNPJ, "12.\xc3\x81" "BC.345/01DE-35", shape);      /* "Á" */
    invalid(PIX_CNPJ, "12345678909", shape);                      /* a CPF */
}

static void test_cnpj_against_oracle(void **state)
{
    (void)state;
    static const char alnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for (int n = 0; n < 2000; n++) {
        char c[15];
        bool numeric = n % 2 == 0;
        for (int i = 0; i < 12; i++)
            c[i] = alnum[rng() % (numeric ? 10 : 36)];
        ref_cnpj_complete(c);
        bool all_same = strspn(c, (char[]){c[0], '\0'}) == 14;
        if (all_same) {
            invalid(PIX_CNPJ, c, "must be a valid CNPJ");
            continue;
        }
        valid(PIX_CNPJ, c, c);
        char lower[15];
        for (int i = 0; i < 15; i++)
            lower[i] = (c[i] >= 'A' && c[i] <= 'Z') ? (char)(c[i] - 'A' + 'a') : c[i];
        valid(PIX_CNPJ, lower, c);
        char formatted[32];
        snprintf(formatted, sizeof formatted, "%.2s.%.3s.%.3s/%.4s-%.2s", c, c + 2, c + 5, c + 8, c + 12);
        valid(PIX_CNPJ, formatted, c);
        for (int k = 12; k <= 13; k++) {
            char bad[15];
            memcpy(bad, c, sizeof bad);
            bad[k] = (char)('0' + (bad[k] - '0' + 1 + (int)(rng() % 9)) % 10);
            invalid(PIX_CNPJ, bad, "must be a valid CNPJ");
        }
    }
}

/* ---- phone -------------------------------------------------------------------------------- */

static void test_phone_valid(void **state)
{
    (void)state;
    valid(PIX_PHONE, "+55 (11) 91234-5678", "+5511912345678");  /* mobile */
    valid(PIX_PHONE, "+5511912345678", "+5511912345678");
    valid(PIX_PHONE, "+55 11 3234-5678", "+551132345678");      /* landline */
    valid(PIX_PHONE, "+551132345678", "+551132345678");
    valid(PIX_PHONE, "+55 (99) 99999-9999", "+5599999999999");  /* highest area code */
    valid(PIX_PHONE, "+55 (11) 2000-0000", "+551120000000");    /* lowest area code */
    valid(PIX_PHONE, "+55 21 9 8765-4321", "+5521987654321");
    valid(PIX_PHONE, "  +55 (21) 98765-4321  ", "+5521987654321");
    valid(PIX_PHONE, "+55-61-3333-4444", "+556133334444");
    valid(PIX_PHONE, "+55 (20) 3333-4444", "+552033334444");    /* 11..99 as stated, 20 included */
    valid(PIX_PHONE, "+55 (11) 9876-5432", "+551198765432");    /* 8 digits: any first digit */
}

static void test_phone_invalid(void **state)
{
    (void)state;
    const char *shape =
        "must be +55, a 2-digit area code and an 8-digit landline or a 9-digit mobile number starting with 9";
    invalid(PIX_PHONE, "11912345678", "must start with +55");         /* could be a CPF: never guessed */
    invalid(PIX_PHONE, "(11) 91234-5678", "must start with +55");
    invalid(PIX_PHONE, "5511912345678", "must start with +55");
    invalid(PIX_PHONE, "055 11 91234-5678", "must start with +55");
    invalid(PIX_PHONE, "+1 415 555 0100", "must start with +55");
    invalid(PIX_PHONE, "+351 912 345 678", "must start with +55");
    invalid(PIX_PHONE, "", "must start with +55");
    invalid(PIX_PHONE, "+", "must start with +55");
    invalid(PIX_PHONE, "+5", "must start with +55");
    invalid(PIX_PHONE, "11 91234-5678 +55", "must start with +55");
    invalid(PIX_PHONE, "119123456781191234567811912345678", "must start with +55");
    invalid(PIX_PHONE, "+55", shape);
    invalid(PIX_PHONE, "+55+11912345678", shape);
    invalid(PIX_PHONE, "+5511+912345678", shape);
    invalid(PIX_PHONE, "+55 11 9123-456", shape);           /* 7 digits after the area code */
    invalid(PIX_PHONE, "+55 11 3234-567", shape);
    invalid(PIX_PHONE, "+55 11 91234-56789", shape);        /* 10 digits */
    invalid(PIX_PHONE, "+55 11 91234-5678 0000 0000", shape);
    invalid(PIX_PHONE, "+55.11.91234.5678", shape);
    invalid(PIX_PHONE, "+55 11 9123A-5678", shape);
    invalid(PIX_PHONE, "+55 11 91234/5678", shape);
    invalid(PIX_PHONE, "+55\t11912345678", shape);
    invalid(PIX_PHONE, "+55 (10) 3234-5678", "must have an area code from 11 to 99");
    invalid(PIX_PHONE, "+55 (01) 3234-5678", "must have an area code from 11 to 99");
    invalid(PIX_PHONE, "+55 (00) 91234-5678", "must have an area code from 11 to 99");
    invalid(PIX_PHONE, "+55 (011) 3234-5678", "must have an area code from 11 to 99");
    invalid(PIX_PHONE, "+55 (11) 81234-5678", "must be a mobile number starting with 9 when it has 9 digits");
    invalid(PIX_PHONE, "+55 (11) 31234-5678", "must be a mobile number starting with 9 when it has 9 digits");
    invalid(PIX_PHONE, "+55 (11) 01234-5678", "must be a mobile number starting with 9 when it has 9 digits");
}

/* Every length of digits after "+55": only 10 and 11 are keys. */
static void test_phone_lengths(void **state)
{
    (void)state;
    for (int n = 0; n <= 16; n++) {
        char key[32] = "+55";
        for (int i = 0; i < n; i++)
            key[3 + i] = i == 2 ? '9' : '1';
        key[3 + n] = '\0';
        if (n == 10 || n == 11)
            valid(PIX_PHONE, key, key);
        else
            invalid(PIX_PHONE, key, "*");
    }
}

/* ---- e-mail ------------------------------------------------------------------------------- */

static void test_email_valid(void **state)
{
    (void)state;
    valid(PIX_EMAIL, "jane.doe@example.com", "jane.doe@example.com");
    valid(PIX_EMAIL, "Jane.Doe@Example.COM", "jane.doe@example.com");
    valid(PIX_EMAIL, "  jane@example.com\t\n", "jane@example.com");
    valid(PIX_EMAIL, "a@b.co", "a@b.co");
    valid(PIX_EMAIL, "dr.silva+pix@clinica.med.br", "dr.silva+pix@clinica.med.br");
    valid(PIX_EMAIL, "o'neil@example.com", "o'neil@example.com");
}

static void test_email_invalid(void **state)
{
    (void)state;
    const char *bad = "must be a valid e-mail address";
    invalid(PIX_EMAIL, "", bad);
    invalid(PIX_EMAIL, "   ", bad);
    invalid(PIX_EMAIL, "jane.example.com", bad);
    invalid(PIX_EMAIL, "jane@@example.com", bad);
    invalid(PIX_EMAIL, "jane@doe@example.com", bad);
    invalid(PIX_EMAIL, "@example.com", bad);
    invalid(PIX_EMAIL, "jane@", bad);
    invalid(PIX_EMAIL, "jane@localhost", bad);
    invalid(PIX_EMAIL, "jane@example.", bad);
    invalid(PIX_EMAIL, "jane@.example.com", bad);
    invalid(PIX_EMAIL, "jane@example..com", bad);
    invalid(PIX_EMAIL, "jane <jane@example.com>", "must be an e-mail address in printable ASCII");
    invalid(PIX_EMAIL, "ja ne@example.com", "must be an e-mail address in printable ASCII");
    invalid(PIX_EMAIL, "jane\x01@example.com", "must be an e-mail address in printable ASCII");
    invalid(PIX_EMAIL, "jane\x7f@example.com", "must be an e-mail address in printable ASCII");
    invalid(PIX_EMAIL, "jos\xc3\xa9@example.com", "must be an e-mail address in printable ASCII");
    invalid(PIX_EMAIL, "jane@exampl\xc3\xa9.com", "must be an e-mail address in printable ASCII");
}

/* 77 characters is the longest key; surrounding white space does not count. */
static void test_email_length_boundary(void **state)
{
    (void)state;
    char key[256], local[80], domain[80], want[256];
    fill(local, sizeof local, 'a', 40);
    for (size_t len = 70; len <= 80; len++) {
        /* 40 + "@" + len - 45 + ".com" characters */
        snprintf(key, sizeof key, "%s@%s.com", local, fill(domain, sizeof domain, 'd', len - 45));
        assert_int_equal(strlen(key), len);
        if (len <= PIX_KEY_MAX)
            valid(PIX_EMAIL, key, key);
        else
            invalid(PIX_EMAIL, key, "must be at most 77 characters");
    }
    snprintf(key, sizeof key, "  %s@%s.COM\t ", fill(local, sizeof local, 'A', 40),
             fill(domain, sizeof domain, 'D', 32)); /* 77 + 4 white space */
    snprintf(want, sizeof want, "%s@%s.com", fill(local, sizeof local, 'a', 40), fill(domain, sizeof domain, 'd', 32));
    assert_int_equal(strlen(want), 77);
    valid(PIX_EMAIL, key, want);
    /* 77 + 1 is too long even in upper case. */
    snprintf(key, sizeof key, "%s@%s.COM", fill(local, sizeof local, 'A', 41), fill(domain, sizeof domain, 'D', 32));
    invalid(PIX_EMAIL, key, "must be at most 77 characters");
    /* The longest domain: "a@" + 75 characters. */
    snprintf(key, sizeof key, "a@%s.com", fill(local, sizeof local, 'd', 71));
    assert_int_equal(strlen(key), 77);
    valid(PIX_EMAIL, key, key);
    /* A 65-character local part fits 77 but valid_email() limits the local part to 64. */
    snprintf(key, sizeof key, "%s@ex.co", fill(local, sizeof local, 'a', 65));
    invalid(PIX_EMAIL, key, "must be a valid e-mail address");
}

/* ---- EVP ---------------------------------------------------------------------------------- */

static void test_evp_valid(void **state)
{
    (void)state;
    valid(PIX_EVP, "123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000");
    valid(PIX_EVP, "123E4567-E89B-12D3-A456-426614174000", "123e4567-e89b-12d3-a456-426614174000");
    valid(PIX_EVP, "AbCdEf01-2345-6789-aBcD-eF0123456789", "abcdef01-2345-6789-abcd-ef0123456789");
    valid(PIX_EVP, " 123e4567-e89b-12d3-a456-426614174000\n", "123e4567-e89b-12d3-a456-426614174000");
    valid(PIX_EVP, "00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000");
    valid(PIX_EVP, "ffffffff-ffff-ffff-ffff-ffffffffffff", "ffffffff-ffff-ffff-ffff-ffffffffffff");
}

static void test_evp_invalid(void **state)
{
    (void)state;
    const char *shape = "must be a UUID (8-4-4-4-12 hexadecimal digits)";
    invalid(PIX_EVP, "", shape);
    invalid(PIX_EVP, "123e4567-e89b-12d3-a456-42661417400", shape);    /* 35 */
    invalid(PIX_EVP, "123e4567-e89b-12d3-a456-4266141740000", shape);  /* 37 */
    invalid(PIX_EVP, "123e4567e89b12d3a456426614174000", shape);       /* no dashes */
    invalid(PIX_EVP, "123e4567-e89b-12d3-a456-42661417400g", shape);
    invalid(PIX_EVP, "123e456-7e89b-12d3-a456-426614174000", shape);   /* dash misplaced */
    invalid(PIX_EVP, "123e4567-e89b-12d3-a456_426614174000", shape);
    invalid(PIX_EVP, "123e4567-e89b-12d3-a456-42661417-000", shape);
    invalid(PIX_EVP, "{123e4567-e89b-12d3-a456-426614174000}", shape);
    invalid(PIX_EVP, "urn:uuid:123e4567-e89b-12d3-a456-426614174000", shape);
    invalid(PIX_EVP, "123e4567 e89b 12d3 a456 426614174000", shape);
    invalid(PIX_EVP, "123e4567-e89b-12d3-a456-4266 4174000", shape);
}

/* ---- caller errors, the input limit and the output buffer --------------------------------- */

static void test_normalize_caller_errors(void **state)
{
    (void)state;
    invalid(PIX_CPF, NULL, "is required");
    invalid(PIX_EMAIL, NULL, "is required");
    invalid((enum pix_key_type)0, "12345678909", "has an unknown PIX key type");
    invalid((enum pix_key_type)6, "12345678909", "has an unknown PIX key type");
    invalid((enum pix_key_type)-1, "12345678909", "has an unknown PIX key type");

    const char *small = "cannot be checked (output buffer too small)";
    assert_string_equal(pix_key_normalize(PIX_CPF, "12345678909", NULL, 100), small);
    char out[PIX_KEY_MAX + 2];
    memset(out, 'X', sizeof out);
    assert_string_equal(pix_key_normalize(PIX_CPF, "12345678909", out, PIX_KEY_MAX), small);
    assert_string_equal(out, "");
    memset(out, 'X', sizeof out);
    assert_string_equal(pix_key_normalize(PIX_CPF, "12345678909", out, 0), small);
    assert_int_equal(out[0], 'X');
    assert_null(pix_key_normalize(PIX_CPF, "12345678909", out, PIX_KEY_MAX + 1));
    assert_string_equal(out, "12345678909");
}

/* Nothing is written past cap bytes, the result is NUL-terminated, and a rejected key leaves "". */
static void test_normalize_output_bounds(void **state)
{
    (void)state;
    char buf[PIX_KEY_MAX + 1 + 16];
    char key[PIX_KEY_MAX + 1];
    snprintf(key, sizeof key, "%.40s@%.32s.com", fill((char[80]){0}, 80, 'z', 40), fill((char[80]){0}, 80, 'd', 32));
    memset(buf, '#', sizeof buf);
    assert_null(pix_key_normalize(PIX_EMAIL, key, buf, PIX_KEY_MAX + 1));
    assert_int_equal(strlen(buf), PIX_KEY_MAX);
    for (size_t i = PIX_KEY_MAX + 1; i < sizeof buf; i++)
        assert_int_equal(buf[i], '#');

    static const struct {
        enum pix_key_type t;
        const char *key;
    } rejected[] = {{PIX_CPF, "123.456.789-08"}, {PIX_CNPJ, "11.222.333/0001-82"},
                    {PIX_PHONE, "+55 11 81234-5678"}, {PIX_EMAIL, "jane@localhost"},
                    {PIX_EVP, "123e4567-e89b-12d3-a456-42661417400g"}};
    for (size_t i = 0; i < sizeof rejected / sizeof *rejected; i++) {
        memset(buf, '#', sizeof buf);
        assert_non_null(pix_key_normalize(rejected[i].t, rejected[i].key, buf, PIX_KEY_MAX + 1));
        assert_string_equal(buf, "");
        for (size_t j = PIX_KEY_MAX + 1; j < sizeof buf; j++)
            assert_int_equal(buf[j], '#');
    }
}

/* A C string ends at its first NUL: whatever follows is never read as part of the key. */
static void test_normalize_embedded_nul(void **state)
{
    (void)state;
    static const char cpf[] = "123.456.789-09\0" "99";
    valid(PIX_CPF, cpf, "12345678909");
    static const char cpf_short[] = "123.456.789-0\0" "9";
    invalid(PIX_CPF, cpf_short, "must be a CPF of 11 digits");
    static const char email[] = "jane@example.com\0@evil.com";
    valid(PIX_EMAIL, email, "jane@example.com");
    static const char phone[] = "+55 11 91234-5678\0" "0";
    valid(PIX_PHONE, phone, "+5511912345678");
}

/* Raw inputs are limited to PIX_KEY_INPUT_MAX bytes, however much of them is punctuation. */
static void test_normalize_input_limit(void **state)
{
    (void)state;
    char key[256], pad[PIX_KEY_INPUT_MAX + 64];
    /* CPF padded with spaces to exactly the limit, then one byte over. */
    snprintf(key, sizeof key, "%s12345678909", fill(pad, sizeof pad, ' ', PIX_KEY_INPUT_MAX - 11));
    assert_int_equal(strlen(key), PIX_KEY_INPUT_MAX);
    valid(PIX_CPF, key, "12345678909");
    snprintf(key, sizeof key, "%s12345678909", fill(pad, sizeof pad, ' ', PIX_KEY_INPUT_MAX - 10));
    invalid(PIX_CPF, key, "is too long");
    snprintf(key, sizeof key, "%s11222333000181", fill(pad, sizeof pad, '.', PIX_KEY_INPUT_MAX - 13));
    invalid(PIX_CNPJ, key, "is too long");
    snprintf(key, sizeof key, "+55%s11912345678", fill(pad, sizeof pad, '-', PIX_KEY_INPUT_MAX - 13));
    invalid(PIX_PHONE, key, "is too long");
    snprintf(key, sizeof key, "+55%s11912345678", fill(pad, sizeof pad, '-', PIX_KEY_INPUT_MAX - 14));
    valid(PIX_PHONE, key, "+5511912345678");
    snprintf(key, sizeof key, "%s123e4567-e89b-12d3-a456-426614174000", fill(pad, sizeof pad, ' ', 93));
    invalid(PIX_EVP, key, "is too long");
    snprintf(key, sizeof key, "%sjane@example.com", fill(pad, sizeof pad, ' ', PIX_KEY_INPUT_MAX - 16));
    valid(PIX_EMAIL, key, "jane@example.com");
    snprintf(key, sizeof key, "%sjane@example.com", fill(pad, sizeof pad, ' ', PIX_KEY_INPUT_MAX - 15));
    invalid(PIX_EMAIL, key, "must be at most 77 characters");

    /* A very long input of every type. */
    static char huge[1 << 16];
    memset(huge, '1', sizeof huge - 1);
    for (int t = PIX_CPF; t <= PIX_EVP; t++)
        invalid((enum pix_key_type)t, huge, t == PIX_EMAIL ? "must be at most 77 characters" : "is too long");
}

/* ---- masks -------------------------------------------------------------------------------- */

static void test_mask_each_type(void **state)
{
    (void)state;
    check_mask(PIX_CPF, "12345678909", "***.456.789-**");
    check_mask(PIX_CNPJ, "12ABC34501DE35", "12.***.***/****-35");
    check_mask(PIX_CNPJ, "11222333000181", "11.***.***/****-81");
    check_mask(PIX_PHONE, "+5511912345678", "+55 ** *****-5678");
    check_mask(PIX_PHONE, "+551132345678", "+55 ** ****-5678");
    check_mask(PIX_EMAIL, "jane.doe@example.com", "j***@example.com");
    check_mask(PIX_EMAIL, "a@b.co", "a***@b.co");
    check_mask(PIX_EVP, "123e4567-e89b-12d3-a456-426614174000", "123e****-****-****-****-********4000");
}

/* Normalising then masking: the usual way the two are used together. */
static void test_mask_after_normalize(void **state)
{
    (void)state;
    static const struct {
        enum pix_key_type t;
        const char *key, *mask;
    } rows[] = {
        {PIX_CPF, "529.982.247-25", "***.982.247-**"},
        {PIX_CNPJ, "12.abc.345/01de-35", "12.***.***/****-35"},
        {PIX_PHONE, "+55 (21) 98765-4321", "+55 ** *****-4321"},
        {PIX_PHONE, "+55 (61) 3333-4444", "+55 ** ****-4444"},
        {PIX_EMAIL, "  Dr.Silva@Clinica.Med.BR ", "d***@clinica.med.br"},
        {PIX_EVP, "ABCDEF01-2345-6789-ABCD-EF0123456789", "abcd****-****-****-****-********6789"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        char norm[PIX_KEY_MAX + 1];
        assert_null(pix_key_normalize(rows[i].t, rows[i].key, norm, sizeof norm));
        check_mask(rows[i].t, norm, rows[i].mask);
    }
}

/* The longest e-mail mask ("a***@" and a 75-character domain) is PIX_MASK_MAX characters. */
static void test_mask_longest(void **state)
{
    (void)state;
    char key[PIX_KEY_MAX + 1], want[PIX_MASK_MAX + 1], d[80];
    snprintf(key, sizeof key, "a@%.71s.com", fill(d, sizeof d, 'd', 71));
    assert_int_equal(strlen(key), PIX_KEY_MAX);
    snprintf(want, sizeof want, "a***@%.71s.com", d);
    assert_int_equal(strlen(want), PIX_MASK_MAX);
    check_mask(PIX_EMAIL, key, want);
}

/* Anything not in normalised form is masked entirely, so no character the rule hides can leak. */
static void test_mask_rejects_unnormalised(void **state)
{
    (void)state;
    check_mask(PIX_CPF, "123.456.789-09", "***");
    check_mask(PIX_CPF, "12345678908", "***");          /* bad check digit */
    check_mask(PIX_CPF, "1234567890", "***");
    check_mask(PIX_CNPJ, "12abc34501de35", "***");      /* lower-case is not normalised */
    check_mask(PIX_CNPJ, "11.222.333/0001-81", "***");
    check_mask(PIX_PHONE, "5511912345678", "***");
    check_mask(PIX_PHONE, "+55 11 91234-5678", "***");
    check_mask(PIX_EMAIL, "Jane@example.com", "***");
    check_mask(PIX_EMAIL, " jane@example.com", "***");
    check_mask(PIX_EMAIL, "jane", "***");
    check_mask(PIX_EVP, "123E4567-E89B-12D3-A456-426614174000", "***");
    check_mask(PIX_EVP, "", "***");
    check_mask(PIX_CPF, NULL, "***");
    check_mask((enum pix_key_type)0, "12345678909", "***");
    check_mask((enum pix_key_type)9, "jane@example.com", "***");
    check_mask(PIX_EMAIL, "12345678909", "***");        /* a key of another type */
    check_mask(PIX_CPF, "+5511912345678", "***");
}

/* A small buffer truncates (NUL-terminated, never past cap); cap 0 writes nothing. */
static void test_mask_small_buffer(void **state)
{
    (void)state;
    char out[32];
    memset(out, '#', sizeof out);
    pix_key_mask(PIX_CPF, "12345678909", out, 5);
    assert_string_equal(out, "***.");
    for (size_t i = 5; i < sizeof out; i++)
        assert_int_equal(out[i], '#');
    memset(out, '#', sizeof out);
    pix_key_mask(PIX_CPF, "12345678909", out, 1);
    assert_string_equal(out, "");
    assert_int_equal(out[1], '#');
    memset(out, '#', sizeof out);
    pix_key_mask(PIX_CPF, "12345678909", out, 0);
    assert_int_equal(out[0], '#');
    pix_key_mask(PIX_CPF, "12345678909", NULL, 0);
    memset(out, '#', sizeof out);
    pix_key_mask(PIX_CPF, "12345678909", out, 15); /* exactly the 14 characters and the NUL */
    assert_string_equal(out, "***.456.789-**");
    memset(out, '#', sizeof out);
    pix_key_mask(PIX_CPF, "123.456.789-09", out, 2);
    assert_string_equal(out, "*");
}

/* Over many random keys: the mask has a fixed shape and shows exactly the characters it should. */
static void test_mask_random_keys(void **state)
{
    (void)state;
    for (int n = 0; n < 500; n++) {
        char cpf[12], mask[PIX_MASK_MAX + 1], want[PIX_MASK_MAX + 1];
        do {
            for (int i = 0; i < 9; i++)
                cpf[i] = (char)('0' + rng() % 10);
            ref_cpf_complete(cpf);
        } while (strspn(cpf, (char[]){cpf[0], '\0'}) == 11);
        pix_key_mask(PIX_CPF, cpf, mask, sizeof mask);
        snprintf(want, sizeof want, "***.%.3s.%.3s-**", cpf + 3, cpf + 6);
        assert_string_equal(mask, want);

        char phone[16];
        bool mobile = n % 2;
        snprintf(phone, sizeof phone, "+55%02u%s%08u", (unsigned)(11 + rng() % 89), mobile ? "9" : "",
                 (unsigned)(rng() % 100000000u));
        pix_key_mask(PIX_PHONE, phone, mask, sizeof mask);
        snprintf(want, sizeof want, "+55 ** %s-%s", mobile ? "*****" : "****", phone + strlen(phone) - 4);
        assert_string_equal(mask, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_parse_and_name),
        cmocka_unit_test(test_type_parse_unknown),
        cmocka_unit_test(test_type_name_unknown),
        cmocka_unit_test(test_cpf_valid),
        cmocka_unit_test(test_cpf_invalid),
        cmocka_unit_test(test_cpf_against_oracle),
        cmocka_unit_test(test_cnpj_valid_numeric),
        cmocka_unit_test(test_cnpj_valid_alphanumeric),
        cmocka_unit_test(test_cnpj_invalid),
        cmocka_unit_test(test_cnpj_against_oracle),
        cmocka_unit_test(test_phone_valid),
        cmocka_unit_test(test_phone_invalid),
        cmocka_unit_test(test_phone_lengths),
        cmocka_unit_test(test_email_valid),
        cmocka_unit_test(test_email_invalid),
        cmocka_unit_test(test_email_length_boundary),
        cmocka_unit_test(test_evp_valid),
        cmocka_unit_test(test_evp_invalid),
        cmocka_unit_test(test_normalize_caller_errors),
        cmocka_unit_test(test_normalize_output_bounds),
        cmocka_unit_test(test_normalize_embedded_nul),
        cmocka_unit_test(test_normalize_input_limit),
        cmocka_unit_test(test_mask_each_type),
        cmocka_unit_test(test_mask_after_normalize),
        cmocka_unit_test(test_mask_longest),
        cmocka_unit_test(test_mask_rejects_unnormalised),
        cmocka_unit_test(test_mask_small_buffer),
        cmocka_unit_test(test_mask_random_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
