/* outbox: the events outbox (docs/ARCHITECTURE.md §3) delivered to this instance's sessions, read through the
 * database link (dblink.c): live events to every live member of their rooms, and the replay of a
 * reconnecting client from its last_event_id. */
#ifndef SIG_OUTBOX_H
#define SIG_OUTBOX_H

struct peer;

/* Registers the events' readers and channel with the database link; starts the poll timer. */
void outbox_init(void);
void outbox_stop(void);
/* p authenticated with a last_event_id (p->replay_from): its replay is queued; it goes live when
 * it is done. */
void outbox_replay(struct peer *p);
/* p is ending: it leaves the replay queue. */
void outbox_forget(struct peer *p);

#endif
