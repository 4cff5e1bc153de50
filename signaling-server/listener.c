/* listener: the signaling-server's one lws protocol on its one port, which routes every connection
 * to the module that owns it: WebSocket handshakes and frames to transport_ws.c, HTTP requests on
 * /socket.io/ to the polling transport (transport_poll.c), the other HTTP paths to health.c.
 *
 * It also owns how an HTTP answer is written: a prepared status, type and body (struct conn) go
 * out in the connection's writeable callback, headers and body together, with the CORS headers of
 * docs/ARCHITECTURE.md §8 when the request's Origin is in CORS_ALLOWED_ORIGINS (also on errors), and answers
 * preflights (OPTIONS with Access-Control-Request-Method) itself. lws frees and zeroes a conn at the
 * end of every HTTP transaction (LWS_CALLBACK_HTTP_DROP_PROTOCOL) and at the close: what it owns is
 * released there (conn_release), once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sig.h"
#include "transport.h"

#define NOT_FOUND_BODY "{\"error\":{\"code\":\"not_found\",\"message\":\"The requested resource was not found.\"}}"
#define METHOD_BODY "{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"This method is not allowed here.\"}}"

static bool add_header(struct lws *wsi, const char *name, const char *value, unsigned char **pos,
                       unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)value,
                                       (int)strlen(value), pos, end) == 0;
}

/* The CORS headers of every answer to an allowed origin; the preflight's own ones when methods. */
static bool add_cors(struct conn *c, struct lws *wsi, const char *methods, unsigned char **pos, unsigned char *end)
{
    if (!sig.cfg.cors.n)
        return true;
    if (!add_header(wsi, "vary:", "Origin", pos, end))
        return false;
    if (!c->origin[0])
        return true;
    if (!add_header(wsi, "access-control-allow-origin:", c->origin, pos, end) ||
        !add_header(wsi, "access-control-expose-headers:", CORS_EXPOSE_HEADERS, pos, end))
        return false;
    return !methods || (add_header(wsi, "access-control-allow-methods:", methods, pos, end) &&
                        add_header(wsi, "access-control-allow-headers:", CORS_ALLOW_HEADERS, pos, end) &&
                        add_header(wsi, "access-control-max-age:", CORS_MAX_AGE_SECONDS, pos, end));
}

static bool write_headers(struct conn *c, struct lws *wsi, int status, const char *type, size_t len,
                          const char *methods)
{
    unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *pos = start, *end = hdr + sizeof hdr - 1;
    return lws_add_http_common_headers(wsi, (unsigned int)status, type, len, &pos, end) == 0 &&
           add_header(wsi, "cache-control:", "no-store", &pos, end) && add_cors(c, wsi, methods, &pos, end) &&
           lws_finalize_write_http_header(wsi, start, &pos, end) == 0;
}

bool listener_headers(struct conn *c, struct lws *wsi, int status, const char *type, size_t len)
{
    return write_headers(c, wsi, status, type, len, NULL);
}

bool listener_prepare(struct conn *c, int status, const char *type, const char *body, size_t len)
{
    free(c->http_body);
    c->http_body = malloc(len + 1);
    if (!c->http_body)
        return false;
    memcpy(c->http_body, body, len);
    c->http_body[len] = '\0';
    c->http_len = len;
    c->http_status = status;
    c->http_type = type;
    return true;
}

int listener_reply(struct conn *c, struct lws *wsi)
{
    /* c is lws' per-session data: it is freed when the transaction completes (the protocol is
     * dropped), so everything is taken out of it first. */
    char *body = c->http_body;
    size_t len = c->http_len;
    bool close_after = c->close_after;
    int status = c->http_status;
    c->http_body = NULL;
    c->http_status = 0;
    if (!body)
        return -1;
    bool ok = listener_headers(c, wsi, status, c->http_type, len);
    unsigned char *buf = ok ? malloc(LWS_PRE + len + 1) : NULL;
    if (buf) {
        memcpy(buf + LWS_PRE, body, len);
        ok = lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP_FINAL) == (int)len;
        free(buf);
    }
    free(body);
    if (!buf || !ok || close_after)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Prepares an answer and asks for the writeable callback that sends it. */
static int answer(struct conn *c, struct lws *wsi, int status, const char *type, const char *body)
{
    if (!listener_prepare(c, status, type, body, strlen(body)))
        return -1;
    lws_callback_on_writable(wsi);
    return 0;
}

static bool has_header(struct lws *wsi, enum lws_token_indexes h) { return lws_hdr_total_length(wsi, h) > 0; }

/* A preflight: 204 with the path's methods for an allowed origin; else as any other request. */
static int preflight(struct conn *c, struct lws *wsi, const char *uri)
{
    const char *methods = strcmp(uri, "/socket.io/") == 0 ? "GET, POST" : "GET";
    if (!c->origin[0] || lws_hdr_custom_length(wsi, "access-control-request-method:", 30) <= 0)
        return answer(c, wsi, 405, "application/json", METHOD_BODY);
    if (!write_headers(c, wsi, 204, NULL, 0, methods))
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int on_http(struct conn *c, struct lws *wsi, const char *uri)
{
    c->kind = CONN_HTTP;
    char origin[CORS_ORIGIN_MAX];
    if (lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) > 0 && cors_origin_allowed(&sig.cfg.cors, origin))
        snprintf(c->origin, sizeof c->origin, "%s", origin);
    bool known = strcmp(uri, "/socket.io/") == 0 || strcmp(uri, "/healthz") == 0 || strcmp(uri, "/readyz") == 0 ||
                 strcmp(uri, "/metrics") == 0;
    if (!known)
        return answer(c, wsi, 404, "application/json", NOT_FOUND_BODY);
    if (has_header(wsi, WSI_TOKEN_OPTIONS_URI))
        return preflight(c, wsi, uri);
    if (strcmp(uri, "/socket.io/") == 0) {
        c->kind = CONN_POLL;
        return transport_poll_request(c, wsi);
    }
    if (!has_header(wsi, WSI_TOKEN_GET_URI))
        return answer(c, wsi, 405, "application/json", METHOD_BODY);
    return health_request(c, wsi, uri);
}

/* The end of a transaction or of the connection: what the conn owns goes (idempotent). */
static void conn_release(struct conn *c, struct lws *wsi)
{
    if (c->kind == CONN_POLL)
        transport_poll_closed(c, wsi);
    free(c->http_body);
    free(c->body);
    c->http_body = c->body = NULL;
    c->body_len = 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return c ? on_http(c, wsi, (const char *)in) : -1;
    case LWS_CALLBACK_HTTP_BODY:
        return c && c->kind == CONN_POLL ? transport_poll_body(c, wsi, in, len) : 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return c && c->kind == CONN_POLL ? transport_poll_body_done(c, wsi) : 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!c)
            return -1;
        return c->kind == CONN_POLL && !c->http_body ? transport_poll_writeable(c, wsi) : listener_reply(c, wsi);
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (c) /* NULL when the connection closed before its headers were read */
            conn_release(c, wsi);
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return sig.stopping || !transport_ws_filter(wsi) ? 1 : 0;
    case LWS_CALLBACK_ESTABLISHED:
        return c ? transport_ws_established(c, wsi) : -1;
    case LWS_CALLBACK_RECEIVE:
        return c ? transport_ws_receive(c, wsi, in, len) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c ? transport_ws_writeable(c, wsi) : -1;
    case LWS_CALLBACK_TIMER:
        return c ? transport_ws_timer(c, wsi) : -1;
    case LWS_CALLBACK_CLOSED:
        if (c)
            transport_ws_closed(c, wsi);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* rx 4096 bytes at a time; tx up to a whole batch of frames per system call (else lws splits a write
 * into pieces of rx_buffer_size, one per turn of the loop). */
const struct lws_protocols listener_protocol = {"clinic", callback, sizeof(struct conn), 4096, 0, NULL, WS_WRITE_BATCH};
