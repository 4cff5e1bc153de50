/* h_admin: installation-wide operations of ADMIN. POST /api/admin/reset deletes every clinic record
 * (reset.h says when it may run; the database's installation_reset what it deletes, its audit row and
 * the NOTIFY that closes every signaling connection), in one statement, so one transaction. */
#include "handlers.h"
#include "reset.h"

static const struct field_spec reset_fields[] = {
    {"confirm", FT_STRING, FF_REQUIRED, 1, 200, NULL},
};

HANDLER(h_admin_reset)
{
    (void)req;
    int rc;
    if (!body_valid(resp, ctx, reset_fields, 1, false, &rc))
        return rc;
    switch (reset_allowed(json_string_value(json_object_get(ctx->body, "confirm")))) {
    case RESET_DISABLED:
        return reply_error(resp, ctx, ST_FORBIDDEN, "reset_disabled",
                           "Resetting is disabled on this installation (ALLOW_DATABASE_RESET).", NULL);
    case RESET_WRONG_NAME:
        return reply_invalid(resp, ctx, json_pack("{s:s}", "confirm", "must be the installation's name"));
    case RESET_OK:
        break;
    }
    char ab[24];
    const char *p[] = {actor_text(ctx, ab), role_name(ctx->claims.role), ctx->request_id};
    return dbr_query_reply(resp, ctx, 200, RESET_SQL, 3, p);
}
