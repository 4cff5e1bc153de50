/* sig: what the signaling-server's modules share: its configuration, its counters and the
 * process-wide state. Each module's entry points are in its own header.
 *
 * Thread model: one thread. The event loop runs everything: the HTTP and WebSocket callbacks
 * (listener.c and the transports), the PostgreSQL LISTEN connection adopted into the loop
 * (dblink.c) and the timers. Only that thread touches a wsi; a session's frames are queued
 * (peer.c) and written by its transport when the connection is writeable.
 *
 * Layers, each calling only downwards (an upper layer's work is handed back through a completion
 * it passed, never by calling it by name):
 *   listener.c          the one lws protocol: routes each connection
 *   transport_ws.c, transport_poll.c, health.c   move bytes (transport.h)
 *   session.c           the Engine.IO / Socket.IO session, knows no transport (session.h)
 *   outbox.c, presence.c, video.c, accounts.c    the database's side, on the link (dblink.c)
 *   wire.c              what a session is sent, in its protocol
 *   peer.c              the sessions: identity, send queue, rooms (struct peer is private to it)
 *   rooms.c, quota.c, timers.c, dblink.c         the room index, budgets, the timing wheel, the link
 * and beside them reply.c, how the HTTP answers of listener.c, transport_poll.c and health.c are
 * written (the transports and health.c never call the listener).
 * Per-session state owned by a module above peer.c is that module's struct, embedded in struct
 * peer and reached by its owner alone (peer.h). */
#ifndef SIG_H
#define SIG_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

#include "cors.h"
#include "token.h"

#define DEF_SIGNALING_LISTEN "127.0.0.1:8081"
#define DEF_MAX_CONNECTIONS 10000
#define DEF_MAX_UNAUTHENTICATED 1000
#define DEF_MAX_UNAUTHENTICATED_PER_ADDRESS 50
#define DEF_MAX_PER_USER 10
#define DEF_MAX_FRAME 65536
#define DEF_SEND_QUEUE_BYTES 1048576
#define DEF_AUTH_TIMEOUT_MS 5000
#define DEF_PING_INTERVAL_MS 25000
#define DEF_PING_TIMEOUT_MS 20000
#define DEF_REPLAY_LIMIT 200
#define DEF_REPLAY_WINDOW_SECONDS 86400
#define DEF_POLL_MS 1000
#define DEF_MAX_MSGS_PER_SEC 50
#define DEF_VIDEO_GRACE_SECONDS 30
#define DEF_VIDEO_CONNECT_TIMEOUT_SECONDS 120
#define DEF_VIDEO_MAX_MINUTES 120

struct sig_config {
    char listen_host[64];
    int listen_port;
    char database_url[1024];
    char public_key_file[512];
    struct cors_origins cors;
    char metrics_token[128];
    char trusted_proxies[1024]; /* SIGNALING_TRUSTED_PROXIES: comma-separated addresses, as written */
    long max_connections, max_unauthenticated, max_unauthenticated_per_address, max_per_user, max_frame, send_queue_bytes, auth_timeout_ms, ping_interval_ms, ping_timeout_ms,
        replay_limit, replay_window_seconds, poll_ms, max_msgs_per_sec, video_grace_seconds,
        video_connect_timeout_seconds, video_max_minutes, chat_messages_per_minute;
    bool event_loop_poll;      /* SIGNALING_EVENT_LOOP=poll: lws's own poll() loop instead of libev (epoll) */
    int log_level;
};

/* Reads the environment; prints every bad value and returns false when there is one. */
bool sig_config_load(struct sig_config *c);

/* Counters for GET /metrics (Prometheus text format). */
struct sig_metrics {
    unsigned long long polling_sessions, upgrades, events_delivered, frames_in, frames_out, replays, auth_failures, closed_abuse, closed_slow,
        closed_timeout, closed_expired, db_reconnects, relay_sent, relay_delivered, relay_refused, chat_sent;
    double outbox_lag_seconds; /* age of the last event read when it was read */
};

/* The process-wide state. */
struct sig {
    struct sig_config cfg;
    struct token_keys keys;
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    volatile int stopping;
    struct sig_metrics m;
};
extern struct sig sig;

/* Milliseconds on the monotonic clock (timers.c): the sessions' deadlines and the database link's. */
int64_t sig_now_ms(void);

#endif
