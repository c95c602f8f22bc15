/*
 * subscriptions_answers: what Graph's answers to the subscription calls
 * come to.  subscriptions_done_cb takes every answer in: it counts it,
 * settles it (a list adopts ours and dooms duplicates, a create or renew
 * takes the expiration Graph granted, a refusal of the expiration is asked
 * again shorter, a 404 means the subscription is gone), records the
 * SubscriptionReady condition and either kicks the driver or schedules the
 * retry with backoff.  Part of the subscriptions (subscriptions_int.h); the
 * driver is in subscriptions.c.
 */
#include "engine/subscriptions_int.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "outbound/graph.h"
#include "outbound/graph_parse.h"
#include "state/condition.h"
#include "state/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Retry delays: the first, doubling up to the cap; both shrink with a short lifetime. */
#define SUB_RETRY_FIRST_S 30
#define SUB_RETRY_CAP_S (15 * 60)
/* The longest Retry-After honoured. */
#define SUB_RETRY_AFTER_MAX_MS (3600 * 1000)

/* Refusals of the expiration in a row that are retried at once, before the usual backoff. */
#define SUB_EXPIRY_RETRIES_MAX 8

static const char *const op_names[] = {
	"none", "list", "create", "renew", "reauthorize", "delete",
};

/* --- small helpers ------------------------------------------------------ */

static int64_t
retry_first(const struct app_sub *a)
{
	int64_t s = min64(SUB_RETRY_FIRST_S, subscriptions_ask_lifetime(a) / 4);

	return s > 0 ? s : 1;
}

int64_t
subscriptions_retry_cap(const struct app_sub *a)
{
	int64_t s = min64(SUB_RETRY_CAP_S, subscriptions_ask_lifetime(a));

	return s > retry_first(a) ? s : retry_first(a);
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
count_op(const struct app_sub *a, enum sub_op op, enum graph_outcome outcome)
{
	char labels[256];

	snprintf(labels, sizeof(labels), "app=\"%s\",op=\"%s\",result=\"%s\"", a->name,
	    op_names[op], graph_outcome_name(outcome));
	metrics_counter_add("rekey_graph_subscription_operations_total",
	    "Graph subscription calls by operation and outcome.", labels, 1);
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
		    min64(a->backoff_s * 2, subscriptions_retry_cap(a));
		delay_ms = res->retry_after_ms >= 0 ?
		    min64(res->retry_after_ms, SUB_RETRY_AFTER_MAX_MS) : a->backoff_s * 1000;
		log_ctx(LOG_LEVEL_WARN, res->client_request_id, a->name,
		    "graph subscription %s failed: retryable (HTTP %ld%s%s)%s%s; retrying in %lld ms",
		    op_names[op], res->status, e && e->code ? ", " : "", e && e->code ? e->code : "",
		    res->detail ? ": " : "", res->detail ? res->detail : "", (long long)delay_ms);
	} else {
		delay_ms = subscriptions_retry_cap(a) * 1000;
		log_ctx(LOG_LEVEL_ERROR, res->client_request_id, a->name,
		    "graph subscription %s failed: %s (HTTP %ld, %s: %s)%s%s; retrying in %lld s",
		    op_names[op], graph_outcome_name(res->outcome), res->status,
		    e && e->code ? e->code : "no code", e && e->message ? e->message : "no message",
		    res->detail ? ": " : "", res->detail ? res->detail : "",
		    (long long)(delay_ms / 1000));
	}
	a->backing_off = 1;
	subscriptions_schedule_ms(a, delay_ms);
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

		subscriptions_take(a, s->id, s->expiration, now_s());
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
			subscriptions_doom(a, s->id);
		}
	}
}

static void
created(struct app_sub *a, const struct graph_result *res)
{
	const struct graph_subscription *s = res->subscription;
	char when[UTIL_TIME_MAX];

	if (s == NULL || s->id == NULL) {
		/* outbound/graph parses every 201 it passes on; this is a broken invariant. */
		log_ctx(LOG_LEVEL_ERROR, res->client_request_id, a->name,
		    "graph subscription create: answer without an id");
		a->listed = 0;
		return;
	}
	subscriptions_take(a, s->id, s->expiration > 0 ? s->expiration : a->asked, now_s());
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
	subscriptions_save(a);
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
		subscriptions_gone(a, op == SUB_OP_RENEW ? "404 on renew" : "404 on reauthorize");
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
	    (long long)(subscriptions_ask_lifetime(a) / 60));
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
	if (graph_error_is_validation(res->status, res->error)) {
		snprintf(msg, sizeof(msg), "Graph could not validate %s (HTTP %ld %s: %s): it must "
		    "reach rekey's /webhooks/graph/%s through the proxy and get the token back "
		    "within 10 s; rekey tries again", a->notification_url, res->status,
		    code ? code : "no code", res->error->message, a->name);
		ready(a->m, a->name, CONDITION_FALSE, 0, "NotValidated", msg);
		return;
	}
	snprintf(msg, sizeof(msg), "Graph answered %s%ld%s%s to the /users subscription's %s: "
	    "rekey gets no user notifications and cannot tell a user-side cause from the secret%s",
	    res->status ? "" : "no answer, ", res->status, code ? " " : "", code ? code : "",
	    op_names[op], res->status == 403 ? "; the rotator needs User.Read.All (admin consent)" :
	    res->outcome == GRAPH_RETRYABLE ? "; rekey tries again" : "");
	ready(a->m, a->name, CONDITION_FALSE, res->outcome != GRAPH_RETRYABLE,
	    res->outcome == GRAPH_RETRYABLE ? "GraphUnavailable" : res->status == 403 ?
	    "Forbidden" : "Refused", msg);
}

void
subscriptions_done_cb(const struct graph_result *res, void *arg)
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
		subscriptions_kick(a);
	} else {
		failed(a, op, res);
	}
	free(a->call_id);
	a->call_id = NULL;
}

/* graph_subscribe_users asks for a subscription this config cannot make. */
void
subscriptions_not_possible(struct subscriptions *m, const char *app, const char *why)
{
	char msg[CONDITION_MESSAGE_MAX];

	snprintf(msg, sizeof(msg), "graph_subscribe_users is on but no subscription can be made: "
	    "%s; set it, or graph_subscribe_users = no (user-side causes are then not told apart)",
	    why);
	ready(m, app, CONDITION_FALSE, 1, "NotPossible", msg);
}
