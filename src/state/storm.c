/*
 * storm: permits for the journal's writer to settle a storm's
 * grant.expired.  See storm.h.
 */
#include "state/storm.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "state/incident.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct permit {
	char *app;
	char incident[STORM_ID_MAX];
	int64_t until_ms;		/* 0: revoked */
	struct incident_burst settled;	/* the last grants settled, for storm_take */
	size_t n_settled;
};

struct storm {
	pthread_mutex_t mu;
	struct permit *v;
	size_t n;
};

struct storm *
storm_new(void)
{
	struct storm *s = xcalloc(1, sizeof(*s));

	pthread_mutex_init(&s->mu, NULL);
	return s;
}

void
storm_free(struct storm *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++)
		free(s->v[i].app);
	free(s->v);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* app's entry, added when missing and add is set; under mu. */
static struct permit *
find(struct storm *s, const char *app, int add)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i].app, app) == 0)
			return &s->v[i];
	if (!add)
		return NULL;
	s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
	memset(&s->v[s->n], 0, sizeof(s->v[s->n]));
	s->v[s->n].app = xstrdup(app);
	return &s->v[s->n++];
}

void
storm_grant(struct storm *s, const char *app, const char *incident_id, int64_t until_ms)
{
	struct permit *p;

	pthread_mutex_lock(&s->mu);
	p = find(s, app, 1);
	util_strlcpy(p->incident, incident_id, sizeof(p->incident));
	p->until_ms = until_ms;
	pthread_mutex_unlock(&s->mu);
}

void
storm_revoke(struct storm *s, const char *app)
{
	size_t i;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->n; i++)
		if (app == NULL || strcmp(s->v[i].app, app) == 0)
			s->v[i].until_ms = 0;
	pthread_mutex_unlock(&s->mu);
}

size_t
storm_take(struct storm *s, const char *app, struct incident_burst *b)
{
	struct permit *p;
	size_t i, n = 0;

	pthread_mutex_lock(&s->mu);
	p = find(s, app, 0);
	if (p != NULL) {
		for (i = 0; i < p->settled.n; i++)
			incident_burst_add(b, p->settled.grant[i], p->settled.at_ms[i]);
		n = p->n_settled;
		memset(&p->settled, 0, sizeof(p->settled));
		p->n_settled = 0;
	}
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* The permit's incident for app into id, 1; 0 when it has none in force. */
static int
permit_of(struct storm *s, const char *app, int64_t now_ms, char *id)
{
	struct permit *p;
	int ok = 0;

	pthread_mutex_lock(&s->mu);
	p = find(s, app, 0);
	if (p != NULL && p->until_ms > now_ms) {
		memcpy(id, p->incident, STORM_ID_MAX);
		ok = 1;
	}
	pthread_mutex_unlock(&s->mu);
	return ok;
}

/* What a permit may cover: a Microsoft grant's grant.expired (what the correlator would list). */
static int
coverable(const struct store_event *ev)
{
	return strcmp(ev->type, "grant.expired") == 0 && ev->provider != NULL &&
	    strcasecmp(ev->provider, "microsoft") == 0 && ev->grant_id != NULL &&
	    *ev->grant_id != '\0';
}

/* One app's standing within a run: its incident, or stopped. */
struct run_app {
	const char *app;
	int stopped;			/* an event of it goes to the correlator: the rest follow */
	char incident[STORM_ID_MAX];
};

/* The run's entry for app (the run has at most n apps); NULL only when full. */
static struct run_app *
run_app(struct run_app *apps, size_t *n_apps, const char *app)
{
	size_t i;

	for (i = 0; i < *n_apps; i++)
		if (strcmp(apps[i].app, app) == 0)
			return &apps[i];
	memset(&apps[*n_apps], 0, sizeof(apps[*n_apps]));
	apps[*n_apps].app = app;
	apps[*n_apps].stopped = -1;	/* not looked at yet */
	return &apps[(*n_apps)++];
}

/* Whether the permit of a (first seen) holds in the store; 0 or -1. */
static int
look_up(struct storm *s, struct store *st, struct run_app *a, int64_t now_ms)
{
	int ready;

	a->stopped = 1;
	if (!permit_of(s, a->app, now_ms, a->incident))
		return 0;
	ready = store_storm_ready(st, a->app, a->incident);
	if (ready == -1)
		return -1;
	a->stopped = !ready;
	return 0;
}

int
storm_plan(struct storm *s, struct store *st, struct store_event *const *evs, size_t n,
    struct storm_mark *marks)
{
	struct run_app *apps = xcalloc(n + 1, sizeof(*apps)), *a;
	int64_t now = util_now_ms();
	size_t n_apps = 0, i;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		marks[i].incident[0] = '\0';
		marks[i].listed = 0;
		evs[i]->result = NULL;
		if (strcmp(evs[i]->source, "nylas") != 0)
			continue;
		a = run_app(apps, &n_apps, evs[i]->app);
		if (a->stopped == -1 && coverable(evs[i]) && look_up(s, st, a, now) == -1)
			rc = -1;
		if (a->stopped != 0 || !coverable(evs[i])) {
			a->stopped = 1;
			continue;
		}
		memcpy(marks[i].incident, a->incident, STORM_ID_MAX);
		evs[i]->result = "incident";
		evs[i]->processed_ms = now;
	}
	free(apps);
	return rc;
}

int
storm_list(struct store *st, struct store_event *const *evs, size_t n,
    const enum store_result *results, struct storm_mark *marks)
{
	struct store_incident_grant *g = xcalloc(n + 1, sizeof(*g));
	enum store_result *r = xcalloc(n + 1, sizeof(*r));
	size_t *at = xcalloc(n + 1, sizeof(*at)), m = 0, i;
	int rc = 0;

	for (i = 0; i < n; i++) {
		if (marks[i].incident[0] == '\0')
			continue;
		if (results[i] != STORE_STORED) {
			marks[i].incident[0] = '\0';	/* stored before: processed then */
			continue;
		}
		g[m].incident_id = marks[i].incident;
		g[m].grant_id = evs[i]->grant_id;
		g[m].email = evs[i]->email;
		g[m].seen_ms = evs[i]->received_ms;
		at[m++] = i;
	}
	if (m > 0)
		rc = store_add_incident_grants(st, g, m, r);
	for (i = 0; rc == 0 && i < m; i++) {
		marks[at[i]].listed = r[i] != STORE_DUPLICATE;
		if (!marks[at[i]].listed)
			rc = store_set_event_result(st, "nylas", evs[at[i]]->app,
			    evs[at[i]]->event_id, "already_listed");
	}
	free(at);
	free(r);
	free(g);
	return rc;
}

void
storm_count(size_t listed, size_t already)
{
	if (listed > 0)
		metrics_counter_add("rekey_nylas_events_processed_total",
		    "Nylas events the correlator has finished, by result.", "result=\"incident\"",
		    (double)listed);
	if (already > 0)
		metrics_counter_add("rekey_nylas_events_processed_total",
		    "Nylas events the correlator has finished, by result.",
		    "result=\"already_listed\"", (double)already);
	if (listed + already > 0)
		metrics_counter_add("rekey_nylas_events_settled_at_intake_total", "grant.expired "
		    "of an app whose secret has expired, settled by the journal's writer under the "
		    "correlator's permit (state/storm.h) rather than read back by the correlator.", "",
		    (double)(listed + already));
}

void
storm_settled(struct storm *s, const struct store_event *ev, const struct storm_mark *m)
{
	struct permit *p;

	if (m->incident[0] == '\0')
		return;
	pthread_mutex_lock(&s->mu);
	p = find(s, ev->app, 1);
	incident_burst_add(&p->settled, ev->grant_id, ev->received_ms);
	p->n_settled++;
	pthread_mutex_unlock(&s->mu);
}
