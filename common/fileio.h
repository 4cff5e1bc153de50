/* fileio: reading small whole files (keys, migrations, the demo script) into memory. */
#ifndef CLINIC_FILEIO_H
#define CLINIC_FILEIO_H

#include <stddef.h>

/* Reads path into a new NUL-terminated buffer (caller frees) of at most max bytes; sets *len when
 * len is not NULL. NULL when the file cannot be read or is larger than max (errno tells which;
 * EFBIG for too large). */
char *file_read_all(const char *path, size_t max, size_t *len);

#endif
