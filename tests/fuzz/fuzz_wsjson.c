/* libFuzzer harness for the plain JSON protocol's frame checker (signaling-server/wsjson.c, which
 * uses common/validate.c). Feeds arbitrary bytes as one frame; an accepted frame must be an object
 * whose "type" is the reported one and whose "id" is the reported one (or absent and -1), and a
 * refused frame must leave nothing allocated. Seeds are in tests/fuzz/corpus/wsjson/. */
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
    const char *type = json_string_value(json_object_get(m.obj, "type"));
    json_t *id = json_object_get(m.obj, "id");
    if (!type || strcmp(type, m.type) != 0 || (id ? json_integer_value(id) : -1) != m.id || m.id < -1)
        abort();
    wsjson_clear(&m);
    return 0;
}
