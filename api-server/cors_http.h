/* cors_http: the api-server's side of CORS (docs/ARCHITECTURE.md §8), the headers that let a page of another
 * origin call the API. router_prepare applies it first, before any answer can be given, so every
 * answer (404, 405, 413, 401, a handler's) carries them. Which origins are allowed, and how they
 * are matched, is common/cors.h's business; the list is app.cfg.cors (CORS_ALLOWED_ORIGINS).
 *
 * For a request whose Origin is in the list:
 *   - every answer has Access-Control-Allow-Origin (that origin) and Access-Control-Expose-Headers;
 *   - a preflight (OPTIONS with Access-Control-Request-Method) of a known path is answered 204
 *     without a body, with Access-Control-Allow-Methods (the path's methods), -Allow-Headers and
 *     -Max-Age, before the guard runs: a browser never sends a token with a preflight. A preflight
 *     of an unknown path is the ordinary 404 envelope, without Allow-Methods.
 * Any other Origin, or none, gets no CORS header at all, and its OPTIONS stays a 405 with Allow.
 *
 * Access-Control-Allow-Methods lists exactly what a 405's Allow lists: the methods of the path's
 * routes. OPTIONS is not among them: a browser asks a preflight about the method of the request
 * that follows, and no route answers OPTIONS (a plain OPTIONS is 405), so it would promise what
 * the server does not do. No Access-Control-Allow-Credentials: tokens travel in Authorization,
 * never in cookies.
 *
 * Stateless; reads only app.cfg, which is fixed after start-up, so any request thread may call it. */
#ifndef API_CORS_HTTP_H
#define API_CORS_HTTP_H

#include <stdbool.h>
#include <ulfius.h>

#include "http.h"

/* Adds the headers every answer to req carries. Returns whether req's Origin is allowed. */
bool cors_http_headers(const struct _u_request *req, struct _u_response *resp);

/* Whether req is a preflight: OPTIONS with a non-empty Access-Control-Request-Method. */
bool cors_http_is_preflight(const struct _u_request *req);

/* Answers the preflight of an allowed origin to a path whose methods are methods ("GET, POST"):
 * 204 without a body. Returns U_CALLBACK_COMPLETE. */
int cors_http_preflight(struct _u_response *resp, struct req_ctx *ctx, const char *methods);

#endif
