/* h_services: the clinic's service catalogue (name, duration, price). Admins manage it; everyone
 * reads their own clinic's (admins every clinic's). */
#include <stdlib.h>
#include <string.h>

#include "handlers.h"

static const struct field_spec service_fields[] = {
    {"clinic_id", FT_INT, FF_REQUIRED, 0, 0, NULL},
    {"name", FT_STRING, FF_REQUIRED, 1, 120, NULL},
    {"duration_minutes", FT_INT, FF_REQUIRED, 5, 480, NULL},
    {"price_cents", FT_INT, FF_REQUIRED, 0, 100000000, NULL},
    {"active", FT_BOOL, 0, 0, 0, NULL},
};

/* A service stays in its clinic: clinic_id (the first field) is not updatable. */
static const struct body_resource service_resource = {
    "service", "service_create", "service_update", service_fields, sizeof service_fields / sizeof service_fields[0], 1,
    "INSERT INTO services AS s (clinic_id, name, duration_minutes, price_cents, active) "
    "SELECT (b->>'clinic_id')::bigint, b->>'name', (b->>'duration_minutes')::int, (b->>'price_cents')::bigint, "
    "       COALESCE((b->>'active')::boolean, true) FROM (SELECT $1::jsonb AS b) x "
    "RETURNING service_json(s), s.id",
    "UPDATE services s SET name = COALESCE(b->>'name', s.name), "
    "  duration_minutes = COALESCE((b->>'duration_minutes')::int, s.duration_minutes), "
    "  price_cents = COALESCE((b->>'price_cents')::bigint, s.price_cents), "
    "  active = COALESCE((b->>'active')::boolean, s.active) "
    "FROM (SELECT $2::jsonb AS b) x WHERE s.id = $1 RETURNING service_json(s), s.id"};

HANDLER(h_services_list)
{
    static const struct list_query lq = {
        "service_json",
        "SELECT s AS r, lower(s.name) AS k1, s.id AS k2 FROM services s "
        "WHERE ($1::jsonb IS NULL OR (lower(s.name), s.id) > ($1::jsonb->>0, ($1::jsonb->>1)::bigint)) "
        "  AND ($3::bigint IS NULL OR s.clinic_id = $3) AND ($4::bigint IS NULL OR s.clinic_id = $4) "
        "  AND ($5::boolean IS NULL OR s.active = $5) "
        "ORDER BY lower(s.name), s.id LIMIT $2::int + 1",
        "k1, k2", "jsonb_build_array(k1, k2)"};
    json_t *errors = json_object();
    int limit, active;
    int64_t clinic = 0;
    char *cursor = NULL, lim[24], sb[24], cb[24];
    query_page(req, "si", &limit, &cursor, errors);
    query_int(req, "clinic_id", &clinic, errors);
    query_bool(req, "active", &active, errors);
    if (json_object_size(errors) > 0) {
        free(cursor);
        return reply_invalid_query(resp, ctx, errors);
    }
    json_decref(errors);
    const char *p[] = {cursor, id_text(limit, lim), scope_clinic(ctx, sb), clinic ? id_text(clinic, cb) : NULL,
                       active < 0 ? NULL : (active ? "true" : "false")};
    int rc = dbr_list_reply(resp, ctx, &lq, 5, p);
    free(cursor);
    return rc;
}

HANDLER(h_services_create)
{
    (void)req;
    return resource_create(resp, ctx, &service_resource);
}

HANDLER(h_services_get)
{
    (void)req;
    char idb[24], sb[24];
    const char *p[] = {id_text(ctx->params[0], idb), scope_clinic(ctx, sb)};
    return dbr_query_reply(resp, ctx, 200,
                           "SELECT service_json(s) FROM services s WHERE s.id = $1 "
                           "AND ($2::bigint IS NULL OR s.clinic_id = $2)",
                           2, p);
}

HANDLER(h_services_update)
{
    (void)req;
    return resource_update(resp, ctx, &service_resource);
}
