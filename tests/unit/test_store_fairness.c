/*
 * store_sqlite: a connection waiting for the write lock gets it while
 * another commits and begins again back to back, as the journal's writer
 * does during a storm.  SQLite's lock has no queue; without sqlite_begin
 * giving way, the waiter slept through every short gap between the other's
 * transactions until its busy timeout (5 s) and failed.
 */
#include "lib/util.h"
#include "state/store.h"
#include "tap.h"
#include "tmpdir.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long the hog holds each transaction, and the waiter's transactions. */
#define HOLD_US 2000
#define WAITS 20
/* A wait this long means the waiter found no gap (a pause and a hold are about 3 ms). */
#define WAIT_MAX_MS 250

static atomic_int stop;

struct hog {
	struct store *st;
	long commits;
	int failed;
};

static void
add_one(struct store *st, const char *prefix, long n, int *failed)
{
	struct store_event ev;
	char id[64];

	memset(&ev, 0, sizeof(ev));
	snprintf(id, sizeof(id), "%s-%ld", prefix, n);
	ev.source = "nylas";
	ev.app = "prod";
	ev.event_id = id;
	ev.type = "grant.expired";
	ev.received_ms = util_now_ms();
	ev.code = ev.reauth_flag = ev.event_time = ev.grant_updated_at = -1;
	ev.body = "{}";
	ev.body_len = 2;
	if (store_add_event(st, &ev) != STORE_STORED)
		*failed = 1;
}

/* Write transactions back to back, each held HOLD_US, until told to stop. */
static void *
hog_main(void *arg)
{
	struct hog *h = arg;
	struct timespec hold = { 0, HOLD_US * 1000L };

	while (!atomic_load(&stop)) {
		if (store_begin(h->st) == -1) {
			h->failed = 1;
			continue;
		}
		add_one(h->st, "hog", h->commits, &h->failed);
		nanosleep(&hold, NULL);
		if (store_commit(h->st) == -1)
			h->failed = 1;
		h->commits++;
	}
	return NULL;
}

int
main(void)
{
	char dir[] = "/tmp/rekey-fair-XXXXXX", url[700], path[600], *err = NULL;
	struct store *waiter;
	struct hog h = { 0 };
	pthread_t t;
	int64_t t0, waited_ms, worst_ms = 0;
	int i, failed = 0, slow = 0;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/rekey.db", dir);
	snprintf(url, sizeof(url), "sqlite:%s", path);
	h.st = store_open(url, &err);
	waiter = h.st != NULL ? store_open(url, &err) : NULL;
	TAP_OK(h.st != NULL && waiter != NULL, "two connections to one store (%s)", err ? err : "ok");
	if (waiter == NULL)
		return tap_done();
	TAP_OK(pthread_create(&t, NULL, hog_main, &h) == 0, "a thread commits back to back");
	usleep(50 * 1000);

	for (i = 0; i < WAITS; i++) {
		t0 = util_mono_us();
		if (store_begin(waiter) == -1) {
			failed++;
			continue;
		}
		waited_ms = (util_mono_us() - t0) / 1000;
		add_one(waiter, "waiter", i, &failed);
		if (store_commit(waiter) == -1)
			failed++;
		if (waited_ms > worst_ms)
			worst_ms = waited_ms;
		if (waited_ms > WAIT_MAX_MS)
			slow++;
		usleep(5 * 1000);
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);

	TAP_OK(failed == 0, "all %d write transactions of the other connection committed (%d failed)",
	    WAITS, failed);
	TAP_OK(slow == 0, "each had the lock within %d ms (%d did not; the longest wait %lld ms)",
	    WAIT_MAX_MS, slow, (long long)worst_ms);
	TAP_OK(h.failed == 0 && h.commits > WAITS, "and the busy thread went on committing (%ld)",
	    h.commits);
	TAP_OK(store_count_events(waiter, "nylas") == WAITS + h.commits,
	    "every event of both is stored once");
	store_close(waiter);
	store_close(h.st);
	free(err);
	tmpdir_remove(dir);
	return tap_done();
}
