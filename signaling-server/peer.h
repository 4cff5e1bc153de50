/* peer: one client session of this instance (an Engine.IO session, or a /ws connection), opaque
 * outside peer.c: the list of open sessions, the index by sid, each one's identity (sid, cid,
 * protocol, claims, rooms), its state and its bounded send queue.
 *
 * Per-session state that belongs to another module is that module's own struct, defined in its
 * header and embedded here by value (no allocation, no indirection): peer.c never reads or writes
 * it, and it reaches its owner alone through the accessor of its part (peer_outbox(p) for
 * outbox.c, and so on), so a reader knows from the type which module owns a field, and no module
 * writes another's. The parts:
 *   struct transport_peer  transport_ws.c, transport_poll.c: the connection carrying the session
 *   struct session_peer    session.c: authentication state, deadlines and their timer, inbound rate
 *   struct outbox_peer     outbox.c: liveness, replay cursor and queue links, live_after
 *   struct presence_peer   presence.c: whether its row is listed, a presence request pending
 *   struct video_peer      video.c: the video identity (session, role, holder), its jobs
 *   struct wire_peer       wire.c: what it may hear (a patient not admitted hears only its waiting)
 *   struct rooms_peer      rooms.c: its entries in the room index
 *   struct quota_peer      quota.c: what it is counted as
 * peer.c includes those headers for the types only; it calls down into rooms.c and quota.c (at
 * creation, at the end, when the rooms change) and into the transport through its operations. */
#ifndef SIG_PEER_H
#define SIG_PEER_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rooms.h"
#include "token.h"

struct peer;
struct transport;
struct transport_peer;
struct session_peer;
struct outbox_peer;
struct presence_peer;
struct video_peer;
struct wire_peer;

/* A frame waiting to be written: LWS_PRE bytes of headroom, then len bytes. */
struct frame {
    struct frame *next;
    size_t len;
    unsigned char buf[];
};

/* A new session carried by tr (json_proto: the plain JSON protocol of /ws, else Socket.IO) from
 * client address addr, with fresh sid and cid, linked, indexed and counted (quota.c); NULL when out
 * of memory. Freed by session_end (session.c) through peer_free. */
struct peer *peer_new(const struct transport *tr, bool json_proto, const char *addr);
/* Unlinks, unindexes, takes out of the rooms and the counts, and frees p and its queue; the
 * transport let go of it first. */
void peer_free(struct peer *p);
/* The open session with that sid, or NULL. */
struct peer *peer_find(const char *sid);
/* The open sessions, in no particular order: for (p = peer_first(); p; p = peer_next(p)). */
struct peer *peer_first(void);
struct peer *peer_next(const struct peer *p);
long peer_count(void);

/* Identity: the Engine.IO sid (a polling client's secret), the public connection id (its Socket.IO
 * id, presence rows, video connections, logs), the protocol. Borrowed for p's life. */
const char *peer_sid(const struct peer *p);
const char *peer_cid(const struct peer *p);
bool peer_json(const struct peer *p);
/* The transport carrying p now; a polling session moves to WebSocket at an upgrade. */
const struct transport *peer_tr(const struct peer *p);
void peer_set_tr(struct peer *p, const struct transport *tr);
/* Whether p authenticated (a CONNECT with a valid token the account allows); set once, by session.c. */
bool peer_authed(const struct peer *p);
void peer_set_authed(struct peer *p);
/* The claims of its token (for a video token: sub, clinic_id, iat, exp, jti); set by session.c. */
const struct claims *peer_claims(const struct peer *p);
void peer_set_claims(struct peer *p, const struct claims *c);

/* Queues text (len bytes, copied) for p and wakes its transport; over the byte cap the peer is
 * doomed instead (it reconnects and catches up by replay). */
void peer_send(struct peer *p, const char *text, size_t len);
/* Asks p's transport to close once the queued frames are out. */
void peer_doom(struct peer *p);
bool peer_doomed(const struct peer *p);
/* Ends p soon, from the loop, whatever is queued (safe inside any callback that still uses p). */
void peer_kill(struct peer *p);
/* Calls end(p) from the loop at once (not inside the current callback); cancelled by peer_free. */
void peer_defer_end(struct peer *p, void (*end)(struct peer *p));
/* Takes the first queued frame off p's queue (caller frees it), or NULL. */
struct frame *peer_pop(struct peer *p);
/* The queued frames (borrowed, first first; NULL when none) and their bytes. */
const struct frame *peer_queue(const struct peer *p);
size_t peer_queued_bytes(const struct peer *p);
void peer_free_queue(struct peer *p);

/* Sets the peer's rooms from its claims (video_session > 0: that video session's room alone) and
 * indexes them; false when out of memory. */
bool peer_set_rooms(struct peer *p, int64_t video_session);
/* Whether the peer is in one of rooms (a JSON array text like ["clinic:1","doctor:2"]). */
bool peer_in_rooms(const struct peer *p, const char *rooms_json);
/* Whether p is in one of the rooms of s (rooms_json is their text, for a set that overflowed). */
bool peer_in_set(const struct peer *p, const struct room_set *s, const char *rooms_json);
/* Whether p is in every room (ADMIN). */
bool peer_all_rooms(const struct peer *p);
/* p's shared rooms (its personal room left out) as a PostgreSQL array literal "{clinic:1,doctor:2}"
 * ("{}" when none) into buf: what presence rows record. */
void peer_rooms_array(const struct peer *p, char *buf, size_t size);
/* The rooms whose events p replays, as event_visible reads them (sql/0027): its rooms with its
 * personal room, "{*,user:1}" for an admin (every shared room and its own). */
void peer_replay_rooms(const struct peer *p, char *buf, size_t size);

/* The parts owned by other modules (see above): each is touched by its owner alone. */
struct transport_peer *peer_transport(struct peer *p);
struct session_peer *peer_session(struct peer *p);
struct outbox_peer *peer_outbox(struct peer *p);
struct presence_peer *peer_presence(struct peer *p);
struct video_peer *peer_video(struct peer *p);
struct wire_peer *peer_wire(struct peer *p);
/* quota.c's part, handed to quota_authenticate by session.c (peer.c counts the opening and the end). */
struct quota_peer *peer_quota(struct peer *p);

#endif
