/* libFuzzer harness for the Engine.IO long-polling payload (signaling-server/eio.c) and the packets
 * in it (signaling-server/sio.c), as a POST body reaches the server.
 *
 * Splits arbitrary bytes into packets; each packet must be a non-empty slice inside the input that
 * holds no separator and does not start with 'b', and is handed to sio_parse as the session would.
 * A refusal must come with a reason. The packets accepted are joined again with eio_payload_append
 * and must split back to the same packets. Any mismatch aborts. Seeds: tests/fuzz/corpus/eio/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eio.h"
#include "sio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data, *pkt = NULL, *why = NULL;
    size_t pos = 0, len = 0, used = 0;
    char *joined = malloc(size + 1);
    if (!joined)
        return 0;
    int r, count = 0;
    while ((r = eio_payload_next(buf, size, &pos, &pkt, &len, &why)) == 1) {
        if (len == 0 || pkt < buf || pkt + len > buf + size || memchr(pkt, EIO_SEPARATOR, len) || pkt[0] == 'b')
            abort();
        struct sio_packet pk;
        const char *reason = NULL;
        if (!sio_parse(pkt, len, &pk, &reason) && !reason)
            abort();
        sio_packet_clear(&pk);
        if (!eio_payload_append(joined, size + 1, &used, pkt, len))
            abort();
        count++;
    }
    if (r == -1 && !why)
        abort();
    if (r == 0) { /* the whole payload was accepted: joined again, it is the same bytes */
        if (used != size || memcmp(joined, buf, size) != 0)
            abort();
        pos = 0;
        for (int i = 0; i < count; i++)
            if (eio_payload_next(joined, used, &pos, &pkt, &len, &why) != 1)
                abort();
    }
    free(joined);
    return 0;
}
