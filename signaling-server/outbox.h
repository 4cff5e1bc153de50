/* outbox: the events outbox (docs/ARCHITECTURE.md §3) delivered to this instance's sessions, read through the
 * database link (dblink.c): live events to every live member of their rooms, and the replay of a
 * reconnecting client from its last_event_id. */
#ifndef SIG_OUTBOX_H
#define SIG_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

struct peer;

/* Where an event stands in the outbox's order: its event_id "txid-id". */
struct event_pos {
    uint64_t txid;
    int64_t id;
};

/* outbox.c's part of a session (embedded in struct peer by peer.c, touched here alone). */
struct outbox_peer {
    bool live;                 /* receives live events (false until authenticated and replayed) */
    char replay_from[64];      /* the client's last_event_id, while a replay is pending */
    struct event_pos live_after; /* live events up to here were had already (txid 0: none) */
    struct peer *replay_next;  /* the replay queue */
    bool replay_queued, replay_checked;
};

/* Registers the events' readers and channel with the database link; starts the poll timer. */
void outbox_init(void);
void outbox_stop(void);
/* p asks to resume after last_event_id (valid, or "" for none), once authenticated (copied). */
void outbox_resume_from(struct peer *p, const char *last_event_id);
/* p authenticated: its replay is queued when it gave a last_event_id (it goes live when the replay is
 * done), else it goes live now. */
void outbox_start(struct peer *p);
/* p is ending: it leaves the replay queue. */
void outbox_forget(struct peer *p);

#endif
