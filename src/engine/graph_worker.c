#include "engine/graph_worker.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "outbound/graph.h"
#include "outbound/graph_tokens.h"
#include "outbound/jwks.h"
#include "proto/graph_notification.h"
#include "state/config.h"
#include "state/journal.h"
#include "state/runtime.h"
#include "state/store.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

/*
 * Events in flight at once (reading users from Graph, or waiting for their
 * commit).  A commit takes a few ms (its fsync) and a job waits for one: 64
 * held the worker to about 14,000 events a second behind a paced 20,000
 * (tests/bench/intake.sh's Graph phase), a backlog that only grew.
 */
#define JOBS_MAX 1024
/*
 * Jobs not yet waiting for their commit (reading a user from Graph, or
 * waiting to try again) at most: Graph's concurrency, as before jobs waiting
 * for a commit were let run by the thousand.
 */
#define ACTIVE_MAX 64
/*
 * Events started in one pass of the main loop.  A pass blocks it (reading
 * the events with their bodies and parsing them), so the rest is started in
 * the next pass, after the engines' timers and the admin routes that came
 * meanwhile; the webhooks have their own loops (intake/loops.c).
 */
#define RUN_SLICE 128
/* A look at the store now and then, in case a wake-up was missed (another replica, a restart). */
#define POLL_S 5
/* Waits after a failure that may pass (Graph throttling, Graph unreachable). */
#define RETRY_FIRST_S 2
#define RETRY_MAX_S 300
/* The path of a user notification's resource. */
#define USERS_PREFIX "Users/"

/* What the worker keeps per configured app. */
struct app_ctx {
	char *name;
	char *rotator_client_id;	/* the aud of validation tokens: the subscriber */
	char *tenant_id;
	struct graph_client *gc;	/* NULL without a rotator identity */
	struct jwks_cache *jwks;
};

/* One event being processed. */
struct job {
	struct graph_worker *w;		/* NULL once the worker is gone (see graph_worker_free) */
	struct job *next;		/* in the worker's list */
	struct store_pending ev;	/* owned */
	struct app_ctx *app;
	struct graph_batch batch;
	struct event *retry_ev;
	int retry_s;
	int committing;			/* an op is with the journal: only its callback frees the job */
	/* What the user step found: read on the loop, used by the op in the writer thread. */
	const char *user_id;		/* points into batch or user */
	struct graph_user user;
	int have_user;			/* 0: the user is gone */
	const char *how;
	/* What the op wrote, for the log and metrics (set in the writer thread). */
	const char *result;
	int found;
	char *email;
};

struct graph_worker {
	struct runtime *rt;
	struct store *store;		/* its own connection, for reading the queue */
	struct app_ctx **apps;
	size_t n_apps;
	struct event *timer;
	struct job *jobs;		/* in flight */
	size_t n_jobs;
	size_t n_committing;		/* of them, those whose op is with the journal */
	int64_t cursor;			/* highest event id taken */
	int rescan;			/* a commit failed: read the queue from the start again */
	int rescan_s;			/* the wait before that, doubling; 0 after a good commit */
	int64_t rescan_after_us;	/* monotonic: not before */
	int64_t from_start_us;		/* monotonic: when the cursor last went back to the start */
	int closing;
	/* Jobs done whose results wait for the one op of this pass (flush_cb). */
	struct job **marks;
	size_t n_marks, cap_marks;
	struct event *flush;
	graph_lifecycle_cb lifecycle_cb;
	void *lifecycle_arg;
};

static void run(struct graph_worker *w);
static void act(struct job *j);

/* ---- Evidence ---- */

/* 1 when t moved past prev, or, without a baseline, happened shortly before the notification. */
static int
moved_forward(int64_t t, int known, int64_t prev, int64_t received_s)
{
	if (t <= 0)
		return 0;
	if (known && prev > 0)
		return t > prev;
	return t >= received_s - GRAPH_WORKER_RECENT_S;
}

int
graph_user_evidence(const struct graph_user *u, int known, int prev_enabled, int prev_deleted,
    int64_t prev_sessions_from, int64_t prev_password_change, int64_t received_s)
{
	int found = 0;

	if (u == NULL)
		return known && prev_deleted ? 0 : GRAPH_EVIDENCE_DELETED;
	if (u->account_enabled == 0 && (!known || prev_enabled != 0))
		found |= GRAPH_EVIDENCE_DISABLED;
	if (moved_forward(u->sessions_valid_from, known, prev_sessions_from, received_s))
		found |= GRAPH_EVIDENCE_SESSIONS_REVOKED;
	if (moved_forward(u->last_password_change, known, prev_password_change, received_s))
		found |= GRAPH_EVIDENCE_PASSWORD_CHANGED;
	return found;
}

/* ---- Apps ---- */

static char *
jwks_url_of(const struct config_app *app)
{
	size_t n;

	if (app->graph_jwks_url != NULL && app->graph_jwks_url[0] != '\0')
		return xstrdup(app->graph_jwks_url);
	n = strlen(app->azure_login_base);
	while (n > 0 && app->azure_login_base[n - 1] == '/')
		n--;
	return xasprintf("%.*s/common/discovery/v2.0/keys", (int)n, app->azure_login_base);
}

static struct app_ctx *
app_new(struct graph_worker *w, struct http_client *hc, const struct config_app *app)
{
	struct app_ctx *a = xcalloc(1, sizeof(*a));
	char *url = jwks_url_of(app), *err = NULL;

	a->name = xstrdup(app->name);
	a->rotator_client_id = app->rotator_client_id ? xstrdup(app->rotator_client_id) : NULL;
	a->tenant_id = app->azure_tenant_id ? xstrdup(app->azure_tenant_id) : NULL;
	a->jwks = jwks_cache_new(w->rt->base, hc, url);
	jwks_cache_set_min_refresh(a->jwks, app->graph_jwks_refresh_min * 1000);
	free(url);
	if (app->rotator_client_id != NULL) {
		a->gc = graph_client_from_app(hc, app, &err);
		if (a->gc == NULL) {
			log_ctx(LOG_LEVEL_WARN, NULL, a->name, "user lookups off: %s", err);
			free(err);
		}
	}
	return a;
}

static void
app_free(struct app_ctx *a)
{
	if (a == NULL)
		return;
	graph_client_free(a->gc);
	jwks_cache_free(a->jwks);
	free(a->name);
	free(a->rotator_client_id);
	free(a->tenant_id);
	free(a);
}

static struct app_ctx *
find_app(struct graph_worker *w, const char *name)
{
	size_t i;

	for (i = 0; i < w->n_apps; i++)
		if (strcmp(w->apps[i]->name, name) == 0)
			return w->apps[i];
	return NULL;
}

/* ---- Finishing an event ---- */

static void
schedule(struct graph_worker *w, int seconds)
{
	struct timeval tv = { seconds, 0 };

	evtimer_add(w->timer, &tv);
}

static void
job_free(struct job *j)
{
	graph_batch_clear(&j->batch);
	graph_user_clear(&j->user);
	store_pending_clear(&j->ev);
	if (j->retry_ev != NULL)
		event_free(j->retry_ev);
	free(j->email);
	free(j);
}

/* Takes j off the worker's list. */
static void
job_unlink(struct job *j)
{
	struct graph_worker *w = j->w;
	struct job **p;

	for (p = &w->jobs; *p != NULL; p = &(*p)->next) {
		if (*p == j) {
			*p = j->next;
			w->n_jobs--;
			return;
		}
	}
}

static void
count_result(const char *kind, const char *result)
{
	char labels[128];

	snprintf(labels, sizeof(labels), "kind=\"%s\",result=\"%s\"", kind, result);
	metrics_counter_add("rekey_graph_notifications_processed_total",
	    "Graph notifications the worker has finished, by kind and result.", labels, 1);
}

static const char *const evidence_kinds[] = {
	"disabled", "deleted", "sessions_revoked", "password_changed",
};

static void
log_evidence(const struct job *j)
{
	char labels[256];
	size_t i;

	for (i = 0; i < 4; i++) {
		if (!(j->found & (1 << i)))
			continue;
		log_ctx(LOG_LEVEL_INFO, NULL, j->ev.app, "user %s (%s): %s (%s)", j->user_id,
		    j->email ? j->email : "no address", evidence_kinds[i], j->how);
		snprintf(labels, sizeof(labels), "app=\"%s\",kind=\"%s\"", j->ev.app,
		    evidence_kinds[i]);
		metrics_counter_add("rekey_user_events_total",
		    "User-side evidence recorded from Graph, by app and kind.", labels, 1);
	}
}

/* On the loop, once the job's op has committed (or failed). */
static void
committed_cb(enum store_result result, void *arg)
{
	struct job *j = arg;
	struct graph_worker *w = j->w;
	int lifecycle = strncmp(j->ev.type, "lifecycle.", 10) == 0;

	if (w == NULL) {		/* the worker was freed meanwhile */
		job_free(j);
		return;
	}
	job_unlink(j);
	w->n_committing--;
	if (result == STORE_ERROR) {
		/*
		 * Backed off: a result the store refuses every time must not turn
		 * the worker into a loop of failed commits and warnings.
		 */
		w->rescan_s = w->rescan_s == 0 ? RETRY_FIRST_S :
		    (w->rescan_s * 2 > RETRY_MAX_S ? RETRY_MAX_S : w->rescan_s * 2);
		w->rescan_after_us = util_mono_us() + (int64_t)w->rescan_s * 1000000;
		w->rescan = 1;
		log_ctx(LOG_LEVEL_WARN, NULL, j->ev.app, "graph worker: event %lld: could not store "
		    "its result; it will be looked at again in %d s or more", (long long)j->ev.id,
		    w->rescan_s);
	} else {
		w->rescan_s = 0;
		log_evidence(j);
		count_result(lifecycle ? "lifecycle" : "change", j->result);
	}
	job_free(j);
	/* Through the loop, not recursion: a long run of quick events must not grow the stack. */
	schedule(w, 0);
}

/* The results of the jobs done in one pass of the loop: one op, one statement. */
struct mark_batch {
	struct job **jobs;
	int64_t *ids;
	const char **results;
	size_t n;
};

static int
marks_op(struct store *st, void *arg)
{
	struct mark_batch *b = arg;

	return store_mark_processed_many(st, b->ids, b->results, b->n);
}

static void
marks_committed_cb(enum store_result result, void *arg)
{
	struct mark_batch *b = arg;
	size_t i;

	for (i = 0; i < b->n; i++)
		committed_cb(result, b->jobs[i]);
	free(b->jobs);
	free(b->ids);
	free(b->results);
	free(b);
}

/* Hands the results waiting (job_done) to the writer's next commit as one op. */
static void
flush_marks(struct graph_worker *w)
{
	struct mark_batch *b;
	size_t i;

	if (w->n_marks == 0)
		return;
	b = xcalloc(1, sizeof(*b));
	b->jobs = w->marks;
	b->n = w->n_marks;
	b->ids = xcalloc(b->n, sizeof(*b->ids));
	b->results = xcalloc(b->n, sizeof(*b->results));
	for (i = 0; i < b->n; i++) {
		b->ids[i] = b->jobs[i]->ev.id;
		b->results[i] = b->jobs[i]->result;
	}
	w->marks = NULL;
	w->n_marks = w->cap_marks = 0;
	journal_submit_op(w->rt->journal, marks_op, marks_committed_cb, b);
}

static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	flush_marks(arg);
}

/*
 * Records the event's result in the writer's next commit, with those of
 * every job done in this pass of the loop: a statement per pass, not per
 * event (a Graph storm's events mostly end here at once).
 */
static void
job_done(struct job *j, const char *result)
{
	struct graph_worker *w = j->w;

	j->result = result;
	j->committing = 1;
	w->n_committing++;
	if (w->n_marks == w->cap_marks) {
		w->cap_marks = w->cap_marks ? 2 * w->cap_marks : 64;
		w->marks = xrealloc(w->marks, w->cap_marks * sizeof(*w->marks));
	}
	w->marks[w->n_marks++] = j;
	if (w->n_marks == 1)
		event_active(w->flush, EV_TIMEOUT, 0);
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	act(arg);
}

/* Tries the job's step again after a backoff; the event stays unprocessed meanwhile. */
static void
job_retry(struct job *j, const char *why)
{
	struct timeval tv;

	j->retry_s = j->retry_s == 0 ? RETRY_FIRST_S :
	    (j->retry_s * 2 > RETRY_MAX_S ? RETRY_MAX_S : j->retry_s * 2);
	log_ctx(LOG_LEVEL_WARN, NULL, j->ev.app, "graph worker: event %lld: %s; again in %d s",
	    (long long)j->ev.id, why, j->retry_s);
	if (j->retry_ev == NULL)
		j->retry_ev = evtimer_new(j->w->rt->base, retry_cb, j);
	tv.tv_sec = j->retry_s;
	tv.tv_usec = 0;
	if (j->retry_ev == NULL || evtimer_add(j->retry_ev, &tv) == -1)
		fatal("graph worker: cannot arm a timer");
}

/* ---- User evidence (the op runs in the journal's writer thread) ---- */

static char *
evidence_text(int bit, const struct graph_user *u, const char *how)
{
	char t[32];

	switch (bit) {
	case GRAPH_EVIDENCE_DISABLED:
		return xasprintf("accountEnabled is false (%s)", how);
	case GRAPH_EVIDENCE_DELETED:
		return xasprintf("the user is gone (%s)", how);
	case GRAPH_EVIDENCE_SESSIONS_REVOKED:
		util_format_time(u->sessions_valid_from, t, sizeof(t));
		return xasprintf("signInSessionsValidFromDateTime moved to %s (%s)", t, how);
	default:
		util_format_time(u->last_password_change, t, sizeof(t));
		return xasprintf("lastPasswordChangeDateTime moved to %s (%s)", t, how);
	}
}

static int
add_events(struct store *st, struct job *j, const struct graph_user *u)
{
	struct store_user_event ue = {
		.app = j->ev.app, .user_id = j->user_id, .email = j->email,
		.observed_ms = util_now_ms(), .source_event = j->ev.id,
	};
	size_t i;
	int rc = 0;

	for (i = 0; i < 4 && rc == 0; i++) {
		int bit = 1 << i;
		char *text;

		if (!(j->found & bit))
			continue;
		ue.kind = evidence_kinds[i];
		ue.changed_at = bit == GRAPH_EVIDENCE_SESSIONS_REVOKED ? u->sessions_valid_from :
		    bit == GRAPH_EVIDENCE_PASSWORD_CHANGED ? u->last_password_change : 0;
		ue.evidence = text = evidence_text(bit, u, j->how);
		rc = store_add_user_event(st, &ue);
		free(text);
	}
	return rc;
}

/* Compares the user's state with the last one seen, records what moved, and marks the event. */
static int
user_op(struct store *st, void *arg)
{
	struct job *j = arg;
	const struct graph_user *u = j->have_user ? &j->user : NULL;
	struct store_user prev, next;
	int known = store_get_user(st, j->ev.app, j->user_id, &prev), rc = -1;
	const char *email;

	if (known == -1)
		goto out;
	j->found = graph_user_evidence(u, known == 1, prev.account_enabled, prev.deleted,
	    prev.sessions_valid_from, prev.last_password_change, j->ev.received_ms / 1000);
	email = u && u->mail ? u->mail : u && u->user_principal_name ? u->user_principal_name :
	    prev.mail ? prev.mail : prev.upn;
	free(j->email);		/* set by an earlier run (journal ops may run again) */
	j->email = email ? xstrdup(email) : NULL;
	next = (struct store_user){
		.app = j->ev.app, .user_id = (char *)j->user_id,
		.mail = u ? u->mail : prev.mail, .upn = u ? u->user_principal_name : prev.upn,
		.account_enabled = u ? u->account_enabled : prev.account_enabled,
		.deleted = u == NULL,
		.sessions_valid_from = u ? u->sessions_valid_from : prev.sessions_valid_from,
		.last_password_change = u ? u->last_password_change : prev.last_password_change,
		.updated_ms = util_now_ms(),
	};
	j->result = j->found ? "user_evidence" : "no_change";
	if (add_events(st, j, u ? u : &j->user) == 0 && store_put_user(st, &next) == 0 &&
	    store_mark_processed(st, j->ev.id, j->result) == 0)
		rc = 0;
out:
	store_user_clear(&prev);
	return rc;
}

/* The user's state is known (u NULL: gone): have it recorded in the next commit. */
static void
record_user(struct job *j, const char *user_id, const struct graph_user *u, const char *how)
{
	if (u != NULL && u != &j->user) {
		j->user.id = u->id ? xstrdup(u->id) : NULL;
		j->user.mail = u->mail ? xstrdup(u->mail) : NULL;
		j->user.user_principal_name = u->user_principal_name ?
		    xstrdup(u->user_principal_name) : NULL;
		j->user.account_enabled = u->account_enabled;
		j->user.sessions_valid_from = u->sessions_valid_from;
		j->user.last_password_change = u->last_password_change;
	}
	j->have_user = u != NULL;
	/* The caller's user goes away after this call: keep pointing into the copy. */
	j->user_id = u != NULL && user_id == u->id ? j->user.id : user_id;
	j->how = how;
	j->committing = 1;
	j->w->n_committing++;
	journal_submit_op(j->w->rt->journal, user_op, committed_cb, j);
}

/* ---- The steps ---- */

/* The user a change notification is about: resourceData.id, else the resource path. */
static const char *
user_id_of(const struct graph_item *item)
{
	if (item->resource_id != NULL && *item->resource_id != '\0')
		return item->resource_id;
	if (item->resource != NULL && strncasecmp(item->resource, USERS_PREFIX,
	    sizeof(USERS_PREFIX) - 1) == 0 && item->resource[sizeof(USERS_PREFIX) - 1] != '\0')
		return item->resource + sizeof(USERS_PREFIX) - 1;
	return NULL;
}

static void
user_cb(const struct graph_result *res, void *arg)
{
	struct job *j = arg;
	const char *uid;

	if (res->outcome == GRAPH_CANCELLED)
		return;
	uid = user_id_of(&j->batch.items[0]);
	switch (res->outcome) {
	case GRAPH_OK:
		if (strcmp(j->batch.items[0].change_type, "deleted") == 0)
			log_ctx(LOG_LEVEL_INFO, NULL, j->ev.app, "user %s: notified as deleted, but "
			    "GET /users/{id} still finds the user: not recorded as deleted", uid);
		record_user(j, uid, res->user, "GET /users");
		break;
	case GRAPH_NOT_FOUND:
		record_user(j, uid, NULL, "GET /users answered 404");
		break;
	case GRAPH_RETRYABLE:
		job_retry(j, res->detail ? res->detail : "Graph is unavailable");
		break;
	default:
		log_ctx(LOG_LEVEL_ERROR, NULL, j->ev.app, "cannot read user %s: %s (HTTP %ld %s)",
		    uid, graph_outcome_name(res->outcome), res->status,
		    res->error && res->error->code ? res->error->code : "");
		job_done(j, "graph_error");
		break;
	}
}

static void
change(struct job *j)
{
	const struct graph_item *item = &j->batch.items[0];
	const char *uid = user_id_of(item);

	/*
	 * A /users notification is a hint, whatever it says (deleted included):
	 * Graph sends basic notifications only for users (no resource data, no
	 * validationTokens), so anyone who learnt the clientState could forge
	 * one.  Only what GET /users/{id} shows is recorded.
	 */
	if (uid == NULL) {
		job_done(j, "not_a_user");
		return;
	}
	/* Only a GUID or a UPN goes into a Graph path (a ".." would climb out of /users). */
	if (!graph_user_id_valid(uid)) {
		log_ctx(LOG_LEVEL_WARN, NULL, j->ev.app, "Graph notification %s names a user id "
		    "that is neither a GUID nor a userPrincipalName: not acted on", j->ev.event_id);
		job_done(j, "bad_user_id");
		return;
	}
	if (j->app->gc == NULL) {
		job_done(j, "no_graph_client");
		return;
	}
	if (graph_get_user(j->app->gc, uid, user_cb, j) == -1)
		job_retry(j, "cannot ask Graph for the user");
}

static void
act(struct job *j)
{
	const struct graph_item *item = &j->batch.items[0];

	if (item->lifecycle_event != NULL) {
		if (j->w->lifecycle_cb != NULL)
			j->w->lifecycle_cb(j->ev.app, item->subscription_id, item->lifecycle_event,
			    j->w->lifecycle_arg);
		job_done(j, "lifecycle");
		return;
	}
	change(j);
}

static void
tokens_cb(int ok, const char *err, void *arg)
{
	struct job *j = arg;

	/* The worker is being freed (its caches cancel what waits): it frees the job. */
	if (j->w == NULL || j->w->closing)
		return;
	if (!ok) {
		log_ctx(LOG_LEVEL_WARN, NULL, j->ev.app, "Graph notification %s is suspect, not "
		    "acted on: validation token: %s", j->ev.event_id, err ? err : "invalid");
		metrics_inc_webhook("graph", j->batch.items[0].lifecycle_event ? "lifecycle" :
		    "change", "suspect");
		job_done(j, "suspect");
		return;
	}
	act(j);
}

/*
 * A record journaled since the tokens are stored once per batch names them
 * by digest: they are read back here.  0, or -1 when they cannot be had
 * (the job is then done as suspect: a retry would act without them).
 */
static int
load_tokens(struct job *j)
{
	char *json = NULL, *err = NULL;
	size_t len = 0;
	int rc;

	if (j->batch.tokens_ref == NULL)
		return 0;
	rc = store_get_graph_tokens(j->w->store, j->batch.tokens_ref, &json, &len);
	if (rc != 1 || graph_batch_set_tokens(&j->batch, json, len, &err) == -1) {
		free(json);
		tokens_cb(0, err != NULL ? err : rc == 0 ? "the batch's tokens are not stored" :
		    "cannot read the batch's tokens", j);
		free(err);
		return -1;
	}
	free(json);
	return 0;
}

/* Takes ev over (its strings move into the job). */
static void
start_job(struct graph_worker *w, struct store_pending *ev)
{
	struct job *j = xcalloc(1, sizeof(*j));
	char *err = NULL;

	j->w = w;
	j->ev = *ev;
	memset(ev, 0, sizeof(*ev));
	j->next = w->jobs;
	w->jobs = j;
	w->n_jobs++;
	if (graph_parse_batch(j->ev.body, j->ev.body_len, j->ev.body_len + 1, &j->batch,
	    &err) == -1 || j->batch.n_items != 1 || j->batch.items[0].invalid != NULL) {
		log_ctx(LOG_LEVEL_ERROR, NULL, j->ev.app, "journaled Graph event %lld unreadable: %s",
		    (long long)j->ev.id, err ? err : "not one valid item");
		free(err);
		job_done(j, "unreadable");
		return;
	}
	j->app = find_app(w, j->ev.app);
	if (j->app == NULL) {
		job_done(j, "unknown_app");
		return;
	}
	if (load_tokens(j) == -1)
		return;
	/*
	 * Tokens are checked when a batch carries them (Graph sends none for
	 * /users; a batch whose tokens fail is suspect), and either way the item
	 * is only a hint: its content, encryptedContent included, is never
	 * believed.
	 */
	if (j->batch.n_tokens > 0) {
		if (graph_tokens_verify(j->app->jwks, j->batch.tokens, j->batch.n_tokens,
		    j->app->rotator_client_id ? j->app->rotator_client_id : "",
		    j->app->tenant_id ? j->app->tenant_id : "", util_now_ms() / 1000,
		    tokens_cb, j) == -1)
			tokens_cb(0, "cannot verify", j);
		return;
	}
	act(j);
}

/* ---- The driver ---- */

/* 1 when the event with row id is being processed by a job already. */
static int
in_flight(const struct graph_worker *w, int64_t id)
{
	const struct job *j;

	for (j = w->jobs; j != NULL; j = j->next)
		if (j->ev.id == id)
			return 1;
	return 0;
}

/* Starts jobs for the events after the cursor while there is room. */
static void
run(struct graph_worker *w)
{
	struct store_pending *queue = NULL;
	size_t n = 0, i, room, active = w->n_jobs - w->n_committing;

	if (w->closing || w->n_jobs >= JOBS_MAX || active >= ACTIVE_MAX)
		return;
	/*
	 * After a failed commit, go back to the start once nothing is in flight
	 * and the backoff has passed (new events go on meanwhile; an idle
	 * worker polls every POLL_S).
	 */
	if (w->rescan && w->n_jobs == 0 && util_mono_us() >= w->rescan_after_us) {
		w->rescan = 0;
		w->cursor = 0;
	}
	room = JOBS_MAX - w->n_jobs < RUN_SLICE ? JOBS_MAX - w->n_jobs : RUN_SLICE;
	if (room > ACTIVE_MAX - active)
		room = ACTIVE_MAX - active;
	if (store_unprocessed(w->store, "graph", w->cursor, room, 1, &queue, &n) == -1) {
		log_error("graph worker: cannot read the journal; again in %d s", RETRY_FIRST_S);
		schedule(w, RETRY_FIRST_S);
		return;
	}
	for (i = 0; i < n; i++) {
		w->cursor = queue[i].id;
		if (!in_flight(w, queue[i].id))
			start_job(w, &queue[i]);
	}
	store_pending_free(queue, n);
	/*
	 * The queue's end is reached: once nothing is in flight, or POLL_S
	 * after the last time, the next pass reads it from the start.  Replicas
	 * on one PostgreSQL store commit their events out of id order (a lower
	 * id may commit after a higher one was read), so a cursor kept past the
	 * end for good would skip such an event.  Not at every end: the jobs in
	 * flight were then read again, bodies and all, and passed over, pass
	 * after pass of a storm (Graph phase of tests/bench/intake.sh).  Not
	 * while a failed commit's backoff runs: its event, after the cursor,
	 * waits for the rescan.
	 */
	if (n < room && !w->rescan && (w->n_jobs == 0 ||
	    util_mono_us() - w->from_start_us >= (int64_t)POLL_S * 1000000)) {
		w->cursor = 0;
		w->from_start_us = util_mono_us();
	}
	if (n == room && w->n_jobs < JOBS_MAX)
		schedule(w, 0);		/* more may wait: the next pass */
	else if (n == 0 && w->n_jobs == 0)
		schedule(w, POLL_S);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run(arg);
}

struct graph_worker *
graph_worker_new(struct runtime *rt, struct http_client *hc, graph_lifecycle_cb lifecycle_cb,
    void *lifecycle_arg)
{
	struct graph_worker *w = xcalloc(1, sizeof(*w));
	char *err = NULL;
	size_t i;

	w->rt = rt;
	w->lifecycle_cb = lifecycle_cb;
	w->lifecycle_arg = lifecycle_arg;
	/*
	 * Its own connection, only for reading the queue: every write goes
	 * through the journal's writer (journal_submit_op), so the event loop
	 * never waits for the store's write lock.
	 */
	w->store = store_open(rt->cfg->store_url, &err);
	if (w->store == NULL)
		fatal("graph worker: %s", err);
	/* It only reads; the epoch fences a write that might ever be added here all the same. */
	if (store_set_epoch(w->store, rt->epoch) == -1)
		fatal("graph worker: the store did not take the leader's epoch");
	w->timer = evtimer_new(rt->base, timer_cb, w);
	w->flush = evtimer_new(rt->base, flush_cb, w);
	if (w->timer == NULL || w->flush == NULL)
		fatal("out of memory");
	w->apps = xcalloc(rt->cfg->n_apps + 1, sizeof(*w->apps));
	for (i = 0; i < rt->cfg->n_apps; i++)
		w->apps[w->n_apps++] = app_new(w, hc, rt->cfg->apps[i]);
	schedule(w, 0);
	return w;
}

void
graph_worker_free(struct graph_worker *w)
{
	struct job *j, *next;
	size_t i;

	if (w == NULL)
		return;
	w->closing = 1;
	/* Results already had go to the writer, as they would have at the end of this pass. */
	flush_marks(w);
	/* Clients first: their callbacks hear CANCELLED and leave the jobs alone. */
	for (i = 0; i < w->n_apps; i++)
		app_free(w->apps[i]);
	free(w->apps);
	/* A job whose op is with the journal is freed by its callback; the rest now. */
	for (j = w->jobs; j != NULL; j = next) {
		next = j->next;
		j->w = NULL;
		if (!j->committing)
			job_free(j);
	}
	event_free(w->timer);
	event_free(w->flush);
	store_close(w->store);
	free(w);
}

void
graph_worker_wake(struct graph_worker *w)
{
	if (w->n_jobs < JOBS_MAX)
		schedule(w, 0);
}
