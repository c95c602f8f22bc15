/*
 * Unit tests: the journal's group commit on its writer thread.  Every
 * submitter hears exactly once, after its batch committed; duplicates (also
 * inside one batch) are stored once; events submitted from inside a callback
 * go into the next batch; journal_free answers what is still pending; the
 * items submitted under journal_hold share one commit; ops alone wait for
 * company (OPS_DELAY_MS) before they are committed, without an fsync, and
 * durable ops get one; an op that fails is left out and its batch written
 * again without it, so that its events and other ops are committed, also
 * when its write failed only after the call (a pipelined write).  A
 * handle attached on another loop (an intake loop's thread) is answered on
 * that thread, while the first handle's submitters hear on theirs, and its
 * events share the writer's commits.
 * Against SQLite, or the PostgreSQL database named by REKEY_TEST_STORE_URL
 * (tests/run.sh runs it under tests/lib/pg.py run).
 */
#include "lib/metrics.h"
#include "state/journal.h"
#include "state/store.h"
#include "tap.h"
#include "lib/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#define N_EVENTS 300

struct answers {
	int stored, duplicate, error, calls;
	struct journal *j;
	int resubmit;		/* submit one more event from inside the first callback */
	struct event_base *base;
	int want;
	long pending_at_first;	/* journal_pending() in the first callback; -1 before */
	int64_t first_us;	/* util_mono_us() at the first callback */
	int ops_run;		/* by count_op, in the writer thread */
	int op_durable;		/* store_durable() as count_op saw it */
};

static void
fill_event(struct store_event *ev, const char *id, char *body)
{
	memset(ev, 0, sizeof(*ev));
	ev->source = "nylas";
	ev->app = "prod";
	ev->event_id = id;
	ev->type = "grant.expired";
	ev->received_ms = 1;
	ev->email = "u@example.com";
	ev->grant_id = "g1";
	ev->code = 25009;
	ev->reauth_flag = -1;
	ev->event_time = -1;
	ev->grant_updated_at = -1;
	ev->body = body;
	ev->body_len = strlen(body);
}

static void done_cb(enum store_result r, void *arg);

static void
submit_to(struct answers *a, const char *id, journal_done_cb cb, void *arg)
{
	struct store_event ev;
	char body[64];

	snprintf(body, sizeof(body), "{\"id\":\"%s\"}", id);
	fill_event(&ev, id, body);
	journal_submit(a->j, &ev, cb, arg);
	/* The journal copies: scribble over the caller's memory at once. */
	memset(body, 'x', sizeof(body) - 1);
}

static void
submit(struct answers *a, const char *id)
{
	submit_to(a, id, done_cb, a);
}

static void
done_cb(enum store_result r, void *arg)
{
	struct answers *a = arg;

	if (a->calls++ == 0) {
		a->pending_at_first = (long)journal_pending(a->j);
		a->first_us = util_mono_us();
	}
	if (r == STORE_STORED)
		a->stored++;
	else if (r == STORE_DUPLICATE)
		a->duplicate++;
	else
		a->error++;
	if (a->resubmit) {
		a->resubmit = 0;
		a->want++;
		submit(a, "from-callback");
	}
	if (a->calls == a->want)
		event_base_loopbreak(a->base);
}

/* An op: counts its runs (read on the loop after its answer, which the journal's mutex orders). */
static int
count_op(struct store *st, void *arg)
{
	struct answers *a = arg;

	a->ops_run++;
	a->op_durable = store_durable(st);
	return 0;
}

/* One submission's own answer, also counted in its round. */
struct answer_of {
	struct answers *a;
	enum store_result r;
	int runs;		/* of its op, in the writer thread */
};

static void
answer_of_cb(enum store_result r, void *arg)
{
	struct answer_of *o = arg;

	o->r = r;
	done_cb(r, o->a);
}

/*
 * An op that writes a value, then fails on an SQLite error (a NOT NULL
 * constraint): its write must not be committed.
 */
static int
failing_op(struct store *st, void *arg)
{
	(void)arg;
	if (store_put_value(st, "prod", "written-by-a-failed-op", "1") == -1)
		return -1;
	store_add_incident_grant(st, NULL, NULL, NULL, 0);
	return -1;
}

/* An op that writes a value and counts its runs (arg: its answer_of). */
static int
counted_op(struct store *st, void *arg)
{
	struct answer_of *o = arg;

	o->runs++;
	return store_put_value(st, "prod", "written-before-a-failed-op", "1");
}

/* An op after which the whole transaction is gone, as SQLite does on a full disk. */
static int
losing_op(struct store *st, void *arg)
{
	(void)arg;
	store_rollback(st);
	return -1;
}

/* An op that writes a value and succeeds. */
static int
writing_op(struct store *st, void *arg)
{
	(void)arg;
	return store_put_value(st, "prod", "written-by-an-op", "1");
}

/* The answers of a fresh round of want submissions. */
static void
new_round(struct answers *a, int want)
{
	memset(&a->stored, 0, sizeof(int) * 4);
	a->want = want;
	a->pending_at_first = -1;
	a->first_us = 0;
}

static void
test_hold(struct answers *a)
{
	char id[32];
	int i;

	new_round(a, 20);
	journal_hold(a->j);
	for (i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "held-%d", i);
		submit(a, id);
		/* Time enough for a writer handed the first 10 by count to take them. */
		if (i == 9)
			usleep(50000);
	}
	journal_release(a->j);
	event_base_dispatch(a->base);
	TAP_OK(a->calls == 20 && a->stored == 20, "held: all 20 stored");
	TAP_OK(a->pending_at_first == 0,
	    "held: the 20 share one commit (pending at the first answer: %ld)", a->pending_at_first);
}

static void
test_ops(struct answers *a)
{
	int64_t start;

	new_round(a, 1);
	a->ops_run = 0;
	start = util_mono_us();
	journal_submit_op(a->j, count_op, done_cb, a);
	event_base_dispatch(a->base);
	TAP_OK(a->calls == 1 && a->stored == 1 && a->ops_run == 1, "an op alone is run and answered");
	TAP_OK(a->first_us - start >= 4000, "an op alone waits for company first (%lld us)",
	    (long long)(a->first_us - start));
	TAP_OK(a->op_durable == 0, "an op alone is committed without an fsync");

	/* A durable op alone: committed with one, and the next op alone without again. */
	new_round(a, 1);
	journal_submit_durable_op(a->j, count_op, done_cb, a);
	event_base_dispatch(a->base);
	TAP_OK(a->calls == 1 && a->stored == 1 && a->op_durable == 1,
	    "a durable op alone is committed with an fsync");
	new_round(a, 1);
	journal_submit_op(a->j, count_op, done_cb, a);
	event_base_dispatch(a->base);
	TAP_OK(a->calls == 1 && a->op_durable == 0, "then an op alone is relaxed again");

	/* An event coming after it takes it along. */
	new_round(a, 2);
	a->ops_run = 0;
	journal_submit_op(a->j, count_op, done_cb, a);
	submit(a, "after-an-op");
	event_base_dispatch(a->base);
	TAP_OK(a->calls == 2 && a->stored == 2 && a->ops_run == 1,
	    "an op and an event after it: both committed and answered");
}

/* 1 when app "prod" has a value for key in the store. */
static int
has_value(struct store *st, const char *key)
{
	char *v = NULL;
	int rc = store_get_value(st, "prod", key, &v);

	free(v);
	return rc == 1;
}

/* rekey_store_writes_undone_total as /metrics shows it (0 before the first). */
static long
undone_total(void)
{
	const char *name = "\nrekey_store_writes_undone_total ";
	struct evbuffer *out = evbuffer_new();
	char *text, *at;
	long n = 0;

	metrics_render(out);
	evbuffer_add(out, "", 1);
	text = (char *)evbuffer_pullup(out, -1);
	if ((at = strstr(text, name)) != NULL)
		n = strtol(at + strlen(name), NULL, 10);
	evbuffer_free(out);
	return n;
}

/* A submission's answer_of, fresh. */
#define FRESH(a) { (a), -1, 0 }

/* Ops that fail among events and other ops, each batch held together. */
static void
test_failing_op(struct answers *a, struct store *check)
{
	struct answer_of ans[5] = { FRESH(a), FRESH(a), FRESH(a), FRESH(a), FRESH(a) };
	struct answer_of lost[3] = { FRESH(a), FRESH(a), FRESH(a) };
	int64_t before = store_count_events(check, "nylas");
	long undone = undone_total();

	new_round(a, 5);
	journal_hold(a->j);
	submit_to(a, "before-a-failed-op", answer_of_cb, &ans[0]);
	journal_submit_op(a->j, counted_op, answer_of_cb, &ans[1]);
	journal_submit_op(a->j, failing_op, answer_of_cb, &ans[2]);
	submit_to(a, "after-a-failed-op", answer_of_cb, &ans[3]);
	journal_submit_durable_op(a->j, writing_op, answer_of_cb, &ans[4]);
	journal_release(a->j);
	event_base_dispatch(a->base);
	TAP_OK(a->calls == 5 && ans[2].r == STORE_ERROR, "a failing op hears an error");
	TAP_OK(ans[0].r == STORE_STORED && ans[1].r == STORE_STORED && ans[3].r == STORE_STORED &&
	    ans[4].r == STORE_STORED, "the events and other ops of its batch are stored (%d %d %d %d)",
	    ans[0].r, ans[1].r, ans[3].r, ans[4].r);
	TAP_OK(store_count_events(check, "nylas") == before + 2,
	    "both events of its batch are in the store");
	TAP_OK(has_value(check, "written-before-a-failed-op") && has_value(check, "written-by-an-op"),
	    "the writes of the ops before and after it are in the store");
	TAP_OK(!has_value(check, "written-by-a-failed-op"), "what the failing op wrote is not");
	TAP_OK(ans[1].runs == 2, "the op before it ran again with the batch (%d runs)", ans[1].runs);
	TAP_OK(undone_total() == undone + 1, "rekey_store_writes_undone_total counts it");

	/* An op after which the store has lost the whole transaction. */
	new_round(a, 3);
	journal_hold(a->j);
	submit_to(a, "before-a-lost-transaction", answer_of_cb, &lost[0]);
	journal_submit_op(a->j, losing_op, answer_of_cb, &lost[1]);
	submit_to(a, "after-a-lost-transaction", answer_of_cb, &lost[2]);
	journal_release(a->j);
	event_base_dispatch(a->base);
	TAP_OK(a->calls == 3 && lost[1].r == STORE_ERROR && lost[0].r == STORE_STORED &&
	    lost[2].r == STORE_STORED, "a lost transaction: its batch is written again without the op"
	    " (%d %d %d)", lost[0].r, lost[1].r, lost[2].r);
	TAP_OK(store_count_events(check, "nylas") == before + 4, "and both its events are stored");
}

/*
 * An op whose write fails on the server (a NOT NULL constraint) where the
 * writer pipelines (PostgreSQL): the call only sent it and said 0, and the
 * failure shows when the journal settles the op.  runs counts the calls
 * that said 0 (with SQLite the call itself fails).
 */
static int
deferred_failing_op(struct store *st, void *arg)
{
	struct answer_of *o = arg;

	if (store_put_value(st, NULL, "written-by-a-deferred-failure", "1") == -1)
		return -1;
	o->runs++;
	return 0;
}

/* The same, then a read in the same op: the read fails for it. */
static int
deferred_then_read_op(struct store *st, void *arg)
{
	char *v = NULL;
	int rc;

	(void)arg;
	if (store_put_value(st, NULL, "written-before-a-read", "1") == -1 ||
	    store_put_value(st, "prod", "written-after-a-deferred-failure", "1") == -1)
		return -1;
	rc = store_get_value(st, "prod", "written-before-a-failed-op", &v);
	free(v);
	return rc == -1 ? -1 : 0;
}

/*
 * Ops whose writes fail only where the writer waits for them (the
 * pipeline's sync point after each op, or a read): each is left out alone,
 * and its batch's events and other ops are committed.
 */
static void
test_deferred_failure(struct answers *a, struct store *check, int pg)
{
	struct answer_of ans[6] = { FRESH(a), FRESH(a), FRESH(a), FRESH(a), FRESH(a), FRESH(a) };
	int64_t before = store_count_events(check, "nylas");
	long undone = undone_total();

	new_round(a, 6);
	journal_hold(a->j);
	submit_to(a, "before-a-deferred-failure", answer_of_cb, &ans[0]);
	journal_submit_op(a->j, deferred_failing_op, answer_of_cb, &ans[1]);
	journal_submit_op(a->j, writing_op, answer_of_cb, &ans[2]);
	journal_submit_op(a->j, deferred_then_read_op, answer_of_cb, &ans[3]);
	submit_to(a, "after-a-deferred-failure", answer_of_cb, &ans[4]);
	journal_submit_op(a->j, counted_op, answer_of_cb, &ans[5]);
	journal_release(a->j);
	event_base_dispatch(a->base);
	TAP_OK(a->calls == 6 && ans[1].r == STORE_ERROR && ans[3].r == STORE_ERROR,
	    "ops whose sent writes fail hear an error (%d %d)", ans[1].r, ans[3].r);
	TAP_OK(!pg || ans[1].runs > 0, "pg: the failing write was only sent: the op said 0 (%d runs)",
	    ans[1].runs);
	TAP_OK(ans[0].r == STORE_STORED && ans[2].r == STORE_STORED && ans[4].r == STORE_STORED &&
	    ans[5].r == STORE_STORED, "the events and other ops of their batch are stored"
	    " (%d %d %d %d)", ans[0].r, ans[2].r, ans[4].r, ans[5].r);
	TAP_OK(store_count_events(check, "nylas") == before + 2,
	    "both events of their batch are in the store");
	TAP_OK(!has_value(check, "written-after-a-deferred-failure"),
	    "what a failed op wrote beside the failure is not");
	TAP_OK(undone_total() == undone + 2, "rekey_store_writes_undone_total counts both");
}

#define ATTACHED_EVENTS 200

/* Another loop, on its own thread, with its own handle. */
struct other_loop {
	struct journal *root;
	struct answers a;
	pthread_t thread, self;		/* self: as the thread itself sees it */
	int wrong_thread;
};

static void
other_done_cb(enum store_result r, void *arg)
{
	struct other_loop *o = arg;

	if (!pthread_equal(pthread_self(), o->self))
		o->wrong_thread++;
	if (r == STORE_STORED)
		o->a.stored++;
	if (++o->a.calls == o->a.want)
		event_base_loopbreak(o->a.base);
}

static void *
other_main(void *arg)
{
	struct other_loop *o = arg;
	char id[32];
	int i;

	o->self = pthread_self();
	o->a.base = event_base_new();
	event_base_priority_init(o->a.base, 3);
	o->a.j = journal_attach(o->root, o->a.base);
	o->a.want = ATTACHED_EVENTS;
	for (i = 0; i < ATTACHED_EVENTS; i++) {
		snprintf(id, sizeof(id), "other-%d", i);
		submit_to(&o->a, id, other_done_cb, o);
	}
	event_base_dispatch(o->a.base);
	journal_free(o->a.j);
	event_base_free(o->a.base);
	return NULL;
}

/* Both loops submit at once; each hears its own, on its own thread. */
static void
test_attached(struct answers *a, struct store *check)
{
	struct other_loop o;
	int64_t before = store_count_events(check, "nylas");
	char id[32];
	int i;

	memset(&o, 0, sizeof(o));
	o.root = a->j;
	memset(&a->stored, 0, sizeof(int) * 4);
	a->want = 50;
	pthread_create(&o.thread, NULL, other_main, &o);
	for (i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "main-%d", i);
		submit(a, id);
	}
	event_base_dispatch(a->base);
	pthread_join(o.thread, NULL);
	TAP_OK(o.a.calls == ATTACHED_EVENTS && o.a.stored == ATTACHED_EVENTS,
	    "an attached handle's %d events are answered stored (%d)", ATTACHED_EVENTS,
	    o.a.stored);
	TAP_OK(o.wrong_thread == 0, "each on the attached loop's thread");
	TAP_OK(a->calls == 50 && a->stored == 50, "the first handle's own 50 meanwhile (%d)",
	    a->stored);
	TAP_OK(store_count_events(check, "nylas") == before + ATTACHED_EVENTS + 50,
	    "all of them committed");
}

int
main(void)
{
	char dir[] = "/tmp/rekey-journal-XXXXXX", url[512], id[32], *err = NULL;
	const char *env = getenv("REKEY_TEST_STORE_URL");
	struct event_base *base;
	struct answers a;
	struct store *check;
	int i;

	if (mkdtemp(dir) == NULL)
		return 1;
	if (env != NULL && strncmp(env, "postgres", 8) == 0)
		snprintf(url, sizeof(url), "%s", env);
	else
		snprintf(url, sizeof(url), "sqlite:%s/j.db", dir);
	base = event_base_new();
	event_base_priority_init(base, 3);
	memset(&a, 0, sizeof(a));
	a.base = base;
	a.j = journal_new(base, url, &err);
	TAP_OK(a.j != NULL, "journal opens its own store connection");

	/* 300 distinct events and 50 repeats, some repeated within the same batch. */
	a.want = N_EVENTS + 50;
	a.resubmit = 1;
	for (i = 0; i < N_EVENTS; i++) {
		snprintf(id, sizeof(id), "evt-%d", i);
		submit(&a, id);
		if (i % 6 == 0) {
			submit(&a, id);
		}
	}
	TAP_OK(journal_pending(a.j) == (size_t)a.want, "all %d are pending before the loop runs", a.want);
	TAP_OK(a.calls == 0, "nobody is answered before a commit");
	event_base_dispatch(base);
	TAP_OK(a.calls == a.want, "every submitter answered once (%d of %d)", a.calls, a.want);
	TAP_OK(a.stored == N_EVENTS + 1, "distinct events stored (%d)", a.stored);
	TAP_OK(a.duplicate == 50, "repeats answered duplicate (%d)", a.duplicate);
	TAP_OK(a.error == 0, "no errors");
	TAP_OK(journal_pending(a.j) == 0, "nothing pending afterwards");

	test_hold(&a);
	test_ops(&a);
	check = store_open(url, &err);
	TAP_OK(check != NULL && store_count_events(check, "nylas") == N_EVENTS + 22,
	    "another connection sees every committed event");
	test_failing_op(&a, check);
	test_deferred_failure(&a, check, strncmp(url, "postgres", 8) == 0);
	test_attached(&a, check);

	/* journal_free answers what is still pending, after committing it. */
	memset(&a.stored, 0, sizeof(int) * 4);
	a.want = 1000;		/* never reached: no loopbreak needed */
	submit(&a, "at-exit-1");
	submit(&a, "at-exit-2");
	journal_free(a.j);
	TAP_OK(a.calls == 2 && a.stored == 2, "journal_free commits and answers the pending ones");
	TAP_OK(store_count_events(check, "nylas") == N_EVENTS + 30 + ATTACHED_EVENTS + 50,
	    "and they are in the store");

	a.j = journal_new(base, "sqlite:", &err);
	TAP_OK(a.j == NULL && err != NULL, "a bad store url is an error: %s", err ? err : "");
	free(err);
	store_close(check);
	event_base_free(base);
	{
		char cmd[160];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			return 1;
	}
	return tap_done();
}
