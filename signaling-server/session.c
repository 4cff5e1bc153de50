/* session: the Engine.IO v4 / Socket.IO v5 session of a client (and the plain JSON protocol of
 * /ws), whatever transport carries it: transports hand it one packet at a time
 * (session_packet) and it answers through the peer's send queue (peer_send). It knows no wsi.
 *
 * A session goes OPEN (Engine.IO handshake sent) → AUTHED (a Socket.IO CONNECT carrying a valid
 * access token); until then it receives nothing and is closed at the auth deadline. Once authed it
 * joins its token's rooms and receives the outbox's events, first a replay from its last_event_id
 * when it gave one. The server pings every pingInterval and closes a session whose pong is late.
 * At the token's exp the client is told (`error` token_expired) and closed, unless it sent a fresh
 * token of the same user with the `authenticate` event. More than SIGNALING_MAX_MSGS_PER_SEC
 * packets in a second close the session; a malformed packet or an unknown event is answered with
 * an `error` event. Deadlines run on the session's own timer (timers.c), so they hold on every transport.
 *
 * Client events: `authenticate {token}`, `join_clinic_room {clinic_id}`, `join_doctor_room
 * {doctor_id}` (accepted when the token entitles the room, which it already receives; else an
 * `error` forbidden), `typing {conversation_id?}` and, from a video connection, the in-call chat's
 * `chat_message {text, client_id?}` and `chat_history {before_id?, limit?}` (chat.c). With an ack id
 * they are answered by an ack `{ok: true, ...}` or `{ok: false, code, message}`.
 *
 * A video join token (docs/ARCHITECTURE.md §5) puts its holder in its session's room only, as the doctor or the
 * patient. Arrival and departure, admission (`admit_patient`, `deny_patient`, `remove_patient`, the
 * doctor's), the WebRTC messages relayed to the other participant (`webrtc_offer`, `webrtc_answer`,
 * `webrtc_ice_candidate`, `hangup`) and `connection_quality` samples all go through PostgreSQL
 * (video.c): the database decides who is admitted, and a message reaches the other
 * participant whichever instance holds them. Every client event's data is checked against the
 * tables of wsjson.c, in both protocols.
 *
 * What a session is sent is built by wire.c; the answers of the database's modules (accounts.c,
 * video.c) come back through the completions given here. The session's own state (authentication,
 * deadlines, inbound rate) is its struct session_peer (session.h), part of struct peer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "session.h"

#include "accounts.h"
#include "chat.h"
#include "crypto.h"
#include "dblink.h"
#include "log.h"
#include "outbox.h"
#include "peer.h"
#include "presence.h"
#include "quota.h"
#include "sig.h"
#include "sio.h"
#include "transport.h"
#include "validate.h"
#include "video.h"
#include "wire.h"
#include "wsjson.h"

static bool is_video_event(const char *name)
{
    static const char *const names[] = {"admit_patient", "deny_patient", "remove_patient", "webrtc_offer",
                                        "webrtc_answer", "webrtc_ice_candidate", "hangup", "connection_quality"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

static void on_timer(struct timer *t);

/* Arms the session's timer for its nearest deadline. */
static void arm_timer(struct peer *p)
{
    struct session_peer *s = peer_session(p);
    int64_t next = peer_authed(p) ? s->token_exp_ms : s->auth_deadline_ms;
    if (s->pong_deadline_ms && (!next || s->pong_deadline_ms < next))
        next = s->pong_deadline_ms;
    if (s->ping_due_ms && (!next || s->ping_due_ms < next))
        next = s->ping_due_ms;
    timer_arm(&s->timer, next, on_timer);
}

static void set_expiry(struct peer *p);

void session_open(struct peer *p, bool upgrades)
{
    int64_t now = sig_now_ms();
    struct session_peer *s = peer_session(p);
    s->peer = p;
    s->auth_deadline_ms = now + sig.cfg.auth_timeout_ms;
    s->ping_due_ms = now + sig.cfg.ping_interval_ms;
    if (peer_json(p))
        wire_send_json(p, json_pack("{s:s,s:{s:s,s:I}}", "event", "hello", "data", "sid", peer_sid(p), "auth_timeout_ms",
                                    (json_int_t)sig.cfg.auth_timeout_ms));
    else
        wire_send_text(p, sio_encode_open(peer_sid(p), upgrades, sig.cfg.ping_interval_ms, sig.cfg.ping_timeout_ms,
                                          sig.cfg.max_frame));
    arm_timer(p);
}

/* Verifies an access token, or else a video join token (then the peer becomes a video peer of its
 * session: only its sub, clinic_id and times go into *c). */
static bool verify_token(struct peer *p, const char *token, struct claims *c)
{
    time_t now = time(NULL);
    enum token_result r = token_verify_access(&sig.keys, token, now, c);
    if (r == TOKEN_OK)
        return !video_member(p); /* a video connection stays one */
    struct video_claims v;
    if (r != TOKEN_BAD_CLAIMS || token_verify_video(&sig.keys, token, now, &v) != TOKEN_OK)
        return false;
    if (!video_take_token(p, &v)) /* a fresh token for a video connection: the same session, role and holder */
        return false;
    memset(c, 0, sizeof *c);
    c->sub = v.sub;
    c->clinic_id = v.clinic_id;
    c->iat = v.iat;
    c->exp = v.exp;
    snprintf(c->jti, sizeof c->jti, "%s", v.jti);
    return true;
}

/* Refuses a CONNECT: CONNECT_ERROR (or the /ws `error` code) with message, then the close. */
static void refuse_connect(struct peer *p, const char *code, const char *message)
{
    if (peer_json(p))
        wire_send_error(p, code, message);
    else
        wire_send_text(p, sio_encode_connect_error(message));
    peer_doom(p); /* once the queued frames are out */
}

static void video_done(struct peer *p, enum video_op op, const char *result, const char *refused,
                       long long ack_id);

/* The session authenticated: it joins its rooms, is announced, and replays or goes live. */
static void connected(struct peer *p)
{
    char key[48]; /* what its user is counted as: its user id, or a guest's invitation */
    if (peer_claims(p)->sub > 0)
        snprintf(key, sizeof key, "u%lld", (long long)peer_claims(p)->sub);
    else
        snprintf(key, sizeof key, "%s", video_ident(p));
    const char *refused = quota_authenticate(peer_quota(p), key);
    if (refused) {
        refuse_connect(p, "too_many_connections", refused);
        return;
    }
    peer_set_authed(p);
    if (!peer_set_rooms(p, video_session(p))) {
        peer_doom(p);
        return;
    }
    set_expiry(p);
    arm_timer(p);
    if (peer_json(p))
        wire_send_json(p, json_pack("{s:s,s:{s:s}}", "event", "connected", "data", "sid", peer_cid(p)));
    else
        wire_send_text(p, sio_encode_connect(peer_cid(p))); /* the Socket.IO id, not the Engine.IO one */
    if (video_member(p)) {
        if (!video_request(V_JOIN, p, NULL, NULL, -1, video_done)) {
            wire_send_error(p, "unavailable", "The video consultation cannot be joined right now.");
            peer_doom(p);
            return;
        }
    } else {
        presence_add(p);
    }
    outbox_start(p);
    log_debug("peer %s: user %lld connected", peer_cid(p), (long long)peer_claims(p)->sub);
}

static void account_checked(struct peer *p, enum account_verdict v)
{
    peer_session(p)->auth_pending = false;
    if (peer_doomed(p))
        return;
    if (v == ACCOUNT_REFUSED) {
        sig.m.auth_failures++;
        refuse_connect(p, "invalid_token", "invalid token");
    } else if (v == ACCOUNT_UNKNOWN) {
        refuse_connect(p, "unavailable", "The account cannot be checked right now; try again shortly.");
    } else {
        connected(p);
    }
}

static void on_connect(struct peer *p, json_t *auth)
{
    const char *token = json_string_value(json_object_get(auth, "token"));
    const char *last = json_string_value(json_object_get(auth, "last_event_id"));
    struct session_peer *s = peer_session(p);
    struct claims c;
    if (peer_authed(p) || s->auth_pending) {
        wire_send_error(p, "already_connected", "This connection is already authenticated.");
        return;
    }
    if (!token || !verify_token(p, token, &c)) {
        sig.m.auth_failures++;
        refuse_connect(p, "invalid_token", "invalid token");
        return;
    }
    if (last && !valid_event_id(last)) {
        refuse_connect(p, "invalid_last_event_id", "invalid last_event_id");
        return;
    }
    peer_set_claims(p, &c);
    outbox_resume_from(p, last ? last : "");
    if (c.sub <= 0) { /* a guest of a video invitation: no account behind it */
        connected(p);
        return;
    }
    /* The account decides (active, and the token not issued before its sessions were ended). */
    s->auth_pending = true;
    if (!accounts_check(p, c.iat, account_checked)) {
        s->auth_pending = false;
        refuse_connect(p, "unavailable", "The account cannot be checked right now; try again shortly.");
    }
}

/* Answers a client event: with an ack when it asked for one ({ok: true} and result's fields, or {ok:
 * false, code, message}), else an `error` event on refusal. Also chat.c's completion. */
static void chat_answer(struct peer *p, long long ack_id, const char *code, const char *message, json_t *result)
{
    if (ack_id < 0) {
        json_decref(result);
        if (code)
            wire_send_error(p, code, message);
        return;
    }
    json_t *data = code ? json_pack("{s:b,s:s,s:s}", "ok", 0, "code", code, "message", message)
                        : json_pack("{s:b}", "ok", 1);
    if (data && result)
        json_object_update(data, result);
    json_decref(result);
    wire_send_ack(p, ack_id, data);
}

static void answer(struct peer *p, long long ack_id, const char *code, const char *message)
{
    chat_answer(p, ack_id, code, message, NULL);
}

/* The expiry of the peer's token on the monotonic clock. */
static void set_expiry(struct peer *p)
{
    time_t left = peer_claims(p)->exp - time(NULL);
    peer_session(p)->token_exp_ms = sig_now_ms() + (int64_t)(left > 0 ? left : 0) * 1000;
}

/* authenticate {token}: a fresh token of the same user extends the connection past the old exp. */
/* The fresh token (claims_next) takes over. */
static void reauthenticated(struct peer *p, long long ack_id)
{
    peer_set_claims(p, &peer_session(p)->claims_next);
    if (!peer_set_rooms(p, video_session(p))) {
        peer_doom(p);
        return;
    }
    set_expiry(p);
    arm_timer(p);
    answer(p, ack_id, NULL, NULL);
}

static void reauth_checked(struct peer *p, enum account_verdict v)
{
    struct session_peer *s = peer_session(p);
    s->reauth_pending = false;
    if (v == ACCOUNT_OK)
        reauthenticated(p, s->reauth_ack);
    else if (v == ACCOUNT_REFUSED)
        answer(p, s->reauth_ack, "invalid_token", "The token is not valid.");
    else
        answer(p, s->reauth_ack, "unavailable", "The account cannot be checked right now; try again shortly.");
}

/* authenticate {token}: a fresh token of the same user extends the connection past the old exp, once
 * the account confirms it as at CONNECT. */
static void on_authenticate(struct peer *p, json_t *arg, long long ack_id)
{
    const char *token = json_string_value(json_object_get(arg, "token"));
    struct session_peer *s = peer_session(p);
    const struct claims *now = peer_claims(p);
    if (s->reauth_pending) {
        answer(p, ack_id, "busy", "A fresh token is being checked already.");
        return;
    }
    if (!token || !verify_token(p, token, &s->claims_next)) {
        sig.m.auth_failures++;
        answer(p, ack_id, "invalid_token", "The token is not valid.");
        return;
    }
    if (s->claims_next.sub != now->sub || s->claims_next.role != now->role) {
        answer(p, ack_id, "forbidden", "The token belongs to another user.");
        return;
    }
    if (s->claims_next.sub <= 0) { /* a guest of a video invitation: no account behind it */
        reauthenticated(p, ack_id);
        return;
    }
    s->reauth_pending = true;
    s->reauth_ack = ack_id;
    if (!accounts_check(p, s->claims_next.iat, reauth_checked)) {
        s->reauth_pending = false;
        answer(p, ack_id, "unavailable", "The account cannot be checked right now; try again shortly.");
    }
}

/* join_clinic_room / join_doctor_room: the rooms come from the token; asking for one confirms it. */
static void on_join(struct peer *p, const char *kind, json_t *arg, long long ack_id)
{
    char room[40];
    json_t *id = json_object_get(arg, strcmp(kind, "clinic") == 0 ? "clinic_id" : "doctor_id");
    if (!json_is_integer(id) || json_integer_value(id) <= 0) {
        answer(p, ack_id, "bad_request", strcmp(kind, "clinic") == 0 ? "clinic_id must be a positive integer"
                                                                      : "doctor_id must be a positive integer");
        return;
    }
    snprintf(room, sizeof room, "[\"%s:%lld\"]", kind, (long long)json_integer_value(id));
    if (!peer_in_rooms(p, room)) {
        answer(p, ack_id, "forbidden", "This token does not entitle that room.");
        return;
    }
    answer(p, ack_id, NULL, NULL);
}

/* presence {room}: who is online in a room the token entitles. */
static void on_presence(struct peer *p, json_t *arg, long long ack_id)
{
    const char *room = json_string_value(json_object_get(arg, "room"));
    char one[64];
    if (!room || strlen(room) > 40 || strspn(room, "abcdefghijklmnopqrstuvwxyz:0123456789") != strlen(room)) {
        answer(p, ack_id, "bad_request", "room must be a room name such as clinic:1");
        return;
    }
    snprintf(one, sizeof one, "[\"%s\"]", room);
    if (!peer_in_rooms(p, one)) {
        answer(p, ack_id, "forbidden", "This token does not entitle that room.");
        return;
    }
    if (!presence_list(p, room, ack_id))
        answer(p, ack_id, "busy", "Presence cannot be read right now; try again shortly.");
}

/* The answer to a video operation (video_request's completion): refused is why not (NULL when done);
 * result the state JSON of a join. */
static void video_done(struct peer *p, enum video_op op, const char *result, const char *refused,
                       long long ack_id)
{
    if (op != V_JOIN) {
        if (op == V_RELAY && refused)
            sig.m.relay_refused++;
        answer(p, ack_id, refused ? "refused" : NULL, refused);
        return;
    }
    json_t *state = refused ? NULL : json_loads(result ? result : "", 0, NULL);
    if (!json_is_object(state)) {
        wire_send_error(p, "session_unavailable", refused ? refused : "The video consultation cannot be joined.");
        peer_doom(p);
    } else {
        /* Back within the grace window while admitted: still admitted (another holder is refused). */
        wire_set_admitted(p, json_is_true(json_object_get(state, "admitted")));
        wire_send_named(p, "session_state", state);
    }
    json_decref(state);
}

/* A video room event (name already checked by wsjson_check_data) from a video peer. */
static void on_video_event(struct peer *p, const char *name, json_t *data, long long ack_id)
{
    if (!video_member(p)) {
        answer(p, ack_id, "forbidden", "Video consultation events need the session's join token.");
        return;
    }
    bool doctor = strcmp(video_role(p), "doctor") == 0;
    enum video_op op;
    const char *text = NULL;
    char *owned = NULL;
    if (strcmp(name, "admit_patient") == 0 || strcmp(name, "deny_patient") == 0 ||
        strcmp(name, "remove_patient") == 0) {
        if (!doctor) {
            answer(p, ack_id, "forbidden", "Only the doctor admits or dismisses the patient.");
            return;
        }
        op = name[0] == 'a' ? V_ADMIT : name[0] == 'd' ? V_DENY : V_REMOVE;
        text = json_string_value(json_object_get(data, "reason"));
    } else if (strcmp(name, "connection_quality") == 0) {
        op = V_QUALITY;
        text = owned = json_dumps(data, JSON_COMPACT);
    } else { /* webrtc_offer, webrtc_answer, webrtc_ice_candidate, hangup: to the other side, from us */
        op = V_RELAY;
        json_object_set_new(data, "from", json_string(video_role(p)));
        text = owned = json_dumps(data, JSON_COMPACT);
        sig.m.relay_sent++;
    }
    if ((op == V_QUALITY || op == V_RELAY) && !text)
        answer(p, ack_id, "internal", "The message could not be processed.");
    else if (!video_request(op, p, name, text, ack_id, video_done))
        answer(p, ack_id, "busy", "The video room cannot take this right now; try again shortly.");
    free(owned);
}

/* typing, chat_message, chat_history (data already checked by wsjson): false when name is none. */
static bool on_chat(struct peer *p, const char *name, json_t *arg, long long ack_id)
{
    if (strcmp(name, "typing") == 0)
        chat_typing(p, json_integer_value(json_object_get(arg, "conversation_id")), ack_id, chat_answer);
    else if (strcmp(name, "chat_message") == 0)
        chat_send(p, json_string_value(json_object_get(arg, "text")),
                  json_string_value(json_object_get(arg, "client_id")), ack_id, chat_answer);
    else if (strcmp(name, "chat_history") == 0)
        chat_history(p, json_integer_value(json_object_get(arg, "before_id")),
                     json_integer_value(json_object_get(arg, "limit")), ack_id, chat_answer);
    else
        return false;
    return true;
}

static void on_event(struct peer *p, json_t *args, long long ack_id)
{
    const char *name = json_string_value(json_array_get(args, 0));
    json_t *arg = json_array_get(args, 1);
    const char *why = NULL, *known = NULL;
    json_t *empty = NULL;
    if (!arg && json_array_size(args) == 1)
        arg = empty = json_object(); /* an event sent without data */
    if (strcmp(name, "authenticate") != 0 && !(known = wsjson_check_data(name, arg, &why))) {
        answer(p, ack_id, strcmp(why, "unknown event") == 0 ? "unknown_event" : "bad_request",
               strcmp(why, "unknown event") == 0 ? "This event is not handled by the server." : why);
    } else if (known && is_video_event(known)) {
        on_video_event(p, known, arg, ack_id);
    } else if (strcmp(name, "authenticate") == 0)
        on_authenticate(p, arg, ack_id);
    else if (strcmp(name, "join_clinic_room") == 0)
        on_join(p, "clinic", arg, ack_id);
    else if (strcmp(name, "join_doctor_room") == 0)
        on_join(p, "doctor", arg, ack_id);
    else if (strcmp(name, "presence") == 0)
        on_presence(p, arg, ack_id);
    else if (!on_chat(p, name, arg, ack_id))
        answer(p, ack_id, "unknown_event", "This event is not handled by the server.");
    json_decref(empty);
}

static void on_pong(struct peer *p)
{
    struct session_peer *s = peer_session(p);
    s->pong_deadline_ms = 0;
    s->ping_due_ms = sig_now_ms() + sig.cfg.ping_interval_ms;
    arm_timer(p);
}

/* One frame of the plain JSON protocol. */
static int on_json_frame(struct peer *p, const char *buf, size_t len)
{
    struct wsjson_msg m;
    const char *why = NULL;
    if (!wsjson_parse(buf, len, &m, &why)) {
        wire_send_error(p, "bad_message", why);
        return 0;
    }
    if (strcmp(m.type, "pong") == 0)
        on_pong(p);
    else if (strcmp(m.type, "auth") == 0)
        on_connect(p, m.obj);
    else if (!peer_authed(p))
        wire_send_error(p, "not_connected", "Send auth with a token first.");
    else if (strcmp(m.type, "authenticate") == 0)
        on_authenticate(p, m.obj, m.id);
    else if (strcmp(m.type, "join_clinic_room") == 0)
        on_join(p, "clinic", m.obj, m.id);
    else if (strcmp(m.type, "presence") == 0)
        on_presence(p, m.obj, m.id);
    else if (on_chat(p, m.type, m.obj, m.id))
        ;
    else if (is_video_event(m.type))
        on_video_event(p, m.type, m.obj, m.id);
    else
        on_join(p, "doctor", m.obj, m.id);
    wsjson_clear(&m);
    return 0;
}

/* One Engine.IO packet of the Socket.IO protocol; returns -1 to close. */
static int on_frame(struct peer *p, const char *buf, size_t len)
{
    if (peer_json(p))
        return on_json_frame(p, buf, len);
    struct sio_packet pk;
    const char *why = NULL;
    if (!sio_parse(buf, len, &pk, &why)) {
        wire_send_error(p, "bad_packet", why ? why : "malformed packet");
        return 0;
    }
    int rc = 0;
    switch (pk.eio) {
    case '3': /* pong */
        on_pong(p);
        break;
    case '1':
        rc = -1;
        break;
    case '4':
        if (strcmp(pk.nsp, "/") != 0) {
            wire_send_text(p, sio_encode_connect_error("Invalid namespace"));
        } else if (pk.sio == 0) {
            on_connect(p, pk.data);
        } else if (pk.sio == 1) {
            rc = -1;
        } else if (!peer_authed(p)) {
            wire_send_error(p, "not_connected", "Send CONNECT with a token first.");
        } else if (pk.sio == 2) {
            on_event(p, pk.data, pk.ack_id);
        }
        break;
    default: /* 2 and 5 belong to an upgrade's probe (transport_ws.c), 6 is a noop */
        break;
    }
    sio_packet_clear(&pk);
    return rc;
}

bool session_packet(struct peer *p, const char *buf, size_t len)
{
    sig.m.frames_in++;
    int64_t now = sig_now_ms();
    struct session_peer *s = peer_session(p);
    if (now - s->window_start_ms >= 1000) {
        s->window_start_ms = now;
        s->window_frames = 0;
    }
    if (++s->window_frames > sig.cfg.max_msgs_per_sec) {
        sig.m.closed_abuse++;
        return false;
    }
    if (on_frame(p, buf, len) < 0)
        peer_kill(p); /* the client closed it: nothing more is owed to it */
    return true;
}

/* The session's deadlines: authentication, the pong, the token's expiry; and the next ping. */
static void on_timer(struct timer *t)
{
    struct session_peer *s = lws_container_of(t, struct session_peer, timer);
    struct peer *p = s->peer;
    int64_t now = sig_now_ms();
    if (peer_doomed(p)) { /* its last frames had until this deadline to go out */
        peer_kill(p);
        return;
    }
    if (!peer_authed(p) && now >= s->auth_deadline_ms) {
        log_debug("peer %s: no authentication in time, closing", peer_cid(p));
        sig.m.closed_timeout++;
        peer_kill(p);
        return;
    }
    if (s->pong_deadline_ms && now >= s->pong_deadline_ms) {
        log_debug("peer %s: no pong in time, closing", peer_cid(p));
        sig.m.closed_timeout++;
        peer_kill(p);
        return;
    }
    if (peer_authed(p) && now >= s->token_exp_ms) {
        /* Told first, closed once that frame is out. */
        sig.m.closed_expired++;
        wire_send_error(p, "token_expired", "The access token expired; connect again with a fresh one.");
        peer_doom(p);
        /* The last chance of a client that does not read even that: closed at this deadline. */
        timer_arm(&s->timer, now + sig.cfg.ping_timeout_ms, on_timer);
        return;
    }
    if (s->ping_due_ms && now >= s->ping_due_ms) {
        if (peer_json(p))
            peer_send(p, "{\"event\":\"ping\"}", 16);
        else
            peer_send(p, "2", 1);
        s->ping_due_ms = 0;
        s->pong_deadline_ms = now + sig.cfg.ping_timeout_ms;
    }
    arm_timer(p);
}

void session_end(struct peer *p)
{
    outbox_forget(p);
    dblink_forget(p);
    timer_cancel(&peer_session(p)->timer);
    if (peer_authed(p) && video_member(p))
        video_request(V_LEAVE, p, NULL, NULL, -1, NULL);
    else if (peer_authed(p))
        presence_del(peer_cid(p));
    peer_tr(p)->release(p);
    peer_free(p);
}
