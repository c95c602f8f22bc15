/*
 * Unit tests: the wake hub (state/wake.c).  A signal reaches every
 * subscriber of its topic and only those, in subscription order; an
 * unsubscribed callback hears nothing more; a topic without subscribers
 * is a no-op; the same callback may serve two topics with different args.
 * Once attached to a loop, signals from another thread (an intake loop's)
 * run the subscribers on the loop's thread, a burst of them as few wake-ups.
 */
#include "state/wake.h"
#include "tap.h"

#include <pthread.h>
#include <string.h>

#include <event2/event.h>

static char trail[64];

static void
note_cb(void *arg)
{
	size_t n = strlen(trail);

	if (n + 1 < sizeof(trail)) {
		trail[n] = *(const char *)arg;
		trail[n + 1] = '\0';
	}
}

#define SIGNALS 1000

struct across {
	struct event_base *base;
	pthread_t main_thread;
	int runs, rotations, wrong_thread;
};

static void
across_cb(void *arg)
{
	struct across *x = arg;

	x->runs++;
	if (!pthread_equal(pthread_self(), x->main_thread))
		x->wrong_thread++;
}

static void
rotations_cb(void *arg)
{
	struct across *x = arg;

	x->rotations++;
	if (!pthread_equal(pthread_self(), x->main_thread))
		x->wrong_thread++;
	event_base_loopbreak(x->base);
}

static void *
signaller_main(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < SIGNALS; i++)
		wake_signal(WAKE_GRAPH_NOTIFICATIONS);
	wake_signal(WAKE_ROTATIONS);
	return NULL;
}

static void
test_across_threads(void)
{
	struct across x;
	pthread_t th;

	memset(&x, 0, sizeof(x));
	x.base = event_base_new();
	x.main_thread = pthread_self();
	wake_attach(x.base);
	wake_subscribe(WAKE_GRAPH_NOTIFICATIONS, across_cb, &x);
	wake_subscribe(WAKE_ROTATIONS, rotations_cb, &x);
	pthread_create(&th, NULL, signaller_main, NULL);
	pthread_join(th, NULL);
	TAP_OK(x.runs == 0 && x.rotations == 0, "signals from another thread do not run there");
	event_base_dispatch(x.base);
	TAP_OK(x.rotations == 1 && x.runs >= 1, "they run on the attached loop (%d, %d)", x.runs,
	    x.rotations);
	TAP_OK(x.wrong_thread == 0, "on its thread");
	TAP_OK(x.runs < SIGNALS, "a burst of %d signals is fewer wake-ups (%d)", SIGNALS, x.runs);
	wake_signal(WAKE_ROTATIONS);
	TAP_OK(x.rotations == 2, "a signal on the loop's own thread still runs at once");
	wake_unsubscribe(WAKE_GRAPH_NOTIFICATIONS, across_cb, &x);
	wake_unsubscribe(WAKE_ROTATIONS, rotations_cb, &x);
	wake_detach();
	event_base_free(x.base);
}

int
main(void)
{
	static const char a = 'a', b = 'b', c = 'c';

	trail[0] = '\0';
	wake_signal(WAKE_NYLAS_EVENTS);
	TAP_STR_EQ(trail, "", "a topic without subscribers: nothing runs");

	wake_subscribe(WAKE_NYLAS_EVENTS, note_cb, (void *)&a);
	wake_subscribe(WAKE_NYLAS_EVENTS, note_cb, (void *)&b);
	wake_subscribe(WAKE_ROTATIONS, note_cb, (void *)&c);
	wake_signal(WAKE_NYLAS_EVENTS);
	TAP_STR_EQ(trail, "ab", "a signal runs its topic's subscribers in order, no other topic's");

	trail[0] = '\0';
	wake_signal(WAKE_ROTATIONS);
	TAP_STR_EQ(trail, "c", "the same callback serves another topic with its own arg");

	trail[0] = '\0';
	wake_unsubscribe(WAKE_NYLAS_EVENTS, note_cb, (void *)&a);
	wake_signal(WAKE_NYLAS_EVENTS);
	TAP_STR_EQ(trail, "b", "an unsubscribed callback hears nothing more");

	trail[0] = '\0';
	wake_unsubscribe(WAKE_NYLAS_EVENTS, note_cb, (void *)&c);
	wake_signal(WAKE_NYLAS_EVENTS);
	TAP_STR_EQ(trail, "b", "unsubscribing what was never subscribed is a no-op");

	trail[0] = '\0';
	wake_subscribe(WAKE_NYLAS_EVENTS, note_cb, (void *)&a);
	wake_signal(WAKE_NYLAS_EVENTS);
	TAP_STR_EQ(trail, "ab", "a freed slot is reused, the order follows the slots");

	trail[0] = '\0';
	wake_signal(WAKE_TOPICS);
	wake_signal((enum wake_topic)-1);
	TAP_STR_EQ(trail, "", "a topic out of range is a no-op");
	test_across_threads();
	return tap_done();
}
