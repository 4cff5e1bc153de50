/* h_appointments: booking, reading, rescheduling, cancelling, confirming or declining requested
 * bookings and marking no-shows. A doctor reschedules and cancels their own appointments, with a reason.
 *
 * The database keeps the rules: composite foreign keys put the doctor, patient and service in the
 * appointment's clinic; exclusion constraints make double booking of a doctor or a patient
 * impossible (two concurrent bookings of one slot: one 201, one 409); status changes go through
 * state_transition() inside the UPDATE, so of two concurrent moves exactly one wins. Each change
 * writes its event (events outbox) and its audit row in the same transaction. A patient moves
 * (start_time only, into a free published slot: doctor_offers, as when booking) and cancels their own
 * booking up to PATIENT_CHANGE_NOTICE_HOURS before it (patient_change_allowed); staff are not bound. */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "handlers.h"

static const char *const types[] = {"in_person", "video", NULL};
static const struct field_spec create_fields[] = {
    {"patient_id", FT_INT, 0, 0, 0, NULL},
    {"doctor_id", FT_INT, FF_REQUIRED, 0, 0, NULL},
    {"service_id", FT_INT, FF_REQUIRED, 0, 0, NULL},
    {"start_time", FT_INSTANT, FF_REQUIRED, 0, 0, NULL},
    {"consultation_type", FT_ENUM, FF_REQUIRED, 0, 0, types},
    {"notes", FT_STRING, FF_NULLABLE, 0, 2000, NULL},
};

static const struct field_spec update_fields[] = {
    {"doctor_id", FT_INT, 0, 0, 0, NULL},
    {"service_id", FT_INT, 0, 0, 0, NULL},
    {"start_time", FT_INSTANT, 0, 0, 0, NULL},
    {"consultation_type", FT_ENUM, 0, 0, 0, types},
    {"notes", FT_STRING, FF_NULLABLE, 0, 2000, NULL},
    {"reason", FT_STRING, 0, 1, 500, NULL},
};

static const struct field_spec patient_update_fields[] = {
    {"start_time", FT_INSTANT, FF_REQUIRED, 0, 0, NULL},
};

HANDLER(h_appointments_create)
{
    (void)req;
    json_t *errors = json_object();
    validate_object(ctx->body, create_fields, sizeof create_fields / sizeof create_fields[0], false, errors);
    json_t *pid = json_object_get(ctx->body, "patient_id");
    if (ctx->claims.role == ROLE_PATIENT) {
        if (pid && !json_object_get(errors, "patient_id") && json_integer_value(pid) != ctx->claims.patient_id)
            json_object_set_new(errors, "patient_id", json_string("must be your own patient record"));
        else if (!pid)
            json_object_set_new(ctx->body, "patient_id", json_integer(ctx->claims.patient_id));
    } else if (!pid && !json_object_get(errors, "patient_id")) {
        json_object_set_new(errors, "patient_id", json_string("is required"));
    }
    if (json_object_size(errors) > 0)
        return reply_invalid(resp, ctx, errors);
    json_decref(errors);

    char sb[24], ub[24];
    char *body = dbr_body_text(ctx->body);
    const char *p[] = {body, scope_clinic(ctx, sb), ctx->claims.role == ROLE_PATIENT ? "t" : "f",
                       id_text(ctx->claims.sub, ub)};
    /* The clinic is the caller's (admins: the doctor's); the composite keys refuse a patient,
     * doctor or service of another clinic as that field. A patient books only a free slot. */
    static const char *const sql[] = {
        /* Bookings of one doctor, and of one patient, queue up here (always doctor first, then
         * patient, so two bookings never wait on each other in a cycle); the exclusion constraints
         * then refuse an overlap cleanly instead of through a deadlock between their checks. */
        "SELECT pg_advisory_xact_lock(1, ((b->>'doctor_id')::bigint % 2147483647)::int), "
        "       pg_advisory_xact_lock(2, ((b->>'patient_id')::bigint % 2147483647)::int) "
        "FROM (SELECT $1::jsonb AS b) x",
        "WITH b AS (SELECT $1::jsonb AS b), "
        "v AS (SELECT (b->>'patient_id')::bigint AS patient_id, (b->>'doctor_id')::bigint AS doctor_id, "
        "             (b->>'service_id')::bigint AS service_id, date_trunc('second', (b->>'start_time')::timestamptz) AS start_time, "
        "             b->>'consultation_type' AS kind, b->>'notes' AS notes, "
        "             COALESCE($2::bigint, (SELECT d.clinic_id FROM doctors d WHERE d.id = (b->>'doctor_id')::bigint)) "
        "               AS clinic_id FROM b), "
        "ins AS (INSERT INTO appointments AS a (clinic_id, doctor_id, patient_id, service_id, consultation_type, "
        "                                       period, notes, created_by) "
        "        SELECT v.clinic_id, v.doctor_id, v.patient_id, v.service_id, v.kind, "
        "               tstzrange(v.start_time, v.start_time + make_interval(mins => s.duration_minutes)), v.notes, $4 "
        "        FROM v LEFT JOIN services s ON s.id = v.service_id AND s.clinic_id = v.clinic_id "
        "        WHERE assert_field(EXISTS (SELECT 1 FROM doctors d WHERE d.id = v.doctor_id AND d.clinic_id = v.clinic_id), "
        "                           'appointments', 'doctor_id', 'does not exist') "
        "          AND assert_field(v.start_time > now(), 'appointments', 'start_time', 'must be in the future') "
        "          AND assert_field(s.id IS NOT NULL, 'appointments', 'service_id', 'does not exist') "
        "          AND assert_field(s.active, 'appointments', 'service_id', 'is not offered any more') "
        "          AND ($3::boolean IS NOT TRUE OR assert_field("
        "                doctor_offers(v.doctor_id, v.start_time, v.start_time + make_interval(mins => s.duration_minutes), "
        "                              v.kind), "
        "              'appointments', 'start_time', 'is not within the published hours of this doctor')) "
        "        RETURNING a) "
        "SELECT appointment_json(ins.a), (ins.a).id, emit_appointment_event('appointment_created', ins.a) FROM ins"};
    const struct db_stmt st[] = {{sql[0], 1, p}, {sql[1], 4, p}};
    int rc = dbr_write(resp, ctx, &(const struct write_desc){201, "appointment_create", "appointment", NULL}, st, 2);
    free(body);
    return rc;
}

HANDLER(h_appointments_list)
{
    static const struct list_query lq = {
        "appointment_json",
        "SELECT a AS r, lower(a.period) AS k1, a.id AS k2 FROM appointments a JOIN clinics c ON c.id = a.clinic_id "
        "WHERE ($1::jsonb IS NULL OR (lower(a.period), a.id) > (($1::jsonb->>0)::timestamptz, ($1::jsonb->>1)::bigint)) "
        "  AND ($3::bigint IS NULL OR a.clinic_id = $3) AND ($4::bigint IS NULL OR a.doctor_id = $4) "
        "  AND ($5::bigint IS NULL OR a.patient_id = $5) AND ($6::bigint IS NULL OR a.doctor_id = $6) "
        "  AND ($7::bigint IS NULL OR a.patient_id = $7) AND ($8::text IS NULL OR a.status = $8) "
        "  AND ($9::date IS NULL OR lower(a.period) >= $9::date::timestamp AT TIME ZONE c.timezone) "
        "  AND ($10::date IS NULL OR lower(a.period) < ($10::date + 1)::timestamp AT TIME ZONE c.timezone) "
        "ORDER BY lower(a.period), a.id LIMIT $2::int + 1",
        "k1, k2", "jsonb_build_array(rfc3339_exact(k1), k2)"};
    (void)req;
    const struct query_values *q = &ctx->query;
    struct scope_params s;
    scope_of(ctx, &s);
    const char *p[] = {query_text(q, "cursor"), query_text(q, "limit"), s.c, s.d, s.p, query_text(q, "doctor_id"),
                       query_text(q, "patient_id"), query_text(q, "status"), query_text(q, "from"),
                       query_text(q, "to")};
    return dbr_list_reply(resp, ctx, &lq, 10, p);
}

HANDLER(h_appointments_get)
{
    (void)req;
    char idb[24];
    struct scope_params s;
    scope_of(ctx, &s);
    const char *p[] = {id_text(ctx->params[0], idb), s.c, s.d, s.p};
    return dbr_query_reply(resp, ctx, 200,
                           "SELECT appointment_json(a) FROM appointments a WHERE a.id = $1 "
                           "AND ($2::bigint IS NULL OR a.clinic_id = $2) AND ($3::bigint IS NULL OR a.doctor_id = $3) "
                           "AND ($4::bigint IS NULL OR a.patient_id = $4)",
                           4, p);
}

/* PATIENT_CHANGE_NOTICE_HOURS as text for SQL when the caller is a patient (their changes are bound by
 * it), else NULL. */
static const char *patient_notice(const struct req_ctx *ctx, char buf[24])
{
    return ctx->claims.role == ROLE_PATIENT ? id_text(app.cfg.patient_change_notice_hours, buf) : NULL;
}

/* Runs one state-changing statement sql (after lock, when not NULL) on appointment
 * ctx->params[0] within the caller's reach and answers with the appointment. Parameters: $1 id,
 * $2 clinic scope, $3 patient scope, $4 doctor scope, $5 the JSON body, $6 arg, $7 the patient's
 * notice in hours (patient_notice); sql takes the first n, lock five. */
static int change(struct _u_response *resp, struct req_ctx *ctx, const char *lock, const char *sql, int n,
                  const char *arg, const char *action, json_t *details)
{
    char idb[24], nb[24];
    struct scope_params s;
    scope_of(ctx, &s);
    char *body = dbr_body_text(ctx->body);
    const char *p[] = {id_text(ctx->params[0], idb), s.c, s.p, s.d, body, arg, patient_notice(ctx, nb)};
    const struct db_stmt st[] = {{lock, 5, p}, {sql, n, p}};
    int rc = dbr_write(resp, ctx, &(const struct write_desc){200, action, "appointment", details}, lock ? st : st + 1,
                       lock ? 2 : 1);
    free(body);
    return rc;
}

#define WHERE_REACH                                                                                               \
    "WHERE a.id = $1 AND ($2::bigint IS NULL OR a.clinic_id = $2) AND ($3::bigint IS NULL OR a.patient_id = $3) " \
    "AND ($4::bigint IS NULL OR a.doctor_id = $4) "

/* The audit details of a change made for a reason (NULL: none): details with the reason added. */
static json_t *with_reason(json_t *details, json_t *reason)
{
    if (json_is_string(reason))
        json_object_set(details, "reason", reason);
    return details;
}

/* The rules of a change's body beyond its fields: a reason comes with a change (alone it would change
 * nothing yet tell the patient), and a doctor changes their own appointments only and says why (a reason
 * the patient is told: their changes carry it in the event to the doctor's and patient's rooms; $4, the
 * doctor scope, says whose). */
static bool change_rules_hold(struct _u_response *resp, struct req_ctx *ctx, int *rc)
{
    json_t *errors = json_object();
    bool has_reason = json_object_get(ctx->body, "reason") != NULL;
    if (has_reason && json_object_size(ctx->body) == 1)
        json_object_set_new(errors, "reason", json_string("must come with a change"));
    if (ctx->claims.role == ROLE_DOCTOR && !has_reason)
        json_object_set_new(errors, "reason", json_string("is required"));
    if (ctx->claims.role == ROLE_DOCTOR && json_object_get(ctx->body, "doctor_id"))
        json_object_set_new(errors, "doctor_id", json_string("cannot be changed by a doctor"));
    if (json_object_size(errors) == 0) {
        json_decref(errors);
        return true;
    }
    *rc = reply_invalid(resp, ctx, errors);
    return false;
}

/* A patient (notice: the parameter holding patient_notice) changes their own booking only up to that
 * long before it starts (patient_change_allowed, a 409 after); checked once the row is known to be theirs. */
#define PATIENT_OWN_CHANGE(notice)                                                                              \
    "AND (" notice "::int IS NULL OR CASE WHEN a.patient_id = $3 THEN patient_change_allowed(a, " notice "::int) END) "

HANDLER(h_appointments_update)
{
    (void)req;
    int rc;
    /* A patient moves their own booking to another time, nothing else. */
    bool patient = ctx->claims.role == ROLE_PATIENT;
    if (!body_valid(resp, ctx, patient ? patient_update_fields : update_fields,
                    patient ? 1 : sizeof update_fields / sizeof update_fields[0], !patient, &rc) ||
        !change_rules_hold(resp, ctx, &rc))
        return rc;
    static const char sql[] =
        "WITH u AS (UPDATE appointments a SET "
        "  status = state_transition(a.status, ARRAY['requested', 'confirmed'], NULL, 'appointment'), "
        "  doctor_id = COALESCE(($5::jsonb->>'doctor_id')::bigint, a.doctor_id), "
        "  service_id = COALESCE(($5::jsonb->>'service_id')::bigint, a.service_id), "
        "  consultation_type = COALESCE($5::jsonb->>'consultation_type', a.consultation_type), "
        "  notes = CASE WHEN $5::jsonb ? 'notes' THEN $5::jsonb->>'notes' ELSE a.notes END, "
        "  reschedule_reason = CASE WHEN $5::jsonb ? 'start_time' THEN $5::jsonb->>'reason' ELSE a.reschedule_reason END, "
        "  period = (SELECT tstzrange(t, t + make_interval(mins => s.duration_minutes)) "
        "            FROM services s, "
        "                 COALESCE(date_trunc('second', ($5::jsonb->>'start_time')::timestamptz), lower(a.period)) AS t "
        "            WHERE s.id = COALESCE(($5::jsonb->>'service_id')::bigint, a.service_id) "
        "              AND assert_field(s.clinic_id = a.clinic_id, 'appointments', 'service_id', 'does not exist') "
        "              AND assert_field(s.active OR NOT $5::jsonb ? 'service_id', 'appointments', 'service_id', "
        "                               'is not offered any more') "
        "              AND assert_field(t > now() OR NOT $5::jsonb ? 'start_time', 'appointments', 'start_time', "
        "                               'must be in the future') "
        /* a patient moves into a free published slot only, as they book (h_appointments_create) */
        "              AND ($6::int IS NULL OR assert_field("
        "                    doctor_offers(a.doctor_id, t, t + make_interval(mins => s.duration_minutes), a.consultation_type), "
        "                    'appointments', 'start_time', 'is not within the published hours of this doctor'))) "
        WHERE_REACH PATIENT_OWN_CHANGE("$6")
        "  AND assert_field(EXISTS (SELECT 1 FROM services s WHERE s.clinic_id = a.clinic_id "
        "                          AND s.id = COALESCE(($5::jsonb->>'service_id')::bigint, a.service_id)), "
        "                   'appointments', 'service_id', 'does not exist') RETURNING a) "
        "SELECT appointment_json(u.a), (u.a).id, "
        "       emit_appointment_event('appointment_updated', u.a, CASE WHEN $4::bigint IS NOT NULL "
        "         THEN $5::jsonb->>'reason' END) FROM u";
    /* The same booking locks as create (the doctor it ends up with, then the patient). */
    static const char lock[] =
        "SELECT pg_advisory_xact_lock(1, (COALESCE(($5::jsonb->>'doctor_id')::bigint, a.doctor_id) % 2147483647)::int), "
        "       pg_advisory_xact_lock(2, (a.patient_id % 2147483647)::int) "
        "FROM appointments a " WHERE_REACH;
    json_t *details = with_reason(dbr_changed_fields(ctx->body), json_object_get(ctx->body, "reason"));
    char nb[24];
    return change(resp, ctx, lock, sql, 6, patient_notice(ctx, nb), "appointment_update", details);
}

static const struct field_spec cancel_fields[] = {
    {"reason", FT_STRING, FF_REQUIRED, 1, 500, NULL},
};

HANDLER(h_appointments_cancel)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, cancel_fields, 1, false, &rc))
        return rc;
    static const char sql[] =
        "WITH u AS (UPDATE appointments a SET "
        "  status = state_transition(a.status, ARRAY['requested', 'confirmed'], 'cancelled', 'appointment'), "
        "  cancel_reason = $5::jsonb->>'reason', cancelled_by = $6, cancelled_at = now() "
        WHERE_REACH PATIENT_OWN_CHANGE("$7") "RETURNING a) "
        "SELECT appointment_json(u.a), (u.a).id, "
        "       emit_appointment_event('appointment_cancelled', u.a, CASE WHEN $4::bigint IS NOT NULL "
        "         THEN (u.a).cancel_reason END) FROM u";
    const char *by = ctx->claims.role == ROLE_PATIENT ? "patient"
                     : ctx->claims.role == ROLE_DOCTOR ? "doctor"
                                                       : "clinic";
    json_t *details = with_reason(json_pack("{s:s}", "by", by), json_object_get(ctx->body, "reason"));
    return change(resp, ctx, NULL, sql, 7, by, "appointment_cancel", details);
}

HANDLER(h_appointments_no_show)
{
    (void)req;
    static const char sql[] =
        "WITH u AS (UPDATE appointments a SET "
        "  status = state_transition(CASE WHEN lower(a.period) <= now() THEN a.status ELSE 'upcoming' END, "
        "                            ARRAY['confirmed'], 'no_show', 'appointment') "
        WHERE_REACH "RETURNING a) "
        "SELECT appointment_json(u.a), (u.a).id, emit_appointment_event('appointment_updated', u.a) FROM u";
    return change(resp, ctx, NULL, sql, 4, NULL, "appointment_no_show", NULL);
}

/* A requested booking confirmed (the patient gets the booking confirmation) or declined with a reason
 * (cancelled, the patient told) by its doctor or the clinic's desk: appointment_confirm and
 * appointment_decline own the moves. */
HANDLER(h_appointments_confirm)
{
    (void)req;
    char idb[24];
    struct scope_params s;
    scope_of(ctx, &s);
    const char *p[] = {id_text(ctx->params[0], idb), s.c, s.d};
    const struct db_stmt st = {"SELECT appointment_json(a), a.id FROM appointment_confirm($1, $2, $3) a", 3, p};
    return dbr_write(resp, ctx, &(const struct write_desc){200, "appointment_confirm", "appointment", NULL}, &st, 1);
}

HANDLER(h_appointments_decline)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, cancel_fields, 1, false, &rc))
        return rc;
    char idb[24];
    struct scope_params s;
    scope_of(ctx, &s);
    const char *reason = json_string_value(json_object_get(ctx->body, "reason"));
    const char *by = ctx->claims.role == ROLE_DOCTOR ? "doctor" : "clinic";
    const char *p[] = {id_text(ctx->params[0], idb), s.c, s.d, reason, by};
    const struct db_stmt st = {"SELECT appointment_json(a), a.id FROM appointment_decline($1, $2, $3, $4, $5) a", 5, p};
    json_t *details = json_pack("{s:s,s:s}", "by", by, "reason", reason);
    return dbr_write(resp, ctx, &(const struct write_desc){200, "appointment_decline", "appointment", details}, &st, 1);
}
