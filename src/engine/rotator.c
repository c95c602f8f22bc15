/*
 * rotator: the driver of the rotations (see rotator.h).  The scan of the
 * store, one app's rotation work, and what a step's outcome leads to: it
 * asks rotation_next, stores the row through the journal (rotator_save_then), then
 * enters the next state, retries after a backoff, paces or waits.  The calls
 * of each state are in rotation_graph.c, rotation_publish.c and
 * rotation_probe.c; rotator_expiry.c acts on what the expiry poll read.
 */
#include "engine/rotator.h"
#include "engine/rotator_int.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "outbound/graph.h"
#include "outbound/nylas.h"
#include "state/config.h"
#include "state/journal.h"
#include "state/rotation.h"
#include "state/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/crypto.h>

/* ---- The rotator: drives the unfinished rotations of the store ---- */

/* How often the store is read for rotations (the CLI writes it directly). */
#define SCAN_S 2
/* A failed try is retried after a backoff doubling from the first wait to the cap. */
#define RETRY_FIRST_MS 2000
#define RETRY_CAP_MS (5 * 60 * 1000)
/* Longest text kept in last_error. */
#define NOTE_MAX 512

/*
 * A write of the row in flight through the journal's writer: the copy the
 * writer thread stores (it reads nothing else), and what follows once it is
 * committed.  rotator_free detaches it (a = NULL) and the callback frees it.
 */
struct saving {
	struct app_rot *a;
	struct store_rotation row;
	saved_fn then;
	const char *lost;		/* what the log says when the write fails, or NULL */
};

int64_t
rotator_now_s(void)
{
	return util_now_ms() / 1000;
}

struct app_rot *
rotator_find_rot(struct rotator *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n_apps; i++)
		if (strcmp(r->apps[i]->app->name, name) == 0)
			return r->apps[i];
	return NULL;
}

static void
labels_of(const struct app_rot *a, const char *k, const char *v, char *out, size_t size)
{
	snprintf(out, size, "app=\"%s\",%s=\"%s\"", a->app->name, k, v);
}

static void
count_result(const struct store_rotation *row, const char *result)
{
	char labels[256];

	snprintf(labels, sizeof(labels), "app=\"%s\",reason=\"%s\",result=\"%s\"", row->app,
	    row->reason ? row->reason : "manual", result);
	metrics_counter_add("rekey_rotations_total", "Rotations finished, by reason and result.",
	    labels, 1);
}

/* Logs and counts a rotation whose end (state done or failed) is stored. */
static void
report_end(const struct store_rotation *row)
{
	/* The incident that called for it too, so that its end shows among the incident's lines. */
	const struct log_ids ids = { .app = row->app, .incident = row->incident_id,
	    .rotation = row->id };
	const char *note = row->last_error;

	if (strcmp(row->state, rotation_state_name(ROTATION_FAILED)) == 0) {
		log_with(LOG_LEVEL_ERROR, &ids, "rotation %s failed: %s", row->id,
		    note ? note : "failed");
		count_result(row, "failed");
		return;
	}
	log_with(LOG_LEVEL_INFO, &ids, "rotation %s: done%s%s", row->id, note ? ": " : "",
	    note ? note : "");
	count_result(row, row->dry_run ? "dry_run" : "done");
}

void
rotator_call_started(struct app_rot *a, const char *step)
{
	a->step = step;
	a->call_started_us = util_mono_us();
}

/* Publishes how long the call that just answered took. */
void
rotator_call_done(struct app_rot *a)
{
	char labels[256];

	if (a->step == NULL)
		return;
	labels_of(a, "step", a->step, labels, sizeof(labels));
	metrics_gauge_set("rekey_rotation_step_duration_seconds",
	    "How long the last call of each rotation step took.", labels,
	    (double)(util_mono_us() - a->call_started_us) / 1e6);
	a->step = NULL;
}

/* The rotation is no longer driven until the next scan. */
void
rotator_idle(struct app_rot *a)
{
	a->busy = 0;
	store_rotation_clear(&a->row);
}

void
rotator_set_text(char **field, const char *text)
{
	free(*field);
	*field = text != NULL ? xstrndup(text, strnlen(text, NOTE_MAX)) : NULL;
}

static int
save_op(struct store *st, void *arg)
{
	struct saving *sv = arg;

	return store_put_rotation(st, &sv->row);
}

static void
saved_cb(enum store_result result, void *arg)
{
	struct saving *sv = arg;
	struct app_rot *a = sv->a;
	saved_fn then = sv->then;
	const char *lost = sv->lost;

	if (a == NULL) {
		/*
		 * The rotator was freed (reload, stop) and flushed this write; the
		 * next one resumes from it, but lists only unfinished rotations:
		 * an end is reported here or never.
		 */
		if (result == STORE_STORED &&
		    (strcmp(sv->row.state, rotation_state_name(ROTATION_DONE)) == 0 ||
		    strcmp(sv->row.state, rotation_state_name(ROTATION_FAILED)) == 0))
			report_end(&sv->row);
		store_rotation_clear(&sv->row);
		free(sv);
		return;
	}
	store_rotation_clear(&sv->row);
	free(sv);
	a->saving = NULL;
	if (result != STORE_STORED) {
		log_rotation(LOG_LEVEL_ERROR, a->app->name, a->row.id,
		    "rotation %s: cannot write %s to the "
		    "store; %s", a->row.id, a->row.state, lost ? lost : "trying again later");
		rotator_idle(a);
		return;
	}
	then(a);
}

/*
 * Writes the row as it stands, then does `then` once it is durable.  The
 * write goes through the journal's writer, in the transaction (and fsync) of
 * the next batch, so that the event loop, and the webhooks it answers, never
 * wait for the store's write lock or the disk.  Meanwhile the app stays busy:
 * no scan drives it from the row still stored.  When the write fails, the
 * log says so (and `lost`, if given) and the rotation is left idle: the next
 * scan resumes it from what is stored.
 */
void
rotator_save_then(struct app_rot *a, saved_fn then, const char *lost)
{
	struct saving *sv = xcalloc(1, sizeof(*sv));

	a->row.updated_at = util_now_ms();
	sv->a = a;
	sv->then = then;
	sv->lost = lost;
	store_rotation_copy(&sv->row, &a->row);
	a->saving = sv;
	journal_submit_durable_op(a->r->journal, save_op, saved_cb, sv);
}

void
rotator_log_state(struct app_rot *a)
{
	log_rotation(LOG_LEVEL_INFO, a->app->name, a->row.id,
	    "rotation %s: %s", a->row.id, a->row.state);
}

/* A new state is stored: its step runs. */
static void
advanced(struct app_rot *a)
{
	rotator_log_state(a);
	rotator_drive(a);
}

/* Moves to state s (a new step: its tries start afresh), then does `then`. */
static void
advance(struct app_rot *a, enum rotation_state s, saved_fn then)
{
	rotator_set_text(&a->row.state, rotation_state_name(s));
	a->row.attempts = 0;
	a->row.next_at = 0;
	rotator_set_text(&a->row.last_error, NULL);
	if (s == ROTATION_TESTING) {
		a->row.test_ok = 0;
		a->row.test_since = util_now_ms();
	}
	rotator_save_then(a, then, NULL);
}

static void
refreshed_cb(const struct graph_result *res, void *arg)
{
	struct app_rot *a = arg;

	if (res->outcome == GRAPH_OK && res->application != NULL)
		rotator_expiry_seen(a->r, a->app->name, res->application);
}

/*
 * Reads the app's secrets again for status (and the expiry poll's record),
 * so that a published or retired secret shows at once, not at the next poll.
 */
static void
refresh_secrets(struct app_rot *a)
{
	if (a->row.dry_run)
		return;
	if (a->object_id != NULL)
		graph_get_application(a->gc, a->object_id, refreshed_cb, a);
	else
		graph_find_application(a->gc, a->app->azure_client_id, refreshed_cb, a);
}

static void
finished(struct app_rot *a)
{
	report_end(&a->row);
	refresh_secrets(a);
	rotator_idle(a);
}

/* Ends the rotation done (result "done", or "dry_run" for a dry run) with an optional note. */
static void
finish(struct app_rot *a, const char *note)
{
	rotator_set_text(&a->row.state, rotation_state_name(ROTATION_DONE));
	a->row.next_at = 0;
	rotator_set_text(&a->row.last_error, note);
	rotator_save_then(a, finished, NULL);
}

static void
failed(struct app_rot *a)
{
	report_end(&a->row);
	rotator_idle(a);
}

static void
fail(struct app_rot *a, const char *why)
{
	rotator_set_text(&a->row.state, rotation_state_name(ROTATION_FAILED));
	a->row.next_at = 0;
	rotator_set_text(&a->row.last_error, why);
	rotator_save_then(a, failed, NULL);
}

static void
arm(struct app_rot *a, int64_t at_ms)
{
	int64_t wait = at_ms - util_now_ms();
	struct timeval tv;

	if (wait < 0)
		wait = 0;
	tv.tv_sec = (time_t)(wait / 1000);
	tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
	evtimer_add(a->timer, &tv);
}

void
rotator_look_again_in(struct app_rot *a, int64_t ms)
{
	rotator_idle(a);
	arm(a, util_now_ms() + ms);
}

/* Backoff of the attempt-th retry: RETRY_FIRST_MS doubling up to RETRY_CAP_MS. */
static int64_t
backoff_ms(int attempt)
{
	int64_t ms = RETRY_FIRST_MS;

	while (--attempt > 0 && ms < RETRY_CAP_MS)
		ms *= 2;
	return ms < RETRY_CAP_MS ? ms : RETRY_CAP_MS;
}

/*
 * The step failed in a way that may pass and rotation_next allows another of
 * its max tries: try it again after retry_after_ms (the service's
 * Retry-After; -1 when none, then backoff).  The state stays, so the step's
 * intent is still the stored one.
 */
static void
retried(struct app_rot *a)
{
	int64_t wait = a->row.next_at - util_now_ms();

	log_rotation(LOG_LEVEL_WARN, a->app->name, a->row.id,
	    "rotation %s: %s try %d/%d failed: %s; next try in %lld ms", a->row.id, a->row.state,
	    a->row.attempts, a->retry_max, a->row.last_error, (long long)(wait > 0 ? wait : 0));
	arm(a, a->row.next_at);
	rotator_idle(a);
}

static void
retry(struct app_rot *a, const char *why, int64_t retry_after_ms, int max)
{
	int64_t wait;

	a->row.attempts++;
	wait = retry_after_ms >= 0 ? retry_after_ms : backoff_ms(a->row.attempts);
	a->row.next_at = util_now_ms() + wait;
	rotator_set_text(&a->row.last_error, why);
	a->retry_max = max;
	rotator_save_then(a, retried, NULL);
}

static void
paced(struct app_rot *a)
{
	if (strcmp(a->row.state, rotation_state_name(ROTATION_WATCHING)) == 0)
		log_rotation(LOG_LEVEL_DEBUG, a->app->name, a->row.id,
		    "rotation %s: watching: the new "
		    "secret is still accepted", a->row.id);
	else
		log_rotation(LOG_LEVEL_INFO, a->app->name, a->row.id,
		    "rotation %s: testing: %d of %lld "
		    "consecutive acceptances", a->row.id, a->row.test_ok,
		    (long long)a->app->secret_test_successes);
	arm(a, a->row.next_at);
	rotator_idle(a);
}

/* testing: one more acceptance in a row, stored; the next probe after the spacing. */
static void
pace(struct app_rot *a)
{
	int watching = strcmp(a->row.state, rotation_state_name(ROTATION_WATCHING)) == 0;

	/* testing counts acceptances in a row; watching, the probes that passed. */
	a->row.test_ok++;
	a->row.next_at = util_now_ms() + (watching ? a->app->secret_watch_interval_ms :
	    a->app->secret_test_spacing_ms);
	rotator_save_then(a, paced, NULL);
}

/*
 * The secret Nylas had before this rotation published, to put back: the
 * newest other published rotation's, else current_secret_file.  A new
 * secret (caller frees) or NULL.
 */
struct secret *
rotator_old_secret(const struct app_rot *a)
{
	struct store_rotation *list = NULL;
	struct secret *s = NULL;
	size_t n = 0, i;

	if (store_list_rotations(a->r->st, a->app->name, 0, SCAN_MAX, &list, &n) == -1)
		return NULL;
	for (i = 0; i < n && s == NULL; i++) {
		const struct store_rotation *r = &list[i];

		if (strcmp(r->id, a->row.id) == 0 || r->published_at <= 0 || r->dry_run ||
		    r->secret_ct == NULL || r->created_at > a->row.created_at)
			continue;
		/* Sealed under the app, the rotation and its key (rotation_seal). */
		s = rotation_unseal(a->r->cfg->master_key, r);
	}
	store_rotations_free(list, n);
	if (s == NULL && a->app->current_secret != NULL)
		s = secret_new(a->app->current_secret->data, a->app->current_secret->len);
	return s;
}

static int
old_secret_known(const struct app_rot *a)
{
	struct secret *s = rotator_old_secret(a);
	int known = s != NULL;

	secret_free(s);
	return known;
}

/* watching, rolling_back: whether the correlator recorded a burst of grant.expired for it. */
static int
burst_recorded(const struct app_rot *a)
{
	int64_t at = 0;
	int n = 0;

	if (strcmp(a->row.state, rotation_state_name(ROTATION_WATCHING)) != 0 &&
	    strcmp(a->row.state, rotation_state_name(ROTATION_ROLLING_BACK)) != 0)
		return 0;
	return rotation_burst_get(a->r->st, a->app->name, a->row.id, &at, &n) == 1;
}

/* What rotation_next is told about the rotation being driven. */
static void
facts_of(const struct app_rot *a, struct rotation_facts *f)
{
	const struct store_rotation *row = &a->row;

	memset(f, 0, sizeof(*f));
	f->approved = row->approved != 0;
	f->dry_run = row->dry_run != 0;
	f->secret_stored = row->secret_ct != NULL;
	f->old_known = row->old_key_id != NULL;
	f->old_is_new = f->old_known && row->new_key_id != NULL &&
	    strcmp(row->old_key_id, row->new_key_id) == 0;
	f->grace_over = row->retire_at <= util_now_ms();
	f->retire_unmanaged = a->app->retire_unmanaged_secrets != 0;
	f->lifetime_at_min = row->lifetime <= LIFETIME_MIN_S;
	f->attempts = row->attempts;
	f->test_ok = row->test_ok;
	f->test_needed = (int)a->app->secret_test_successes;
	f->test_timed_out = row->test_since > 0 &&
	    util_now_ms() - row->test_since >= a->app->secret_propagation_timeout * 1000;
	f->watch_over = row->published_at > 0 &&
	    util_now_ms() - row->published_at >= a->app->secret_watch_period * 1000;
	f->old_works = a->old_works;
	f->burst = burst_recorded(a);
	if (strcmp(row->state, rotation_state_name(ROTATION_PUBLISHED)) == 0)
		f->can_roll_back = old_secret_known(a);
}

/* Where outcome o of the current state leads. */
struct rotation_step
rotator_next_of(const struct app_rot *a, enum rotation_outcome o)
{
	struct rotation_facts f;
	enum rotation_state s;

	if (rotation_state_parse(a->row.state, &s) == -1) {
		struct rotation_step st = { ROTATION_FAILED, ROTATION_ACTION_GO, 0, -1, 0,
		    "unknown state in the store" };

		return st;
	}
	facts_of(a, &f);
	return rotation_next(s, o, &f);
}

static void
retiring_stored(struct app_rot *a)
{
	log_rotation(LOG_LEVEL_INFO, a->app->name, a->row.id,
	    "rotation %s: retiring %s after %lld s",
	    a->row.id, a->row.old_key_id, (long long)a->app->old_secret_grace);
	rotator_drive(a);
}

/* retiring: the old secret goes after the grace (next_at), not at once. */
static void
retire_later(struct app_rot *a)
{
	rotator_set_text(&a->row.state, rotation_state_name(ROTATION_RETIRING));
	a->row.attempts = 0;
	a->row.next_at = a->row.retire_at;
	rotator_set_text(&a->row.last_error, NULL);
	rotator_save_then(a, retiring_stored, NULL);
}

static void
published_stored(struct app_rot *a)
{
	rotator_log_state(a);
	refresh_secrets(a);
	rotator_drive(a);
}

/*
 * Enters st->next with its entry effects, once stored: done and failed end
 * the rotation (the step's note, else why, says why), published and retiring
 * drive on, and any other state does `then` (which drives on, or makes the
 * step's call itself).
 */
void
rotator_enter(struct app_rot *a, const struct rotation_step *st, const char *why, saved_fn then)
{
	const char *text = st->note != NULL ? st->note : why;
	char *msg;

	switch (st->next) {
	case ROTATION_DONE:
		if (st->note != NULL)
			log_rotation(LOG_LEVEL_WARN, a->app->name, a->row.id,
			    "rotation %s: %s", a->row.id,
			    st->note);
		finish(a, text);
		return;
	case ROTATION_FAILED:
		/* Rolled back: Nylas has the old secret again; this one is not in use. */
		if (strcmp(a->row.state, rotation_state_name(ROTATION_ROLLING_BACK)) == 0) {
			a->row.published_at = 0;
			a->row.retire_at = 0;
		}
		if (!st->gave_up) {
			fail(a, text != NULL ? text : "failed");
			return;
		}
		a->row.attempts++;
		msg = xasprintf("%s: gave up after %d tries: %s", a->row.state, a->row.attempts,
		    text != NULL ? text : "failed");
		fail(a, msg);
		free(msg);
		return;
	case ROTATION_PUBLISHED:
		/* Nylas holds the new secret: record it and schedule the old one's retirement. */
		a->row.published_at = util_now_ms();
		a->row.retire_at = a->row.published_at + a->app->old_secret_grace * 1000;
		advance(a, st->next, published_stored);
		return;
	case ROTATION_RETIRING:
		retire_later(a);
		return;
	default:
		advance(a, st->next, then);
		return;
	}
}

/*
 * Does what st says; why is the error or note of the outcome, retry_after_ms
 * the service's Retry-After (-1: none).  1 when the caller goes on with the
 * step's calls (CONTINUE), else 0 and the rotation has moved on or is idle.
 */
int
rotator_apply(struct app_rot *a, const struct rotation_step *st, const char *why,
    int64_t retry_after_ms)
{
	switch (st->action) {
	case ROTATION_ACTION_CONTINUE:
		return 1;
	case ROTATION_ACTION_GO:
		rotator_enter(a, st, why, advanced);
		return 0;
	case ROTATION_ACTION_RETRY:
		retry(a, why != NULL ? why : "failed",
		    st->wait_ms >= 0 ? st->wait_ms : retry_after_ms, st->max_tries);
		return 0;
	case ROTATION_ACTION_AGAIN:
		rotator_drive(a);
		return 0;
	case ROTATION_ACTION_PACE:
		pace(a);
		return 0;
	case ROTATION_ACTION_WAIT:
	case ROTATION_ACTION_HOLD:
		rotator_idle(a);
		return 0;
	}
	return 0;
}

/* The outcome o of the current step: asks rotation_next and does what it says (see rotator_apply). */
int
rotator_decide(struct app_rot *a, enum rotation_outcome o, const char *why, int64_t retry_after_ms)
{
	struct rotation_step st = rotator_next_of(a, o);

	return rotator_apply(a, &st, why, retry_after_ms);
}

/* The new secret, unsealed from the row (caller frees), or NULL. */
struct secret *
rotator_new_secret(struct app_rot *a)
{
	return rotation_unseal(a->r->cfg->master_key, &a->row);
}

const struct graph_password *
rotator_find_key(const struct graph_application *app, const char *key_id)
{
	size_t i;

	for (i = 0; key_id != NULL && i < app->n_passwords; i++)
		if (app->passwords[i].key_id && strcmp(app->passwords[i].key_id, key_id) == 0)
			return &app->passwords[i];
	return NULL;
}

/* Waiting in s: for an approval (planned) or the end of the grace (retiring). */
static void
wait_in(struct app_rot *a, enum rotation_state s)
{
	if (s == ROTATION_RETIRING) {
		arm(a, a->row.retire_at);
	} else if (a->told_waiting == NULL || strcmp(a->told_waiting, a->row.id) != 0) {
		log_rotation(LOG_LEVEL_INFO, a->app->name, a->row.id,
		    "rotation %s: waiting for approval "
		    "(rekey approve)", a->row.id);
		rotator_set_text(&a->told_waiting, a->row.id);
	}
	rotator_idle(a);
}

/*
 * The driver: one switch over the states whose step calls out.  rotation_next
 * decides every transition: on START (the gates, and the steps that make no
 * call), and in each callback on the step's outcome; the callback stores the
 * result and calls drive again.
 */
void
rotator_drive(struct app_rot *a)
{
	struct rotation_step st;
	enum rotation_state s;

	if (rotation_state_parse(a->row.state, &s) == -1) {
		fail(a, "unknown state in the store");
		return;
	}
	st = rotator_next_of(a, ROTATION_OUTCOME_START);
	if (st.action == ROTATION_ACTION_WAIT) {
		wait_in(a, s);
		return;
	}
	if (rotator_apply(a, &st, NULL, -1) == 0)
		return;
	switch (s) {
	case ROTATION_PLANNED:
		rotator_read_target(a);
		return;
	case ROTATION_CREATING:
		/* Also after a restart: the orphan check comes before any add. */
		rotator_read_policies(a);
		return;
	case ROTATION_TESTING:
		/* A rotation stored before test_since existed: its deadline starts now. */
		if (a->row.test_since == 0)
			a->row.test_since = util_now_ms();
		rotator_test_secret(a);
		return;
	case ROTATION_PUBLISHING:
		/* The intent was stored on entering: a restart publishes the same secret again. */
		rotator_publish(a);
		return;
	case ROTATION_WATCHING:
		rotator_watch(a);
		return;
	case ROTATION_ROLLING_BACK:
		/* Stored on entering, like publishing: a restart puts the old secret back again. */
		rotator_roll_back(a);
		return;
	case ROTATION_RETIRING:
		rotator_read_app(a, rotator_retiring_read_cb, "retiring");
		return;
	default:
		/* rotation_next goes on only in the states whose step calls out. */
		fail(a, "no step to run in this state");
		return;
	}
}

/* Reads the unfinished rotations and drives each idle app's oldest one that is due. */
static void
scan(struct rotator *r)
{
	struct store_rotation *list = NULL;
	size_t n = 0, i;
	int64_t now = util_now_ms();

	if (store_list_rotations(r->st, NULL, 1, SCAN_MAX, &list, &n) == -1)
		return;
	/* Newest first: walk backwards so that an app's oldest rotation goes first. */
	for (i = n; i-- > 0;) {
		struct app_rot *a = rotator_find_rot(r, list[i].app);

		if (a == NULL || a->busy)
			continue;
		/* A burst of grant.expired while watching is looked at now, not at the next probe. */
		if (list[i].next_at > now && !rotator_burst_due(a, &list[i])) {
			arm(a, list[i].next_at);
			continue;
		}
		a->row = list[i];
		memset(&list[i], 0, sizeof(list[i]));
		a->busy = 1;
		rotator_drive(a);
		/* One rotation per app per scan: the next waits for this one. */
		a->busy = a->busy ? a->busy : -1;
	}
	for (i = 0; i < r->n_apps; i++)
		if (r->apps[i]->busy == -1)
			r->apps[i]->busy = 0;
	store_rotations_free(list, n);
}

static void
scan_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	scan(arg);
}

static void
app_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct app_rot *a = arg;

	(void)fd;
	(void)what;
	scan(a->r);
}

static struct app_rot *
app_rot_new(struct rotator *r, const struct config_app *app)
{
	struct app_rot *a;
	struct graph_client *gc;
	struct nylas_client *nc;
	char *err = NULL;

	if (app->rotator_client_id == NULL || app->azure_client_id == NULL ||
	    app->azure_tenant_id == NULL || app->nylas_api_key == NULL)
		return NULL;
	gc = graph_client_from_app(r->hc, app, &err);
	if (gc == NULL) {
		log_ctx(LOG_LEVEL_ERROR, NULL, app->name, "no rotation: %s", err);
		free(err);
		return NULL;
	}
	nc = nylas_client_from_app(r->hc, app, &err);
	if (nc == NULL) {
		log_ctx(LOG_LEVEL_ERROR, NULL, app->name, "no rotation: %s", err);
		free(err);
		graph_client_free(gc);
		return NULL;
	}
	a = xcalloc(1, sizeof(*a));
	a->r = r;
	a->app = app;
	a->gc = gc;
	a->nc = nc;
	if (app->azure_app_object_id != NULL && app->azure_app_object_id[0] != '\0')
		a->object_id = xstrdup(app->azure_app_object_id);
	a->timer = evtimer_new(r->base, app_timer_cb, a);
	if (a->timer == NULL)
		fatal("rotator: cannot create a timer");
	return a;
}

static void
app_rot_free(struct app_rot *a)
{
	if (a->probe != NULL)
		a->probe->a = NULL;	/* its callback frees it */
	if (a->saving != NULL)
		a->saving->a = NULL;	/* likewise */
	/* Pending Graph and Nylas calls hear CANCELLED now and touch nothing. */
	graph_client_free(a->gc);
	nylas_client_free(a->nc);
	event_free(a->timer);
	store_rotation_clear(&a->row);
	free(a->object_id);
	free(a->told_waiting);
	free(a->orphan_key);
	free(a->room_key);
	rotator_policy_forget(a);
	free(a->burst_checked);
	free(a->sent_cred);
	free(a->sent_tenant);
	free(a->target);
	free(a);
}

struct rotator *
rotator_new(struct event_base *base, struct http_client *hc, const struct config *cfg,
    struct store *st, struct journal *journal)
{
	struct rotator *r = xcalloc(1, sizeof(*r));
	struct timeval tv = { SCAN_S, 0 };
	struct app_rot *a;
	size_t i;

	r->base = base;
	r->hc = hc;
	r->cfg = cfg;
	r->st = st;
	r->journal = journal;
	r->apps = xcalloc(cfg->n_apps + 1, sizeof(*r->apps));
	for (i = 0; i < cfg->n_apps; i++) {
		a = app_rot_new(r, cfg->apps[i]);
		if (a != NULL)
			r->apps[r->n_apps++] = a;
	}
	r->scan = event_new(base, -1, EV_PERSIST, scan_cb, r);
	if (r->scan == NULL || event_add(r->scan, &tv) == -1)
		fatal("rotator: cannot create a timer");
	event_active(r->scan, EV_TIMEOUT, 0);	/* a first look at once */
	return r;
}

void
rotator_free(struct rotator *r)
{
	size_t i;
	int writing = 0;

	if (r == NULL)
		return;
	event_free(r->scan);
	for (i = 0; i < r->n_apps; i++) {
		writing |= r->apps[i]->saving != NULL;
		app_rot_free(r->apps[i]);
	}
	/*
	 * A row write detached above is still in the journal: commit it now,
	 * so that a rotator started next (a reload) reads the row the rotation
	 * goes on from, not the one before it (correlator_free does the same).
	 */
	if (writing)
		journal_flush(r->journal);
	free(r->apps);
	free(r);
}

void
rotator_wake(struct rotator *r)
{
	if (r != NULL)
		event_active(r->scan, EV_TIMEOUT, 0);
}
