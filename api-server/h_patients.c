/* h_patients: patient records of a clinic. Receptionists, doctors and admins create and edit them
 * (non-admins only in their own clinic, decided from the token in SQL); a patient user reads
 * only their own record. Search covers name (trigram index), phone digits, e-mail and CPF.
 *
 * Every answer is patient_json_for(p, the token's role) and every clinical field written goes
 * through patient_clinical_value (sql/0013_projections.sql): a receptionist reads the desk
 * projection without medical_history and cannot set it (422); doctors and admins read and write
 * it, a patient reads their own. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "record_access.h"

static const char *const sexes[] = {"F", "M", "O", NULL};

static const struct field_spec patient_fields[] = {
    {"clinic_id", FT_INT, 0, 0, 0, NULL},
    {"full_name", FT_STRING, FF_REQUIRED, 1, 200, NULL},
    {"phone", FT_PHONE, FF_NULLABLE, 0, 0, NULL},
    {"email", FT_EMAIL, FF_NULLABLE, 0, 254, NULL},
    {"birth_date", FT_DATE, FF_NULLABLE | FF_PAST, 0, 0, NULL},
    {"sex", FT_ENUM, FF_NULLABLE, 0, 0, sexes},
    {"cpf", FT_CPF, FF_NULLABLE, 0, 0, NULL},
    {"medical_history", FT_STRING, FF_NULLABLE, 0, 20000, NULL},
    /* the channels of messages to the patient (sql/0021_deliveries.sql) */
    {"notify_email", FT_BOOL, 0, 0, 0, NULL},
    {"notify_sms", FT_BOOL, 0, 0, 0, NULL},
};
#define NFIELDS (sizeof patient_fields / sizeof patient_fields[0])

/* Patient $1 within clinic $2 and own record $3 (NULL: any), as a reader of role $4 sees it. The
 * read is logged when that reader sees its clinical fields (role_reads_clinical); $5..$7 are
 * access_params. */
static const char patient_get_sql[] =
    "SELECT patient_json_for(p, $4), "
    RECORD_ACCESS("p.id", "patient_record_read", "patient", "p.id", "$5",
                  "CASE WHEN role_reads_clinical($4) THEN $6 END", "$7")
    " FROM patients p WHERE p.id = $1 AND ($2::bigint IS NULL OR p.clinic_id = $2) "
    "AND ($3::bigint IS NULL OR p.id = $3)";

HANDLER(h_patients_create)
{
    (void)req;
    json_t *errors = json_object();
    validate_object(ctx->body, patient_fields, NFIELDS, false, errors);
    json_t *clinic = json_object_get(ctx->body, "clinic_id");
    int64_t clinic_id = ctx->claims.clinic_id;
    if (ctx->claims.role == ROLE_ADMIN) {
        if (!clinic)
            json_object_set_new(errors, "clinic_id", json_string("is required"));
        clinic_id = json_integer_value(clinic);
    } else if (clinic && json_integer_value(clinic) != ctx->claims.clinic_id && !json_object_get(errors, "clinic_id")) {
        json_object_set_new(errors, "clinic_id", json_string("must be your own clinic"));
    }
    if (json_object_size(errors) > 0)
        return reply_invalid(resp, ctx, errors);
    json_decref(errors);
    char cb[24];
    char *body = dbr_body_text(ctx->body);
    const char *p[] = {id_text(clinic_id, cb), body, role_name(ctx->claims.role)};
    static const char *const sql[] = {
        "INSERT INTO patients AS p (clinic_id, full_name, phone, email, birth_date, sex, cpf, medical_history, "
        "                           notify_email, notify_sms) "
        "SELECT $1, b->>'full_name', b->>'phone', b->>'email', "
        "       not_after_local_today((b->>'birth_date')::date, c.timezone, 'patients', 'birth_date'), "
        "       b->>'sex', b->>'cpf', "
        "       CASE WHEN b ? 'medical_history' THEN patient_clinical_value(b->>'medical_history', 'medical_history', $3) END, "
        "       COALESCE((b->>'notify_email')::boolean, true), COALESCE((b->>'notify_sms')::boolean, true) "
        "FROM (SELECT $2::jsonb AS b) s LEFT JOIN clinics c ON c.id = $1 "
        "RETURNING patient_json_for(p, $3), p.id"};
    const struct db_stmt st[] = {{sql[0], 3, p}};
    int rc = dbr_write(resp, ctx, &(const struct write_desc){201, "patient_create", "patient", NULL}, st, 1);
    free(body);
    return rc;
}

/* The search term for q: q itself when it has letters (a name, an e-mail), else its digits, so
 * "(11) 91234-5678" and "123.456.789-09" find phones and CPFs stored as bare digits. Writes into
 * out (size n) and returns it, or NULL when q is absent or has neither. */
const char *patient_search_term(const char *q, char *out, size_t n)
{
    if (!q)
        return NULL;
    size_t o = 0;
    for (const char *c = q; *c; c++) {
        if (isdigit((unsigned char)*c)) {
            if (o + 1 < n)
                out[o++] = *c;
        } else if (!strchr(" .-()+/", *c)) {
            return q; /* letters, '@', anything else: match the text as typed */
        }
    }
    out[o] = '\0';
    return o ? out : NULL;
}

HANDLER(h_patients_list)
{
    (void)req;
    const struct query_values *qv = &ctx->query;
    char sb[24], digits[128];
    const char *q = query_text(qv, "q");
    const char *term = patient_search_term(q, digits, sizeof digits);
    if (q && !term) { /* only separators: nothing can match */
        static const char empty[] = "{\"items\":[],\"next_cursor\":null}";
        return reply_text_json(resp, ctx, 200, empty, sizeof empty - 1);
    }
    struct access_params a;
    access_params(ctx, &a);
    const char *p[] = {query_text(qv, "cursor"), query_text(qv, "limit"), scope_clinic(ctx, sb),
                       query_text(qv, "clinic_id"), term, role_name(ctx->claims.role), a.actor, a.role,
                       a.request_id};
    /* r is the item already (json_fn ""): the patient as the reader ($6) sees them; a reader who sees
     * the clinical field reads each record of the page ($7..$9 access_params). */
    static const struct list_query lq = {
        "",
        "SELECT patient_json_for(p, $6) AS r, lower(p.full_name) AS k1, p.id AS k2, "
        RECORD_ACCESS_LISTED("role_reads_clinical($6)", "lower(p.full_name), p.id", "$7", "$8", "$9")
        " FROM patients p "
        "WHERE ($3::bigint IS NULL OR p.clinic_id = $3) AND ($4::bigint IS NULL OR p.clinic_id = $4) "
        "  AND ($1::jsonb IS NULL OR (lower(p.full_name), p.id) > ($1::jsonb->>0, ($1::jsonb->>1)::bigint)) "
        "  AND ($5::text IS NULL OR p.search_doc LIKE '%' || like_escape(lower($5)) || '%') "
        "ORDER BY lower(p.full_name), p.id LIMIT $2::int + 1",
        "k1, k2", "jsonb_build_array(k1, k2)"};
    return dbr_list_reply(resp, ctx, &lq, 9, p);
}

HANDLER(h_patients_me)
{
    (void)req;
    char idb[24];
    struct access_params a;
    access_params(ctx, &a);
    const char *own = id_text(ctx->claims.patient_id, idb);
    const char *p[] = {own, NULL, own, role_name(ctx->claims.role), a.actor, a.role, a.request_id};
    return dbr_query_reply(resp, ctx, 200, patient_get_sql, 7, p);
}

HANDLER(h_patients_get)
{
    (void)req;
    char idb[24], sb[24], ob[24];
    /* A patient user sees only their own record; staff only their clinic's (admins all). */
    const char *own = ctx->claims.role == ROLE_PATIENT ? id_text(ctx->claims.patient_id, ob) : NULL;
    struct access_params a;
    access_params(ctx, &a);
    const char *p[] = {id_text(ctx->params[0], idb), scope_clinic(ctx, sb), own, role_name(ctx->claims.role),
                       a.actor, a.role, a.request_id};
    return dbr_query_reply(resp, ctx, 200, patient_get_sql, 7, p);
}

HANDLER(h_patients_update)
{
    (void)req;
    int rc;
    /* clinic_id is not updatable: a patient does not move between clinics. */
    if (!body_valid(resp, ctx, patient_fields + 1, NFIELDS - 1, true, &rc))
        return rc;
    char idb[24], sb[24];
    char *body = dbr_body_text(ctx->body);
    const char *p[] = {id_text(ctx->params[0], idb), body, scope_clinic(ctx, sb), role_name(ctx->claims.role)};
    static const char *const sql[] = {
        "UPDATE patients p SET "
        "  full_name = COALESCE(b->>'full_name', p.full_name), "
        "  phone = CASE WHEN b ? 'phone' THEN b->>'phone' ELSE p.phone END, "
        "  email = CASE WHEN b ? 'email' THEN b->>'email' ELSE p.email END, "
        "  birth_date = CASE WHEN b ? 'birth_date' THEN not_after_local_today((b->>'birth_date')::date, "
        "    (SELECT c.timezone FROM clinics c WHERE c.id = p.clinic_id), 'patients', 'birth_date') ELSE p.birth_date END, "
        "  sex = CASE WHEN b ? 'sex' THEN b->>'sex' ELSE p.sex END, "
        "  cpf = CASE WHEN b ? 'cpf' THEN b->>'cpf' ELSE p.cpf END, "
        "  medical_history = CASE WHEN b ? 'medical_history' "
        "    THEN patient_clinical_value(b->>'medical_history', 'medical_history', $4) ELSE p.medical_history END, "
        "  notify_email = COALESCE((b->>'notify_email')::boolean, p.notify_email), "
        "  notify_sms = COALESCE((b->>'notify_sms')::boolean, p.notify_sms) "
        "FROM (SELECT $2::jsonb AS b) s WHERE p.id = $1 AND ($3::bigint IS NULL OR p.clinic_id = $3) "
        "RETURNING patient_json_for(p, $4), p.id"};
    const struct db_stmt st[] = {{sql[0], 4, p}};
    const struct write_desc w = {200, "patient_update", "patient", dbr_changed_fields(ctx->body)};
    rc = dbr_write(resp, ctx, &w, st, 1);
    free(body);
    return rc;
}
