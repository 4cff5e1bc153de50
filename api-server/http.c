/* http: see http.h. */
#include "http.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "errjson.h"
#include "log.h"
#include "validate.h"

static atomic_int in_flight;

int http_in_flight(void) { return atomic_load(&in_flight); }

static bool request_id_acceptable(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 64 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

struct req_ctx *req_ctx_new(const struct _u_request *req)
{
    struct req_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    clock_gettime(CLOCK_MONOTONIC, &ctx->started);
    const char *rid = u_map_get_case(req->map_header, "X-Request-Id");
    if (rid && request_id_acceptable(rid))
        snprintf(ctx->request_id, sizeof ctx->request_id, "%s", rid);
    else if (!crypto_random_hex16(ctx->request_id))
        snprintf(ctx->request_id, sizeof ctx->request_id, "unavailable");
    snprintf(ctx->method, sizeof ctx->method, "%s", req->http_verb ? req->http_verb : "-");
    snprintf(ctx->path, sizeof ctx->path, "%s", req->url_path ? req->url_path : "-");
    for (char *p = ctx->path; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '"')
            *p = '?';
    atomic_fetch_add(&in_flight, 1);
    return ctx;
}

void req_ctx_free(void *p)
{
    struct req_ctx *ctx = p;
    if (!ctx)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double ms = (double)(now.tv_sec - ctx->started.tv_sec) * 1e3 +
                (double)(now.tv_nsec - ctx->started.tv_nsec) / 1e6;
    enum log_level lvl = ctx->http_status >= 500 ? LOG_ERROR : LOG_INFO;
    if (ctx->authed)
        log_msg(lvl, "request method=%s path=\"%s\" status=%d duration_ms=%.2f request_id=%s user_id=%lld",
                ctx->method, ctx->path, ctx->http_status, ms, ctx->request_id, (long long)ctx->claims.sub);
    else
        log_msg(lvl, "request method=%s path=\"%s\" status=%d duration_ms=%.2f request_id=%s user_id=-",
                ctx->method, ctx->path, ctx->http_status, ms, ctx->request_id);
    json_decref(ctx->body);
    free(ctx);
    atomic_fetch_sub(&in_flight, 1);
}

struct req_ctx *req_ctx_of(struct _u_response *resp) { return resp->shared_data; }

int reply_text_json(struct _u_response *resp, struct req_ctx *ctx, int http, const char *json, size_t len)
{
    ctx->http_status = http;
    u_map_put(resp->map_header, "Content-Type", "application/json");
    ulfius_set_binary_body_response(resp, (unsigned int)http, json, len);
    return U_CALLBACK_COMPLETE;
}

int reply_download(struct _u_response *resp, struct req_ctx *ctx, const char *content_type, const char *filename,
                   const void *data, size_t len)
{
    char disposition[160];
    snprintf(disposition, sizeof disposition, "attachment; filename=\"%s\"", filename);
    ctx->http_status = 200;
    u_map_put(resp->map_header, "Content-Type", content_type);
    u_map_put(resp->map_header, "Content-Disposition", disposition);
    ulfius_set_binary_body_response(resp, 200, data, len);
    return U_CALLBACK_COMPLETE;
}

int reply_json(struct _u_response *resp, struct req_ctx *ctx, int http, json_t *json)
{
    char *text = json_dumps(json, JSON_COMPACT);
    json_decref(json);
    if (!text) {
        static const char fallback[] =
            "{\"error\":{\"code\":\"internal_error\",\"message\":\"An internal error occurred.\"}}";
        return reply_text_json(resp, ctx, 500, fallback, sizeof fallback - 1);
    }
    reply_text_json(resp, ctx, http, text, strlen(text));
    free(text);
    return U_CALLBACK_COMPLETE;
}

int reply_no_content(struct _u_response *resp, struct req_ctx *ctx)
{
    ctx->http_status = 204;
    resp->status = 204;
    return U_CALLBACK_COMPLETE;
}

int reply_not_modified(struct _u_response *resp, struct req_ctx *ctx)
{
    ctx->http_status = 304;
    resp->status = 304;
    return U_CALLBACK_COMPLETE;
}

int reply_error(struct _u_response *resp, struct req_ctx *ctx, enum status st, const char *code,
                const char *message, json_t *fields)
{
    if (st == ST_UNAUTHORIZED && !u_map_has_key(resp->map_header, "WWW-Authenticate"))
        u_map_put(resp->map_header, "WWW-Authenticate", "Bearer");
    return reply_json(resp, ctx, status_http(st), errjson_build(st, code, message, fields));
}

int reply_status(struct _u_response *resp, struct req_ctx *ctx, enum status st)
{
    return reply_error(resp, ctx, st, NULL, NULL, NULL);
}

int reply_invalid(struct _u_response *resp, struct req_ctx *ctx, json_t *fields)
{
    return reply_error(resp, ctx, ST_INVALID, NULL, NULL, fields);
}

int reply_invalid_query(struct _u_response *resp, struct req_ctx *ctx, json_t *fields)
{
    return reply_error(resp, ctx, ST_BAD_REQUEST, "invalid_query", "Some query parameters are invalid.", fields);
}

const char *query_str(const struct _u_request *req, const char *name)
{
    return u_map_get(req->map_url, name);
}

/* The value of one hex digit, or -1. */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes src[0..n) as a form is ('+' is a space; a '%' without two hex digits stays as
 * it is) into dst (room for n + 1 bytes); returns the decoded length. */
static size_t query_decode(const char *src, size_t n, char *dst)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi = i + 2 < n && src[i] == '%' ? hex_value(src[i + 1]) : -1;
        int lo = hi >= 0 ? hex_value(src[i + 2]) : -1;
        if (lo >= 0) {
            dst[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            dst[o++] = src[i] == '+' ? ' ' : src[i];
        }
    }
    dst[o] = '\0';
    return o;
}

/* Whether s[0..n) is valid UTF-8 (jansson refuses to make a string of anything else). */
static bool utf8_valid(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    json_decref(j);
    return j != NULL;
}

/* Adds "why" to errors under the parameter's name: decoded when that is valid UTF-8, else as sent. */
static void query_name_error(json_t *errors, const char *raw, size_t rawlen, char *buf, const char *why)
{
    size_t n = query_decode(raw, rawlen, buf);
    if (json_object_setn_new(errors, buf, n, json_string(why)) != 0 &&
        json_object_setn_new(errors, raw, rawlen, json_string(why)) != 0)
        json_object_set_new(errors, "query", json_string(why));
}

bool query_check_utf8(const struct _u_request *req, json_t *errors)
{
    const char *q = req->http_url ? strchr(req->http_url, '?') : NULL;
    bool ok = true;
    if (!q)
        return true;
    size_t len = strlen(++q);
    char *buf = malloc(len + 1);
    if (!buf)
        return true; /* the handler then reads ulfius's map, which holds only valid pairs */
    for (const char *part = q; *part;) {
        size_t plen = strcspn(part, "&");
        const char *eq = memchr(part, '=', plen);
        size_t nlen = eq ? (size_t)(eq - part) : plen;
        bool name_ok = utf8_valid(buf, query_decode(part, nlen, buf));
        bool value_ok = !eq || utf8_valid(buf, query_decode(eq + 1, plen - nlen - 1, buf));
        if (!name_ok || !value_ok) {
            ok = false;
            query_name_error(errors, part, nlen, buf,
                             name_ok ? "must be valid UTF-8 once percent-decoded"
                                     : "is not a parameter name (not valid UTF-8 once percent-decoded)");
        }
        part += plen + (part[plen] == '&');
    }
    free(buf);
    return ok;
}

const char *query_enum(const struct _u_request *req, const char *name, const char *const *choices, const char *what,
                       json_t *errors)
{
    const char *v = query_str(req, name);
    for (const char *const *c = choices; v && *c; c++)
        if (strcmp(*c, v) == 0)
            return v;
    if (v) {
        char msg[120];
        snprintf(msg, sizeof msg, "must be one of the %s", what);
        json_object_set_new(errors, name, json_string(msg));
    }
    return NULL;
}

bool query_int(const struct _u_request *req, const char *name, int64_t *out, json_t *errors)
{
    const char *v = query_str(req, name);
    if (!v)
        return true;
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || n <= 0 || n > INT64_MAX / 2) {
        json_object_set_new(errors, name, json_string("must be a positive integer"));
        return false;
    }
    *out = n;
    return true;
}

bool query_bool(const struct _u_request *req, const char *name, int *out, json_t *errors)
{
    const char *v = query_str(req, name);
    *out = -1;
    if (!v)
        return true;
    if (strcmp(v, "true") == 0)
        *out = 1;
    else if (strcmp(v, "false") == 0)
        *out = 0;
    else {
        json_object_set_new(errors, name, json_string("must be true or false"));
        return false;
    }
    return true;
}

static bool cursor_matches(json_t *v, const char *shape)
{
    if (!json_is_array(v) || json_array_size(v) != strlen(shape))
        return false;
    for (size_t i = 0; shape[i]; i++) {
        json_t *e = json_array_get(v, i);
        if ((shape[i] == 'i' && !json_is_integer(e)) || (shape[i] == 's' && !json_is_string(e)) ||
            (shape[i] == 't' && !(json_is_string(e) && valid_instant(json_string_value(e)))))
            return false;
    }
    return true;
}

bool query_page(const struct _u_request *req, const char *shape, int *limit, char **cursor_json, json_t *errors)
{
    bool ok = true;
    *limit = 50;
    *cursor_json = NULL;
    const char *l = query_str(req, "limit");
    if (l) {
        char *end = NULL;
        long n = strtol(l, &end, 10);
        if (!*l || *end || n < 1 || n > 200) {
            json_object_set_new(errors, "limit", json_string("must be an integer between 1 and 200"));
            ok = false;
        } else {
            *limit = (int)n;
        }
    }
    const char *c = query_str(req, "cursor");
    if (c) {
        unsigned char raw[3072]; /* a 200-character name of 4-byte characters fits */
        long n = strlen(c) < 4096 ? crypto_b64url_decode(c, raw, sizeof raw) : -1;
        json_t *v = n > 0 ? json_loadb((const char *)raw, (size_t)n, 0, NULL) : NULL;
        if (!cursor_matches(v, shape)) {
            json_object_set_new(errors, "cursor", json_string("is not a cursor this server issued"));
            ok = false;
        } else {
            *cursor_json = json_dumps(v, JSON_COMPACT);
        }
        json_decref(v);
    }
    return ok;
}

const char *id_text(int64_t id, char buf[24])
{
    snprintf(buf, 24, "%lld", (long long)id);
    return buf;
}
