/* record_access: the C side of "who saw this record" (sql/0029_record_access.sql). A handler that
 * reads a patient's clinical data calls record_access_write() in the select list of that read's own
 * statement (no second round trip; the row is written only when the read returns a row), with the
 * actor, role and request id that access_params() gives as three consecutive SQL parameters.
 *
 *   struct access_params a;
 *   access_params(ctx, &a);
 *   const char *p[] = {id, ..., a.actor, a.role, a.request_id};            // say $5, $6, $7
 *   "SELECT x_json(x), " RECORD_ACCESS("x.patient_id", "document_read", "document", "x.id", "$5", "$6", "$7")
 *   "FROM ..."
 *
 * With RECORD_ACCESS_LOG=0 the role is NULL and nothing is written. */
#ifndef API_RECORD_ACCESS_H
#define API_RECORD_ACCESS_H

#include "http.h"

struct access_params {
    char actor_buf[24];
    const char *actor;      /* the token's user id as text, or NULL */
    const char *role;       /* the token's role, or NULL when logging is off */
    const char *request_id; /* the request's X-Request-Id */
};

/* Fills a from the request (pointers into a and ctx; valid while both are). */
void access_params(const struct req_ctx *ctx, struct access_params *a);

/* The SQL call writing one access row: patient and entity_id are SQL expressions, action and entity
 * literal names (record_access_action_check lists the actions), a/r/q the parameters of access_params. */
#define RECORD_ACCESS(patient, action, entity, entity_id, a, r, q)                                              \
    "record_access_write(" patient ", '" action "', '" entity "', " entity_id ", " a "::bigint, " r "::text, " q  \
    "::text)"

/* A select-list column of a patient list (patients as p, ordered by order, $2 the page's limit): the
 * patient record read once for each patient of the page (not the one row more a list reads to know
 * whether a next page exists) when the SQL condition when holds. */
#define RECORD_ACCESS_LISTED(when, order, a, r, q)                                                              \
    "CASE WHEN " when " AND row_number() OVER (ORDER BY " order ") <= $2::int THEN "                            \
    RECORD_ACCESS("p.id", "patient_record_read", "patient", "p.id", a, r, q) " END AS logged"

#endif
