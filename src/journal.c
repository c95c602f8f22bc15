#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#include <stdlib.h>

#include <event2/event.h>

/* A batch is committed when it reaches this size even if more requests wait. */
#define JOURNAL_BATCH_MAX 512
/* The commit event runs below the default priority (1) of the HTTP events. */
#define JOURNAL_PRIORITY 2
/* ... or when its oldest event has waited this long (microseconds), so a steady stream cannot starve it. */
#define JOURNAL_BATCH_AGE_US 2000

struct pending {
	journal_done_cb cb;
	void *arg;
	enum store_result result;
};

struct journal {
	struct store *store;
	struct event *commit_ev;
	int in_tx;
	int failed;		/* the open transaction hit an error: answer all with STORE_ERROR */
	int64_t batch_start_us;
	struct pending *batch;
	size_t n, cap;
};

static void commit_cb(evutil_socket_t fd, short what, void *arg);

struct journal *
journal_new(struct event_base *base, struct store *st)
{
	struct journal *j = xcalloc(1, sizeof(*j));

	j->store = st;
	j->commit_ev = event_new(base, -1, 0, commit_cb, j);
	if (j->commit_ev == NULL || event_priority_set(j->commit_ev, JOURNAL_PRIORITY) == -1)
		fatal("journal: cannot create the commit event");
	j->cap = 64;
	j->batch = xcalloc(j->cap, sizeof(*j->batch));
	return j;
}

void
journal_free(struct journal *j)
{
	if (j == NULL)
		return;
	journal_flush(j);
	event_free(j->commit_ev);
	free(j->batch);
	free(j);
}

size_t
journal_pending(const struct journal *j)
{
	return j->n;
}

void
journal_submit(struct journal *j, const struct store_event *ev,
    journal_done_cb cb, void *arg)
{
	enum store_result r = STORE_ERROR;

	if (!j->in_tx) {
		j->batch_start_us = util_mono_us();
		if (store_begin(j->store) == 0)
			j->in_tx = 1;
		else
			j->failed = 1;
	}
	if (j->in_tx && !j->failed) {
		r = store_add_event(j->store, ev);
		if (r == STORE_ERROR)
			j->failed = 1;
	}
	if (j->n == j->cap) {
		j->cap *= 2;
		j->batch = xrealloc(j->batch, j->cap * sizeof(*j->batch));
	}
	j->batch[j->n++] = (struct pending){ cb, arg, r };
	if (j->n >= JOURNAL_BATCH_MAX ||
	    util_mono_us() - j->batch_start_us > JOURNAL_BATCH_AGE_US)
		journal_flush(j);
	else
		event_active(j->commit_ev, 0, 0);
}

/* Answers every pending submitter; the callbacks may submit again. */
static void
answer_batch(struct journal *j, int ok)
{
	struct pending *batch = j->batch;
	size_t i, n = j->n;

	j->cap = 64;
	j->batch = xcalloc(j->cap, sizeof(*j->batch));
	j->n = 0;
	for (i = 0; i < n; i++)
		batch[i].cb(ok ? batch[i].result : STORE_ERROR, batch[i].arg);
	free(batch);
}

void
journal_flush(struct journal *j)
{
	int64_t start = util_mono_us();
	size_t n = j->n;
	int ok = 0;

	if (n == 0 && !j->in_tx)
		return;
	if (j->in_tx) {
		if (!j->failed && store_commit(j->store) == 0)
			ok = 1;
		else
			store_rollback(j->store);
		j->in_tx = 0;
	}
	if (!ok)
		log_error("journal: a batch of %zu events was not committed; answering 503", n);
	j->failed = 0;
	metrics_observe_commit((double)(util_mono_us() - start) / 1e6, n, ok);
	answer_batch(j, ok);
}

static void
commit_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	journal_flush(arg);
}
