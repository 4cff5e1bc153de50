/* accounts: whether the account behind a session may use it, decided by the database (the users
 * row: active, and token_valid_for, sql/0012_account_lifecycle.sql, the one rule the api-server's
 * guard applies too), at authentication and whenever the account changes. */
#ifndef SIG_ACCOUNTS_H
#define SIG_ACCOUNTS_H

#include <stdbool.h>
#include <stdint.h>

struct peer;

enum account_verdict { ACCOUNT_OK, ACCOUNT_REFUSED, ACCOUNT_UNKNOWN /* the database could not say */ };

/* Listens for account changes: the sessions of an account whose sessions were ended (a new
 * password, sign-out everywhere, deactivation) are re-checked, and those whose token the account no
 * longer allows are told (`error` session_ended) and closed; the same after every reconnect. */
void accounts_init(void);
/* Asks whether p's account is active and a token of it issued at iat still valid; done(p, verdict)
 * follows, unless p ends first. false when it cannot be asked now (database down). */
bool accounts_check(struct peer *p, int64_t iat, void (*done)(struct peer *p, enum account_verdict v));

#endif
