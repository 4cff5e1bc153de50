/* session: the Engine.IO / Socket.IO session (and the plain JSON protocol of /ws), whatever
 * transport carries it: the one module the transports call with what a client sent, and the one
 * that decides what a session may do. It calls down into outbox.c, presence.c, video.c,
 * accounts.c, wire.c and peer.c; nothing below calls it. */
#ifndef SIG_SESSION_H
#define SIG_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "timers.h"
#include "token.h"

struct peer;

/* session.c's part of a session (embedded in struct peer by peer.c, touched here alone). */
struct session_peer {
    struct peer *peer;         /* the session it is part of (for its timer) */
    bool auth_pending;         /* its token was good: the account is being checked (accounts.c) */
    bool reauth_pending;       /* a fresh token (claims_next) is being checked; reauth_ack answers it */
    long long reauth_ack;
    struct claims claims_next; /* scratch for re-authentication */
    int64_t auth_deadline_ms, ping_due_ms, pong_deadline_ms;
    int64_t token_exp_ms;      /* when the token expires (monotonic clock) */
    int64_t window_start_ms;   /* inbound rate: packets counted in the current second */
    int window_frames;
    struct timer timer;        /* the session's deadlines and pings (timers.c) */
};

/* A new session was opened by a transport: sends the handshake (OPEN, or /ws hello) and arms
 * its deadlines. upgrades: the OPEN packet offers the WebSocket upgrade (polling). */
void session_open(struct peer *p, bool upgrades);
/* One inbound packet (an Engine.IO packet, or a /ws frame) of len bytes; false when the client
 * broke a limit and the transport must close now. */
bool session_packet(struct peer *p, const char *buf, size_t len);
/* The session ends: database rows and pending work let go, the transport released, p freed. */
void session_end(struct peer *p);

#endif
