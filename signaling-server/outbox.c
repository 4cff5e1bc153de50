/* outbox: the events of the outbox (docs/ARCHITECTURE.md §3) for this instance's sessions, read through the
 * database link (dblink.c) by two readers: the start cursor (urgent, once per process) and the
 * events reader, which alternates the live fetch with replays so that neither waits behind the
 * other.
 *
 * Order and completeness: the instance delivers by (txid, id), only rows whose transaction is
 * below the snapshot's xmin, after its own cursor (the last delivered event). A fetch is wanted
 * on every NOTIFY "events", every SIGNALING_POLL_MS (an event becomes deliverable only once every
 * older transaction has finished, which may end without a notification) and after every
 * reconnect: nothing is skipped.
 *
 * Replays: a session that comes with its last_event_id is not live until its replay, the events
 * of its rooms in (its cursor, the instance's cursor], has been sent; since the instance's cursor
 * moves only with the fetches, the seam has neither a gap nor a duplicate. A last_event_id ahead of
 * the instance's cursor (read on another instance, or from GET /api/events, before this instance
 * fetched that far) replays nothing, and the session skips live events up to it. Replays wait in a queue
 * and are served SIGNALING_REPLAY_LIMIT rows a turn (fewer once the client's send queue is half
 * full: its next turn waits until the client has read it down, so a big backlog never overflows
 * the queue), round-robin, a turn of live fetch between two of them, so a storm of reconnects
 * delays no one's live events by more than a turn. A first
 * turn checks the window: a last_event_id followed by events older than
 * SIGNALING_REPLAY_WINDOW_SECONDS is refused (`error` resync_required, then the close), so the
 * client reloads its data instead of replaying days of events. A replay that fails closes its
 * session (it is never made live with a hole); one cut by a lost link runs again after the
 * reconnect.
 *
 * A session's liveness, replay cursor and place in the replay queue are outbox.c's part of it
 * (struct outbox_peer, outbox.h), reached through peer_outbox. */
#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dblink.h"
#include "log.h"
#include "peer.h"
#include "sig.h"
#include "wire.h"

#define FETCH_LIMIT "500"

static struct {
    char cursor[64];            /* the last delivered event_id; "" until known */
    bool fetch_wanted;
    bool replay_turn;           /* the next read is a replay, when both wait */
    struct peer *queue, *queue_tail; /* sessions waiting for (more of) their replay */
    struct peer *replaying;     /* whose replay query is in flight (NULL when it left) */
    bool checking;              /* that query is the window check */
    bool fetching;              /* a fetch is in flight */
    int64_t last_user;          /* the user of the last replay turn */
    lws_sorted_usec_list_t sul_poll;
    char params[4][96];
} ob;

/* What a client receives of an event (docs/ARCHITECTURE.md §7): its data with event_id and occurred_at added. */
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
/* Whether the first event after the cursor (of any room) is older than the window. */
static const char WINDOW_SQL[] =
    "SELECT COALESCE((SELECT e.occurred_at < now() - make_interval(secs => $2::int) FROM events e "
    "                 WHERE (e.txid, e.id) > (split_part($1, '-', 1)::xid8, split_part($1, '-', 2)::bigint) "
    "                 ORDER BY e.txid, e.id LIMIT 1), false)";

/* The replay queue ------------------------------------------------------------------------------------------------ */

static void queue_append(struct peer *p)
{
    struct outbox_peer *o = peer_outbox(p);
    o->replay_next = NULL;
    if (ob.queue_tail)
        peer_outbox(ob.queue_tail)->replay_next = p;
    else
        ob.queue = p;
    ob.queue_tail = p;
    o->replay_queued = true;
}

static void queue_push_front(struct peer *p)
{
    struct outbox_peer *o = peer_outbox(p);
    o->replay_next = ob.queue;
    ob.queue = p;
    if (!ob.queue_tail)
        ob.queue_tail = p;
    o->replay_queued = true;
}

/* Whether p may take a replay turn now: its send queue has room for one (a turn stops at half of
 * SIGNALING_SEND_QUEUE_BYTES, and the next waits until the client has read it down). */
static bool turn_fits(const struct peer *p) { return peer_queued_bytes(p) <= (size_t)sig.cfg.send_queue_bytes / 2; }

/* The next session to replay: the first that may take a turn, preferring another user than the last
 * turn's (a user with many sockets does not get many turns in a row); NULL when none may now. */
static struct peer *queue_pop(void)
{
    struct peer **pick = NULL, **link = &ob.queue, *pick_prev = NULL, *prev = NULL;
    for (; *link; prev = *link, link = &peer_outbox(*link)->replay_next) {
        if (!turn_fits(*link))
            continue;
        int64_t user = peer_claims(*link)->sub;
        if (!pick || (peer_claims(*pick)->sub == ob.last_user && user != ob.last_user)) {
            pick = link;
            pick_prev = prev;
            if (user != ob.last_user)
                break;
        }
    }
    if (!pick)
        return NULL;
    struct peer *p = *pick;
    struct outbox_peer *o = peer_outbox(p);
    *pick = o->replay_next;
    if (ob.queue_tail == p)
        ob.queue_tail = pick_prev;
    o->replay_next = NULL;
    o->replay_queued = false;
    return p;
}

static bool replay_ready(void)
{
    for (struct peer *p = ob.queue; p; p = peer_outbox(p)->replay_next)
        if (turn_fits(p))
            return true;
    return false;
}

static void queue_remove(struct peer *p)
{
    struct outbox_peer *o = peer_outbox(p);
    struct peer *prev = NULL;
    for (struct peer **link = &ob.queue; *link; prev = *link, link = &peer_outbox(*link)->replay_next)
        if (*link == p) {
            *link = o->replay_next;
            if (ob.queue_tail == p)
                ob.queue_tail = prev;
            break;
        }
    o->replay_next = NULL;
    o->replay_queued = false;
}

/* The start cursor ------------------------------------------------------------------------------------------------ */

static bool cursor_wants(void) { return !ob.cursor[0]; }

static void cursor_next(struct db_query *q) { q->sql = START_SQL; }

static void cursor_done(const PGresult *r)
{
    if (r)
        snprintf(ob.cursor, sizeof ob.cursor, "%s", PQgetvalue(r, 0, 0));
}

static void cursor_dropped(void) {}

static const struct db_reader cursor_reader = {true, cursor_wants, cursor_next, cursor_done, cursor_dropped};

/* Live events ----------------------------------------------------------------------------------------------------- */

/* An event_id "txid-id" as the pair the events are ordered by; false when it is not one. */
static bool cursor_parse(const char *s, struct event_pos *pos)
{
    char *end;
    pos->txid = strtoull(s, &end, 10);
    if (*end != '-')
        return false;
    pos->id = strtoll(end + 1, &end, 10);
    return *end == '\0';
}

static bool pos_after(const struct event_pos *a, const struct event_pos *b)
{
    return a->txid > b->txid || (a->txid == b->txid && a->id > b->id);
}

/* One event on its way to the members of its rooms: e, and the rooms that get another copy. */
struct delivery {
    struct wire_event e;
    const struct room_set *skip;
    const char *except;
    struct event_pos pos;
};

/* Whether a session (its part o) had the event already: it came with a last_event_id the instance
 * had not reached. */
static bool seen_already(struct outbox_peer *o, const struct event_pos *pos)
{
    if (!o->live_after.txid)
        return false;
    if (!pos_after(pos, &o->live_after))
        return true;
    o->live_after.txid = 0; /* past it: every later event is new */
    return false;
}

/* The hot path, once per member of the event's rooms: live implies authenticated (outbox_start). */
static void deliver_one(struct peer *p, void *arg)
{
    struct delivery *d = arg;
    struct outbox_peer *o = peer_outbox(p);
    if (o->live && ((!d->skip->n && !d->skip->overflow) || !peer_in_set(p, d->skip, d->except)) &&
        !seen_already(o, &d->pos))
        wire_event_send(&d->e, p);
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
                             &skip, except, {0, 0}};
        cursor_parse(PQgetvalue(r, i, 3), &d.pos);
        rooms_each(&set, rooms, deliver_one, &d);
        wire_event_clear(&d.e);
        snprintf(ob.cursor, sizeof ob.cursor, "%s", PQgetvalue(r, i, 3));
        sig.m.outbox_lag_seconds = atof(PQgetvalue(r, i, 4));
    }
    if (rows == atoi(FETCH_LIMIT))
        ob.fetch_wanted = true;
}

/* Replays --------------------------------------------------------------------------------------------------------- */

static void replay_query(struct peer *p, struct db_query *q)
{
    struct outbox_peer *o = peer_outbox(p);
    ob.replaying = p;
    ob.last_user = peer_claims(p)->sub;
    snprintf(ob.params[0], sizeof ob.params[0], "%s", o->replay_from);
    if (!o->replay_checked) {
        ob.checking = true;
        snprintf(ob.params[1], sizeof ob.params[1], "%ld", sig.cfg.replay_window_seconds);
        *q = (struct db_query){WINDOW_SQL, 2, {ob.params[0], ob.params[1]}};
        return;
    }
    ob.checking = false;
    peer_replay_rooms(p, ob.params[2], sizeof ob.params[2]);
    snprintf(ob.params[1], sizeof ob.params[1], "%s", ob.cursor);
    snprintf(ob.params[3], sizeof ob.params[3], "%ld", sig.cfg.replay_limit);
    *q = (struct db_query){REPLAY_SQL, 4, {ob.params[0], ob.params[1], ob.params[2], ob.params[3]}};
}

static void refuse_replay(struct peer *p)
{
    char why[160];
    snprintf(why, sizeof why, "last_event_id is older than the replay window (%ld s): reload your data and "
                              "connect again without it.", sig.cfg.replay_window_seconds);
    wire_send_error(p, "resync_required", why);
    peer_doom(p);
}

static void replayed(struct peer *p, const PGresult *r)
{
    if (ob.checking) {
        if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
            refuse_replay(p);
            return;
        }
        peer_outbox(p)->replay_checked = true;
        queue_push_front(p);
        return;
    }
    struct outbox_peer *o = peer_outbox(p);
    sig.m.replays++;
    int rows = PQntuples(r), sent;
    for (sent = 0; sent < rows && (sent == 0 || turn_fits(p)); sent++)
        wire_send_event(p, PQgetvalue(r, sent, 0), PQgetvalue(r, sent, 1), (size_t)PQgetlength(r, sent, 1));
    if (sent < rows || rows == sig.cfg.replay_limit) {
        snprintf(o->replay_from, sizeof o->replay_from, "%s", PQgetvalue(r, sent - 1, 3));
        queue_append(p); /* more to come: its next turn after the others', once its queue has room */
        return;
    }
    struct event_pos from, upto;
    if (cursor_parse(o->replay_from, &from) && cursor_parse(ob.cursor, &upto) && pos_after(&from, &upto))
        o->live_after = from;
    o->replay_from[0] = '\0';
    o->live = true;
}

/* The events reader ----------------------------------------------------------------------------------------------- */

static bool events_wants(void) { return ob.cursor[0] && (ob.fetch_wanted || replay_ready()); }

static void events_next(struct db_query *q)
{
    bool replay = replay_ready() && (!ob.fetch_wanted || ob.replay_turn);
    ob.replay_turn = !replay;
    struct peer *p = replay ? queue_pop() : NULL;
    if (p) {
        replay_query(p, q);
        return;
    }
    ob.fetch_wanted = false;
    ob.fetching = true;
    snprintf(ob.params[0], sizeof ob.params[0], "%s", ob.cursor);
    *q = (struct db_query){FETCH_SQL, 1, {ob.params[0]}};
}

static void events_done(const PGresult *r)
{
    if (ob.fetching) {
        ob.fetching = false;
        if (r)
            deliver(r);
        else
            ob.fetch_wanted = true;
        return;
    }
    struct peer *p = ob.replaying;
    ob.replaying = NULL;
    if (!p)
        return; /* it left meanwhile */
    if (!r) {
        /* Never live with a hole: the client is closed and replays again when it reconnects. */
        peer_doom(p);
        return;
    }
    replayed(p, r);
}

static void events_dropped(void)
{
    if (ob.fetching)
        ob.fetch_wanted = true;
    ob.fetching = false;
    if (ob.replaying) /* runs again first once the link is back */
        queue_push_front(ob.replaying);
    ob.replaying = NULL;
}

static const struct db_reader events_reader = {false, events_wants, events_next, events_done, events_dropped};

/* Wiring ---------------------------------------------------------------------------------------------------------- */

static void on_notify(const char *payload)
{
    (void)payload;
    ob.fetch_wanted = true;
}

/* After a (re)connect: what may have been missed is read. */
static void on_ready(void) { ob.fetch_wanted = true; }

static void poll_tick(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    ob.fetch_wanted = true;
    dblink_kick();
    if (!sig.stopping)
        lws_sul_schedule(sig.ctx, 0, &ob.sul_poll, poll_tick, (lws_usec_t)sig.cfg.poll_ms * 1000);
}

void outbox_init(void)
{
    dblink_add_reader(&cursor_reader);
    dblink_add_reader(&events_reader);
    dblink_listen("events", on_notify);
    dblink_on_ready(on_ready);
    lws_sul_schedule(sig.ctx, 0, &ob.sul_poll, poll_tick, (lws_usec_t)sig.cfg.poll_ms * 1000);
}

void outbox_stop(void) { lws_sul_cancel(&ob.sul_poll); }

void outbox_resume_from(struct peer *p, const char *last_event_id)
{
    struct outbox_peer *o = peer_outbox(p);
    snprintf(o->replay_from, sizeof o->replay_from, "%s", last_event_id);
}

void outbox_start(struct peer *p)
{
    struct outbox_peer *o = peer_outbox(p);
    if (!o->replay_from[0]) {
        o->live = true;
        return;
    }
    o->replay_checked = false;
    queue_append(p);
    dblink_kick();
}

void outbox_forget(struct peer *p)
{
    if (ob.replaying == p)
        ob.replaying = NULL;
    if (peer_outbox(p)->replay_queued)
        queue_remove(p);
}
