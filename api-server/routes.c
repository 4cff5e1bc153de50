/* routes: the one table of every endpoint with the roles allowed to call it and the query
 * parameters it takes. The guard reads the roles from here, the router checks every query string
 * against the route's parameters (common/query.h) before its handler runs, and `api-server routes`
 * prints it all for the tests to compare with openapi.yaml. A route whose parameters are NULL takes
 * none: any query parameter is refused, as an unknown body field is. */
#include "handlers.h"
#include "router.h"

#define A ROLE_ADMIN
#define R ROLE_RECEPTIONIST
#define D ROLE_DOCTOR
#define P ROLE_PATIENT

/* --- query parameters ------------------------------------------------------------------------------------------- */

#define Q_ID(n) {.name = (n), .type = QT_ID}
#define Q_DATE(n) {.name = (n), .type = QT_DATE}
#define Q_ENUM(n, c, w) {.name = (n), .type = QT_ENUM, .choices = (c), .why = (w)}
#define Q_BOOL(n) {.name = (n), .type = QT_BOOL}
#define Q_SEARCH {.name = "q", .type = QT_STRING, .min = 1, .max = 100}
#define Q_LIMIT {.name = "limit", .type = QT_LIMIT, .min = 1, .max = 200, .def = 50}
/* The cursor of a list sorted by keys of these types (query.h's shape), e.g. "ti" (instant, id). */
#define Q_CURSOR(keys) {.name = "cursor", .type = QT_CURSOR, .shape = (keys)}
#define Q_END {.name = NULL}
#define LOWER_WORD "abcdefghijklmnopqrstuvwxyz_"

static const char *const roles_named[] = {"ADMIN", "RECEPTIONIST", "DOCTOR", "PATIENT", NULL};
static const char *const appointment_statuses[] = {"requested", "confirmed", "checked_in", "completed",
                                                   "cancelled", "no_show",   NULL};
static const char *const session_statuses[] = {"scheduled", "waiting", "in_progress", "completed",
                                               "cancelled", "expired",   "failed",      NULL};
static const char *const payment_statuses[] = {"pending", "paid", "partially_refunded", "refunded", NULL};
static const char *const closing_statuses[] = {"draft", "closed", "payment_confirmed", "receipt_confirmed",
                                               "disputed", NULL};
static const char *const delivery_statuses[] = {"queued", "sending", "delivered", "failed", NULL};
static const char *const delivery_channels[] = {"email", "sms", "webhook", NULL};
static const char *const slot_types[] = {"in_person", "video", NULL};
static const char *const earnings_groups[] = {"day", "status", "method", NULL};
static const char *const earnings_formats[] = {"json", "csv", NULL};
static const char *const revenue_groups[] = {"doctor", "day", "clinic", NULL};

#define Q_APPOINTMENT_STATUS Q_ENUM("status", appointment_statuses, "must be one of the appointment statuses")
#define Q_PAYMENT_STATUS Q_ENUM("status", payment_statuses, "must be one of the payment statuses")

static const struct query_param clinics_q[] = {Q_LIMIT, Q_CURSOR("i"), Q_END};
static const struct query_param users_q[] = {
    Q_ENUM("role", roles_named, "must be ADMIN, RECEPTIONIST, DOCTOR or PATIENT"),
    Q_ID("clinic_id"), Q_BOOL("active"), Q_SEARCH, Q_LIMIT, Q_CURSOR("i"), Q_END};
static const struct query_param doctors_q[] = {Q_ID("clinic_id"), Q_ID("user_id"), Q_LIMIT, Q_CURSOR("i"), Q_END};
static const struct query_param patients_q[] = {Q_SEARCH, Q_ID("clinic_id"), Q_LIMIT, Q_CURSOR("si"), Q_END};
static const struct query_param audit_q[] = {
    {.name = "action", .type = QT_STRING, .min = 1, .max = 64, .charset = LOWER_WORD,
     .why = "must be a lower-case action name"},
    {.name = "entity", .type = QT_STRING, .min = 1, .max = 64, .charset = LOWER_WORD,
     .why = "must be a lower-case entity name"},
    Q_ID("entity_id"), Q_ID("actor_user_id"), Q_ID("patient_id"), Q_LIMIT, Q_CURSOR("i"), Q_END};
static const struct query_param services_q[] = {Q_ID("clinic_id"), Q_BOOL("active"), Q_LIMIT, Q_CURSOR("si"), Q_END};
static const struct query_param unavailability_q[] = {Q_DATE("from"), Q_DATE("to"), Q_END};
static const struct query_param slots_q[] = {
    {.name = "from", .type = QT_DATE, .flags = QF_REQUIRED}, {.name = "to", .type = QT_DATE, .flags = QF_REQUIRED},
    Q_ENUM("type", slot_types, "must be in_person or video"), Q_END};
static const struct query_param appointments_q[] = {
    Q_ID("doctor_id"), Q_ID("patient_id"), Q_APPOINTMENT_STATUS, Q_DATE("from"), Q_DATE("to"),
    Q_LIMIT, Q_CURSOR("ti"), Q_END};
static const struct query_param page_by_id_q[] = {Q_LIMIT, Q_CURSOR("i"), Q_END};
static const struct query_param queue_q[] = {Q_ID("clinic_id"), Q_ID("doctor_id"), Q_DATE("date"), Q_END};
static const struct query_param history_q[] = {Q_LIMIT, Q_CURSOR("ti"), Q_END};
static const struct query_param doctor_appointments_q[] = {
    Q_DATE("from"), Q_DATE("to"), Q_APPOINTMENT_STATUS, Q_LIMIT, Q_CURSOR("ti"), Q_END};
static const struct query_param doctor_patients_q[] = {Q_SEARCH, Q_LIMIT, Q_CURSOR("si"), Q_END};
static const struct query_param clinic_day_q[] = {Q_ID("clinic_id"), Q_DATE("date"), Q_END};
static const struct query_param events_q[] = {{.name = "after", .type = QT_EVENT_ID}, Q_LIMIT, Q_END};
static const struct query_param timings_q[] = {Q_ID("doctor_id"), Q_END};
static const struct query_param sessions_q[] = {
    Q_ID("doctor_id"), Q_DATE("date"), Q_ENUM("status", session_statuses, "must be one of the video session statuses"),
    Q_LIMIT, Q_CURSOR("ti"), Q_END};
static const struct query_param fee_rules_q[] = {
    Q_ID("clinic_id"), Q_ID("service_id"), Q_ID("doctor_id"), Q_LIMIT, Q_CURSOR("i"), Q_END};
static const struct query_param conversations_q[] = {Q_ID("patient_id"), Q_LIMIT, Q_CURSOR("ti"), Q_END};
static const struct query_param conversation_messages_q[] = {Q_ID("after_id"), Q_ID("before_id"), Q_LIMIT, Q_CURSOR("i"),
                                                             Q_END};
static const struct query_param payments_q[] = {
    Q_ID("visit_id"), Q_ID("doctor_id"), Q_PAYMENT_STATUS, Q_ID("clinic_id"), Q_LIMIT, Q_CURSOR("ti"), Q_END};
static const struct query_param earnings_q[] = {
    Q_ID("doctor_id"), Q_DATE("start_date"), Q_DATE("end_date"), Q_PAYMENT_STATUS,
    Q_ENUM("method", payment_methods, "must be one of the payment methods"),
    Q_ENUM("group_by", earnings_groups, "must be one of the groupings (day, status, method)"),
    Q_ENUM("format", earnings_formats, "must be one of the formats (json, csv)"), Q_LIMIT, Q_CURSOR("ti"), Q_END};
static const struct query_param revenue_q[] = {
    {.name = "from", .type = QT_DATE, .flags = QF_REQUIRED}, {.name = "to", .type = QT_DATE, .flags = QF_REQUIRED},
    Q_ENUM("group_by", revenue_groups, "must be one of the groupings (doctor, day, clinic)"), Q_ID("clinic_id"),
    Q_END};
static const struct query_param webhooks_q[] = {Q_LIMIT, Q_CURSOR("i"), Q_END};
static const struct query_param deliveries_q[] = {
    Q_ENUM("status", delivery_statuses, "must be one of the delivery statuses"),
    Q_ENUM("channel", delivery_channels, "must be one of the delivery channels"), Q_ID("clinic_id"), Q_LIMIT,
    Q_CURSOR("i"), Q_END};
static const struct query_param closings_q[] = {
    {.name = "month", .type = QT_MONTH}, Q_ID("doctor_id"), Q_ID("clinic_id"),
    Q_ENUM("status", closing_statuses, "must be one of the closing statuses"), Q_LIMIT, Q_CURSOR("si"), Q_END};
static const struct query_param notifications_q[] = {Q_BOOL("unread"), Q_LIMIT, Q_CURSOR("i"), Q_END};
static const struct query_param export_month_q[] = {
    {.name = "month", .type = QT_MONTH, .flags = QF_REQUIRED}, {.name = "clinic_id", .type = QT_ID, .flags = QF_REQUIRED},
    Q_END};

/* --- routes ----------------------------------------------------------------------------------------------------- */

const struct route routes[] = {
    {"GET", "/healthz", ROUTE_ROOT | ROUTE_PUBLIC, h_healthz, NULL},
    {"GET", "/readyz", ROUTE_ROOT | ROUTE_PUBLIC, h_readyz, NULL},
    {"GET", "/config.json", ROUTE_ROOT | ROUTE_PUBLIC, h_console_config, NULL},

    {"POST", "/auth/login", ROUTE_PUBLIC, h_auth_login, NULL},
    {"POST", "/auth/refresh", ROUTE_PUBLIC, h_auth_refresh, NULL},
    {"POST", "/auth/logout", ROUTE_PUBLIC, h_auth_logout, NULL},
    {"POST", "/auth/password-reset", ROUTE_PUBLIC, h_auth_password_reset, NULL},
    {"POST", "/auth/activate", ROUTE_PUBLIC, h_auth_activate, NULL},
    {"GET", "/auth/me", A | R | D | P, h_auth_me, NULL},
    {"POST", "/auth/password", A | R | D | P, h_auth_password, NULL},
    {"POST", "/auth/logout-all", A | R | D | P, h_auth_logout_all, NULL},

    {"GET", "/clinics", A | R | D, h_clinics_list, clinics_q},
    {"POST", "/clinics", A, h_clinics_create, NULL},
    {"GET", "/clinics/:id", A | R | D | P, h_clinics_get, NULL},
    {"PATCH", "/clinics/:id", A, h_clinics_update, NULL},
    {"DELETE", "/clinics/:id", A, h_clinics_delete, NULL},

    {"POST", "/users", A, h_users_create, NULL},
    {"GET", "/users", A, h_users_list, users_q},
    {"GET", "/users/:id", A, h_users_get, NULL},
    {"PATCH", "/users/:id", A, h_users_update, NULL},
    {"POST", "/users/:id/deactivate", A, h_users_deactivate, NULL},

    {"GET", "/doctors", A | R | D | P, h_doctors_list, doctors_q},
    {"PATCH", "/doctors/me", D, h_doctors_update_me, NULL},
    {"GET", "/doctors/:id", A | R | D | P, h_doctors_get, NULL},
    {"PATCH", "/doctors/:id", A, h_doctors_update, NULL},

    {"POST", "/patients", A | R | D, h_patients_create, NULL},
    {"GET", "/patients", A | R | D, h_patients_list, patients_q},
    {"GET", "/patients/me", P, h_patients_me, NULL},
    {"GET", "/patients/me/history", P, h_patients_me_history, history_q},
    {"GET", "/patients/:id", A | R | D | P, h_patients_get, NULL},
    {"PATCH", "/patients/:id", A | R | D, h_patients_update, NULL},
    {"POST", "/patients/:id/account", A | R, h_patients_account, NULL},

    {"GET", "/audit", A | P, h_audit_list, audit_q},

    {"GET", "/services", A | R | D | P, h_services_list, services_q},
    {"POST", "/services", A, h_services_create, NULL},
    {"GET", "/services/:id", A | R | D | P, h_services_get, NULL},
    {"PATCH", "/services/:id", A, h_services_update, NULL},

    {"GET", "/doctors/:id/availability", A | R | D, h_availability_list, NULL},
    {"POST", "/doctors/:id/availability", A | R | D, h_availability_create, NULL},
    {"DELETE", "/doctors/:id/availability/:rule_id", A | R | D, h_availability_delete, NULL},
    {"GET", "/doctors/:id/unavailability", A | R | D, h_unavailability_list, unavailability_q},
    {"POST", "/doctors/:id/unavailability", A | R | D, h_unavailability_create, NULL},
    {"DELETE", "/doctors/:id/unavailability/:block_id", A | R | D, h_unavailability_delete, NULL},
    {"GET", "/doctors/:id/slots", A | R | D | P, h_doctor_slots, slots_q},

    {"POST", "/appointments", A | R | P, h_appointments_create, NULL},
    {"GET", "/appointments", A | R | D | P, h_appointments_list, appointments_q},
    {"GET", "/appointments/:id", A | R | D | P, h_appointments_get, NULL},
    {"PATCH", "/appointments/:id", A | R | D | P, h_appointments_update, NULL},
    {"POST", "/appointments/:id/cancel", A | R | D | P, h_appointments_cancel, NULL},
    {"POST", "/appointments/:id/no-show", A | R, h_appointments_no_show, NULL},
    {"POST", "/appointments/:id/check-in", A | R, h_visits_check_in, NULL},

    {"POST", "/visits", A | R, h_visits_walk_in, NULL},
    {"GET", "/visits/:id", A | R | D | P, h_visits_get, NULL},
    {"GET", "/visits/:id/transitions", A | R | D | P, h_visits_transitions, page_by_id_q},
    {"POST", "/visits/:id/call", A | R | D, h_visits_call, NULL},
    {"POST", "/visits/:id/left", A | R, h_visits_left, NULL},
    {"GET", "/queue", A | R | D, h_queue_board, queue_q},
    {"POST", "/queue/phase/move", A | R, h_queue_move, NULL},
    {"POST", "/queue/complete-consultation", D, h_queue_complete, NULL},
    {"POST", "/queue/complete", D, h_queue_complete, NULL},

    {"GET", "/visits/:id/evolution", A | D | P, h_evolution_get, NULL},
    {"PUT", "/visits/:id/evolution", D, h_evolution_put, NULL},
    {"POST", "/visits/:id/evolution/sign", D, h_evolution_sign, NULL},
    {"POST", "/visits/:id/evolution/addenda", D, h_evolution_addendum, NULL},

    {"GET", "/patients/:patient_id/history/:doctor_id", A | D, h_patient_history, history_q},
    {"GET", "/dashboard/doctor/stats", D, h_dashboard_doctor_stats, NULL},
    {"GET", "/dashboard/doctor/appointments", D, h_dashboard_doctor_appointments, doctor_appointments_q},
    {"GET", "/doctors/patients", D, h_doctor_patients, doctor_patients_q},
    {"GET", "/dashboard/reception/stats", A | R, h_dashboard_reception_stats, clinic_day_q},

    {"GET", "/events", A | R | D | P, h_events_list, events_q},

    {"GET", "/deliveries", A, h_deliveries_list, deliveries_q},
    {"POST", "/deliveries/:id/retry", A, h_deliveries_retry, NULL},
    {"GET", "/webhooks", A, h_webhooks_list, webhooks_q},
    {"POST", "/webhooks", A, h_webhooks_create, NULL},
    {"GET", "/webhooks/:id", A, h_webhooks_get, NULL},
    {"PATCH", "/webhooks/:id", A, h_webhooks_update, NULL},
    {"DELETE", "/webhooks/:id", A, h_webhooks_delete, NULL},
    {"POST", "/webhooks/:id/rotate-secret", A, h_webhooks_rotate, NULL},

    {"GET", "/fee-rules", A | R, h_fee_rules_list, fee_rules_q},
    {"PUT", "/fee-rules", A, h_fee_rules_put, NULL},
    {"DELETE", "/fee-rules/:id", A, h_fee_rules_delete, NULL},
    {"GET", "/payments", A | R | D, h_payments_list, payments_q},
    {"GET", "/doctors/earnings", A | D, h_doctors_earnings, earnings_q},
    {"GET", "/dashboard/admin/revenue", A, h_dashboard_admin_revenue, revenue_q},
    {"GET", "/payments/:id", A | R | D, h_payments_get, NULL},
    {"POST", "/payments/:id/pay", A | R, h_payments_pay, NULL},
    {"POST", "/payments/:id/refund", A | R, h_payments_refund, NULL},

    {"POST", "/closings", A, h_closings_create, NULL},
    {"POST", "/closings/batch", A, h_closings_batch, NULL},
    {"GET", "/closings", A | D, h_closings_list, closings_q},
    {"GET", "/closings/:id", A | D, h_closings_get, NULL},
    {"POST", "/closings/:id/close", A, h_closings_close, NULL},
    {"POST", "/closings/:id/adjustments", A, h_closings_adjust, NULL},
    {"POST", "/closings/:id/confirm-payment", A, h_closings_confirm_payment, NULL},
    {"POST", "/closings/:id/confirm-receipt", D, h_closings_confirm_receipt, NULL},
    {"POST", "/closings/:id/dispute", D, h_closings_dispute, NULL},
    {"GET", "/closings/export.xlsx", A, h_closings_export_month, export_month_q},
    {"GET", "/closings/:id/export.xlsx", A, h_closings_export_one, NULL},

    {"GET", "/video-consultations/ice-servers", A | R | D | P, h_video_ice_servers, NULL},
    {"GET", "/video-consultations/timings", A | R | D, h_video_timings_list, timings_q},
    {"POST", "/video-consultations/timings", A | D, h_video_timings_create, NULL},
    {"PUT", "/video-consultations/timings/:id", A | D, h_video_timings_update, NULL},
    {"DELETE", "/video-consultations/timings/:id", A | D, h_video_timings_delete, NULL},
    {"POST", "/video-consultations/sessions", A | R | D, h_video_sessions_create, NULL},
    {"GET", "/video-consultations/sessions", A | R | D | P, h_video_sessions_list, sessions_q},
    {"GET", "/video-consultations/sessions/:id", A | R | D | P, h_video_sessions_get, NULL},
    {"POST", "/video-consultations/sessions/:id/token", D | P, h_video_sessions_token, NULL},
    {"POST", "/video-consultations/sessions/:id/invite", A | R | D, h_video_sessions_invite, NULL},
    {"DELETE", "/video-consultations/sessions/:id/invitations/:invitation_id", A | R | D, h_video_invitations_revoke, NULL},
    {"POST", "/video-consultations/sessions/:id/end", D, h_video_sessions_end, NULL},
    {"POST", "/video-consultations/sessions/:id/cancel", A | R | D, h_video_sessions_cancel, NULL},
    {"POST", "/video-consultations/invitations/redeem", ROUTE_PUBLIC, h_video_invitations_redeem, NULL},

    {"POST", "/appointments/:id/confirm", A | R | D, h_appointments_confirm, NULL},
    {"POST", "/appointments/:id/decline", A | R | D, h_appointments_decline, NULL},
    {"POST", "/admin/reset", A, h_admin_reset, NULL},
    {"GET", "/conversations", A | R | D | P, h_conversations_list, conversations_q},
    {"POST", "/conversations", R | D | P, h_conversations_create, NULL},
    {"GET", "/conversations/:id", A | R | D | P, h_conversations_get, NULL},
    {"GET", "/conversations/:id/messages", A | R | D | P, h_conversations_messages, conversation_messages_q},
    {"POST", "/conversations/:id/messages", R | D | P, h_conversations_send, NULL},
    {"PATCH", "/conversations/:id/messages/:message_id", R | D | P, h_conversations_message_edit, NULL},
    {"DELETE", "/conversations/:id/messages/:message_id", R | D | P, h_conversations_message_delete, NULL},
    {"POST", "/conversations/:id/read", R | D | P, h_conversations_read, NULL},

    {"GET", "/notifications", A | R | D | P, h_notifications_list, notifications_q},
    {"GET", "/notifications/unread-count", A | R | D | P, h_notifications_unread_count, NULL},
    {"POST", "/notifications/read-all", A | R | D | P, h_notifications_read_all, NULL},
    {"POST", "/notifications/:id/read", A | R | D | P, h_notifications_read, NULL},
    {"GET", "/announcements", A | R, h_announcements_list, page_by_id_q},
    {"POST", "/announcements", A | R, h_announcements_create, NULL},

    {"POST", "/patients/:id/documents", A | R | D | P | ROUTE_UPLOAD, h_documents_upload, NULL},
    {"GET", "/patients/:id/documents", A | R | D | P, h_documents_list, page_by_id_q},
    {"GET", "/documents/:id", A | R | D | P, h_documents_get, NULL},
    {"GET", "/documents/:id/content", A | D | P, h_documents_content, NULL},
    {"DELETE", "/documents/:id", A | R | D | P, h_documents_delete, NULL},
    {"POST", "/documents/:id/restore", A, h_documents_restore, NULL},

    {"PUT", "/users/me/photo", A | R | D | P | ROUTE_RAW, h_photos_put, NULL},
    {"DELETE", "/users/me/photo", A | R | D | P, h_photos_delete, NULL},
    {"GET", "/users/:id/photo", A | R | D | P, h_photos_get, NULL},
};

const size_t routes_count = sizeof routes / sizeof routes[0];
