/* Unit tests for common/token.c: role_parse/role_name, token_keys_load, and signing and verifying
 * ES256 access tokens with in-process P-256 keys: round trips per role, expiry and iat checks,
 * foreign keys, "alg: none", HS256 signed with the public key, tampered payloads and signatures,
 * missing or wrong claims, and malformed input; and common/tokencache.c, which answers tokens already
 * verified (hits, expiry on a hit, failures never kept, its bound). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "token.h"
#include "tokencache.h"

static struct token_keys keys_a; /* the server's key pair */
static struct token_keys keys_b; /* somebody else's */
static const time_t NOW = 1750000000;

/* ---- fixtures ----------------------------------------------------------------------------- */

/* Copies a memory BIO's contents into a malloc'd NUL-terminated buffer. */
static unsigned char *bio_to_buffer(BIO *bio, size_t *len)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if (n <= 0)
        return NULL;
    unsigned char *buf = malloc((size_t)n + 1);
    if (!buf)
        return NULL;
    memcpy(buf, data, (size_t)n);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static bool make_key_pair(struct token_keys *k)
{
    memset(k, 0, sizeof *k);
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!pkey)
        return false;
    BIO *priv = BIO_new(BIO_s_mem());
    BIO *pub = BIO_new(BIO_s_mem());
    bool ok = priv && pub && PEM_write_bio_PrivateKey(priv, pkey, NULL, NULL, 0, NULL, NULL) == 1 &&
              PEM_write_bio_PUBKEY(pub, pkey) == 1 &&
              (k->private_pem = bio_to_buffer(priv, &k->private_len)) != NULL &&
              (k->public_pem = bio_to_buffer(pub, &k->public_len)) != NULL;
    BIO_free(priv);
    BIO_free(pub);
    EVP_PKEY_free(pkey);
    if (!ok)
        token_keys_free(k);
    return ok;
}

static int group_setup(void **state)
{
    (void)state;
    return make_key_pair(&keys_a) && make_key_pair(&keys_b) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    token_keys_free(&keys_a);
    token_keys_free(&keys_b);
    return 0;
}

static const char *result_name(enum token_result r)
{
    switch (r) {
    case TOKEN_OK: return "TOKEN_OK";
    case TOKEN_MALFORMED: return "TOKEN_MALFORMED";
    case TOKEN_BAD_SIGNATURE: return "TOKEN_BAD_SIGNATURE";
    case TOKEN_BAD_ALG: return "TOKEN_BAD_ALG";
    case TOKEN_EXPIRED: return "TOKEN_EXPIRED";
    case TOKEN_BAD_CLAIMS: return "TOKEN_BAD_CLAIMS";
    }
    return "(unknown result)";
}

/* Verifies with keys_a at now; a failure prints both result names. When the result is not
 * TOKEN_OK, checks that out was not written. */
static enum token_result verify(const char *token, time_t now, struct claims *out)
{
    struct claims sentinel;
    memset(&sentinel, 0xA5, sizeof sentinel);
    memcpy(out, &sentinel, sizeof sentinel);
    enum token_result r = token_verify_access(&keys_a, token, now, out);
    if (r != TOKEN_OK)
        assert_memory_equal(out, &sentinel, sizeof sentinel);
    return r;
}

static void expect_result(const char *token, time_t now, enum token_result want)
{
    struct claims out;
    assert_string_equal(result_name(verify(token, now, &out)), result_name(want));
}

static void expect_not_ok(const char *token, time_t now)
{
    struct claims out;
    assert_string_not_equal(result_name(verify(token, now, &out)), result_name(TOKEN_OK));
}

/* Signs arbitrary claims with libjwt (ES256, the given key). Consumes claims. */
static char *sign_json(const struct token_keys *k, json_t *claims)
{
    char *text = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);
    assert_non_null(text);
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_new(&jwt), 0);
    assert_int_equal(jwt_add_grants_json(jwt, text), 0);
    free(text);
    assert_int_equal(jwt_set_alg(jwt, JWT_ALG_ES256, k->private_pem, (int)k->private_len), 0);
    char *token = jwt_encode_str(jwt);
    jwt_free(jwt);
    assert_non_null(token);
    return token;
}

/* A complete, valid DOCTOR claim set issued at NOW. */
static json_t *doctor_claims(void)
{
    json_t *c = json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:s, s:s}", "sub", (json_int_t)5, "role", "DOCTOR",
                          "clinic_id", (json_int_t)3, "doctor_id", (json_int_t)11, "iat", (json_int_t)NOW, "exp",
                          (json_int_t)(NOW + 900), "jti", "0123456789abcdef0123456789abcdef", "typ", "access");
    assert_non_null(c);
    return c;
}

static char *sign_access(const struct token_keys *k, enum role role, int64_t sub, int64_t clinic, int64_t doctor,
                         int64_t patient, time_t now, long ttl, struct claims *c)
{
    memset(c, 0, sizeof *c);
    c->sub = sub;
    c->role = role;
    c->clinic_id = clinic;
    c->doctor_id = doctor;
    c->patient_id = patient;
    char *t = token_sign_access(k, c, now, ttl);
    assert_non_null(t);
    return t;
}

/* Splits "h.p.s" into its three segments (each malloc'd). */
static void split_token(const char *token, char **h, char **p, char **s)
{
    const char *d1 = strchr(token, '.');
    assert_non_null(d1);
    const char *d2 = strchr(d1 + 1, '.');
    assert_non_null(d2);
    *h = strndup(token, (size_t)(d1 - token));
    *p = strndup(d1 + 1, (size_t)(d2 - d1 - 1));
    *s = strdup(d2 + 1);
    assert_non_null(*h);
    assert_non_null(*p);
    assert_non_null(*s);
}

/* Decodes a base64url JSON segment. */
static json_t *decode_segment(const char *seg)
{
    unsigned char raw[4096];
    long n = crypto_b64url_decode(seg, raw, sizeof raw);
    assert_true(n > 0);
    json_error_t e;
    json_t *j = json_loadb((const char *)raw, (size_t)n, 0, &e);
    assert_non_null(j);
    return j;
}

/* base64url of a string, malloc'd. */
static char *encode_text(const char *text)
{
    size_t n = strlen(text);
    char *out = malloc(4 * (n / 3 + 1) + 1);
    assert_non_null(out);
    crypto_b64url((const unsigned char *)text, n, out);
    return out;
}

static char *join3(const char *a, const char *b, const char *c, bool final_dot)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
    char *out = malloc(n);
    assert_non_null(out);
    if (final_dot)
        snprintf(out, n, "%s.%s.%s", a, b, c);
    else
        snprintf(out, n, "%s.%s", a, b);
    return out;
}

/* ---- roles -------------------------------------------------------------------------------- */

static void test_role_round_trip(void **state)
{
    (void)state;
    static const struct {
        enum role r;
        const char *name;
    } roles[] = {{ROLE_ADMIN, "ADMIN"}, {ROLE_RECEPTIONIST, "RECEPTIONIST"}, {ROLE_DOCTOR, "DOCTOR"},
                 {ROLE_PATIENT, "PATIENT"}};
    for (size_t i = 0; i < sizeof roles / sizeof *roles; i++) {
        assert_string_equal(role_name(roles[i].r), roles[i].name);
        assert_int_equal(role_parse(roles[i].name), roles[i].r);
        assert_int_equal(role_parse(role_name(roles[i].r)), roles[i].r);
    }
    assert_int_equal(role_parse(NULL), 0);
    assert_int_equal(role_parse(""), 0);
    assert_int_equal(role_parse("admin"), 0);
    assert_int_equal(role_parse("Doctor"), 0);
    assert_int_equal(role_parse("ADMIN "), 0);
    assert_int_equal(role_parse("SUPERUSER"), 0);
    assert_string_equal(role_name((enum role)0), "UNKNOWN");
    assert_string_equal(role_name((enum role)3), "UNKNOWN");
    assert_string_equal(role_name((enum role)16), "UNKNOWN");
}

/* ---- key loading -------------------------------------------------------------------------- */

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void test_keys_load(void **state)
{
    (void)state;
    char dir[] = "/tmp/clinic-token-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char priv[128], pub[128], empty[128], missing[128];
    snprintf(priv, sizeof priv, "%s/private.pem", dir);
    snprintf(pub, sizeof pub, "%s/public.pem", dir);
    snprintf(empty, sizeof empty, "%s/empty.pem", dir);
    snprintf(missing, sizeof missing, "%s/missing.pem", dir);
    write_file(priv, keys_a.private_pem, keys_a.private_len);
    write_file(pub, keys_a.public_pem, keys_a.public_len);
    write_file(empty, "", 0);

    struct token_keys k;
    char err[256] = "";
    assert_true(token_keys_load(&k, priv, pub, err, sizeof err));
    assert_int_equal(k.private_len, keys_a.private_len);
    assert_int_equal(k.public_len, keys_a.public_len);
    assert_memory_equal(k.private_pem, keys_a.private_pem, keys_a.private_len);
    assert_memory_equal(k.public_pem, keys_a.public_pem, keys_a.public_len);
    assert_int_equal(k.private_pem[k.private_len], '\0');
    assert_int_equal(k.public_pem[k.public_len], '\0');

    /* loaded keys sign and verify */
    struct claims c, out;
    char *t = sign_access(&k, ROLE_ADMIN, 1, 0, 0, 0, NOW, 900, &c);
    assert_string_equal(result_name(token_verify_access(&k, t, NOW, &out)), result_name(TOKEN_OK));
    free(t);
    token_keys_free(&k);
    assert_null(k.private_pem);
    assert_null(k.public_pem);

    /* verify-only: no private key */
    assert_true(token_keys_load(&k, NULL, pub, err, sizeof err));
    assert_null(k.private_pem);
    assert_int_equal(k.private_len, 0);
    assert_memory_equal(k.public_pem, keys_a.public_pem, keys_a.public_len);
    token_keys_free(&k);

    /* missing public key file */
    memset(&k, 0x5A, sizeof k);
    assert_false(token_keys_load(&k, priv, missing, err, sizeof err));
    assert_non_null(strstr(err, "cannot open"));
    assert_non_null(strstr(err, missing));
    assert_null(k.private_pem); /* the private key already read was released */
    assert_null(k.public_pem);

    /* missing private key file */
    err[0] = '\0';
    assert_false(token_keys_load(&k, missing, pub, err, sizeof err));
    assert_non_null(strstr(err, missing));
    assert_null(k.private_pem);
    assert_null(k.public_pem);

    /* an empty file is not a key */
    err[0] = '\0';
    assert_false(token_keys_load(&k, NULL, empty, err, sizeof err));
    assert_non_null(strstr(err, empty));
    assert_null(k.public_pem);

    assert_int_equal(unlink(priv), 0);
    assert_int_equal(unlink(pub), 0);
    assert_int_equal(unlink(empty), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* ---- round trips -------------------------------------------------------------------------- */

static void check_round_trip(enum role role, int64_t sub, int64_t clinic, int64_t doctor, int64_t patient)
{
    struct claims c, out;
    char *t = sign_access(&keys_a, role, sub, clinic, doctor, patient, NOW, 900, &c);
    assert_int_equal(c.iat, NOW);
    assert_int_equal(c.exp, NOW + 900);
    assert_int_equal(strlen(c.jti), 32);
    assert_int_equal(strspn(c.jti, "0123456789abcdef"), 32);

    assert_string_equal(result_name(verify(t, NOW, &out)), result_name(TOKEN_OK));
    assert_int_equal(out.sub, sub);
    assert_int_equal(out.role, role);
    assert_int_equal(out.clinic_id, clinic);
    assert_int_equal(out.doctor_id, doctor);
    assert_int_equal(out.patient_id, patient);
    assert_int_equal(out.iat, NOW);
    assert_int_equal(out.exp, NOW + 900);
    assert_string_equal(out.jti, c.jti);

    /* the token itself: ES256 header, and exactly the claims the role needs */
    char *h, *p, *s;
    split_token(t, &h, &p, &s);
    json_t *hdr = decode_segment(h);
    assert_string_equal(json_string_value(json_object_get(hdr, "alg")), "ES256");
    json_t *pl = decode_segment(p);
    assert_string_equal(json_string_value(json_object_get(pl, "typ")), "access");
    assert_string_equal(json_string_value(json_object_get(pl, "role")), role_name(role));
    assert_int_equal(json_integer_value(json_object_get(pl, "sub")), sub);
    assert_int_equal(json_object_get(pl, "clinic_id") != NULL, clinic != 0);
    assert_int_equal(json_object_get(pl, "doctor_id") != NULL, doctor != 0);
    assert_int_equal(json_object_get(pl, "patient_id") != NULL, patient != 0);
    json_decref(hdr);
    json_decref(pl);
    free(h);
    free(p);
    free(s);
    free(t);
}

static void test_round_trip_admin(void **state)
{
    (void)state;
    check_round_trip(ROLE_ADMIN, 1, 0, 0, 0);
}

static void test_round_trip_receptionist(void **state)
{
    (void)state;
    check_round_trip(ROLE_RECEPTIONIST, 20, 7, 0, 0);
}

static void test_round_trip_doctor(void **state)
{
    (void)state;
    check_round_trip(ROLE_DOCTOR, 21, 7, 42, 0);
}

static void test_round_trip_patient(void **state)
{
    (void)state;
    check_round_trip(ROLE_PATIENT, 22, 7, 0, 99);
}

static void test_large_ids_round_trip(void **state)
{
    (void)state;
    check_round_trip(ROLE_PATIENT, 9007199254740993LL, 4294967297LL, 0, 2147483648LL);
}

static void test_jti_differs(void **state)
{
    (void)state;
    struct claims c1, c2;
    char *t1 = sign_access(&keys_a, ROLE_ADMIN, 1, 0, 0, 0, NOW, 900, &c1);
    char *t2 = sign_access(&keys_a, ROLE_ADMIN, 1, 0, 0, 0, NOW, 900, &c2);
    assert_string_not_equal(c1.jti, c2.jti);
    assert_string_not_equal(t1, t2);
    free(t1);
    free(t2);
}

static void test_sign_needs_private_key(void **state)
{
    (void)state;
    struct token_keys verify_only = {NULL, 0, keys_a.public_pem, keys_a.public_len, NULL};
    struct claims c = {.sub = 1, .role = ROLE_ADMIN};
    assert_null(token_sign_access(&verify_only, &c, NOW, 900));

    /* but a verify-only key set verifies */
    struct claims out;
    char *t = sign_access(&keys_a, ROLE_DOCTOR, 3, 4, 5, 0, NOW, 900, &c);
    assert_string_equal(result_name(token_verify_access(&verify_only, t, NOW, &out)), result_name(TOKEN_OK));
    assert_int_equal(out.doctor_id, 5);
    free(t);
}

/* ---- time --------------------------------------------------------------------------------- */

static void test_expired(void **state)
{
    (void)state;
    struct claims c;
    char *t = sign_access(&keys_a, ROLE_PATIENT, 22, 7, 0, 99, NOW - 1000, 900, &c);
    expect_result(t, NOW, TOKEN_EXPIRED);
    free(t);

    t = sign_access(&keys_a, ROLE_ADMIN, 1, 0, 0, 0, NOW, 900, &c);
    expect_result(t, NOW + 899, TOKEN_OK);
    expect_result(t, NOW + 900, TOKEN_EXPIRED); /* exp is exclusive */
    expect_result(t, NOW + 86400 * 365, TOKEN_EXPIRED);
    free(t);
}

static void test_iat_in_future(void **state)
{
    (void)state;
    struct claims c;
    char *t = sign_access(&keys_a, ROLE_ADMIN, 1, 0, 0, 0, NOW + 3600, 900, &c);
    expect_result(t, NOW, TOKEN_BAD_CLAIMS);
    free(t);

    t = sign_access(&keys_a, ROLE_ADMIN, 1, 0, 0, 0, NOW + 86400 * 365, 900, &c);
    expect_not_ok(t, NOW);
    free(t);

    /* a small clock difference is tolerated */
    t = sign_access(&keys_a, ROLE_ADMIN, 1, 0, 0, 0, NOW + 30, 900, &c);
    expect_result(t, NOW, TOKEN_OK);
    free(t);
}

/* ---- signatures and algorithms ------------------------------------------------------------ */

static void test_other_key_pair(void **state)
{
    (void)state;
    struct claims c;
    char *t = sign_access(&keys_b, ROLE_ADMIN, 1, 0, 0, 0, NOW, 900, &c);
    expect_result(t, NOW, TOKEN_BAD_SIGNATURE);
    free(t);
}

static void test_alg_none(void **state)
{
    (void)state;
    struct claims c;
    char *good = sign_access(&keys_a, ROLE_ADMIN, 1, 0, 0, 0, NOW, 900, &c);
    expect_result(good, NOW, TOKEN_OK);
    char *h, *p, *s;
    split_token(good, &h, &p, &s);

    static const char *const headers[] = {"{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"alg\":\"None\",\"typ\":\"JWT\"}",
                                          "{\"alg\":\"NONE\",\"typ\":\"JWT\"}", "{\"typ\":\"JWT\"}",
                                          "{\"alg\":null,\"typ\":\"JWT\"}"};
    for (size_t i = 0; i < sizeof headers / sizeof *headers; i++) {
        char *nh = encode_text(headers[i]);
        char *with_dot = join3(nh, p, "", true);
        char *without_dot = join3(nh, p, "", false);
        char *with_sig = join3(nh, p, s, true);
        expect_result(with_dot, NOW, TOKEN_BAD_ALG);
        expect_result(without_dot, NOW, TOKEN_MALFORMED);
        expect_result(with_sig, NOW, TOKEN_BAD_ALG);
        free(nh);
        free(with_dot);
        free(without_dot);
        free(with_sig);
    }
    free(h);
    free(p);
    free(s);
    free(good);
}

/* The classic key-confusion attack: HS256 keyed with the public key PEM. */
static void test_hs256_with_public_key(void **state)
{
    (void)state;
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_new(&jwt), 0);
    assert_int_equal(jwt_add_grant_int(jwt, "sub", 1), 0);
    assert_int_equal(jwt_add_grant(jwt, "role", "ADMIN"), 0);
    assert_int_equal(jwt_add_grant_int(jwt, "iat", (long)NOW), 0);
    assert_int_equal(jwt_add_grant_int(jwt, "exp", (long)NOW + 900), 0);
    assert_int_equal(jwt_add_grant(jwt, "jti", "0123456789abcdef0123456789abcdef"), 0);
    assert_int_equal(jwt_add_grant(jwt, "typ", "access"), 0);
    assert_int_equal(jwt_set_alg(jwt, JWT_ALG_HS256, keys_a.public_pem, (int)keys_a.public_len), 0);
    char *t = jwt_encode_str(jwt);
    jwt_free(jwt);
    assert_non_null(t);
    expect_result(t, NOW, TOKEN_BAD_ALG);

    /* the same HMAC under a header that claims ES256 */
    char *h, *p, *s;
    split_token(t, &h, &p, &s);
    char *es_header = encode_text("{\"alg\":\"ES256\",\"typ\":\"JWT\"}");
    char *signing_input = join3(es_header, p, "", false);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    assert_non_null(HMAC(EVP_sha256(), keys_a.public_pem, (int)keys_a.public_len,
                         (const unsigned char *)signing_input, strlen(signing_input), mac, &maclen));
    char sig[128];
    crypto_b64url(mac, maclen, sig);
    char *forged = join3(es_header, p, sig, true);
    expect_not_ok(forged, NOW);
    free(forged);
    free(signing_input);
    free(es_header);
    free(h);
    free(p);
    free(s);
    free(t);
}

static void test_other_algs_in_header(void **state)
{
    (void)state;
    struct claims c;
    char *good = sign_access(&keys_a, ROLE_ADMIN, 1, 0, 0, 0, NOW, 900, &c);
    char *h, *p, *s;
    split_token(good, &h, &p, &s);
    static const char *const headers[] = {"{\"alg\":\"ES384\",\"typ\":\"JWT\"}", "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
                                          "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"alg\":\"es256\",\"typ\":\"JWT\"}",
                                          "{\"alg\":\"ES256 \",\"typ\":\"JWT\"}", "{\"alg\":[\"ES256\"]}",
                                          "not json at all"};
    for (size_t i = 0; i < sizeof headers / sizeof *headers; i++) {
        char *nh = encode_text(headers[i]);
        char *t = join3(nh, p, s, true);
        expect_result(t, NOW, TOKEN_BAD_ALG);
        free(nh);
        free(t);
    }
    free(h);
    free(p);
    free(s);
    free(good);
}

static void test_tampered_payload(void **state)
{
    (void)state;
    struct claims c;
    char *good = sign_access(&keys_a, ROLE_PATIENT, 22, 7, 0, 99, NOW, 900, &c);
    char *h, *p, *s;
    split_token(good, &h, &p, &s);

    /* role raised to ADMIN, signature kept */
    json_t *pl = decode_segment(p);
    json_object_set_new(pl, "role", json_string("ADMIN"));
    char *text = json_dumps(pl, JSON_COMPACT);
    char *np = encode_text(text);
    char *t = join3(h, np, s, true);
    expect_result(t, NOW, TOKEN_BAD_SIGNATURE);
    free(t);
    free(np);
    free(text);

    /* another patient's id */
    json_object_set_new(pl, "role", json_string("PATIENT"));
    json_object_set_new(pl, "patient_id", json_integer(100));
    text = json_dumps(pl, JSON_COMPACT);
    np = encode_text(text);
    t = join3(h, np, s, true);
    expect_result(t, NOW, TOKEN_BAD_SIGNATURE);
    free(t);
    free(np);
    free(text);
    json_decref(pl);

    /* the payload of another valid token under this token's signature */
    char *other = sign_access(&keys_a, ROLE_ADMIN, 1, 0, 0, 0, NOW, 900, &c);
    char *oh, *op, *os;
    split_token(other, &oh, &op, &os);
    t = join3(h, op, s, true);
    expect_result(t, NOW, TOKEN_BAD_SIGNATURE);
    free(t);
    free(oh);
    free(op);
    free(os);
    free(other);

    free(h);
    free(p);
    free(s);
    free(good);
}

static void test_tampered_signature(void **state)
{
    (void)state;
    struct claims c;
    char *good = sign_access(&keys_a, ROLE_DOCTOR, 21, 7, 42, 0, NOW, 900, &c);
    char *h, *p, *s;
    split_token(good, &h, &p, &s);
    assert_int_equal(strlen(s), 86); /* 64 bytes r||s */

    char *sig = strdup(s);
    sig[10] = sig[10] == 'A' ? 'B' : 'A';
    char *t = join3(h, p, sig, true);
    expect_result(t, NOW, TOKEN_BAD_SIGNATURE);
    free(t);

    /* truncated signature, empty signature */
    sig[0] = '\0';
    strncat(sig, s, 40);
    t = join3(h, p, sig, true);
    expect_not_ok(t, NOW);
    free(t);
    t = join3(h, p, "", true);
    expect_not_ok(t, NOW);
    free(t);
    /* signature of all zero bytes */
    unsigned char zeros[64] = {0};
    char zsig[100];
    crypto_b64url(zeros, sizeof zeros, zsig);
    t = join3(h, p, zsig, true);
    expect_not_ok(t, NOW);
    free(t);

    free(sig);
    free(h);
    free(p);
    free(s);
    free(good);
}

/* ---- claims ------------------------------------------------------------------------------- */

static void test_custom_claims_baseline(void **state)
{
    (void)state;
    /* the helper's tokens are accepted as they are, so a rejection below is due to the change */
    char *t = sign_json(&keys_a, doctor_claims());
    struct claims out;
    assert_string_equal(result_name(verify(t, NOW, &out)), result_name(TOKEN_OK));
    assert_int_equal(out.sub, 5);
    assert_int_equal(out.role, ROLE_DOCTOR);
    assert_int_equal(out.clinic_id, 3);
    assert_int_equal(out.doctor_id, 11);
    assert_int_equal(out.patient_id, 0);
    assert_string_equal(out.jti, "0123456789abcdef0123456789abcdef");
    free(t);
}

/* Signs doctor_claims() with one key set to value (NULL removes it) and checks the result. */
static void check_claim_change(const char *key, json_t *value, enum token_result want)
{
    json_t *c = doctor_claims();
    if (value)
        json_object_set_new(c, key, value);
    else
        json_object_del(c, key);
    char *t = sign_json(&keys_a, c);
    char want_s[128], got_s[128];
    struct claims out;
    snprintf(want_s, sizeof want_s, "%s -> %s", key, result_name(want));
    snprintf(got_s, sizeof got_s, "%s -> %s", key, result_name(verify(t, NOW, &out)));
    assert_string_equal(got_s, want_s);
    free(t);
}

static void test_typ_must_be_access(void **state)
{
    (void)state;
    check_claim_change("typ", json_string("video"), TOKEN_BAD_CLAIMS);
    check_claim_change("typ", json_string("refresh"), TOKEN_BAD_CLAIMS);
    check_claim_change("typ", json_string("Access"), TOKEN_BAD_CLAIMS);
    check_claim_change("typ", json_string(""), TOKEN_BAD_CLAIMS);
    check_claim_change("typ", json_integer(1), TOKEN_BAD_CLAIMS);
    check_claim_change("typ", NULL, TOKEN_BAD_CLAIMS);
}

static void test_role_specific_ids(void **state)
{
    (void)state;
    /* DOCTOR without doctor_id, or with a non-positive or non-integer one */
    check_claim_change("doctor_id", NULL, TOKEN_BAD_CLAIMS);
    check_claim_change("doctor_id", json_integer(0), TOKEN_BAD_CLAIMS);
    check_claim_change("doctor_id", json_integer(-11), TOKEN_BAD_CLAIMS);
    check_claim_change("doctor_id", json_string("11"), TOKEN_BAD_CLAIMS);
    /* clinic staff need a clinic */
    check_claim_change("clinic_id", NULL, TOKEN_BAD_CLAIMS);
    check_claim_change("clinic_id", json_integer(0), TOKEN_BAD_CLAIMS);

    json_t *c = doctor_claims();
    json_object_set_new(c, "role", json_string("PATIENT"));
    json_object_del(c, "doctor_id");
    char *t = sign_json(&keys_a, c);
    expect_result(t, NOW, TOKEN_BAD_CLAIMS); /* PATIENT without patient_id */
    free(t);

    c = doctor_claims();
    json_object_set_new(c, "role", json_string("PATIENT"));
    json_object_del(c, "doctor_id");
    json_object_set_new(c, "patient_id", json_integer(8));
    t = sign_json(&keys_a, c);
    expect_result(t, NOW, TOKEN_OK);
    free(t);

    c = doctor_claims();
    json_object_set_new(c, "role", json_string("RECEPTIONIST"));
    json_object_del(c, "clinic_id");
    t = sign_json(&keys_a, c);
    expect_result(t, NOW, TOKEN_BAD_CLAIMS); /* RECEPTIONIST without clinic_id */
    free(t);

    c = doctor_claims();
    json_object_set_new(c, "role", json_string("ADMIN"));
    json_object_del(c, "clinic_id");
    json_object_del(c, "doctor_id");
    t = sign_json(&keys_a, c);
    struct claims out;
    assert_string_equal(result_name(verify(t, NOW, &out)), result_name(TOKEN_OK)); /* admins have no clinic */
    assert_int_equal(out.role, ROLE_ADMIN);
    assert_int_equal(out.clinic_id, 0);
    free(t);
}

static void test_required_claims(void **state)
{
    (void)state;
    check_claim_change("role", json_string("SUPERUSER"), TOKEN_BAD_CLAIMS);
    check_claim_change("role", json_string("doctor"), TOKEN_BAD_CLAIMS);
    check_claim_change("role", json_integer(4), TOKEN_BAD_CLAIMS);
    check_claim_change("role", NULL, TOKEN_BAD_CLAIMS);
    check_claim_change("sub", NULL, TOKEN_BAD_CLAIMS);
    check_claim_change("sub", json_integer(0), TOKEN_BAD_CLAIMS);
    check_claim_change("sub", json_integer(-5), TOKEN_BAD_CLAIMS);
    check_claim_change("sub", json_string("5"), TOKEN_BAD_CLAIMS);
    check_claim_change("iat", NULL, TOKEN_BAD_CLAIMS);
    check_claim_change("exp", NULL, TOKEN_BAD_CLAIMS);
    check_claim_change("jti", NULL, TOKEN_BAD_CLAIMS);
    check_claim_change("jti", json_string("0123456789abcdef0123456789abcdef0"), TOKEN_BAD_CLAIMS); /* 33 */
    check_claim_change("jti", json_string("short"), TOKEN_OK);
    check_claim_change("exp", json_integer((json_int_t)NOW - 1), TOKEN_EXPIRED);
    check_claim_change("iat", json_integer((json_int_t)NOW + 61), TOKEN_BAD_CLAIMS);
    check_claim_change("iat", json_integer((json_int_t)NOW + 60), TOKEN_OK);
}

/* Numeric claims of another JSON type are as bad as missing ones. Every case is run and the
 * whole table compared at once, so a failure lists each claim with the result it got. */
static void test_non_integer_claims_rejected(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        const char *json;
    } cases[] = {
        {"iat", "\"1750000000\""}, {"iat", "1750000000.0"}, {"iat", "true"},      {"iat", "null"},
        {"exp", "\"1750000900\""}, {"exp", "1750000900.0"}, {"exp", "[1750000900]"}, {"sub", "\"5\""},
        {"doctor_id", "\"11\""},  {"clinic_id", "3.0"},
    };
    char got[1024] = "", want[1024] = "";
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *c = doctor_claims();
        json_object_set_new(c, cases[i].key, json_loads(cases[i].json, JSON_DECODE_ANY, NULL));
        char *t = sign_json(&keys_a, c);
        struct claims out;
        size_t g = strlen(got), w = strlen(want);
        snprintf(got + g, sizeof got - g, "%s=%s -> %s\n", cases[i].key, cases[i].json,
                 result_name(verify(t, NOW, &out)));
        snprintf(want + w, sizeof want - w, "%s=%s -> %s\n", cases[i].key, cases[i].json,
                 result_name(TOKEN_BAD_CLAIMS));
        free(t);
    }
    assert_string_equal(got, want);
}

/* ---- malformed input ---------------------------------------------------------------------- */

static void test_malformed(void **state)
{
    (void)state;
    expect_result("", NOW, TOKEN_MALFORMED);
    expect_result("garbage", NOW, TOKEN_MALFORMED);
    expect_result("a.b", NOW, TOKEN_MALFORMED);
    expect_result("a.b.c.d", NOW, TOKEN_MALFORMED);
    expect_result("...", NOW, TOKEN_MALFORMED);
    expect_not_ok("..", NOW);
    expect_not_ok("a.b.c", NOW);
    expect_not_ok("\x01\x02.\x03.\x04", NOW);
    expect_not_ok("\xff\xfe\xfd.\xfc.\xfb", NOW);
    expect_not_ok("eyJhbGciOiJFUzI1NiJ9..", NOW);           /* {"alg":"ES256"} and nothing else */
    expect_not_ok("eyJhbGciOiJFUzI1NiJ9.e30.", NOW);        /* empty payload {} */
    expect_not_ok("eyJhbGciOiJFUzI1NiJ9.e30.AAAA", NOW);
    expect_not_ok("eyJhbGciOiJFUzI1NiJ9.!!!!.AAAA", NOW);
    expect_not_ok("Bearer eyJhbGciOiJFUzI1NiJ9.e30.AAAA", NOW);

    char big[5001];
    memset(big, 'a', 5000);
    big[5000] = '\0';
    expect_result(big, NOW, TOKEN_MALFORMED);
    big[100] = '.';
    big[200] = '.';
    expect_result(big, NOW, TOKEN_MALFORMED);

    /* a valid token with something put in front or an extra segment */
    struct claims c;
    char *good = sign_access(&keys_a, ROLE_ADMIN, 1, 0, 0, 0, NOW, 900, &c);
    size_t n = strlen(good);
    char *mod = malloc(n + 3);
    assert_non_null(mod);
    snprintf(mod, n + 3, "%s.", good);
    expect_result(mod, NOW, TOKEN_MALFORMED);
    snprintf(mod, n + 3, " %s", good);
    expect_not_ok(mod, NOW);
    snprintf(mod, n + 3, "\t%s", good);
    expect_not_ok(mod, NOW);
    snprintf(mod, n + 3, "%sA", good);
    expect_not_ok(mod, NOW);
    free(mod);
    free(good);
}

/* A compact JWS is exactly three base64url segments without padding or white space (RFC 7515
 * sections 2 and 7.1), so an issued token with characters appended is a different string that
 * must not verify. Every case is run and the whole table compared at once. */
static void test_trailing_characters_rejected(void **state)
{
    (void)state;
    static const struct {
        const char *suffix, *label;
    } suffixes[] = {{" ", "space"}, {"\n", "LF"}, {"\r\n", "CRLF"}, {"=", "\"=\""}, {"==", "\"==\""},
                    {" x", "\" x\""}};
    struct claims c;
    char *good = sign_access(&keys_a, ROLE_ADMIN, 1, 0, 0, 0, NOW, 900, &c);
    expect_result(good, NOW, TOKEN_OK);
    char got[512] = "", want[512] = "";
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        size_t n = strlen(good) + strlen(suffixes[i].suffix) + 1;
        char *mod = malloc(n);
        assert_non_null(mod);
        snprintf(mod, n, "%s%s", good, suffixes[i].suffix);
        struct claims out;
        enum token_result r = verify(mod, NOW, &out);
        size_t g = strlen(got), w = strlen(want);
        snprintf(got + g, sizeof got - g, "token + %s -> %s\n", suffixes[i].label, result_name(r));
        snprintf(want + w, sizeof want - w, "token + %s -> %s\n", suffixes[i].label,
                 r == TOKEN_OK ? "(any rejection)" : result_name(r));
        free(mod);
    }
    free(good);
    assert_string_equal(got, want);
}

/* Video join tokens: a round trip for the doctor and for an invited patient without an account; an
 * access token is not a video token and the reverse; the session, the role and the clinic are
 * required; exp and the signature are checked as for access tokens. */
static void test_video_tokens(void **state)
{
    (void)state;
    struct video_claims c = {.sub = 7, .vsid = 42, .clinic_id = 3};
    snprintf(c.vrole, sizeof c.vrole, "doctor");
    char *t = token_sign_video(&keys_a, &c, NOW, NOW + 600);
    assert_non_null(t);
    struct video_claims out;
    assert_int_equal(token_verify_video(&keys_a, t, NOW, &out), TOKEN_OK);
    assert_int_equal(out.sub, 7);
    assert_int_equal(out.vsid, 42);
    assert_int_equal(out.clinic_id, 3);
    assert_string_equal(out.vrole, "doctor");
    assert_int_equal(out.exp, NOW + 600);
    assert_int_equal(token_verify_video(&keys_a, t, NOW + 600, &out), TOKEN_EXPIRED);
    assert_int_equal(token_verify_video(&keys_b, t, NOW, &out), TOKEN_BAD_SIGNATURE);
    struct claims ac;
    assert_int_equal(token_verify_access(&keys_a, t, NOW, &ac), TOKEN_BAD_CLAIMS);
    free(t);

    struct video_claims guest = {.sub = 0, .vsid = 9, .clinic_id = 1};
    snprintf(guest.vrole, sizeof guest.vrole, "patient");
    t = token_sign_video(&keys_a, &guest, NOW, NOW + 60);
    assert_non_null(t);
    assert_int_equal(token_verify_video(&keys_a, t, NOW, &out), TOKEN_OK);
    assert_int_equal(out.sub, 0);
    assert_string_equal(out.vrole, "patient");
    free(t);

    /* refused at signing: another role, an expiry not after now */
    struct video_claims bad = guest;
    snprintf(bad.vrole, sizeof bad.vrole, "admin");
    assert_null(token_sign_video(&keys_a, &bad, NOW, NOW + 60));
    assert_null(token_sign_video(&keys_a, &guest, NOW, NOW));

    /* an access token is refused as a video token */
    struct claims dc;
    t = sign_access(&keys_a, ROLE_DOCTOR, 5, 3, 11, 0, NOW, 900, &dc);
    assert_int_equal(token_verify_video(&keys_a, t, NOW, &out), TOKEN_BAD_CLAIMS);
    free(t);

    /* required claims; a doctor needs sub; a string sub is refused */
    static const char *const drop[] = {"vsid", "vrole", "clinic_id", "jti", "exp", "iat"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++) {
        json_t *claims = json_pack("{s:I, s:s, s:I, s:I, s:I, s:s, s:s}", "vsid", (json_int_t)4, "vrole", "patient",
                                   "clinic_id", (json_int_t)2, "iat", (json_int_t)NOW, "exp", (json_int_t)(NOW + 60),
                                   "jti", "0123456789abcdef0123456789abcdef", "typ", "video");
        json_object_del(claims, drop[i]);
        t = sign_json(&keys_a, claims);
        assert_int_equal(token_verify_video(&keys_a, t, NOW, &out), TOKEN_BAD_CLAIMS);
        free(t);
    }
    t = sign_json(&keys_a, json_pack("{s:I, s:s, s:I, s:I, s:I, s:s, s:s}", "vsid", (json_int_t)4, "vrole", "doctor",
                                     "clinic_id", (json_int_t)2, "iat", (json_int_t)NOW, "exp", (json_int_t)(NOW + 60),
                                     "jti", "0123456789abcdef0123456789abcdef", "typ", "video"));
    assert_int_equal(token_verify_video(&keys_a, t, NOW, &out), TOKEN_BAD_CLAIMS);
    free(t);
    t = sign_json(&keys_a, json_pack("{s:s, s:I, s:s, s:I, s:I, s:I, s:s, s:s}", "sub", "7", "vsid", (json_int_t)4,
                                     "vrole", "patient", "clinic_id", (json_int_t)2, "iat", (json_int_t)NOW, "exp",
                                     (json_int_t)(NOW + 60), "jti", "0123456789abcdef0123456789abcdef", "typ", "video"));
    assert_int_equal(token_verify_video(&keys_a, t, NOW, &out), TOKEN_BAD_CLAIMS);
    free(t);
}

/* ---- tokencache ---------------------------------------------------------------------------- */

static void test_tokencache_hits_and_expiry(void **state)
{
    (void)state;
    struct tokencache *tc = tokencache_new(8);
    struct claims c, out;
    char *t = sign_access(&keys_a, ROLE_DOCTOR, 41, 3, 9, 0, NOW, 900, &c);
    assert_int_equal(tokencache_verify_access(tc, &keys_a, t, NOW, &out), TOKEN_OK);
    assert_int_equal(tokencache_count(tc), 1);
    memset(&out, 0, sizeof out);
    assert_int_equal(tokencache_verify_access(tc, &keys_a, t, NOW + 899, &out), TOKEN_OK);
    assert_int_equal(tokencache_count(tc), 1);
    assert_int_equal(out.sub, 41);
    assert_int_equal(out.role, ROLE_DOCTOR);
    assert_int_equal(out.doctor_id, 9);
    assert_int_equal(out.exp, NOW + 900);
    assert_string_equal(out.jti, c.jti);
    /* a hit is still refused once the token expired */
    assert_int_equal(tokencache_verify_access(tc, &keys_a, t, NOW + 900, &out), TOKEN_EXPIRED);
    /* a token that fails is never kept: one byte changed in the signature */
    char *bad = strdup(t);
    size_t n = strlen(bad);
    bad[n - 2] = bad[n - 2] == 'A' ? 'B' : 'A';
    for (int i = 0; i < 2; i++)
        assert_int_not_equal(tokencache_verify_access(tc, &keys_a, bad, NOW, &out), TOKEN_OK);
    assert_int_equal(tokencache_count(tc), 1);
    /* nor is a token signed with another key */
    char *foreign = sign_access(&keys_b, ROLE_DOCTOR, 41, 3, 9, 0, NOW, 900, &c);
    assert_int_equal(tokencache_verify_access(tc, &keys_a, foreign, NOW, &out), TOKEN_BAD_SIGNATURE);
    assert_int_equal(tokencache_count(tc), 1);
    free(foreign);
    free(bad);
    free(t);
    tokencache_free(tc);
}

static void test_tokencache_bounded(void **state)
{
    (void)state;
    struct tokencache *tc = tokencache_new(8);
    assert_int_equal(tokencache_capacity(tc), 8);
    char *tokens[20];
    struct claims c, out;
    for (int i = 0; i < 20; i++) {
        tokens[i] = sign_access(&keys_a, ROLE_ADMIN, i + 1, 0, 0, 0, NOW, 900, &c);
        assert_int_equal(tokencache_verify_access(tc, &keys_a, tokens[i], NOW, &out), TOKEN_OK);
        assert_true(tokencache_count(tc) <= 8);
    }
    for (int i = 0; i < 20; i++) { /* evicted or not, each still verifies, as itself */
        assert_int_equal(tokencache_verify_access(tc, &keys_a, tokens[i], NOW, &out), TOKEN_OK);
        assert_int_equal(out.sub, i + 1);
        free(tokens[i]);
    }
    tokencache_free(tc);
    /* no cache at all: every token verified */
    struct tokencache *none = tokencache_new(0);
    char *t = sign_access(&keys_a, ROLE_ADMIN, 1, 0, 0, 0, NOW, 900, &c);
    assert_int_equal(tokencache_verify_access(none, &keys_a, t, NOW, &out), TOKEN_OK);
    assert_int_equal(tokencache_verify_access(NULL, &keys_a, t, NOW, &out), TOKEN_OK);
    assert_int_equal(tokencache_count(none), 0);
    free(t);
    tokencache_free(none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_role_round_trip),
        cmocka_unit_test(test_keys_load),
        cmocka_unit_test(test_round_trip_admin),
        cmocka_unit_test(test_round_trip_receptionist),
        cmocka_unit_test(test_round_trip_doctor),
        cmocka_unit_test(test_round_trip_patient),
        cmocka_unit_test(test_large_ids_round_trip),
        cmocka_unit_test(test_jti_differs),
        cmocka_unit_test(test_sign_needs_private_key),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_iat_in_future),
        cmocka_unit_test(test_other_key_pair),
        cmocka_unit_test(test_alg_none),
        cmocka_unit_test(test_hs256_with_public_key),
        cmocka_unit_test(test_other_algs_in_header),
        cmocka_unit_test(test_tampered_payload),
        cmocka_unit_test(test_tampered_signature),
        cmocka_unit_test(test_custom_claims_baseline),
        cmocka_unit_test(test_typ_must_be_access),
        cmocka_unit_test(test_role_specific_ids),
        cmocka_unit_test(test_required_claims),
        cmocka_unit_test(test_non_integer_claims_rejected),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_trailing_characters_rejected),
        cmocka_unit_test(test_video_tokens),
        cmocka_unit_test(test_tokencache_hits_and_expiry),
        cmocka_unit_test(test_tokencache_bounded),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
