/* reset: the installation reset (docs/ARCHITECTURE.md "Resetting an installation"), the one owner of
 * when a reset may run, shared by POST /api/admin/reset (h_admin.c) and `api-server reset` (main.c).
 * What it deletes is the database's (installation_reset, sql/0030_agenda_reset.sql). */
#ifndef API_RESET_H
#define API_RESET_H

#include <libpq-fe.h>
#include <stdbool.h>

/* Why a reset may not run: RESET_OK, RESET_DISABLED (ALLOW_DATABASE_RESET is not 1) or RESET_WRONG_NAME
 * (confirm, may be NULL, is not INSTALLATION_NAME exactly). */
enum reset_refusal { RESET_OK = 0, RESET_DISABLED, RESET_WRONG_NAME };
enum reset_refusal reset_allowed(const char *confirm);

/* The statement that resets: $1 the actor's user id (NULL from the command line), $2 their role, $3 the
 * request id; one row, the JSON summary {accounts_removed, clinics_removed, reset_at}. */
extern const char RESET_SQL[];

/* `api-server reset --confirm NAME`: 0 done (the summary on standard output), 2 refused, 1 failed. */
int reset_command(PGconn *conn, int argc, char **argv);

#endif
