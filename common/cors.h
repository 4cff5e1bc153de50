/* cors: the browser origins a server answers cross-origin (CORS_ALLOWED_ORIGINS), shared by the
 * api-server and the signaling-server so both apply one rule.
 *
 * An origin is matched exactly ("scheme://host[:port]", lower case, no path, no trailing slash);
 * there are no wildcards, and "null" is never allowed. A listed origin is kept as a browser sends
 * it: the scheme's default port (":80" for http, ":443" for https) is dropped. No cookies travel
 * (tokens are in the Authorization header and in the Socket.IO auth object), so no
 * Access-Control-Allow-Credentials. */
#ifndef CLINIC_CORS_H
#define CLINIC_CORS_H

#include <stdbool.h>
#include <stddef.h>

#define CORS_MAX_ORIGINS 16
#define CORS_ORIGIN_MAX 128

/* What every preflight allows and every answer exposes (docs/ARCHITECTURE.md §8). */
#define CORS_ALLOW_HEADERS "authorization, content-type, idempotency-key, if-none-match, x-request-id"
#define CORS_EXPOSE_HEADERS \
    "X-Request-Id, Idempotent-Replayed, Location, Retry-After, Content-Disposition, WWW-Authenticate, ETag"
#define CORS_MAX_AGE_SECONDS "600"

struct cors_origins {
    int n;
    char origin[CORS_MAX_ORIGINS][CORS_ORIGIN_MAX];
};

/* Parses a comma-separated list (spaces around items ignored; empty = nobody) into out. On a bad
 * item returns false with *why a static sentence naming the problem (out is then unusable). */
bool cors_origins_parse(const char *list, struct cors_origins *out, const char **why);

/* Whether origin (the request's Origin header, may be NULL) is in the list. */
bool cors_origin_allowed(const struct cors_origins *o, const char *origin);

#endif
