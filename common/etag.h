/* etag: entity tags and the If-None-Match test of RFC 9110 (sections 8.8.3 and 13.1.2), pure
 * string work with no allocation. An entity tag is written with its quotes ("v1"); a weak one
 * carries W/ before them. If-None-Match compares weakly: W/"v1" matches "v1". */
#ifndef CLINIC_ETAG_H
#define CLINIC_ETAG_H

#include <stdbool.h>

/* Whether the If-None-Match header value header (may be NULL: absent) names etag, a strong tag
 * with its quotes: "*", or a comma-separated list holding etag or W/etag. A list that is not
 * well formed matches nothing from the first malformed member on (the request is then answered
 * in full, which is always safe). */
bool etag_none_match_hits(const char *header, const char *etag);

#endif
