/* wire: see wire.h. Frames of the outbox's events are assembled from the JSON text PostgreSQL gave
 * (names are [a-z_]: a CHECK of the events table, or a client event name checked by wsjson), so an
 * event is never decoded and encoded again; for many receivers it is built once per protocol. A
 * patient's video connection that the doctor has not admitted hears only about its own waiting;
 * one turned away or sent out of the call is closed once told. What a session may hear is wire.c's
 * part of it (struct wire_peer), set by video.c and session.c through wire_set_*. */
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer.h"
#include "sig.h"
#include "sio.h"

void wire_send_text(struct peer *p, char *text)
{
    if (!text) {
        peer_doom(p);
        return;
    }
    peer_send(p, text, strlen(text));
    free(text);
}

void wire_send_json(struct peer *p, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    wire_send_text(p, text);
}

void wire_send_error(struct peer *p, const char *code, const char *message)
{
    if (peer_json(p)) {
        wire_send_json(p, json_pack("{s:s,s:{s:s,s:s}}", "event", "error", "data", "code", code, "message", message));
        return;
    }
    json_t *data = json_pack("{s:s,s:s}", "code", code, "message", message);
    wire_send_text(p, sio_encode_event("error", data));
    json_decref(data);
}

void wire_send_named(struct peer *p, const char *name, json_t *data)
{
    if (peer_json(p))
        wire_send_json(p, json_pack("{s:s,s:O}", "event", name, "data", data));
    else
        wire_send_text(p, sio_encode_event(name, data));
}

void wire_send_ack(struct peer *p, long long ack_id, json_t *data)
{
    if (!data || ack_id < 0) {
        json_decref(data);
        return;
    }
    if (peer_json(p)) {
        wire_send_json(p, json_pack("{s:I,s:o}", "ack", (json_int_t)ack_id, "data", data));
        return;
    }
    json_t *args = json_pack("[o]", data);
    wire_send_text(p, args ? sio_encode_ack(ack_id, args) : NULL);
    json_decref(args);
}

void wire_send_presence(struct peer *p, const char *room, const char *participants, long long ack_id)
{
    json_t *list = json_loads(participants, 0, NULL);
    json_t *data = json_pack("{s:b,s:s,s:o}", "ok", 1, "room", room, "participants", list ? list : json_array());
    if (!data)
        return;
    if (ack_id >= 0) {
        wire_send_ack(p, ack_id, data);
        return;
    }
    json_object_del(data, "ok");
    wire_send_named(p, "presence", data);
    json_decref(data);
}

/* Builds the frame of name with data in one protocol into a malloc'd buffer (*len its length). */
static char *build_frame(bool json_proto, const char *name, const char *data, size_t dlen, size_t *len)
{
    size_t total = 22 + strlen(name) + dlen + 1;
    char *buf = malloc(total + 1);
    if (!buf)
        return NULL;
    int n = json_proto ? snprintf(buf, total + 1, "{\"event\":\"%s\",\"data\":", name)
                       : snprintf(buf, total + 1, "42[\"%s\",", name);
    memcpy(buf + n, data, dlen);
    buf[n + dlen] = json_proto ? '}' : ']';
    buf[n + dlen + 1] = '\0';
    *len = (size_t)n + dlen + 1;
    return buf;
}

void wire_send_frame(struct peer *p, const char *name, const char *data, size_t len)
{
    size_t n;
    char *buf = build_frame(peer_json(p), name, data, len, &n);
    if (buf)
        peer_send(p, buf, n);
    free(buf);
}

void wire_set_patient(struct peer *p, bool patient) { peer_wire(p)->patient = patient; }

void wire_set_admitted(struct peer *p, bool admitted) { peer_wire(p)->admitted = admitted; }

/* Whether a session (its part w) may hear event name: a patient's video connection not admitted
 * hears only about its own waiting (the session's status, its admission, denial or removal),
 * nothing else of the room. */
static bool may_hear(const struct wire_peer *w, const char *name)
{
    static const char *const waiting[] = {"video_session_updated", "patient_admitted", "admission_denied",
                                          "patient_removed"};
    if (!w->patient || w->admitted)
        return true;
    for (size_t i = 0; i < sizeof waiting / sizeof waiting[0]; i++)
        if (strcmp(name, waiting[i]) == 0)
            return true;
    return false;
}

bool wire_may_hear(struct peer *p, const char *name) { return may_hear(peer_wire(p), name); }

static void after_event(struct peer *p, const struct wire_peer *w, const char *name)
{
    sig.m.events_delivered++;
    /* A patient turned away or sent out of the call is disconnected once told. */
    if (w->patient && (strcmp(name, "admission_denied") == 0 || strcmp(name, "patient_removed") == 0))
        peer_doom(p);
}

void wire_event_send(struct wire_event *e, struct peer *p)
{
    const struct wire_peer *w = peer_wire(p);
    if (!may_hear(w, e->name))
        return;
    bool json = peer_json(p);
    int k = json ? 1 : 0;
    if (!e->frame[k] && !(e->frame[k] = build_frame(json, e->name, e->data, e->len, &e->frame_len[k])))
        return;
    peer_send(p, e->frame[k], e->frame_len[k]);
    after_event(p, w, e->name);
}

void wire_event_clear(struct wire_event *e)
{
    free(e->frame[0]);
    free(e->frame[1]);
    e->frame[0] = e->frame[1] = NULL;
}

void wire_send_event(struct peer *p, const char *name, const char *envelope, size_t len)
{
    const struct wire_peer *w = peer_wire(p);
    if (!may_hear(w, name))
        return;
    wire_send_frame(p, name, envelope, len);
    after_event(p, w, name);
}
