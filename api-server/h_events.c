/* h_events: the events outbox over HTTP, for clients that poll (docs/ARCHITECTURE.md §3). The caller reads the
 * events of the rooms its token entitles, after a cursor, in delivery order: by (txid, id) and only
 * rows whose transaction is below the snapshot's xmin, i.e. finished, so a later poll never finds
 * an event behind a cursor it was already given; one copy of each logical event, the one of the
 * caller's most specific room (event_visible, sql/0011_events_per_reader.sql), and the notifications of
 * its own personal room user:{id} (sql/0027_notifications.sql). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"

HANDLER(h_events_list)
{
    (void)req;
    /* The rooms of the token (admins: every shared room, "*"), and the user's personal room. */
    char rooms[96];
    const struct claims *c = &ctx->claims;
    long long u = (long long)c->sub;
    switch (c->role) {
    case ROLE_RECEPTIONIST:
        snprintf(rooms, sizeof rooms, "{clinic:%lld,desk:%lld,user:%lld}", (long long)c->clinic_id, (long long)c->clinic_id, u);
        break;
    case ROLE_DOCTOR:
        snprintf(rooms, sizeof rooms, "{clinic:%lld,doctor:%lld,user:%lld}", (long long)c->clinic_id,
                 (long long)c->doctor_id, u);
        break;
    case ROLE_PATIENT:
        snprintf(rooms, sizeof rooms, "{patient:%lld,user:%lld}", (long long)c->patient_id, u);
        break;
    default:
        snprintf(rooms, sizeof rooms, "{*,user:%lld}", u);
    }
    const char *p[] = {query_text(&ctx->query, "after"), rooms, query_text(&ctx->query, "limit")};
    return dbr_query_reply(resp, ctx, 200,
        "SELECT jsonb_build_object('items', COALESCE(jsonb_agg(event_json(e) ORDER BY e.txid, e.id), '[]'::jsonb), "
        "  'next_cursor', COALESCE((array_agg(event_cursor(e) ORDER BY e.txid DESC, e.id DESC))[1], $1)) "
        "FROM (SELECT * FROM events e "
        "      WHERE ($1::text IS NULL OR (e.txid, e.id) > (split_part($1, '-', 1)::xid8, split_part($1, '-', 2)::bigint)) "
        "        AND e.txid < pg_snapshot_xmin(pg_current_snapshot()) "
        "        AND event_visible(e, $2::text[]) "
        "      ORDER BY e.txid, e.id LIMIT $3::int) e",
        3, p);
}
