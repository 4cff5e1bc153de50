/* byterange: the Range header of a download (RFC 9110 §14), pure string work.
 * One range is served as asked (206); several ranges are answered with the whole file (200), as
 * the RFC allows, rather than a multipart/byteranges body no client of ours needs; a header that
 * is not a well-formed bytes range is ignored (200). A range that starts past the end, or an
 * empty suffix ("bytes=-0"), is unsatisfiable (416). */
#ifndef CLINIC_BYTERANGE_H
#define CLINIC_BYTERANGE_H

#include <stdint.h>

enum byterange { BYTERANGE_WHOLE, BYTERANGE_PART, BYTERANGE_UNSATISFIABLE };

/* What header (may be NULL: absent) asks of a file of size bytes (size > 0); for
 * BYTERANGE_PART, *first and *count are the bytes to send. */
enum byterange byterange_parse(const char *header, uint64_t size, uint64_t *first, uint64_t *count);

#endif
