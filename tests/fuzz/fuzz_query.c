/* libFuzzer harness for the query-string checker (common/query.c). Feeds arbitrary bytes as the
 * raw query string of a route declaring one parameter of each type. An accepted query must hold, for
 * each declared parameter, either nothing or a value that passes again as the only parameter (so
 * what handlers read is what the checker would accept), and the errors object must be empty; a
 * refused one must leave nothing allocated in the values and name at least one parameter. Seeds are
 * in tests/fuzz/corpus/query/. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const colours[] = {"red", "green", NULL};

static const struct query_param spec[] = {
    {.name = "id", .type = QT_ID},
    {.name = "day", .type = QT_DATE},
    {.name = "month", .type = QT_MONTH},
    {.name = "colour", .type = QT_ENUM, .choices = colours},
    {.name = "q", .type = QT_STRING, .min = 1, .max = 100},
    {.name = "on", .type = QT_BOOL},
    {.name = "limit", .type = QT_LIMIT, .min = 1, .max = 200, .def = 50},
    {.name = "after", .type = QT_EVENT_ID},
    {.name = "cursor", .type = QT_CURSOR, .shape = "ti"},
    {.name = NULL},
};

/* Whether name=value (value percent-encoded here) is accepted on its own. */
static int accepted_alone(const char *name, const char *value)
{
    size_t n = strlen(value);
    char *raw = malloc(strlen(name) + 1 + 3 * n + 1);
    char *o = raw + sprintf(raw, "%s=", name);
    for (size_t i = 0; i < n; i++)
        o += sprintf(o, "%%%02X", (unsigned char)value[i]);
    struct query_values v;
    json_t *errors = json_object();
    int ok = query_parse(raw, spec, &v, errors);
    query_values_clear(&v);
    json_decref(errors);
    free(raw);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *raw = malloc(size + 1);
    memcpy(raw, data, size);
    raw[size] = '\0';
    struct query_values v;
    json_t *errors = json_object();
    if (query_parse(raw, spec, &v, errors)) {
        if (json_object_size(errors) != 0)
            abort();
        for (int i = 0; spec[i].name; i++) {
            const char *t = query_text(&v, spec[i].name);
            /* a cursor's text is its decoded keys, a month's its first day: not inputs themselves */
            if (t && spec[i].type != QT_CURSOR && spec[i].type != QT_MONTH && !accepted_alone(spec[i].name, t))
                abort();
        }
    } else {
        for (int i = 0; i < QUERY_MAX_PARAMS; i++)
            if (v.text[i])
                abort();
        if (json_object_size(errors) == 0)
            abort();
    }
    query_values_clear(&v);
    json_decref(errors);
    free(raw);
    return 0;
}
