/* server: runs the HTTP service. ulfius on libmicrohttpd with one thread per connection on
 * poll() (not select(), which fails past 1024 descriptors) and a connection limit; handlers block
 * on libpq, so a thread per connection plus a pool is the right model.
 *
 * Shutdown: SIGTERM/SIGINT are blocked in every thread and taken by sigwait() in the main
 * thread; it stops accepting (MHD_quiesce_daemon), waits up to SHUTDOWN_GRACE seconds for
 * in-flight requests to finish, then stops the daemon and closes the pool. */
#include "server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <ulfius.h>
#include <unistd.h>

#include "app.h"
#include "log.h"
#include "password.h"
#include "router.h"

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

int server_run(void)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    password_init((unsigned)app.cfg.login_concurrency);
    app.pool = db_pool_new(app.cfg.database_url, (int)app.cfg.pool_size, (int)app.cfg.acquire_timeout_ms);
    if (!app.pool)
        return 1;

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)app.cfg.listen_port);
    inet_pton(AF_INET, app.cfg.listen_host, &addr.sin_addr);

    struct _u_instance inst;
    if (ulfius_init_instance(&inst, (unsigned)app.cfg.listen_port, &addr, NULL) != U_OK) {
        log_error("cannot initialise the HTTP instance");
        db_pool_free(app.pool);
        return 1;
    }
    /* One byte over the limit so an oversized body is detectable (ulfius truncates silently). */
    inst.max_post_body_size = (size_t)app.cfg.max_body + 1;
    router_register(&inst);

    struct MHD_OptionItem ops[] = {
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mhd_request_completed, NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)ulfius_uri_logger, NULL},
        {MHD_OPTION_SOCK_ADDR, 0, &addr},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)app.cfg.max_connections, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, 60, NULL},
        {MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    if (ulfius_start_framework_with_mhd_options(&inst, flags, ops) != U_OK) {
        log_error("cannot listen on %s:%d (in use, or not an address of this machine?)", app.cfg.listen_host,
                  app.cfg.listen_port);
        ulfius_clean_instance(&inst);
        db_pool_free(app.pool);
        return 1;
    }
    log_info("api-server listening on http://%s:%d%s (pool %ld, max connections %ld)", app.cfg.listen_host,
             app.cfg.listen_port, app.cfg.prefix, app.cfg.pool_size, app.cfg.max_connections);

    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("received %s: no new connections, finishing requests in flight", sig == SIGINT ? "SIGINT" : "SIGTERM");
    MHD_socket listen_fd = MHD_quiesce_daemon(inst.mhd_daemon);
    if (listen_fd != MHD_INVALID_SOCKET)
        close(listen_fd);
    wait_in_flight(app.cfg.shutdown_grace);
    ulfius_stop_framework(&inst);
    ulfius_clean_instance(&inst);
    db_pool_free(app.pool);
    app.pool = NULL;
    log_info("api-server stopped");
    return 0;
}
