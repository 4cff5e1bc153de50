/* migrate: applies sql/NNNN_name.sql files in order, each once, each in its own transaction,
 * recorded in schema_migrations with its SHA-256. A file that changed after it was applied stops
 * everything with a clear message. An advisory lock serialises concurrent runs. */
#ifndef API_MIGRATE_H
#define API_MIGRATE_H

#include <libpq-fe.h>
#include <stdbool.h>

/* Applies pending migrations from dir. Returns false (after logging why) on any problem. */
bool migrate_apply(PGconn *conn, const char *dir);
/* Checks without applying: false when a file changed or some are pending (for `serve`). */
bool migrate_verify(PGconn *conn, const char *dir);

#endif
