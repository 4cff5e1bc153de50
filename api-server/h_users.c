/* h_users: staff accounts, managed by admins: create (a DOCTOR also gets its doctor record in the
 * same statement), list, get, update, deactivate. Deactivation and a new password end every session
 * of the user (database triggers): the refresh tokens are revoked and the access tokens issued
 * before are refused by the guard. */
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "password.h"

static const char *const staff_roles[] = {"ADMIN", "RECEPTIONIST", "DOCTOR", NULL};

static const struct field_spec create_fields[] = {
    {"email", FT_EMAIL, FF_REQUIRED, 0, 254, NULL},
    {"password", FT_STRING, FF_REQUIRED, 8, 128, NULL},
    {"full_name", FT_STRING, FF_REQUIRED, 1, 200, NULL},
    {"role", FT_ENUM, FF_REQUIRED, 0, 0, staff_roles},
    {"clinic_id", FT_INT, FF_NULLABLE, 0, 0, NULL},
    {"specialty", FT_STRING, FF_NULLABLE, 0, 100, NULL},
    {"license_number", FT_STRING, FF_NULLABLE, 0, 50, NULL},
};

static const struct field_spec update_fields[] = {
    {"email", FT_EMAIL, 0, 0, 254, NULL},
    {"password", FT_STRING, 0, 8, 128, NULL},
    {"full_name", FT_STRING, 0, 1, 200, NULL},
    {"active", FT_BOOL, 0, 0, 0, NULL},
};

static bool present(json_t *body, const char *key)
{
    json_t *v = json_object_get(body, key);
    return v && !json_is_null(v);
}

HANDLER(h_users_create)
{
    (void)req;
    int rc;
    json_t *errors = json_object();
    validate_object(ctx->body, create_fields, sizeof create_fields / sizeof create_fields[0], false, errors);
    const char *role = json_string_value(json_object_get(ctx->body, "role"));
    if (role && !json_object_get(errors, "role")) {
        bool admin = strcmp(role, "ADMIN") == 0;
        if (admin && present(ctx->body, "clinic_id"))
            json_object_set_new(errors, "clinic_id", json_string("must be empty for an ADMIN"));
        if (!admin && !present(ctx->body, "clinic_id") && !json_object_get(errors, "clinic_id"))
            json_object_set_new(errors, "clinic_id", json_string("is required for this role"));
        if (strcmp(role, "DOCTOR") != 0)
            for (const char *const *k = (const char *const[]){"specialty", "license_number", NULL}; *k; k++)
                if (present(ctx->body, *k))
                    json_object_set_new(errors, *k, json_string("applies only to DOCTOR"));
    }
    if (json_object_size(errors) > 0)
        return reply_invalid(resp, ctx, errors);
    json_decref(errors);

    char hash[PASSWORD_HASH_MAX];
    if (!password_hash(json_string_value(json_object_get(ctx->body, "password")), hash))
        return reply_status(resp, ctx, ST_INTERNAL);
    json_object_del(ctx->body, "password");
    char *body = dbr_body_text(ctx->body);
    const char *p[] = {body, hash};
    static const char *const sql[] = {
        "WITH b AS (SELECT $1::jsonb AS b), "
        "u AS (INSERT INTO users AS u (email, password_hash, full_name, role, clinic_id) "
        "      SELECT b->>'email', $2, b->>'full_name', b->>'role', (b->>'clinic_id')::bigint FROM b "
        "      RETURNING u), "
        "d AS (INSERT INTO doctors (user_id, clinic_id, specialty, license_number) "
        "      SELECT (u.u).id, (u.u).clinic_id, b->>'specialty', b->>'license_number' FROM u, b "
        "      WHERE (u.u).role = 'DOCTOR' RETURNING id) "
        "SELECT user_json(u.u) || jsonb_build_object('doctor_id', (SELECT id FROM d)), (u.u).id FROM u"};
    const struct db_stmt st[] = {{sql[0], 2, p}};
    const struct write_desc w = {201, "user_create", "user",
                                 json_pack("{s:s, s:O}", "role", role, "email", json_object_get(ctx->body, "email"))};
    rc = dbr_write(resp, ctx, &w, st, 1);
    free(body);
    return rc;
}

HANDLER(h_users_list)
{
    (void)req;
    const struct query_values *q = &ctx->query;
    const char *p[] = {query_text(q, "cursor"), query_text(q, "limit"), query_text(q, "role"),
                       query_text(q, "clinic_id"), query_text(q, "active"), query_text(q, "q")};
    static const struct list_query lq = {
        "user_json",
        "SELECT u AS r, u.id AS k1 FROM users u "
        "WHERE ($1::jsonb IS NULL OR u.id > ($1::jsonb->>0)::bigint) AND ($3::text IS NULL OR u.role = $3) "
        "  AND ($4::bigint IS NULL OR u.clinic_id = $4) AND ($5::boolean IS NULL OR u.active = $5) "
        "  AND ($6::text IS NULL OR lower(u.email) LIKE '%' || like_escape(lower($6)) || '%' "
        "       OR lower(u.full_name) LIKE '%' || like_escape(lower($6)) || '%') "
        "ORDER BY u.id LIMIT $2::int + 1",
        "k1", "jsonb_build_array(k1)"};
    return dbr_list_reply(resp, ctx, &lq, 6, p);
}

HANDLER(h_users_get)
{
    (void)req;
    char idb[24];
    const char *p[] = {id_text(ctx->params[0], idb)};
    return dbr_query_reply(resp, ctx, 200, "SELECT user_json(u) FROM users u WHERE u.id = $1", 1, p);
}

HANDLER(h_users_update)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, update_fields, sizeof update_fields / sizeof update_fields[0], true, &rc))
        return rc;
    if (json_object_get(ctx->body, "active") && ctx->params[0] == ctx->claims.sub)
        return reply_error(resp, ctx, ST_CONFLICT, NULL, "You cannot change the active state of your own account.",
                           NULL);
    char hash[PASSWORD_HASH_MAX], idb[24];
    const char *pw = json_string_value(json_object_get(ctx->body, "password"));
    if (pw && !password_hash(pw, hash))
        return reply_status(resp, ctx, ST_INTERNAL);
    json_t *details = dbr_changed_fields(ctx->body);
    json_object_del(ctx->body, "password");
    char *body = dbr_body_text(ctx->body);
    const char *p[] = {id_text(ctx->params[0], idb), body, pw ? hash : NULL};
    /* A new password or a deactivation ends every session of the user: the users triggers
     * (sql/0012_account_lifecycle.sql) move tokens_valid_after and revoke the refresh tokens in
     * this transaction, after the row lock, so a refresh racing this change leaves no live token,
     * and clear the e-mail's sign-in counters on a new password. */
    static const char *const sql[] = {
        "UPDATE users u SET email = COALESCE(b->>'email', u.email), full_name = COALESCE(b->>'full_name', u.full_name), "
        "  active = COALESCE((b->>'active')::boolean, u.active), password_hash = COALESCE($3, u.password_hash) "
        "FROM (SELECT $2::jsonb AS b) s WHERE u.id = $1",
        "SELECT user_json(u), u.id FROM users u WHERE u.id = $1"};
    const struct db_stmt st[] = {{sql[0], 3, p}, {sql[1], 1, p}};
    rc = dbr_write(resp, ctx, &(const struct write_desc){200, "user_update", "user", details}, st, 2);
    free(body);
    return rc;
}

HANDLER(h_users_deactivate)
{
    (void)req;
    if (ctx->params[0] == ctx->claims.sub)
        return reply_error(resp, ctx, ST_CONFLICT, NULL, "You cannot deactivate your own account.", NULL);
    char idb[24];
    const char *p[] = {id_text(ctx->params[0], idb)};
    const struct db_stmt st = {"UPDATE users u SET active = false WHERE u.id = $1 RETURNING user_json(u), u.id", 1, p};
    return dbr_write(resp, ctx, &(const struct write_desc){200, "user_deactivate", "user", NULL}, &st, 1);
}
