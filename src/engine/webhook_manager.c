#include "engine/webhook_manager.h"
#include "engine/notifier.h"
#include "engine/owners.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "lib/wbuf.h"
#include "notice/notice.h"
#include "outbound/nylas.h"
#include "state/condition.h"
#include "state/config.h"
#include "state/nylas_secrets.h"
#include "state/runtime.h"
#include "state/store.h"
#include "state/wake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

/*
 * The longest a rotation window stays open without Nylas's answer: the
 * rotate-secret call with its retries is over well before (timeout_ms a
 * try); a window that outlived it would only delay the 401s that tell a
 * sender with a wrong secret.
 */
#define WINDOW_MAX_MS (60 * 1000)
/* How often the scheduled rotations are looked at, and the wait after one failed. */
#define SCHEDULE_TICK_MS 1000
#define SCHEDULE_RETRY_MS (60 * 1000)
#define MESSAGE_MAX 1024

enum wm_kind {
	WM_REGISTER,
	WM_ROTATE,
};

struct wm_op {
	TAILQ_ENTRY(wm_op) entry;
	struct webhook_manager *m;
	enum wm_kind kind;
	char *app;
	int fix;
	char *reason;			/* rotate: manual, scheduled */
	struct nylas_client *nc;
	char *url;
	char *webhook_id;
	int calling;			/* rotate: the rotate-secret call is out */
	webhook_done_cb cb;
	void *arg;
};
TAILQ_HEAD(wm_op_list, wm_op);

/* When a scheduled rotation of an app was last tried. */
struct wm_sched {
	char *app;
	int64_t last_try_ms;
};

struct webhook_manager {
	struct runtime *rt;
	struct http_client *hc;
	struct wm_op_list ops;
	struct event *tick;
	struct wm_sched *sched;
	size_t n_sched;
};

static const char *const grant_triggers[] = NYLAS_GRANT_TRIGGERS;
#define N_GRANT_TRIGGERS (sizeof(grant_triggers) / sizeof(grant_triggers[0]))

static void
op_free(struct wm_op *op)
{
	nylas_client_free(op->nc);
	free(op->app);
	free(op->reason);
	free(op->url);
	free(op->webhook_id);
	free(op);
}

/* Tells the caller, takes op off the list and frees it. */
static void
op_finish(struct wm_op *op, int status, const char *result, const char *message)
{
	struct webhook_outcome o = { status, result, message, op->webhook_id };

	TAILQ_REMOVE(&op->m->ops, op, entry);
	log_ctx(status >= 400 ? LOG_LEVEL_WARN : LOG_LEVEL_INFO, NULL, op->app,
	    "nylas webhook %s: %s: %s", op->kind == WM_REGISTER ? "register" : "rotate-secret",
	    result, message);
	op->cb(&o, op->arg);
	op_free(op);
}

static const struct config_app *
op_app(const struct wm_op *op)
{
	return config_find_app(op->m->rt->cfg, op->app);
}

/* One line on a failed Nylas call: its status, error type and message. */
static void
describe_failure(const struct nylas_result *res, char *out, size_t size)
{
	const struct nylas_error *e = res->error;

	snprintf(out, size, "%s (HTTP %ld%s%s%s%s)", nylas_outcome_name(res->outcome), res->status,
	    e != NULL && e->type != NULL ? ", " : "", e != NULL && e->type ? e->type : "",
	    e != NULL && e->message != NULL ? ": " : "",
	    e != NULL && e->message ? e->message : res->detail ? res->detail : "");
}

/* ---- register ---- */

static void
record_destination(struct wm_op *op, const char *triggers, const char *status)
{
	if (nylas_secrets_put_destination(op->m->rt->store, op->app, op->webhook_id, op->url,
	    triggers, status) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, op->app, "nylas webhook: cannot record the destination");
}

/*
 * WebhookRegistered is true at once, not at the next poll: the owners hear
 * that rekey gets grant events again as soon as it does.
 */
static void
registered(struct wm_op *op, const char *msg)
{
	if (condition_record(op->m->rt->store, op->app, CONDITION_WEBHOOK_REGISTERED,
	    CONDITION_TRUE, 0, "Registered", msg, util_now_ms() / 1000) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, op->app, "cannot record condition WebhookRegistered");
}

static void
create_cb(const struct nylas_result *res, void *arg)
{
	struct wm_op *op = arg;
	const struct config_app *app = op_app(op);
	char msg[MESSAGE_MAX], why[512];
	int64_t now = util_now_ms();
	int stored;

	if (res->outcome == NYLAS_CANCELLED)
		return;
	if (res->outcome != NYLAS_OK || app == NULL) {
		describe_failure(res, why, sizeof(why));
		snprintf(msg, sizeof(msg), "Nylas did not create the destination for %s: %s; Nylas "
		    "checks the URL with a challenge, so the daemon must be reachable there",
		    op->url, why);
		op_finish(op, 502, "error", msg);
		return;
	}
	op->webhook_id = xstrdup(res->webhook->id);
	stored = nylas_secrets_store(op->m->rt->store, op->m->rt->cfg, op->app,
	    res->webhook->webhook_secret, now, 0, 0, NULL);
	/* In force at once, stored or not: Nylas signs with it from now on. */
	nylas_secrets_install(op->m->rt->nylas_secrets, op->app, res->webhook->webhook_secret,
	    now, 0);
	record_destination(op, "grant.created, grant.updated, grant.deleted, grant.expired",
	    res->webhook->status);
	snprintf(msg, sizeof(msg), "created destination %s for %s with the grant triggers; its "
	    "secret is %s", op->webhook_id, op->url, stored == 0 ? "stored sealed and in force" :
	    "in force but NOT stored (store error): run rekey nylas rotate-webhook-secret");
	registered(op, msg);
	op_finish(op, stored == 0 ? 201 : 500, "created", msg);
}

static void
create_destination(struct wm_op *op, const struct config_app *app)
{
	struct nylas_webhook_spec spec;
	char *description = xasprintf("rekey: grant events of app %s", app->name);

	memset(&spec, 0, sizeof(spec));
	spec.webhook_url = op->url;
	spec.description = description;
	spec.trigger_types = grant_triggers;
	spec.n_trigger_types = N_GRANT_TRIGGERS;
	spec.notification_emails = (const char *const *)app->owners;
	spec.n_notification_emails = app->n_owners;
	if (nylas_create_webhook(op->nc, &spec, create_cb, op) == -1)
		op_finish(op, 503, "error", "the create call was not sent");
	free(description);
}

static void
update_cb(const struct nylas_result *res, void *arg)
{
	struct wm_op *op = arg;
	char msg[MESSAGE_MAX], why[512];

	if (res->outcome == NYLAS_CANCELLED)
		return;
	if (res->outcome != NYLAS_OK) {
		describe_failure(res, why, sizeof(why));
		snprintf(msg, sizeof(msg), "Nylas did not update destination %s: %s",
		    op->webhook_id, why);
		op_finish(op, 502, "error", msg);
		return;
	}
	snprintf(msg, sizeof(msg), "fixed destination %s for %s: it now has the grant triggers "
	    "and is active", op->webhook_id, op->url);
	registered(op, msg);
	op_finish(op, 200, "fixed", msg);
}

/* The grant triggers and the destination's others (extra is ", "-separated). */
static void
fix_destination(struct wm_op *op, const struct nylas_destination *d)
{
	const char *list[N_GRANT_TRIGGERS + 64];
	char *extra = xstrdup(d->extra), *p = extra, *sep;
	size_t n = 0, i;

	for (i = 0; i < N_GRANT_TRIGGERS; i++)
		list[n++] = grant_triggers[i];
	while (*p != '\0' && n < sizeof(list) / sizeof(list[0])) {
		sep = strstr(p, ", ");
		if (sep != NULL)
			*sep = '\0';
		list[n++] = p;
		p = sep != NULL ? sep + 2 : p + strlen(p);
	}
	if (nylas_update_webhook(op->nc, op->webhook_id, list, n, "active", update_cb, op) == -1)
		op_finish(op, 503, "error", "the update call was not sent");
	free(extra);
}

/* What differs on an existing destination, told (and fixed when asked). */
static void
destination_differs(struct wm_op *op, const struct nylas_destination *d)
{
	char msg[MESSAGE_MAX];

	if (op->fix) {
		fix_destination(op, d);
		return;
	}
	if (d->state == NYLAS_DESTINATION_NO_TRIGGERS)
		snprintf(msg, sizeof(msg), "destination %s for %s lacks the triggers %s (it has: "
		    "%s); run again with --fix to add them", d->id, op->url, d->missing,
		    d->triggers[0] ? d->triggers : "none");
	else
		snprintf(msg, sizeof(msg), "destination %s for %s has status %s, not active; run "
		    "again with --fix to set it active", d->id, op->url, d->status);
	op_finish(op, 409, "differs", msg);
}

static void
destination_found(struct wm_op *op, const struct nylas_destination *d)
{
	struct nylas_secrets_record rec;
	char msg[MESSAGE_MAX];
	int known;

	nylas_secrets_get(op->m->rt->store, op->app, &rec);
	known = rec.webhook_id != NULL && strcmp(rec.webhook_id, d->id) == 0;
	record_destination(op, d->triggers, d->status);
	if (known && rec.secret_created_ms > 0)
		snprintf(msg, sizeof(msg), "destination %s for %s is registered (%s, triggers %s) "
		    "and its secret is managed by rekey; nothing changed", d->id, op->url,
		    d->status, d->triggers);
	else
		snprintf(msg, sizeof(msg), "destination %s for %s exists (%s, triggers %s); rekey "
		    "does not hold its secret (Nylas shows it only when it is created or rotated): "
		    "keep it in nylas_webhook_secret_file, or run rekey nylas rotate-webhook-secret "
		    "to have rekey manage a new one", d->id, op->url, d->status, d->triggers);
	registered(op, msg);
	op_finish(op, 200, known ? "unchanged" : "found", msg);
	nylas_secrets_record_clear(&rec);
}

static void
register_found(struct wm_op *op, const struct nylas_destination *d)
{
	const struct config_app *app = op_app(op);

	if (d->state == NYLAS_DESTINATION_MISSING) {
		if (app == NULL)
			op_finish(op, 404, "error", "the app is gone from the config");
		else
			create_destination(op, app);
		return;
	}
	op->webhook_id = xstrdup(d->id);
	if (d->state == NYLAS_DESTINATION_NO_TRIGGERS || d->state == NYLAS_DESTINATION_INACTIVE)
		destination_differs(op, d);
	else
		destination_found(op, d);
}

/* ---- rotate ---- */

static int64_t
grace_ms(const struct wm_op *op)
{
	const struct config_app *app = op_app(op);

	return app != NULL ? app->nylas_webhook_secret_grace * 1000 : 0;
}

static void
count_rotation(const char *app, const char *result)
{
	char labels[160];

	snprintf(labels, sizeof(labels), "app=\"%s\",result=\"%s\"", app, result);
	metrics_counter_add("rekey_nylas_webhook_secret_rotations_total",
	    "Nylas webhook secret rotations by outcome (done, failed, unknown).", labels, 1);
}

/* The owners are told after each rotation, through the outbox (ref: the destination and time). */
static void
tell_owners(struct wm_op *op, int64_t now, int64_t until)
{
	struct runtime *rt = op->m->rt;
	const struct config_app *app = op_app(op);
	char hint[512], *ref, **owners = NULL;
	struct notice n;
	size_t n_owners = 0, i;

	if (app == NULL)
		return;
	memset(&n, 0, sizeof(n));
	n.kind = NOTICE_WEBHOOK_SECRET_ROTATED;
	n.app = app->name;
	n.azure_client_id = app->azure_client_id;
	n.now_ms = now;
	snprintf(hint, sizeof(hint), "rekey status -c %s", rt->cfg->path);
	n.status_hint = hint;
	n.config_path = rt->cfg->path;
	n.webhook_id = op->webhook_id;
	n.rotation_reason = op->reason;
	n.webhook_grace_until_ms = until;
	ref = xasprintf("webhook:%s:%lld", op->webhook_id, (long long)now);
	owners_list(rt->store, app, &owners, &n_owners, NULL);
	if (notify_queue(rt->store, rt->cfg, &n, ref, (const char *const *)owners, n_owners) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, op->app, "nylas webhook: cannot queue the owners' "
		    "notice of the rotation");
	wake_signal(WAKE_NOTICES);
	for (i = 0; i < n_owners; i++)
		free(owners[i]);
	free(owners);
	free(ref);
}

static void
rotated(struct wm_op *op, const struct secret *secret)
{
	struct runtime *rt = op->m->rt;
	int64_t now = util_now_ms(), until = now + grace_ms(op);
	char msg[MESSAGE_MAX];
	int stored;

	/* Committed (synchronous=FULL) before the window ends: a crash now keeps the new secret. */
	stored = nylas_secrets_store(rt->store, rt->cfg, op->app, secret, now, 1, until,
	    op->reason);
	nylas_secrets_install(rt->nylas_secrets, op->app, secret, now, until);
	nylas_secrets_close_window(rt->nylas_secrets, op->app);
	op->calling = 0;
	count_rotation(op->app, "done");
	tell_owners(op, now, until);
	snprintf(msg, sizeof(msg), "rotated the secret of destination %s; the previous one is "
	    "accepted for %lld s more%s", op->webhook_id, (long long)(grace_ms(op) / 1000),
	    stored == 0 ? "" : "; the new secret is in force but NOT stored (store error): "
	    "rotate again once the store works");
	op_finish(op, stored == 0 ? 200 : 500, "rotated", msg);
}

/* A status Nylas answered that says the call was refused: nothing changed. */
static int
refused(const struct nylas_result *res)
{
	return (res->outcome == NYLAS_PERMANENT || res->outcome == NYLAS_NOT_FOUND) &&
	    res->status >= 400 && res->status < 500 && res->status != 408 && res->status != 429;
}

static void
rotate_cb(const struct nylas_result *res, void *arg)
{
	struct wm_op *op = arg;
	char msg[MESSAGE_MAX], why[512];
	const char *state;

	if (res->outcome == NYLAS_CANCELLED)
		return;
	if (res->outcome == NYLAS_OK) {
		rotated(op, res->webhook->webhook_secret);
		return;
	}
	describe_failure(res, why, sizeof(why));
	state = refused(res) ? "failed" : "unknown";
	if (refused(res))
		snprintf(msg, sizeof(msg), "Nylas refused to rotate the secret of destination %s: "
		    "%s; the old secret is still in force, nothing changed", op->webhook_id, why);
	else
		snprintf(msg, sizeof(msg), "no answer from Nylas rotating the secret of destination "
		    "%s: %s; whether it rotated is unknown: run rekey nylas rotate-webhook-secret "
		    "again", op->webhook_id, why);
	nylas_secrets_put_rotation(op->m->rt->store, op->app, state, op->reason, msg,
	    util_now_ms());
	nylas_secrets_close_window(op->m->rt->nylas_secrets, op->app);
	op->calling = 0;
	count_rotation(op->app, state);
	op_finish(op, 502, state, msg);
}

static void
rotate_found(struct wm_op *op, const struct nylas_destination *d)
{
	struct runtime *rt = op->m->rt;
	char msg[MESSAGE_MAX];

	if (d->state == NYLAS_DESTINATION_MISSING) {
		snprintf(msg, sizeof(msg), "no destination points at %s: register it first (rekey "
		    "nylas register)", op->url);
		op_finish(op, 409, "error", msg);
		return;
	}
	op->webhook_id = xstrdup(d->id);
	record_destination(op, d->triggers, d->status);
	/* The intent first: a crash during the call is then known at the next start. */
	if (nylas_secrets_put_rotation(rt->store, op->app, "calling", op->reason, NULL,
	    util_now_ms()) == -1) {
		op_finish(op, 503, "error", "cannot write the store; nothing changed");
		return;
	}
	nylas_secrets_open_window(rt->nylas_secrets, op->app, util_mono_us() / 1000 + WINDOW_MAX_MS);
	op->calling = 1;
	if (nylas_rotate_webhook_secret(op->nc, op->webhook_id, rotate_cb, op) == -1) {
		nylas_secrets_close_window(rt->nylas_secrets, op->app);
		nylas_secrets_put_rotation(rt->store, op->app, "failed", op->reason,
		    "the rotate-secret call was not sent", util_now_ms());
		op->calling = 0;
		op_finish(op, 503, "failed", "the rotate-secret call was not sent; nothing changed");
	}
}

/* ---- both: find the destination by URL ---- */

static void
list_cb(const struct nylas_result *res, void *arg)
{
	struct wm_op *op = arg;
	struct nylas_destination d;
	char msg[MESSAGE_MAX], why[512], *err = NULL;

	if (res->outcome == NYLAS_CANCELLED)
		return;
	if (res->outcome != NYLAS_OK) {
		describe_failure(res, why, sizeof(why));
		snprintf(msg, sizeof(msg), "GET /v3/webhooks: %s; nothing changed", why);
		op_finish(op, 502, "error", msg);
		return;
	}
	if (nylas_find_destination(res->body, res->body_len, op->url, &d, &err) == -1) {
		snprintf(msg, sizeof(msg), "GET /v3/webhooks: %s; nothing changed", err);
		free(err);
		op_finish(op, 502, "error", msg);
		return;
	}
	if (op->kind == WM_REGISTER)
		register_found(op, &d);
	else
		rotate_found(op, &d);
	nylas_destination_clear(&d);
}

static struct wm_op *
busy_op(const struct webhook_manager *m, const char *app)
{
	struct wm_op *op;

	TAILQ_FOREACH(op, &m->ops, entry)
		if (strcmp(op->app, app) == 0)
			return op;
	return NULL;
}

static void
start_op(struct webhook_manager *m, struct wm_op *op)
{
	const struct config_app *app = config_find_app(m->rt->cfg, op->app);
	char *err = NULL;

	TAILQ_INSERT_TAIL(&m->ops, op, entry);
	op->m = m;
	if (app == NULL) {
		op_finish(op, 404, "error", "no such app");
		return;
	}
	op->url = config_public_endpoint(m->rt->cfg, "/webhooks/nylas/", app->name);
	if (op->url == NULL) {
		op_finish(op, 409, "error", "public_url is not set: Nylas has no URL to deliver to");
		return;
	}
	op->nc = nylas_client_from_app(m->hc, app, &err);
	if (op->nc == NULL) {
		op_finish(op, 409, "error", err != NULL ? err : "no Nylas API key");
		free(err);
		return;
	}
	if (nylas_get_json(op->nc, "/v3/webhooks", list_cb, op) == -1)
		op_finish(op, 503, "error", "GET /v3/webhooks was not sent");
}

static struct wm_op *
new_op(enum wm_kind kind, const char *app, webhook_done_cb cb, void *arg)
{
	struct wm_op *op = xcalloc(1, sizeof(*op));

	op->kind = kind;
	op->app = xstrdup(app);
	op->cb = cb;
	op->arg = arg;
	return op;
}

static int
refuse_busy(struct webhook_manager *m, const char *app, webhook_done_cb cb, void *arg)
{
	struct webhook_outcome o = { 409, "busy", "another register or rotation of this app's "
	    "destination is under way; try again when it ends", NULL };

	if (busy_op(m, app) == NULL)
		return 0;
	cb(&o, arg);
	return 1;
}

void
webhook_manager_register(struct webhook_manager *m, const char *app, int fix,
    webhook_done_cb cb, void *arg)
{
	struct wm_op *op;

	if (refuse_busy(m, app, cb, arg))
		return;
	op = new_op(WM_REGISTER, app, cb, arg);
	op->fix = fix;
	start_op(m, op);
}

void
webhook_manager_rotate(struct webhook_manager *m, const char *app, const char *reason,
    webhook_done_cb cb, void *arg)
{
	struct wm_op *op;

	if (refuse_busy(m, app, cb, arg))
		return;
	op = new_op(WM_ROTATE, app, cb, arg);
	op->reason = xstrdup(reason);
	start_op(m, op);
}

/* ---- scheduled rotation and start ---- */

static void
log_done_cb(const struct webhook_outcome *o, void *arg)
{
	(void)o;
	(void)arg;
	/* op_finish logged it. */
}

static struct wm_sched *
sched_of(struct webhook_manager *m, const char *app)
{
	size_t i;

	for (i = 0; i < m->n_sched; i++)
		if (strcmp(m->sched[i].app, app) == 0)
			return &m->sched[i];
	m->sched = xrealloc(m->sched, (m->n_sched + 1) * sizeof(*m->sched));
	m->sched[m->n_sched].app = xstrdup(app);
	m->sched[m->n_sched].last_try_ms = 0;
	return &m->sched[m->n_sched++];
}

/* Whether app's managed secret is older than its nylas_webhook_secret_rotate_every. */
static int
rotation_due(struct webhook_manager *m, const struct config_app *app, int64_t now)
{
	struct nylas_secrets_record rec;
	struct wm_sched *s = sched_of(m, app->name);
	int64_t every = app->nylas_webhook_secret_rotate_every * 1000, since;
	int due;

	if (every <= 0 || busy_op(m, app->name) != NULL || now - s->last_try_ms < SCHEDULE_RETRY_MS)
		return 0;
	if (nylas_secrets_get(m->rt->store, app->name, &rec) == -1)
		return 0;
	since = rec.rotated_ms > rec.secret_created_ms ? rec.rotated_ms : rec.secret_created_ms;
	due = rec.secret_created_ms > 0 && now - since >= every;
	nylas_secrets_record_clear(&rec);
	if (due)
		s->last_try_ms = now;
	return due;
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct webhook_manager *m = arg;
	int64_t now = util_now_ms();
	size_t i;

	(void)fd;
	(void)what;
	for (i = 0; i < m->rt->cfg->n_apps; i++) {
		if (!rotation_due(m, m->rt->cfg->apps[i], now))
			continue;
		log_ctx(LOG_LEVEL_INFO, NULL, m->rt->cfg->apps[i]->name, "nylas webhook: the "
		    "secret is older than nylas_webhook_secret_rotate_every: rotating it");
		webhook_manager_rotate(m, m->rt->cfg->apps[i]->name, "scheduled", log_done_cb, NULL);
	}
}

struct webhook_manager *
webhook_manager_new(struct runtime *rt, struct http_client *hc)
{
	struct webhook_manager *m = xcalloc(1, sizeof(*m));
	struct timeval tv = { SCHEDULE_TICK_MS / 1000, (SCHEDULE_TICK_MS % 1000) * 1000 };

	m->rt = rt;
	m->hc = hc;
	TAILQ_INIT(&m->ops);
	m->tick = event_new(rt->base, -1, EV_PERSIST, tick_cb, m);
	if (m->tick == NULL || event_add(m->tick, &tv) == -1)
		fatal("cannot start the webhook manager's timer");
	return m;
}

/* A rotation left "calling" by a process that stopped: its outcome is unknown. */
static void
recover_app(struct webhook_manager *m, const struct config_app *app)
{
	struct nylas_secrets_record rec;
	char msg[MESSAGE_MAX];

	if (nylas_secrets_get(m->rt->store, app->name, &rec) == -1)
		return;
	if (rec.rotation_state != NULL && strcmp(rec.rotation_state, "calling") == 0) {
		snprintf(msg, sizeof(msg), "rekey stopped during the rotate-secret call of destination "
		    "%s: whether Nylas rotated the secret is unknown; deliveries with a secret rekey "
		    "does not know are answered 503 for %lld s: run rekey nylas rotate-webhook-secret "
		    "-c %s %s now", rec.webhook_id ? rec.webhook_id : "(unknown)",
		    (long long)app->nylas_webhook_secret_grace, m->rt->cfg->path, app->name);
		nylas_secrets_put_rotation(m->rt->store, app->name, "unknown", rec.rotation_reason,
		    msg, util_now_ms());
		/* Bounded by the grace: the app never answers 503 for good. */
		nylas_secrets_open_window(m->rt->nylas_secrets, app->name,
		    util_mono_us() / 1000 + app->nylas_webhook_secret_grace * 1000);
		count_rotation(app->name, "unknown");
		log_ctx(LOG_LEVEL_ERROR, NULL, app->name, "nylas webhook: %s", msg);
	}
	nylas_secrets_record_clear(&rec);
}

void
webhook_manager_start(struct webhook_manager *m)
{
	const struct config *cfg = m->rt->cfg;
	size_t i;

	for (i = 0; i < cfg->n_apps; i++)
		recover_app(m, cfg->apps[i]);
	for (i = 0; i < cfg->n_apps; i++)
		if (cfg->apps[i]->nylas_webhook_manage)
			webhook_manager_register(m, cfg->apps[i]->name, 0, log_done_cb, NULL);
}

void
webhook_manager_free(struct webhook_manager *m)
{
	struct wm_op *op;
	size_t i;

	if (m == NULL)
		return;
	for (op = TAILQ_FIRST(&m->ops); op != NULL; op = TAILQ_FIRST(&m->ops)) {
		if (op->calling) {
			nylas_secrets_put_rotation(m->rt->store, op->app, "unknown", op->reason,
			    "rekey stopped or reloaded during the rotate-secret call: run it again",
			    util_now_ms());
			nylas_secrets_close_window(m->rt->nylas_secrets, op->app);
		}
		op_finish(op, 503, "cancelled", "rekey is stopping or reloading: the operation was "
		    "cut short; run it again");
	}
	for (i = 0; i < m->n_sched; i++)
		free(m->sched[i].app);
	free(m->sched);
	event_free(m->tick);
	free(m);
}
