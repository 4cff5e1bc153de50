/* h_health: liveness (/healthz: the process answers) and readiness (/readyz: the database
 * answers a query through the pool). */
#include "handlers.h"

int h_healthz(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx)
{
    (void)req;
    static const char body[] = "{\"status\":\"ok\"}";
    return reply_text_json(resp, ctx, 200, body, sizeof body - 1);
}

int h_readyz(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx)
{
    (void)req;
    PGconn *conn = dbr_acquire();
    if (!conn)
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    PGresult *r = db_exec(conn, "SELECT 1", 0, NULL);
    bool ok = db_ok(conn, r, NULL);
    PQclear(r);
    dbr_release(conn);
    if (!ok)
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    static const char body[] = "{\"status\":\"ready\"}";
    return reply_text_json(resp, ctx, 200, body, sizeof body - 1);
}
