/* upload: the file part of a multipart/form-data upload, received as it arrives.
 *
 * How ulfius 2.7.13 hands a body over (measured, docs/ARCHITECTURE.md "Files"): it copies the raw
 * body into request->binary_body up to the instance's max_post_body_size and silently drops the
 * rest, and it feeds every chunk to libmicrohttpd's post processor, which calls the instance's
 * file_upload_callback with each piece of a part that has a file name (non-file parts go to
 * map_post_body, cut at max_post_param_size). All of this happens before the first endpoint
 * callback runs, so the callback cannot know the route's guard yet. upload_receive therefore:
 *   - keeps only the part named "file" of POST {prefix}/patients/{id}/documents, and only when the
 *     request carries an access token that verifies (the guard decides the rest later);
 *   - writes each piece to an unlinked temporary file under UPLOAD_TMP_DIR while hashing it
 *     (SHA-256) and keeping its first bytes for the type, so memory holds one piece at a time;
 *   - stops writing past UPLOAD_MAX_BYTES but keeps counting, so the handler answers 413.
 *
 * Thread rules: with one thread per connection the callback and the request's handler run on the
 * connection's thread, one request at a time, so the upload in progress is thread-local. It is
 * released by upload_release (req_ctx_free calls it once the answer is sent) or, for a request
 * that never reached the handler (the client went away), when the next upload starts on that
 * thread or the thread ends. */
#ifndef API_UPLOAD_H
#define API_UPLOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <ulfius.h>

#define UPLOAD_HEAD_BYTES 16
/* The most kept of a multipart field that is not a file (title, visit_id, ...). */
#define UPLOAD_MAX_FIELD_BYTES 4096
/* What a multipart body may hold besides its file (boundaries, part headers, fields). */
#define UPLOAD_FORM_SLACK 65536

struct upload {
    bool too_large; /* more than UPLOAD_MAX_BYTES arrived; only the count goes on */
    bool failed;    /* the spool could not be written: the handler answers 500 */
    bool extra;     /* a second "file" part came */
    int fd;         /* the spooled bytes, from offset 0 */
    uint64_t size;  /* bytes of the part received */
    unsigned char head[UPLOAD_HEAD_BYTES];
    size_t head_len;
    unsigned char sha256[32]; /* valid once upload_take answered */
    char file_name[256];      /* as sent, cut at 255 bytes */
};

/* ulfius's file_upload_callback (ulfius_set_upload_file_callback_function); always U_OK so the
 * post processor goes on and the handler decides the answer. */
int upload_receive(const struct _u_request *req, const char *key, const char *filename, const char *content_type,
                   const char *transfer_encoding, const char *data, uint64_t off, size_t size, void *cls);

/* The "file" part of req received on this thread, hashed and ready to read from fd offset 0, or
 * NULL when none arrived. Owned by this module until upload_release. */
struct upload *upload_take(const struct _u_request *req);

/* Forgets this thread's upload (closes its spool). Safe to call when there is none. */
void upload_release(void);

#endif
