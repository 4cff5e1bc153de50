/* health: the HTTP routes of the signaling-server's port. GET /healthz (the process answers),
 * GET /readyz (the PostgreSQL connection is up, else 503 with the error envelope) and GET /metrics
 * (Prometheus text format: connections, rooms' peers, events delivered, frames, closes by cause,
 * outbox lag), which tells about every client of the instance: only to the bearer of
 * SIGNALING_METRICS_TOKEN when it is set, else only to clients on this machine (a 404 to others). The body is built when the request arrives; listener.c writes it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dblink.h"
#include "quota.h"
#include "peer.h"
#include "sig.h"
#include "transport.h"

static char *metrics_text(void)
{
    long authed = 0;
    for (struct peer *p = peer_first(); p; p = peer_next(p))
        authed += peer_authed(p);
    const struct sig_metrics *m = &sig.m;
    char *out = NULL;
    int n = asprintf(&out,
        "# TYPE signaling_connections gauge\nsignaling_connections %ld\n"
        "# TYPE signaling_authenticated_connections gauge\nsignaling_authenticated_connections %ld\n"
        "# TYPE signaling_unauthenticated_connections gauge\nsignaling_unauthenticated_connections %ld\n"
        "# TYPE signaling_database_up gauge\nsignaling_database_up %d\n"
        "# TYPE signaling_events_delivered_total counter\nsignaling_events_delivered_total %llu\n"
        "# TYPE signaling_frames_in_total counter\nsignaling_frames_in_total %llu\n"
        "# TYPE signaling_frames_out_total counter\nsignaling_frames_out_total %llu\n"
        "# TYPE signaling_replays_total counter\nsignaling_replays_total %llu\n"
        "# TYPE signaling_auth_failures_total counter\nsignaling_auth_failures_total %llu\n"
        "# TYPE signaling_closed_total counter\n"
        "signaling_closed_total{cause=\"abuse\"} %llu\n"
        "signaling_closed_total{cause=\"slow_consumer\"} %llu\n"
        "signaling_closed_total{cause=\"timeout\"} %llu\n"
        "signaling_closed_total{cause=\"token_expired\"} %llu\n"
        "# TYPE signaling_database_reconnects_total counter\nsignaling_database_reconnects_total %llu\n"
        "# TYPE signaling_outbox_lag_seconds gauge\nsignaling_outbox_lag_seconds %.3f\n"
        "# TYPE signaling_relay_messages_total counter\n"
        "signaling_relay_messages_total{direction=\"sent\"} %llu\n"
        "signaling_relay_messages_total{direction=\"delivered\"} %llu\n"
        "signaling_relay_messages_total{direction=\"refused\"} %llu\n"
        "# TYPE signaling_rooms gauge\nsignaling_rooms %ld\n"
        "# TYPE signaling_polling_sessions_total counter\nsignaling_polling_sessions_total %llu\n"
        "# TYPE signaling_upgrades_total counter\nsignaling_upgrades_total %llu\n"
        "# TYPE signaling_chat_messages_total counter\nsignaling_chat_messages_total %llu\n",
        peer_count(), authed, quota_unauthenticated(), dblink_ready() ? 1 : 0, m->events_delivered, m->frames_in, m->frames_out, m->replays,
        m->auth_failures, m->closed_abuse, m->closed_slow, m->closed_timeout, m->closed_expired, m->db_reconnects,
        m->outbox_lag_seconds, m->relay_sent, m->relay_delivered, m->relay_refused, rooms_count(), m->polling_sessions, m->upgrades,
        m->chat_sent);
    return n < 0 ? NULL : out;
}

/* Whether this request may read /metrics: with SIGNALING_METRICS_TOKEN set, the bearer of that
 * token; without, a client on this machine only (loopback). Compared in constant time. */
static bool metrics_allowed(struct lws *wsi)
{
    const char *want = sig.cfg.metrics_token;
    if (!want[0]) {
        char addr[48];
        return lws_get_peer_simple(wsi, addr, sizeof addr) &&
               (strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 || strncmp(addr, "::ffff:127.", 11) == 0);
    }
    char auth[160];
    if (lws_hdr_copy(wsi, auth, sizeof auth, WSI_TOKEN_HTTP_AUTHORIZATION) <= 7 || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *got = auth + 7;
    size_t n = strlen(want), m = strlen(got);
    unsigned diff = n != m;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(want[i] ^ (i < m ? got[i] : 0));
    return diff == 0;
}

int health_request(struct conn *c, struct lws *wsi, const char *uri)
{
    const char *type = "application/json";
    const char *body;
    char *dynamic = NULL;
    int status;
    if (strcmp(uri, "/healthz") == 0) {
        status = 200;
        body = "{\"status\":\"ok\"}";
    } else if (strcmp(uri, "/readyz") == 0 && dblink_ready()) {
        status = 200;
        body = "{\"status\":\"ready\"}";
    } else if (strcmp(uri, "/readyz") == 0) {
        status = 503;
        body = "{\"error\":{\"code\":\"service_unavailable\",\"message\":\"The database is not reachable.\"}}";
    } else if (strcmp(uri, "/metrics") == 0 && metrics_allowed(wsi) && (dynamic = metrics_text())) {
        status = 200;
        type = "text/plain; version=0.0.4";
        body = dynamic;
    } else {
        status = 404;
        body = "{\"error\":{\"code\":\"not_found\",\"message\":\"The requested resource was not found.\"}}";
    }
    bool ok = reply_prepare(c, status, type, body, strlen(body));
    free(dynamic);
    if (!ok)
        return -1;
    lws_callback_on_writable(wsi);
    return 0;
}
