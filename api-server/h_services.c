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
    (void)req;
    const struct query_values *q = &ctx->query;
    char sb[24];
    const char *p[] = {query_text(q, "cursor"), query_text(q, "limit"), scope_clinic(ctx, sb),
                       query_text(q, "clinic_id"), query_text(q, "active")};
    return dbr_list_reply(resp, ctx, &lq, 5, p);
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
