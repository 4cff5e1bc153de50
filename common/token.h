/* token: signing and verifying access tokens (ES256 JWTs, docs/ARCHITECTURE.md §5) with libjwt 1.10.
 *
 * libjwt takes the algorithm from the token header and does not check exp/nbf, so
 * token_verify() pins the algorithm, checks typ, exp and iat itself, and requires every claim
 * the role needs. The ES256 signature is checked with OpenSSL against the public key parsed once
 * at start (libjwt would parse the PEM again for every token, a contended path in OpenSSL 3);
 * libjwt then only parses the already verified claims. api-server holds both keys; signaling-server only the public key. */
#ifndef CLINIC_TOKEN_H
#define CLINIC_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum role { ROLE_ADMIN = 1, ROLE_RECEPTIONIST = 2, ROLE_DOCTOR = 4, ROLE_PATIENT = 8 };

/* "ADMIN" ... ; 0 when unknown. */
enum role role_parse(const char *s);
const char *role_name(enum role r);

struct claims {
    int64_t sub;
    enum role role;
    int64_t clinic_id;  /* 0 when none (admins) */
    int64_t doctor_id;  /* 0 unless DOCTOR */
    int64_t patient_id; /* 0 unless PATIENT */
    time_t iat, exp;
    char jti[33];
};

struct token_keys {
    unsigned char *private_pem; /* may be NULL for verify-only processes */
    size_t private_len;
    unsigned char *public_pem;
    size_t public_len;
    void *verify_key; /* the public key parsed once (EVP_PKEY *) by token_keys_load; when NULL,
                         each verification parses public_pem itself */
};

/* Reads the PEM files (private_path may be NULL) and parses the public key, which must be a P-256
 * EC key. Returns false with a message in err. */
bool token_keys_load(struct token_keys *k, const char *private_path, const char *public_path,
                     char *err, size_t errlen);
void token_keys_free(struct token_keys *k);

/* Signs an access token for c (iat/exp/jti filled from now and ttl). Returns a malloc'd string
 * the caller frees, or NULL. */
char *token_sign_access(const struct token_keys *k, struct claims *c, time_t now, long ttl);

enum token_result { TOKEN_OK = 0, TOKEN_MALFORMED, TOKEN_BAD_SIGNATURE, TOKEN_BAD_ALG, TOKEN_EXPIRED,
                    TOKEN_BAD_CLAIMS };

/* Verifies token with the public key at time now; fills out on TOKEN_OK. */
enum token_result token_verify_access(const struct token_keys *k, const char *token, time_t now,
                                      struct claims *out);

/* A video join token (docs/ARCHITECTURE.md §5): lets its holder into one video session's room, as its doctor or
 * its patient, until exp (within the session's window). */
struct video_claims {
    int64_t sub;       /* the holder's user id; 0 for a patient invited without an account */
    int64_t vsid;      /* the session */
    int64_t clinic_id;
    char vrole[8];     /* "doctor" or "patient" */
    time_t iat, exp;
    char jti[33];
};

/* Signs a video token expiring at exp (> now). Returns a malloc'd string the caller frees, or NULL. */
char *token_sign_video(const struct token_keys *k, struct video_claims *c, time_t now, time_t exp);
/* Verifies a video token (typ "video"; an access token is TOKEN_BAD_CLAIMS here, and the reverse). */
enum token_result token_verify_video(const struct token_keys *k, const char *token, time_t now,
                                     struct video_claims *out);

#endif
