/* h_static: the clinic console's files, served from WEB_ROOT (default web/) at the server root, and
 * the console's config document (GET /config.json).
 *
 * Where it sits: router_prepare asks static_serve for a GET or HEAD that no route matched and that
 * is not under API_PREFIX, so the API, /healthz, /readyz and /config.json always win over a file of
 * the same name. Nothing here needs a token: the files are the same for everybody.
 *
 * What a path may name (anything else is the API's 404 envelope, as for an unknown route):
 * - segments of [A-Za-z0-9._-] only, none starting with '.', so no "..", no hidden file, no
 *   percent sign (an encoded ".." is either refused as "%" or, decoded, as a segment starting
 *   with '.'), no backslash;
 * - after realpath(), a regular file inside the real path of the root: a symlink is followed only
 *   when it lands inside the root;
 * - a directory is answered by its index.html, never by a listing (no index.html: 404).
 * The console routes its pages after '#', so no path needs a fallback to index.html.
 *
 * Pages (text/html) carry a Content-Security-Policy: scripts only from this origin, connections to it and to
 * the signaling-server (SIGNALING_PUBLIC_URL, over HTTP for long-polling and WebSocket for the upgrade), no
 * framing, no plugins. The console keeps its tokens in memory, so what it mostly guards against is script that
 * was never meant to run there; Redoc needs inline styles and a blob: worker, so those are allowed.
 *
 * Caching: file names are not fingerprinted, so every answer says `Cache-Control: no-cache` (use
 * after revalidating) with a strong ETag, the first 128 bits of the SHA-256 of the bytes, read
 * afresh on every request: a changed file has a new tag at once, the same on every instance.
 * If-None-Match with the current tag (or "*") answers 304 without a body.
 *
 * Thread rules: static_init runs once before the server starts; afterwards the root is read-only
 * and each request works on its own buffers. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app.h"
#include "crypto.h"
#include "etag.h"
#include "fileio.h"
#include "handlers.h"
#include "log.h"
#include "static.h"

#define STATIC_MAX_FILE (16L * 1024 * 1024) /* the largest file served (the API reference's bundle is ~1 MiB) */
#define STATIC_MAX_PATH 256

static char web_root[PATH_MAX]; /* real path of WEB_ROOT; "" when it is missing (nothing is served) */
static char page_csp[1024];      /* the Content-Security-Policy of pages, built once */

/* The signaling-server's origin (scheme://host[:port], no path) of SIGNALING_PUBLIC_URL, validated at
 * start-up as http(s)://..., with its WebSocket twin, into page_csp. */
static void build_csp(void)
{
    const char *url = app.cfg.signaling_public_url;
    bool tls = strncmp(url, "https://", 8) == 0;
    const char *host = url + (tls ? 8 : 7);
    int hlen = (int)strcspn(host, "/?#");
    snprintf(page_csp, sizeof page_csp,
             "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
             "font-src 'self'; connect-src 'self' %s://%.*s %s://%.*s; worker-src 'self' blob:; object-src 'none'; "
             "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
             tls ? "https" : "http", hlen, host, tls ? "wss" : "ws", hlen, host);
}

void static_init(void)
{
    build_csp();
    if (!realpath(app.cfg.web_root, web_root)) {
        log_warning("WEB_ROOT %s: %s; the console is not served", app.cfg.web_root, strerror(errno));
        web_root[0] = '\0';
        return;
    }
    struct stat st;
    if (stat(web_root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        log_warning("WEB_ROOT %s is not a directory; the console is not served", app.cfg.web_root);
        web_root[0] = '\0';
    }
}

/* The Content-Type of a file name, by its extension. */
static const char *content_type_of(const char *name)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},       {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},  {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},               {".map", "application/json"},
        {".yaml", "application/yaml; charset=utf-8"}, {".svg", "image/svg+xml"},
        {".png", "image/png"},                        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},                     {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    const char *slash = strrchr(name, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcmp(dot, types[i][0]) == 0)
                return types[i][1];
    return "application/octet-stream";
}

/* Whether path ("/a/b.js") keeps to the rules of the head comment, before the file system is asked. */
static bool path_allowed(const char *path)
{
    size_t len = strlen(path);
    if (path[0] != '/' || len >= STATIC_MAX_PATH)
        return false;
    for (const char *seg = path + 1; *seg;) {
        size_t n = strcspn(seg, "/");
        if (n == 0 || seg[0] == '.' || strspn(seg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n)
            return false;
        seg += n;
        if (*seg == '/')
            seg++;
    }
    return true;
}

/* Resolves path to the real path of a regular file inside the root (a directory: its index.html)
 * into out[PATH_MAX]; false when there is none. */
static bool resolve_file(const char *path, char out[PATH_MAX])
{
    char joined[PATH_MAX];
    if (snprintf(joined, sizeof joined, "%s%s", web_root, path) >= (int)sizeof joined || !realpath(joined, out))
        return false;
    size_t rlen = strlen(web_root);
    if (strncmp(out, web_root, rlen) != 0 || (out[rlen] != '/' && out[rlen] != '\0'))
        return false; /* a symlink out of the root */
    struct stat st;
    if (stat(out, &st) != 0)
        return false;
    if (S_ISDIR(st.st_mode)) {
        if (snprintf(joined, sizeof joined, "%s/index.html", out) >= (int)sizeof joined || !realpath(joined, out))
            return false;
        if (strncmp(out, web_root, rlen) != 0 || out[rlen] != '/' || stat(out, &st) != 0)
            return false;
    }
    return S_ISREG(st.st_mode);
}

int static_serve(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx)
{
    char real[PATH_MAX];
    if (!web_root[0] || !path_allowed(req->url_path) || !resolve_file(req->url_path, real))
        return reply_status(resp, ctx, ST_NOT_FOUND);
    size_t len = 0;
    char *data = file_read_all(real, (size_t)STATIC_MAX_FILE, &len);
    if (!data) {
        log_warning("static file %s: %s", real, strerror(errno));
        return reply_status(resp, ctx, errno == EFBIG ? ST_NOT_FOUND : ST_INTERNAL);
    }
    char hex[65], etag[36];
    crypto_sha256_hex(data, len, hex);
    snprintf(etag, sizeof etag, "\"%.32s\"", hex);
    u_map_put(resp->map_header, "ETag", etag);
    u_map_put(resp->map_header, "Cache-Control", "no-cache");
    u_map_put(resp->map_header, "X-Content-Type-Options", "nosniff");
    const char *inm = u_map_get_case(req->map_header, "If-None-Match");
    if (etag_none_match_hits(inm, etag)) {
        free(data);
        ctx->http_status = 304;
        resp->status = 304;
        return U_CALLBACK_COMPLETE;
    }
    const char *type = content_type_of(real);
    u_map_put(resp->map_header, "Content-Type", type);
    if (strncmp(type, "text/html", 9) == 0) {
        /* Pages: what they may load and connect to, no framing by other sites, no referrer to anywhere. */
        u_map_put(resp->map_header, "Content-Security-Policy", page_csp);
        u_map_put(resp->map_header, "X-Frame-Options", "DENY");
        u_map_put(resp->map_header, "Referrer-Policy", "no-referrer");
    }
    ctx->http_status = 200;
    ulfius_set_binary_body_response(resp, 200, data, len);
    free(data);
    return U_CALLBACK_COMPLETE;
}

/* GET /config.json: where the console (or any browser client) finds the API and the signaling-server. */
int h_console_config(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx)
{
    (void)req;
    json_t *doc = json_pack("{s:s, s:s}", "api_prefix", app.cfg.prefix, "signaling_url", app.cfg.signaling_public_url);
    u_map_put(resp->map_header, "Cache-Control", "no-cache");
    return reply_json(resp, ctx, 200, doc);
}
