/* wire: what a session is sent, in its protocol (Socket.IO frames, or the plain JSON of /ws): event
 * frames (built once per protocol for many receivers), `error` events, presence answers, and the
 * rule of who may hear which event. It sits below the modules that send (session.c, outbox.c,
 * presence.c, video.c, accounts.c) and above peer.c, whose send queue it fills; it calls nothing
 * above it. */
#ifndef SIG_WIRE_H
#define SIG_WIRE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct peer;

/* wire.c's part of a session (embedded in struct peer by peer.c, touched here alone): what it may
 * hear. A patient's video connection not admitted hears only about its own waiting. */
struct wire_peer {
    bool patient;  /* a patient's video connection */
    bool admitted; /* the doctor admitted it: it hears the room */
};

/* p is (or is not) a patient's video connection; p is (or is no longer) admitted. */
void wire_set_patient(struct peer *p, bool patient);
void wire_set_admitted(struct peer *p, bool admitted);

/* Queues text (a NUL-terminated frame, freed here) for p; NULL dooms p (out of memory). */
void wire_send_text(struct peer *p, char *text);
/* Queues the /ws frame of v (stolen; NULL dooms p). */
void wire_send_json(struct peer *p, json_t *v);
/* An `error` event {code, message} in p's protocol. */
void wire_send_error(struct peer *p, const char *code, const char *message);
/* A server event name with a JSON object (borrowed) in p's protocol. */
void wire_send_named(struct peer *p, const char *name, json_t *data);
/* The ack ack_id with data (stolen) as its one argument, in p's protocol; nothing when ack_id < 0. */
void wire_send_ack(struct peer *p, long long ack_id, json_t *data);
/* Whether p may hear an event called name (a waiting patient's video connection hears little). */
bool wire_may_hear(struct peer *p, const char *name);
/* The answer to a presence request: participants is a JSON array text; an ack when ack_id >= 0,
 * else a `presence` event. */
void wire_send_presence(struct peer *p, const char *room, const char *participants, long long ack_id);
/* Sends 42["name",<data>] or {"event":"name","data":<data>}, data being len bytes of JSON text
 * (borrowed), without re-encoding it. No may-hear rule (a relayed WebRTC message). */
void wire_send_frame(struct peer *p, const char *name, const char *data, size_t len);
/* An event of the outbox for p (envelope: JSON text, len bytes, borrowed), if p may hear it. */
void wire_send_event(struct peer *p, const char *name, const char *envelope, size_t len);

/* One event for many peers: its frame is built once per protocol, on first use. name and data are
 * borrowed; wire_event_clear frees the frames. */
struct wire_event {
    const char *name, *data;
    size_t len;
    char *frame[2]; /* Socket.IO, JSON */
    size_t frame_len[2];
};
void wire_event_send(struct wire_event *e, struct peer *p);
void wire_event_clear(struct wire_event *e);

#endif
