/* eio: the Engine.IO v4 long-polling payload, several packets in one HTTP body joined by the
 * record separator 0x1e (text packets only: a binary packet, b followed by base64, is refused).
 *
 * Pure: no I/O, no globals; safe from any thread. Its input is the body of a POST straight from the
 * network, so it never reads past len and every refusal comes with a static reason. */
#ifndef SIG_EIO_H
#define SIG_EIO_H

#include <stdbool.h>
#include <stddef.h>

#define EIO_SEPARATOR '\x1e'

/* Takes the next packet of the payload buf[0..len) from *pos: returns 1 with *pkt and *pkt_len (a
 * slice of buf) and *pos moved past it and its separator, 0 when the payload is done, -1 when it is
 * refused (*why says why): an empty payload, an empty packet (a separator at the start, the end or
 * after another), a binary packet. */
int eio_payload_next(const char *buf, size_t len, size_t *pos, const char **pkt, size_t *pkt_len, const char **why);

/* Appends packet (len bytes) to the payload dst[0..*used) of capacity cap, with a separator when
 * it is not the first; false (nothing written) when it does not fit. */
bool eio_payload_append(char *dst, size_t cap, size_t *used, const char *packet, size_t len);

#endif
