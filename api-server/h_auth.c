/* h_auth: login, refresh-token rotation, logout (of one session or all), the caller's profile and
 * password change (docs/ARCHITECTURE.md §5).
 *
 * Refresh tokens are opaque random strings; only their SHA-256 is stored. Each login starts a
 * family; a refresh spends the presented token and issues the next one in the same family. A
 * spent token presented again means it was copied: the whole family is revoked. The row is
 * locked (FOR UPDATE) so two refreshes of one token yield one success.
 *
 * Every password check goes through login_throttle.h (progressive delays per account and address,
 * never a lock of the account itself). Access tokens carry iat = token_issued_at(u), taken on the
 * database's clock under the user row's lock: never before the account's tokens_valid_after, which
 * a new password, a deactivation or logout-all moves (sql/0012_account_lifecycle.sql), and which
 * the guard compares with every token's iat (router.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "crypto.h"
#include "handlers.h"
#include "log.h"
#include "login_throttle.h"
#include "password.h"

/* Columns the token issuer needs, in this order, from a users row u (the last is the iat). */
#define USER_TOKEN_COLS                                                                                   \
    "u.id, u.role, u.clinic_id, (SELECT d.id FROM doctors d WHERE d.user_id = u.id), "                   \
    "(SELECT p.id FROM patients p WHERE p.user_id = u.id), user_json(u), token_issued_at(u)"

static int64_t col_id(const PGresult *r, int col)
{
    return PQgetisnull(r, 0, col) ? 0 : strtoll(PQgetvalue(r, 0, col), NULL, 10);
}

/* Inside the caller's transaction: stores a new refresh token in family (NULL = new family),
 * signs an access token for the user row r (USER_TOKEN_COLS starting at column c0), and returns
 * the TokenPair body (new reference) or NULL with err filled. */
static json_t *issue_tokens(PGconn *conn, const PGresult *r, int c0, const char *family, struct db_error *err)
{
    char refresh[44], hash[65], ttl[24];
    struct claims c = {0};
    c.sub = col_id(r, c0);
    c.role = role_parse(PQgetvalue(r, 0, c0 + 1));
    c.clinic_id = col_id(r, c0 + 2);
    c.doctor_id = col_id(r, c0 + 3);
    c.patient_id = col_id(r, c0 + 4);
    memset(err, 0, sizeof *err);
    err->status = ST_INTERNAL;
    if (!crypto_token(refresh))
        return NULL;
    crypto_sha256_hex(refresh, strlen(refresh), hash);
    const char *p[] = {PQgetvalue(r, 0, c0), family, hash, id_text(app.cfg.refresh_ttl, ttl)};
    PGresult *ins = db_exec(conn,
                            "INSERT INTO refresh_tokens (user_id, family, token_hash, expires_at) "
                            "VALUES ($1, COALESCE($2::uuid, gen_random_uuid()), $3, now() + $4 * interval '1 second')",
                            4, p);
    bool ok = db_ok(conn, ins, err);
    PQclear(ins);
    if (!ok)
        return NULL;
    char *access = token_sign_access(&app.keys, &c, (time_t)col_id(r, c0 + 6), app.cfg.access_ttl);
    if (!access) {
        log_error("cannot sign an access token (check JWT_PRIVATE_KEY_FILE)");
        err->status = ST_INTERNAL;
        return NULL;
    }
    json_t *user = json_loads(PQgetvalue(r, 0, c0 + 5), 0, NULL);
    json_t *out = json_pack("{s:s, s:s, s:s, s:I, s:o}", "access_token", access, "refresh_token", refresh,
                            "token_type", "Bearer", "expires_in", (json_int_t)app.cfg.access_ttl, "user",
                            user ? user : json_null());
    free(access);
    return out;
}

static const struct field_spec login_fields[] = {
    {"email", FT_STRING, FF_REQUIRED, 1, 254, NULL},
    {"password", FT_STRING, FF_REQUIRED, 1, 128, NULL},
};

static int reply_bad_credentials(struct _u_response *resp, struct req_ctx *ctx)
{
    return reply_error(resp, ctx, ST_UNAUTHORIZED, "invalid_credentials", "Invalid e-mail or password.", NULL);
}

/* What login needs to know before checking the password. */
struct login_subject {
    int64_t uid; /* 0 when no account has the e-mail */
    char role[16];
    char hash[PASSWORD_HASH_MAX];
    bool active;
};

static bool load_subject(PGconn *conn, const char *email, struct login_subject *s, struct db_error *err)
{
    memset(s, 0, sizeof *s);
    const char *p[] = {email};
    PGresult *r = db_exec(conn,
                          "SELECT u.id, u.role, u.password_hash, u.active FROM users u WHERE lower(u.email) = lower($1)",
                          1, p);
    bool ok = db_ok(conn, r, err);
    if (ok && PQntuples(r) == 1) {
        s->uid = col_id(r, 0);
        snprintf(s->role, sizeof s->role, "%s", PQgetvalue(r, 0, 1));
        snprintf(s->hash, sizeof s->hash, "%s", PQgetvalue(r, 0, 2));
        s->active = strcmp(PQgetvalue(r, 0, 3), "t") == 0;
    }
    PQclear(r);
    return ok;
}

/* In one transaction: the sign-in of subj (whose password was right): the account must still be
 * active with the password checked (a concurrent change wins), the attempt is given back, tokens
 * issued and the sign-in audited. Answers. */
static int login_complete(struct _u_response *resp, struct req_ctx *ctx, PGconn *conn,
                          const struct login_subject *subj, const struct login_attempt *a)
{
    char idb[24];
    const char *p[] = {id_text(subj->uid, idb), subj->hash};
    struct db_error err;
    json_t *pair = NULL;
    PGresult *s = NULL;
    int rc;
    if (!db_begin(conn, &err))
        return dbr_reply_error(resp, ctx, &err);
    s = db_exec(conn,
                "UPDATE users u SET last_login_at = now() WHERE id = $1 AND password_hash = $2 AND active "
                "RETURNING " USER_TOKEN_COLS,
                2, p);
    if (db_ok(conn, s, &err) && PQntuples(s) == 0) {
        db_rollback(conn);
        rc = reply_bad_credentials(resp, ctx);
        goto out;
    }
    if (db_ok(conn, s, &err) && login_attempt_passed(conn, a, subj->uid, &err) &&
        (pair = issue_tokens(conn, s, 0, NULL, &err)) &&
        audit_write_as(conn, ctx, subj->uid, subj->role, "login", "user", subj->uid,
                       json_pack("{s:s}", "address", a->address), &err) &&
        db_commit(conn, &err)) {
        rc = reply_json(resp, ctx, 200, pair);
        goto out;
    }
    json_decref(pair);
    db_rollback(conn);
    rc = dbr_reply_error(resp, ctx, &err);
out:
    PQclear(s);
    return rc;
}

/* The attempt is counted (login_throttle.h) before the password is checked, and no database
 * connection is held while the hash is computed (tens of ms, bounded by LOGIN_CONCURRENCY): a
 * queue of sign-ins must not starve the pool. */
HANDLER(h_auth_login)
{
    int rc;
    if (!body_valid(resp, ctx, login_fields, 2, false, &rc))
        return rc;
    const char *email = json_string_value(json_object_get(ctx->body, "email"));
    const char *password = json_string_value(json_object_get(ctx->body, "password"));
    char address[LOGIN_ADDRESS_MAX];
    struct login_subject subj;
    struct login_attempt a;
    struct db_error err;
    login_client_address(req, address);

    PGconn *conn = dbr_acquire();
    if (!conn)
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    bool counted = load_subject(conn, email, &subj, &err) && login_attempt_begin(conn, email, address, &a, &err);
    dbr_release(conn);
    if (!counted)
        return dbr_reply_error(resp, ctx, &err);
    if (a.retry_after > 0)
        return login_reply_throttled(resp, ctx, a.retry_after);

    bool good = false;
    if (subj.uid && strcmp(subj.hash, PASSWORD_UNSET) != 0)
        good = password_verify(subj.hash, password);
    else
        password_burn(); /* the same time as a real check (no account, or one never activated) */

    if (!(conn = dbr_acquire()))
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    if (!good) {
        login_attempt_failed(conn, ctx, &a, subj.uid, subj.role, subj.uid ? "wrong_password" : "unknown_email");
        rc = reply_bad_credentials(resp, ctx);
    } else if (!subj.active) {
        /* The right password: the attempt does not count against anyone. */
        if (!login_attempt_passed(conn, &a, 0, &err))
            log_error("sign-in attempt of user %lld not given back", (long long)subj.uid);
        if (!audit_write_as(conn, ctx, subj.uid, subj.role, "login_failed", "user", subj.uid,
                            json_pack("{s:s, s:s}", "reason", "disabled", "address", address), &err))
            log_error("audit login_failed for user %lld not written", (long long)subj.uid);
        rc = reply_error(resp, ctx, ST_FORBIDDEN, "account_disabled", "This account has been deactivated.", NULL);
    } else {
        rc = login_complete(resp, ctx, conn, &subj, &a);
    }
    dbr_release(conn);
    return rc;
}

static const struct field_spec refresh_fields[] = {
    {"refresh_token", FT_STRING, FF_REQUIRED, 1, 200, NULL},
};

/* The start of the routes that take {refresh_token}: the body checked, the token's hash (the only form stored)
 * into hash, and a connection. NULL with *rc answered when the body is bad or no connection can be had. */
static PGconn *refresh_body(struct _u_response *resp, struct req_ctx *ctx, char hash[65], int *rc)
{
    if (!body_valid(resp, ctx, refresh_fields, 1, false, rc))
        return NULL;
    const char *token = json_string_value(json_object_get(ctx->body, "refresh_token"));
    crypto_sha256_hex(token, strlen(token), hash);
    PGconn *conn = dbr_acquire();
    if (!conn)
        *rc = reply_status(resp, ctx, ST_UNAVAILABLE);
    return conn;
}

/* The refresh token whose hash is p1[0], locked with its user (in that order: password changes and deactivation
 * update the user row before revoking tokens, so they and a refresh never interleave). Columns: id, family,
 * user_id, spent, still valid, role. NULL (err set) on failure. */
static PGresult *refresh_lock(PGconn *conn, const char *const *p1, struct db_error *err)
{
    PGresult *lk = db_exec(conn,
                           "SELECT 1 FROM users u WHERE u.id = (SELECT user_id FROM refresh_tokens WHERE token_hash = $1) "
                           "FOR SHARE",
                           1, p1);
    bool locked_user = db_ok(conn, lk, err);
    PQclear(lk);
    if (!locked_user)
        return NULL;
    PGresult *t = db_exec(conn,
                          "SELECT rt.id, rt.family, rt.user_id, rt.used_at IS NOT NULL, "
                          "       rt.revoked_at IS NULL AND rt.expires_at > now(), u.role "
                          "FROM refresh_tokens rt JOIN users u ON u.id = rt.user_id "
                          "WHERE rt.token_hash = $1 FOR UPDATE OF rt",
                          1, p1);
    if (!db_ok(conn, t, err)) {
        PQclear(t);
        return NULL;
    }
    return t;
}

/* A spent token came back: someone holds a copy. Revokes the whole family, audited, and commits. */
static bool refresh_reused(PGconn *conn, struct req_ctx *ctx, const PGresult *t, struct db_error *err)
{
    int64_t uid = col_id(t, 2);
    const char *family = PQgetvalue(t, 0, 1);
    const char *p2[] = {family};
    PGresult *rv = db_exec(conn, "UPDATE refresh_tokens SET revoked_at = now() WHERE family = $1 AND revoked_at IS NULL",
                           1, p2);
    bool ok = db_ok(conn, rv, err);
    PQclear(rv);
    return ok &&
           audit_write_as(conn, ctx, uid, PQgetvalue(t, 0, 5), "refresh_reuse", "user", uid,
                          json_pack("{s:s}", "family", family), err) &&
           db_commit(conn, err);
}

/* Spends the valid token t and issues the next pair of its family for its user, still active. Sets *pair, or
 * leaves it NULL when the user is no longer active (the caller rolls back). False (err set) on failure. */
static bool refresh_rotate(PGconn *conn, struct req_ctx *ctx, const PGresult *t, json_t **pair, struct db_error *err)
{
    int64_t uid = col_id(t, 2);
    const char *p3[] = {PQgetvalue(t, 0, 0)};
    PGresult *spend = db_exec(conn, "UPDATE refresh_tokens SET used_at = now() WHERE id = $1", 1, p3);
    bool spent = db_ok(conn, spend, err);
    PQclear(spend);
    if (!spent)
        return false;
    char idb[24];
    const char *p4[] = {id_text(uid, idb)};
    PGresult *u = db_exec(conn, "SELECT " USER_TOKEN_COLS " FROM users u WHERE u.id = $1 AND u.active", 1, p4);
    bool ok = db_ok(conn, u, err);
    if (ok && PQntuples(u) > 0) {
        ok = (*pair = issue_tokens(conn, u, 0, PQgetvalue(t, 0, 1), err)) &&
             audit_write_as(conn, ctx, uid, PQgetvalue(u, 0, 1), "token_refresh", "user", uid, NULL, err) &&
             db_commit(conn, err);
        if (!ok) {
            json_decref(*pair);
            *pair = NULL;
        }
    }
    PQclear(u);
    return ok;
}

static int reply_bad_refresh(struct _u_response *resp, struct req_ctx *ctx)
{
    return reply_error(resp, ctx, ST_UNAUTHORIZED, "invalid_refresh_token", "The refresh token is not valid.", NULL);
}

HANDLER(h_auth_refresh)
{
    (void)req;
    int rc;
    char hash[65];
    PGconn *conn = refresh_body(resp, ctx, hash, &rc);
    if (!conn)
        return rc;
    struct db_error err;
    const char *p1[] = {hash};
    PGresult *t = NULL;
    json_t *pair = NULL;
    if (!db_begin(conn, &err) || !(t = refresh_lock(conn, p1, &err))) {
        db_rollback(conn);
        rc = dbr_reply_error(resp, ctx, &err);
    } else if (PQntuples(t) == 0 || (strcmp(PQgetvalue(t, 0, 3), "t") != 0 && strcmp(PQgetvalue(t, 0, 4), "t") != 0)) {
        db_rollback(conn);
        rc = reply_bad_refresh(resp, ctx);
    } else if (strcmp(PQgetvalue(t, 0, 3), "t") == 0) {
        if (refresh_reused(conn, ctx, t, &err))
            rc = reply_error(resp, ctx, ST_UNAUTHORIZED, "refresh_token_reused",
                             "This refresh token was already used; every session of its family has been revoked.", NULL);
        else {
            db_rollback(conn);
            rc = dbr_reply_error(resp, ctx, &err);
        }
    } else if (!refresh_rotate(conn, ctx, t, &pair, &err)) {
        db_rollback(conn);
        rc = dbr_reply_error(resp, ctx, &err);
    } else if (!pair) {
        db_rollback(conn);
        rc = reply_bad_refresh(resp, ctx);
    } else {
        rc = reply_json(resp, ctx, 200, pair);
    }
    PQclear(t);
    dbr_release(conn);
    return rc;
}

HANDLER(h_auth_logout)
{
    (void)req;
    int rc;
    char hash[65];
    PGconn *conn = refresh_body(resp, ctx, hash, &rc);
    if (!conn)
        return rc;
    const char *p[] = {hash};
    struct db_error err;
    PGresult *r = db_exec(conn,
                          "WITH fam AS (SELECT family, user_id FROM refresh_tokens WHERE token_hash = $1), "
                          "rev AS (UPDATE refresh_tokens SET revoked_at = now() "
                          "        WHERE family = (SELECT family FROM fam) AND revoked_at IS NULL RETURNING 1) "
                          "SELECT fam.user_id, u.role, (SELECT count(*) FROM rev) FROM fam JOIN users u ON u.id = fam.user_id",
                          1, p);
    if (!db_ok(conn, r, &err)) {
        rc = dbr_reply_error(resp, ctx, &err);
    } else {
        if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 2), "0") != 0)
            if (!audit_write_as(conn, ctx, col_id(r, 0), PQgetvalue(r, 0, 1), "logout", "user", col_id(r, 0), NULL,
                                &err))
                log_error("audit logout for user %lld not written", (long long)col_id(r, 0));
        rc = reply_no_content(resp, ctx);
    }
    PQclear(r);
    dbr_release(conn);
    return rc;
}

HANDLER(h_auth_me)
{
    (void)req;
    char idb[24];
    const char *p[] = {id_text(ctx->claims.sub, idb)};
    return dbr_query_reply(resp, ctx, 200, "SELECT user_json(u) FROM users u WHERE u.id = $1", 1, p);
}

static const struct field_spec password_fields[] = {
    {"current_password", FT_STRING, FF_REQUIRED, 1, 128, NULL},
    {"new_password", FT_STRING, FF_REQUIRED, 8, 128, NULL},
};

/* The current password goes through the sign-in gate (login_throttle.h), so a stolen access token
 * cannot be used to guess it without limit. The new password ends every session of the account:
 * the users triggers (sql/0012_account_lifecycle.sql) move tokens_valid_after and revoke the
 * refresh tokens in this transaction, after the user row is locked, so a refresh racing the change
 * cannot leave a live token behind. */
HANDLER(h_auth_password)
{
    int rc;
    if (!body_valid(resp, ctx, password_fields, 2, false, &rc))
        return rc;
    const char *current = json_string_value(json_object_get(ctx->body, "current_password"));
    const char *next = json_string_value(json_object_get(ctx->body, "new_password"));
    if (strcmp(current, next) == 0) {
        json_t *f = json_pack("{s:s}", "new_password", "must differ from the current password");
        return reply_invalid(resp, ctx, f);
    }
    char idb[24], hash[PASSWORD_HASH_MAX], old[PASSWORD_HASH_MAX];
    if (!login_confirm_password(req, resp, ctx, current, "current_password", old, &rc))
        return rc;
    if (!password_hash(next, hash))
        return reply_status(resp, ctx, ST_INTERNAL);

    PGconn *conn = dbr_acquire();
    if (!conn)
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    struct db_error err;
    const char *p[] = {id_text(ctx->claims.sub, idb), hash, old};
    if (db_begin(conn, &err)) {
        /* The hash checked above must still be the account's. */
        PGresult *w = db_exec(conn, "UPDATE users SET password_hash = $2 WHERE id = $1 AND password_hash = $3", 3, p);
        bool ok = db_ok(conn, w, &err);
        bool changed = ok && strcmp(PQcmdTuples(w), "1") == 0;
        PQclear(w);
        if (ok && !changed) {
            db_rollback(conn);
            rc = reply_error(resp, ctx, ST_CONFLICT, NULL, "The password was changed meanwhile; try again.", NULL);
            goto out;
        }
        if (ok && audit_write(conn, ctx, "password_change", "user", ctx->claims.sub, NULL, &err) &&
            db_commit(conn, &err)) {
            rc = reply_no_content(resp, ctx);
            goto out;
        }
        db_rollback(conn);
    }
    rc = dbr_reply_error(resp, ctx, &err);
out:
    dbr_release(conn);
    return rc;
}

/* Every session of the caller ends: tokens_valid_after moves (the trigger takes the instant and
 * revokes every refresh token of the user), so the access tokens issued so far, this request's
 * included, are refused from now on. */
HANDLER(h_auth_logout_all)
{
    (void)req;
    char idb[24];
    const char *p[] = {id_text(ctx->claims.sub, idb)};
    const struct db_stmt st = {"UPDATE users u SET tokens_valid_after = now() WHERE u.id = $1 RETURNING 'null', u.id",
                               1, p};
    return dbr_write(resp, ctx, &(const struct write_desc){204, "logout_all", "user", NULL}, &st, 1);
}
