/* h_audit: reading the append-only audit log (admins), newest first, with filters; and "who saw
 * this record" (?patient_id=): the audit rows about a patient record together with every access to
 * the patient's clinical data and video sessions (record_access, sql/0029_record_access.sql), for
 * admins and for the patient about themselves (another patient's is a 404). Both sources take ids
 * from one sequence, so the one cursor (the last id) pages through them together. */
#include <string.h>

#include "handlers.h"

/* Who saw patient $7 (and who changed the record), as audit entries with their request ids. */
static int patient_trail(struct _u_response *resp, struct req_ctx *ctx, const char *const *p)
{
    static const struct list_query lq = {
        "",
        "SELECT u.r, u.k1 FROM ("
        "  SELECT audit_json(a) || jsonb_build_object('request_id', a.request_id) AS r, a.id AS k1, a.action, "
        "         a.entity, a.entity_id, a.actor_user_id FROM audit_log a "
        "  WHERE a.entity = 'patient' AND a.entity_id = $7 "
        "  UNION ALL "
        "  SELECT record_access_json(x), x.id, x.action, x.entity, x.entity_id, x.actor_user_id "
        "  FROM record_access x WHERE x.patient_id = $7) u "
        "WHERE ($1::jsonb IS NULL OR u.k1 < ($1::jsonb->>0)::bigint) AND ($3::text IS NULL OR u.action = $3) "
        "  AND ($4::text IS NULL OR u.entity = $4) AND ($5::bigint IS NULL OR u.entity_id = $5) "
        "  AND ($6::bigint IS NULL OR u.actor_user_id = $6) "
        "ORDER BY u.k1 DESC LIMIT $2::int + 1",
        "k1 DESC", "jsonb_build_array(k1)"};
    return dbr_list_reply(resp, ctx, &lq, 7, p);
}

HANDLER(h_audit_list)
{
    (void)req;
    const struct query_values *q = &ctx->query;
    const char *patient = query_text(q, "patient_id");
    char own[24];
    if (ctx->claims.role == ROLE_PATIENT) {
        /* A patient reads their own trail only; naming another patient finds nothing to see. */
        id_text(ctx->claims.patient_id, own);
        if (patient && strcmp(patient, own) != 0)
            return reply_status(resp, ctx, ST_NOT_FOUND);
        patient = own;
    }
    const char *p[] = {query_text(q, "cursor"), query_text(q, "limit"), query_text(q, "action"),
                       query_text(q, "entity"), query_text(q, "entity_id"), query_text(q, "actor_user_id"), patient};
    if (patient)
        return patient_trail(resp, ctx, p);
    static const struct list_query lq = {
        "audit_json",
        "SELECT a AS r, a.id AS k1 FROM audit_log a "
        "WHERE ($1::jsonb IS NULL OR a.id < ($1::jsonb->>0)::bigint) AND ($3::text IS NULL OR a.action = $3) "
        "  AND ($4::text IS NULL OR a.entity = $4) AND ($5::bigint IS NULL OR a.entity_id = $5) "
        "  AND ($6::bigint IS NULL OR a.actor_user_id = $6) "
        "ORDER BY a.id DESC LIMIT $2::int + 1",
        "k1 DESC", "jsonb_build_array(k1)"};
    return dbr_list_reply(resp, ctx, &lq, 6, p);
}
