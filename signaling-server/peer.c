/* peer: the list of open WebSocket peers, each one's bounded send queue, and its rooms.
 *
 * A frame is queued with LWS_PRE bytes of headroom and written in the peer's own writeable
 * callback; several frames per callback only while lws_send_pipe_choked says the socket takes
 * more (so lws never has to buffer a partial frame behind another). The queue is capped at
 * SIGNALING_SEND_QUEUE_BYTES: a client that cannot keep up is closed rather than growing memory
 * or holding up others; on reconnect it catches up by replay. Rooms are fixed at authentication
 * from the token's claims (DESIGN §5), so membership is a comparison, not a lookup. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sig.h"

#define WRITE_BURST 32

void peer_link(struct peer *p)
{
    p->prev = NULL;
    p->next = sig.peers;
    if (sig.peers)
        sig.peers->prev = p;
    sig.peers = p;
    sig.npeers++;
}

void peer_unlink(struct peer *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else if (sig.peers == p)
        sig.peers = p->next;
    else
        return; /* not linked */
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    sig.npeers--;
}

void peer_send(struct peer *p, const char *text, size_t len)
{
    if (p->doomed)
        return;
    /* One frame is always accepted (an event may be bigger than the cap); a backlog over it is not. */
    if (p->out_head && p->out_bytes + len > (size_t)sig.cfg.send_queue_bytes) {
        log_warning("peer %s: send queue over %ld bytes, closing", p->sid, sig.cfg.send_queue_bytes);
        sig.m.closed_slow++;
        p->doomed = true;
        peer_free_queue(p);
        lws_callback_on_writable(p->wsi);
        return;
    }
    struct frame *f = malloc(sizeof *f + LWS_PRE + len);
    if (!f) {
        p->doomed = true;
        lws_callback_on_writable(p->wsi);
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
    lws_callback_on_writable(p->wsi);
}

int peer_write_queued(struct peer *p)
{
    if (p->doomed)
        return -1;
    /* Frames go out back to back while the socket takes them (up to WRITE_BURST per callback):
     * a backlog of small events costs one trip through the loop, not one per frame. */
    for (int burst = 0; p->out_head && burst < WRITE_BURST; burst++) {
        if (burst > 0 && lws_send_pipe_choked(p->wsi))
            break;
        struct frame *f = p->out_head;
        int n = lws_write(p->wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
        if (n < (int)f->len)
            return -1;
        p->out_head = f->next;
        if (!p->out_head)
            p->out_tail = NULL;
        p->out_bytes -= f->len;
        sig.m.frames_out++;
        free(f);
    }
    if (p->out_head)
        lws_callback_on_writable(p->wsi);
    return 0;
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

void peer_set_rooms(struct peer *p)
{
    const struct claims *c = &p->claims;
    p->nrooms = 0;
    p->all_rooms = false;
    if (p->video) { /* a join token: its session's room and nothing else */
        snprintf(p->rooms[p->nrooms++], sizeof p->rooms[0], "video:%lld", (long long)p->vsid);
        return;
    }
    p->all_rooms = c->role == ROLE_ADMIN;
    if (c->role == ROLE_RECEPTIONIST || c->role == ROLE_DOCTOR)
        snprintf(p->rooms[p->nrooms++], sizeof p->rooms[0], "clinic:%lld", (long long)c->clinic_id);
    if (c->role == ROLE_DOCTOR)
        snprintf(p->rooms[p->nrooms++], sizeof p->rooms[0], "doctor:%lld", (long long)c->doctor_id);
    if (c->role == ROLE_PATIENT)
        snprintf(p->rooms[p->nrooms++], sizeof p->rooms[0], "patient:%lld", (long long)c->patient_id);
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
            s->overflow = true; /* the slow path: peer_in_rooms over the text */
            return;
        }
        memcpy(s->name[s->n], q + 1, len);
        s->name[s->n++][len] = '\0';
        q = end + 1;
    }
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
