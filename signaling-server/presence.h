/* presence: who is online, shared by every signaling instance through PostgreSQL (the presence
 * table, sql/0007_presence.sql), through the database link. */
#ifndef SIG_PRESENCE_H
#define SIG_PRESENCE_H

#include <stdbool.h>

struct peer;

/* presence.c's part of a session (embedded in struct peer by peer.c, touched here alone). */
struct presence_peer {
    bool listed;  /* it has (or is getting) a row: authenticated, not a video connection */
    bool pending; /* a presence request of its own is queued */
};

void presence_init(void);
/* At shutdown: this instance's rows are taken off (their departure announced), waiting at most a
 * second for the database. */
void presence_stop(void);
/* p authenticated (and is not a video connection): its row is added (a snapshot of its user, role
 * and rooms), and again after every reconnect of the database link. */
void presence_add(struct peer *p);
/* The session with public id cid ended: its row goes. */
void presence_del(const char *cid);
/* Who is online in room, for p (answered by wire_send_presence); false when it cannot be asked now
 * (one at a time per session, bounded, database up). */
bool presence_list(struct peer *p, const char *room, long long ack_id);

#endif
