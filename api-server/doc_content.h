/* doc_content: the bytes of a patient document on their way out (GET /documents/{id}/content).
 * The answer is streamed: ulfius asks for the next block, and the block's chunk is read from
 * document_chunks then (one chunk in memory per download, a pooled connection only while a chunk
 * is read, so a slow client holds none). Headers: a strong ETag (the SHA-256), 304 on a matching
 * If-None-Match, one Range (206, 416; several ranges get the whole file, byterange.h), If-Range,
 * Content-Disposition: attachment with the stored name (filetype.h), X-Content-Type-Options:
 * nosniff, and the stored type, which is never HTML (only PDF, PNG, JPEG, WebP are stored). */
#ifndef API_DOC_CONTENT_H
#define API_DOC_CONTENT_H

#include "http.h"

/* Answers the content of document p[0] for the reader whose document_access parameters are
 * p[1..5] and access_params p[6..8] (h_documents.c): 404 when out of reach, 403 when the reader sees
 * metadata only; a read of the content writes its "who saw this record" row (record_access.h). */
int doc_content_reply(const struct _u_request *req, struct _u_response *resp, struct req_ctx *ctx,
                      const char *const p[9]);

#endif
