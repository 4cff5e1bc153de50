/* accounts: see accounts.h. The check is a job on the database link carrying the session's user id
 * and token iat, and the completion its caller gave. An account change (NOTIFY account_changed), and
 * every reconnect of the link (a change announced meanwhile would be lost), re-check the sessions
 * concerned in one query; only those the database refuses are closed. An installation reset (NOTIFY
 * installation_reset) closes every connection. */
#include "accounts.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dblink.h"
#include "peer.h"
#include "sig.h"
#include "wire.h"

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

bool accounts_check(struct peer *p, int64_t iat, void (*then)(struct peer *p, enum account_verdict v))
{
    struct check_job *j = dblink_ready() ? calloc(1, sizeof *j) : NULL;
    if (!j)
        return false;
    j->job = (struct db_job){NULL, p, true, prepare, done, release, NULL};
    j->then = then;
    snprintf(j->user, sizeof j->user, "%lld", (long long)peer_claims(p)->sub);
    snprintf(j->iat, sizeof j->iat, "%lld", (long long)iat);
    dblink_push(&j->job, false);
    return true;
}

/* A re-check of the sessions of one user (or all): the ones whose account no longer allows their token
 * are told and closed. */
struct recheck_job {
    struct db_job job;
    char *cids, *users, *iats; /* array literals, owned */
};

static const char RECHECK_SQL[] =
    "SELECT s.cid FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS s(cid, uid, iat) "
    "LEFT JOIN users u ON u.id = s.uid WHERE u.id IS NULL OR NOT (u.active AND token_valid_for(u, s.iat))";

static void recheck_prepare(struct db_job *job, struct db_query *q)
{
    struct recheck_job *j = (struct recheck_job *)job;
    *q = (struct db_query){RECHECK_SQL, 3, {j->cids, j->users, j->iats}};
}

static void recheck_done(struct db_job *job, const PGresult *r)
{
    (void)job;
    for (int i = 0; r && i < PQntuples(r); i++)
        for (struct peer *p = peer_first(); p; p = peer_next(p))
            if (strcmp(peer_cid(p), PQgetvalue(r, i, 0)) == 0 && !peer_doomed(p)) {
                wire_send_error(p, "session_ended",
                                "This account's sessions were ended (a new password, signing out everywhere or a "
                                "deactivation): sign in again.");
                peer_doom(p);
            }
}

static void recheck_release(struct db_job *job)
{
    struct recheck_job *j = (struct recheck_job *)job;
    free(j->cids);
    free(j->users);
    free(j->iats);
    free(j);
}

/* Appends item to the array literal *buf (of *len bytes used, *cap allocated); false when out of memory. */
static bool append(char **buf, size_t *len, size_t *cap, const char *item)
{
    size_t n = strlen(item);
    if (*len + n + 3 > *cap) {
        size_t grown = (*cap ? *cap * 2 : 256) + n;
        char *b = realloc(*buf, grown);
        if (!b)
            return false;
        *buf = b;
        *cap = grown;
    }
    char sep = *len == 0 ? '{' : ',';
    (*buf)[(*len)++] = sep;
    memcpy(*buf + *len, item, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

/* Queues the re-check of the authenticated sessions of user (0: of every user). */
static void recheck(int64_t user)
{
    struct recheck_job *j = calloc(1, sizeof *j);
    size_t len[3] = {0}, cap[3] = {0};
    bool ok = j != NULL;
    for (struct peer *p = peer_first(); ok && p; p = peer_next(p)) {
        const struct claims *c = peer_claims(p);
        if (!peer_authed(p) || c->sub <= 0 || (user && c->sub != user))
            continue;
        char uid[24], iat[24];
        snprintf(uid, sizeof uid, "%lld", (long long)c->sub);
        snprintf(iat, sizeof iat, "%lld", (long long)c->iat);
        ok = append(&j->cids, &len[0], &cap[0], peer_cid(p)) && append(&j->users, &len[1], &cap[1], uid) &&
             append(&j->iats, &len[2], &cap[2], iat);
    }
    if (!ok || !j->cids) { /* nobody to check (or out of memory) */
        if (j)
            recheck_release(&j->job);
        return;
    }
    strcat(j->cids, "}"); /* append left room for it */
    strcat(j->users, "}");
    strcat(j->iats, "}");
    j->job = (struct db_job){NULL, NULL, false, recheck_prepare, recheck_done, recheck_release, NULL};
    dblink_push(&j->job, false);
}

static void on_account_changed(const char *payload)
{
    json_t *v = json_loads(payload, 0, NULL);
    json_int_t user = json_integer_value(json_object_get(v, "user_id"));
    json_decref(v);
    if (user > 0)
        recheck(user);
}

/* An installation reset (NOTIFY installation_reset) ends every connection: the accounts, rooms and events
 * they were joined to are gone. */
static void on_installation_reset(const char *payload)
{
    (void)payload;
    for (struct peer *p = peer_first(); p; p = peer_next(p))
        if (!peer_doomed(p)) {
            wire_send_error(p, "session_ended", "This installation was reset: sign in again.");
            peer_doom(p);
        }
}

/* After a reconnect: a change announced while the link was down is not lost. */
static void on_ready(void) { recheck(0); }

void accounts_init(void)
{
    dblink_listen("account_changed", on_account_changed);
    dblink_listen("installation_reset", on_installation_reset);
    dblink_on_ready(on_ready);
}
