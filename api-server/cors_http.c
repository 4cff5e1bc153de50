/* cors_http: see cors_http.h. */
#include "cors_http.h"

#include <string.h>

#include "app.h"

bool cors_http_headers(const struct _u_request *req, struct _u_response *resp)
{
    if (app.cfg.cors.n == 0)
        return false;
    /* Once any origin is allowed, whether an answer carries Access-Control-Allow-Origin depends on
     * the request's Origin, so every answer says so, also those to no Origin or to another one: a
     * cache (the browser's own included) must never hand a page of an allowed origin an answer
     * fetched without its Origin, nor the reverse. With an empty list nothing depends on Origin. */
    u_map_put(resp->map_header, "Vary", "Origin");
    const char *origin = u_map_get_case(req->map_header, "Origin");
    if (!cors_origin_allowed(&app.cfg.cors, origin))
        return false;
    u_map_put(resp->map_header, "Access-Control-Allow-Origin", origin);
    u_map_put(resp->map_header, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
    return true;
}

bool cors_http_is_preflight(const struct _u_request *req)
{
    const char *method = u_map_get_case(req->map_header, "Access-Control-Request-Method");
    return strcmp(req->http_verb, "OPTIONS") == 0 && method && *method;
}

int cors_http_preflight(struct _u_response *resp, struct req_ctx *ctx, const char *methods)
{
    u_map_put(resp->map_header, "Access-Control-Allow-Methods", methods);
    u_map_put(resp->map_header, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
    u_map_put(resp->map_header, "Access-Control-Max-Age", CORS_MAX_AGE_SECONDS);
    return reply_no_content(resp, ctx);
}
