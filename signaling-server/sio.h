/* sio: the Engine.IO v4 / Socket.IO v5 (socket.io 4.x) text packet codec of the signaling-server.
 *
 * Pure: no I/O, no globals, no logging, safe to call from any thread. One WebSocket text frame holds
 * one Engine.IO packet: a type digit '0'..'6' and a payload. Inside a MESSAGE ('4') is one Socket.IO
 * packet: a type digit 0..6, an optional namespace ("/name," — a namespace starts with '/' and runs
 * to the first ',' or to the end of the frame), an optional ack id (1..15 decimal digits) and an
 * optional JSON payload that must fill the rest of the frame.
 *
 * The parser is strict because its input comes straight from the network: it never reads past len,
 * refuses a NUL byte anywhere, and checks the payload's JSON shape per packet type (what socket.io's
 * own parser accepts, minus binary packets). Every refusal comes with a static, human-readable
 * reason, fit to be sent back in a bad_packet error. Encoders build their JSON with jansson so every
 * string is escaped correctly; the server never writes JSON by hand through this module. */
#ifndef CLINIC_SIO_H
#define CLINIC_SIO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define SIO_NSP_MAX 64          /* sizeof nsp: at most 63 bytes and the NUL */
#define SIO_ACK_DIGITS_MAX 15   /* longer ack ids are refused: 15 digits always fit in 2^53 - 1 */
#define SIO_ACK_ID_MAX 999999999999999LL /* the largest ack id parsed or encoded (15 digits) */

struct sio_packet {
    char eio;           /* Engine.IO type '0'..'6' */
    int sio;            /* Socket.IO type 0..6 when eio == '4', else -1 */
    char nsp[64];       /* namespace of a Socket.IO packet, "/" when absent */
    long long ack_id;   /* -1 when absent; 0..(2^53 - 1) */
    json_t *data;       /* the JSON payload (new reference) or NULL when absent */
};

/* Parses one text frame of len bytes (not NUL-terminated; may contain NUL → refused). Returns true and
 * fills out (caller calls sio_packet_clear), or false with a static reason in *why (why may be NULL);
 * on false out holds no reference (data is NULL) and clearing it is harmless.
 *
 * Accepted Engine.IO packets: 0 with an optional JSON object (the handshake; data), 1, 5 and 6 bare,
 * 2 and 3 bare or carrying "probe" (then data is the JSON string "probe"), 4 with a Socket.IO packet.
 * Accepted Socket.IO payloads: CONNECT (0) none or an object; DISCONNECT (1) none; EVENT (2) a
 * non-empty array starting with a string; ACK (3) an array, ack id required; CONNECT_ERROR (4) an
 * object or a string. Ack ids are allowed on EVENT and ACK only. A namespace holds printable ASCII.
 *
 * Refuses: empty frame, unknown Engine.IO type, payload on types that take none, Socket.IO type out of
 * range, binary types 5/6, namespace longer than 63 bytes, ack id with more than 15 digits, payload
 * that is not valid JSON (jansson, JSON_REJECT_DUPLICATES, nothing but whitespace after the value,
 * no "\u0000" in strings, nesting up to jansson's 2048 levels), a payload of the wrong shape. */
bool sio_parse(const char *buf, size_t len, struct sio_packet *out, const char **why);

/* Releases p's payload (decref) and sets data to NULL; p itself is the caller's. p may be NULL. */
void sio_packet_clear(struct sio_packet *p);

/* Encoders: malloc'd NUL-terminated strings, caller frees; NULL on allocation failure or on a bad
 * argument (a NULL or non-UTF-8 string, a negative number, an ack id out of range, args not an
 * array). Arguments are borrowed: nothing here keeps or releases a caller's reference. */

/* 0{"sid":"...","upgrades":[],"pingInterval":N,"pingTimeout":N,"maxPayload":N}; sid borrowed;
 * upgrades: ["websocket"] (a polling session may upgrade) instead of []. */
char *sio_encode_open(const char *sid, bool upgrades, long ping_interval_ms, long ping_timeout_ms, long max_payload);
/* 40{"sid":"..."}; sid borrowed. */
char *sio_encode_connect(const char *sid);
/* 44{"message":"..."}; message borrowed. */
char *sio_encode_connect_error(const char *message);
/* 42["name",data]; name borrowed; data borrowed, may be NULL → no argument: 42["name"]. */
char *sio_encode_event(const char *name, json_t *data);
/* 43<id><args array>; args borrowed (a JSON array; NULL → []); ack_id 0..SIO_ACK_ID_MAX, the range
 * the parser accepts, so every frame encoded here parses back. */
char *sio_encode_ack(long long ack_id, json_t *args);

#endif
