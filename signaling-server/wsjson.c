/* wsjson: see wsjson.h. Each message type is a field table checked by validate_object (common),
 * so unknown fields, missing fields and wrong types are refused in one place. */
#include "wsjson.h"

#include <string.h>

#include "validate.h"

static const struct field_spec auth_fields[] = {
    {"type", FT_STRING, FF_REQUIRED, 1, 32, NULL},
    {"id", FT_INT, 0, 0, 9007199254740991LL, NULL},
    {"token", FT_STRING, FF_REQUIRED, 1, 4096, NULL},
    {"last_event_id", FT_STRING, 0, 3, 63, NULL},
};
static const struct field_spec authenticate_fields[] = {
    {"type", FT_STRING, FF_REQUIRED, 1, 32, NULL},
    {"id", FT_INT, 0, 0, 9007199254740991LL, NULL},
    {"token", FT_STRING, FF_REQUIRED, 1, 4096, NULL},
};
static const struct field_spec clinic_fields[] = {
    {"type", FT_STRING, FF_REQUIRED, 1, 32, NULL},
    {"id", FT_INT, 0, 0, 9007199254740991LL, NULL},
    {"clinic_id", FT_INT, FF_REQUIRED, 0, 0, NULL},
};
static const struct field_spec doctor_fields[] = {
    {"type", FT_STRING, FF_REQUIRED, 1, 32, NULL},
    {"id", FT_INT, 0, 0, 9007199254740991LL, NULL},
    {"doctor_id", FT_INT, FF_REQUIRED, 0, 0, NULL},
};
static const struct field_spec presence_fields[] = {
    {"type", FT_STRING, FF_REQUIRED, 1, 32, NULL},
    {"id", FT_INT, 0, 0, 9007199254740991LL, NULL},
    {"room", FT_STRING, FF_REQUIRED, 1, 40, NULL},
};
static const struct field_spec pong_fields[] = {
    {"type", FT_STRING, FF_REQUIRED, 1, 32, NULL},
};

static const struct {
    const char *type;
    const struct field_spec *fields;
    size_t n;
} types[] = {
    {"auth", auth_fields, 4},
    {"authenticate", authenticate_fields, 3},
    {"join_clinic_room", clinic_fields, 3},
    {"join_doctor_room", doctor_fields, 3},
    {"presence", presence_fields, 3},
    {"pong", pong_fields, 1},
};

bool wsjson_parse(const char *buf, size_t len, struct wsjson_msg *out, const char **why)
{
    memset(out, 0, sizeof *out);
    out->id = -1;
    if (len == 0 || memchr(buf, '\0', len)) {
        *why = "a frame must be one JSON object";
        return false;
    }
    json_t *obj = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        *why = "a frame must be one JSON object";
        return false;
    }
    const char *type = json_string_value(json_object_get(obj, "type"));
    for (size_t i = 0; type && i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(types[i].type, type) != 0)
            continue;
        /* "id" is checked before validate_object may normalise anything. */
        json_t *errors = json_object();
        bool ok = validate_object(obj, types[i].fields, types[i].n, false, errors);
        json_decref(errors);
        if (!ok) {
            json_decref(obj);
            *why = "the message has missing, unknown or mistyped fields";
            return false;
        }
        json_t *id = json_object_get(obj, "id");
        out->obj = obj;
        out->type = types[i].type;
        out->id = id ? (long long)json_integer_value(id) : -1;
        return true;
    }
    json_decref(obj);
    *why = "unknown message type";
    return false;
}

void wsjson_clear(struct wsjson_msg *m)
{
    json_decref(m->obj);
    m->obj = NULL;
    m->type = NULL;
}
