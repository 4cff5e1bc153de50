/* http: see http.h. */
#include "http.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "errjson.h"
#include "log.h"
#include "upload.h"

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
    query_values_clear(&ctx->query);
    upload_release();
    free(ctx);
    atomic_fetch_sub(&in_flight, 1);
}

struct req_ctx *req_ctx_of(struct _u_response *resp) { return resp->shared_data; }

bool http_content_type_is(const struct _u_request *req, const char *type)
{
    const char *ct = u_map_get_case(req->map_header, "Content-Type");
    if (!ct)
        return false;
    size_t n = strlen(type);
    return strncasecmp(ct, type, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

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

const char *id_text(int64_t id, char buf[24])
{
    snprintf(buf, 24, "%lld", (long long)id);
    return buf;
}
