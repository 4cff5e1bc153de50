/* webhook_send: what one webhook attempt sends (README "Webhooks"): the delivery's stored envelope as
 * the exact body, the headers Content-Type, X-Clinic-Event, X-Clinic-Delivery and
 * X-Clinic-Signature "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>" with one v1 per
 * valid secret (the current one first, then the previous one during a rotation's overlap).
 * delivery_send.c performs the transfer and checks each address it connects to. */
#ifndef API_WEBHOOK_SEND_H
#define API_WEBHOOK_SEND_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "app.h"

struct webhook_request {
    const char *body;             /* points into the payload */
    struct curl_slist *headers;
};

/* Writes into out the X-Clinic-Signature value for body at time t with the secrets (a JSON array of
 * strings); false when it does not fit n or a secret is malformed. */
bool webhook_signature(json_t *secrets, time_t t, const char *body, char *out, size_t n);

/* Prepares the request for delivery id to url from payload {event, body, signing: {active, secrets}}; on
 * failure writes why into err (size n) and sets *permanent when no later attempt can succeed.
 * Free with webhook_request_free. */
bool webhook_request_prepare(const struct app_config *cfg, int64_t id, const char *url,
                             json_t *payload, struct webhook_request *w, char *err, size_t n, bool *permanent);
void webhook_request_free(struct webhook_request *w);

#endif
