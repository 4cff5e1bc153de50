/* handlers: every route handler, one file per resource (h_<resource>.c). Each handler parses
 * and validates its input, runs its SQL (ownership decided from the token's claims in the WHERE
 * clause) and answers through the reply helpers. */
#ifndef API_HANDLERS_H
#define API_HANDLERS_H

#include "dbreply.h"
#include "http.h"
#include "validate.h"

#define HANDLER(name) int name(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx)

HANDLER(h_healthz);
HANDLER(h_readyz);
HANDLER(h_console_config);

HANDLER(h_auth_login);
HANDLER(h_auth_refresh);
HANDLER(h_auth_logout);
HANDLER(h_auth_me);
HANDLER(h_auth_password);
HANDLER(h_auth_logout_all);
HANDLER(h_auth_password_reset);
HANDLER(h_auth_activate);

HANDLER(h_clinics_list);
HANDLER(h_clinics_create);
HANDLER(h_clinics_get);
HANDLER(h_clinics_update);
HANDLER(h_clinics_delete);

HANDLER(h_users_create);
HANDLER(h_users_list);
HANDLER(h_users_get);
HANDLER(h_users_update);
HANDLER(h_users_deactivate);

HANDLER(h_doctors_list);
HANDLER(h_doctors_get);
HANDLER(h_doctors_update_me);
HANDLER(h_doctors_update);

HANDLER(h_patients_create);
HANDLER(h_patients_list);
HANDLER(h_patients_me);
HANDLER(h_patients_get);
HANDLER(h_patients_update);
HANDLER(h_patients_account);
HANDLER(h_patients_me_history);

HANDLER(h_audit_list);

HANDLER(h_services_list);
HANDLER(h_services_create);
HANDLER(h_services_get);
HANDLER(h_services_update);

HANDLER(h_availability_list);
HANDLER(h_availability_create);
HANDLER(h_availability_delete);
HANDLER(h_unavailability_list);
HANDLER(h_unavailability_create);
HANDLER(h_unavailability_delete);
HANDLER(h_doctor_slots);

HANDLER(h_appointments_create);
HANDLER(h_appointments_list);
HANDLER(h_appointments_get);
HANDLER(h_appointments_update);
HANDLER(h_appointments_cancel);
HANDLER(h_appointments_no_show);
HANDLER(h_appointments_confirm);
HANDLER(h_appointments_decline);
HANDLER(h_admin_reset);

HANDLER(h_events_list);

HANDLER(h_deliveries_list);
HANDLER(h_deliveries_retry);
HANDLER(h_webhooks_list);
HANDLER(h_webhooks_create);
HANDLER(h_webhooks_get);
HANDLER(h_webhooks_update);
HANDLER(h_webhooks_delete);
HANDLER(h_webhooks_rotate);

HANDLER(h_visits_check_in);
HANDLER(h_visits_walk_in);
HANDLER(h_visits_get);
HANDLER(h_visits_transitions);
HANDLER(h_visits_call);
HANDLER(h_visits_left);
HANDLER(h_queue_board);
HANDLER(h_queue_move);
HANDLER(h_queue_complete);

HANDLER(h_fee_rules_list);
HANDLER(h_fee_rules_put);
HANDLER(h_fee_rules_delete);
HANDLER(h_payments_list);
HANDLER(h_payments_get);
HANDLER(h_payments_pay);
HANDLER(h_payments_refund);
HANDLER(h_doctors_earnings);
HANDLER(h_dashboard_admin_revenue);

HANDLER(h_closings_create);
HANDLER(h_closings_batch);
HANDLER(h_closings_list);
HANDLER(h_closings_get);
HANDLER(h_closings_close);
HANDLER(h_closings_adjust);
HANDLER(h_closings_confirm_payment);
HANDLER(h_closings_confirm_receipt);
HANDLER(h_closings_dispute);
HANDLER(h_closings_export_month);
HANDLER(h_closings_export_one);

HANDLER(h_video_ice_servers);
HANDLER(h_video_timings_list);
HANDLER(h_video_timings_create);
HANDLER(h_video_timings_update);
HANDLER(h_video_timings_delete);
HANDLER(h_video_sessions_create);
HANDLER(h_video_sessions_list);
HANDLER(h_video_sessions_get);
HANDLER(h_video_sessions_token);
HANDLER(h_video_sessions_invite);
HANDLER(h_video_invitations_revoke);
HANDLER(h_video_sessions_end);
HANDLER(h_video_sessions_cancel);
HANDLER(h_video_invitations_redeem);

HANDLER(h_notifications_list);
HANDLER(h_notifications_unread_count);
HANDLER(h_notifications_read);
HANDLER(h_notifications_read_all);
HANDLER(h_announcements_create);
HANDLER(h_announcements_list);

HANDLER(h_evolution_get);
HANDLER(h_evolution_put);
HANDLER(h_evolution_sign);
HANDLER(h_evolution_addendum);

HANDLER(h_patient_history);
HANDLER(h_dashboard_doctor_stats);
HANDLER(h_dashboard_doctor_appointments);
HANDLER(h_doctor_patients);
HANDLER(h_dashboard_reception_stats);

HANDLER(h_conversations_list);
HANDLER(h_conversations_create);
HANDLER(h_conversations_get);
HANDLER(h_conversations_messages);
HANDLER(h_conversations_send);
HANDLER(h_conversations_message_edit);
HANDLER(h_conversations_message_delete);
HANDLER(h_conversations_read);

/* The hours of a weekly rule (start_time, end_time, slot_minutes, already valid by type): the end
 * after the start and at least one slot between them; problems go to errors. */
void rule_hours_check(json_t *body, json_t *errors);

/* Validates ctx->body against specs; on failure answers 422 and returns false. */
bool body_valid(struct _u_response *resp, struct req_ctx *ctx, const struct field_spec *specs, size_t n,
                bool partial, int *rc);

/* A record created and updated from its JSON body alone (clinics, services). */
struct body_resource {
    const char *entity;        /* the audit entity, also the key of a create's audit details */
    const char *create_action; /* audit actions, e.g. "clinic_create" */
    const char *update_action;
    const struct field_spec *fields;
    size_t nfields;
    size_t update_from;        /* an update may change fields[update_from..] only */
    const char *create_sql;    /* $1 the body; returns (json, id) */
    const char *update_sql;    /* $1 the path's id, $2 the body; returns (json, id) */
};
/* Validates the whole body and creates (201, audit details {<entity>: body}). */
int resource_create(struct _u_response *resp, struct req_ctx *ctx, const struct body_resource *r);
/* Validates the body as a partial update and updates record ctx->params[0] (200, audit details
 * {"changes": body}). */
int resource_update(struct _u_response *resp, struct req_ctx *ctx, const struct body_resource *r);

/* The caller's clinic id as text for SQL, or NULL for admins (all clinics). */
const char *scope_clinic(const struct req_ctx *ctx, char buf[24]);

/* What the caller may see of clinic records, as SQL parameters (NULL = no restriction): the
 * clinic (all but admins), the doctor (doctors see their own appointments and visits) and the
 * patient (patients see their own). The pointers point into the struct's buffers. */
struct scope_params {
    char clinic[24], doctor[24], patient[24];
    const char *c, *d, *p;
};
void scope_of(const struct req_ctx *ctx, struct scope_params *s);

/* Moves visit visit_id to target (a status or a desk phase), within the caller's clinic (and, when
 * doctor_scoped, only the caller's own visit), answering with the visit. Whether the move is allowed
 * is the database's (visit_moves): a refusal is a 409 naming the transition. */
int visit_move(struct _u_response *resp, struct req_ctx *ctx, int64_t visit_id, bool doctor_scoped,
               const char *target, const char *action);
/* Completes the consultation of the caller's own visit visit_id (SQL visit_complete, the one the end
 * of a video call runs too); notes (may be NULL) go to the evolution. */
int visit_complete(struct _u_response *resp, struct req_ctx *ctx, int64_t visit_id, const char *notes);

/* The patient search term for q (see h_patients.c): q with letters, else its digits; NULL when
 * q is absent or has neither. Writes into out (size n). */
const char *patient_search_term(const char *q, char *out, size_t n);

/* The clinic and day a day view asks for (its query's clinic_id and date, already checked): admins
 * must name the clinic, staff get their own (naming another answers 404); date NULL = today.
 * Returns false after answering 400 or 404. */
bool clinic_day_query(struct _u_response *resp, struct req_ctx *ctx, int64_t *clinic, const char **date, int *rc);

/* The payment methods (body fields and the earnings filter). */
extern const char *const payment_methods[];

/* The token's user id as text for SQL (the actor of a change). */
const char *actor_text(const struct req_ctx *ctx, char buf[24]);

HANDLER(h_documents_upload);
HANDLER(h_documents_list);
HANDLER(h_documents_get);
HANDLER(h_documents_content);
HANDLER(h_documents_delete);
HANDLER(h_documents_restore);

HANDLER(h_photos_put);
HANDLER(h_photos_delete);
HANDLER(h_photos_get);

#endif
