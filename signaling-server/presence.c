/* presence: a row per authenticated session of this instance in the shared presence table (added
 * at authentication, removed at the end, added again after every reconnect of the database link,
 * since rows may have expired meanwhile), a heartbeat of this instance every PRESENCE_BEAT_MS
 * (queued first: a backlog must never make the others take this instance for dead) and the expiry
 * of silent instances' rows. Changes are announced by PostgreSQL on the "presence" channel, which
 * every instance (this one included) turns into participant_joined / participant_left for its own
 * sessions in the rooms concerned (changed). They are announced per user, not per
 * connection: when a user's first connection arrives and when their last one leaves (a clinic
 * where every socket greeted every other one would cost the square of its size). A session's own
 * presence state is presence.c's part of it (struct presence_peer, presence.h). */
#include "presence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dblink.h"
#include "peer.h"
#include "sig.h"
#include "wire.h"

#define PRESENCE_BEAT_MS 10000
#define PRESENCE_EXPIRE_S "30"
#define MAX_LIST_JOBS 1000

enum kind { P_ADD, P_DEL, P_LIST, P_BEAT, P_EXPIRE };

/* A presence job: what its query needs is copied in when it is queued (the session may be gone
 * or the job sent again after a reconnect). */
struct pjob {
    struct db_job job;
    enum kind kind;
    long long ack_id;
    char cid[33];
    char uid[24];
    char role[16];
    char arg[96]; /* the rooms array (P_ADD) or the room asked about (P_LIST) */
};

static const char *const SQL[] = {
    [P_ADD] = "WITH i AS (INSERT INTO presence (instance_id, sid, user_id, role, display_name, rooms) "
              "           SELECT $1, $2, u.id, $4, u.full_name, $5::text[] FROM users u WHERE u.id = $3::bigint "
              "           ON CONFLICT DO NOTHING RETURNING *) "
              "SELECT presence_announce(ROW(i.*)::presence, 'joined') FROM i "
              "WHERE NOT EXISTS (SELECT 1 FROM presence p WHERE p.user_id = i.user_id AND p.sid <> i.sid)",
    [P_DEL] = "WITH d AS (DELETE FROM presence WHERE instance_id = $1 AND sid = $2 RETURNING *) "
              "SELECT presence_announce(ROW(d.*)::presence, 'left') FROM d "
              "WHERE NOT EXISTS (SELECT 1 FROM presence p WHERE p.user_id = d.user_id AND p.sid <> d.sid)",
    [P_LIST] = "SELECT COALESCE(jsonb_agg(DISTINCT jsonb_build_object('user_id', user_id, 'role', role, "
               "                                                      'display_name', display_name)), '[]')::text "
               "FROM presence WHERE $1 = ANY (rooms)",
    [P_BEAT] = "INSERT INTO signaling_instances (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET last_seen = now()",
    [P_EXPIRE] = "SELECT presence_expire(" PRESENCE_EXPIRE_S ")",
};

static struct {
    long list_jobs;
    lws_sorted_usec_list_t sul_beat;
} pr;

static void prepare(struct db_job *job, struct db_query *q)
{
    struct pjob *j = (struct pjob *)job;
    q->sql = SQL[j->kind];
    switch (j->kind) {
    case P_ADD:
        *q = (struct db_query){SQL[P_ADD], 5, {dblink_instance(), j->cid, j->uid, j->role, j->arg}};
        break;
    case P_DEL:
        *q = (struct db_query){SQL[P_DEL], 2, {dblink_instance(), j->cid}};
        break;
    case P_LIST:
        *q = (struct db_query){SQL[P_LIST], 1, {j->arg}};
        break;
    case P_BEAT:
        *q = (struct db_query){SQL[P_BEAT], 1, {dblink_instance()}};
        break;
    case P_EXPIRE:
        break;
    }
}

static void done(struct db_job *job, const PGresult *r)
{
    struct pjob *j = (struct pjob *)job;
    if (j->kind == P_LIST && j->job.peer && r)
        wire_send_presence(j->job.peer, j->arg, PQgetvalue(r, 0, 0), j->ack_id);
}

static void release(struct db_job *job)
{
    struct pjob *j = (struct pjob *)job;
    if (j->kind == P_LIST) {
        pr.list_jobs--;
        if (j->job.peer)
            peer_presence(j->job.peer)->pending = false;
    }
    free(j);
}

static void push(enum kind kind, struct peer *p, const char *cid, const char *arg, long long ack_id)
{
    struct pjob *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->job = (struct db_job){NULL, p, kind == P_ADD || kind == P_LIST, prepare, done, release, NULL};
    j->kind = kind;
    j->ack_id = ack_id;
    snprintf(j->cid, sizeof j->cid, "%s", cid ? cid : "");
    snprintf(j->arg, sizeof j->arg, "%s", arg ? arg : "");
    if (kind == P_ADD) {
        snprintf(j->uid, sizeof j->uid, "%lld", (long long)peer_claims(p)->sub);
        snprintf(j->role, sizeof j->role, "%s", role_name(peer_claims(p)->role));
    }
    dblink_push(&j->job, kind == P_BEAT);
}

void presence_add(struct peer *p)
{
    char rooms[96];
    peer_rooms_array(p, rooms, sizeof rooms);
    peer_presence(p)->listed = true;
    /* The session is kept only so that its end can drop a row never announced. */
    push(P_ADD, p, peer_cid(p), rooms, -1);
}

void presence_del(const char *cid) { push(P_DEL, NULL, cid, NULL, -1); }

bool presence_list(struct peer *p, const char *room, long long ack_id)
{
    /* Bounded, one at a time per session, and only while the database answers: presence requests
     * must never hold up the delivery of events. */
    struct presence_peer *pp = peer_presence(p);
    if (!dblink_ready() || pr.list_jobs >= MAX_LIST_JOBS || pp->pending)
        return false;
    pr.list_jobs++;
    pp->pending = true;
    push(P_LIST, p, peer_cid(p), room, ack_id);
    return true;
}

struct presence_note {
    const char *name, *sid;
    json_t *data;
};

static void tell_presence(struct peer *p, void *arg)
{
    const struct presence_note *n = arg;
    if (peer_authed(p) && strcmp(peer_cid(p), n->sid) != 0)
        wire_send_named(p, n->name, n->data);
}

/* A presence change announced on the "presence" channel (JSON text): participant_joined /
 * participant_left to the local sessions of its rooms. */
static void changed(const char *payload)
{
    json_t *v = json_loads(payload, 0, NULL);
    const char *what = json_string_value(json_object_get(v, "event"));
    const char *sid = json_string_value(json_object_get(v, "sid"));
    json_t *rooms = json_object_get(v, "rooms");
    if (!what || !sid || !json_is_array(rooms)) {
        json_decref(v);
        return;
    }
    const char *name = strcmp(what, "joined") == 0 ? "participant_joined" : "participant_left";
    size_t i;
    json_t *room;
    json_array_foreach(rooms, i, room) {
        const char *r = json_string_value(room);
        /* desk:{clinic} is only an audience of conversations (sql/0026): its receptionists are
         * announced once, in their clinic's room. */
        if (!r || strlen(r) >= ROOM_NAME_MAX || strncmp(r, "desk:", 5) == 0)
            continue;
        struct presence_note note = {name, sid, json_pack("{s:s,s:O,s:O,s:O,s:s}", "room", r, "user_id",
                                                         json_object_get(v, "user_id"), "role", json_object_get(v, "role"),
                                                         "display_name", json_object_get(v, "display_name"), "sid", sid)};
        struct room_set set;
        room_set_one(&set, r);
        if (note.data)
            rooms_each(&set, NULL, tell_presence, &note);
        json_decref(note.data);
    }
    json_decref(v);
}

static void beat(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    if (dblink_ready()) {
        push(P_BEAT, NULL, NULL, NULL, -1);
        push(P_EXPIRE, NULL, NULL, NULL, -1);
    }
    if (!sig.stopping)
        lws_sul_schedule(sig.ctx, 0, &pr.sul_beat, beat, (lws_usec_t)PRESENCE_BEAT_MS * 1000);
}

/* After a (re)connect: this instance beats at once and its sessions' rows are put back. */
static void on_ready(void)
{
    push(P_BEAT, NULL, NULL, NULL, -1);
    for (struct peer *p = peer_first(); p; p = peer_next(p))
        if (peer_presence(p)->listed) /* authenticated, not a video connection (presence_add) */
            presence_add(p);
}

void presence_init(void)
{
    dblink_listen("presence", changed);
    dblink_on_ready(on_ready);
    lws_sul_schedule(sig.ctx, 0, &pr.sul_beat, beat, (lws_usec_t)PRESENCE_BEAT_MS * 1000);
}

void presence_stop(void)
{
    lws_sul_cancel(&pr.sul_beat);
    const char *params[] = {dblink_instance()};
    dblink_run_final("WITH d AS (DELETE FROM presence WHERE instance_id = $1 RETURNING *) "
                     "SELECT count(presence_announce(ROW(d.*)::presence, 'left')) "
                     "FROM (SELECT DISTINCT ON (d.user_id) d.* FROM d) d "
                     "WHERE NOT EXISTS (SELECT 1 FROM presence p WHERE p.user_id = d.user_id "
                     "                  AND p.instance_id <> $1)",
                     1, params, 3000);
}
