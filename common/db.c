/* db: see db.h. The pool is an array of slots guarded by one mutex; a condition variable wakes
 * waiters when a slot is released. Connecting happens outside the lock. */
#include "db.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

struct slot {
    PGconn *conn;
    bool busy;
};

struct db_pool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    char *conninfo;
    int size;
    int acquire_timeout_ms;
    struct slot *slots;
    /* db_pool_listen: set before the pool is shared, read-only afterwards */
    char listen_sql[80];
    void (*on_notify)(const char *payload, void *arg);
    void *notify_arg;
};

static void notice_to_log(void *arg, const char *message)
{
    (void)arg;
    size_t len = strlen(message);
    while (len > 0 && message[len - 1] == '\n')
        len--;
    log_info("postgres notice: %.*s", (int)len, message);
}

PGconn *db_connect(const char *conninfo)
{
    /* Defaults first: settings in conninfo (expanded from "dbname") override them. A statement or an
     * idle transaction never holds a pooled connection for long. */
    const char *keys[] = {"connect_timeout", "keepalives", "keepalives_idle", "application_name", "options",
                          "dbname", NULL};
    const char *vals[] = {"5", "1", "30", "clinic",
                          "-c statement_timeout=30000 -c idle_in_transaction_session_timeout=60000", conninfo, NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (!conn)
        return NULL;
    if (PQstatus(conn) != CONNECTION_OK) {
        log_warning("database connection failed: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, notice_to_log, NULL);
    PGresult *r = PQexec(conn, "SET TIME ZONE 'UTC'");
    PQclear(r);
    return conn;
}

struct db_pool *db_pool_new(const char *conninfo, int size, int acquire_timeout_ms)
{
    struct db_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->slots = calloc((size_t)size, sizeof *p->slots);
    p->conninfo = strdup(conninfo);
    if (!p->slots || !p->conninfo) {
        free(p->slots);
        free(p->conninfo);
        free(p);
        return NULL;
    }
    p->size = size;
    p->acquire_timeout_ms = acquire_timeout_ms;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    return p;
}

void db_pool_free(struct db_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->size; i++)
        if (p->slots[i].conn)
            PQfinish(p->slots[i].conn);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->freed);
    free(p->slots);
    free(p->conninfo);
    free(p);
}

/* An idle connection has nothing to read unless the server closed it (restart, idle kill): a
 * non-blocking look at the socket finds that before a request is sent on a dead link. */
static bool conn_alive(PGconn *conn)
{
    if (PQstatus(conn) != CONNECTION_OK)
        return false;
    struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
    if (pfd.fd < 0)
        return false;
    if (poll(&pfd, 1, 0) > 0 && (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK))
        return false;
    return true;
}

void db_pool_listen(struct db_pool *p, const char *channel, void (*fn)(const char *payload, void *arg), void *arg)
{
    snprintf(p->listen_sql, sizeof p->listen_sql, "LISTEN %s", channel);
    p->on_notify = fn;
    p->notify_arg = arg;
}

/* A new connection of the pool: connected, and listening when db_pool_listen asked; NULL (logged) on failure. */
static PGconn *pool_connect(struct db_pool *p)
{
    PGconn *conn = db_connect(p->conninfo);
    if (!conn || !p->listen_sql[0])
        return conn;
    PGresult *r = PQexec(conn, p->listen_sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        log_warning("database connection failed: %s: %s", p->listen_sql, PQerrorMessage(conn));
    PQclear(r);
    if (!ok) {
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

PGconn *db_acquire(struct db_pool *p)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += p->acquire_timeout_ms / 1000;
    deadline.tv_nsec += (long)(p->acquire_timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }

    pthread_mutex_lock(&p->lock);
    struct slot *s = NULL;
    for (;;) {
        /* Prefer a slot that already holds a connection. */
        for (int i = 0; i < p->size && !s; i++)
            if (!p->slots[i].busy && p->slots[i].conn)
                s = &p->slots[i];
        for (int i = 0; i < p->size && !s; i++)
            if (!p->slots[i].busy)
                s = &p->slots[i];
        if (s)
            break;
        if (pthread_cond_timedwait(&p->freed, &p->lock, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&p->lock);
            log_warning("database pool exhausted after %d ms", p->acquire_timeout_ms);
            return NULL;
        }
    }
    s->busy = true;
    PGconn *conn = s->conn;
    pthread_mutex_unlock(&p->lock);

    /* The slot is ours (busy): its connection is checked and opened outside the lock, and stored
     * back under it. */
    if (conn && !conn_alive(conn)) {
        PQfinish(conn);
        conn = NULL;
    }
    if (!conn)
        conn = pool_connect(p);
    pthread_mutex_lock(&p->lock);
    s->conn = conn;
    if (!conn) {
        s->busy = false;
        pthread_cond_signal(&p->freed);
    }
    pthread_mutex_unlock(&p->lock);
    return conn;
}

void db_release(struct db_pool *p, PGconn *conn)
{
    if (!conn)
        return;
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
        db_rollback(conn);
    for (PGnotify *n; (n = PQnotifies(conn)); PQfreemem(n))
        if (p->on_notify)
            p->on_notify(n->extra, p->notify_arg);
    bool broken = PQstatus(conn) != CONNECTION_OK;
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->size; i++) {
        if (p->slots[i].conn == conn) {
            if (broken)
                p->slots[i].conn = NULL;
            p->slots[i].busy = false;
            break;
        }
    }
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
    if (broken)
        PQfinish(conn); /* network I/O: outside the lock */
}

PGresult *db_exec(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
    PGresult *r = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (!r)
        r = PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
    return r;
}

/* "<table>_<field>_<suffix>" -> field, when the name has that shape. */
static void field_from_constraint(const char *constraint, const char *table, char *field, size_t len)
{
    static const char *const suffixes[] = {"_check", "_key", "_fkey", NULL};
    field[0] = '\0';
    size_t tl = table ? strlen(table) : 0;
    if (!tl || strncmp(constraint, table, tl) != 0 || constraint[tl] != '_')
        return;
    const char *start = constraint + tl + 1;
    size_t n = strlen(start);
    for (const char *const *s = suffixes; *s; s++) {
        size_t sl = strlen(*s);
        if (n > sl && strcmp(start + n - sl, *s) == 0) {
            n -= sl;
            if (n < len) {
                memcpy(field, start, n);
                field[n] = '\0';
            }
            return;
        }
    }
}

/* The refused transition named by CL001's DETAIL, {"from": ..., "to": ...}. */
static void transition_from_detail(const char *detail, struct db_error *err)
{
    json_t *d = detail ? json_loads(detail, 0, NULL) : NULL;
    const char *from = json_string_value(json_object_get(d, "from")), *to = json_string_value(json_object_get(d, "to"));
    snprintf(err->from, sizeof err->from, "%s", from ? from : "");
    snprintf(err->to, sizeof err->to, "%s", to ? to : "");
    json_decref(d);
}

/* The status of a refusal by SQLSTATE: the schema's catalogue (docs/ARCHITECTURE.md §10, sql/0018) and
 * PostgreSQL's own constraint and concurrency codes. */
static enum status status_of(PGconn *conn, const char *state, const char *detail)
{
    if (!state || PQstatus(conn) != CONNECTION_OK || strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
        strcmp(state, "53300") == 0)
        return ST_UNAVAILABLE;
    if (strcmp(state, "CL001") == 0 || strcmp(state, "55000") == 0 || strcmp(state, "23505") == 0 ||
        strcmp(state, "23P01") == 0 || strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        return ST_CONFLICT;
    if (strcmp(state, "CL002") == 0)
        return ST_NOT_FOUND;
    if (strcmp(state, "CL003") == 0)
        return ST_GONE;
    if (strcmp(state, "CL004") == 0)
        return ST_THROTTLED;
    if (strcmp(state, "CL005") == 0)
        return ST_FORBIDDEN;
    if (strcmp(state, "23503") == 0)
        return (detail && strstr(detail, "still referenced")) ? ST_CONFLICT : ST_INVALID;
    if (strcmp(state, "23514") == 0 || strcmp(state, "23502") == 0 || strncmp(state, "22", 2) == 0)
        return ST_INVALID;
    return ST_INTERNAL;
}

bool db_ok(PGconn *conn, const PGresult *res, struct db_error *err)
{
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return true;
    if (!err)
        return false;
    memset(err, 0, sizeof *err);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    const char *table = PQresultErrorField(res, PG_DIAG_TABLE_NAME);
    const char *column = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
    const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    /* Only the schema's own refusals (assert_field, assert_state, the CL class) carry a HINT meant
     * for clients; PostgreSQL's hints (e.g. on deadlocks) never reach them. */
    const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
    if (hint && state && (strcmp(state, "23514") == 0 || strcmp(state, "55000") == 0 || strncmp(state, "CL", 2) == 0))
        snprintf(err->reason, sizeof err->reason, "%s", hint);
    if (state && strcmp(state, "CL001") == 0)
        transition_from_detail(detail, err);
    if (state && strcmp(state, "CL004") == 0)
        err->retry_after = detail ? strtol(detail, NULL, 10) : 1;
    if (constraint) {
        snprintf(err->constraint, sizeof err->constraint, "%s", constraint);
        field_from_constraint(constraint, table, err->field, sizeof err->field);
    }
    if (column && !err->field[0])
        snprintf(err->field, sizeof err->field, "%s", column);
    err->status = status_of(conn, state, detail);
    if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0))
        snprintf(err->reason, sizeof err->reason,
                 "The request collided with another one made at the same moment; try again.");
    if (err->status == ST_INVALID && state && strcmp(state, "23503") == 0 && !err->reason[0])
        snprintf(err->reason, sizeof err->reason, "does not exist");

    if (err->status == ST_INTERNAL || err->status == ST_UNAVAILABLE)
        log_error("database error %s: %s", state ? state : "-", PQresultErrorMessage(res));
    else
        log_debug("database refused %s (%s): %s", state, err->constraint, PQresultErrorMessage(res));
    return false;
}

static bool exec_simple(PGconn *conn, const char *sql, struct db_error *err)
{
    PGresult *r = db_exec(conn, sql, 0, NULL);
    bool ok = db_ok(conn, r, err);
    PQclear(r);
    return ok;
}

bool db_begin(PGconn *conn, struct db_error *err) { return exec_simple(conn, "BEGIN", err); }
bool db_commit(PGconn *conn, struct db_error *err) { return exec_simple(conn, "COMMIT", err); }
void db_rollback(PGconn *conn) { exec_simple(conn, "ROLLBACK", NULL); }
