/* db: a fixed-size pool of libpq connections for a thread-per-connection server, plus helpers
 * that map PostgreSQL errors onto enum status.
 *
 * Invariants: a PGconn is used by one thread at a time (between db_acquire and db_release);
 * connections are opened lazily and re-opened when found broken; db_acquire waits at most
 * acquire_timeout_ms and returns NULL when no healthy connection can be had (the caller answers
 * 503). Every query goes through PQexecParams: values are never formatted into SQL text.
 * Server notices go to the logger. */
#ifndef CLINIC_DB_H
#define CLINIC_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "status.h"

struct db_pool;

/* Creates a pool of size connections to conninfo; connects nothing yet. Caller frees with
 * db_pool_free. */
struct db_pool *db_pool_new(const char *conninfo, int size, int acquire_timeout_ms);
void db_pool_free(struct db_pool *pool);

/* Makes every connection of the pool LISTEN on channel (an identifier, written as is) from when it
 * is opened, and hands each notification a connection received to fn(payload, arg) when it is
 * released, on the releasing thread. A session hears its own transaction's notifications together
 * with the answer to its COMMIT, so whatever a thread commits is handed over before that thread
 * releases the connection. Call once, before the pool is shared. */
void db_pool_listen(struct db_pool *pool, const char *channel, void (*fn)(const char *payload, void *arg),
                    void *arg);

/* Borrows a connection (NULL: unavailable); give it back with db_release. A connection released
 * with a transaction still open is rolled back first. */
PGconn *db_acquire(struct db_pool *pool);
void db_release(struct db_pool *pool, PGconn *conn);

/* Opens one connection outside any pool (for subcommands); NULL with a logged error. */
PGconn *db_connect(const char *conninfo);

/* Runs sql with text params. Returns the result (caller PQclear()s it; never NULL). */
PGresult *db_exec(PGconn *conn, const char *sql, int nparams, const char *const *params);

/* Details of a failed result, for the reply layer. */
struct db_error {
    enum status status;  /* ST_CONFLICT, ST_INVALID, ST_UNAVAILABLE, ST_INTERNAL, ... */
    char constraint[64]; /* the violated constraint's name, if any */
    char field[64];      /* the field derived from "<table>_<field>_check|_key" names, if any */
    char reason[200];    /* a message meant for clients (the HINT of errors the schema raises), if any */
    char from[32], to[32]; /* a refused transition's states (CL001's DETAIL), else empty */
    long retry_after;      /* a limit reached (CL004): the seconds its DETAIL asks to wait, else 0 */
};

/* True when res is a successful command or tuples result; otherwise fills err (if non-NULL) from its
 * SQLSTATE, the catalogue of docs/ARCHITECTURE.md §10: the one SQLSTATE -> status mapping. */
bool db_ok(PGconn *conn, const PGresult *res, struct db_error *err);

/* BEGIN / COMMIT / ROLLBACK helpers; false (with err) on failure. */
bool db_begin(PGconn *conn, struct db_error *err);
bool db_commit(PGconn *conn, struct db_error *err);
void db_rollback(PGconn *conn);

#endif
