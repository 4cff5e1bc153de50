/* router: the route table type, path matching, and the three chained ulfius callbacks every
 * request passes through:
 *   priority 0  router_prepare  request id, CORS headers and preflights (cors_http.h), body
 *                               size/type checks, route lookup (404/405), JSON
 *   priority 1  router_guard    bearer token verification and the route's role check (401/403)
 *   priority 2  router_dispatch the query string, checked against the route's parameters
 *                               (400 invalid_query), then the route's handler
 * All three are registered on "*" so ulfius' own (overlapping) matching is never used: paths are
 * matched here, literal segments before integer parameters (":id" matches digits only). */
#ifndef API_ROUTER_H
#define API_ROUTER_H

#include <ulfius.h>

#include "http.h"
#include "query.h"

#define ROUTE_PUBLIC 0x100u /* no token needed */
#define ROUTE_ROOT 0x200u   /* path is not under API_PREFIX (health checks) */
#define ROUTE_UPLOAD 0x400u /* multipart/form-data with a file (upload.h) up to UPLOAD_MAX_BYTES */
#define ROUTE_RAW 0x800u    /* a raw body (not JSON) up to PHOTO_MAX_BYTES, checked by its handler */
#define ROLES_STAFF (ROLE_ADMIN | ROLE_RECEPTIONIST | ROLE_DOCTOR)
#define ROLES_ANY (ROLES_STAFF | ROLE_PATIENT)

struct route {
    const char *method;
    const char *path; /* e.g. "/patients/:id" */
    unsigned access;  /* role bits (enum role) | ROUTE_PUBLIC | ROUTE_ROOT */
    handler_fn handler;
    const struct query_param *query; /* its query parameters (common/query.h); NULL: none */
};

/* The table lives in routes.c. */
extern const struct route routes[];
extern const size_t routes_count;

/* Registers the three callbacks on inst. */
void router_register(struct _u_instance *inst);
/* Prints "METHOD PATH ROLES" for every route (the `routes` subcommand). */
void router_print(const char *prefix);

#endif
