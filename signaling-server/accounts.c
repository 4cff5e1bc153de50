/* accounts: see accounts.h. The check is a job on the database link carrying the session's user id
 * and token iat, and the completion its caller gave. */
#include "accounts.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "dblink.h"
#include "sig.h"

static const char CHECK_SQL[] =
    "SELECT COALESCE((SELECT u.active AND token_valid_for(u, $2::bigint) FROM users u WHERE u.id = $1::bigint), "
    "                false)";

struct check_job {
    struct db_job job;
    char user[24], iat[24];
    void (*then)(struct peer *p, enum account_verdict v);
};

static void prepare(struct db_job *job, struct db_query *q)
{
    struct check_job *j = (struct check_job *)job;
    *q = (struct db_query){CHECK_SQL, 2, {j->user, j->iat}};
}

static void done(struct db_job *job, const PGresult *r)
{
    struct check_job *j = (struct check_job *)job;
    if (!j->job.peer)
        return;
    enum account_verdict v = !r ? ACCOUNT_UNKNOWN : *PQgetvalue(r, 0, 0) == 't' ? ACCOUNT_OK : ACCOUNT_REFUSED;
    j->then(j->job.peer, v);
}

static void release(struct db_job *job) { free(job); }

bool accounts_check(struct peer *p, void (*then)(struct peer *p, enum account_verdict v))
{
    struct check_job *j = dblink_ready() ? calloc(1, sizeof *j) : NULL;
    if (!j)
        return false;
    j->job = (struct db_job){NULL, p, true, prepare, done, release};
    j->then = then;
    snprintf(j->user, sizeof j->user, "%lld", (long long)p->claims.sub);
    snprintf(j->iat, sizeof j->iat, "%lld", (long long)p->claims.iat);
    dblink_push(&j->job, false);
    return true;
}

static void on_account_changed(const char *payload)
{
    json_t *v = json_loads(payload, 0, NULL);
    json_int_t user = json_integer_value(json_object_get(v, "user_id"));
    json_decref(v);
    if (user <= 0)
        return;
    for (struct peer *p = sig.peers; p; p = p->next)
        if (p->claims.sub == user && !p->doomed && (p->state == PEER_AUTHED || p->auth_pending)) {
            ws_send_error(p, "session_ended",
                          "This account's sessions were ended (a new password, signing out everywhere or a "
                          "deactivation): sign in again.");
            peer_doom(p);
        }
}

void accounts_init(void) { dblink_listen("account_changed", on_account_changed); }
