/*
 * wake: a fixed table of subscribers per topic.  See wake.h.
 *
 * Static state is enough: there is one main loop, and the hub holds no
 * resource beyond its mailbox (subscribers outlive their subscription or
 * unsubscribe).  Signals from other threads set their topic's bit in
 * `pending`; the one that set the first bit posts to the main loop.
 */
#include "state/wake.h"
#include "lib/log.h"
#include "lib/mailbox.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

/* Its subscribers run here; the posts from other threads go to its mailbox. */
static struct mailbox *main_inbox;
static pthread_t main_thread;
static atomic_uint pending;

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

static void
run_subscribers(enum wake_topic topic)
{
	size_t i;

	for (i = 0; i < WAKE_SUBSCRIBERS_MAX; i++) {
		if (subscribers[topic][i].cb != NULL)
			subscribers[topic][i].cb(subscribers[topic][i].arg);
	}
}

/* On the main loop: every topic signalled from elsewhere since the last time. */
static void
pending_cb(void *arg)
{
	unsigned bits = atomic_exchange(&pending, 0);
	int topic;

	(void)arg;
	for (topic = 0; topic < WAKE_TOPICS; topic++)
		if (bits & (1u << topic))
			run_subscribers((enum wake_topic)topic);
}

void
wake_attach(struct event_base *base)
{
	main_thread = pthread_self();
	main_inbox = mailbox_new(base, 0);
}

void
wake_detach(void)
{
	mailbox_free(main_inbox);
	main_inbox = NULL;
	atomic_store(&pending, 0);
}

void
wake_signal(enum wake_topic topic)
{
	if (!valid(topic))
		return;
	if (main_inbox == NULL || pthread_equal(pthread_self(), main_thread)) {
		run_subscribers(topic);
		return;
	}
	if (atomic_fetch_or(&pending, 1u << topic) == 0)
		mailbox_post(main_inbox, pending_cb, NULL);
}
