/* timers: the sessions' deadlines (authentication, pong, ping, token expiry, a doomed session's
 * last chance) on one libwebsockets timer, as a hashed timing wheel.
 *
 * libwebsockets keeps its own timers in one list sorted by time: with a timer per session, every
 * re-arm (each ping and pong) walks the list, which at 10,000 sessions cost a whole core. Here a
 * deadline goes into the wheel slot of its tick in O(1), a cancel unlinks it in O(1), and each tick
 * visits only its own slot's timers; one due later than a whole turn of the wheel stays in its
 * slot and is looked at once a turn. A timer never fires early, and late by at most two ticks
 * (its due time rounded up to a tick, and the tick's own timer) plus what the loop is busy with. */
#ifndef SIG_TIMERS_H
#define SIG_TIMERS_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

#define TIMER_TICK_MS 20

struct timer;
typedef void (*timer_fn)(struct timer *t);

/* Embedded in its owner (lws_container_of finds the owner); zeroed means not armed. */
struct timer {
    struct timer *prev, *next;
    struct timer **head; /* the list it is on (a wheel slot, or the one being visited) */
    int64_t due_ms;  /* on sig_now_ms's clock */
    timer_fn fire;
    bool armed;
};

/* Starts the wheel's tick on ctx (once, before any timer is armed). */
void timers_start(struct lws_context *ctx);
/* Stops the tick; armed timers are left as they are (their owners are freed with the context). */
void timers_stop(void);
/* Arms t to call fire at due_ms (a time already past fires at the next tick); re-arming moves it. */
void timer_arm(struct timer *t, int64_t due_ms, timer_fn fire);
/* Disarms t; harmless when it is not armed. */
void timer_cancel(struct timer *t);

#endif
