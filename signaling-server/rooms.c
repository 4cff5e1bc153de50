/* rooms: see rooms.h. */
#include "rooms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROOM_BUCKETS 8192

struct room {
    char name[ROOM_NAME_MAX];
    struct room *hnext;
    struct room_member *head;
};

static struct room *buckets[ROOM_BUCKETS];
static struct room everywhere; /* the sessions in every room */
static long nrooms;
static unsigned long stamp;    /* one per rooms_each: a session visited already carries it */

static unsigned room_hash(const char *name)
{
    unsigned h = 2166136261u;
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 16777619u;
    return h % ROOM_BUCKETS;
}

static struct room *room_find(const char *name)
{
    for (struct room *r = buckets[room_hash(name)]; r; r = r->hnext)
        if (strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

static struct room *room_get(const char *name)
{
    struct room *r = room_find(name);
    if (r)
        return r;
    r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    snprintf(r->name, sizeof r->name, "%s", name);
    unsigned h = room_hash(name);
    r->hnext = buckets[h];
    buckets[h] = r;
    nrooms++;
    return r;
}

static void room_drop(struct room *r)
{
    for (struct room **link = &buckets[room_hash(r->name)]; *link; link = &(*link)->hnext)
        if (*link == r) {
            *link = r->hnext;
            nrooms--;
            free(r);
            return;
        }
}

static void join(struct room_member *m, struct rooms_peer *rp, struct peer *p, struct room *r)
{
    m->room = r;
    m->peer = p;
    m->of = rp;
    m->prev = NULL;
    m->next = r->head;
    if (r->head)
        r->head->prev = m;
    r->head = m;
}

static void leave(struct room_member *m)
{
    struct room *r = m->room;
    if (!r)
        return;
    if (m->prev)
        m->prev->next = m->next;
    else
        r->head = m->next;
    if (m->next)
        m->next->prev = m->prev;
    m->room = NULL;
    m->prev = m->next = NULL;
    if (!r->head && r != &everywhere)
        room_drop(r);
}

void rooms_clear(struct rooms_peer *rp)
{
    for (int i = 0; i < ROOMS_PER_PEER; i++)
        leave(&rp->member[i]);
}

bool rooms_set(struct rooms_peer *rp, struct peer *p, const char names[][ROOM_NAME_MAX], int n, bool all)
{
    rooms_clear(rp);
    int m = 0;
    if (all)
        join(&rp->member[m++], rp, p, &everywhere);
    for (int i = 0; i < n && m < ROOMS_PER_PEER; i++) {
        struct room *r = room_get(names[i]);
        if (!r) {
            rooms_clear(rp);
            return false;
        }
        join(&rp->member[m++], rp, p, r);
    }
    return true;
}

static void visit_list(struct room_member *m, void (*fn)(struct peer *, void *), void *arg)
{
    for (; m; m = m->next)
        if (m->of->stamp != stamp) {
            m->of->stamp = stamp;
            fn(m->peer, arg);
        }
}

/* Whether name appears in the JSON array text rooms_json. Room names are [a-z]+:[0-9]+, so a quoted
 * match is exact. */
static bool named_in(const char *name, const char *rooms_json)
{
    char quoted[ROOM_NAME_MAX + 2];
    snprintf(quoted, sizeof quoted, "\"%s\"", name);
    return strstr(rooms_json, quoted) != NULL;
}

/* Whether the event is for a personal room (user:{id}, its first room as sql/0027's event_visible
 * reads it): the sessions in every room (admins) are not in another user's. */
static bool personal(const struct room_set *s, const char *rooms_json)
{
    if (s->overflow)
        return strncmp(rooms_json, "[\"" ROOM_PERSONAL, strlen(ROOM_PERSONAL) + 2) == 0;
    return s->n > 0 && strncmp(s->name[0], ROOM_PERSONAL, strlen(ROOM_PERSONAL)) == 0;
}

void rooms_each(const struct room_set *s, const char *rooms_json, void (*fn)(struct peer *p, void *arg), void *arg)
{
    stamp++;
    bool everyone = !personal(s, rooms_json);
    if (s->overflow) { /* the slow path: every room against the text */
        if (everyone)
            visit_list(everywhere.head, fn, arg);
        for (int b = 0; b < ROOM_BUCKETS; b++)
            for (struct room *r = buckets[b]; r; r = r->hnext)
                if (named_in(r->name, rooms_json))
                    visit_list(r->head, fn, arg);
        return;
    }
    if (everyone)
        visit_list(everywhere.head, fn, arg);
    for (int i = 0; i < s->n; i++) {
        struct room *r = room_find(s->name[i]);
        if (r)
            visit_list(r->head, fn, arg);
    }
}

void room_set_parse(struct room_set *s, const char *rooms_json)
{
    s->n = 0;
    s->overflow = false;
    const char *q = rooms_json;
    while ((q = strchr(q, '"'))) {
        const char *end = strchr(q + 1, '"');
        if (!end)
            break;
        size_t len = (size_t)(end - q - 1);
        if (s->n == ROOM_SET_MAX || len >= sizeof s->name[0]) {
            s->overflow = true;
            return;
        }
        memcpy(s->name[s->n], q + 1, len);
        s->name[s->n++][len] = '\0';
        q = end + 1;
    }
}

void room_set_one(struct room_set *s, const char *name)
{
    s->overflow = strlen(name) >= sizeof s->name[0];
    s->n = s->overflow ? 0 : 1;
    if (s->n)
        snprintf(s->name[0], sizeof s->name[0], "%s", name);
}

long rooms_count(void) { return nrooms; }
