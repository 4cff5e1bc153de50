/* seed: the `seed-demo` and `create-admin` subcommands. */
#ifndef API_SEED_H
#define API_SEED_H

#include <libpq-fe.h>
#include <stdbool.h>

#define DEMO_PASSWORD "demo-password"

/* Loads sql_dir/demo.sql with the demo password's hash; idempotent. */
bool seed_demo(PGconn *conn, const char *sql_dir);
/* Creates (or, when the e-mail exists as an admin, resets the password of) an admin. */
bool seed_create_admin(PGconn *conn, const char *email, const char *password);

#endif
