/* outbox: the events outbox (DESIGN §5) delivered to the connected peers, on one PostgreSQL
 * connection that lives inside the lws loop.
 *
 * The connection is opened without blocking (PQconnectStartParams, polled from a timer), then its
 * socket (a dup: lws closes what it adopts) is adopted as a raw file so its input wakes the loop.
 * It LISTENs on "events". One query at a time is in flight; what to run next is decided by kick():
 * first the start cursor, then pending replays, then a fetch of new events. A fetch is wanted on
 * every NOTIFY and also every SIGNALING_POLL_MS, because an event becomes deliverable only once
 * every older transaction has finished, which may end without a notification.
 *
 * Order and completeness: the server delivers by (txid, id), only rows whose transaction is below
 * the snapshot's xmin, after its own cursor (the last delivered event). After a lost connection it
 * reconnects with backoff and reads on from that cursor: nothing is skipped. A peer that comes
 * with its last_event_id is not live until its replay, the events of its rooms in (its cursor, the
 * server's cursor], has been sent; live fetches wait behind replays, so the seam has neither a gap
 * nor a duplicate.
 *
 * Presence goes through the same connection as queued jobs, in order: a row per authenticated peer
 * in the shared presence table (added at authentication, removed at close, re-added after a
 * reconnect), a heartbeat of this instance every PRESENCE_BEAT_MS and the expiry of silent
 * instances' rows. Changes are announced by PostgreSQL on the "presence" channel, which every
 * instance (this one included) turns into participant_joined / participant_left for its own
 * peers in the rooms concerned. They are announced per user, not per connection: when a user's
 * first connection arrives and when their last one leaves (a clinic where every socket greeted
 * every other one would cost the square of its size). */
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "log.h"
#include "sig.h"

#define FETCH_LIMIT "500"

#define PRESENCE_BEAT_MS 10000
#define QUERY_DEADLINE_MS 15000   /* a query (or a connect) longer than this: the link is dead */
#define MAX_LIST_JOBS 1000
#define PRESENCE_EXPIRE_S "30"
#define MAX_VIDEO_JOBS 2000               /* queued video operations of the instance */
#define MAX_VIDEO_BYTES (32 * 1024 * 1024) /* and the bytes they hold (relayed SDPs) */
#define MAX_PEER_VIDEO_JOBS 8              /* queued or in flight for one connection */

enum ob_state { OB_DOWN = 0, OB_CONNECTING, OB_READY };
enum ob_query { Q_NONE = 0, Q_LISTEN, Q_START, Q_FETCH, Q_REPLAY, Q_JOB, Q_RELAY };

enum job_kind { J_PRESENCE_ADD, J_PRESENCE_DEL, J_PRESENCE_LIST, J_BEAT, J_EXPIRE, J_VIDEO, J_VIDEO_SWEEP };

/* A queued query about presence or the video room. peer is the peer to answer (J_PRESENCE_LIST,
 * J_VIDEO), cleared if it closes; what the query needs is copied into the job when it is queued. */
struct job {
    struct job *next;
    enum job_kind kind;
    enum video_op vop;
    struct peer *peer;
    long long ack_id;
    char sid[33];   /* the connection's public id (peer.cid): presence rows and video connections */
    char arg[96];
    int64_t vsid, sub;
    char role[16];  /* the video role, or for a presence row the user's role */
    char ident[40]; /* a video connection's holder (peer.vident) */
    char *text; /* owned: a relayed message's data, a quality sample, a reason (may be NULL) */
    size_t text_len;
};

static struct {
    enum ob_state state;
    PGconn *conn;
    struct lws *wsi;
    enum ob_query query;       /* the query in flight */
    struct peer *replay_peer;  /* whose replay is in flight (NULL when that peer left) */
    char cursor[64];           /* the last delivered event_id; "" until known */
    bool fetch_wanted;
    long backoff_ms;
    lws_sorted_usec_list_t sul_connect, sul_poll, sul_beat, sul_deadline;
    int64_t connect_started_ms;
    bool jobs_turn;               /* alternates presence jobs with event reads when both wait */
    long list_jobs;               /* queued presence lists (bounded) */
    struct job *jobs, *jobs_tail; /* queued presence jobs, oldest first */
    struct job *job;              /* the job in flight */
    long video_jobs;              /* queued and in-flight video jobs (bounded) */
    size_t video_bytes;           /* the bytes they hold */
    bool relay_wanted;            /* messages for this instance wait in video_relay */
    lws_sorted_usec_list_t sul_sweep;
    char instance[33];            /* this process's id in the presence table */
} ob;

/* What a client receives of an event (DESIGN §6): its data with event_id and occurred_at added. */
#define PUSHED "(e.data || jsonb_build_object('event_id', event_cursor(e), 'occurred_at', rfc3339(e.occurred_at)))::text"

static const char START_SQL[] =
    "SELECT COALESCE((SELECT event_cursor(e) FROM events e WHERE e.txid < pg_snapshot_xmin(pg_current_snapshot()) "
    "                 ORDER BY e.txid DESC, e.id DESC LIMIT 1), '0-0')";
static const char FETCH_SQL[] =
    "SELECT e.name, " PUSHED ", to_json(e.rooms)::text, event_cursor(e), "
    "       extract(epoch FROM clock_timestamp() - e.occurred_at), to_json(e.except_rooms)::text FROM events e "
    "WHERE (e.txid, e.id) > (split_part($1, '-', 1)::xid8, split_part($1, '-', 2)::bigint) "
    "  AND e.txid < pg_snapshot_xmin(pg_current_snapshot()) "
    "ORDER BY e.txid, e.id LIMIT " FETCH_LIMIT;
static const char REPLAY_SQL[] =
    "SELECT e.name, " PUSHED ", to_json(e.rooms)::text, event_cursor(e) FROM events e "
    "WHERE (e.txid, e.id) > (split_part($1, '-', 1)::xid8, split_part($1, '-', 2)::bigint) "
    "  AND (e.txid, e.id) <= (split_part($2, '-', 1)::xid8, split_part($2, '-', 2)::bigint) "
    "  AND event_visible(e, $3::text[]) "
    "ORDER BY e.txid, e.id LIMIT $4::int";

static const char PRESENCE_ADD_SQL[] =
    "WITH i AS (INSERT INTO presence (instance_id, sid, user_id, role, display_name, rooms) "
    "           SELECT $1, $2, u.id, $4, u.full_name, $5::text[] FROM users u WHERE u.id = $3::bigint "
    "           ON CONFLICT DO NOTHING RETURNING *) "
    "SELECT presence_announce(ROW(i.*)::presence, 'joined') FROM i "
    "WHERE NOT EXISTS (SELECT 1 FROM presence p WHERE p.user_id = i.user_id AND p.sid <> i.sid)";
static const char PRESENCE_DEL_SQL[] =
    "WITH d AS (DELETE FROM presence WHERE instance_id = $1 AND sid = $2 RETURNING *) "
    "SELECT presence_announce(ROW(d.*)::presence, 'left') FROM d "
    "WHERE NOT EXISTS (SELECT 1 FROM presence p WHERE p.user_id = d.user_id AND p.sid <> d.sid)";
static const char PRESENCE_LIST_SQL[] =
    "SELECT COALESCE(jsonb_agg(DISTINCT jsonb_build_object('user_id', user_id, 'role', role, "
    "                                                      'display_name', display_name)), '[]')::text "
    "FROM presence WHERE $1 = ANY (rooms)";
static const char BEAT_SQL[] =
    "INSERT INTO signaling_instances (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET last_seen = now()";
static const char EXPIRE_SQL[] = "SELECT presence_expire(" PRESENCE_EXPIRE_S ")";

/* The video room's operations (enum video_op order), each answering one text column. */
static const struct {
    const char *sql;
    int n;
} VIDEO_SQL[] = {
    {"SELECT video_join($1, $2, $3::bigint, $4, $5::bigint, $6)::text", 6},       /* instance, sid, vsid, role, sub, identity */
    {"SELECT video_leave($1, $2)::text", 2},                                       /* instance, sid */
    {"SELECT video_admit($1::bigint, $2::bigint)", 2},                             /* vsid, sub */
    {"SELECT video_dismiss($1::bigint, false, $2)", 2},                            /* vsid, reason */
    {"SELECT video_dismiss($1::bigint, true, $2)", 2},                             /* vsid, reason */
    {"SELECT video_relay_send($1::bigint, $2, $3, $4, $5)", 5},                    /* vsid, role, identity, name, data */
    {"SELECT video_quality_add($1::bigint, $2, $3, ($4::jsonb->>'rtt_ms')::float8, " /* vsid, role, identity, sample */
     "($4::jsonb->>'packet_loss')::float8, ($4::jsonb->>'jitter_ms')::float8)", 4},
};
static const char SWEEP_SQL[] = "SELECT video_sweep($1::int, $2::int)";
static const char RELAY_SQL[] =
    "WITH d AS (DELETE FROM video_relay WHERE instance_id = $1 "
    "           RETURNING id, session_id, to_role, to_identity, name, payload) "
    "SELECT session_id, to_role, to_identity, name, payload FROM d ORDER BY id";

static void job_free(struct job *j)
{
    if (j)
        free(j->text);
    free(j);
}

/* A job leaves the queue for good (done, or dropped): its share of the bounds is given back. */
static void job_done(struct job *j)
{
    if (j && j->kind == J_VIDEO) {
        ob.video_jobs--;
        ob.video_bytes -= j->text_len;
        if (j->peer)
            j->peer->video_jobs--;
    }
    if (j && j->kind == J_PRESENCE_LIST)
        ob.list_jobs--;
    job_free(j);
}

static void connect_step(lws_sorted_usec_list_t *sul);

static void schedule_connect(long delay_ms)
{
    lws_sul_schedule(sig.ctx, 0, &ob.sul_connect, connect_step, (lws_usec_t)delay_ms * 1000);
}

/* Drops the connection and tries again later, with backoff up to 5 s. */
static void lost(const char *why)
{
    if (ob.state == OB_READY) {
        log_warning("outbox: database connection lost (%s); reconnecting", why);
        sig.m.db_reconnects++;
    }
    if (ob.wsi) {
        struct lws *w = ob.wsi;
        ob.wsi = NULL;
        lws_set_timeout(w, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
    }
    if (ob.conn)
        PQfinish(ob.conn);
    ob.conn = NULL;
    ob.state = OB_DOWN;
    ob.query = Q_NONE;
    ob.replay_peer = NULL;
    lws_sul_cancel(&ob.sul_deadline);
    if (ob.job) { /* not done: it runs again first after the reconnect */
        ob.job->next = ob.jobs;
        ob.jobs = ob.job;
        if (!ob.jobs_tail)
            ob.jobs_tail = ob.job;
        ob.job = NULL;
    }
    ob.backoff_ms = ob.backoff_ms ? (ob.backoff_ms * 2 > 5000 ? 5000 : ob.backoff_ms * 2) : 100;
    if (!sig.stopping)
        schedule_connect(ob.backoff_ms);
}

static void query_deadline(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    if (ob.state == OB_READY && ob.query != Q_NONE)
        lost("no answer within the query deadline");
}

static bool send_query(enum ob_query q, const char *sql, int n, const char *const *params)
{
    /* LISTEN is two statements: the simple protocol; everything else is parameterised. */
    int sent = q == Q_LISTEN ? PQsendQuery(ob.conn, sql) : PQsendQueryParams(ob.conn, sql, n, NULL, params, NULL, NULL, 0);
    if (!sent) {
        lost(PQerrorMessage(ob.conn));
        return false;
    }
    PQflush(ob.conn);
    ob.query = q;
    lws_sul_schedule(sig.ctx, 0, &ob.sul_deadline, query_deadline, (lws_usec_t)QUERY_DEADLINE_MS * 1000);
    return true;
}

static struct peer *pending_replay(void)
{
    for (struct peer *p = sig.peers; p; p = p->next)
        if (p->state == PEER_AUTHED && !p->live && p->replay_from[0] && !p->doomed)
            return p;
    return NULL;
}

/* Starts the next query when the connection is idle. */
static void kick(void)
{
    if (ob.state != OB_READY || ob.query != Q_NONE)
        return;
    if (!ob.cursor[0]) {
        send_query(Q_START, START_SQL, 0, NULL);
        return;
    }
    if (ob.relay_wanted) { /* WebRTC messages first: a call set-up waits on each of them */
        ob.relay_wanted = false;
        const char *params[] = {ob.instance};
        send_query(Q_RELAY, RELAY_SQL, 1, params);
        return;
    }
    bool reads_wait = ob.fetch_wanted || pending_replay();
    if (ob.jobs && (!reads_wait || ob.jobs_turn)) {
        ob.jobs_turn = false;
        struct job *j = ob.jobs;
        ob.jobs = j->next;
        if (!ob.jobs)
            ob.jobs_tail = NULL;
        ob.job = j;
        char uid[24], rooms[96];
        const char *params[5] = {ob.instance, j->sid, uid, NULL, rooms};
        switch (j->kind) {
        case J_PRESENCE_ADD: /* from the snapshot taken when it was queued: the peer may be gone */
            snprintf(uid, sizeof uid, "%lld", (long long)j->sub);
            snprintf(rooms, sizeof rooms, "%s", j->arg);
            params[3] = j->role;
            j->peer = NULL;
            send_query(Q_JOB, PRESENCE_ADD_SQL, 5, params);
            break;
        case J_PRESENCE_DEL:
            send_query(Q_JOB, PRESENCE_DEL_SQL, 2, params);
            break;
        case J_PRESENCE_LIST: {
            const char *lp[] = {j->arg};
            send_query(Q_JOB, PRESENCE_LIST_SQL, 1, lp);
            break;
        }
        case J_BEAT:
            send_query(Q_JOB, BEAT_SQL, 1, params);
            break;
        case J_EXPIRE:
            send_query(Q_JOB, EXPIRE_SQL, 0, NULL);
            break;
        case J_VIDEO: {
            char vsid[24], sub[24];
            snprintf(vsid, sizeof vsid, "%lld", (long long)j->vsid);
            snprintf(sub, sizeof sub, "%lld", (long long)j->sub);
            const char *sub_or_null = j->sub > 0 ? sub : NULL;
            const char *vp[6];
            switch (j->vop) {
            case V_JOIN:
                vp[0] = ob.instance, vp[1] = j->sid, vp[2] = vsid, vp[3] = j->role, vp[4] = sub_or_null;
                vp[5] = j->ident;
                break;
            case V_LEAVE:
                vp[0] = ob.instance, vp[1] = j->sid;
                break;
            case V_ADMIT:
                vp[0] = vsid, vp[1] = sub_or_null;
                break;
            case V_DENY:
            case V_REMOVE:
                vp[0] = vsid, vp[1] = j->text;
                break;
            case V_RELAY:
                vp[0] = vsid, vp[1] = j->role, vp[2] = j->ident, vp[3] = j->arg, vp[4] = j->text;
                break;
            case V_QUALITY:
                vp[0] = vsid, vp[1] = j->role, vp[2] = j->ident, vp[3] = j->text;
                break;
            }
            send_query(Q_JOB, VIDEO_SQL[j->vop].sql, VIDEO_SQL[j->vop].n, vp);
            break;
        }
        case J_VIDEO_SWEEP: {
            char grace[24], connect[24];
            snprintf(grace, sizeof grace, "%ld", sig.cfg.video_grace_seconds);
            snprintf(connect, sizeof connect, "%ld", sig.cfg.video_connect_timeout_seconds);
            const char *sp[] = {grace, connect};
            send_query(Q_JOB, SWEEP_SQL, 2, sp);
            break;
        }
        }
        return;
    }
    ob.jobs_turn = true;
    struct peer *p = pending_replay();
    if (p) {
        char rooms[96], lim[24];
        if (p->all_rooms)
            rooms[0] = '\0';
        else if (p->nrooms == 2)
            snprintf(rooms, sizeof rooms, "{%s,%s}", p->rooms[0], p->rooms[1]);
        else
            snprintf(rooms, sizeof rooms, "{%s}", p->rooms[0]);
        snprintf(lim, sizeof lim, "%ld", sig.cfg.replay_limit);
        const char *params[] = {p->replay_from, ob.cursor, rooms[0] ? rooms : NULL, lim};
        if (send_query(Q_REPLAY, REPLAY_SQL, 4, params))
            ob.replay_peer = p;
        return;
    }
    if (ob.fetch_wanted) {
        ob.fetch_wanted = false;
        const char *params[] = {ob.cursor};
        send_query(Q_FETCH, FETCH_SQL, 1, params);
    }
}

/* One event on its way to the members of its rooms: e, and the rooms that get another copy. */
struct delivery {
    struct ws_event e;
    const struct room_set *skip;
    const char *except;
};

static void deliver_one(struct peer *p, void *arg)
{
    struct delivery *d = arg;
    if (p->state == PEER_AUTHED && p->live &&
        ((!d->skip->n && !d->skip->overflow) || !peer_in_set(p, d->skip, d->except)))
        ws_event_send(&d->e, p);
}

static void deliver(const PGresult *r)
{
    int rows = PQntuples(r);
    for (int i = 0; i < rows; i++) {
        const char *rooms = PQgetvalue(r, i, 2), *except = PQgetvalue(r, i, 5);
        struct room_set set, skip;
        room_set_parse(&set, rooms);
        room_set_parse(&skip, except); /* the rooms that get a more specific copy (event_visible) */
        struct delivery d = {{PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1), {0}, {0}},
                             &skip, except};
        rooms_each(&set, rooms, deliver_one, &d);
        ws_event_clear(&d.e);
        snprintf(ob.cursor, sizeof ob.cursor, "%s", PQgetvalue(r, i, 3));
        sig.m.outbox_lag_seconds = atof(PQgetvalue(r, i, 4));
    }
    if (rows == atoi(FETCH_LIMIT))
        ob.fetch_wanted = true;
}

static void replayed(const PGresult *r)
{
    struct peer *p = ob.replay_peer;
    ob.replay_peer = NULL;
    if (!p)
        return;
    sig.m.replays++;
    int rows = PQntuples(r);
    for (int i = 0; i < rows; i++)
        ws_send_event(p, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1));
    if (rows == sig.cfg.replay_limit) {
        snprintf(p->replay_from, sizeof p->replay_from, "%s", PQgetvalue(r, rows - 1, 3));
        return; /* more to come: stays pending */
    }
    p->replay_from[0] = '\0';
    p->live = true;
}

static void on_result(PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        log_error("outbox: query failed: %s", PQresultErrorMessage(r));
        if (ob.query == Q_JOB && ob.job && ob.job->kind == J_VIDEO && ob.job->peer)
            ws_video_result(ob.job->peer, ob.job->vop,
                            ob.job->vop == V_JOIN ? "{\"error\": \"The video consultation cannot be joined right now.\"}"
                                                  : "The server could not do this right now; try again.",
                            ob.job->ack_id);
        if (ob.query == Q_REPLAY && ob.replay_peer) {
            /* Never live with a hole: the client is closed and replays again when it reconnects. */
            peer_doom(ob.replay_peer);
            ob.replay_peer = NULL;
        }
        return;
    }
    switch (ob.query) {
    case Q_LISTEN:
        break;
    case Q_START:
        snprintf(ob.cursor, sizeof ob.cursor, "%s", PQgetvalue(r, 0, 0));
        break;
    case Q_FETCH:
        deliver(r);
        break;
    case Q_REPLAY:
        replayed(r);
        break;
    case Q_JOB:
        if (ob.job && ob.job->kind == J_PRESENCE_LIST && ob.job->peer)
            ws_send_presence(ob.job->peer, ob.job->arg, PQgetvalue(r, 0, 0), ob.job->ack_id);
        if (ob.job && ob.job->kind == J_VIDEO && ob.job->peer)
            ws_video_result(ob.job->peer, ob.job->vop, PQgetisnull(r, 0, 0) ? NULL : PQgetvalue(r, 0, 0),
                            ob.job->ack_id);
        break;
    case Q_RELAY:
        for (int i = 0; i < PQntuples(r); i++)
            ws_video_relay(strtoll(PQgetvalue(r, i, 0), NULL, 10), PQgetvalue(r, i, 1),
                           PQgetisnull(r, i, 2) ? NULL : PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4),
                           (size_t)PQgetlength(r, i, 4));
        break;
    default:
        break;
    }
}

/* Appends j to the queue and starts it when the connection is idle. */
static void enqueue(struct job *j)
{
    if (ob.jobs_tail)
        ob.jobs_tail->next = j;
    else
        ob.jobs = j;
    ob.jobs_tail = j;
    kick();
}

static void push_job(enum job_kind kind, struct peer *p, const char *sid, const char *arg, long long ack_id)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->kind = kind;
    j->peer = p;
    j->ack_id = ack_id;
    snprintf(j->sid, sizeof j->sid, "%s", sid ? sid : "");
    snprintf(j->arg, sizeof j->arg, "%s", arg ? arg : "");
    if (kind == J_PRESENCE_ADD) { /* the snapshot of the peer's user (see outbox_presence_add) */
        j->sub = p->claims.sub;
        snprintf(j->role, sizeof j->role, "%s", role_name(p->claims.role));
    }
    if (kind == J_BEAT && ob.jobs) { /* the heartbeat never waits behind a backlog: the others
                                        would take this instance for dead after 30 s */
        j->next = ob.jobs;
        ob.jobs = j;
        kick();
        return;
    }
    enqueue(j);
}

void outbox_presence_add(struct peer *p)
{
    /* A snapshot of the peer's user, role and rooms goes into the job (the peer may be gone or the
     * job sent again after a reconnect); the pointer is kept only so that outbox_forget can drop
     * a row never announced. */
    char rooms[96];
    if (p->nrooms == 2)
        snprintf(rooms, sizeof rooms, "{%s,%s}", p->rooms[0], p->rooms[1]);
    else if (p->nrooms == 1)
        snprintf(rooms, sizeof rooms, "{%s}", p->rooms[0]);
    else
        snprintf(rooms, sizeof rooms, "{}");
    push_job(J_PRESENCE_ADD, p, p->cid, rooms, -1);
}

void outbox_presence_del(const char *cid) { push_job(J_PRESENCE_DEL, NULL, cid, NULL, -1); }

bool outbox_presence_list(struct peer *p, const char *room, long long ack_id)
{
    /* Bounded, one at a time per peer, and only while the database answers: presence requests
     * must never hold up the delivery of events. */
    if (ob.state != OB_READY || ob.list_jobs >= MAX_LIST_JOBS || (ob.job && ob.job->peer == p))
        return false;
    for (struct job *j = ob.jobs; j; j = j->next)
        if (j->peer == p && j->kind == J_PRESENCE_LIST)
            return false;
    ob.list_jobs++;
    push_job(J_PRESENCE_LIST, p, p->cid, room, ack_id);
    return true;
}

bool outbox_video(enum video_op op, struct peer *p, const char *name, const char *text, long long ack_id)
{
    /* A departure is always queued (the database must learn it even after an outage: it runs
     * after the reconnect); the others only while the database answers, and bounded. */
    size_t len = text ? strlen(text) : 0;
    if (op != V_LEAVE && (ob.state != OB_READY || ob.video_jobs >= MAX_VIDEO_JOBS ||
                          ob.video_bytes + len > MAX_VIDEO_BYTES || p->video_jobs >= MAX_PEER_VIDEO_JOBS))
        return false;
    struct job *j = calloc(1, sizeof *j);
    char *copy = text ? strdup(text) : NULL;
    if (!j || (text && !copy)) {
        free(j);
        free(copy);
        return false;
    }
    j->kind = J_VIDEO;
    j->vop = op;
    j->peer = op == V_LEAVE ? NULL : p;
    j->ack_id = ack_id;
    j->vsid = p->vsid;
    j->sub = p->claims.sub;
    j->text = copy;
    j->text_len = len;
    snprintf(j->sid, sizeof j->sid, "%s", p->cid);
    snprintf(j->role, sizeof j->role, "%s", p->vrole);
    snprintf(j->ident, sizeof j->ident, "%s", p->vident);
    snprintf(j->arg, sizeof j->arg, "%s", name ? name : "");
    ob.video_jobs++;
    ob.video_bytes += len;
    if (j->peer)
        j->peer->video_jobs++;
    enqueue(j);
    return true;
}

/* The video room's housekeeping (video_sweep), a few times per grace window. */
static void sweep(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    if (ob.state == OB_READY)
        push_job(J_VIDEO_SWEEP, NULL, NULL, NULL, -1);
    long every = sig.cfg.video_grace_seconds * 1000 / 3;
    every = every < 1000 ? 1000 : every > PRESENCE_BEAT_MS ? PRESENCE_BEAT_MS : every;
    if (!sig.stopping)
        lws_sul_schedule(sig.ctx, 0, &ob.sul_sweep, sweep, (lws_usec_t)every * 1000);
}

static void beat(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    if (ob.state == OB_READY) {
        push_job(J_BEAT, NULL, NULL, NULL, -1);
        push_job(J_EXPIRE, NULL, NULL, NULL, -1);
    }
    if (!sig.stopping)
        lws_sul_schedule(sig.ctx, 0, &ob.sul_beat, beat, (lws_usec_t)PRESENCE_BEAT_MS * 1000);
}

/* After LISTEN: deliver what may have been missed, and put this instance's peers (back) into the
 * presence table: their rows may have expired while the connection was away. */
static void listening(void)
{
    log_info("outbox: listening for events");
    ob.fetch_wanted = true;
    ob.relay_wanted = true;
    push_job(J_BEAT, NULL, NULL, NULL, -1);
    for (struct peer *p = sig.peers; p; p = p->next) {
        if (p->state != PEER_AUTHED)
            continue;
        if (p->video) /* its connection row may have been swept meanwhile: joined again */
            outbox_video(V_JOIN, p, NULL, NULL, -1);
        else
            outbox_presence_add(p);
    }
}

/* Reads what the connection has: query results, then notifications. */
static int on_input(void)
{
    if (!PQconsumeInput(ob.conn)) {
        lost(PQerrorMessage(ob.conn));
        return 0;
    }
    while (ob.query != Q_NONE && !PQisBusy(ob.conn)) {
        PGresult *r = PQgetResult(ob.conn);
        if (!r) {
            enum ob_query done = ob.query;
            ob.query = Q_NONE;
            lws_sul_cancel(&ob.sul_deadline);
            job_done(ob.job);
            ob.job = NULL;
            if (done == Q_LISTEN)
                listening();
            break;
        }
        on_result(r);
        PQclear(r);
    }
    PGnotify *n;
    while ((n = PQnotifies(ob.conn))) {
        if (strcmp(n->relname, "presence") == 0)
            ws_presence_changed(n->extra);
        else if (strcmp(n->relname, "relay") == 0)
            ob.relay_wanted = ob.relay_wanted || strcmp(n->extra, ob.instance) == 0;
        else
            ob.fetch_wanted = true;
        PQfreemem(n);
    }
    kick();
    return 0;
}

static void poll_tick(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    ob.fetch_wanted = true;
    ob.relay_wanted = true;
    kick();
    if (!sig.stopping)
        lws_sul_schedule(sig.ctx, 0, &ob.sul_poll, poll_tick, (lws_usec_t)sig.cfg.poll_ms * 1000);
}

static void connected(void)
{
    lws_sock_file_fd_type fd;
    fd.filefd = dup(PQsocket(ob.conn));
    if (fd.filefd < 0 || PQsetnonblocking(ob.conn, 1) != 0) {
        lost("cannot watch the connection");
        return;
    }
    ob.wsi = lws_adopt_descriptor_vhost(sig.vhost, LWS_ADOPT_RAW_FILE_DESC, fd, "clinic-outbox", NULL);
    if (!ob.wsi) {
        close(fd.filefd);
        lost("cannot adopt the connection");
        return;
    }
    ob.state = OB_READY;
    ob.backoff_ms = 0;
    send_query(Q_LISTEN, "LISTEN events; LISTEN presence; LISTEN relay", 0, NULL);
}

static void connect_step(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    if (sig.stopping)
        return;
    if (ob.state == OB_DOWN) {
        static const char *const keys[] = {"dbname", "application_name", "keepalives", "keepalives_idle",
                                           "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                                           "connect_timeout", NULL};
        const char *vals[] = {sig.cfg.database_url, "signaling-server", "1", "10", "5", "3", "15000", "5", NULL};
        ob.conn = PQconnectStartParams(keys, vals, 1);
        if (!ob.conn || PQstatus(ob.conn) == CONNECTION_BAD) {
            lost(ob.conn ? PQerrorMessage(ob.conn) : "out of memory");
            return;
        }
        ob.state = OB_CONNECTING;
        ob.connect_started_ms = sig_now_ms();
    }
    if (sig_now_ms() - ob.connect_started_ms > QUERY_DEADLINE_MS) {
        lost("connect timed out");
        return;
    }
    switch (PQconnectPoll(ob.conn)) {
    case PGRES_POLLING_OK:
        connected();
        return;
    case PGRES_POLLING_FAILED:
        lost(PQerrorMessage(ob.conn));
        return;
    default:
        schedule_connect(10); /* polled: the connect never blocks the loop */
    }
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    (void)user;
    (void)in;
    (void)len;
    switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE:
        return wsi == ob.wsi ? on_input() : -1;
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        if (wsi == ob.wsi) {
            ob.wsi = NULL;
            lost("socket closed");
        }
        return 0;
    default:
        return 0;
    }
}

const struct lws_protocols outbox_protocol = {"clinic-outbox", callback, 0, 0, 0, NULL, 0};

void outbox_start(void)
{
    if (!crypto_random_hex16(ob.instance))
        snprintf(ob.instance, sizeof ob.instance, "%032lx", (unsigned long)getpid());
    lws_sul_schedule(sig.ctx, 0, &ob.sul_beat, beat, (lws_usec_t)PRESENCE_BEAT_MS * 1000);
    lws_sul_schedule(sig.ctx, 0, &ob.sul_sweep, sweep, (lws_usec_t)1000 * 1000);
    schedule_connect(0);
    lws_sul_schedule(sig.ctx, 0, &ob.sul_poll, poll_tick, (lws_usec_t)sig.cfg.poll_ms * 1000);
}

/* At shutdown: takes this instance's peers off the presence table (announcing their departure)
 * and out of their video sessions (reconnecting, as for a dropped connection)
 * rather than leaving them to the expiry, but waits at most two seconds for the database, so a
 * stuck or stopped database never holds up the exit. Skipped when a query is in flight. */
static void remove_own_presence(void)
{
    if (!ob.conn || ob.state != OB_READY || ob.query != Q_NONE)
        return;
    const char *params[] = {ob.instance};
    if (!PQsendQueryParams(ob.conn,
                           "WITH d AS (DELETE FROM presence WHERE instance_id = $1 RETURNING *) "
                           "SELECT count(presence_announce(ROW(d.*)::presence, 'left')) "
                           "       + (SELECT count(video_leave($1, c.sid)) FROM video_connections c "
                           "          WHERE c.instance_id = $1) "
                           "FROM (SELECT DISTINCT ON (d.user_id) d.* FROM d) d "
                           "WHERE NOT EXISTS (SELECT 1 FROM presence p WHERE p.user_id = d.user_id "
                           "                  AND p.instance_id <> $1)",
                           1, NULL, params, NULL, NULL, 0))
        return;
    int64_t deadline = sig_now_ms() + 2000;
    for (;;) {
        int flushed = PQflush(ob.conn);
        int64_t left = deadline - sig_now_ms();
        if (flushed < 0 || left <= 0)
            return;
        struct pollfd pfd = {PQsocket(ob.conn), (short)(POLLIN | (flushed ? POLLOUT : 0)), 0};
        if (poll(&pfd, 1, (int)left) < 0 || !PQconsumeInput(ob.conn))
            return;
        if (!PQisBusy(ob.conn))
            break;
    }
    PGresult *r;
    while ((r = PQgetResult(ob.conn)))
        PQclear(r);
}

void outbox_stop(void)
{
    lws_sul_cancel(&ob.sul_connect);
    lws_sul_cancel(&ob.sul_poll);
    lws_sul_cancel(&ob.sul_beat);
    lws_sul_cancel(&ob.sul_sweep);
    lws_sul_cancel(&ob.sul_deadline);
    remove_own_presence();
    while (ob.jobs) {
        struct job *j = ob.jobs;
        ob.jobs = j->next;
        job_free(j);
    }
    job_free(ob.job);
    ob.job = NULL;
    if (ob.conn)
        PQfinish(ob.conn);
    ob.conn = NULL;
    ob.state = OB_DOWN;
}

bool outbox_ready(void) { return ob.state == OB_READY; }

void outbox_replay(struct peer *p)
{
    (void)p;
    kick();
}

void outbox_forget(struct peer *p)
{
    if (ob.replay_peer == p)
        ob.replay_peer = NULL;
    if (ob.job && ob.job->peer == p)
        ob.job->peer = NULL;
    struct job **link = &ob.jobs, *last = NULL;
    while (*link) {
        struct job *j = *link;
        /* What only mattered to the peer goes: a row never announced (its leave then finds
         * nothing), a presence answer, a relay or a quality sample from a connection that is gone.
         * An admission or a dismissal by a doctor who just left still runs. */
        if (j->peer == p && (j->kind == J_PRESENCE_ADD || j->kind == J_PRESENCE_LIST ||
                             (j->kind == J_VIDEO && (j->vop == V_JOIN || j->vop == V_RELAY || j->vop == V_QUALITY)))) {
            *link = j->next;
            job_done(j);
            continue;
        }
        if (j->peer == p)
            j->peer = NULL;
        last = j;
        link = &j->next;
    }
    ob.jobs_tail = last;
}
