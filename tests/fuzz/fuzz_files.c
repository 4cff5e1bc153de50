/* libFuzzer harness for the parsers of a file's network bytes (common/byterange.c, common/filetype.c):
 * the Range header of a download, the first bytes of an upload and the file name it was sent with.
 * The first input byte picks the file size (1..256, or a large one); the rest is, split at the first
 * NUL, the Range header and the sent name, and the whole input is also sniffed as a file's head.
 * Checked: a served part lies inside the file and is not empty; a sniffed type has an extension; the
 * stored name fits its buffer, is valid UTF-8 free of controls, quotes, slashes and backslashes, and
 * ends with that extension; its Content-Disposition fits or is refused, never overflowing. Seeds are
 * in tests/fuzz/corpus/files/. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "byterange.h"
#include "filetype.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether s is valid UTF-8 without C0/C1 controls, DEL, quotes, slashes or backslashes. */
static bool clean_name(const unsigned char *s)
{
    while (*s) {
        if (*s < 0x20 || *s == 0x7f || *s == '"' || *s == '/' || *s == '\\')
            return false;
        size_t n = *s < 0x80 ? 1 : (*s & 0xe0) == 0xc0 ? 2 : (*s & 0xf0) == 0xe0 ? 3 : (*s & 0xf8) == 0xf0 ? 4 : 0;
        if (n == 0 || (n == 2 && s[0] == 0xc2 && s[1] < 0xa0))
            return false;
        for (size_t i = 1; i < n; i++)
            if ((s[i] & 0xc0) != 0x80)
                return false;
        s += n;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint64_t file = data[0] == 0xff ? UINT64_C(21) << 20 : (uint64_t)data[0] + 1;
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    const char *header = text, *name = text + strlen(text);
    if ((size_t)(name - text) < size - 1)
        name++; /* past the NUL: the sent name */

    uint64_t first = 0, count = 0;
    if (byterange_parse(header, file, &first, &count) == BYTERANGE_PART &&
        (count == 0 || first >= file || count > file - first))
        abort();

    const char *mime = filetype_sniff(data, size, false);
    const char *image = filetype_sniff(data, size, true);
    if (image && (!mime || strcmp(image, mime) != 0))
        abort();
    if (mime) {
        const char *ext = filetype_ext(mime);
        char out[64], disp[256];
        if (!ext || ext[0] != '.')
            abort();
        filetype_safe_name(name, mime, out, sizeof out);
        size_t n = strlen(out), e = strlen(ext);
        if (n >= sizeof out || n <= e || strcmp(out + n - e, ext) != 0 || !clean_name((const unsigned char *)out))
            abort();
        if (filetype_disposition(out, disp, sizeof disp) && strlen(disp) >= sizeof disp)
            abort();
    }
    free(text);
    return 0;
}
