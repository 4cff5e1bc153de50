/* h_dashboard: the doctor portal's and the desk's read models: a patient's history with one
 * doctor, the doctor's day at a glance, upcoming appointments and own patients, and the clinic's
 * day for the reception. Each is one query; ownership comes from the token (a doctor reads only
 * their own data, a receptionist only their clinic). */
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "record_access.h"

HANDLER(h_patient_history)
{
    static const struct list_query lq = {
        "history_item_json",
        "SELECT v AS r, v.check_in_time AS k1, v.id AS k2 FROM visits v "
        "WHERE v.patient_id = $3 AND v.doctor_id = $4 AND ($5::bigint IS NULL OR v.clinic_id = $5) "
        "  AND ($1::jsonb IS NULL OR (v.check_in_time, v.id) < (($1::jsonb->>0)::timestamptz, ($1::jsonb->>1)::bigint)) "
        "ORDER BY v.check_in_time DESC, v.id DESC LIMIT $2::int + 1",
        "k1 DESC, k2 DESC", "jsonb_build_array(rfc3339_exact(k1), k2)"};
    if (ctx->claims.role == ROLE_DOCTOR && ctx->params[1] != ctx->claims.doctor_id)
        return reply_error(resp, ctx, ST_FORBIDDEN, NULL, "Doctors read the history of their own visits only.", NULL);
    (void)req;
    char pb[24], db[24], sb[24];
    struct access_params a;
    access_params(ctx, &a);
    const char *p[] = {query_text(&ctx->query, "cursor"), query_text(&ctx->query, "limit"),
                       id_text(ctx->params[0], pb), id_text(ctx->params[1], db), scope_clinic(ctx, sb),
                       a.actor, a.role, a.request_id};
    /* The read is logged once the guard lets it through (CASE keeps that order). */
    return dbr_list_reply_guarded(
        resp, ctx, &lq,
        "CASE WHEN EXISTS (SELECT 1 FROM patients p WHERE p.id = $3 AND ($5::bigint IS NULL OR p.clinic_id = $5)) "
        "AND EXISTS (SELECT 1 FROM doctors d WHERE d.id = $4 AND ($5::bigint IS NULL OR d.clinic_id = $5)) "
        "THEN record_access_write($3, 'visit_history_read', 'patient', $3, $6::bigint, $7::text, $8::text, "
        "                         jsonb_build_object('doctor_id', $4::bigint)) ELSE false END",
        8, p);
}

HANDLER(h_dashboard_doctor_stats)
{
    (void)req;
    char db[24];
    const char *p[] = {id_text(ctx->claims.doctor_id, db)};
    return dbr_query_reply(
        resp, ctx, 200,
        "WITH d AS (SELECT d.id, clinic_day(d.clinic_id, now()) AS today FROM doctors d WHERE d.id = $1), "
        "v AS (SELECT v.status FROM visits v, d WHERE v.doctor_id = d.id AND v.queue_date = d.today), "
        "m AS (SELECT ceil(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM h.end_time - h.start_time)) "
        "                  / 60)::integer AS median "
        "      FROM (SELECT h.start_time, h.end_time FROM visits h WHERE h.doctor_id = $1 AND h.status = 'completed' "
        "            ORDER BY h.end_time DESC LIMIT 20) h) "
        "SELECT jsonb_build_object('date', to_char(d.today, 'YYYY-MM-DD'), 'doctor_id', d.id, "
        "  'today', jsonb_build_object("
        "    'visits', (SELECT count(*) FROM v), "
        "    'waiting', (SELECT count(*) FROM v WHERE v.status = 'waiting'), "
        "    'called', (SELECT count(*) FROM v WHERE v.status = 'called'), "
        "    'active_consultations', (SELECT count(*) FROM v WHERE v.status = 'in_progress'), "
        "    'completed', (SELECT count(*) FROM v WHERE v.status = 'completed'), "
        "    'left', (SELECT count(*) FROM v WHERE v.status = 'left')), "
        "  'appointments_today', (SELECT count(*) FROM appointments a JOIN clinics c ON c.id = a.clinic_id "
        "                         WHERE a.doctor_id = d.id AND (lower(a.period) AT TIME ZONE c.timezone)::date = d.today "
        "                           AND a.status NOT IN ('cancelled')), "
        "  'upcoming_appointments_7d', (SELECT count(*) FROM appointments a WHERE a.doctor_id = d.id "
        "                               AND a.status IN ('requested', 'confirmed') "
        "                               AND lower(a.period) >= now() AND lower(a.period) < now() + interval '7 days'), "
        "  'median_consultation_minutes', (SELECT m.median FROM m), "
        "  'revenue_today', (SELECT jsonb_build_object('currency', (SELECT c.currency FROM clinics c JOIN doctors x "
        "                                                          ON x.clinic_id = c.id WHERE x.id = d.id)) "
        "                           || earnings_totals(COALESCE(jsonb_agg(to_jsonb(e)), '[]')) "
        "                    FROM earnings_rows(d.id, d.today, d.today, NULL, NULL) e)) "
        "FROM d",
        1, p);
}

HANDLER(h_dashboard_doctor_appointments)
{
    static const struct list_query lq = {
        "doctor_appointment_item_json",
        "SELECT a AS r, lower(a.period) AS k1, a.id AS k2 FROM appointments a JOIN clinics c ON c.id = a.clinic_id "
        "WHERE a.doctor_id = $3 "
        "  AND ($1::jsonb IS NULL OR (lower(a.period), a.id) > (($1::jsonb->>0)::timestamptz, ($1::jsonb->>1)::bigint)) "
        "  AND CASE WHEN $4::text IS NULL THEN a.status IN ('confirmed', 'checked_in') ELSE a.status = $4 END "
        "  AND lower(a.period) >= COALESCE($5::date, clinic_day(c.id, now()))::timestamp AT TIME ZONE c.timezone "
        "  AND ($6::date IS NULL OR lower(a.period) < ($6::date + 1)::timestamp AT TIME ZONE c.timezone) "
        "ORDER BY lower(a.period), a.id LIMIT $2::int + 1",
        "k1, k2", "jsonb_build_array(rfc3339_exact(k1), k2)"};
    (void)req;
    const struct query_values *q = &ctx->query;
    char db[24];
    const char *p[] = {query_text(q, "cursor"), query_text(q, "limit"), id_text(ctx->claims.doctor_id, db),
                       query_text(q, "status"), query_text(q, "from"), query_text(q, "to")};
    return dbr_list_reply(resp, ctx, &lq, 6, p);
}

HANDLER(h_doctor_patients)
{
    /* r is the item already (json_fn ""): the patient with the doctor's counts. */
    static const struct list_query lq = {
        "",
        "SELECT jsonb_build_object('patient', patient_json(p), "
        "         'visit_count', (SELECT count(*) FROM visits v WHERE v.patient_id = p.id AND v.doctor_id = $3), "
        "         'last_visit_at', (SELECT rfc3339(max(v.check_in_time)) FROM visits v "
        "                           WHERE v.patient_id = p.id AND v.doctor_id = $3), "
        "         'next_appointment_at', (SELECT rfc3339(min(lower(a.period))) FROM appointments a "
        "                                 WHERE a.patient_id = p.id AND a.doctor_id = $3 "
        "                                   AND a.status IN ('requested', 'confirmed') AND lower(a.period) > now())) AS r, "
        "       lower(p.full_name) AS k1, p.id AS k2, "
        /* the doctor reads each record of the page, clinical field included ($6..$8 access_params) */
        RECORD_ACCESS_LISTED("true", "lower(p.full_name), p.id", "$6", "$7", "$8")
        " FROM patients p "
        "WHERE p.clinic_id = $4 "
        "  AND (EXISTS (SELECT 1 FROM visits v WHERE v.patient_id = p.id AND v.doctor_id = $3) "
        "       OR EXISTS (SELECT 1 FROM appointments a WHERE a.patient_id = p.id AND a.doctor_id = $3)) "
        "  AND ($1::jsonb IS NULL OR (lower(p.full_name), p.id) > ($1::jsonb->>0, ($1::jsonb->>1)::bigint)) "
        "  AND ($5::text IS NULL OR p.search_doc LIKE '%' || like_escape(lower($5)) || '%') "
        "ORDER BY lower(p.full_name), p.id LIMIT $2::int + 1",
        "k1, k2", "jsonb_build_array(k1, k2)"};
    (void)req;
    char db[24], cb[24], digits[128];
    const char *q = query_text(&ctx->query, "q");
    const char *term = patient_search_term(q, digits, sizeof digits);
    if (q && !term) {
        static const char empty[] = "{\"items\":[],\"next_cursor\":null}";
        return reply_text_json(resp, ctx, 200, empty, sizeof empty - 1);
    }
    struct access_params a;
    access_params(ctx, &a);
    const char *p[] = {query_text(&ctx->query, "cursor"), query_text(&ctx->query, "limit"),
                       id_text(ctx->claims.doctor_id, db), id_text(ctx->claims.clinic_id, cb), term,
                       a.actor, a.role, a.request_id};
    return dbr_list_reply(resp, ctx, &lq, 8, p);
}

HANDLER(h_dashboard_reception_stats)
{
    (void)req;
    int64_t clinic;
    const char *date;
    int rc;
    if (!clinic_day_query(resp, ctx, &clinic, &date, &rc))
        return rc;
    char cb[24];
    const char *p[] = {id_text(clinic, cb), date};
    return dbr_query_reply(
        resp, ctx, 200,
        "WITH c AS (SELECT c.id, c.timezone, COALESCE($2::date, clinic_day(c.id, now())) AS day "
        "           FROM clinics c WHERE c.id = $1), "
        "a AS (SELECT a.status FROM appointments a, c WHERE a.clinic_id = c.id "
        "      AND lower(a.period) >= c.day::timestamp AT TIME ZONE c.timezone "
        "      AND lower(a.period) < (c.day + 1)::timestamp AT TIME ZONE c.timezone), "
        "v AS (SELECT v.* FROM visits v, c WHERE v.clinic_id = c.id AND v.queue_date = c.day) "
        "SELECT jsonb_build_object('clinic_id', c.id, 'date', to_char(c.day, 'YYYY-MM-DD'), "
        "  'appointments', jsonb_build_object('total', (SELECT count(*) FROM a), "
        "    'requested', (SELECT count(*) FROM a WHERE a.status = 'requested'), "
        "    'confirmed', (SELECT count(*) FROM a WHERE a.status = 'confirmed'), "
        "    'checked_in', (SELECT count(*) FROM a WHERE a.status = 'checked_in'), "
        "    'completed', (SELECT count(*) FROM a WHERE a.status = 'completed'), "
        "    'cancelled', (SELECT count(*) FROM a WHERE a.status = 'cancelled'), "
        "    'no_show', (SELECT count(*) FROM a WHERE a.status = 'no_show')), "
        "  'visits', jsonb_build_object('total', (SELECT count(*) FROM v), "
        "    'waiting', (SELECT count(*) FROM v WHERE v.status = 'waiting'), "
        "    'called', (SELECT count(*) FROM v WHERE v.status = 'called'), "
        "    'in_progress', (SELECT count(*) FROM v WHERE v.status = 'in_progress'), "
        "    'completed', (SELECT count(*) FROM v WHERE v.status = 'completed'), "
        "    'left', (SELECT count(*) FROM v WHERE v.status = 'left'), "
        "    'walk_ins', (SELECT count(*) FROM v WHERE v.appointment_id IS NULL)), "
        "  'average_wait_minutes', (SELECT round(avg(extract(epoch FROM v.start_time - v.check_in_time)) / 60)::integer "
        "                           FROM v WHERE v.start_time IS NOT NULL), "
        "  'doctors', COALESCE((SELECT jsonb_agg(jsonb_build_object('doctor_id', d.id, 'full_name', u.full_name, "
        "      'waiting', (SELECT count(*) FROM v WHERE v.doctor_id = d.id AND v.status IN ('waiting', 'called')), "
        "      'in_progress', (SELECT count(*) FROM v WHERE v.doctor_id = d.id AND v.status = 'in_progress'), "
        "      'completed', (SELECT count(*) FROM v WHERE v.doctor_id = d.id AND v.status = 'completed'), "
        "      'online', EXISTS (SELECT 1 FROM presence pr WHERE pr.user_id = d.user_id)) ORDER BY u.full_name, d.id) "
        "    FROM doctors d JOIN users u ON u.id = d.user_id WHERE d.clinic_id = c.id AND u.active), '[]'::jsonb)) "
        "FROM c",
        2, p);
}
