/* h_photos: each user's photo (DESIGN §11). PUT /users/me/photo takes the image as the raw body
 * (Content-Type image/png, image/jpeg or image/webp, at most PHOTO_MAX_BYTES, checked by the router
 * as for any raw body) and replaces the old one in one statement, so a reader sees the old photo or
 * the new one, never a mix; the stored type is the one its first bytes show (filetype.h).
 * GET /users/{id}/photo answers the bytes to whoever user_photo_visible (sql/0028_files.sql) lets
 * see them, with the SHA-256 as ETag; `photo_url` in user, doctor and patient reads points here. */
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "etag.h"
#include "filetype.h"
#include "handlers.h"

static const char *const photo_types[] = {"image/png", "image/jpeg", "image/webp", NULL};

static bool photo_type_declared(const struct _u_request *req)
{
    for (size_t i = 0; photo_types[i]; i++)
        if (http_content_type_is(req, photo_types[i]))
            return true;
    return false;
}

HANDLER(h_photos_put)
{
    if (!photo_type_declared(req))
        return reply_error(resp, ctx, ST_UNSUPPORTED_MEDIA, NULL,
                           "The photo must be sent as image/png, image/jpeg or image/webp.", NULL);
    if (req->binary_body_length == 0)
        return reply_invalid(resp, ctx, json_pack("{s:s}", "photo", "is empty"));
    const char *mime = filetype_sniff(req->binary_body, req->binary_body_length, true);
    if (!mime)
        return reply_error(resp, ctx, ST_UNSUPPORTED_MEDIA, NULL, "The photo must be a PNG, JPEG or WebP image.", NULL);
    char ub[24], sz[24], sha[65];
    char *hex = malloc(req->binary_body_length * 2 + 1);
    if (!hex)
        return reply_status(resp, ctx, ST_INTERNAL);
    crypto_hex(req->binary_body, req->binary_body_length, hex);
    crypto_sha256_hex(req->binary_body, req->binary_body_length, sha);
    snprintf(sz, sizeof sz, "%zu", req->binary_body_length);
    const char *p[] = {actor_text(ctx, ub), mime, sz, sha, hex};
    static const char *const sql[] = {
        "INSERT INTO user_photos AS ph (user_id, content_type, size_bytes, sha256, data) "
        "VALUES ($1, $2, $3, decode($4, 'hex'), decode($5, 'hex')) "
        "ON CONFLICT (user_id) DO UPDATE SET content_type = EXCLUDED.content_type, size_bytes = EXCLUDED.size_bytes, "
        "  sha256 = EXCLUDED.sha256, data = EXCLUDED.data, updated_at = now() "
        "RETURNING jsonb_build_object('photo_url', '/users/' || ph.user_id || '/photo', "
        "  'content_type', ph.content_type, 'size_bytes', ph.size_bytes, 'sha256', encode(ph.sha256, 'hex'), "
        "  'updated_at', rfc3339(ph.updated_at)), "
        "  ph.user_id"};
    const struct db_stmt st[] = {{sql[0], 5, p}};
    json_t *details = json_pack("{s:s,s:I}", "content_type", mime, "size_bytes", (json_int_t)req->binary_body_length);
    int rc = dbr_write(resp, ctx, &(const struct write_desc){200, "photo_set", "user", details}, st, 1);
    free(hex);
    return rc;
}

HANDLER(h_photos_delete)
{
    (void)req;
    char ub[24];
    const char *p[] = {actor_text(ctx, ub)};
    static const char *const sql[] = {"DELETE FROM user_photos WHERE user_id = $1 RETURNING '{}'::jsonb, user_id"};
    const struct db_stmt st[] = {{sql[0], 1, p}};
    return dbr_write(resp, ctx, &(const struct write_desc){204, "photo_delete", "user", NULL}, st, 1);
}

HANDLER(h_photos_get)
{
    PGconn *conn = dbr_acquire();
    if (!conn)
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    char idb[24], ub[24], cb[24];
    const char *p[] = {id_text(ctx->params[0], idb), role_name(ctx->claims.role), actor_text(ctx, ub),
                       scope_clinic(ctx, cb)};
    PGresult *r = PQexecParams(conn,
                               "SELECT content_type, '\"' || encode(sha256, 'hex') || '\"', data FROM user_photos "
                               "WHERE user_id = $1 AND user_photo_visible($1, $2, $3, $4)",
                               4, NULL, p, NULL, NULL, 1);
    struct db_error err;
    int rc;
    if (!db_ok(conn, r, &err)) {
        rc = dbr_reply_error(resp, ctx, &err);
    } else if (PQntuples(r) != 1) {
        rc = reply_status(resp, ctx, ST_NOT_FOUND);
    } else {
        char type[40], etag[70];
        snprintf(type, sizeof type, "%.*s", PQgetlength(r, 0, 0), PQgetvalue(r, 0, 0));
        snprintf(etag, sizeof etag, "%.*s", PQgetlength(r, 0, 1), PQgetvalue(r, 0, 1));
        u_map_put(resp->map_header, "ETag", etag);
        u_map_put(resp->map_header, "X-Content-Type-Options", "nosniff");
        u_map_put(resp->map_header, "Cache-Control", "private, no-cache");
        if (etag_none_match_hits(u_map_get_case(req->map_header, "If-None-Match"), etag)) {
            rc = reply_not_modified(resp, ctx);
        } else {
            ctx->http_status = 200;
            u_map_put(resp->map_header, "Content-Type", type);
            ulfius_set_binary_body_response(resp, 200, PQgetvalue(r, 0, 2), (size_t)PQgetlength(r, 0, 2));
            rc = U_CALLBACK_COMPLETE;
        }
    }
    PQclear(r);
    dbr_release(conn);
    return rc;
}
