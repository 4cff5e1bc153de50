/* sig_config: the signaling-server's settings, read from the environment only. */
#include <stdio.h>
#include <string.h>

#include "chatmsg.h"
#include "clientaddr.h"
#include "config.h"
#include "log.h"
#include "sig.h"

static void copy_env(char *dst, size_t len, const char *name, const char *def, struct cfg_errors *errs)
{
    const char *v = cfg_env(name, def);
    if (strlen(v) >= len)
        cfg_error(errs, "%s is longer than %zu characters", name, len - 1);
    snprintf(dst, len, "%s", v);
}

bool sig_config_load(struct sig_config *c)
{
    struct cfg_errors errs = {0};
    memset(c, 0, sizeof *c);
    cfg_env_listen("SIGNALING_LISTEN", DEF_SIGNALING_LISTEN, c->listen_host, sizeof c->listen_host, &c->listen_port,
                   &errs);
    copy_env(c->database_url, sizeof c->database_url, "DATABASE_URL", "", &errs);
    if (!c->database_url[0])
        cfg_error(&errs, "DATABASE_URL is required");
    copy_env(c->public_key_file, sizeof c->public_key_file, "JWT_PUBLIC_KEY_FILE", "", &errs);
    if (!c->public_key_file[0])
        cfg_error(&errs, "JWT_PUBLIC_KEY_FILE is required");
    c->max_connections = cfg_env_long("SIGNALING_MAX_CONNECTIONS", DEF_MAX_CONNECTIONS, 1, 1000000, &errs);
    c->max_unauthenticated =
        cfg_env_long("SIGNALING_MAX_UNAUTHENTICATED", DEF_MAX_UNAUTHENTICATED, 1, 1000000, &errs);
    c->max_unauthenticated_per_address = cfg_env_long("SIGNALING_MAX_UNAUTHENTICATED_PER_ADDRESS",
                                                      DEF_MAX_UNAUTHENTICATED_PER_ADDRESS, 1, 1000000, &errs);
    c->max_per_user = cfg_env_long("SIGNALING_MAX_PER_USER", DEF_MAX_PER_USER, 1, 100000, &errs);
    c->max_frame = cfg_env_long("SIGNALING_MAX_FRAME", DEF_MAX_FRAME, 256, 16777216, &errs);
    c->send_queue_bytes = cfg_env_long("SIGNALING_SEND_QUEUE_BYTES", DEF_SEND_QUEUE_BYTES, 4096, 1073741824L, &errs);
    c->auth_timeout_ms = cfg_env_long("SIGNALING_AUTH_TIMEOUT_MS", DEF_AUTH_TIMEOUT_MS, 100, 600000, &errs);
    c->ping_interval_ms = cfg_env_long("SIGNALING_PING_INTERVAL_MS", DEF_PING_INTERVAL_MS, 100, 600000, &errs);
    c->ping_timeout_ms = cfg_env_long("SIGNALING_PING_TIMEOUT_MS", DEF_PING_TIMEOUT_MS, 100, 600000, &errs);
    c->replay_limit = cfg_env_long("SIGNALING_REPLAY_LIMIT", DEF_REPLAY_LIMIT, 1, 100000, &errs);
    c->replay_window_seconds =
        cfg_env_long("SIGNALING_REPLAY_WINDOW_SECONDS", DEF_REPLAY_WINDOW_SECONDS, 60, 31536000, &errs);
    c->poll_ms = cfg_env_long("SIGNALING_POLL_MS", DEF_POLL_MS, 10, 600000, &errs);
    c->max_msgs_per_sec = cfg_env_long("SIGNALING_MAX_MSGS_PER_SEC", DEF_MAX_MSGS_PER_SEC, 1, 100000, &errs);
    c->video_grace_seconds = cfg_env_long("VIDEO_GRACE_SECONDS", DEF_VIDEO_GRACE_SECONDS, 1, 3600, &errs);
    c->video_connect_timeout_seconds =
        cfg_env_long("VIDEO_CONNECT_TIMEOUT_SECONDS", DEF_VIDEO_CONNECT_TIMEOUT_SECONDS, 5, 3600, &errs);
    c->video_max_minutes = cfg_env_long("VIDEO_MAX_MINUTES", DEF_VIDEO_MAX_MINUTES, 10, 1440, &errs);
    c->chat_messages_per_minute = cfg_env_long("CHAT_MESSAGES_PER_MINUTE", CHAT_MESSAGES_PER_MINUTE_DEFAULT, 1, 100000, &errs);
    copy_env(c->trusted_proxies, sizeof c->trusted_proxies, "SIGNALING_TRUSTED_PROXIES", "", &errs);
    if (!clientaddr_list_valid(c->trusted_proxies))
        cfg_error(&errs, "SIGNALING_TRUSTED_PROXIES=\"%.60s\" must be a comma-separated list of at most %d IPv4 or IPv6 addresses",
                  c->trusted_proxies, CLIENTADDR_MAX_PROXIES);
    copy_env(c->metrics_token, sizeof c->metrics_token, "SIGNALING_METRICS_TOKEN", "", &errs);
    const char *why = NULL;
    if (!cors_origins_parse(cfg_env("CORS_ALLOWED_ORIGINS", ""), &c->cors, &why))
        cfg_error(&errs, "CORS_ALLOWED_ORIGINS: %s", why);
    const char *loop = cfg_env("SIGNALING_EVENT_LOOP", "libev");
    if (strcmp(loop, "poll") == 0)
        c->event_loop_poll = true;
    else if (strcmp(loop, "libev") != 0)
        cfg_error(&errs, "SIGNALING_EVENT_LOOP=\"%.40s\" must be libev or poll", loop);
    const char *lvl = cfg_env("LOG_LEVEL", "info");
    c->log_level = log_parse_level(lvl);
    if (c->log_level < 0) {
        cfg_error(&errs, "LOG_LEVEL=\"%.40s\" must be one of error, warning, info, debug", lvl);
        c->log_level = LOG_INFO;
    }
    for (int i = 0; i < errs.n; i++)
        fprintf(stderr, "configuration error: %s\n", errs.msg[i]);
    return errs.n == 0;
}
