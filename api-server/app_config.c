/* app_config: the api-server's settings, read from the environment only (docs/ARCHITECTURE.md §11). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "chatmsg.h"
#include "clientaddr.h"
#include "password.h"
#include "log.h"
#include "mailmsg.h"
#include "tokenbucket.h"

struct app app;

static void copy_env(char *dst, size_t len, const char *name, const char *def, struct cfg_errors *errs)
{
    const char *v = cfg_env(name, def);
    if (strlen(v) >= len)
        cfg_error(errs, "%s is longer than %zu characters", name, len - 1);
    snprintf(dst, len, "%s", v);
}

/* Whether list is empty or comma-separated URLs of the scheme ("stun:" also allows "stuns:"), each
 * without spaces, quotes or backslashes (they go into JSON and browsers' RTCIceServer lists). */
static bool ice_urls_valid(const char *list, const char *scheme)
{
    size_t n = strlen(scheme) - 1; /* "stun" */
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        bool ok = len > n + 1 && strncmp(p, scheme, n) == 0 &&
                  (p[n] == ':' || (p[n] == 's' && p[n + 1] == ':'));
        for (size_t i = 0; ok && i < len; i++)
            ok = p[i] > ' ' && p[i] < 127 && p[i] != '"' && p[i] != '\\';
        if (!ok)
            return false;
        p += len;
        if (*p == ',')
            p++;
    }
    return true;
}

/* CORS_ALLOWED_ORIGINS: exact origins, comma-separated (common/cors.h says which); a bad list is
 * reported and leaves nobody allowed. */
static void cors_load(struct cors_origins *cors, struct cfg_errors *errs)
{
    const char *origins = cfg_env("CORS_ALLOWED_ORIGINS", DEF_CORS_ALLOWED_ORIGINS);
    const char *why = NULL;
    if (!cors_origins_parse(origins, cors, &why)) {
        cfg_error(errs, "CORS_ALLOWED_ORIGINS=\"%.60s%s\": %s", origins, strlen(origins) > 60 ? "..." : "", why);
        cors->n = 0;
    }
}

/* Whether url is http(s)://something, without characters that would need escaping in JSON or HTML. */
static bool public_url_valid(const char *url)
{
    size_t skip = strncmp(url, "http://", 7) == 0 ? 7 : strncmp(url, "https://", 8) == 0 ? 8 : 0;
    if (!skip || !url[skip])
        return false;
    for (const char *p = url; *p; p++)
        if (*p <= ' ' || *p >= 127 || *p == '"' || *p == '\\' || *p == '<' || *p == '>')
            return false;
    return true;
}

/* The LOGIN_* settings of sign-in throttling. The hard lock's two settings are gone: saying so
 * beats ignoring them silently. */
static void login_load(struct app_config *c, struct cfg_errors *errs)
{
    c->login_free_failures = cfg_env_long("LOGIN_FREE_FAILURES", DEF_LOGIN_FREE_FAILURES, 1, 1000, errs);
    c->login_account_free_failures =
        cfg_env_long("LOGIN_ACCOUNT_FREE_FAILURES", DEF_LOGIN_ACCOUNT_FREE_FAILURES, 1, 1000000, errs);
    c->login_address_free_failures =
        cfg_env_long("LOGIN_ADDRESS_FREE_FAILURES", DEF_LOGIN_ADDRESS_FREE_FAILURES, 1, 1000000, errs);
    c->login_delay_base = cfg_env_long("LOGIN_DELAY_BASE", DEF_LOGIN_DELAY_BASE, 1, 3600, errs);
    c->login_delay_max = cfg_env_long("LOGIN_DELAY_MAX", DEF_LOGIN_DELAY_MAX, 1, 86400, errs);
    if (c->login_delay_max < c->login_delay_base)
        cfg_error(errs, "LOGIN_DELAY_MAX (%ld) must not be below LOGIN_DELAY_BASE (%ld)", c->login_delay_max,
                  c->login_delay_base);
    c->login_failure_decay = cfg_env_long("LOGIN_FAILURE_DECAY", DEF_LOGIN_FAILURE_DECAY, 1, 2592000, errs);
    c->login_known_address_ttl =
        cfg_env_long("LOGIN_KNOWN_ADDRESS_TTL", DEF_LOGIN_KNOWN_ADDRESS_TTL, 0, 31536000, errs);
    /* TRUSTED_PROXIES (set, even empty, it decides), or its older name LOGIN_TRUSTED_PROXIES */
    const char *proxies_var = getenv("TRUSTED_PROXIES") || !getenv("LOGIN_TRUSTED_PROXIES") ? "TRUSTED_PROXIES"
                                                                                          : "LOGIN_TRUSTED_PROXIES";
    if (getenv("TRUSTED_PROXIES") && getenv("LOGIN_TRUSTED_PROXIES") &&
        strcmp(getenv("TRUSTED_PROXIES"), getenv("LOGIN_TRUSTED_PROXIES")) != 0)
        fprintf(stderr, "configuration warning: LOGIN_TRUSTED_PROXIES is ignored: TRUSTED_PROXIES is set\n");
    copy_env(c->trusted_proxies, sizeof c->trusted_proxies, proxies_var, DEF_TRUSTED_PROXIES, errs);
    if (!clientaddr_list_valid(c->trusted_proxies))
        cfg_error(errs, "%s must be a comma-separated list of at most %d IPv4 or IPv6 addresses", proxies_var,
                  CLIENTADDR_MAX_PROXIES);
    for (const char *const *old = (const char *const[]){"LOGIN_MAX_FAILURES", "LOGIN_LOCK_SECONDS", NULL}; *old; old++)
        if (getenv(*old))
            fprintf(stderr,
                    "configuration warning: %s is no longer read (sign-ins are throttled by the LOGIN_FREE_FAILURES, "
                    "LOGIN_DELAY_* family; see README)\n",
                    *old);
}

/* The links that set a password (h_account_links.c): where they point, how long they live, the
 * limits of the public reset. */
static void account_links_load(struct app_config *c, struct cfg_errors *errs)
{
    copy_env(c->account_link_url, sizeof c->account_link_url, "ACCOUNT_LINK_URL", DEF_ACCOUNT_LINK_URL, errs);
    if (!public_url_valid(c->account_link_url) || strpbrk(c->account_link_url, "?#&"))
        cfg_error(errs, "ACCOUNT_LINK_URL must be an http:// or https:// URL without a query, spaces or quotes");
    c->account_link_ttl = cfg_env_long("ACCOUNT_LINK_TTL_SECONDS", DEF_ACCOUNT_LINK_TTL_SECONDS, 60, 2592000, errs);
    c->reset_per_address =
        cfg_env_long("PASSWORD_RESET_PER_ADDRESS", DEF_PASSWORD_RESET_PER_ADDRESS, 1, 1000000, errs);
    c->reset_per_account =
        cfg_env_long("PASSWORD_RESET_PER_ACCOUNT", DEF_PASSWORD_RESET_PER_ACCOUNT, 1, 1000, errs);
    c->reset_window =
        cfg_env_long("PASSWORD_RESET_WINDOW_SECONDS", DEF_PASSWORD_RESET_WINDOW_SECONDS, 1, 2592000, errs);
}

/* The limits of conversations (h_conversations.c). */
static void chat_load(struct app_config *c, struct cfg_errors *errs)
{
    c->chat_messages_per_minute =
        cfg_env_long("CHAT_MESSAGES_PER_MINUTE", CHAT_MESSAGES_PER_MINUTE_DEFAULT, 1, 100000, errs);
    c->chat_conversations_per_day =
        cfg_env_long("CHAT_CONVERSATIONS_PER_DAY", DEF_CHAT_CONVERSATIONS_PER_DAY, 1, 100000, errs);
    c->chat_edit_window = cfg_env_long("CHAT_EDIT_WINDOW_SECONDS", DEF_CHAT_EDIT_WINDOW_SECONDS, 0, 86400, errs);
}

/* Files (h_documents.c, h_photos.c, upload.c): the caps, the clinic quota, the spool directory. */
static void files_load(struct app_config *c, struct cfg_errors *errs)
{
    c->upload_max_bytes = cfg_env_long("UPLOAD_MAX_BYTES", DEF_UPLOAD_MAX_BYTES, 1, 1L << 40, errs);
    c->photo_max_bytes = cfg_env_long("PHOTO_MAX_BYTES", DEF_PHOTO_MAX_BYTES, 1, 64L << 20, errs);
    c->clinic_storage_quota_bytes =
        cfg_env_long("CLINIC_STORAGE_QUOTA_BYTES", DEF_CLINIC_STORAGE_QUOTA_BYTES, 1, 1L << 50, errs);
    copy_env(c->upload_tmp_dir, sizeof c->upload_tmp_dir, "UPLOAD_TMP_DIR", DEF_UPLOAD_TMP_DIR, errs);
}

/* The limits under load: connections, their deadlines, the request rates. */
static void limits_load(struct app_config *c, struct cfg_errors *errs)
{
    c->max_connections_per_address = cfg_env_long("API_MAX_CONNECTIONS_PER_ADDRESS",
                                                  DEF_API_MAX_CONNECTIONS_PER_ADDRESS, 0, 100000, errs);
    if (c->max_connections_per_address > c->max_connections)
        cfg_error(errs, "API_MAX_CONNECTIONS_PER_ADDRESS=%ld is more than API_MAX_CONNECTIONS=%ld",
                  c->max_connections_per_address, c->max_connections);
    c->thread_stack_kb = cfg_env_long("API_THREAD_STACK_KB", DEF_API_THREAD_STACK_KB, 128, 65536, errs);
    c->header_timeout_ms = cfg_env_long("API_HEADER_TIMEOUT_MS", DEF_API_HEADER_TIMEOUT_MS, 100, 600000, errs);
    c->body_timeout_ms = cfg_env_long("API_BODY_TIMEOUT_MS", DEF_API_BODY_TIMEOUT_MS, 100, 3600000, errs);
    c->idle_timeout_seconds =
        cfg_env_long("API_IDLE_TIMEOUT_SECONDS", DEF_API_IDLE_TIMEOUT_SECONDS, 1, 3600, errs);
    c->rate_per_address = cfg_env_long("API_RATE_PER_ADDRESS", DEF_API_RATE_PER_ADDRESS, 0, TB_RATE_MAX, errs);
    c->burst_per_address = cfg_env_long("API_BURST_PER_ADDRESS", DEF_API_BURST_PER_ADDRESS, 1, TB_BURST_MAX, errs);
    c->rate_per_user = cfg_env_long("API_RATE_PER_USER", DEF_API_RATE_PER_USER, 0, TB_RATE_MAX, errs);
    c->burst_per_user = cfg_env_long("API_BURST_PER_USER", DEF_API_BURST_PER_USER, 1, TB_BURST_MAX, errs);
    c->rate_table_size = cfg_env_long("API_RATE_TABLE_SIZE", DEF_API_RATE_TABLE_SIZE, 1024, 10000000, errs);
}

/* The outbound channels and the delivery queue's senders. */
static void delivery_load(struct app_config *c, struct cfg_errors *errs)
{
    c->delivery_workers = cfg_env_long("DELIVERY_WORKERS", DEF_DELIVERY_WORKERS, 0, 64, errs);
    c->delivery_max_attempts = cfg_env_long("DELIVERY_MAX_ATTEMPTS", DEF_DELIVERY_MAX_ATTEMPTS, 1, 100, errs);
    c->delivery_backoff_base_ms =
        cfg_env_long("DELIVERY_BACKOFF_BASE_MS", DEF_DELIVERY_BACKOFF_BASE_MS, 10, 86400000L, errs);
    c->delivery_backoff_max_ms =
        cfg_env_long("DELIVERY_BACKOFF_MAX_MS", DEF_DELIVERY_BACKOFF_MAX_MS, 10, 7L * 86400000L, errs);
    if (c->delivery_backoff_max_ms < c->delivery_backoff_base_ms)
        cfg_error(errs, "DELIVERY_BACKOFF_MAX_MS must not be below DELIVERY_BACKOFF_BASE_MS");
    c->delivery_timeout_seconds =
        cfg_env_long("DELIVERY_TIMEOUT_SECONDS", DEF_DELIVERY_TIMEOUT_SECONDS, 1, 600, errs);
    c->delivery_lease_seconds = cfg_env_long("DELIVERY_LEASE_SECONDS", DEF_DELIVERY_LEASE_SECONDS, 2, 86400, errs);
    if (c->delivery_lease_seconds <= c->delivery_timeout_seconds)
        cfg_error(errs, "DELIVERY_LEASE_SECONDS (%ld) must be more than DELIVERY_TIMEOUT_SECONDS (%ld)",
                  c->delivery_lease_seconds, c->delivery_timeout_seconds);
    c->delivery_poll_ms = cfg_env_long("DELIVERY_POLL_MS", DEF_DELIVERY_POLL_MS, 50, 600000, errs);
    c->delivery_batch = cfg_env_long("DELIVERY_BATCH", DEF_DELIVERY_BATCH, 1, 1000, errs);
    copy_env(c->smtp_url, sizeof c->smtp_url, "SMTP_URL", "", errs);
    copy_env(c->smtp_from, sizeof c->smtp_from, "SMTP_FROM", "", errs);
    copy_env(c->smtp_user, sizeof c->smtp_user, "SMTP_USER", "", errs);
    copy_env(c->smtp_password, sizeof c->smtp_password, "SMTP_PASSWORD", "", errs);
    copy_env(c->smtp_ca_file, sizeof c->smtp_ca_file, "SMTP_CA_FILE", "", errs);
    char name[256], addr[256];
    if (c->smtp_url[0] && strncmp(c->smtp_url, "smtp://", 7) != 0 && strncmp(c->smtp_url, "smtps://", 8) != 0)
        cfg_error(errs, "SMTP_URL must be an smtp:// or smtps:// URL");
    if (c->smtp_url[0] && !mailmsg_split_mailbox(c->smtp_from, name, sizeof name, addr, sizeof addr))
        cfg_error(errs, "SMTP_FROM must be an address such as clinic@example.org or \"Clinic\" <clinic@example.org> "
                        "when SMTP_URL is set");
    const char *tls = cfg_env("SMTP_STARTTLS", DEF_SMTP_STARTTLS);
    c->smtp_starttls = strcmp(tls, "off") == 0 ? 0 : strcmp(tls, "try") == 0 ? 1 : strcmp(tls, "require") == 0 ? 2 : -1;
    if (c->smtp_starttls < 0)
        cfg_error(errs, "SMTP_STARTTLS must be one of off, try, require");
    copy_env(c->sms_gateway_url, sizeof c->sms_gateway_url, "SMS_GATEWAY_URL", "", errs);
    copy_env(c->sms_gateway_token, sizeof c->sms_gateway_token, "SMS_GATEWAY_TOKEN", "", errs);
    if (c->sms_gateway_url[0] && !public_url_valid(c->sms_gateway_url))
        cfg_error(errs, "SMS_GATEWAY_URL must be an http:// or https:// URL without spaces or quotes");
    if (strpbrk(c->sms_gateway_token, "\r\n"))
        cfg_error(errs, "SMS_GATEWAY_TOKEN must be one line");
}

/* What the process keeps in memory: the queue board's bodies, the guard's accounts and tokens. */
static void caches_load(struct app_config *c, struct cfg_errors *errs)
{
    c->queue_cache_bytes = cfg_env_long("QUEUE_CACHE_BYTES", DEF_QUEUE_CACHE_BYTES, 0, 1L << 40, errs);
    c->queue_cache_wait_ms = cfg_env_long("QUEUE_CACHE_WAIT_MS", DEF_QUEUE_CACHE_WAIT_MS, 0, 60000, errs);
    c->account_cache_entries = cfg_env_long("ACCOUNT_CACHE_ENTRIES", DEF_ACCOUNT_CACHE_ENTRIES, 0, 10000000, errs);
    c->account_cache_heartbeat_ms =
        cfg_env_long("ACCOUNT_CACHE_HEARTBEAT_MS", DEF_ACCOUNT_CACHE_HEARTBEAT_MS, 100, 600000, errs);
    c->token_cache_entries = cfg_env_long("TOKEN_CACHE_ENTRIES", DEF_TOKEN_CACHE_ENTRIES, 0, 10000000, errs);
}

/* The video consultations: ICE servers (STUN, TURN with its shared secret) and the sessions' time limits and links. */
static void video_load(struct app_config *c, struct cfg_errors *errs)
{
    copy_env(c->stun_urls, sizeof c->stun_urls, "STUN_URLS", DEF_STUN_URLS, errs);
    copy_env(c->turn_urls, sizeof c->turn_urls, "TURN_URLS", DEF_TURN_URLS, errs);
    copy_env(c->turn_secret, sizeof c->turn_secret, "TURN_SECRET", "", errs);
    if (!ice_urls_valid(c->stun_urls, "stun:"))
        cfg_error(errs, "STUN_URLS must be a comma-separated list of stun: or stuns: URLs");
    if (!ice_urls_valid(c->turn_urls, "turn:"))
        cfg_error(errs, "TURN_URLS must be a comma-separated list of turn: or turns: URLs");
    if (c->turn_urls[0] && !c->turn_secret[0])
        cfg_error(errs, "TURN_URLS is set but TURN_SECRET is not (the shared secret of the TURN server)");
    c->turn_ttl = cfg_env_long("TURN_TTL", DEF_TURN_TTL, 60, 86400, errs);
    c->video_join_early_minutes =
        cfg_env_long("VIDEO_JOIN_EARLY_MINUTES", DEF_VIDEO_JOIN_EARLY_MINUTES, 0, 1440, errs);
    c->video_expire_minutes = cfg_env_long("VIDEO_EXPIRE_MINUTES", DEF_VIDEO_EXPIRE_MINUTES, 1, 1440, errs);
    c->video_token_ttl = cfg_env_long("VIDEO_TOKEN_TTL", DEF_VIDEO_TOKEN_TTL, 60, 86400, errs);
    c->video_invite_ttl = cfg_env_long("VIDEO_INVITE_TTL", DEF_VIDEO_INVITE_TTL, 60, 2592000, errs);
    copy_env(c->video_invite_url, sizeof c->video_invite_url, "VIDEO_INVITE_URL", DEF_VIDEO_INVITE_URL, errs);
    if (strncmp(c->video_invite_url, "http://", 7) != 0 && strncmp(c->video_invite_url, "https://", 8) != 0)
        cfg_error(errs, "VIDEO_INVITE_URL must be an http:// or https:// URL");
}

/* Webhooks: whether this process sends them, the SSRF guard's escape hatch, the limits. */
static void webhook_load(struct app_config *c, struct cfg_errors *errs)
{
    c->webhook_send = cfg_env_long("WEBHOOK_SEND", 0, 0, 1, errs) == 1;
    c->webhook_allow_private = cfg_env_long("WEBHOOK_ALLOW_PRIVATE", 0, 0, 1, errs) == 1;
    c->webhook_timeout_seconds = cfg_env_long("WEBHOOK_TIMEOUT_SECONDS", DEF_WEBHOOK_TIMEOUT_SECONDS, 1, 600, errs);
    if (c->webhook_timeout_seconds > c->delivery_timeout_seconds) /* the lease is sized for DELIVERY_TIMEOUT_SECONDS */
        c->webhook_timeout_seconds = c->delivery_timeout_seconds;
    c->webhook_disable_after_seconds =
        cfg_env_long("WEBHOOK_DISABLE_AFTER_SECONDS", DEF_WEBHOOK_DISABLE_AFTER_SECONDS, 1, 30L * 86400, errs);
    c->webhook_secret_overlap_seconds =
        cfg_env_long("WEBHOOK_SECRET_OVERLAP_SECONDS", DEF_WEBHOOK_SECRET_OVERLAP_SECONDS, 0, 30L * 86400, errs);
}

/* The installation reset (reset.c): off unless ALLOW_DATABASE_RESET=1; the name it is confirmed with. */
static void reset_load(struct app_config *c, struct cfg_errors *errs)
{
    c->allow_database_reset = cfg_env_long("ALLOW_DATABASE_RESET", 0, 0, 1, errs) == 1;
    copy_env(c->installation_name, sizeof c->installation_name, "INSTALLATION_NAME", DEF_INSTALLATION_NAME, errs);
    if (!c->installation_name[0])
        cfg_error(errs, "INSTALLATION_NAME must not be empty");
}

/* REMINDER_LEAD_MINUTES: distinct whole minutes before each confirmed appointment, or "none". */
static void reminders_load(struct app_config *c, struct cfg_errors *errs)
{
    const char *v = cfg_env("REMINDER_LEAD_MINUTES", DEF_REMINDER_LEAD_MINUTES);
    c->reminder_lead_count = strcmp(v, "none") == 0 ? 0
                             : cfg_parse_long_list(v, 1, REMINDER_MAX_LEAD_MINUTES, c->reminder_leads,
                                                   REMINDER_MAX_LEADS);
    if (c->reminder_lead_count < 0) {
        cfg_error(errs,
                  "REMINDER_LEAD_MINUTES=\"%.60s\" must be \"none\" or a comma-separated list of 1 to %d different whole "
                  "minutes, each 1-%d (e.g. 1440,60)",
                  v, REMINDER_MAX_LEADS, REMINDER_MAX_LEAD_MINUTES);
        c->reminder_lead_count = 0;
    }
}

/* Notifications: how long read items and announcements are kept. */
static void notification_load(struct app_config *c, struct cfg_errors *errs)
{
    c->notification_retention_days =
        cfg_env_long("NOTIFICATION_RETENTION_DAYS", DEF_NOTIFICATION_RETENTION_DAYS, 1, 3650, errs);
}

bool app_config_load(struct app_config *c)
{
    struct cfg_errors errs = {0};
    memset(c, 0, sizeof *c);
    copy_env(c->database_url, sizeof c->database_url, "DATABASE_URL", DEF_DATABASE_URL, &errs);
    cfg_env_listen("API_LISTEN", DEF_API_LISTEN, c->listen_host, sizeof c->listen_host, &c->listen_port, &errs);
    copy_env(c->prefix, sizeof c->prefix, "API_PREFIX", DEF_API_PREFIX, &errs);
    if (c->prefix[0] != '/' || (strlen(c->prefix) > 1 && c->prefix[strlen(c->prefix) - 1] == '/') ||
        strspn(c->prefix, "/abcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(c->prefix))
        cfg_error(&errs, "API_PREFIX=\"%s\" must start with '/', not end with '/', and use [a-z0-9-_/]", c->prefix);
    if (strcmp(c->prefix, "/") == 0)
        c->prefix[0] = '\0';
    copy_env(c->private_key_file, sizeof c->private_key_file, "JWT_PRIVATE_KEY_FILE", DEF_JWT_PRIVATE_KEY_FILE,
             &errs);
    copy_env(c->public_key_file, sizeof c->public_key_file, "JWT_PUBLIC_KEY_FILE", DEF_JWT_PUBLIC_KEY_FILE, &errs);
    c->access_ttl = cfg_env_long("ACCESS_TOKEN_TTL", DEF_ACCESS_TOKEN_TTL, 60, 86400, &errs);
    c->refresh_ttl = cfg_env_long("REFRESH_TOKEN_TTL", DEF_REFRESH_TOKEN_TTL, 300, 31536000, &errs);
    const char *lvl = cfg_env("LOG_LEVEL", DEF_LOG_LEVEL);
    c->log_level = log_parse_level(lvl);
    if (c->log_level < 0) {
        cfg_error(&errs, "LOG_LEVEL=\"%.40s\" must be one of error, warning, info, debug", lvl);
        c->log_level = LOG_INFO;
    }
    c->pool_size = cfg_env_long("DB_POOL_SIZE", DEF_DB_POOL_SIZE, 1, 1000, &errs);
    c->acquire_timeout_ms = cfg_env_long("DB_ACQUIRE_TIMEOUT_MS", DEF_DB_ACQUIRE_TIMEOUT_MS, 10, 600000, &errs);
    c->max_connections = cfg_env_long("API_MAX_CONNECTIONS", DEF_API_MAX_CONNECTIONS, 1, 100000, &errs);
    c->max_body = cfg_env_long("API_MAX_BODY", DEF_API_MAX_BODY, 1024, 1073741824L, &errs);
    limits_load(c, &errs);
    c->login_concurrency = cfg_env_long("LOGIN_CONCURRENCY", DEF_LOGIN_CONCURRENCY, 1, 256, &errs);
    c->password_memory_kib = cfg_env_long("PASSWORD_MEMORY_KIB", PASSWORD_DEFAULT_MEMORY_KIB, 1024, 1048576, &errs);
    c->password_iterations = cfg_env_long("PASSWORD_ITERATIONS", PASSWORD_DEFAULT_ITERATIONS, 1, 10, &errs);
    login_load(c, &errs);
    copy_env(c->migrations_dir, sizeof c->migrations_dir, "MIGRATIONS_DIR", DEF_MIGRATIONS_DIR, &errs);
    c->shutdown_grace = cfg_env_long("SHUTDOWN_GRACE", DEF_SHUTDOWN_GRACE, 0, 3600, &errs);
    video_load(c, &errs);

    cors_load(&c->cors, &errs);
    caches_load(c, &errs);
    copy_env(c->web_root, sizeof c->web_root, "WEB_ROOT", DEF_WEB_ROOT, &errs);
    copy_env(c->signaling_public_url, sizeof c->signaling_public_url, "SIGNALING_PUBLIC_URL",
             DEF_SIGNALING_PUBLIC_URL, &errs);
    if (!public_url_valid(c->signaling_public_url))
        cfg_error(&errs, "SIGNALING_PUBLIC_URL must be an http:// or https:// URL without spaces or quotes");
    delivery_load(c, &errs);
    webhook_load(c, &errs);
    notification_load(c, &errs);
    account_links_load(c, &errs);
    reset_load(c, &errs);
    reminders_load(c, &errs);
    chat_load(c, &errs);
    c->record_access_log = cfg_env_long("RECORD_ACCESS_LOG", DEF_RECORD_ACCESS_LOG, 0, 1, &errs) == 1;
    c->patient_change_notice_hours =
        cfg_env_long("PATIENT_CHANGE_NOTICE_HOURS", DEF_PATIENT_CHANGE_NOTICE_HOURS, 0, 8760, &errs);
    files_load(c, &errs);

    for (int i = 0; i < errs.n; i++)
        fprintf(stderr, "configuration error: %s\n", errs.msg[i]);
    return errs.n == 0;
}
