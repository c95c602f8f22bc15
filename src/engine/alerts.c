/*
 * alerts: from durable state to notices.  See alerts.h.
 *
 * One sweep per ALERTS_SWEEP_MS (sooner when woken) reads, per app, the
 * newest incidents and rotations and the recorded expiry warnings, and
 * queues each notice they call for that the outbox does not hold yet.
 * Runs on the event loop with the notifier's kind of store connection: it
 * waits at most ALERTS_LOCK_WAIT_MS for the write lock, and a busy store
 * only delays the sweep.
 */
#include "engine/alerts.h"
#include "engine/alerts_int.h"
#include "engine/invalid_grants.h"
#include "engine/notifier.h"
#include "engine/owners.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/util.h"
#include "notice/kinds.h"
#include "notice/notice.h"
#include "outbound/graph.h"
#include "outbound/nylas.h"
#include "state/condition.h"
#include "state/config.h"
#include "state/credentials.h"
#include "state/health.h"
#include "state/incident.h"
#include "state/rotation.h"
#include "state/runtime.h"
#include "state/store.h"
#include "state/wake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#define ALERTS_SWEEP_MS		2000
#define ALERTS_MORE_MS		100	/* the next slice of a long job (the users' mails) */
#define ALERTS_LOCK_WAIT_MS	250
#define ALERTS_INCIDENTS_MAX	16
#define ALERTS_ROTATIONS_MAX	16
/* The rotations read to count the failures a done one ends (rotation_backoff reads as many). */
#define ALERTS_STREAK_MAX	64
#define ALERTS_WARNINGS_MAX	64
#define ALERTS_REAUTH_BATCH	50	/* user emails rendered per incident per sweep: ~2 ms of the loop */
#define ALERTS_RESOLVED_KEEP_MS	(7LL * 86400 * 1000)	/* resolved incidents still told */
#define ALERTS_RETRY_S		600	/* after a failed owners or grants read */
#define ALERTS_EVIDENCE_MAX	16
#define ALERTS_SETTLE_MS	3000	/* an incident's alert waits this long: a storm's count, not its first grant */
/* Users' sign-in mails wait for the owners' messages at most this long after the fix. */
#define ALERTS_OWNERS_FIRST_MS	60000
#define ALERTS_OWNERS_WAIT_S	30	/* notices wait at most this long for Graph's owners at start */
#define ALERTS_OWNERS_STORE_RETRY_S 5	/* owners read but not stored: read again this soon */

static const struct config_app *
app_config(const struct alerts *al, const char *name)
{
	size_t i;

	for (i = 0; i < al->rt->cfg->n_apps; i++)
		if (strcmp(al->rt->cfg->apps[i]->name, name) == 0)
			return al->rt->cfg->apps[i];
	return NULL;
}

/* ---- Owners ---- */

static void
owners_cb(const struct graph_result *res, void *arg)
{
	struct app_alerts *a = arg;
	char *json;

	if (res->outcome == GRAPH_CANCELLED)
		return;
	a->owners_busy = 0;
	alerts_wake(a->al);
	if (res->outcome != GRAPH_OK) {
		/* Unreadable: the notices go to the configured owners rather than wait. */
		a->owners_ready = 1;
		log_ctx(LOG_LEVEL_WARN, NULL, a->name, "cannot read the app's owners from Graph: %s; "
		    "again in %d min", res->detail ? res->detail : graph_outcome_name(res->outcome),
		    ALERTS_RETRY_S / 60);
		a->owners_next_s = util_now_ms() / 1000 + ALERTS_RETRY_S;
		return;
	}
	json = owners_put_graph(a->al->st, a->name, res->owners, res->n_owners);
	if (json == NULL) {
		/* Read but not kept: the first notices wait (at most ALERTS_OWNERS_WAIT_S) for a retry. */
		log_ctx(LOG_LEVEL_WARN, NULL, a->name, "cannot record the app's owners read from "
		    "Graph; again in %d s", ALERTS_OWNERS_STORE_RETRY_S);
		a->owners_next_s = util_now_ms() / 1000 + ALERTS_OWNERS_STORE_RETRY_S;
	} else {
		a->owners_ready = 1;
		a->owners_next_s = util_now_ms() / 1000 + OWNERS_REFRESH_S;
		log_ctx(LOG_LEVEL_INFO, NULL, a->name, "owners from Graph: %s", json);
	}
	cJSON_free(json);
}

static void
find_app_cb(const struct graph_result *res, void *arg)
{
	struct app_alerts *a = arg;

	if (res->outcome == GRAPH_CANCELLED)
		return;
	if (res->outcome == GRAPH_OK && res->application != NULL && res->application->id != NULL) {
		a->object_id = xstrdup(res->application->id);
		if (graph_list_owners(a->gc, a->object_id, owners_cb, a) == 0)
			return;
	}
	owners_cb(res->outcome == GRAPH_OK ? &(struct graph_result){ .outcome = GRAPH_NOT_FOUND,
	    .detail = "the application was not found" } : res, a);
}

static void
refresh_owners(struct app_alerts *a, const struct config_app *app)
{
	int rc;

	if (!app->owners_from_graph || a->gc == NULL || a->owners_busy ||
	    util_now_ms() / 1000 < a->owners_next_s)
		return;
	a->owners_busy = 1;
	rc = a->object_id != NULL ? graph_list_owners(a->gc, a->object_id, owners_cb, a) :
	    graph_find_application(a->gc, app->azure_client_id, find_app_cb, a);
	if (rc == -1) {
		a->owners_busy = 0;
		a->owners_next_s = util_now_ms() / 1000 + ALERTS_RETRY_S;
	}
}

/* ---- Building notices ---- */

struct evidence {
	cJSON *arr;
	const char *lines[ALERTS_EVIDENCE_MAX];
	size_t n;
};

static void
evidence_load(struct evidence *ev, const char *json)
{
	cJSON *e;

	memset(ev, 0, sizeof(*ev));
	ev->arr = json != NULL ? cJSON_Parse(json) : NULL;
	cJSON_ArrayForEach(e, ev->arr)
		if (cJSON_IsString(e) && ev->n < ALERTS_EVIDENCE_MAX)
			ev->lines[ev->n++] = e->valuestring;
}

void
alerts_notice_base(struct notice *n, enum notice_kind kind, const struct config_app *app,
    const struct config *cfg, char *hint, size_t hint_size)
{
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->app = app->name;
	n->azure_client_id = app->azure_client_id;
	n->now_ms = util_now_ms();
	n->rotation_mode = app->rotation_mode == ROTATION_MODE_APPROVE ? "approve" :
	    app->rotation_mode == ROTATION_MODE_DRY_RUN ? "dry-run" : "auto";
	if (cfg->public_url != NULL)
		snprintf(hint, hint_size, "rekey status -c %s (or GET %s/api/v1/status)", cfg->path,
		    cfg->public_url);
	else
		snprintf(hint, hint_size, "rekey status -c %s", cfg->path);
	n->status_hint = hint;
	n->config_path = cfg->path;
}

static void
notice_incident(struct notice *n, const struct store_incident *inc, const struct evidence *ev)
{
	n->incident_id = inc->id;
	n->cause = inc->cause;
	n->evidence = ev->lines;
	n->n_evidence = ev->n;
	n->affected = inc->affected;
	n->recovered = inc->recovered;
	n->opened_at_ms = inc->opened_at;
	n->resolved_at_ms = inc->resolved_at;
	n->resolved_by = inc->resolved_by != NULL && strcmp(inc->resolved_by, "operator") == 0 ?
	    "operator" : "all users re-authenticated";
}

static void
notice_rotation(struct notice *n, const struct store_rotation *r)
{
	n->rotation_id = r->id;
	n->rotation_reason = r->reason;
	n->rotation_state = r->state;
	n->new_key_id = r->new_key_id;
	n->new_hint = r->new_hint;
	n->new_end_ms = r->new_end * 1000;
	n->published_at_ms = r->published_at;
	n->retire_at_ms = r->retire_at;
	n->old_key_id = r->old_key_id;
	n->last_error = r->last_error;
	n->next_retry_ms = r->next_at;
	if (r->dry_run)
		n->rotation_mode = "dry-run";
}

/*
 * Queues n about ref unless the outbox has it; the notifier is kicked when
 * rows were added.  0 when queued or known, -1 when it must be tried again.
 */
int
alerts_tell(struct sweep *sw, const struct notice *n, const char *ref)
{
	int known = store_outbox_exists(sw->al->st, ref, notice_kind_name(n->kind)), added;

	if (known != 0)
		return known == 1 ? 0 : -1;
	added = notify_queue(sw->al->st, sw->al->rt->cfg, n, ref, (const char *const *)sw->owners,
	    sw->n_owners);
	if (added > 0)
		wake_signal(WAKE_NOTICES);
	return added < 0 ? -1 : 0;
}

/* The rotation an incident started, when it has one (1), else 0. */
static int
incident_rotation(struct sweep *sw, const struct store_incident *inc, struct store_rotation *r)
{
	return inc->rotation_id != NULL && store_get_rotation(sw->al->st, inc->rotation_id, r) == 1;
}

/* The last digest of an incident: when, how many were back, its number. */
struct digest_state {
	int64_t at_ms;
	int64_t recovered;		/* -1: none sent yet */
	int64_t seq;
};

static int64_t
json_int(const cJSON *o, const char *name, int64_t dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : dflt;
}

/* Stored as {"at_ms":..,"recovered":..,"seq":..} under "digest:<incident id>". */
static void
digest_state_read(struct sweep *sw, const char *key, struct digest_state *d)
{
	char *val = NULL;
	cJSON *o = NULL;

	if (store_get_value(sw->al->st, sw->app->name, key, &val) == 1 && val != NULL)
		o = cJSON_Parse(val);
	free(val);
	d->at_ms = json_int(o, "at_ms", 0);
	d->recovered = json_int(o, "recovered", -1);
	d->seq = json_int(o, "seq", 0);
	cJSON_Delete(o);
}

static void
digest_state_write(struct sweep *sw, const char *key, const struct digest_state *d)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "{\"at_ms\":%lld,\"recovered\":%lld,\"seq\":%lld}",
	    (long long)d->at_ms, (long long)d->recovered, (long long)d->seq);
	store_put_value(sw->al->st, sw->app->name, key, buf);
}

/* Re-auth progress, at most one digest per digest_interval, and only when it moved. */
static void
digest(struct sweep *sw, const struct store_incident *inc, struct notice *n)
{
	char key[160], ref[200];
	struct digest_state d;
	int64_t now = util_now_ms(), every = sw->al->rt->cfg->digest_interval * 1000;

	snprintf(key, sizeof(key), "digest:%s", inc->id);
	digest_state_read(sw, key, &d);
	/* Progress means users back: "0 back" would only repeat the alert. */
	if (inc->affected == 0 || inc->recovered == 0 || inc->recovered == d.recovered ||
	    now - (d.at_ms > 0 ? d.at_ms : inc->opened_at) < every)
		return;
	n->kind = NOTICE_REAUTH_DIGEST;
	snprintf(ref, sizeof(ref), "%s#%lld", inc->id, (long long)(d.seq + 1));
	if (alerts_tell(sw, n, ref) == -1)
		return;
	d.at_ms = now;
	d.recovered = inc->recovered;
	d.seq++;
	digest_state_write(sw, key, &d);
}

/* tpl with each {email} replaced by the address, percent-encoded (RFC 3986).  Caller frees. */
static char *
reauth_url(const char *tpl, const char *email)
{
	static const char hex[] = "0123456789ABCDEF";
	char enc[3 * 320 + 1], *out, *p;
	const char *s, *at;
	size_t k = 0, n = 0;

	for (s = email; *s != '\0' && k + 4 < sizeof(enc); s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			enc[k++] = (char)c;
		} else {
			enc[k++] = '%';
			enc[k++] = hex[c >> 4];
			enc[k++] = hex[c & 15];
		}
	}
	enc[k] = '\0';
	for (s = tpl; (at = strstr(s, "{email}")) != NULL; s = at + 7)
		n++;
	out = p = xmalloc(strlen(tpl) + n * k + 1);
	for (s = tpl; (at = strstr(s, "{email}")) != NULL; s = at + 7) {
		memcpy(p, s, (size_t)(at - s));
		p += at - s;
		memcpy(p, enc, k);
		p += k;
	}
	memcpy(p, s, strlen(s) + 1);
	return out;
}

/* 1 when the owners' messages of kind about ref are queued and none is left to send. */
static int
owners_out(struct sweep *sw, const char *ref, enum notice_kind kind)
{
	return store_outbox_exists(sw->al->st, ref, notice_kind_name(kind)) == 1 &&
	    store_outbox_unsent(sw->al->st, ref, notice_kind_name(kind)) == 0;
}

/*
 * The owners hear first: the users' sign-in mails wait until the owners'
 * messages about the incident, and about its rotation when there is one,
 * are out (sent, or given up), so that the owners are never the last to
 * know.  A channel that keeps failing holds the users back no longer than
 * ALERTS_OWNERS_FIRST_MS after the fix (or the incident's own alert).
 */
static int
owners_heard(struct sweep *sw, const struct store_incident *inc, const struct store_rotation *r)
{
	int64_t since = r != NULL ? r->published_at : inc->opened_at + ALERTS_SETTLE_MS;

	if (util_now_ms() - since >= ALERTS_OWNERS_FIRST_MS)
		return 1;
	return owners_out(sw, inc->id, NOTICE_INCIDENT_OPENED) &&
	    (r == NULL || owners_out(sw, r->id, NOTICE_ROTATION_DONE) ||
	    owners_out(sw, r->id, NOTICE_ROTATION_RECOVERED));
}

/* One email per affected user with their own link, once the fix is in Nylas. */
static void
user_mails(struct sweep *sw, const struct store_incident *inc, struct notice *base,
    const struct store_rotation *r)
{
	int rotation_published = r != NULL && r->published_at > 0;
	const char *tpl = sw->app->reauth_url_template;
	enum incident_cause cause;
	char **emails = NULL, *url;
	size_t n = 0, i;
	struct notice n1;
	const char *names[4];

	if (tpl == NULL || config_notify_channels(sw->al->rt->cfg, names) == 0 ||
	    strcmp(names[0], "email") != 0 || incident_cause_parse(inc->cause, &cause) == -1)
		return;
	/* A disabled or deleted user cannot sign in; a secret must be replaced first. */
	if (cause == INCIDENT_USER_DISABLED || cause == INCIDENT_USER_DELETED ||
	    (incident_cause_rotates(cause) && !rotation_published))
		return;
	/* Not yet: the next sweep looks again (ALERTS_SWEEP_MS). */
	if (!owners_heard(sw, inc, rotation_published ? r : NULL))
		return;
	if (store_unmailed_grants(sw->al->st, inc->id, notice_kind_name(NOTICE_USER_REAUTH),
	    ALERTS_REAUTH_BATCH, &emails, &n) == -1) {
		util_strings_free(emails, n);
		return;
	}
	for (i = 0; i < n; i++) {
		url = reauth_url(tpl, emails[i]);
		n1 = *base;
		n1.kind = NOTICE_USER_REAUTH;
		n1.email = emails[i];
		n1.reauth_url = url;
		if (url != NULL && notify_queue_email(sw->al->st, sw->al->rt->cfg, &n1, inc->id,
		    emails[i]) > 0)
			wake_signal(WAKE_NOTICES);
		free(url);
	}
	util_strings_free(emails, n);
	if (n == ALERTS_REAUTH_BATCH)
		sw->more = 1;
}

static void
sweep_incident(struct sweep *sw, const struct store_incident *inc)
{
	struct notice n;
	struct evidence ev;
	struct store_rotation r;
	enum incident_cause cause;
	int has_rot, open = strcmp(inc->state, "open") == 0;

	if (!open && util_now_ms() - inc->resolved_at > ALERTS_RESOLVED_KEEP_MS)
		return;
	evidence_load(&ev, inc->evidence);
	alerts_notice_base(&n, NOTICE_INCIDENT_OPENED, sw->app, sw->al->rt->cfg, sw->hint,
	    sizeof(sw->hint));
	notice_incident(&n, inc, &ev);
	memset(&r, 0, sizeof(r));
	has_rot = incident_rotation(sw, inc, &r);
	if (has_rot)
		notice_rotation(&n, &r);
	if (!open || util_now_ms() - inc->opened_at >= ALERTS_SETTLE_MS)
		alerts_tell(sw, &n, inc->id);
	if (open) {
		if (incident_cause_parse(inc->cause, &cause) == 0 && incident_cause_rotates(cause))
			invalid_grants_list(sw->a, inc);
		user_mails(sw, inc, &n, has_rot ? &r : NULL);
		digest(sw, inc, &n);
	} else {
		n.kind = NOTICE_INCIDENT_RESOLVED;
		alerts_tell(sw, &n, inc->id);
	}
	if (has_rot)
		store_rotation_clear(&r);
	cJSON_Delete(ev.arr);
}

/* The notice a rotation calls for now, if any. */
static int
rotation_kind(const struct store_rotation *r, enum notice_kind *kind)
{
	/* Done once watched: a rotation just published or being watched may still roll back. */
	if (r->published_at > 0 && strcmp(r->state, "published") != 0 &&
	    strcmp(r->state, "watching") != 0 && strcmp(r->state, "rolling_back") != 0)
		*kind = NOTICE_ROTATION_DONE;
	else if (strcmp(r->state, "failed") == 0)
		*kind = NOTICE_ROTATION_FAILED;
	else if (strcmp(r->state, "planned") == 0 && !r->approved)
		*kind = NOTICE_ROTATION_WAITING;
	else
		return 0;
	return 1;
}

/* The incident that names rotation id, or NULL. */
static const char *
incident_of(const struct store_incident *incs, size_t n, const char *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (incs[i].rotation_id != NULL && strcmp(incs[i].rotation_id, id) == 0)
			return incs[i].id;
	return NULL;
}

/*
 * The outbox ref of r's notice: its id, but for a failure the app, the cause
 * and the UTC day, so that the owners hear once of each cause and then at
 * most once a day while it lasts, however often rotations fail of it (and
 * whatever restarts come between).
 */
static void
rotation_ref(const struct store_rotation *r, enum notice_kind kind, char *ref, size_t size)
{
	char cause[17];

	if (kind != NOTICE_ROTATION_FAILED) {
		snprintf(ref, size, "%s", r->id);
		return;
	}
	rotation_failure_cause(r->last_error, cause);
	snprintf(ref, size, "rotation-failed:%s:%s:%lld", r->app, cause,
	    (long long)(r->updated_at / 86400000));
}

/*
 * Whether r failed for the cause RotationPossible records (the two-secret
 * limit): the condition's notice names the blocking secret and the fix, so
 * the owners get that one and not a second for the same cause.
 */
static int
told_by_condition(struct sweep *sw, const struct store_rotation *r, enum notice_kind kind)
{
	struct condition c;

	if (kind != NOTICE_ROTATION_FAILED || r->last_error == NULL || r->last_error[0] == '\0' ||
	    condition_get(sw->al->st, r->app, CONDITION_ROTATION_POSSIBLE, &c) != 1)
		return 0;
	return c.status == CONDITION_FALSE &&
	    strncmp(c.message, r->last_error, strlen(r->last_error)) == 0;
}

/* The failed rotations in a row just before r (rotation_failed_before over the app's newest). */
static int
failures_before(struct sweep *sw, const struct store_rotation *r)
{
	struct store_rotation *list = NULL;
	size_t n = 0, i;
	int failed = 0;

	if (store_list_rotations(sw->al->st, r->app, 0, ALERTS_STREAK_MAX, &list, &n) == -1)
		return 0;
	for (i = 0; i < n; i++)
		if (strcmp(list[i].id, r->id) == 0) {
			failed = rotation_failed_before(list, n, i);
			break;
		}
	store_rotations_free(list, n);
	return failed;
}

/*
 * A done rotation is told once, as done or, when failed rotations came just
 * before it, as recovered (which says both): whichever was queued first
 * stands, so that the count read again later (older rotations beyond the
 * ones read) never makes it told twice.  1 when told already, 0, -1.
 */
static int
done_told(struct sweep *sw, const char *ref)
{
	int done = store_outbox_exists(sw->al->st, ref, notice_kind_name(NOTICE_ROTATION_DONE));

	if (done != 0)
		return done;
	return store_outbox_exists(sw->al->st, ref, notice_kind_name(NOTICE_ROTATION_RECOVERED));
}

static void
sweep_rotation(struct sweep *sw, const struct store_rotation *r,
    const struct store_incident *incs, size_t n_incs)
{
	const char *incident_id;
	struct notice n;
	struct store_incident inc;
	struct evidence ev;
	enum notice_kind kind;
	char ref[256];
	int has_inc, failed;

	if (!rotation_kind(r, &kind) || told_by_condition(sw, r, kind))
		return;
	rotation_ref(r, kind, ref, sizeof(ref));
	if (kind == NOTICE_ROTATION_DONE ? done_told(sw, ref) != 0 :
	    store_outbox_exists(sw->al->st, ref, notice_kind_name(kind)) != 0)
		return;
	failed = kind == NOTICE_ROTATION_DONE && !r->dry_run ? failures_before(sw, r) : 0;
	if (failed > 0)
		kind = NOTICE_ROTATION_RECOVERED;
	alerts_notice_base(&n, kind, sw->app, sw->al->rt->cfg, sw->hint, sizeof(sw->hint));
	n.failed_in_a_row = failed;
	memset(&ev, 0, sizeof(ev));
	/*
	 * A rotation for an incident says what broke and how many users must
	 * come back.  An incident can also join a rotation the expiry poll
	 * started: then only the incident names it.
	 */
	incident_id = r->incident_id != NULL ? r->incident_id : incident_of(incs, n_incs, r->id);
	has_inc = incident_id != NULL && store_get_incident(sw->al->st, incident_id, &inc) == 1;
	/* The owners hear what broke before they hear it was fixed. */
	if (has_inc && store_outbox_exists(sw->al->st, incident_id,
	    notice_kind_name(NOTICE_INCIDENT_OPENED)) != 1) {
		store_incident_clear(&inc);
		return;
	}
	if (has_inc) {
		evidence_load(&ev, inc.evidence);
		notice_incident(&n, &inc, &ev);
	}
	notice_rotation(&n, r);
	n.incident_id = incident_id;
	alerts_tell(sw, &n, ref);
	if (has_inc)
		store_incident_clear(&inc);
	cJSON_Delete(ev.arr);
}

static void
sweep_lifetime(struct sweep *sw)
{
	char *val = NULL;
	cJSON *o;
	const cJSON *rot, *from, *to;
	struct notice n;

	if (store_get_value(sw->al->st, sw->app->name, "lifetime_shortened", &val) != 1)
		return;
	o = cJSON_Parse(val);
	free(val);
	rot = cJSON_GetObjectItemCaseSensitive(o, "rotation");
	from = cJSON_GetObjectItemCaseSensitive(o, "from_s");
	to = cJSON_GetObjectItemCaseSensitive(o, "to_s");
	/* Whole days, as the tenant's policy counts; under a day is still "shorter". */
	if (cJSON_IsString(rot) && cJSON_IsNumber(from) && cJSON_IsNumber(to) &&
	    (int64_t)to->valuedouble / 86400 < ((int64_t)from->valuedouble + 86399) / 86400) {
		alerts_notice_base(&n, NOTICE_LIFETIME_SHORTENED, sw->app, sw->al->rt->cfg, sw->hint,
		    sizeof(sw->hint));
		n.rotation_id = rot->valuestring;
		n.lifetime_requested_days = ((int64_t)from->valuedouble + 86399) / 86400;
		n.lifetime_granted_days = (int64_t)to->valuedouble / 86400;
		alerts_tell(sw, &n, rot->valuestring);
	}
	cJSON_Delete(o);
}

/* The hint of key_id in the stored passwordCredentials, or NULL (caller frees). */
static char *
key_hint(struct sweep *sw, const char *key_id)
{
	struct credentials creds;
	const struct credential *e;
	char *hint = NULL;

	if (credentials_load(sw->al->st, sw->app->name, &creds) == -1)
		return NULL;
	e = credentials_find(&creds, key_id);
	if (e != NULL && e->hint != NULL)
		hint = xstrdup(e->hint);
	credentials_clear(&creds);
	return hint;
}

/* The threshold (seconds) that ends a "warned:<key id>:<threshold>" key, or -1. */
static int64_t
warned_threshold(const char *tail)
{
	int64_t v;

	return util_parse_int64(tail, 1, INT64_MAX, &v) == 0 ? v : -1;
}

/* Whether a threshold below thr was also recorded for the key whose prefix (to its last ':') is prefix_len long. */
static int
nearer_recorded(const struct store_value *v, size_t n, const char *key, size_t prefix_len,
    int64_t thr)
{
	size_t j;
	int64_t other;

	for (j = 0; j < n; j++) {
		if (strncmp(v[j].key, key, prefix_len) != 0)
			continue;
		other = warned_threshold(v[j].key + prefix_len);
		if (other > 0 && other < thr)
			return 1;
	}
	return 0;
}

/* "warned:<key id>:<threshold s>" = end time.  Only the nearest threshold of a key is told. */
static void
sweep_warnings(struct sweep *sw)
{
	struct store_value *v = NULL;
	size_t n = 0, i;
	char key_id[128], ref[200], *hint;
	int64_t thr;
	int64_t end_s;
	struct notice nt;

	if (store_list_values(sw->al->st, sw->app->name, "warned:", ALERTS_WARNINGS_MAX, &v, &n) == -1) {
		store_values_free(v, n);
		return;
	}
	for (i = 0; i < n; i++) {
		const char *k = v[i].key + strlen("warned:"), *colon = strrchr(k, ':');

		if (colon == NULL || (size_t)(colon - k) >= sizeof(key_id) ||
		    (thr = warned_threshold(colon + 1)) == -1 ||
		    util_parse_time(v[i].value, &end_s) == -1)
			continue;
		memcpy(key_id, k, (size_t)(colon - k));
		key_id[colon - k] = '\0';
		if (nearer_recorded(v, n, v[i].key, (size_t)(colon - v[i].key) + 1, thr) ||
		    end_s * 1000 < util_now_ms())
			continue;
		hint = key_hint(sw, key_id);
		alerts_notice_base(&nt, NOTICE_EXPIRY_WARNING, sw->app, sw->al->rt->cfg, sw->hint,
		    sizeof(sw->hint));
		nt.key_id = key_id;
		nt.hint = hint;
		nt.end_ms = end_s * 1000;
		nt.threshold_s = thr;
		nt.rotate_at_ms = (end_s - sw->app->rotate_before) * 1000;
		snprintf(ref, sizeof(ref), "%s:%lld", key_id, (long long)thr);
		alerts_tell(sw, &nt, ref);
		free(hint);
	}
	store_values_free(v, n);
}

/* One app's sweep; 1 when it left work for the next one. */
static int
sweep_app(struct alerts *al, struct app_alerts *a)
{
	struct sweep sw;
	struct store_incident *incs = NULL, *open = NULL;
	struct store_rotation *rots = NULL;
	size_t n_incs = 0, n_open = 0, n_rots = 0, i;

	memset(&sw, 0, sizeof(sw));
	sw.al = al;
	sw.a = a;
	if ((sw.app = app_config(al, a->name)) == NULL)
		return 0;
	refresh_owners(a, sw.app);
	if (!a->owners_ready && owners_graph_known(al->st, a->name))
		a->owners_ready = 1;	/* read before a restart: good enough to start with */
	/* A first alert that leaves out Graph's owners would never reach them: wait a little. */
	if (!a->owners_ready && util_now_ms() / 1000 < a->owners_wait_until_s)
		return 0;
	owners_list(al->st, sw.app, &sw.owners, &sw.n_owners, NULL);
	/* Every open incident, however old, and the newest ones (resolved lately). */
	if (store_list_incidents(al->st, a->name, 1, ALERTS_INCIDENTS_MAX, &open, &n_open) == 0)
		for (i = n_open; i-- > 0;)
			sweep_incident(&sw, &open[i]);
	if (store_list_incidents(al->st, a->name, 0, ALERTS_INCIDENTS_MAX, &incs, &n_incs) == 0)
		for (i = n_incs; i-- > 0;)
			if (strcmp(incs[i].state, "open") != 0)
				sweep_incident(&sw, &incs[i]);
	if (store_list_rotations(al->st, a->name, 0, ALERTS_ROTATIONS_MAX, &rots, &n_rots) == 0)
		for (i = n_rots; i-- > 0;)
			sweep_rotation(&sw, &rots[i], incs, n_incs);
	store_rotations_free(rots, n_rots);
	store_incidents_free(incs, n_incs);
	store_incidents_free(open, n_open);
	sweep_lifetime(&sw);
	sweep_warnings(&sw);
	alerts_sweep_sp_secrets(&sw);
	alerts_sweep_health(&sw);
	util_strings_free(sw.owners, sw.n_owners);
	return sw.more;
}

static void
schedule(struct alerts *al, int64_t ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };

	event_add(al->timer, &tv);
}

static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct alerts *al = arg;
	char *err = NULL;
	size_t i;
	int more = 0;

	(void)fd;
	(void)what;
	schedule(al, ALERTS_SWEEP_MS);
	if (al->st == NULL) {
		if ((al->st = store_open(al->rt->cfg->store_url, &err)) == NULL) {
			log_warn("alerts: cannot open the store: %s; retrying", err);
			free(err);
			return;
		}
		/* The leader's epoch: once another replica leads, the store refuses these writes. */
		if (store_set_epoch(al->st, al->rt->epoch) == -1) {
			log_warn("alerts: the store did not take the leader's epoch; retrying");
			store_close(al->st);
			al->st = NULL;
			return;
		}
		store_lock_wait(al->st, ALERTS_LOCK_WAIT_MS);
		/* Everything it writes can be derived again (see engine/notifier.c): no fsync on the loop. */
		store_relax_durability(al->st);
	}
	for (i = 0; i < al->n_apps; i++)
		more |= sweep_app(al, al->apps[i]);
	/* Many users to mail: small slices, often, so the loop is never held long. */
	if (more)
		schedule(al, ALERTS_MORE_MS);
}

/* The rotator certificate's end, read once per config: its warnings need no more. */
static void
cert_end(struct app_alerts *a, const char *path)
{
	int64_t not_before, not_after;
	char *err = NULL;

	if (crypto_cert_file_dates(path, &not_before, &not_after, &err) == 0)
		a->cert_end = not_after;
	else
		log_ctx(LOG_LEVEL_WARN, NULL, a->name, "rotator certificate end unknown: %s", err);
	free(err);
}

static struct app_alerts *
app_alerts_new(struct alerts *al, const struct config_app *app)
{
	struct app_alerts *a = xcalloc(1, sizeof(*a));
	char *err = NULL;

	a->al = al;
	a->name = xstrdup(app->name);
	a->owners_wait_until_s = util_now_ms() / 1000 + ALERTS_OWNERS_WAIT_S;
	if (app->azure_app_object_id != NULL && app->azure_app_object_id[0] != '\0')
		a->object_id = xstrdup(app->azure_app_object_id);
	if (app->rotator_client_id != NULL && app->owners_from_graph &&
	    (a->gc = graph_client_from_app(al->hc, app, &err)) == NULL) {
		log_ctx(LOG_LEVEL_WARN, NULL, app->name, "owners from Graph unavailable: %s", err);
		free(err);
		err = NULL;
	}
	a->owners_ready = a->gc == NULL;
	if (app->rotator_cert_file != NULL)
		cert_end(a, app->rotator_cert_file);
	if (app->nylas_api_key != NULL && (a->nc = nylas_client_from_app(al->hc, app, &err)) == NULL) {
		log_ctx(LOG_LEVEL_WARN, NULL, app->name, "Nylas grants unavailable: %s", err);
		free(err);
	}
	return a;
}

static void
app_alerts_free(struct app_alerts *a)
{
	/* Calls in flight hear CANCELLED and touch nothing. */
	graph_client_free(a->gc);
	nylas_client_free(a->nc);
	free(a->object_id);
	free(a->grants_incident);
	free(a->name);
	free(a);
}

struct alerts *
alerts_new(struct runtime *rt, struct http_client *hc, struct notifier *nt)
{
	struct alerts *al = xcalloc(1, sizeof(*al));
	size_t i;

	al->rt = rt;
	al->hc = hc;
	al->nt = nt;
	al->apps = xcalloc(rt->cfg->n_apps + 1, sizeof(*al->apps));
	for (i = 0; i < rt->cfg->n_apps; i++)
		al->apps[al->n_apps++] = app_alerts_new(al, rt->cfg->apps[i]);
	al->timer = evtimer_new(rt->base, sweep_cb, al);
	if (al->timer == NULL)
		fatal("alerts: cannot create a timer");
	schedule(al, 0);
	return al;
}

void
alerts_free(struct alerts *al)
{
	size_t i;

	if (al == NULL)
		return;
	event_free(al->timer);
	for (i = 0; i < al->n_apps; i++)
		app_alerts_free(al->apps[i]);
	free(al->apps);
	store_close(al->st);
	free(al);
}

void
alerts_wake(struct alerts *al)
{
	if (al != NULL)
		schedule(al, 0);
}
