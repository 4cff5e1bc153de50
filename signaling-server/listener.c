/* listener: the signaling-server's one lws protocol on its one port, which routes every connection
 * to the module that owns it: WebSocket handshakes and frames to transport_ws.c, HTTP requests on
 * /socket.io/ to the polling transport (transport_poll.c), the other HTTP paths to health.c.
 *
 * It notes the request's Origin when it is in CORS_ALLOWED_ORIGINS (reply.c writes the CORS headers
 * of docs/ARCHITECTURE.md §8 on every answer, errors included) and answers preflights (OPTIONS with
 * Access-Control-Request-Method) itself. lws frees and zeroes a conn at the
 * end of every HTTP transaction (LWS_CALLBACK_HTTP_DROP_PROTOCOL) and at the close: what it owns is
 * released there (conn_release), once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sig.h"
#include "transport.h"

#define NOT_FOUND_BODY "{\"error\":{\"code\":\"not_found\",\"message\":\"The requested resource was not found.\"}}"
#define METHOD_BODY "{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"This method is not allowed here.\"}}"

/* Prepares an answer and asks for the writeable callback that sends it. */
static int answer(struct conn *c, struct lws *wsi, int status, const char *type, const char *body)
{
    if (!reply_prepare(c, status, type, body, strlen(body)))
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
    if (!reply_headers(c, wsi, 204, NULL, 0, methods))
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
        return c->kind == CONN_POLL && !c->http_body ? transport_poll_writeable(c, wsi) : reply_send(c, wsi);
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
