/* main: the api-server command line. Subcommands:
 *   serve                 run the HTTP API (refuses to start with pending or changed migrations), with
 *                         DELIVERY_WORKERS senders of outbound messages
 *   deliver               run only the senders of outbound messages (delivery.h)
 *                         (both first hand REMINDER_LEAD_MINUTES to the database: reminders.h)
 *   migrate               apply sql/ migrations
 *   seed-demo             load the idempotent demo data
 *   create-admin --email E  create an admin; password from ADMIN_PASSWORD or the first line of stdin
 *   routes                print the route table (method, path, roles)
 *   reset --confirm NAME  delete every clinic record, keeping the admins and the audit log (reset.h;
 *                         only with ALLOW_DATABASE_RESET=1 and NAME = INSTALLATION_NAME)
 * Configuration comes only from the environment (see README). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "app.h"
#include "delivery.h"
#include "log.h"
#include "migrate.h"
#include "password.h"
#include "reminders.h"
#include "reset.h"
#include "router.h"
#include "seed.h"
#include "server.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: api-server serve | deliver | migrate | seed-demo | create-admin --email EMAIL | routes |\n"
                 "       reset --confirm INSTALLATION_NAME\n"
                 "Configuration is read from environment variables; see README.md.\n");
}

static int with_connection(int (*fn)(PGconn *, int, char **), int argc, char **argv)
{
    PGconn *conn = db_connect(app.cfg.database_url);
    if (!conn) {
        log_error("cannot connect to the database (DATABASE_URL)");
        return 1;
    }
    int rc = fn(conn, argc, argv);
    PQfinish(conn);
    return rc;
}

static int cmd_migrate(PGconn *conn, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return migrate_apply(conn, app.cfg.migrations_dir) ? 0 : 1;
}

static int cmd_seed(PGconn *conn, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return seed_demo(conn, app.cfg.migrations_dir) ? 0 : 1;
}

static int cmd_verify(PGconn *conn, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return migrate_verify(conn, app.cfg.migrations_dir) ? 0 : 1;
}

/* Before serving or sending: the schema must be current, and the reminder leads are handed to it. */
static int cmd_prepare(PGconn *conn, int argc, char **argv)
{
    int rc = cmd_verify(conn, argc, argv);
    return rc != 0 ? rc : reminders_publish(conn, &app.cfg) ? 0 : 1;
}

static int cmd_create_admin(PGconn *conn, int argc, char **argv)
{
    const char *email = NULL;
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp(argv[i], "--email") == 0)
            email = argv[i + 1];
    if (!email) {
        usage(stderr);
        return 2;
    }
    char line[256] = {0};
    const char *pw = getenv("ADMIN_PASSWORD");
    if (!pw || !*pw) {
        if (!fgets(line, sizeof line, stdin)) {
            log_error("create-admin: give the password in ADMIN_PASSWORD or on standard input");
            return 2;
        }
        line[strcspn(line, "\r\n")] = '\0';
        pw = line;
    }
    return seed_create_admin(conn, email, pw) ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!app_config_load(&app.cfg))
        return 2;
    log_set_level((enum log_level)app.cfg.log_level);
    password_set_cost((unsigned)app.cfg.password_memory_kib, (unsigned)app.cfg.password_iterations);
    const char *cmd = argv[1];

    if (strcmp(cmd, "routes") == 0) {
        router_print(app.cfg.prefix);
        return 0;
    }
    if (strcmp(cmd, "migrate") == 0)
        return with_connection(cmd_migrate, argc, argv);
    if (strcmp(cmd, "seed-demo") == 0)
        return with_connection(cmd_seed, argc, argv);
    if (strcmp(cmd, "create-admin") == 0)
        return with_connection(cmd_create_admin, argc, argv);
    if (strcmp(cmd, "reset") == 0)
        return with_connection(reset_command, argc, argv);
    if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "deliver") != 0) {
        usage(stderr);
        return 2;
    }
    /* Before any thread starts: libcurl's global state (the senders' transfers). */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("cannot initialise libcurl");
        return 1;
    }
    if (strcmp(cmd, "deliver") == 0) {
        int rc = with_connection(cmd_prepare, argc, argv);
        if (rc == 0)
            rc = delivery_run_alone();
        curl_global_cleanup();
        return rc;
    }

    char err[600];
    if (!token_keys_load(&app.keys, app.cfg.private_key_file, app.cfg.public_key_file, err, sizeof err)) {
        fprintf(stderr, "configuration error: %s (JWT_PRIVATE_KEY_FILE / JWT_PUBLIC_KEY_FILE)\n", err);
        return 2;
    }
    log_route_yder("api-server");
    int rc = with_connection(cmd_prepare, argc, argv);
    if (rc == 0)
        rc = server_run();
    log_close_yder();
    token_keys_free(&app.keys);
    curl_global_cleanup();
    return rc;
}
