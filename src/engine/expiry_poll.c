#include "engine/expiry_poll.h"
#include "engine/rotation_in_use.h"
#include "engine/rotation_publish.h"
#include "engine/rotator.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "outbound/graph.h"
#include "outbound/graph_sp.h"
#include "outbound/identity.h"
#include "outbound/nylas.h"
#include "proto/explain.h"
#include "state/condition.h"
#include "state/config.h"
#include "state/credentials.h"
#include "state/rotation.h"
#include "state/store.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

/* After a failed poll the next comes this soon (unless expiry_poll is sooner). */
#define RETRY_AFTER_FAILURE_S 300
/* Expiry series published for one app, so that those of deleted secrets can be dropped. */
#define MAX_SERIES 64

#define EXPIRY_METRIC "rekey_secret_expiry_timestamp_seconds"

/* One app's poll: its own Graph and Nylas clients (and rotator identity) and timer. */
struct app_poll {
	struct expiry_poll *s;
	const struct config_app *app;	/* borrowed: the config outlives the expiry poll */
	int64_t interval_s;
	struct graph_client *gc;
	struct nylas_client *nc;	/* NULL without a Nylas API key */
	struct event *timer;
	int in_flight;
	int failed;			/* the last round met a failure: try again sooner */
	char *series[MAX_SERIES];	/* the expiry series' labels as last published */
	size_t n_series;
	char *sp_failure;		/* why the service principal's read failed, as logged */
};

struct expiry_poll {
	const struct config *cfg;	/* borrowed */
	struct rotator *rot;		/* borrowed; may be NULL */
	struct store *st;		/* borrowed */
	struct app_poll **polls;
	size_t n;
};

static void poll_cb(evutil_socket_t fd, short what, void *arg);

static void
schedule(struct app_poll *p, int64_t seconds)
{
	struct timeval tv = { (time_t)seconds, 0 };

	evtimer_add(p->timer, &tv);
}

static void
record(struct app_poll *p, enum condition_type t, enum condition_status st, int permanent,
    const char *reason, const char *message)
{
	if (condition_record(p->s->st, p->app->name, t, st, permanent, reason, message,
	    util_now_ms() / 1000) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, p->app->name, "cannot record condition %s in the store",
		    condition_type_name(t));
	if (st == CONDITION_FALSE)
		log_ctx(LOG_LEVEL_WARN, NULL, p->app->name, "%s is false: %s: %s",
		    condition_type_name(t), reason, message);
}

/* Drops the expiry series of secrets no longer listed (deleted, or in use no more). */
static void
forget_series(struct app_poll *p, char **now, size_t n_now)
{
	size_t i, j;

	for (i = 0; i < p->n_series; i++) {
		for (j = 0; j < n_now; j++)
			if (strcmp(p->series[i], now[j]) == 0)
				break;
		if (j == n_now)
			metrics_gauge_remove(EXPIRY_METRIC, p->series[i]);
		free(p->series[i]);
	}
	for (i = 0; i < n_now; i++)
		p->series[i] = now[i];
	p->n_series = n_now;
}

static void
publish(struct app_poll *p, const struct graph_application *a)
{
	char labels[512], end[32], *series[MAX_SERIES], *in_use;
	const char *why = NULL;
	size_t i, n = 0;

	in_use = rotation_in_use_key(p->s->st, p->app, a, &why);
	for (i = 0; i < a->n_passwords; i++) {
		const struct graph_password *pw = &a->passwords[i];
		int used = in_use != NULL && pw->key_id != NULL && strcmp(pw->key_id, in_use) == 0;

		snprintf(labels, sizeof(labels), "app=\"%s\",key_id=\"%s\",in_use=\"%s\"",
		    p->app->name, pw->key_id ? pw->key_id : "", used ? "true" : "false");
		metrics_gauge_set(EXPIRY_METRIC,
		    "When each client secret of the app ends (Unix seconds).", labels, (double)pw->end);
		if (n < MAX_SERIES)
			series[n++] = xstrdup(labels);
		util_format_time(pw->end, end, sizeof(end));
		log_ctx(LOG_LEVEL_INFO, NULL, p->app->name, "secret %s (hint %s, \"%s\") ends %s%s",
		    pw->key_id ? pw->key_id : "?", pw->hint ? pw->hint : "?",
		    pw->display_name ? pw->display_name : "", end, used ? " (in use)" : "");
	}
	forget_series(p, series, n);
	snprintf(labels, sizeof(labels), "app=\"%s\"", p->app->name);
	metrics_gauge_set("rekey_expiry_poll_last_success_timestamp_seconds",
	    "When the app's secrets were last read from Graph (Unix seconds).", labels,
	    (double)(util_now_ms() / 1000));
	free(in_use);
}

/* Why the rotator got no token: reason, message and whether a person must act. */
static void
token_problem(const struct identity_result *t, char *reason, size_t rsize, char *msg,
    size_t msize, int *permanent)
{
	const char *fix = t->aad != NULL ? explain_aadsts(t->aad->code) : NULL;

	*permanent = t->status != IDENTITY_RETRYABLE;
	if (t->status == IDENTITY_RETRYABLE) {
		util_strlcpy(reason, "TokenEndpointUnavailable", rsize);
		snprintf(msg, msize, "the token endpoint did not answer the rotator's sign-in (%s); "
		    "rekey tries again", t->detail ? t->detail : "no answer");
	} else if (t->aad != NULL) {
		util_strlcpy(reason, "SignInRefused", rsize);
		snprintf(msg, msize, "the token endpoint refused the rotator's certificate sign-in "
		    "(HTTP %ld, AADSTS%lld%s%s)%s%s", t->http_status, (long long)t->aad->code,
		    t->aad->error ? " " : "", t->aad->error ? t->aad->error : "",
		    fix ? ": " : "", fix ? fix : "");
	} else {
		util_strlcpy(reason, "SignInFailed", rsize);
		snprintf(msg, msize, "the rotator's sign-in failed (%s)",
		    t->detail ? t->detail : "no detail");
	}
}

/* Why Graph did not give the app: reason, message and whether a person must act. */
static void
graph_problem(const struct graph_result *res, const char *app_id, char *reason, size_t rsize,
    char *msg, size_t msize, int *permanent)
{
	const char *code = res->error && res->error->code ? res->error->code : NULL;
	const char *fix = explain_graph(res->status, code);

	if (res->token != NULL) {
		token_problem(res->token, reason, rsize, msg, msize, permanent);
		return;
	}
	*permanent = res->outcome != GRAPH_RETRYABLE;
	if (res->outcome == GRAPH_NOT_FOUND && res->status == 200) {
		util_strlcpy(reason, "AppNotFound", rsize);
		snprintf(msg, msize, "Graph lists no application with appId %s: check "
		    "azure_client_id and azure_tenant_id", app_id);
		return;
	}
	util_strlcpy(reason, res->outcome == GRAPH_RETRYABLE ? "GraphUnavailable" :
	    res->status == 403 ? "Forbidden" : res->status == 401 ? "Unauthorized" :
	    res->status == 404 ? "NotFound" : "GraphRefused", rsize);
	snprintf(msg, msize, "Graph answered %s%ld%s%s to GET /applications?$filter=appId eq '%s'"
	    "%s%s%s", res->status ? "" : "no answer, ", res->status, code ? " " : "",
	    code ? code : "", app_id, fix ? ": " : "", fix ? fix : "",
	    res->outcome == GRAPH_RETRYABLE ? "; rekey tries again" : "");
}

static void
record_poll_conditions(struct app_poll *p, const struct graph_result *res)
{
	char reason[CONDITION_REASON_MAX], msg[CONDITION_MESSAGE_MAX];
	int permanent;

	if (res->outcome == GRAPH_OK) {
		snprintf(msg, sizeof(msg), "the rotator signed in with its certificate and read the "
		    "app (%zu secrets)", res->application->n_passwords);
		record(p, CONDITION_ROTATOR_READY, CONDITION_TRUE, 0, "Ready", msg);
		snprintf(msg, sizeof(msg), "%zu secrets read from Graph",
		    res->application->n_passwords);
		record(p, CONDITION_SECRETS_READ, CONDITION_TRUE, 0, "Read", msg);
		return;
	}
	graph_problem(res, p->app->azure_client_id, reason, sizeof(reason), msg, sizeof(msg),
	    &permanent);
	record(p, CONDITION_ROTATOR_READY, CONDITION_FALSE, permanent, reason, msg);
	record(p, CONDITION_SECRETS_READ, CONDITION_FALSE, permanent, reason, msg);
}

/*
 * RotatorReady and SecretsRead change together, in one transaction: a
 * reader (rekey status, the alerts) never sees one changed and the other
 * not yet.  began: store_begin succeeded; else each was written alone.
 */
static void
conditions_end(struct store *st, int began, const char *app)
{
	if (began && store_commit(st) == -1) {
		store_rollback(st);
		log_ctx(LOG_LEVEL_WARN, NULL, app, "cannot record conditions in the store");
	}
}

static void
record_poll(struct app_poll *p, const struct graph_result *res)
{
	int began = store_begin(p->s->st) == 0;

	record_poll_conditions(p, res);
	conditions_end(p->s->st, began, p->app->name);
}

/* The next round: sooner after a failure. */
static void
next_round(struct app_poll *p)
{
	schedule(p, p->failed && p->interval_s > RETRY_AFTER_FAILURE_S ? RETRY_AFTER_FAILURE_S :
	    p->interval_s);
}

/* A Nylas call that failed, as a condition's words; 1 when a person must act. */
static int
nylas_problem(const struct nylas_result *res, const char *call, char *reason, size_t rsize,
    char *msg, size_t msize)
{
	const char *type = res->error && res->error->type ? res->error->type : NULL;
	const char *fix = explain_nylas(res->status, type);

	util_strlcpy(reason, res->outcome == NYLAS_NOT_FOUND ? "NotFound" :
	    res->outcome == NYLAS_RETRYABLE ? "NylasUnavailable" : res->status == 401 ?
	    "Unauthorized" : "NylasRefused", rsize);
	snprintf(msg, msize, "Nylas answered %s%ld%s%s to %s%s%s%s", res->status ? "" :
	    "no answer, ", res->status, type ? " " : "", type ? type : "", call, fix ? ": " : "",
	    fix ? fix : "", res->outcome == NYLAS_RETRYABLE ? "; rekey tries again" : "");
	return res->outcome != NYLAS_RETRYABLE;
}

/* WebhookRegistered from the destination Nylas lists for rekey's URL. */
static void
record_destination(struct app_poll *p, const struct nylas_destination *w, const char *url)
{
	char msg[CONDITION_MESSAGE_MAX];

	switch (w->state) {
	case NYLAS_DESTINATION_OK:
	case NYLAS_DESTINATION_EXTRA:
		snprintf(msg, sizeof(msg), "Nylas webhook destination %s delivers the grant events "
		    "to %s (active)%s%s", w->id, url, w->extra[0] ? "; it also has the triggers " : "",
		    w->extra);
		record(p, CONDITION_WEBHOOK_REGISTERED, CONDITION_TRUE, 0, "Registered", msg);
		return;
	case NYLAS_DESTINATION_MISSING:
		snprintf(msg, sizeof(msg), "no Nylas webhook destination points at %s (%d "
		    "destinations): rekey gets no grant events; create it with rekey nylas register "
		    "-c FILE %s, or in the Nylas dashboard", url, w->n_destinations, p->app->name);
		record(p, CONDITION_WEBHOOK_REGISTERED, CONDITION_FALSE, 1, "NotRegistered", msg);
		break;
	case NYLAS_DESTINATION_NO_TRIGGERS:
		snprintf(msg, sizeof(msg), "Nylas webhook destination %s for %s lacks the triggers "
		    "%s: add them (rekey nylas register --fix)", w->id, url, w->missing);
		record(p, CONDITION_WEBHOOK_REGISTERED, CONDITION_FALSE, 1, "MissingTriggers", msg);
		break;
	case NYLAS_DESTINATION_INACTIVE:
		/* "failing" still delivers and recovers by itself; "failed" and "pause" do not. */
		snprintf(msg, sizeof(msg), "Nylas webhook destination %s for %s has status %s: "
		    "make sure Nylas reaches public_url, then set it active in the Nylas dashboard",
		    w->id, url, w->status);
		record(p, CONDITION_WEBHOOK_REGISTERED, CONDITION_FALSE,
		    strcmp(w->status, "failing") != 0, "Inactive", msg);
		break;
	}
	p->failed = 1;
}

static void
webhooks_cb(const struct nylas_result *res, void *arg)
{
	struct app_poll *p = arg;
	char reason[CONDITION_REASON_MAX], msg[CONDITION_MESSAGE_MAX], *url, *err = NULL;
	struct nylas_destination w;
	int permanent;

	if (res->outcome == NYLAS_CANCELLED)
		return;
	p->in_flight = 0;
	url = config_public_endpoint(p->s->cfg, "/webhooks/nylas/", p->app->name);
	if (res->outcome != NYLAS_OK) {
		permanent = nylas_problem(res, "GET /v3/webhooks", reason, sizeof(reason), msg,
		    sizeof(msg));
		record(p, CONDITION_WEBHOOK_REGISTERED, CONDITION_FALSE, permanent, reason, msg);
		p->failed = 1;
	} else if (nylas_find_destination(res->body, res->body_len, url, &w, &err) == -1) {
		snprintf(msg, sizeof(msg), "GET /v3/webhooks: %s", err);
		record(p, CONDITION_WEBHOOK_REGISTERED, CONDITION_FALSE, 0, "BadAnswer", msg);
		p->failed = 1;
	} else {
		record_destination(p, &w, url);
		nylas_destination_clear(&w);
	}
	free(err);
	free(url);
	next_round(p);
}

/* After the connector: is there a destination that delivers to rekey? */
static void
check_webhooks(struct app_poll *p)
{
	if (p->s->cfg->public_url != NULL && nylas_get_json(p->nc, "/v3/webhooks", webhooks_cb,
	    p) == 0) {
		p->in_flight = 1;
		return;
	}
	next_round(p);
}

/* The connector is the app's: can a new secret be put where Nylas signs users in? */
static void
connector_target(struct app_poll *p, const struct nylas_connector *c)
{
	char msg[CONDITION_MESSAGE_MAX], *why = NULL;
	struct publish_target t;

	if (rotation_publish_target(p->app, c, &t, &why) == -1) {
		snprintf(msg, sizeof(msg), "a rotation would stop before making a secret: %s", why);
		record(p, CONDITION_CONNECTOR_READY, CONDITION_FALSE, 1, "TenantUnknown", msg);
		p->failed = 1;
		free(why);
		return;
	}
	snprintf(msg, sizeof(msg), "the Nylas API key works and the Microsoft connector signs in "
	    "with azure_client_id %s; new secrets go to %s%s%s (tenant %s)", c->client_id,
	    t.kind == PUBLISH_CREDENTIAL ? "connector credential " : "the connector's settings",
	    t.kind == PUBLISH_CREDENTIAL ? t.credential_id : "",
	    t.kind == PUBLISH_CREDENTIAL && strcmp(t.source, "config") == 0 ?
	    " (nylas_connector_credential_id)" : t.kind == PUBLISH_CREDENTIAL ?
	    " (its active_credential_id)" : "",
	    t.tenant != NULL ? t.tenant : "none: Nylas's default, common");
	record(p, CONDITION_CONNECTOR_READY, CONDITION_TRUE, 0, "Ready", msg);
}

/* ConnectorReady from the connector as Nylas answered. */
static void
connector_cb(const struct nylas_result *res, void *arg)
{
	struct app_poll *p = arg;
	const struct nylas_connector *c = res->connector;
	char msg[CONDITION_MESSAGE_MAX];

	if (res->outcome == NYLAS_CANCELLED)
		return;
	p->in_flight = 0;
	if (res->outcome == NYLAS_OK && c->client_id != NULL &&
	    strcmp(c->client_id, p->app->azure_client_id) == 0) {
		connector_target(p, c);
	} else if (res->outcome == NYLAS_OK) {
		snprintf(msg, sizeof(msg), "the Nylas Microsoft connector signs in with client_id %s, "
		    "not azure_client_id %s: the secret rekey rotates is not the one Nylas uses; fix "
		    "azure_client_id or the connector", c->client_id ? c->client_id : "(none)",
		    p->app->azure_client_id);
		record(p, CONDITION_CONNECTOR_READY, CONDITION_FALSE, 1, "ClientIdMismatch", msg);
		p->failed = 1;
	} else {
		char reason[CONDITION_REASON_MAX];
		int permanent = nylas_problem(res, "GET /v3/connectors/microsoft", reason,
		    sizeof(reason), msg, sizeof(msg));

		record(p, CONDITION_CONNECTOR_READY, CONDITION_FALSE, permanent,
		    res->outcome == NYLAS_NOT_FOUND ? "NoConnector" : reason, msg);
		p->failed = 1;
		/* A key Nylas refuses cannot list the destinations either: one cause, one record. */
		next_round(p);
		return;
	}
	check_webhooks(p);
}

/* After the Graph read: the Nylas side, then the next round. */
static void
check_nylas(struct app_poll *p)
{
	if (p->nc != NULL && nylas_get_connector(p->nc, connector_cb, p) == 0) {
		p->in_flight = 1;
		return;
	}
	next_round(p);
}

/* ---- The service principal's secrets (listed and warned about, never rotated) ---- */

/* Records the service principal's secrets as Graph listed them in sp (state/credentials.h). */
static void
record_sp(struct app_poll *p, const struct graph_application *sp)
{
	struct credential *list = xcalloc(sp->n_passwords + 1, sizeof(*list));
	char end[UTIL_TIME_MAX];
	size_t i;

	for (i = 0; i < sp->n_passwords; i++) {
		const struct graph_password *pw = &sp->passwords[i];

		list[i].key_id = pw->key_id;
		list[i].hint = pw->hint;
		list[i].display_name = pw->display_name;
		list[i].start = pw->start;
		list[i].end = pw->end;
		util_format_time(pw->end, end, sizeof(end));
		log_ctx(LOG_LEVEL_INFO, NULL, p->app->name, "service principal secret %s (hint %s, "
		    "\"%s\") ends %s (rekey does not rotate it)", pw->key_id, pw->hint ? pw->hint : "?",
		    pw->display_name ? pw->display_name : "", end);
	}
	if (credentials_sp_record(p->s->st, p->app->name, list, sp->n_passwords,
	    util_now_ms() / 1000) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, p->app->name, "cannot record the service principal's "
		    "secrets for status");
	free(list);
	if (p->sp_failure != NULL)
		log_ctx(LOG_LEVEL_INFO, NULL, p->app->name, "the service principal's secrets are "
		    "read again (%zu)", sp->n_passwords);
	free(p->sp_failure);
	p->sp_failure = NULL;
}

/* Why the service principal's secrets could not be read, in one line. */
static void
sp_problem(const struct graph_result *res, const char *app_id, const char *err, char *msg,
    size_t msize)
{
	const char *code = res->error && res->error->code ? res->error->code : NULL;
	const char *fix = explain_graph(res->status, code);

	if (res->token != NULL)
		snprintf(msg, msize, "the rotator got no token (%s)",
		    res->token->detail ? res->token->detail : "sign-in failed");
	else if (res->outcome == GRAPH_OK)
		snprintf(msg, msize, "Graph's answer to GET /servicePrincipals(appId='%s') does not "
		    "parse: %s", app_id, err ? err : "?");
	else if (res->status == 404)
		snprintf(msg, msize, "Graph answered 404%s%s to GET /servicePrincipals(appId='%s'): "
		    "the app may have no service principal in this tenant", code ? " " : "",
		    code ? code : "", app_id);
	else
		snprintf(msg, msize, "Graph answered %s%ld%s%s to GET /servicePrincipals(appId='%s')"
		    "%s%s%s", res->status ? "" : "no answer, ", res->status, code ? " " : "",
		    code ? code : "", app_id, fix ? ": " : "", fix ? fix : "",
		    res->outcome == GRAPH_RETRYABLE ? "; rekey tries again at the next poll" : "");
}

/*
 * A read that failed: status shows "unknown" and why; the log says it once
 * per cause, not at every poll.  The application's secrets, read before, are
 * not affected.
 */
static void
sp_unknown(struct app_poll *p, const struct graph_result *res, const char *err)
{
	char why[CONDITION_MESSAGE_MAX];

	sp_problem(res, p->app->azure_client_id, err, why, sizeof(why));
	if (credentials_sp_unknown(p->s->st, p->app->name, why, util_now_ms() / 1000) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, p->app->name, "cannot record the service principal's "
		    "secrets as unknown");
	if (p->sp_failure != NULL && strcmp(p->sp_failure, why) == 0)
		return;
	log_ctx(LOG_LEVEL_WARN, NULL, p->app->name, "cannot read the service principal's secrets "
	    "(status shows them as unknown; the app's own secrets are read as before): %s", why);
	free(p->sp_failure);
	p->sp_failure = xstrdup(why);
}

static void
sp_cb(const struct graph_result *res, void *arg)
{
	struct app_poll *p = arg;
	struct graph_application sp;
	char *err = NULL;

	if (res->outcome == GRAPH_CANCELLED)
		return;
	p->in_flight = 0;
	if (res->outcome == GRAPH_OK && graph_sp_parse(res->body, res->body_len,
	    p->app->azure_client_id, &sp, &err) == 0) {
		record_sp(p, &sp);
		graph_application_clear(&sp);
	} else {
		sp_unknown(p, res, err);
	}
	free(err);
	check_nylas(p);
}

/* After the application's secrets: its service principal's.  0 when sent (sp_cb goes on). */
static int
read_sp(struct app_poll *p)
{
	if (graph_sp_get(p->gc, p->app->azure_client_id, sp_cb, p) == -1)
		return -1;
	p->in_flight = 1;
	return 0;
}

static void
found_cb(const struct graph_result *res, void *arg)
{
	struct app_poll *p = arg;
	char labels[256];

	p->in_flight = 0;
	if (res->outcome == GRAPH_CANCELLED)
		return;
	snprintf(labels, sizeof(labels), "app=\"%s\",result=\"%s\"", p->app->name,
	    graph_outcome_name(res->outcome));
	metrics_counter_add("rekey_expiry_polls_total", "Reads of an app's secrets from Graph.",
	    labels, 1);
	record_poll(p, res);
	p->failed = res->outcome != GRAPH_OK;
	if (res->outcome == GRAPH_OK) {
		log_ctx(LOG_LEVEL_INFO, NULL, p->app->name, "expiry poll: %zu secrets",
		    res->application->n_passwords);
		publish(p, res->application);
		rotator_expiry_seen(p->s->rot, p->app->name, res->application);
		if (read_sp(p) == 0)
			return;
	} else {
		log_ctx(LOG_LEVEL_WARN, NULL, p->app->name, "expiry poll failed: %s (HTTP %ld%s%s)%s%s",
		    graph_outcome_name(res->outcome), res->status,
		    res->error && res->error->code ? ", " : "",
		    res->error && res->error->code ? res->error->code : "",
		    res->detail ? ": " : "", res->detail ? res->detail : "");
	}
	check_nylas(p);
}

static void
poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct app_poll *p = arg;

	(void)fd;
	(void)what;
	if (p->in_flight)
		return;
	if (graph_find_application(p->gc, p->app->azure_client_id, found_cb, p) == 0)
		p->in_flight = 1;
	else
		schedule(p, p->interval_s);
}

/* The rotator identity cannot be made (a key that does not match its certificate...). */
static void
record_unusable(struct expiry_poll *s, const struct config_app *app, const char *err)
{
	char msg[CONDITION_MESSAGE_MAX];
	int64_t now = util_now_ms() / 1000;
	int began = store_begin(s->st) == 0;

	snprintf(msg, sizeof(msg), "the rotator identity cannot be used: %s; rekey can neither read "
	    "nor rotate this app's secrets until it is fixed (rekey check -c FILE)", err);
	if (condition_record(s->st, app->name, CONDITION_ROTATOR_READY, CONDITION_FALSE, 1,
	    "IdentityUnusable", msg, now) == -1 ||
	    condition_record(s->st, app->name, CONDITION_SECRETS_READ, CONDITION_FALSE, 1,
	    "IdentityUnusable", msg, now) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, app->name, "cannot record conditions in the store");
	conditions_end(s->st, began, app->name);
}

static struct app_poll *
poll_new(struct expiry_poll *s, struct event_base *base, struct http_client *hc,
    const struct config_app *app)
{
	struct app_poll *p;
	char *err = NULL;
	struct graph_client *gc;

	if (app->rotator_client_id == NULL || app->azure_client_id == NULL)
		return NULL;
	gc = graph_client_from_app(hc, app, &err);
	if (gc == NULL) {
		log_ctx(LOG_LEVEL_ERROR, NULL, app->name, "no expiry poll: %s", err);
		record_unusable(s, app, err);
		free(err);
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->s = s;
	p->app = app;
	p->interval_s = app->expiry_poll > 0 ? app->expiry_poll : 3600;
	p->gc = gc;
	if (app->nylas_api_key != NULL)
		p->nc = nylas_client_from_app(hc, app, &err);
	free(err);
	p->timer = evtimer_new(base, poll_cb, p);
	if (p->timer == NULL)
		fatal("scheduler: cannot create a timer");
	schedule(p, 0);
	return p;
}

struct expiry_poll *
expiry_poll_new(struct event_base *base, struct http_client *hc, const struct config *cfg,
    struct store *st, struct rotator *rot)
{
	struct expiry_poll *s = xcalloc(1, sizeof(*s));
	struct app_poll *p;
	size_t i;

	s->cfg = cfg;
	s->rot = rot;
	s->st = st;
	s->polls = xcalloc(cfg->n_apps + 1, sizeof(*s->polls));
	for (i = 0; i < cfg->n_apps; i++) {
		p = poll_new(s, base, hc, cfg->apps[i]);
		if (p != NULL)
			s->polls[s->n++] = p;
	}
	return s;
}

void
expiry_poll_free(struct expiry_poll *s)
{
	size_t i, j;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++) {
		struct app_poll *p = s->polls[i];

		event_free(p->timer);
		graph_client_free(p->gc);
		nylas_client_free(p->nc);
		for (j = 0; j < p->n_series; j++)
			free(p->series[j]);
		free(p->sp_failure);
		free(p);
	}
	free(s->polls);
	free(s);
}
