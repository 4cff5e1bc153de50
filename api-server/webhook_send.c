/* webhook_send: the signed request of one webhook attempt; see webhook_send.h. */
#include "webhook_send.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "webhook_url.h"

bool webhook_signature(json_t *secrets, time_t t, const char *body, char *out, size_t n)
{
    size_t blen = strlen(body), len = (size_t)snprintf(out, n, "t=%lld", (long long)t);
    char *msg = malloc(blen + 32);
    if (!msg || len >= n) {
        free(msg);
        return false;
    }
    int mlen = snprintf(msg, 32, "%lld.", (long long)t);
    memcpy(msg + mlen, body, blen);
    size_t i;
    json_t *s;
    bool ok = json_array_size(secrets) > 0;
    json_array_foreach(secrets, i, s) {
        const char *key = json_string_value(s);
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int maclen = 0;
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        if (!key || !HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)msg, (size_t)mlen + blen, mac,
                          &maclen) || len + 4 + 2 * maclen >= n) {
            ok = false;
            break;
        }
        crypto_hex(mac, maclen, hex);
        len += (size_t)snprintf(out + len, n - len, ",v1=%s", hex);
    }
    free(msg);
    return ok;
}

/* Appends "name: value" to *list; false when out of memory. */
static bool add_header(struct curl_slist **list, const char *name, const char *value)
{
    char line[600];
    snprintf(line, sizeof line, "%s: %s", name, value);
    struct curl_slist *l = curl_slist_append(*list, line);
    if (l)
        *list = l;
    return l != NULL;
}

bool webhook_request_prepare(const struct app_config *cfg, int64_t id, const char *url,
                             json_t *payload, struct webhook_request *w, char *err, size_t n, bool *permanent)
{
    memset(w, 0, sizeof *w);
    *permanent = false;
    json_t *signing = json_object_get(payload, "signing");
    w->body = json_string_value(json_object_get(payload, "body"));
    const char *kind = json_string_value(json_object_get(payload, "event"));
    if (!signing || !w->body || !kind) {
        *permanent = true;
        snprintf(err, n, "the webhook subscription was deleted");
        return false;
    }
    if (!json_is_true(json_object_get(signing, "active"))) {
        *permanent = true;
        snprintf(err, n, "the webhook subscription is disabled");
        return false;
    }
    char sig[400], idtext[24];
    const char *why = webhook_url_check(url, cfg->webhook_allow_private, false);
    if (why) {
        snprintf(err, n, "refused at delivery time: the URL %s", why);
        return false;
    }
    if (!webhook_signature(json_object_get(signing, "secrets"), time(NULL), w->body, sig, sizeof sig)) {
        snprintf(err, n, "the request cannot be signed");
        return false;
    }
    snprintf(idtext, sizeof idtext, "%lld", (long long)id);
    if (!add_header(&w->headers, "Content-Type", "application/json") || !add_header(&w->headers, "X-Clinic-Event", kind) ||
        !add_header(&w->headers, "X-Clinic-Delivery", idtext) || !add_header(&w->headers, "X-Clinic-Signature", sig) ||
        !add_header(&w->headers, "Expect", "")) {
        snprintf(err, n, "out of memory");
        webhook_request_free(w);
        return false;
    }
    return true;
}

void webhook_request_free(struct webhook_request *w)
{
    curl_slist_free_all(w->headers);
    w->headers = NULL;
}
