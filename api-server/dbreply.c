/* dbreply: see dbreply.h. */
#include "dbreply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

PGconn *dbr_acquire(void) { return db_acquire(app.pool); }
void dbr_release(PGconn *conn) { db_release(app.pool, conn); }

/* Messages for the conflicts whose constraint names no field (exclusion constraints, partial
 * unique indexes). */
static const struct {
    const char *constraint;
    const char *message;
} conflict_messages[] = {
    {"appointments_doctor_overlap_excl", "The doctor already has an appointment at that time."},
    {"appointments_patient_overlap_excl", "The patient already has an appointment at that time."},
    {"availability_rules_overlap_excl", "These hours overlap another rule of the doctor on that weekday."},
    {"visits_patient_active_key", "The patient is already in the queue."},
    {"visits_appointment_id_key", "The appointment is already checked in."},
};

int dbr_reply_error(struct _u_response *resp, struct req_ctx *ctx, const struct db_error *err)
{
    char msg[160];
    switch (err->status) {
    case ST_INVALID:
        if (err->field[0]) {
            json_t *fields = json_object();
            json_object_set_new(fields, err->field, json_string(err->reason[0] ? err->reason : "is invalid"));
            return reply_invalid(resp, ctx, fields);
        }
        return reply_error(resp, ctx, ST_INVALID, NULL, "The request was refused by a data rule.", NULL);
    case ST_CONFLICT:
        if (err->reason[0])
            return reply_error(resp, ctx, ST_CONFLICT, NULL, err->reason, NULL);
        for (size_t i = 0; i < sizeof conflict_messages / sizeof conflict_messages[0]; i++)
            if (strcmp(err->constraint, conflict_messages[i].constraint) == 0)
                return reply_error(resp, ctx, ST_CONFLICT, NULL, conflict_messages[i].message, NULL);
        if (err->field[0] && strstr(err->constraint, "_key")) {
            snprintf(msg, sizeof msg, "A record with this %s already exists.", err->field);
            return reply_error(resp, ctx, ST_CONFLICT, NULL, msg, NULL);
        }
        if (strstr(err->constraint, "_excl"))
            return reply_error(resp, ctx, ST_CONFLICT, NULL, "It overlaps an existing record.", NULL);
        if (strstr(err->constraint, "fkey"))
            return reply_error(resp, ctx, ST_CONFLICT, NULL, "The record is still in use by other records.", NULL);
        return reply_status(resp, ctx, ST_CONFLICT);
    default:
        return reply_status(resp, ctx, err->status);
    }
}

int dbr_reply_row(struct _u_response *resp, struct req_ctx *ctx, PGconn *conn, const PGresult *res, int http)
{
    struct db_error err;
    if (!db_ok(conn, res, &err))
        return dbr_reply_error(resp, ctx, &err);
    if (PQntuples(res) < 1 || PQgetisnull(res, 0, 0))
        return reply_status(resp, ctx, ST_NOT_FOUND);
    return reply_text_json(resp, ctx, http, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
}

int dbr_query_reply(struct _u_response *resp, struct req_ctx *ctx, int http, const char *sql, int n,
                    const char *const *params)
{
    PGconn *conn = dbr_acquire();
    if (!conn)
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    PGresult *res = db_exec(conn, sql, n, params);
    int rc = dbr_reply_row(resp, ctx, conn, res, http);
    PQclear(res);
    dbr_release(conn);
    return rc;
}

int dbr_list_reply(struct _u_response *resp, struct req_ctx *ctx, const struct list_query *q, int n,
                   const char *const *params)
{
    return dbr_list_reply_guarded(resp, ctx, q, "true", n, params);
}

int dbr_list_reply_guarded(struct _u_response *resp, struct req_ctx *ctx, const struct list_query *q,
                           const char *guard, int n, const char *const *params)
{
    /* Built only from the static fragments of q (never from request data). */
    char sql[6144];
    int len = snprintf(sql, sizeof sql,
                       "WITH page AS (%s), "
                       "n AS (SELECT *, row_number() OVER (ORDER BY %s) AS rn FROM page) "
                       "SELECT CASE WHEN %s THEN jsonb_build_object("
                       "  'items', COALESCE(jsonb_agg(%s(r) ORDER BY rn) FILTER (WHERE rn <= $2::int), '[]'::jsonb), "
                       "  'next_cursor', (SELECT cursor_encode(%s) FROM n WHERE rn = $2::int "
                       "                  AND EXISTS (SELECT 1 FROM n WHERE rn > $2::int))) END "
                       "FROM n",
                       q->inner, q->order, guard, q->json_fn, q->cursor);
    if (len < 0 || (size_t)len >= sizeof sql)
        return reply_status(resp, ctx, ST_INTERNAL);
    return dbr_query_reply(resp, ctx, 200, sql, n, params);
}

bool audit_write_as(PGconn *conn, const struct req_ctx *ctx, int64_t actor_id, const char *actor_role,
                    const char *action, const char *entity, int64_t entity_id, json_t *details,
                    struct db_error *err)
{
    char actor[24], eid[24];
    char *det = details ? json_dumps(details, JSON_COMPACT) : NULL;
    json_decref(details);
    const char *params[] = {actor_id > 0 ? id_text(actor_id, actor) : NULL, actor_role, action, entity,
                            entity_id > 0 ? id_text(entity_id, eid) : NULL, det ? det : "{}", ctx->request_id};
    PGresult *r = db_exec(conn,
                          "INSERT INTO audit_log (actor_user_id, actor_role, action, entity, entity_id, details, "
                          "request_id) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)",
                          7, params);
    bool ok = db_ok(conn, r, err);
    PQclear(r);
    free(det);
    return ok;
}

bool audit_write(PGconn *conn, const struct req_ctx *ctx, const char *action, const char *entity,
                 int64_t entity_id, json_t *details, struct db_error *err)
{
    return audit_write_as(conn, ctx, ctx->authed ? ctx->claims.sub : 0,
                          ctx->authed ? role_name(ctx->claims.role) : NULL, action, entity, entity_id, details, err);
}

char *dbr_body_text(json_t *body) { return json_dumps(body, JSON_COMPACT); }

int dbr_write(struct _u_response *resp, struct req_ctx *ctx, int http, const char *const *sqls, int nsql,
              int nparams, const char *const *params, const char *action, const char *entity, json_t *details)
{
    PGconn *conn = dbr_acquire();
    if (!conn) {
        json_decref(details);
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    }
    struct db_error err;
    PGresult *last = NULL;
    int rc;
    if (!db_begin(conn, &err))
        goto fail;
    for (int i = 0; i < nsql; i++) {
        PQclear(last);
        last = db_exec(conn, sqls[i], nparams, params);
        if (!db_ok(conn, last, &err))
            goto fail;
    }
    if (PQntuples(last) != 1) {
        db_rollback(conn);
        json_decref(details);
        rc = reply_status(resp, ctx, ST_NOT_FOUND);
        goto out;
    }
    int64_t id = strtoll(PQgetvalue(last, 0, 1), NULL, 10);
    int status_col = PQfnumber(last, "http_status");
    if (status_col >= 0 && !PQgetisnull(last, 0, status_col))
        http = atoi(PQgetvalue(last, 0, status_col));
    bool ok = audit_write(conn, ctx, action, entity, id, details, &err);
    details = NULL;
    if (!ok || !db_commit(conn, &err))
        goto fail;
    rc = http == 204 ? reply_no_content(resp, ctx)
                     : reply_text_json(resp, ctx, http, PQgetvalue(last, 0, 0), (size_t)PQgetlength(last, 0, 0));
    goto out;
fail:
    json_decref(details);
    db_rollback(conn);
    rc = dbr_reply_error(resp, ctx, &err);
out:
    PQclear(last);
    dbr_release(conn);
    return rc;
}

json_t *dbr_changed_fields(json_t *body)
{
    json_t *keys = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        (void)v;
        json_array_append_new(keys, json_string(k));
    }
    return json_pack("{s:o}", "fields", keys);
}
