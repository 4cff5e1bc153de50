/* h_auth: login, refresh-token rotation, logout, the caller's profile and password change
 * (DESIGN §3).
 *
 * Refresh tokens are opaque random strings; only their SHA-256 is stored. Each login starts a
 * family; a refresh spends the presented token and issues the next one in the same family. A
 * spent token presented again means it was copied: the whole family is revoked. The row is
 * locked (FOR UPDATE) so two refreshes of one token yield one success. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "crypto.h"
#include "handlers.h"
#include "log.h"
#include "password.h"

/* Columns the token issuer needs, in this order, from a users row u. */
#define USER_TOKEN_COLS                                                                                   \
    "u.id, u.role, u.clinic_id, (SELECT d.id FROM doctors d WHERE d.user_id = u.id), "                   \
    "(SELECT p.id FROM patients p WHERE p.user_id = u.id), user_json(u)"

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
    char *access = token_sign_access(&app.keys, &c, time(NULL), app.cfg.access_ttl);
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

static int reply_locked(struct _u_response *resp, struct req_ctx *ctx, const char *retry_after)
{
    u_map_put(resp->map_header, "Retry-After", retry_after);
    return reply_error(resp, ctx, ST_THROTTLED, NULL,
                       "Too many failed sign-in attempts: the account is locked for a while.", NULL);
}

static int reply_bad_credentials(struct _u_response *resp, struct req_ctx *ctx)
{
    return reply_error(resp, ctx, ST_UNAUTHORIZED, "invalid_credentials", "Invalid e-mail or password.", NULL);
}

/* Writes one audit row in its own statement (autocommit). */
static void audit_login(PGconn *conn, struct req_ctx *ctx, int64_t user_id, const char *role, const char *action,
                        json_t *details)
{
    struct db_error err;
    if (!audit_write_as(conn, ctx, user_id, role, action, "user", user_id, details, &err))
        log_error("audit %s for user %lld not written", action, (long long)user_id);
}

/* Counts a failed sign-in for email (an account or not) and audits it; returns the seconds the
 * e-mail is now locked (0 = not locked). */
static long record_failure(PGconn *conn, struct req_ctx *ctx, const char *email, int64_t uid, const char *role,
                           const char *reason)
{
    char maxf[24], lock[24];
    const char *p[] = {email, id_text(app.cfg.login_max_failures, maxf), id_text(app.cfg.login_lock_seconds, lock)};
    PGresult *f = db_exec(conn, "SELECT login_record_failure($1, $2::int, $3::int)", 3, p);
    long locked = db_ok(conn, f, NULL) && PQntuples(f) == 1 ? strtol(PQgetvalue(f, 0, 0), NULL, 10) : 0;
    PQclear(f);
    json_t *details = json_pack("{s:s}", "reason", reason);
    if (!uid)
        json_object_set_new(details, "email", json_string(email));
    audit_login(conn, ctx, uid, role, "login_failed", details);
    if (locked > 0) {
        json_t *ld = json_pack("{s:I}", "lock_seconds", (json_int_t)app.cfg.login_lock_seconds);
        if (!uid)
            json_object_set_new(ld, "email", json_string(email));
        audit_login(conn, ctx, uid, role, "login_locked", ld);
    }
    return locked;
}

/* What login needs to know before checking the password. */
struct login_subject {
    long locked_seconds;
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
                          "SELECT login_lock_seconds($1), u.id, u.role, u.password_hash, u.active "
                          "FROM (SELECT 1) one LEFT JOIN users u ON lower(u.email) = lower($1)",
                          1, p);
    bool ok = db_ok(conn, r, err) && PQntuples(r) == 1;
    if (ok) {
        s->locked_seconds = strtol(PQgetvalue(r, 0, 0), NULL, 10);
        s->uid = col_id(r, 1);
        snprintf(s->role, sizeof s->role, "%s", PQgetvalue(r, 0, 2));
        snprintf(s->hash, sizeof s->hash, "%s", PQgetvalue(r, 0, 3));
        s->active = strcmp(PQgetvalue(r, 0, 4), "t") == 0;
    }
    PQclear(r);
    return ok;
}

/* The database connection is not held while the password hash is computed (tens of ms, and
 * bounded by LOGIN_CONCURRENCY): a queue of sign-ins must not starve the pool. */
HANDLER(h_auth_login)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, login_fields, 2, false, &rc))
        return rc;
    const char *email = json_string_value(json_object_get(ctx->body, "email"));
    const char *password = json_string_value(json_object_get(ctx->body, "password"));
    struct login_subject subj;
    struct db_error err;
    char secs[24];

    PGconn *conn = dbr_acquire();
    if (!conn)
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    bool loaded = load_subject(conn, email, &subj, &err);
    if (loaded && subj.locked_seconds > 0)
        audit_login(conn, ctx, subj.uid, subj.uid ? subj.role : NULL, "login_failed",
                    subj.uid ? json_pack("{s:s}", "reason", "locked")
                             : json_pack("{s:s, s:s}", "reason", "locked", "email", email));
    dbr_release(conn);
    if (!loaded)
        return dbr_reply_error(resp, ctx, &err);
    if (subj.locked_seconds > 0)
        return reply_locked(resp, ctx, id_text(subj.locked_seconds, secs));

    bool good = false;
    if (subj.uid)
        good = password_verify(subj.hash, password);
    else
        password_burn(); /* the same time as a real check */

    if (!(conn = dbr_acquire()))
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    if (!good) {
        long locked = record_failure(conn, ctx, email, subj.uid, subj.uid ? subj.role : NULL,
                                     subj.uid ? "wrong_password" : "unknown_email");
        rc = locked > 0 ? reply_locked(resp, ctx, id_text(locked, secs)) : reply_bad_credentials(resp, ctx);
        goto out;
    }
    if (!subj.active) {
        audit_login(conn, ctx, subj.uid, subj.role, "login_failed", json_pack("{s:s}", "reason", "disabled"));
        rc = reply_error(resp, ctx, ST_FORBIDDEN, "account_disabled", "This account has been deactivated.", NULL);
        goto out;
    }

    /* The success update re-checks, under the row lock, that the account is not locked (a parallel
     * wrong guess may have locked it meanwhile) and that the password checked is still the
     * account's (a concurrent change wins). */
    char idb[24];
    const char *p3[] = {id_text(subj.uid, idb), subj.hash};
    json_t *pair = NULL;
    PGresult *s = NULL;
    if (db_begin(conn, &err)) {
        s = db_exec(conn,
                    "UPDATE users u SET failed_logins = 0, locked_until = NULL, last_login_at = now() "
                    "WHERE id = $1 AND password_hash = $2 AND active "
                    "  AND (locked_until IS NULL OR locked_until <= now()) "
                    "RETURNING " USER_TOKEN_COLS,
                    2, p3);
        if (db_ok(conn, s, &err) && PQntuples(s) == 0) {
            PQclear(s);
            db_rollback(conn);
            long locked = 0;
            if (load_subject(conn, email, &subj, &err))
                locked = subj.locked_seconds;
            rc = locked > 0 ? reply_locked(resp, ctx, id_text(locked, secs)) : reply_bad_credentials(resp, ctx);
            goto out;
        }
        if (db_ok(conn, s, &err) && (pair = issue_tokens(conn, s, 0, NULL, &err)) &&
            audit_write_as(conn, ctx, subj.uid, subj.role, "login", "user", subj.uid, NULL, &err) &&
            db_commit(conn, &err)) {
            PQclear(s);
            rc = reply_json(resp, ctx, 200, pair);
            goto out;
        }
        PQclear(s);
        json_decref(pair);
        db_rollback(conn);
    }
    rc = dbr_reply_error(resp, ctx, &err);
out:
    dbr_release(conn);
    return rc;
}

static const struct field_spec refresh_fields[] = {
    {"refresh_token", FT_STRING, FF_REQUIRED, 1, 200, NULL},
};

HANDLER(h_auth_refresh)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, refresh_fields, 1, false, &rc))
        return rc;
    const char *token = json_string_value(json_object_get(ctx->body, "refresh_token"));
    char hash[65];
    crypto_sha256_hex(token, strlen(token), hash);
    PGconn *conn = dbr_acquire();
    if (!conn)
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    struct db_error err;
    PGresult *t = NULL, *u = NULL;
    json_t *pair = NULL;
    if (!db_begin(conn, &err))
        goto fail;
    const char *p1[] = {hash};
    /* Lock order: the user row (shared), then the token row. Password changes and deactivation
     * update the user row before revoking tokens, so they and a refresh never interleave. */
    PGresult *lk = db_exec(conn,
                           "SELECT 1 FROM users u WHERE u.id = (SELECT user_id FROM refresh_tokens WHERE token_hash = $1) "
                           "FOR SHARE",
                           1, p1);
    bool locked_user = db_ok(conn, lk, &err);
    PQclear(lk);
    if (!locked_user)
        goto fail;
    t = db_exec(conn,
                "SELECT rt.id, rt.family, rt.user_id, rt.used_at IS NOT NULL, "
                "       rt.revoked_at IS NULL AND rt.expires_at > now(), u.role "
                "FROM refresh_tokens rt JOIN users u ON u.id = rt.user_id "
                "WHERE rt.token_hash = $1 FOR UPDATE OF rt",
                1, p1);
    if (!db_ok(conn, t, &err))
        goto fail;
    if (PQntuples(t) == 0) {
        db_rollback(conn);
        rc = reply_error(resp, ctx, ST_UNAUTHORIZED, "invalid_refresh_token", "The refresh token is not valid.", NULL);
        goto out;
    }
    int64_t uid = col_id(t, 2);
    const char *family = PQgetvalue(t, 0, 1);
    if (strcmp(PQgetvalue(t, 0, 3), "t") == 0) {
        /* A spent token came back: someone holds a copy. Revoke the whole family. */
        const char *p2[] = {family};
        PGresult *rv = db_exec(conn, "UPDATE refresh_tokens SET revoked_at = now() "
                                     "WHERE family = $1 AND revoked_at IS NULL", 1, p2);
        bool ok = db_ok(conn, rv, &err);
        PQclear(rv);
        if (!ok || !audit_write_as(conn, ctx, uid, PQgetvalue(t, 0, 5), "refresh_reuse", "user", uid,
                                   json_pack("{s:s}", "family", family), &err) || !db_commit(conn, &err))
            goto fail;
        rc = reply_error(resp, ctx, ST_UNAUTHORIZED, "refresh_token_reused",
                         "This refresh token was already used; every session of its family has been revoked.", NULL);
        goto out;
    }
    if (strcmp(PQgetvalue(t, 0, 4), "t") != 0) {
        db_rollback(conn);
        rc = reply_error(resp, ctx, ST_UNAUTHORIZED, "invalid_refresh_token", "The refresh token is not valid.", NULL);
        goto out;
    }
    const char *p3[] = {PQgetvalue(t, 0, 0)};
    PGresult *spend = db_exec(conn, "UPDATE refresh_tokens SET used_at = now() WHERE id = $1", 1, p3);
    bool spent = db_ok(conn, spend, &err);
    PQclear(spend);
    if (!spent)
        goto fail;
    char idb[24];
    const char *p4[] = {id_text(uid, idb)};
    u = db_exec(conn, "SELECT " USER_TOKEN_COLS " FROM users u WHERE u.id = $1 AND u.active", 1, p4);
    if (!db_ok(conn, u, &err))
        goto fail;
    if (PQntuples(u) == 0) {
        db_rollback(conn);
        rc = reply_error(resp, ctx, ST_UNAUTHORIZED, "invalid_refresh_token", "The refresh token is not valid.", NULL);
        goto out;
    }
    if (!(pair = issue_tokens(conn, u, 0, family, &err)) ||
        !audit_write_as(conn, ctx, uid, PQgetvalue(u, 0, 1), "token_refresh", "user", uid, NULL, &err) ||
        !db_commit(conn, &err))
        goto fail;
    rc = reply_json(resp, ctx, 200, pair);
    pair = NULL;
    goto out;
fail:
    db_rollback(conn);
    rc = dbr_reply_error(resp, ctx, &err);
out:
    json_decref(pair);
    PQclear(t);
    PQclear(u);
    dbr_release(conn);
    return rc;
}

HANDLER(h_auth_logout)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, refresh_fields, 1, false, &rc))
        return rc;
    const char *token = json_string_value(json_object_get(ctx->body, "refresh_token"));
    char hash[65];
    crypto_sha256_hex(token, strlen(token), hash);
    PGconn *conn = dbr_acquire();
    if (!conn)
        return reply_status(resp, ctx, ST_UNAVAILABLE);
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
            audit_login(conn, ctx, col_id(r, 0), PQgetvalue(r, 0, 1), "logout", NULL);
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

/* A wrong current password counts as a failed sign-in (and the lock applies here too), so a
 * stolen access token cannot be used to guess the password without limit. No connection is held
 * while hashing. */
HANDLER(h_auth_password)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, password_fields, 2, false, &rc))
        return rc;
    const char *current = json_string_value(json_object_get(ctx->body, "current_password"));
    const char *next = json_string_value(json_object_get(ctx->body, "new_password"));
    if (strcmp(current, next) == 0) {
        json_t *f = json_pack("{s:s}", "new_password", "must differ from the current password");
        return reply_invalid(resp, ctx, f);
    }
    char idb[24], hash[PASSWORD_HASH_MAX], secs[24], email[256];
    struct login_subject subj;
    struct db_error err = {0};
    const char *p1[] = {id_text(ctx->claims.sub, idb)};

    PGconn *conn = dbr_acquire();
    if (!conn)
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    PGresult *r = db_exec(conn, "SELECT email FROM users WHERE id = $1 AND active", 1, p1);
    bool found = db_ok(conn, r, &err) && PQntuples(r) == 1;
    if (found)
        snprintf(email, sizeof email, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    bool loaded = found && load_subject(conn, email, &subj, &err);
    dbr_release(conn);
    if (!found && err.status == ST_OK)
        return reply_status(resp, ctx, ST_UNAUTHORIZED);
    if (!loaded)
        return dbr_reply_error(resp, ctx, &err);
    if (subj.locked_seconds > 0)
        return reply_locked(resp, ctx, id_text(subj.locked_seconds, secs));

    bool good = password_verify(subj.hash, current);
    if (good && !password_hash(next, hash))
        return reply_status(resp, ctx, ST_INTERNAL);

    if (!(conn = dbr_acquire()))
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    if (!good) {
        long locked = record_failure(conn, ctx, email, subj.uid, subj.role, "wrong_current_password");
        rc = locked > 0 ? reply_locked(resp, ctx, id_text(locked, secs))
                        : reply_invalid(resp, ctx, json_pack("{s:s}", "current_password", "is not your current password"));
        goto out;
    }
    /* The user row first, then the tokens, in separate statements: a refresh holding the user row
     * finishes first and its new token is then revoked too. The hash checked above must still be
     * the account's. */
    const char *p2[] = {idb, hash, subj.hash};
    if (db_begin(conn, &err)) {
        PGresult *w = db_exec(conn, "UPDATE users SET password_hash = $2 WHERE id = $1 AND password_hash = $3", 3, p2);
        bool ok = db_ok(conn, w, &err);
        bool changed = ok && strcmp(PQcmdTuples(w), "1") == 0;
        PQclear(w);
        if (ok && !changed) {
            db_rollback(conn);
            rc = reply_error(resp, ctx, ST_CONFLICT, NULL, "The password was changed meanwhile; try again.", NULL);
            goto out;
        }
        if (ok) {
            w = db_exec(conn, "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
                        1, p1);
            ok = db_ok(conn, w, &err);
            PQclear(w);
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
