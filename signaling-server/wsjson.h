/* wsjson: the frames of the plain JSON WebSocket protocol (/ws), for clients without Socket.IO.
 * Pure (no I/O): parsing and checking one inbound frame against the table of known message types.
 *
 * Inbound: {"type": "auth", "token", "last_event_id"?} | {"type": "authenticate", "token"} |
 * {"type": "join_clinic_room", "clinic_id"} | {"type": "join_doctor_room", "doctor_id"} |
 * {"type": "presence", "room"} | {"type": "pong"}; each may carry "id" (a non-negative integer) to get an {"type": "ack"} back.
 * Outbound frames are built by the server (ws.c). */
#ifndef SIG_WSJSON_H
#define SIG_WSJSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct wsjson_msg {
    const char *type; /* points into obj */
    long long id;     /* -1 when absent */
    json_t *obj;      /* the whole message (new reference) */
};

/* Parses and checks one text frame of len bytes. Returns true and fills out (caller calls
 * wsjson_clear), or false with a static reason in *why (out->obj is then NULL). */
bool wsjson_parse(const char *buf, size_t len, struct wsjson_msg *out, const char **why);
void wsjson_clear(struct wsjson_msg *m);

#endif
