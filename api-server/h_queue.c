/* h_queue: the moves between the phases of the desk's board (Waiting, With Doctor, Completed); the
 * board itself is read in h_board.c. The moves go through visit_move and visit_complete (h_visits.c),
 * which send the phase as the target: its status and whether the move is allowed are the database's
 * (sql/0018_one_owner.sql). Receptionists and admins move between Waiting and With Doctor; only the
 * visit's own doctor completes a consultation. */
#include <string.h>

#include "handlers.h"

static const char *const phases[] = {"waiting", "with_doctor", "completed", NULL};

static const struct field_spec move_fields[] = {
    {"visit_id", FT_INT, FF_REQUIRED, 0, 0, NULL},
    {"phase", FT_ENUM, FF_REQUIRED, 0, 0, phases},
};

HANDLER(h_queue_move)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, move_fields, 2, false, &rc))
        return rc;
    int64_t visit = json_integer_value(json_object_get(ctx->body, "visit_id"));
    const char *phase = json_string_value(json_object_get(ctx->body, "phase"));
    if (strcmp(phase, "completed") == 0)
        return reply_error(resp, ctx, ST_FORBIDDEN, NULL, "Only the visit's doctor completes a consultation.", NULL);
    return visit_move(resp, ctx, visit, false, phase, "visit_move");
}

static const struct field_spec complete_fields[] = {
    {"visit_id", FT_INT, FF_REQUIRED, 0, 0, NULL},
    {"notes", FT_STRING, FF_NULLABLE, 0, 20000, NULL},
};

HANDLER(h_queue_complete)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, complete_fields, 2, false, &rc))
        return rc;
    int64_t visit = json_integer_value(json_object_get(ctx->body, "visit_id"));
    const char *notes = json_string_value(json_object_get(ctx->body, "notes"));
    return visit_complete(resp, ctx, visit, notes);
}
