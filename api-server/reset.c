/* reset: see reset.h. */
#include "reset.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "db.h"
#include "log.h"

const char RESET_SQL[] = "SELECT installation_reset($1::bigint, $2, $3)";

enum reset_refusal reset_allowed(const char *confirm)
{
    if (!app.cfg.allow_database_reset)
        return RESET_DISABLED;
    if (!confirm || strcmp(confirm, app.cfg.installation_name) != 0)
        return RESET_WRONG_NAME;
    return RESET_OK;
}

int reset_command(PGconn *conn, int argc, char **argv)
{
    const char *confirm = NULL;
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp(argv[i], "--confirm") == 0)
            confirm = argv[i + 1];
    switch (reset_allowed(confirm)) {
    case RESET_DISABLED:
        log_error("reset: refused: set ALLOW_DATABASE_RESET=1 to allow it");
        return 2;
    case RESET_WRONG_NAME:
        log_error("reset: refused: give --confirm with the installation's name (INSTALLATION_NAME)");
        return 2;
    case RESET_OK:
        break;
    }
    const char *params[] = {NULL, NULL, "cli"};
    struct db_error err;
    PGresult *r = db_exec(conn, RESET_SQL, 3, params);
    bool ok = db_ok(conn, r, &err) && PQntuples(r) == 1;
    if (ok)
        printf("%s\n", PQgetvalue(r, 0, 0));
    else
        log_error("reset: failed; nothing was deleted");
    PQclear(r);
    return ok ? 0 : 1;
}
