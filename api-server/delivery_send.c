/* delivery_send: see delivery_send.h. */
#include "delivery_send.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "mailmsg.h"
#include "webhook_send.h"
#include "webhook_url.h"

/* At most this many sockets of one sender are tracked (one connection per handle, and a spare while
 * libcurl replaces one). */
#define CONN_MAX_FDS 8

struct delivery_conn {
    CURL *smtp, *http;
    pthread_mutex_t lock; /* guards fds, nfds, stopping against delivery_conn_interrupt */
    curl_socket_t fds[CONN_MAX_FDS];
    int nfds;
    bool stopping;
    bool public_only;  /* this transfer may connect to public addresses only (a webhook) */
    bool refused_addr; /* ... and libcurl was about to connect to another one */
};

struct delivery_conn *delivery_conn_new(void)
{
    struct delivery_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    if (!(c->smtp = curl_easy_init()) || !(c->http = curl_easy_init())) {
        delivery_conn_free(c);
        return NULL;
    }
    return c;
}

void delivery_conn_free(struct delivery_conn *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->smtp);
    curl_easy_cleanup(c->http);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void delivery_conn_interrupt(struct delivery_conn *c)
{
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    for (int i = 0; i < c->nfds; i++)
        shutdown(c->fds[i], SHUT_RDWR);
    pthread_mutex_unlock(&c->lock);
}

/* libcurl's socket opener and closer, so that delivery_conn_interrupt can wake a transfer blocked in a
 * read that no progress callback interrupts (libcurl waits for an SMTP server's last answer that way).
 * The opener is also where a webhook's SSRF guard sees the address libcurl resolved and is about to
 * connect to, every one it tries (webhook_url.h), so no DNS answer can lead it elsewhere. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)purpose;
    struct delivery_conn *c = arg;
    pthread_mutex_lock(&c->lock);
    curl_socket_t fd = CURL_SOCKET_BAD;
    if (c->public_only && !webhook_addr_public(&a->addr))
        c->refused_addr = true;
    else if (!c->stopping && c->nfds < CONN_MAX_FDS) {
        fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
        if (fd != CURL_SOCKET_BAD)
            c->fds[c->nfds++] = fd;
    }
    pthread_mutex_unlock(&c->lock);
    return fd;
}

static int close_socket(void *arg, curl_socket_t fd)
{
    struct delivery_conn *c = arg;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < c->nfds; i++)
        if (c->fds[i] == fd) {
            c->fds[i] = c->fds[--c->nfds];
            break;
        }
    close(fd);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

bool delivery_channel_ready(const struct app_config *cfg, const char *channel)
{
    if (strcmp(channel, "email") == 0)
        return cfg->smtp_url[0] != '\0';
    if (strcmp(channel, "sms") == 0)
        return cfg->sms_gateway_url[0] != '\0';
    if (strcmp(channel, "webhook") == 0)
        return cfg->webhook_send;
    return false;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    return atomic_load((const atomic_int *)arg) ? 1 : 0;
}

/* The options every transfer shares: timeouts (SMTP's last answer included), no signals (threads), no
 * redirects, the stop check, the tracked sockets. */
static void common_options(struct delivery_conn *c, CURL *h, const struct app_config *cfg, const atomic_int *stop,
                           char *errbuf)
{
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, cfg->delivery_timeout_seconds);
    curl_easy_setopt(h, CURLOPT_SERVER_RESPONSE_TIMEOUT, cfg->delivery_timeout_seconds);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, c);
    curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, c);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, cfg->delivery_timeout_seconds);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)stop);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    errbuf[0] = '\0';
}

/* Records a failed transfer's reason. */
static void transfer_error(struct send_result *r, CURLcode rc, const char *errbuf, long code, const atomic_int *stop)
{
    (void)rc;
    r->interrupted = atomic_load(stop); /* aborted, or its socket shut, by delivery_stop */
    snprintf(r->error, sizeof r->error, "%s%s%s (response %ld)", curl_easy_strerror(rc), errbuf[0] ? ": " : "",
             errbuf, code);
}

struct reader {
    const char *p;
    size_t left;
};

static size_t read_msg(char *buf, size_t size, size_t n, void *arg)
{
    struct reader *rd = arg;
    size_t len = size * n < rd->left ? size * n : rd->left;
    memcpy(buf, rd->p, len);
    rd->p += len;
    rd->left -= len;
    return len;
}

static void send_email(struct delivery_conn *c, const struct app_config *cfg, int64_t id, const char *to, json_t *payload,
                       const atomic_int *stop, struct send_result *r)
{
    char from_name[256], from_addr[256], tag[33], mail_from[300], rcpt[300], errbuf[CURL_ERROR_SIZE];
    mailmsg_split_mailbox(cfg->smtp_from, from_name, sizeof from_name, from_addr, sizeof from_addr);
    if (!crypto_random_hex16(tag)) {
        snprintf(r->error, sizeof r->error, "no randomness for the MIME boundary");
        return;
    }
    struct mail_msg m = {from_name, from_addr, json_string_value(json_object_get(payload, "to_name")), to,
                         json_string_value(json_object_get(payload, "subject")),
                         json_string_value(json_object_get(payload, "text")),
                         json_string_value(json_object_get(payload, "html")), id, time(NULL), tag};
    size_t len = 0;
    char *msg = mailmsg_build(&m, &len);
    if (!msg) {
        snprintf(r->error, sizeof r->error, "the message cannot be built (recipient address or fields malformed)");
        return;
    }
    snprintf(mail_from, sizeof mail_from, "<%s>", from_addr);
    snprintf(rcpt, sizeof rcpt, "<%s>", to);
    struct curl_slist *rcpts = curl_slist_append(NULL, rcpt);
    struct reader rd = {msg, len};
    CURL *h = c->smtp;
    curl_easy_reset(h); /* options only: the connection cache stays */
    if (!rcpts) {
        snprintf(r->error, sizeof r->error, "out of memory");
        goto out;
    }
    common_options(c, h, cfg, stop, errbuf);
    curl_easy_setopt(h, CURLOPT_URL, cfg->smtp_url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, mail_from);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_msg);
    curl_easy_setopt(h, CURLOPT_READDATA, &rd);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    static const long tls[] = {CURLUSESSL_NONE, CURLUSESSL_TRY, CURLUSESSL_ALL};
    curl_easy_setopt(h, CURLOPT_USE_SSL, tls[cfg->smtp_starttls]);
    if (cfg->smtp_ca_file[0])
        curl_easy_setopt(h, CURLOPT_CAINFO, cfg->smtp_ca_file);
    if (cfg->smtp_user[0]) {
        curl_easy_setopt(h, CURLOPT_USERNAME, cfg->smtp_user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, cfg->smtp_password);
    }
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (rc != CURLE_OK)
        transfer_error(r, rc, errbuf, code, stop);
out:
    curl_slist_free_all(rcpts);
    free(msg);
}

static size_t discard(char *buf, size_t size, size_t n, void *arg)
{
    (void)buf, (void)arg;
    return size * n;
}

static void send_sms(struct delivery_conn *c, const struct app_config *cfg, int64_t id, const char *to, json_t *payload,
                     const atomic_int *stop, struct send_result *r)
{
    char auth[600], errbuf[CURL_ERROR_SIZE];
    json_t *body = json_pack("{s:s, s:O?, s:I}", "to", to, "body", json_object_get(payload, "body"), "id",
                             (json_int_t)id);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (cfg->sms_gateway_token[0]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->sms_gateway_token);
        hdrs = hdrs ? curl_slist_append(hdrs, auth) : NULL;
    }
    CURL *h = c->http;
    curl_easy_reset(h);
    if (!hdrs || !text) {
        snprintf(r->error, sizeof r->error, "out of memory");
        goto out;
    }
    common_options(c, h, cfg, stop, errbuf);
    curl_easy_setopt(h, CURLOPT_URL, cfg->sms_gateway_url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (rc != CURLE_OK) {
        transfer_error(r, rc, errbuf, code, stop);
    } else if (code < 200 || code > 299) {
        snprintf(r->error, sizeof r->error, "the SMS gateway answered HTTP %ld", code);
        curl_off_t after = -1;
        if (code == 429 && curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0)
            r->min_delay_ms = (long)(after > 86400 ? 86400 : after) * 1000;
    }
out:
    curl_slist_free_all(hdrs);
    free(text);
}

/* A webhook: the signed POST of the stored envelope, pinned to the address checked just now, within
 * WEBHOOK_TIMEOUT_SECONDS, no proxy, no redirect; a 2xx is delivered. */
static void send_webhook(struct delivery_conn *c, const struct app_config *cfg, int64_t id, const char *url,
                         json_t *payload, const atomic_int *stop, struct send_result *r)
{
    char errbuf[CURL_ERROR_SIZE];
    struct webhook_request w;
    if (!webhook_request_prepare(cfg, id, url, payload, &w, r->error, sizeof r->error, &r->permanent))
        return;
    CURL *h = c->http;
    curl_easy_reset(h);
    common_options(c, h, cfg, stop, errbuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, cfg->webhook_timeout_seconds);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, cfg->webhook_timeout_seconds);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, w.headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, w.body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    c->public_only = !cfg->webhook_allow_private;
    c->refused_addr = false;
    CURLcode rc = curl_easy_perform(h);
    c->public_only = false;
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (rc != CURLE_OK && c->refused_addr)
        snprintf(r->error, sizeof r->error, "refused at delivery time: the URL's host resolves to a loopback, private, "
                                            "link-local or otherwise non-public address");
    else if (rc != CURLE_OK)
        transfer_error(r, rc, errbuf, code, stop);
    else if (code < 200 || code > 299)
        snprintf(r->error, sizeof r->error, "the webhook receiver answered HTTP %ld", code);
    webhook_request_free(&w);
}

void delivery_send(struct delivery_conn *c, const struct app_config *cfg, const char *channel, int64_t id, const char *recipient,
                   json_t *payload, const atomic_int *stop, struct send_result *r)
{
    memset(r, 0, sizeof *r);
    if (strcmp(channel, "email") == 0)
        send_email(c, cfg, id, recipient, payload, stop, r);
    else if (strcmp(channel, "sms") == 0)
        send_sms(c, cfg, id, recipient, payload, stop, r);
    else if (strcmp(channel, "webhook") == 0)
        send_webhook(c, cfg, id, recipient, payload, stop, r);
    else
        snprintf(r->error, sizeof r->error, "channel %s has no sender", channel);
}
