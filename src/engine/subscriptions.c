#include "engine/subscriptions.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "outbound/graph.h"
#include "state/condition.h"
#include "state/config.h"
#include "state/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#define SUB_RESOURCE "/users"
#define SUB_CHANGE_TYPE "updated,deleted"
/* Retry delays: the first, doubling up to the cap; both shrink with a short lifetime. */
#define SUB_RETRY_FIRST_S 30
#define SUB_RETRY_CAP_S (15 * 60)
/* The longest Retry-After honoured. */
#define SUB_RETRY_AFTER_MAX_MS (3600 * 1000)
/* Graph's maximum lifetime of a /users subscription (spec/graph.md), until Graph says another. */
#define SUB_MAX_S (41760 * 60)
/*
 * What is asked for stays this far below the maximum.  Graph checks
 * expirationDateTime against its own clock when the request arrives, and
 * rekey computes it from its own clock before sending: with a clock ahead of
 * Graph's by X, Graph sees the asked lifetime plus X.  Five minutes covers
 * any clock kept by NTP (and is Kerberos's default skew).  A clock further
 * ahead shows as a refusal although rekey asked for no more than the
 * maximum Graph states: the margin then doubles (10, 20, 40 ... minutes) up
 * to half the maximum, which a renewal at half-life still outlives.
 */
#define SUB_MARGIN_S (5 * 60)
/* Refusals of the expiration in a row that are retried at once, before the usual backoff. */
#define SUB_EXPIRY_RETRIES_MAX 8

/* The Graph call an app has in flight; there is at most one. */
enum sub_op {
	SUB_OP_NONE,
	SUB_OP_LIST,		/* GET /subscriptions: adopt ours, or sweep duplicates */
	SUB_OP_CREATE,		/* POST /subscriptions */
	SUB_OP_RENEW,		/* PATCH with a new expiration */
	SUB_OP_REAUTHORIZE,	/* POST /subscriptions/{id}/reauthorize */
	SUB_OP_DELETE,		/* a duplicate, or the one an old public_url left behind */
};

static const char *const op_names[] = {
	"none", "list", "create", "renew", "reauthorize", "delete",
};

/* One app's subscription: what to ask for, what Graph holds, and the work queued. */
struct app_sub {
	struct subscriptions *m;
	char *name;
	char *notification_url;
	char *lifecycle_url;
	struct secret *client_state;
	int64_t lifetime;		/* seconds configured (graph_subscription_lifetime) */
	int64_t max_s;			/* Graph's maximum lifetime, as last stated */
	int64_t margin_s;		/* kept below max_s (clock skew) */
	int expiry_refusals;		/* "expiration too far" answers in a row */
	struct graph_client *gc;
	struct event *timer;

	enum sub_op in_flight;
	char *call_id;			/* the subscription the call in flight is about */
	int64_t asked;			/* the expiration the create or renew in flight asked for */
	int64_t asked_at;		/* when, by rekey's clock */
	int64_t backoff_s;		/* the next retry delay; 0 after a success */
	int backing_off;		/* the timer holds a retry: lifecycle events wait for it */

	/* The live subscription; id NULL when there is none. */
	char *id;
	int64_t expiration;
	int64_t granted;		/* seconds the last create or renew got */
	int64_t created_at;
	int64_t renewed_at;
	int64_t resync_at;

	/* Work for the driver (step), in its order. */
	int listed;			/* the last list found none of ours: create next */
	int renew_now;
	int reauthorize;
	int sweep;			/* list to find duplicates of ours */
	char **doomed;			/* ids to delete once ours is live */
	size_t n_doomed;
	char *replaced;			/* the one that was gone, for the creation's log line */
	const char *replaced_why;
};

struct subscriptions {
	struct store *store;		/* borrowed */
	struct app_sub **apps;
	size_t n;
};

static void step(struct app_sub *a);

/* --- small helpers ------------------------------------------------------ */

static int64_t
now_s(void)
{
	return (int64_t)time(NULL);
}

static int64_t
min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* The lifetime to ask for: the configured one, never closer to Graph's maximum than the margin. */
static int64_t
ask_lifetime(const struct app_sub *a)
{
	int64_t most = a->max_s - a->margin_s;

	if (most < a->max_s / 2)
		most = a->max_s / 2;
	return most > 0 ? min64(a->lifetime, most) : 1;
}

static int64_t
retry_first(const struct app_sub *a)
{
	int64_t s = min64(SUB_RETRY_FIRST_S, ask_lifetime(a) / 4);

	return s > 0 ? s : 1;
}

static int64_t
retry_cap(const struct app_sub *a)
{
	int64_t s = min64(SUB_RETRY_CAP_S, ask_lifetime(a));

	return s > retry_first(a) ? s : retry_first(a);
}

static void
schedule_ms(struct app_sub *a, int64_t ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(a->timer, &tv);
}

/* Runs the driver soon, from the event loop, unless a call or a retry delay is pending. */
static void
kick(struct app_sub *a)
{
	if (a->in_flight == SUB_OP_NONE && !a->backing_off)
		schedule_ms(a, 0);
}

static void
set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src != NULL ? xstrdup(src) : NULL;
}

/* Graph writes the resource as it was asked; "users" and "/users" are the same. */
static int
is_users(const char *resource)
{
	if (resource == NULL)
		return 0;
	if (*resource == '/')
		resource++;
	return strcasecmp(resource, &SUB_RESOURCE[1]) == 0;
}

static int
ours(const struct app_sub *a, const struct graph_subscription *s)
{
	return s->notification_url != NULL && strcmp(s->notification_url, a->notification_url) == 0;
}

/* --- metrics and the store ---------------------------------------------- */

static void
publish_expiry(const struct app_sub *a)
{
	char labels[256];

	snprintf(labels, sizeof(labels), "app=\"%s\"", a->name);
	metrics_gauge_set("rekey_graph_subscription_expiry_timestamp_seconds",
	    "When the app's Graph subscription expires (Unix seconds); 0: none.", labels,
	    a->id != NULL ? (double)a->expiration : 0);
}

static void
count_op(const struct app_sub *a, enum sub_op op, enum graph_outcome outcome)
{
	char labels[256];

	snprintf(labels, sizeof(labels), "app=\"%s\",op=\"%s\",result=\"%s\"", a->name,
	    op_names[op], graph_outcome_name(outcome));
	metrics_counter_add("rekey_graph_subscription_operations_total",
	    "Graph subscription calls by operation and outcome.", labels, 1);
}

/* Writes the live subscription to the store; a failure is logged and the next start lists. */
static void
save(struct app_sub *a)
{
	struct store_subscription row;

	memset(&row, 0, sizeof(row));
	row.app = a->name;
	row.id = a->id;
	row.resource = (char *)SUB_RESOURCE;
	row.notification_url = a->notification_url;
	row.expiration = a->expiration;
	row.created_at = a->created_at;
	row.renewed_at = a->renewed_at;
	row.resync_at = a->resync_at;
	if (store_put_subscription(a->m->store, &row) == -1)
		log_ctx(LOG_LEVEL_ERROR, NULL, a->name,
		    "graph subscription %s: not stored (it will be adopted at the next start)", a->id);
	publish_expiry(a);
}

/* Makes id the live subscription (just created, or found at Graph) and stores it. */
static void
take(struct app_sub *a, const char *id, int64_t expiration, int64_t asked_at)
{
	set_str(&a->id, id);
	a->expiration = expiration;
	a->granted = expiration - asked_at;
	a->created_at = now_s();
	a->renewed_at = 0;
	a->resync_at = 0;
	save(a);
}

/* The live subscription is no more at Graph: forget it and create a new one. */
static void
gone(struct app_sub *a, const char *why)
{
	if (store_delete_subscription(a->m->store, a->name) == -1)
		log_ctx(LOG_LEVEL_ERROR, NULL, a->name, "graph subscription %s: stored row not deleted",
		    a->id);
	free(a->replaced);
	a->replaced = a->id;
	a->replaced_why = why;
	a->id = NULL;
	a->expiration = 0;
	a->listed = 1;		/* it is gone: nothing to adopt */
	a->renew_now = 0;
	a->reauthorize = 0;
	a->sweep = 0;
	publish_expiry(a);
}

static void
doom(struct app_sub *a, const char *id)
{
	size_t i;

	for (i = 0; i < a->n_doomed; i++) {
		if (strcmp(a->doomed[i], id) == 0)
			return;
	}
	a->doomed = xrealloc(a->doomed, (a->n_doomed + 1) * sizeof(*a->doomed));
	a->doomed[a->n_doomed++] = xstrdup(id);
}

static void
undoom_first(struct app_sub *a)
{
	free(a->doomed[0]);
	memmove(a->doomed, a->doomed + 1, (a->n_doomed - 1) * sizeof(*a->doomed));
	a->n_doomed--;
}

/* --- outcomes ----------------------------------------------------------- */

/* Schedules the retry of a failed call: backoff for a retryable failure, the cap otherwise. */
static void
failed(struct app_sub *a, enum sub_op op, const struct graph_result *res)
{
	const struct graph_error *e = res->error;
	int64_t delay_ms;

	if (res->outcome == GRAPH_RETRYABLE) {
		a->backoff_s = a->backoff_s == 0 ? retry_first(a) :
		    min64(a->backoff_s * 2, retry_cap(a));
		delay_ms = res->retry_after_ms >= 0 ?
		    min64(res->retry_after_ms, SUB_RETRY_AFTER_MAX_MS) : a->backoff_s * 1000;
		log_ctx(LOG_LEVEL_WARN, res->client_request_id, a->name,
		    "graph subscription %s failed: retryable (HTTP %ld%s%s)%s%s; retrying in %lld ms",
		    op_names[op], res->status, e && e->code ? ", " : "", e && e->code ? e->code : "",
		    res->detail ? ": " : "", res->detail ? res->detail : "", (long long)delay_ms);
	} else {
		delay_ms = retry_cap(a) * 1000;
		log_ctx(LOG_LEVEL_ERROR, res->client_request_id, a->name,
		    "graph subscription %s failed: %s (HTTP %ld, %s: %s)%s%s; retrying in %lld s",
		    op_names[op], graph_outcome_name(res->outcome), res->status,
		    e && e->code ? e->code : "no code", e && e->message ? e->message : "no message",
		    res->detail ? ": " : "", res->detail ? res->detail : "",
		    (long long)(delay_ms / 1000));
	}
	a->backing_off = 1;
	schedule_ms(a, delay_ms);
}

/* The best of ours in a list: the latest expiration; 0-based index or -1. */
static long
best_of_ours(const struct app_sub *a, const struct graph_result *res)
{
	long best = -1;
	size_t i;

	for (i = 0; i < res->n_subscriptions; i++) {
		const struct graph_subscription *s = &res->subscriptions[i];

		if (ours(a, s) && is_users(s->resource) &&
		    (best < 0 || s->expiration > res->subscriptions[best].expiration))
			best = (long)i;
	}
	return best;
}

static void
listed(struct app_sub *a, const struct graph_result *res)
{
	long best = a->id == NULL ? best_of_ours(a, res) : -1;
	size_t i;

	a->sweep = 0;
	if (best >= 0) {
		const struct graph_subscription *s = &res->subscriptions[best];

		take(a, s->id, s->expiration, now_s());
		a->renew_now = 1;	/* its expiry becomes ours */
		log_ctx(LOG_LEVEL_INFO, NULL, a->name, "graph subscription %s adopted (found at Graph "
		    "with our notificationUrl); renewing it", a->id);
	} else if (a->id == NULL) {
		a->listed = 1;
	}
	/* Duplicates: any other with our notificationUrl. */
	for (i = 0; i < res->n_subscriptions; i++) {
		const struct graph_subscription *s = &res->subscriptions[i];

		if (ours(a, s) && (a->id == NULL || strcmp(s->id, a->id) != 0)) {
			log_ctx(LOG_LEVEL_WARN, NULL, a->name,
			    "graph subscription %s duplicates ours: deleting it", s->id);
			doom(a, s->id);
		}
	}
}

static void
created(struct app_sub *a, const struct graph_result *res)
{
	const struct graph_subscription *s = res->subscription;
	char when[UTIL_TIME_MAX];

	if (s == NULL || s->id == NULL) {
		/* graph_api parses every 201 it passes on; this is a broken invariant. */
		log_ctx(LOG_LEVEL_ERROR, res->client_request_id, a->name,
		    "graph subscription create: answer without an id");
		a->listed = 0;
		return;
	}
	take(a, s->id, s->expiration > 0 ? s->expiration : a->asked, now_s());
	a->listed = 0;
	a->sweep = 1;		/* a create cancelled by a reload may still have landed */
	util_format_time(a->expiration, when, sizeof(when));
	if (a->replaced != NULL)
		log_ctx(LOG_LEVEL_WARN, NULL, a->name, "graph subscription %s was gone (%s): "
		    "created %s for " SUB_RESOURCE ", expires %s", a->replaced, a->replaced_why,
		    a->id, when);
	else
		log_ctx(LOG_LEVEL_INFO, NULL, a->name,
		    "graph subscription %s created for " SUB_RESOURCE ", expires %s", a->id, when);
	free(a->replaced);
	a->replaced = NULL;
}

static void
renewed(struct app_sub *a, const struct graph_result *res)
{
	char when[UTIL_TIME_MAX];
	int64_t now = now_s();

	a->expiration = res->subscription != NULL && res->subscription->expiration > 0 ?
	    res->subscription->expiration : a->asked;
	a->granted = a->expiration - now;
	a->renewed_at = now;
	a->renew_now = 0;
	a->reauthorize = 0;	/* a renewing PATCH reauthorizes too */
	save(a);
	util_format_time(a->expiration, when, sizeof(when));
	log_ctx(LOG_LEVEL_INFO, NULL, a->name, "graph subscription %s renewed until %s", a->id,
	    when);
}

/* What an answer about the live subscription (renew, reauthorize) came to; 1 when handled. */
static int
about_live(struct app_sub *a, enum sub_op op, const struct graph_result *res)
{
	if (a->id == NULL || a->call_id == NULL || strcmp(a->id, a->call_id) != 0)
		return 1;	/* replaced meanwhile (a lifecycle event): the answer is stale */
	if (res->outcome == GRAPH_NOT_FOUND) {
		gone(a, op == SUB_OP_RENEW ? "404 on renew" : "404 on reauthorize");
		return 1;
	}
	return 0;
}

static void
reauthorized(struct app_sub *a, const struct graph_result *res)
{
	if (res->outcome == GRAPH_OK) {
		a->reauthorize = 0;
		log_ctx(LOG_LEVEL_INFO, NULL, a->name, "graph subscription %s reauthorized", a->id);
		return;
	}
	/* Anything but a retryable failure: the other way Graph offers is a renewing PATCH. */
	log_ctx(LOG_LEVEL_WARN, res->client_request_id, a->name,
	    "graph subscription %s: reauthorize failed (%s, HTTP %ld%s%s): renewing instead",
	    a->id, graph_outcome_name(res->outcome), res->status,
	    res->error && res->error->code ? ", " : "",
	    res->error && res->error->code ? res->error->code : "");
	a->reauthorize = 0;
	a->renew_now = 1;
}

static void
deleted(struct app_sub *a, const struct graph_result *res)
{
	if (res->outcome == GRAPH_OK)
		log_ctx(LOG_LEVEL_INFO, NULL, a->name, "graph subscription %s deleted", a->call_id);
	else if (res->outcome == GRAPH_NOT_FOUND)
		log_ctx(LOG_LEVEL_INFO, NULL, a->name, "graph subscription %s was already gone",
		    a->call_id);
	else
		log_ctx(LOG_LEVEL_ERROR, res->client_request_id, a->name,
		    "graph subscription %s not deleted (%s, HTTP %ld); leaving it to expire",
		    a->call_id, graph_outcome_name(res->outcome), res->status);
	if (a->n_doomed > 0 && strcmp(a->doomed[0], a->call_id) == 0)
		undoom_first(a);
}

/*
 * A create or renew refused because its expiration lies past Graph's
 * maximum: learn the maximum, widen the margin when what was asked did not
 * exceed it by rekey's clock (the clock is ahead of Graph's), and ask again
 * at once.  1 when handled that way; 0 when it is no such refusal or the
 * refusals go on (the usual failure path then backs off).
 */
static int
expiry_refused(struct app_sub *a, enum sub_op op, const struct graph_result *res)
{
	int64_t max_s, asked_s = a->asked - a->asked_at;

	if ((op != SUB_OP_CREATE && op != SUB_OP_RENEW) ||
	    !graph_expiry_limit(res->status, res->error, &max_s))
		return 0;
	a->expiry_refusals++;
	if (a->expiry_refusals > SUB_EXPIRY_RETRIES_MAX) {
		a->expiry_refusals = 0;
		return 0;
	}
	if (asked_s <= max_s)
		a->margin_s = min64(a->margin_s * 2, max_s / 2);
	a->max_s = max_s;
	log_ctx(LOG_LEVEL_WARN, res->client_request_id, a->name, "graph subscription %s refused: "
	    "%lld minutes asked, Graph allows %lld from its clock; asking for %lld minutes now",
	    op_names[op], (long long)(asked_s / 60), (long long)(max_s / 60),
	    (long long)(ask_lifetime(a) / 60));
	if (op == SUB_OP_CREATE)
		a->listed = 1;		/* refused: nothing was created */
	else
		a->renew_now = 1;
	return 1;
}

/*
 * Whether the answer to op is final (no retry of op); 0 means retry later.
 * The one place where the result of every subscription call is known.
 */
static int
settle(struct app_sub *a, enum sub_op op, const struct graph_result *res)
{
	if (op == SUB_OP_DELETE) {
		/* A duplicate that cannot be deleted must not hold up renewals. */
		if (res->outcome == GRAPH_RETRYABLE)
			return 0;
		deleted(a, res);
		return 1;
	}
	if ((op == SUB_OP_RENEW || op == SUB_OP_REAUTHORIZE) && about_live(a, op, res))
		return 1;
	if (op == SUB_OP_REAUTHORIZE && res->outcome != GRAPH_RETRYABLE) {
		reauthorized(a, res);
		return 1;
	}
	if (res->outcome != GRAPH_OK) {
		if (expiry_refused(a, op, res))
			return 1;
		if (op == SUB_OP_CREATE)
			a->listed = 0;	/* its answer may be lost: look before creating again */
		return 0;
	}
	if (op == SUB_OP_CREATE || op == SUB_OP_RENEW)
		a->expiry_refusals = 0;
	if (op == SUB_OP_LIST)
		listed(a, res);
	else if (op == SUB_OP_CREATE)
		created(a, res);
	else
		renewed(a, res);
	return 1;
}

static void
ready(struct subscriptions *m, const char *app, enum condition_status st, int permanent,
    const char *reason, const char *msg)
{
	if (condition_record(m->store, app, CONDITION_SUBSCRIPTION_READY, st, permanent, reason,
	    msg, now_s()) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, app, "cannot record SubscriptionReady in the store");
}

/* SubscriptionReady from what a create, renew or reauthorize came to. */
static void
record_outcome(struct app_sub *a, enum sub_op op, const struct graph_result *res, int settled)
{
	const char *code = res->error && res->error->code ? res->error->code : NULL;
	char msg[CONDITION_MESSAGE_MAX], when[32];

	if (op != SUB_OP_CREATE && op != SUB_OP_RENEW && op != SUB_OP_REAUTHORIZE)
		return;
	if (settled && a->id != NULL && a->expiration > now_s()) {
		util_format_time(a->expiration, when, sizeof(when));
		snprintf(msg, sizeof(msg), "Graph subscription %s delivers /users changes to %s until "
		    "%s", a->id, a->notification_url, when);
		ready(a->m, a->name, CONDITION_TRUE, 0, "Subscribed", msg);
		return;
	}
	if (settled)
		return;		/* refused for its expiry: asked again at once, shorter */
	snprintf(msg, sizeof(msg), "Graph answered %s%ld%s%s to the /users subscription's %s: "
	    "rekey gets no user notifications and cannot tell a user-side cause from the secret%s",
	    res->status ? "" : "no answer, ", res->status, code ? " " : "", code ? code : "",
	    op_names[op], res->status == 403 ? "; the rotator needs User.Read.All (admin consent)" :
	    res->outcome == GRAPH_RETRYABLE ? "; rekey tries again" : "");
	ready(a->m, a->name, CONDITION_FALSE, res->outcome != GRAPH_RETRYABLE,
	    res->outcome == GRAPH_RETRYABLE ? "GraphUnavailable" : res->status == 403 ?
	    "Forbidden" : "Refused", msg);
}

static void
done_cb(const struct graph_result *res, void *arg)
{
	int settled;
	struct app_sub *a = arg;
	enum sub_op op = a->in_flight;

	a->in_flight = SUB_OP_NONE;
	if (res->outcome == GRAPH_CANCELLED)
		return;
	count_op(a, op, res->outcome);
	settled = settle(a, op, res);
	record_outcome(a, op, res, settled);
	if (settled) {
		a->backoff_s = 0;
		kick(a);
	} else {
		failed(a, op, res);
	}
	free(a->call_id);
	a->call_id = NULL;
}

/* --- the driver --------------------------------------------------------- */

static int
start_create(struct app_sub *a)
{
	struct graph_subscription_spec spec;

	memset(&spec, 0, sizeof(spec));
	a->asked_at = now_s();
	a->asked = a->asked_at + ask_lifetime(a);
	spec.change_type = SUB_CHANGE_TYPE;
	spec.notification_url = a->notification_url;
	spec.lifecycle_url = a->lifecycle_url;
	spec.resource = SUB_RESOURCE;
	spec.expiration = a->asked;
	/* Never includeResourceData: Graph offers no rich notifications for /users. */
	spec.client_state = a->client_state;
	return graph_create_subscription(a->gc, &spec, done_cb, a);
}

static int
start(struct app_sub *a, enum sub_op op)
{
	int rc = -1;

	a->in_flight = op;
	switch (op) {
	case SUB_OP_LIST:
		rc = graph_list_subscriptions(a->gc, done_cb, a);
		break;
	case SUB_OP_CREATE:
		rc = start_create(a);
		break;
	case SUB_OP_RENEW:
		set_str(&a->call_id, a->id);
		a->asked_at = now_s();
		a->asked = a->asked_at + ask_lifetime(a);
		rc = graph_renew_subscription(a->gc, a->id, a->asked, done_cb, a);
		break;
	case SUB_OP_REAUTHORIZE:
		set_str(&a->call_id, a->id);
		rc = graph_reauthorize_subscription(a->gc, a->id, done_cb, a);
		break;
	case SUB_OP_DELETE:
		set_str(&a->call_id, a->doomed[0]);
		rc = graph_delete_subscription(a->gc, a->doomed[0], done_cb, a);
		break;
	case SUB_OP_NONE:
		break;
	}
	if (rc == 0)
		return 0;
	/* Not sent (logged by graph_api): try again after the longest delay. */
	a->in_flight = SUB_OP_NONE;
	a->backing_off = 1;
	schedule_ms(a, retry_cap(a) * 1000);
	return -1;
}

/* When to renew: half the lifetime before expiry (half of what Graph granted, if less). */
static int64_t
renew_at(const struct app_sub *a)
{
	int64_t span = a->granted > 0 ? min64(a->granted, ask_lifetime(a)) : ask_lifetime(a);

	return a->expiration - span / 2;
}

static void
step(struct app_sub *a)
{
	int64_t now = now_s();

	if (a->id != NULL && a->expiration <= now) {
		log_ctx(LOG_LEVEL_WARN, NULL, a->name, "graph subscription %s expired unrenewed",
		    a->id);
		gone(a, "expired");
	}
	if (a->id == NULL)
		start(a, a->listed ? SUB_OP_CREATE : SUB_OP_LIST);
	else if (a->renew_now || renew_at(a) <= now)
		start(a, SUB_OP_RENEW);
	else if (a->reauthorize)
		start(a, SUB_OP_REAUTHORIZE);
	else if (a->sweep)
		start(a, SUB_OP_LIST);
	else if (a->n_doomed > 0)
		start(a, SUB_OP_DELETE);
	else
		schedule_ms(a, (renew_at(a) - now) * 1000);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct app_sub *a = arg;

	(void)fd;
	(void)what;
	a->backing_off = 0;
	if (a->in_flight == SUB_OP_NONE)
		step(a);
}

/* --- start -------------------------------------------------------------- */

/* Why app gets no subscription, or NULL when it gets one. */
static const char *
skip_reason(const struct config *cfg, const struct config_app *app)
{
	if (!app->graph_subscribe_users)
		return "graph_subscribe_users = no";
	if (app->rotator_client_id == NULL || app->rotator_cert_file == NULL ||
	    app->rotator_key_file == NULL || app->azure_tenant_id == NULL)
		return "no rotator identity";
	if (cfg->public_url == NULL || cfg->public_url[0] == '\0')
		return "no public_url";
	if (strncasecmp(cfg->public_url, "https://", 8) != 0)
		return "public_url is not https, which Graph requires";
	if (app->graph_client_state == NULL)
		return "no graph_client_state_file";
	return NULL;
}

static void
app_free(struct app_sub *a)
{
	size_t i;

	if (a == NULL)
		return;
	/* Pending calls hear GRAPH_CANCELLED now, while a is whole. */
	graph_client_free(a->gc);
	if (a->timer != NULL)
		event_free(a->timer);
	for (i = 0; i < a->n_doomed; i++)
		free(a->doomed[i]);
	free(a->doomed);
	secret_free(a->client_state);
	free(a->name);
	free(a->notification_url);
	free(a->lifecycle_url);
	free(a->call_id);
	free(a->id);
	free(a->replaced);
	free(a);
}

static struct app_sub *
app_new(struct subscriptions *m, struct event_base *base, struct http_client *hc,
    const struct config *cfg, const struct config_app *app)
{
	struct app_sub *a = xcalloc(1, sizeof(*a));
	char *err = NULL;

	a->m = m;
	a->name = xstrdup(app->name);
	a->notification_url = config_public_endpoint(cfg, "/webhooks/graph/", app->name);
	a->lifecycle_url = xasprintf("%s/lifecycle", a->notification_url);
	a->client_state = secret_new(app->graph_client_state->data, app->graph_client_state->len);
	a->lifetime = app->graph_subscription_lifetime > 0 ? app->graph_subscription_lifetime :
	    SUB_MAX_S;
	a->max_s = SUB_MAX_S;
	a->margin_s = SUB_MARGIN_S;
	a->gc = graph_client_from_app(hc, app, &err);
	if (a->gc == NULL)
		goto fail;
	a->timer = evtimer_new(base, timer_cb, a);
	if (a->timer == NULL)
		fatal("subscriptions: cannot create a timer");
	return a;
fail:
	log_ctx(LOG_LEVEL_ERROR, NULL, app->name, "graph subscription: off (%s)",
	    err ? err : "no Graph client");
	free(err);
	app_free(a);
	return NULL;
}

/* Keeps the stored subscription when it is live and for our URL; else lists first. */
static void
app_resume(struct app_sub *a)
{
	struct store_subscription row;
	char when[UTIL_TIME_MAX];
	int64_t now = now_s(), since;

	memset(&row, 0, sizeof(row));
	if (store_get_subscription(a->m->store, a->name, &row) == 1) {
		if (row.expiration > now && row.notification_url != NULL &&
		    strcmp(row.notification_url, a->notification_url) == 0) {
			a->id = row.id;
			row.id = NULL;
			a->expiration = row.expiration;
			a->created_at = row.created_at;
			a->renewed_at = row.renewed_at;
			a->resync_at = row.resync_at;
			since = row.renewed_at > row.created_at ? row.renewed_at : row.created_at;
			a->granted = since > 0 ? row.expiration - since : 0;
			util_format_time(a->expiration, when, sizeof(when));
			log_ctx(LOG_LEVEL_INFO, NULL, a->name,
			    "graph subscription %s kept from the store, expires %s", a->id, when);
			publish_expiry(a);
		} else {
			/* Another URL's subscription goes once ours is live; an expired one is gone. */
			if (row.expiration > now)
				doom(a, row.id);
			log_ctx(LOG_LEVEL_INFO, NULL, a->name, "graph subscription %s in the store is %s: "
			    "adopting or creating one", row.id, row.expiration > now ?
			    "for another notificationUrl" : "expired");
			store_delete_subscription(a->m->store, a->name);
		}
	}
	store_subscription_clear(&row);
	schedule_ms(a, 0);
}

/* graph_subscribe_users asks for a subscription this config cannot make. */
static void
not_possible(struct subscriptions *m, const char *app, const char *why)
{
	char msg[CONDITION_MESSAGE_MAX];

	snprintf(msg, sizeof(msg), "graph_subscribe_users is on but no subscription can be made: "
	    "%s; set it, or graph_subscribe_users = no (user-side causes are then not told apart)",
	    why);
	ready(m, app, CONDITION_FALSE, 1, "NotPossible", msg);
}

struct subscriptions *
subscriptions_new(struct event_base *base, struct http_client *hc, const struct config *cfg,
    struct store *st)
{
	struct subscriptions *m = xcalloc(1, sizeof(*m));
	const char *why;
	struct app_sub *a;
	size_t i;

	m->store = st;
	m->apps = xcalloc(cfg->n_apps + 1, sizeof(*m->apps));
	for (i = 0; i < cfg->n_apps; i++) {
		why = skip_reason(cfg, cfg->apps[i]);
		if (why != NULL) {
			log_ctx(LOG_LEVEL_INFO, NULL, cfg->apps[i]->name, "graph subscription: off (%s)",
			    why);
			if (cfg->apps[i]->graph_subscribe_users)
				not_possible(m, cfg->apps[i]->name, why);
			continue;
		}
		a = app_new(m, base, hc, cfg, cfg->apps[i]);
		if (a == NULL) {
			not_possible(m, cfg->apps[i]->name, "the rotator identity cannot be used");
			continue;
		}
		m->apps[m->n++] = a;
		app_resume(a);
	}
	return m;
}

void
subscriptions_free(struct subscriptions *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++)
		app_free(m->apps[i]);
	free(m->apps);
	free(m);
}

static struct app_sub *
find_app(const struct subscriptions *m, const char *name)
{
	size_t i;

	for (i = 0; m != NULL && name != NULL && i < m->n; i++) {
		if (strcmp(m->apps[i]->name, name) == 0)
			return m->apps[i];
	}
	return NULL;
}

/* --- lifecycle events --------------------------------------------------- */

static const char *
event_label(const char *event)
{
	static const char *const known[] = { "reauthorizationRequired", "subscriptionRemoved",
	    "missed" };
	size_t i;

	for (i = 0; event != NULL && i < sizeof(known) / sizeof(known[0]); i++) {
		if (strcmp(event, known[i]) == 0)
			return known[i];
	}
	return "other";
}

static void
missed(struct app_sub *a)
{
	a->resync_at = now_s();
	save(a);
	log_ctx(LOG_LEVEL_WARN, NULL, a->name,
	    "graph subscription %s: missed notifications: resync recorded", a->id);
}

void
subscriptions_lifecycle(struct subscriptions *m, const char *app, const char *subscription_id,
    const char *event)
{
	struct app_sub *a = find_app(m, app);
	const char *label = event_label(event);
	char labels[256];

	if (a == NULL) {
		log_ctx(LOG_LEVEL_WARN, NULL, app, "graph lifecycle event %s: the app keeps no "
		    "subscription: ignored", label);
		return;
	}
	snprintf(labels, sizeof(labels), "app=\"%s\",event=\"%s\"", a->name, label);
	metrics_counter_add("rekey_graph_lifecycle_events_total",
	    "Graph lifecycle notifications by event.", labels, 1);
	if (subscription_id == NULL || a->id == NULL || strcmp(subscription_id, a->id) != 0) {
		log_ctx(LOG_LEVEL_WARN, NULL, a->name, "graph lifecycle event %s for subscription %s, "
		    "not ours (%s): ignored", label, subscription_id ? subscription_id : "(none)",
		    a->id ? a->id : "none live");
		/* It came to our lifecycle URL: a list finds it if it duplicates ours. */
		if (a->id != NULL) {
			a->sweep = 1;
			kick(a);
		}
		return;
	}
	if (strcmp(label, "reauthorizationRequired") == 0) {
		log_ctx(LOG_LEVEL_INFO, NULL, a->name,
		    "graph subscription %s: reauthorization required", a->id);
		a->reauthorize = 1;
	} else if (strcmp(label, "subscriptionRemoved") == 0) {
		gone(a, "subscriptionRemoved");
	} else if (strcmp(label, "missed") == 0) {
		missed(a);
		return;
	} else {
		log_ctx(LOG_LEVEL_WARN, NULL, a->name, "graph subscription %s: unknown lifecycle "
		    "event: ignored", a->id);
		return;
	}
	kick(a);
}
