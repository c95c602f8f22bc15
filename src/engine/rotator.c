#include "engine/rotator.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "outbound/graph.h"
#include "outbound/identity.h"
#include "outbound/nylas.h"
#include "proto/jwt.h"
#include "state/condition.h"
#include "state/config.h"
#include "state/journal.h"
#include "state/rotation.h"
#include "state/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <openssl/crypto.h>

/* ---- Which secret Nylas uses ---- */

/* The newest published rotation of app (published_at set), or 0 when none; -1 on error. */
static int
last_published(struct store *st, const char *app, struct store_rotation *out)
{
	struct store_rotation *list = NULL;
	size_t n = 0, i;
	int found = 0;

	memset(out, 0, sizeof(*out));
	if (store_list_rotations(st, app, 0, 64, &list, &n) == -1)
		return -1;
	for (i = 0; i < n && !found; i++) {
		if (list[i].published_at > 0 && !list[i].dry_run && list[i].secret_ct != NULL) {
			*out = list[i];
			memset(&list[i], 0, sizeof(list[i]));
			found = 1;
		}
	}
	store_rotations_free(list, n);
	return found;
}

struct secret *
rotation_in_use_secret(struct store *st, const struct config *cfg, const struct config_app *app,
    const char **source)
{
	struct store_rotation r;
	struct secret *s = NULL;

	if (source != NULL)
		*source = NULL;
	if (last_published(st, app->name, &r) == 1 &&
	    (s = rotation_unseal(cfg->master_key, &r)) != NULL) {
		if (source != NULL)
			*source = "the last published rotation";
	} else if (app->current_secret != NULL) {
		s = secret_new(app->current_secret->data, app->current_secret->len);
		if (source != NULL)
			*source = "current_secret_file";
	}
	store_rotation_clear(&r);
	return s;
}

/* The credential whose hint is the first characters of secret; NULL with *why when not exactly one. */
static const struct graph_password *
by_hint(const struct graph_application *a, const struct secret *secret, const char **why)
{
	const struct graph_password *match = NULL;
	size_t i, n = 0, hl;

	for (i = 0; i < a->n_passwords; i++) {
		const char *hint = a->passwords[i].hint;

		hl = hint ? strlen(hint) : 0;
		if (hl == 0 || hl > secret->len || memcmp(hint, secret->data, hl) != 0)
			continue;
		match = &a->passwords[i];
		n++;
	}
	if (n == 1)
		return match;
	*why = n == 0 ? "no credential's hint matches current_secret_file" :
	    "several credentials share the hint of current_secret_file";
	return NULL;
}

char *
rotation_in_use_key(struct store *st, const struct config_app *app,
    const struct graph_application *a, const char **why)
{
	const struct graph_password *pw;
	struct store_rotation r;
	char *key = NULL;
	size_t i;

	*why = NULL;
	if (last_published(st, app->name, &r) == 1 && r.new_key_id != NULL) {
		for (i = 0; i < a->n_passwords && key == NULL; i++)
			if (a->passwords[i].key_id && strcmp(a->passwords[i].key_id, r.new_key_id) == 0)
				key = xstrdup(r.new_key_id);
	}
	store_rotation_clear(&r);
	if (key != NULL)
		return key;
	if (app->current_secret == NULL) {
		*why = "no current_secret_file and no published rotation";
		return NULL;
	}
	pw = by_hint(a, app->current_secret, why);
	return pw != NULL && pw->key_id != NULL ? xstrdup(pw->key_id) : NULL;
}

/* ---- The rotator: drives the unfinished rotations of the store ---- */

/* How often the store is read for rotations (the CLI writes it directly). */
#define SCAN_S 2
/* Unfinished rotations read at a time (one per app is the rule). */
#define SCAN_MAX 64
/* A failed try is retried after a backoff doubling from the first wait to the cap. */
#define RETRY_FIRST_MS 2000
#define RETRY_CAP_MS (5 * 60 * 1000)
/* A lifetime policy rejection halves the lifetime, never below a day. */
#define LIFETIME_MIN_S 86400
#define DISPLAY_PREFIX "rekey-"
/* Longest text kept in last_error. */
#define NOTE_MAX 512

/* One app's rotation work: its clients and the rotation being driven. */
struct app_rot {
	struct rotator *r;
	const struct config_app *app;	/* borrowed from the rotator's config */
	struct graph_client *gc;
	struct nylas_client *nc;
	char *object_id;		/* azure_app_object_id, else found from appId */
	struct store_rotation row;	/* the rotation being driven; valid while busy */
	int busy;			/* a rotation is being driven (a call may be in flight) */
	struct probe *probe;		/* the identity probe in flight, or NULL */
	const char *step;		/* the call in flight, for the duration metric */
	int64_t call_started_us;
	struct event *timer;		/* the next try of a deferred step */
	char *told_waiting;		/* the rotation already logged as waiting for approval */
	struct saving *saving;		/* the row's write in flight, or NULL */
	int retry_max;			/* the tries the step being retried has (for its log line) */
	char *orphan_key;		/* creating: this rotation's credential found without its text */
	char *target;			/* where Nylas gets the secret, as last read (for logs) */
	int to_credential;		/* ... and whether that is a connector credential */
	struct publish_target sent;	/* publishing: where the update went (strings below or static) */
	char *sent_cred;		/* ... its credential id, owned */
	char *sent_tenant;		/* ... the tenant sent with it, owned; NULL: none */
	int room_made;			/* creating: secrets removed for the two-secret limit this run */
	int old_works;			/* watching: the old secret was just accepted (for rotation_next) */
	char *room_key;			/* ... the one being removed */
};

/* What a rotation does once its row is durably stored (see save_then). */
typedef void (*saved_fn)(struct app_rot *a);

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

/*
 * An identity probe cannot be cancelled (it runs on the shared http client),
 * so it holds this small record; rotator_free detaches it and the callback
 * frees it.
 */
struct probe {
	struct app_rot *a;
};

struct rotator {
	struct event_base *base;
	struct http_client *hc;
	const struct config *cfg;
	struct store *st;
	struct journal *journal;	/* the rotations' writes (save_then) */
	struct app_rot **apps;
	size_t n_apps;
	struct event *scan;		/* every SCAN_S, and made active by rotator_wake */
};

static void drive(struct app_rot *a);

static int64_t
now_s(void)
{
	return util_now_ms() / 1000;
}

static struct app_rot *
find_rot(struct rotator *r, const char *name)
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
	const char *note = row->last_error;

	if (strcmp(row->state, rotation_state_name(ROTATION_FAILED)) == 0) {
		log_ctx(LOG_LEVEL_ERROR, NULL, row->app, "rotation %s failed: %s", row->id,
		    note ? note : "failed");
		count_result(row, "failed");
		return;
	}
	log_ctx(LOG_LEVEL_INFO, NULL, row->app, "rotation %s: done%s%s", row->id,
	    note ? ": " : "", note ? note : "");
	count_result(row, row->dry_run ? "dry_run" : "done");
}

static void
call_started(struct app_rot *a, const char *step)
{
	a->step = step;
	a->call_started_us = util_mono_us();
}

/* Publishes how long the call that just answered took. */
static void
call_done(struct app_rot *a)
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
static void
idle(struct app_rot *a)
{
	a->busy = 0;
	store_rotation_clear(&a->row);
}

static void
set_text(char **field, const char *text)
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
		log_ctx(LOG_LEVEL_ERROR, NULL, a->app->name, "rotation %s: cannot write %s to the "
		    "store; %s", a->row.id, a->row.state, lost ? lost : "trying again later");
		idle(a);
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
static void
save_then(struct app_rot *a, saved_fn then, const char *lost)
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

static void
log_state(struct app_rot *a)
{
	log_ctx(LOG_LEVEL_INFO, NULL, a->app->name, "rotation %s: %s", a->row.id, a->row.state);
}

/* A new state is stored: its step runs. */
static void
advanced(struct app_rot *a)
{
	log_state(a);
	drive(a);
}

/* Moves to state s (a new step: its tries start afresh), then does `then`. */
static void
advance(struct app_rot *a, enum rotation_state s, saved_fn then)
{
	set_text(&a->row.state, rotation_state_name(s));
	a->row.attempts = 0;
	a->row.next_at = 0;
	set_text(&a->row.last_error, NULL);
	if (s == ROTATION_TESTING) {
		a->row.test_ok = 0;
		a->row.test_since = util_now_ms();
	}
	save_then(a, then, NULL);
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
	idle(a);
}

/* Ends the rotation done (result "done", or "dry_run" for a dry run) with an optional note. */
static void
finish(struct app_rot *a, const char *note)
{
	set_text(&a->row.state, rotation_state_name(ROTATION_DONE));
	a->row.next_at = 0;
	set_text(&a->row.last_error, note);
	save_then(a, finished, NULL);
}

static void
failed(struct app_rot *a)
{
	report_end(&a->row);
	idle(a);
}

static void
fail(struct app_rot *a, const char *why)
{
	set_text(&a->row.state, rotation_state_name(ROTATION_FAILED));
	a->row.next_at = 0;
	set_text(&a->row.last_error, why);
	save_then(a, failed, NULL);
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

	log_ctx(LOG_LEVEL_WARN, NULL, a->app->name,
	    "rotation %s: %s try %d/%d failed: %s; next try in %lld ms", a->row.id, a->row.state,
	    a->row.attempts, a->retry_max, a->row.last_error, (long long)(wait > 0 ? wait : 0));
	arm(a, a->row.next_at);
	idle(a);
}

static void
retry(struct app_rot *a, const char *why, int64_t retry_after_ms, int max)
{
	int64_t wait;

	a->row.attempts++;
	wait = retry_after_ms >= 0 ? retry_after_ms : backoff_ms(a->row.attempts);
	a->row.next_at = util_now_ms() + wait;
	set_text(&a->row.last_error, why);
	a->retry_max = max;
	save_then(a, retried, NULL);
}

static void
paced(struct app_rot *a)
{
	if (strcmp(a->row.state, rotation_state_name(ROTATION_WATCHING)) == 0)
		log_ctx(LOG_LEVEL_DEBUG, NULL, a->app->name, "rotation %s: watching: the new "
		    "secret is still accepted", a->row.id);
	else
		log_ctx(LOG_LEVEL_INFO, NULL, a->app->name, "rotation %s: testing: %d of %lld "
		    "consecutive acceptances", a->row.id, a->row.test_ok,
		    (long long)a->app->secret_test_successes);
	arm(a, a->row.next_at);
	idle(a);
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
	save_then(a, paced, NULL);
}

/*
 * The secret Nylas had before this rotation published, to put back: the
 * newest other published rotation's, else current_secret_file.  A new
 * secret (caller frees) or NULL.
 */
static struct secret *
old_secret(const struct app_rot *a)
{
	struct store_rotation *list = NULL;
	struct secret *s = NULL;
	unsigned char *pt = NULL;
	size_t n = 0, i, ptlen = 0;

	if (store_list_rotations(a->r->st, a->app->name, 0, SCAN_MAX, &list, &n) == -1)
		return NULL;
	for (i = 0; i < n && s == NULL; i++) {
		const struct store_rotation *r = &list[i];

		if (strcmp(r->id, a->row.id) == 0 || r->published_at <= 0 || r->dry_run ||
		    r->secret_ct == NULL || r->created_at > a->row.created_at)
			continue;
		if (crypto_aead_open(a->r->cfg->master_key->data, r->id, strlen(r->id), r->secret_ct,
		    r->secret_ct_len, &pt, &ptlen) == 0) {
			s = secret_new(pt, ptlen);
			OPENSSL_cleanse(pt, ptlen);
			free(pt);
		}
	}
	store_rotations_free(list, n);
	if (s == NULL && a->app->current_secret != NULL)
		s = secret_new(a->app->current_secret->data, a->app->current_secret->len);
	return s;
}

static int
old_secret_known(const struct app_rot *a)
{
	struct secret *s = old_secret(a);
	int known = s != NULL;

	secret_free(s);
	return known;
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
	if (strcmp(row->state, rotation_state_name(ROTATION_PUBLISHED)) == 0)
		f->can_roll_back = old_secret_known(a);
}

/* Where outcome o of the current state leads. */
static struct rotation_step
next_of(const struct app_rot *a, enum rotation_outcome o)
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
	log_ctx(LOG_LEVEL_INFO, NULL, a->app->name, "rotation %s: retiring %s after %lld s",
	    a->row.id, a->row.old_key_id, (long long)a->app->old_secret_grace);
	drive(a);
}

/* retiring: the old secret goes after the grace (next_at), not at once. */
static void
retire_later(struct app_rot *a)
{
	set_text(&a->row.state, rotation_state_name(ROTATION_RETIRING));
	a->row.attempts = 0;
	a->row.next_at = a->row.retire_at;
	set_text(&a->row.last_error, NULL);
	save_then(a, retiring_stored, NULL);
}

static void
published_stored(struct app_rot *a)
{
	log_state(a);
	refresh_secrets(a);
	drive(a);
}

/*
 * Enters st->next with its entry effects, once stored: done and failed end
 * the rotation (the step's note, else why, says why), published and retiring
 * drive on, and any other state does `then` (which drives on, or makes the
 * step's call itself).
 */
static void
enter(struct app_rot *a, const struct rotation_step *st, const char *why, saved_fn then)
{
	const char *text = st->note != NULL ? st->note : why;
	char *msg;

	switch (st->next) {
	case ROTATION_DONE:
		if (st->note != NULL)
			log_ctx(LOG_LEVEL_WARN, NULL, a->app->name, "rotation %s: %s", a->row.id,
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
static int
apply(struct app_rot *a, const struct rotation_step *st, const char *why,
    int64_t retry_after_ms)
{
	switch (st->action) {
	case ROTATION_ACTION_CONTINUE:
		return 1;
	case ROTATION_ACTION_GO:
		enter(a, st, why, advanced);
		return 0;
	case ROTATION_ACTION_RETRY:
		retry(a, why != NULL ? why : "failed",
		    st->wait_ms >= 0 ? st->wait_ms : retry_after_ms, st->max_tries);
		return 0;
	case ROTATION_ACTION_AGAIN:
		drive(a);
		return 0;
	case ROTATION_ACTION_PACE:
		pace(a);
		return 0;
	case ROTATION_ACTION_WAIT:
	case ROTATION_ACTION_HOLD:
		idle(a);
		return 0;
	}
	return 0;
}

/* The outcome o of the current step: asks rotation_next and does what it says (see apply). */
static int
decide(struct app_rot *a, enum rotation_outcome o, const char *why, int64_t retry_after_ms)
{
	struct rotation_step st = next_of(a, o);

	return apply(a, &st, why, retry_after_ms);
}

/* One line about a Graph failure (caller frees). */
static char *
graph_why(const char *call, const struct graph_result *res)
{
	return xasprintf("%s: %s (HTTP %ld%s%s%s%s)%s%s", call, graph_outcome_name(res->outcome),
	    res->status, res->error && res->error->code ? ", " : "",
	    res->error && res->error->code ? res->error->code : "",
	    res->request_id ? ", request-id " : "", res->request_id ? res->request_id : "",
	    res->detail ? ": " : "", res->detail ? res->detail : "");
}

static char *
nylas_why(const char *call, const struct nylas_result *res)
{
	return xasprintf("%s: %s (HTTP %ld%s%s%s%s)%s%s", call, nylas_outcome_name(res->outcome),
	    res->status, res->error && res->error->type ? ", " : "",
	    res->error && res->error->type ? res->error->type : "",
	    res->request_id ? ", request id " : "", res->request_id ? res->request_id : "",
	    res->detail ? ": " : "", res->detail ? res->detail : "");
}

/* A Graph call failed: retry what may pass, fail the rest. */
static void
graph_failed(struct app_rot *a, const char *call, const struct graph_result *res)
{
	char *why = graph_why(call, res);

	decide(a, res->outcome == GRAPH_RETRYABLE ? ROTATION_OUTCOME_RETRYABLE :
	    ROTATION_OUTCOME_PERMANENT, why, res->retry_after_ms);
	free(why);
}

static void
nylas_failed(struct app_rot *a, const char *call, const struct nylas_result *res)
{
	char *why = nylas_why(call, res);

	decide(a, res->outcome == NYLAS_RETRYABLE ? ROTATION_OUTCOME_RETRYABLE :
	    ROTATION_OUTCOME_PERMANENT, why, res->retry_after_ms);
	free(why);
}

/* The new secret, unsealed from the row (caller frees), or NULL. */
static struct secret *
new_secret(struct app_rot *a)
{
	return rotation_unseal(a->r->cfg->master_key, &a->row);
}

static char *
display_name(const struct app_rot *a)
{
	return xasprintf(DISPLAY_PREFIX "%s", a->row.id);
}

static const struct graph_password *
find_key(const struct graph_application *app, const char *key_id)
{
	size_t i;

	for (i = 0; key_id != NULL && i < app->n_passwords; i++)
		if (app->passwords[i].key_id && strcmp(app->passwords[i].key_id, key_id) == 0)
			return &app->passwords[i];
	return NULL;
}

/* ---- Where Nylas gets the new secret ---- */

static const char *
nonempty(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

/*
 * Where the new secret goes, from the app's config and the connector as read
 * now: the configured nylas_connector_credential_id (an explicit override),
 * else the connector's active_credential_id (Nylas signs users in with that
 * credential's data, not with settings: "used as a default for communication
 * with the provider", Nylas's "Update a connector" reference), else settings.
 *
 * The tenant is never made up.  settings.tenant is optional and a PATCH
 * replaces the whole settings object, so settings get back exactly the tenant
 * Nylas shows, else nylas_tenant if the operator set it, else none.  A
 * credential's data is never shown, and its PATCH replaces all of
 * credential_data too (Nylas's "Update a connector credential" reference):
 * sending no tenant would drop the one it has, sending azure_tenant_id would
 * narrow a multi-tenant app to its home tenant.  So a credential is updated
 * only with the operator's nylas_tenant; without it, -1 and *why (caller
 * frees).
 */
int
rotation_publish_target(const struct config_app *app, const struct nylas_connector *c,
    struct publish_target *t, char **why)
{
	memset(t, 0, sizeof(*t));
	t->kind = PUBLISH_CREDENTIAL;
	if (nonempty(app->nylas_connector_credential_id) != NULL) {
		t->credential_id = app->nylas_connector_credential_id;
		t->source = "config";
	} else if (nonempty(c->active_credential_id) != NULL) {
		t->credential_id = c->active_credential_id;
		t->source = "active_credential_id";
	} else {
		t->kind = PUBLISH_SETTINGS;
		t->source = "settings";
		t->tenant = nonempty(c->tenant) != NULL ? c->tenant : nonempty(app->nylas_tenant);
		return 0;
	}
	t->tenant = nonempty(app->nylas_tenant);
	if (t->tenant != NULL)
		return 0;
	*why = xasprintf("not publishing to connector credential %s (from %s) without "
	    "nylas_tenant: Nylas never shows a credential's tenant and an update replaces all "
	    "of its data, so rekey would drop or narrow it; set nylas_tenant to the tenant the "
	    "credential signs users in with (common for a multi-tenant app)", t->credential_id,
	    t->source);
	return -1;
}

/* {"kind","credential_id","source"} of t for the store and status (cJSON_free). */
static char *
publish_target_json(const struct publish_target *t)
{
	cJSON *o = cJSON_CreateObject();
	char *out;

	cJSON_AddStringToObject(o, "kind", t->kind == PUBLISH_CREDENTIAL ? "credential" :
	    "settings");
	cJSON_AddItemToObject(o, "credential_id", t->credential_id != NULL ?
	    cJSON_CreateString(t->credential_id) : cJSON_CreateNull());
	cJSON_AddStringToObject(o, "source", t->source);
	out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (out == NULL)
		fatal("out of memory");
	return out;
}

/* Logs where the rotation publishes (what: "will publish to", ...) and records it for status. */
static void
note_target(struct app_rot *a, const struct publish_target *t, const char *what)
{
	char *json = publish_target_json(t);

	free(a->target);
	if (t->kind == PUBLISH_CREDENTIAL)
		a->target = xasprintf("connector credential %s (from %s)", t->credential_id,
		    t->source);
	else
		a->target = xstrdup("connector settings");
	a->to_credential = t->kind == PUBLISH_CREDENTIAL;
	log_ctx(LOG_LEVEL_INFO, NULL, a->app->name, "rotation %s: %s %s, tenant %s", a->row.id,
	    what, a->target, t->tenant != NULL ? t->tenant : "none sent");
	if (store_put_value(a->r->st, a->app->name, "publish_target", json) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, a->app->name, "cannot record publish_target");
	cJSON_free(json);
}

/* ---- The calls of each step and their answers ---- */

/* Reads the application (and learns its object id); cb gets the answer. */
static void
read_app(struct app_rot *a, graph_cb cb, const char *step)
{
	int rc;

	call_started(a, step);
	if (a->object_id != NULL)
		rc = graph_get_application(a->gc, a->object_id, cb, a);
	else
		rc = graph_find_application(a->gc, a->app->azure_client_id, cb, a);
	if (rc == -1)
		decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send the application read", -1);
}

/* Whether res is a usable application read; else the step is retried or failed. */
static int
app_read_ok(struct app_rot *a, const struct graph_result *res)
{
	call_done(a);
	if (res->outcome != GRAPH_OK) {
		graph_failed(a, "read application", res);
		return 0;
	}
	if (a->object_id == NULL && res->application->id != NULL)
		a->object_id = xstrdup(res->application->id);
	return 1;
}

/* What a dry run records it would have done (caller frees). */
static char *
dry_run_note(const struct app_rot *a, const char *old_key, const char *why)
{
	char grace[32];

	snprintf(grace, sizeof(grace), "%lldd", (long long)(a->app->old_secret_grace / 86400));
	if (a->app->old_secret_grace % 86400 != 0)
		snprintf(grace, sizeof(grace), "%llds", (long long)a->app->old_secret_grace);
	return xasprintf("dry-run: would addPassword with displayName " DISPLAY_PREFIX "%s, "
	    "lifetime %lldd; would publish to Nylas (%s); %s%s%s%s", a->row.id,
	    (long long)(a->row.lifetime / 86400),
	    a->target ? a->target : "?",
	    old_key ? "would retire " : "would not retire the old secret: ",
	    old_key ? old_key : why, old_key ? " after " : "", old_key ? grace : "");
}

static void add_password(struct app_rot *a);
static void remove_orphan_cb(const struct graph_result *res, void *arg);
static void creating_read_cb(const struct graph_result *res, void *arg);

/* ---- The two-secret limit ---- */

/*
 * An app that also signs in personal Microsoft accounts (Nylas's Microsoft
 * connector requires that audience) holds at most two client secrets: Graph
 * refuses a third with 400 TooManyAppPasswords (Azure/azure-cli#12946; "You
 * can only add a maximum of 2 encrypted credentials").
 */
#define PERSONAL_MAX_SECRETS 2
/* Secrets removed for room in one run of creating: bounds a Graph that lists a removed one still. */
#define ROOM_MAX 3

static int
at_secret_limit(const struct graph_application *app)
{
	const char *aud = app->sign_in_audience;

	return aud != NULL && (strcmp(aud, "AzureADandPersonalMicrosoftAccount") == 0 ||
	    strcmp(aud, "PersonalMicrosoftAccount") == 0) &&
	    app->n_passwords >= PERSONAL_MAX_SECRETS;
}

static int
made_by_rekey(const struct graph_password *pw)
{
	return pw->display_name != NULL &&
	    strncmp(pw->display_name, DISPLAY_PREFIX, strlen(DISPLAY_PREFIX)) == 0;
}

/* Whether key_id is the new secret of another finished rotation of the app (rekey is done with it). */
static int
finished_rotation_key(struct app_rot *a, const char *key_id)
{
	struct store_rotation *list = NULL;
	size_t n = 0, i;
	int found = 0;

	if (store_list_rotations(a->r->st, a->app->name, 0, SCAN_MAX, &list, &n) == -1)
		return 0;
	for (i = 0; i < n && !found; i++)
		found = list[i].new_key_id != NULL && strcmp(list[i].new_key_id, key_id) == 0 &&
		    strcmp(list[i].id, a->row.id) != 0 &&
		    (strcmp(list[i].state, rotation_state_name(ROTATION_DONE)) == 0 ||
		    strcmp(list[i].state, rotation_state_name(ROTATION_FAILED)) == 0);
	store_rotations_free(list, n);
	return found;
}

/* Why pw may not go to make room, or NULL when it may (static text). */
static const char *
kept_because(struct app_rot *a, const struct graph_password *pw, const char *in_use)
{
	if (pw->key_id == NULL)
		return "it has no keyId";
	if ((in_use != NULL && strcmp(pw->key_id, in_use) == 0) ||
	    (a->row.old_key_id != NULL && strcmp(pw->key_id, a->row.old_key_id) == 0))
		return "Nylas uses it";
	if (made_by_rekey(pw))
		return finished_rotation_key(a, pw->key_id) ? NULL :
		    "rekey made it but knows no finished rotation of it";
	return a->app->retire_foreign_secrets ? NULL :
	    "rekey did not make it (retire_foreign_secrets = no)";
}

/* The secret to remove for room: rekey's before another's, the one ending first; or NULL. */
static const struct graph_password *
room_candidate(struct app_rot *a, const struct graph_application *app, const char *in_use)
{
	const struct graph_password *best = NULL, *pw;
	size_t i;

	for (i = 0; i < app->n_passwords; i++) {
		pw = &app->passwords[i];
		if (kept_because(a, pw, in_use) != NULL)
			continue;
		if (best == NULL || made_by_rekey(pw) > made_by_rekey(best) ||
		    (made_by_rekey(pw) == made_by_rekey(best) && pw->end < best->end))
			best = pw;
	}
	return best;
}

/* Appends to out (size bytes, NUL-terminated), truncating. */
static void append(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
append(char *out, size_t size, const char *fmt, ...)
{
	size_t len = strnlen(out, size);
	va_list ap;

	if (len + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(out + len, size - len, fmt, ap);
	va_end(ap);
}

/* What blocks the rotation and what to do, for RotationPossible and last_error. */
static void
no_room_message(struct app_rot *a, const struct graph_application *app, const char *in_use,
    char *out, size_t size)
{
	char end[UTIL_TIME_MAX];
	size_t i;

	out[0] = '\0';
	append(out, size, "signInAudience %s allows %d client secrets and rekey may remove none "
	    "of the %zu:", app->sign_in_audience, PERSONAL_MAX_SECRETS, app->n_passwords);
	for (i = 0; i < app->n_passwords; i++) {
		const struct graph_password *pw = &app->passwords[i];

		util_format_time(pw->end, end, sizeof(end));
		append(out, size, " %s (hint %s, \"%s\", ends %s): %s;",
		    pw->key_id ? pw->key_id : "?", pw->hint ? pw->hint : "?",
		    pw->display_name ? pw->display_name : "", end, kept_because(a, pw, in_use));
	}
	append(out, size, " remove one nothing uses (Entra: App registrations > Certificates & "
	    "secrets) or set retire_foreign_secrets = yes");
}

static void
room_made_cb(const struct graph_result *res, void *arg)
{
	struct app_rot *a = arg;

	if (res->outcome == GRAPH_CANCELLED)
		return;
	call_done(a);
	if (res->outcome != GRAPH_OK && res->outcome != GRAPH_NOT_FOUND) {
		graph_failed(a, "removePassword (to make room)", res);
		return;
	}
	log_ctx(LOG_LEVEL_WARN, NULL, a->app->name, "rotation %s: removed %s to stay within the "
	    "two-secret limit", a->row.id, a->room_key);
	decide(a, ROTATION_OUTCOME_ROOM_MADE, NULL, -1);
}

/*
 * creating, at the two-secret limit: removes a secret rekey may remove (see
 * kept_because) and reads again; without one, the rotation stops and
 * RotationPossible says which secrets block it and what to do.
 */
static void
make_room(struct app_rot *a, const struct graph_application *app)
{
	const char *why = NULL;
	char *in_use = rotation_in_use_key(a->r->st, a->app, app, &why);
	const struct graph_password *pw = room_candidate(a, app, in_use);
	char msg[CONDITION_MESSAGE_MAX];

	if (pw == NULL || a->room_made >= ROOM_MAX) {
		no_room_message(a, app, in_use, msg, sizeof(msg));
		if (condition_record(a->r->st, a->app->name, CONDITION_ROTATION_POSSIBLE,
		    CONDITION_FALSE, 1, "TooManySecrets", msg, now_s()) == -1)
			log_ctx(LOG_LEVEL_WARN, NULL, a->app->name, "cannot record RotationPossible");
		decide(a, ROTATION_OUTCOME_PERMANENT, msg, -1);
		free(in_use);
		return;
	}
	a->room_made++;
	set_text(&a->room_key, pw->key_id);
	free(in_use);
	call_started(a, "creating");
	if (graph_remove_password(a->gc, a->object_id, a->room_key, room_made_cb, a) == -1)
		decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send removePassword to make room", -1);
}

/*
 * Keeps, for creating, this rotation's credential in the application just
 * read: our displayName but no stored text, an addPassword whose answer was
 * lost (an orphan).
 */
static void
note_orphan(struct app_rot *a, const struct graph_application *app)
{
	char *name = display_name(a);
	size_t i;

	set_text(&a->orphan_key, NULL);
	for (i = 0; i < app->n_passwords && a->orphan_key == NULL; i++) {
		const struct graph_password *pw = &app->passwords[i];

		if (pw->display_name != NULL && strcmp(pw->display_name, name) == 0 &&
		    pw->key_id != NULL)
			set_text(&a->orphan_key, pw->key_id);
	}
	free(name);
}

/* creating: removes the orphan noted (note_orphan), if any, else adds the new secret. */
static void
create(struct app_rot *a)
{
	if (a->orphan_key == NULL) {
		add_password(a);
		return;
	}
	log_ctx(LOG_LEVEL_WARN, NULL, a->app->name,
	    "rotation %s: removing orphan credential %s (added, but its text was never stored)",
	    a->row.id, a->orphan_key);
	call_started(a, "creating");
	if (graph_remove_password(a->gc, a->object_id, a->orphan_key, remove_orphan_cb, a) == -1)
		decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send removePassword for an orphan", -1);
}

/*
 * The intent, creating, is stored: from here on a lost addPassword answer is
 * recognised.  The app is read again (creating_read_cb): what planned read
 * may be minutes old (an approval), and the two-secret limit is judged on
 * the secrets as they are just before the add.
 */
static void
creating_stored(struct app_rot *a)
{
	log_state(a);
	read_app(a, creating_read_cb, "creating");
}

static void
remove_orphan_cb(const struct graph_result *res, void *arg)
{
	struct app_rot *a = arg;

	if (res->outcome == GRAPH_CANCELLED)
		return;
	call_done(a);
	if (res->outcome != GRAPH_OK && res->outcome != GRAPH_NOT_FOUND) {
		graph_failed(a, "removePassword (orphan)", res);
		return;
	}
	/* Still creating: read again, then add. */
	decide(a, ROTATION_OUTCOME_ORPHAN_REMOVED, NULL, -1);
}

static void
planned_read_cb(const struct graph_result *res, void *arg)
{
	struct app_rot *a = arg;
	struct rotation_step st;
	const char *why = NULL;
	char *old, *note;

	if (res->outcome == GRAPH_CANCELLED || !app_read_ok(a, res))
		return;
	old = rotation_in_use_key(a->r->st, a->app, res->application, &why);
	if (old == NULL)
		log_ctx(LOG_LEVEL_WARN, NULL, a->app->name,
		    "rotation %s: cannot tell which secret Nylas uses (%s): it will not be retired",
		    a->row.id, why);
	st = next_of(a, ROTATION_OUTCOME_OK);
	if (st.action != ROTATION_ACTION_GO || st.next != ROTATION_CREATING) {
		/* A dry run ends here, recording what it would have done. */
		note = a->row.dry_run ? dry_run_note(a, old, why) : NULL;
		apply(a, &st, note, -1);
		free(note);
		free(old);
		return;
	}
	free(a->row.old_key_id);
	a->row.old_key_id = old;
	note_orphan(a, res->application);
	enter(a, &st, NULL, creating_stored);
}

/* planned: where the secret would go, settled before anything is written. */
/*
 * A connector read of a step: where new secrets go (*t, borrowing from the
 * answer).  -1 when the step has been decided already (the read failed, or
 * rekey cannot publish there).
 */
static int
connector_target(struct app_rot *a, const struct nylas_result *res, struct publish_target *t)
{
	char *why = NULL;

	call_done(a);
	if (res->outcome != NYLAS_OK || res->connector == NULL) {
		nylas_failed(a, "read connector", res);
		return -1;
	}
	if (rotation_publish_target(a->app, res->connector, t, &why) == -1) {
		decide(a, ROTATION_OUTCOME_PERMANENT, why, -1);
		free(why);
		return -1;
	}
	return 0;
}

static void
planned_connector_cb(const struct nylas_result *res, void *arg)
{
	struct app_rot *a = arg;
	struct publish_target t;

	if (res->outcome == NYLAS_CANCELLED)
		return;
	if (connector_target(a, res, &t) == -1)
		return;
	note_target(a, &t, a->row.dry_run ? "would publish to" : "will publish to");
	read_app(a, planned_read_cb, "planned");
}

/*
 * planned: reads the connector first, so that a rotation whose secret could
 * not be published (see publish_target_of) fails before a secret is made.
 */
static void
read_target(struct app_rot *a)
{
	call_started(a, "planned");
	if (nylas_get_connector(a->nc, planned_connector_cb, a) == -1)
		decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send the connector read", -1);
}

static void
creating_read_cb(const struct graph_result *res, void *arg)
{
	struct app_rot *a = arg;

	if (res->outcome == GRAPH_CANCELLED || !app_read_ok(a, res))
		return;
	note_orphan(a, res->application);
	if (a->orphan_key == NULL && at_secret_limit(res->application)) {
		make_room(a, res->application);
		return;
	}
	create(a);
}

/* Puts the new credential and its sealed text into the row, with state created.  0 or -1. */
static int
seal_created(struct app_rot *a, const struct graph_password *cred, const struct secret *text)
{
	struct store_rotation *row = &a->row;

	/* The key id first: the sealed text is bound to it. */
	set_text(&row->new_key_id, cred->key_id);
	if (rotation_seal(a->r->cfg->master_key, row, text) == -1)
		return -1;
	set_text(&row->new_hint, cred->hint);
	row->new_end = cred->end;
	set_text(&row->state, rotation_state_name(ROTATION_CREATED));
	row->attempts = 0;
	row->next_at = 0;
	set_text(&row->last_error, NULL);
	return 0;
}

static void
created_stored(struct app_rot *a)
{
	a->room_made = 0;
	if (condition_record(a->r->st, a->app->name, CONDITION_ROTATION_POSSIBLE, CONDITION_TRUE,
	    0, "SecretAdded", "addPassword added a new secret", now_s()) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, a->app->name, "cannot record RotationPossible");
	log_ctx(LOG_LEVEL_INFO, NULL, a->app->name, "rotation %s: created %s (hint %s)",
	    a->row.id, a->row.new_key_id, a->row.new_hint ? a->row.new_hint : "?");
	drive(a);
}

/* CredentialInvalidLifetimeAsPerAppPolicy: halve the lifetime (not below a day) and add again. */
static void
shorten_lifetime(struct app_rot *a)
{
	int64_t was = a->row.lifetime;
	char value[128];

	a->row.lifetime = was / 2 > LIFETIME_MIN_S ? was / 2 : LIFETIME_MIN_S;
	log_ctx(LOG_LEVEL_WARN, NULL, a->app->name,
	    "rotation %s: the tenant's lifetime policy refused %lld days; trying %lld days",
	    a->row.id, (long long)(was / 86400), (long long)(a->row.lifetime / 86400));
	snprintf(value, sizeof(value), "{\"rotation\":\"%s\",\"from_s\":%lld,\"to_s\":%lld}",
	    a->row.id, (long long)was, (long long)a->row.lifetime);
	if (store_put_value(a->r->st, a->app->name, "lifetime_shortened", value) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, a->app->name, "cannot record lifetime_shortened");
	set_text(&a->row.last_error, "addPassword: the lifetime policy refused; shortened");
	save_then(a, drive, NULL);
}

static void
added_cb(const struct graph_result *res, void *arg)
{
	struct app_rot *a = arg;
	struct rotation_step st;
	struct secret *text;
	char *why;

	if (res->outcome == GRAPH_CANCELLED)
		return;
	call_done(a);
	if (res->outcome == GRAPH_LIFETIME_POLICY) {
		st = next_of(a, ROTATION_OUTCOME_LIFETIME_POLICY);
		if (st.action == ROTATION_ACTION_AGAIN) {
			shorten_lifetime(a);
			return;
		}
		why = graph_why("addPassword (lifetime policy, already at one day)", res);
		apply(a, &st, why, res->retry_after_ms);
		free(why);
		return;
	}
	if (res->outcome != GRAPH_OK) {
		if (res->status == 0)
			log_ctx(LOG_LEVEL_WARN, NULL, a->app->name, "rotation %s: addPassword's "
			    "outcome is unknown; the orphan check runs before the next try", a->row.id);
		graph_failed(a, "addPassword", res);
		return;
	}
	text = res->password->secret_text;
	res->password->secret_text = NULL;
	st = next_of(a, ROTATION_OUTCOME_OK);
	if (text == NULL || res->password->cred.key_id == NULL) {
		/* The credential may exist without its text: the next try removes it as an orphan. */
		decide(a, ROTATION_OUTCOME_RETRYABLE,
		    "addPassword answered without keyId or secretText", -1);
	} else if (st.action != ROTATION_ACTION_GO || st.next != ROTATION_CREATED) {
		apply(a, &st, "addPassword answered", -1);
	} else if (seal_created(a, &res->password->cred, text) == -1) {
		log_ctx(LOG_LEVEL_ERROR, NULL, a->app->name, "rotation %s: cannot seal the new "
		    "credential %s; it will be removed as an orphan and added again", a->row.id,
		    res->password->cred.key_id);
		idle(a);
	} else {
		/* The text and the state created in one write: never one without the other. */
		save_then(a, created_stored,
		    "the new credential will be removed as an orphan and added again");
	}
	secret_free(text);
}

static void
add_password(struct app_rot *a)
{
	char *name = display_name(a);
	int64_t lifetime = a->row.lifetime > 0 ? a->row.lifetime : a->app->secret_lifetime;

	call_started(a, "creating");
	if (graph_add_password(a->gc, a->object_id, name, now_s() + lifetime, added_cb, a) == -1)
		decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send addPassword", -1);
	free(name);
}

static void
probe_cb(const struct identity_result *res, void *arg)
{
	struct probe *p = arg;
	struct app_rot *a = p->a;
	char *why;

	free(p);
	if (a == NULL)
		return;
	a->probe = NULL;
	if (res->status == IDENTITY_CANCELLED)
		return;
	call_done(a);
	if (res->status == IDENTITY_OK) {
		decide(a, ROTATION_OUTCOME_OK, NULL, -1);
		return;
	}
	if (res->status == IDENTITY_REJECTED) {
		/* Most likely propagation: a new secret is refused for a few seconds. */
		why = xasprintf("the identity platform refuses the new secret: AADSTS%lld (%s)%s",
		    (long long)(res->aad ? res->aad->code : 0),
		    identity_err_name(res->aad ? res->aad->kind : IDENTITY_ERR_OTHER),
		    a->row.test_ok > 0 ? " after it was accepted (not yet everywhere)" : "");
		/* A refusal breaks the run: the acceptances are counted again from none. */
		a->row.test_ok = 0;
		decide(a, ROTATION_OUTCOME_REJECTED, why, -1);
	} else {
		why = xasprintf("token request: %s", res->detail ? res->detail : "failed");
		decide(a, ROTATION_OUTCOME_RETRYABLE, why, -1);
	}
	free(why);
}

static void
test_secret(struct app_rot *a)
{
	struct secret *s = new_secret(a);
	struct probe *p;

	if (s == NULL) {
		decide(a, ROTATION_OUTCOME_PERMANENT,
		    "the stored secret cannot be unsealed with the master key", -1);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->a = a;
	call_started(a, "testing");
	if (identity_probe_secret(a->r->hc, a->app, s, probe_cb, p) == -1) {
		free(p);
		decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send the token request", -1);
	} else {
		a->probe = p;
	}
	secret_free(s);
}

static int
same_text(const char *x, const char *y)
{
	return strcmp(nonempty(x) ? x : "", nonempty(y) ? y : "") == 0;
}

/*
 * What the connector read after the update says against what was sent: NULL
 * when it holds the update where Nylas signs users in with it, else why not
 * (caller frees).  A credential's data is never shown (only whether it is
 * still the active one); settings show client_id, and the tenant when Nylas
 * echoes it.
 */
static char *
read_back_mismatch(const struct app_rot *a, const struct nylas_connector *c)
{
	const char *active = nonempty(c->active_credential_id);

	if (a->sent.kind == PUBLISH_CREDENTIAL) {
		if (strcmp(a->sent.source, "active_credential_id") == 0 &&
		    (active == NULL || strcmp(active, a->sent_cred) != 0))
			return xasprintf("the connector's active_credential_id is %s, not %s, "
			    "which was updated", active ? active : "unset", a->sent_cred);
		return NULL;
	}
	if (active != NULL)
		return xasprintf("Nylas signs users in with credential %s (active_credential_id), "
		    "not with the settings that were updated", active);
	if (!same_text(c->client_id, a->app->azure_client_id))
		return xasprintf("the connector's client_id is %s, not %s",
		    c->client_id ? c->client_id : "unset", a->app->azure_client_id);
	/* Whether GET shows settings.tenant is undocumented: only a tenant shown can differ. */
	if (nonempty(c->tenant) != NULL && !same_text(c->tenant, a->sent_tenant))
		return xasprintf("the connector's tenant is %s, not %s as sent", c->tenant,
		    a->sent_tenant ? a->sent_tenant : "unset");
	return NULL;
}

static void
read_back_cb(const struct nylas_result *res, void *arg)
{
	struct app_rot *a = arg;
	char *mismatch, *why;

	if (res->outcome == NYLAS_CANCELLED)
		return;
	call_done(a);
	if (res->outcome != NYLAS_OK || res->connector == NULL) {
		nylas_failed(a, "read connector back", res);
		return;
	}
	mismatch = read_back_mismatch(a, res->connector);
	if (mismatch == NULL) {
		decide(a, ROTATION_OUTCOME_OK, NULL, -1);
		return;
	}
	/* Not published: the old secret stays (retiring is never reached). */
	why = xasprintf("read back after publishing: %s", mismatch);
	decide(a, ROTATION_OUTCOME_PERMANENT, why, -1);
	free(mismatch);
	free(why);
}

static void
patched_cb(const struct nylas_result *res, void *arg)
{
	struct app_rot *a = arg;

	if (res->outcome == NYLAS_CANCELLED)
		return;
	call_done(a);
	if (res->outcome != NYLAS_OK) {
		nylas_failed(a, a->to_credential ? "update connector credential" :
		    "update connector", res);
		return;
	}
	/* An answer is not the state: read the connector back before calling it published. */
	call_started(a, "publishing");
	if (nylas_get_connector(a->nc, read_back_cb, a) == -1)
		decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send the connector read-back", -1);
}

/* Publishes secret s to t; 0, or -1 when the call could not be sent. */
static int
patch_target(struct app_rot *a, const struct publish_target *t, const struct nylas_connector *c,
    const struct secret *s)
{
	/* Kept for the read-back: t borrows from the connector read, which is freed. */
	a->sent = *t;
	set_text(&a->sent_cred, t->credential_id);
	set_text(&a->sent_tenant, t->tenant);
	a->sent.credential_id = a->sent_cred;
	a->sent.tenant = a->sent_tenant;
	if (t->kind == PUBLISH_CREDENTIAL)
		return nylas_patch_credential(a->nc, t->credential_id, a->app->azure_client_id, s,
		    t->tenant, patched_cb, a);
	/* A PATCH replaces the whole settings object: send it whole, keep the scopes. */
	return nylas_patch_connector(a->nc, a->app->azure_client_id, s, t->tenant,
	    (const char *const *)c->scope, c->n_scope, patched_cb, a);
}

/* publishing: the connector as it is now says where the secret goes; then the update. */
static void
connector_cb(const struct nylas_result *res, void *arg)
{
	struct app_rot *a = arg;
	struct publish_target t;
	struct secret *s;
	int rc;

	if (res->outcome == NYLAS_CANCELLED)
		return;
	if (connector_target(a, res, &t) == -1)
		return;
	s = new_secret(a);
	if (s == NULL) {
		decide(a, ROTATION_OUTCOME_PERMANENT,
		    "the stored secret cannot be unsealed with the master key", -1);
		return;
	}
	note_target(a, &t, "publishing to");
	call_started(a, "publishing");
	rc = patch_target(a, &t, res->connector, s);
	secret_free(s);
	if (rc == -1)
		decide(a, ROTATION_OUTCOME_RETRYABLE, t.kind == PUBLISH_CREDENTIAL ?
		    "cannot send the connector credential update" :
		    "cannot send the connector update", -1);
}

static void
publish(struct app_rot *a)
{
	call_started(a, "publishing");
	if (nylas_get_connector(a->nc, connector_cb, a) == -1)
		decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send the connector read", -1);
}

/* ---- watching, and rolling back ---- */

/* Sends a token request with s; cb gets the answer.  0, or -1 when it could not be sent. */
static int
probe_with(struct app_rot *a, const struct secret *s, identity_cb cb)
{
	struct probe *p = xcalloc(1, sizeof(*p));

	p->a = a;
	call_started(a, strcmp(a->row.state, rotation_state_name(ROTATION_WATCHING)) == 0 ? "watching" :
	    "testing");
	if (identity_probe_secret(a->r->hc, a->app, s, cb, p) == -1) {
		free(p);
		return -1;
	}
	a->probe = p;
	return 0;
}

/* The app_rot of a probe's answer, or NULL when it is to be ignored (freed rotator, cancelled). */
static struct app_rot *
probe_answered(struct probe *p, const struct identity_result *res)
{
	struct app_rot *a = p->a;

	free(p);
	if (a == NULL)
		return NULL;
	a->probe = NULL;
	if (res->status == IDENTITY_CANCELLED)
		return NULL;
	call_done(a);
	return a;
}

static void
watch_old_cb(const struct identity_result *res, void *arg)
{
	struct app_rot *a = probe_answered(arg, res);

	if (a == NULL)
		return;
	a->old_works = res->status == IDENTITY_OK;
	log_ctx(LOG_LEVEL_WARN, NULL, a->app->name, "rotation %s: watching: the new secret is "
	    "refused and the old one %s", a->row.id, a->old_works ? "still works: rolling back" :
	    "is refused too: looking again");
	decide(a, ROTATION_OUTCOME_REJECTED, "watching: the identity platform refuses the "
	    "published secret", -1);
	a->old_works = 0;
}

static void
watch_new_cb(const struct identity_result *res, void *arg)
{
	struct app_rot *a = probe_answered(arg, res);
	struct secret *old;

	if (a == NULL)
		return;
	if (res->status == IDENTITY_OK) {
		decide(a, ROTATION_OUTCOME_OK, NULL, -1);
		return;
	}
	if (res->status != IDENTITY_REJECTED) {
		decide(a, ROTATION_OUTCOME_RETRYABLE, "watching: the token request failed", -1);
		return;
	}
	/* Refused after publishing: does the old secret still work? */
	old = old_secret(a);
	if (old == NULL || probe_with(a, old, watch_old_cb) == -1)
		decide(a, ROTATION_OUTCOME_REJECTED, "watching: the identity platform refuses the "
		    "published secret", -1);
	secret_free(old);
}

/* watching: a token request with the published secret, every secret_watch_interval_ms. */
static void
watch(struct app_rot *a)
{
	struct secret *s = new_secret(a);

	if (s == NULL) {
		decide(a, ROTATION_OUTCOME_PERMANENT,
		    "the stored secret cannot be unsealed with the master key", -1);
		return;
	}
	if (probe_with(a, s, watch_new_cb) == -1)
		decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send the token request", -1);
	secret_free(s);
}

/* rolling_back: where the old secret goes (as for publishing), then the update and its read-back. */
static void
rollback_connector_cb(const struct nylas_result *res, void *arg)
{
	struct app_rot *a = arg;
	struct publish_target t;
	struct secret *s;
	int rc;

	if (res->outcome == NYLAS_CANCELLED)
		return;
	if (connector_target(a, res, &t) == -1)
		return;
	s = old_secret(a);
	if (s == NULL) {
		decide(a, ROTATION_OUTCOME_PERMANENT, "rolling back: the old secret is not known", -1);
		return;
	}
	note_target(a, &t, "rolling back to the old secret in");
	call_started(a, "rolling_back");
	rc = patch_target(a, &t, res->connector, s);
	secret_free(s);
	if (rc == -1)
		decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send the connector update", -1);
}

static void
roll_back(struct app_rot *a)
{
	call_started(a, "rolling_back");
	if (nylas_get_connector(a->nc, rollback_connector_cb, a) == -1)
		decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send the connector read", -1);
}

static void
removed_old_cb(const struct graph_result *res, void *arg)
{
	struct app_rot *a = arg;

	if (res->outcome == GRAPH_CANCELLED)
		return;
	call_done(a);
	if (res->outcome != GRAPH_OK && res->outcome != GRAPH_NOT_FOUND) {
		graph_failed(a, "removePassword (old secret)", res);
		return;
	}
	log_ctx(LOG_LEVEL_INFO, NULL, a->app->name, "rotation %s: removed the old secret %s",
	    a->row.id, a->row.old_key_id);
	decide(a, res->outcome == GRAPH_OK ? ROTATION_OUTCOME_OK : ROTATION_OUTCOME_NOT_FOUND,
	    NULL, -1);
}

static void
retiring_read_cb(const struct graph_result *res, void *arg)
{
	struct app_rot *a = arg;
	const struct graph_password *old;
	char *note;
	int go_on;

	if (res->outcome == GRAPH_CANCELLED || !app_read_ok(a, res))
		return;
	old = find_key(res->application, a->row.old_key_id);
	if (old == NULL) {
		log_ctx(LOG_LEVEL_INFO, NULL, a->app->name, "rotation %s: the old secret %s is "
		    "already gone", a->row.id, a->row.old_key_id);
		decide(a, ROTATION_OUTCOME_NOT_FOUND, NULL, -1);
		return;
	}
	if (old->display_name == NULL ||
	    strncmp(old->display_name, DISPLAY_PREFIX, strlen(DISPLAY_PREFIX)) != 0) {
		note = xasprintf("not retired: the old secret %s was not made by rekey "
		    "(retire_unmanaged_secrets = no)", a->row.old_key_id);
		go_on = decide(a, ROTATION_OUTCOME_UNMANAGED, note, -1);
		free(note);
		if (!go_on)
			return;
	}
	call_started(a, "retiring");
	if (graph_remove_password(a->gc, a->object_id, a->row.old_key_id, removed_old_cb, a) == -1)
		decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send removePassword", -1);
}

/* Waiting in s: for an approval (planned) or the end of the grace (retiring). */
static void
wait_in(struct app_rot *a, enum rotation_state s)
{
	if (s == ROTATION_RETIRING) {
		arm(a, a->row.retire_at);
	} else if (a->told_waiting == NULL || strcmp(a->told_waiting, a->row.id) != 0) {
		log_ctx(LOG_LEVEL_INFO, NULL, a->app->name, "rotation %s: waiting for approval "
		    "(rekey approve)", a->row.id);
		set_text(&a->told_waiting, a->row.id);
	}
	idle(a);
}

/*
 * The driver: one switch over the states whose step calls out.  rotation_next
 * decides every transition: on START (the gates, and the steps that make no
 * call), and in each callback on the step's outcome; the callback stores the
 * result and calls drive again.
 */
static void
drive(struct app_rot *a)
{
	struct rotation_step st;
	enum rotation_state s;

	if (rotation_state_parse(a->row.state, &s) == -1) {
		fail(a, "unknown state in the store");
		return;
	}
	st = next_of(a, ROTATION_OUTCOME_START);
	if (st.action == ROTATION_ACTION_WAIT) {
		wait_in(a, s);
		return;
	}
	if (apply(a, &st, NULL, -1) == 0)
		return;
	switch (s) {
	case ROTATION_PLANNED:
		read_target(a);
		return;
	case ROTATION_CREATING:
		/* Also after a restart: the orphan check comes before any add. */
		read_app(a, creating_read_cb, "creating");
		return;
	case ROTATION_TESTING:
		/* A rotation stored before test_since existed: its deadline starts now. */
		if (a->row.test_since == 0)
			a->row.test_since = util_now_ms();
		test_secret(a);
		return;
	case ROTATION_PUBLISHING:
		/* The intent was stored on entering: a restart publishes the same secret again. */
		publish(a);
		return;
	case ROTATION_WATCHING:
		watch(a);
		return;
	case ROTATION_ROLLING_BACK:
		/* Stored on entering, like publishing: a restart puts the old secret back again. */
		roll_back(a);
		return;
	case ROTATION_RETIRING:
		read_app(a, retiring_read_cb, "retiring");
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
		struct app_rot *a = find_rot(r, list[i].app);

		if (a == NULL || a->busy)
			continue;
		if (list[i].next_at > now) {
			arm(a, list[i].next_at);
			continue;
		}
		a->row = list[i];
		memset(&list[i], 0, sizeof(list[i]));
		a->busy = 1;
		drive(a);
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

/* ---- What the expiry poll saw ---- */

/* The app's secrets as `rekey status` shows them: a JSON array (cJSON_free). */
static char *
credentials_json(const struct graph_application *a)
{
	cJSON *arr = cJSON_CreateArray(), *o;
	char start[UTIL_TIME_MAX], end[UTIL_TIME_MAX], *out;
	size_t i;

	for (i = 0; i < a->n_passwords; i++) {
		const struct graph_password *pw = &a->passwords[i];

		util_format_time(pw->start, start, sizeof(start));
		util_format_time(pw->end, end, sizeof(end));
		o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "key_id", pw->key_id ? cJSON_CreateString(pw->key_id) :
		    cJSON_CreateNull());
		cJSON_AddItemToObject(o, "hint", pw->hint ? cJSON_CreateString(pw->hint) :
		    cJSON_CreateNull());
		cJSON_AddItemToObject(o, "display_name", pw->display_name ?
		    cJSON_CreateString(pw->display_name) : cJSON_CreateNull());
		cJSON_AddItemToObject(o, "start", pw->start ? cJSON_CreateString(start) :
		    cJSON_CreateNull());
		cJSON_AddItemToObject(o, "end", pw->end ? cJSON_CreateString(end) :
		    cJSON_CreateNull());
		cJSON_AddItemToArray(arr, o);
	}
	out = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	if (out == NULL)
		fatal("out of memory");
	return out;
}

/* Records (and logs) each warn_before threshold the in-use secret has crossed, once. */
static void
warn_thresholds(struct rotator *r, const struct config_app *app, const struct graph_password *pw)
{
	int64_t left = pw->end - now_s();
	char key[256], when[UTIL_TIME_MAX], *seen;
	size_t i;
	int found;

	/* An ended secret is the diagnosis's business (and a rotation's), not a warning's. */
	if (left <= 0)
		return;
	util_format_time(pw->end, when, sizeof(when));
	for (i = 0; i < app->n_warn_before; i++) {
		if (left > app->warn_before[i])
			continue;
		snprintf(key, sizeof(key), "warned:%s:%lld", pw->key_id,
		    (long long)app->warn_before[i]);
		seen = NULL;
		found = store_get_value(r->st, app->name, key, &seen);
		free(seen);
		if (found != 0)
			continue;
		log_ctx(LOG_LEVEL_WARN, NULL, app->name, "the secret Nylas uses (%s) ends %s: within "
		    "the %lld-day warning", pw->key_id, when, (long long)(app->warn_before[i] / 86400));
		if (store_put_value(r->st, app->name, key, when) == -1)
			log_ctx(LOG_LEVEL_WARN, NULL, app->name, "cannot record the warning %s", key);
	}
}

static void
plan_proactive(struct rotator *r, const struct config_app *app, const char *why)
{
	char id[ROTATION_ID_SIZE], *err = NULL;
	int rc = rotation_plan(r->st, app, "proactive", NULL, 0, id, &err);

	if (rc == -1) {
		log_ctx(LOG_LEVEL_ERROR, NULL, app->name, "cannot plan a rotation: %s", err);
		free(err);
	} else if (rc == 2) {
		log_ctx(LOG_LEVEL_INFO, NULL, app->name, "no proactive rotation (%s) %s", why, err);
		free(err);
	} else if (rc == 0) {
		log_ctx(LOG_LEVEL_INFO, NULL, app->name, "planned proactive rotation %s: %s", id, why);
		rotator_wake(r);
	}
}

/*
 * The app's secrets as last read, for status: one transaction, so one commit
 * (and fsync) while the event loop waits, not one per value.
 */
static int
record_secrets(struct store *st, const char *app, const char *json, const char *when,
    const char *key, const char *why)
{
	if (store_begin(st) == -1)
		return -1;
	if (store_put_value(st, app, "password_credentials", json) == -1 ||
	    store_put_value(st, app, "secrets_read_at", when) == -1 ||
	    store_put_value(st, app, "in_use_key_id", key ? key : "") == -1 ||
	    store_put_value(st, app, "in_use_why", key ? "" : why) == -1) {
		store_rollback(st);
		return -1;
	}
	return store_commit(st);
}

void
rotator_expiry_seen(struct rotator *r, const char *name, const struct graph_application *a)
{
	const struct config_app *app;
	const struct graph_password *pw;
	const char *why = NULL;
	char *json, *key, when[UTIL_TIME_MAX];

	if (r == NULL || (app = config_find_app(r->cfg, name)) == NULL)
		return;
	json = credentials_json(a);
	util_format_time(now_s(), when, sizeof(when));
	key = rotation_in_use_key(r->st, app, a, &why);
	if (record_secrets(r->st, name, json, when, key, why) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, name, "cannot record the secrets for status");
	cJSON_free(json);
	if (key == NULL) {
		log_ctx(LOG_LEVEL_WARN, NULL, name, "cannot tell which secret Nylas uses: %s", why);
		/* Auto mode replaces it with a secret rekey knows (and so can watch). */
		if (app->rotation_mode == ROTATION_MODE_AUTO && find_rot(r, name) != NULL)
			plan_proactive(r, app, "to a secret rekey knows");
		return;
	}
	pw = find_key(a, key);
	if (pw != NULL && pw->end > 0) {
		warn_thresholds(r, app, pw);
		if (pw->end - now_s() <= app->rotate_before && find_rot(r, name) != NULL)
			plan_proactive(r, app, pw->end <= now_s() ? "the secret Nylas uses has ended" :
			    "the secret Nylas uses ends within rotate_before");
	}
	free(key);
}
