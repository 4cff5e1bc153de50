/* status: the one outcome type every operation returns, and its HTTP mapping.
 * Handlers never pick HTTP codes by hand: they return a status and the reply layer maps it. */
#ifndef CLINIC_STATUS_H
#define CLINIC_STATUS_H

enum status {
    ST_OK = 0,
    ST_CREATED,
    ST_NO_CONTENT,
    ST_BAD_REQUEST,
    ST_UNAUTHORIZED,
    ST_FORBIDDEN,
    ST_NOT_FOUND,
    ST_METHOD_NOT_ALLOWED,
    ST_CONFLICT,
    ST_GONE,
    ST_TOO_LARGE,
    ST_UNSUPPORTED_MEDIA,
    ST_INVALID,
    ST_THROTTLED,
    ST_INTERNAL,
    ST_UNAVAILABLE,
    ST_RANGE_NOT_SATISFIABLE,
    ST_INSUFFICIENT_STORAGE,
    ST_COUNT
};

int status_http(enum status st);
/* Default error code ("not_found") and message for a status; static strings. */
const char *status_code(enum status st);
const char *status_message(enum status st);

#endif
