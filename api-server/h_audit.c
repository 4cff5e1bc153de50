/* h_audit: reading the append-only audit log (admins), newest first, with filters. */
#include <stdlib.h>
#include <string.h>

#include "handlers.h"

static bool word_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz_") == n;
}

HANDLER(h_audit_list)
{
    json_t *errors = json_object();
    int limit;
    int64_t entity_id = 0, actor = 0;
    char *cursor = NULL, lim[24], eb[24], ab[24];
    const char *action = query_str(req, "action");
    const char *entity = query_str(req, "entity");
    query_page(req, "i", &limit, &cursor, errors);
    query_int(req, "entity_id", &entity_id, errors);
    query_int(req, "actor_user_id", &actor, errors);
    if (action && !word_ok(action))
        json_object_set_new(errors, "action", json_string("must be a lower-case action name"));
    if (entity && !word_ok(entity))
        json_object_set_new(errors, "entity", json_string("must be a lower-case entity name"));
    if (json_object_size(errors) > 0) {
        free(cursor);
        return reply_invalid_query(resp, ctx, errors);
    }
    json_decref(errors);
    const char *p[] = {cursor, id_text(limit, lim), action, entity, entity_id ? id_text(entity_id, eb) : NULL,
                       actor ? id_text(actor, ab) : NULL};
    static const struct list_query lq = {
        "audit_json",
        "SELECT a AS r, a.id AS k1 FROM audit_log a "
        "WHERE ($1::jsonb IS NULL OR a.id < ($1::jsonb->>0)::bigint) AND ($3::text IS NULL OR a.action = $3) "
        "  AND ($4::text IS NULL OR a.entity = $4) AND ($5::bigint IS NULL OR a.entity_id = $5) "
        "  AND ($6::bigint IS NULL OR a.actor_user_id = $6) "
        "ORDER BY a.id DESC LIMIT $2::int + 1",
        "k1 DESC", "jsonb_build_array(k1)"};
    int rc = dbr_list_reply(resp, ctx, &lq, 6, p);
    free(cursor);
    return rc;
}
