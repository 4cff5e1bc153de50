/* libFuzzer harness for the plain JSON protocol's frame checker (signaling-server/wsjson.c, which
 * uses common/validate.c). Feeds arbitrary bytes as one frame; an accepted frame must parse as an
 * object whose "event" is the reported name and whose "ack" is the reported number (or absent and
 * -1), with an object as data; a refused frame must leave nothing allocated. Seeds are in
 * tests/fuzz/corpus/wsjson/. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wsjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wsjson_msg m;
    const char *why = NULL;
    if (!wsjson_parse((const char *)data, size, &m, &why)) {
        if (m.obj || !why)
            abort();
        return 0;
    }
    json_t *frame = json_loadb((const char *)data, size, 0, NULL);
    const char *name = json_string_value(json_object_get(frame, "event"));
    json_t *ack = json_object_get(frame, "ack");
    if (!name || strcmp(name, m.type) != 0 || (ack ? json_integer_value(ack) : -1) != m.id || m.id < -1 ||
        !json_is_object(m.obj))
        abort();
    json_decref(frame);
    wsjson_clear(&m);
    return 0;
}
