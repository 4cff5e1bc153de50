/* delivery: the senders of the delivery queue (sql/0021_deliveries.sql; docs/ARCHITECTURE.md "The delivery
 * queue"). Each sender is a thread with its own PostgreSQL connection (not the request pool, so sending
 * never takes a connection from request handling) that LISTENs on "deliveries", claims due rows of the
 * configured channels with delivery_claim (FOR UPDATE SKIP LOCKED, under a lease), sends each with
 * delivery_send.h and records the outcome with delivery_finish. It sleeps until a notification, the next
 * row's due time or DELIVERY_POLL_MS, whichever comes first. Any number of senders, in any number of
 * processes, share the queue without sending a row twice while its lease holds.
 *
 * Thread rules: delivery_start and delivery_stop are called by the main thread, with SIGTERM/SIGINT
 * already blocked (the senders inherit the mask). delivery_stop wakes every sender, aborts the transfers
 * in flight (libcurl's progress callback, and a shutdown(2) of the senders' sockets for a transfer blocked
 * in a read; their rows go back to the queue uncounted) and joins the threads. */
#ifndef API_DELIVERY_H
#define API_DELIVERY_H

#include <stdbool.h>

/* Starts workers senders for the channels app.cfg configures; none (true) when workers is 0 or no
 * channel is configured. false (logged) when a thread cannot start. */
bool delivery_start(int workers);
/* Stops and joins the senders; idempotent. */
void delivery_stop(void);

/* `api-server deliver`: senders alone (DELIVERY_WORKERS, at least one) until SIGTERM/SIGINT. Returns
 * the exit code; 2 when no channel is configured. */
int delivery_run_alone(void);

#endif
