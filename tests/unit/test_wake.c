/*
 * Unit tests: the wake hub (state/wake.c).  A signal reaches every
 * subscriber of its topic and only those, in subscription order; an
 * unsubscribed callback hears nothing more; a topic without subscribers
 * is a no-op; the same callback may serve two topics with different args.
 */
#include "state/wake.h"
#include "tap.h"

#include <string.h>

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
	return tap_done();
}
