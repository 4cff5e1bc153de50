/* connguard: see connguard.h. */
#include "connguard.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <ulfius.h>

#include "app.h"
#include "log.h"

#define SUMMARY_MS 10000 /* how often closed and refused connections are summed up in the log */
#define MHD_LINES 20     /* MHD messages passed on per summary period */

enum phase { WAITING, BODY, HANDLING };

struct conn_rec {
    struct conn_rec *prev, *next;
    struct MHD_Connection *conn;
    MHD_socket fd;
    enum phase phase;
    bool in_request; /* a request line was read, its response is not sent yet */
    bool closing;    /* shut down by the watchdog */
    int64_t since_ms;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn_rec *head; /* every live connection, under lock */
static _Thread_local struct conn_rec *current; /* the connection of this thread */

static pthread_t watchdog;
static bool watchdog_running;
static atomic_bool stopping;
static atomic_long refused, mhd_lines, mhd_dropped;
static long closed_waiting, closed_body; /* under lock */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct conn_rec *rec_of(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void connguard_notify_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                                 enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct conn_rec *r = ci ? calloc(1, sizeof *r) : NULL;
        if (!r)
            return; /* unguarded, under MHD's idle timeout only */
        r->conn = connection;
        r->fd = ci->connect_fd;
        r->phase = WAITING;
        r->since_ms = now_ms();
        pthread_mutex_lock(&lock);
        r->next = head;
        if (head)
            head->prev = r;
        head = r;
        pthread_mutex_unlock(&lock);
        *socket_context = r;
        return;
    }
    struct conn_rec *r = *socket_context;
    if (!r)
        return;
    pthread_mutex_lock(&lock);
    if (r->prev)
        r->prev->next = r->next;
    else
        head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    pthread_mutex_unlock(&lock);
    free(r);
    *socket_context = NULL;
}

void *connguard_uri_logged(void *cls, const char *uri, struct MHD_Connection *connection)
{
    struct conn_rec *r = rec_of(connection);
    current = r;
    if (r) {
        pthread_mutex_lock(&lock);
        r->in_request = true;
        pthread_mutex_unlock(&lock);
    }
    return ulfius_uri_logger(cls, uri);
}

void connguard_request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                                 enum MHD_RequestTerminationCode toe)
{
    mhd_request_completed(cls, connection, con_cls, toe);
    struct conn_rec *r = rec_of(connection);
    if (!r)
        return;
    pthread_mutex_lock(&lock);
    r->in_request = false;
    r->phase = WAITING;
    r->since_ms = now_ms();
    pthread_mutex_unlock(&lock);
}

void connguard_request_received(void)
{
    struct conn_rec *r = current;
    if (!r)
        return;
    pthread_mutex_lock(&lock);
    r->phase = HANDLING;
    pthread_mutex_unlock(&lock);
}

/* What MHD says about one client's doing (it left, sent a malformed or oversized request, stopped
 * reading): debug lines, since any client can cause as many as it likes. */
static const char *const client_doings[] = {
    "closed by remote side", "is closed when reading", "disconnected when reading", "Failed to send",
    "Error processing request", "`Host' header", "Content-Length", "Not enough memory in pool", NULL,
};

void connguard_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    /* One line per connection refused over the total or the per-address limit: counted instead. */
    if (strstr(fmt, "reached connection limit")) {
        atomic_fetch_add(&refused, 1);
        return;
    }
    enum log_level level = LOG_WARNING;
    for (const char *const *c = client_doings; *c && level == LOG_WARNING; c++)
        if (strstr(fmt, *c))
            level = LOG_DEBUG;
    if (!log_enabled(level))
        return;
    if (level == LOG_WARNING && atomic_fetch_add(&mhd_lines, 1) >= MHD_LINES) {
        atomic_fetch_add(&mhd_dropped, 1);
        return;
    }
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\r\n")] = '\0';
    log_msg(level, "libmicrohttpd: %s", line);
}

/* Shuts down the connections past their phase's deadline; moves those whose head is in to BODY. */
static void sweep(int64_t now)
{
    pthread_mutex_lock(&lock);
    for (struct conn_rec *r = head; r; r = r->next) {
        if (r->closing || r->phase == HANDLING)
            continue;
        if (r->phase == WAITING && r->in_request &&
            MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE)) {
            r->phase = BODY;
            r->since_ms = now;
            continue;
        }
        long limit = r->phase == WAITING ? app.cfg.header_timeout_ms : app.cfg.body_timeout_ms;
        if (now - r->since_ms < limit)
            continue;
        shutdown(r->fd, SHUT_RDWR);
        r->closing = true;
        if (r->phase == WAITING)
            closed_waiting++;
        else
            closed_body++;
    }
    pthread_mutex_unlock(&lock);
}

/* Logs what was closed or refused since the last summary, if anything. */
static void summary(void)
{
    pthread_mutex_lock(&lock);
    long waiting = closed_waiting, body = closed_body;
    closed_waiting = closed_body = 0;
    pthread_mutex_unlock(&lock);
    long over = atomic_exchange(&refused, 0);
    long dropped = atomic_exchange(&mhd_dropped, 0);
    atomic_store(&mhd_lines, 0);
    if (waiting || body || over)
        log_warning("connections in the last %d s: %ld closed without a complete request head within %ld ms, "
                    "%ld without their body within %ld ms, %ld refused over the connection limits",
                    SUMMARY_MS / 1000, waiting, app.cfg.header_timeout_ms, body, app.cfg.body_timeout_ms, over);
    if (dropped)
        log_warning("libmicrohttpd: %ld more messages not shown", dropped);
}

static void *watchdog_main(void *arg)
{
    (void)arg;
    long shortest = app.cfg.header_timeout_ms < app.cfg.body_timeout_ms ? app.cfg.header_timeout_ms
                                                                          : app.cfg.body_timeout_ms;
    long tick = shortest / 10;
    tick = tick < 10 ? 10 : tick > 250 ? 250 : tick;
    struct timespec ts = {0, tick * 1000000L};
    int64_t next_summary = now_ms() + SUMMARY_MS;
    while (!atomic_load(&stopping)) {
        nanosleep(&ts, NULL);
        int64_t now = now_ms();
        sweep(now);
        if (now >= next_summary) {
            summary();
            next_summary = now + SUMMARY_MS;
        }
    }
    return NULL;
}

bool connguard_start(void)
{
    atomic_store(&stopping, false);
    int rc = pthread_create(&watchdog, NULL, watchdog_main, NULL);
    if (rc != 0) {
        log_error("cannot start the connection watchdog: %s", strerror(rc));
        return false;
    }
    watchdog_running = true;
    return true;
}

void connguard_stop(void)
{
    if (!watchdog_running)
        return;
    atomic_store(&stopping, true);
    pthread_join(watchdog, NULL);
    watchdog_running = false;
    summary();
}
