/* video: the video room's side of the database (sql/0008_video.sql) through the database link:
 * arrivals and departures, admission, the WebRTC messages relayed between instances, quality
 * samples and the rooms' housekeeping. */
#ifndef SIG_VIDEO_H
#define SIG_VIDEO_H

#include <stdbool.h>
#include <stdint.h>

struct peer;
struct video_claims;

enum video_op { V_JOIN, V_LEAVE, V_ADMIT, V_DENY, V_REMOVE, V_RELAY, V_QUALITY };

/* The answer to op for p: refused is NULL when done (result: the state JSON of V_JOIN, else NULL), else
 * why not: the database's sentence for a refusal, or a generic one when it failed (borrowed). */
typedef void (*video_done_fn)(struct peer *p, enum video_op op, const char *result, const char *refused,
                              long long ack_id);

/* video.c's part of a session (embedded in struct peer by peer.c, touched here alone). */
struct video_peer {
    bool member;      /* holds a video join token: in video:{vsid} only */
    int64_t vsid;
    char role[8];     /* "doctor" or "patient" */
    char ident[40];   /* who holds the token: u<user id>, or t<token id> for an invited guest */
    int jobs;         /* its operations queued or in flight (bounded) */
    bool hangup_queued; /* one hangup at a time: it outlives the connection (video.c) */
    video_done_fn then; /* what answers its joins (the one of its first) */
};

/* p presents a verified video join token v: p becomes (or stays) that video connection. false when
 * p is authenticated already and v is not for the same session, role and holder. */
bool video_take_token(struct peer *p, const struct video_claims *v);
/* Whether p is a video connection, and then its session, its role and its holder's identity. */
bool video_member(struct peer *p);
int64_t video_session(struct peer *p); /* 0 when not a video connection */
const char *video_role(struct peer *p);
const char *video_ident(struct peer *p);

void video_init(void);
/* At shutdown: this instance's video connections leave their sessions (reconnecting, as for a
 * dropped connection), waiting at most a second for the database. */
void video_stop(void);
/* Queues op for video session p (V_LEAVE: p is ending, only its public id is kept). name is the
 * relayed event's name (V_RELAY), text the JSON data (V_RELAY, V_QUALITY) or the reason (V_DENY,
 * V_REMOVE; may be NULL). Each is answered by done(p, ...) unless p ended meanwhile (done may be NULL
 * for V_LEAVE, never answered); a V_JOIN's done also answers the joins again after a reconnect of the
 * database link. false when it cannot be queued now (database down, or over the bounds of the
 * instance or of p). */
bool video_request(enum video_op op, struct peer *p, const char *name, const char *text, long long ack_id,
                   video_done_fn done);

#endif
