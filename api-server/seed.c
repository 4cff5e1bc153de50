/* seed: see seed.h. The demo script is plain SQL in sql/demo.sql; the password hash reaches it
 * through a session setting so the script itself stays free of secrets. */
#include "seed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "fileio.h"
#include "log.h"
#include "password.h"
#include "validate.h"

bool seed_demo(PGconn *conn, const char *sql_dir)
{
    char path[1024], hash[PASSWORD_HASH_MAX];
    snprintf(path, sizeof path, "%s/demo.sql", sql_dir);
    char *script = file_read_all(path, 16u << 20, NULL);
    if (!script) {
        log_error("cannot read %s", path);
        return false;
    }
    bool ok = password_hash(DEMO_PASSWORD, hash);
    const char *p[] = {hash};
    PGresult *r = NULL;
    if (ok) {
        r = PQexec(conn, "BEGIN");
        PQclear(r);
        r = db_exec(conn, "SELECT set_config('seed.password_hash', $1, true)", 1, p);
        ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
    }
    if (ok) {
        r = PQexec(conn, script);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
        if (!ok)
            log_error("demo data: %s", PQresultErrorMessage(r));
        PQclear(r);
    }
    r = PQexec(conn, ok ? "COMMIT" : "ROLLBACK");
    ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    free(script);
    if (ok)
        log_info("demo data loaded (password \"%s\")", DEMO_PASSWORD);
    return ok;
}

bool seed_create_admin(PGconn *conn, const char *email, const char *password)
{
    char hash[PASSWORD_HASH_MAX];
    if (!valid_email(email)) {
        log_error("create-admin: \"%s\" is not a valid e-mail address", email);
        return false;
    }
    size_t len = strlen(password);
    if (len < 8 || len > 128) {
        log_error("create-admin: the password must have 8 to 128 characters");
        return false;
    }
    if (!password_hash(password, hash))
        return false;
    const char *p[] = {email, hash};
    PGresult *r = db_exec(conn,
                          "INSERT INTO users (email, password_hash, full_name, role) "
                          "VALUES ($1, $2, 'Administrator', 'ADMIN') "
                          "ON CONFLICT (lower(email)) DO UPDATE SET password_hash = EXCLUDED.password_hash, "
                          "  active = true, failed_logins = 0, locked_until = NULL "
                          "  WHERE users.role = 'ADMIN' "
                          "RETURNING id",
                          2, p);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        log_error("create-admin: %s", PQresultErrorMessage(r));
    else if (!ok)
        log_error("create-admin: %s belongs to a user who is not an admin", email);
    else
        log_info("admin %s ready (user id %s)", email, PQgetvalue(r, 0, 0));
    PQclear(r);
    return ok;
}
