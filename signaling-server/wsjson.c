/* wsjson: see wsjson.h. The frame's envelope and each event's data are field tables checked by
 * validate_object (common), so unknown fields, missing fields and wrong types are refused in one
 * place. */
#include "wsjson.h"

#include <string.h>

#include "chatmsg.h"
#include "validate.h"

static const struct field_spec frame_fields[] = {
    {"event", FT_STRING, FF_REQUIRED, 1, 32, NULL},
    {"ack", FT_INT, 0, 0, 9007199254740991LL, NULL},
};

static const struct field_spec auth_fields[] = {
    {"token", FT_STRING, FF_REQUIRED, 1, 4096, NULL},
    {"last_event_id", FT_STRING, 0, 3, 40, NULL},
};
static const struct field_spec authenticate_fields[] = {
    {"token", FT_STRING, FF_REQUIRED, 1, 4096, NULL},
};
static const struct field_spec clinic_fields[] = {
    {"clinic_id", FT_INT, FF_REQUIRED, 0, 0, NULL},
};
static const struct field_spec doctor_fields[] = {
    {"doctor_id", FT_INT, FF_REQUIRED, 0, 0, NULL},
};
static const struct field_spec presence_fields[] = {
    {"room", FT_STRING, FF_REQUIRED, 1, 40, NULL},
};

/* The video room (docs/ARCHITECTURE.md §4). An SDP is kept byte for byte; an empty candidate is the end of
 * candidates. */
static const struct field_spec reason_fields[] = {
    {"reason", FT_STRING, FF_NULLABLE, 1, 200, NULL},
};
static const struct field_spec sdp_fields[] = {
    {"sdp", FT_TEXT, FF_REQUIRED, 1, WSJSON_MAX_SDP, NULL},
    {"type", FT_STRING, 0, 1, 16, NULL},
};
static const struct field_spec candidate_fields[] = {
    {"candidate", FT_TEXT, FF_REQUIRED, 0, 2048, NULL},
    {"sdpMid", FT_TEXT, FF_NULLABLE, 0, 64, NULL},
    {"sdpMLineIndex", FT_INT, FF_NULLABLE, 0, 255, NULL},
    {"usernameFragment", FT_TEXT, FF_NULLABLE, 0, 256, NULL},
};
static const struct field_spec quality_fields[] = {
    {"rtt_ms", FT_NUMBER, FF_REQUIRED, 0, 60000, NULL},
    {"packet_loss", FT_NUMBER, FF_REQUIRED, 0, 1, NULL},
    {"jitter_ms", FT_NUMBER, FF_REQUIRED, 0, 60000, NULL},
};
/* Conversations (chat.c): conversation_id may be left out by a video connection (its session's). */
static const struct field_spec typing_fields[] = {
    {"conversation_id", FT_INT, 0, 0, 0, NULL},
};
static const struct field_spec history_fields[] = {
    {"before_id", FT_INT, 0, 0, 0, NULL},
    {"limit", FT_INT, 0, 1, 100, NULL},
};

static const struct {
    const char *event;
    const struct field_spec *fields;
    size_t n;
} events[] = {
    {"auth", auth_fields, 2},
    {"authenticate", authenticate_fields, 1},
    {"join_clinic_room", clinic_fields, 1},
    {"join_doctor_room", doctor_fields, 1},
    {"presence", presence_fields, 1},
    {"pong", NULL, 0},
    {"admit_patient", NULL, 0},
    {"deny_patient", reason_fields, 1},
    {"remove_patient", reason_fields, 1},
    {"webrtc_offer", sdp_fields, 2},
    {"webrtc_answer", sdp_fields, 2},
    {"webrtc_ice_candidate", candidate_fields, 4},
    {"hangup", reason_fields, 1},
    {"connection_quality", quality_fields, 3},
    {"typing", typing_fields, 1},
    {"chat_message", chat_message_fields, 2},
    {"chat_history", history_fields, 2},
};

const char *wsjson_check_data(const char *name, json_t *data, const char **why)
{
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
        if (strcmp(events[i].event, name) != 0)
            continue;
        json_t *errors = json_object();
        bool ok = json_is_object(data) && validate_object(data, events[i].fields, events[i].n, false, errors);
        json_decref(errors);
        if (!ok) {
            *why = "the event's data has missing, unknown or mistyped fields";
            return NULL;
        }
        return events[i].event;
    }
    *why = "unknown event";
    return NULL;
}

bool wsjson_parse(const char *buf, size_t len, struct wsjson_msg *out, const char **why)
{
    memset(out, 0, sizeof *out);
    out->id = -1;
    json_t *frame = len && !memchr(buf, '\0', len) ? json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (!json_is_object(frame)) {
        json_decref(frame);
        *why = "a frame must be one JSON object";
        return false;
    }
    json_t *data = json_object_get(frame, "data");
    json_t *errors = json_object();
    /* The envelope: "data", when present, must be an object (checked here, not by the table). */
    json_t *envelope = json_copy(frame);
    json_object_del(envelope, "data");
    bool ok = validate_object(envelope, frame_fields, sizeof frame_fields / sizeof frame_fields[0], false, errors) &&
              (!data || json_is_object(data));
    json_decref(envelope);
    const char *name = json_string_value(json_object_get(frame, "event"));
    for (size_t i = 0; ok && name && i < sizeof events / sizeof events[0]; i++) {
        if (strcmp(events[i].event, name) != 0)
            continue;
        json_t *d = data ? json_incref(data) : json_object();
        if (!validate_object(d, events[i].fields, events[i].n, false, errors)) {
            json_decref(d);
            break;
        }
        json_t *ack = json_object_get(frame, "ack");
        out->type = events[i].event;
        out->id = ack ? (long long)json_integer_value(ack) : -1;
        out->obj = d;
        json_decref(errors);
        json_decref(frame);
        return true;
    }
    bool known = false;
    for (size_t i = 0; name && i < sizeof events / sizeof events[0]; i++)
        known = known || strcmp(events[i].event, name) == 0;
    *why = !ok ? "a frame is {\"event\", \"data\"?, \"ack\"?} with an object as data"
           : known ? "the event's data has missing, unknown or mistyped fields"
                   : "unknown event";
    json_decref(errors);
    json_decref(frame);
    return false;
}

void wsjson_clear(struct wsjson_msg *m)
{
    json_decref(m->obj);
    m->obj = NULL;
    m->type = NULL;
}
