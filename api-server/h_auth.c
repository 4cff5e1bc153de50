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

HANDLER(h_auth_login)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, login_fields, 2, false, &rc))
        return rc;
    const char *email = json_string_value(json_object_get(ctx->body, "email"));
    const char *password = json_string_value(json_object_get(ctx->body, "password"));
    PGconn *conn = dbr_acquire();
    if (!conn)
        return reply_status(resp, ctx, ST_UNAVAILABLE);

    const char *p1[] = {email};
    PGresult *u = db_exec(conn,
                          "SELECT u.id, u.role, u.password_hash, u.active, "
                          "       (u.locked_until > now()), ceil(extract(epoch FROM u.locked_until - now()))::bigint "
                          "FROM users u WHERE lower(u.email) = lower($1)",
                          1, p1);
    struct db_error err;
    if (!db_ok(conn, u, &err)) {
        rc = dbr_reply_error(resp, ctx, &err);
        goto out;
    }
    if (PQntuples(u) == 0) {
        password_burn();
        audit_login(conn, ctx, 0, NULL, "login_failed", json_pack("{s:s, s:s}", "email", email, "reason", "unknown_email"));
        rc = reply_bad_credentials(resp, ctx);
        goto out;
    }
    int64_t uid = col_id(u, 0);
    const char *role = PQgetvalue(u, 0, 1);
    if (strcmp(PQgetvalue(u, 0, 4), "t") == 0) {
        audit_login(conn, ctx, uid, role, "login_failed", json_pack("{s:s}", "reason", "locked"));
        rc = reply_locked(resp, ctx, PQgetvalue(u, 0, 5));
        goto out;
    }
    if (!password_verify(PQgetvalue(u, 0, 2), password)) {
        char maxf[24], lock[24], idb[24];
        const char *p2[] = {id_text(uid, idb), id_text(app.cfg.login_max_failures, maxf),
                            id_text(app.cfg.login_lock_seconds, lock)};
        PGresult *f = db_exec(conn,
                              "UPDATE users SET "
                              "  locked_until = CASE WHEN failed_logins + 1 >= $2::int "
                              "                 THEN now() + $3 * interval '1 second' ELSE locked_until END, "
                              "  failed_logins = CASE WHEN failed_logins + 1 >= $2::int THEN 0 ELSE failed_logins + 1 END "
                              "WHERE id = $1 RETURNING (locked_until > now())",
                              3, p2);
        bool locked = db_ok(conn, f, NULL) && PQntuples(f) == 1 && strcmp(PQgetvalue(f, 0, 0), "t") == 0;
        PQclear(f);
        audit_login(conn, ctx, uid, role, "login_failed", json_pack("{s:s}", "reason", "wrong_password"));
        if (locked) {
            audit_login(conn, ctx, uid, role, "login_locked",
                        json_pack("{s:I}", "lock_seconds", (json_int_t)app.cfg.login_lock_seconds));
            rc = reply_locked(resp, ctx, lock);
        } else {
            rc = reply_bad_credentials(resp, ctx);
        }
        goto out;
    }
    if (strcmp(PQgetvalue(u, 0, 3), "t") != 0) {
        audit_login(conn, ctx, uid, role, "login_failed", json_pack("{s:s}", "reason", "disabled"));
        rc = reply_error(resp, ctx, ST_FORBIDDEN, "account_disabled", "This account has been deactivated.", NULL);
        goto out;
    }

    char idb[24];
    const char *p3[] = {id_text(uid, idb)};
    json_t *pair = NULL;
    PGresult *s = NULL;
    if (db_begin(conn, &err)) {
        s = db_exec(conn,
                    "UPDATE users u SET failed_logins = 0, locked_until = NULL, last_login_at = now() "
                    "WHERE id = $1 RETURNING " USER_TOKEN_COLS,
                    1, p3);
        if (db_ok(conn, s, &err) && PQntuples(s) == 1 && (pair = issue_tokens(conn, s, 0, NULL, &err)) &&
            audit_write_as(conn, ctx, uid, role, "login", "user", uid, NULL, &err) && db_commit(conn, &err)) {
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
    PQclear(u);
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
    PGconn *conn = dbr_acquire();
    if (!conn)
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    char idb[24], hash[PASSWORD_HASH_MAX];
    const char *p1[] = {id_text(ctx->claims.sub, idb)};
    struct db_error err;
    PGresult *r = db_exec(conn, "SELECT password_hash FROM users WHERE id = $1 AND active", 1, p1);
    if (!db_ok(conn, r, &err)) {
        rc = dbr_reply_error(resp, ctx, &err);
        goto out;
    }
    if (PQntuples(r) == 0) {
        rc = reply_status(resp, ctx, ST_UNAUTHORIZED);
        goto out;
    }
    if (!password_verify(PQgetvalue(r, 0, 0), current)) {
        rc = reply_invalid(resp, ctx, json_pack("{s:s}", "current_password", "is not your current password"));
        goto out;
    }
    if (!password_hash(next, hash)) {
        rc = reply_status(resp, ctx, ST_INTERNAL);
        goto out;
    }
    const char *p2[] = {idb, hash};
    if (db_begin(conn, &err)) {
        PGresult *w = db_exec(conn,
                              "WITH u AS (UPDATE users SET password_hash = $2 WHERE id = $1 RETURNING id) "
                              "UPDATE refresh_tokens SET revoked_at = now() "
                              "WHERE user_id = (SELECT id FROM u) AND revoked_at IS NULL",
                              2, p2);
        bool ok = db_ok(conn, w, &err);
        PQclear(w);
        if (ok && audit_write(conn, ctx, "password_change", "user", ctx->claims.sub, NULL, &err) &&
            db_commit(conn, &err)) {
            rc = reply_no_content(resp, ctx);
            goto out;
        }
        db_rollback(conn);
    }
    rc = dbr_reply_error(resp, ctx, &err);
out:
    PQclear(r);
    dbr_release(conn);
    return rc;
}
