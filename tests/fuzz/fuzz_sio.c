/* libFuzzer harness for the Socket.IO codec (signaling-server/sio.c).
 *
 * Feeds arbitrary bytes to sio_parse as one text frame. A frame that parses is re-encoded with the
 * module's own encoders (an EVENT or ACK from its data; a CONNECT or CONNECT_ERROR from a string it
 * holds) and the result must parse again to the same packet: what the server receives it can always
 * write back. Any mismatch aborts, so libFuzzer reports it as a crash. Run with
 * -fsanitize=fuzzer,address,undefined; the seeds are in tests/fuzz/corpus/sio/. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses the encoder's output s (freed here) and checks type, ack id and payload. */
static void check_reparse(char *s, int sio, long long ack_id, const json_t *want)
{
    if (!s)
        abort();
    struct sio_packet pk;
    const char *why = NULL;
    if (!sio_parse(s, strlen(s), &pk, &why))
        abort();
    if (pk.eio != '4' || pk.sio != sio || pk.ack_id != ack_id || strcmp(pk.nsp, "/") != 0 ||
        !json_equal(pk.data, want))
        abort();
    sio_packet_clear(&pk);
    free(s);
}

/* EVENT: re-encode as 42[name,first argument] and as an ACK carrying the whole array. */
static void round_trip_event(const struct sio_packet *pk)
{
    const char *name = json_string_value(json_array_get(pk->data, 0));
    json_t *arg = json_array_get(pk->data, 1); /* NULL when the event has no argument */
    json_t *want = json_array();
    if (!want)
        return;
    json_array_append_new(want, json_string(name));
    if (arg)
        json_array_append(want, arg);
    check_reparse(sio_encode_event(name, arg), 2, -1, want);
    json_decref(want);
    long long id = pk->ack_id >= 0 ? pk->ack_id : 0;
    check_reparse(sio_encode_ack(id, pk->data), 3, id, pk->data);
}

/* CONNECT / CONNECT_ERROR: re-encode a string found in the payload. */
static void round_trip_strings(const struct sio_packet *pk)
{
    const char *s = json_string_value(json_object_get(pk->data, "token"));
    if (pk->sio == 4)
        s = json_is_string(pk->data) ? json_string_value(pk->data)
                                     : json_string_value(json_object_get(pk->data, "message"));
    if (!s)
        return;
    json_t *want = json_pack("{s:s}", pk->sio == 0 ? "sid" : "message", s);
    check_reparse(pk->sio == 0 ? sio_encode_connect(s) : sio_encode_connect_error(s), pk->sio, -1, want);
    json_decref(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sio_packet pk;
    const char *why = NULL;
    if (!sio_parse((const char *)data, size, &pk, &why)) {
        if (!why || pk.data)
            abort();
        return 0;
    }
    if (pk.eio == '4' && pk.sio == 2)
        round_trip_event(&pk);
    else if (pk.eio == '4' && pk.sio == 3)
        check_reparse(sio_encode_ack(pk.ack_id, pk.data), 3, pk.ack_id, pk.data);
    else if (pk.eio == '4' && (pk.sio == 0 || pk.sio == 4) && pk.data)
        round_trip_strings(&pk);
    sio_packet_clear(&pk);
    return 0;
}
