/* reply: how an HTTP answer of the signaling-server is written, for the listener, the polling
 * transport and health.c alike: a prepared status, type and body (struct conn, transport.h) go out
 * in the connection's writeable callback, headers and body together, with the CORS headers of
 * docs/ARCHITECTURE.md §8 when the request's Origin was allowed (c->origin), errors included. It
 * sits below the modules that answer HTTP requests and calls none of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sig.h"
#include "transport.h"

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

bool reply_headers(struct conn *c, struct lws *wsi, int status, const char *type, size_t len, const char *methods)
{
    unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *pos = start, *end = hdr + sizeof hdr - 1;
    return lws_add_http_common_headers(wsi, (unsigned int)status, type, len, &pos, end) == 0 &&
           add_header(wsi, "cache-control:", "no-store", &pos, end) && add_cors(c, wsi, methods, &pos, end) &&
           lws_finalize_write_http_header(wsi, start, &pos, end) == 0;
}

bool reply_prepare(struct conn *c, int status, const char *type, const char *body, size_t len)
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

int reply_send(struct conn *c, struct lws *wsi)
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
    bool ok = reply_headers(c, wsi, status, c->http_type, len, NULL);
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
