/* ratelimit: the API's request rate limits, token buckets (common/tokenbucket.h) in memory:
 *   per client address  every request, counted by router_prepare before anything else is done
 *                        (API_RATE_PER_ADDRESS a second, bursts of API_BURST_PER_ADDRESS);
 *   per user             every request with a valid access token, counted by router_guard once
 *                        the token is verified (API_RATE_PER_USER, API_BURST_PER_USER).
 * A request over a limit is answered 429 too_many_requests with Retry-After (whole seconds until
 * the bucket holds a token again) and reaches no handler. A rate of 0 turns that limit off.
 *
 * The client address is the TCP peer's (an IPv4 address; an IPv6 address's /64): behind a reverse
 * proxy every client shares the proxy's address, so turn the per-address limit off there (README
 * "Limits under load"). Each table tracks at most API_RATE_TABLE_SIZE keys in memory allocated at
 * start-up; a key idle long enough to refill is the first forgotten.
 *
 * Thread rules: ratelimit_init before the server starts, ratelimit_free after it stopped; the
 * checks run on any request thread. */
#ifndef API_RATELIMIT_H
#define API_RATELIMIT_H

#include <stdbool.h>

#include "http.h"

/* Creates the tables app.cfg asks for; false (logged) when memory is short. */
bool ratelimit_init(void);
void ratelimit_free(void);

/* U_CALLBACK_CONTINUE when req's client address may make another request; otherwise answers 429
 * and returns U_CALLBACK_COMPLETE. */
int ratelimit_check_address(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx);
/* The same for the user of ctx's verified token (ctx->authed). */
int ratelimit_check_user(struct _u_response *resp, struct req_ctx *ctx);

#endif
