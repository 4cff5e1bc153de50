/* login_throttle: the one gate in front of every password check (sign-in, and the current
 * password re-entered to change it or a doctor's PIX key).
 *
 * An attempt is counted before its password is checked, per account and client address, per
 * account and per address (sql/0012_account_lifecycle.sql says how counters fill, delay and
 * decay); an attempt a running delay covers is answered 429 with Retry-After and its password is
 * never checked. So guesses from one address slow that address down for that account, while the
 * owner signs in from anywhere else; a right password gives its attempt back.
 *
 * The client address is the TCP peer's: an IPv4 address, or an IPv6 address's /64 (one host
 * holds a whole /64, so counting single IPv6 addresses would count nothing). When the peer is one
 * of TRUSTED_PROXIES, it is the right-most X-Forwarded-For entry that is not itself a
 * trusted proxy (common/clientaddr.c, which the signaling-server's budgets share).
 *
 * Audit: a wrong password writes login_failed (its reason); the failure that begins a delay on a
 * counter writes one login_throttled for it; refused attempts write nothing. Counters that hold
 * nothing any more are pruned, a bounded batch per checked attempt.
 *
 * No database connection is held while a password hash is computed. */
#ifndef API_LOGIN_THROTTLE_H
#define API_LOGIN_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

#include "clientaddr.h"
#include "db.h"
#include "http.h"
#include "password.h"

#define LOGIN_ADDRESS_MAX CLIENTADDR_MAX

/* The address a request's attempts are counted under (see above), into out. */
void login_client_address(const struct _u_request *req, char out[LOGIN_ADDRESS_MAX]);

/* One attempt at a password, between login_attempt_begin and its outcome. */
struct login_attempt {
    char email[256];
    char address[LOGIN_ADDRESS_MAX];
    long retry_after; /* > 0: refused for that many seconds; nothing was counted */
    char started[96]; /* the counters this attempt brings to their limit, as an SQL text array */
};

/* Counts an attempt at email's password from address (one statement, autocommit). False on a
 * database error (err filled); otherwise check a->retry_after. */
bool login_attempt_begin(PGconn *conn, const char *email, const char *address, struct login_attempt *a,
                         struct db_error *err);
/* The password was right: gives the attempt back and records address as one user_id (> 0; 0 =
 * none) signs in from. Runs in the caller's transaction when it has one. */
bool login_attempt_passed(PGconn *conn, const struct login_attempt *a, int64_t user_id, struct db_error *err);
/* The password was wrong: audits it as login_failed with reason (user_id 0 = no account has the
 * e-mail, which then goes into the details), plus login_throttled per delay it begins, and prunes
 * a batch of spent counters. Autocommit; failures are logged, not returned. */
void login_attempt_failed(PGconn *conn, const struct req_ctx *ctx, const struct login_attempt *a, int64_t user_id,
                          const char *role, const char *reason);

/* Answers 429 too_many_attempts with Retry-After: seconds. */
int login_reply_throttled(struct _u_response *resp, struct req_ctx *ctx, long seconds);

/* The caller (ctx's token user) re-enters their password to confirm a sensitive change: checks
 * password against their account through the gate above. True when it is right, with the hash
 * that matched in hash_out (so the caller's write can insist it is still the account's). False
 * after answering: 422 naming field ("is not your current password"), 429, 401 (account gone or
 * deactivated meanwhile), 503; *rc is then the handler's return value. */
bool login_confirm_password(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx,
                            const char *password, const char *field, char hash_out[PASSWORD_HASH_MAX], int *rc);

#endif
