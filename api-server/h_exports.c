/* h_exports: the payout spreadsheet (.xlsx) of monthly closings, for the admin who pays the doctors:
 * a clinic's month or one closing (workbook layout in xlsx_closings.c). It is the one read that
 * shows the doctors' PIX keys in full, so every export is written to the audit log, in the same
 * transaction as the read it reports. */
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "log.h"
#include "xlsx_closings.h"

/* A closing c of clinic k as the workbook wants it: the summary with the PIX key revealed, and its
 * lines with their time on the clinic's wall clock. */
#define EXPORT_CLOSING                                                                                           \
    "closing_json(c, false, true) || jsonb_build_object('lines', COALESCE(("                                     \
    "  SELECT jsonb_agg(closing_line_json(l) || jsonb_build_object('local_time', "                               \
    "         to_char(l.occurred_at AT TIME ZONE k.timezone, 'YYYY-MM-DD HH24:MI:SS')) ORDER BY l.occurred_at, l.id) " \
    "  FROM closing_lines l WHERE l.closing_id = c.id), '[]'::jsonb))"

/* Runs sql (one row: the workbook's JSON document, the audited entity's id, the file name; no row:
 * 404), builds the workbook, writes the audit row and answers with the file. */
static int export_reply(struct _u_response *resp, struct req_ctx *ctx, const char *sql, int n,
                        const char *const *params, const char *entity)
{
    PGconn *conn = dbr_acquire();
    if (!conn)
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    struct db_error err;
    PGresult *r = NULL;
    json_t *doc = NULL;
    char *data = NULL;
    size_t len = 0;
    int rc;
    if (!db_begin(conn, &err)) {
        rc = dbr_reply_error(resp, ctx, &err);
        goto out;
    }
    r = db_exec(conn, sql, n, params);
    if (!db_ok(conn, r, &err)) {
        db_rollback(conn);
        rc = dbr_reply_error(resp, ctx, &err);
        goto out;
    }
    if (PQntuples(r) != 1) {
        db_rollback(conn);
        rc = reply_status(resp, ctx, ST_NOT_FOUND);
        goto out;
    }
    doc = json_loadb(PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0), 0, NULL);
    if (!doc || !xlsx_closings_build(doc, &data, &len)) {
        if (!doc)
            log_error("export: the database answered a document that is not JSON");
        db_rollback(conn);
        rc = reply_status(resp, ctx, ST_INTERNAL);
        goto out;
    }
    int64_t entity_id = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    json_t *details = json_pack("{s:s?, s:I}", "month", json_string_value(json_object_get(doc, "month")),
                                "closings", (json_int_t)json_array_size(json_object_get(doc, "closings")));
    if (!audit_write(conn, ctx, "closing_export", entity, entity_id, details, &err) || !db_commit(conn, &err)) {
        db_rollback(conn);
        rc = dbr_reply_error(resp, ctx, &err);
        goto out;
    }
    rc = reply_download(resp, ctx, XLSX_CONTENT_TYPE, PQgetvalue(r, 0, 2), data, len);
out:
    free(data);
    json_decref(doc);
    PQclear(r);
    dbr_release(conn);
    return rc;
}

HANDLER(h_closings_export_month)
{
    (void)req;
    const char *p[] = {query_text(&ctx->query, "clinic_id"), query_text(&ctx->query, "month")};
    static const char sql[] =
        "SELECT jsonb_build_object("
        "  'title', format('Payout closings: %s, %s', k.name, to_char($2::date, 'YYYY-MM')), "
        "  'currency', k.currency, 'month', to_char($2::date, 'YYYY-MM'), "
        "  'closings', COALESCE((SELECT jsonb_agg(" EXPORT_CLOSING " ORDER BY u.full_name, c.id) "
        "                        FROM closings c JOIN doctors d ON d.id = c.doctor_id JOIN users u ON u.id = d.user_id "
        "                        WHERE c.clinic_id = k.id AND c.month = $2::date), '[]'::jsonb)), "
        "  k.id, format('closings-%s-%s.xlsx', k.id, to_char($2::date, 'YYYY-MM')) "
        "FROM clinics k WHERE k.id = $1";
    return export_reply(resp, ctx, sql, 2, p, "clinic");
}

HANDLER(h_closings_export_one)
{
    (void)req;
    char idb[24];
    const char *p[] = {id_text(ctx->params[0], idb)};
    static const char sql[] =
        "SELECT jsonb_build_object("
        "  'title', format('Payout closing %s: %s, %s', c.id, k.name, to_char(c.month, 'YYYY-MM')), "
        "  'currency', c.currency, 'month', to_char(c.month, 'YYYY-MM'), "
        "  'closings', jsonb_build_array(" EXPORT_CLOSING ")), "
        "  c.id, format('closing-%s.xlsx', c.id) "
        "FROM closings c JOIN clinics k ON k.id = c.clinic_id WHERE c.id = $1";
    return export_reply(resp, ctx, sql, 1, p, "closing");
}
