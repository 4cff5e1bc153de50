/* h_doctors: the doctor directory (everyone sees the doctors of their own clinic; admins all) and
 * profile edits: a doctor edits their own (PATCH /doctors/me), an admin any. What a reader sees of
 * a doctor is decided by doctor_json_for (sql/0013_projections.sql) from the token's role: staff
 * the full profile, patients the public projection. The PIX key the doctor is paid to is checked
 * by its type and stored normalised (common/pix.c); reads show it masked, the answer to the edit
 * in full. */
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "login_throttle.h"
#include "pix.h"

static const char *const pix_types[] = {"cpf", "cnpj", "phone", "email", "evp", NULL};

static const struct field_spec profile_fields[] = {
    {"full_name", FT_STRING, 0, 1, 200, NULL},
    {"specialty", FT_STRING, FF_NULLABLE, 0, 100, NULL},
    {"license_number", FT_STRING, FF_NULLABLE, 0, 50, NULL},
    {"pix_key_type", FT_ENUM, FF_NULLABLE, 0, 0, pix_types},
    {"pix_key", FT_TEXT, FF_NULLABLE, 1, PIX_KEY_INPUT_MAX, NULL},
    {"current_password", FT_STRING, 0, 1, 128, NULL},
};

/* The PIX pair of a valid profile body: both or neither, both null to remove the key; the key is
 * replaced by its normalised form. Problems go to errors. */
static void pix_check(json_t *body, json_t *errors)
{
    json_t *type = json_object_get(body, "pix_key_type"), *key = json_object_get(body, "pix_key");
    if (!type && !key)
        return;
    if (!type || !key || json_is_null(type) != json_is_null(key)) {
        json_object_set_new(errors, type && !json_is_null(type) ? "pix_key" : "pix_key_type",
                            json_string("pix_key_type and pix_key are set (or removed with null) together"));
        return;
    }
    if (json_is_null(key))
        return;
    char out[PIX_KEY_MAX + 1];
    const char *why = pix_key_normalize(pix_key_type_parse(json_string_value(type)), json_string_value(key), out,
                                        sizeof out);
    if (why)
        json_object_set_new(errors, "pix_key", json_string(why));
    else
        json_object_set_new(body, "pix_key", json_string(out));
}

HANDLER(h_doctors_list)
{
    (void)req;
    const struct query_values *q = &ctx->query;
    char sb[24];
    const char *p[] = {query_text(q, "cursor"), query_text(q, "limit"), scope_clinic(ctx, sb),
                       query_text(q, "clinic_id"), query_text(q, "user_id"), role_name(ctx->claims.role)};
    /* r is the item already (json_fn ""): the doctor as the reader ($6) sees them. */
    static const struct list_query lq = {
        "",
        "SELECT doctor_json_for(d, $6) AS r, d.id AS k1 FROM doctors d "
        "WHERE ($1::jsonb IS NULL OR d.id > ($1::jsonb->>0)::bigint) AND ($3::bigint IS NULL OR d.clinic_id = $3) "
        "  AND ($4::bigint IS NULL OR d.clinic_id = $4) AND ($5::bigint IS NULL OR d.user_id = $5) "
        "ORDER BY d.id LIMIT $2::int + 1",
        "k1", "jsonb_build_array(k1)"};
    return dbr_list_reply(resp, ctx, &lq, 6, p);
}

HANDLER(h_doctors_get)
{
    (void)req;
    char idb[24], sb[24];
    const char *p[] = {id_text(ctx->params[0], idb), scope_clinic(ctx, sb), role_name(ctx->claims.role)};
    return dbr_query_reply(resp, ctx, 200,
                           "SELECT doctor_json_for(d, $3) FROM doctors d "
                           "WHERE d.id = $1 AND ($2::bigint IS NULL OR d.clinic_id = $2)",
                           3, p);
}

/* Updates doctor_id's profile: the user's name first, then the PIX key's announcements, then the
 * doctor row, whose JSON (read after the first statement) is the answer: the full profile (the
 * callers are the doctor and admins) with the PIX key unmasked.
 *
 * The PIX key is where the doctor's money goes, so a body that sets it must carry the caller's own
 * current password (the doctor's on /doctors/me, the admin's on /doctors/{id}), checked through
 * the sign-in gate (login_throttle.h: a wrong one is a 422 on current_password and counts as a
 * failed sign-in). When the key really changes, doctor_pix_announce (sql/0012) tells the doctor
 * and writes the change into the trail of each of their closings not yet paid, in the transaction
 * of the edit; the audit row is then doctor_pix_change instead of doctor_update. */
static int update_profile(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx,
                          int64_t doctor_id)
{
    json_t *errors = json_object();
    if (validate_object(ctx->body, profile_fields, sizeof profile_fields / sizeof profile_fields[0], true, errors))
        pix_check(ctx->body, errors);
    bool pix = json_object_get(ctx->body, "pix_key_type") || json_object_get(ctx->body, "pix_key");
    if (pix && !json_object_get(ctx->body, "current_password"))
        json_object_set_new(errors, "current_password", json_string("is required to change the PIX key"));
    if (json_object_size(errors) > 0)
        return reply_invalid(resp, ctx, errors);
    json_decref(errors);
    int rc;
    char hash[PASSWORD_HASH_MAX];
    const char *current = json_string_value(json_object_get(ctx->body, "current_password"));
    if (pix && !login_confirm_password(req, resp, ctx, current, "current_password", hash, &rc))
        return rc;
    json_object_del(ctx->body, "current_password");
    char idb[24], ab[24];
    char *body = dbr_body_text(ctx->body);
    const char *p[] = {id_text(doctor_id, idb), body, actor_text(ctx, ab)};
    static const char *const sql[] = {
        "UPDATE users u SET full_name = COALESCE($2::jsonb->>'full_name', u.full_name) "
        "FROM doctors d WHERE d.id = $1 AND u.id = d.user_id",
        "SELECT doctor_pix_announce($1, b->>'pix_key_type', b->>'pix_key', $3::bigint) "
        "FROM (SELECT $2::jsonb AS b) s WHERE b ? 'pix_key'",
        "UPDATE doctors d SET "
        "  specialty = CASE WHEN b ? 'specialty' THEN b->>'specialty' ELSE d.specialty END, "
        "  license_number = CASE WHEN b ? 'license_number' THEN b->>'license_number' ELSE d.license_number END, "
        "  pix_key_type = CASE WHEN b ? 'pix_key_type' THEN b->>'pix_key_type' ELSE d.pix_key_type END, "
        "  pix_key = CASE WHEN b ? 'pix_key' THEN b->>'pix_key' ELSE d.pix_key END "
        "FROM (SELECT $2::jsonb AS b) s WHERE d.id = $1 "
        "RETURNING doctor_json(d) || jsonb_build_object('pix_key', d.pix_key), d.id"};
    const struct db_stmt st[] = {{sql[0], 2, p}, {sql[1], 3, p}, {sql[2], 2, p}};
    const struct write_desc w = {200, pix ? "doctor_pix_change" : "doctor_update", "doctor",
                                 dbr_changed_fields(ctx->body)};
    rc = dbr_write(resp, ctx, &w, st, 3);
    free(body);
    return rc;
}

HANDLER(h_doctors_update_me)
{
    return update_profile(req, resp, ctx, ctx->claims.doctor_id);
}

HANDLER(h_doctors_update)
{
    return update_profile(req, resp, ctx, ctx->params[0]);
}
