/*
 * correlate: the correlator's driver.  See correlate.h.
 *
 * Reads the journaled Nylas events in batches, gathers the evidence a batch
 * needs (the stored credentials here, the probe in correlate_probe.c),
 * classifies each event into the incidents of its app (correlate_incidents.c)
 * and hands the batch's writes to the journal's writer (correlate_writes.c).
 * What these files share is in correlate_int.h.
 */
#include "engine/correlate.h"
#include "engine/correlate_int.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "proto/nylas_event.h"
#include "state/config.h"
#include "state/credentials.h"
#include "state/journal.h"
#include "state/storm.h"
#include "state/runtime.h"
#include "state/store.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

/*
 * Events classified in one pass of the loop; their writes go to the
 * journal's writer as one op.  Small, because the pass blocks the loop (the
 * reads and the classification: about 10 us an event), and a batch costs no
 * fsync of its own: its op joins the webhooks' next commit.
 */
#define BATCH_MAX 64
/* A look at the store now and then, in case a wake-up was missed (a restart, the CLI). */
#define POLL_S 5
/* Waits after a store failure. */
#define RETRY_FIRST_S 2
#define RETRY_MAX_S 30
/* The longest its few writes on the loop (the last probe) wait for the store's write lock. */
#define CORRELATE_LOCK_WAIT_MS 250
/* How long a batch waits for a probe it started before it is classified without it. */
#define PROBE_WAIT_MS 5000

/* ---- Pure parts ---- */

static enum incident_cause
user_cause(const char *kind)
{
	if (kind == NULL)
		return INCIDENT_UNKNOWN;
	if (strcmp(kind, "disabled") == 0)
		return INCIDENT_USER_DISABLED;
	if (strcmp(kind, "deleted") == 0)
		return INCIDENT_USER_DELETED;
	if (strcmp(kind, "sessions_revoked") == 0)
		return INCIDENT_USER_SESSIONS_REVOKED;
	if (strcmp(kind, "password_changed") == 0)
		return INCIDENT_USER_PASSWORD_CHANGED;
	return INCIDENT_UNKNOWN;
}

enum incident_cause
correlate_classify(const struct correlate_evidence *ev)
{
	enum incident_cause user = user_cause(ev->user_kind);

	if (ev->probe == INCIDENT_PROBE_EXPIRED)
		return INCIDENT_SECRET_EXPIRED;
	if (ev->credential_ended && ev->probe != INCIDENT_PROBE_OK &&
	    ev->probe != INCIDENT_PROBE_INVALID)
		return INCIDENT_SECRET_EXPIRED;
	if (ev->probe == INCIDENT_PROBE_INVALID)
		return INCIDENT_SECRET_INVALID;
	if (user != INCIDENT_UNKNOWN)
		return user;
	if (ev->replaced_ended && ev->probe == INCIDENT_PROBE_OK)
		return INCIDENT_SECRET_EXPIRED;
	if (ev->burst >= INCIDENT_BURST_MIN)
		return INCIDENT_SUSPECTED_APP_WIDE;
	return INCIDENT_UNKNOWN;
}

/* ---- The stored credentials, read once per batch ---- */

/* The end (Unix seconds) of key_id among the credentials the expiry poll stored; 0 when unknown. */
static int64_t
credential_end(struct store *st, const char *app, const char *key_id)
{
	struct credentials creds;
	const struct credential *e;
	int64_t end = 0;

	if (key_id == NULL || credentials_load(st, app, &creds) == -1)
		return 0;
	e = credentials_find(&creds, key_id);
	if (e != NULL)
		end = e->end;
	credentials_clear(&creds);
	return end;
}

/*
 * Whether a rotation published within CORRELATE_REPLACED_WINDOW_S replaced
 * a secret that has ended by now: grants that expired with that secret may
 * still be reported after the new one works.
 */
static void
check_replaced(struct app_corr *a)
{
	struct store *st = a->c->store;
	struct store_rotation *list = NULL;
	int64_t now_ms = util_now_ms(), end;
	char when[32];
	size_t n = 0, i;

	free(a->replaced_rotation);
	free(a->replaced_text);
	a->replaced_rotation = a->replaced_text = NULL;
	if (store_list_rotations(st, a->name, 0, 8, &list, &n) == -1)
		return;
	for (i = 0; i < n && a->replaced_rotation == NULL; i++) {
		const struct store_rotation *r = &list[i];

		if (r->published_at <= 0 || r->dry_run ||
		    now_ms - r->published_at > (int64_t)CORRELATE_REPLACED_WINDOW_S * 1000)
			continue;
		end = credential_end(st, a->name, r->old_key_id);
		if (end <= 0 || end > now_ms / 1000)
			continue;
		util_format_time(end, when, sizeof(when));
		a->replaced_rotation = xstrdup(r->id);
		a->replaced_text = xasprintf("secret %s, replaced by rotation %s, ended %s",
		    r->old_key_id, r->id, when);
	}
	store_rotations_free(list, n);
}

void
correlate_check_credential(struct app_corr *a)
{
	struct store *st = a->c->store;
	struct credentials creds;
	const struct credential *e;
	char when[32];

	a->credential_ended = 0;
	free(a->credential_text);
	a->credential_text = NULL;
	check_replaced(a);
	if (credentials_load(st, a->name, &creds) == -1)
		return;
	e = credentials_find(&creds, creds.in_use_key_id);
	if (e != NULL && e->end != 0 && e->end <= util_now_ms() / 1000) {
		util_format_time(e->end, when, sizeof(when));
		a->credential_ended = 1;
		a->credential_text = xasprintf("the in-use secret's passwordCredentials entry %s "
		    "ended %s", creds.in_use_key_id, when);
	}
	credentials_clear(&creds);
}

/* ---- Classifying one grant.expired ---- */

static size_t
app_index(const struct correlator *c, const struct app_corr *a)
{
	size_t i;

	for (i = 0; i < c->n_apps && c->apps[i] != a; i++)
		;
	return i;
}

/* A grant.expired of a Microsoft grant: joins (or opens) the incident its evidence points to. */
static const char *
handle_expired(struct app_corr *a, const struct nylas_event *ev, int64_t received_ms,
    struct event_write *w)
{
	struct correlate_evidence e;
	struct incident *inc;
	enum incident_cause cause;
	char *kind = NULL, *uev = NULL;
	int64_t found = 0;

	if (ev->grant_id == NULL || *ev->grant_id == '\0')
		return "no_grant";
	if (ev->email != NULL)
		found = store_recent_user_event(a->c->store, a->name, ev->email,
		    received_ms - (int64_t)CORRELATE_USER_WINDOW_S * 1000, &kind, &uev);
	if (found == -1)
		return NULL;
	memset(&e, 0, sizeof(e));
	e.probe = a->probe_result;
	e.credential_ended = a->credential_ended;
	e.replaced_ended = a->replaced_rotation != NULL;
	e.user_kind = found > 0 ? kind : NULL;
	e.burst = incident_burst_add(&a->burst, ev->grant_id, received_ms);
	cause = correlate_classify(&e);
	correlate_watch_count(a, ev, cause, received_ms);
	inc = correlate_incident_for(a, cause, ev->email, kind, uev, received_ms);
	free(kind);
	free(uev);
	inc->dirty = 1;
	w->kind = WRITE_LIST;
	w->incident_id = xstrdup(inc->id);
	w->grant_id = xstrdup(ev->grant_id);
	w->email = xstrdup_null(ev->email);
	w->slot = correlate_slot_of(inc->cause);
	return "incident";
}

static const char *
handle_recovery(struct app_corr *a, const struct nylas_event *ev, struct event_write *w)
{
	a->recovered_in_batch = 1;
	w->kind = WRITE_RECOVER;
	w->app = xstrdup(a->name);
	w->grant_id = xstrdup_null(ev->grant_id);
	w->email = xstrdup_null(ev->email);
	return "recovered";
}

static int
is_recovery(const struct nylas_event *ev)
{
	if (strcmp(ev->type, "grant.created") == 0)
		return 1;
	return strcmp(ev->type, "grant.updated") == 0 && (ev->reauth_flag == 1 || ev->code == 25027);
}

/*
 * What the event comes to, planned into w (the writer settles whether a
 * grant was listed before, or had anything to recover): a result word, or
 * NULL when the store could not be read.
 */
static const char *
handle_event(struct correlator *c, const struct store_pending *p, const struct nylas_event *ev,
    struct event_write *w)
{
	struct app_corr *a;

	w->kind = WRITE_MARK;
	w->id = p->id;
	w->at_ms = p->received_ms;
	if (!ev->is_grant)
		return "ignored";
	a = correlate_find_app(c, p->app);
	if (a == NULL)
		return "unknown_app";
	w->app_i = app_index(c, a);
	if (correlate_app_load(a) == -1)
		return NULL;
	if (strcmp(ev->type, "grant.expired") == 0) {
		if (ev->provider == NULL || strcasecmp(ev->provider, "microsoft") != 0)
			return "not_microsoft";
		return handle_expired(a, ev, p->received_ms, w);
	}
	if (is_recovery(ev))
		return handle_recovery(a, ev, w);
	return "ignored";
}

/* After recoveries: the app's open incidents are counted again (and resolved when all are back). */
static void
plan_recounts(struct correlator *c, struct write_op *op)
{
	size_t i, n = 0;
	int s;

	op->recount = xcalloc(c->n_apps * N_SLOTS + 1, sizeof(*op->recount));
	for (i = 0; i < c->n_apps; i++) {
		if (!c->apps[i]->recovered_in_batch)
			continue;
		for (s = 0; s < N_SLOTS; s++) {
			const struct incident *inc = c->apps[i]->slot[s];

			if (inc == NULL || inc->is_new)
				continue;
			op->recount[n].app_i = i;
			op->recount[n].slot = s;
			op->recount[n].id = xstrdup(inc->id);
			n++;
		}
	}
	op->n_recount = n;
}

/* ---- The driver ---- */

static void
count_result(const char *result)
{
	char labels[128];

	snprintf(labels, sizeof(labels), "result=\"%s\"", result);
	metrics_counter_add("rekey_nylas_events_processed_total",
	    "Nylas events the correlator has finished, by result.", labels, 1);
}

void
correlate_schedule(struct correlator *c, int64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	if (!c->closing)
		evtimer_add(c->timer, &tv);
}

static void
drop_batch(struct correlator *c)
{
	size_t i;

	for (i = 0; i < c->queue_n; i++)
		nylas_event_clear(&c->parsed[i]);
	store_pending_free(c->queue, c->queue_n);
	free(c->parsed);
	c->queue = NULL;
	c->parsed = NULL;
	c->queue_n = 0;
	for (i = 0; i < c->n_apps; i++)
		c->apps[i]->expired_in_batch = c->apps[i]->recovered_in_batch = 0;
}

static void
retry(struct correlator *c, const char *why)
{
	size_t i;

	drop_batch(c);
	/* What memory holds may be ahead of the store: read it again. */
	for (i = 0; i < c->n_apps; i++)
		correlate_app_forget(c->apps[i]);
	c->retry_s = c->retry_s == 0 ? RETRY_FIRST_S :
	    (c->retry_s * 2 > RETRY_MAX_S ? RETRY_MAX_S : c->retry_s * 2);
	log_warn("correlator: %s; again in %d s", why, c->retry_s);
	correlate_schedule(c, (int64_t)c->retry_s * 1000);
}

/* The event as the intake parsed and stored it: its body is not read or parsed again. */
static void
event_from_row(const struct store_pending *p, struct nylas_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->time = ev->grant_updated_at = -1;
	ev->id = xstrdup(p->event_id);
	ev->type = xstrdup(p->type);
	ev->is_grant = nylas_is_grant_type(p->type);
	ev->grant_id = xstrdup_null(p->grant_id);
	ev->email = xstrdup_null(p->email);
	ev->provider = xstrdup_null(p->provider);
	ev->code = p->code;
	ev->reauth_flag = (int)p->reauth_flag;
	ev->time = p->event_time;
}

/*
 * The batch's reads: its events, then for each app with a grant.expired
 * among them the stored credentials and the rotation being watched; 0 or -1.
 */
static int
read_batch(struct correlator *c)
{
	struct app_corr *a;
	size_t i;

	if (store_unprocessed(c->store, "nylas", 0, BATCH_MAX, 0, &c->queue, &c->queue_n) == -1)
		return -1;
	/* What the journal's writer settled under a permit came before these events. */
	for (i = 0; i < c->n_apps; i++)
		correlate_storm_take(c->apps[i]);
	c->parsed = xcalloc(c->queue_n + 1, sizeof(*c->parsed));
	for (i = 0; i < c->queue_n; i++) {
		event_from_row(&c->queue[i], &c->parsed[i]);
		if (strcmp(c->parsed[i].type, "grant.expired") != 0 ||
		    c->parsed[i].provider == NULL ||
		    strcasecmp(c->parsed[i].provider, "microsoft") != 0 ||
		    (a = correlate_find_app(c, c->queue[i].app)) == NULL)
			continue;
		a->expired_in_batch = 1;
	}
	for (i = 0; i < c->n_apps; i++) {
		if (!c->apps[i]->expired_in_batch)
			continue;
		correlate_check_credential(c->apps[i]);
		correlate_watch_check(c->apps[i]);
	}
	return 0;
}

/* Reads the next batch and starts the probes it calls for; 0 or -1. */
static int
load_batch(struct correlator *c)
{
	size_t i;
	int rc;

	/*
	 * One snapshot for the batch's reads, as for its classification: each
	 * statement on its own would take and drop the read lock and, after
	 * every commit of the writer, read its pages again.  The probes start
	 * after it, since one that cannot be sent records why (a write).
	 */
	if (store_begin_read(c->store) == -1)
		return -1;
	rc = read_batch(c);
	store_commit(c->store);
	if (rc == -1)
		return -1;
	for (i = 0; i < c->n_apps; i++)
		if (c->apps[i]->expired_in_batch)
			correlate_maybe_probe(c->apps[i]);
	c->wait_until_us = util_mono_us() + (int64_t)PROBE_WAIT_MS * 1000;
	return 0;
}

static int
probes_pending(const struct correlator *c)
{
	size_t i;

	for (i = 0; i < c->n_apps; i++)
		if (c->apps[i]->expired_in_batch && c->apps[i]->probe != NULL)
			return 1;
	return 0;
}

/* Classifies the batch's events into a new op (*out); 0 or -1. */
static int
classify_batch(struct correlator *c, struct write_op **out)
{
	struct write_op *op;
	size_t i;

	for (i = 0; i < c->n_apps; i++)
		if (correlate_drop_resolved_elsewhere(c->apps[i]) == -1)
			return -1;
	op = correlate_write_op_new(c, 1);
	op->ev = xcalloc(c->queue_n + 1, sizeof(*op->ev));
	for (i = 0; i < c->queue_n; i++) {
		op->ev[i].result = handle_event(c, &c->queue[i], &c->parsed[i], &op->ev[i]);
		op->n_ev++;
		if (op->ev[i].result == NULL) {
			correlate_write_op_free(op);
			return -1;
		}
	}
	*out = op;
	return 0;
}

/* Classifies the batch and hands its writes to the journal's writer; 0 or -1. */
static int
process_batch(struct correlator *c)
{
	struct write_op *op = NULL;
	int rc;

	/*
	 * One snapshot for the batch's reads (a user's evidence for each
	 * event): a statement on its own takes and drops the read lock and,
	 * after every commit of the writer, reloads the pages it reads.  Nothing
	 * here writes on this connection (the writes go into the op).
	 */
	if (store_begin_read(c->store) == -1)
		return -1;
	rc = classify_batch(c, &op);
	store_commit(c->store);
	if (rc == -1)
		return -1;
	plan_recounts(c, op);
	correlate_watch_plan(c, op);
	correlate_write_op_submit(op);
	return 0;
}

/* The incident in app app_i's slot, when it is still the one with that id. */
static struct incident *
incident_at(struct correlator *c, size_t app_i, int slot, const char *id)
{
	struct incident *inc;

	if (app_i >= c->n_apps || slot < 0 || slot >= N_SLOTS)
		return NULL;
	inc = c->apps[app_i]->slot[slot];
	return inc != NULL && strcmp(inc->id, id) == 0 ? inc : NULL;
}

/* A batch was committed: its results go into the incidents, then the operator hears. */
static void
batch_committed(struct correlator *c, const struct write_op *op)
{
	struct incident *inc;
	size_t i;

	for (i = 0; i < op->n_ev; i++) {
		count_result(op->ev[i].result);
		if (op->ev[i].listed &&
		    (inc = incident_at(c, op->ev[i].app_i, op->ev[i].slot, op->ev[i].incident_id)))
			inc->affected++;
	}
	for (i = 0; i < op->n_recount; i++) {
		const struct recount *r = &op->recount[i];

		if (!r->found || (inc = incident_at(c, r->app_i, r->slot, r->id)) == NULL)
			continue;
		inc->affected = r->affected;
		inc->recovered = r->recovered;
		inc->resolved = r->resolved;
	}
	c->processed += c->queue_n;
	correlate_watch_committed(c, op);
	for (i = 0; i < c->n_apps; i++)
		correlate_app_after_commit(c->apps[i]);
	drop_batch(c);
	c->retry_s = 0;
	/* Through the loop: webhooks are answered between batches. */
	correlate_schedule(c, 0);
}

void
correlate_write_done(enum store_result result, void *arg)
{
	struct write_op *op = arg;
	struct correlator *c = op->c;
	size_t i;

	if (c == NULL) {		/* the correlator was freed meanwhile */
		correlate_write_op_free(op);
		return;
	}
	*op->prevp = op->next;
	if (op->next != NULL)
		op->next->prevp = op->prevp;
	if (op->is_batch)
		c->batch_op = NULL;
	if (result == STORE_ERROR && op->is_batch) {
		retry(c, "the store refused a batch of Nylas events");
	} else if (result == STORE_ERROR) {
		/* What memory holds is ahead of the store: read it again at the next batch. */
		for (i = 0; i < c->n_apps; i++)
			correlate_app_forget(c->apps[i]);
		log_warn("correlator: cannot record the incidents' changes (a rotation, a probe's "
		    "evidence); they are read again from the store");
	} else if (op->is_batch) {
		batch_committed(c, op);
	}
	correlate_write_op_free(op);
}

static void
run(struct correlator *c)
{
	int64_t left_us;

	if (c->closing || c->batch_op != NULL)
		return;
	if (c->queue_n == 0) {
		drop_batch(c);
		if (load_batch(c) == -1) {
			retry(c, "cannot read the journal");
			return;
		}
		if (c->queue_n == 0) {
			correlate_schedule(c, POLL_S * 1000);
			return;
		}
	}
	left_us = c->wait_until_us - util_mono_us();
	if (probes_pending(c) && left_us > 0) {
		correlate_schedule(c, left_us / 1000 + 1);
		return;
	}
	if (process_batch(c) == -1)
		retry(c, "cannot read the store to classify a batch of Nylas events");
	/* Else correlate_write_done goes on once the batch is committed. */
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run(arg);
}

static void
storm_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	correlate_storm_tick(arg);
}

struct correlator *
correlator_new(struct runtime *rt, struct http_client *hc)
{
	struct correlator *c = xcalloc(1, sizeof(*c));
	char *err = NULL;
	size_t i;

	c->rt = rt;
	c->hc = hc;
	/*
	 * Its own connection, whose commits survive a crash of the process but
	 * skip the fsync: a batch lost with the machine is only processed again
	 * (its events are marked in the same transaction).  Rotations are
	 * planned through rt->store, which keeps full durability.
	 */
	c->store = store_open(rt->cfg->store_url, &err);
	if (c->store == NULL)
		fatal("correlator: %s", err);
	/* The leader's epoch: once another replica leads, the store refuses these writes. */
	if (store_set_epoch(c->store, rt->epoch) == -1)
		fatal("correlator: the store did not take the leader's epoch");
	store_relax_durability(c->store);
	/*
	 * Its transactions run on the event loop: wait for the journal's writer
	 * (a commit takes milliseconds) but never the usual seconds; a batch
	 * that finds the store busy longer is retried with backoff.
	 */
	store_lock_wait(c->store, CORRELATE_LOCK_WAIT_MS);
	c->timer = evtimer_new(rt->base, timer_cb, c);
	c->storm_timer = event_new(rt->base, -1, EV_PERSIST, storm_timer_cb, c);
	if (c->timer == NULL || c->storm_timer == NULL ||
	    event_add(c->storm_timer, &(struct timeval){ 1, 0 }) == -1)
		fatal("out of memory");
	c->apps = xcalloc(rt->cfg->n_apps + 1, sizeof(*c->apps));
	for (i = 0; i < rt->cfg->n_apps; i++) {
		struct app_corr *a = xcalloc(1, sizeof(*a));

		a->c = c;
		a->name = xstrdup(rt->cfg->apps[i]->name);
		c->apps[c->n_apps++] = a;
	}
	correlate_schedule(c, 0);
	return c;
}

void
correlator_free(struct correlator *c)
{
	size_t i;

	if (c == NULL)
		return;
	c->closing = 1;
	/*
	 * Writes still at the writer are committed first, so that a correlator
	 * started next (a reload) reads them; their callbacks find no correlator.
	 */
	if (c->ops != NULL) {
		struct write_op *op;

		for (op = c->ops; op != NULL; op = op->next)
			op->c = NULL;
		journal_flush(c->rt->journal);
	}
	drop_batch(c);
	/* The next correlator (a reload) grants its own. */
	storm_revoke(journal_storm(c->rt->journal), NULL);
	for (i = 0; i < c->n_apps; i++)
		correlate_app_free(c->apps[i]);
	free(c->apps);
	event_free(c->timer);
	event_free(c->storm_timer);
	store_close(c->store);
	free(c);
}

void
correlator_wake(struct correlator *c)
{
	if (c != NULL && !c->closing && c->retry_s == 0 && c->queue_n == 0)
		correlate_schedule(c, 0);
}

uint64_t
correlator_processed(const struct correlator *c)
{
	return c->processed;
}
