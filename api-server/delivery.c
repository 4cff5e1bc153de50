/* delivery: the sender threads; see delivery.h. A worker's loop: connect and LISTEN (retrying every
 * second while PostgreSQL is away), claim a batch, send it, then sleep on its connection's socket and the
 * stop pipe until woken or the next row is due. A row of a batch whose lease could run out before its
 * transfer ends is given back instead of sent, so a lease never expires under a live sender. */
#include "delivery.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "crypto.h"
#include "db.h"
#include "delivery_send.h"
#include "log.h"
#include "server.h"

static struct {
    pthread_t *threads;
    struct delivery_conn **conns; /* each worker's handles, under conns_lock, for delivery_stop */
    pthread_mutex_t conns_lock;
    int n;
    atomic_int stop;
    int wake[2];        /* a pipe: a byte written wakes every sleeping worker */
    char channels[32];  /* the configured channels as an SQL text array, e.g. "{email,sms}" */
} S = {.wake = {-1, -1}, .conns_lock = PTHREAD_MUTEX_INITIALIZER};

/* Publishes (or withdraws, dc NULL) worker i's handles. */
static void set_conn(int i, struct delivery_conn *dc)
{
    pthread_mutex_lock(&S.conns_lock);
    S.conns[i] = dc;
    if (dc && atomic_load(&S.stop))
        delivery_conn_interrupt(dc);
    pthread_mutex_unlock(&S.conns_lock);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A connection that LISTENs on "deliveries", or NULL (logged). */
static PGconn *listen_connect(void)
{
    PGconn *conn = db_connect(app.cfg.database_url);
    if (!conn)
        return NULL;
    PGresult *r = PQexec(conn, "LISTEN deliveries");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        log_warning("delivery: LISTEN failed: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

/* Sleeps up to ms (forever when < 0 is never asked: callers bound it) until a notification, the stop
 * pipe or the timeout. false when the connection broke. */
static bool sleep_on(PGconn *conn, long ms)
{
    struct pollfd fds[2] = {{S.wake[0], POLLIN, 0}, {conn ? PQsocket(conn) : -1, POLLIN, 0}};
    int rc = poll(fds, conn ? 2 : 1, (int)ms);
    if (rc <= 0 || !conn || !(fds[1].revents & (POLLIN | POLLERR | POLLHUP)))
        return true;
    if (!PQconsumeInput(conn))
        return false;
    PGnotify *n;
    while ((n = PQnotifies(conn)) != NULL)
        PQfreemem(n);
    return true;
}

/* Milliseconds until the next row is due, bounded by DELIVERY_POLL_MS; -1 when the query failed. */
static long next_due_ms(PGconn *conn)
{
    const char *p[] = {S.channels};
    PGresult *r = db_exec(conn, "SELECT delivery_next_due($1::text[])", 1, p);
    long ms = app.cfg.delivery_poll_ms;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        ms = -1;
    } else if (!PQgetisnull(r, 0, 0)) {
        double due = strtod(PQgetvalue(r, 0, 0), NULL) * 1000.0 + 5;
        if (due < (double)ms)
            ms = (long)due;
    }
    PQclear(r);
    return ms;
}

/* Records the outcome of one attempt; false when the database is unreachable. */
static bool finish(PGconn *conn, const char *id, const char *lease, const struct send_result *res)
{
    char max[24], base[24], cap[24], min[24];
    snprintf(max, sizeof max, "%ld", app.cfg.delivery_max_attempts);
    snprintf(base, sizeof base, "%ld", app.cfg.delivery_backoff_base_ms);
    snprintf(cap, sizeof cap, "%ld", app.cfg.delivery_backoff_max_ms);
    snprintf(min, sizeof min, "%ld", res->min_delay_ms);
    PGresult *r;
    if (res->interrupted) {
        const char *p[] = {id, lease};
        r = db_exec(conn, "SELECT delivery_release($1, $2::uuid)", 2, p);
    } else {
        if (res->permanent)
            snprintf(max, sizeof max, "1"); /* no point in another attempt: failed now */
        const char *p[] = {id, lease, res->error[0] ? res->error : NULL, max, base, cap, min};
        r = db_exec(conn, "SELECT delivery_finish($1, $2::uuid, $3, $4, $5, $6, $7)", 7, p);
    }
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (ok && res->error[0] && !res->interrupted) {
        const char *st = PQgetisnull(r, 0, 0) ? "lease lost" : PQgetvalue(r, 0, 0);
        log_warning("delivery %s: attempt failed (%s), now %s", id, res->error, st);
    }
    PQclear(r);
    return ok;
}

/* A webhook attempt's effect on its subscription (webhook_outcome: the failure clock, disabling after
 * WEBHOOK_DISABLE_AFTER_SECONDS); false when the database is unreachable. */
static bool webhook_outcome(PGconn *conn, const char *id, const struct send_result *res)
{
    char window[24];
    snprintf(window, sizeof window, "%ld", app.cfg.webhook_disable_after_seconds);
    const char *p[] = {id, res->error[0] ? "false" : "true", window};
    PGresult *r = db_exec(conn, "SELECT webhook_outcome($1, $2, $3)", 3, p);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (ok && strcmp(PQgetvalue(r, 0, 0), "t") == 0)
        log_warning("delivery %s: its webhook subscription has failed for %s s and is now disabled", id, window);
    PQclear(r);
    return ok;
}

/* Sends row i of claimed batch r; false when the database is unreachable. */
static bool send_row(struct delivery_conn *dc, PGconn *conn, const PGresult *r, int i, const char *lease,
                     double claimed_at)
{
    const char *id = PQgetvalue(r, i, 0);
    struct send_result res;
    if (now_s() - claimed_at + (double)app.cfg.delivery_timeout_seconds >= (double)app.cfg.delivery_lease_seconds ||
        atomic_load(&S.stop)) {
        memset(&res, 0, sizeof res);
        res.interrupted = true; /* not tried: back to the queue for whoever is free */
        return finish(conn, id, lease, &res);
    }
    json_t *payload = json_loads(PQgetvalue(r, i, 3), 0, NULL);
    if (payload && !PQgetisnull(r, i, 4)) /* a webhook's secrets and state, read at claim time */
        json_object_set_new(payload, "signing", json_loads(PQgetvalue(r, i, 4), 0, NULL));
    delivery_send(dc, &app.cfg, PQgetvalue(r, i, 1), strtoll(id, NULL, 10), PQgetvalue(r, i, 2), payload, &S.stop,
                  &res);
    json_decref(payload);
    if (!finish(conn, id, lease, &res))
        return false;
    return strcmp(PQgetvalue(r, i, 1), "webhook") != 0 || res.interrupted || res.permanent || webhook_outcome(conn, id, &res);
}

/* Claims a batch and sends it. Returns how many rows were claimed, -1 when the database failed. */
static int claim_and_send(struct delivery_conn *dc, PGconn *conn)
{
    char lease[33], batch[24], secs[24];
    if (!crypto_random_hex16(lease))
        return -1;
    snprintf(batch, sizeof batch, "%ld", app.cfg.delivery_batch);
    snprintf(secs, sizeof secs, "%ld", app.cfg.delivery_lease_seconds);
    const char *p[] = {S.channels, batch, lease, secs};
    double claimed_at = now_s();
    PGresult *r = db_exec(conn,
                          "SELECT d.id, d.channel, d.recipient, d.payload, webhook_signing(d) "
                          "FROM delivery_claim($1::text[], $2, $3::uuid, $4) d",
                          4, p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        log_warning("delivery: claim failed: %s", PQerrorMessage(conn));
        PQclear(r);
        return -1;
    }
    int n = PQntuples(r);
    bool ok = true;
    for (int i = 0; i < n && ok; i++)
        ok = send_row(dc, conn, r, i, lease, claimed_at);
    PQclear(r);
    return ok ? n : -1;
}

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    PGconn *conn = NULL;
    struct delivery_conn *dc = NULL;
    while (!atomic_load(&S.stop)) {
        if (!dc && !(dc = delivery_conn_new())) {
            sleep_on(NULL, 1000);
            continue;
        }
        set_conn(me, dc);
        if (!conn && !(conn = listen_connect())) {
            sleep_on(NULL, 1000);
            continue;
        }
        int n = claim_and_send(dc, conn);
        long ms = n < 0 ? -1 : n >= app.cfg.delivery_batch ? 0 : next_due_ms(conn);
        if (ms < 0 || (ms > 0 && !sleep_on(conn, ms))) {
            PQfinish(conn); /* broken: reconnect (and LISTEN again) on the next turn */
            conn = NULL;
        }
    }
    PQfinish(conn);
    set_conn(me, NULL);
    delivery_conn_free(dc);
    return NULL;
}

/* "{email,sms,webhook}" for the configured channels; false when there is none. */
static bool channels_of(const struct app_config *cfg, char *out, size_t n)
{
    static const char *const all[] = {"email", "sms", "webhook"};
    size_t len = (size_t)snprintf(out, n, "{");
    for (size_t i = 0; i < sizeof all / sizeof all[0] && len < n; i++)
        if (delivery_channel_ready(cfg, all[i]))
            len += (size_t)snprintf(out + len, n - len, "%s%s", len > 1 ? "," : "", all[i]);
    if (len < n)
        snprintf(out + len, n - len, "}");
    return strcmp(out, "{}") != 0;
}

bool delivery_start(int workers)
{
    if (workers <= 0)
        return true;
    if (!channels_of(&app.cfg, S.channels, sizeof S.channels)) {
        log_info("no outbound channel configured (SMTP_URL, SMS_GATEWAY_URL, WEBHOOK_SEND): messages wait in the queue");
        return true;
    }
    if (pipe(S.wake) != 0 || !(S.threads = calloc((size_t)workers, sizeof *S.threads)) ||
        !(S.conns = calloc((size_t)workers, sizeof *S.conns))) {
        log_error("delivery: cannot start the senders: %s", strerror(errno));
        delivery_stop();
        return false;
    }
    atomic_store(&S.stop, 0);
    for (; S.n < workers; S.n++) {
        if (pthread_create(&S.threads[S.n], NULL, worker, (void *)(intptr_t)S.n) != 0) {
            log_error("delivery: cannot start a sender thread");
            delivery_stop();
            return false;
        }
    }
    log_info("delivery: %d sender(s) for %s", workers, S.channels);
    return true;
}

void delivery_stop(void)
{
    atomic_store(&S.stop, 1);
    if (S.wake[1] >= 0 && write(S.wake[1], "x", 1) < 0)
        log_warning("delivery: cannot wake the senders: %s", strerror(errno));
    pthread_mutex_lock(&S.conns_lock);
    for (int i = 0; i < S.n; i++)
        if (S.conns[i])
            delivery_conn_interrupt(S.conns[i]);
    pthread_mutex_unlock(&S.conns_lock);
    for (int i = 0; i < S.n; i++)
        pthread_join(S.threads[i], NULL);
    free(S.threads);
    S.threads = NULL;
    free(S.conns);
    S.conns = NULL;
    S.n = 0;
    for (int i = 0; i < 2; i++) {
        if (S.wake[i] >= 0)
            close(S.wake[i]);
        S.wake[i] = -1;
    }
}

int delivery_run_alone(void)
{
    char channels[32];
    if (!channels_of(&app.cfg, channels, sizeof channels)) {
        fprintf(stderr, "configuration error: deliver needs SMTP_URL, SMS_GATEWAY_URL or WEBHOOK_SEND=1 (no channel is configured)\n");
        return 2;
    }
    sigset_t sigs;
    server_block_stop_signals(&sigs);
    if (!delivery_start(app.cfg.delivery_workers > 0 ? (int)app.cfg.delivery_workers : 1))
        return 1;
    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("received %s: stopping the senders", sig == SIGINT ? "SIGINT" : "SIGTERM");
    delivery_stop();
    return 0;
}
