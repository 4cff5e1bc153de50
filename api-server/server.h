/* server: the `serve` subcommand (see server.c). */
#ifndef API_SERVER_H
#define API_SERVER_H

#include <signal.h>

/* Blocks SIGTERM and SIGINT in the calling thread (and the threads it starts later), to be taken by
 * sigwait(sigs), and ignores SIGPIPE. Call before starting any thread. */
void server_block_stop_signals(sigset_t *sigs);

/* Serves until SIGTERM/SIGINT; returns the process exit code. */
int server_run(void);

#endif
