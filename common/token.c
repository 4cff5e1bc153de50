/* token: see token.h. */
#include "token.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "fileio.h"

#define TOKEN_MAX_LEN 4096
#define CLOCK_SKEW 60

enum role role_parse(const char *s)
{
    if (!s)
        return 0;
    if (strcmp(s, "ADMIN") == 0)
        return ROLE_ADMIN;
    if (strcmp(s, "RECEPTIONIST") == 0)
        return ROLE_RECEPTIONIST;
    if (strcmp(s, "DOCTOR") == 0)
        return ROLE_DOCTOR;
    if (strcmp(s, "PATIENT") == 0)
        return ROLE_PATIENT;
    return 0;
}

const char *role_name(enum role r)
{
    switch (r) {
    case ROLE_ADMIN: return "ADMIN";
    case ROLE_RECEPTIONIST: return "RECEPTIONIST";
    case ROLE_DOCTOR: return "DOCTOR";
    case ROLE_PATIENT: return "PATIENT";
    }
    return "UNKNOWN";
}

/* Reads a key file (at most 1 MiB), with a message in err on failure. */
static unsigned char *read_key(const char *path, size_t *len, char *err, size_t errlen)
{
    char *buf = file_read_all(path, 1 << 20, len);
    if (!buf)
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    else if (*len == 0) {
        snprintf(err, errlen, "cannot read %s: the file is empty", path);
        free(buf);
        buf = NULL;
    }
    return (unsigned char *)buf;
}

/* Parses a PEM public key; returns it (caller EVP_PKEY_free()s) when it is an EC P-256 key. */
static EVP_PKEY *parse_p256_public(const unsigned char *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (pkey && (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC || EVP_PKEY_get_bits(pkey) != 256)) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    return pkey;
}

bool token_keys_load(struct token_keys *k, const char *private_path, const char *public_path, char *err,
                     size_t errlen)
{
    memset(k, 0, sizeof *k);
    if (private_path && !(k->private_pem = read_key(private_path, &k->private_len, err, errlen)))
        return false;
    if (!(k->public_pem = read_key(public_path, &k->public_len, err, errlen))) {
        token_keys_free(k);
        return false;
    }
    if (!(k->verify_key = parse_p256_public(k->public_pem, k->public_len))) {
        snprintf(err, errlen, "%s is not a PEM EC P-256 public key (ES256)", public_path);
        token_keys_free(k);
        return false;
    }
    return true;
}

void token_keys_free(struct token_keys *k)
{
    EVP_PKEY_free(k->verify_key);
    free(k->private_pem);
    free(k->public_pem);
    memset(k, 0, sizeof *k);
}

char *token_sign_access(const struct token_keys *k, struct claims *c, time_t now, long ttl)
{
    jwt_t *jwt = NULL;
    char *out = NULL;
    if (!k->private_pem || !crypto_random_hex16(c->jti) || jwt_new(&jwt) != 0)
        return NULL;
    c->iat = now;
    c->exp = now + ttl;
    int rc = jwt_add_grant_int(jwt, "sub", (long)c->sub);
    rc |= jwt_add_grant(jwt, "role", role_name(c->role));
    if (c->clinic_id)
        rc |= jwt_add_grant_int(jwt, "clinic_id", (long)c->clinic_id);
    if (c->doctor_id)
        rc |= jwt_add_grant_int(jwt, "doctor_id", (long)c->doctor_id);
    if (c->patient_id)
        rc |= jwt_add_grant_int(jwt, "patient_id", (long)c->patient_id);
    rc |= jwt_add_grant_int(jwt, "iat", (long)c->iat);
    rc |= jwt_add_grant_int(jwt, "exp", (long)c->exp);
    rc |= jwt_add_grant(jwt, "jti", c->jti);
    rc |= jwt_add_grant(jwt, "typ", "access");
    rc |= jwt_set_alg(jwt, JWT_ALG_ES256, k->private_pem, (int)k->private_len);
    if (rc == 0)
        out = jwt_encode_str(jwt);
    jwt_free(jwt);
    return out;
}

/* Checks that the header segment names exactly ES256 before libjwt sees the token. */
static bool header_alg_is_es256(const char *token)
{
    const char *dot = strchr(token, '.');
    if (!dot || dot == token || dot - token > 512)
        return false;
    char seg[513];
    unsigned char raw[400];
    memcpy(seg, token, (size_t)(dot - token));
    seg[dot - token] = '\0';
    long n = crypto_b64url_decode(seg, raw, sizeof raw);
    if (n <= 0)
        return false;
    json_t *h = json_loadb((const char *)raw, (size_t)n, 0, NULL);
    const char *alg = json_string_value(json_object_get(h, "alg"));
    bool ok = alg && strcmp(alg, "ES256") == 0;
    json_decref(h);
    return ok;
}

/* Reads an integer claim; returns false when it is missing or not a JSON integer (libjwt 1.10
 * reads a string or a float as 0 without saying so). */
static bool grant_int(jwt_t *jwt, const char *name, long *out)
{
    char *text = jwt_get_grants_json(jwt, name);
    if (!text)
        return false;
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    free(text);
    bool ok = json_is_integer(v);
    if (ok)
        *out = (long)json_integer_value(v);
    json_decref(v);
    return ok;
}

/* Verifies the ES256 signature of a compact JWS: the third segment is r||s (32 bytes each) over
 * SHA-256 of "header.payload". */
static bool es256_signature_valid(const struct token_keys *k, const char *token)
{
    const char *last = strrchr(token, '.');
    size_t siglen = strlen(last + 1);
    if (siglen != 86) /* base64url of 64 bytes */
        return false;
    unsigned char raw[66];
    if (crypto_b64url_decode(last + 1, raw, sizeof raw) != 64)
        return false;

    EVP_PKEY *owned = NULL;
    EVP_PKEY *pkey = k->verify_key;
    if (!pkey && !(pkey = owned = parse_p256_public(k->public_pem, k->public_len)))
        return false;
    bool ok = false;
    unsigned char *der = NULL;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (sig && r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
        r = s = NULL; /* owned by sig now */
        int derlen = i2d_ECDSA_SIG(sig, &der);
        ok = derlen > 0 && md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
             EVP_DigestVerify(md, der, (size_t)derlen, (const unsigned char *)token, (size_t)(last - token)) == 1;
    }
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    EVP_PKEY_free(owned);
    return ok;
}

/* The checks every token passes before its claims are read: compact JWS syntax, ES256 pinned from
 * the header, the signature. On TOKEN_OK *out holds the parsed token (caller jwt_free()s). */
static enum token_result token_open(const struct token_keys *k, const char *token, jwt_t **out)
{
    *out = NULL;
    size_t len = strnlen(token, TOKEN_MAX_LEN + 1);
    if (len == 0 || len > TOKEN_MAX_LEN)
        return TOKEN_MALFORMED;
    int dots = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = token[i];
        if (ch == '.')
            dots++;
        else if (!isalnum((unsigned char)ch) && ch != '-' && ch != '_')
            return TOKEN_MALFORMED; /* compact JWS is base64url and dots only: no padding, no spaces */
    }
    if (dots != 2)
        return TOKEN_MALFORMED;
    if (!header_alg_is_es256(token))
        return TOKEN_BAD_ALG;
    if (!es256_signature_valid(k, token))
        return TOKEN_BAD_SIGNATURE;
    /* The signature is verified: libjwt only parses the claims. The algorithm was pinned from the
     * header before the signature check (ES256 only); a token decoded without a key reports no
     * algorithm of its own here. */
    if (jwt_decode(out, token, NULL, 0) != 0 || !*out)
        return TOKEN_MALFORMED;
    return TOKEN_OK;
}

/* The claims every token carries: typ (must be want), iat, exp (checked against now), jti. */
static enum token_result common_claims(jwt_t *jwt, const char *want, time_t now, time_t *iat_out, time_t *exp_out,
                                       char jti_out[33])
{
    long iat, exp;
    const char *typ = jwt_get_grant(jwt, "typ");
    const char *jti = jwt_get_grant(jwt, "jti");
    if (!typ || strcmp(typ, want) != 0 || !grant_int(jwt, "iat", &iat) || !grant_int(jwt, "exp", &exp) || !jti ||
        strlen(jti) > 32)
        return TOKEN_BAD_CLAIMS;
    if ((time_t)exp <= now)
        return TOKEN_EXPIRED;
    if ((time_t)iat > now + CLOCK_SKEW)
        return TOKEN_BAD_CLAIMS;
    *iat_out = (time_t)iat;
    *exp_out = (time_t)exp;
    snprintf(jti_out, 33, "%s", jti);
    return TOKEN_OK;
}

enum token_result token_verify_access(const struct token_keys *k, const char *token, time_t now,
                                      struct claims *out)
{
    jwt_t *jwt;
    enum token_result res = token_open(k, token, &jwt);
    if (res != TOKEN_OK)
        return res;
    struct claims c;
    memset(&c, 0, sizeof c);
    long sub, v;
    res = TOKEN_BAD_CLAIMS;
    const char *typ = jwt_get_grant(jwt, "typ");
    if (!typ || strcmp(typ, "access") != 0 || !grant_int(jwt, "sub", &sub) || sub <= 0 ||
        !(c.role = role_parse(jwt_get_grant(jwt, "role"))))
        goto out;
    if ((res = common_claims(jwt, "access", now, &c.iat, &c.exp, c.jti)) != TOKEN_OK)
        goto out;
    res = TOKEN_BAD_CLAIMS;
    c.sub = sub;
    if (grant_int(jwt, "clinic_id", &v))
        c.clinic_id = v;
    if (grant_int(jwt, "doctor_id", &v))
        c.doctor_id = v;
    if (grant_int(jwt, "patient_id", &v))
        c.patient_id = v;
    if ((c.role == ROLE_RECEPTIONIST || c.role == ROLE_DOCTOR || c.role == ROLE_PATIENT) && c.clinic_id <= 0)
        goto out;
    if ((c.role == ROLE_DOCTOR && c.doctor_id <= 0) || (c.role == ROLE_PATIENT && c.patient_id <= 0))
        goto out;
    *out = c;
    res = TOKEN_OK;
out:
    jwt_free(jwt);
    return res;
}

char *token_sign_video(const struct token_keys *k, struct video_claims *c, time_t now, time_t exp)
{
    jwt_t *jwt = NULL;
    char *out = NULL;
    if (!k->private_pem || exp <= now || (strcmp(c->vrole, "doctor") != 0 && strcmp(c->vrole, "patient") != 0) ||
        !crypto_random_hex16(c->jti) || jwt_new(&jwt) != 0)
        return NULL;
    c->iat = now;
    c->exp = exp;
    int rc = 0;
    if (c->sub > 0)
        rc |= jwt_add_grant_int(jwt, "sub", (long)c->sub);
    rc |= jwt_add_grant_int(jwt, "vsid", (long)c->vsid);
    rc |= jwt_add_grant(jwt, "vrole", c->vrole);
    rc |= jwt_add_grant_int(jwt, "clinic_id", (long)c->clinic_id);
    rc |= jwt_add_grant_int(jwt, "iat", (long)c->iat);
    rc |= jwt_add_grant_int(jwt, "exp", (long)c->exp);
    rc |= jwt_add_grant(jwt, "jti", c->jti);
    rc |= jwt_add_grant(jwt, "typ", "video");
    rc |= jwt_set_alg(jwt, JWT_ALG_ES256, k->private_pem, (int)k->private_len);
    if (rc == 0)
        out = jwt_encode_str(jwt);
    jwt_free(jwt);
    return out;
}

enum token_result token_verify_video(const struct token_keys *k, const char *token, time_t now,
                                     struct video_claims *out)
{
    jwt_t *jwt;
    enum token_result res = token_open(k, token, &jwt);
    if (res != TOKEN_OK)
        return res;
    struct video_claims c;
    memset(&c, 0, sizeof c);
    long v;
    if ((res = common_claims(jwt, "video", now, &c.iat, &c.exp, c.jti)) != TOKEN_OK)
        goto out;
    res = TOKEN_BAD_CLAIMS;
    const char *vrole = jwt_get_grant(jwt, "vrole");
    if (!vrole || (strcmp(vrole, "doctor") != 0 && strcmp(vrole, "patient") != 0))
        goto out;
    snprintf(c.vrole, sizeof c.vrole, "%s", vrole);
    if (!grant_int(jwt, "vsid", &v) || v <= 0)
        goto out;
    c.vsid = v;
    if (!grant_int(jwt, "clinic_id", &v) || v <= 0)
        goto out;
    c.clinic_id = v;
    char *sub = jwt_get_grants_json(jwt, "sub"); /* absent for a patient invited without an account */
    bool has_sub = sub != NULL;
    free(sub);
    if (has_sub && (!grant_int(jwt, "sub", &v) || v <= 0))
        goto out;
    c.sub = has_sub ? v : 0;
    if (strcmp(c.vrole, "doctor") == 0 && c.sub <= 0)
        goto out;
    *out = c;
    res = TOKEN_OK;
out:
    jwt_free(jwt);
    return res;
}
