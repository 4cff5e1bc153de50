/* routes: the one table of every endpoint with the roles allowed to call it. The guard reads
 * the roles from here; `api-server routes` prints it and the tests compare it with openapi.yaml. */
#include "handlers.h"
#include "router.h"

#define A ROLE_ADMIN
#define R ROLE_RECEPTIONIST
#define D ROLE_DOCTOR
#define P ROLE_PATIENT

const struct route routes[] = {
    {"GET", "/healthz", ROUTE_ROOT | ROUTE_PUBLIC, h_healthz},
    {"GET", "/readyz", ROUTE_ROOT | ROUTE_PUBLIC, h_readyz},
    {"GET", "/config.json", ROUTE_ROOT | ROUTE_PUBLIC, h_console_config},

    {"POST", "/auth/login", ROUTE_PUBLIC, h_auth_login},
    {"POST", "/auth/refresh", ROUTE_PUBLIC, h_auth_refresh},
    {"POST", "/auth/logout", ROUTE_PUBLIC, h_auth_logout},
    {"GET", "/auth/me", A | R | D | P, h_auth_me},
    {"POST", "/auth/password", A | R | D | P, h_auth_password},
    {"POST", "/auth/logout-all", A | R | D | P, h_auth_logout_all},

    {"GET", "/clinics", A | R | D, h_clinics_list},
    {"POST", "/clinics", A, h_clinics_create},
    {"GET", "/clinics/:id", A | R | D | P, h_clinics_get},
    {"PATCH", "/clinics/:id", A, h_clinics_update},
    {"DELETE", "/clinics/:id", A, h_clinics_delete},

    {"POST", "/users", A, h_users_create},
    {"GET", "/users", A, h_users_list},
    {"GET", "/users/:id", A, h_users_get},
    {"PATCH", "/users/:id", A, h_users_update},
    {"POST", "/users/:id/deactivate", A, h_users_deactivate},

    {"GET", "/doctors", A | R | D | P, h_doctors_list},
    {"PATCH", "/doctors/me", D, h_doctors_update_me},
    {"GET", "/doctors/:id", A | R | D | P, h_doctors_get},
    {"PATCH", "/doctors/:id", A, h_doctors_update},

    {"POST", "/patients", A | R | D, h_patients_create},
    {"GET", "/patients", A | R | D, h_patients_list},
    {"GET", "/patients/me", P, h_patients_me},
    {"GET", "/patients/:id", A | R | D | P, h_patients_get},
    {"PATCH", "/patients/:id", A | R | D, h_patients_update},
    {"POST", "/patients/:id/account", A | R, h_patients_account},

    {"GET", "/audit", A, h_audit_list},

    {"GET", "/services", A | R | D | P, h_services_list},
    {"POST", "/services", A, h_services_create},
    {"GET", "/services/:id", A | R | D | P, h_services_get},
    {"PATCH", "/services/:id", A, h_services_update},

    {"GET", "/doctors/:id/availability", A | R | D, h_availability_list},
    {"POST", "/doctors/:id/availability", A | R | D, h_availability_create},
    {"DELETE", "/doctors/:id/availability/:rule_id", A | R | D, h_availability_delete},
    {"GET", "/doctors/:id/unavailability", A | R | D, h_unavailability_list},
    {"POST", "/doctors/:id/unavailability", A | R | D, h_unavailability_create},
    {"DELETE", "/doctors/:id/unavailability/:block_id", A | R | D, h_unavailability_delete},
    {"GET", "/doctors/:id/slots", A | R | D | P, h_doctor_slots},

    {"POST", "/appointments", A | R | P, h_appointments_create},
    {"GET", "/appointments", A | R | D | P, h_appointments_list},
    {"GET", "/appointments/:id", A | R | D | P, h_appointments_get},
    {"PATCH", "/appointments/:id", A | R, h_appointments_update},
    {"POST", "/appointments/:id/cancel", A | R | P, h_appointments_cancel},
    {"POST", "/appointments/:id/no-show", A | R, h_appointments_no_show},
    {"POST", "/appointments/:id/check-in", A | R, h_visits_check_in},

    {"POST", "/visits", A | R, h_visits_walk_in},
    {"GET", "/visits/:id", A | R | D | P, h_visits_get},
    {"GET", "/visits/:id/transitions", A | R | D | P, h_visits_transitions},
    {"POST", "/visits/:id/call", A | R | D, h_visits_call},
    {"POST", "/visits/:id/left", A | R, h_visits_left},
    {"GET", "/queue", A | R | D, h_queue_board},
    {"POST", "/queue/phase/move", A | R, h_queue_move},
    {"POST", "/queue/complete-consultation", D, h_queue_complete},
    {"POST", "/queue/complete", D, h_queue_complete},

    {"GET", "/visits/:id/evolution", A | D | P, h_evolution_get},
    {"PUT", "/visits/:id/evolution", D, h_evolution_put},
    {"POST", "/visits/:id/evolution/sign", D, h_evolution_sign},
    {"POST", "/visits/:id/evolution/addenda", D, h_evolution_addendum},

    {"GET", "/patients/:patient_id/history/:doctor_id", A | D, h_patient_history},
    {"GET", "/dashboard/doctor/stats", D, h_dashboard_doctor_stats},
    {"GET", "/dashboard/doctor/appointments", D, h_dashboard_doctor_appointments},
    {"GET", "/doctors/patients", D, h_doctor_patients},
    {"GET", "/dashboard/reception/stats", A | R, h_dashboard_reception_stats},

    {"GET", "/events", A | R | D | P, h_events_list},

    {"GET", "/deliveries", A, h_deliveries_list},
    {"POST", "/deliveries/:id/retry", A, h_deliveries_retry},

    {"GET", "/fee-rules", A | R, h_fee_rules_list},
    {"PUT", "/fee-rules", A, h_fee_rules_put},
    {"DELETE", "/fee-rules/:id", A, h_fee_rules_delete},
    {"GET", "/payments", A | R | D, h_payments_list},
    {"GET", "/doctors/earnings", A | D, h_doctors_earnings},
    {"GET", "/dashboard/admin/revenue", A, h_dashboard_admin_revenue},
    {"GET", "/payments/:id", A | R | D, h_payments_get},
    {"POST", "/payments/:id/pay", A | R, h_payments_pay},
    {"POST", "/payments/:id/refund", A | R, h_payments_refund},

    {"POST", "/closings", A, h_closings_create},
    {"POST", "/closings/batch", A, h_closings_batch},
    {"GET", "/closings", A | D, h_closings_list},
    {"GET", "/closings/:id", A | D, h_closings_get},
    {"POST", "/closings/:id/close", A, h_closings_close},
    {"POST", "/closings/:id/adjustments", A, h_closings_adjust},
    {"POST", "/closings/:id/confirm-payment", A, h_closings_confirm_payment},
    {"POST", "/closings/:id/confirm-receipt", D, h_closings_confirm_receipt},
    {"POST", "/closings/:id/dispute", D, h_closings_dispute},
    {"GET", "/closings/export.xlsx", A, h_closings_export_month},
    {"GET", "/closings/:id/export.xlsx", A, h_closings_export_one},

    {"GET", "/video-consultations/ice-servers", A | R | D | P, h_video_ice_servers},
    {"GET", "/video-consultations/timings", A | R | D, h_video_timings_list},
    {"POST", "/video-consultations/timings", A | D, h_video_timings_create},
    {"PUT", "/video-consultations/timings/:id", A | D, h_video_timings_update},
    {"DELETE", "/video-consultations/timings/:id", A | D, h_video_timings_delete},
    {"POST", "/video-consultations/sessions", A | R | D, h_video_sessions_create},
    {"GET", "/video-consultations/sessions", A | R | D | P, h_video_sessions_list},
    {"GET", "/video-consultations/sessions/:id", A | R | D | P, h_video_sessions_get},
    {"POST", "/video-consultations/sessions/:id/token", D | P, h_video_sessions_token},
    {"POST", "/video-consultations/sessions/:id/invite", A | R | D, h_video_sessions_invite},
    {"DELETE", "/video-consultations/sessions/:id/invitations/:invitation_id", A | R | D, h_video_invitations_revoke},
    {"POST", "/video-consultations/sessions/:id/end", D, h_video_sessions_end},
    {"POST", "/video-consultations/sessions/:id/cancel", A | R | D, h_video_sessions_cancel},
    {"POST", "/video-consultations/invitations/redeem", ROUTE_PUBLIC, h_video_invitations_redeem},
};

const size_t routes_count = sizeof routes / sizeof routes[0];
