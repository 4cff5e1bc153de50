/* rooms: the two-way index between sessions and rooms (docs/ARCHITECTURE.md §3), as redis keeps channels and
 * clients: room → its member sessions, and each session's own memberships (at most
 * ROOMS_PER_PEER, its struct rooms_peer, embedded in struct peer by peer.c and touched here alone),
 * both kept in sync by rooms_set and rooms_clear alone. rooms.c knows nothing of a session but the
 * opaque pointer it hands back to rooms_each's callback.
 * Sessions that are in every room (ADMIN) form one list of their own, and may be in named rooms
 * beside it: their personal room. A personal room (user:{id}) is its user's alone, so an event
 * whose first room is one skips the every-room list. An event reaches the members
 * of its rooms by walking those lists, never every connection, and a session in two of an
 * event's rooms is visited once. Rooms are created at their first member and freed with their
 * last. Only the loop's thread touches the index. */
#ifndef SIG_ROOMS_H
#define SIG_ROOMS_H

#include <stdbool.h>

#define ROOMS_PER_PEER 3 /* clinic: and doctor: or desk:, and the personal user: */
#define ROOM_NAME_MAX 40
#define ROOM_PERSONAL "user:" /* the prefix of a personal room */

struct peer;
struct room;

struct rooms_peer;

/* One membership of a session. */
struct room_member {
    struct room *room;  /* NULL when unused */
    struct peer *peer;
    struct rooms_peer *of; /* the memberships it is one of */
    struct room_member *prev, *next;
};

/* A session's part of the index (embedded in struct peer; zeroed means in no room). */
struct rooms_peer {
    struct room_member member[ROOMS_PER_PEER];
    unsigned long stamp; /* the last rooms_each that visited it */
};

/* The rooms of one event, parsed once for all its receivers. */
#define ROOM_SET_MAX 8
struct room_set {
    int n;
    bool overflow; /* more or longer names than fit: matched against the JSON text instead */
    char name[ROOM_SET_MAX][ROOM_NAME_MAX];
};

/* Parses a JSON array text of room names like ["clinic:1","doctor:2"]. */
void room_set_parse(struct room_set *s, const char *rooms_json);
/* A set of one room. */
void room_set_one(struct room_set *s, const char *name);

/* Makes session p (its part rp) a member of names[0..n), and of every room when all (n <=
 * ROOMS_PER_PEER, one less when all); its former rooms are left first. false when out of memory (p is then in no room). */
bool rooms_set(struct rooms_peer *rp, struct peer *p, const char names[][ROOM_NAME_MAX], int n, bool all);
/* Takes the session out of every room (idempotent). */
void rooms_clear(struct rooms_peer *rp);
/* Calls fn(p, arg) once for each session in a room of s, and each session in every room; rooms_json
 * is the set's text, for a set that overflowed (then every room is checked against the text). fn
 * must not change memberships. */
void rooms_each(const struct room_set *s, const char *rooms_json, void (*fn)(struct peer *p, void *arg), void *arg);
/* Rooms with at least one member. */
long rooms_count(void);

#endif
