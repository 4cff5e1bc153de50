/* dbreply: glue between the database helpers and the reply helpers, shared by every resource:
 * borrowing a pooled connection, answering from a JSON-producing query, mapping a database
 * refusal onto the error envelope, and writing audit rows in the caller's transaction. */
#ifndef API_DBREPLY_H
#define API_DBREPLY_H

#include <jansson.h>
#include <libpq-fe.h>

#include "db.h"
#include "http.h"

/* Borrows a connection from the app pool; NULL means the caller must answer 503. */
PGconn *dbr_acquire(void);
void dbr_release(PGconn *conn);

/* Answers with the first column of the first row (JSON text) at status http; 404 when there is
 * no row; the mapped error when res failed. Does not clear res. */
int dbr_reply_row(struct _u_response *resp, struct req_ctx *ctx, PGconn *conn, const PGresult *res, int http);
/* Answers the error described by err (422 with the field, 409 naming it or the refused transition,
 * 404 and 410 with the schema's sentence, 503, 500): the one place a database refusal becomes HTTP. */
int dbr_reply_error(struct _u_response *resp, struct req_ctx *ctx, const struct db_error *err);

/* Runs sql and answers with its one JSON row (see dbr_reply_row), acquiring and releasing a
 * connection itself: the whole body of most read handlers. */
int dbr_query_reply(struct _u_response *resp, struct req_ctx *ctx, int http, const char *sql, int n,
                    const char *const *params);

/* Appends an audit row inside the caller's transaction. details is stolen (may be NULL).
 * entity_id <= 0 is stored as NULL. The actor is the request's user (NULL when anonymous). */
bool audit_write(PGconn *conn, const struct req_ctx *ctx, const char *action, const char *entity,
                 int64_t entity_id, json_t *details, struct db_error *err);
/* The same for an actor that is not the token's user (login events). actor_id <= 0 = none. */
bool audit_write_as(PGconn *conn, const struct req_ctx *ctx, int64_t actor_id, const char *actor_role,
                    const char *action, const char *entity, int64_t entity_id, json_t *details,
                    struct db_error *err);

/* Serialises body (not stolen) for a jsonb parameter; caller frees. */
char *dbr_body_text(json_t *body);

/* A keyset-paginated list. Parameters $1 (the decoded cursor, jsonb or NULL) and $2 (the limit)
 * are the same for every list; filters use $3 and up. inner selects the row as r and its sort
 * keys as k1 (and k2), already filtered past the cursor, ordered and limited to $2 + 1 rows. */
struct list_query {
    const char *json_fn; /* SQL function turning r into an item, e.g. "clinic_json" */
    const char *inner;
    const char *order;   /* inner's order over the keys, e.g. "k1, k2" or "k1 DESC" */
    const char *cursor;  /* the cursor of a row from its keys, e.g. "jsonb_build_array(k1)" */
};

/* Answers {"items": [...], "next_cursor": ...} for q. json_fn may be "" when inner already
 * selects r as the item's JSON. */
int dbr_list_reply(struct _u_response *resp, struct req_ctx *ctx, const struct list_query *q, int n,
                   const char *const *params);
/* The same, answering 404 unless the SQL condition guard (same parameters) holds: for lists that
 * belong to a record the caller may not see. */
int dbr_list_reply_guarded(struct _u_response *resp, struct req_ctx *ctx, const struct list_query *q,
                           const char *guard, int n, const char *const *params);

/* One statement of a write with its own parameters ($1..$n are params[0..n-1]). */
struct db_stmt {
    const char *sql;
    int n;
    const char *const *params;
};

/* What a write answers and records: the status sent on success, and the audit row's action,
 * entity and details (a new reference the write takes over; may be NULL). */
struct write_desc {
    int http;
    const char *action;
    const char *entity;
    json_t *details;
};

/* The write path shared by create/update/delete handlers: in one transaction runs each of the
 * nstmt (at least one) statements with its own parameters; the last must return (json,
 * entity_id) for one row, and may return a boolean column named created that, when true, answers
 * 201 instead of w->http (an upsert that created). Then an audit row (w->action, w->entity, w->details taken
 * over) and COMMIT, and the JSON is sent with that status (204 sends no body). No row from the
 * last statement answers 404 and changes nothing. */
int dbr_write(struct _u_response *resp, struct req_ctx *ctx, const struct write_desc *w, const struct db_stmt *stmts,
              int nstmt);

/* dbr_write of the one statement sql that takes ctx->body as jsonb: $1 is the body, or, when
 * id > 0, $1 is id and $2 the body. */
int dbr_write_body(struct _u_response *resp, struct req_ctx *ctx, const struct write_desc *w, int64_t id,
                   const char *sql);

/* dbr_write for the money routes (docs/ARCHITECTURE.md §2 retries): with an Idempotency-Key header (1..100
 * visible ASCII characters, else 400) the answer is kept, in the same transaction, under the
 * caller's user and that key; a retry with the same key and the same request (method, path, body)
 * gets the first answer again with `Idempotent-Replayed: true` and changes nothing, and the same key
 * with another request is a 409. A concurrent retry waits for the first to finish. Failed requests
 * keep nothing, so their retry runs again. Without the header it is dbr_write. */
int dbr_write_once(struct _u_response *resp, struct req_ctx *ctx, const struct _u_request *req,
                   const struct write_desc *w, const struct db_stmt *stmts, int nstmt);

/* {"fields": [the body's keys]}: what an update changed, for the audit row (values left out so
 * clinical data and secrets stay out of the log). New reference. */
json_t *dbr_changed_fields(json_t *body);

#endif
