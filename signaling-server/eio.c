/* eio: see eio.h. */
#include "eio.h"

#include <string.h>

int eio_payload_next(const char *buf, size_t len, size_t *pos, const char **pkt, size_t *pkt_len, const char **why)
{
    if (len == 0) {
        *why = "empty payload";
        return -1;
    }
    if (*pos >= len)
        return 0;
    const char *start = buf + *pos;
    const char *sep = memchr(start, EIO_SEPARATOR, len - *pos);
    size_t n = sep ? (size_t)(sep - start) : len - *pos;
    if (n == 0 || (sep && sep + 1 == buf + len)) {
        *why = "empty packet in the payload";
        return -1;
    }
    if (start[0] == 'b') {
        *why = "binary packets are not supported";
        return -1;
    }
    *pkt = start;
    *pkt_len = n;
    *pos += n + (sep ? 1 : 0);
    return 1;
}

bool eio_payload_append(char *dst, size_t cap, size_t *used, const char *packet, size_t len)
{
    size_t need = len + (*used ? 1 : 0);
    if (need > cap - *used)
        return false;
    if (*used)
        dst[(*used)++] = EIO_SEPARATOR;
    memcpy(dst + *used, packet, len);
    *used += len;
    return true;
}
