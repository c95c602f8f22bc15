/*
 * Unit tests: lib/mailbox, how work crosses between the intake loops and
 * the main loop.  Posts from other threads run on the owner's loop thread,
 * each once, in each poster's order, also when posted from a post; a freed
 * mailbox drops what was not run and says how much.
 */
#include "lib/mailbox.h"
#include "tap.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define POSTERS 4
#define POSTS 2000

struct owner {
	struct event_base *base;
	struct mailbox *mb;
	pthread_t thread;		/* the owner's */
	int wrong_thread;
	int last[POSTERS];		/* the last sequence number seen of each poster */
	int out_of_order;
	int runs;
	int chained;
};

struct post {
	struct owner *o;
	int poster, seq;
};

static void
post_cb(void *arg)
{
	struct post *p = arg;
	struct owner *o = p->o;

	if (!pthread_equal(pthread_self(), o->thread))
		o->wrong_thread++;
	if (p->seq != o->last[p->poster] + 1)
		o->out_of_order++;
	o->last[p->poster] = p->seq;
	if (++o->runs == POSTERS * POSTS)
		event_base_loopbreak(o->base);
	free(p);
}

struct poster {
	struct owner *o;
	int index;
};

static void *
poster_main(void *arg)
{
	struct poster *ps = arg;
	struct post *p;
	int i;

	for (i = 1; i <= POSTS; i++) {
		p = malloc(sizeof(*p));
		p->o = ps->o;
		p->poster = ps->index;
		p->seq = i;
		mailbox_post(ps->o->mb, post_cb, p);
	}
	return NULL;
}

static void
second_cb(void *arg)
{
	struct owner *o = arg;

	o->chained = 2;
	event_base_loopbreak(o->base);
}

static void
first_cb(void *arg)
{
	struct owner *o = arg;

	o->chained = 1;
	mailbox_post(o->mb, second_cb, o);
}

static void
never_cb(void *arg)
{
	(void)arg;
	abort();
}

static void
test_mailbox(void)
{
	struct owner o;
	struct poster ps[POSTERS];
	pthread_t th[POSTERS];
	int i;

	memset(&o, 0, sizeof(o));
	o.base = event_base_new();
	o.mb = mailbox_new(o.base, -1);
	o.thread = pthread_self();
	for (i = 0; i < POSTERS; i++) {
		ps[i].o = &o;
		ps[i].index = i;
		pthread_create(&th[i], NULL, poster_main, &ps[i]);
	}
	event_base_dispatch(o.base);
	for (i = 0; i < POSTERS; i++)
		pthread_join(th[i], NULL);
	TAP_OK(o.runs == POSTERS * POSTS, "every post from %d threads ran once (%d)", POSTERS,
	    o.runs);
	TAP_OK(o.wrong_thread == 0, "each on the owner's thread");
	TAP_OK(o.out_of_order == 0, "in each poster's order");
	mailbox_post(o.mb, first_cb, &o);
	event_base_dispatch(o.base);
	TAP_OK(o.chained == 2, "a post may post again; that one runs too");
	mailbox_post(o.mb, never_cb, NULL);
	mailbox_post(o.mb, never_cb, NULL);
	TAP_OK(mailbox_free(o.mb) == 2, "a freed mailbox drops and counts what did not run");
	event_base_free(o.base);
}

int
main(void)
{
	test_mailbox();
	return tap_done();
}
