/* presence: who is online, shared by every signaling instance through PostgreSQL (the presence
 * table, sql/0007_presence.sql), through the database link. */
#ifndef SIG_PRESENCE_H
#define SIG_PRESENCE_H

#include <stdbool.h>

struct peer;

void presence_init(void);
/* At shutdown: this instance's rows are taken off (their departure announced), waiting at most a
 * second for the database. */
void presence_stop(void);
/* p authenticated: its row is added (a snapshot of its user, role and rooms). */
void presence_add(struct peer *p);
/* The session with public id cid ended: its row goes. */
void presence_del(const char *cid);
/* Who is online in room, for p (answered by wire_send_presence); false when it cannot be asked now
 * (one at a time per session, bounded, database up). */
bool presence_list(struct peer *p, const char *room, long long ack_id);

#endif
