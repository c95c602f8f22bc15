#include "graph_worker.h"
#include "config.h"
#include "graph_api.h"
#include "graph_crypto.h"
#include "graph_token.h"
#include "graph_webhook.h"
#include "jwks.h"
#include "log.h"
#include "metrics.h"
#include "runtime.h"
#include "store.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/crypto.h>

/* Events read from the store at a time. */
#define QUEUE_MAX 64
/* A look at the store now and then, in case a wake-up was missed (another replica, a restart). */
#define POLL_S 5
/* Waits after a failure that may pass (Graph throttling, a store busy). */
#define RETRY_FIRST_S 2
#define RETRY_MAX_S 300
/* The path of a user notification's resource. */
#define USERS_PREFIX "Users/"

/* What the worker keeps per configured app. */
struct app_ctx {
	char *name;
	char *rotator_client_id;	/* the aud of validation tokens: the subscriber */
	char *tenant_id;
	struct graph_client *gc;	/* NULL without a rotator identity */
	struct graph_keyring *keys;	/* empty without rich notifications */
	struct jwks_cache *jwks;
};

/* The event being processed. */
struct job {
	struct graph_worker *w;
	struct store_pending *ev;	/* borrowed from the queue */
	struct app_ctx *app;
	struct graph_batch batch;
};

struct graph_worker {
	struct runtime *rt;
	struct store *store;		/* its own connection (see graph_worker_new) */
	struct app_ctx **apps;
	size_t n_apps;
	struct event *timer;
	struct store_pending *queue;
	size_t queue_n, queue_pos;
	struct job *job;		/* NULL when idle */
	int retry_s;			/* current backoff; 0 after a success */
	int closing;
	uint64_t processed;
	graph_lifecycle_cb lifecycle_cb;
	void *lifecycle_arg;
};

static void run(struct graph_worker *w);

/* ---- Evidence ---- */

/* 1 when t moved past prev, or, without a baseline, happened shortly before the notification. */
static int
moved_forward(int64_t t, int known, int64_t prev, int64_t received_s)
{
	if (t <= 0)
		return 0;
	if (known && prev > 0)
		return t > prev;
	return t >= received_s - GRAPH_WORKER_RECENT_S;
}

int
graph_user_evidence(const struct graph_user *u, int known, int prev_enabled, int prev_deleted,
    int64_t prev_sessions_from, int64_t prev_password_change, int64_t received_s)
{
	int found = 0;

	if (u == NULL)
		return known && prev_deleted ? 0 : GRAPH_EVIDENCE_DELETED;
	if (u->account_enabled == 0 && (!known || prev_enabled != 0))
		found |= GRAPH_EVIDENCE_DISABLED;
	if (moved_forward(u->sessions_valid_from, known, prev_sessions_from, received_s))
		found |= GRAPH_EVIDENCE_SESSIONS_REVOKED;
	if (moved_forward(u->last_password_change, known, prev_password_change, received_s))
		found |= GRAPH_EVIDENCE_PASSWORD_CHANGED;
	return found;
}

/* ---- Apps ---- */

static char *
jwks_url_of(const struct config_app *app)
{
	size_t n;

	if (app->graph_jwks_url != NULL && app->graph_jwks_url[0] != '\0')
		return xstrdup(app->graph_jwks_url);
	n = strlen(app->azure_login_base);
	while (n > 0 && app->azure_login_base[n - 1] == '/')
		n--;
	return xasprintf("%.*s/common/discovery/v2.0/keys", (int)n, app->azure_login_base);
}

static void
load_keys(struct app_ctx *a, const struct config_app *app)
{
	char *err = NULL;

	if (app->graph_encryption_key_file != NULL &&
	    graph_keyring_add(a->keys, app->graph_encryption_cert_id,
	    app->graph_encryption_key_file, &err) == -1) {
		log_ctx(LOG_LEVEL_ERROR, NULL, a->name, "rich notifications: %s", err);
		free(err);
		err = NULL;
	}
	if (app->graph_encryption_old_key_file != NULL &&
	    graph_keyring_add(a->keys, app->graph_encryption_old_cert_id,
	    app->graph_encryption_old_key_file, &err) == -1) {
		log_ctx(LOG_LEVEL_ERROR, NULL, a->name, "rich notifications (old key): %s", err);
		free(err);
	}
}

static struct app_ctx *
app_new(struct graph_worker *w, struct http_client *hc, const struct config_app *app)
{
	struct app_ctx *a = xcalloc(1, sizeof(*a));
	char *url = jwks_url_of(app), *err = NULL;

	a->name = xstrdup(app->name);
	a->rotator_client_id = app->rotator_client_id ? xstrdup(app->rotator_client_id) : NULL;
	a->tenant_id = app->azure_tenant_id ? xstrdup(app->azure_tenant_id) : NULL;
	a->keys = graph_keyring_new();
	load_keys(a, app);
	a->jwks = jwks_cache_new(w->rt->base, hc, url);
	free(url);
	if (app->rotator_client_id != NULL) {
		a->gc = graph_client_from_app(hc, app, &err);
		if (a->gc == NULL) {
			log_ctx(LOG_LEVEL_WARN, NULL, a->name, "user lookups off: %s", err);
			free(err);
		}
	}
	return a;
}

static void
app_free(struct app_ctx *a)
{
	if (a == NULL)
		return;
	graph_client_free(a->gc);
	jwks_cache_free(a->jwks);
	graph_keyring_free(a->keys);
	free(a->name);
	free(a->rotator_client_id);
	free(a->tenant_id);
	free(a);
}

static struct app_ctx *
find_app(struct graph_worker *w, const char *name)
{
	size_t i;

	for (i = 0; i < w->n_apps; i++)
		if (strcmp(w->apps[i]->name, name) == 0)
			return w->apps[i];
	return NULL;
}

/* ---- Finishing an event ---- */

static void
schedule(struct graph_worker *w, int seconds)
{
	struct timeval tv = { seconds, 0 };

	evtimer_add(w->timer, &tv);
}

static void
job_free(struct job *j)
{
	graph_batch_clear(&j->batch);
	free(j);
}

static void
count_result(const char *kind, const char *result)
{
	char labels[128];

	snprintf(labels, sizeof(labels), "kind=\"%s\",result=\"%s\"", kind, result);
	metrics_counter_add("rekey_graph_notifications_processed_total",
	    "Graph notifications the worker has finished, by kind and result.", labels, 1);
}

/* Counts the finished event and moves on to the next. */
static void
job_finish(struct job *j, const char *result)
{
	struct graph_worker *w = j->w;
	int lifecycle = strncmp(j->ev->type, "lifecycle.", 10) == 0;

	count_result(lifecycle ? "lifecycle" : "change", result);
	w->processed++;
	w->retry_s = 0;
	w->queue_pos++;
	w->job = NULL;
	job_free(j);
	/* Through the loop, not recursion: a long run of quick events must not grow the stack. */
	schedule(w, 0);
}

static void job_retry(struct job *j, const char *why);

/* Marks the event processed with result, then moves on. */
static void
job_done(struct job *j, const char *result)
{
	if (store_mark_processed(j->w->store, j->ev->id, result) == -1) {
		job_retry(j, "cannot mark the event processed");
		return;
	}
	job_finish(j, result);
}

/* Leaves the event unprocessed and tries it again after a backoff. */
static void
job_retry(struct job *j, const char *why)
{
	struct graph_worker *w = j->w;

	w->retry_s = w->retry_s == 0 ? RETRY_FIRST_S :
	    (w->retry_s * 2 > RETRY_MAX_S ? RETRY_MAX_S : w->retry_s * 2);
	log_ctx(LOG_LEVEL_WARN, NULL, j->ev->app, "graph worker: event %lld: %s; again in %d s",
	    (long long)j->ev->id, why, w->retry_s);
	w->job = NULL;
	job_free(j);
	schedule(w, w->retry_s);
}

/* ---- User evidence ---- */

static const char *const evidence_kinds[] = {
	"disabled", "deleted", "sessions_revoked", "password_changed",
};

static char *
evidence_text(int bit, const struct graph_user *u, const char *how)
{
	char t[32];

	switch (bit) {
	case GRAPH_EVIDENCE_DISABLED:
		return xasprintf("accountEnabled is false (%s)", how);
	case GRAPH_EVIDENCE_DELETED:
		return xasprintf("the user is gone (%s)", how);
	case GRAPH_EVIDENCE_SESSIONS_REVOKED:
		util_format_time(u->sessions_valid_from, t, sizeof(t));
		return xasprintf("signInSessionsValidFromDateTime moved to %s (%s)", t, how);
	default:
		util_format_time(u->last_password_change, t, sizeof(t));
		return xasprintf("lastPasswordChangeDateTime moved to %s (%s)", t, how);
	}
}

static int
add_events(struct job *j, const char *user_id, const struct graph_user *u, const char *email,
    int found, const char *how)
{
	struct store_user_event ue = {
		.app = j->ev->app, .user_id = user_id, .email = email,
		.observed_ms = util_now_ms(), .source_event = j->ev->id,
	};
	char labels[256];
	size_t i;
	int rc = 0;

	for (i = 0; i < 4 && rc == 0; i++) {
		int bit = 1 << i;
		char *text;

		if (!(found & bit))
			continue;
		ue.kind = evidence_kinds[i];
		ue.changed_at = bit == GRAPH_EVIDENCE_SESSIONS_REVOKED ? u->sessions_valid_from :
		    bit == GRAPH_EVIDENCE_PASSWORD_CHANGED ? u->last_password_change : 0;
		ue.evidence = text = evidence_text(bit, u, how);
		rc = store_add_user_event(j->w->store, &ue);
		log_ctx(LOG_LEVEL_INFO, NULL, j->ev->app, "user %s (%s): %s: %s", user_id,
		    email ? email : "no address", ue.kind, text);
		snprintf(labels, sizeof(labels), "app=\"%s\",kind=\"%s\"", j->app->name, ue.kind);
		metrics_counter_add("rekey_user_events_total",
		    "User-side evidence recorded from Graph, by app and kind.", labels, 1);
		free(text);
	}
	return rc;
}

/* Records the user's state (u NULL: gone) against the last one seen, and finishes the event. */
static void
record_user(struct job *j, const char *user_id, const struct graph_user *u, const char *how)
{
	struct store *st = j->w->store;
	struct store_user prev, next;
	int known, found;
	const char *email;

	if (store_begin(st) == -1) {
		job_retry(j, "the store is busy");
		return;
	}
	known = store_get_user(st, j->ev->app, user_id, &prev);
	found = graph_user_evidence(u, known == 1, prev.account_enabled, prev.deleted,
	    prev.sessions_valid_from, prev.last_password_change, j->ev->received_ms / 1000);
	email = u && u->mail ? u->mail : u && u->user_principal_name ? u->user_principal_name :
	    prev.mail ? prev.mail : prev.upn;
	next = (struct store_user){
		.app = j->ev->app, .user_id = (char *)user_id,
		.mail = u ? u->mail : prev.mail, .upn = u ? u->user_principal_name : prev.upn,
		.account_enabled = u ? u->account_enabled : prev.account_enabled,
		.deleted = u == NULL,
		.sessions_valid_from = u ? u->sessions_valid_from : prev.sessions_valid_from,
		.last_password_change = u ? u->last_password_change : prev.last_password_change,
		.updated_ms = util_now_ms(),
	};
	if (known == -1 || add_events(j, user_id, u, email, found, how) == -1 ||
	    store_put_user(st, &next) == -1 ||
	    store_mark_processed(st, j->ev->id, found ? "user_evidence" : "no_change") == -1 ||
	    store_commit(st) == -1) {
		store_rollback(st);
		store_user_clear(&prev);
		job_retry(j, "the store refused the user's state");
		return;
	}
	store_user_clear(&prev);
	job_finish(j, found ? "user_evidence" : "no_change");
}

/* ---- The steps ---- */

/* The user a change notification is about: resourceData.id, else the resource path. */
static const char *
user_id_of(const struct graph_item *item)
{
	if (item->resource_id != NULL && *item->resource_id != '\0')
		return item->resource_id;
	if (item->resource != NULL && strncasecmp(item->resource, USERS_PREFIX,
	    sizeof(USERS_PREFIX) - 1) == 0 && item->resource[sizeof(USERS_PREFIX) - 1] != '\0')
		return item->resource + sizeof(USERS_PREFIX) - 1;
	return NULL;
}

static void
user_cb(const struct graph_result *res, void *arg)
{
	struct job *j = arg;
	const char *uid;

	if (res->outcome == GRAPH_CANCELLED)
		return;
	uid = user_id_of(&j->batch.items[0]);
	switch (res->outcome) {
	case GRAPH_OK:
		record_user(j, uid, res->user, "GET /users");
		break;
	case GRAPH_NOT_FOUND:
		record_user(j, uid, NULL, "GET /users answered 404");
		break;
	case GRAPH_RETRYABLE:
		job_retry(j, res->detail ? res->detail : "Graph is unavailable");
		break;
	default:
		log_ctx(LOG_LEVEL_ERROR, NULL, j->ev->app, "cannot read user %s: %s (HTTP %ld %s)",
		    uid, graph_outcome_name(res->outcome), res->status,
		    res->error && res->error->code ? res->error->code : "");
		job_done(j, "graph_error");
		break;
	}
}

static void
decrypted_user(struct job *j, const char *uid)
{
	const cJSON *enc = j->batch.items[0].encrypted;
	const char *cert_id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(enc,
	    "encryptionCertificateId"));
	unsigned char *plain = NULL;
	size_t plain_len = 0;
	struct graph_user u;
	enum graph_decrypt_result r;
	char *err = NULL;

	r = graph_decrypt(j->app->keys, cert_id,
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(enc, "dataKey")),
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(enc, "data")),
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(enc, "dataSignature")),
	    &plain, &plain_len, &err);
	if (r != GRAPH_DECRYPT_OK) {
		log_ctx(LOG_LEVEL_WARN, NULL, j->ev->app, "rich notification %s not decrypted: %s%s%s",
		    j->ev->event_id, graph_decrypt_result_name(r), err ? ": " : "", err ? err : "");
		free(err);
		job_done(j, graph_decrypt_result_name(r));
		return;
	}
	memset(&u, 0, sizeof(u));
	if (graph_parse_user((const char *)plain, plain_len, &u, &err) == -1) {
		log_ctx(LOG_LEVEL_WARN, NULL, j->ev->app, "rich notification %s: %s",
		    j->ev->event_id, err);
		free(err);
		OPENSSL_cleanse(plain, plain_len);
		free(plain);
		job_done(j, "bad_resource");
		return;
	}
	OPENSSL_cleanse(plain, plain_len);
	free(plain);
	record_user(j, u.id ? u.id : uid, &u, "rich notification");
	graph_user_clear(&u);
}

static void
change(struct job *j)
{
	const struct graph_item *item = &j->batch.items[0];
	const char *uid = user_id_of(item);

	if (uid == NULL) {
		job_done(j, "not_a_user");
		return;
	}
	if (item->encrypted != NULL) {
		decrypted_user(j, uid);
		return;
	}
	if (strcmp(item->change_type, "deleted") == 0) {
		record_user(j, uid, NULL, "changeType deleted");
		return;
	}
	if (j->app->gc == NULL) {
		job_done(j, "no_graph_client");
		return;
	}
	if (graph_get_user(j->app->gc, uid, user_cb, j) == -1)
		job_retry(j, "cannot ask Graph for the user");
}

static void
act(struct job *j)
{
	const struct graph_item *item = &j->batch.items[0];

	if (item->lifecycle_event != NULL) {
		if (j->w->lifecycle_cb != NULL)
			j->w->lifecycle_cb(j->ev->app, item->subscription_id, item->lifecycle_event,
			    j->w->lifecycle_arg);
		job_done(j, "lifecycle");
		return;
	}
	change(j);
}

static void
tokens_cb(int ok, const char *err, void *arg)
{
	struct job *j = arg;

	/* The worker is being freed (its caches cancel what waits): it frees the job. */
	if (j->w->closing)
		return;
	if (!ok) {
		log_ctx(LOG_LEVEL_WARN, NULL, j->ev->app, "Graph notification %s is suspect, not "
		    "acted on: validation token: %s", j->ev->event_id, err ? err : "invalid");
		metrics_inc_webhook("graph", j->batch.items[0].lifecycle_event ? "lifecycle" :
		    "change", "suspect");
		job_done(j, "suspect");
		return;
	}
	act(j);
}

static void
start_job(struct graph_worker *w, struct store_pending *ev)
{
	struct job *j = xcalloc(1, sizeof(*j));
	char *err = NULL;

	j->w = w;
	j->ev = ev;
	w->job = j;
	if (graph_parse_batch(ev->body, ev->body_len, ev->body_len + 1, &j->batch, &err) == -1 ||
	    j->batch.n_items != 1 || j->batch.items[0].invalid != NULL) {
		log_ctx(LOG_LEVEL_ERROR, NULL, ev->app, "journaled Graph event %lld unreadable: %s",
		    (long long)ev->id, err ? err : "not one valid item");
		free(err);
		job_done(j, "unreadable");
		return;
	}
	j->app = find_app(w, ev->app);
	if (j->app == NULL) {
		job_done(j, "unknown_app");
		return;
	}
	if (j->batch.n_tokens > 0) {
		if (graph_tokens_verify(j->app->jwks, j->batch.tokens, j->batch.n_tokens,
		    j->app->rotator_client_id ? j->app->rotator_client_id : "",
		    j->app->tenant_id ? j->app->tenant_id : "", util_now_ms() / 1000,
		    tokens_cb, j) == -1)
			tokens_cb(0, "cannot verify", j);
		return;
	}
	if (j->batch.items[0].encrypted != NULL) {
		tokens_cb(0, "rich notification without validationTokens", j);
		return;
	}
	act(j);
}

/* ---- The driver ---- */

static int
refill(struct graph_worker *w)
{
	store_pending_free(w->queue, w->queue_n);
	w->queue = NULL;
	w->queue_n = w->queue_pos = 0;
	if (store_unprocessed(w->store, "graph", 0, QUEUE_MAX, &w->queue,
	    &w->queue_n) == -1) {
		log_error("graph worker: cannot read the journal");
		return -1;
	}
	return 0;
}

/* Starts the next event unless one is in flight. */
static void
run(struct graph_worker *w)
{
	if (w->closing || w->job != NULL)
		return;
	if (w->queue_pos >= w->queue_n && refill(w) == -1) {
		schedule(w, RETRY_FIRST_S);
		return;
	}
	if (w->queue_pos >= w->queue_n) {
		schedule(w, POLL_S);
		return;
	}
	start_job(w, &w->queue[w->queue_pos]);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct graph_worker *w = arg;

	(void)fd;
	(void)what;
	/* A retry re-reads the queue: the event that failed is still unprocessed in it. */
	if (w->job == NULL)
		w->queue_pos = w->queue_n;
	run(w);
}

struct graph_worker *
graph_worker_new(struct runtime *rt, struct http_client *hc, graph_lifecycle_cb lifecycle_cb,
    void *lifecycle_arg)
{
	struct graph_worker *w = xcalloc(1, sizeof(*w));
	char *err = NULL;
	size_t i;

	w->rt = rt;
	w->lifecycle_cb = lifecycle_cb;
	w->lifecycle_arg = lifecycle_arg;
	/*
	 * Its own connection, whose commits survive a crash of the process but
	 * skip the fsync: a result lost with the machine only means the event is
	 * looked at again, and the event loop never waits for the disk here.
	 */
	w->store = store_open(rt->cfg->store_url, &err);
	if (w->store == NULL)
		fatal("graph worker: %s", err);
	store_relax_durability(w->store);
	w->timer = evtimer_new(rt->base, timer_cb, w);
	if (w->timer == NULL)
		fatal("out of memory");
	w->apps = xcalloc(rt->cfg->n_apps + 1, sizeof(*w->apps));
	for (i = 0; i < rt->cfg->n_apps; i++)
		w->apps[w->n_apps++] = app_new(w, hc, rt->cfg->apps[i]);
	schedule(w, 0);
	return w;
}

void
graph_worker_free(struct graph_worker *w)
{
	size_t i;

	if (w == NULL)
		return;
	w->closing = 1;
	/* Clients first: their callbacks hear CANCELLED and leave the job alone. */
	for (i = 0; i < w->n_apps; i++)
		app_free(w->apps[i]);
	free(w->apps);
	if (w->job != NULL)
		job_free(w->job);
	store_pending_free(w->queue, w->queue_n);
	event_free(w->timer);
	store_close(w->store);
	free(w);
}

void
graph_worker_wake(struct graph_worker *w)
{
	if (w->job == NULL && w->retry_s == 0)
		schedule(w, 0);
}

uint64_t
graph_worker_processed(const struct graph_worker *w)
{
	return w->processed;
}
