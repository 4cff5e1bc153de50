/* dblink: the signaling-server's one PostgreSQL connection, inside the lws loop, shared by the
 * modules that talk to the database: outbox.c (events), presence.c and video.c.
 *
 * The connection is opened without blocking (PQconnectStartParams, polled from a timer), then its
 * socket (a dup: lws closes what it adopts) is adopted as a raw file so its input wakes the loop.
 * It LISTENs on the channels the modules registered, and hands each notification to its module.
 * One query at a time is in flight, with a deadline (a link that does not answer is dead). After a
 * lost connection it reconnects with backoff up to 5 s and tells the modules (dblink_on_ready), so
 * each reads again what it may have missed.
 *
 * Work comes two ways. Jobs: queued units of work (struct db_job), each carrying its own query and
 * its own completion (called at most once); run in order, a job in flight when the link drops
 * before its answer runs again first after the reconnect; a job tied to a session is dropped or detached when the session ends
 * (dblink_forget). Readers: modules that read on their own schedule (struct db_reader), asked in
 * turn for their next query; an urgent reader goes before everything else (the start cursor of
 * the events, the WebRTC messages a call set-up waits on), the others alternate with the jobs, so
 * neither can hold the other up. */
#ifndef SIG_DBLINK_H
#define SIG_DBLINK_H

#include <libpq-fe.h>
#include <libwebsockets.h>
#include <stdbool.h>

struct peer;

#define DB_MAX_PARAMS 8

/* A query to run: sql and its text parameters (NULL = SQL NULL), borrowed until its completion. */
struct db_query {
    const char *sql;
    int n;
    const char *params[DB_MAX_PARAMS];
};

struct db_job {
    struct db_job *next;           /* dblink's */
    struct peer *peer;             /* the session it answers; NULL when none, or once it ended */
    bool drop_with_peer;           /* not run at all once its session ended */
    /* Fills q from the job's own fields. */
    void (*prepare)(struct db_job *j, struct db_query *q);
    /* The job's result (NULL: the query failed); called at most once. */
    void (*done)(struct db_job *j, const PGresult *r);
    /* Frees the job: after done, or when dropped. */
    void (*release)(struct db_job *j);
    /* Optional: the statement was refused by the schema (SQLSTATE 55000 or the CL class of
     * docs/ARCHITECTURE.md §10), with that SQLSTATE, its sentence for clients (the HINT) and its
     * DETAIL (NULL when none: CL004's seconds to wait); called instead of done. Without it a
     * refusal is a failure (done with NULL). */
    void (*refused)(struct db_job *j, const char *sqlstate, const char *reason, const char *detail);
};

struct db_reader {
    bool urgent;
    /* Whether it has a query to run now (no side effect). */
    bool (*wants)(void);
    /* Fills q with that query and takes it as in flight. */
    void (*next)(struct db_query *q);
    /* Its result (NULL: the query failed). */
    void (*done)(const PGresult *r);
    /* The link dropped before the answer: the reader asks again once it is back. */
    void (*dropped)(void);
};

/* Registration, before dblink_start: a reader, a channel to LISTEN on with its handler, and a
 * function called each time the link is (again) up and listening. At most 8 of each. */
void dblink_add_reader(const struct db_reader *r);
void dblink_listen(const char *channel, void (*on_notify)(const char *payload));
void dblink_on_ready(void (*fn)(void));

void dblink_start(void);
void dblink_stop(void);
bool dblink_ready(void);
/* This process's id among the instances (presence rows, relayed messages). */
const char *dblink_instance(void);

/* Queues j (first when urgent) and starts it if the link is idle; j is dblink's until released. */
void dblink_push(struct db_job *j, bool urgent);
/* A reader has something to read: try to start it. */
void dblink_kick(void);
/* Session p ended: its jobs marked drop_with_peer are released unrun, the others forget it. */
void dblink_forget(struct peer *p);
/* Runs one statement at shutdown, waiting at most ms in all for the query in flight to end and for it. */
void dblink_run_final(const char *sql, int n, const char *const *params, int ms);

extern const struct lws_protocols dblink_protocol;

#endif
