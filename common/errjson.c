/* errjson: see errjson.h. */
#include "errjson.h"

json_t *errjson_build(enum status st, const char *code, const char *message, json_t *fields)
{
    json_t *err = json_object();
    json_object_set_new(err, "code", json_string(code ? code : status_code(st)));
    json_object_set_new(err, "message", json_string(message ? message : status_message(st)));
    if (fields && json_is_object(fields) && json_object_size(fields) > 0)
        json_object_set_new(err, "fields", fields);
    else
        json_decref(fields);
    json_t *root = json_object();
    json_object_set_new(root, "error", err);
    return root;
}
