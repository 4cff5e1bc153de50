/* h_payments: fee rules and payments (docs/ARCHITECTURE.md §2 money, §6 payment states; sql/0009_payments.sql).
 *
 * Fee rules are the admin's: a clinic-wide rule, per service, per doctor, or per service and doctor
 * (the most specific applies), each a doctor's share in basis points and optionally a price that
 * overrides the service's. Payments are created by the database when a consultation is completed;
 * the desk (receptionists of the clinic, admins) records their settlement and refunds, both
 * honouring Idempotency-Key. Reading: admins all, receptionists their clinic's, a doctor their own
 * money only (another doctor's is 404, naming another doctor in a filter 403). */
#include <stdlib.h>
#include <string.h>

#include "handlers.h"

const char *const payment_methods[] = {"cash", "card", "pix", "insurance", "other", NULL};

/* --- fee rules -------------------------------------------------------------------------------------------------- */

static const struct field_spec fee_rule_fields[] = {
    {"clinic_id", FT_INT, FF_NULLABLE, 0, 0, NULL},
    {"service_id", FT_INT, FF_NULLABLE, 0, 0, NULL},
    {"doctor_id", FT_INT, FF_NULLABLE, 0, 0, NULL},
    {"doctor_share_bps", FT_INT, FF_REQUIRED, 0, 10000, NULL},
    {"price_cents", FT_INT, FF_NULLABLE, 0, 100000000, NULL},
};

HANDLER(h_fee_rules_list)
{
    static const struct list_query lq = {
        "fee_rule_json",
        "SELECT f AS r, f.id AS k1 FROM fee_rules f "
        "WHERE ($1::jsonb IS NULL OR f.id > ($1::jsonb->>0)::bigint) AND ($3::bigint IS NULL OR f.clinic_id = $3) "
        "  AND ($4::bigint IS NULL OR f.clinic_id = $4) AND ($5::bigint IS NULL OR f.service_id = $5) "
        "  AND ($6::bigint IS NULL OR f.doctor_id = $6) "
        "ORDER BY f.id LIMIT $2::int + 1",
        "k1", "jsonb_build_array(k1)"};
    (void)req;
    const struct query_values *q = &ctx->query;
    char sb[24];
    const char *p[] = {query_text(q, "cursor"), query_text(q, "limit"), scope_clinic(ctx, sb),
                       query_text(q, "clinic_id"), query_text(q, "service_id"), query_text(q, "doctor_id")};
    return dbr_list_reply(resp, ctx, &lq, 6, p);
}

HANDLER(h_fee_rules_put)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, fee_rule_fields, sizeof fee_rule_fields / sizeof fee_rule_fields[0], false, &rc))
        return rc;
    char *body = dbr_body_text(ctx->body);
    char actor[24];
    const char *p[] = {body, actor_text(ctx, actor)};
    /* The clinic is the service's or the doctor's when the rule names one (a clinic_id that differs
     * is refused by the composite keys), else the one given. */
    static const char *const sql[] = {
        "INSERT INTO fee_rules AS f (clinic_id, service_id, doctor_id, doctor_share_bps, price_cents, created_by, updated_by) "
        "SELECT c.clinic, (b->>'service_id')::bigint, (b->>'doctor_id')::bigint, (b->>'doctor_share_bps')::int, "
        "       (b->>'price_cents')::bigint, $2, $2 "
        "FROM (SELECT $1::jsonb AS b) x CROSS JOIN LATERAL ("
        "  SELECT COALESCE((b->>'clinic_id')::bigint, "
        "                  (SELECT s.clinic_id FROM services s WHERE s.id = (b->>'service_id')::bigint), "
        "                  (SELECT d.clinic_id FROM doctors d WHERE d.id = (b->>'doctor_id')::bigint)) AS clinic) c "
        "WHERE assert_field(b->>'service_id' IS NULL OR EXISTS (SELECT 1 FROM services s WHERE s.id = (b->>'service_id')::bigint), "
        "                   'fee_rules', 'service_id', 'does not exist') "
        "  AND assert_field(b->>'doctor_id' IS NULL OR EXISTS (SELECT 1 FROM doctors d WHERE d.id = (b->>'doctor_id')::bigint), "
        "                   'fee_rules', 'doctor_id', 'does not exist') "
        "  AND assert_field(c.clinic IS NOT NULL AND EXISTS (SELECT 1 FROM clinics k WHERE k.id = c.clinic), "
        "                   'fee_rules', 'clinic_id', 'is required (an existing clinic) when the rule names no service or doctor') "
        "ON CONFLICT ON CONSTRAINT fee_rules_scope_key DO UPDATE "
        "  SET doctor_share_bps = EXCLUDED.doctor_share_bps, price_cents = EXCLUDED.price_cents, updated_by = EXCLUDED.updated_by "
        "RETURNING fee_rule_json(f), f.id, f.xmax = 0 AS created"};
    const struct db_stmt st[] = {{sql[0], 2, p}};
    const struct write_desc w = {200, "fee_rule_set", "fee_rule", json_incref(ctx->body)};
    rc = dbr_write(resp, ctx, &w, st, 1);
    free(body);
    return rc;
}

HANDLER(h_fee_rules_delete)
{
    (void)req;
    char idb[24];
    const char *p[] = {id_text(ctx->params[0], idb)};
    const struct db_stmt st = {"DELETE FROM fee_rules f WHERE f.id = $1 RETURNING fee_rule_json(f), f.id", 1, p};
    return dbr_write(resp, ctx, &(const struct write_desc){204, "fee_rule_delete", "fee_rule", NULL}, &st, 1);
}

/* --- payments --------------------------------------------------------------------------------------------------- */

HANDLER(h_payments_list)
{
    static const struct list_query lq = {
        "payment_json",
        "SELECT p AS r, p.created_at AS k1, p.id AS k2 FROM payments p "
        "WHERE ($1::jsonb IS NULL OR (p.created_at, p.id) > (($1::jsonb->>0)::timestamptz, ($1::jsonb->>1)::bigint)) "
        "  AND ($3::bigint IS NULL OR p.clinic_id = $3) AND ($4::bigint IS NULL OR p.doctor_id = $4) "
        "  AND ($5::bigint IS NULL OR p.visit_id = $5) AND ($6::bigint IS NULL OR p.doctor_id = $6) "
        "  AND ($7::text IS NULL OR p.status = $7) AND ($8::bigint IS NULL OR p.clinic_id = $8) "
        "ORDER BY p.created_at, p.id LIMIT $2::int + 1",
        "k1, k2", "jsonb_build_array(rfc3339_exact(k1), k2)"};
    (void)req;
    const struct query_values *q = &ctx->query;
    int64_t doctor = query_num(q, "doctor_id");
    if (ctx->claims.role == ROLE_DOCTOR && doctor && doctor != ctx->claims.doctor_id)
        return reply_error(resp, ctx, ST_FORBIDDEN, NULL, "A doctor sees only their own payments.", NULL);
    struct scope_params s;
    scope_of(ctx, &s);
    const char *p[] = {query_text(q, "cursor"), query_text(q, "limit"), s.c, s.d, query_text(q, "visit_id"),
                       query_text(q, "doctor_id"), query_text(q, "status"), query_text(q, "clinic_id")};
    return dbr_list_reply(resp, ctx, &lq, 8, p);
}

HANDLER(h_payments_get)
{
    (void)req;
    char idb[24];
    struct scope_params s;
    scope_of(ctx, &s);
    const char *p[] = {id_text(ctx->params[0], idb), s.c, s.d};
    return dbr_query_reply(resp, ctx, 200,
                           "SELECT payment_json(p) FROM payments p WHERE p.id = $1 "
                           "AND ($2::bigint IS NULL OR p.clinic_id = $2) AND ($3::bigint IS NULL OR p.doctor_id = $3)",
                           3, p);
}

static const struct field_spec pay_fields[] = {
    {"method", FT_ENUM, FF_REQUIRED, 0, 0, payment_methods},
};

HANDLER(h_payments_pay)
{
    int rc;
    if (!body_valid(resp, ctx, pay_fields, 1, false, &rc))
        return rc;
    const char *method = json_string_value(json_object_get(ctx->body, "method"));
    char idb[24], sb[24], actor[24];
    const char *p[] = {id_text(ctx->params[0], idb), scope_clinic(ctx, sb), method, actor_text(ctx, actor)};
    const struct db_stmt st = {"SELECT payment_json(p), p.id FROM payment_pay($1, $2, $3, $4) p", 4, p};
    const struct write_desc w = {200, "payment_pay", "payment", json_pack("{s:s}", "method", method)};
    return dbr_write_once(resp, ctx, req, &w, &st, 1);
}

static const struct field_spec refund_fields[] = {
    {"amount_cents", FT_INT, FF_REQUIRED, 1, 100000000, NULL},
    {"reason", FT_STRING, FF_REQUIRED, 1, 500, NULL},
};

HANDLER(h_payments_refund)
{
    int rc;
    if (!body_valid(resp, ctx, refund_fields, 2, false, &rc))
        return rc;
    json_int_t amount = json_integer_value(json_object_get(ctx->body, "amount_cents"));
    char idb[24], sb[24], ab[24], actor[24];
    const char *p[] = {id_text(ctx->params[0], idb), scope_clinic(ctx, sb), id_text(amount, ab),
                       json_string_value(json_object_get(ctx->body, "reason")), actor_text(ctx, actor)};
    /* Read back in a second statement: the first one's snapshot does not show the new refund. */
    static const char *const sql[] = {
        "SELECT payment_refund($1, $2, $3, $4, $5)",
        "SELECT payment_json(p), p.id FROM payments p WHERE p.id = $1 AND ($2::bigint IS NULL OR p.clinic_id = $2)"};
    const struct db_stmt st[] = {{sql[0], 5, p}, {sql[1], 2, p}};
    const struct write_desc w = {200, "payment_refund", "payment", json_pack("{s:I}", "amount_cents", amount)};
    return dbr_write_once(resp, ctx, req, &w, st, 2);
}

/* --- earnings --------------------------------------------------------------------------------------------------- */

/* The earnings of doctor (text) as a CSV download, filtered as the JSON answer is. */
static int earnings_csv(struct _u_response *resp, struct req_ctx *ctx, const char *doctor)
{
    const struct query_values *q = &ctx->query;
    const char *from = query_text(q, "start_date"), *to = query_text(q, "end_date");
    PGconn *conn = dbr_acquire();
    if (!conn)
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    const char *p[] = {doctor, from, to, query_text(q, "status"), query_text(q, "method")};
    PGresult *r = db_exec(conn,
                          "SELECT doctor_earnings_csv($1, $2::date, $3::date, $4, $5) "
                          "WHERE EXISTS (SELECT 1 FROM doctors WHERE id = $1)",
                          5, p);
    struct db_error err;
    int rc;
    if (!db_ok(conn, r, &err))
        rc = dbr_reply_error(resp, ctx, &err);
    else if (PQntuples(r) == 0)
        rc = reply_status(resp, ctx, ST_NOT_FOUND);
    else {
        char name[96];
        snprintf(name, sizeof name, "earnings-doctor-%s%s%s%s%s.csv", doctor, from ? "-from-" : "", from ? from : "",
                 to ? "-to-" : "", to ? to : "");
        rc = reply_download(resp, ctx, "text/csv; charset=utf-8", name, PQgetvalue(r, 0, 0),
                            (size_t)PQgetlength(r, 0, 0));
    }
    PQclear(r);
    dbr_release(conn);
    return rc;
}

HANDLER(h_doctors_earnings)
{
    (void)req;
    const struct query_values *q = &ctx->query;
    int64_t doctor = query_num(q, "doctor_id");
    char db[24];
    if (query_text(q, "start_date") && query_text(q, "end_date") && query_num(q, "end_date") < query_num(q, "start_date"))
        return reply_invalid_query(resp, ctx, json_pack("{s:s}", "end_date", "must not be before start_date"));
    if (ctx->claims.role == ROLE_ADMIN && !doctor)
        return reply_invalid_query(resp, ctx, json_pack("{s:s}", "doctor_id", "is required"));
    if (ctx->claims.role == ROLE_DOCTOR) {
        if (doctor && doctor != ctx->claims.doctor_id)
            return reply_error(resp, ctx, ST_FORBIDDEN, NULL, "A doctor sees only their own earnings.", NULL);
        doctor = ctx->claims.doctor_id;
    }
    id_text(doctor, db);
    const char *format = query_text(q, "format");
    if (format && strcmp(format, "csv") == 0)
        return earnings_csv(resp, ctx, db);
    const char *p[] = {db, query_text(q, "start_date"), query_text(q, "end_date"), query_text(q, "status"),
                       query_text(q, "method"), query_text(q, "group_by"), query_text(q, "cursor"),
                       query_text(q, "limit")};
    return dbr_query_reply(resp, ctx, 200,
                           "SELECT doctor_earnings($1, $2::date, $3::date, $4, $5, $6, $7::jsonb, $8::int) "
                           "FROM doctors d WHERE d.id = $1",
                           8, p);
}

HANDLER(h_dashboard_admin_revenue)
{
    (void)req;
    const struct query_values *q = &ctx->query;
    long long days = query_num(q, "to") - query_num(q, "from");
    if (days < 0)
        return reply_invalid_query(resp, ctx, json_pack("{s:s}", "to", "must not be before from"));
    if (days > 366)
        return reply_invalid_query(resp, ctx, json_pack("{s:s}", "to", "must be at most 366 days after from"));
    const char *group = query_text(q, "group_by");
    const char *p[] = {query_text(q, "from"), query_text(q, "to"), group ? group : "day", query_text(q, "clinic_id")};
    return dbr_query_reply(resp, ctx, 200,
                           "SELECT admin_revenue($1::date, $2::date, $3, $4) "
                           "WHERE $4::bigint IS NULL OR EXISTS (SELECT 1 FROM clinics WHERE id = $4)",
                           4, p);
}
