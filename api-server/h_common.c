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

bool clinic_day_query(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx, json_t *errors,
                      int64_t *clinic, const char **date, int *rc)
{
    int y, m, d;
    *clinic = 0;
    query_int(req, "clinic_id", clinic, errors);
    *date = query_str(req, "date");
    if (*date && !parse_date(*date, &y, &m, &d))
        json_object_set_new(errors, "date", json_string("must be a date YYYY-MM-DD"));
    if (ctx->claims.role == ROLE_ADMIN && !*clinic && !json_object_get(errors, "clinic_id"))
        json_object_set_new(errors, "clinic_id", json_string("is required"));
    if (json_object_size(errors) > 0) {
        *rc = reply_invalid_query(resp, ctx, errors);
        return false;
    }
    json_decref(errors);
    /* Staff see their own clinic; naming another finds nothing. */
    if (ctx->claims.role != ROLE_ADMIN && *clinic && *clinic != ctx->claims.clinic_id) {
        *rc = reply_status(resp, ctx, ST_NOT_FOUND);
        return false;
    }
    if (!*clinic)
        *clinic = ctx->claims.clinic_id;
    return true;
}

bool parse_month(const char *s, char out[11])
{
    if (!s || strlen(s) != 7 || s[4] != '-')
        return false;
    for (int i = 0; i < 7; i++)
        if (i != 4 && (s[i] < '0' || s[i] > '9'))
            return false;
    int y = atoi(s), m = atoi(s + 5);
    if (y < 2000 || y > 9999 || m < 1 || m > 12)
        return false;
    snprintf(out, 11, "%04d-%02d-01", y, m);
    return true;
}

long day_number(int y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool query_date(const struct _u_request *req, const char *name, long *day, bool *present, json_t *errors)
{
    const char *v = query_str(req, name);
    int y, m, d;
    *present = v != NULL;
    if (!v)
        return true;
    if (!parse_date(v, &y, &m, &d) || y < 1900 || y > 9999) {
        json_object_set_new(errors, name, json_string("must be a date YYYY-MM-DD"));
        return false;
    }
    *day = day_number(y, m, d);
    return true;
}
