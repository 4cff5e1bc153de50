/* h_patient_self: a patient's own history (GET /patients/me/history): their visits, newest first
 * and paged, each with its evolution only once signed and its payment as the patient sees it
 * (patient_visit_json, sql/0029_record_access.sql); their upcoming appointments; and the newest 100
 * documents they may read (document_access, sql/0028_files.sql: shared with them or their own uploads).
 * The read is a read of clinical data, so it is logged (record_access.h) in the same statement. */
#include "handlers.h"
#include "record_access.h"

/* $1 cursor, $2 limit, $3 the patient, $4..$6 access_params. */
static const char history_sql[] =
    "WITH page AS (SELECT v, v.check_in_time AS k1, v.id AS k2 FROM visits v WHERE v.patient_id = $3 "
    "  AND ($1::jsonb IS NULL OR (v.check_in_time, v.id) < (($1::jsonb->>0)::timestamptz, ($1::jsonb->>1)::bigint)) "
    "  ORDER BY v.check_in_time DESC, v.id DESC LIMIT $2::int + 1), "
    "n AS (SELECT *, row_number() OVER (ORDER BY k1 DESC, k2 DESC) AS rn FROM page) "
    "SELECT jsonb_build_object("
    "  'items', COALESCE((SELECT jsonb_agg(patient_visit_json(n.v) ORDER BY n.rn) FROM n WHERE n.rn <= $2::int), "
    "                    '[]'::jsonb), "
    "  'next_cursor', (SELECT cursor_encode(jsonb_build_array(rfc3339_exact(n.k1), n.k2)) FROM n "
    "                  WHERE n.rn = $2::int AND EXISTS (SELECT 1 FROM n m WHERE m.rn > $2::int)), "
    "  'upcoming_appointments', COALESCE((SELECT jsonb_agg(appointment_json(a) ORDER BY lower(a.period), a.id) "
    "     FROM (SELECT * FROM appointments a WHERE a.patient_id = $3 AND a.status IN ('requested', 'confirmed') "
    "           AND lower(a.period) > now() ORDER BY lower(a.period), a.id LIMIT $2::int) a), '[]'::jsonb), "
    "  'documents', COALESCE((SELECT jsonb_agg(document_json(d) ORDER BY d.id DESC) FROM (SELECT * FROM documents d "
    "     WHERE d.patient_id = $3 AND document_access(d, 'PATIENT', $4::bigint, NULL, NULL, $3::bigint) = 'full' "
    "     ORDER BY d.id DESC LIMIT 100) d), '[]'::jsonb)), "
    RECORD_ACCESS("$3::bigint", "patient_history_read", "patient", "$3::bigint", "$4", "$5", "$6");

HANDLER(h_patients_me_history)
{
    (void)req;
    char pb[24];
    struct access_params a;
    access_params(ctx, &a);
    const char *p[] = {query_text(&ctx->query, "cursor"), query_text(&ctx->query, "limit"),
                       id_text(ctx->claims.patient_id, pb), a.actor, a.role, a.request_id};
    return dbr_query_reply(resp, ctx, 200, history_sql, 6, p);
}
