/* webhook_url: the one owner of "may the server call this URL?" for webhooks (SSRF guard; README
 * "Webhooks"). The URL is parsed by libcurl's own URL parser, so the host checked is the host libcurl
 * connects to. Rules: http or https only, no user name or password, at most 2000 characters; every
 * address the host resolves to must be public (not loopback, unspecified, private 10/8 172.16/12
 * 192.168/16, shared 100.64/10, link-local 169.254/16 including the cloud metadata address, benchmark
 * 198.18/15, multicast or reserved, IPv6 ::1, fc00::/7, fe80::/10, fec0::/10, multicast, and v4-mapped,
 * NAT64 or v4-compatible forms of those) unless allow_private. At subscription time the host is
 * resolved here; at delivery time libcurl resolves it (its threaded resolver, within the transfer's
 * timeout) and delivery_send.c checks every address it is about to connect to with webhook_addr_public,
 * so a second DNS answer cannot redirect the call (rebinding). */
#ifndef API_WEBHOOK_URL_H
#define API_WEBHOOK_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define WEBHOOK_URL_MAX 2000

/* Whether the address is public (see above). */
bool webhook_addr_public(const struct sockaddr *sa);

/* Checks url (parse, scheme, credentials, an address literal's address, and with resolve the resolution
 * of its host name and every address). Returns NULL when allowed, otherwise a message for the client
 * ("must be ..."). */
const char *webhook_url_check(const char *url, bool allow_private, bool resolve);

#endif
