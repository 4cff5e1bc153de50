/* h_webhooks: integrators' webhook subscriptions (sql/0023_webhooks.sql; README "Webhooks"). ADMIN only,
 * by the route table. The create and the secret rotation answer with the secret, once; no other
 * answer, log line or audit row carries it. A URL is checked by webhook_url.c (SSRF guard) here and
 * again by the sender at each attempt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "app.h"
#include "handlers.h"
#include "webhook_url.h"

/* The events a subscription may name (DESIGN §5). */
static const char *const event_names[] = {
    "queue_updated", "new_checkin", "visit_status_changed", "patient_with_doctor", "consultation_completed",
    "appointment_created", "appointment_updated", "appointment_cancelled", "payment_processed", "closing_updated",
    "video_session_updated", NULL};

static const struct field_spec create_fields[] = {
    {"url", FT_STRING, FF_REQUIRED, 1, WEBHOOK_URL_MAX, NULL},
    {"events", FT_ENUM_SET, FF_REQUIRED, 0, 0, event_names},
    {"clinic_id", FT_INT, FF_NULLABLE, 0, 0, NULL},
};

static const struct field_spec patch_fields[] = {
    {"active", FT_BOOL, FF_REQUIRED, 0, 0, NULL},
};

/* A new secret: "whsec_" and 256 random bits in base64url, into out[50]. */
static bool new_secret(char out[50])
{
    char tok[44];
    if (!crypto_token(tok))
        return false;
    snprintf(out, 50, "whsec_%s", tok);
    return true;
}

HANDLER(h_webhooks_list)
{
    static const struct list_query lq = {
        "webhook_json",
        "SELECT w AS r, w.id AS k1 FROM webhook_subscriptions w "
        "WHERE ($1::jsonb IS NULL OR w.id < ($1::jsonb->>0)::bigint) "
        "ORDER BY w.id DESC LIMIT $2::int + 1",
        "k1 DESC", "jsonb_build_array(k1)"};
    (void)req;
    const char *p[] = {query_text(&ctx->query, "cursor"), query_text(&ctx->query, "limit")};
    return dbr_list_reply(resp, ctx, &lq, 2, p);
}

HANDLER(h_webhooks_create)
{
    (void)req;
    int rc;
    char secret[50], actor[24];
    if (!body_valid(resp, ctx, create_fields, sizeof create_fields / sizeof create_fields[0], false, &rc))
        return rc;
    const char *why = webhook_url_check(json_string_value(json_object_get(ctx->body, "url")),
                                        app.cfg.webhook_allow_private, true);
    if (why)
        return reply_invalid(resp, ctx, json_pack("{s:s}", "url", why));
    if (!new_secret(secret))
        return reply_status(resp, ctx, ST_INTERNAL);
    char *body = json_dumps(ctx->body, JSON_COMPACT);
    const char *p[] = {body, secret, actor_text(ctx, actor)};
    const struct db_stmt st = {
        "INSERT INTO webhook_subscriptions AS w (url, events, clinic_id, secret, created_by) "
        "SELECT b->>'url', ARRAY(SELECT jsonb_array_elements_text(b->'events')), (b->>'clinic_id')::bigint, $2, $3 "
        "FROM (SELECT $1::jsonb AS b) x "
        "RETURNING webhook_json(w) || jsonb_build_object('secret', w.secret), w.id",
        3, p};
    rc = dbr_write(resp, ctx, &(const struct write_desc){201, "webhook_create", "webhook", json_pack("{s:O}", "webhook", ctx->body)},
                   &st, 1);
    free(body);
    return rc;
}

HANDLER(h_webhooks_get)
{
    (void)req;
    char idb[24];
    const char *p[] = {id_text(ctx->params[0], idb)};
    return dbr_query_reply(resp, ctx, 200, "SELECT webhook_json(w) FROM webhook_subscriptions w WHERE w.id = $1", 1, p);
}

/* {active: true} re-enables a subscription (its failure clock restarts); {active: false} pauses it. */
HANDLER(h_webhooks_update)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, patch_fields, 1, false, &rc))
        return rc;
    return dbr_write_body(resp, ctx, &(const struct write_desc){200, "webhook_update", "webhook", dbr_changed_fields(ctx->body)},
                          ctx->params[0],
                          "UPDATE webhook_subscriptions w SET active = (b->>'active')::boolean, failing_since = NULL, "
                          "  disabled_at = CASE WHEN (b->>'active')::boolean THEN NULL ELSE w.disabled_at END, "
                          "  disabled_reason = CASE WHEN (b->>'active')::boolean THEN NULL ELSE w.disabled_reason END "
                          "FROM (SELECT $2::jsonb AS b) x WHERE w.id = $1 RETURNING webhook_json(w), w.id");
}

HANDLER(h_webhooks_delete)
{
    (void)req;
    char idb[24];
    const char *p[] = {id_text(ctx->params[0], idb)};
    const struct db_stmt st = {"DELETE FROM webhook_subscriptions w WHERE w.id = $1 RETURNING webhook_json(w), w.id", 1, p};
    return dbr_write(resp, ctx, &(const struct write_desc){204, "webhook_delete", "webhook", NULL}, &st, 1);
}

/* A new secret, shown once; the previous one keeps signing for WEBHOOK_SECRET_OVERLAP_SECONDS. */
HANDLER(h_webhooks_rotate)
{
    (void)req;
    char idb[24], secret[50], overlap[24];
    if (!new_secret(secret))
        return reply_status(resp, ctx, ST_INTERNAL);
    snprintf(overlap, sizeof overlap, "%ld", app.cfg.webhook_secret_overlap_seconds);
    const char *p[] = {id_text(ctx->params[0], idb), secret, overlap};
    const struct db_stmt st = {"SELECT webhook_json(w) || jsonb_build_object('secret', w.secret), w.id "
                               "FROM webhook_rotate_secret($1, $2, $3) w WHERE w.id IS NOT NULL",
                               3, p};
    json_t *details = json_pack("{s:I}", "overlap_seconds", (json_int_t)app.cfg.webhook_secret_overlap_seconds);
    return dbr_write(resp, ctx, &(const struct write_desc){200, "webhook_rotate_secret", "webhook", details}, &st, 1);
}
