/* password: argon2id hashing (by default t=2, m=19 MiB, p=1: PASSWORD_ITERATIONS, PASSWORD_MEMORY_KIB)
 * with a bound on concurrent hashes, since each hash holds its memory and the server runs a thread per
 * connection. A hash records its own parameters, so a verification follows whatever made it. */
#ifndef CLINIC_PASSWORD_H
#define CLINIC_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define PASSWORD_HASH_MAX 128
#define PASSWORD_DEFAULT_MEMORY_KIB (19 * 1024)
#define PASSWORD_DEFAULT_ITERATIONS 2

/* The password_hash of an account that has no password yet (sql/0022_account_links.sql): no
 * password matches it. */
#define PASSWORD_UNSET "$argon2id$unset"

/* Sets how many hashes may run at once (default 4). Call once before serving. */
void password_init(unsigned concurrency);
/* Sets the cost of the hashes made from now on (memory in KiB, passes). Call before any thread hashes. */
void password_set_cost(unsigned memory_kib, unsigned iterations);
/* Writes the encoded argon2id hash of pw into out. */
bool password_hash(const char *pw, char out[PASSWORD_HASH_MAX]);
/* True when pw matches encoded. Takes as long as a hash whether or not it matches. */
bool password_verify(const char *encoded, const char *pw);
/* Spends the time of one verification, for unknown accounts (same timing as a real check). */
void password_burn(void);

#endif
