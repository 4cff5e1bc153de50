/* account_listener: the thread of `api-server serve` that keeps the guard's account cache
 * (common/accountcache.h) true. It holds one database connection of its own, outside the pool, that
 * LISTENs on account_changed (sql/0012, sql/0020) and forgets each account announced; it sends a
 * heartbeat every ACCOUNT_CACHE_HEARTBEAT_MS, and each answer (which comes after every notification
 * sent before it) renews the cache's trust for two periods. A connection that fails, or does not
 * answer a heartbeat within a period, is dropped (the cache with it: accountcache_lost) and opened
 * again after a pause that doubles up to RETRY_MAX_MS; the cache is trusted again only once the new
 * LISTEN is in place. So a change is missed by no instance: each listens for itself, and an
 * instance that cannot hear asks the database on every request until it can again.
 *
 * Its connection is named by application_name "clinic-accounts <host>:<port>" (API_LISTEN's), so an
 * operator, or a test, can find its backend in pg_stat_activity.
 *
 * Threads: the listener thread alone owns its PGconn. It shares the cache (thread-safe) and a stop
 * flag plus the read end of a pipe; account_listener_stop sets the flag, writes the pipe (every wait
 * of the thread, connecting included, polls the pipe too) and joins the thread, so the thread is
 * gone, its connection closed, before stop returns. Start and stop are called from the main thread
 * only. */
#ifndef API_ACCOUNT_LISTENER_H
#define API_ACCOUNT_LISTENER_H

#include <stdbool.h>

#include "accountcache.h"

/* Starts the thread for cache (which must outlive account_listener_stop); false (logged) when it
 * cannot. The cache stays untrusted until the first LISTEN is in place. */
bool account_listener_start(struct accountcache *cache, const char *conninfo, const char *host, int port,
                            long heartbeat_ms);
/* Stops and joins the thread; nothing when it was not started. */
void account_listener_stop(void);

/* Applies one account_changed payload to cache (a struct accountcache *): {"user_id":N} forgets N;
 * anything else, every account. Also what the pool's connections hand their notifications to. */
void account_listener_heard(const char *payload, void *cache);

#endif
