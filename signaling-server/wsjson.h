/* wsjson: the frames of the plain JSON WebSocket protocol (/ws, docs/ARCHITECTURE.md §7), for clients without
 * Socket.IO. Pure (no I/O): parsing and checking one inbound frame.
 *
 * A frame is {"event": "<name>", "data": {...}?, "ack": n?}. Known events and their data:
 * auth {token, last_event_id?}, authenticate {token}, join_clinic_room {clinic_id},
 * join_doctor_room {doctor_id}, presence {room}, pong (no data), and the video room's
 * admit_patient, deny_patient / remove_patient {reason?}, webrtc_offer / webrtc_answer {sdp, type?},
 * webrtc_ice_candidate {candidate, sdpMid, sdpMLineIndex, usernameFragment?}, hangup {reason?},
 * connection_quality {rtt_ms, packet_loss, jitter_ms}. "ack" (a non-negative integer)
 * asks for an answer {"ack": n, "data": {...}}. Outbound frames are built by the server (ws.c):
 * {"event": "<name>", "data": {...}}. */
#ifndef SIG_WSJSON_H
#define SIG_WSJSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct wsjson_msg {
    const char *type; /* the event name (a static string) */
    long long id;     /* the "ack" number, -1 when absent */
    json_t *obj;      /* the data object (new reference; an empty object when absent) */
};

/* Parses and checks one text frame of len bytes. Returns true and fills out (caller calls
 * wsjson_clear), or false with a static reason in *why (out->obj is then NULL). */
bool wsjson_parse(const char *buf, size_t len, struct wsjson_msg *out, const char **why);
void wsjson_clear(struct wsjson_msg *m);

/* The largest SDP accepted (bytes); the frame cap (SIGNALING_MAX_FRAME) must leave room for it. */
#define WSJSON_MAX_SDP 60000

/* Checks the data object of a client event named name (the same tables, for Socket.IO events).
 * Returns the event's static name when valid, else NULL with a static reason in *why. */
const char *wsjson_check_data(const char *name, json_t *data, const char **why);

#endif
