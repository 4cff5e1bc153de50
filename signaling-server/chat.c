/* chat: see chat.h.
 *
 * A typing request is checked and announced by one statement, conversation_typing (sql/0026): the
 * membership rule stays in SQL (refused with CL002/CL005 otherwise) and the announcement is a
 * pg_notify on `typing` ({rooms, conversation_id, user_id}), so it reaches the members connected to
 * any instance and leaves nothing behind. Each instance delivers it through the room index
 * (rooms_each) to the sessions of those rooms, leaving out the sender's own sessions, admins (in every
 * room, but no members) and video-token connections.
 *
 * The rate limit (one a second per sender) is this instance's: a small table of the last accepted
 * time by user id, a colliding user taking the slot over (at worst one extra typing goes through).
 * Extra requests are answered as accepted and dropped; they still count against the connection's
 * flood limit (quota.c) like every packet. Bounded: at most MAX_CHAT_JOBS queued at a time. */
#include "chat.h"

#include <jansson.h>
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

struct chat_job {
    struct db_job job;
    long long ack_id;
    chat_done_fn then;
    char conv[24], user[24], clinic[24], doctor[24], patient[24];
    const char *role;
    bool has_clinic, has_doctor, has_patient;
};

static struct {
    struct {
        int64_t user, at_ms;
    } last[TYPING_SLOTS];
    long jobs;
} ch;

static void prepare(struct db_job *job, struct db_query *q)
{
    struct chat_job *j = (struct chat_job *)job;
    *q = (struct db_query){"SELECT conversation_typing($1::bigint, $2::bigint, $3, $4::bigint, $5::bigint, $6::bigint)",
                           6,
                           {j->conv, j->user, j->role, j->has_clinic ? j->clinic : NULL,
                            j->has_doctor ? j->doctor : NULL, j->has_patient ? j->patient : NULL}};
}

static void done(struct db_job *job, const PGresult *r)
{
    struct chat_job *j = (struct chat_job *)job;
    if (j->job.peer)
        j->then(j->job.peer, j->ack_id, r ? NULL : "busy", r ? NULL : "Typing cannot be sent right now.");
}

static void refused(struct db_job *job, const char *reason)
{
    struct chat_job *j = (struct chat_job *)job;
    if (j->job.peer)
        j->then(j->job.peer, j->ack_id, "forbidden", reason);
}

static void release(struct db_job *job)
{
    ch.jobs--;
    free(job);
}

/* Whether user may be passed on now (and then remembers it). */
static bool typing_due(int64_t user)
{
    int64_t now = sig_now_ms();
    unsigned slot = (unsigned)((uint64_t)user * 2654435761u % TYPING_SLOTS);
    if (ch.last[slot].user == user && now - ch.last[slot].at_ms < TYPING_INTERVAL_MS)
        return false;
    ch.last[slot].user = user;
    ch.last[slot].at_ms = now;
    return true;
}

static const char *id_or_null(int64_t id, char buf[24], bool *has)
{
    *has = id > 0;
    snprintf(buf, 24, "%lld", (long long)id);
    return buf;
}

void chat_typing(struct peer *p, long long conversation_id, long long ack_id, chat_done_fn then)
{
    const struct claims *c = peer_claims(p);
    if (video_member(p) || c->role == ROLE_ADMIN) {
        then(p, ack_id, "forbidden", "Only the members of a conversation type in it.");
        return;
    }
    if (!typing_due(c->sub)) {
        then(p, ack_id, NULL, NULL);
        return;
    }
    struct chat_job *j = ch.jobs < MAX_CHAT_JOBS ? calloc(1, sizeof *j) : NULL;
    if (!j || !dblink_ready()) {
        free(j);
        then(p, ack_id, "busy", "Typing cannot be sent right now.");
        return;
    }
    ch.jobs++;
    j->job = (struct db_job){.peer = p, .drop_with_peer = true, .prepare = prepare, .done = done,
                             .release = release, .refused = refused};
    j->ack_id = ack_id;
    j->then = then;
    j->role = role_name(c->role);
    snprintf(j->conv, sizeof j->conv, "%lld", conversation_id);
    snprintf(j->user, sizeof j->user, "%lld", (long long)c->sub);
    id_or_null(c->clinic_id, j->clinic, &j->has_clinic);
    id_or_null(c->doctor_id, j->doctor, &j->has_doctor);
    id_or_null(c->patient_id, j->patient, &j->has_patient);
    dblink_push(&j->job, false);
}

struct typing_note {
    int64_t sender;
    json_t *data;
};

static void deliver(struct peer *p, void *arg)
{
    const struct typing_note *n = arg;
    if (!peer_authed(p) || peer_all_rooms(p) || video_member(p) || peer_claims(p)->sub == n->sender)
        return;
    wire_send_named(p, "typing", n->data);
}

/* NOTIFY typing {rooms, conversation_id, user_id} from any instance. */
static void on_notify(const char *payload)
{
    json_t *v = json_loads(payload, 0, NULL);
    json_t *rooms = json_object_get(v, "rooms");
    json_t *conv = json_object_get(v, "conversation_id"), *user = json_object_get(v, "user_id");
    char *rooms_json = json_is_array(rooms) ? json_dumps(rooms, JSON_COMPACT) : NULL;
    if (rooms_json && json_is_integer(conv) && json_is_integer(user)) {
        struct room_set set;
        room_set_parse(&set, rooms_json);
        struct typing_note n = {json_integer_value(user),
                                json_pack("{s:O,s:O}", "conversation_id", conv, "user_id", user)};
        if (n.data)
            rooms_each(&set, rooms_json, deliver, &n);
        json_decref(n.data);
    }
    free(rooms_json);
    json_decref(v);
}

void chat_init(void) { dblink_listen("typing", on_notify); }
