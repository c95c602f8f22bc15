#include "engine/correlate.h"
#include "engine/alerts.h"
#include "engine/rotation_in_use.h"
#include "engine/rotator.h"
#include "intake/nylas.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "outbound/graph.h"
#include "outbound/identity.h"
#include "proto/jwt.h"
#include "state/config.h"
#include "state/credentials.h"
#include "state/journal.h"
#include "state/rotation.h"
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
/* Open incidents read per app at start (one app-side plus one per user cause are expected). */
#define LOAD_MAX 64
/* Incident slots per app: the app-side one, then one per user cause. */
#define SLOT_APP 0
#define N_SLOTS 5
#define HINT_LEN 3
#define EVIDENCE_MORE "more evidence was left out"
#define STR_(x) #x
#define STR(x) STR_(x)

/* One open incident as the correlator keeps it between batches. */
struct incident {
	char *id;
	enum correlate_cause cause;
	cJSON *evidence;		/* array of strings, as stored */
	char *why;			/* the evidence that decided the cause, for the log; may be NULL */
	char *rotation_id;		/* NULL until one is planned or joined */
	int64_t opened_at;
	int64_t affected, recovered;
	int64_t logged_affected;	/* affected at the last log line */
	enum correlate_cause logged_cause;
	int is_new;			/* opened since the last commit, not logged yet */
	int rotation_new;		/* its rotation was planned for it, not logged yet */
	int resolved;			/* all its grants recovered: leaves at the commit */
	int dirty;			/* to be written at the end of the transaction */
};

/*
 * An identity probe cannot be cancelled (it runs on the shared http client),
 * so it holds this small record; correlator_free detaches it and the
 * callback frees it.
 */
struct probe_ref {
	struct app_corr *a;
};

struct app_corr {
	struct correlator *c;
	char *name;
	struct incident *slot[N_SLOTS];
	int loaded;
	struct correlate_burst burst;
	/* The probe of the in-use secret. */
	struct probe_ref *probe;	/* in flight, or NULL */
	int64_t probe_started_ms;	/* 0: never */
	enum correlate_probe probe_result;
	char *probe_text;		/* the evidence line of the last probe; NULL before one */
	char hint[HINT_LEN + 1];	/* of the secret being probed */
	const char *secret_source;	/* static text from rotation_in_use_secret */
	/* The stored passwordCredentials, read once per batch. */
	int credential_ended;
	char *credential_text;
	char *replaced_rotation;	/* a rotation published lately whose old secret has ended */
	char *replaced_text;
	/* Per batch. */
	int expired_in_batch;
	int recovered_in_batch;
};

struct correlator {
	struct runtime *rt;
	struct http_client *hc;
	struct store *store;		/* its own connection (see correlator_new) */
	struct app_corr **apps;
	size_t n_apps;
	struct event *timer;
	struct store_pending *queue;
	struct nylas_event *parsed;	/* parallel to queue */
	size_t queue_n;
	int64_t wait_until_us;		/* the batch waits for probes until then */
	struct write_op *batch_op;	/* the batch's writes, at the writer; NULL when none */
	struct write_op *ops;		/* every op at the writer (the batch's too) */
	int retry_s;
	int closing;
	uint64_t processed;
};

/* ---- Pure parts ---- */

static const char *const cause_names[CORRELATE_N_CAUSES] = {
	"unknown", "suspected_app_wide", "user_password_changed", "user_sessions_revoked",
	"user_deleted", "user_disabled", "secret_invalid", "secret_expired",
};

const char *
correlate_cause_name(enum correlate_cause c)
{
	return (unsigned)c < CORRELATE_N_CAUSES ? cause_names[c] : "unknown";
}

int
correlate_cause_parse(const char *name, enum correlate_cause *out)
{
	size_t i;

	for (i = 0; name != NULL && i < CORRELATE_N_CAUSES; i++) {
		if (strcmp(name, cause_names[i]) == 0) {
			*out = (enum correlate_cause)i;
			return 0;
		}
	}
	return -1;
}

int
correlate_cause_rotates(enum correlate_cause c)
{
	return c == CORRELATE_SECRET_EXPIRED || c == CORRELATE_SECRET_INVALID;
}

int
correlate_cause_is_user(enum correlate_cause c)
{
	return c >= CORRELATE_USER_PASSWORD_CHANGED && c <= CORRELATE_USER_DISABLED;
}

const char *
correlate_probe_name(enum correlate_probe p)
{
	switch (p) {
	case CORRELATE_PROBE_UNPROBED:
		return "unprobed";
	case CORRELATE_PROBE_OK:
		return "ok";
	case CORRELATE_PROBE_EXPIRED:
		return "secret_expired";
	case CORRELATE_PROBE_INVALID:
		return "secret_invalid";
	case CORRELATE_PROBE_REJECTED:
		return "rejected";
	case CORRELATE_PROBE_ERROR:
		return "error";
	default:
		return "none";
	}
}

static enum correlate_cause
user_cause(const char *kind)
{
	if (kind == NULL)
		return CORRELATE_UNKNOWN;
	if (strcmp(kind, "disabled") == 0)
		return CORRELATE_USER_DISABLED;
	if (strcmp(kind, "deleted") == 0)
		return CORRELATE_USER_DELETED;
	if (strcmp(kind, "sessions_revoked") == 0)
		return CORRELATE_USER_SESSIONS_REVOKED;
	if (strcmp(kind, "password_changed") == 0)
		return CORRELATE_USER_PASSWORD_CHANGED;
	return CORRELATE_UNKNOWN;
}

enum correlate_cause
correlate_classify(const struct correlate_evidence *ev)
{
	enum correlate_cause user = user_cause(ev->user_kind);

	if (ev->probe == CORRELATE_PROBE_EXPIRED)
		return CORRELATE_SECRET_EXPIRED;
	if (ev->credential_ended && ev->probe != CORRELATE_PROBE_OK &&
	    ev->probe != CORRELATE_PROBE_INVALID)
		return CORRELATE_SECRET_EXPIRED;
	if (ev->probe == CORRELATE_PROBE_INVALID)
		return CORRELATE_SECRET_INVALID;
	if (user != CORRELATE_UNKNOWN)
		return user;
	if (ev->replaced_ended && ev->probe == CORRELATE_PROBE_OK)
		return CORRELATE_SECRET_EXPIRED;
	if (ev->burst >= CORRELATE_BURST_MIN)
		return CORRELATE_SUSPECTED_APP_WIDE;
	return CORRELATE_UNKNOWN;
}

int
correlate_burst_add(struct correlate_burst *b, const char *grant, int64_t at_ms)
{
	size_t i, found = b->n;
	int n = 0;

	for (i = 0; i < b->n; i++)
		if (strncmp(b->grant[i], grant, sizeof(b->grant[i]) - 1) == 0)
			found = i;
	/* Drop the grant's old entry, or the oldest one when full. */
	if (found == b->n && b->n == CORRELATE_BURST_MIN)
		found = 0;
	if (found < b->n) {
		memmove(&b->grant[found], &b->grant[found + 1],
		    (b->n - found - 1) * sizeof(b->grant[0]));
		memmove(&b->at_ms[found], &b->at_ms[found + 1],
		    (b->n - found - 1) * sizeof(b->at_ms[0]));
		b->n--;
	}
	util_strlcpy(b->grant[b->n], grant, sizeof(b->grant[0]));
	b->at_ms[b->n++] = at_ms;
	for (i = 0; i < b->n; i++)
		if (b->at_ms[i] >= at_ms - (int64_t)CORRELATE_BURST_WINDOW_S * 1000 &&
		    b->at_ms[i] <= at_ms)
			n++;
	return n;
}

void
correlate_format_count(int64_t n, char *buf, size_t size)
{
	char digits[24], out[32];
	int len, i, o = 0;

	len = snprintf(digits, sizeof(digits), "%lld", (long long)(n < 0 ? -n : n));
	if (n < 0)
		out[o++] = '-';
	for (i = 0; i < len; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
	util_strlcpy(buf, out, size);
}

/* ---- Incidents in memory ---- */

static void
incident_free(struct incident *inc)
{
	if (inc == NULL)
		return;
	free(inc->id);
	cJSON_Delete(inc->evidence);
	free(inc->why);
	free(inc->rotation_id);
	free(inc);
}

static int
slot_of(enum correlate_cause cause)
{
	return correlate_cause_is_user(cause) ?
	    1 + (int)(cause - CORRELATE_USER_PASSWORD_CHANGED) : SLOT_APP;
}

/* Adds text to the incident's evidence unless it is there; bounded. */
static void
evidence_add(struct incident *inc, const char *text)
{
	const cJSON *e;
	int n = cJSON_GetArraySize(inc->evidence);

	if (text == NULL)
		return;
	cJSON_ArrayForEach(e, inc->evidence)
		if (cJSON_IsString(e) && strcmp(e->valuestring, text) == 0)
			return;
	if (n >= CORRELATE_EVIDENCE_MAX)
		return;
	inc->dirty = 1;
	cJSON_AddItemToArray(inc->evidence, cJSON_CreateString(n == CORRELATE_EVIDENCE_MAX - 1 ?
	    EVIDENCE_MORE : text));
}

static void
app_forget(struct app_corr *a)
{
	size_t i;

	for (i = 0; i < N_SLOTS; i++) {
		incident_free(a->slot[i]);
		a->slot[i] = NULL;
	}
	a->loaded = 0;
}

static struct incident *
incident_from_row(const struct store_incident *row, enum correlate_cause cause)
{
	struct incident *inc = xcalloc(1, sizeof(*inc));

	inc->id = xstrdup(row->id);
	inc->cause = inc->logged_cause = cause;
	inc->evidence = row->evidence ? cJSON_Parse(row->evidence) : NULL;
	if (!cJSON_IsArray(inc->evidence)) {
		cJSON_Delete(inc->evidence);
		inc->evidence = cJSON_CreateArray();
	}
	inc->rotation_id = row->rotation_id ? xstrdup(row->rotation_id) : NULL;
	inc->opened_at = row->opened_at;
	inc->affected = inc->logged_affected = row->affected;
	inc->recovered = row->recovered;
	return inc;
}

/* Reads the app's open incidents from the store once (again after a failed transaction). */
static int
app_load(struct app_corr *a)
{
	struct store_incident *rows = NULL;
	enum correlate_cause cause;
	size_t i, n = 0;
	int s;

	if (a->loaded)
		return 0;
	if (store_list_incidents(a->c->store, a->name, 1, LOAD_MAX, &rows, &n) == -1) {
		store_incidents_free(rows, n);
		return -1;
	}
	/* Newest first: an older open incident of the same kind is left as it is. */
	for (i = 0; i < n; i++) {
		if (correlate_cause_parse(rows[i].cause, &cause) == -1)
			continue;
		s = slot_of(cause);
		if (a->slot[s] == NULL)
			a->slot[s] = incident_from_row(&rows[i], cause);
	}
	store_incidents_free(rows, n);
	a->loaded = 1;
	return 0;
}

static struct incident *
incident_open(struct app_corr *a, enum correlate_cause cause, int64_t at_ms)
{
	struct incident *inc = xcalloc(1, sizeof(*inc));
	char id[CRYPTO_GUID_LEN + 1];

	if (crypto_guid(id) == -1)
		fatal("correlate: no randomness for an incident id");
	inc->id = xstrdup(id);
	inc->cause = cause;
	inc->logged_cause = cause;
	inc->evidence = cJSON_CreateArray();
	inc->opened_at = at_ms;
	inc->is_new = 1;
	inc->dirty = 1;
	a->slot[slot_of(cause)] = inc;
	return inc;
}

/* ---- Writes, through the journal's writer ---- */

/*
 * Every write of a batch goes to the journal's writer thread as one op,
 * inside the webhooks' next commit: the loop never waits for the store's
 * write lock (a commit's fsync), and a batch costs no fsync of its own.  The
 * op works on copies taken on the loop (write_op), never on the correlator,
 * and journal ops run in submission order, so a later snapshot of an
 * incident is always written after an earlier one.
 */
enum write_kind {
	WRITE_MARK,			/* only mark the event processed with its result */
	WRITE_LIST,			/* list the grant in an incident, then mark */
	WRITE_RECOVER,			/* mark the grant's listings recovered, then mark */
};

/* One event's writes, planned on the loop; strings owned. */
struct event_write {
	enum write_kind kind;
	int64_t id;			/* the event's row */
	const char *result;		/* static; the writer settles listed/recovered ones */
	char *app, *incident_id, *grant_id, *email;
	int64_t at_ms;
	size_t app_i;			/* the incident's place, to apply the result */
	int slot;
	int listed;			/* out: newly listed */
	int64_t recovered;		/* out: listings marked recovered */
};

/* An open incident to count again after recoveries; resolved when all are back. */
struct recount {
	size_t app_i;
	int slot;
	char *id;
	int found;			/* out */
	int resolved;			/* out */
	int64_t affected, recovered;	/* out */
};

struct write_op {
	struct correlator *c;		/* NULL once the correlator is gone */
	struct write_op *next, **prevp;	/* in c->ops while at the writer */
	int is_batch;			/* the batch's op (run waits for it) */
	struct store_incident *rows;	/* incidents to write (copies) */
	size_t n_rows;
	struct event_write *ev;
	size_t n_ev;
	struct recount *recount;
	size_t n_recount;
	int64_t now_ms;
};

static void
write_op_free(struct write_op *op)
{
	size_t i;

	if (op == NULL)
		return;
	for (i = 0; i < op->n_rows; i++)
		store_incident_clear(&op->rows[i]);
	for (i = 0; i < op->n_ev; i++) {
		free(op->ev[i].app);
		free(op->ev[i].incident_id);
		free(op->ev[i].grant_id);
		free(op->ev[i].email);
	}
	for (i = 0; i < op->n_recount; i++)
		free(op->recount[i].id);
	free(op->rows);
	free(op->ev);
	free(op->recount);
	free(op);
}

/* A copy of the incident as a row, for the writer. */
static void
incident_row(const struct app_corr *a, const struct incident *inc, int64_t now_ms,
    struct store_incident *row)
{
	char *evidence = cJSON_PrintUnformatted(inc->evidence);

	if (evidence == NULL)
		fatal("out of memory");
	memset(row, 0, sizeof(*row));
	row->id = xstrdup(inc->id);
	row->app = xstrdup(a->name);
	row->cause = xstrdup(correlate_cause_name(inc->cause));
	row->state = xstrdup(inc->resolved ? "resolved" : "open");
	row->evidence = xstrdup(evidence);
	row->rotation_id = xstrdup_null(inc->rotation_id);
	row->opened_at = inc->opened_at;
	row->updated_at = now_ms;
	row->resolved_at = inc->resolved ? now_ms : 0;
	row->resolved_by = inc->resolved ? xstrdup("recovered") : NULL;
	cJSON_free(evidence);
}

/* Copies every changed incident of every app into op, and counts them as written. */
static void
snapshot_dirty(struct correlator *c, struct write_op *op)
{
	size_t i, n = 0;
	int s;

	for (i = 0; i < c->n_apps; i++)
		for (s = 0; s < N_SLOTS; s++)
			n += c->apps[i]->slot[s] != NULL && c->apps[i]->slot[s]->dirty;
	op->rows = xcalloc(n + 1, sizeof(*op->rows));
	for (i = 0; i < c->n_apps; i++) {
		for (s = 0; s < N_SLOTS; s++) {
			struct incident *inc = c->apps[i]->slot[s];

			if (inc == NULL || !inc->dirty)
				continue;
			incident_row(c->apps[i], inc, op->now_ms, &op->rows[op->n_rows++]);
			inc->dirty = 0;
		}
	}
}

static int
write_event(struct store *st, struct event_write *e)
{
	enum store_result r;

	if (e->kind == WRITE_LIST) {
		r = store_add_incident_grant(st, e->incident_id, e->grant_id, e->email, e->at_ms);
		if (r == STORE_ERROR)
			return -1;
		e->listed = r != STORE_DUPLICATE;
		e->result = e->listed ? "incident" : "already_listed";
	} else if (e->kind == WRITE_RECOVER) {
		e->recovered = store_recover_grants(st, e->app, e->grant_id, e->email, e->at_ms);
		if (e->recovered == -1)
			return -1;
		e->result = e->recovered > 0 ? "recovered" : "no_incident";
	}
	return store_mark_processed(st, e->id, e->result);
}

/* Whether a recovery of the batch touched app app_i's grants. */
static int
app_recovered(const struct write_op *op, size_t app_i)
{
	size_t i;

	for (i = 0; i < op->n_ev; i++)
		if (op->ev[i].kind == WRITE_RECOVER && op->ev[i].app_i == app_i &&
		    op->ev[i].recovered > 0)
			return 1;
	return 0;
}

static int
recount(struct store *st, struct recount *r, int64_t now_ms)
{
	struct store_incident row;
	int rc = store_get_incident(st, r->id, &row);

	if (rc <= 0)
		return rc;
	r->found = 1;
	r->affected = row.affected;
	r->recovered = row.recovered;
	store_incident_clear(&row);
	if (r->affected > 0 && r->recovered >= r->affected) {
		if (store_resolve_incident(st, r->id, "recovered", now_ms) == -1)
			return -1;
		r->resolved = 1;
	}
	return 0;
}

/* The op, in the writer thread, inside its transaction: no logging, no correlator. */
static int
write_op_run(struct store *st, void *arg)
{
	struct write_op *op = arg;
	size_t i;

	/* Afresh: the op may run again (journal.h), and a recount may be skipped then. */
	for (i = 0; i < op->n_recount; i++) {
		op->recount[i].found = op->recount[i].resolved = 0;
		op->recount[i].affected = op->recount[i].recovered = 0;
	}
	for (i = 0; i < op->n_rows; i++)
		if (store_put_incident(st, &op->rows[i]) == -1)
			return -1;
	for (i = 0; i < op->n_ev; i++)
		if (write_event(st, &op->ev[i]) == -1)
			return -1;
	for (i = 0; i < op->n_recount; i++)
		if (app_recovered(op, op->recount[i].app_i) &&
		    recount(st, &op->recount[i], op->now_ms) == -1)
			return -1;
	return 0;
}

static void write_done(enum store_result result, void *arg);

static struct write_op *
write_op_new(struct correlator *c, int is_batch)
{
	struct write_op *op = xcalloc(1, sizeof(*op));

	op->c = c;
	op->is_batch = is_batch;
	op->now_ms = util_now_ms();
	return op;
}

static void
write_op_submit(struct write_op *op)
{
	struct correlator *c = op->c;

	snapshot_dirty(c, op);
	if (op->is_batch)
		c->batch_op = op;
	op->next = c->ops;
	if (c->ops != NULL)
		c->ops->prevp = &op->next;
	op->prevp = &c->ops;
	c->ops = op;
	journal_submit_op(op->c->rt->journal, write_op_run, write_done, op);
}

/* Writes the incidents changed outside a batch (a rotation planned, a probe's answer). */
static void
write_incidents(struct correlator *c)
{
	write_op_submit(write_op_new(c, 0));
}

/* ---- Apps ---- */

static struct app_corr *
find_app(struct correlator *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->n_apps; i++)
		if (strcmp(c->apps[i]->name, name) == 0)
			return c->apps[i];
	return NULL;
}

static void
app_free(struct app_corr *a)
{
	if (a == NULL)
		return;
	if (a->probe != NULL)
		a->probe->a = NULL;
	app_forget(a);
	free(a->probe_text);
	free(a->credential_text);
	free(a->replaced_rotation);
	free(a->replaced_text);
	free(a->name);
	free(a);
}

/* ---- Metrics and the operator's log ---- */

static void
app_gauges(struct app_corr *a)
{
	int open[CORRELATE_N_CAUSES] = { 0 };
	int64_t affected = 0, recovered = 0;
	char labels[256];
	size_t i;

	for (i = 0; i < N_SLOTS; i++) {
		if (a->slot[i] == NULL)
			continue;
		open[a->slot[i]->cause]++;
		affected += a->slot[i]->affected;
		recovered += a->slot[i]->recovered;
	}
	for (i = 0; i < CORRELATE_N_CAUSES; i++) {
		snprintf(labels, sizeof(labels), "app=\"%s\",cause=\"%s\"", a->name, cause_names[i]);
		metrics_gauge_set("rekey_incidents_open", "Open incidents, by app and cause.",
		    labels, open[i]);
	}
	snprintf(labels, sizeof(labels), "app=\"%s\"", a->name);
	metrics_gauge_set("rekey_incident_affected_grants",
	    "Grants listed in the app's open incidents.", labels, (double)affected);
	metrics_gauge_set("rekey_incident_recovered_grants",
	    "Grants of the app's open incidents that have re-authenticated.", labels,
	    (double)recovered);
}

/* 0 below 10 affected grants, then one step at 10, 100 and every 1,000. */
static int64_t
milestone(int64_t n)
{
	if (n < 10)
		return 0;
	if (n < 100)
		return 1;
	if (n < 1000)
		return 2;
	return 2 + n / 1000;
}

static char *
rotation_note(const struct incident *inc)
{
	if (inc->rotation_id == NULL)
		return xstrdup(correlate_cause_rotates(inc->cause) ? "; no rotation planned yet" :
		    correlate_cause_is_user(inc->cause) ? "; a user cause: nothing is rotated" : "");
	return xasprintf("; rotation %s %s", inc->rotation_id,
	    inc->rotation_new ? "planned" : "already under way");
}

static void
incident_log(struct app_corr *a, struct incident *inc)
{
	char count[32], *note = rotation_note(inc);

	correlate_format_count(inc->affected, count, sizeof(count));
	/* Opened, a new cause, a rotation, resolved: the owners hear of it at the next sweep. */
	if (inc->is_new || inc->cause != inc->logged_cause || inc->rotation_new || inc->resolved)
		alerts_wake(a->c->rt->alerts);
	if (inc->is_new)
		log_ctx(LOG_LEVEL_WARN, NULL, a->name, "incident %s opened: %s (%s)%s", inc->id,
		    correlate_cause_name(inc->cause), inc->why ? inc->why : "no evidence yet", note);
	else if (inc->cause != inc->logged_cause)
		log_ctx(LOG_LEVEL_WARN, NULL, a->name, "incident %s: cause %s is now %s (%s)%s",
		    inc->id, correlate_cause_name(inc->logged_cause),
		    correlate_cause_name(inc->cause), inc->why ? inc->why : "", note);
	else if (inc->rotation_new)
		log_ctx(LOG_LEVEL_WARN, NULL, a->name, "incident %s: %s%s", inc->id,
		    correlate_cause_name(inc->cause), note);
	if (milestone(inc->affected) > milestone(inc->logged_affected))
		log_ctx(LOG_LEVEL_INFO, NULL, a->name, "incident %s: %s grants affected so far",
		    inc->id, count);
	if (inc->resolved)
		log_ctx(LOG_LEVEL_INFO, NULL, a->name, "incident %s resolved: all %s grants have "
		    "re-authenticated", inc->id, count);
	inc->is_new = inc->rotation_new = 0;
	inc->logged_cause = inc->cause;
	inc->logged_affected = inc->affected;
	free(note);
}

/* ---- Rotations ---- */

/* Plans (or joins) the one rotation a secret cause calls for; outside any transaction. */
static void
ensure_rotation(struct app_corr *a, struct incident *inc)
{
	struct correlator *c = a->c;
	const struct config_app *app = config_find_app(c->rt->cfg, a->name);
	char id[ROTATION_ID_SIZE], *err = NULL;
	int rc;

	if (inc->resolved || inc->rotation_id != NULL || !correlate_cause_rotates(inc->cause) ||
	    app == NULL)
		return;
	/* The secret works again because a rotation replaced the one that ended: that is the fix. */
	if (a->probe_result == CORRELATE_PROBE_OK && a->replaced_rotation != NULL) {
		inc->rotation_id = xstrdup(a->replaced_rotation);
		inc->dirty = 1;
		return;
	}
	rc = rotation_plan(c->rt->store, app, "incident", inc->id, 0, id, &err);
	if (rc == 2) {
		/* The last rotations failed: the next one waits (the owners were told why). */
		log_ctx(LOG_LEVEL_DEBUG, NULL, a->name, "incident %s: no rotation yet: %s", inc->id,
		    err);
		free(err);
		return;
	}
	if (rc == -1) {
		log_ctx(LOG_LEVEL_ERROR, NULL, a->name, "incident %s: cannot plan a rotation: %s",
		    inc->id, err);
		free(err);
		return;
	}
	inc->rotation_id = xstrdup(id);
	inc->rotation_new = rc == 0;
	inc->dirty = 1;
	rotator_wake(c->rt->rotator);
}

/*
 * After a commit: plans the rotations a secret cause calls for, records
 * them in their incidents, tells the operator what changed, drops resolved
 * incidents and sets the gauges.
 */
static void
app_after_commit(struct app_corr *a)
{
	size_t i;
	int dirty = 0;

	for (i = 0; i < N_SLOTS; i++) {
		if (a->slot[i] == NULL)
			continue;
		ensure_rotation(a, a->slot[i]);
		dirty |= a->slot[i]->dirty;
	}
	if (dirty)
		write_incidents(a->c);
	for (i = 0; i < N_SLOTS; i++) {
		if (a->slot[i] == NULL)
			continue;
		incident_log(a, a->slot[i]);
		if (a->slot[i]->resolved) {
			incident_free(a->slot[i]);
			a->slot[i] = NULL;
		}
	}
	app_gauges(a);
}

/* ---- The probe of the in-use secret ---- */

static void
count_probe(struct app_corr *a, enum correlate_probe p)
{
	char labels[256];

	snprintf(labels, sizeof(labels), "app=\"%s\",result=\"%s\"", a->name,
	    correlate_probe_name(p));
	metrics_counter_add("rekey_secret_probes_total",
	    "Probes of the in-use client secret at the token endpoint, by app and result.",
	    labels, 1);
}

/* Remembers what the probe said (text is taken) and records it for status. */
static void
probe_set(struct app_corr *a, enum correlate_probe p, char *text)
{
	char when[32], *json;
	cJSON *o = cJSON_CreateObject();

	a->probe_result = p;
	free(a->probe_text);
	a->probe_text = text;
	count_probe(a, p);
	util_format_time(a->probe_started_ms / 1000, when, sizeof(when));
	cJSON_AddStringToObject(o, "at", when);
	cJSON_AddStringToObject(o, "result", correlate_probe_name(p));
	cJSON_AddStringToObject(o, "evidence", text);
	json = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (json == NULL || store_put_value(a->c->store, a->name, "last_probe", json) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, a->name, "cannot record the last probe for status");
	cJSON_free(json);
	log_ctx(p == CORRELATE_PROBE_OK ? LOG_LEVEL_INFO : LOG_LEVEL_WARN, NULL, a->name,
	    "probe of the in-use secret: %s", text);
}

static char *
probe_text(const struct app_corr *a, const struct identity_result *res, enum correlate_probe *p)
{
	int64_t code = res->aad != NULL ? res->aad->code : 0;
	const char *src = a->secret_source ? a->secret_source : "unknown source";

	switch (res->status) {
	case IDENTITY_OK:
		*p = CORRELATE_PROBE_OK;
		return xasprintf("the in-use secret, hint %s (from %s), works at the token endpoint",
		    a->hint, src);
	case IDENTITY_REJECTED:
		if (res->aad != NULL && res->aad->kind == IDENTITY_ERR_SECRET_EXPIRED)
			*p = CORRELATE_PROBE_EXPIRED;
		else if (res->aad != NULL && res->aad->kind == IDENTITY_ERR_SECRET_INVALID)
			*p = CORRELATE_PROBE_INVALID;
		else
			*p = CORRELATE_PROBE_REJECTED;
		return xasprintf("AADSTS%lld for the in-use secret, hint %s, from %s%s",
		    (long long)code, a->hint, src, *p == CORRELATE_PROBE_EXPIRED ?
		    ": it has expired" : *p == CORRELATE_PROBE_INVALID ?
		    ": it is not valid (deleted, or its id given instead of its value)" : "");
	default:
		*p = CORRELATE_PROBE_ERROR;
		return xasprintf("the in-use secret, hint %s, could not be probed: %s", a->hint,
		    res->detail ? res->detail : "no answer from the token endpoint");
	}
}

static void upgrade_app_incident(struct app_corr *a);
static void schedule(struct correlator *c, int64_t ms);

static void
probe_cb(const struct identity_result *res, void *arg)
{
	struct probe_ref *ref = arg;
	struct app_corr *a = ref->a;
	enum correlate_probe p;
	char *text;

	free(ref);
	if (a == NULL)
		return;
	a->probe = NULL;
	if (res->status == IDENTITY_CANCELLED || a->c->closing)
		return;
	text = probe_text(a, res, &p);
	probe_set(a, p, text);
	upgrade_app_incident(a);
	schedule(a->c, 0);
}

/* Starts a probe of the app's in-use secret unless one ran within CORRELATE_PROBE_EVERY_S. */
static void
maybe_probe(struct app_corr *a)
{
	struct correlator *c = a->c;
	const struct config_app *app = config_find_app(c->rt->cfg, a->name);
	int64_t now = util_now_ms();
	struct secret *s;
	struct probe_ref *ref;

	if (app == NULL || a->probe != NULL ||
	    (a->probe_started_ms > 0 && now - a->probe_started_ms < CORRELATE_PROBE_EVERY_S * 1000))
		return;
	a->probe_started_ms = now;
	if (app->azure_tenant_id == NULL || app->azure_client_id == NULL) {
		probe_set(a, CORRELATE_PROBE_UNPROBED, xstrdup("the in-use secret cannot be "
		    "probed: azure_tenant_id or azure_client_id is not configured"));
		return;
	}
	s = rotation_in_use_secret(c->store, c->rt->cfg, app, &a->secret_source);
	if (s == NULL || s->len == 0) {
		secret_free(s);
		probe_set(a, CORRELATE_PROBE_UNPROBED, xstrdup("the in-use secret cannot be "
		    "probed: rekey does not know it (no current_secret_file, no published rotation)"));
		return;
	}
	memset(a->hint, 0, sizeof(a->hint));
	memcpy(a->hint, s->data, s->len < HINT_LEN ? s->len : HINT_LEN);
	ref = xcalloc(1, sizeof(*ref));
	ref->a = a;
	if (identity_probe_secret(c->hc, app, s, probe_cb, ref) == -1) {
		free(ref);
		probe_set(a, CORRELATE_PROBE_ERROR, xstrdup("the in-use secret could not be "
		    "probed: the token request was not sent"));
	} else {
		a->probe = ref;
	}
	secret_free(s);
}

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

/* Whether the in-use passwordCredentials entry (as the expiry poll stored it) has ended. */
static void
check_credential(struct app_corr *a)
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

/* The evidence line behind cause, for an app-side incident. */
static const char *
app_side_why(const struct app_corr *a, enum correlate_cause cause)
{
	if (cause == CORRELATE_SECRET_EXPIRED && a->probe_result == CORRELATE_PROBE_OK &&
	    a->replaced_text != NULL)
		return a->replaced_text;
	if (cause == CORRELATE_SECRET_EXPIRED && a->probe_result != CORRELATE_PROBE_EXPIRED)
		return a->credential_text;
	if (cause == CORRELATE_SUSPECTED_APP_WIDE)
		return "at least " STR(CORRELATE_BURST_MIN) " distinct grants expired within "
		    STR(CORRELATE_BURST_WINDOW_S) " s";
	return a->probe_text;
}

/* Adds the evidence that supports an app-side cause; upgrades the incident when it is stronger. */
static void
app_side_evidence(struct app_corr *a, struct incident *inc, enum correlate_cause cause)
{
	const char *why = app_side_why(a, cause);

	if (cause > inc->cause || (inc->why == NULL && why != NULL && cause == inc->cause)) {
		inc->cause = cause;
		free(inc->why);
		inc->why = why ? xstrdup(why) : NULL;
		inc->dirty = 1;
	}
	evidence_add(inc, a->probe_text);
	if (a->credential_ended)
		evidence_add(inc, a->credential_text);
	if (a->replaced_text != NULL)
		evidence_add(inc, a->replaced_text);
	if (cause == CORRELATE_SUSPECTED_APP_WIDE)
		evidence_add(inc, why);
	if (a->probe_text == NULL)
		evidence_add(inc, "no probe of the in-use secret had answered yet");
}

static struct incident *
incident_for(struct app_corr *a, enum correlate_cause cause, const char *email,
    const char *kind, const char *user_evidence, int64_t at_ms)
{
	struct incident *inc = a->slot[slot_of(cause)];
	char *text;

	if (inc == NULL)
		inc = incident_open(a, cause, at_ms);
	if (!correlate_cause_is_user(cause)) {
		app_side_evidence(a, inc, cause);
		return inc;
	}
	text = xasprintf("%s: %s: %s", email, kind, user_evidence ? user_evidence : "");
	if (inc->why == NULL)
		inc->why = xstrdup(text);
	evidence_add(inc, text);
	free(text);
	return inc;
}

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
	e.burst = correlate_burst_add(&a->burst, ev->grant_id, received_ms);
	inc = incident_for(a, correlate_classify(&e), ev->email, kind, uev, received_ms);
	free(kind);
	free(uev);
	inc->dirty = 1;
	w->kind = WRITE_LIST;
	w->incident_id = xstrdup(inc->id);
	w->grant_id = xstrdup(ev->grant_id);
	w->email = xstrdup_null(ev->email);
	w->slot = slot_of(inc->cause);
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
	a = find_app(c, p->app);
	if (a == NULL)
		return "unknown_app";
	w->app_i = app_index(c, a);
	if (app_load(a) == -1)
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

/*
 * Drops the app's incidents that an operator resolved in the store (rekey
 * resolve) since they were loaded, so that this transaction neither writes
 * them back as open nor adds grants to them: new expiries open a new one.
 */
static int
drop_resolved_elsewhere(struct app_corr *a)
{
	size_t i;
	int open;

	for (i = 0; i < N_SLOTS; i++) {
		if (a->slot[i] == NULL || a->slot[i]->is_new)
			continue;
		if ((open = store_incident_is_open(a->c->store, a->slot[i]->id)) == -1)
			return -1;
		if (!open) {
			log_ctx(LOG_LEVEL_INFO, NULL, a->name, "incident %s was resolved by an "
			    "operator", a->slot[i]->id);
			incident_free(a->slot[i]);
			a->slot[i] = NULL;
		}
	}
	return 0;
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

static void
schedule(struct correlator *c, int64_t ms)
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
		app_forget(c->apps[i]);
	c->retry_s = c->retry_s == 0 ? RETRY_FIRST_S :
	    (c->retry_s * 2 > RETRY_MAX_S ? RETRY_MAX_S : c->retry_s * 2);
	log_warn("correlator: %s; again in %d s", why, c->retry_s);
	schedule(c, (int64_t)c->retry_s * 1000);
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
}

/* Reads the next batch and starts the probes it calls for; 0 or -1. */
static int
load_batch(struct correlator *c)
{
	struct app_corr *a;
	size_t i;

	if (store_unprocessed(c->store, "nylas", 0, BATCH_MAX, 0, &c->queue, &c->queue_n) == -1)
		return -1;
	c->parsed = xcalloc(c->queue_n + 1, sizeof(*c->parsed));
	for (i = 0; i < c->queue_n; i++) {
		event_from_row(&c->queue[i], &c->parsed[i]);
		if (strcmp(c->parsed[i].type, "grant.expired") != 0 ||
		    c->parsed[i].provider == NULL ||
		    strcasecmp(c->parsed[i].provider, "microsoft") != 0 ||
		    (a = find_app(c, c->queue[i].app)) == NULL)
			continue;
		a->expired_in_batch = 1;
	}
	for (i = 0; i < c->n_apps; i++) {
		if (!c->apps[i]->expired_in_batch)
			continue;
		maybe_probe(c->apps[i]);
		check_credential(c->apps[i]);
	}
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
		if (drop_resolved_elsewhere(c->apps[i]) == -1)
			return -1;
	op = write_op_new(c, 1);
	op->ev = xcalloc(c->queue_n + 1, sizeof(*op->ev));
	for (i = 0; i < c->queue_n; i++) {
		op->ev[i].result = handle_event(c, &c->queue[i], &c->parsed[i], &op->ev[i]);
		op->n_ev++;
		if (op->ev[i].result == NULL) {
			write_op_free(op);
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
	write_op_submit(op);
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
	for (i = 0; i < c->n_apps; i++)
		app_after_commit(c->apps[i]);
	drop_batch(c);
	c->retry_s = 0;
	/* Through the loop: webhooks are answered between batches. */
	schedule(c, 0);
}

static void
write_done(enum store_result result, void *arg)
{
	struct write_op *op = arg;
	struct correlator *c = op->c;
	size_t i;

	if (c == NULL) {		/* the correlator was freed meanwhile */
		write_op_free(op);
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
			app_forget(c->apps[i]);
		log_warn("correlator: cannot record the incidents' changes (a rotation, a probe's "
		    "evidence); they are read again from the store");
	} else if (op->is_batch) {
		batch_committed(c, op);
	}
	write_op_free(op);
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
			schedule(c, POLL_S * 1000);
			return;
		}
	}
	left_us = c->wait_until_us - util_mono_us();
	if (probes_pending(c) && left_us > 0) {
		schedule(c, left_us / 1000 + 1);
		return;
	}
	if (process_batch(c) == -1)
		retry(c, "cannot read the store to classify a batch of Nylas events");
	/* Else write_done goes on once the batch is committed. */
}

/* A probe answered: a stronger cause upgrades the app-side incident in place. */
static void
upgrade_app_incident(struct app_corr *a)
{
	struct incident *inc = a->slot[SLOT_APP];
	struct correlate_evidence e;
	enum correlate_cause cause;

	if (inc == NULL || inc->is_new)
		return;
	memset(&e, 0, sizeof(e));
	e.probe = a->probe_result;
	e.credential_ended = a->credential_ended;
	e.replaced_ended = a->replaced_rotation != NULL;
	cause = correlate_classify(&e);
	if (cause <= inc->cause || correlate_cause_is_user(cause))
		return;
	app_side_evidence(a, inc, cause);
	/* A batch in flight may hold new incidents not yet committed: its end does this. */
	if (a->c->batch_op == NULL)
		app_after_commit(a);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run(arg);
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
	store_relax_durability(c->store);
	/*
	 * Its transactions run on the event loop: wait for the journal's writer
	 * (a commit takes milliseconds) but never the usual seconds; a batch
	 * that finds the store busy longer is retried with backoff.
	 */
	store_lock_wait(c->store, CORRELATE_LOCK_WAIT_MS);
	c->timer = evtimer_new(rt->base, timer_cb, c);
	if (c->timer == NULL)
		fatal("out of memory");
	c->apps = xcalloc(rt->cfg->n_apps + 1, sizeof(*c->apps));
	for (i = 0; i < rt->cfg->n_apps; i++) {
		struct app_corr *a = xcalloc(1, sizeof(*a));

		a->c = c;
		a->name = xstrdup(rt->cfg->apps[i]->name);
		c->apps[c->n_apps++] = a;
	}
	schedule(c, 0);
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
	for (i = 0; i < c->n_apps; i++)
		app_free(c->apps[i]);
	free(c->apps);
	event_free(c->timer);
	store_close(c->store);
	free(c);
}

void
correlator_wake(struct correlator *c)
{
	if (c != NULL && !c->closing && c->retry_s == 0 && c->queue_n == 0)
		schedule(c, 0);
}

uint64_t
correlator_processed(const struct correlator *c)
{
	return c->processed;
}

/* ---- What the CLI and the admin API call: store writes only ---- */

int
correlate_resolve(struct store *st, const char *id, char **err)
{
	struct store_incident inc;
	int rc = store_resolve_incident(st, id, "operator", util_now_ms());

	if (rc == 1)
		return 0;
	/* Not open: resolved already (resolving twice is harmless), or unknown. */
	if (rc == 0 && (rc = store_get_incident(st, id, &inc)) == 1) {
		store_incident_clear(&inc);
		return 0;
	}
	*err = rc == 0 ? xasprintf("no incident %s", id) : xstrdup("cannot write the resolution "
	    "to the store");
	return -1;
}
