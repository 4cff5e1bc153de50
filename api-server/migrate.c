/* migrate: see migrate.h. Migration files are trusted project files (not user input), so they run
 * through PQexec as whole scripts; the bookkeeping statements are parameterised. */
#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "fileio.h"
#include "db.h"
#include "log.h"

#define MAX_MIGRATIONS 512
#define LOCK_KEY "7243911"

struct migration {
    char name[128];
    char *sql;
    char checksum[65];
};

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct migration *)a)->name, ((const struct migration *)b)->name);
}

/* Loads every NNNN_name.sql of dir, sorted. Returns the count or -1. Caller frees each sql. */
static int load_dir(const char *dir, struct migration *out)
{
    DIR *d = opendir(dir);
    if (!d) {
        log_error("cannot open migrations directory %s: %s (set MIGRATIONS_DIR)", dir, strerror(errno));
        return -1;
    }
    regex_t re;
    regcomp(&re, "^[0-9]{4}_[a-z0-9_]+\\.sql$", REG_EXTENDED | REG_NOSUB);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_MIGRATIONS) {
        if (regexec(&re, e->d_name, 0, NULL, 0) != 0 || strlen(e->d_name) >= sizeof out[n].name)
            continue;
        char path[1024];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
            continue;
        memcpy(out[n].name, e->d_name, strlen(e->d_name) + 1); /* length checked above */
        out[n].sql = file_read_all(path, 16u << 20, NULL);
        if (!out[n].sql) {
            log_error("cannot read %s", path);
            for (int i = 0; i < n; i++)
                free(out[i].sql);
            n = -1;
            break;
        }
        crypto_sha256_hex(out[n].sql, strlen(out[n].sql), out[n].checksum);
        n++;
    }
    regfree(&re);
    closedir(d);
    if (n > 0)
        qsort(out, (size_t)n, sizeof *out, by_name);
    return n;
}

static bool exec_ok(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        log_error("%s", PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

/* Returns 1 applied with the same checksum, 0 not applied, -1 changed or error. */
static int applied_state(PGconn *conn, const struct migration *m)
{
    const char *p[] = {m->name};
    PGresult *r = db_exec(conn, "SELECT checksum FROM schema_migrations WHERE name = $1", 1, p);
    int state = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        log_error("reading schema_migrations: %s", PQresultErrorMessage(r));
    else if (PQntuples(r) == 0)
        state = 0;
    else if (strcmp(PQgetvalue(r, 0, 0), m->checksum) == 0)
        state = 1;
    else
        log_error("migration %s was changed after it was applied (recorded sha256 %s, file sha256 %s): "
                  "restore the file and put the change in a new migration",
                  m->name, PQgetvalue(r, 0, 0), m->checksum);
    PQclear(r);
    return state;
}

static bool run(PGconn *conn, const char *dir, bool apply)
{
    static struct migration list[MAX_MIGRATIONS];
    int n = load_dir(dir, list);
    if (n < 0)
        return false;
    bool ok = exec_ok(conn, "SET client_min_messages = warning") &&
              exec_ok(conn, "SELECT pg_advisory_lock(" LOCK_KEY ")") &&
              exec_ok(conn, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                            " name text PRIMARY KEY, checksum text NOT NULL,"
                            " applied_at timestamptz NOT NULL DEFAULT now())");
    int applied = 0, pending = 0;
    for (int i = 0; ok && i < n; i++) {
        int state = applied_state(conn, &list[i]);
        if (state < 0) {
            ok = false;
        } else if (state == 0 && !apply) {
            log_error("migration %s is not applied yet: run `api-server migrate`", list[i].name);
            pending++;
            ok = false;
        } else if (state == 0) {
            const char *p[] = {list[i].name, list[i].checksum};
            ok = exec_ok(conn, "BEGIN") && exec_ok(conn, list[i].sql);
            if (ok) {
                PGresult *r = db_exec(conn, "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", 2, p);
                ok = PQresultStatus(r) == PGRES_COMMAND_OK;
                PQclear(r);
            }
            ok = ok && exec_ok(conn, "COMMIT");
            if (!ok) {
                exec_ok(conn, "ROLLBACK");
                log_error("migration %s failed; nothing of it was applied", list[i].name);
            } else {
                log_info("applied migration %s", list[i].name);
                applied++;
            }
        }
    }
    exec_ok(conn, "SELECT pg_advisory_unlock(" LOCK_KEY ")");
    for (int i = 0; i < n; i++)
        free(list[i].sql);
    if (ok && apply)
        log_info("migrations: %d applied, %d already up to date", applied, n - applied);
    (void)pending;
    return ok;
}

bool migrate_apply(PGconn *conn, const char *dir) { return run(conn, dir, true); }
bool migrate_verify(PGconn *conn, const char *dir) { return run(conn, dir, false); }
