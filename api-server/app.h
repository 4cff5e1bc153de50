/* app: the api-server's process-wide state, built once at start-up and read-only afterwards
 * (apart from the pool and the caches, which are internally synchronised). Handlers reach it through `app`. */
#ifndef API_APP_H
#define API_APP_H

#include "accountcache.h"
#include "bodycache.h"
#include "config.h"
#include "cors.h"
#include "db.h"
#include "token.h"
#include "tokencache.h"

/* Defaults (documented in README "Configuration"). */
#define DEF_DATABASE_URL "postgresql://clinic@127.0.0.1:15432/clinic"
#define DEF_API_LISTEN "127.0.0.1:8080"
#define DEF_API_PREFIX "/api"
#define DEF_JWT_PRIVATE_KEY_FILE "var/keys/jwt-private.pem"
#define DEF_JWT_PUBLIC_KEY_FILE "var/keys/jwt-public.pem"
#define DEF_ACCESS_TOKEN_TTL 900
#define DEF_REFRESH_TOKEN_TTL 2592000
#define DEF_LOG_LEVEL "info"
#define DEF_DB_POOL_SIZE 16
#define DEF_DB_ACQUIRE_TIMEOUT_MS 5000
#define DEF_API_MAX_CONNECTIONS 4096
/* Limits under load (README "Limits under load"). */
#define DEF_API_MAX_CONNECTIONS_PER_ADDRESS 256 /* 0 = no limit */
#define DEF_API_THREAD_STACK_KB 256
#define DEF_API_HEADER_TIMEOUT_MS 10000
#define DEF_API_BODY_TIMEOUT_MS 30000
#define DEF_API_IDLE_TIMEOUT_SECONDS 30
#define DEF_API_RATE_PER_ADDRESS 50 /* requests a second; 0 = no limit */
#define DEF_API_BURST_PER_ADDRESS 200
#define DEF_API_RATE_PER_USER 20 /* requests a second; 0 = no limit */
#define DEF_API_BURST_PER_USER 100
#define DEF_API_RATE_TABLE_SIZE 65536 /* addresses (and users) each table tracks */
#define DEF_API_MAX_BODY 1048576
#define DEF_LOGIN_CONCURRENCY 4
#define DEF_LOGIN_FREE_FAILURES 5 /* per account and address */
#define DEF_LOGIN_ACCOUNT_FREE_FAILURES 100 /* per account, every address but its known ones */
#define DEF_LOGIN_ADDRESS_FREE_FAILURES 100 /* per address, every account */
#define DEF_LOGIN_DELAY_BASE 1
#define DEF_LOGIN_DELAY_MAX 900
#define DEF_LOGIN_FAILURE_DECAY 3600
#define DEF_LOGIN_KNOWN_ADDRESS_TTL 2592000
#define DEF_TRUSTED_PROXIES "" /* none: the TCP peer is the client */
#define DEF_MIGRATIONS_DIR "sql"
#define DEF_SHUTDOWN_GRACE 10
#define DEF_STUN_URLS ""
#define DEF_TURN_URLS ""
#define DEF_TURN_TTL 3600
#define DEF_VIDEO_JOIN_EARLY_MINUTES 30
#define DEF_VIDEO_EXPIRE_MINUTES 60
#define DEF_VIDEO_TOKEN_TTL 14400
#define DEF_VIDEO_INVITE_TTL 86400
#define DEF_VIDEO_INVITE_URL "http://127.0.0.1:8080/video/join"
#define DEF_CORS_ALLOWED_ORIGINS "" /* no cross-origin access */
/* The queue board's bodies kept in memory (README "The queue board"). */
#define DEF_QUEUE_CACHE_BYTES 67108864L /* 0 = keep none */
#define DEF_QUEUE_CACHE_WAIT_MS 2000
/* What the guard keeps in memory (README "The guard's caches"). */
#define DEF_ACCOUNT_CACHE_ENTRIES 65536 /* 0 = ask the database on every request */
#define DEF_ACCOUNT_CACHE_HEARTBEAT_MS 5000
#define DEF_TOKEN_CACHE_ENTRIES 65536 /* 0 = verify every token's signature every time */
#define DEF_WEB_ROOT "web"                           /* the console's files, served at / */
#define DEF_SIGNALING_PUBLIC_URL "http://127.0.0.1:8081" /* where browsers reach the signaling-server */
/* Outbound messages (README "Outbound messages", api-server/delivery.c). */
#define DEF_DELIVERY_WORKERS 2 /* sender threads of `serve`; 0 = none */
#define DEF_DELIVERY_MAX_ATTEMPTS 8
#define DEF_DELIVERY_BACKOFF_BASE_MS 30000
#define DEF_DELIVERY_BACKOFF_MAX_MS 3600000
#define DEF_DELIVERY_LEASE_SECONDS 120 /* a claimed row is taken again after this (its sender died) */
#define DEF_DELIVERY_TIMEOUT_SECONDS 30 /* each SMTP or HTTP transfer */
#define DEF_DELIVERY_POLL_MS 5000      /* the longest a sender sleeps between looks at the queue */
#define DEF_DELIVERY_BATCH 10
/* Appointment reminders (README "Outbound messages", reminders.c, sql/0024_reminders.sql). */
#define DEF_REMINDER_LEAD_MINUTES "1440,60" /* minutes before the start; "none" = no reminders */
#define REMINDER_MAX_LEADS 10
#define REMINDER_MAX_LEAD_MINUTES 43200 /* 30 days */
/* Webhooks (README "Webhooks", h_webhooks.c, webhook_send.c). */
#define DEF_WEBHOOK_TIMEOUT_SECONDS 10          /* a 2xx within this is delivered */
#define DEF_WEBHOOK_DISABLE_AFTER_SECONDS 86400 /* failing this long disables a subscription */
#define DEF_WEBHOOK_SECRET_OVERLAP_SECONDS 86400 /* the old secret still signs this long after a rotation */
/* Notifications (README "Notifications", h_notifications.c). */
#define DEF_NOTIFICATION_RETENTION_DAYS 90 /* read notifications and announcements are deleted after this */
/* Account links (README "Account links", h_account_links.c). */
#define DEF_ACCOUNT_LINK_URL "http://127.0.0.1:8080/activate"
#define DEF_ACCOUNT_LINK_TTL_SECONDS 172800 /* 48 h */
#define DEF_PASSWORD_RESET_PER_ADDRESS 10   /* requests from one address within the window */
#define DEF_PASSWORD_RESET_PER_ACCOUNT 3    /* reset links one account gets within the window */
#define DEF_PASSWORD_RESET_WINDOW_SECONDS 3600
#define DEF_INSTALLATION_NAME "clinic" /* what a reset must be confirmed with (reset.c) */
/* Conversations (README "Conversations", h_conversations.c). */
#define DEF_CHAT_CONVERSATIONS_PER_DAY 5  /* conversations one patient may open within 24 h */
#define DEF_CHAT_EDIT_WINDOW_SECONDS 900  /* a message may be edited or deleted this long after sending */
#define DEF_SMTP_STARTTLS "try" /* off | try | require (smtp:// only; smtps:// is TLS from the start) */
/* Files (README "Files", h_documents.c, h_photos.c, upload.c). */
#define DEF_UPLOAD_MAX_BYTES 20971520L             /* a document's file: 20 MiB */
#define DEF_PHOTO_MAX_BYTES 2097152L               /* a user's photo: 2 MiB */
#define DEF_CLINIC_STORAGE_QUOTA_BYTES 5368709120L /* a clinic's documents: 5 GiB */
#define DEF_UPLOAD_TMP_DIR "/tmp"                  /* where an upload is spooled while it arrives */

/* Record access and patient self-service (README "Who saw this record", record_access.c). */
#define DEF_RECORD_ACCESS_LOG 1            /* 0 = reads of clinical data are not logged (measurements only) */
#define DEF_PATIENT_CHANGE_NOTICE_HOURS 24 /* a patient moves or cancels their booking up to this before it */

struct app_config {
    char database_url[1024];
    char listen_host[64];
    int listen_port;
    char prefix[64];
    char private_key_file[512];
    char public_key_file[512];
    long access_ttl;
    long refresh_ttl;
    int log_level;
    long pool_size;
    long acquire_timeout_ms;
    long max_connections;
    /* limits under load (server.c, connguard.c, ratelimit.c) */
    long max_connections_per_address;
    long thread_stack_kb;
    long header_timeout_ms, body_timeout_ms, idle_timeout_seconds;
    long rate_per_address, burst_per_address, rate_per_user, burst_per_user, rate_table_size;
    long max_body;
    long login_concurrency;
    long password_memory_kib; /* argon2id cost of new password hashes (PASSWORD_MEMORY_KIB, PASSWORD_ITERATIONS) */
    long password_iterations;
    /* sign-in throttling (api-server/login_throttle.c) */
    long login_free_failures, login_account_free_failures, login_address_free_failures;
    long login_delay_base, login_delay_max, login_failure_decay, login_known_address_ttl;
    char trusted_proxies[1024]; /* TRUSTED_PROXIES (or LOGIN_TRUSTED_PROXIES): comma-separated addresses, as written */
    char migrations_dir[512];
    long shutdown_grace;
    /* video consultations */
    char stun_urls[1024];  /* comma-separated; "" = none */
    char turn_urls[1024];  /* comma-separated; TURN is offered only with a secret */
    char turn_secret[256];
    long turn_ttl;
    long video_join_early_minutes, video_expire_minutes, video_token_ttl, video_invite_ttl;
    char video_invite_url[512];
    /* browsers: the origins answered cross-origin (CORS_ALLOWED_ORIGINS; none by default) */
    struct cors_origins cors;
    /* the queue board's cache (h_board.c) */
    long queue_cache_bytes, queue_cache_wait_ms;
    /* the guard's caches (router.c, account_listener.c) */
    long account_cache_entries, account_cache_heartbeat_ms, token_cache_entries;
    /* the console (h_static.c) */
    char web_root[512];
    char signaling_public_url[512];
    /* outbound messages (delivery.c, delivery_send.c); "" = channel not configured */
    long delivery_workers, delivery_max_attempts, delivery_backoff_base_ms, delivery_backoff_max_ms;
    long delivery_lease_seconds, delivery_timeout_seconds, delivery_poll_ms, delivery_batch;
    char smtp_url[512], smtp_from[512], smtp_user[256], smtp_password[256];
    char smtp_ca_file[512]; /* "" = the system's CAs */
    int smtp_starttls; /* 0 off, 1 try, 2 require */
    char sms_gateway_url[512], sms_gateway_token[512];
    /* appointment reminders: the leads in minutes, written to the database at start (reminders.c) */
    long reminder_leads[REMINDER_MAX_LEADS];
    int reminder_lead_count;
    /* webhooks: sent by this process when webhook_send; private targets only when allowed */
    bool webhook_send, webhook_allow_private;
    long webhook_timeout_seconds, webhook_disable_after_seconds, webhook_secret_overlap_seconds;
    /* account links (h_account_links.c) */
    char account_link_url[512];
    long account_link_ttl, reset_per_address, reset_per_account, reset_window;
    /* the installation reset (reset.c): refused unless allowed; confirmed with the installation's name */
    bool allow_database_reset;
    char installation_name[201];
    /* conversations (h_conversations.c) */
    long chat_messages_per_minute, chat_conversations_per_day, chat_edit_window;
    /* notifications (h_notifications.c) */
    long notification_retention_days;
    /* record access (record_access.c) and the patient's own changes (h_appointments.c) */
    bool record_access_log;
    long patient_change_notice_hours;
    /* files (h_documents.c, h_photos.c, upload.c) */
    long upload_max_bytes, photo_max_bytes, clinic_storage_quota_bytes;
    char upload_tmp_dir[512];
};

struct app {
    struct app_config cfg;
    struct token_keys keys;
    struct db_pool *pool;
    struct bodycache *boards; /* GET /queue bodies by clinic, day, filter and role (h_board.c) */
    struct accountcache *accounts; /* the guard's view of accounts, kept true by account_listener.c */
    struct tokencache *tokens;     /* access tokens already verified (router.c) */
};

extern struct app app;

/* Reads every setting from the environment; prints each bad value and returns false. */
bool app_config_load(struct app_config *cfg);

#endif
