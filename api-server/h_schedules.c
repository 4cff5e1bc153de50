/* h_schedules: a doctor's weekly availability rules, unavailability blocks and the free slots
 * computed from them (SQL function doctor_free_slots, in the clinic's time zone).
 *
 * Reading: staff of the doctor's clinic (admins any; slots also patients of the clinic). Changing:
 * admins, the clinic's receptionists, and the doctor for themself only (another doctor of the same
 * clinic is a 403; a doctor of another clinic is a 404, as for every record out of reach). */
#include <stdlib.h>
#include <string.h>

#include "handlers.h"

static const char *const consultation_types[] = {"in_person", "video", NULL};

/* Whether the caller may change doctor_id's schedule: ST_OK, ST_FORBIDDEN, ST_NOT_FOUND, or the
 * database's status. */
static enum status schedule_write_access(const struct req_ctx *ctx, int64_t doctor_id)
{
    PGconn *conn = dbr_acquire();
    if (!conn)
        return ST_UNAVAILABLE;
    char idb[24];
    const char *p[] = {id_text(doctor_id, idb)};
    struct db_error err;
    PGresult *r = db_exec(conn, "SELECT clinic_id FROM doctors WHERE id = $1", 1, p);
    enum status st;
    if (!db_ok(conn, r, &err))
        st = err.status;
    else if (PQntuples(r) == 0)
        st = ST_NOT_FOUND;
    else if (ctx->claims.role == ROLE_ADMIN)
        st = ST_OK;
    else if (strtoll(PQgetvalue(r, 0, 0), NULL, 10) != ctx->claims.clinic_id)
        st = ST_NOT_FOUND;
    else if (ctx->claims.role == ROLE_DOCTOR && ctx->claims.doctor_id != doctor_id)
        st = ST_FORBIDDEN;
    else
        st = ST_OK;
    PQclear(r);
    dbr_release(conn);
    return st;
}

/* Answers 404/403/503 when the caller may not change the schedule; returns true when it may. */
static bool may_write(struct _u_response *resp, struct req_ctx *ctx, int *rc)
{
    enum status st = schedule_write_access(ctx, ctx->params[0]);
    if (st == ST_OK)
        return true;
    *rc = reply_status(resp, ctx, st);
    return false;
}

/* Creates a schedule record of the path's doctor from the body (already valid) once the caller may:
 * sql takes $1 the doctor and $2 the body. The audit details name the doctor, and under body_key
 * (when not NULL) the body. */
static int schedule_create(struct _u_response *resp, struct req_ctx *ctx, const char *sql, const char *action,
                           const char *entity, const char *body_key)
{
    int rc;
    if (!may_write(resp, ctx, &rc))
        return rc;
    json_t *details = json_pack("{s:I}", "doctor_id", (json_int_t)ctx->params[0]);
    if (body_key)
        json_object_set(details, body_key, ctx->body);
    return dbr_write_body(resp, ctx, &(const struct write_desc){201, action, entity, details}, ctx->params[0], sql);
}

/* Deletes the path's record (second id) of the path's doctor once the caller may: sql takes $1
 * the doctor and $2 the record. */
static int schedule_delete(struct _u_response *resp, struct req_ctx *ctx, const char *sql, const char *action,
                           const char *entity)
{
    int rc;
    if (!may_write(resp, ctx, &rc))
        return rc;
    char idb[24], rb[24];
    const char *p[] = {id_text(ctx->params[0], idb), id_text(ctx->params[1], rb)};
    const struct db_stmt st = {sql, 2, p};
    const struct write_desc w = {204, action, entity, json_pack("{s:I}", "doctor_id", (json_int_t)ctx->params[0])};
    return dbr_write(resp, ctx, &w, &st, 1);
}

static int minutes_of(const char *hhmm) { return atoi(hhmm) * 60 + atoi(hhmm + 3); }

void rule_hours_check(json_t *body, json_t *errors)
{
    int start = minutes_of(json_string_value(json_object_get(body, "start_time")));
    int end = minutes_of(json_string_value(json_object_get(body, "end_time")));
    json_int_t slot = json_integer_value(json_object_get(body, "slot_minutes"));
    if (end <= start)
        json_object_set_new(errors, "end_time", json_string("must be after start_time"));
    else if (end - start < slot)
        json_object_set_new(errors, "slot_minutes", json_string("does not fit between start_time and end_time"));
}

static const struct field_spec rule_fields[] = {
    {"weekday", FT_INT, FF_REQUIRED, 1, 7, NULL},
    {"start_time", FT_TIME, FF_REQUIRED, 0, 0, NULL},
    {"end_time", FT_TIME, FF_REQUIRED, 0, 0, NULL},
    {"slot_minutes", FT_INT, FF_REQUIRED, 5, 240, NULL},
    {"consultation_types", FT_ENUM_SET, FF_REQUIRED, 0, 0, consultation_types},
};

HANDLER(h_availability_list)
{
    (void)req;
    char idb[24], sb[24];
    const char *p[] = {id_text(ctx->params[0], idb), scope_clinic(ctx, sb)};
    return dbr_query_reply(resp, ctx, 200,
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM doctors d WHERE d.id = $1 AND ($2::bigint IS NULL OR d.clinic_id = $2)) "
        "THEN (SELECT jsonb_build_object('items', COALESCE(jsonb_agg(availability_rule_json(r) "
        "                                ORDER BY r.weekday, r.start_time, r.id), '[]'::jsonb), 'next_cursor', NULL) "
        "      FROM availability_rules r WHERE r.doctor_id = $1) END",
        2, p);
}

HANDLER(h_availability_create)
{
    (void)req;
    json_t *errors = json_object();
    if (validate_object(ctx->body, rule_fields, sizeof rule_fields / sizeof rule_fields[0], false, errors))
        rule_hours_check(ctx->body, errors);
    if (json_object_size(errors) > 0)
        return reply_invalid(resp, ctx, errors);
    json_decref(errors);
    return schedule_create(resp, ctx,
        "INSERT INTO availability_rules AS r (doctor_id, weekday, start_time, end_time, slot_minutes, consultation_types) "
        "SELECT $1, (b->>'weekday')::smallint, (b->>'start_time')::time, (b->>'end_time')::time, "
        "       (b->>'slot_minutes')::int, ARRAY(SELECT jsonb_array_elements_text(b->'consultation_types')) "
        "FROM (SELECT $2::jsonb AS b) x RETURNING availability_rule_json(r), r.id",
        "availability_create", "availability_rule", "rule");
}

HANDLER(h_availability_delete)
{
    (void)req;
    return schedule_delete(resp, ctx, "DELETE FROM availability_rules r WHERE r.id = $2 AND r.doctor_id = $1 "
                                      "RETURNING availability_rule_json(r), r.id",
                           "availability_delete", "availability_rule");
}

static const struct field_spec block_fields[] = {
    {"starts_at", FT_INSTANT, FF_REQUIRED, 0, 0, NULL},
    {"ends_at", FT_INSTANT, FF_REQUIRED, 0, 0, NULL},
    {"reason", FT_STRING, FF_NULLABLE, 1, 200, NULL},
};

HANDLER(h_unavailability_list)
{
    (void)req;
    const struct query_values *q = &ctx->query;
    if (query_text(q, "from") && query_text(q, "to") && query_num(q, "from") > query_num(q, "to"))
        return reply_invalid_query(resp, ctx, json_pack("{s:s}", "to", "must not be before from"));
    char idb[24], sb[24];
    const char *p[] = {id_text(ctx->params[0], idb), scope_clinic(ctx, sb), query_text(q, "from"),
                       query_text(q, "to")};
    return dbr_query_reply(resp, ctx, 200,
        "SELECT CASE WHEN d.id IS NOT NULL THEN ("
        "  SELECT jsonb_build_object('items', COALESCE(jsonb_agg(unavailability_json(u) ORDER BY lower(u.period), u.id), "
        "                            '[]'::jsonb), 'next_cursor', NULL) "
        "  FROM doctor_unavailability u WHERE u.doctor_id = d.id "
        "   AND u.period && tstzrange($3::date::timestamp AT TIME ZONE c.timezone, "
        "                             ($4::date + 1)::timestamp AT TIME ZONE c.timezone)) END "
        "FROM (SELECT 1) one LEFT JOIN doctors d ON d.id = $1 AND ($2::bigint IS NULL OR d.clinic_id = $2) "
        "LEFT JOIN clinics c ON c.id = d.clinic_id",
        4, p);
}

HANDLER(h_unavailability_create)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, block_fields, sizeof block_fields / sizeof block_fields[0], false, &rc))
        return rc;
    /* An end before the start makes an empty range, which the table's CHECK refuses as ends_at. */
    return schedule_create(resp, ctx,
        "INSERT INTO doctor_unavailability AS u (doctor_id, period, reason) "
        "SELECT $1, tstzrange(LEAST((b->>'starts_at')::timestamptz, (b->>'ends_at')::timestamptz), "
        "                     (b->>'ends_at')::timestamptz), b->>'reason' "
        "FROM (SELECT $2::jsonb AS b) x RETURNING unavailability_json(u), u.id",
        "unavailability_create", "unavailability", NULL);
}

HANDLER(h_unavailability_delete)
{
    (void)req;
    return schedule_delete(resp, ctx, "DELETE FROM doctor_unavailability u WHERE u.id = $2 AND u.doctor_id = $1 "
                                      "RETURNING unavailability_json(u), u.id",
                           "unavailability_delete", "unavailability");
}

#define MAX_SLOT_DAYS 31

HANDLER(h_doctor_slots)
{
    (void)req;
    const struct query_values *q = &ctx->query;
    long long days = query_num(q, "to") - query_num(q, "from") + 1; /* both required */
    if (days < 1)
        return reply_invalid_query(resp, ctx, json_pack("{s:s}", "to", "must not be before from"));
    if (days > MAX_SLOT_DAYS)
        return reply_invalid_query(resp, ctx, json_pack("{s:s}", "to", "must be at most 31 days after from"));
    char idb[24], sb[24];
    const char *p[] = {id_text(ctx->params[0], idb), scope_clinic(ctx, sb), query_text(q, "from"),
                       query_text(q, "to"), query_text(q, "type")};
    return dbr_query_reply(resp, ctx, 200,
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM doctors d WHERE d.id = $1 AND ($2::bigint IS NULL OR d.clinic_id = $2)) "
        "THEN (SELECT jsonb_build_object('items', COALESCE(jsonb_agg(jsonb_build_object("
        "          'start_time', rfc3339(s.start_time), 'end_time', rfc3339(s.end_time), "
        "          'consultation_type', s.consultation_type) ORDER BY s.start_time, s.consultation_type), '[]'::jsonb), "
        "        'next_cursor', NULL) "
        "      FROM doctor_free_slots($1, $3::date, $4::date, $5::text) s) END",
        5, p);
}
