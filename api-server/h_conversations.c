/* h_conversations: the chat between a patient and their clinic (DESIGN §9,
 * sql/0026_conversations.sql, docs/ARCHITECTURE.md §17). Each handler validates its body and hands
 * the token's claims to one SQL function, which decides reach and membership (conversation_reach,
 * conversation_member) and refuses through the §10 catalogue: out of reach 404, not a member or not
 * the sender 403 (CL005), a limit 429 with Retry-After (CL004). The limits
 * (CHAT_MESSAGES_PER_MINUTE, CHAT_CONVERSATIONS_PER_DAY) and the edit window
 * (CHAT_EDIT_WINDOW_SECONDS) are parameters of those functions, so every api-server instance
 * counts the same rows. */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "chatmsg.h"
#include "handlers.h"

/* The caller's claims as SQL parameters: user, role, clinic, doctor, patient (NULL when absent). */
struct chat_caller {
    char user[24], clinic[24], doctor[24], patient[24];
    const char *p[5];
};

static const char *id_or_null(int64_t id, char buf[24]) { return id > 0 ? id_text(id, buf) : NULL; }

static void chat_caller(const struct req_ctx *ctx, struct chat_caller *c)
{
    c->p[0] = id_text(ctx->claims.sub, c->user);
    c->p[1] = role_name(ctx->claims.role);
    c->p[2] = id_or_null(ctx->claims.clinic_id, c->clinic);
    c->p[3] = id_or_null(ctx->claims.doctor_id, c->doctor);
    c->p[4] = id_or_null(ctx->claims.patient_id, c->patient);
}

static const struct field_spec create_fields[] = {
    {"patient_id", FT_INT, 0, 0, 0, NULL},
    {"doctor_id", FT_INT, FF_NULLABLE, 0, 0, NULL},
    {"appointment_id", FT_INT, FF_NULLABLE, 0, 0, NULL},
    {"subject", FT_STRING, FF_NULLABLE, 1, 200, NULL},
};

/* A body field as SQL text: an integer's digits, a string as is, NULL when absent or null. */
static const char *field_text(const char *name, const struct req_ctx *ctx, char buf[24])
{
    json_t *v = json_object_get(ctx->body, name);
    if (json_is_integer(v))
        return id_text((int64_t)json_integer_value(v), buf);
    return json_string_value(v);
}

/* POST /conversations {patient_id, doctor_id?, appointment_id?, subject?}: staff and patients (a
 * patient leaves patient_id out). 201 with the conversation. */
HANDLER(h_conversations_create)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, create_fields, 4, false, &rc))
        return rc;
    struct chat_caller c;
    chat_caller(ctx, &c);
    char pid[24], did[24], aid[24], per_day[24];
    const char *p[] = {c.p[0], c.p[1], c.p[2], c.p[3], c.p[4],
                       field_text("patient_id", ctx, pid), field_text("doctor_id", ctx, did),
                       field_text("appointment_id", ctx, aid), field_text("subject", ctx, NULL),
                       id_text(app.cfg.chat_conversations_per_day, per_day)};
    const struct db_stmt st = {"SELECT body, id FROM conversation_create($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                               10, p};
    const struct write_desc w = {201, "conversation_create", "conversation", NULL};
    return dbr_write(resp, ctx, &w, &st, 1);
}

/* GET /conversations?patient_id&limit&cursor: the caller's conversations, most recent activity
 * first, each with its last message and the caller's unread count. */
HANDLER(h_conversations_list)
{
    (void)req;
    static const struct list_query lq = {
        "",
        "SELECT conversation_json(c, $3::bigint) AS r, COALESCE(c.last_message_at, c.created_at) AS k1, c.id AS k2 "
        "FROM conversations c "
        "WHERE conversation_reach(c, $4, $5::bigint, $6::bigint, $7::bigint) "
        "  AND ($8::bigint IS NULL OR c.patient_id = $8) "
        "  AND ($1::jsonb IS NULL OR (COALESCE(c.last_message_at, c.created_at), c.id) "
        "        < (($1::jsonb->>0)::timestamptz, ($1::jsonb->>1)::bigint)) "
        "ORDER BY k1 DESC, k2 DESC LIMIT $2::int + 1",
        "k1 DESC, k2 DESC",
        "jsonb_build_array(rfc3339_exact(k1), k2)",
    };
    struct chat_caller c;
    chat_caller(ctx, &c);
    const char *p[] = {query_text(&ctx->query, "cursor"), query_text(&ctx->query, "limit"), c.p[0], c.p[1],
                       c.p[2], c.p[3], c.p[4], query_text(&ctx->query, "patient_id")};
    return dbr_list_reply(resp, ctx, &lq, 8, p);
}

/* GET /conversations/{id}: the conversation with every member's read receipt. */
HANDLER(h_conversations_get)
{
    (void)req;
    struct chat_caller c;
    chat_caller(ctx, &c);
    char idb[24];
    const char *p[] = {id_text(ctx->params[0], idb), c.p[0], c.p[1], c.p[2], c.p[3], c.p[4]};
    return dbr_query_reply(resp, ctx, 200,
                           "SELECT conversation_detail_json(conversation_get($1, $3, $4, $5, $6, false), $2)", 6, p);
}

/* GET /conversations/{id}/messages?after_id&before_id&limit&cursor: oldest first (newest last).
 * Forward pages by cursor; after_id = only messages newer than that id (catching up); before_id =
 * the limit newest messages older than that id, one page (next_cursor null: page further back with
 * the first item's id), so a thread opens on its newest page without reading it all. */
HANDLER(h_conversations_messages)
{
    (void)req;
    static const struct list_query lq = {
        "conversation_message_json",
        "SELECT m AS r, m.id AS k1 FROM conversation_messages m "
        "WHERE m.conversation_id = $3 AND $9::bigint IS NULL "
        "  AND ($1::jsonb IS NULL OR m.id > ($1::jsonb->>0)::bigint) AND ($8::bigint IS NULL OR m.id > $8) "
        "UNION ALL "
        "SELECT b.m AS r, (b.m).id AS k1 FROM ("
        "  SELECT x AS m FROM conversation_messages x "
        "  WHERE x.conversation_id = $3 AND x.id < $9::bigint AND ($8::bigint IS NULL OR x.id > $8) "
        "  ORDER BY x.id DESC LIMIT $2::int) b "
        "ORDER BY k1 LIMIT $2::int + 1",
        "k1",
        "jsonb_build_array(k1)",
    };
    if (query_text(&ctx->query, "before_id") && query_text(&ctx->query, "cursor"))
        return reply_invalid_query(resp, ctx,
                                   json_pack("{s:s}", "cursor", "is not used with before_id: page back with before_id"));
    struct chat_caller c;
    chat_caller(ctx, &c);
    char idb[24];
    const char *p[] = {query_text(&ctx->query, "cursor"), query_text(&ctx->query, "limit"),
                       id_text(ctx->params[0], idb), c.p[1], c.p[2], c.p[3], c.p[4],
                       query_text(&ctx->query, "after_id"), query_text(&ctx->query, "before_id")};
    return dbr_list_reply_guarded(resp, ctx, &lq,
                                  "EXISTS (SELECT 1 FROM conversations c WHERE c.id = $3 "
                                  "        AND conversation_reach(c, $4, $5::bigint, $6::bigint, $7::bigint))",
                                  9, p);
}

/* POST /conversations/{id}/messages {text, client_id?}: a member sends; 201 with the message, also
 * for a retry with the same client_id (the stored message, nothing stored again). */
HANDLER(h_conversations_send)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, chat_message_fields, 2, false, &rc))
        return rc;
    struct chat_caller c;
    chat_caller(ctx, &c);
    char idb[24], per_minute[24];
    const char *p[] = {id_text(ctx->params[0], idb), c.p[0], c.p[1], c.p[2], c.p[3], c.p[4],
                       json_string_value(json_object_get(ctx->body, "text")),
                       json_string_value(json_object_get(ctx->body, "client_id")),
                       id_text(app.cfg.chat_messages_per_minute, per_minute)};
    const struct db_stmt st = {"SELECT body, id FROM conversation_send($1, $2, $3, $4, $5, $6, $7, $8, $9)", 9, p};
    const struct write_desc w = {201, "conversation_message_send", "conversation_message",
                                 json_pack("{s:I}", "conversation_id", (json_int_t)ctx->params[0])};
    return dbr_write(resp, ctx, &w, &st, 1);
}

/* The edit (text) or deletion (text NULL) of message params[1] of conversation params[0]. */
static int revise(struct _u_response *resp, struct req_ctx *ctx, const char *text, const char *action)
{
    struct chat_caller c;
    chat_caller(ctx, &c);
    char idb[24], mid[24], window[24];
    const char *p[] = {id_text(ctx->params[0], idb), id_text(ctx->params[1], mid), c.p[0], c.p[1], c.p[2],
                       c.p[3], c.p[4], text, id_text(app.cfg.chat_edit_window, window)};
    const struct db_stmt st = {
        "SELECT body, id FROM conversation_message_revise($1, $2, $3, $4, $5, $6, $7, $8, $9)", 9, p};
    const struct write_desc w = {200, action, "conversation_message",
                                 json_pack("{s:I}", "conversation_id", (json_int_t)ctx->params[0])};
    return dbr_write(resp, ctx, &w, &st, 1);
}

/* An edit's text, as a send's (chatmsg.h). */
static const struct field_spec *const edit_fields = chat_message_fields;

/* PATCH /conversations/{id}/messages/{message_id} {text}: the sender, within the edit window. */
HANDLER(h_conversations_message_edit)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, edit_fields, 1, false, &rc))
        return rc;
    return revise(resp, ctx, json_string_value(json_object_get(ctx->body, "text")), "conversation_message_edit");
}

/* DELETE /conversations/{id}/messages/{message_id}: the sender, within the edit window; 200 with the
 * message as it now reads (deleted; its text kept as a revision). */
HANDLER(h_conversations_message_delete)
{
    (void)req;
    return revise(resp, ctx, NULL, "conversation_message_delete");
}

static const struct field_spec read_fields[] = {
    {"message_id", FT_INT, FF_REQUIRED, 0, 0, NULL},
};

/* POST /conversations/{id}/read {message_id}: moves the caller's read receipt forward (never back);
 * 200 with the conversation as the caller now sees it. */
HANDLER(h_conversations_read)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, read_fields, 1, false, &rc))
        return rc;
    struct chat_caller c;
    chat_caller(ctx, &c);
    char idb[24], mid[24];
    const char *p[] = {id_text(ctx->params[0], idb), field_text("message_id", ctx, mid), c.p[0], c.p[1], c.p[2],
                       c.p[3], c.p[4]};
    const struct db_stmt st = {"SELECT body, id FROM conversation_read($1, $2, $3, $4, $5, $6, $7)", 7, p};
    const struct write_desc w = {200, "conversation_read", "conversation", NULL};
    return dbr_write(resp, ctx, &w, &st, 1);
}
