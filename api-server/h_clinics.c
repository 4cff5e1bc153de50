/* h_clinics: clinics CRUD. Admins see and manage every clinic; receptionists, doctors and patients
 * read only their own (another clinic is a 404). */
#include <stdlib.h>

#include "handlers.h"

/* The languages of the messages to patients (sql/0021_deliveries.sql message_templates). */
static const char *const languages[] = {"pt-BR", "en", NULL};

static const struct field_spec clinic_fields[] = {
    {"name", FT_STRING, FF_REQUIRED, 1, 200, NULL},
    {"timezone", FT_TIMEZONE, FF_REQUIRED, 0, 0, NULL},
    {"currency", FT_CURRENCY, 0, 0, 0, NULL},
    {"language", FT_ENUM, 0, 0, 0, languages},
    {"booking_requires_confirmation", FT_BOOL, 0, 0, 0, NULL},
};

static const struct body_resource clinic_resource = {
    "clinic", "clinic_create", "clinic_update", clinic_fields, sizeof clinic_fields / sizeof clinic_fields[0], 0,
    "INSERT INTO clinics AS c (name, timezone, currency, language, booking_requires_confirmation) "
    "SELECT b->>'name', b->>'timezone', COALESCE(b->>'currency', 'BRL'), COALESCE(b->>'language', 'pt-BR'), "
    "       COALESCE((b->>'booking_requires_confirmation')::boolean, false) "
    "FROM (SELECT $1::jsonb AS b) s "
    "RETURNING clinic_json(c), c.id",
    "UPDATE clinics c SET name = COALESCE(b->>'name', c.name), timezone = COALESCE(b->>'timezone', c.timezone), "
    "  currency = COALESCE(b->>'currency', c.currency), language = COALESCE(b->>'language', c.language), "
    "  booking_requires_confirmation = COALESCE((b->>'booking_requires_confirmation')::boolean, "
    "                                           c.booking_requires_confirmation) "
    "FROM (SELECT $2::jsonb AS b) s WHERE c.id = $1 RETURNING clinic_json(c), c.id"};

HANDLER(h_clinics_list)
{
    static const struct list_query q = {
        "clinic_json",
        "SELECT c AS r, c.id AS k1 FROM clinics c "
        "WHERE ($1::jsonb IS NULL OR c.id > ($1::jsonb->>0)::bigint) AND ($3::bigint IS NULL OR c.id = $3) "
        "ORDER BY c.id LIMIT $2::int + 1",
        "k1", "jsonb_build_array(k1)"};
    (void)req;
    char sb[24];
    const char *p[] = {query_text(&ctx->query, "cursor"), query_text(&ctx->query, "limit"), scope_clinic(ctx, sb)};
    return dbr_list_reply(resp, ctx, &q, 3, p);
}

HANDLER(h_clinics_create)
{
    (void)req;
    return resource_create(resp, ctx, &clinic_resource);
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
    return resource_update(resp, ctx, &clinic_resource);
}

HANDLER(h_clinics_delete)
{
    (void)req;
    char idb[24];
    const char *p[] = {id_text(ctx->params[0], idb)};
    const struct db_stmt st = {"DELETE FROM clinics c WHERE c.id = $1 RETURNING clinic_json(c), c.id", 1, p};
    return dbr_write(resp, ctx, &(const struct write_desc){204, "clinic_delete", "clinic", NULL}, &st, 1);
}
