/* transport: what the session layer (session.c, peer.c) knows of the connection that carries a
 * session, and what the listener knows of each transport.
 *
 * A transport moves Engine.IO packets (or /ws frames) and nothing else: it hands each inbound
 * packet to session_packet and writes what peer_send queued when its connection can take it. Two
 * exist: WebSocket (transport_ws.c; /socket.io/?transport=websocket and /ws) and Engine.IO
 * long-polling (transport_poll.c). A polling session moves to WebSocket at an upgrade
 * (transport_ws_* probe, then transport_poll_upgraded), keeping its sid, queue and state.
 *
 * Each lws connection of the listener's one protocol carries a struct conn as its per-session
 * data (zeroed by lws); its kind says which module owns it. */
#ifndef SIG_TRANSPORT_H
#define SIG_TRANSPORT_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>

struct peer;

/* The transports' part of a session (embedded in struct peer by peer.c, touched by
 * transport_ws.c and transport_poll.c alone). */
struct transport_peer {
    struct lws *conn;    /* the connection carrying it: a WebSocket, a polling session's held GET, or NULL */
    struct lws *probe;   /* the WebSocket probing an upgrade of this polling session, or NULL */
    bool upgrading;      /* a WebSocket probe of this polling session succeeded: release the GET */
    bool post_pending;   /* a long-polling POST of this session is being read */
};

struct transport {
    const char *name;
    /* Frames were queued for p, or p was doomed: write (or close) at the next chance. */
    void (*wake)(struct peer *p);
    /* p is ending now and is freed right after: let go of its connection (a WebSocket is closed, a
     * pending poll answered with the close packet). Queued frames are dropped. */
    void (*release)(struct peer *p);
    /* p must end from the loop, whatever is queued (a deadline passed): arrange session_end. */
    void (*kill)(struct peer *p);
};

extern const struct transport transport_ws;
extern const struct transport transport_poll;

enum conn_kind { CONN_NONE = 0, CONN_HTTP, CONN_POLL, CONN_WS };

/* The most bytes of queued WebSocket frames written at once (transport_ws.c); lws sends up to its
 * protocol's tx_packet_size per system call, so the listener's protocol says the same. */
#define WS_WRITE_BATCH 16384

/* The per-connection data of the listener's protocol: zeroed by lws for each HTTP transaction and
 * freed at its end (listener.c releases what it owns first), kept for a WebSocket's life. */
struct conn {
    enum conn_kind kind;
    struct peer *peer;     /* CONN_WS: its session (NULL while probing); CONN_POLL: the session
                              a pending GET waits on */
    char origin[128];      /* an allowed Origin of the request ("" when none): echoed in CORS headers */
    /* CONN_HTTP (health.c) and CONN_POLL answers */
    int http_status;
    char *http_body;       /* owned */
    size_t http_len;
    const char *http_type;
    bool close_after;      /* close the connection once the answer is out */
    /* CONN_POLL */
    bool poll_get;         /* a GET (else a POST) */
    bool poll_close;       /* answer the pending GET with the close packet: its session ended */
    char *body;            /* a POST's body, owned */
    size_t body_len;
    /* CONN_WS */
    char *rx;              /* reassembled inbound frame, owned */
    size_t rx_len;
    char sid[33];          /* CONN_WS: the polling session an upgrade probes, until the upgrade;
                              CONN_POLL: a POST's session */
    bool probe_answer;     /* 3probe to write */
};

/* transport_ws.c */
/* Whether a WebSocket handshake may go on (path, EIO=4, transport; an upgrade's sid names a
 * polling session that is not already upgrading). */
bool transport_ws_filter(struct lws *wsi);
int transport_ws_established(struct conn *c, struct lws *wsi);
int transport_ws_receive(struct conn *c, struct lws *wsi, const void *in, size_t len);
int transport_ws_writeable(struct conn *c, struct lws *wsi);
int transport_ws_timer(struct conn *c, struct lws *wsi);
void transport_ws_closed(struct conn *c, struct lws *wsi);

/* transport_poll.c: an HTTP request on /socket.io/ (uri the path) */
int transport_poll_request(struct conn *c, struct lws *wsi);
int transport_poll_body(struct conn *c, struct lws *wsi, const void *in, size_t len);
int transport_poll_body_done(struct conn *c, struct lws *wsi);
int transport_poll_writeable(struct conn *c, struct lws *wsi);
void transport_poll_closed(struct conn *c, struct lws *wsi);
/* The WebSocket of an upgrade sent 5: p moves to it (a pending GET is released with a noop). */
void transport_poll_upgraded(struct peer *p, struct lws *ws);
/* A probe of p answered: a pending GET is released (noop) so the client can finish the upgrade. */
void transport_poll_probed(struct peer *p);

/* health.c: GET /healthz, /readyz, /metrics */
int health_request(struct conn *c, struct lws *wsi, const char *uri);

/* listener.c */
extern const struct lws_protocols listener_protocol;

/* reply.c: the answer of an HTTP request, below the modules that answer them */
/* Writes the status line and headers of an HTTP answer (CORS ones for an allowed origin; a
 * preflight's too when methods is not NULL) for a body of len bytes; false when the connection must close. */
bool reply_headers(struct conn *c, struct lws *wsi, int status, const char *type, size_t len, const char *methods);
/* Prepares c's answer: status, a JSON or text body (copied). */
bool reply_prepare(struct conn *c, int status, const char *type, const char *body, size_t len);
/* Answers the HTTP request with c's prepared body (http_status, http_type, http_body, http_len):
 * headers and body now; returns what the lws callback returns. */
int reply_send(struct conn *c, struct lws *wsi);

#endif
