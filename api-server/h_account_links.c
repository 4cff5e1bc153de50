/* h_account_links: the single-use links that set a password (DESIGN §10 "Account links",
 * sql/0022_account_links.sql): the desk's patient account (created without a usable password, the
 * activation link sent to the patient's own contacts), the public password reset, and the public
 * activation that spends a link.
 *
 * A link's token is 32 random bytes made here (crypto_token) and handed to the SQL function that
 * stores its SHA-256 and renders it into the queued message; it is never put in an answer, a log
 * line or an audit row. The new password is hashed before a database connection is taken, as the
 * sign-in does, so hashing never holds the pool. */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "crypto.h"
#include "handlers.h"
#include "log.h"
#include "login_throttle.h"
#include "password.h"

static const struct field_spec account_fields[] = {
    {"email", FT_EMAIL, 0, 0, 254, NULL},
    {"phone", FT_PHONE, 0, 0, 0, NULL},
};

/* POST /patients/{id}/account {email?, phone?}: staff of the patient's clinic or an admin. The
 * account takes the e-mail on the patient's record; email and phone, when given, must be the
 * record's (the link never goes to an address the desk types in), and phone also sends it by SMS.
 * 201 with the new account; 200 when the account exists but was never activated (a new link, the
 * old one dead); 409 when it has a password. A password in the body is refused: the patient
 * chooses it. */
HANDLER(h_patients_account)
{
    (void)req;
    int rc;
    if (json_is_object(ctx->body) && json_object_get(ctx->body, "password"))
        return reply_invalid(resp, ctx,
                             json_pack("{s:s}", "password",
                                       "is not accepted: the patient chooses it through the activation link"));
    if (!body_valid(resp, ctx, account_fields, 2, false, &rc))
        return rc;
    char token[44], idb[24], sb[24], ttl[24], actor[24];
    if (!crypto_token(token))
        return reply_status(resp, ctx, ST_INTERNAL);
    const char *p[] = {id_text(ctx->params[0], idb),
                       scope_clinic(ctx, sb),
                       json_string_value(json_object_get(ctx->body, "email")),
                       json_string_value(json_object_get(ctx->body, "phone")),
                       token,
                       app.cfg.account_link_url,
                       id_text(app.cfg.account_link_ttl, ttl),
                       actor_text(ctx, actor),
                       role_name(ctx->claims.role),
                       ctx->request_id};
    const struct db_stmt st = {"SELECT a.body, a.user_id, a.http_status = 201 AS created "
                               "FROM patient_account_create($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) a",
                               10, p};
    const struct write_desc w = {200, "patient_account_create", "user",
                                 json_pack("{s:I}", "patient_id", (json_int_t)ctx->params[0])};
    rc = dbr_write(resp, ctx, &w, &st, 1);
    memset(token, 0, sizeof token);
    return rc;
}

static const struct field_spec reset_fields[] = {
    {"email", FT_STRING, FF_REQUIRED, 1, 254, NULL},
};

/* POST /auth/password-reset {email}: public. 202 whether or not an account has the e-mail, and
 * whether or not that account's own limit held its link back; the per-address limit answers 429
 * (it says nothing about the e-mail). The token is made whether or not it will be used. */
HANDLER(h_auth_password_reset)
{
    int rc;
    if (!body_valid(resp, ctx, reset_fields, 1, false, &rc))
        return rc;
    char address[LOGIN_ADDRESS_MAX], token[44], ttl[24], per_addr[24], per_acct[24], window[24];
    login_client_address(req, address);
    if (!crypto_token(token))
        return reply_status(resp, ctx, ST_INTERNAL);
    const char *p[] = {json_string_value(json_object_get(ctx->body, "email")),
                       address,
                       token,
                       app.cfg.account_link_url,
                       id_text(app.cfg.account_link_ttl, ttl),
                       id_text(app.cfg.reset_per_address, per_addr),
                       id_text(app.cfg.reset_per_account, per_acct),
                       id_text(app.cfg.reset_window, window),
                       ctx->request_id};
    PGconn *conn = dbr_acquire();
    if (!conn)
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    struct db_error err;
    PGresult *r = db_exec(conn, "SELECT account_password_reset($1, $2, $3, $4, $5, $6, $7, $8, $9)", 9, p);
    memset(token, 0, sizeof token);
    if (!db_ok(conn, r, &err))
        rc = dbr_reply_error(resp, ctx, &err);
    else if (strtol(PQgetvalue(r, 0, 0), NULL, 10) > 0)
        rc = login_reply_throttled(resp, ctx, strtol(PQgetvalue(r, 0, 0), NULL, 10));
    else
        rc = reply_json(resp, ctx, 202, json_object());
    PQclear(r);
    dbr_release(conn);
    return rc;
}

static const struct field_spec activate_fields[] = {
    {"token", FT_STRING, FF_REQUIRED, 1, 200, NULL},
    {"password", FT_STRING, FF_REQUIRED, 8, 128, NULL},
};

/* POST /auth/activate {token, password}: public. 204 when a live link had that token: the
 * password is set and every session of the account ends. An unknown, used, replaced or expired
 * link answers 400 invalid_link, one answer for all. */
HANDLER(h_auth_activate)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, activate_fields, 2, false, &rc))
        return rc;
    const char *token = json_string_value(json_object_get(ctx->body, "token"));
    char token_hash[65], hash[PASSWORD_HASH_MAX];
    crypto_sha256_hex(token, strlen(token), token_hash);
    if (!password_hash(json_string_value(json_object_get(ctx->body, "password")), hash))
        return reply_status(resp, ctx, ST_INTERNAL);
    PGconn *conn = dbr_acquire();
    if (!conn)
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    const char *p[] = {token_hash, hash, ctx->request_id};
    struct db_error err;
    PGresult *r = db_exec(conn, "SELECT account_activate($1, $2, $3)", 3, p);
    if (!db_ok(conn, r, &err))
        rc = dbr_reply_error(resp, ctx, &err);
    else if (PQgetisnull(r, 0, 0))
        rc = reply_error(resp, ctx, ST_BAD_REQUEST, "invalid_link",
                         "This link is not valid: it was used, replaced by a newer one, or has expired. Ask for a new one.",
                         NULL);
    else
        rc = reply_no_content(resp, ctx);
    PQclear(r);
    dbr_release(conn);
    return rc;
}
