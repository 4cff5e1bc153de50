/* password: see password.h. A counting semaphore bounds concurrent argon2 work. */
#include "password.h"

#include <argon2.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <string.h>

#include "crypto.h"

#define PARALLELISM 1
#define SALT_LEN 16
#define HASH_LEN 32

static sem_t slots;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static unsigned configured = 4;
static unsigned m_cost = PASSWORD_DEFAULT_MEMORY_KIB, t_cost = PASSWORD_DEFAULT_ITERATIONS;
static char dummy_hash[PASSWORD_HASH_MAX];

static void init_once(void)
{
    sem_init(&slots, 0, configured ? configured : 1);
}

void password_init(unsigned concurrency)
{
    configured = concurrency;
    pthread_once(&once, init_once);
}

static void acquire(void)
{
    pthread_once(&once, init_once);
    while (sem_wait(&slots) != 0 && errno == EINTR)
        ;
}

static void release(void) { sem_post(&slots); }

void password_set_cost(unsigned memory_kib, unsigned iterations)
{
    m_cost = memory_kib;
    t_cost = iterations;
}

bool password_hash(const char *pw, char out[PASSWORD_HASH_MAX])
{
    unsigned char salt[SALT_LEN];
    if (!crypto_random(salt, sizeof salt))
        return false;
    acquire();
    int rc = argon2id_hash_encoded(t_cost, m_cost, PARALLELISM, pw, strlen(pw), salt, sizeof salt, HASH_LEN,
                                   out, PASSWORD_HASH_MAX);
    release();
    return rc == ARGON2_OK;
}

bool password_verify(const char *encoded, const char *pw)
{
    acquire();
    int rc = argon2id_verify(encoded, pw, strlen(pw));
    release();
    return rc == ARGON2_OK;
}

static void make_dummy(void) { password_hash("not a real password", dummy_hash); }

void password_burn(void)
{
    static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
    pthread_once(&dummy_once, make_dummy);
    (void)password_verify(dummy_hash, "still not a real password");
}
