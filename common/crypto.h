/* crypto: random bytes, opaque random tokens, SHA-256 and base64url helpers (OpenSSL underneath).
 * Opaque tokens handed to clients are at least 128 bits of kernel randomness; only their SHA-256
 * is ever stored. */
#ifndef CLINIC_CRYPTO_H
#define CLINIC_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

/* Fills buf with n random bytes from getrandom(2); false on failure. */
bool crypto_random(void *buf, size_t n);
/* Writes 2*n hex characters plus NUL into out (size >= 2n+1). */
void crypto_hex(const unsigned char *in, size_t n, char *out);
/* Writes base64url (no padding) of in into out; out must hold 4*ceil(n/3)+1. Returns its length. */
size_t crypto_b64url(const unsigned char *in, size_t n, char *out);
/* Writes standard base64 (RFC 4648 §4, padded) of in into out (4*ceil(n/3)+1 bytes). Returns its length. */
size_t crypto_b64(const unsigned char *in, size_t n, char *out);
/* Decodes base64url (no padding) into out (cap bytes); returns the length or -1. */
long crypto_b64url_decode(const char *in, unsigned char *out, size_t cap);
/* Writes the SHA-256 of data into out; false on failure (out is then undefined). */
bool crypto_sha256(const void *data, size_t n, unsigned char out[32]);
/* Writes the lower-case hex SHA-256 of data into out[65]. */
void crypto_sha256_hex(const void *data, size_t n, char out[65]);
/* A random opaque token: 32 random bytes in base64url (43 chars) into out[44]. */
bool crypto_token(char out[44]);
/* 16 random bytes as 32 hex characters into out[33]. */
bool crypto_random_hex16(char out[33]);

/* The password of a TURN REST credential (coturn's use-auth-secret): the standard base64 of
 * HMAC-SHA1(secret, username), 28 characters, into out[29]. */
bool crypto_turn_password(const char *secret, const char *username, char out[29]);

#endif
