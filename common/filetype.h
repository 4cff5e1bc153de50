/* filetype: what a stored file is and how it is named on the way out, pure string work.
 *   - The type comes from the file's first bytes only (never its name or a header): PDF
 *     ("%PDF-" at offset 0), PNG, JPEG, WebP. A file whose first bytes are anything else, such as
 *     HTML that carries a PDF header further in, has no type here and is refused.
 *   - A stored name is the sent one without directories or control characters, its extension
 *     replaced by its type's, so "scan.pdf" holding a PNG is kept as "scan.png".
 *   - Content-Disposition names it for RFC 6266: an ASCII fallback in filename="..." and the
 *     UTF-8 name in filename*=UTF-8''<percent-encoded>. */
#ifndef CLINIC_FILETYPE_H
#define CLINIC_FILETYPE_H

#include <stdbool.h>
#include <stddef.h>

#define FILETYPE_HEAD_BYTES 12 /* the bytes filetype_sniff needs to tell every type apart */

/* The MIME type of a file starting with head[0..n), or NULL when not PDF, PNG, JPEG or WebP;
 * with images_only, PDF is refused too (photos). Static strings. */
const char *filetype_sniff(const unsigned char *head, size_t n, bool images_only);
/* The extension of a type filetype_sniff answers, with its dot (".pdf"). */
const char *filetype_ext(const char *mime);
/* The stored name of a file sent as sent (any bytes, may be empty) whose type is mime, into
 * out[cap] (cap >= 32): its last path segment, control characters, quotes and backslashes
 * replaced by '_', invalid UTF-8 bytes too, cut to fit, its extension replaced by mime's;
 * "document" when nothing is left. */
void filetype_safe_name(const char *sent, const char *mime, char *out, size_t cap);
/* The Content-Disposition value "attachment; filename=\"...\"; filename*=UTF-8''..." of a name
 * filetype_safe_name made, into out[cap]; false when it does not fit. */
bool filetype_disposition(const char *name, char *out, size_t cap);

#endif
