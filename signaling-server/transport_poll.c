/* transport_poll: Engine.IO v4 HTTP long-polling on /socket.io/?EIO=4&transport=polling, so
 * socket.io-client with its default options connects (docs/ARCHITECTURE.md §8).
 *
 * A GET without sid is the handshake: a new session (within the budgets of quota.c; else a 503)
 * whose OPEN packet offers the upgrade to WebSocket. A GET with sid is the long poll: answered at
 * once with what the session has queued (packets joined by 0x1e, up to POLL_BODY_MAX bytes, at
 * least one), else held until something is queued; the server's ping every pingInterval bounds
 * how long it is held. One GET and one POST at a time: a second one while another is in flight is
 * a protocol error (400) that ends the session, and a held GET is answered with the close packet. A POST carries
 * the client's packets, with a Content-Length of at most SIGNALING_MAX_FRAME bytes (400 otherwise;
 * an oversized one also ends the session), each
 * handed to the session as a WebSocket frame would be; it is answered "ok". A binary packet or a
 * malformed payload is a 400 that ends the session.
 *
 * The session outlives the requests: it ends by its own deadlines (no pong, no auth, the token's
 * exp), like any other, and a GET held when it ends is answered with the close packet. An unknown
 * sid (another instance's, or an ended session) is Engine.IO's 400 "Session ID unknown": a request
 * never reaches another client's session. After an upgrade the sid belongs to the WebSocket: a
 * polling request for it is a 400 "Bad request". */
#include <stdlib.h>
#include <string.h>

#include "eio.h"
#include "peer.h"
#include "quota.h"
#include "session.h"
#include "sig.h"
#include "transport.h"

#define POLL_BODY_MAX (1024 * 1024)
#define TEXT "text/plain; charset=UTF-8"

static void poll_wake(struct peer *p)
{
    struct lws *conn = peer_transport(p)->conn;
    if (!conn)
        return;
    lws_rx_flow_control(conn, 1); /* it was held with reading paused (poll_get) */
    lws_callback_on_writable(conn);
}

/* The held GET of p (if any) is answered with packet now, without p. */
static void answer_held(struct peer *p, const char *packet)
{
    struct transport_peer *t = peer_transport(p);
    if (!t->conn)
        return;
    struct conn *c = lws_wsi_user(t->conn);
    if (c) {
        c->peer = NULL;
        reply_prepare(c, 200, TEXT, packet, strlen(packet));
    }
    lws_rx_flow_control(t->conn, 1);
    lws_callback_on_writable(t->conn);
    t->conn = NULL;
}

static void poll_release(struct peer *p) { answer_held(p, "1"); }

static void poll_kill(struct peer *p) { peer_defer_end(p, session_end); }

const struct transport transport_poll = {"polling", poll_wake, poll_release, poll_kill};

void transport_poll_probed(struct peer *p)
{
    poll_wake(p); /* the held GET goes out with a noop (transport_poll_writeable) */
}

void transport_poll_upgraded(struct peer *p, struct lws *ws)
{
    answer_held(p, "6");
    peer_set_tr(p, &transport_ws);
    struct transport_peer *t = peer_transport(p);
    t->conn = ws;
    t->upgrading = false;
}

/* Engine.IO's own error answer: 400 (403 for code 4) with {"code": n, "message": "..."}. */
static int eio_error(struct conn *c, struct lws *wsi, int code, const char *message)
{
    char body[128];
    int n = snprintf(body, sizeof body, "{\"code\":%d,\"message\":\"%s\"}", code, message);
    if (!reply_prepare(c, code == 4 ? 403 : 400, "application/json", body, (size_t)n))
        return -1;
    lws_callback_on_writable(wsi);
    return 0;
}

/* A long poll for p: answered now when something waits, else held. */
static int poll_get(struct conn *c, struct lws *wsi, struct peer *p)
{
    struct transport_peer *t = peer_transport(p);
    if (t->conn) { /* a GET is already held: the client broke the protocol */
        peer_kill(p);
        return eio_error(c, wsi, 3, "Bad request");
    }
    c->peer = p;
    c->poll_get = true;
    t->conn = wsi;
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0); /* held: the session's ping bounds how long */
    if (peer_queue(p) || peer_doomed(p) || t->upgrading)
        lws_callback_on_writable(wsi);
    else /* held: lws would not read the close of a client that goes away meanwhile, and poll()
            would wake the loop for it again and again; it is seen at the answer's write instead */
        lws_rx_flow_control(wsi, 0);
    return 0;
}

static int handshake(struct conn *c, struct lws *wsi)
{
    char from[48];
    quota_client(wsi, from);
    if (!quota_may_open(from)) {
        static const char busy[] = "{\"error\":{\"code\":\"unavailable\",\"message\":\"The server is at capacity.\"}}";
        if (!reply_prepare(c, 503, "application/json", busy, sizeof busy - 1))
            return -1;
        lws_callback_on_writable(wsi);
        return 0;
    }
    struct peer *p = peer_new(&transport_poll, false, from);
    if (!p)
        return -1;
    sig.m.polling_sessions++;
    session_open(p, true);
    return poll_get(c, wsi, p);
}

int transport_poll_request(struct conn *c, struct lws *wsi)
{
    char v[40], buf[48];
    bool get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
    bool post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
    const char *eio = lws_get_urlarg_by_name(wsi, "EIO=", v, sizeof v);
    if (!eio || strcmp(eio, "4") != 0)
        return eio_error(c, wsi, 5, "Unsupported protocol version");
    const char *tr = lws_get_urlarg_by_name(wsi, "transport=", v, sizeof v);
    if (!tr || strcmp(tr, "polling") != 0)
        return eio_error(c, wsi, 0, "Transport unknown");
    const char *sid = lws_get_urlarg_by_name(wsi, "sid=", buf, sizeof buf);
    if (!sid)
        return get ? handshake(c, wsi) : eio_error(c, wsi, 2, "Bad handshake method");
    struct peer *p = peer_find(sid);
    if (!p)
        return eio_error(c, wsi, 1, "Session ID unknown");
    if (peer_tr(p) != &transport_poll || (!get && !post))
        return eio_error(c, wsi, 3, "Bad request");
    if (get)
        return poll_get(c, wsi, p);
    char cl[24];
    if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) {
        c->close_after = true; /* a body of unknown length is not read: the connection goes */
        return eio_error(c, wsi, 3, "Content-Length required");
    }
    if (atoll(cl) > sig.cfg.max_frame) {
        peer_kill(p);
        c->close_after = true;
        return eio_error(c, wsi, 3, "Payload too large");
    }
    struct transport_peer *t = peer_transport(p);
    if (t->post_pending) { /* one POST at a time, as one GET: an overlap ends the session */
        peer_kill(p);
        return eio_error(c, wsi, 3, "Bad request");
    }
    t->post_pending = true;
    memcpy(c->sid, peer_sid(p), sizeof c->sid); /* the POST's session, found again at its end */
    return 0;
}

int transport_poll_body(struct conn *c, struct lws *wsi, const void *in, size_t len)
{
    (void)wsi;
    if (c->http_body || len == 0)
        return 0; /* refused already (transport_poll_request): the body is not kept */
    if (c->body_len + len > (size_t)sig.cfg.max_frame) {
        c->body_len = (size_t)sig.cfg.max_frame + 1; /* refused at the end of the body */
        return 0;
    }
    char *grown = realloc(c->body, c->body_len + len);
    if (!grown)
        return -1;
    c->body = grown;
    memcpy(c->body + c->body_len, in, len);
    c->body_len += len;
    return 0;
}

int transport_poll_body_done(struct conn *c, struct lws *wsi)
{
    if (c->http_body)
        return 0; /* its answer is on its way */
    struct peer *p = peer_find(c->sid);
    c->sid[0] = '\0';
    if (p)
        peer_transport(p)->post_pending = false;
    if (!p || peer_tr(p) != &transport_poll)
        return eio_error(c, wsi, 1, "Session ID unknown");
    if (c->body_len > (size_t)sig.cfg.max_frame) {
        peer_kill(p);
        return eio_error(c, wsi, 3, "Payload too large");
    }
    size_t pos = 0, n;
    const char *pkt, *why = NULL;
    int r;
    while ((r = eio_payload_next(c->body, c->body_len, &pos, &pkt, &n, &why)) == 1 && !peer_doomed(p))
        if (!session_packet(p, pkt, n)) {
            peer_kill(p);
            return eio_error(c, wsi, 3, "Too many packets");
        }
    if (r < 0) {
        peer_kill(p);
        return eio_error(c, wsi, 3, why);
    }
    if (!reply_prepare(c, 200, TEXT, "ok", 2))
        return -1;
    lws_callback_on_writable(wsi);
    return 0;
}

/* The held GET's answer: the queued packets (a noop after them while an upgrade is under way, the
 * close packet when the session is doomed and nothing is left). */
int transport_poll_writeable(struct conn *c, struct lws *wsi)
{
    struct peer *p = c->peer;
    struct transport_peer *t = p ? peer_transport(p) : NULL;
    if (!t || t->conn != wsi)
        return -1;
    if (!peer_queue(p) && !peer_doomed(p) && !t->upgrading)
        return 0; /* nothing yet: keep holding */
    lws_rx_flow_control(wsi, 1);
    /* How many frames fit (at least one, however big), then one buffer of the exact size. */
    size_t size = 0;
    int count = 0;
    for (const struct frame *f = peer_queue(p); f; f = f->next, count++)
        if (count && size + 1 + f->len > POLL_BODY_MAX)
            break;
        else
            size += f->len + (count ? 1 : 0);
    bool all = count == 0 || size == peer_queued_bytes(p) + (size_t)(count - 1); /* the whole queue fits */
    bool ending = peer_doomed(p) && all;
    const char *tail = ending ? "1" : all && t->upgrading ? "6" : NULL;
    size_t cap = size + 2;
    char *body = malloc(cap);
    if (!body)
        return -1;
    size_t used = 0;
    for (int i = 0; i < count; i++) {
        struct frame *f = peer_pop(p);
        eio_payload_append(body, cap, &used, (const char *)f->buf + LWS_PRE, f->len);
        free(f);
    }
    if (tail)
        eio_payload_append(body, cap, &used, tail, 1);
    c->peer = NULL;
    t->conn = NULL;
    bool ok = reply_prepare(c, 200, TEXT, body, used);
    free(body);
    if (ending)
        session_end(p);
    return ok ? reply_send(c, wsi) : -1;
}

void transport_poll_closed(struct conn *c, struct lws *wsi)
{
    if (c->poll_get && c->peer && peer_transport(c->peer)->conn == wsi)
        peer_transport(c->peer)->conn = NULL;
    c->peer = NULL;
    struct peer *p = !c->poll_get && c->sid[0] ? peer_find(c->sid) : NULL;
    if (p) /* a POST that ended before its body did */
        peer_transport(p)->post_pending = false;
    c->sid[0] = '\0';
}
