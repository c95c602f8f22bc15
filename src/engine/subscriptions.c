/*
 * subscriptions: the driver of the Graph subscriptions (see subscriptions.h):
 * per app, a timer and step(), which starts the one call the app's state
 * calls for (list, create, renew, reauthorize, delete) or waits for the
 * renewal; the live subscription as stored and published; start, resume
 * from the store, and the lifecycle events.  What the answers come to is in
 * subscriptions_answers.c; what both share is in subscriptions_int.h.
 */
#include "engine/subscriptions.h"
#include "engine/subscriptions_int.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "outbound/graph.h"
#include "state/config.h"
#include "state/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#define SUB_CHANGE_TYPE "updated,deleted"
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

static void step(struct app_sub *a);

/* --- small helpers ------------------------------------------------------ */

/* The lifetime to ask for: the configured one, never closer to Graph's maximum than the margin. */
int64_t
subscriptions_ask_lifetime(const struct app_sub *a)
{
	int64_t most = a->max_s - a->margin_s;

	if (most < a->max_s / 2)
		most = a->max_s / 2;
	return most > 0 ? min64(a->lifetime, most) : 1;
}

void
subscriptions_schedule_ms(struct app_sub *a, int64_t ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(a->timer, &tv);
}

/* Runs the driver soon, from the event loop, unless a call or a retry delay is pending. */
void
subscriptions_kick(struct app_sub *a)
{
	if (a->in_flight == SUB_OP_NONE && !a->backing_off)
		subscriptions_schedule_ms(a, 0);
}

static void
set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src != NULL ? xstrdup(src) : NULL;
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

/* Writes the live subscription to the store; a failure is logged and the next start lists. */
void
subscriptions_save(struct app_sub *a)
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
void
subscriptions_take(struct app_sub *a, const char *id, int64_t expiration, int64_t asked_at)
{
	set_str(&a->id, id);
	a->expiration = expiration;
	a->granted = expiration - asked_at;
	a->created_at = now_s();
	a->renewed_at = 0;
	a->resync_at = 0;
	subscriptions_save(a);
}

/* The live subscription is no more at Graph: forget it and create a new one. */
void
subscriptions_gone(struct app_sub *a, const char *why)
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

void
subscriptions_doom(struct app_sub *a, const char *id)
{
	size_t i;

	for (i = 0; i < a->n_doomed; i++) {
		if (strcmp(a->doomed[i], id) == 0)
			return;
	}
	a->doomed = xrealloc(a->doomed, (a->n_doomed + 1) * sizeof(*a->doomed));
	a->doomed[a->n_doomed++] = xstrdup(id);
}

/* --- the driver --------------------------------------------------------- */

static int
start_create(struct app_sub *a)
{
	struct graph_subscription_spec spec;

	memset(&spec, 0, sizeof(spec));
	a->asked_at = now_s();
	a->asked = a->asked_at + subscriptions_ask_lifetime(a);
	spec.change_type = SUB_CHANGE_TYPE;
	spec.notification_url = a->notification_url;
	spec.lifecycle_url = a->lifecycle_url;
	spec.resource = SUB_RESOURCE;
	spec.expiration = a->asked;
	/* Never includeResourceData: Graph offers no rich notifications for /users. */
	spec.client_state = a->client_state;
	return graph_create_subscription(a->gc, &spec, subscriptions_done_cb, a);
}

static int
start(struct app_sub *a, enum sub_op op)
{
	int rc = -1;

	a->in_flight = op;
	switch (op) {
	case SUB_OP_LIST:
		rc = graph_list_subscriptions(a->gc, subscriptions_done_cb, a);
		break;
	case SUB_OP_CREATE:
		rc = start_create(a);
		break;
	case SUB_OP_RENEW:
		set_str(&a->call_id, a->id);
		a->asked_at = now_s();
		a->asked = a->asked_at + subscriptions_ask_lifetime(a);
		rc = graph_renew_subscription(a->gc, a->id, a->asked, subscriptions_done_cb, a);
		break;
	case SUB_OP_REAUTHORIZE:
		set_str(&a->call_id, a->id);
		rc = graph_reauthorize_subscription(a->gc, a->id, subscriptions_done_cb, a);
		break;
	case SUB_OP_DELETE:
		set_str(&a->call_id, a->doomed[0]);
		rc = graph_delete_subscription(a->gc, a->doomed[0], subscriptions_done_cb, a);
		break;
	case SUB_OP_NONE:
		break;
	}
	if (rc == 0)
		return 0;
	/* Not sent (logged by outbound/graph): try again after the longest delay. */
	a->in_flight = SUB_OP_NONE;
	a->backing_off = 1;
	subscriptions_schedule_ms(a, subscriptions_retry_cap(a) * 1000);
	return -1;
}

/* When to renew: half the lifetime before expiry (half of what Graph granted, if less). */
static int64_t
renew_at(const struct app_sub *a)
{
	int64_t span = a->granted > 0 ? min64(a->granted, subscriptions_ask_lifetime(a)) :
	    subscriptions_ask_lifetime(a);

	return a->expiration - span / 2;
}

static void
step(struct app_sub *a)
{
	int64_t now = now_s();

	if (a->id != NULL && a->expiration <= now) {
		log_ctx(LOG_LEVEL_WARN, NULL, a->name, "graph subscription %s expired unrenewed",
		    a->id);
		subscriptions_gone(a, "expired");
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
		subscriptions_schedule_ms(a, (renew_at(a) - now) * 1000);
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
				subscriptions_doom(a, row.id);
			log_ctx(LOG_LEVEL_INFO, NULL, a->name, "graph subscription %s in the store is %s: "
			    "adopting or creating one", row.id, row.expiration > now ?
			    "for another notificationUrl" : "expired");
			store_delete_subscription(a->m->store, a->name);
		}
	}
	store_subscription_clear(&row);
	subscriptions_schedule_ms(a, 0);
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
				subscriptions_not_possible(m, cfg->apps[i]->name, why);
			continue;
		}
		a = app_new(m, base, hc, cfg, cfg->apps[i]);
		if (a == NULL) {
			subscriptions_not_possible(m, cfg->apps[i]->name,
			    "the rotator identity cannot be used");
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
	subscriptions_save(a);
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
			subscriptions_kick(a);
		}
		return;
	}
	if (strcmp(label, "reauthorizationRequired") == 0) {
		log_ctx(LOG_LEVEL_INFO, NULL, a->name,
		    "graph subscription %s: reauthorization required", a->id);
		a->reauthorize = 1;
	} else if (strcmp(label, "subscriptionRemoved") == 0) {
		subscriptions_gone(a, "subscriptionRemoved");
	} else if (strcmp(label, "missed") == 0) {
		missed(a);
		return;
	} else {
		log_ctx(LOG_LEVEL_WARN, NULL, a->name, "graph subscription %s: unknown lifecycle "
		    "event: ignored", a->id);
		return;
	}
	subscriptions_kick(a);
}
