#include "state/journal.h"
#include "state/journal_int.h"
#include "lib/log.h"
#include "lib/mailbox.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "state/storm.h"
#include "state/wake.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

/*
 * The first hand-off after an idle spell runs below the default priority (1)
 * of the HTTP events, so that a burst the loop is reading shares one commit.
 * Answers run above it: an ack should not wait behind new requests.
 */
#define JOURNAL_PRIORITY 2
#define DONE_PRIORITY 0
/*
 * An idle writer also goes as soon as this many entries wait, without
 * waiting for the loop to read the rest.  It commits those while the loop
 * reads the others, which then make the next batch: under load the
 * connections fall into two groups whose reads and commits overlap, instead
 * of one group that leaves the disk idle while the loop reads and the loop
 * idle while the disk commits.  With 32 connections this took the intake
 * benchmark from 5.5-6.2k to 6.7-7.1k requests/s (16: 6.3-6.9k, 1: 6.3-7.0k).
 */
#define HANDOFF_AT 8
/*
 * Ops alone (derived state: the correlator's and the Graph worker's results)
 * wait this long for company before the writer commits them, unless events
 * come first and take them along.  Committed as they came, they made many
 * small transactions that rewrote the same pages, and every rewritten page
 * is one more frame for the next event commit's fsync to flush: in the Graph
 * benchmark 10 op commits of 2-11 frames sat between two event commits.
 */
#define OPS_DELAY_MS 5

/*
 * The longest a submitter waits for the store's write lock (another process
 * holding it) before its batch fails and it hears STORE_ERROR (a 503), in
 * total: a batch that queued behind a failed one has spent part of it, so
 * it gets the rest, and at least LOCK_WAIT_MIN_MS of its own.
 */
#define LOCK_WAIT_MS 5000
#define LOCK_WAIT_MIN_MS 100
/* Events handed to the store in one call (one statement for PostgreSQL). */
#define ADD_EVENTS_MAX 32

/* One submitted event, deep-copied (the submitter's strings are short-lived). */
struct entry {
	struct journal *owner;		/* the handle it was submitted through */
	struct store_event ev;
	char *strings;			/* every string of ev, in one allocation */
	journal_op_fn op;		/* non-NULL: run this instead of storing ev */
	int left_out;			/* an op that failed: its batch is written without it */
	int durable;			/* an op committed with an fsync, like an event */
	int64_t submitted_us;		/* monotonic */
	journal_done_cb cb;
	void *arg;
	enum store_result result;	/* set by the writer */
	struct storm_mark storm;	/* set by the writer: settled under a storm permit */
};

struct batch {
	struct entry *entries;
	size_t n, cap;
	size_t events;			/* entries committed with an fsync: events, durable ops */
	size_t left_out;		/* set by the writer: ops that failed and were left out */
	int ok;				/* set by the writer: committed */
	int64_t start_us;		/* set by the writer: when it took the batch */
	int64_t commit_us;		/* set by the writer */
};


/* An answer the writer left for a handle's loop. */
struct done_item {
	journal_done_cb cb;
	void *arg;
	enum store_result result;
	int event;			/* an event's answer, not an op's */
	int64_t committed_us;		/* monotonic: when the writer handed it back */
};

/*
 * A handle: one loop's way to the writer.  Its callbacks run on that loop,
 * so each intake loop answers its own requests.
 */
struct journal {
	struct journal_core *core;
	int root;			/* made by journal_new: frees the core */
	struct mailbox *inbox;		/* writer -> this loop: answers are waiting */
	struct event *handoff_ev;
	struct event *ops_ev;		/* the op-only hand-off (OPS_DELAY_MS) */
	struct done_item *done;		/* under mu */
	size_t n_done, cap_done;	/* under mu */
	int signalled;			/* under mu: a post to inbox is on its way */
	size_t pending;			/* this loop only: submitted, not yet answered */
	int held;			/* this loop only: inside journal_hold */
};

static void handoff_cb(evutil_socket_t fd, short what, void *arg);
static void inbox_cb(void *arg);

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

/* What is left of the oldest entry's LOCK_WAIT_MS, in ms. */
static int
lock_wait_left(const struct batch *b, int64_t now_us)
{
	int64_t left = LOCK_WAIT_MS - (now_us - b->entries[0].submitted_us) / 1000;

	return left < LOCK_WAIT_MIN_MS ? LOCK_WAIT_MIN_MS : (int)left;
}

/*
 * In the writer, inside the batch's transaction: stores its events and runs
 * its ops, but for the ops left out.  0, or -1 when the transaction must be
 * rolled back: an event could not be stored, or an op failed (it is then
 * left out, so that the batch can be written again without it).
 */
/*
 * The events of b from entry i on, up to the next op (at most
 * ADD_EVENTS_MAX), in one store call: for PostgreSQL one statement instead of
 * a round trip each.  Those a storm permit covers are stored processed and
 * their grants listed (state/storm.h).  The index after them, or -1 when
 * they failed.
 */
static ssize_t
write_events(struct journal_core *c, struct batch *b, size_t i)
{
	struct store_event *evs[ADD_EVENTS_MAX] = { NULL };
	struct storm_mark marks[ADD_EVENTS_MAX];
	enum store_result results[ADD_EVENTS_MAX];
	size_t n = 0, k;
	int rc;

	while (i + n < b->n && b->entries[i + n].op == NULL && n < ADD_EVENTS_MAX) {
		evs[n] = &b->entries[i + n].ev;
		n++;
	}
	rc = storm_plan(c->storm, c->store, evs, n, marks);
	if (rc == 0)
		rc = store_add_events(c->store, (const struct store_event *const *)evs, n, results);
	if (rc == 0)
		rc = storm_list(c->store, evs, n, results, marks);
	for (k = 0; k < n; k++) {
		b->entries[i + k].result = rc == 0 ? results[k] : STORE_ERROR;
		b->entries[i + k].storm = marks[k];
	}
	return rc == 0 ? (ssize_t)(i + n) : -1;
}

static int
write_entries(struct journal_core *c, struct batch *b)
{
	struct store *st = c->store;
	ssize_t next;
	size_t i;

	for (i = 0; i < b->n; i++) {
		struct entry *e = &b->entries[i];

		if (e->op == NULL) {
			if ((next = write_events(c, b, i)) == -1)
				return -1;
			i = (size_t)next - 1;
		} else if (e->left_out) {
			e->result = STORE_ERROR;
		} else if (e->op(st, e->arg) == 0 && store_settle(st) == 0) {
			/* Settled: a write it sent ahead that failed fails this op, not a later one. */
			e->result = STORE_STORED;
		} else {
			e->result = STORE_ERROR;
			e->left_out = 1;
			b->left_out++;
			return -1;
		}
	}
	return 0;
}

/*
 * In the writer, before a transaction: its connection carries the epoch
 * journal_set_epoch asked for.  0, or -1 when it could not be set: the batch
 * then fails rather than write a new leader's ops without its epoch.
 */
static int
apply_epoch(struct journal_core *c)
{
	int64_t want;

	pthread_mutex_lock(&c->mu);
	want = c->epoch;
	pthread_mutex_unlock(&c->mu);
	if (want != c->epoch_set && store_set_epoch(c->store, want) == -1)
		return -1;
	c->epoch_set = want;
	return 0;
}

/* Runs in the writer thread: one transaction for the whole batch. */
static void
write_batch(struct journal_core *c, struct batch *b)
{
	struct store *st = c->store;
	int64_t start = b->start_us = util_mono_us();
	size_t events = b->events, left_out;
	int ok, fenced_ok = apply_epoch(c) == 0;

	/*
	 * Derived state alone needs no fsync of its own (see journal_submit_op).
	 * Events are never committed relaxed: when full durability cannot be
	 * set back, their batch fails (503) rather than skip the fsync.
	 */
	if (events == 0 && !c->relaxed && store_set_durability(st, 0) == 0)
		c->relaxed = 1;
	else if (events > 0 && c->relaxed && store_set_durability(st, 1) == 0)
		c->relaxed = 0;
	store_lock_wait(st, lock_wait_left(b, start));
	ok = fenced_ok && !(events > 0 && c->relaxed) && store_begin(st) == 0;
	/*
	 * A failed op is left out and the batch written again, so that a webhook
	 * is not answered 503 because an incident's or a rotation's row could not
	 * be written beside it.  Failures are rare: the common case pays nothing
	 * (a savepoint per op cost 5-10% of the intake's rate).  Each pass leaves
	 * out one more op or ends.
	 */
	for (left_out = 0; ok && write_entries(c, b) == -1; left_out = b->left_out) {
		store_rollback(st);
		/* The lock is let go meanwhile: the wait for it again counts against LOCK_WAIT_MS too. */
		store_lock_wait(st, lock_wait_left(b, util_mono_us()));
		ok = b->left_out > left_out && store_begin(st) == 0;
	}
	if (ok && store_commit(st) == 0) {
		b->ok = 1;
	} else {
		store_rollback(st);
		b->ok = 0;
	}
	b->commit_us = util_mono_us() - start;
}

/* How many of b's entries are ops. */
static size_t
ops_in(const struct batch *b)
{
	size_t i, n = 0;

	for (i = 0; i < b->n; i++)
		n += b->entries[i].op != NULL;
	return n;
}

/* Under mu: one answer for the loop of the handle an entry came through. */
static void
hand_back(struct journal *h, const struct entry *e, int ok, int64_t now_us)
{
	if (h->n_done == h->cap_done) {
		h->cap_done = h->cap_done ? 2 * h->cap_done : 64;
		h->done = xrealloc(h->done, h->cap_done * sizeof(*h->done));
	}
	h->done[h->n_done].cb = e->cb;
	h->done[h->n_done].arg = e->arg;
	h->done[h->n_done].event = e->op == NULL;
	h->done[h->n_done].committed_us = now_us;
	h->done[h->n_done++].result = ok ? e->result : STORE_ERROR;
	if (!h->signalled) {
		h->signalled = 1;
		mailbox_post(h->inbox, inbox_cb, h);
	}
}

/* Under mu: hands a written batch's answers to their loops and wakes them. */
static void
post_done(struct journal_core *c, const struct batch *b)
{
	int64_t now = util_mono_us();
	size_t i;

	for (i = 0; i < b->n; i++)
		hand_back(b->entries[i].owner, &b->entries[i], b->ok, now);
	c->since_checkpoint += b->n;
	pthread_cond_broadcast(&c->cond);
}

/* In the writer, without mu: what a written batch tells the log, the metrics and the permits. */
static void
report_batch(struct journal_core *c, const struct batch *b)
{
	size_t i, listed = 0, already = 0;
	int for_correlator = 0;
	int64_t queued_us = 0;

	for (i = 0; i < b->n; i++)
		if (b->entries[i].op == NULL)
			queued_us += b->start_us - b->entries[i].submitted_us;
	metrics_counter_add("rekey_journal_queue_seconds_total", "Time events waited for the"
	    " journal's writer to take their batch (it commits one at a time), summed.", "",
	    (double)queued_us / 1e6);
	for (i = 0; b->ok && i < b->n; i++) {
		const struct entry *e = &b->entries[i];

		if (e->op != NULL)
			continue;
		storm_settled(c->storm, &e->ev, &e->storm);
		listed += e->storm.incident[0] != '\0' && e->storm.listed;
		already += e->storm.incident[0] != '\0' && !e->storm.listed;
		for_correlator |= e->result == STORE_STORED && e->storm.incident[0] == '\0' &&
		    strcmp(e->ev.source, "nylas") == 0;
	}
	storm_count(listed, already);
	/* A Nylas event stored unprocessed: the correlator has work (one settled has none). */
	if (for_correlator)
		wake_signal(WAKE_NYLAS_EVENTS);
	if (!b->ok)
		log_error("journal: a batch of %zu events and %zu other writes was not committed;"
		    " answering 503", b->n - ops_in(b), ops_in(b));
	metrics_observe_commit((double)b->commit_us / 1e6, b->n, b->ok);
	if (b->ok && b->left_out > 0)
		metrics_counter_add("rekey_store_writes_undone_total", "Writes beside the events"
		    " (incidents, rotation steps, Graph results) that failed and were left out: their"
		    " batch was written again without them.", "", (double)b->left_out);
}

/*
 * Under mu, in the writer: copies the little the checkpointer left behind.
 * Between two commits nothing new arrives in the log, so this checkpoint
 * completes and the next commit rewinds the log (a checkpointer racing the
 * writer never completes one).  It delays the next batch by a few pages'
 * copy and one fsync of the database, once per REWIND_LOG_PAGES
 * (journal_checkpoint.c).
 */
static void
finish_checkpoint(struct journal_core *c)
{
	c->rewind_due = 0;
	pthread_mutex_unlock(&c->mu);
	store_checkpoint(c->store, 0, NULL, NULL);
	pthread_mutex_lock(&c->mu);
}

static void *
writer_main(void *arg)
{
	struct journal_core *c = arg;
	struct batch *b, *spare = batch_new();

	util_name_thread("rk-journal");
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->quit && (!c->go || c->open->n == 0))
			pthread_cond_wait(&c->cond, &c->mu);
		if (c->open->n == 0)
			break;
		b = c->open;
		c->open = spare;
		pthread_mutex_unlock(&c->mu);
		write_batch(c, b);
		spare = batch_new();
		/* Counted before anyone hears: an answer's reader finds its commit in the metrics. */
		report_batch(c, b);
		pthread_mutex_lock(&c->mu);
		post_done(c, b);
		/*
		 * Events that arrived during that commit go next, at once; ops
		 * alone wait for a loop's timer (see inbox_cb).
		 */
		c->go = c->open->events > 0;
		if (c->rewind_due)
			finish_checkpoint(c);
		pthread_mutex_unlock(&c->mu);
		/* The answers are on their way: the copies go in the writer's own time. */
		batch_free(b);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	batch_free(spare);
	return NULL;
}


/* A handle on base's loop; the core's count is the caller's to raise. */
static struct journal *
handle_new(struct journal_core *c, struct event_base *base, int root)
{
	struct journal *j = xcalloc(1, sizeof(*j));

	j->core = c;
	j->root = root;
	j->inbox = mailbox_new(base, DONE_PRIORITY);
	j->handoff_ev = event_new(base, -1, 0, handoff_cb, j);
	j->ops_ev = evtimer_new(base, handoff_cb, j);
	if (j->handoff_ev == NULL || j->ops_ev == NULL ||
	    event_priority_set(j->handoff_ev, JOURNAL_PRIORITY) == -1)
		fatal("journal: cannot create its events");
	return j;
}

static void
handle_free(struct journal *j)
{
	event_free(j->handoff_ev);
	event_free(j->ops_ev);
	mailbox_free(j->inbox);
	free(j->done);
	free(j);
}

struct journal *
journal_new(struct event_base *base, const char *store_url, char **err)
{
	struct journal_core *c = xcalloc(1, sizeof(*c));

	c->store = store_open(store_url, err);
	if (c->store == NULL) {
		free(c);
		return NULL;
	}
	/* A batch's writes, sent ahead without waiting, share the round trips to a server. */
	store_defer_writes(c->store);
	c->ckpt_store = store_open(store_url, err);
	if (c->ckpt_store == NULL) {
		store_close(c->store);
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->storm = storm_new();
	c->open = batch_new();
	c->handles = 1;
	c->epoch = c->epoch_set = -1;
	atomic_init(&c->pending, 0);
	if (pthread_create(&c->thread, NULL, writer_main, c) != 0 ||
	    pthread_create(&c->ckpt_thread, NULL, journal_checkpoint_main, c) != 0)
		fatal("journal: cannot start the writer threads");
	return handle_new(c, base, 1);
}

struct journal *
journal_attach(struct journal *root, struct event_base *base)
{
	struct journal_core *c = root->core;

	pthread_mutex_lock(&c->mu);
	c->handles++;
	pthread_mutex_unlock(&c->mu);
	return handle_new(c, base, 0);
}

static void
core_free(struct journal_core *c)
{
	pthread_mutex_lock(&c->mu);
	if (c->handles != 0)
		fatal("journal: freed with %zu handles still attached", c->handles);
	c->quit = 1;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	pthread_join(c->ckpt_thread, NULL);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cond);
	batch_free(c->open);
	store_close(c->store);
	store_close(c->ckpt_store);
	storm_free(c->storm);
	free(c);
}

struct storm *
journal_storm(const struct journal *j)
{
	return j->core->storm;
}

void
journal_set_epoch(struct journal *j, int64_t epoch)
{
	pthread_mutex_lock(&j->core->mu);
	j->core->epoch = epoch;
	pthread_mutex_unlock(&j->core->mu);
}

void
journal_free(struct journal *j)
{
	struct journal_core *c;
	int root;

	if (j == NULL)
		return;
	journal_flush(j);
	c = j->core;
	root = j->root;
	pthread_mutex_lock(&c->mu);
	c->handles--;
	pthread_mutex_unlock(&c->mu);
	handle_free(j);
	if (root)
		core_free(c);
}

void
journal_set_retention(struct journal *j, int64_t keep_s)
{
	pthread_mutex_lock(&j->core->mu);
	j->core->retention_s = keep_s;
	pthread_mutex_unlock(&j->core->mu);
}

size_t
journal_pending(const struct journal *j)
{
	return j->pending;
}

size_t
journal_pending_all(const struct journal *j)
{
	return atomic_load_explicit(&j->core->pending, memory_order_relaxed);
}

/* Under mu: lets the writer take the open batch, when there is one. */
static void
let_writer_go(struct journal_core *c)
{
	if (c->go || c->open->n == 0)
		return;
	c->go = 1;
	pthread_cond_broadcast(&c->cond);
}

static void enqueue(struct journal *j, struct entry *e);

void
journal_hold(struct journal *j)
{
	j->held = 1;
}

void
journal_release(struct journal *j)
{
	struct journal_core *c = j->core;

	j->held = 0;
	pthread_mutex_lock(&c->mu);
	if (!c->go && c->open->events >= HANDOFF_AT)
		let_writer_go(c);
	pthread_mutex_unlock(&c->mu);
}

/* Loop side: ops alone are handed off after OPS_DELAY_MS, unless events take them first. */
static void
arm_ops_timer(struct journal *j)
{
	struct timeval tv = { 0, OPS_DELAY_MS * 1000 };

	if (!evtimer_pending(j->ops_ev, NULL))
		evtimer_add(j->ops_ev, &tv);
}

void
journal_submit(struct journal *j, const struct store_event *ev,
    journal_done_cb cb, void *arg)
{
	struct entry e;

	/* Copy outside the lock: the writer may be waiting for it to take the batch. */
	memset(&e, 0, sizeof(e));
	entry_copy(&e, ev);
	e.cb = cb;
	e.arg = arg;
	enqueue(j, &e);
}

static void
submit_op(struct journal *j, journal_op_fn op, int durable, journal_done_cb cb, void *arg)
{
	struct entry e;

	memset(&e, 0, sizeof(e));
	e.op = op;
	e.durable = durable;
	e.cb = cb;
	e.arg = arg;
	enqueue(j, &e);
}

void
journal_submit_op(struct journal *j, journal_op_fn op, journal_done_cb cb, void *arg)
{
	submit_op(j, op, 0, cb, arg);
}

void
journal_submit_durable_op(struct journal *j, journal_op_fn op, journal_done_cb cb, void *arg)
{
	submit_op(j, op, 1, cb, arg);
}

static void
enqueue(struct journal *j, struct entry *e)
{
	struct journal_core *c = j->core;
	struct batch *b;
	int idle, ops_only;

	e->owner = j;
	e->submitted_us = util_mono_us();
	j->pending++;
	atomic_fetch_add_explicit(&c->pending, 1, memory_order_relaxed);
	pthread_mutex_lock(&c->mu);
	b = c->open;
	if (b->n == b->cap) {
		b->cap *= 2;
		b->entries = xrealloc(b->entries, b->cap * sizeof(*b->entries));
	}
	b->entries[b->n++] = *e;
	b->events += e->op == NULL || e->durable;
	idle = !c->go;
	if (idle && !j->held && b->events >= HANDOFF_AT) {
		let_writer_go(c);
		idle = 0;
	}
	ops_only = b->events == 0;
	pthread_mutex_unlock(&c->mu);
	if (!idle)
		return;
	/* Else hand off once the loop has read what is waiting, so a burst shares one commit. */
	if (!ops_only)
		event_active(j->handoff_ev, 0, 0);
	else
		arm_ops_timer(j);
}

/*
 * Takes this handle's answers (loop side), waiting for some when asked to;
 * their number, *items the array (caller frees).  *ops_waiting: ops alone
 * wait for a timer.
 */
static size_t
take_done(struct journal *j, int wait, struct done_item **items, int *ops_waiting)
{
	struct journal_core *c = j->core;
	size_t n;

	pthread_mutex_lock(&c->mu);
	if (wait)
		let_writer_go(c);
	while (wait && j->n_done == 0)
		pthread_cond_wait(&c->cond, &c->mu);
	*items = j->done;
	n = j->n_done;
	j->done = NULL;
	j->n_done = j->cap_done = 0;
	j->signalled = 0;
	*ops_waiting = !c->go && c->open->n > 0;
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* Answers the submitters, oldest first; the callbacks may submit again. */
static void
answer(struct journal *j, struct done_item *items, size_t n)
{
	int64_t now = util_mono_us(), waited_us = 0;
	size_t i;

	j->pending -= n;
	atomic_fetch_sub_explicit(&j->core->pending, n, memory_order_relaxed);
	for (i = 0; i < n; i++)
		if (items[i].event)
			waited_us += now - items[i].committed_us;
	if (waited_us > 0)
		metrics_counter_add("rekey_journal_answer_seconds_total", "Time from an event's"
		    " commit to its loop taking the answer (waking, finishing what it was doing),"
		    " summed.", "", (double)waited_us / 1e6);
	for (i = 0; i < n; i++)
		items[i].cb(items[i].result, items[i].arg);
	free(items);
}

void
journal_flush(struct journal *j)
{
	struct done_item *items;
	size_t n;
	int ops_waiting;

	while (j->pending > 0) {
		n = take_done(j, 1, &items, &ops_waiting);
		answer(j, items, n);
	}
}

static void
handoff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct journal *j = arg;

	(void)fd;
	(void)what;
	evtimer_del(j->ops_ev);
	pthread_mutex_lock(&j->core->mu);
	let_writer_go(j->core);
	pthread_mutex_unlock(&j->core->mu);
}

static void
inbox_cb(void *arg)
{
	struct journal *j = arg;
	struct done_item *items;
	int ops_waiting;
	size_t n = take_done(j, 0, &items, &ops_waiting);

	answer(j, items, n);
	/* Ops left waiting by the writer (they came alone) get their timer. */
	if (ops_waiting)
		arm_ops_timer(j);
}
