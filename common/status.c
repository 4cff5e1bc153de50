/* status: the table behind status.h; one row per outcome. */
#include "status.h"

static const struct {
    int http;
    const char *code;
    const char *message;
} table[ST_COUNT] = {
    [ST_OK] = {200, "ok", "OK."},
    [ST_CREATED] = {201, "created", "Created."},
    [ST_NO_CONTENT] = {204, "no_content", "No content."},
    [ST_BAD_REQUEST] = {400, "bad_request", "The request could not be understood."},
    [ST_UNAUTHORIZED] = {401, "unauthorized", "A valid access token is required."},
    [ST_FORBIDDEN] = {403, "forbidden", "Your role may not perform this action."},
    [ST_NOT_FOUND] = {404, "not_found", "The requested resource was not found."},
    [ST_METHOD_NOT_ALLOWED] = {405, "method_not_allowed", "This method is not allowed on this resource."},
    [ST_CONFLICT] = {409, "conflict", "The request conflicts with the current state of the resource."},
    [ST_GONE] = {410, "gone", "The resource is no longer available."},
    [ST_TOO_LARGE] = {413, "payload_too_large", "The request body is too large."},
    [ST_UNSUPPORTED_MEDIA] = {415, "unsupported_media_type", "The request body must be application/json."},
    [ST_INVALID] = {422, "validation_failed", "Some fields are invalid."},
    [ST_THROTTLED] = {429, "too_many_attempts", "Too many attempts; try again later."},
    [ST_INTERNAL] = {500, "internal_error", "An internal error occurred."},
    [ST_UNAVAILABLE] = {503, "service_unavailable", "The service is temporarily unavailable."},
    [ST_RANGE_NOT_SATISFIABLE] = {416, "range_not_satisfiable", "The requested range is not within the file."},
    [ST_INSUFFICIENT_STORAGE] = {507, "storage_quota_exceeded", "The clinic's storage quota would be exceeded."},
};

static int in_range(enum status st) { return st >= 0 && st < ST_COUNT; }

int status_http(enum status st) { return in_range(st) ? table[st].http : 500; }
const char *status_code(enum status st) { return in_range(st) ? table[st].code : "internal_error"; }
const char *status_message(enum status st)
{
    return in_range(st) ? table[st].message : "An internal error occurred.";
}
