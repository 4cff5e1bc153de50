/* router: see router.h. */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "connguard.h"
#include "cors_http.h"
#include "dbreply.h"
#include "log.h"
#include "ratelimit.h"
#include "static.h"
#include "upload.h"

#define MAX_SEGMENTS 8
#define MAX_BODY_DEPTH 32 /* nesting of a JSON body's arrays and objects */

struct match {
    const struct route *route;
    int64_t params[MAX_PATH_PARAMS];
    int literals;
};

/* Splits path (after the prefix) into segments in place; returns the count or -1. */
static int split(char *path, char *segs[MAX_SEGMENTS])
{
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(path, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (n == MAX_SEGMENTS)
            return -1;
        segs[n++] = tok;
    }
    return n;
}

static bool parse_id(const char *s, int64_t *out)
{
    if (!*s || strlen(s) > 18 || strspn(s, "0123456789") != strlen(s) || s[0] == '0')
        return false;
    *out = strtoll(s, NULL, 10);
    return true;
}

/* Matches one route's pattern against the request segments. */
static bool route_matches(const struct route *r, char *const *segs, int nsegs, struct match *m)
{
    char pattern[128];
    char *psegs[MAX_SEGMENTS];
    snprintf(pattern, sizeof pattern, "%s", r->path);
    int np = split(pattern, psegs);
    if (np != nsegs)
        return false;
    int nparams = 0, literals = 0;
    for (int i = 0; i < np; i++) {
        if (psegs[i][0] == ':') {
            if (nparams == MAX_PATH_PARAMS || !parse_id(segs[i], &m->params[nparams]))
                return false;
            nparams++;
        } else if (strcmp(psegs[i], segs[i]) != 0) {
            return false;
        } else {
            literals++;
        }
    }
    m->literals = literals;
    m->route = r;
    return true;
}

/* Finds the route for method+path. Returns 0 found, 404 or 405 (allow filled with methods). */
static int route_lookup(const char *method, const char *full_path, struct match *out, char *allow, size_t allowlen)
{
    size_t plen = strlen(app.cfg.prefix);
    bool under_prefix = strncmp(full_path, app.cfg.prefix, plen) == 0 &&
                        (full_path[plen] == '/' || full_path[plen] == '\0');
    char buf[256];
    char *segs[MAX_SEGMENTS];
    int found = 404;
    allow[0] = '\0';
    out->route = NULL;
    if (strlen(full_path) >= sizeof buf)
        return 404; /* no route is that long; never match a truncated path */

    for (int pass = 0; pass < 2; pass++) {
        bool root = pass == 1;
        if (!root && !under_prefix)
            continue;
        snprintf(buf, sizeof buf, "%s", root ? full_path : full_path + plen);
        int n = split(buf, segs);
        if (n < 0)
            continue;
        for (size_t i = 0; i < routes_count; i++) {
            const struct route *r = &routes[i];
            struct match m;
            if (((r->access & ROUTE_ROOT) != 0) != root || !route_matches(r, segs, n, &m))
                continue;
            if (strcmp(r->method, method) == 0) {
                if (!out->route || m.literals > out->literals)
                    *out = m;
            } else if (!strstr(allow, r->method)) {
                size_t used = strlen(allow);
                snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "", r->method);
            }
        }
    }
    if (out->route)
        found = 0;
    else if (allow[0])
        found = 405;
    return found;
}

/* Whether an unrouted request goes to the console's files: a GET or HEAD outside API_PREFIX. */
static bool static_candidate(const struct _u_request *req)
{
    size_t plen = strlen(app.cfg.prefix);
    bool under_prefix = plen > 0 && strncmp(req->url_path, app.cfg.prefix, plen) == 0 &&
                        (req->url_path[plen] == '/' || req->url_path[plen] == '\0');
    return !under_prefix && (strcmp(req->http_verb, "GET") == 0 || strcmp(req->http_verb, "HEAD") == 0);
}

static bool content_type_is_json(const struct _u_request *req) { return http_content_type_is(req, "application/json"); }

/* Whether the body is over its route's limit: a JSON body's API_MAX_BODY (every unrouted request's
 * too), a raw body's PHOTO_MAX_BYTES; an upload's declared length over UPLOAD_MAX_BYTES and room
 * for its form fields (the file's own size is counted as it arrives, upload.h). */
static bool body_over_limit(const struct _u_request *req, unsigned kind)
{
    long long limit = kind == ROUTE_UPLOAD ? app.cfg.upload_max_bytes + UPLOAD_FORM_SLACK
                      : kind == ROUTE_RAW  ? app.cfg.photo_max_bytes
                                           : app.cfg.max_body;
    const char *cl = u_map_get_case(req->map_header, "Content-Length");
    if (cl && strtoll(cl, NULL, 10) > limit)
        return true;
    return kind != ROUTE_UPLOAD && req->binary_body_length > (size_t)limit;
}

/* Whether the arrays and objects of a JSON text nest at most max deep (brackets inside strings do
 * not count; anything malformed is left to the parser). A request thread's stack is small
 * (API_THREAD_STACK_KB) and jansson recurses once per level, in parsing, freeing and dumping. */
static bool json_depth_within(const char *s, size_t n, int max)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        if (in_string) {
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                in_string = false;
        } else if (s[i] == '"') {
            in_string = true;
        } else if (s[i] == '[' || s[i] == '{') {
            if (++depth > max)
                return false;
        } else if (s[i] == ']' || s[i] == '}') {
            depth--;
        }
    }
    return true;
}

static int router_prepare(const struct _u_request *req, struct _u_response *resp, void *user_data)
{
    (void)user_data;
    /* The whole request is in: its connection has no deadline until it is answered. */
    connguard_request_received();
    struct req_ctx *ctx = req_ctx_new(req);
    if (!ctx)
        return U_CALLBACK_ERROR;
    ulfius_set_response_shared_data(resp, ctx, req_ctx_free);
    u_map_put(resp->map_header, "X-Request-Id", ctx->request_id);
    bool cross_origin = cors_http_headers(req, resp);
    /* Requests per client address, before any other work (the answer carries the CORS headers). */
    if (ratelimit_check_address(req, resp, ctx) != U_CALLBACK_CONTINUE)
        return U_CALLBACK_COMPLETE;

    struct match m;
    char allow[96];
    int found = route_lookup(req->http_verb, req->url_path, &m, allow, sizeof allow);
    unsigned kind = found == 0 ? m.route->access & (ROUTE_UPLOAD | ROUTE_RAW) : 0;
    /* The body limit: ulfius truncates at limit+1 silently, so anything longer is too large. */
    if (body_over_limit(req, kind))
        return reply_status(resp, ctx, ST_TOO_LARGE);
    if (found == 404 && static_candidate(req))
        return static_serve(req, resp, ctx);
    if (found == 404)
        return reply_status(resp, ctx, ST_NOT_FOUND);
    /* No route is declared for OPTIONS, so a preflight of a known path is a 405 here, with every
     * method of the path in allow. */
    if (found == 405 && cross_origin && cors_http_is_preflight(req))
        return cors_http_preflight(resp, ctx, allow);
    if (found == 405) {
        u_map_put(resp->map_header, "Allow", allow);
        return reply_status(resp, ctx, ST_METHOD_NOT_ALLOWED);
    }
    ctx->route = m.route;
    memcpy(ctx->params, m.params, sizeof ctx->params);

    bool has_body = req->binary_body_length > 0 && !kind;
    if (has_body && strcmp(req->http_verb, "GET") != 0 && strcmp(req->http_verb, "DELETE") != 0) {
        if (!content_type_is_json(req))
            return reply_status(resp, ctx, ST_UNSUPPORTED_MEDIA);
        if (!json_depth_within(req->binary_body, req->binary_body_length, MAX_BODY_DEPTH))
            return reply_error(resp, ctx, ST_BAD_REQUEST, "malformed_json",
                               "The request body nests arrays and objects too deeply.", NULL);
        json_error_t jerr;
        ctx->body = json_loadb(req->binary_body, req->binary_body_length, JSON_REJECT_DUPLICATES, &jerr);
        if (!ctx->body)
            return reply_error(resp, ctx, ST_BAD_REQUEST, "malformed_json", "The request body is not valid JSON.",
                               NULL);
        if (!json_is_object(ctx->body))
            return reply_error(resp, ctx, ST_BAD_REQUEST, "malformed_json", "The request body must be a JSON object.",
                               NULL);
    }
    if (!ctx->body)
        ctx->body = json_object();
    return U_CALLBACK_CONTINUE;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads what the guard needs of account user into *st: ST_OK, ST_NOT_FOUND (no such user) or the
 * database's status. */
static enum status account_read(int64_t user_id, struct account_state *st)
{
    PGconn *conn = dbr_acquire();
    if (!conn)
        return ST_UNAVAILABLE;
    char idb[24];
    const char *p[] = {id_text(user_id, idb)};
    struct db_error err;
    PGresult *r = db_exec(conn, "SELECT active, iat_floor, role, clinic_id FROM account_guard_state($1)", 1, p);
    enum status s = ST_NOT_FOUND;
    if (!db_ok(conn, r, &err)) {
        s = err.status;
    } else if (PQntuples(r) == 1) {
        st->active = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        st->iat_floor = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
        st->role = role_parse(PQgetvalue(r, 0, 2));
        st->clinic_id = PQgetisnull(r, 0, 3) ? 0 : strtoll(PQgetvalue(r, 0, 3), NULL, 10);
        s = ST_OK;
    }
    PQclear(r);
    dbr_release(conn);
    return s;
}

/* Whether the token's account still accepts it: ST_OK when the user exists, is active, has the
 * token's role and clinic, and the token was issued at or after the account's iat floor (the
 * comparison token_valid_for makes, sql/0020); ST_UNAUTHORIZED when not (*why says which); else the
 * database's status. The account comes from app.accounts when it holds it (no round trip), else
 * from the database, and is kept for the next request (accountcache.h says why that is safe). */
static enum status account_active(const struct claims *c, const char **why)
{
    struct account_state st;
    uint64_t ticket;
    if (!accountcache_get(app.accounts, c->sub, monotonic_ms(), &st, &ticket)) {
        enum status s = account_read(c->sub, &st);
        if (s == ST_NOT_FOUND) {
            *why = "This account no longer exists.";
            return ST_UNAUTHORIZED;
        }
        if (s != ST_OK)
            return s;
        accountcache_put(app.accounts, c->sub, monotonic_ms(), &st, ticket);
    }
    if (!st.active) {
        *why = "This account has been deactivated.";
        return ST_UNAUTHORIZED;
    }
    if (st.role != c->role || st.clinic_id != c->clinic_id) {
        *why = "The account's role or clinic changed since the access token was issued; sign in again.";
        return ST_UNAUTHORIZED;
    }
    if ((int64_t)c->iat < st.iat_floor) {
        *why = "The access token was issued before the account's sessions were ended (a new password, "
               "a sign-out everywhere); sign in again.";
        return ST_UNAUTHORIZED;
    }
    return ST_OK;
}

static int router_guard(const struct _u_request *req, struct _u_response *resp, void *user_data)
{
    (void)user_data;
    struct req_ctx *ctx = req_ctx_of(resp);
    if (ctx->route->access & ROUTE_PUBLIC)
        return U_CALLBACK_CONTINUE;

    const char *auth = u_map_get_case(req->map_header, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return reply_status(resp, ctx, ST_UNAUTHORIZED);
    const char *token = auth + 7;
    while (*token == ' ')
        token++;
    enum token_result tr = tokencache_verify_access(app.tokens, &app.keys, token, time(NULL), &ctx->claims);
    if (tr != TOKEN_OK) {
        u_map_put(resp->map_header, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        return reply_error(resp, ctx, ST_UNAUTHORIZED, NULL,
                           tr == TOKEN_EXPIRED ? "The access token has expired." : "The access token is invalid.",
                           NULL);
    }
    ctx->authed = true;
    if (!(ctx->route->access & (unsigned)ctx->claims.role))
        return reply_status(resp, ctx, ST_FORBIDDEN);
    /* A deactivated account's access tokens stop at once, not when they expire; so do the tokens
     * issued before a new password or a sign-out everywhere. */
    const char *why = NULL;
    enum status st = account_active(&ctx->claims, &why);
    if (st == ST_UNAUTHORIZED) {
        u_map_put(resp->map_header, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        return reply_error(resp, ctx, ST_UNAUTHORIZED, NULL, why, NULL);
    }
    if (st != ST_OK)
        return reply_status(resp, ctx, st);
    return ratelimit_check_user(resp, ctx);
}

static int router_dispatch(const struct _u_request *req, struct _u_response *resp, void *user_data)
{
    (void)user_data;
    struct req_ctx *ctx = req_ctx_of(resp);
    /* The whole query string, as sent, against the route's parameters: ulfius's own map drops pairs
     * that are not UTF-8 and holds one value per name, so it is never read. */
    const char *q = req->http_url ? strchr(req->http_url, '?') : NULL;
    json_t *errors = json_object();
    if (!query_parse(q ? q + 1 : NULL, ctx->route->query, &ctx->query, errors))
        return reply_invalid_query(resp, ctx, errors);
    json_decref(errors);
    return ctx->route->handler(req, resp, ctx);
}

void router_register(struct _u_instance *inst)
{
    /* query_parse reads at most QUERY_MAX_PARAMS rows of a route's table: a longer one is a bug. */
    for (size_t i = 0; i < routes_count; i++) {
        size_t n = 0;
        while (routes[i].query && routes[i].query[n].name)
            n++;
        if (n > QUERY_MAX_PARAMS) {
            log_error("route %s %s declares %zu query parameters, more than %d", routes[i].method, routes[i].path, n,
                      QUERY_MAX_PARAMS);
            abort();
        }
    }
    ulfius_add_endpoint_by_val(inst, "*", NULL, "*", 0, router_prepare, NULL);
    ulfius_add_endpoint_by_val(inst, "*", NULL, "*", 1, router_guard, NULL);
    ulfius_add_endpoint_by_val(inst, "*", NULL, "*", 2, router_dispatch, NULL);
}

void router_print(const char *prefix)
{
    for (size_t i = 0; i < routes_count; i++) {
        const struct route *r = &routes[i];
        char path[160];
        const char *s = r->path;
        size_t o = 0;
        /* Print ":id" as "{id}", as openapi.yaml writes it. */
        o += (size_t)snprintf(path, sizeof path, "%s", (r->access & ROUTE_ROOT) ? "" : prefix);
        for (; *s && o + 2 < sizeof path; s++) {
            if (*s == ':') {
                path[o++] = '{';
                while (s[1] && s[1] != '/' && o + 2 < sizeof path)
                    path[o++] = *++s;
                path[o++] = '}';
            } else {
                path[o++] = *s;
            }
        }
        path[o] = '\0';
        printf("%s %s", r->method, path);
        /* "?name,name!" (! when required): the query parameters, as openapi.yaml lists them */
        for (size_t k = 0; r->query && r->query[k].name; k++)
            printf("%s%s%s", k ? "," : " ?", r->query[k].name, (r->query[k].flags & QF_REQUIRED) ? "!" : "");
        if (r->access & ROUTE_PUBLIC)
            printf(" public");
        for (unsigned bit = ROLE_ADMIN; bit <= ROLE_PATIENT; bit <<= 1)
            if (r->access & bit)
                printf(" %s", role_name((enum role)bit));
        printf("\n");
    }
}
