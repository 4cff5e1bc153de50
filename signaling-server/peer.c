/* peer: the sessions of this instance (struct peer): their list, an index by sid, each one's
 * bounded send queue, and its rooms (from its token; indexed by rooms.c).
 *
 * A session is created by the transport that opened it (peer_new) and freed once, by session_end
 * through peer_free. Frames are queued with LWS_PRE bytes of headroom (a WebSocket writes them in
 * place) and taken off by the transport that carries the session (peer_pop). The queue is capped
 * at SIGNALING_SEND_QUEUE_BYTES: a client that cannot keep up is closed rather than growing
 * memory or holding up others; on reconnect it catches up by replay. Rooms are fixed at
 * authentication from the token's claims (docs/ARCHITECTURE.md §5) and entered in the room index (rooms.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "quota.h"
#include "log.h"
#include "sig.h"
#include "transport.h"

#define SID_BUCKETS 16384

static struct peer *by_sid[SID_BUCKETS];

static unsigned sid_hash(const char *sid)
{
    unsigned h = 2166136261u;
    for (; *sid; sid++)
        h = (h ^ (unsigned char)*sid) * 16777619u;
    return h % SID_BUCKETS;
}

struct peer *peer_new(const struct transport *tr, struct lws *conn, bool json_proto, const char *addr)
{
    struct peer *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->tr = tr;
    p->conn = conn;
    p->json_proto = json_proto;
    p->state = PEER_OPEN;
    if (!crypto_random_hex16(p->sid) || !crypto_random_hex16(p->cid)) {
        free(p);
        return NULL;
    }
    p->next = sig.peers;
    if (sig.peers)
        sig.peers->prev = p;
    sig.peers = p;
    sig.npeers++;
    unsigned h = sid_hash(p->sid);
    p->hnext = by_sid[h];
    by_sid[h] = p;
    quota_opened(p, addr);
    return p;
}

struct peer *peer_find(const char *sid)
{
    for (struct peer *p = by_sid[sid_hash(sid)]; p; p = p->hnext)
        if (strcmp(p->sid, sid) == 0)
            return p;
    return NULL;
}

void peer_free(struct peer *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        sig.peers = p->next;
    if (p->next)
        p->next->prev = p->prev;
    sig.npeers--;
    for (struct peer **link = &by_sid[sid_hash(p->sid)]; *link; link = &(*link)->hnext)
        if (*link == p) {
            *link = p->hnext;
            break;
        }
    timer_cancel(&p->timer);
    lws_sul_cancel(&p->sul_end);
    rooms_clear(p);
    quota_closed(p);
    peer_free_queue(p);
    free(p);
}

void peer_doom(struct peer *p)
{
    p->doomed = true;
    p->tr->wake(p);
}

void peer_kill(struct peer *p)
{
    p->doomed = true;
    p->tr->kill(p);
}

void peer_send(struct peer *p, const char *text, size_t len)
{
    if (p->doomed)
        return;
    /* One frame is always accepted (an event may be bigger than the cap); a backlog over it is not. */
    if (p->out_head && p->out_bytes + len > (size_t)sig.cfg.send_queue_bytes) {
        log_warning("peer %s: send queue over %ld bytes, closing", p->cid, sig.cfg.send_queue_bytes);
        sig.m.closed_slow++;
        peer_free_queue(p);
        peer_doom(p);
        return;
    }
    struct frame *f = malloc(sizeof *f + LWS_PRE + len);
    if (!f) {
        peer_doom(p);
        return;
    }
    f->next = NULL;
    f->len = len;
    memcpy(f->buf + LWS_PRE, text, len);
    if (p->out_tail)
        p->out_tail->next = f;
    else
        p->out_head = f;
    p->out_tail = f;
    p->out_bytes += len;
    p->tr->wake(p);
}

struct frame *peer_pop(struct peer *p)
{
    struct frame *f = p->out_head;
    if (!f)
        return NULL;
    p->out_head = f->next;
    if (!p->out_head)
        p->out_tail = NULL;
    p->out_bytes -= f->len;
    sig.m.frames_out++;
    return f;
}

void peer_free_queue(struct peer *p)
{
    while (p->out_head) {
        struct frame *f = p->out_head;
        p->out_head = f->next;
        free(f);
    }
    p->out_tail = NULL;
    p->out_bytes = 0;
}

bool peer_set_rooms(struct peer *p)
{
    const struct claims *c = &p->claims;
    p->nrooms = 0;
    p->all_rooms = false;
    if (p->video) { /* a join token: its session's room and nothing else */
        snprintf(p->rooms[p->nrooms++], sizeof p->rooms[0], "video:%lld", (long long)p->vsid);
    } else {
        p->all_rooms = c->role == ROLE_ADMIN;
        if (c->role == ROLE_RECEPTIONIST || c->role == ROLE_DOCTOR)
            snprintf(p->rooms[p->nrooms++], sizeof p->rooms[0], "clinic:%lld", (long long)c->clinic_id);
        if (c->role == ROLE_DOCTOR)
            snprintf(p->rooms[p->nrooms++], sizeof p->rooms[0], "doctor:%lld", (long long)c->doctor_id);
        if (c->role == ROLE_PATIENT)
            snprintf(p->rooms[p->nrooms++], sizeof p->rooms[0], "patient:%lld", (long long)c->patient_id);
    }
    return rooms_set(p, (const char(*)[ROOM_NAME_MAX])p->rooms, p->nrooms, p->all_rooms);
}

bool peer_in_rooms(const struct peer *p, const char *rooms_json)
{
    if (p->all_rooms)
        return true;
    char quoted[48];
    for (int i = 0; i < p->nrooms; i++) {
        /* Room names are [a-z]+:[0-9]+, so a quoted match in the array text is exact. */
        snprintf(quoted, sizeof quoted, "\"%s\"", p->rooms[i]);
        if (strstr(rooms_json, quoted))
            return true;
    }
    return false;
}

bool peer_in_set(const struct peer *p, const struct room_set *s, const char *rooms_json)
{
    if (p->all_rooms)
        return true;
    if (s->overflow)
        return peer_in_rooms(p, rooms_json);
    for (int i = 0; i < p->nrooms; i++)
        for (int j = 0; j < s->n; j++)
            if (strcmp(p->rooms[i], s->name[j]) == 0)
                return true;
    return false;
}
