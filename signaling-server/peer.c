/* peer: the sessions of this instance (struct peer, private to this file): their list, an index by
 * sid, each one's identity, bounded send queue and rooms (from its token; indexed by rooms.c), and
 * the parts other modules own (see peer.h).
 *
 * A session is created by the transport that opened it (peer_new) and freed once, by session_end
 * through peer_free. Frames are queued with LWS_PRE bytes of headroom (a WebSocket writes them in
 * place) and taken off by the transport that carries the session (peer_pop). The queue is capped
 * at SIGNALING_SEND_QUEUE_BYTES: a client that cannot keep up is closed rather than growing
 * memory or holding up others; on reconnect it catches up by replay. Rooms are fixed at
 * authentication from the token's claims (docs/ARCHITECTURE.md §5) and entered in the room index
 * (rooms.c). The accessors are one-liners: the hot path (outbox.c's delivery through rooms_each to
 * peer_send) costs a call per part, against the frame's copy it makes anyway. */
#include "peer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "log.h"
#include "outbox.h"
#include "presence.h"
#include "quota.h"
#include "session.h"
#include "sig.h"
#include "transport.h"
#include "video.h"
#include "wire.h"

#define SID_BUCKETS 16384

struct peer {
    const struct transport *tr;
    bool json_proto;           /* the plain JSON protocol at /ws (else Socket.IO) */
    bool authed;
    bool doomed;               /* close once the queued frames are out */
    char sid[33];              /* the Engine.IO session id: a polling client's secret, told to it alone */
    char cid[33];              /* the connection's public id: its Socket.IO id, presence rows, video
                                  connections, logs, what other clients may be told */
    struct peer *prev, *next;  /* the list of open peers */
    struct peer *hnext;        /* the sid index */
    struct frame *out_head, *out_tail;
    size_t out_bytes;
    lws_sorted_usec_list_t sul_end; /* an end asked for from inside a callback (peer_defer_end) */
    void (*end)(struct peer *p);
    struct claims claims;
    char rooms[ROOMS_PER_PEER][ROOM_NAME_MAX]; /* the rooms of the token (ADMIN: every room) */
    int nrooms;
    bool all_rooms;
    /* The other modules' parts, each touched by its owner alone. */
    struct transport_peer transport;
    struct session_peer session;
    struct outbox_peer outbox;
    struct presence_peer presence;
    struct video_peer video;
    struct wire_peer wire;
    struct rooms_peer index;
    struct quota_peer quota;
};

static struct peer *peers, *by_sid[SID_BUCKETS];
static long npeers;

static unsigned sid_hash(const char *sid)
{
    unsigned h = 2166136261u;
    for (; *sid; sid++)
        h = (h ^ (unsigned char)*sid) * 16777619u;
    return h % SID_BUCKETS;
}

struct peer *peer_new(const struct transport *tr, bool json_proto, const char *addr)
{
    struct peer *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->tr = tr;
    p->json_proto = json_proto;
    if (!crypto_random_hex16(p->sid) || !crypto_random_hex16(p->cid)) {
        free(p);
        return NULL;
    }
    p->next = peers;
    if (peers)
        peers->prev = p;
    peers = p;
    npeers++;
    unsigned h = sid_hash(p->sid);
    p->hnext = by_sid[h];
    by_sid[h] = p;
    quota_opened(&p->quota, addr);
    return p;
}

struct peer *peer_find(const char *sid)
{
    for (struct peer *p = by_sid[sid_hash(sid)]; p; p = p->hnext)
        if (strcmp(p->sid, sid) == 0)
            return p;
    return NULL;
}

struct peer *peer_first(void) { return peers; }
struct peer *peer_next(const struct peer *p) { return p->next; }
long peer_count(void) { return npeers; }

void peer_free(struct peer *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        peers = p->next;
    if (p->next)
        p->next->prev = p->prev;
    npeers--;
    for (struct peer **link = &by_sid[sid_hash(p->sid)]; *link; link = &(*link)->hnext)
        if (*link == p) {
            *link = p->hnext;
            break;
        }
    lws_sul_cancel(&p->sul_end);
    rooms_clear(&p->index);
    quota_closed(&p->quota);
    peer_free_queue(p);
    free(p);
}

const char *peer_sid(const struct peer *p) { return p->sid; }
const char *peer_cid(const struct peer *p) { return p->cid; }
bool peer_json(const struct peer *p) { return p->json_proto; }
const struct transport *peer_tr(const struct peer *p) { return p->tr; }
void peer_set_tr(struct peer *p, const struct transport *tr) { p->tr = tr; }
bool peer_authed(const struct peer *p) { return p->authed; }
void peer_set_authed(struct peer *p) { p->authed = true; }
const struct claims *peer_claims(const struct peer *p) { return &p->claims; }
void peer_set_claims(struct peer *p, const struct claims *c) { p->claims = *c; }
bool peer_doomed(const struct peer *p) { return p->doomed; }

struct transport_peer *peer_transport(struct peer *p) { return &p->transport; }
struct session_peer *peer_session(struct peer *p) { return &p->session; }
struct outbox_peer *peer_outbox(struct peer *p) { return &p->outbox; }
struct presence_peer *peer_presence(struct peer *p) { return &p->presence; }
struct video_peer *peer_video(struct peer *p) { return &p->video; }
struct wire_peer *peer_wire(struct peer *p) { return &p->wire; }
struct quota_peer *peer_quota(struct peer *p) { return &p->quota; }

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

static void end_now(lws_sorted_usec_list_t *sul)
{
    struct peer *p = lws_container_of(sul, struct peer, sul_end);
    p->end(p);
}

void peer_defer_end(struct peer *p, void (*end)(struct peer *p))
{
    p->end = end;
    lws_sul_schedule(sig.ctx, 0, &p->sul_end, end_now, 1);
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

const struct frame *peer_queue(const struct peer *p) { return p->out_head; }
size_t peer_queued_bytes(const struct peer *p) { return p->out_bytes; }

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

bool peer_set_rooms(struct peer *p, int64_t video_session)
{
    const struct claims *c = &p->claims;
    p->nrooms = 0;
    p->all_rooms = false;
    if (video_session > 0) { /* a join token: its session's room and nothing else */
        snprintf(p->rooms[p->nrooms++], sizeof p->rooms[0], "video:%lld", (long long)video_session);
    } else {
        p->all_rooms = c->role == ROLE_ADMIN;
        if (c->role == ROLE_RECEPTIONIST || c->role == ROLE_DOCTOR)
            snprintf(p->rooms[p->nrooms++], sizeof p->rooms[0], "clinic:%lld", (long long)c->clinic_id);
        if (c->role == ROLE_DOCTOR)
            snprintf(p->rooms[p->nrooms++], sizeof p->rooms[0], "doctor:%lld", (long long)c->doctor_id);
        if (c->role == ROLE_RECEPTIONIST) /* the desk: conversations that name a doctor (sql/0026) */
            snprintf(p->rooms[p->nrooms++], sizeof p->rooms[0], "desk:%lld", (long long)c->clinic_id);
        if (c->role == ROLE_PATIENT)
            snprintf(p->rooms[p->nrooms++], sizeof p->rooms[0], "patient:%lld", (long long)c->patient_id);
        if (c->sub > 0) /* every user's personal room (notifications), an admin's too */
            snprintf(p->rooms[p->nrooms++], sizeof p->rooms[0], ROOM_PERSONAL "%lld", (long long)c->sub);
    }
    return rooms_set(&p->index, p, (const char(*)[ROOM_NAME_MAX])p->rooms, p->nrooms, p->all_rooms);
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

bool peer_all_rooms(const struct peer *p) { return p->all_rooms; }

/* Appends p's rooms to buf as array elements ("a,b"), personal ones only when personal. */
static void rooms_list(const struct peer *p, bool personal, char *buf, size_t size, size_t len)
{
    for (int i = 0; i < p->nrooms && len < size; i++) {
        if (!personal && strncmp(p->rooms[i], ROOM_PERSONAL, strlen(ROOM_PERSONAL)) == 0)
            continue;
        int w = snprintf(buf + len, size - len, "%s%s", buf[len - 1] == '{' ? "" : ",", p->rooms[i]);
        len += w > 0 ? (size_t)w : 0;
    }
    if (len < size)
        snprintf(buf + len, size - len, "}");
}

void peer_rooms_array(const struct peer *p, char *buf, size_t size)
{
    snprintf(buf, size, "{");
    rooms_list(p, false, buf, size, 1);
}

void peer_replay_rooms(const struct peer *p, char *buf, size_t size)
{
    snprintf(buf, size, p->all_rooms ? "{*" : "{");
    rooms_list(p, true, buf, size, strlen(buf));
}
