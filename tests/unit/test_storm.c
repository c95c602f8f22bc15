/*
 * storm: the journal writer's side of a storm permit, against a real store
 * (SQLite, or the PostgreSQL database named by REKEY_TEST_STORE_URL): which
 * events a permit covers, what is stored for them, what stops it, and what
 * the correlator takes back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "lib/util.h"
#include "state/incident.h"
#include "state/storm.h"
#include "state/store.h"

#define W(s) ((char *)(s))
#define RUN_MAX 8

static int run_n;	/* events made so far: distinct ids */

static struct store_event
event(const char *app, const char *type, const char *grant)
{
	static char ids[64][32];
	struct store_event ev;

	memset(&ev, 0, sizeof(ev));
	snprintf(ids[run_n % 64], sizeof(ids[0]), "evt-%d", run_n);
	run_n++;
	ev.source = "nylas";
	ev.app = app;
	ev.event_id = ids[(run_n - 1) % 64];
	ev.type = type;
	ev.received_ms = util_now_ms();
	ev.grant_id = grant;
	ev.email = "user@example.com";
	ev.provider = "microsoft";
	ev.code = ev.reauth_flag = ev.event_time = ev.grant_updated_at = -1;
	ev.body = "{}";
	ev.body_len = 2;
	return ev;
}

/* One writer run of evs, as journal.c's write_events does it; 0 or -1. */
static int
run(struct storm *s, struct store *st, struct store_event *evs, size_t n,
    struct storm_mark *marks, enum store_result *results)
{
	struct store_event *p[RUN_MAX];
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		p[i] = &evs[i];
	if (store_begin(st) == -1)
		return -1;
	rc = storm_plan(s, st, p, n, marks);
	if (rc == 0)
		rc = store_add_events(st, (const struct store_event *const *)p, n, results);
	if (rc == 0)
		rc = storm_list(st, p, n, results, marks);
	if (rc == 0 && store_commit(st) == 0) {
		for (i = 0; i < n; i++)
			storm_settled(s, &evs[i], &marks[i]);
		return 0;
	}
	store_rollback(st);
	return -1;
}

static int64_t
count(struct store *st, const char *result)
{
	return store_count_results(st, "nylas", result);
}

static void
put_incident(struct store *st, const char *id, const char *state)
{
	struct store_incident inc = { .id = W(id), .app = W("prod"), .cause = W("secret_expired"),
	    .state = W(state), .evidence = W("[]"), .opened_at = 1, .updated_at = 1 };

	TAP_OK(store_put_incident(st, &inc) == 0, "incident %s put (%s)", id, state);
}

/* Marks every unprocessed event processed, as the correlator would. */
static void
drain(struct store *st)
{
	struct store_pending *p = NULL;
	size_t n = 0, i;

	if (store_unprocessed(st, "nylas", 0, 1000, 0, &p, &n) == 0)
		for (i = 0; i < n; i++)
			store_mark_processed(st, p[i].id, "ignored");
	store_pending_free(p, n);
}

int
main(void)
{
	char dir[] = "/tmp/rekey-storm-XXXXXX", url[512], *err = NULL;
	const char *env = getenv("REKEY_TEST_STORE_URL");
	struct storm *s = storm_new();
	struct store_event evs[RUN_MAX];
	struct storm_mark marks[RUN_MAX];
	enum store_result results[RUN_MAX];
	struct store_incident got;
	struct incident_burst burst;
	struct store_rotation r;
	struct store *st;
	int64_t far = util_now_ms() + 60000;

	if (mkdtemp(dir) == NULL)
		return 1;
	if (env != NULL && strncmp(env, "postgres", 8) == 0)
		snprintf(url, sizeof(url), "%s", env);
	else
		snprintf(url, sizeof(url), "sqlite:%s/s.db", dir);
	st = store_open(url, &err);
	TAP_OK(st != NULL, "store opens (%s)", err ? err : "ok");
	if (st == NULL)
		return tap_done();
	put_incident(st, "inc-1", "open");

	/* No permit: nothing is settled, every event waits for the correlator. */
	evs[0] = event("prod", "grant.expired", "g1");
	TAP_OK(run(s, st, evs, 1, marks, results) == 0 && marks[0].incident[0] == '\0' &&
	    results[0] == STORE_STORED && evs[0].result == NULL, "no permit: stored unprocessed");
	drain(st);

	/* A permit: grant.expired of Microsoft grants are stored processed and listed. */
	storm_grant(s, "prod", "inc-1", far);
	evs[0] = event("prod", "grant.expired", "g1");
	evs[1] = event("prod", "grant.expired", "g2");
	evs[2] = event("prod", "grant.expired", "g1");
	evs[3] = event("other", "grant.expired", "g9");
	TAP_OK(run(s, st, evs, 4, marks, results) == 0, "a run under a permit");
	TAP_OK(strcmp(marks[0].incident, "inc-1") == 0 && marks[0].listed &&
	    strcmp(marks[1].incident, "inc-1") == 0 && marks[1].listed,
	    "two new grants listed in the permit's incident");
	TAP_OK(strcmp(marks[2].incident, "inc-1") == 0 && !marks[2].listed,
	    "a grant listed before: settled as already listed");
	TAP_OK(marks[3].incident[0] == '\0', "another app without a permit: not settled");
	TAP_OK(count(st, "incident") == 2 && count(st, "already_listed") == 1,
	    "the store has their results (2 incident, 1 already_listed)");
	TAP_OK(store_get_incident(st, "inc-1", &got) == 1 && got.affected == 2,
	    "the incident counts 2 affected grants (%lld)", (long long)got.affected);
	store_incident_clear(&got);
	drain(st);

	/* An event the permit does not cover stops the app's run there (order). */
	evs[0] = event("prod", "grant.expired", "g3");
	evs[1] = event("prod", "grant.created", "g3");
	evs[2] = event("prod", "grant.expired", "g4");
	evs[3] = event("prod", "grant.expired", "g5");
	evs[3].provider = "google";
	TAP_OK(run(s, st, evs, 3, marks, results) == 0 && marks[0].incident[0] != '\0' &&
	    marks[1].incident[0] == '\0' && marks[2].incident[0] == '\0',
	    "a recovery in the run: the events after it go to the correlator too");
	evs[3] = event("prod", "grant.expired", "g5");
	TAP_OK(run(s, st, evs + 3, 1, marks, results) == 0 && marks[0].incident[0] == '\0',
	    "a recovery of the app waits for the correlator: nothing settled meanwhile");
	drain(st);
	/* Only grant.expired wait (a backlog the correlator reads): they hold nothing back. */
	storm_revoke(s, "prod");
	evs[0] = event("prod", "grant.expired", "g20");
	evs[1] = event("prod", "grant.expired", "g21");
	TAP_OK(run(s, st, evs, 2, marks, results) == 0 && marks[0].incident[0] == '\0' &&
	    marks[1].incident[0] == '\0', "without a permit: left to the correlator");
	storm_grant(s, "prod", "inc-1", far);
	evs[0] = event("prod", "grant.expired", "g22");
	TAP_OK(run(s, st, evs, 1, marks, results) == 0 && marks[0].incident[0] != '\0' &&
	    marks[0].listed, "a backlog of grant.expired for the correlator: settled all the same");
	evs[0] = event("prod", "grant.deleted", "g21");
	evs[1] = event("prod", "grant.expired", "g23");
	TAP_OK(run(s, st, evs, 1, marks, results) == 0 &&
	    run(s, st, evs + 1, 1, marks + 1, results + 1) == 0 &&
	    marks[1].incident[0] == '\0', "but another event of the app waiting: not settled");
	drain(st);
	evs[0] = event("prod", "grant.expired", "g5");
	evs[0].provider = "google";
	TAP_OK(run(s, st, evs, 1, marks, results) == 0 && marks[0].incident[0] == '\0',
	    "a Google grant's grant.expired: not covered");
	drain(st);
	evs[0] = event("prod", "grant.expired", "");
	TAP_OK(run(s, st, evs, 1, marks, results) == 0 && marks[0].incident[0] == '\0',
	    "a grant.expired without a grant id: not covered");
	drain(st);

	/* A duplicate delivery of a settled event is a duplicate, listed nowhere again. */
	evs[0] = event("prod", "grant.expired", "g6");
	evs[1] = evs[0];
	TAP_OK(run(s, st, evs, 2, marks, results) == 0 && results[0] == STORE_STORED &&
	    results[1] == STORE_DUPLICATE && marks[0].listed && marks[1].incident[0] == '\0',
	    "the same event twice in a run: stored and settled once");

	/* A rotation watching its new secret: the correlator counts expiries, so no permit. */
	memset(&r, 0, sizeof(r));
	r.id = W("rot-1");
	r.app = W("prod");
	r.state = W("watching");
	r.reason = W("incident");
	r.created_at = r.updated_at = util_now_ms();
	r.published_at = util_now_ms();
	TAP_OK(store_put_rotation(st, &r) == 0, "a rotation watches");
	evs[0] = event("prod", "grant.expired", "g7");
	TAP_OK(run(s, st, evs, 1, marks, results) == 0 && marks[0].incident[0] == '\0',
	    "while a rotation watches: not settled");
	drain(st);
	r.state = W("retiring");
	TAP_OK(store_put_rotation(st, &r) == 0, "the rotation moves on");
	evs[0] = event("prod", "grant.expired", "g8");
	TAP_OK(run(s, st, evs, 1, marks, results) == 0 && marks[0].incident[0] != '\0',
	    "once it no longer watches: settled again");

	/* The incident resolved (by an operator, say): the store's word wins over the permit. */
	put_incident(st, "inc-1", "resolved");
	evs[0] = event("prod", "grant.expired", "g10");
	TAP_OK(run(s, st, evs, 1, marks, results) == 0 && marks[0].incident[0] == '\0',
	    "a resolved incident: not settled");
	drain(st);
	put_incident(st, "inc-1", "open");

	/* A permit past its time, or revoked, covers nothing. */
	storm_grant(s, "prod", "inc-1", util_now_ms() - 1);
	evs[0] = event("prod", "grant.expired", "g11");
	TAP_OK(run(s, st, evs, 1, marks, results) == 0 && marks[0].incident[0] == '\0',
	    "a permit past its time: not settled");
	drain(st);
	storm_grant(s, "prod", "inc-1", far);
	storm_revoke(s, NULL);
	evs[0] = event("prod", "grant.expired", "g12");
	TAP_OK(run(s, st, evs, 1, marks, results) == 0 && marks[0].incident[0] == '\0',
	    "a revoked permit: not settled");
	drain(st);

	/* What the correlator takes back: the settled grants, for its burst rule. */
	memset(&burst, 0, sizeof(burst));
	TAP_OK(storm_take(s, "prod", &burst) == 7 && burst.n == INCIDENT_BURST_MIN,
	    "take: 7 settled, the last %d distinct grants in the burst (%zu)", INCIDENT_BURST_MIN,
	    burst.n);
	TAP_OK(strcmp(burst.grant[burst.n - 1], "g8") == 0, "newest last (%s)",
	    burst.grant[burst.n - 1]);
	TAP_OK(storm_take(s, "prod", &burst) == 0, "taken once");
	TAP_OK(storm_take(s, "nobody", &burst) == 0, "an app never seen: nothing");

	store_close(st);
	storm_free(s);
	free(err);
	return tap_done();
}
