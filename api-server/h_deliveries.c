/* h_deliveries: what admins see of the outbound message queue (sql/0021_deliveries.sql): the list,
 * newest first, filtered by status, channel and clinic, and the retry of a failed delivery (back to the
 * queue with its attempts reset; anything but a failed one is a 409 from delivery_retry). ADMIN only,
 * by the route table. */
#include "handlers.h"

HANDLER(h_deliveries_list)
{
    static const struct list_query lq = {
        "delivery_json",
        "SELECT d AS r, d.id AS k1 FROM deliveries d "
        "WHERE ($1::jsonb IS NULL OR d.id < ($1::jsonb->>0)::bigint) "
        "  AND ($3::text IS NULL OR d.status = $3) AND ($4::text IS NULL OR d.channel = $4) "
        "  AND ($5::bigint IS NULL OR d.clinic_id = $5) "
        "ORDER BY d.id DESC LIMIT $2::int + 1",
        "k1 DESC", "jsonb_build_array(k1)"};
    (void)req;
    const struct query_values *q = &ctx->query;
    const char *p[] = {query_text(q, "cursor"), query_text(q, "limit"), query_text(q, "status"),
                       query_text(q, "channel"), query_text(q, "clinic_id")};
    return dbr_list_reply(resp, ctx, &lq, 5, p);
}

HANDLER(h_deliveries_retry)
{
    (void)req;
    char idb[24];
    const char *p[] = {id_text(ctx->params[0], idb)};
    const struct db_stmt st = {"SELECT delivery_json(d), d.id FROM delivery_retry($1) d WHERE d.id IS NOT NULL", 1, p};
    return dbr_write(resp, ctx, &(const struct write_desc){200, "delivery_retry", "delivery", NULL}, &st, 1);
}
