/* fileio: see fileio.h. */
#include "fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

char *file_read_all(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 1 >= cap) {
            size_t want = cap ? cap * 2 : 4096;
            if (cap > max) {
                errno = EFBIG;
                goto fail;
            }
            char *nb = realloc(buf, want);
            if (!nb)
                goto fail;
            buf = nb;
            cap = want;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f) || n > max) {
        errno = ferror(f) ? EIO : EFBIG;
        goto fail;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
fail:
    fclose(f);
    free(buf);
    return NULL;
}
