/* dblink: see dblink.h. */
#include "dblink.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "log.h"
#include "sig.h"

#define QUERY_DEADLINE_MS 15000 /* a query (or a connect) longer than this: the link is dead */
#define MAX_HOOKS 8

enum link_state { L_DOWN = 0, L_CONNECTING, L_READY };
enum in_flight { F_NONE = 0, F_LISTEN, F_JOB, F_READER };

static struct {
    enum link_state state;
    PGconn *conn;
    struct lws *wsi;
    enum in_flight query;
    struct db_job *jobs, *jobs_tail, *job; /* queued, oldest first; the one in flight */
    bool job_answered;                     /* the one in flight had its completion */
    const struct db_reader *reader;        /* the reader whose query is in flight */
    bool jobs_turn;                        /* alternates jobs with reads when both wait */
    long backoff_ms;
    int64_t connect_started_ms;
    lws_sorted_usec_list_t sul_connect, sul_deadline;
    char instance[33];
    const struct db_reader *readers[MAX_HOOKS];
    int nreaders;
    struct {
        char channel[32];
        void (*fn)(const char *payload);
    } channels[MAX_HOOKS];
    int nchannels;
    void (*ready_hooks[MAX_HOOKS])(void);
    int nready;
} dl;

void dblink_add_reader(const struct db_reader *r)
{
    if (dl.nreaders < MAX_HOOKS)
        dl.readers[dl.nreaders++] = r;
}

void dblink_listen(const char *channel, void (*on_notify)(const char *payload))
{
    if (dl.nchannels == MAX_HOOKS)
        return;
    snprintf(dl.channels[dl.nchannels].channel, sizeof dl.channels[0].channel, "%s", channel);
    dl.channels[dl.nchannels++].fn = on_notify;
}

void dblink_on_ready(void (*fn)(void))
{
    if (dl.nready < MAX_HOOKS)
        dl.ready_hooks[dl.nready++] = fn;
}

bool dblink_ready(void) { return dl.state == L_READY; }
const char *dblink_instance(void) { return dl.instance; }

static void connect_step(lws_sorted_usec_list_t *sul);

static void schedule_connect(long delay_ms)
{
    lws_sul_schedule(sig.ctx, 0, &dl.sul_connect, connect_step, (lws_usec_t)delay_ms * 1000);
}

/* Drops the connection and tries again later, with backoff up to 5 s. */
static void lost(const char *why)
{
    if (dl.state == L_READY) {
        log_warning("database connection lost (%s); reconnecting", why);
        sig.m.db_reconnects++;
    }
    if (dl.wsi) {
        struct lws *w = dl.wsi;
        dl.wsi = NULL;
        lws_set_timeout(w, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
    }
    if (dl.conn)
        PQfinish(dl.conn);
    dl.conn = NULL;
    dl.state = L_DOWN;
    lws_sul_cancel(&dl.sul_deadline);
    if (dl.query == F_READER && dl.reader)
        dl.reader->dropped();
    dl.reader = NULL;
    dl.query = F_NONE;
    if (dl.job && dl.job_answered) { /* its completion ran: it is over */
        dl.job->release(dl.job);
        dl.job = NULL;
    }
    dl.job_answered = false;
    if (dl.job) { /* not answered: it runs again first after the reconnect */
        dl.job->next = dl.jobs;
        dl.jobs = dl.job;
        if (!dl.jobs_tail)
            dl.jobs_tail = dl.job;
        dl.job = NULL;
    }
    dl.backoff_ms = dl.backoff_ms ? (dl.backoff_ms * 2 > 5000 ? 5000 : dl.backoff_ms * 2) : 100;
    if (!sig.stopping)
        schedule_connect(dl.backoff_ms);
}

static void query_deadline(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    if (dl.state == L_READY && dl.query != F_NONE)
        lost("no answer within the query deadline");
}

static bool send_query(enum in_flight what, const struct db_query *q)
{
    dl.query = what; /* in flight from now: a failed send is a lost link that must know what it lost */
    /* LISTEN is several statements: the simple protocol; everything else is parameterised. */
    int sent = what == F_LISTEN ? PQsendQuery(dl.conn, q->sql)
                                : PQsendQueryParams(dl.conn, q->sql, q->n, NULL, q->params, NULL, NULL, 0);
    if (!sent) {
        lost(PQerrorMessage(dl.conn));
        return false;
    }
    PQflush(dl.conn);
    lws_sul_schedule(sig.ctx, 0, &dl.sul_deadline, query_deadline, (lws_usec_t)QUERY_DEADLINE_MS * 1000);
    return true;
}

static bool run_reader(const struct db_reader *r)
{
    struct db_query q = {0};
    r->next(&q);
    dl.reader = r; /* before the send: a failed send tells it through dropped() */
    return send_query(F_READER, &q);
}

static bool normal_reads_wait(void)
{
    for (int i = 0; i < dl.nreaders; i++)
        if (!dl.readers[i]->urgent && dl.readers[i]->wants())
            return true;
    return false;
}

void dblink_kick(void)
{
    if (dl.state != L_READY || dl.query != F_NONE)
        return;
    for (int i = 0; i < dl.nreaders; i++)
        if (dl.readers[i]->urgent && dl.readers[i]->wants()) {
            run_reader(dl.readers[i]);
            return;
        }
    if (dl.jobs && (!normal_reads_wait() || dl.jobs_turn)) {
        dl.jobs_turn = false;
        struct db_job *j = dl.jobs;
        dl.jobs = j->next;
        if (!dl.jobs)
            dl.jobs_tail = NULL;
        j->next = NULL;
        dl.job = j;
        dl.job_answered = false;
        struct db_query q = {0};
        j->prepare(j, &q);
        send_query(F_JOB, &q);
        return;
    }
    dl.jobs_turn = true;
    for (int i = 0; i < dl.nreaders; i++)
        if (!dl.readers[i]->urgent && dl.readers[i]->wants()) {
            run_reader(dl.readers[i]);
            return;
        }
}

void dblink_push(struct db_job *j, bool urgent)
{
    j->next = NULL;
    if (urgent) {
        j->next = dl.jobs;
        dl.jobs = j;
        if (!dl.jobs_tail)
            dl.jobs_tail = j;
    } else {
        if (dl.jobs_tail)
            dl.jobs_tail->next = j;
        else
            dl.jobs = j;
        dl.jobs_tail = j;
    }
    dblink_kick();
}

void dblink_forget(struct peer *p)
{
    if (dl.job && dl.job->peer == p)
        dl.job->peer = NULL;
    struct db_job **link = &dl.jobs, *last = NULL;
    while (*link) {
        struct db_job *j = *link;
        if (j->peer == p && j->drop_with_peer) {
            *link = j->next;
            j->release(j);
            continue;
        }
        if (j->peer == p)
            j->peer = NULL;
        last = j;
        link = &j->next;
    }
    dl.jobs_tail = last;
}

/* The schema's sentence when a failed r is one of its refusals (docs/ARCHITECTURE.md §10: SQLSTATE
 * 55000 or the CL class), told by its SQLSTATE; NULL when it is a failure. */
static const char *refusal(const PGresult *r)
{
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (!state || (strcmp(state, "55000") != 0 && strncmp(state, "CL", 2) != 0))
        return NULL;
    const char *hint = PQresultErrorField(r, PG_DIAG_MESSAGE_HINT);
    return hint ? hint : "The request was refused.";
}

/* One result of the query in flight (a failed one is logged and reported as NULL, a refusal to a
 * job that takes them as such). */
static void on_result(PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
    const char *refused = ok ? NULL : refusal(r);
    bool job = dl.query == F_JOB && dl.job && !dl.job_answered;
    if (!ok && refused && job && dl.job->refused)
        log_info("database: refused: %s", refused);
    else if (!ok)
        log_error("database: query failed: %s", PQresultErrorMessage(r));
    if (job) {
        dl.job_answered = true; /* at most once, even if the link drops before the query's end */
        if (!ok && refused && dl.job->refused)
            dl.job->refused(dl.job, PQresultErrorField(r, PG_DIAG_SQLSTATE), refused,
                            PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL));
        else if (dl.job->done)
            dl.job->done(dl.job, ok ? r : NULL);
    }
    else if (dl.query == F_READER && dl.reader) {
        const struct db_reader *rd = dl.reader;
        dl.reader = NULL; /* answered once */
        rd->done(ok ? r : NULL);
    }
}

static void listening(void)
{
    log_info("database: listening for events");
    for (int i = 0; i < dl.nready; i++)
        dl.ready_hooks[i]();
}

/* The query in flight is over: its job is released, the next one may start. */
static void query_over(void)
{
    enum in_flight done = dl.query;
    dl.query = F_NONE;
    lws_sul_cancel(&dl.sul_deadline);
    if (dl.job) {
        struct db_job *j = dl.job;
        dl.job = NULL;
        j->release(j);
    }
    dl.job_answered = false;
    dl.reader = NULL;
    if (done == F_LISTEN)
        listening();
}

/* Reads what the connection has: query results, then notifications. */
static int on_input(void)
{
    if (!PQconsumeInput(dl.conn)) {
        lost(PQerrorMessage(dl.conn));
        return 0;
    }
    while (dl.query != F_NONE && !PQisBusy(dl.conn)) {
        PGresult *r = PQgetResult(dl.conn);
        if (!r) {
            query_over();
            break;
        }
        on_result(r);
        PQclear(r);
    }
    PGnotify *n;
    while ((n = PQnotifies(dl.conn))) {
        for (int i = 0; i < dl.nchannels; i++)
            if (strcmp(n->relname, dl.channels[i].channel) == 0)
                dl.channels[i].fn(n->extra);
        PQfreemem(n);
    }
    dblink_kick();
    return 0;
}

static void connected(void)
{
    lws_sock_file_fd_type fd;
    fd.filefd = dup(PQsocket(dl.conn));
    if (fd.filefd < 0 || PQsetnonblocking(dl.conn, 1) != 0) {
        lost("cannot watch the connection");
        return;
    }
    dl.wsi = lws_adopt_descriptor_vhost(sig.vhost, LWS_ADOPT_RAW_FILE_DESC, fd, "clinic-db", NULL);
    if (!dl.wsi) {
        close(fd.filefd);
        lost("cannot adopt the connection");
        return;
    }
    dl.state = L_READY;
    dl.backoff_ms = 0;
    char sql[MAX_HOOKS * 48] = "";
    for (int i = 0; i < dl.nchannels; i++) {
        size_t used = strlen(sql);
        snprintf(sql + used, sizeof sql - used, "LISTEN %s;", dl.channels[i].channel);
    }
    struct db_query q = {sql, 0, {0}};
    send_query(F_LISTEN, &q);
}

static void connect_step(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    if (sig.stopping)
        return;
    if (dl.state == L_DOWN) {
        static const char *const keys[] = {"dbname", "application_name", "keepalives", "keepalives_idle",
                                           "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                                           "connect_timeout", NULL};
        const char *vals[] = {sig.cfg.database_url, "signaling-server", "1", "10", "5", "3", "15000", "5", NULL};
        dl.conn = PQconnectStartParams(keys, vals, 1);
        if (!dl.conn || PQstatus(dl.conn) == CONNECTION_BAD) {
            lost(dl.conn ? PQerrorMessage(dl.conn) : "out of memory");
            return;
        }
        dl.state = L_CONNECTING;
        dl.connect_started_ms = sig_now_ms();
    }
    if (sig_now_ms() - dl.connect_started_ms > QUERY_DEADLINE_MS) {
        lost("connect timed out");
        return;
    }
    switch (PQconnectPoll(dl.conn)) {
    case PGRES_POLLING_OK:
        connected();
        return;
    case PGRES_POLLING_FAILED:
        lost(PQerrorMessage(dl.conn));
        return;
    default:
        schedule_connect(10); /* polled: the connect never blocks the loop */
    }
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    (void)user;
    (void)in;
    (void)len;
    switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE:
        return wsi == dl.wsi ? on_input() : -1;
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        if (wsi == dl.wsi) {
            dl.wsi = NULL;
            lost("socket closed");
        }
        return 0;
    default:
        return 0;
    }
}

const struct lws_protocols dblink_protocol = {"clinic-db", callback, 0, 0, 0, NULL, 0};

void dblink_start(void)
{
    if (!crypto_random_hex16(dl.instance))
        snprintf(dl.instance, sizeof dl.instance, "%032lx", (unsigned long)getpid());
    schedule_connect(0);
}

/* At shutdown: lets the query in flight (and any its answer starts) finish the usual way, until the
 * link is idle or the deadline passes; true when idle. */
static bool finish_in_flight(int64_t deadline)
{
    while (dl.conn && dl.state == L_READY && dl.query != F_NONE) {
        int64_t left = deadline - sig_now_ms();
        int flushed = PQflush(dl.conn);
        if (left <= 0 || flushed < 0)
            return false;
        struct pollfd pfd = {PQsocket(dl.conn), (short)(POLLIN | (flushed ? POLLOUT : 0)), 0};
        if (poll(&pfd, 1, (int)left) < 0)
            return false;
        on_input();
    }
    return dl.conn && dl.state == L_READY && dl.query == F_NONE;
}

void dblink_run_final(const char *sql, int n, const char *const *params, int ms)
{
    int64_t deadline = sig_now_ms() + ms;
    if (!finish_in_flight(deadline))
        return;
    if (!PQsendQueryParams(dl.conn, sql, n, NULL, params, NULL, NULL, 0))
        return;
    for (;;) {
        int flushed = PQflush(dl.conn);
        int64_t left = deadline - sig_now_ms();
        if (flushed < 0 || left <= 0)
            return;
        struct pollfd pfd = {PQsocket(dl.conn), (short)(POLLIN | (flushed ? POLLOUT : 0)), 0};
        if (poll(&pfd, 1, (int)left) < 0 || !PQconsumeInput(dl.conn))
            return;
        if (!PQisBusy(dl.conn))
            break;
    }
    PGresult *r;
    while ((r = PQgetResult(dl.conn)))
        PQclear(r);
}

void dblink_stop(void)
{
    lws_sul_cancel(&dl.sul_connect);
    lws_sul_cancel(&dl.sul_deadline);
    while (dl.jobs) {
        struct db_job *j = dl.jobs;
        dl.jobs = j->next;
        j->release(j);
    }
    dl.jobs_tail = NULL;
    if (dl.job)
        dl.job->release(dl.job);
    dl.job = NULL;
    if (dl.conn)
        PQfinish(dl.conn);
    dl.conn = NULL;
    dl.state = L_DOWN;
}
