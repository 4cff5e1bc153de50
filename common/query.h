/* query: the declarative checker for URL query strings, the counterpart of validate_object() for
 * request bodies.
 *
 * A route declares its query parameters as a table of query_param rows (api-server/routes.c, beside
 * the route). query_parse() reads the raw query string once, as sent, and checks all of it against
 * the table: every pair percent-decoded ('+' is a space), valid UTF-8 without NUL, named in the
 * table, given at most once, and of its declared type; required parameters present. Each problem is
 * one "parameter": "reason" entry in an errors object (capped as validate.h describes), so a single
 * 400 lists them all and a misspelt filter is refused instead of silently listing everything.
 *
 * Accepted values are kept as text ready for a SQL parameter (ids in canonical decimal, a month as
 * its first day, a cursor as the JSON text of its keys, a limit with its default when absent) and,
 * for numeric types, as a number (ids, limits, booleans as 0/1, dates as day numbers). Nothing
 * here touches the network or the database. */
#ifndef CLINIC_QUERY_H
#define CLINIC_QUERY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum query_type {
    QT_ID,       /* a positive integer id, digits only */
    QT_DATE,     /* YYYY-MM-DD, a real date from 1900 to 9999; number: its day number (validate.h's day_number) */
    QT_MONTH,    /* YYYY-MM from 2000 to 9999; text: the month's first day, YYYY-MM-01 */
    QT_ENUM,     /* one of choices */
    QT_STRING,   /* min..max characters; when charset is set, only those bytes */
    QT_BOOL,     /* true or false; number: 1 or 0 */
    QT_LIMIT,    /* a page size from min to max; absent: max_default (text and number) */
    QT_CURSOR,   /* an opaque cursor this server issued (see below); text: its keys as JSON */
    QT_EVENT_ID, /* an event_id as the outbox issues them (valid_event_id) */
};

#define QF_REQUIRED 1u

/* One parameter. A cursor is the base64url of a JSON array whose element types follow shape ('i'
 * integer, 's' string, 't' an RFC 3339 instant), e.g. "ti"; the SQL function cursor_encode(jsonb)
 * makes them. why replaces the type's reason for a bad value (e.g. naming an enum's values). */
struct query_param {
    const char *name;
    enum query_type type;
    unsigned flags;
    long long min, max, def;     /* QT_STRING: characters; QT_LIMIT: bounds and default */
    const char *const *choices;  /* QT_ENUM: NULL-terminated */
    const char *shape;           /* QT_CURSOR */
    const char *charset;         /* QT_STRING: the bytes allowed (NULL: any character) */
    const char *why;
};

/* A route's table is terminated by a row whose name is NULL; at most QUERY_MAX_PARAMS rows. */
#define QUERY_MAX_PARAMS 12

struct query_values {
    const struct query_param *spec; /* the table parsed against (NULL: none) */
    char *text[QUERY_MAX_PARAMS];   /* per row: the accepted value (owned), NULL when absent */
    long long num[QUERY_MAX_PARAMS];
};

/* Parses raw (the bytes after '?', NULL or "" for none) against spec (NULL: no parameters) into
 * out (cleared first; release with query_values_clear). Adds one entry per bad parameter to errors
 * (owned by the caller) and returns false when there was any; out then holds nothing. */
bool query_parse(const char *raw, const struct query_param *spec, struct query_values *out, json_t *errors);
void query_values_clear(struct query_values *v);

/* The accepted text of parameter name (NULL when absent). A name spec does not declare is a bug:
 * it is logged and reads as absent. */
const char *query_text(const struct query_values *v, const char *name);
/* Its number (0 when absent, or for types without one). */
long long query_num(const struct query_values *v, const char *name);

#endif
