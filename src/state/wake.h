/*
 * wake: the one hub through which producers announce that durable state
 * changed and the engines that care are woken (tmux's notify.c).  The
 * journal's writer, having committed a Nylas event the correlator has to
 * read, signals WAKE_NYLAS_EVENTS; it does not know the correlator.  main
 * subscribes each engine's wake-up.
 *
 * Subscribing is the main loop's alone.  A signal on the main loop's
 * thread (or before wake_attach) runs the subscribers at once, in the order
 * of the table (subscription order; a freed slot is reused first), so an
 * answer sent before the signal stays before the wake ("fsync, then the
 * answer, then the wake").  A signal from another thread (an intake loop's)
 * is handed to the main loop, which runs that topic's subscribers soon
 * after; signals of one topic made before it gets there are one wake-up.
 * A wake-up only schedules work; none may signal back into the hub.
 */
#ifndef REKEY_STATE_WAKE_H
#define REKEY_STATE_WAKE_H

enum wake_topic {
	WAKE_NYLAS_EVENTS,		/* Nylas webhook events committed to the journal */
	WAKE_GRAPH_NOTIFICATIONS,	/* Graph change notifications committed */
	WAKE_ROTATIONS,			/* a rotation planned or approved, or a burst recorded while it watches */
	WAKE_INCIDENTS,			/* an incident opened, changed or resolved */
	WAKE_NOTICES,			/* notices queued in the owners' outbox */
	WAKE_TOPICS
};

/* Most subscribers one topic takes; one more is a broken invariant (fatal). */
#define WAKE_SUBSCRIBERS_MAX 4

typedef void (*wake_cb)(void *arg);

struct event_base;

/*
 * Makes the calling thread, whose loop is base, the one that runs the
 * subscribers; signals from other threads are handed to it.  wake_detach
 * (on that thread, once no other thread signals any more) undoes it.
 */
void wake_attach(struct event_base *base);
void wake_detach(void);

void wake_subscribe(enum wake_topic topic, wake_cb cb, void *arg);
/* Removes the subscription of cb with arg; absent: no-op. */
void wake_unsubscribe(enum wake_topic topic, wake_cb cb, void *arg);
/* Runs topic's subscribers; none: no-op. */
void wake_signal(enum wake_topic topic);

#endif
