/*
 * wake: a fixed table of subscribers per topic.  See wake.h.
 *
 * Static state is enough: there is one event loop, and the hub holds no
 * resource to free (subscribers outlive their subscription or unsubscribe).
 */
#include "state/wake.h"
#include "lib/log.h"

#include <stddef.h>

struct subscriber {
	wake_cb cb;
	void *arg;
};

static struct subscriber subscribers[WAKE_TOPICS][WAKE_SUBSCRIBERS_MAX];

static int
valid(enum wake_topic topic)
{
	return (unsigned)topic < WAKE_TOPICS;
}

void
wake_subscribe(enum wake_topic topic, wake_cb cb, void *arg)
{
	size_t i;

	if (!valid(topic) || cb == NULL)
		fatal("wake: subscription to topic %d without a callback", (int)topic);
	for (i = 0; i < WAKE_SUBSCRIBERS_MAX; i++) {
		if (subscribers[topic][i].cb == NULL) {
			subscribers[topic][i].cb = cb;
			subscribers[topic][i].arg = arg;
			return;
		}
	}
	fatal("wake: more than %d subscribers to topic %d", WAKE_SUBSCRIBERS_MAX, (int)topic);
}

void
wake_unsubscribe(enum wake_topic topic, wake_cb cb, void *arg)
{
	size_t i;

	if (!valid(topic))
		return;
	for (i = 0; i < WAKE_SUBSCRIBERS_MAX; i++) {
		if (subscribers[topic][i].cb == cb && subscribers[topic][i].arg == arg) {
			subscribers[topic][i].cb = NULL;
			subscribers[topic][i].arg = NULL;
			return;
		}
	}
}

void
wake_signal(enum wake_topic topic)
{
	size_t i;

	if (!valid(topic))
		return;
	for (i = 0; i < WAKE_SUBSCRIBERS_MAX; i++) {
		if (subscribers[topic][i].cb != NULL)
			subscribers[topic][i].cb(subscribers[topic][i].arg);
	}
}
