#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

/* The hand-off event runs below the default priority (1) of the HTTP events. */
#define JOURNAL_PRIORITY 2
/* The checkpointer runs after this many committed events, or this often when fewer. */
#define CHECKPOINT_EVENTS 1000
#define CHECKPOINT_INTERVAL_S 5

/* One submitted event, deep-copied (the submitter's strings are short-lived). */
struct entry {
	struct store_event ev;
	char *strings;			/* every string of ev, in one allocation */
	journal_done_cb cb;
	void *arg;
	enum store_result result;	/* set by the writer */
};

struct batch {
	struct entry *entries;
	size_t n, cap;
	int ok;				/* set by the writer: committed */
	int64_t commit_us;		/* set by the writer */
};

/*
 * Ownership: the loop owns `open`; `writing` belongs to the writer thread
 * from hand-off until it is moved to `done` under the mutex; the loop then
 * takes `done` back.  The writer's store connection is used by it alone.
 */
struct journal {
	struct store *store;
	struct store *ckpt_store;	/* the checkpointer's own connection */
	pthread_t ckpt_thread;
	size_t since_checkpoint;	/* events committed since the last checkpoint (under mu) */
	struct event *handoff_ev, *done_ev;
	int wake[2];			/* writer -> loop: a batch is done */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct batch *open, *writing, *done;
	int busy;			/* a batch is with the writer (loop's view) */
	int quit;
	size_t in_flight;		/* events in the writing batch */
};

static void handoff_cb(evutil_socket_t fd, short what, void *arg);
static void done_cb(evutil_socket_t fd, short what, void *arg);

static struct batch *
batch_new(void)
{
	struct batch *b = xcalloc(1, sizeof(*b));

	b->cap = 64;
	b->entries = xcalloc(b->cap, sizeof(*b->entries));
	return b;
}

static void
batch_free(struct batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++)
		free(b->entries[i].strings);
	free(b->entries);
	free(b);
}

/* Appends s (may be NULL) to the arena at *pos; returns its copy. */
static const char *
copy_str(char *arena, size_t *pos, const char *s)
{
	char *out;
	size_t len;

	if (s == NULL)
		return NULL;
	len = strlen(s) + 1;
	out = arena + *pos;
	memcpy(out, s, len);
	*pos += len;
	return out;
}

static size_t
str_size(const char *s)
{
	return s == NULL ? 0 : strlen(s) + 1;
}

static void
entry_copy(struct entry *e, const struct store_event *ev)
{
	size_t pos = 0, size = str_size(ev->source) + str_size(ev->app) +
	    str_size(ev->event_id) + str_size(ev->type) + str_size(ev->remote_addr) +
	    str_size(ev->grant_id) + str_size(ev->email) + str_size(ev->provider) +
	    str_size(ev->integration_id) + ev->body_len + 1;

	e->ev = *ev;
	e->strings = xmalloc(size);
	e->ev.source = copy_str(e->strings, &pos, ev->source);
	e->ev.app = copy_str(e->strings, &pos, ev->app);
	e->ev.event_id = copy_str(e->strings, &pos, ev->event_id);
	e->ev.type = copy_str(e->strings, &pos, ev->type);
	e->ev.remote_addr = copy_str(e->strings, &pos, ev->remote_addr);
	e->ev.grant_id = copy_str(e->strings, &pos, ev->grant_id);
	e->ev.email = copy_str(e->strings, &pos, ev->email);
	e->ev.provider = copy_str(e->strings, &pos, ev->provider);
	e->ev.integration_id = copy_str(e->strings, &pos, ev->integration_id);
	memcpy(e->strings + pos, ev->body, ev->body_len);
	e->strings[pos + ev->body_len] = '\0';
	e->ev.body = e->strings + pos;
}

/* Runs in the writer thread: one transaction for the whole batch. */
static void
write_batch(struct store *st, struct batch *b)
{
	int64_t start = util_mono_us();
	size_t i;
	int ok = store_begin(st) == 0;

	for (i = 0; i < b->n; i++) {
		b->entries[i].result = ok ? store_add_event(st, &b->entries[i].ev) : STORE_ERROR;
		if (b->entries[i].result == STORE_ERROR)
			ok = 0;
	}
	if (ok && store_commit(st) == 0) {
		b->ok = 1;
	} else {
		store_rollback(st);
		b->ok = 0;
	}
	b->commit_us = util_mono_us() - start;
}

static void *
writer_main(void *arg)
{
	struct journal *j = arg;
	struct batch *b;
	char one = 1;

	pthread_mutex_lock(&j->mu);
	for (;;) {
		while (j->writing == NULL && !j->quit)
			pthread_cond_wait(&j->cond, &j->mu);
		if (j->writing == NULL)
			break;
		b = j->writing;
		pthread_mutex_unlock(&j->mu);
		write_batch(j->store, b);
		pthread_mutex_lock(&j->mu);
		j->writing = NULL;
		j->done = b;
		j->since_checkpoint += b->n;
		pthread_cond_broadcast(&j->cond);
		/* The pipe is non-blocking and the loop drains it: a full pipe already means "wake up". */
		while (write(j->wake[1], &one, 1) == -1 && errno == EINTR)
			;
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

/*
 * Checkpoints beside the writer: a passive checkpoint copies the log into
 * the database while commits go on, so no ack ever waits for one.
 */
static void *
checkpoint_main(void *arg)
{
	struct journal *j = arg;
	struct timespec until;

	pthread_mutex_lock(&j->mu);
	while (!j->quit) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += CHECKPOINT_INTERVAL_S;
		while (!j->quit && j->since_checkpoint < CHECKPOINT_EVENTS &&
		    pthread_cond_timedwait(&j->cond, &j->mu, &until) == 0)
			;
		if (j->quit)
			break;
		j->since_checkpoint = 0;
		pthread_mutex_unlock(&j->mu);
		store_checkpoint(j->ckpt_store);
		pthread_mutex_lock(&j->mu);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

struct journal *
journal_new(struct event_base *base, const char *store_url, char **err)
{
	struct journal *j = xcalloc(1, sizeof(*j));

	j->store = store_open(store_url, err);
	if (j->store == NULL) {
		free(j);
		return NULL;
	}
	j->ckpt_store = store_open(store_url, err);
	if (j->ckpt_store == NULL) {
		store_close(j->store);
		free(j);
		return NULL;
	}
	if (pipe2(j->wake, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("journal: pipe: %s", strerror(errno));
	j->handoff_ev = event_new(base, -1, 0, handoff_cb, j);
	j->done_ev = event_new(base, j->wake[0], EV_READ | EV_PERSIST, done_cb, j);
	if (j->handoff_ev == NULL || j->done_ev == NULL ||
	    event_priority_set(j->handoff_ev, JOURNAL_PRIORITY) == -1 ||
	    event_add(j->done_ev, NULL) == -1)
		fatal("journal: cannot create its events");
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cond, NULL);
	j->open = batch_new();
	if (pthread_create(&j->thread, NULL, writer_main, j) != 0 ||
	    pthread_create(&j->ckpt_thread, NULL, checkpoint_main, j) != 0)
		fatal("journal: cannot start the writer threads");
	return j;
}

void
journal_free(struct journal *j)
{
	if (j == NULL)
		return;
	journal_flush(j);
	pthread_mutex_lock(&j->mu);
	j->quit = 1;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->mu);
	pthread_join(j->thread, NULL);
	pthread_join(j->ckpt_thread, NULL);
	event_free(j->handoff_ev);
	event_free(j->done_ev);
	close(j->wake[0]);
	close(j->wake[1]);
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->cond);
	batch_free(j->open);
	store_close(j->store);
	store_close(j->ckpt_store);
	free(j);
}

size_t
journal_pending(const struct journal *j)
{
	return j->open->n + j->in_flight;
}

void
journal_submit(struct journal *j, const struct store_event *ev,
    journal_done_cb cb, void *arg)
{
	struct batch *b = j->open;
	struct entry *e;

	if (b->n == b->cap) {
		b->cap *= 2;
		b->entries = xrealloc(b->entries, b->cap * sizeof(*b->entries));
	}
	e = &b->entries[b->n++];
	memset(e, 0, sizeof(*e));
	entry_copy(e, ev);
	e->cb = cb;
	e->arg = arg;
	/* Hand off once the loop has read what is waiting, so a burst shares one commit. */
	if (!j->busy)
		event_active(j->handoff_ev, 0, 0);
}

/* Gives the open batch to the writer when it is idle and there is something to write. */
static void
handoff(struct journal *j)
{
	if (j->busy || j->open->n == 0)
		return;
	j->busy = 1;
	j->in_flight = j->open->n;
	pthread_mutex_lock(&j->mu);
	j->writing = j->open;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->mu);
	j->open = batch_new();
}

/* Answers every submitter of a written batch; the callbacks may submit again. */
static void
answer(struct journal *j, struct batch *b)
{
	size_t i;

	j->busy = 0;
	j->in_flight = 0;
	if (!b->ok)
		log_error("journal: a batch of %zu events was not committed; answering 503", b->n);
	metrics_observe_commit((double)b->commit_us / 1e6, b->n, b->ok);
	for (i = 0; i < b->n; i++)
		b->entries[i].cb(b->ok ? b->entries[i].result : STORE_ERROR, b->entries[i].arg);
	batch_free(b);
}

/* Takes the done batch, if any (loop side). */
static struct batch *
take_done(struct journal *j, int wait)
{
	struct batch *b;

	pthread_mutex_lock(&j->mu);
	while (wait && j->done == NULL)
		pthread_cond_wait(&j->cond, &j->mu);
	b = j->done;
	j->done = NULL;
	pthread_mutex_unlock(&j->mu);
	return b;
}

void
journal_flush(struct journal *j)
{
	struct batch *b;

	while (j->busy || j->open->n > 0) {
		handoff(j);
		b = take_done(j, 1);
		answer(j, b);
	}
}

static void
handoff_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	handoff(arg);
}

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct journal *j = arg;
	struct batch *b;
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	b = take_done(j, 0);
	if (b == NULL)
		return;
	answer(j, b);
	/* What arrived during that commit goes next, at once. */
	handoff(j);
}
