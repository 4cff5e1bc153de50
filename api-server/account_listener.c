/* account_listener: see account_listener.h. One loop: connect, LISTEN, serve (notifications and
 * heartbeats) until the connection fails or stop is asked, drop the cache, pause, again. Every wait
 * is a poll() on the connection's socket and the stop pipe, with a deadline. */
#include "account_listener.h"

#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define CHANNEL "account_changed"
#define CONNECT_DEADLINE_MS 10000
#define RETRY_FIRST_MS 500
#define RETRY_MAX_MS 10000

enum step { STEP_OK, STEP_FAILED, STEP_STOP };

static struct {
    pthread_t thread;
    bool started;
    atomic_bool stopping;
    int wake[2]; /* the thread polls wake[0]; stop writes wake[1] */
    struct accountcache *cache;
    char conninfo[1024];
    char app_name[64];
    long heartbeat_ms;
} L = {.wake = {-1, -1}};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void account_listener_heard(const char *payload, void *cache)
{
    json_t *v = json_loads(payload, 0, NULL);
    json_t *user = json_object_get(v, "user_id");
    if (json_is_integer(user) && json_integer_value(user) > 0)
        accountcache_forget(cache, (int64_t)json_integer_value(user));
    else
        accountcache_forget_all(cache);
    json_decref(v);
}

/* Waits until fd (-1: none) is ready for events, stop is asked or deadline_ms passes: 1, -1 (stop), 0. */
static int wait_for(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        if (atomic_load(&L.stopping))
            return -1;
        int64_t left = deadline_ms - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p[2] = {{.fd = L.wake[0], .events = POLLIN}, {.fd = fd, .events = events}};
        int n = poll(p, fd >= 0 ? 2 : 1, (int)(left > 60000 ? 60000 : left));
        if (n < 0 && errno != EINTR)
            return -1;
        if (p[0].revents)
            return -1;
        if (n > 0 && fd >= 0 && p[1].revents)
            return 1;
    }
}

static void drain(PGconn *conn)
{
    for (PGnotify *n; (n = PQnotifies(conn)); PQfreemem(n))
        account_listener_heard(n->extra, L.cache);
}

/* Opens the connection without blocking past the deadline or a stop; NULL (logged) on failure. */
static PGconn *open_connection(enum step *why)
{
    /* dbname first: what DATABASE_URL says is overridden by the settings that follow. */
    const char *keys[] = {"dbname", "application_name", "keepalives", "keepalives_idle", "keepalives_interval",
                          "keepalives_count", "tcp_user_timeout", "connect_timeout", NULL};
    const char *vals[] = {L.conninfo, L.app_name, "1", "10", "5", "3", "15000", "10", NULL};
    PGconn *conn = PQconnectStartParams(keys, vals, 1);
    int64_t deadline = now_ms() + CONNECT_DEADLINE_MS;
    *why = STEP_FAILED;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (conn && PQstatus(conn) != CONNECTION_BAD && st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        int w = wait_for(PQsocket(conn), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
        if (w <= 0) {
            *why = w < 0 ? STEP_STOP : STEP_FAILED;
            break;
        }
        st = PQconnectPoll(conn);
    }
    if (conn && st == PGRES_POLLING_OK)
        return conn;
    if (*why == STEP_FAILED)
        log_warning("account listener: cannot connect to the database: %s",
                    conn ? PQerrorMessage(conn) : "out of memory");
    PQfinish(conn);
    return NULL;
}

/* Waits for the answer to the query sent on conn, handling notifications that come first. */
static enum step await_answer(PGconn *conn, int64_t deadline_ms)
{
    bool ok = true;
    for (;;) {
        while (!PQisBusy(conn)) {
            PGresult *r = PQgetResult(conn);
            if (!r) {
                drain(conn); /* every notification sent before the answer, before the answer counts */
                return ok ? STEP_OK : STEP_FAILED;
            }
            ok = ok && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
            PQclear(r);
        }
        int w = wait_for(PQsocket(conn), POLLIN, deadline_ms);
        if (w <= 0)
            return w < 0 ? STEP_STOP : STEP_FAILED;
        if (!PQconsumeInput(conn))
            return STEP_FAILED;
    }
}

/* Sends sql and waits at most one heartbeat period for its answer. */
static enum step ask(PGconn *conn, const char *sql)
{
    if (!PQsendQuery(conn, sql))
        return STEP_FAILED;
    return await_answer(conn, now_ms() + L.heartbeat_ms);
}

/* Hears notifications and sends heartbeats until the connection fails or stop is asked. */
static enum step serve(PGconn *conn)
{
    int64_t next = now_ms() + L.heartbeat_ms;
    for (;;) {
        int w = wait_for(PQsocket(conn), POLLIN, next);
        if (w < 0)
            return STEP_STOP;
        if (w > 0) {
            if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK)
                return STEP_FAILED;
            drain(conn);
            continue;
        }
        enum step s = ask(conn, "SELECT 1");
        if (s != STEP_OK)
            return s;
        int64_t now = now_ms();
        accountcache_renew(L.cache, now + 2 * L.heartbeat_ms);
        next = now + L.heartbeat_ms;
    }
}

/* One connection's life: open, LISTEN, serve. STEP_OK is never returned. */
static enum step one_connection(bool *listened)
{
    enum step s;
    PGconn *conn = open_connection(&s);
    if (!conn)
        return s;
    s = ask(conn, "LISTEN " CHANNEL);
    if (s == STEP_OK) {
        *listened = true;
        accountcache_listening(L.cache, now_ms() + 2 * L.heartbeat_ms);
        log_info("account listener: listening on %s; the guard's account cache is in use", CHANNEL);
        s = serve(conn);
    }
    if (s == STEP_FAILED)
        log_warning("account listener: connection lost (%s); the guard asks the database until it listens again",
                    PQstatus(conn) == CONNECTION_OK ? "no answer" : PQerrorMessage(conn));
    accountcache_lost(L.cache);
    PQfinish(conn);
    return s;
}

static void *run(void *arg)
{
    (void)arg;
    long pause_ms = RETRY_FIRST_MS;
    for (;;) {
        bool listened = false;
        if (one_connection(&listened) == STEP_STOP)
            break;
        if (listened)
            pause_ms = RETRY_FIRST_MS;
        if (wait_for(-1, 0, now_ms() + pause_ms) < 0)
            break;
        pause_ms = pause_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : pause_ms * 2;
    }
    accountcache_lost(L.cache);
    return NULL;
}

bool account_listener_start(struct accountcache *cache, const char *conninfo, const char *host, int port,
                            long heartbeat_ms)
{
    L.cache = cache;
    L.heartbeat_ms = heartbeat_ms;
    snprintf(L.conninfo, sizeof L.conninfo, "%s", conninfo);
    snprintf(L.app_name, sizeof L.app_name, "clinic-accounts %s:%d", host, port);
    atomic_store(&L.stopping, false);
    if (pipe(L.wake) != 0) {
        log_error("account listener: pipe: %s", strerror(errno));
        L.wake[0] = L.wake[1] = -1;
        return false;
    }
    int rc = pthread_create(&L.thread, NULL, run, NULL);
    if (rc != 0) {
        log_error("account listener: cannot start its thread: %s", strerror(rc));
        close(L.wake[0]);
        close(L.wake[1]);
        L.wake[0] = L.wake[1] = -1;
        return false;
    }
    L.started = true;
    return true;
}

void account_listener_stop(void)
{
    if (!L.started)
        return;
    atomic_store(&L.stopping, true);
    ssize_t n = write(L.wake[1], "x", 1);
    (void)n; /* the flag alone stops it at its next wake-up */
    pthread_join(L.thread, NULL);
    close(L.wake[0]);
    close(L.wake[1]);
    L.wake[0] = L.wake[1] = -1;
    L.started = false;
}
