/* h_common: small pieces every handler file uses (body validation reply, the caller's scope, the
 * create and update of records written from their body alone). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int resource_create(struct _u_response *resp, struct req_ctx *ctx, const struct body_resource *r)
{
    int rc;
    if (!body_valid(resp, ctx, r->fields, r->nfields, false, &rc))
        return rc;
    const struct write_desc w = {201, r->create_action, r->entity, json_pack("{s:O}", r->entity, ctx->body)};
    return dbr_write_body(resp, ctx, &w, 0, r->create_sql);
}

int resource_update(struct _u_response *resp, struct req_ctx *ctx, const struct body_resource *r)
{
    int rc;
    if (!body_valid(resp, ctx, r->fields + r->update_from, r->nfields - r->update_from, true, &rc))
        return rc;
    const struct write_desc w = {200, r->update_action, r->entity, json_pack("{s:O}", "changes", ctx->body)};
    return dbr_write_body(resp, ctx, &w, ctx->params[0], r->update_sql);
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

bool clinic_day_query(struct _u_response *resp, struct req_ctx *ctx, int64_t *clinic, const char **date, int *rc)
{
    *clinic = query_num(&ctx->query, "clinic_id");
    *date = query_text(&ctx->query, "date");
    if (ctx->claims.role == ROLE_ADMIN && !*clinic) {
        *rc = reply_invalid_query(resp, ctx, json_pack("{s:s}", "clinic_id", "is required"));
        return false;
    }
    /* Staff see their own clinic; naming another finds nothing. */
    if (ctx->claims.role != ROLE_ADMIN && *clinic && *clinic != ctx->claims.clinic_id) {
        *rc = reply_status(resp, ctx, ST_NOT_FOUND);
        return false;
    }
    if (!*clinic)
        *clinic = ctx->claims.clinic_id;
    return true;
}
