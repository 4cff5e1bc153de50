/* h_visits: putting patients in the day's queue (check-in of an appointment, walk-in), reading a
 * visit and its transition history, calling a patient and recording that one left.
 *
 * The SQL functions of sql/0004_visits.sql do the work in one transaction: the queue number comes
 * from the clinic's counter row for the day (gap-free). A status change is one call of visit_move
 * (or visit_complete) with the target only: whether the move is allowed is the database's
 * transition table (visit_moves, sql/0018_one_owner.sql), checked by trigger on the locked row (two
 * desks at once: one 200, one 409), and triggers record the transition and write the events. */
#include <stdlib.h>

#include "handlers.h"

static const char *const types[] = {"in_person", "video", NULL};

static const struct field_spec check_in_fields[] = {
    {"notes", FT_STRING, FF_NULLABLE, 0, 500, NULL},
};

static const struct field_spec walk_in_fields[] = {
    {"patient_id", FT_INT, FF_REQUIRED, 0, 0, NULL},
    {"doctor_id", FT_INT, FF_REQUIRED, 0, 0, NULL},
    {"service_id", FT_INT, FF_NULLABLE, 0, 0, NULL},
    {"consultation_type", FT_ENUM, 0, 0, 0, types},
    {"notes", FT_STRING, FF_NULLABLE, 0, 500, NULL},
};

HANDLER(h_visits_check_in)
{
    (void)req;
    int rc;
    if (ctx->body && !body_valid(resp, ctx, check_in_fields, 1, false, &rc))
        return rc;
    json_t *notes = ctx->body ? json_object_get(ctx->body, "notes") : NULL;
    char idb[24], sb[24], ab[24];
    const char *p[] = {id_text(ctx->params[0], idb), scope_clinic(ctx, sb), json_string_value(notes),
                       actor_text(ctx, ab)};
    static const char *const sql[] = {
        "SELECT visit_json(v), v.id FROM appointment_check_in($1, $2, $3, $4) v"};
    const struct db_stmt st[] = {{sql[0], 4, p}};
    const struct write_desc w = {201, "visit_check_in", "visit",
                                 json_pack("{s:I}", "appointment_id", (json_int_t)ctx->params[0])};
    return dbr_write(resp, ctx, &w, st, 1);
}

HANDLER(h_visits_walk_in)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, walk_in_fields, sizeof walk_in_fields / sizeof walk_in_fields[0], false, &rc))
        return rc;
    char sb[24], ab[24];
    char *body = dbr_body_text(ctx->body);
    const char *p[] = {body, scope_clinic(ctx, sb), actor_text(ctx, ab)};
    static const char *const sql[] = {"SELECT visit_json(v), v.id FROM visit_walk_in($2, $1::jsonb, $3) v"};
    const struct db_stmt st[] = {{sql[0], 3, p}};
    rc = dbr_write(resp, ctx, &(const struct write_desc){201, "visit_walk_in", "visit", NULL}, st, 1);
    free(body);
    return rc;
}

/* The visits the caller may see: $2 clinic, $3 doctor, $4 patient (NULL = any). */
#define VISIT_REACH                                                                                               \
    "($2::bigint IS NULL OR v.clinic_id = $2) AND ($3::bigint IS NULL OR v.doctor_id = $3) "                      \
    "AND ($4::bigint IS NULL OR v.patient_id = $4)"

HANDLER(h_visits_get)
{
    (void)req;
    char idb[24];
    struct scope_params s;
    scope_of(ctx, &s);
    const char *p[] = {id_text(ctx->params[0], idb), s.c, s.d, s.p};
    return dbr_query_reply(resp, ctx, 200, "SELECT visit_json(v) FROM visits v WHERE v.id = $1 AND " VISIT_REACH, 4,
                           p);
}

HANDLER(h_visits_transitions)
{
    /* $1 cursor, $2 limit, then the visit and the caller's reach as in VISIT_REACH shifted by 3. */
    static const struct list_query lq = {
        "visit_transition_json",
        "SELECT t AS r, t.id AS k1 FROM visit_transitions t "
        "WHERE t.visit_id = $3 AND ($1::jsonb IS NULL OR t.id > ($1::jsonb->>0)::bigint) "
        "ORDER BY t.id LIMIT $2::int + 1",
        "k1", "jsonb_build_array(k1)"};
    (void)req;
    char idb[24];
    struct scope_params s;
    scope_of(ctx, &s);
    const char *p[] = {query_text(&ctx->query, "cursor"), query_text(&ctx->query, "limit"),
                       id_text(ctx->params[0], idb), s.c, s.d, s.p};
    return dbr_list_reply_guarded(resp, ctx, &lq,
                                    "EXISTS (SELECT 1 FROM visits v WHERE v.id = $3 "
                                    "AND ($4::bigint IS NULL OR v.clinic_id = $4) "
                                    "AND ($5::bigint IS NULL OR v.doctor_id = $5) "
                                    "AND ($6::bigint IS NULL OR v.patient_id = $6))",
                                    6, p);
}

/* One visit write of sql/0018 ($1 visit, $2 clinic scope, $3 doctor scope, $4 target or notes, $5 actor). */
static int visit_write(struct _u_response *resp, struct req_ctx *ctx, const char *sql, int64_t visit_id,
                       bool doctor_scoped, const char *text, const char *action, json_t *details)
{
    char idb[24], sb[24], db[24], ab[24];
    const char *p[] = {id_text(visit_id, idb), scope_clinic(ctx, sb),
                       doctor_scoped ? id_text(ctx->claims.doctor_id, db) : NULL, text, actor_text(ctx, ab)};
    const struct db_stmt st[] = {{sql, 5, p}};
    const struct write_desc w = {200, action, "visit", details};
    return dbr_write(resp, ctx, &w, st, 1);
}

int visit_move(struct _u_response *resp, struct req_ctx *ctx, int64_t visit_id, bool doctor_scoped,
               const char *target, const char *action)
{
    return visit_write(resp, ctx, "SELECT visit_json(v), v.id FROM visit_move($1, $2, $3, $4, $5) v", visit_id,
                       doctor_scoped, target, action, json_pack("{s:s}", "to", target));
}

int visit_complete(struct _u_response *resp, struct req_ctx *ctx, int64_t visit_id, const char *notes)
{
    return visit_write(resp, ctx, "SELECT visit_json(v), v.id FROM visit_complete($1, $2, $3, $4, $5) v", visit_id,
                       true, notes, "visit_complete", json_pack("{s:s}", "to", "completed"));
}

HANDLER(h_visits_call)
{
    (void)req;
    int rc;
    if (ctx->body && !body_valid(resp, ctx, NULL, 0, false, &rc))
        return rc;
    return visit_move(resp, ctx, ctx->params[0], ctx->claims.role == ROLE_DOCTOR, "called", "visit_call");
}

HANDLER(h_visits_left)
{
    (void)req;
    int rc;
    if (ctx->body && !body_valid(resp, ctx, NULL, 0, false, &rc))
        return rc;
    return visit_move(resp, ctx, ctx->params[0], false, "left", "visit_left");
}
