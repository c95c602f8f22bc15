/*
 * Unit tests: the journal's group commit on its writer thread.  Every
 * submitter hears exactly once, after its batch committed; duplicates (also
 * inside one batch) are stored once; events submitted from inside a callback
 * go into the next batch; journal_free answers what is still pending.
 */
#include "journal.h"
#include "store.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#define N_EVENTS 300

struct answers {
	int stored, duplicate, error, calls;
	struct journal *j;
	int resubmit;		/* submit one more event from inside the first callback */
	struct event_base *base;
	int want;
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
submit(struct answers *a, const char *id)
{
	struct store_event ev;
	char body[64];

	snprintf(body, sizeof(body), "{\"id\":\"%s\"}", id);
	fill_event(&ev, id, body);
	journal_submit(a->j, &ev, done_cb, a);
	/* The journal copies: scribble over the caller's memory at once. */
	memset(body, 'x', sizeof(body) - 1);
}

static void
done_cb(enum store_result r, void *arg)
{
	struct answers *a = arg;

	a->calls++;
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

int
main(void)
{
	char dir[] = "/tmp/rekey-journal-XXXXXX", url[128], id[32], *err = NULL;
	struct event_base *base;
	struct answers a;
	struct store *check;
	int i;

	if (mkdtemp(dir) == NULL)
		return 1;
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

	check = store_open(url, &err);
	TAP_OK(check != NULL && store_count_events(check, "nylas") == N_EVENTS + 1,
	    "another connection sees every committed event");

	/* journal_free answers what is still pending, after committing it. */
	memset(&a.stored, 0, sizeof(int) * 4);
	a.want = 1000;		/* never reached: no loopbreak needed */
	submit(&a, "at-exit-1");
	submit(&a, "at-exit-2");
	journal_free(a.j);
	TAP_OK(a.calls == 2 && a.stored == 2, "journal_free commits and answers the pending ones");
	TAP_OK(store_count_events(check, "nylas") == N_EVENTS + 3, "and they are in the store");

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
