/* upload: see upload.h. */
#include "upload.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "log.h"

struct spool {
    struct upload up;
    const struct _u_request *req; /* the request it belongs to */
    EVP_MD_CTX *sha;
    bool finished;
};

static pthread_key_t spool_key;
static pthread_once_t spool_once = PTHREAD_ONCE_INIT;

static void spool_free(void *p)
{
    struct spool *s = p;
    if (!s)
        return;
    if (s->up.fd >= 0)
        close(s->up.fd);
    EVP_MD_CTX_free(s->sha);
    free(s);
}

static void spool_key_make(void) { pthread_key_create(&spool_key, spool_free); }

void upload_release(void)
{
    pthread_once(&spool_once, spool_key_make);
    spool_free(pthread_getspecific(spool_key));
    pthread_setspecific(spool_key, NULL);
}

/* Whether path is {prefix}/patients/{digits}/documents. */
static bool is_documents_path(const char *path)
{
    size_t plen = strlen(app.cfg.prefix);
    if (!path || strncmp(path, app.cfg.prefix, plen) != 0 || strncmp(path + plen, "/patients/", 10) != 0)
        return false;
    const char *s = path + plen + 10;
    size_t digits = strspn(s, "0123456789");
    return digits > 0 && strcmp(s + digits, "/documents") == 0;
}

/* Whether req is an upload this server takes the file of: the documents route with a verified token. */
static bool upload_wanted(const struct _u_request *req)
{
    if (!req->http_verb || strcmp(req->http_verb, "POST") != 0 || !is_documents_path(req->url_path))
        return false;
    const char *auth = u_map_get_case(req->map_header, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *token = auth + 7;
    while (*token == ' ')
        token++;
    struct claims c;
    return tokencache_verify_access(app.tokens, &app.keys, token, time(NULL), &c) == TOKEN_OK;
}

/* A new spool for req on this thread (the previous one released); NULL (logged) on failure. */
static struct spool *spool_start(const struct _u_request *req, const char *filename)
{
    upload_release();
    struct spool *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->req = req;
    s->up.fd = -1;
    snprintf(s->up.file_name, sizeof s->up.file_name, "%s", filename);
    char path[600];
    snprintf(path, sizeof path, "%s/clinic-upload-XXXXXX", app.cfg.upload_tmp_dir);
    s->up.fd = mkstemp(path);
    if (s->up.fd >= 0)
        unlink(path);
    s->sha = EVP_MD_CTX_new();
    if (s->up.fd < 0 || !s->sha || EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL) != 1) {
        log_error("upload: cannot spool under UPLOAD_TMP_DIR=%s: %s", app.cfg.upload_tmp_dir, strerror(errno));
        s->up.failed = true;
    }
    pthread_setspecific(spool_key, s);
    return s;
}

static void spool_write(struct spool *s, const char *data, size_t size)
{
    if (s->up.head_len < UPLOAD_HEAD_BYTES) {
        size_t n = size < UPLOAD_HEAD_BYTES - s->up.head_len ? size : UPLOAD_HEAD_BYTES - s->up.head_len;
        memcpy(s->up.head + s->up.head_len, data, n);
        s->up.head_len += n;
    }
    s->up.size += size;
    if (s->up.size > (uint64_t)app.cfg.upload_max_bytes)
        s->up.too_large = true;
    if (s->up.too_large || s->up.failed)
        return;
    if (EVP_DigestUpdate(s->sha, data, size) != 1)
        s->up.failed = true;
    for (size_t done = 0; done < size && !s->up.failed;) {
        ssize_t w = write(s->up.fd, data + done, size - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            log_error("upload: cannot write the spool: %s", strerror(errno));
            s->up.failed = true;
        } else {
            done += (size_t)w;
        }
    }
}

int upload_receive(const struct _u_request *req, const char *key, const char *filename, const char *content_type,
                   const char *transfer_encoding, const char *data, uint64_t off, size_t size, void *cls)
{
    (void)content_type;
    (void)transfer_encoding;
    (void)cls;
    if (!key || strcmp(key, "file") != 0)
        return U_OK;
    pthread_once(&spool_once, spool_key_make);
    struct spool *s = pthread_getspecific(spool_key);
    if (s && s->req != req)
        s = NULL; /* left by a request that never reached its handler */
    if (off == 0 && s && s->up.head_len > 0) {
        s->up.extra = true; /* a second "file" part: the handler refuses the request */
        return U_OK;
    }
    if (!s) {
        if (!upload_wanted(req))
            return U_OK;
        s = spool_start(req, filename ? filename : "");
        if (!s)
            return U_OK;
    }
    if (size > 0 && !s->up.extra)
        spool_write(s, data, size);
    return U_OK;
}

struct upload *upload_take(const struct _u_request *req)
{
    pthread_once(&spool_once, spool_key_make);
    struct spool *s = pthread_getspecific(spool_key);
    if (!s || s->req != req)
        return NULL;
    if (!s->finished) {
        s->finished = true;
        unsigned int n = 0;
        if (!s->up.failed && EVP_DigestFinal_ex(s->sha, s->up.sha256, &n) != 1)
            s->up.failed = true;
        if (!s->up.failed && lseek(s->up.fd, 0, SEEK_SET) != 0)
            s->up.failed = true;
    }
    return &s->up;
}
