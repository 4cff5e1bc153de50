/* chat: see chat.h.
 *
 * Each request is one statement through the database link, and the rules stay in SQL:
 * conversation_typing (sql/0026) checks an access-token sender's membership (CL002/CL005, answered
 * `forbidden`); video_chat_typing, video_chat_send and video_chat_history (sql/0036) check that a
 * video connection may use its session's in-call chat (the doctor while the session is open, the
 * admitted patient during the call), video_chat_send through conversation_post, the one writer of
 * messages (a retry by client_id stored once, CHAT_MESSAGES_PER_MINUTE as CL004). A message is then
 * announced by the outbox like every other (chat_message, to the session's room among others).
 *
 * Typing is announced by a pg_notify on `typing` ({rooms, conversation_id, user_id, sender,
 * sender_role}), so it reaches the members connected to any instance and leaves nothing behind. Each
 * instance delivers it through the room index (rooms_each) to the sessions of those rooms that may hear
 * it (wire.c: not a patient waiting for admission), leaving out the sender's own sessions (by identity:
 * u<user id in hex>, as video.c names a holder, or t<token id> for a guest) and admins (in every room,
 * but no members).
 *
 * The typing rate (one a second per sender) is this instance's: a small table of the last accepted
 * time by sender identity, a colliding sender taking the slot over (at worst one extra typing goes
 * through). Extra requests are answered as accepted and dropped; they still count against the
 * connection's flood limit (quota.c) like every packet. Bounded: at most MAX_CHAT_JOBS queued at a
 * time. */
#include "chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dblink.h"
#include "peer.h"
#include "rooms.h"
#include "sig.h"
#include "token.h"
#include "video.h"
#include "wire.h"

#define TYPING_SLOTS 4096
#define TYPING_INTERVAL_MS 1000
#define MAX_CHAT_JOBS 1000
#define HISTORY_DEFAULT 50

enum chat_op { C_TYPING, C_ROOM_TYPING, C_ROOM_SEND, C_ROOM_HISTORY };

/* The statements (enum chat_op order) and how many parameters each takes. */
static const struct {
    const char *sql;
    int n;
} SQL[] = {
    {"SELECT conversation_typing($1::bigint, $2::bigint, $3, $4::bigint, $5::bigint, $6::bigint)", 6},
    {"SELECT video_chat_typing($1::bigint, $2, $3, $4::bigint, $5::bigint)", 5},
    {"SELECT message_id, stored FROM video_chat_send($1::bigint, $2, $3, $4::bigint, $5, $6, $7::int)", 7},
    {"SELECT video_chat_history($1::bigint, $2, $3, $4::bigint, $5::int)::text", 5},
};

struct chat_job {
    struct db_job job;
    enum chat_op op;
    long long ack_id;
    chat_done_fn then;
    char ids[5][24];    /* the numbers among the parameters */
    char role[16];      /* the sender's role (access token) or video role */
    char ident[40];     /* a video connection's identity */
    char *text, *client_id; /* owned (C_ROOM_SEND) */
    const char *params[DB_MAX_PARAMS];
};

static struct {
    struct {
        uint64_t sender;
        int64_t at_ms;
    } last[TYPING_SLOTS];
    long jobs;
} ch;

static void prepare(struct db_job *job, struct db_query *q)
{
    struct chat_job *j = (struct chat_job *)job;
    q->sql = SQL[j->op].sql;
    q->n = SQL[j->op].n;
    memcpy(q->params, j->params, sizeof q->params);
}

/* The answer's code for a refusal of the schema (its SQLSTATE, docs/ARCHITECTURE.md §10). */
static const char *refusal_code(const char *sqlstate)
{
    if (!sqlstate)
        return "refused";
    if (strcmp(sqlstate, "CL002") == 0)
        return "not_found";
    if (strcmp(sqlstate, "CL004") == 0)
        return "rate_limited";
    if (strcmp(sqlstate, "CL005") == 0)
        return "forbidden";
    return "refused";
}

static void done(struct db_job *job, const PGresult *r)
{
    struct chat_job *j = (struct chat_job *)job;
    struct peer *p = j->job.peer;
    if (!p)
        return;
    if (!r || (j->op >= C_ROOM_SEND && (PQntuples(r) != 1 || PQgetisnull(r, 0, 0)))) {
        j->then(p, j->ack_id, "busy", j->op == C_ROOM_SEND ? "The message could not be sent right now; try again."
                                                           : "The chat cannot be reached right now; try again.", NULL);
        return;
    }
    json_t *result = NULL;
    if (j->op == C_ROOM_SEND) {
        if (PQnfields(r) > 1 && strcmp(PQgetvalue(r, 0, 1), "t") == 0)
            sig.m.chat_sent++; /* stored now, not a retry */
        result = json_pack("{s:I}", "message_id", (json_int_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10));
    } else if (j->op == C_ROOM_HISTORY) {
        result = json_loads(PQgetvalue(r, 0, 0), 0, NULL); /* (json_is_object evaluates its argument twice) */
        if (!json_is_object(result)) {
            json_decref(result);
            j->then(p, j->ack_id, "busy", "The chat cannot be reached right now; try again.", NULL);
            return;
        }
    }
    j->then(p, j->ack_id, NULL, NULL, result);
}

static void refused(struct db_job *job, const char *sqlstate, const char *reason, const char *detail)
{
    struct chat_job *j = (struct chat_job *)job;
    if (!j->job.peer)
        return;
    if (j->op == C_TYPING) { /* whatever the reason: not a member of that conversation */
        j->then(j->job.peer, j->ack_id, "forbidden", reason, NULL);
        return;
    }
    const char *code = refusal_code(sqlstate);
    json_t *extra = NULL;
    if (strcmp(code, "rate_limited") == 0 && detail)
        extra = json_pack("{s:I}", "retry_after_seconds", (json_int_t)strtoll(detail, NULL, 10));
    j->then(j->job.peer, j->ack_id, code, reason, extra);
}

static void release(struct db_job *job)
{
    struct chat_job *j = (struct chat_job *)job;
    ch.jobs--;
    free(j->text);
    free(j->client_id);
    free(j);
}

/* A new job of op for p, or NULL (answered busy) when the link is down or the bound reached. */
static struct chat_job *job_new(struct peer *p, enum chat_op op, long long ack_id, chat_done_fn then)
{
    struct chat_job *j = ch.jobs < MAX_CHAT_JOBS && dblink_ready() ? calloc(1, sizeof *j) : NULL;
    if (!j) {
        then(p, ack_id, "busy", "The chat cannot be reached right now; try again shortly.", NULL);
        return NULL;
    }
    ch.jobs++;
    j->job = (struct db_job){.peer = p, .drop_with_peer = true, .prepare = prepare, .done = done,
                             .release = release, .refused = refused};
    j->op = op;
    j->ack_id = ack_id;
    j->then = then;
    return j;
}

/* ids[k] as the text of id, or NULL (SQL NULL) when id <= 0. */
static const char *id_param(struct chat_job *j, int k, long long id)
{
    snprintf(j->ids[k], sizeof j->ids[k], "%lld", id);
    return id > 0 ? j->ids[k] : NULL;
}

/* A video connection's first parameters: session, role, identity, user (NULL for a guest). */
static void room_params(struct chat_job *j, struct peer *p)
{
    snprintf(j->role, sizeof j->role, "%s", video_role(p));
    snprintf(j->ident, sizeof j->ident, "%s", video_ident(p));
    j->params[0] = id_param(j, 0, (long long)video_session(p));
    j->params[1] = j->role;
    j->params[2] = j->ident;
    j->params[3] = id_param(j, 1, (long long)peer_claims(p)->sub);
}

/* The identity of p's sender, as video.c names a holder (so both kinds of connection compare). */
static void sender_of(struct peer *p, char out[40])
{
    if (video_member(p))
        snprintf(out, 40, "%s", video_ident(p));
    else
        snprintf(out, 40, "u%llx", (unsigned long long)peer_claims(p)->sub);
}

/* Whether sender may be passed on now (and then remembers it). */
static bool typing_due(const char *sender)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *c = sender; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    int64_t now = sig_now_ms();
    unsigned slot = (unsigned)(h % TYPING_SLOTS);
    if (ch.last[slot].sender == h && now - ch.last[slot].at_ms < TYPING_INTERVAL_MS)
        return false;
    ch.last[slot].sender = h;
    ch.last[slot].at_ms = now;
    return true;
}

void chat_typing(struct peer *p, long long conversation_id, long long ack_id, chat_done_fn then)
{
    const struct claims *c = peer_claims(p);
    bool room = video_member(p);
    if (!room && c->role == ROLE_ADMIN) {
        then(p, ack_id, "forbidden", "Only the members of a conversation type in it.", NULL);
        return;
    }
    if (!room && conversation_id <= 0) {
        then(p, ack_id, "bad_request", "conversation_id is required", NULL);
        return;
    }
    char sender[40];
    sender_of(p, sender);
    if (!typing_due(sender)) {
        then(p, ack_id, NULL, NULL, NULL);
        return;
    }
    struct chat_job *j = job_new(p, room ? C_ROOM_TYPING : C_TYPING, ack_id, then);
    if (!j)
        return;
    if (room) {
        room_params(j, p);
        j->params[4] = id_param(j, 2, conversation_id);
    } else {
        snprintf(j->role, sizeof j->role, "%s", role_name(c->role));
        j->params[0] = id_param(j, 0, conversation_id);
        j->params[1] = id_param(j, 1, (long long)c->sub);
        j->params[2] = j->role;
        /* the claims: clinic, doctor, patient (each NULL when the token has none) */
        j->params[3] = id_param(j, 2, (long long)c->clinic_id);
        j->params[4] = id_param(j, 3, (long long)c->doctor_id);
        j->params[5] = c->patient_id > 0 ? id_param(j, 4, (long long)c->patient_id) : NULL;
    }
    dblink_push(&j->job, false);
}

void chat_send(struct peer *p, const char *text, const char *client_id, long long ack_id, chat_done_fn then)
{
    if (!video_member(p)) {
        then(p, ack_id, "forbidden",
             "chat_message is the in-call chat of a video join token; send with POST /api/conversations/{id}/messages.",
             NULL);
        return;
    }
    struct chat_job *j = job_new(p, C_ROOM_SEND, ack_id, then);
    if (!j)
        return;
    j->text = strdup(text);
    j->client_id = client_id ? strdup(client_id) : NULL;
    snprintf(j->ids[2], sizeof j->ids[2], "%ld", sig.cfg.chat_messages_per_minute);
    if (!j->text || (client_id && !j->client_id)) {
        then(p, ack_id, "busy", "The message could not be sent right now; try again.", NULL);
        j->job.peer = NULL;
        release(&j->job);
        return;
    }
    room_params(j, p);
    j->params[4] = j->text;
    j->params[5] = j->client_id;
    j->params[6] = j->ids[2];
    dblink_push(&j->job, false);
}

void chat_history(struct peer *p, long long before_id, long long limit, long long ack_id, chat_done_fn then)
{
    if (!video_member(p)) {
        then(p, ack_id, "forbidden",
             "chat_history is the in-call chat of a video join token; read with GET /api/conversations/{id}/messages.",
             NULL);
        return;
    }
    struct chat_job *j = job_new(p, C_ROOM_HISTORY, ack_id, then);
    if (!j)
        return;
    room_params(j, p);
    j->params[3] = id_param(j, 1, before_id); /* in place of the user: the history needs none */
    j->params[4] = id_param(j, 2, limit > 0 ? limit : HISTORY_DEFAULT);
    dblink_push(&j->job, false);
}

struct typing_note {
    const char *sender;
    json_t *data;
};

static void deliver(struct peer *p, void *arg)
{
    const struct typing_note *n = arg;
    if (!peer_authed(p) || peer_all_rooms(p) || !wire_may_hear(p, "typing"))
        return;
    char sender[40];
    sender_of(p, sender);
    if (strcmp(sender, n->sender) != 0)
        wire_send_named(p, "typing", n->data);
}

/* NOTIFY typing {rooms, conversation_id, user_id, sender, sender_role} from any instance. */
static void on_notify(const char *payload)
{
    json_t *v = json_loads(payload, 0, NULL);
    json_t *rooms = json_object_get(v, "rooms");
    json_t *conv = json_object_get(v, "conversation_id"), *user = json_object_get(v, "user_id");
    json_t *role = json_object_get(v, "sender_role");
    const char *sender = json_string_value(json_object_get(v, "sender"));
    char *rooms_json = json_is_array(rooms) ? json_dumps(rooms, JSON_COMPACT) : NULL;
    if (rooms_json && json_is_integer(conv) && (json_is_integer(user) || json_is_null(user)) && sender &&
        json_is_string(role)) {
        struct room_set set;
        room_set_parse(&set, rooms_json);
        struct typing_note n = {sender, json_pack("{s:O,s:O,s:O}", "conversation_id", conv, "user_id", user,
                                                  "sender_role", role)};
        if (n.data)
            rooms_each(&set, rooms_json, deliver, &n);
        json_decref(n.data);
    }
    free(rooms_json);
    json_decref(v);
}

void chat_init(void) { dblink_listen("typing", on_notify); }
