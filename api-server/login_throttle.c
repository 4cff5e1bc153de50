/* login_throttle: see login_throttle.h. */
#include "login_throttle.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "app.h"
#include "clientaddr.h"
#include "dbreply.h"
#include "log.h"

#define PRUNE_BATCH "100"

/* The TCP peer's address as text ("" when it is neither IPv4 nor IPv6). */
static void peer_text(const struct sockaddr *sa, char out[INET6_ADDRSTRLEN])
{
    out[0] = '\0';
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, INET6_ADDRSTRLEN);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, INET6_ADDRSTRLEN);
}

void login_client_address(const struct _u_request *req, char out[LOGIN_ADDRESS_MAX])
{
    char peer[INET6_ADDRSTRLEN];
    peer_text(req->client_address, peer);
    clientaddr_key(peer, u_map_get_case(req->map_header, "X-Forwarded-For"), app.cfg.trusted_proxies, out);
}

/* The settings as the SQL type login_limits. */
static const char *limits_text(char buf[160])
{
    const struct app_config *c = &app.cfg;
    snprintf(buf, 160, "(%ld,%ld,%ld,%ld,%ld,%ld,%ld)", c->login_free_failures, c->login_account_free_failures,
             c->login_address_free_failures, c->login_delay_base, c->login_delay_max, c->login_failure_decay,
             c->login_known_address_ttl);
    return buf;
}

bool login_attempt_begin(PGconn *conn, const char *email, const char *address, struct login_attempt *a,
                         struct db_error *err)
{
    char lim[160];
    memset(a, 0, sizeof *a);
    snprintf(a->email, sizeof a->email, "%s", email);
    snprintf(a->address, sizeof a->address, "%s", address);
    const char *p[] = {email, address, limits_text(lim)};
    PGresult *r = db_exec(conn, "SELECT retry_after, started FROM login_attempt($1, $2, $3::login_limits)", 3, p);
    bool ok = db_ok(conn, r, err) && PQntuples(r) == 1;
    if (ok) {
        a->retry_after = strtol(PQgetvalue(r, 0, 0), NULL, 10);
        snprintf(a->started, sizeof a->started, "%s", PQgetvalue(r, 0, 1));
    } else if (err && err->status == ST_OK) {
        err->status = ST_INTERNAL;
    }
    PQclear(r);
    return ok;
}

bool login_attempt_passed(PGconn *conn, const struct login_attempt *a, int64_t user_id, struct db_error *err)
{
    char lim[160], uid[24];
    const char *p[] = {a->email, a->address, limits_text(lim), user_id > 0 ? id_text(user_id, uid) : NULL};
    PGresult *r = db_exec(conn, "SELECT login_attempt_passed($1, $2, $3::login_limits, $4::bigint)", 4, p);
    bool ok = db_ok(conn, r, err);
    PQclear(r);
    return ok;
}

/* Details of a login audit row: the address, and the e-mail when no account has it. New reference. */
static json_t *attempt_details(const struct login_attempt *a, int64_t user_id)
{
    json_t *d = json_pack("{s:s}", "address", a->address);
    if (!user_id)
        json_object_set_new(d, "email", json_string(a->email));
    return d;
}

static void audit_attempt(PGconn *conn, const struct req_ctx *ctx, int64_t user_id, const char *role,
                          const char *action, json_t *details)
{
    struct db_error err;
    if (!audit_write_as(conn, ctx, user_id, user_id ? role : NULL, action, "user", user_id, details, &err))
        log_error("audit %s for user %lld not written", action, (long long)user_id);
}

void login_attempt_failed(PGconn *conn, const struct req_ctx *ctx, const struct login_attempt *a, int64_t user_id,
                          const char *role, const char *reason)
{
    json_t *d = attempt_details(a, user_id);
    json_object_set_new(d, "reason", json_string(reason));
    audit_attempt(conn, ctx, user_id, role, "login_failed", d);
    /* started is "{name,name}" (names are plain words, never quoted). */
    const char *s = a->started[0] == '{' ? a->started + 1 : a->started;
    while (*s && *s != '}') {
        size_t len = strcspn(s, ",}");
        char scope[32];
        if (len > 0 && len < sizeof scope) {
            memcpy(scope, s, len);
            scope[len] = '\0';
            json_t *t = attempt_details(a, user_id);
            json_object_set_new(t, "scope", json_string(scope));
            json_object_set_new(t, "delay_seconds", json_integer(app.cfg.login_delay_base));
            audit_attempt(conn, ctx, user_id, role, "login_throttled", t);
        }
        s += len + (s[len] == ',');
    }
    char lim[160];
    const char *p[] = {limits_text(lim)};
    PGresult *r = db_exec(conn, "SELECT login_failures_prune($1::login_limits, " PRUNE_BATCH ")", 1, p);
    if (!db_ok(conn, r, NULL))
        log_warning("sign-in counters not pruned: %s", PQresultErrorMessage(r));
    PQclear(r);
}

int login_reply_throttled(struct _u_response *resp, struct req_ctx *ctx, long seconds)
{
    char secs[24];
    u_map_put(resp->map_header, "Retry-After", id_text(seconds > 0 ? seconds : 1, secs));
    return reply_error(resp, ctx, ST_THROTTLED, NULL,
                       "Too many failed attempts at this password from here; try again after Retry-After seconds.",
                       NULL);
}

bool login_confirm_password(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx,
                            const char *password, const char *field, char hash_out[PASSWORD_HASH_MAX], int *rc)
{
    char idb[24], email[256], role[16], address[LOGIN_ADDRESS_MAX];
    struct login_attempt a;
    struct db_error err = {0};
    const char *p[] = {id_text(ctx->claims.sub, idb)};
    login_client_address(req, address);

    PGconn *conn = dbr_acquire();
    if (!conn) {
        *rc = reply_status(resp, ctx, ST_UNAVAILABLE);
        return false;
    }
    PGresult *r = db_exec(conn, "SELECT email, password_hash, role FROM users WHERE id = $1 AND active", 1, p);
    bool found = db_ok(conn, r, &err) && PQntuples(r) == 1;
    if (found) {
        snprintf(email, sizeof email, "%s", PQgetvalue(r, 0, 0));
        snprintf(hash_out, PASSWORD_HASH_MAX, "%s", PQgetvalue(r, 0, 1));
        snprintf(role, sizeof role, "%s", PQgetvalue(r, 0, 2));
    }
    PQclear(r);
    bool counted = found && login_attempt_begin(conn, email, address, &a, &err);
    dbr_release(conn);
    if (!found && err.status == ST_OK) {
        *rc = reply_status(resp, ctx, ST_UNAUTHORIZED);
        return false;
    }
    if (!counted) {
        *rc = dbr_reply_error(resp, ctx, &err);
        return false;
    }
    if (a.retry_after > 0) {
        *rc = login_reply_throttled(resp, ctx, a.retry_after);
        return false;
    }

    bool good = password_verify(hash_out, password);
    if (!(conn = dbr_acquire())) {
        *rc = reply_status(resp, ctx, ST_UNAVAILABLE);
        return false;
    }
    if (!good) {
        login_attempt_failed(conn, ctx, &a, ctx->claims.sub, role, "wrong_current_password");
        *rc = reply_invalid(resp, ctx, json_pack("{s:s}", field, "is not your current password"));
    } else if (!login_attempt_passed(conn, &a, ctx->claims.sub, &err)) {
        *rc = dbr_reply_error(resp, ctx, &err);
        good = false;
    }
    dbr_release(conn);
    return good;
}
