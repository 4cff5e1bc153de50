/* static: the console's files at the server root (see h_static.c). */
#ifndef API_STATIC_H
#define API_STATIC_H

#include "http.h"

/* Resolves WEB_ROOT once, before the server starts; a missing root is logged and serves nothing. */
void static_init(void);
/* Answers a GET or HEAD that no route matched with a file of the root, a 304, or the 404 envelope. */
int static_serve(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx);

#endif
