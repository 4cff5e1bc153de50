/* h_video: video consultations (docs/ARCHITECTURE.md §4 video call, §5 join tokens, §6 session states): the video
 * timings of a doctor's schedule, sessions of video appointments, join tokens with the ICE server
 * list (STUN, and TURN with a credential in coturn's REST scheme bound to the session and expiring
 * with the token), single-use invitations for patients without an account, and the end or
 * cancellation of a session. TURN credentials are handed out with a join token only: whoever holds
 * one can make the TURN server send traffic, so only the participants of a session get one, for the
 * life of their token.
 *
 * What happens inside the call (waiting room, admission, WebRTC relay, quality samples) is the
 * signaling-server's, through the SQL functions of sql/0008_video.sql.
 *
 * Reach: ADMIN any session; RECEPTIONIST the clinic's; DOCTOR their own; PATIENT their own (read).
 * Out of reach is 404. Join tokens go only to the session's doctor and its patient. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "crypto.h"
#include "handlers.h"
#include "record_access.h"

/* --- ICE servers ------------------------------------------------------------------------------------------------ */

/* Appends the comma-separated urls to arr (new strings). */
static void add_urls(json_t *arr, const char *list)
{
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (len)
            json_array_append_new(arr, json_stringn(p, len));
        p += len;
        if (*p == ',')
            p++;
    }
}

/* The RTCIceServer list: STUN as configured and, for a join token (session_id > 0) when TURN is
 * configured, the TURN entry with the REST credential "<exp>:v<session_id>:<vrole>" (the password
 * is its HMAC-SHA1 with TURN_SECRET), valid until exp, the token's own expiry. New reference, or NULL
 * when the credential cannot be computed. */
static json_t *ice_servers(int64_t session_id, const char *vrole, time_t exp)
{
    json_t *list = json_array();
    if (app.cfg.stun_urls[0]) {
        json_t *urls = json_array();
        add_urls(urls, app.cfg.stun_urls);
        json_array_append_new(list, json_pack("{s:o}", "urls", urls));
    }
    if (session_id > 0 && app.cfg.turn_urls[0] && app.cfg.turn_secret[0]) {
        char username[80], password[29];
        snprintf(username, sizeof username, "%lld:v%lld:%s", (long long)exp, (long long)session_id, vrole);
        if (!crypto_turn_password(app.cfg.turn_secret, username, password)) {
            json_decref(list);
            return NULL;
        }
        json_t *urls = json_array();
        add_urls(urls, app.cfg.turn_urls);
        json_array_append_new(list, json_pack("{s:o, s:s, s:s}", "urls", urls, "username", username, "credential",
                                              password));
    }
    return list;
}

/* STUN only: TURN credentials come with a join token (POST /sessions/{id}/token, or the redeemed
 * invitation). Kept for clients that fetch the list on their own; ttl_seconds stays TURN_TTL. */
HANDLER(h_video_ice_servers)
{
    (void)req;
    json_t *list = ice_servers(0, NULL, 0);
    if (!list)
        return reply_status(resp, ctx, ST_INTERNAL);
    return reply_json(resp, ctx, 200, json_pack("{s:o, s:I}", "ice_servers", list, "ttl_seconds",
                                                (json_int_t)app.cfg.turn_ttl));
}

/* --- timings ---------------------------------------------------------------------------------------------------- */

static const struct field_spec timing_fields[] = {
    {"doctor_id", FT_INT, 0, 1, INT64_MAX, NULL},
    {"weekday", FT_INT, FF_REQUIRED, 1, 7, NULL},
    {"start_time", FT_TIME, FF_REQUIRED, 0, 0, NULL},
    {"end_time", FT_TIME, FF_REQUIRED, 0, 0, NULL},
    {"slot_minutes", FT_INT, FF_REQUIRED, 5, 240, NULL},
};
#define NTIMING (sizeof timing_fields / sizeof timing_fields[0])

/* Validates a timing body (with doctor_id only when with_doctor); answers 422 and returns false. */
static bool timing_valid(struct _u_response *resp, struct req_ctx *ctx, bool with_doctor, int *rc)
{
    json_t *errors = json_object();
    const struct field_spec *specs = with_doctor ? timing_fields : timing_fields + 1;
    if (validate_object(ctx->body, specs, with_doctor ? NTIMING : NTIMING - 1, false, errors))
        rule_hours_check(ctx->body, errors);
    if (json_object_size(errors) > 0) {
        *rc = reply_invalid(resp, ctx, errors);
        return false;
    }
    json_decref(errors);
    return true;
}

/* The doctor whose timings a doctor's request is about: their own. */
static const char *own_doctor(const struct req_ctx *ctx, char buf[24])
{
    return ctx->claims.role == ROLE_DOCTOR ? id_text(ctx->claims.doctor_id, buf) : NULL;
}

HANDLER(h_video_timings_list)
{
    (void)req;
    int64_t doctor = query_num(&ctx->query, "doctor_id");
    if (!doctor && ctx->claims.role == ROLE_DOCTOR)
        doctor = ctx->claims.doctor_id;
    if (!doctor)
        return reply_invalid_query(resp, ctx, json_pack("{s:s}", "doctor_id", "is required"));
    char idb[24], sb[24];
    const char *p[] = {id_text(doctor, idb), scope_clinic(ctx, sb)};
    return dbr_query_reply(resp, ctx, 200,
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM doctors d WHERE d.id = $1 AND ($2::bigint IS NULL OR d.clinic_id = $2)) "
        "THEN (SELECT jsonb_build_object('items', COALESCE(jsonb_agg(video_timing_json(r) "
        "                                ORDER BY r.weekday, r.start_time, r.id), '[]'::jsonb)) "
        "      FROM availability_rules r WHERE r.doctor_id = $1 AND 'video' = ANY (r.consultation_types)) END",
        2, p);
}

HANDLER(h_video_timings_create)
{
    (void)req;
    int rc;
    if (!timing_valid(resp, ctx, true, &rc))
        return rc;
    json_t *given = json_object_get(ctx->body, "doctor_id");
    int64_t doctor = given ? json_integer_value(given) : 0;
    if (ctx->claims.role == ROLE_DOCTOR) {
        if (doctor && doctor != ctx->claims.doctor_id)
            return reply_error(resp, ctx, ST_FORBIDDEN, NULL, "A doctor sets only their own video timings.", NULL);
        doctor = ctx->claims.doctor_id;
    } else if (!doctor) {
        return reply_invalid(resp, ctx, json_pack("{s:s}", "doctor_id", "is required"));
    }
    char idb[24];
    char *body = dbr_body_text(ctx->body);
    const char *p[] = {id_text(doctor, idb), body};
    static const char *const sql[] = {
        "SELECT assert_field(EXISTS (SELECT 1 FROM doctors d WHERE d.id = $1), 'availability_rules', 'doctor_id', "
        "                    'does not exist')",
        "INSERT INTO availability_rules AS r (doctor_id, weekday, start_time, end_time, slot_minutes, consultation_types) "
        "SELECT $1, (b->>'weekday')::smallint, (b->>'start_time')::time, (b->>'end_time')::time, "
        "       (b->>'slot_minutes')::int, '{video}' "
        "FROM (SELECT $2::jsonb AS b) x RETURNING video_timing_json(r), r.id"};
    const struct db_stmt st[] = {{sql[0], 1, p}, {sql[1], 2, p}};
    const struct write_desc w = {201, "video_timing_create", "availability_rule",
                                 json_pack("{s:I}", "doctor_id", (json_int_t)doctor)};
    rc = dbr_write(resp, ctx, &w, st, 2);
    free(body);
    return rc;
}

#define SHARED_RULE "'This rule also serves in-person consultations: change it in the doctor''s schedule.'"

HANDLER(h_video_timings_update)
{
    (void)req;
    int rc;
    if (!timing_valid(resp, ctx, false, &rc))
        return rc;
    char idb[24], db[24];
    char *body = dbr_body_text(ctx->body);
    const char *p[] = {id_text(ctx->params[0], idb), own_doctor(ctx, db), body};
    static const char *const sql[] = {
        "UPDATE availability_rules r SET "
        "  weekday = CASE WHEN assert_state(cardinality(r.consultation_types) = 1, " SHARED_RULE ") "
        "                 THEN (b->>'weekday')::smallint END, "
        "  start_time = (b->>'start_time')::time, end_time = (b->>'end_time')::time, "
        "  slot_minutes = (b->>'slot_minutes')::int "
        "FROM (SELECT $3::jsonb AS b) x "
        "WHERE r.id = $1 AND 'video' = ANY (r.consultation_types) AND ($2::bigint IS NULL OR r.doctor_id = $2) "
        "RETURNING video_timing_json(r), r.id"};
    const struct db_stmt st[] = {{sql[0], 3, p}};
    const struct write_desc w = {200, "video_timing_update", "availability_rule", dbr_changed_fields(ctx->body)};
    rc = dbr_write(resp, ctx, &w, st, 1);
    free(body);
    return rc;
}

HANDLER(h_video_timings_delete)
{
    (void)req;
    char idb[24], db[24];
    const char *p[] = {id_text(ctx->params[0], idb), own_doctor(ctx, db)};
    static const char *const sql[] = {
        "SELECT assert_state(cardinality(r.consultation_types) = 1, " SHARED_RULE ") FROM availability_rules r "
        "WHERE r.id = $1 AND 'video' = ANY (r.consultation_types) AND ($2::bigint IS NULL OR r.doctor_id = $2)",
        "DELETE FROM availability_rules r "
        "WHERE r.id = $1 AND 'video' = ANY (r.consultation_types) AND ($2::bigint IS NULL OR r.doctor_id = $2) "
        "RETURNING video_timing_json(r), r.id"};
    const struct db_stmt st[] = {{sql[0], 2, p}, {sql[1], 2, p}};
    const struct write_desc w = {204, "video_timing_delete", "availability_rule", NULL};
    return dbr_write(resp, ctx, &w, st, 2);
}

/* --- sessions --------------------------------------------------------------------------------------------------- */

/* The reach of the caller over sessions s as an SQL condition on $2 (clinic), $3 (doctor), $4 (patient). */
#define SESSION_SCOPE \
    "($2::bigint IS NULL OR s.clinic_id = $2) AND ($3::bigint IS NULL OR s.doctor_id = $3) " \
    "AND ($4::bigint IS NULL OR s.patient_id = $4)"

static const struct field_spec session_fields[] = {
    {"appointment_id", FT_INT, FF_REQUIRED, 1, INT64_MAX, NULL},
};

HANDLER(h_video_sessions_create)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, session_fields, 1, false, &rc))
        return rc;
    char room[44];
    if (!crypto_token(room))
        return reply_status(resp, ctx, ST_INTERNAL);
    char ab[24], eb[24], actor[24];
    struct scope_params s;
    scope_of(ctx, &s);
    int64_t appointment = json_integer_value(json_object_get(ctx->body, "appointment_id"));
    const char *p[] = {id_text(appointment, ab), s.c, s.d, room, id_text(app.cfg.video_expire_minutes, eb),
                       actor_text(ctx, actor), app.cfg.video_invite_url};
    static const char *const sql[] = {
        "SELECT video_session_json(s), s.id FROM video_session_open($1, $2, $3, $4, $5::int, $6, $7) s"};
    const struct db_stmt st[] = {{sql[0], 7, p}};
    const struct write_desc w = {201, "video_session_create", "video_session",
                                 json_pack("{s:I}", "appointment_id", (json_int_t)appointment)};
    return dbr_write(resp, ctx, &w, st, 1);
}

HANDLER(h_video_sessions_get)
{
    (void)req;
    char idb[24];
    struct scope_params s;
    scope_of(ctx, &s);
    const char *p[] = {id_text(ctx->params[0], idb), s.c, s.d, s.p};
    return dbr_query_reply(resp, ctx, 200,
                           "SELECT video_session_json(s) FROM video_sessions s WHERE s.id = $1 AND " SESSION_SCOPE, 4, p);
}

HANDLER(h_video_sessions_list)
{
    static const struct list_query lq = {
        "video_session_json",
        "SELECT s AS r, lower(a.period) AS k1, s.id AS k2 "
        "FROM video_sessions s JOIN appointments a ON a.id = s.appointment_id JOIN clinics c ON c.id = s.clinic_id "
        "WHERE ($1::jsonb IS NULL OR (lower(a.period), s.id) > (($1::jsonb->>0)::timestamptz, ($1::jsonb->>1)::bigint)) "
        "  AND ($3::bigint IS NULL OR s.clinic_id = $3) AND ($4::bigint IS NULL OR s.doctor_id = $4) "
        "  AND ($5::bigint IS NULL OR s.patient_id = $5) AND ($6::bigint IS NULL OR s.doctor_id = $6) "
        "  AND ($7::text IS NULL OR s.status = $7) "
        "  AND ($8::date IS NULL OR (lower(a.period) >= $8::date::timestamp AT TIME ZONE c.timezone "
        "                            AND lower(a.period) < ($8::date + 1)::timestamp AT TIME ZONE c.timezone)) "
        "ORDER BY lower(a.period), s.id LIMIT $2::int + 1",
        "k1, k2", "jsonb_build_array(rfc3339_exact(k1), k2)"};
    (void)req;
    const struct query_values *q = &ctx->query;
    int64_t doctor = query_num(q, "doctor_id");
    if (ctx->claims.role == ROLE_DOCTOR && doctor && doctor != ctx->claims.doctor_id)
        return reply_error(resp, ctx, ST_FORBIDDEN, NULL, "A doctor lists only their own video consultations.", NULL);
    struct scope_params s;
    scope_of(ctx, &s);
    const char *p[] = {query_text(q, "cursor"), query_text(q, "limit"), s.c, s.d, s.p, query_text(q, "doctor_id"),
                       query_text(q, "status"), query_text(q, "date")};
    return dbr_list_reply(resp, ctx, &lq, 8, p);
}

/* Answers the join token of session_id for the holder: the session's doctor (user > 0, doctor
 * role) or its patient (user 0 for a guest). exp is the Unix time it expires, and so does the TURN
 * credential of its ice_servers (ttl_seconds is the time left until then). */
static int reply_token(struct _u_response *resp, struct req_ctx *ctx, int64_t session_id, int64_t clinic_id,
                       int64_t user, const char *vrole, time_t exp)
{
    time_t now = time(NULL);
    /* Never older than the access token it was asked with: after a new password the account accepts tokens
     * from the database's next whole second (sql/0012), which this clock may not have reached yet. */
    time_t iat = user > 0 && ctx->claims.iat > now ? ctx->claims.iat : now;
    struct video_claims c = {.sub = user, .vsid = session_id, .clinic_id = clinic_id};
    snprintf(c.vrole, sizeof c.vrole, "%s", vrole);
    char *token = token_sign_video(&app.keys, &c, iat, exp);
    json_t *ice = ice_servers(session_id, vrole, exp);
    if (!token || !ice) {
        free(token);
        json_decref(ice);
        return reply_status(resp, ctx, ST_INTERNAL);
    }
    char when[32];
    struct tm tm;
    gmtime_r(&exp, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_int_t ttl = exp > now ? (json_int_t)(exp - now) : 1;
    json_t *out = json_pack("{s:s, s:s, s:I, s:s, s:o, s:I}", "token", token, "expires_at", when, "session_id",
                            (json_int_t)session_id, "role", vrole, "ice_servers", ice, "ttl_seconds", ttl);
    free(token);
    return reply_json(resp, ctx, 200, out);
}

/* The session's id, clinic and the token's expiry (Unix time), from a row of TOKEN_COLUMNS: at most
 * VIDEO_TOKEN_TTL, and no later than the session's expiry unless its call is under way. */
#define TOKEN_COLUMNS \
    "t.id, t.clinic_id, " \
    "extract(epoch FROM CASE WHEN t.status = 'in_progress' THEN now() + make_interval(secs => $3::int) " \
    "                        ELSE least(t.expires_at, now() + make_interval(secs => $3::int)) END)::bigint"

/* The token handed out to the caller (access_params a, r, q), logged against the session's patient. */
#define TOKEN_LOGGED(a, r, q) RECORD_ACCESS("t.patient_id", "video_token_issue", "video_session", "t.id", a, r, q)

static int token_from_row(struct _u_response *resp, struct req_ctx *ctx, PGconn *conn, PGresult *r, int64_t user,
                          const char *vrole)
{
    struct db_error err;
    int rc;
    if (!db_ok(conn, r, &err))
        rc = dbr_reply_error(resp, ctx, &err);
    else if (PQntuples(r) == 0 || PQgetisnull(r, 0, 0))
        rc = reply_status(resp, ctx, ST_NOT_FOUND);
    else
        rc = reply_token(resp, ctx, strtoll(PQgetvalue(r, 0, 0), NULL, 10), strtoll(PQgetvalue(r, 0, 1), NULL, 10),
                         user, vrole, (time_t)strtoll(PQgetvalue(r, 0, 2), NULL, 10));
    PQclear(r);
    dbr_release(conn);
    return rc;
}

HANDLER(h_video_sessions_token)
{
    (void)req;
    int rc;
    if (ctx->body && !body_valid(resp, ctx, NULL, 0, false, &rc))
        return rc;
    PGconn *conn = dbr_acquire();
    if (!conn)
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    bool doctor = ctx->claims.role == ROLE_DOCTOR;
    char idb[24], eb[24], tb[24], ob[24];
    struct access_params a;
    access_params(ctx, &a);
    const char *p[] = {id_text(ctx->params[0], idb), id_text(app.cfg.video_join_early_minutes, eb),
                       id_text(app.cfg.video_token_ttl, tb),
                       id_text(doctor ? ctx->claims.doctor_id : ctx->claims.patient_id, ob), a.actor, a.role,
                       a.request_id};
    /* Reach first (out of reach is 404 whatever the session's state), then the window; the token
     * handed out is logged against the session's patient. */
    PGresult *r = db_exec(conn,
                          doctor ? "SELECT " TOKEN_COLUMNS ", " TOKEN_LOGGED("$5", "$6", "$7") " FROM video_sessions s "
                                   "CROSS JOIN LATERAL video_token_check(s.id, $2::int) t WHERE s.id = $1 AND s.doctor_id = $4"
                                 : "SELECT " TOKEN_COLUMNS ", " TOKEN_LOGGED("$5", "$6", "$7") " FROM video_sessions s "
                                   "CROSS JOIN LATERAL video_token_check(s.id, $2::int) t WHERE s.id = $1 AND s.patient_id = $4",
                          7, p);
    return token_from_row(resp, ctx, conn, r, ctx->claims.sub, doctor ? "doctor" : "patient");
}

static const struct field_spec redeem_fields[] = {
    {"code", FT_STRING, FF_REQUIRED, 1, 100, NULL},
};

HANDLER(h_video_invitations_redeem)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, redeem_fields, 1, false, &rc))
        return rc;
    char hash[65];
    const char *code = json_string_value(json_object_get(ctx->body, "code"));
    crypto_sha256_hex(code, strlen(code), hash);
    PGconn *conn = dbr_acquire();
    if (!conn)
        return reply_status(resp, ctx, ST_UNAVAILABLE);
    char eb[24], tb[24];
    /* The holder of an invitation acts as the patient, without an account. */
    const char *p[] = {hash, id_text(app.cfg.video_join_early_minutes, eb), id_text(app.cfg.video_token_ttl, tb),
                       app.cfg.record_access_log ? "PATIENT" : NULL, ctx->request_id};
    /* One statement: a session that cannot be joined any more leaves the invitation unused. An
     * unknown code is a 404, one used, revoked or expired a 410 (video_invitation_redeem). */
    PGresult *r = db_exec(conn,
                          "SELECT " TOKEN_COLUMNS ", "
                          RECORD_ACCESS("t.patient_id", "video_invitation_redeem", "video_session", "t.id", "NULL",
                                        "$4", "$5")
                          " FROM video_token_check(video_invitation_redeem($1), $2::int) t",
                          5, p);
    return token_from_row(resp, ctx, conn, r, 0, "patient");
}

/* A new invitation, its link queued to the patient's channels in the same transaction
 * (video_invitation_create, sql/0025): the answer says which channels, or why none. The code is in the
 * answer for the staff, never in the audit row. */
HANDLER(h_video_sessions_invite)
{
    (void)req;
    int rc;
    if (ctx->body && !body_valid(resp, ctx, NULL, 0, false, &rc))
        return rc;
    char code[44];
    if (!crypto_token(code))
        return reply_status(resp, ctx, ST_INTERNAL);
    char idb[24], tb[24], actor[24];
    struct scope_params s;
    scope_of(ctx, &s);
    const char *p[] = {id_text(ctx->params[0], idb), s.c, s.d, code, actor_text(ctx, actor),
                       id_text(app.cfg.video_invite_ttl, tb), app.cfg.video_invite_url};
    static const char *const sql[] = {
        "SELECT i, (i->>'id')::bigint FROM video_invitation_create($1, $2, $3, $4, $5, $6::int, $7) i"};
    const struct db_stmt st[] = {{sql[0], 7, p}};
    const struct write_desc w = {201, "video_invitation_create", "video_invitation",
                                 json_pack("{s:I}", "session_id", (json_int_t)ctx->params[0])};
    return dbr_write(resp, ctx, &w, st, 1);
}

HANDLER(h_video_invitations_revoke)
{
    (void)req;
    char idb[24], ib[24], actor[24];
    struct scope_params s;
    scope_of(ctx, &s);
    const char *p[] = {id_text(ctx->params[0], idb), s.c, s.d, id_text(ctx->params[1], ib), actor_text(ctx, actor)};
    static const char *const sql[] = {
        "UPDATE video_invitations i SET "
        "  revoked_at = CASE WHEN assert_state(i.redeemed_at IS NULL, 'This invitation has already been used.') "
        "                    THEN COALESCE(i.revoked_at, now()) END, "
        "  revoked_by = COALESCE(i.revoked_by, $5) "
        "FROM video_sessions s WHERE i.id = $4 AND i.session_id = $1 AND s.id = i.session_id "
        "  AND ($2::bigint IS NULL OR s.clinic_id = $2) AND ($3::bigint IS NULL OR s.doctor_id = $3) "
        "RETURNING jsonb_build_object('id', i.id), i.id"};
    const struct db_stmt st[] = {{sql[0], 5, p}};
    const struct write_desc w = {204, "video_invitation_revoke", "video_invitation",
                                 json_pack("{s:I}", "session_id", (json_int_t)ctx->params[0])};
    return dbr_write(resp, ctx, &w, st, 1);
}

static const struct field_spec end_fields[] = {
    {"notes", FT_STRING, FF_NULLABLE, 1, 20000, NULL},
};

HANDLER(h_video_sessions_end)
{
    (void)req;
    int rc;
    if (ctx->body && !body_valid(resp, ctx, end_fields, 1, false, &rc))
        return rc;
    const char *notes = ctx->body ? json_string_value(json_object_get(ctx->body, "notes")) : NULL;
    char idb[24], db[24], actor[24];
    const char *p[] = {id_text(ctx->params[0], idb), id_text(ctx->claims.doctor_id, db), notes, actor_text(ctx, actor)};
    static const char *const sql[] = {
        "SELECT video_session_json(s), s.id FROM video_session_end($1, $2, $3, $4) s"};
    const struct db_stmt st[] = {{sql[0], 4, p}};
    return dbr_write(resp, ctx, &(const struct write_desc){200, "video_session_end", "video_session", NULL}, st, 1);
}

static const struct field_spec cancel_fields[] = {
    {"reason", FT_STRING, FF_NULLABLE, 1, 200, NULL},
};

HANDLER(h_video_sessions_cancel)
{
    (void)req;
    int rc;
    if (ctx->body && !body_valid(resp, ctx, cancel_fields, 1, false, &rc))
        return rc;
    const char *reason = ctx->body ? json_string_value(json_object_get(ctx->body, "reason")) : NULL;
    char idb[24], actor[24];
    struct scope_params s;
    scope_of(ctx, &s);
    const char *p[] = {id_text(ctx->params[0], idb), s.c, s.d, reason, actor_text(ctx, actor)};
    static const char *const sql[] = {
        "SELECT video_session_json(s), s.id FROM video_session_cancel($1, $2, $3, $4, $5) s"};
    const struct db_stmt st[] = {{sql[0], 5, p}};
    return dbr_write(resp, ctx, &(const struct write_desc){200, "video_session_cancel", "video_session", NULL}, st, 1);
}
