/* server: the `serve` subcommand (see server.c). */
#ifndef API_SERVER_H
#define API_SERVER_H

/* Serves until SIGTERM/SIGINT; returns the process exit code. */
int server_run(void);

#endif
