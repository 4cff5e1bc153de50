/* h_documents: patient documents (exam results, reports, scans; DESIGN §11). An upload arrives as
 * multipart/form-data: its file part is spooled and hashed by upload.c while it arrives, then
 * stored here in one transaction: the patient's row locked (two uploads of one patient take
 * turns, so the same file uploaded twice is found, not stored twice), the clinic's storage
 * reserved under CLINIC_STORAGE_QUOTA_BYTES (sql/0028_files.sql), the metadata, the bytes in
 * chunks of DOC_CHUNK_BYTES read one at a time from the spool, and the audit row.
 *
 * Who may do what: staff of the patient's clinic (and admins) upload for the patient, a patient
 * for themself (shared with them); who reads is document_access's rule (sql/0028), the one owner:
 * a receptionist sees metadata only, a doctor their patients' documents, a patient the documents
 * shared with them and their own. Deletes are soft (deleted_at), audited, and an admin restores
 * within 30 days. The bytes go out through doc_content.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "crypto.h"
#include "doc_content.h"
#include "filetype.h"
#include "handlers.h"
#include "log.h"
#include "record_access.h"
#include "upload.h"

#define DOC_CHUNK_BYTES (256 * 1024)

/* The upload as validated: the form's fields and the file's type and stored name. */
struct doc_form {
    const char *title;
    const char *visit_id; /* NULL: none */
    bool shared;
    const char *mime;
    char file_name[256];
    char sha_hex[65];
    struct upload *up;
};

static bool form_bool(const char *v, bool *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        *out = false;
    else
        return false;
    return true;
}

/* Reads the form's text fields into f; an error per field into errors. */
static void form_fields(const struct _u_request *req, struct doc_form *f, json_t *errors)
{
    const char **keys = u_map_enum_keys(req->map_post_body);
    for (size_t i = 0; keys && keys[i]; i++) {
        const char *k = keys[i], *v = u_map_get(req->map_post_body, k);
        if (strcmp(k, "title") == 0) {
            f->title = v;
            size_t n = utf8_length(v);
            if (n < 1 || n > 200)
                json_object_set_new(errors, "title", json_string("must be 1 to 200 characters"));
        } else if (strcmp(k, "visit_id") == 0) {
            f->visit_id = v;
            if (!*v || strlen(v) > 18 || strspn(v, "0123456789") != strlen(v) || v[0] == '0')
                json_object_set_new(errors, "visit_id", json_string("must be a visit id"));
        } else if (strcmp(k, "shared_with_patient") == 0) {
            if (!form_bool(v, &f->shared))
                json_object_set_new(errors, "shared_with_patient", json_string("must be true or false"));
        } else if (strcmp(k, "file") == 0) {
            json_object_set_new(errors, "file", json_string("must be a file part (with a filename)"));
        } else {
            json_object_set_new(errors, k, json_string("is not a field of a document"));
        }
    }
    if (!f->title && !json_object_get(errors, "title"))
        json_object_set_new(errors, "title", json_string("is required"));
}

/* Validates the whole upload into f; answers (and returns false) when it is refused. */
static bool form_valid(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx, struct doc_form *f,
                       int *rc)
{
    f->up = upload_take(req);
    if (f->up && f->up->failed) {
        *rc = reply_status(resp, ctx, ST_INTERNAL);
        return false;
    }
    if (f->up && f->up->too_large) {
        *rc = reply_error(resp, ctx, ST_TOO_LARGE, NULL, "The file is larger than the upload limit.", NULL);
        return false;
    }
    json_t *errors = json_object();
    form_fields(req, f, errors);
    if (!f->up && !json_object_get(errors, "file"))
        json_object_set_new(errors, "file", json_string("is required"));
    else if (f->up && f->up->extra)
        json_object_set_new(errors, "file", json_string("must be sent once"));
    else if (f->up && f->up->size == 0)
        json_object_set_new(errors, "file", json_string("is empty"));
    if (json_object_size(errors) > 0) {
        *rc = reply_invalid(resp, ctx, errors);
        return false;
    }
    json_decref(errors);
    f->mime = filetype_sniff(f->up->head, f->up->head_len, false);
    if (!f->mime) {
        *rc = reply_error(resp, ctx, ST_UNSUPPORTED_MEDIA, NULL, "The file must be a PDF, PNG, JPEG or WebP file.",
                          NULL);
        return false;
    }
    filetype_safe_name(f->up->file_name, f->mime, f->file_name, sizeof f->file_name);
    crypto_hex(f->up->sha256, 32, f->sha_hex);
    if (ctx->claims.role == ROLE_PATIENT)
        f->shared = true; /* what a patient sends is theirs to read */
    return true;
}

/* Writes the spooled bytes of f as chunks of document doc; false (err filled) on failure. */
static bool store_chunks(PGconn *conn, const char *doc, const struct doc_form *f, struct db_error *err)
{
    char *buf = malloc(DOC_CHUNK_BYTES);
    bool ok = buf != NULL;
    if (!ok)
        err->status = ST_INTERNAL;
    uint64_t total = 0;
    for (int seq = 0; ok; seq++) {
        size_t got = 0;
        while (got < DOC_CHUNK_BYTES) {
            ssize_t r = read(f->up->fd, buf + got, DOC_CHUNK_BYTES - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                log_warning("document upload: reading the spool failed: %s", strerror(errno));
                err->status = ST_INTERNAL;
                ok = false;
            }
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        total += got;
        if (got == 0 || !ok)
            break;
        char sb[16];
        snprintf(sb, sizeof sb, "%d", seq);
        const char *p[] = {doc, sb, buf};
        const int lens[] = {0, 0, (int)got}, fmts[] = {0, 0, 1};
        PGresult *r = PQexecParams(conn, "INSERT INTO document_chunks (document_id, seq, data) VALUES ($1, $2, $3)",
                                   3, NULL, p, lens, fmts, 0);
        ok = db_ok(conn, r, err);
        PQclear(r);
    }
    free(buf);
    if (ok && total != f->up->size) {
        log_warning("document upload: the spool held %llu bytes, not %llu", (unsigned long long)total,
                    (unsigned long long)f->up->size);
        err->status = ST_INTERNAL;
        ok = false;
    }
    return ok;
}

/* Runs sql; *out is its result when it answered tuples (caller clears), else false with err. */
static bool tx_query(PGconn *conn, const char *sql, int n, const char *const *p, PGresult **out, struct db_error *err)
{
    *out = db_exec(conn, sql, n, p);
    if (db_ok(conn, *out, err))
        return true;
    PQclear(*out);
    *out = NULL;
    return false;
}

/* The patient's clinic (row locked) for the caller: NULL result rows = out of reach. */
#define PATIENT_FOR_UPLOAD                                                                                        \
    "SELECT p.clinic_id FROM patients p WHERE p.id = $1 AND ($2::bigint IS NULL OR p.clinic_id = $2) "          \
    "AND ($3::bigint IS NULL OR p.id = $3) FOR NO KEY UPDATE"

/* The upload's visit, when it names one, is a visit of patient pid (ST_INVALID otherwise). */
static bool visit_of_patient(PGconn *conn, const struct doc_form *f, const char *pid, enum status *st,
                             struct db_error *err)
{
    if (!f->visit_id)
        return true;
    PGresult *r;
    const char *p[] = {f->visit_id, pid};
    if (!tx_query(conn, "SELECT 1 FROM visits WHERE id = $1 AND patient_id = $2", 2, p, &r, err))
        return false;
    bool found = PQntuples(r) == 1;
    PQclear(r);
    if (!found)
        *st = ST_INVALID;
    return found;
}

/* Inside the transaction: the patient's checks, the duplicate, the quota; then the rows. Answers
 * through *http and *json (the document) or fills err / sets *st. */
static bool store_document(PGconn *conn, struct req_ctx *ctx, const struct doc_form *f, PGresult **doc,
                           enum status *st, struct db_error *err)
{
    char pb[24], ub[24], szb[24], qb[24], chb[24];
    struct scope_params s;
    scope_of(ctx, &s);
    const char *pid = id_text(ctx->params[0], pb);
    const char *p1[] = {pid, s.c, s.p};
    PGresult *r;
    if (!tx_query(conn, PATIENT_FOR_UPLOAD, 3, p1, &r, err))
        return false;
    char clinic[24];
    snprintf(clinic, sizeof clinic, "%s", PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    if (!clinic[0]) {
        *st = ST_NOT_FOUND;
        return false;
    }
    if (!visit_of_patient(conn, f, pid, st, err))
        return false;
    /* The same file again, among the documents this caller may see: that document (a file the caller may
     * not see is stored again, as theirs: an upload never tells what else the record holds). */
    const char *p3[] = {pid, f->sha_hex, role_name(ctx->claims.role), actor_text(ctx, ub), s.c, s.d, s.p};
    if (!tx_query(conn,
                  "SELECT document_json(d), d.id FROM documents d WHERE d.patient_id = $1 "
                  "AND d.sha256 = decode($2, 'hex') AND d.deleted_at IS NULL "
                  "AND document_access(d, $3, $4, $5, $6, $7) <> 'none' "
                  "ORDER BY d.uploaded_by = $4::bigint DESC, d.id LIMIT 1",
                  7, p3, doc, err))
        return false;
    if (PQntuples(*doc) == 1) {
        *st = ST_OK;
        return true;
    }
    PQclear(*doc);
    *doc = NULL;
    snprintf(szb, sizeof szb, "%llu", (unsigned long long)f->up->size);
    snprintf(chb, sizeof chb, "%d", DOC_CHUNK_BYTES);
    const char *p5[] = {clinic, pid, f->visit_id, f->title, f->file_name, f->mime, szb, chb, f->sha_hex,
                        f->shared ? "true" : "false", actor_text(ctx, ub), role_name(ctx->claims.role)};
    if (!tx_query(conn,
                  "INSERT INTO documents AS d (clinic_id, patient_id, visit_id, title, file_name, content_type, "
                  "  size_bytes, chunk_bytes, sha256, shared_with_patient, uploaded_by, uploaded_role) "
                  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, decode($9, 'hex'), $10, $11, $12) "
                  "RETURNING document_json(d), d.id",
                  12, p5, doc, err))
        return false;
    if (!store_chunks(conn, PQgetvalue(*doc, 0, 1), f, err))
        return false;
    /* The quota last, so the clinic's storage row is locked only from here to COMMIT, not during the
     * chunks' writing: uploads of one clinic overlap, and still cannot both pass a quota that fits one. */
    snprintf(qb, sizeof qb, "%ld", app.cfg.clinic_storage_quota_bytes);
    const char *p4[] = {clinic, szb, qb};
    if (!tx_query(conn, "SELECT clinic_storage_reserve($1, $2, $3)", 3, p4, &r, err))
        return false;
    bool fits = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    *st = fits ? ST_CREATED : ST_INSUFFICIENT_STORAGE;
    return fits;
}

/* The patient's clinic's documents past their 30 days in the bin, deleted for good before the upload
 * counts its storage (sql/0033_document_purge.sql): its own statement, so it stands whatever the
 * upload's transaction does; a failure only leaves them for the next upload. */
static void purge_expired(PGconn *conn, const struct req_ctx *ctx)
{
    char pid[24];
    const char *p[] = {id_text(ctx->params[0], pid)};
    PGresult *r = db_exec(conn, "SELECT document_purge(p.clinic_id) FROM patients p WHERE p.id = $1", 1, p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        log_warning("document purge: %s", PQerrorMessage(conn));
    PQclear(r);
}

/* The transaction of an upload; answers. */
static int upload_tx(struct _u_response *resp, struct req_ctx *ctx, PGconn *conn, const struct doc_form *f)
{
    struct db_error err = {0};
    enum status st = ST_INTERNAL;
    PGresult *doc = NULL;
    int rc;
    purge_expired(conn, ctx);
    if (!db_begin(conn, &err) || !store_document(conn, ctx, f, &doc, &st, &err))
        goto fail;
    if (st == ST_CREATED) {
        json_t *details = json_pack("{s:I,s:s,s:I}", "patient_id", (json_int_t)ctx->params[0], "content_type",
                                    f->mime, "size_bytes", (json_int_t)f->up->size);
        if (!audit_write(conn, ctx, "document_upload", "document", strtoll(PQgetvalue(doc, 0, 1), NULL, 10),
                         details, &err))
            goto fail;
    }
    if (!db_commit(conn, &err))
        goto fail;
    rc = reply_text_json(resp, ctx, st == ST_CREATED ? 201 : 200, PQgetvalue(doc, 0, 0),
                         (size_t)PQgetlength(doc, 0, 0));
    PQclear(doc);
    return rc;
fail:
    PQclear(doc);
    db_rollback(conn);
    if (err.status != ST_OK)
        return dbr_reply_error(resp, ctx, &err);
    if (st == ST_INVALID)
        return reply_invalid(resp, ctx, json_pack("{s:s}", "visit_id", "is not a visit of this patient"));
    return reply_status(resp, ctx, st);
}

HANDLER(h_documents_upload)
{
    struct doc_form f = {0};
    int rc;
    if (!http_content_type_is(req, "multipart/form-data"))
        return reply_error(resp, ctx, ST_UNSUPPORTED_MEDIA, NULL, "The request body must be multipart/form-data.",
                           NULL);
    if (!form_valid(req, resp, ctx, &f, &rc))
        return rc;
    PGconn *conn = dbr_acquire();
    if (!conn)
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    rc = upload_tx(resp, ctx, conn, &f);
    dbr_release(conn);
    return rc;
}

/* The parameters of document_access for the caller, $2..$6 after the id in $1. */
/* A reader of documents: p[0] the document (or patient) id, p[1..5] document_access's parameters,
 * p[6..8] access_params (record_access.h) for the "who saw this record" row of the read. */
struct doc_reader {
    char id[24], user[24];
    struct scope_params s;
    struct access_params a;
    const char *p[9];
};

static void doc_reader_of(const struct req_ctx *ctx, int64_t id, struct doc_reader *r)
{
    scope_of(ctx, &r->s);
    r->p[0] = id_text(id, r->id);
    r->p[1] = role_name(ctx->claims.role);
    r->p[2] = actor_text(ctx, r->user);
    r->p[3] = r->s.c;
    r->p[4] = r->s.d;
    r->p[5] = r->s.p;
    access_params(ctx, &r->a);
    r->p[6] = r->a.actor;
    r->p[7] = r->a.role;
    r->p[8] = r->a.request_id;
}

#define DOC_ACCESS "document_access(d, $2, $3, $4, $5, $6)"

HANDLER(h_documents_list)
{
    static const struct list_query lq = {
        "document_json",
        "SELECT d AS r, d.id AS k1 FROM documents d "
        "WHERE d.patient_id = $3 AND d.deleted_at IS NULL "
        "  AND document_access(d, $4, $5, $6, $7, $8) <> 'none' "
        "  AND ($1::jsonb IS NULL OR d.id < ($1::jsonb->>0)::bigint) "
        "ORDER BY d.id DESC LIMIT $2::int + 1",
        "k1 DESC", "jsonb_build_array(k1)"};
    (void)req;
    struct doc_reader r;
    doc_reader_of(ctx, ctx->params[0], &r);
    const char *p[] = {query_text(&ctx->query, "cursor"), query_text(&ctx->query, "limit"), r.p[0], r.p[1], r.p[2],
                       r.p[3], r.p[4], r.p[5], r.p[6], r.p[7], r.p[8]};
    /* the patient in reach, and then the read of their documents list written (one row per page that
     * shows any: a doctor who does not treat the patient sees an empty list and reads nothing) */
    return dbr_list_reply_guarded(resp, ctx, &lq,
                                  "EXISTS (SELECT 1 FROM patients p WHERE p.id = $3 "
                                  "AND ($6::bigint IS NULL OR p.clinic_id = $6) AND ($8::bigint IS NULL OR p.id = $8)) AND "
                                  "(NOT EXISTS (SELECT 1 FROM n) OR "
                                  RECORD_ACCESS("$3::bigint", "document_read", "document_list", "$3::bigint", "$9", "$10",
                                                "$11") ")",
                                  11, p);
}

HANDLER(h_documents_get)
{
    (void)req;
    struct doc_reader r;
    doc_reader_of(ctx, ctx->params[0], &r);
    return dbr_query_reply(resp, ctx, 200,
                           "SELECT document_json(d), "
                           RECORD_ACCESS("d.patient_id", "document_read", "document", "d.id", "$7", "$8", "$9")
                           " FROM documents d WHERE d.id = $1 AND " DOC_ACCESS " <> 'none'",
                           9, r.p);
}

HANDLER(h_documents_content)
{
    struct doc_reader r;
    doc_reader_of(ctx, ctx->params[0], &r);
    return doc_content_reply(req, resp, ctx, r.p);
}

HANDLER(h_documents_delete)
{
    (void)req;
    struct doc_reader r;
    doc_reader_of(ctx, ctx->params[0], &r);
    /* A patient removes only what they uploaded. */
    static const char *const sql[] = {
        "UPDATE documents d SET deleted_at = now(), deleted_by = $3 "
        "WHERE d.id = $1 AND d.deleted_at IS NULL AND " DOC_ACCESS " <> 'none' "
        "  AND ($6::bigint IS NULL OR d.uploaded_by = $3) "
        "RETURNING document_json(d), d.id"};
    const struct db_stmt st[] = {{sql[0], 6, r.p}};
    return dbr_write(resp, ctx, &(const struct write_desc){204, "document_delete", "document", NULL}, st, 1);
}

HANDLER(h_documents_restore)
{
    (void)req;
    char idb[24];
    const char *p[] = {id_text(ctx->params[0], idb)};
    static const char *const sql[] = {"SELECT document_json(r), r.id FROM document_restore($1) r"};
    const struct db_stmt st[] = {{sql[0], 1, p}};
    return dbr_write(resp, ctx, &(const struct write_desc){200, "document_restore", "document", NULL}, st, 1);
}
