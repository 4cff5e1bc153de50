/* transport_ws: the WebSocket transport. /socket.io/?EIO=4&transport=websocket (Socket.IO) and /ws
 * (the plain JSON protocol) open a session of their own; /socket.io/?...&sid=<sid> is the upgrade
 * of a polling session (Engine.IO v4): the client probes (2probe, answered 3probe here), the
 * polling transport releases its pending GET with a noop, and the client's 5 moves the session onto
 * this connection, with its queue, so nothing is lost or sent twice across the upgrade. A probe that
 * does not finish within UPGRADE_TIMEOUT_MS is closed and the session stays on polling.
 *
 * Text frames only, reassembled up to SIGNALING_MAX_FRAME; a binary or oversized frame, or a flood
 * (session_packet), closes the connection. Frames leave in the connection's writeable callback:
 * the queued ones that fit in WS_WRITE_BATCH bytes framed here, back to back, in one write (a backlog
 * of small events costs one system call and one TCP segment, not one each); a bigger one alone,
 * framed by lws in place (peer.c keeps LWS_PRE bytes of headroom). What the socket does not take
 * at once lws keeps and sends before the next writeable callback. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "peer.h"
#include "quota.h"
#include "session.h"
#include "sig.h"
#include "transport.h"

#define UPGRADE_TIMEOUT_MS 10000

static void ws_wake(struct peer *p)
{
    struct lws *conn = peer_transport(p)->conn;
    if (conn)
        lws_callback_on_writable(conn);
}

static void ws_release(struct peer *p)
{
    struct transport_peer *t = peer_transport(p);
    if (!t->conn)
        return;
    struct conn *c = lws_wsi_user(t->conn);
    if (c)
        c->peer = NULL;
    lws_set_timeout(t->conn, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
    t->conn = NULL;
}

/* Closed from the loop; LWS_CALLBACK_CLOSED then ends the session. */
static void ws_kill(struct peer *p)
{
    struct lws *conn = peer_transport(p)->conn;
    if (conn)
        lws_set_timeout(conn, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
}

const struct transport transport_ws = {"websocket", ws_wake, ws_release, ws_kill};

/* The polling session an upgrade names, when it may upgrade now. */
static struct peer *upgradable(const char *sid)
{
    struct peer *p = peer_find(sid);
    return p && peer_tr(p) == &transport_poll && !peer_doomed(p) ? p : NULL;
}

bool transport_ws_filter(struct lws *wsi)
{
    char uri[128], v[40], from[48];
    if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0)
        return false;
    quota_client(wsi, from);
    if (strcmp(uri, "/ws") == 0)
        return quota_may_open(from);
    if (strcmp(uri, "/socket.io/") != 0)
        return false;
    const char *eio = lws_get_urlarg_by_name(wsi, "EIO=", v, sizeof v);
    if (!eio || strcmp(eio, "4") != 0)
        return false;
    const char *tr = lws_get_urlarg_by_name(wsi, "transport=", v, sizeof v);
    if (!tr || strcmp(tr, "websocket") != 0)
        return false;
    const char *sid = lws_get_urlarg_by_name(wsi, "sid=", v, sizeof v);
    if (sid) { /* one probe at a time per session */
        struct peer *p = upgradable(sid);
        return p && !peer_transport(p)->upgrading && !peer_transport(p)->probe;
    }
    return quota_may_open(from);
}

int transport_ws_established(struct conn *c, struct lws *wsi)
{
    char uri[16], v[40];
    c->kind = CONN_WS;
    bool json = lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) > 0 && strcmp(uri, "/ws") == 0;
    const char *sid = json ? NULL : lws_get_urlarg_by_name(wsi, "sid=", v, sizeof v);
    if (sid) {
        struct peer *p = upgradable(sid);
        if (!p || peer_transport(p)->probe)
            return -1;
        peer_transport(p)->probe = wsi;
        snprintf(c->sid, sizeof c->sid, "%s", sid);
        lws_set_timer_usecs(wsi, (lws_usec_t)UPGRADE_TIMEOUT_MS * 1000);
        return 0;
    }
    char from[48];
    quota_client(wsi, from);
    c->peer = peer_new(&transport_ws, json, from);
    if (!c->peer)
        return -1;
    peer_transport(c->peer)->conn = wsi;
    session_open(c->peer, false);
    return 0;
}

/* A frame of an upgrade's probe: 2probe, then 5 (anything else ends the probe). */
static int on_probe(struct conn *c, struct lws *wsi, const char *buf, size_t len)
{
    struct peer *p = upgradable(c->sid);
    struct transport_peer *t = p ? peer_transport(p) : NULL;
    if (p && t->probe != wsi)
        p = NULL; /* the session is no longer this probe's */
    if (p && len == 6 && memcmp(buf, "2probe", 6) == 0 && !t->upgrading) {
        t->upgrading = true;
        c->probe_answer = true;
        lws_callback_on_writable(wsi);
        transport_poll_probed(p);
        return 0;
    }
    if (p && len == 1 && buf[0] == '5' && t->upgrading) {
        c->sid[0] = '\0';
        c->peer = p;
        t->probe = NULL;
        lws_set_timer_usecs(wsi, LWS_SET_TIMER_USEC_CANCEL);
        transport_poll_upgraded(p, wsi);
        sig.m.upgrades++;
        lws_callback_on_writable(wsi);
        return 0;
    }
    if (p) {
        t->upgrading = false;
        t->probe = NULL;
    }
    c->sid[0] = '\0';
    return -1;
}

int transport_ws_receive(struct conn *c, struct lws *wsi, const void *in, size_t len)
{
    if (lws_frame_is_binary(wsi)) {
        sig.m.closed_abuse++;
        lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, (unsigned char *)"binary", 6);
        return -1;
    }
    if (c->rx_len + len > (size_t)sig.cfg.max_frame) {
        sig.m.closed_abuse++;
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)"too large", 9);
        return -1;
    }
    char *grown = realloc(c->rx, c->rx_len + len + 1);
    if (!grown)
        return -1;
    c->rx = grown;
    memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
        return 0;
    int rc = 0;
    if (c->sid[0])
        rc = on_probe(c, wsi, c->rx, c->rx_len);
    else if (!c->peer)
        rc = -1;
    else if (!session_packet(c->peer, c->rx, c->rx_len)) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)"flood", 5);
        rc = -1;
    }
    free(c->rx);
    c->rx = NULL;
    c->rx_len = 0;
    return rc;
}

/* The header of an unmasked, final text frame (RFC 6455 §5.2) of len bytes into h; its length. */
static size_t frame_header(unsigned char *h, size_t len)
{
    h[0] = 0x81;
    if (len < 126) {
        h[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

/* One write of p's queued frames: as many as fit in WS_WRITE_BATCH, framed here; else the first alone. */
static int write_queued(struct lws *wsi, struct peer *p)
{
    static unsigned char batch[LWS_PRE + WS_WRITE_BATCH]; /* one thread: one batch at a time */
    size_t used = 0;
    const struct frame *next;
    while ((next = peer_queue(p)) && used + 10 + next->len <= WS_WRITE_BATCH) {
        struct frame *f = peer_pop(p);
        used += frame_header(batch + LWS_PRE + used, f->len);
        memcpy(batch + LWS_PRE + used, f->buf + LWS_PRE, f->len);
        used += f->len;
        free(f);
    }
    if (used)
        return lws_write(wsi, batch + LWS_PRE, used, LWS_WRITE_RAW) < (int)used ? -1 : 0;
    struct frame *f = peer_pop(p);
    int n = lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
    bool short_write = n < (int)f->len;
    free(f);
    return short_write ? -1 : 0;
}

int transport_ws_writeable(struct conn *c, struct lws *wsi)
{
    if (c->probe_answer) {
        unsigned char buf[LWS_PRE + 6];
        memcpy(buf + LWS_PRE, "3probe", 6);
        c->probe_answer = false;
        return lws_write(wsi, buf + LWS_PRE, 6, LWS_WRITE_TEXT) < 6 ? -1 : 0;
    }
    struct peer *p = c->peer;
    if (!p)
        return c->sid[0] ? 0 : -1;
    if (peer_doomed(p) && !peer_queue(p))
        return -1; /* its last frames went out in an earlier callback */
    if (peer_queue(p) && write_queued(wsi, p) < 0)
        return -1;
    if (peer_queue(p) || peer_doomed(p))
        lws_callback_on_writable(wsi);
    return 0;
}

int transport_ws_timer(struct conn *c, struct lws *wsi)
{
    (void)wsi;
    if (c->sid[0]) {
        log_debug("an upgrade probe did not finish in time: closed, the session stays on polling");
        return -1; /* CLOSED gives the session back to polling */
    }
    return 0;
}

void transport_ws_closed(struct conn *c, struct lws *wsi)
{
    free(c->rx);
    c->rx = NULL;
    c->rx_len = 0;
    if (c->sid[0]) { /* a probe that did not finish: the session stays on polling */
        struct peer *p = upgradable(c->sid);
        struct transport_peer *t = p ? peer_transport(p) : NULL;
        if (t && t->probe == wsi) {
            t->upgrading = false;
            t->probe = NULL;
        }
        c->sid[0] = '\0';
    }
    struct peer *p = c->peer;
    if (!p)
        return;
    c->peer = NULL;
    peer_transport(p)->conn = NULL; /* gone already: nothing to release */
    session_end(p);
}
