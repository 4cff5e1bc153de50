/* h_evolutions: the clinical record of a visit (notes, ICD-10 diagnoses, prescriptions), written
 * by the visit's doctor during or after the consultation, editable until signed, then frozen by
 * the database (triggers refuse any change) and completed only by append-only addenda. */
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "record_access.h"

static const char *const routes_of_administration[] = {
    "oral",         "sublingual",   "topical",       "inhaled",     "nasal", "ophthalmic", "otic", "rectal",
    "vaginal",      "transdermal",  "subcutaneous",  "intramuscular", "intravenous", "other", NULL};

static const struct field_spec evolution_fields[] = {
    {"notes", FT_STRING, 0, 0, 20000, NULL},
    {"diagnoses", FT_ARRAY, 0, 0, 50, NULL},
    {"prescriptions", FT_ARRAY, 0, 0, 50, NULL},
};

static const struct field_spec diagnosis_fields[] = {
    {"code", FT_ICD10, FF_REQUIRED, 0, 0, NULL}, /* accepted in lower case; the database upper-cases it */
    {"description", FT_STRING, FF_REQUIRED, 1, 500, NULL},
};

static const struct field_spec prescription_fields[] = {
    {"drug", FT_STRING, FF_REQUIRED, 1, 200, NULL},
    {"dose", FT_STRING, FF_REQUIRED, 1, 100, NULL},
    {"route", FT_ENUM, FF_REQUIRED, 0, 0, routes_of_administration},
    {"frequency", FT_STRING, FF_REQUIRED, 1, 100, NULL},
    {"duration", FT_STRING, FF_NULLABLE, 1, 100, NULL},
    {"instructions", FT_STRING, FF_NULLABLE, 1, 1000, NULL},
};

HANDLER(h_evolution_get)
{
    (void)req;
    char idb[24];
    struct scope_params s;
    scope_of(ctx, &s);
    /* Patients read their own visits' evolutions once signed. */
    struct access_params a;
    access_params(ctx, &a);
    const char *p[] = {id_text(ctx->params[0], idb), s.c, s.d, s.p, a.actor, a.role, a.request_id};
    return dbr_query_reply(resp, ctx, 200,
                           "SELECT evolution_json(e.visit_id), "
                           RECORD_ACCESS("e.patient_id", "evolution_read", "evolution", "e.visit_id", "$5", "$6", "$7")
                           " FROM evolutions e WHERE e.visit_id = $1 "
                           "AND ($2::bigint IS NULL OR e.clinic_id = $2) AND ($3::bigint IS NULL OR e.doctor_id = $3) "
                           "AND ($4::bigint IS NULL OR (e.patient_id = $4 AND e.signed_at IS NOT NULL))",
                           7, p);
}

HANDLER(h_evolution_put)
{
    (void)req;
    json_t *errors = json_object();
    /* A list over its length cap is not checked item by item, and errors stays bounded. */
    bool ok = validate_object(ctx->body, evolution_fields, 3, true, errors);
    ok = validate_items(ctx->body, "diagnoses", diagnosis_fields, 2, errors) && ok;
    ok = validate_items(ctx->body, "prescriptions", prescription_fields, 6, errors) && ok;
    if (!ok)
        return reply_invalid(resp, ctx, errors);
    json_decref(errors);
    char idb[24], db[24], ab[24];
    char *body = dbr_body_text(ctx->body);
    const char *p[] = {id_text(ctx->params[0], idb), id_text(ctx->claims.doctor_id, db), body, actor_text(ctx, ab)};
    static const char *const sql[] = {
        "SELECT e.evolution, $1::bigint, e.created FROM evolution_save($1, $2, $3::jsonb, $4) e"};
    const struct db_stmt st[] = {{sql[0], 4, p}};
    const struct write_desc w = {200, "evolution_save", "evolution", dbr_changed_fields(ctx->body)};
    int rc = dbr_write(resp, ctx, &w, st, 1);
    free(body);
    return rc;
}

/* The doctor's own evolution of visit $1 after a change made by an earlier statement. */
#define OWN_EVOLUTION                                                                                             \
    "SELECT evolution_json(e.visit_id), e.visit_id FROM evolutions e WHERE e.visit_id = $1 AND e.doctor_id = $2"

HANDLER(h_evolution_sign)
{
    (void)req;
    int rc;
    if (ctx->body && !body_valid(resp, ctx, NULL, 0, false, &rc))
        return rc;
    char idb[24], db[24], ab[24];
    const char *p[] = {id_text(ctx->params[0], idb), id_text(ctx->claims.doctor_id, db), actor_text(ctx, ab)};
    static const char *const sql[] = {
        "SELECT evolution_sign($1, $2, $3)",
        OWN_EVOLUTION};
    const struct db_stmt st[] = {{sql[0], 3, p}, {sql[1], 2, p}};
    return dbr_write(resp, ctx, &(const struct write_desc){200, "evolution_sign", "evolution", NULL}, st, 2);
}

static const struct field_spec addendum_fields[] = {
    {"text", FT_STRING, FF_REQUIRED, 1, 5000, NULL},
};

HANDLER(h_evolution_addendum)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, addendum_fields, 1, false, &rc))
        return rc;
    char idb[24], db[24], ab[24];
    char *body = dbr_body_text(ctx->body);
    const char *p[] = {id_text(ctx->params[0], idb), id_text(ctx->claims.doctor_id, db), body, actor_text(ctx, ab)};
    static const char *const sql[] = {
        "INSERT INTO evolution_addenda (visit_id, text, author_user_id) "
        "SELECT v.id, $3::jsonb->>'text', $4 FROM visits v WHERE v.id = $1 AND v.doctor_id = $2 "
        "  AND assert_state(EXISTS (SELECT 1 FROM evolutions e WHERE e.visit_id = v.id), "
        "                   'The visit has no evolution yet; write and sign it before adding an addendum.')",
        OWN_EVOLUTION};
    const struct db_stmt st[] = {{sql[0], 4, p}, {sql[1], 2, p}};
    rc = dbr_write(resp, ctx, &(const struct write_desc){201, "evolution_addendum", "evolution", NULL}, st, 2);
    free(body);
    return rc;
}
