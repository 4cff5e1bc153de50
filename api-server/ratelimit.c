/* ratelimit: see ratelimit.h. */
#include "ratelimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "clientaddr.h"
#include "login_throttle.h"
#include "log.h"
#include "tokenbucket.h"

static struct tb_table *by_address; /* NULL: no limit */
static struct tb_table *by_user;

bool ratelimit_init(void)
{
    const struct app_config *c = &app.cfg;
    if (c->rate_per_address > 0)
        by_address = tb_new(c->rate_per_address, c->burst_per_address, (size_t)c->rate_table_size);
    if (c->rate_per_user > 0)
        by_user = tb_new(c->rate_per_user, c->burst_per_user, (size_t)c->rate_table_size);
    if ((c->rate_per_address > 0 && !by_address) || (c->rate_per_user > 0 && !by_user)) {
        log_error("cannot allocate the rate limit tables (API_RATE_TABLE_SIZE=%ld)", c->rate_table_size);
        ratelimit_free();
        return false;
    }
    return true;
}

void ratelimit_free(void)
{
    tb_free(by_address);
    tb_free(by_user);
    by_address = by_user = NULL;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 429 too_many_requests with Retry-After: wait_ms rounded up to whole seconds; who names the bucket
 * ("this address", "this account"). */
static int reply_throttled(struct _u_response *resp, struct req_ctx *ctx, long wait_ms, const char *who)
{
    long seconds = wait_ms > 0 ? (wait_ms + 999) / 1000 : 1;
    char header[24], message[120];
    snprintf(header, sizeof header, "%ld", seconds);
    snprintf(message, sizeof message, "Too many requests for %s; try again in %ld second%s.", who, seconds,
             seconds == 1 ? "" : "s");
    u_map_put(resp->map_header, "Retry-After", header);
    return reply_error(resp, ctx, ST_THROTTLED, "too_many_requests", message, NULL);
}

/* The bucket key of a client address as text (login_client_address's: "a.b.c.d" or "prefix::/64"): the 4
 * bytes of the IPv4 address, or 6 and the first 8 bytes of the IPv6 /64; 0 when it is neither ("unknown"). */
static size_t text_key(const char *text, unsigned char key[TB_KEY_MAX])
{
    unsigned char b[16];
    char net[CLIENTADDR_MAX];
    size_t n = strlen(text);
    if (inet_pton(AF_INET, text, b) == 1) {
        memcpy(key, b, 4);
        return 4;
    }
    if (n < 4 || n >= sizeof net || strcmp(text + n - 3, "/64") != 0)
        return 0;
    memcpy(net, text, n - 3);
    net[n - 3] = '\0';
    if (inet_pton(AF_INET6, net, b) != 1)
        return 0;
    key[0] = 6;
    memcpy(key + 1, b, 8);
    return 9;
}

/* The bucket key of the request's client: the TCP peer, or the client a trusted proxy forwards
 * (TRUSTED_PROXIES, walked as the sign-in throttle does: login_client_address); 0 when unknown. */
static size_t client_key(const struct _u_request *req, unsigned char key[TB_KEY_MAX])
{
    char text[LOGIN_ADDRESS_MAX];
    login_client_address(req, text);
    return text_key(text, key);
}

int ratelimit_check_address(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx)
{
    unsigned char key[TB_KEY_MAX];
    size_t len = by_address ? client_key(req, key) : 0;
    long wait = len ? tb_take(by_address, key, len, now_ms()) : 0;
    if (wait <= 0)
        return U_CALLBACK_CONTINUE;
    return reply_throttled(resp, ctx, wait, "this address");
}

int ratelimit_check_user(struct _u_response *resp, struct req_ctx *ctx)
{
    if (!by_user || !ctx->authed)
        return U_CALLBACK_CONTINUE;
    int64_t sub = ctx->claims.sub;
    long wait = tb_take(by_user, &sub, sizeof sub, now_ms());
    if (wait <= 0)
        return U_CALLBACK_CONTINUE;
    return reply_throttled(resp, ctx, wait, "this account");
}
