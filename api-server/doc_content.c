/* doc_content: see doc_content.h. */
#include "doc_content.h"
#include "record_access.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byterange.h"
#include "dbreply.h"
#include "etag.h"
#include "filetype.h"

struct doc_stream {
    char id[24];
    uint64_t first, count; /* the bytes sent: [first, first + count) */
    uint64_t chunk_bytes;
    int64_t loaded;        /* the chunk in buf, -1 none */
    char *buf;
    size_t buf_len;
};

static void stream_free(void *p)
{
    struct doc_stream *s = p;
    if (s)
        free(s->buf);
    free(s);
}

/* Reads chunk seq into s->buf; false on failure. */
static bool stream_load(struct doc_stream *s, int64_t seq)
{
    PGconn *conn = dbr_acquire();
    if (!conn)
        return false;
    char sb[24];
    snprintf(sb, sizeof sb, "%" PRId64, seq);
    const char *p[] = {s->id, sb};
    PGresult *r = PQexecParams(conn, "SELECT data FROM document_chunks WHERE document_id = $1 AND seq = $2", 2,
                               NULL, p, NULL, NULL, 1);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
              (uint64_t)PQgetlength(r, 0, 0) <= s->chunk_bytes;
    if (ok) {
        s->buf_len = (size_t)PQgetlength(r, 0, 0);
        memcpy(s->buf, PQgetvalue(r, 0, 0), s->buf_len);
        s->loaded = seq;
    }
    PQclear(r);
    dbr_release(conn);
    return ok;
}

static ssize_t stream_read(void *p, uint64_t offset, char *out, size_t max)
{
    struct doc_stream *s = p;
    if (offset >= s->count)
        return U_STREAM_END;
    uint64_t pos = s->first + offset;
    int64_t seq = (int64_t)(pos / s->chunk_bytes);
    if (seq != s->loaded && !stream_load(s, seq))
        return U_STREAM_ERROR;
    uint64_t in = pos - (uint64_t)seq * s->chunk_bytes;
    if (in >= s->buf_len)
        return U_STREAM_ERROR;
    uint64_t n = s->buf_len - in;
    if (n > s->count - offset)
        n = s->count - offset;
    if (n > max)
        n = max;
    memcpy(out, s->buf + in, (size_t)n);
    return (ssize_t)n;
}

/* The headers every answer about the content carries. */
static void content_headers(struct _u_response *resp, const char *etag, const char *name)
{
    char disposition[1200];
    u_map_put(resp->map_header, "ETag", etag);
    u_map_put(resp->map_header, "Accept-Ranges", "bytes");
    u_map_put(resp->map_header, "X-Content-Type-Options", "nosniff");
    u_map_put(resp->map_header, "Cache-Control", "private, no-cache");
    if (filetype_disposition(name, disposition, sizeof disposition))
        u_map_put(resp->map_header, "Content-Disposition", disposition);
    else
        u_map_put(resp->map_header, "Content-Disposition", "attachment");
}

/* Sends bytes [first, first + count) of the document described by row 0 of r, at status http. */
static int stream_reply(struct _u_response *resp, struct req_ctx *ctx, const PGresult *r, int http,
                        uint64_t first, uint64_t count)
{
    struct doc_stream *s = calloc(1, sizeof *s);
    uint64_t chunk = strtoull(PQgetvalue(r, 0, 3), NULL, 10);
    if (s)
        s->buf = malloc(chunk);
    if (!s || !s->buf) {
        stream_free(s);
        return reply_status(resp, ctx, ST_INTERNAL);
    }
    snprintf(s->id, sizeof s->id, "%s", PQgetvalue(r, 0, 6));
    s->first = first;
    s->count = count;
    s->chunk_bytes = chunk;
    s->loaded = -1;
    u_map_put(resp->map_header, "Content-Type", PQgetvalue(r, 0, 0));
    ctx->http_status = http;
    size_t block = chunk < 65536 ? (size_t)chunk : 65536;
    if (ulfius_set_stream_response(resp, (unsigned)http, stream_read, stream_free, count, block, s) != U_OK) {
        stream_free(s);
        return reply_status(resp, ctx, ST_INTERNAL);
    }
    return U_CALLBACK_COMPLETE;
}

/* Answers from the document's row: 304, 416, 206 or 200. */
static int content_from_row(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx,
                            const PGresult *r)
{
    char etag[70];
    snprintf(etag, sizeof etag, "\"%s\"", PQgetvalue(r, 0, 4));
    content_headers(resp, etag, PQgetvalue(r, 0, 1));
    if (etag_none_match_hits(u_map_get_case(req->map_header, "If-None-Match"), etag))
        return reply_not_modified(resp, ctx);
    uint64_t size = strtoull(PQgetvalue(r, 0, 2), NULL, 10), first = 0, count = size;
    const char *range = u_map_get_case(req->map_header, "Range");
    const char *if_range = u_map_get_case(req->map_header, "If-Range");
    if (if_range && strcmp(if_range, etag) != 0)
        range = NULL; /* the client holds another version: the whole file */
    enum byterange br = byterange_parse(range, size, &first, &count);
    char cr[80];
    if (br == BYTERANGE_UNSATISFIABLE) {
        snprintf(cr, sizeof cr, "bytes */%" PRIu64, size);
        u_map_put(resp->map_header, "Content-Range", cr);
        return reply_status(resp, ctx, ST_RANGE_NOT_SATISFIABLE);
    }
    if (br == BYTERANGE_PART) {
        snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, first + count - 1, size);
        u_map_put(resp->map_header, "Content-Range", cr);
    }
    return stream_reply(resp, ctx, r, br == BYTERANGE_PART ? 206 : 200, first, count);
}

int doc_content_reply(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx,
                      const char *const p[9])
{
    PGconn *conn = dbr_acquire();
    if (!conn)
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    struct db_error err;
    PGresult *r = db_exec(conn,
                          "SELECT d.content_type, d.file_name, d.size_bytes, d.chunk_bytes, encode(d.sha256, 'hex'), "
                          "       document_access(d, $2, $3, $4, $5, $6), d.id, "
                          "       CASE WHEN document_access(d, $2, $3, $4, $5, $6) = 'full' THEN "
                          RECORD_ACCESS("d.patient_id", "document_read", "document", "d.id", "$7", "$8", "$9") " END "
                          "FROM documents d WHERE d.id = $1 AND document_access(d, $2, $3, $4, $5, $6) <> 'none'",
                          9, p);
    int rc;
    if (!db_ok(conn, r, &err))
        rc = dbr_reply_error(resp, ctx, &err);
    else if (PQntuples(r) != 1)
        rc = reply_status(resp, ctx, ST_NOT_FOUND);
    else if (strcmp(PQgetvalue(r, 0, 5), "full") != 0)
        rc = reply_error(resp, ctx, ST_FORBIDDEN, NULL, "The content of clinical documents is read by doctors.",
                         NULL);
    else {
        rc = content_from_row(req, resp, ctx, r);
    }
    PQclear(r);
    dbr_release(conn);
    return rc;
}
