/*
 * mailbox: a locked list of posts and a pipe that wakes the owner.  See
 * mailbox.h.
 */
#include "lib/mailbox.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

struct post {
	mailbox_fn fn;
	void *arg;
	struct post *next;
};

struct mailbox {
	pthread_mutex_t mu;
	struct post *head, **tail;	/* under mu, oldest first */
	int woken;			/* under mu: a byte is in the pipe and not yet read */
	int pipe[2];
	struct event *ev;
};

static void
read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mailbox *mb = arg;
	struct post *p, *next;
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&mb->mu);
	p = mb->head;
	mb->head = NULL;
	mb->tail = &mb->head;
	mb->woken = 0;
	pthread_mutex_unlock(&mb->mu);
	/* A post may post again (to this mailbox too): it runs at the next wake-up. */
	for (; p != NULL; p = next) {
		next = p->next;
		p->fn(p->arg);
		free(p);
	}
}

struct mailbox *
mailbox_new(struct event_base *base, int priority)
{
	struct mailbox *mb = xcalloc(1, sizeof(*mb));

	if (pipe2(mb->pipe, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("mailbox: pipe: %s", strerror(errno));
	pthread_mutex_init(&mb->mu, NULL);
	mb->tail = &mb->head;
	mb->ev = event_new(base, mb->pipe[0], EV_READ | EV_PERSIST, read_cb, mb);
	if (mb->ev == NULL || (priority >= 0 && event_priority_set(mb->ev, priority) == -1) ||
	    event_add(mb->ev, NULL) == -1)
		fatal("mailbox: cannot create its event");
	return mb;
}

size_t
mailbox_free(struct mailbox *mb)
{
	struct post *p, *next;
	size_t dropped = 0;

	if (mb == NULL)
		return 0;
	event_free(mb->ev);
	for (p = mb->head; p != NULL; p = next) {
		next = p->next;
		free(p);
		dropped++;
	}
	close(mb->pipe[0]);
	close(mb->pipe[1]);
	pthread_mutex_destroy(&mb->mu);
	free(mb);
	return dropped;
}

void
mailbox_post(struct mailbox *mb, mailbox_fn fn, void *arg)
{
	struct post *p = xmalloc(sizeof(*p));
	char one = 1;
	int wake;

	p->fn = fn;
	p->arg = arg;
	p->next = NULL;
	pthread_mutex_lock(&mb->mu);
	*mb->tail = p;
	mb->tail = &p->next;
	wake = !mb->woken;
	mb->woken = 1;
	pthread_mutex_unlock(&mb->mu);
	/* One byte per wake-up; the pipe is non-blocking, and a full one already means "wake up". */
	while (wake && write(mb->pipe[1], &one, 1) == -1 && errno == EINTR)
		;
}
