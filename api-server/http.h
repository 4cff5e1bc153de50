/* http: the per-request context and the reply helpers every handler uses.
 *
 * A struct req_ctx is created by the first callback of the chain for every request and attached
 * to the response as ulfius shared data; ulfius frees it (through req_ctx_free, which also writes
 * the request's log line) after the response is sent. Handlers answer only through the reply_*
 * functions, which set the status, the JSON body and the headers in one place. */
#ifndef API_HTTP_H
#define API_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <ulfius.h>

#include "query.h"
#include "status.h"
#include "token.h"

struct route;

#define MAX_PATH_PARAMS 3

struct req_ctx {
    char request_id[65];
    char method[12];
    char path[256];
    struct timespec started;
    int http_status;
    const struct route *route;
    int64_t params[MAX_PATH_PARAMS]; /* integer path parameters, in order */
    json_t *body;                    /* parsed JSON object body (owned), or NULL */
    bool authed;
    struct claims claims;
    struct query_values query; /* the query string as the route declares it, read with query_text/num */
};

/* Handlers return U_CALLBACK_COMPLETE after replying. */
typedef int (*handler_fn)(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx);

/* The context attached to resp by the first callback (never NULL after it ran). */
struct req_ctx *req_ctx_of(struct _u_response *resp);
struct req_ctx *req_ctx_new(const struct _u_request *req);
void req_ctx_free(void *ctx);
/* Whether the request's Content-Type is type (a media type without parameters), case aside. */
bool http_content_type_is(const struct _u_request *req, const char *type);
/* Number of requests currently being processed (for graceful shutdown). */
int http_in_flight(void);

/* Sends a JSON body (a text already serialised, e.g. by PostgreSQL). */
int reply_text_json(struct _u_response *resp, struct req_ctx *ctx, int http, const char *json, size_t len);
/* Sends a file to download (200): its type, a file name made of [A-Za-z0-9._-] only, its bytes. */
int reply_download(struct _u_response *resp, struct req_ctx *ctx, const char *content_type, const char *filename,
                   const void *data, size_t len);
/* Sends json (stolen). */
int reply_json(struct _u_response *resp, struct req_ctx *ctx, int http, json_t *json);
int reply_no_content(struct _u_response *resp, struct req_ctx *ctx);
/* 304 without a body (the caller has set the validators, e.g. ETag). */
int reply_not_modified(struct _u_response *resp, struct req_ctx *ctx);
/* Sends the error envelope; code/message NULL take the status defaults; fields stolen (may be NULL). */
int reply_error(struct _u_response *resp, struct req_ctx *ctx, enum status st, const char *code,
                const char *message, json_t *fields);
/* Shorthand for reply_error with the defaults. */
int reply_status(struct _u_response *resp, struct req_ctx *ctx, enum status st);
/* 422 with fields (stolen). */
int reply_invalid(struct _u_response *resp, struct req_ctx *ctx, json_t *fields);

/* 400 invalid_query with fields (stolen). */
int reply_invalid_query(struct _u_response *resp, struct req_ctx *ctx, json_t *fields);

/* The JSON text for an int64 id, for query parameters: writes into buf[24]. */
const char *id_text(int64_t id, char buf[24]);

#endif
