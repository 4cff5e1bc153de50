/* h_notifications: the caller's own inbox and the announcements that reach it (sql/0027_notifications.sql;
 * docs/ARCHITECTURE.md "Notifications"). Every role has an inbox, always the token's user's: an item
 * of another user answers 404 like one that does not exist. What is in an inbox, its order and its
 * read marks are the SQL functions' (inbox_page, inbox_read, inbox_read_all, inbox_unread_count);
 * the marking routes also sweep a bounded batch of expired items (NOTIFICATION_RETENTION_DAYS), so the
 * inbox's own use keeps it pruned. Announcements are written once and read by each audience member's
 * inbox through a union: a send costs one insert whatever the audience's size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "handlers.h"
#include "log.h"

#define SWEEP_BATCH "500"
#define TITLE_MAX 200
#define BODY_MAX 5000

static const char *const audience_roles[] = {"ADMIN", "RECEPTIONIST", "DOCTOR", "PATIENT", NULL};

static const struct field_spec announcement_fields[] = {
    {"title", FT_STRING, FF_REQUIRED, 1, TITLE_MAX, NULL},
    {"body", FT_STRING, FF_REQUIRED, 1, BODY_MAX, NULL},
    {"clinic_id", FT_INT, FF_NULLABLE, 0, 0, NULL},
    {"role", FT_ENUM, FF_NULLABLE, 0, 0, audience_roles},
};

/* Deletes a bounded batch of expired inbox items (anyone's). A failure only delays the pruning. */
static void sweep(PGconn *conn)
{
    char days[24];
    const char *p[] = {id_text(app.cfg.notification_retention_days, days)};
    PGresult *r = db_exec(conn, "SELECT inbox_sweep($1::int, " SWEEP_BATCH ")", 1, p);
    if (!db_ok(conn, r, NULL))
        log_warning("inbox not swept: %s", PQresultErrorMessage(r));
    PQclear(r);
}

/* Runs sql (its $1 is the caller's user id, $2 the route's id when id > 0), answers its one JSON
 * row (404 when none), then sweeps. */
static int mark_reply(struct _u_response *resp, struct req_ctx *ctx, const char *sql, int64_t id)
{
    char user[24], idb[24];
    const char *p[] = {id_text(ctx->claims.sub, user), id > 0 ? id_text(id, idb) : NULL};
    PGconn *conn = dbr_acquire();
    if (!conn)
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    PGresult *r = db_exec(conn, sql, id > 0 ? 2 : 1, p);
    int rc = dbr_reply_row(resp, ctx, conn, r, 200);
    PQclear(r);
    sweep(conn);
    dbr_release(conn);
    return rc;
}

HANDLER(h_notifications_list)
{
    static const struct list_query lq = {
        "", "SELECT i.item AS r, i.id AS k1 FROM inbox_page($3::bigint, ($1::jsonb->>0)::bigint, $4::boolean, $2::int + 1) i",
        "k1 DESC", "jsonb_build_array(k1)"};
    (void)req;
    char user[24];
    const char *unread = query_text(&ctx->query, "unread");
    const char *p[] = {query_text(&ctx->query, "cursor"), query_text(&ctx->query, "limit"),
                       id_text(ctx->claims.sub, user), unread ? unread : "false"};
    return dbr_list_reply(resp, ctx, &lq, 4, p);
}

HANDLER(h_notifications_unread_count)
{
    (void)req;
    char user[24];
    const char *p[] = {id_text(ctx->claims.sub, user)};
    return dbr_query_reply(resp, ctx, 200, "SELECT jsonb_build_object('unread', inbox_unread_count($1))", 1, p);
}

HANDLER(h_notifications_read)
{
    (void)req;
    return mark_reply(resp, ctx, "SELECT x FROM inbox_read($1, $2) x WHERE x IS NOT NULL", ctx->params[0]);
}

HANDLER(h_notifications_read_all)
{
    (void)req;
    return mark_reply(resp, ctx, "SELECT jsonb_build_object('marked', inbox_read_all($1))", 0);
}

/* The audience a sender may name: an admin any clinic or the installation; a receptionist their own
 * clinic only (absent: theirs). A clinic's announcement cannot be for admins (they belong to none). */
static bool audience_valid(struct _u_response *resp, struct req_ctx *ctx, int *rc)
{
    json_t *clinic = json_object_get(ctx->body, "clinic_id");
    bool has_clinic = json_is_integer(clinic);
    if (ctx->claims.role == ROLE_RECEPTIONIST) {
        if (has_clinic && json_integer_value(clinic) != ctx->claims.clinic_id) {
            *rc = reply_error(resp, ctx, ST_FORBIDDEN, NULL, "A receptionist announces to their own clinic only.", NULL);
            return false;
        }
        json_object_set_new(ctx->body, "clinic_id", json_integer(ctx->claims.clinic_id));
        has_clinic = true;
    }
    const char *role = json_string_value(json_object_get(ctx->body, "role"));
    if (has_clinic && role && strcmp(role, "ADMIN") == 0) {
        *rc = reply_invalid(resp, ctx, json_pack("{s:s}", "role", "admins belong to no clinic: a clinic's announcement cannot be for them"));
        return false;
    }
    return true;
}

HANDLER(h_announcements_create)
{
    (void)req;
    int rc;
    char actor[24];
    if (!body_valid(resp, ctx, announcement_fields, sizeof announcement_fields / sizeof announcement_fields[0], false,
                    &rc) ||
        !audience_valid(resp, ctx, &rc))
        return rc;
    char *body = dbr_body_text(ctx->body);
    const char *p[] = {body, actor_text(ctx, actor)};
    const struct db_stmt st = {
        "INSERT INTO announcements AS a (clinic_id, role, title, body, created_by) "
        "SELECT (b->>'clinic_id')::bigint, b->>'role', b->>'title', b->>'body', $2 FROM (SELECT $1::jsonb AS b) x "
        "RETURNING announcement_json(a), a.id",
        2, p};
    json_t *details = json_pack("{s:O?,s:O?}", "clinic_id", json_object_get(ctx->body, "clinic_id"), "role",
                                json_object_get(ctx->body, "role"));
    rc = dbr_write(resp, ctx, &(const struct write_desc){201, "announcement_create", "announcement", details}, &st, 1);
    free(body);
    return rc;
}

/* The sender's view: an admin every announcement, a receptionist their clinic's. */
HANDLER(h_announcements_list)
{
    static const struct list_query lq = {
        "announcement_json",
        "SELECT a AS r, a.id AS k1 FROM announcements a "
        "WHERE ($1::jsonb IS NULL OR a.id < ($1::jsonb->>0)::bigint) AND ($3::bigint IS NULL OR a.clinic_id = $3) "
        "ORDER BY a.id DESC LIMIT $2::int + 1",
        "k1 DESC", "jsonb_build_array(k1)"};
    (void)req;
    char clinic[24];
    const char *p[] = {query_text(&ctx->query, "cursor"), query_text(&ctx->query, "limit"), scope_clinic(ctx, clinic)};
    return dbr_list_reply(resp, ctx, &lq, 3, p);
}
