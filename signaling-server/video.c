/* video: the operations of video sessions (struct vjob, one per request, carrying a copy of what
 * its query needs), answered through the completion its caller gave (video calls nothing above it);
 * the WebRTC messages other instances wrote for this one, read by an urgent reader (a call
 * set-up waits on each of them) and handed to the local connections they name, on the "relay" notification
 * naming this instance, every SIGNALING_POLL_MS and after every reconnect, so messages written while
 * the link was down are not lost; and the housekeeping (video_sweep: grace windows, expiries;
 * video_sweep_duration: calls past VIDEO_MAX_MINUTES warned and ended; video_doctor_ready_sweep, sql/0025:
 * the patient told once when the doctor waits in the room past the start) a few times per grace window,
 * with, as a job of its own, the end of each clinic's day (visits_end_day, sql/0017: visits still
 * waiting or called on a day that is over leave the queue, day_ended).
 *
 * Bounds: MAX_VIDEO_JOBS queued or in flight for the instance, MAX_VIDEO_BYTES of relayed payload,
 * MAX_PEER_VIDEO_JOBS per session. At an admission (NOTIFY video_admitted) the admitted connection
 * is marked and the session's other patient connections are closed. A departure is always queued (the database must learn it, also
 * after an outage). When a session ends, what mattered only to it is dropped (its arrival, relays but a hangup,
 * and samples); an admission or a dismissal by a doctor who just left still runs.
 *
 * A connection's video identity (session, role, holder), its jobs and the completion of its joins
 * are video.c's part of it (struct video_peer, video.h), set from its join token here
 * (video_take_token); what a patient's connection may hear is wire.c's, told here at admission. */
#include "video.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dblink.h"
#include "peer.h"
#include "sig.h"
#include "token.h"
#include "wire.h"

#define MAX_VIDEO_JOBS 2000
#define MAX_VIDEO_BYTES (32 * 1024 * 1024)
#define MAX_PEER_VIDEO_JOBS 8
#define SWEEP_MAX_MS 10000

struct vjob {
    struct db_job job;
    enum video_op op;
    long long ack_id;
    char cid[33];
    char vsid[24], sub[24];
    bool has_sub;
    char role[16], ident[40], name[96];
    char *text; /* owned: a relayed message's data, a quality sample, a reason (may be NULL) */
    size_t text_len;
    video_done_fn then;
    bool hangup; /* a relayed hangup: kept when its session ends, one per session at a time */
};

/* The operations (enum video_op order), each answering one text column. */
static const char *const SQL[] = {
    "SELECT video_join($1, $2, $3::bigint, $4, $5::bigint, $6)::text", /* instance, cid, vsid, role, sub, identity */
    "SELECT video_leave($1, $2)::text",                                /* instance, cid */
    "SELECT video_admit($1::bigint, $2::bigint)",                      /* vsid, sub */
    "SELECT video_dismiss($1::bigint, false, $2)",                     /* vsid, reason */
    "SELECT video_dismiss($1::bigint, true, $2)",                      /* vsid, reason */
    "SELECT video_relay_send($1::bigint, $2, $3, $4, $5)",             /* vsid, role, identity, name, data */
    "SELECT video_quality_add($1::bigint, $2, $3, ($4::jsonb->>'rtt_ms')::float8, " /* vsid, role, identity, sample */
    "($4::jsonb->>'packet_loss')::float8, ($4::jsonb->>'jitter_ms')::float8)",
};
static const char SWEEP_SQL[] =
    "SELECT video_sweep($1::int, $2::int) + video_sweep_duration($3::int) + video_doctor_ready_sweep()";
static const char DAY_END_SQL[] = "SELECT visits_end_day()";
static const char RELAY_SQL[] =
    "WITH d AS (DELETE FROM video_relay WHERE instance_id = $1 "
    "           RETURNING id, session_id, to_role, to_identity, name, payload) "
    "SELECT session_id, to_role, to_identity, name, payload FROM d ORDER BY id";

static struct {
    long jobs;             /* queued and in-flight operations */
    size_t bytes;          /* the bytes they hold */
    bool relay_wanted;     /* messages for this instance may wait in video_relay */
    lws_sorted_usec_list_t sul_sweep, sul_poll;
    char sweep_params[3][24];
} vd;

static void prepare(struct db_job *job, struct db_query *q)
{
    struct vjob *j = (struct vjob *)job;
    const char *sub = j->has_sub ? j->sub : NULL, *inst = dblink_instance();
    switch (j->op) {
    case V_JOIN:
        *q = (struct db_query){SQL[V_JOIN], 6, {inst, j->cid, j->vsid, j->role, sub, j->ident}};
        break;
    case V_LEAVE:
        *q = (struct db_query){SQL[V_LEAVE], 2, {inst, j->cid}};
        break;
    case V_ADMIT:
        *q = (struct db_query){SQL[V_ADMIT], 2, {j->vsid, sub}};
        break;
    case V_DENY:
    case V_REMOVE:
        *q = (struct db_query){SQL[j->op], 2, {j->vsid, j->text}};
        break;
    case V_RELAY:
        *q = (struct db_query){SQL[V_RELAY], 5, {j->vsid, j->role, j->ident, j->name, j->text}};
        break;
    case V_QUALITY:
        *q = (struct db_query){SQL[V_QUALITY], 4, {j->vsid, j->role, j->ident, j->text}};
        break;
    }
}

static void done(struct db_job *job, const PGresult *r)
{
    struct vjob *j = (struct vjob *)job;
    struct peer *p = j->job.peer;
    if (!p || !j->then)
        return;
    if (!r)
        j->then(p, j->op, NULL,
                j->op == V_JOIN ? "The video consultation cannot be joined right now."
                                : "The server could not do this right now; try again.",
                j->ack_id);
    else
        j->then(p, j->op, j->op == V_JOIN && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : NULL, NULL, j->ack_id);
}

/* The database refused the operation (its SQLSTATE said so): reason is its sentence. */
static void refused(struct db_job *job, const char *sqlstate, const char *reason, const char *detail)
{
    (void)sqlstate;
    (void)detail;
    struct vjob *j = (struct vjob *)job;
    if (j->job.peer && j->then)
        j->then(j->job.peer, j->op, NULL, reason, j->ack_id);
}

static void release(struct db_job *job)
{
    struct vjob *j = (struct vjob *)job;
    vd.jobs--;
    vd.bytes -= j->text_len;
    if (j->job.peer) {
        peer_video(j->job.peer)->jobs--;
        if (j->hangup)
            peer_video(j->job.peer)->hangup_queued = false;
    }
    free(j->text);
    free(j);
}

bool video_take_token(struct peer *p, const struct video_claims *t)
{
    struct video_peer *v = peer_video(p);
    char ident[sizeof v->ident];
    if (t->sub > 0)
        snprintf(ident, sizeof ident, "u%llx", (unsigned long long)t->sub);
    else
        snprintf(ident, sizeof ident, "t%s", t->jti);
    if (peer_authed(p) &&
        (!v->member || t->vsid != v->vsid || strcmp(t->vrole, v->role) != 0 || strcmp(ident, v->ident) != 0))
        return false;
    v->member = true;
    v->vsid = t->vsid;
    snprintf(v->role, sizeof v->role, "%s", t->vrole);
    snprintf(v->ident, sizeof v->ident, "%s", ident);
    wire_set_patient(p, strcmp(v->role, "patient") == 0);
    return true;
}

bool video_member(struct peer *p) { return peer_video(p)->member; }
int64_t video_session(struct peer *p) { return peer_video(p)->member ? peer_video(p)->vsid : 0; }
const char *video_role(struct peer *p) { return peer_video(p)->role; }
const char *video_ident(struct peer *p) { return peer_video(p)->ident; }

bool video_request(enum video_op op, struct peer *p, const char *name, const char *text, long long ack_id,
                   video_done_fn then)
{
    struct video_peer *v = peer_video(p);
    size_t len = text ? strlen(text) : 0;
    bool hangup = op == V_RELAY && name && strcmp(name, "hangup") == 0;
    if (op != V_LEAVE && (!dblink_ready() || vd.jobs >= MAX_VIDEO_JOBS || vd.bytes + len > MAX_VIDEO_BYTES ||
                          v->jobs >= MAX_PEER_VIDEO_JOBS || (hangup && v->hangup_queued)))
        return false;
    struct vjob *j = calloc(1, sizeof *j);
    char *copy = text ? strdup(text) : NULL;
    if (!j || (text && !copy)) {
        free(j);
        free(copy);
        return false;
    }
    /* A hangup is what a leaving client sends last, right before it closes: it still reaches the other
     * side when the session has ended by the time the link takes it (the departure queued after it).
     * One at a time per session, so a client cannot leave a pile of them behind. */
    bool dropped_with_peer = op == V_JOIN || op == V_QUALITY || (op == V_RELAY && !hangup);
    j->job = (struct db_job){NULL, op == V_LEAVE ? NULL : p, dropped_with_peer, prepare, done, release, refused};
    j->op = op;
    j->ack_id = ack_id;
    j->then = then;
    if (op == V_JOIN)
        v->then = then; /* the joins again after a reconnect */
    j->text = copy;
    j->text_len = len;
    j->hangup = hangup;
    v->hangup_queued = v->hangup_queued || hangup;
    j->has_sub = peer_claims(p)->sub > 0;
    snprintf(j->vsid, sizeof j->vsid, "%lld", (long long)v->vsid);
    snprintf(j->sub, sizeof j->sub, "%lld", (long long)peer_claims(p)->sub);
    snprintf(j->cid, sizeof j->cid, "%s", peer_cid(p));
    snprintf(j->role, sizeof j->role, "%s", v->role);
    snprintf(j->ident, sizeof j->ident, "%s", v->ident);
    snprintf(j->name, sizeof j->name, "%s", name ? name : "");
    vd.jobs++;
    vd.bytes += len;
    if (j->job.peer)
        v->jobs++;
    dblink_push(&j->job, false);
    return true;
}

/* The housekeeping job (no session, no answer). */
struct sweep_job {
    struct db_job job;
};

static void sweep_prepare(struct db_job *job, struct db_query *q)
{
    (void)job;
    snprintf(vd.sweep_params[0], sizeof vd.sweep_params[0], "%ld", sig.cfg.video_grace_seconds);
    snprintf(vd.sweep_params[1], sizeof vd.sweep_params[1], "%ld", sig.cfg.video_connect_timeout_seconds);
    snprintf(vd.sweep_params[2], sizeof vd.sweep_params[2], "%ld", sig.cfg.video_max_minutes);
    *q = (struct db_query){SWEEP_SQL, 3, {vd.sweep_params[0], vd.sweep_params[1], vd.sweep_params[2]}};
}

static void sweep_release(struct db_job *job) { free(job); }

static void day_end_prepare(struct db_job *job, struct db_query *q)
{
    (void)job;
    *q = (struct db_query){DAY_END_SQL, 0, {NULL}};
}

/* Queues a housekeeping job whose query fill gives (not when the link is down: the next tick will). */
static void sweep_push(void (*fill)(struct db_job *, struct db_query *))
{
    struct sweep_job *j = dblink_ready() ? calloc(1, sizeof *j) : NULL;
    if (j) {
        j->job = (struct db_job){NULL, NULL, false, fill, NULL, sweep_release, NULL};
        dblink_push(&j->job, false);
    }
}

static void sweep(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    sweep_push(sweep_prepare);
    sweep_push(day_end_prepare);
    long every = sig.cfg.video_grace_seconds * 1000 / 3;
    every = every < 1000 ? 1000 : every > SWEEP_MAX_MS ? SWEEP_MAX_MS : every;
    if (!sig.stopping)
        lws_sul_schedule(sig.ctx, 0, &vd.sul_sweep, sweep, (lws_usec_t)every * 1000);
}

/* The relay reader ------------------------------------------------------------------------------------------------ */

static bool relay_wants(void) { return vd.relay_wanted; }

static void relay_next(struct db_query *q)
{
    vd.relay_wanted = false;
    *q = (struct db_query){RELAY_SQL, 1, {dblink_instance()}};
}

struct relay_note {
    int64_t vsid;
    const char *to_role, *to_identity, *name, *payload;
    size_t len;
};

static void tell_relay(struct peer *p, void *arg)
{
    const struct relay_note *n = arg;
    const struct video_peer *v = peer_video(p);
    if (peer_authed(p) && v->member && v->vsid == n->vsid && strcmp(v->role, n->to_role) == 0 &&
        (!n->to_identity || strcmp(v->ident, n->to_identity) == 0)) {
        wire_send_frame(p, n->name, n->payload, n->len);
        sig.m.relay_delivered++;
    }
}

/* A relayed WebRTC message for the local connections of session vsid with role to_role (and, when
 * to_identity is not NULL, that holder only: the admitted patient). */
static void relay(int64_t vsid, const char *to_role, const char *to_identity, const char *name, const char *payload,
                  size_t len)
{
    struct relay_note note = {vsid, to_role, to_identity, name, payload, len};
    char room[ROOM_NAME_MAX];
    struct room_set set;
    snprintf(room, sizeof room, "video:%lld", (long long)vsid);
    room_set_one(&set, room);
    rooms_each(&set, NULL, tell_relay, &note);
}

static void relay_done(const PGresult *r)
{
    for (int i = 0; r && i < PQntuples(r); i++)
        relay(strtoll(PQgetvalue(r, i, 0), NULL, 10), PQgetvalue(r, i, 1),
              PQgetisnull(r, i, 2) ? NULL : PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4),
              (size_t)PQgetlength(r, i, 4));
}

static void relay_dropped(void) { vd.relay_wanted = true; }

static const struct db_reader relay_reader = {true, relay_wants, relay_next, relay_done, relay_dropped};

static void on_relay(const char *payload)
{
    vd.relay_wanted = vd.relay_wanted || strcmp(payload, dblink_instance()) == 0;
}

/* The doctor admitted connection `connection` of a session: it may hear the room; the session's other
 * patient connections here are told and closed. */
static void on_admitted(const char *payload)
{
    json_t *v = json_loads(payload, 0, NULL);
    json_int_t vsid = json_integer_value(json_object_get(v, "session_id"));
    const char *admitted = json_string_value(json_object_get(v, "connection"));
    for (struct peer *p = peer_first(); admitted && p; p = peer_next(p)) {
        const struct video_peer *pv = peer_video(p);
        if (!peer_authed(p) || !pv->member || pv->vsid != vsid || strcmp(pv->role, "patient") != 0)
            continue;
        if (strcmp(peer_cid(p), admitted) == 0) {
            wire_set_admitted(p, true);
        } else if (!peer_doomed(p)) {
            wire_send_error(p, "admitted_elsewhere",
                            "Another connection to this consultation was admitted; this one is closed.");
            peer_doom(p);
        }
    }
    json_decref(v);
}

static void poll_tick(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    vd.relay_wanted = true;
    dblink_kick();
    if (!sig.stopping)
        lws_sul_schedule(sig.ctx, 0, &vd.sul_poll, poll_tick, (lws_usec_t)sig.cfg.poll_ms * 1000);
}

/* After a (re)connect: messages may wait, and this instance's video connections may have been swept
 * meanwhile: they join again. */
static void on_ready(void)
{
    vd.relay_wanted = true;
    for (struct peer *p = peer_first(); p; p = peer_next(p))
        if (peer_authed(p) && peer_video(p)->member)
            video_request(V_JOIN, p, NULL, NULL, -1, peer_video(p)->then);
}

void video_init(void)
{
    dblink_add_reader(&relay_reader);
    dblink_listen("relay", on_relay);
    dblink_listen("video_admitted", on_admitted);
    dblink_on_ready(on_ready);
    lws_sul_schedule(sig.ctx, 0, &vd.sul_sweep, sweep, (lws_usec_t)1000 * 1000);
    lws_sul_schedule(sig.ctx, 0, &vd.sul_poll, poll_tick, (lws_usec_t)sig.cfg.poll_ms * 1000);
}

void video_stop(void)
{
    lws_sul_cancel(&vd.sul_sweep);
    lws_sul_cancel(&vd.sul_poll);
    const char *params[] = {dblink_instance()};
    dblink_run_final("SELECT count(video_leave($1, c.sid)) FROM video_connections c WHERE c.instance_id = $1", 1,
                     params, 3000);
}
