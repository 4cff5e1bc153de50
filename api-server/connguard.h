/* connguard: the deadlines of a connection's request, which libmicrohttpd cannot keep by itself
 * (its MHD_OPTION_CONNECTION_TIMEOUT is an idle timer that every received byte resets, so a client
 * trickling a byte now and then holds a thread for ever).
 *
 * Every connection MHD accepts gets a record (MHD_OPTION_NOTIFY_CONNECTION), in one of three
 * phases, each started at a known instant:
 *   WAITING   for a complete request head, since the connection was accepted or its previous
 *             response was sent: closed after API_HEADER_TIMEOUT_MS, whatever it sends meanwhile
 *             (an idle keep-alive connection is closed then too);
 *   BODY      the head is in, the body arriving: closed after API_BODY_TIMEOUT_MS;
 *   HANDLING  the whole request is in (router_prepare ran): the handler and the response, under
 *             MHD's own idle timeout (API_IDLE_TIMEOUT_SECONDS) only.
 * A watchdog thread looks at every record a few times a second and shuts down (shutdown(2)) the
 * socket of each connection past its phase's deadline: the connection's own thread then reads
 * end-of-stream and MHD closes the connection as if the client had left. No answer is sent: no
 * request was read.
 *
 * How the phases are learnt: WAITING starts at MHD_CONNECTION_NOTIFY_STARTED and in the request-
 * completed callback; the URI callback says a request line was read; the watchdog moves such a
 * connection to BODY once MHD_get_connection_info(REQUEST_HEADER_SIZE) answers (MHD has parsed
 * the headers: nothing of ours runs then, ulfius buffers the body first); router_prepare, on the
 * connection's thread, moves it to HANDLING through connguard_request_received.
 *
 * Safety: MHD calls NOTIFY_CONNECTION CLOSED, which drops the record under the guard's mutex,
 * before it closes the socket and frees the connection; the watchdog holds that mutex while it
 * reads a connection or shuts its socket down, so it only ever touches a live connection and its
 * own socket. The one value it reads that a connection's thread writes (MHD's parsing state) is
 * at worst a tick stale.
 *
 * Thread rules: the callbacks run on MHD's threads (thread per connection: the URI callback,
 * router_prepare and the request-completed callback all run on the connection's own thread);
 * connguard_start before the daemon starts, connguard_stop after it stopped. */
#ifndef API_CONNGUARD_H
#define API_CONNGUARD_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdarg.h>

/* Starts the watchdog with the deadlines of app.cfg; false (logged) if it cannot. */
bool connguard_start(void);
void connguard_stop(void);

/* MHD_OPTION_NOTIFY_CONNECTION. */
void connguard_notify_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                                 enum MHD_ConnectionNotificationCode toe);
/* MHD_OPTION_URI_LOG_CALLBACK: notes the request line, then hands over to ulfius_uri_logger. */
void *connguard_uri_logged(void *cls, const char *uri, struct MHD_Connection *connection);
/* MHD_OPTION_NOTIFY_COMPLETED: hands over to mhd_request_completed, then waits for the next head. */
void connguard_request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                                 enum MHD_RequestTerminationCode toe);
/* MHD_OPTION_EXTERNAL_LOGGER: counts connections refused over the limits (MHD would print a line
 * for each) and passes its other messages to the log, at most a few every ten seconds. */
void connguard_mhd_log(void *cls, const char *fmt, va_list ap);

/* On a request's thread, once the whole request arrived: no deadline until its response is sent. */
void connguard_request_received(void);

#endif
