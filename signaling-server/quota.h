/* quota: who may open a session and who may authenticate one, so that no client, authenticated or
 * not, can take the instance from others.
 *
 * Sessions that have not authenticated yet have a budget of their own
 * (SIGNALING_MAX_UNAUTHENTICATED) and a share of it per client address
 * (SIGNALING_MAX_UNAUTHENTICATED_PER_ADDRESS), and they are closed at the auth deadline: silent
 * sockets never lock out a user who comes with a token. Authenticated sessions count against
 * SIGNALING_MAX_CONNECTIONS, and each user has at most SIGNALING_MAX_PER_USER of them (guests of
 * a video invitation, who have no user, are counted per invitation). Counts are kept here alone, in
 * the loop's thread; a session's entries are released once, by quota_closed. */
#ifndef SIG_QUOTA_H
#define SIG_QUOTA_H

#include <stdbool.h>

/* What one session is counted as: its part, embedded in struct peer by peer.c and touched here
 * alone (quota.c knows nothing else of a session). Zeroed means counted nowhere. */
struct quota_peer {
    char addr[48];     /* where it comes from */
    char user_key[48]; /* the user it counts against, once authenticated ("" before) */
    bool counted_addr, counted_unauth;
};

struct lws;

/* Where the client of wsi comes from, as counted here (common/clientaddr.c): the TCP peer's address
 * (an IPv6 one as its /64), or, when that peer is one of SIGNALING_TRUSTED_PROXIES, the client its
 * X-Forwarded-For names; a header too long to read from a trusted proxy counts as "forwarded-oversized". */
void quota_client(struct lws *wsi, char out[48]);
/* Whether a new unauthenticated session from addr (quota_client's) may open now. */
bool quota_may_open(const char *addr);
/* A session (its part q) opened from addr (copied): counted as unauthenticated. */
void quota_opened(struct quota_peer *q, const char *addr);
/* The session presents a valid token of user_key (its user id "u<id>", or a guest's invitation):
 * NULL when it may authenticate (it is counted as that user's), else why not (a static sentence
 * for the client). */
const char *quota_authenticate(struct quota_peer *q, const char *user_key);
/* The session ends: its counts are given back (idempotent). */
void quota_closed(struct quota_peer *q);
/* Sessions not authenticated yet. */
long quota_unauthenticated(void);

#endif
