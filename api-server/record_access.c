/* record_access: see record_access.h. */
#include "record_access.h"

#include "app.h"

void access_params(const struct req_ctx *ctx, struct access_params *a)
{
    a->actor = ctx->authed ? id_text(ctx->claims.sub, a->actor_buf) : NULL;
    a->role = ctx->authed && app.cfg.record_access_log ? role_name(ctx->claims.role) : NULL;
    a->request_id = ctx->request_id;
}
