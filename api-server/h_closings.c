/* h_closings: monthly closings of the doctors' pay (sql/0010_closings.sql). The admin opens a
 * doctor's month (or every doctor's of a clinic), closes it, corrects it and confirms the transfer;
 * the doctor confirms the receipt or disputes it. Each step only by its role (a receptionist has no
 * access to closings at all); a doctor reaches only their own closings (another's is 404). Every
 * step honours Idempotency-Key and is kept in the closing's trail. */
#include <stdlib.h>
#include <string.h>

#include "handlers.h"

/* Validates the body's "month"; answers 422 when it is missing or malformed. */
static bool body_month(struct _u_response *resp, struct req_ctx *ctx, char out[11], int *rc)
{
    if (parse_month(json_string_value(json_object_get(ctx->body, "month")), out))
        return true;
    *rc = reply_invalid(resp, ctx, json_pack("{s:s}", "month", "must be a month YYYY-MM"));
    return false;
}

static const struct field_spec create_fields[] = {
    {"doctor_id", FT_INT, FF_REQUIRED, 0, 0, NULL},
    {"month", FT_STRING, FF_REQUIRED, 7, 7, NULL},
};

HANDLER(h_closings_create)
{
    int rc;
    char month[11], db[24], actor[24];
    if (!body_valid(resp, ctx, create_fields, 2, false, &rc) || !body_month(resp, ctx, month, &rc))
        return rc;
    int64_t doctor = json_integer_value(json_object_get(ctx->body, "doctor_id"));
    const char *p[] = {id_text(doctor, db), month, actor_text(ctx, actor)};
    /* Each closing is read back in a statement of its own: the one that writes its lines and its trail
     * does not see them in its snapshot. */
    static const char *const sql[] = {
        "SELECT closing_create($1, $2::date, $3)",
        "SELECT closing_json(c), c.id FROM closings c WHERE c.doctor_id = $1 AND c.month = $2::date"};
    const struct db_stmt st[] = {{sql[0], 3, p}, {sql[1], 2, p}};
    const struct write_desc w = {201, "closing_create", "closing",
                                 json_pack("{s:I, s:s}", "doctor_id", (json_int_t)doctor, "month", month)};
    return dbr_write_once(resp, ctx, req, &w, st, 2);
}

static const struct field_spec batch_fields[] = {
    {"clinic_id", FT_INT, FF_REQUIRED, 0, 0, NULL},
    {"month", FT_STRING, FF_REQUIRED, 7, 7, NULL},
};

HANDLER(h_closings_batch)
{
    int rc;
    char month[11], cb[24], actor[24];
    if (!body_valid(resp, ctx, batch_fields, 2, false, &rc) || !body_month(resp, ctx, month, &rc))
        return rc;
    int64_t clinic = json_integer_value(json_object_get(ctx->body, "clinic_id"));
    const char *p[] = {id_text(clinic, cb), month, actor_text(ctx, actor)};
    /* The closings made now are those created in this transaction (created_at = now()). */
    static const char *const sql[] = {
        "SELECT closing_create_all($1, $2::date, $3)",
        "SELECT jsonb_build_object("
        "  'items', COALESCE((SELECT jsonb_agg(closing_json(c, false) ORDER BY c.doctor_id) FROM closings c "
        "                     WHERE c.clinic_id = $1 AND c.month = $2::date AND c.created_at = now()), '[]'::jsonb), "
        "  'skipped', COALESCE((SELECT jsonb_agg(jsonb_build_object('doctor_id', c.doctor_id, 'closing_id', c.id) "
        "                                        ORDER BY c.doctor_id) FROM closings c "
        "                       WHERE c.clinic_id = $1 AND c.month = $2::date AND c.created_at <> now()), '[]'::jsonb)), "
        "  $1"};
    const struct db_stmt st[] = {{sql[0], 3, p}, {sql[1], 2, p}};
    const struct write_desc w = {201, "closing_create_all", "clinic", json_pack("{s:s}", "month", month)};
    return dbr_write_once(resp, ctx, req, &w, st, 2);
}

HANDLER(h_closings_list)
{
    static const struct list_query lq = {
        "",
        "SELECT closing_json(c, false) AS r, c.month AS k1, c.id AS k2 FROM closings c "
        "WHERE ($1::jsonb IS NULL OR (c.month, c.id) > (($1::jsonb->>0)::date, ($1::jsonb->>1)::bigint)) "
        "  AND ($3::bigint IS NULL OR c.doctor_id = $3) AND ($4::bigint IS NULL OR c.doctor_id = $4) "
        "  AND ($5::bigint IS NULL OR c.clinic_id = $5) AND ($6::date IS NULL OR c.month = $6::date) "
        "  AND ($7::text IS NULL OR c.status = $7) "
        "ORDER BY c.month, c.id LIMIT $2::int + 1",
        "k1, k2", "jsonb_build_array(to_char(k1, 'YYYY-MM-DD'), k2)"};
    (void)req;
    const struct query_values *q = &ctx->query;
    char ob[24];
    int64_t doctor = query_num(q, "doctor_id");
    if (ctx->claims.role == ROLE_DOCTOR && doctor && doctor != ctx->claims.doctor_id)
        return reply_error(resp, ctx, ST_FORBIDDEN, NULL, "A doctor sees only their own closings.", NULL);
    const char *own = ctx->claims.role == ROLE_DOCTOR ? id_text(ctx->claims.doctor_id, ob) : NULL;
    const char *p[] = {query_text(q, "cursor"), query_text(q, "limit"), own, query_text(q, "doctor_id"),
                       query_text(q, "clinic_id"), query_text(q, "month"), query_text(q, "status")};
    return dbr_list_reply(resp, ctx, &lq, 7, p);
}

HANDLER(h_closings_get)
{
    (void)req;
    char idb[24], ob[24];
    const char *p[] = {id_text(ctx->params[0], idb),
                       ctx->claims.role == ROLE_DOCTOR ? id_text(ctx->claims.doctor_id, ob) : NULL};
    return dbr_query_reply(resp, ctx, 200,
                           "SELECT closing_json(c) FROM closings c WHERE c.id = $1 AND ($2::bigint IS NULL OR c.doctor_id = $2)",
                           2, p);
}

/* A step of closing ctx->params[0]: action for the SQL, note from the body's field note_field. */
static int step(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx, const char *action,
                const char *note_field)
{
    char idb[24], ob[24], actor[24];
    const char *note = note_field ? json_string_value(json_object_get(ctx->body, note_field)) : NULL;
    const char *p[] = {id_text(ctx->params[0], idb),
                       ctx->claims.role == ROLE_DOCTOR ? id_text(ctx->claims.doctor_id, ob) : NULL, action, note,
                       actor_text(ctx, actor)};
    static const char *const sql[] = {
        "SELECT closing_advance($1, $2, $3, $4, $5)",
        "SELECT closing_json(c), c.id FROM closings c WHERE c.id = $1 AND ($2::bigint IS NULL OR c.doctor_id = $2)"};
    const struct db_stmt st[] = {{sql[0], 5, p}, {sql[1], 2, p}};
    char audit[40];
    snprintf(audit, sizeof audit, "closing_%s", action);
    return dbr_write_once(resp, ctx, req, &(const struct write_desc){200, audit, "closing", NULL}, st, 2);
}

HANDLER(h_closings_close)
{
    int rc;
    if (ctx->body && !body_valid(resp, ctx, NULL, 0, false, &rc))
        return rc;
    return step(req, resp, ctx, "close", NULL);
}

static const struct field_spec reference_fields[] = {
    {"reference", FT_STRING, FF_REQUIRED, 1, 200, NULL},
};

HANDLER(h_closings_confirm_payment)
{
    int rc;
    if (!body_valid(resp, ctx, reference_fields, 1, false, &rc))
        return rc;
    return step(req, resp, ctx, "confirm_payment", "reference");
}

HANDLER(h_closings_confirm_receipt)
{
    int rc;
    if (ctx->body && !body_valid(resp, ctx, NULL, 0, false, &rc))
        return rc;
    return step(req, resp, ctx, "confirm_receipt", NULL);
}

static const struct field_spec dispute_fields[] = {
    {"reason", FT_STRING, FF_REQUIRED, 1, 1000, NULL},
};

HANDLER(h_closings_dispute)
{
    int rc;
    if (!body_valid(resp, ctx, dispute_fields, 1, false, &rc))
        return rc;
    return step(req, resp, ctx, "dispute", "reason");
}

static const struct field_spec adjustment_fields[] = {
    {"amount_cents", FT_INT, FF_REQUIRED, -100000000, 100000000, NULL},
    {"reason", FT_STRING, FF_REQUIRED, 1, 500, NULL},
};

HANDLER(h_closings_adjust)
{
    int rc;
    if (!body_valid(resp, ctx, adjustment_fields, 2, false, &rc))
        return rc;
    json_int_t cents = json_integer_value(json_object_get(ctx->body, "amount_cents"));
    if (cents == 0)
        return reply_invalid(resp, ctx, json_pack("{s:s}", "amount_cents", "must not be zero"));
    char idb[24], ab[24], actor[24];
    const char *p[] = {id_text(ctx->params[0], idb), id_text(cents, ab),
                       json_string_value(json_object_get(ctx->body, "reason")), actor_text(ctx, actor)};
    static const char *const sql[] = {
        "SELECT closing_adjust($1, $2::bigint, $3, $4)",
        "SELECT closing_json(c), c.id FROM closings c WHERE c.id = $1"};
    const struct db_stmt st[] = {{sql[0], 4, p}, {sql[1], 1, p}};
    const struct write_desc w = {200, "closing_adjust", "closing", json_pack("{s:I}", "amount_cents", cents)};
    return dbr_write_once(resp, ctx, req, &w, st, 2);
}
