/* delivery_send: one attempt at one delivery over its channel, with libcurl (no hand-written protocol):
 * e-mail over SMTP (SMTP_URL, SMTP_FROM, optional SMTP_USER/SMTP_PASSWORD, STARTTLS per SMTP_STARTTLS,
 * the server's certificate checked against the system's CAs or SMTP_CA_FILE),
 * the message text built by common/mailmsg.c; SMS as a JSON POST {to, body, id} to SMS_GATEWAY_URL
 * with SMS_GATEWAY_TOKEN as a bearer token, a 2xx meaning accepted and a 429's Retry-After honoured.
 * Every transfer is bounded by DELIVERY_TIMEOUT_SECONDS and aborts when *stop turns non-zero.
 * A sender keeps its curl handles in a struct delivery_conn between attempts, so libcurl reuses the SMTP
 * session or HTTP connection for the next message. Thread rules: one delivery_conn per thread
 * (curl_global_init ran in main). */
#ifndef API_DELIVERY_SEND_H
#define API_DELIVERY_SEND_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "app.h"

struct send_result {
    char error[512];    /* "" = delivered */
    long min_delay_ms;  /* the receiver's Retry-After, 0 = none */
    bool interrupted;   /* aborted because *stop was set: the attempt does not count */
    bool permanent;     /* no later attempt can succeed (a deleted or disabled webhook): failed now */
};

struct delivery_conn;

/* A sender's handles (NULL when out of memory); free with delivery_conn_free (NULL is fine). */
struct delivery_conn *delivery_conn_new(void);
void delivery_conn_free(struct delivery_conn *c);
/* From another thread (shutdown): refuses new connections and shuts the open sockets of c, so a
 * transfer blocked on one fails at once. Safe while c's thread is in delivery_send. */
void delivery_conn_interrupt(struct delivery_conn *c);

/* Whether the channel ("email", "sms", "webhook") is configured in cfg. */
bool delivery_channel_ready(const struct app_config *cfg, const char *channel);

/* One attempt at delivery id on channel to recipient with payload (not stolen); the outcome in *r. */
void delivery_send(struct delivery_conn *c, const struct app_config *cfg, const char *channel, int64_t id, const char *recipient,
                   json_t *payload, const atomic_int *stop, struct send_result *r);

#endif
