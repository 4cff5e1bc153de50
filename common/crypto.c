/* crypto: see crypto.h. */
#include "crypto.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <sys/random.h>

bool crypto_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += got;
        n -= (size_t)got;
    }
    return true;
}

void crypto_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static const char b64url_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64 of in with alphabet; a missing sextet is '=' when pad, else left out. */
static size_t b64_encode(const char *alphabet, bool pad, const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        if (i + 1 < n || pad)
            out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
        if (i + 2 < n || pad)
            out[o++] = i + 2 < n ? alphabet[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

size_t crypto_b64url(const unsigned char *in, size_t n, char *out) { return b64_encode(b64url_chars, false, in, n, out); }

size_t crypto_b64(const unsigned char *in, size_t n, char *out) { return b64_encode(b64_chars, true, in, n, out); }

static int b64url_value(char c)
{
    const char *p = c ? strchr(b64url_chars, c) : NULL;
    return p ? (int)(p - b64url_chars) : -1;
}

long crypto_b64url_decode(const char *in, unsigned char *out, size_t cap)
{
    size_t len = strlen(in), o = 0;
    if (len % 4 == 1)
        return -1;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap)
                return -1;
            out[o++] = (unsigned char)((acc >> bits) & 0xFF);
        }
    }
    return (long)o;
}

bool crypto_sha256(const void *data, size_t n, unsigned char out[32])
{
    unsigned int mdlen = 0;
    return EVP_Digest(data, n, out, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32;
}

void crypto_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[32] = {0};
    crypto_sha256(data, n, md);
    crypto_hex(md, sizeof md, out);
}

bool crypto_token(char out[44])
{
    unsigned char raw[32];
    if (!crypto_random(raw, sizeof raw))
        return false;
    crypto_b64url(raw, sizeof raw, out);
    return true;
}

bool crypto_random_hex16(char out[33])
{
    unsigned char raw[16];
    if (!crypto_random(raw, sizeof raw))
        return false;
    crypto_hex(raw, sizeof raw, out);
    return true;
}

bool crypto_turn_password(const char *secret, const char *username, char out[29])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)username, strlen(username), mac,
              &maclen) ||
        maclen != 20)
        return false;
    return EVP_EncodeBlock((unsigned char *)out, mac, 20) == 28;
}
