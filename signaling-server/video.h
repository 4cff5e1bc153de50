/* video: the video room's side of the database (sql/0008_video.sql) through the database link:
 * arrivals and departures, admission, the WebRTC messages relayed between instances, quality
 * samples and the rooms' housekeeping. */
#ifndef SIG_VIDEO_H
#define SIG_VIDEO_H

#include <stdbool.h>

struct peer;

enum video_op { V_JOIN, V_LEAVE, V_ADMIT, V_DENY, V_REMOVE, V_RELAY, V_QUALITY };

void video_init(void);
/* At shutdown: this instance's video connections leave their sessions (reconnecting, as for a
 * dropped connection), waiting at most a second for the database. */
void video_stop(void);
/* Queues op for video session p (V_LEAVE: p is ending, only its public id is kept). name is the
 * relayed event's name (V_RELAY), text the JSON data (V_RELAY, V_QUALITY) or the reason (V_DENY,
 * V_REMOVE; may be NULL). Each is answered by ws_video_result unless p ended meanwhile. false when
 * it cannot be queued now (database down, or over the bounds of the instance or of p). */
bool video_request(enum video_op op, struct peer *p, const char *name, const char *text, long long ack_id);

#endif
