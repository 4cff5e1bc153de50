/* h_clinics: clinics CRUD. Admins see and manage every clinic; receptionists and doctors read
 * only their own (another clinic is a 404). */
#include <stdlib.h>

#include "handlers.h"

static const struct field_spec clinic_fields[] = {
    {"name", FT_STRING, FF_REQUIRED, 1, 200, NULL},
    {"timezone", FT_TIMEZONE, FF_REQUIRED, 0, 0, NULL},
    {"currency", FT_CURRENCY, 0, 0, 0, NULL},
};
#define NFIELDS (sizeof clinic_fields / sizeof clinic_fields[0])

HANDLER(h_clinics_list)
{
    static const struct list_query q = {
        "clinic_json",
        "SELECT c AS r, c.id AS k1 FROM clinics c "
        "WHERE ($1::jsonb IS NULL OR c.id > ($1::jsonb->>0)::bigint) AND ($3::bigint IS NULL OR c.id = $3) "
        "ORDER BY c.id LIMIT $2::int + 1",
        "k1", "jsonb_build_array(k1)"};
    json_t *errors = json_object();
    int limit;
    char *cursor = NULL, lim[24], sb[24];
    if (!query_page(req, "i", &limit, &cursor, errors))
        return reply_invalid_query(resp, ctx, errors);
    json_decref(errors);
    const char *p[] = {cursor, id_text(limit, lim), scope_clinic(ctx, sb)};
    int rc = dbr_list_reply(resp, ctx, &q, 3, p);
    free(cursor);
    return rc;
}

HANDLER(h_clinics_create)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, clinic_fields, NFIELDS, false, &rc))
        return rc;
    char *body = dbr_body_text(ctx->body);
    const char *p[] = {body};
    static const char *const sql[] = {
        "INSERT INTO clinics AS c (name, timezone, currency) "
        "SELECT b->>'name', b->>'timezone', COALESCE(b->>'currency', 'BRL') FROM (SELECT $1::jsonb AS b) s "
        "RETURNING clinic_json(c), c.id"};
    rc = dbr_write(resp, ctx, 201, sql, 1, 1, p, "clinic_create", "clinic", json_pack("{s:O}", "clinic", ctx->body));
    free(body);
    return rc;
}

HANDLER(h_clinics_get)
{
    (void)req;
    char idb[24], sb[24];
    const char *p[] = {id_text(ctx->params[0], idb), scope_clinic(ctx, sb)};
    return dbr_query_reply(resp, ctx, 200,
                           "SELECT clinic_json(c) FROM clinics c WHERE c.id = $1 AND ($2::bigint IS NULL OR c.id = $2)",
                           2, p);
}

HANDLER(h_clinics_update)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, clinic_fields, NFIELDS, true, &rc))
        return rc;
    char idb[24];
    char *body = dbr_body_text(ctx->body);
    const char *p[] = {id_text(ctx->params[0], idb), body};
    static const char *const sql[] = {
        "UPDATE clinics c SET name = COALESCE(b->>'name', c.name), timezone = COALESCE(b->>'timezone', c.timezone), "
        "  currency = COALESCE(b->>'currency', c.currency) "
        "FROM (SELECT $2::jsonb AS b) s WHERE c.id = $1 RETURNING clinic_json(c), c.id"};
    rc = dbr_write(resp, ctx, 200, sql, 1, 2, p, "clinic_update", "clinic", json_pack("{s:O}", "changes", ctx->body));
    free(body);
    return rc;
}

HANDLER(h_clinics_delete)
{
    (void)req;
    char idb[24];
    const char *p[] = {id_text(ctx->params[0], idb)};
    static const char *const sql[] = {"DELETE FROM clinics c WHERE c.id = $1 RETURNING clinic_json(c), c.id"};
    return dbr_write(resp, ctx, 204, sql, 1, 1, p, "clinic_delete", "clinic", NULL);
}
