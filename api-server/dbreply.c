/* dbreply: see dbreply.h. */
#include "dbreply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "crypto.h"
#include "errjson.h"

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
    {"closings_doctor_month_key", "The doctor already has a closing for that month."},
};

/* A refused transition (CL001): the 409 names it, {"transition": {"from", "to"}}. */
static int reply_transition(struct _u_response *resp, struct req_ctx *ctx, const struct db_error *err)
{
    json_t *body = errjson_build(ST_CONFLICT, NULL, err->reason[0] ? err->reason : NULL, NULL);
    json_object_set_new(json_object_get(body, "error"), "transition",
                        json_pack("{s:s, s:s}", "from", err->from, "to", err->to));
    return reply_json(resp, ctx, status_http(ST_CONFLICT), body);
}

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
        if (err->from[0])
            return reply_transition(resp, ctx, err);
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
    case ST_NOT_FOUND:
    case ST_GONE:
    case ST_FORBIDDEN:
        return reply_error(resp, ctx, err->status, NULL, err->reason[0] ? err->reason : NULL, NULL);
    case ST_THROTTLED: /* a limit the schema keeps (CL004): Retry-After as the rate limiter sends it */
        snprintf(msg, sizeof msg, "%ld", err->retry_after > 0 ? err->retry_after : 1);
        u_map_put(resp->map_header, "Retry-After", msg);
        return reply_error(resp, ctx, ST_THROTTLED, "too_many_requests", err->reason[0] ? err->reason : NULL, NULL);
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

/* Runs the nstmt (>= 1) statements in order and returns the last one's result, or NULL with err
 * filled when one fails. */
static PGresult *run_stmts(PGconn *conn, const struct db_stmt *stmts, int nstmt, struct db_error *err)
{
    PGresult *last = NULL;
    for (int i = 0; i < nstmt; i++) {
        PQclear(last);
        last = db_exec(conn, stmts[i].sql, stmts[i].n, stmts[i].params);
        if (!db_ok(conn, last, err)) {
            PQclear(last);
            return NULL;
        }
    }
    return last;
}

/* Keeps the answer (status http, the JSON of last unless 204) under the Idempotency-Key
 * idem = (user, key) that dbr_write_once inserted in this transaction. */
static bool idem_keep(PGconn *conn, const char *const *idem, int http, const PGresult *last, struct db_error *err)
{
    char hs[8];
    snprintf(hs, sizeof hs, "%d", http);
    const char *kp[] = {idem[0], idem[1], hs, http == 204 ? NULL : PQgetvalue(last, 0, 0)};
    PGresult *r = db_exec(conn, "UPDATE idempotency_keys SET http_status = $3::int, body = $4 "
                                "WHERE user_id = $1 AND key = $2", 4, kp);
    bool ok = db_ok(conn, r, err);
    PQclear(r);
    return ok;
}

/* The write path of dbr_write on a connection the caller holds, in a transaction it has begun:
 * when idem (user, key) is given, the answer is also kept under that Idempotency-Key before the
 * commit. Rolls back on failure. Takes over w->details. */
static int write_tx(struct _u_response *resp, struct req_ctx *ctx, PGconn *conn, const struct write_desc *w,
                    const struct db_stmt *stmts, int nstmt, const char *const *idem)
{
    struct db_error err;
    json_t *details = w->details;
    int rc, http = w->http;
    PGresult *last = run_stmts(conn, stmts, nstmt, &err);
    if (!last)
        goto fail;
    if (PQntuples(last) != 1) {
        db_rollback(conn);
        json_decref(details);
        rc = reply_status(resp, ctx, ST_NOT_FOUND);
        goto out;
    }
    int64_t id = strtoll(PQgetvalue(last, 0, 1), NULL, 10);
    int created_col = PQfnumber(last, "created");
    if (created_col >= 0 && strcmp(PQgetvalue(last, 0, created_col), "t") == 0)
        http = status_http(ST_CREATED);
    bool ok = audit_write(conn, ctx, w->action, w->entity, id, details, &err);
    details = NULL;
    if (ok && idem)
        ok = idem_keep(conn, idem, http, last, &err);
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
    return rc;
}

int dbr_write(struct _u_response *resp, struct req_ctx *ctx, const struct write_desc *w, const struct db_stmt *stmts,
              int nstmt)
{
    PGconn *conn = dbr_acquire();
    if (!conn) {
        json_decref(w->details);
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    }
    struct db_error err;
    int rc;
    if (!db_begin(conn, &err)) {
        json_decref(w->details);
        rc = dbr_reply_error(resp, ctx, &err);
    } else {
        rc = write_tx(resp, ctx, conn, w, stmts, nstmt, NULL);
    }
    dbr_release(conn);
    return rc;
}

int dbr_write_body(struct _u_response *resp, struct req_ctx *ctx, const struct write_desc *w, int64_t id,
                   const char *sql)
{
    char idb[24];
    char *body = dbr_body_text(ctx->body);
    const char *with_id[] = {id_text(id, idb), body};
    const struct db_stmt st = {sql, id > 0 ? 2 : 1, id > 0 ? with_id : with_id + 1};
    int rc = dbr_write(resp, ctx, w, &st, 1);
    free(body);
    return rc;
}

/* Whether key is 1..100 visible ASCII characters. */
static bool idempotency_key_valid(const char *key)
{
    size_t n = strlen(key);
    if (n < 1 || n > 100)
        return false;
    for (size_t i = 0; i < n; i++)
        if (key[i] < 0x21 || key[i] > 0x7e)
            return false;
    return true;
}

/* The hash of the request an Idempotency-Key stands for: method, path and the body in a
 * canonical form, into hash[65]. False when out of memory. */
static bool request_hash(const struct req_ctx *ctx, char hash[65])
{
    char *body = ctx->body ? json_dumps(ctx->body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    size_t len = strlen(ctx->method) + strlen(ctx->path) + (body ? strlen(body) : 0) + 3;
    char *request = malloc(len);
    if (request)
        snprintf(request, len, "%s\n%s\n%s", ctx->method, ctx->path, body ? body : "");
    free(body);
    if (!request)
        return false;
    crypto_sha256_hex(request, strlen(request), hash);
    free(request);
    return true;
}

/* Answers a request whose key kp = (user, key, request hash) is already taken, from the first
 * answer kept under it; ends the transaction, which changed nothing. */
static int idem_replay(struct _u_response *resp, struct req_ctx *ctx, PGconn *conn, const char *const *kp)
{
    struct db_error err;
    PGresult *r = db_exec(conn, "SELECT request_hash, http_status, body FROM idempotency_keys "
                                "WHERE user_id = $1 AND key = $2", 2, kp);
    int rc;
    if (!db_ok(conn, r, &err)) {
        rc = dbr_reply_error(resp, ctx, &err);
    } else if (PQntuples(r) != 1) { /* the first request's key went away between the two statements */
        rc = reply_error(resp, ctx, ST_CONFLICT, "idempotency_key_busy",
                         "A request with this Idempotency-Key was being processed; send it again.", NULL);
    } else if (strcmp(PQgetvalue(r, 0, 0), kp[2]) != 0) {
        rc = reply_error(resp, ctx, ST_CONFLICT, "idempotency_key_reused",
                         "This Idempotency-Key was already used for a different request.", NULL);
    } else {
        /* The first answer again: nothing runs twice. */
        u_map_put(resp->map_header, "Idempotent-Replayed", "true");
        int first = atoi(PQgetvalue(r, 0, 1));
        rc = first == 204 ? reply_no_content(resp, ctx)
                          : reply_text_json(resp, ctx, first, PQgetvalue(r, 0, 2), (size_t)PQgetlength(r, 0, 2));
    }
    db_rollback(conn);
    PQclear(r);
    return rc;
}

/* dbr_write_once on a held connection for key kp = (user, key, request hash): claims the key in
 * a new transaction and writes, or replays the answer kept under it. */
static int write_once_tx(struct _u_response *resp, struct req_ctx *ctx, PGconn *conn, const struct write_desc *w,
                         const struct db_stmt *stmts, int nstmt, const char *const *kp)
{
    struct db_error err;
    PGresult *r = NULL;
    if (!db_begin(conn, &err))
        goto fail;
    /* Keys are kept for a day: the caller's older ones go first. A concurrent request with the same
     * key waits at the INSERT until the first one commits or rolls back. */
    r = db_exec(conn, "DELETE FROM idempotency_keys WHERE user_id = $1 AND created_at < now() - interval '1 day'",
                1, kp);
    if (!db_ok(conn, r, &err))
        goto fail;
    PQclear(r);
    r = db_exec(conn, "INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3) "
                      "ON CONFLICT DO NOTHING RETURNING 1", 3, kp);
    if (!db_ok(conn, r, &err))
        goto fail;
    bool claimed = PQntuples(r) == 1;
    PQclear(r);
    if (claimed)
        return write_tx(resp, ctx, conn, w, stmts, nstmt, kp);
    json_decref(w->details);
    return idem_replay(resp, ctx, conn, kp);
fail:
    PQclear(r);
    json_decref(w->details);
    db_rollback(conn);
    return dbr_reply_error(resp, ctx, &err);
}

int dbr_write_once(struct _u_response *resp, struct req_ctx *ctx, const struct _u_request *req,
                   const struct write_desc *w, const struct db_stmt *stmts, int nstmt)
{
    const char *key = u_map_get_case(req->map_header, "Idempotency-Key");
    if (!key)
        return dbr_write(resp, ctx, w, stmts, nstmt);
    char hash[65], user[24];
    if (!idempotency_key_valid(key)) {
        json_decref(w->details);
        return reply_error(resp, ctx, ST_BAD_REQUEST, "invalid_idempotency_key",
                           "Idempotency-Key must be 1 to 100 visible ASCII characters.", NULL);
    }
    if (!request_hash(ctx, hash)) {
        json_decref(w->details);
        return reply_status(resp, ctx, ST_INTERNAL);
    }
    PGconn *conn = dbr_acquire();
    if (!conn) {
        json_decref(w->details);
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    }
    const char *kp[] = {id_text(ctx->claims.sub, user), key, hash};
    int rc = write_once_tx(resp, ctx, conn, w, stmts, nstmt, kp);
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
