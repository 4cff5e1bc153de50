/* h_common: small pieces every handler file uses (body validation reply, the caller's scope). */
#include <stdio.h>

#include "handlers.h"

bool body_valid(struct _u_response *resp, struct req_ctx *ctx, const struct field_spec *specs, size_t n,
                bool partial, int *rc)
{
    json_t *errors = json_object();
    if (validate_object(ctx->body, specs, n, partial, errors)) {
        json_decref(errors);
        return true;
    }
    *rc = reply_invalid(resp, ctx, errors);
    return false;
}

const char *scope_clinic(const struct req_ctx *ctx, char buf[24])
{
    if (ctx->claims.role == ROLE_ADMIN)
        return NULL;
    return id_text(ctx->claims.clinic_id, buf);
}

void scope_of(const struct req_ctx *ctx, struct scope_params *s)
{
    s->c = scope_clinic(ctx, s->clinic);
    s->d = ctx->claims.role == ROLE_DOCTOR ? id_text(ctx->claims.doctor_id, s->doctor) : NULL;
    s->p = ctx->claims.role == ROLE_PATIENT ? id_text(ctx->claims.patient_id, s->patient) : NULL;
}

const char *actor_text(const struct req_ctx *ctx, char buf[24]) { return id_text(ctx->claims.sub, buf); }
