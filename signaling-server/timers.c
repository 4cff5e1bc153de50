/* timers: a hashed timing wheel on one libwebsockets timer (see timers.h). Slot i holds the timers
 * due in a tick congruent to i modulo TIMER_SLOTS; each tick the slots from the last one visited
 * up to now's are emptied, their due timers fired and the others put back. The wheel's clock,
 * sig_now_ms (sig.h), is defined here, at the bottom of the layers, for every module that reads it. */
#include <stddef.h>
#include <time.h>

#include "sig.h"
#include "timers.h"

#define TIMER_SLOTS 2048 /* a turn of the wheel: 2048 ticks of TIMER_TICK_MS (41 s at 20 ms) */

static struct {
    struct timer *slot[TIMER_SLOTS];
    struct timer *visiting; /* a slot's timers taken off while its tick is visited */
    int64_t tick_done;      /* the last tick whose slot was visited */
    lws_sorted_usec_list_t sul;
    struct lws_context *ctx;
    bool running;
} tw;

int64_t sig_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void push(struct timer **head, struct timer *t)
{
    t->head = head;
    t->prev = NULL;
    t->next = *head;
    if (*head)
        (*head)->prev = t;
    *head = t;
    t->armed = true;
}

void timer_cancel(struct timer *t)
{
    if (!t->armed)
        return;
    if (t->prev)
        t->prev->next = t->next;
    else
        *t->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
    t->head = NULL;
    t->armed = false;
}

/* The slot of due_ms's tick, or, when that tick was visited already, the next one (a timer is never
 * put behind the wheel's hand). */
void timer_arm(struct timer *t, int64_t due_ms, timer_fn fire)
{
    timer_cancel(t);
    int64_t tick = (due_ms + TIMER_TICK_MS - 1) / TIMER_TICK_MS;
    if (tick <= tw.tick_done)
        tick = tw.tick_done + 1;
    t->due_ms = due_ms;
    t->fire = fire;
    push(&tw.slot[tick % TIMER_SLOTS], t);
}

/* Visits the slot of one tick: the timers due by then fire, the others (a later turn) go back. The
 * slot's timers wait on tw.visiting, where a callback may still cancel or re-arm any of them. */
static void visit(int64_t tick)
{
    struct timer **slot = &tw.slot[tick % TIMER_SLOTS];
    tw.visiting = *slot;
    *slot = NULL;
    for (struct timer *t = tw.visiting; t; t = t->next)
        t->head = &tw.visiting;
    int64_t until = tick * TIMER_TICK_MS;
    struct timer *t;
    while ((t = tw.visiting)) {
        timer_cancel(t);
        if (t->due_ms <= until)
            t->fire(t); /* may re-arm t, or end its owner */
        else
            push(slot, t);
    }
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
    (void)sul;
    int64_t now_tick = sig_now_ms() / TIMER_TICK_MS;
    int64_t from = tw.tick_done + 1;
    if (now_tick - from >= TIMER_SLOTS) /* the loop was held up more than a turn: one visit each */
        from = now_tick - TIMER_SLOTS + 1;
    for (int64_t tick = from; tick <= now_tick; tick++) {
        tw.tick_done = tick;
        visit(tick);
    }
    if (tw.running)
        lws_sul_schedule(tw.ctx, 0, &tw.sul, on_tick, (lws_usec_t)TIMER_TICK_MS * 1000);
}

void timers_start(struct lws_context *ctx)
{
    tw.ctx = ctx;
    tw.tick_done = sig_now_ms() / TIMER_TICK_MS;
    tw.running = true;
    lws_sul_schedule(ctx, 0, &tw.sul, on_tick, (lws_usec_t)TIMER_TICK_MS * 1000);
}

void timers_stop(void)
{
    tw.running = false;
    lws_sul_cancel(&tw.sul);
}
