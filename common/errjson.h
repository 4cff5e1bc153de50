/* errjson: builds the JSON error envelope of docs/ARCHITECTURE.md §10:
 *   {"error": {"code": "...", "message": "...", "fields": {...}}}
 * Pure (no I/O), so both servers and the unit tests use it. */
#ifndef CLINIC_ERRJSON_H
#define CLINIC_ERRJSON_H

#include <jansson.h>

#include "status.h"

/* Returns a new reference. code/message NULL take the status defaults. fields is stolen (may be
 * NULL; an empty object is dropped). */
json_t *errjson_build(enum status st, const char *code, const char *message, json_t *fields);

#endif
