/* clientaddr: who a client is, as budgets and throttles count it, for both servers. The TCP peer's
 * address, unless that peer is one of the operator's trusted reverse proxies: then the right-most
 * X-Forwarded-For entry that is not itself a trusted proxy (each trusted hop vouches for the one
 * before it; an untrusted hop, or an entry that is not an address, ends the walk). An IPv4 address
 * counts as itself, an IPv6 address as its /64 (one host holds a whole /64); an IPv4-mapped IPv6
 * address is its IPv4 address. Pure functions, no allocation. */
#ifndef CLINIC_CLIENTADDR_H
#define CLINIC_CLIENTADDR_H

#include <stdbool.h>

#define CLIENTADDR_MAX 64         /* a key, NUL included */
#define CLIENTADDR_MAX_PROXIES 16 /* entries in a trusted list */

/* Whether list is empty or comma-separated IPv4/IPv6 addresses (at most CLIENTADDR_MAX_PROXIES). */
bool clientaddr_list_valid(const char *list);
/* Whether addr (an address as text) is one of list's. */
bool clientaddr_listed(const char *addr, const char *list);
/* The key of the client behind peer (the TCP peer's address as text), given the X-Forwarded-For
 * header xff (NULL when none) and the trusted proxies (a list clientaddr_list_valid accepts):
 * "203.0.113.7", "2001:db8:1:2::/64", or "unknown" when peer is not an address. */
void clientaddr_key(const char *peer, const char *xff, const char *trusted, char out[CLIENTADDR_MAX]);

#endif
