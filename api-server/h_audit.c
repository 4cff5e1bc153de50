/* h_audit: reading the append-only audit log (admins), newest first, with filters. */
#include "handlers.h"

HANDLER(h_audit_list)
{
    (void)req;
    const struct query_values *q = &ctx->query;
    const char *p[] = {query_text(q, "cursor"), query_text(q, "limit"), query_text(q, "action"),
                       query_text(q, "entity"), query_text(q, "entity_id"), query_text(q, "actor_user_id")};
    static const struct list_query lq = {
        "audit_json",
        "SELECT a AS r, a.id AS k1 FROM audit_log a "
        "WHERE ($1::jsonb IS NULL OR a.id < ($1::jsonb->>0)::bigint) AND ($3::text IS NULL OR a.action = $3) "
        "  AND ($4::text IS NULL OR a.entity = $4) AND ($5::bigint IS NULL OR a.entity_id = $5) "
        "  AND ($6::bigint IS NULL OR a.actor_user_id = $6) "
        "ORDER BY a.id DESC LIMIT $2::int + 1",
        "k1 DESC", "jsonb_build_array(k1)"};
    return dbr_list_reply(resp, ctx, &lq, 6, p);
}
