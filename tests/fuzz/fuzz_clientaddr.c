/* libFuzzer harness for common/clientaddr.c, which reads an X-Forwarded-For header off the network: the
 * input is, split at the first two NULs, the header, the TCP peer's address and the trusted list.
 * Checked: the key fits its buffer and is "unknown", an IPv4 address, or an IPv6 /64 ending in "/64";
 * a key other than the peer's own comes only through a trusted peer; a list judged valid keeps its
 * verdict whatever the header. Seeds are in tests/fuzz/corpus/clientaddr/. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clientaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool key_shaped(const char *k)
{
    unsigned char b[16];
    size_t n = strlen(k);
    if (n >= CLIENTADDR_MAX)
        return false;
    if (strcmp(k, "unknown") == 0 || inet_pton(AF_INET, k, b) == 1)
        return true;
    if (n < 4 || strcmp(k + n - 3, "/64") != 0)
        return false;
    char net[CLIENTADDR_MAX];
    memcpy(net, k, n - 3);
    net[n - 3] = '\0';
    return inet_pton(AF_INET6, net, b) == 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 3);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = buf[size + 2] = '\0';
    char *xff = buf, *peer = xff + strlen(xff) + 1, *trusted = peer + strlen(peer) + 1;
    if (trusted > buf + size + 2)
        trusted = buf + size + 2;
    bool valid = clientaddr_list_valid(trusted);
    char key[CLIENTADDR_MAX], alone[CLIENTADDR_MAX];
    clientaddr_key(peer, xff, valid ? trusted : "", key);
    clientaddr_key(peer, NULL, "", alone);
    if (!key_shaped(key) || !key_shaped(alone))
        abort();
    if (strcmp(key, alone) != 0 && !(valid && clientaddr_listed(peer, trusted)))
        abort();
    if (clientaddr_list_valid(trusted) != valid)
        abort();
    free(buf);
    return 0;
}
