/*
 * engines: starting and stopping what only the leader runs.  See engines.h.
 */
#include "handler/engines.h"
#include "engine/alerts.h"
#include "engine/correlate.h"
#include "engine/expiry_poll.h"
#include "engine/graph_worker.h"
#include "engine/notifier.h"
#include "engine/rotator.h"
#include "engine/subscriptions.h"
#include "engine/webhook_manager.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "state/config.h"
#include "state/journal.h"
#include "state/runtime.h"
#include "state/store.h"
#include "state/wake.h"

#include <stdlib.h>

#include <event2/event.h>

/* A start whose epoch the store would not take is tried again this often. */
#define RETRY_MS 1000

/* The Graph worker hands lifecycle events to whichever subscription manager runs now. */
static void
lifecycle_cb(const char *app, const char *subscription_id, const char *event, void *arg)
{
	struct runtime *rt = arg;

	if (rt->subscriptions != NULL)
		subscriptions_lifecycle(rt->subscriptions, app, subscription_id, event);
}

/*
 * The engines' wake-ups (state/wake.h), subscribed once: each finds its
 * engine through rt when signalled, so reload and stop may replace or clear
 * it (a cleared engine hears nothing: a follower's intake wakes no one).
 */
static void
wake_correlator_cb(void *arg)
{
	correlator_wake(((struct runtime *)arg)->correlator);
}

static void
wake_graph_worker_cb(void *arg)
{
	struct runtime *rt = arg;

	if (rt->graph_worker != NULL)
		graph_worker_wake(rt->graph_worker);
}

static void
wake_rotator_cb(void *arg)
{
	rotator_wake(((struct runtime *)arg)->rotator);
}

static void
wake_alerts_cb(void *arg)
{
	alerts_wake(((struct runtime *)arg)->alerts);
}

static void
wake_notifier_cb(void *arg)
{
	notifier_kick(((struct runtime *)arg)->notifier);
}

/* The engines that read the config (all but the notifier), in the order they need each other. */
static void
start_config_engines(struct engines *e)
{
	struct runtime *rt = e->rt;

	/* The rotator first: the expiry poll hands it what each expiry poll reads. */
	rt->rotator = rotator_new(rt->base, e->http, rt->cfg, rt->store, rt->journal);
	e->expiry_poll = expiry_poll_new(rt->base, e->http, rt->cfg, rt->store, rt->rotator);
	rt->subscriptions = subscriptions_new(rt->base, e->http, rt->cfg, rt->store);
	rt->graph_worker = graph_worker_new(rt, e->http, lifecycle_cb, rt);
	rt->correlator = correlator_new(rt, e->http);
	rt->alerts = alerts_new(rt, e->http, rt->notifier);
	rt->webhooks = webhook_manager_new(rt, e->http);
}

/*
 * Those that call out first, so that nothing more is sent: each keeps its
 * durable intent in the store, and the next leader resumes from there.
 */
static void
stop_config_engines(struct engines *e)
{
	struct runtime *rt = e->rt;

	/* A rotate-secret call cut short is recorded "unknown" and its window closed. */
	webhook_manager_free(rt->webhooks);
	rt->webhooks = NULL;
	/* Rotations keep their stored intent: the next leader resumes them where they stopped. */
	rotator_free(rt->rotator);
	rt->rotator = NULL;
	/* The expiry poll only reads, and runs again under the next leader. */
	expiry_poll_free(e->expiry_poll);
	e->expiry_poll = NULL;
	/* A subscription call cut short is redone from the store and Graph's list. */
	subscriptions_free(rt->subscriptions);
	rt->subscriptions = NULL;
	/* Events not finished stay unprocessed in the store for the next leader. */
	graph_worker_free(rt->graph_worker);
	rt->graph_worker = NULL;
	correlator_free(rt->correlator);
	rt->correlator = NULL;
	/* Notices are derived again from the store by the next leader's alerts. */
	alerts_free(rt->alerts);
	rt->alerts = NULL;
}

/* 0 once the loop's connection and the journal's writer carry the epoch wanted. */
static int
set_epoch(struct engines *e)
{
	if (store_set_epoch(e->rt->store, e->want_epoch) == -1)
		return -1;
	journal_set_epoch(e->rt->journal, e->want_epoch);
	e->rt->epoch = e->want_epoch;
	return 0;
}

static void
try_start(struct engines *e)
{
	struct timeval tv = { RETRY_MS / 1000, (RETRY_MS % 1000) * 1000 };

	if (e->running || e->want_epoch < 0 || e->rt->draining)
		return;
	/* Without its epoch a write could pass the fence: nothing runs before it is set. */
	if (set_epoch(e) == -1) {
		log_error("leader: the store did not take epoch %lld; engines start when it does",
		    (long long)e->want_epoch);
		event_add(e->retry_ev, &tv);
		return;
	}
	e->rt->notifier = notifier_new(e->rt, e->http);
	start_config_engines(e);
	webhook_manager_start(e->rt->webhooks);
	e->running = 1;
	log_info("leader: engines started (epoch %lld)", (long long)e->want_epoch);
	/* What other replicas took while none ran here: the engines read the store at once. */
	wake_signal(WAKE_NYLAS_EVENTS);
	wake_signal(WAKE_GRAPH_NOTIFICATIONS);
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	try_start(arg);
}

void
engines_init(struct engines *e, struct runtime *rt, struct http_client *http)
{
	e->rt = rt;
	e->http = http;
	e->expiry_poll = NULL;
	e->want_epoch = -1;
	e->running = 0;
	rt->epoch = -1;
	rt->webhook_register = webhook_manager_register;
	rt->webhook_rotate = webhook_manager_rotate;
	e->retry_ev = evtimer_new(rt->base, retry_cb, e);
	if (e->retry_ev == NULL)
		fatal("out of memory");
	wake_subscribe(WAKE_NYLAS_EVENTS, wake_correlator_cb, rt);
	wake_subscribe(WAKE_GRAPH_NOTIFICATIONS, wake_graph_worker_cb, rt);
	wake_subscribe(WAKE_ROTATIONS, wake_rotator_cb, rt);
	wake_subscribe(WAKE_INCIDENTS, wake_alerts_cb, rt);
	wake_subscribe(WAKE_NOTICES, wake_notifier_cb, rt);
}

void
engines_start(struct engines *e, int64_t epoch)
{
	e->want_epoch = epoch;
	try_start(e);
}

/* The loop's connection, opened afresh: the old one carries an epoch that is no longer ours. */
static void
reopen_store(struct runtime *rt)
{
	struct store *st;
	char *err = NULL;

	st = store_open(rt->cfg->store_url, &err);
	if (st == NULL) {
		log_warn("leader: cannot open the store afresh (%s); the admin API's writes are "
		    "refused until this replica leads again", err);
		free(err);
		return;
	}
	store_close(rt->store);
	rt->store = st;
}

/*
 * The gauges the engines keep up to date.  A replica that no longer leads
 * drops them: kept, they would go on saying what it last saw (an expiry poll
 * that ages, conditions that no longer change) beside the new leader's, and
 * fire alerts for a replica that watches nothing.
 */
static const char *const engine_gauges[] = {
	"rekey_app_condition",
	"rekey_app_health",
	"rekey_secret_expiry_timestamp_seconds",
	"rekey_expiry_poll_last_success_timestamp_seconds",
	"rekey_graph_subscription_expiry_timestamp_seconds",
	"rekey_incident_affected_grants",
	"rekey_incident_recovered_grants",
	"rekey_incidents_open",
	"rekey_outbox_messages",
	"rekey_rotation_step_duration_seconds",
};

static void
drop_engine_gauges(void)
{
	size_t i;

	for (i = 0; i < sizeof(engine_gauges) / sizeof(engine_gauges[0]); i++)
		metrics_gauge_remove_all(engine_gauges[i]);
}

void
engines_stop(struct engines *e)
{
	int was_running = e->running;

	event_del(e->retry_ev);
	e->want_epoch = -1;
	if (!was_running)
		return;
	e->running = 0;
	stop_config_engines(e);
	/* Calls in flight are cut short: their rows stay "sending" for the next leader. */
	notifier_free(e->rt->notifier);
	e->rt->notifier = NULL;
	e->rt->epoch = -1;
	reopen_store(e->rt);
	drop_engine_gauges();
	log_warn("leader: engines stopped");
}

void
engines_reload(struct engines *e)
{
	if (!e->running)
		return;
	/* Their clients point into the old config: start afresh. */
	stop_config_engines(e);
	start_config_engines(e);
}

void
engines_drain(struct engines *e)
{
	event_del(e->retry_ev);
	e->want_epoch = -1;
	if (e->running)
		stop_config_engines(e);
	notifier_stop(e->rt->notifier);
}

void
engines_free(struct engines *e)
{
	if (e->running)
		stop_config_engines(e);
	e->running = 0;
	notifier_free(e->rt->notifier);
	e->rt->notifier = NULL;
	if (e->retry_ev != NULL)
		event_free(e->retry_ev);
	e->retry_ev = NULL;
}
