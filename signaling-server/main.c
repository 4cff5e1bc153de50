/* signaling-server: pushes the committed events of the outbox to browser and app clients (Socket.IO
 * v4 over WebSocket or HTTP long-polling, or plain JSON over WebSocket) in the rooms their access
 * tokens entitle. One thread, one libwebsockets context on a libev loop of our own (epoll), or on
 * lws's poll() loop with SIGNALING_EVENT_LOOP=poll; configuration from the environment (see
 * sig_config.c and README). SIGTERM/SIGINT stop the loop: this instance's presence rows and video
 * connections are taken off (a second at most each), the database connection is closed and the
 * context destroyed, which closes every client. */
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "accounts.h"
#include "chat.h"
#include "dblink.h"
#include "log.h"
#include "outbox.h"
#include "presence.h"
#include "sig.h"
#include "timers.h"
#include "transport.h"
#include "video.h"

struct sig sig;

/* poll(): the handler only flags the stop and wakes the loop. */
static void on_signal(int signo)
{
    (void)signo;
    sig.stopping = 1;
    if (sig.ctx)
        lws_cancel_service(sig.ctx);
}

/* libev: signals are watched by the loop itself, which is broken out of in the loop's own thread. */
static void on_ev_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w;
    (void)revents;
    sig.stopping = 1;
    ev_break(loop, EVBREAK_ALL);
}

/* Runs the loop until SIGTERM or SIGINT. */
static void run(struct ev_loop *loop)
{
    if (!loop) {
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);
        while (!sig.stopping)
            if (lws_service(sig.ctx, 0) < 0)
                break;
        return;
    }
    ev_signal term, intr;
    ev_signal_init(&term, on_ev_signal, SIGTERM);
    ev_signal_init(&intr, on_ev_signal, SIGINT);
    ev_signal_start(loop, &term);
    ev_signal_start(loop, &intr);
    ev_run(loop, 0);
    ev_signal_stop(loop, &term);
    ev_signal_stop(loop, &intr);
    /* Stopping the watchers gave the signals back to SIG_DFL: a second one during the shutdown must
     * not cut it short (presence rows and video connections are still to be taken off). */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
}

/* lws logs through the project's logger (errors and warnings only). */
static void lws_log(int level, const char *line)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", line);
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '\n')
        buf[n - 1] = '\0';
    log_msg(level == LLL_ERR ? LOG_ERROR : LOG_WARNING, "lws: %s", buf);
}

/* The lws context (on a libev loop of our own, made here, unless SIGNALING_EVENT_LOOP=poll) and the listening
 * vhost. False (logged, nothing left made) when either cannot be had. */
static bool context_start(struct ev_loop **loop)
{
    static struct lws_protocols protocols[3];
    protocols[0] = listener_protocol;
    protocols[1] = dblink_protocol;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = sig.cfg.listen_port;
    info.iface = sig.cfg.listen_host;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DISABLE_IPV6;
    /* libev waits with epoll, whose cost is the sockets that are ready; poll() costs every socket at
     * every turn of the loop, which at 10,000 sockets is most of the server's time. */
    if (!sig.cfg.event_loop_poll) {
        *loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
        if (!*loop) {
            log_error("cannot create the event loop");
            return false;
        }
        info.options |= LWS_SERVER_OPTION_LIBEV;
        info.foreign_loops = (void **)loop;
    }
    info.ka_time = 0;
    sig.ctx = lws_create_context(&info);
    if (!sig.ctx) {
        log_error("cannot create the websocket context%s", sig.cfg.event_loop_poll ? "" :
                  " with the libev event loop (package libwebsockets-evlib-ev; SIGNALING_EVENT_LOOP=poll does without)");
        if (*loop)
            ev_loop_destroy(*loop);
        return false;
    }
    sig.vhost = lws_create_vhost(sig.ctx, &info);
    if (!sig.vhost) {
        log_error("cannot listen on %s:%d", sig.cfg.listen_host, sig.cfg.listen_port);
        lws_context_destroy(sig.ctx);
        if (*loop)
            ev_loop_destroy(*loop);
        return false;
    }
    return true;
}

int main(void)
{
    if (!sig_config_load(&sig.cfg))
        return 2;
    log_set_level((enum log_level)sig.cfg.log_level);
    char err[256];
    if (!token_keys_load(&sig.keys, NULL, sig.cfg.public_key_file, err, sizeof err)) {
        log_error("%s", err);
        return 2;
    }
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);

    struct ev_loop *loop = NULL;
    if (!context_start(&loop))
        return 1;
    timers_start(sig.ctx);
    signal(SIGPIPE, SIG_IGN);
    outbox_init(); /* its readers first: the start cursor goes before the relay */
    presence_init();
    video_init();
    chat_init();
    accounts_init();
    dblink_start();
    log_info("signaling-server listening on %s:%d", sig.cfg.listen_host, sig.cfg.listen_port);
    run(loop);
    log_info("signaling-server stopping");
    timers_stop();
    presence_stop();
    video_stop();
    outbox_stop();
    dblink_stop();
    lws_context_destroy(sig.ctx);
    if (loop)
        ev_loop_destroy(loop);
    token_keys_free(&sig.keys);
    return 0;
}
