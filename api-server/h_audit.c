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
        return reply_error(resp, ctx, ST_BAD_REQUEST, "invalid_query", "Some query parameters are invalid.", errors);
    }
    json_decref(errors);
    const char *p[] = {cursor, id_text(limit, lim), action, entity, entity_id ? id_text(entity_id, eb) : NULL,
                       actor ? id_text(actor, ab) : NULL};
    int rc = dbr_query_reply(resp, ctx, 200,
        "WITH page AS (SELECT a AS r, a.id AS k FROM audit_log a "
        "  WHERE ($1::jsonb IS NULL OR a.id < ($1::jsonb->>0)::bigint) AND ($3::text IS NULL OR a.action = $3) "
        "    AND ($4::text IS NULL OR a.entity = $4) AND ($5::bigint IS NULL OR a.entity_id = $5) "
        "    AND ($6::bigint IS NULL OR a.actor_user_id = $6) "
        "  ORDER BY a.id DESC LIMIT $2::int + 1), "
        "n AS (SELECT *, row_number() OVER (ORDER BY k DESC) AS rn FROM page) "
        "SELECT jsonb_build_object('items', COALESCE(jsonb_agg(audit_json(r) ORDER BY rn) FILTER (WHERE rn <= $2::int), '[]'), "
        "  'next_cursor', CASE WHEN count(*) > $2::int THEN cursor_encode(jsonb_build_array(min(k) FILTER (WHERE rn <= $2::int))) END) "
        "FROM n",
        6, p);
    free(cursor);
    return rc;
}
