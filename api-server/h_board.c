/* h_board: GET /queue, the day's board of a clinic, cheap to read again and again.
 *
 * Every request first reads the board's stamp from the database (queue_board_stamp, one small
 * query): the versions of the clinic's day and of the clinic, bumped by triggers in the
 * transaction of every change (sql/0016), and the minute the board is computed as of. The stamp
 * and what the request asks for make the ETag, so:
 *   - If-None-Match naming it answers 304 without building anything;
 *   - else a body this process built at the same stamp is sent from app.boards (a bodycache keyed
 *     by clinic, day, doctor filter and the reader's role);
 *   - else the board is built (queue_board as of the stamp's minute, with the stamp it was built
 *     at, in one statement, so body and ETag always agree), kept and sent.
 * The database is the only source of truth: several api-servers never serve each other's stale
 * bodies, and a change is visible to the next request on any of them. Connections are borrowed
 * for each query only, never while waiting for another request's build. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "etag.h"
#include "handlers.h"

/* What a board request asks for; key and etag are filled once the day is known. */
struct board_req {
    int64_t clinic, doctor;
    const char *date; /* the ?date= asked for, or NULL for today */
    char day[16];     /* the day resolved by the database */
    char key[BODYCACHE_KEY_MAX];
};

/* The cache key: every input of the body besides the stamp. The reader's role is part of it so a
 * projection by role can never reach another role; a body that ever depends on more of the caller
 * must add it here. */
static bool board_key(struct board_req *b, const struct req_ctx *ctx)
{
    int n = snprintf(b->key, sizeof b->key, "%lld|%s|%lld|%s", (long long)b->clinic, b->day, (long long)b->doctor,
                     role_name(ctx->claims.role));
    return n > 0 && (size_t)n < sizeof b->key;
}

/* The ETag of the board b at stamp: the key and the stamp, quoted. */
static bool board_etag(const struct board_req *b, const char *stamp, char out[BODYCACHE_KEY_MAX + BODYCACHE_STAMP_MAX])
{
    int n = snprintf(out, BODYCACHE_KEY_MAX + BODYCACHE_STAMP_MAX, "\"%s|%s\"", b->key, stamp);
    return n > 0 && n < BODYCACHE_KEY_MAX + BODYCACHE_STAMP_MAX;
}

/* Reads the stamp of b (and its day) into stamp; false after answering (404, 503, 500). */
static bool board_stamp(struct _u_response *resp, struct req_ctx *ctx, struct board_req *b,
                        char stamp[BODYCACHE_STAMP_MAX], int *rc)
{
    PGconn *conn = dbr_acquire();
    if (!conn) {
        *rc = reply_status(resp, ctx, ST_UNAVAILABLE);
        return false;
    }
    char cb[24];
    const char *p[] = {id_text(b->clinic, cb), b->date};
    PGresult *r = db_exec(conn, "SELECT day, stamp FROM queue_board_stamp($1, $2::date)", 2, p);
    struct db_error err;
    bool ok = false;
    if (!db_ok(conn, r, &err))
        *rc = dbr_reply_error(resp, ctx, &err);
    else if (PQntuples(r) != 1)
        *rc = reply_status(resp, ctx, ST_NOT_FOUND);
    else if (PQgetlength(r, 0, 0) >= (int)sizeof b->day || PQgetlength(r, 0, 1) >= BODYCACHE_STAMP_MAX)
        *rc = reply_status(resp, ctx, ST_INTERNAL);
    else {
        snprintf(b->day, sizeof b->day, "%s", PQgetvalue(r, 0, 0));
        snprintf(stamp, BODYCACHE_STAMP_MAX, "%s", PQgetvalue(r, 0, 1));
        ok = true;
    }
    PQclear(r);
    dbr_release(conn);
    return ok;
}

/* Sets the validators of the board b at stamp and answers 304 when If-None-Match names its tag
 * (true, with the answer in *rc, also after a failure); false when the board must be sent. */
static bool board_validators(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx,
                             const struct board_req *b, const char *stamp, int *rc)
{
    char etag[BODYCACHE_KEY_MAX + BODYCACHE_STAMP_MAX];
    if (!board_etag(b, stamp, etag)) {
        *rc = reply_status(resp, ctx, ST_INTERNAL);
        return true;
    }
    u_map_put(resp->map_header, "ETag", etag);
    /* Browsers keep the body but ask again every time (If-None-Match); shared caches keep nothing. */
    u_map_put(resp->map_header, "Cache-Control", "private, no-cache");
    if (!etag_none_match_hits(u_map_get_case(req->map_header, "If-None-Match"), etag))
        return false;
    *rc = reply_not_modified(resp, ctx);
    return true;
}

/* Answers 200 with body (len bytes) built at stamp, or 304 when the client already holds it. */
static int board_send(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx,
                      const struct board_req *b, const char *stamp, const char *body, size_t len, bool hit)
{
    int rc;
    if (board_validators(req, resp, ctx, b, stamp, &rc))
        return rc;
    u_map_put(resp->map_header, "X-Cache", hit ? "hit" : "miss");
    return reply_text_json(resp, ctx, 200, body, len);
}

/* Builds the board at the current stamp (at least as new as the one read before), keeps it under
 * flight and answers with it. */
static int board_build(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx,
                       const struct board_req *b, uint64_t flight)
{
    PGconn *conn = dbr_acquire();
    if (!conn) {
        bodycache_abandon(app.boards, b->key, flight);
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    }
    char cb[24], db[24];
    const char *p[] = {id_text(b->clinic, cb), b->doctor ? id_text(b->doctor, db) : NULL, b->day};
    PGresult *r = db_exec(conn,
                          "SELECT s.stamp, queue_board($1, $2::bigint, s.day, s.as_of) "
                          "FROM queue_board_stamp($1, $3::date) s",
                          3, p);
    struct db_error err;
    int rc;
    if (!db_ok(conn, r, &err)) {
        bodycache_abandon(app.boards, b->key, flight);
        rc = dbr_reply_error(resp, ctx, &err);
    } else if (PQntuples(r) != 1 || PQgetisnull(r, 0, 1) || PQgetlength(r, 0, 0) >= BODYCACHE_STAMP_MAX) {
        bodycache_abandon(app.boards, b->key, flight);
        rc = reply_status(resp, ctx, PQntuples(r) != 1 ? ST_NOT_FOUND : ST_INTERNAL);
    } else {
        const char *stamp = PQgetvalue(r, 0, 0), *body = PQgetvalue(r, 0, 1);
        size_t len = (size_t)PQgetlength(r, 0, 1);
        bodycache_put(app.boards, b->key, stamp, body, len, flight);
        rc = board_send(req, resp, ctx, b, stamp, body, len, false);
    }
    PQclear(r);
    dbr_release(conn);
    return rc;
}

HANDLER(h_queue_board)
{
    struct board_req b = {.doctor = query_num(&ctx->query, "doctor_id")};
    const char *date;
    int rc;
    if (!clinic_day_query(resp, ctx, &b.clinic, &date, &rc))
        return rc;
    b.date = date;
    char stamp[BODYCACHE_STAMP_MAX];
    if (!board_stamp(resp, ctx, &b, stamp, &rc))
        return rc;
    if (!board_key(&b, ctx))
        return reply_status(resp, ctx, ST_INTERNAL);
    if (board_validators(req, resp, ctx, &b, stamp, &rc))
        return rc;
    uint64_t flight;
    const struct bodycache_body *hit = bodycache_get(app.boards, b.key, stamp, &flight);
    if (!hit)
        return board_build(req, resp, ctx, &b, flight);
    rc = board_send(req, resp, ctx, &b, hit->stamp, hit->data, hit->len, true);
    bodycache_release(hit);
    return rc;
}
