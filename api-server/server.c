/* server: runs the HTTP service. ulfius on libmicrohttpd with one thread per connection on
 * poll() (not select(), which fails past 1024 descriptors); handlers block on libpq, so a thread
 * per connection plus a pool is the right model. The alternatives fall short: an MHD thread pool
 * pins each connection to one thread and stalls behind a blocking handler; suspend/resume would
 * need ulfius to answer from another thread, which it cannot; an epoll front handing MHD only
 * complete request heads would guard a connection's first request, not the next ones. An idle
 * connection's thread costs about 14 KiB resident, so thousands are affordable; what matters is
 * to bound what one client may hold:
 *   - connections: API_MAX_CONNECTIONS in all (threads of API_THREAD_STACK_KB of stack) and
 *     API_MAX_CONNECTIONS_PER_ADDRESS from one client address, refused by MHD at accept, before
 *     any thread exists;
 *   - time: a request head must be complete API_HEADER_TIMEOUT_MS after the connection starts
 *     waiting for it, and its body API_BODY_TIMEOUT_MS after that, however slowly bytes trickle
 *     in (connguard.h). MHD's own timeout, API_IDLE_TIMEOUT_SECONDS, restarts with every byte, so
 *     it only catches the silent, such as a client that stops reading its answer;
 *   - requests: token buckets per address and per user (ratelimit.h).
 * The open-files limit is raised to what API_MAX_CONNECTIONS needs, or start-up fails saying so.
 *
 * Shutdown: SIGTERM/SIGINT are blocked in every thread and taken by sigwait() in the main
 * thread; it stops accepting (MHD_quiesce_daemon), waits up to SHUTDOWN_GRACE seconds for
 * in-flight requests to finish, then stops the daemon, the delivery senders (delivery.h: their
 * transfers in flight are aborted and their rows go back to the queue), the account listener (joined)
 * and closes the pool; the caches are freed last, when no thread can use them. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <ulfius.h>
#include <unistd.h>

#include "account_listener.h"
#include "app.h"
#include "connguard.h"
#include "delivery.h"
#include "log.h"
#include "password.h"
#include "ratelimit.h"
#include "router.h"
#include "static.h"
#include "upload.h"

static void wait_in_flight(long grace_seconds)
{
    struct timespec tick = {0, 20 * 1000000L};
    long waited_ms = 0;
    while (http_in_flight() > 0 && waited_ms < grace_seconds * 1000) {
        nanosleep(&tick, NULL);
        waited_ms += 20;
    }
    if (http_in_flight() > 0)
        log_warning("shutdown: %d request(s) still running after %ld s", http_in_flight(), grace_seconds);
}

/* Descriptors needed besides the connections and the pool: the listening socket, logs, keys,
 * export files. */
#define SPARE_FILES 64

/* Raises the open-files limit to what API_MAX_CONNECTIONS needs; false (logged) if the hard limit
 * is lower. */
static bool raise_files_limit(void)
{
    rlim_t need = (rlim_t)(app.cfg.max_connections + app.cfg.pool_size + SPARE_FILES);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
        return true;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        log_error("API_MAX_CONNECTIONS=%ld needs %llu open files, but the limit is %llu (ulimit -Hn): lower "
                  "API_MAX_CONNECTIONS or raise the limit",
                  app.cfg.max_connections, (unsigned long long)need, (unsigned long long)rl.rlim_max);
        return false;
    }
    rl.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        log_error("cannot raise the open-files limit to %llu: %s", (unsigned long long)need, strerror(errno));
        return false;
    }
    return true;
}

void server_block_stop_signals(sigset_t *sigs)
{
    sigemptyset(sigs);
    sigaddset(sigs, SIGTERM);
    sigaddset(sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* The guard's caches; with an account cache, its listener, and the pool's connections listening too
 * (what a request commits is forgotten before it is answered). False (logged) on failure. */
static bool guard_caches_start(void)
{
    app.tokens = tokencache_new((size_t)app.cfg.token_cache_entries);
    app.accounts = accountcache_new((size_t)app.cfg.account_cache_entries);
    if (!app.tokens || !app.accounts) {
        log_error("out of memory for the guard's caches (TOKEN_CACHE_ENTRIES, ACCOUNT_CACHE_ENTRIES)");
        return false;
    }
    if (app.cfg.account_cache_entries == 0)
        return true;
    db_pool_listen(app.pool, "account_changed", account_listener_heard, app.accounts);
    return account_listener_start(app.accounts, app.cfg.database_url, app.cfg.listen_host, app.cfg.listen_port,
                                  app.cfg.account_cache_heartbeat_ms);
}

/* Everything server_run made, once no request runs any more (NULL-safe). */
static void release_all(void)
{
    delivery_stop();
    connguard_stop();
    account_listener_stop();
    db_pool_free(app.pool);
    app.pool = NULL;
    bodycache_free(app.boards);
    app.boards = NULL;
    accountcache_free(app.accounts);
    app.accounts = NULL;
    tokencache_free(app.tokens);
    app.tokens = NULL;
    ratelimit_free();
}

/* The HTTP instance on API_LISTEN with the router's routes and connguard's callbacks, listening. False (logged, the
 * instance cleaned) when it cannot. */
static bool http_start(struct _u_instance *inst, struct sockaddr_in *addr)
{
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)app.cfg.listen_port);
    inet_pton(AF_INET, app.cfg.listen_host, &addr->sin_addr);
    if (ulfius_init_instance(inst, (unsigned)app.cfg.listen_port, addr, NULL) != U_OK) {
        log_error("cannot initialise the HTTP instance");
        return false;
    }
    /* One byte over the limit so an oversized body is detectable (ulfius truncates silently): the
     * JSON limit or a photo's, whichever is larger (router_prepare checks each route's own). A
     * multipart upload's file goes to upload.c as it arrives; its other fields are small. */
    long kept = app.cfg.max_body > app.cfg.photo_max_bytes ? app.cfg.max_body : app.cfg.photo_max_bytes;
    inst->max_post_body_size = (size_t)kept + 1;
    inst->max_post_param_size = UPLOAD_MAX_FIELD_BYTES;
    inst->allowed_post_processor = U_POST_PROCESS_MULTIPART_FORMDATA;
    ulfius_set_upload_file_callback_function(inst, upload_receive, NULL);
    router_register(inst);

    /* The logger first, so MHD prints nothing itself; the two callbacks ulfius requires
     * (mhd_request_completed, ulfius_uri_logger) are called by connguard's. */
    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)connguard_mhd_log, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)connguard_request_completed, NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)connguard_uri_logged, NULL},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)connguard_notify_connection, NULL},
        {MHD_OPTION_SOCK_ADDR, 0, addr},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)app.cfg.max_connections, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)app.cfg.max_connections_per_address, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)app.cfg.idle_timeout_seconds, NULL},
        {MHD_OPTION_THREAD_STACK_SIZE, (intptr_t)app.cfg.thread_stack_kb * 1024, NULL},
        {MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    if (ulfius_start_framework_with_mhd_options(inst, flags, ops) != U_OK) {
        log_error("cannot listen on %s:%d (in use, or not an address of this machine?)", app.cfg.listen_host,
                  app.cfg.listen_port);
        ulfius_clean_instance(inst);
        return false;
    }
    return true;
}

int server_run(void)
{
    sigset_t sigs;
    server_block_stop_signals(&sigs);

    if (!raise_files_limit() || !ratelimit_init())
        return 1;
    password_init((unsigned)app.cfg.login_concurrency);
    static_init();
    app.pool = db_pool_new(app.cfg.database_url, (int)app.cfg.pool_size, (int)app.cfg.acquire_timeout_ms);
    app.boards = bodycache_new((size_t)app.cfg.queue_cache_bytes, (unsigned)app.cfg.queue_cache_wait_ms);
    struct _u_instance inst;
    struct sockaddr_in addr; /* MHD keeps a pointer to it while the instance runs */
    if (!app.pool || !app.boards || !guard_caches_start() || !connguard_start() ||
        !delivery_start((int)app.cfg.delivery_workers) || !http_start(&inst, &addr)) {
        release_all();
        return 1;
    }
    log_info("api-server listening on http://%s:%d%s (pool %ld, max connections %ld, %ld per address)",
             app.cfg.listen_host, app.cfg.listen_port, app.cfg.prefix, app.cfg.pool_size, app.cfg.max_connections,
             app.cfg.max_connections_per_address);

    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("received %s: no new connections, finishing requests in flight", sig == SIGINT ? "SIGINT" : "SIGTERM");
    MHD_socket listen_fd = MHD_quiesce_daemon(inst.mhd_daemon);
    if (listen_fd != MHD_INVALID_SOCKET)
        close(listen_fd);
    wait_in_flight(app.cfg.shutdown_grace);
    ulfius_stop_framework(&inst);
    ulfius_clean_instance(&inst);
    release_all();
    log_info("api-server stopped");
    return 0;
}
