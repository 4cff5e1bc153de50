/* sig: what the signaling-server's modules share: its configuration, the per-connection state
 * (struct peer) and the entry points of each module.
 *
 * Thread model: one thread. The libwebsockets service loop runs everything: the HTTP and
 * WebSocket callbacks (listener.c and the transports), the PostgreSQL LISTEN connection adopted
 * into the loop (dblink.c) and the timers. Only that thread touches a wsi; a peer's frames are
 * queued (peer.c) and written by its transport when the connection is writeable.
 *
 * Layers, each calling only downwards: listener.c (the one lws protocol: routes each connection)
 * → transport_ws.c, transport_poll.c, health.c (move bytes) → session.c (the Engine.IO /
 * Socket.IO session, knows no transport) → outbox.c (events), presence.c, video.c (on the
 * database link, dblink.c) and peer.c (session state, send queue), rooms.c (the room index),
 * quota.c (budgets). */
#ifndef SIG_H
#define SIG_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

#include "cors.h"
#include "rooms.h"
#include "timers.h"
#include "token.h"
#include "video.h"

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
    long max_connections, max_unauthenticated, max_unauthenticated_per_address, max_per_user, max_frame, send_queue_bytes, auth_timeout_ms, ping_interval_ms, ping_timeout_ms,
        replay_limit, replay_window_seconds, poll_ms, max_msgs_per_sec, video_grace_seconds,
        video_connect_timeout_seconds, video_max_minutes;
    bool event_loop_poll;      /* SIGNALING_EVENT_LOOP=poll: lws's own poll() loop instead of libev (epoll) */
    int log_level;
};

/* Reads the environment; prints every bad value and returns false when there is one. */
bool sig_config_load(struct sig_config *c);

/* A frame waiting to be written: LWS_PRE bytes of headroom, then len bytes. */
struct frame {
    struct frame *next;
    size_t len;
    unsigned char buf[];
};

enum peer_state { PEER_OPEN = 1, PEER_AUTHED };

/* Where an event stands in the outbox's order: its event_id "txid-id". */
struct event_pos {
    uint64_t txid;
    int64_t id;
};

struct transport;

/* One client session (an Engine.IO session, or a /ws connection), owned by peer.c: created by a
 * transport when a client opens one, freed by session_end. It outlives the HTTP requests of a
 * polling client and moves from polling to WebSocket at an upgrade; the transport that carries it
 * now is tr, with its own handle conn (a wsi; for polling the pending GET, or NULL). */
struct peer {
    const struct transport *tr;
    struct lws *conn;
    enum peer_state state;
    bool auth_pending;         /* its token was good: the account is being checked (accounts.c) */
    bool reauth_pending;       /* a fresh token (claims_next) is being checked; reauth_ack answers it */
    long long reauth_ack;
    bool json_proto;           /* the plain JSON protocol at /ws (else Socket.IO) */
    bool upgrading;            /* a WebSocket probe of this polling session succeeded: release the GET */
    bool post_pending;         /* a long-polling POST of this session is being read */
    struct lws *probe;         /* the WebSocket probing an upgrade of this polling session, or NULL */
    char sid[33];              /* the Engine.IO session id: a polling client's secret, told to it alone */
    char cid[33];              /* the connection's public id: its Socket.IO id, presence rows, video
                                  connections, logs, what other clients may be told */
    struct peer *prev, *next;  /* the list of open peers */
    struct peer *hnext;        /* the sid index */
    struct frame *out_head, *out_tail;
    size_t out_bytes;
    bool doomed;               /* close once the queued frames are out */
    struct timer timer;        /* the session's deadlines and pings (timers.c) */
    lws_sorted_usec_list_t sul_end; /* an end asked for from inside a callback (peer_kill) */
    struct claims claims;      /* for a video token: sub (0 for a guest), clinic_id, iat, exp, jti */
    bool video;                /* holds a video join token: in video:{vsid} only */
    bool admitted;             /* a patient's video connection the doctor admitted: hears the room */
    int64_t vsid;
    char vrole[8];             /* "doctor" or "patient" */
    char vident[40];           /* who holds the token: u<user id>, or t<token id> for an invited guest */
    char rooms[ROOMS_PER_PEER][ROOM_NAME_MAX]; /* the rooms of the token (ADMIN: every room) */
    int nrooms;
    bool all_rooms;
    struct room_member member[ROOMS_PER_PEER]; /* its entries in the room index (rooms.c) */
    unsigned long room_stamp;  /* rooms.c: the last rooms_each that visited it */
    bool live;                 /* receives live events (false while its replay is pending) */
    char replay_from[64];      /* the client's last_event_id, while a replay is pending */
    struct event_pos live_after; /* outbox.c: live events up to here were had already (txid 0: none) */
    struct peer *replay_next;  /* outbox.c: the replay queue */
    bool replay_queued, replay_checked;
    bool presence_pending;     /* presence.c: a presence request of its own is queued */
    int64_t auth_deadline_ms, ping_due_ms, pong_deadline_ms;
    struct claims claims_next; /* scratch for re-authentication */
    int64_t token_exp_ms;      /* when the token expires (monotonic clock) */
    int64_t window_start_ms;   /* inbound rate: packets counted in the current second */
    int window_frames;
    int video_jobs;            /* its video operations queued or in flight (bounded, video.c) */
    video_done_fn video_then;  /* video.c: what answers its joins (the one of its first) */
    /* quota.c: where it comes from and what it is counted as */
    char addr[48];
    char user_key[48];
    bool counted_addr, counted_unauth;
};

/* Counters for GET /metrics (Prometheus text format). */
struct sig_metrics {
    unsigned long long polling_sessions, upgrades, events_delivered, frames_in, frames_out, replays, auth_failures, closed_abuse, closed_slow,
        closed_timeout, closed_expired, db_reconnects, relay_sent, relay_delivered, relay_refused;
    double outbox_lag_seconds; /* age of the last event read when it was read */
};

/* The process-wide state. */
struct sig {
    struct sig_config cfg;
    struct token_keys keys;
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    struct peer *peers;        /* open sessions */
    long npeers;
    volatile int stopping;
    struct sig_metrics m;
};
extern struct sig sig;

int64_t sig_now_ms(void);

/* peer.c */
/* A new session in state PEER_OPEN carried by tr over conn from client address addr, with a fresh
 * sid, linked, indexed and counted (quota.c); NULL when out of memory. Freed by session_end (session.c) through peer_free. */
struct peer *peer_new(const struct transport *tr, struct lws *conn, bool json_proto, const char *addr);
/* Unlinks, unindexes and frees p and its queue; tr->release(p) was called first. */
void peer_free(struct peer *p);
/* The open session with that sid, or NULL. */
struct peer *peer_find(const char *sid);
/* Queues text (len bytes, copied) for p and wakes its transport; over the byte cap the peer is
 * doomed instead (it reconnects and catches up by replay). */
void peer_send(struct peer *p, const char *text, size_t len);
/* Asks p's transport to close once the queued frames are out. */
void peer_doom(struct peer *p);
/* Ends p soon, from the loop, whatever is queued (safe inside any callback that still uses p). */
void peer_kill(struct peer *p);
/* Takes the first queued frame off p's queue (caller frees it), or NULL. */
struct frame *peer_pop(struct peer *p);
void peer_free_queue(struct peer *p);
/* Sets the peer's rooms from its claims and indexes them; false when out of memory. */
bool peer_set_rooms(struct peer *p);
/* Whether the peer is in one of rooms (a JSON array text like ["clinic:1","doctor:2"]). */
bool peer_in_rooms(const struct peer *p, const char *rooms_json);
/* Whether p is in one of the rooms of s (rooms_json is their text, for a set that overflowed). */
bool peer_in_set(const struct peer *p, const struct room_set *s, const char *rooms_json);

/* session.c: the Engine.IO / Socket.IO session (and the plain JSON protocol of /ws), whatever
 * transport carries it. */
/* A new session was opened by a transport: sends the handshake (OPEN, or /ws hello) and arms
 * its deadlines. upgrades: the OPEN packet offers the WebSocket upgrade (polling). */
void session_open(struct peer *p, bool upgrades);
/* One inbound packet (an Engine.IO packet, or a /ws frame) of len bytes; false when the client
 * broke a limit and the transport must close now. */
bool session_packet(struct peer *p, const char *buf, size_t len);
/* The session ends: database rows and pending work let go, the transport released, p freed. */
void session_end(struct peer *p);
#endif
