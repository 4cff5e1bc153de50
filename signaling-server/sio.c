/* sio: see sio.h.
 *
 * Parsing walks the frame with a cursor (p, end) and never forms a C string from it: the frame is
 * not NUL-terminated, so every step checks p < end first, and the only copy (the namespace) is
 * bounded by sizeof nsp. The JSON payload, when present, is handed whole to json_loadb without
 * JSON_DISABLE_EOF_CHECK, so trailing bytes after the value are refused by jansson itself.
 *
 * Encoding builds one jansson value, dumps it compactly and prefixes the packet type (and ack id):
 * one malloc of a length computed from the two parts, filled with memcpy. */
#include "sio.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(((struct sio_packet *)0)->nsp) == SIO_NSP_MAX, "nsp size");

enum { SIO_CONNECT, SIO_DISCONNECT, SIO_EVENT, SIO_ACK, SIO_CONNECT_ERROR, SIO_BINARY_EVENT, SIO_BINARY_ACK };

static bool fail(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return false;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Parses n bytes of JSON (any value) into *out (new reference). */
static bool parse_json(const char *p, size_t n, json_t **out, const char **why)
{
    json_error_t err;
    *out = json_loadb(p, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
    return *out ? true : fail(why, "payload is not valid JSON");
}

/* The payload of a non-MESSAGE Engine.IO packet. */
static bool parse_eio_payload(char type, const char *p, size_t n, struct sio_packet *out, const char **why)
{
    if (n == 0)
        return true;
    if (type == '0') {
        if (!parse_json(p, n, &out->data, why))
            return false;
        return json_is_object(out->data) ? true : fail(why, "OPEN payload must be an object");
    }
    if ((type == '2' || type == '3') && n == 5 && memcmp(p, "probe", 5) == 0) {
        out->data = json_string("probe");
        return out->data ? true : fail(why, "out of memory");
    }
    return fail(why, "unexpected payload for this packet type");
}

/* An optional namespace at *p: '/' up to the first ',' (consumed) or the end of the frame. */
static bool parse_nsp(const char **p, const char *end, char nsp[SIO_NSP_MAX], const char **why)
{
    const char *s = *p;
    if (s == end || *s != '/')
        return true; /* absent: out->nsp already holds "/" */
    const char *e = s;
    while (e < end && *e != ',')
        e++;
    size_t n = (size_t)(e - s);
    if (n >= SIO_NSP_MAX)
        return fail(why, "namespace longer than 63 bytes");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return fail(why, "namespace holds a character that is not printable ASCII");
    memcpy(nsp, s, n);
    nsp[n] = '\0';
    *p = e < end ? e + 1 : e;
    return true;
}

/* An optional ack id at *p: 1..SIO_ACK_DIGITS_MAX decimal digits. */
static bool parse_ack_id(const char **p, const char *end, long long *ack_id, const char **why)
{
    const char *s = *p;
    long long v = 0;
    size_t n = 0;
    while (s + n < end && is_digit(s[n])) {
        if (++n > SIO_ACK_DIGITS_MAX)
            return fail(why, "ack id longer than 15 digits");
        v = v * 10 + (s[n - 1] - '0');
    }
    if (n > 0)
        *ack_id = v;
    *p = s + n;
    return true;
}

/* Checks the payload shape and ack id presence of Socket.IO packet type t. */
static bool check_sio_packet(int t, const json_t *data, long long ack_id, const char **why)
{
    if (ack_id >= 0 && t != SIO_EVENT && t != SIO_ACK)
        return fail(why, "ack id not allowed on this packet type");
    switch (t) {
    case SIO_CONNECT:
        return !data || json_is_object(data) ? true : fail(why, "CONNECT payload must be an object");
    case SIO_DISCONNECT:
        return !data ? true : fail(why, "unexpected payload for this packet type");
    case SIO_EVENT:
        if (!json_is_array(data) || json_array_size(data) == 0 || !json_is_string(json_array_get(data, 0)))
            return fail(why, "EVENT payload must be a non-empty array starting with a string");
        return true;
    case SIO_ACK:
        if (ack_id < 0)
            return fail(why, "ACK without an ack id");
        return json_is_array(data) ? true : fail(why, "ACK payload must be an array");
    default: /* SIO_CONNECT_ERROR */
        if (!json_is_object(data) && !json_is_string(data))
            return fail(why, "CONNECT_ERROR payload must be an object or a string");
        return true;
    }
}

/* The Socket.IO packet inside an Engine.IO MESSAGE: p..end is everything after the '4'. */
static bool parse_sio(const char *p, const char *end, struct sio_packet *out, const char **why)
{
    if (p == end)
        return fail(why, "MESSAGE without a Socket.IO packet type");
    if (!is_digit(*p) || *p > '6')
        return fail(why, "Socket.IO packet type out of range");
    out->sio = *p++ - '0';
    if (out->sio == SIO_BINARY_EVENT || out->sio == SIO_BINARY_ACK)
        return fail(why, "binary packets are not supported");
    if (!parse_nsp(&p, end, out->nsp, why) || !parse_ack_id(&p, end, &out->ack_id, why))
        return false;
    if (p < end && !parse_json(p, (size_t)(end - p), &out->data, why))
        return false;
    return check_sio_packet(out->sio, out->data, out->ack_id, why);
}

bool sio_parse(const char *buf, size_t len, struct sio_packet *out, const char **why)
{
    out->eio = 0;
    out->sio = -1;
    memcpy(out->nsp, "/", 2);
    out->ack_id = -1;
    out->data = NULL;
    if (!buf || len == 0)
        return fail(why, "empty frame");
    if (memchr(buf, '\0', len))
        return fail(why, "frame contains a NUL byte");
    if (buf[0] < '0' || buf[0] > '6')
        return fail(why, "unknown Engine.IO packet type");
    out->eio = buf[0];
    bool ok = out->eio == '4' ? parse_sio(buf + 1, buf + len, out, why)
                              : parse_eio_payload(out->eio, buf + 1, len - 1, out, why);
    if (!ok)
        sio_packet_clear(out);
    return ok;
}

void sio_packet_clear(struct sio_packet *p)
{
    if (!p)
        return;
    json_decref(p->data);
    p->data = NULL;
}

/* prefix (plen bytes) followed by the compact JSON text of value; steals value (may be NULL). */
static char *frame(const char *prefix, size_t plen, json_t *value)
{
    if (!value)
        return NULL;
    char *json = json_dumps(value, JSON_COMPACT);
    json_decref(value);
    if (!json)
        return NULL;
    size_t jlen = strlen(json);
    char *out = NULL;
    if (jlen <= SIZE_MAX - plen - 1)
        out = malloc(plen + jlen + 1);
    if (out) {
        memcpy(out, prefix, plen);
        memcpy(out + plen, json, jlen + 1);
    }
    free(json);
    return out;
}

char *sio_encode_open(const char *sid, bool upgrades, long ping_interval_ms, long ping_timeout_ms, long max_payload)
{
    if (!sid || ping_interval_ms < 0 || ping_timeout_ms < 0 || max_payload < 0)
        return NULL;
    return frame("0", 1,
                 json_pack("{s:s,s:o,s:I,s:I,s:I}", "sid", sid, "upgrades",
                           upgrades ? json_pack("[s]", "websocket") : json_array(), "pingInterval",
                           (json_int_t)ping_interval_ms, "pingTimeout", (json_int_t)ping_timeout_ms,
                           "maxPayload", (json_int_t)max_payload));
}

char *sio_encode_connect(const char *sid)
{
    return sid ? frame("40", 2, json_pack("{s:s}", "sid", sid)) : NULL;
}

char *sio_encode_connect_error(const char *message)
{
    return message ? frame("44", 2, json_pack("{s:s}", "message", message)) : NULL;
}

char *sio_encode_event(const char *name, json_t *data)
{
    if (!name)
        return NULL;
    json_t *arr = json_array();
    if (!arr || json_array_append_new(arr, json_string(name)) != 0 ||
        (data && json_array_append(arr, data) != 0)) {
        json_decref(arr);
        return NULL;
    }
    return frame("42", 2, arr);
}

char *sio_encode_ack(long long ack_id, json_t *args)
{
    char prefix[32];
    if (ack_id < 0 || ack_id > SIO_ACK_ID_MAX || (args && !json_is_array(args)))
        return NULL;
    int n = snprintf(prefix, sizeof prefix, "43%lld", ack_id);
    if (n < 0 || (size_t)n >= sizeof prefix)
        return NULL;
    return frame(prefix, (size_t)n, args ? json_incref(args) : json_array());
}
