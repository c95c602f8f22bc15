#include "intake/graph.h"
#include "intake/listener.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "proto/graph_notification.h"
#include "state/config.h"
#include "state/journal.h"
#include "state/runtime.h"
#include "state/wake.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- The endpoint ---- */

/* The bounded label for metrics: which endpoint. */
static const char *
kind_label(int lifecycle)
{
	return lifecycle ? "lifecycle" : "change";
}

/* One delivery in flight: answered when every journaled item has committed. */
struct delivery {
	struct http_req *hr;
	const char *kind;
	size_t pending;
	size_t stored, duplicates;
	int failed;
};

static void
answer(struct delivery *d)
{
	struct http_req *hr = d->hr;

	metrics_observe_ack((double)(util_mono_us() - hr->start_us) / 1e6);
	if (d->failed) {
		http_add_header(hr, "Retry-After", "5");
		http_reply_text(hr, 503, "could not store the notifications; retry later");
	} else {
		/* hr is gone once answered. */
		http_reply(hr, 202, NULL, NULL, 0);
		if (d->stored > 0)
			wake_signal(WAKE_GRAPH_NOTIFICATIONS);
	}
	free(d);
}

static void
stored_cb(enum store_result result, void *arg)
{
	struct delivery *d = arg;

	switch (result) {
	case STORE_STORED:
		d->stored++;
		metrics_inc_webhook("graph", d->kind, "stored");
		break;
	case STORE_DUPLICATE:
		d->duplicates++;
		metrics_inc_webhook("graph", d->kind, "duplicate");
		break;
	case STORE_ERROR:
		d->failed = 1;
		metrics_inc_webhook("graph", d->kind, "store_error");
		break;
	}
	if (--d->pending == 0)
		answer(d);
}

/* A batch's validationTokens on their way to the store, once for all its items. */
struct tokens_write {
	struct delivery *d;
	char ref[GRAPH_TOKENS_REF_LEN + 1];
	char *json;
	int64_t now_ms;
};

static int
tokens_op(struct store *st, void *arg)
{
	struct tokens_write *tw = arg;

	return store_put_graph_tokens(st, tw->ref, tw->json, strlen(tw->json), tw->now_ms,
	    GRAPH_TOKENS_KEEP_MS);
}

/*
 * Should the tokens alone fail to be written, the items may be committed
 * without them: the worker then finds none and holds the items suspect, and
 * the 503 makes Graph deliver again.
 */
static void
tokens_stored_cb(enum store_result result, void *arg)
{
	struct tokens_write *tw = arg;
	struct delivery *d = tw->d;

	free(tw->json);
	free(tw);
	if (result == STORE_ERROR)
		d->failed = 1;
	if (--d->pending == 0)
		answer(d);
}

/* Submits the batch's tokens (before its items, in the same commit) and fills ref; 0 without. */
static int
journal_tokens(struct delivery *d, const struct graph_batch *b,
    char ref[GRAPH_TOKENS_REF_LEN + 1])
{
	struct tokens_write *tw;
	char *json = graph_tokens_record(b, ref);

	if (json == NULL)
		return 0;
	tw = xcalloc(1, sizeof(*tw));
	tw->d = d;
	memcpy(tw->ref, ref, GRAPH_TOKENS_REF_LEN + 1);
	tw->json = json;
	tw->now_ms = util_now_ms();
	d->pending++;
	journal_submit_durable_op(d->hr->rt->journal, tokens_op, tokens_stored_cb, tw);
	return 1;
}

/*
 * buf (size bytes) holds each item's record in turn: printing each into a
 * buffer of its own, grown as it went, cost a fifth of the time of the
 * batch's items, which its commit waits for.
 */
static void
journal_item(struct delivery *d, const struct graph_batch *b, size_t i, const char *tokens_ref,
    const char *batch_ref, char *buf, size_t size)
{
	struct http_req *hr = d->hr;
	const struct graph_item *item = &b->items[i];
	char *own = graph_item_record_in(b, i, tokens_ref, buf, size) > 0 ? NULL :
	    graph_item_record(b, i, tokens_ref);
	const char *record = own != NULL ? own : buf;
	char *key = graph_item_key(item, record, batch_ref, util_now_ms());
	char type[GRAPH_ITEM_FIELD_MAX + 32];
	struct store_event se = {
		.source = "graph", .app = hr->app, .event_id = key, .type = type,
		.received_ms = util_now_ms(), .remote_addr = hr->client, .code = -1,
		.reauth_flag = -1, .event_time = -1, .grant_updated_at = -1,
		.grant_id = item->resource_id, .body = record, .body_len = strlen(record),
	};

	if (item->lifecycle_event != NULL)
		snprintf(type, sizeof(type), "lifecycle.%s", item->lifecycle_event);
	else
		snprintf(type, sizeof(type), "change.%s", item->change_type);
	d->pending++;
	journal_submit(hr->rt->journal, &se, stored_cb, d);
	free(key);
	free(own);
}

/*
 * What a batch dropped, told in one warning line: anyone can POST a batch
 * of GRAPH_BATCH_MAX items without knowing the clientState, and a line per
 * item would let them write a thousand lines a request.
 */
struct drops {
	size_t bad_state, invalid, misrouted;
	const char *subscription;	/* of the first item with a wrong clientState */
	int other_subscriptions;	/* 1 when another such item names another one */
	const char *why;		/* of the first unusable item */
};

/* Per app, at most one such line this often; what is left out is counted into the next. */
#define DROP_WARN_INTERVAL_MS (60 * 1000)
#define DROP_WARN_APPS 64

struct drop_warn {
	char app[64];
	int64_t last_ms;
	uint64_t suppressed;		/* items dropped and not told since last_ms */
};

/* Shared by the intake loops; taken only for a batch that dropped something. */
static pthread_mutex_t drop_warns_lock = PTHREAD_MUTEX_INITIALIZER;
static struct drop_warn drop_warns[DROP_WARN_APPS];

/* The app's slot; with more apps than slots, the least recently told one is reused. */
static struct drop_warn *
drop_warn_of(const char *app)
{
	struct drop_warn *oldest = &drop_warns[0];
	size_t i;

	for (i = 0; i < DROP_WARN_APPS; i++) {
		if (strcmp(drop_warns[i].app, app) == 0)
			return &drop_warns[i];
		if (drop_warns[i].last_ms < oldest->last_ms)
			oldest = &drop_warns[i];
	}
	memset(oldest, 0, sizeof(*oldest));
	util_strlcpy(oldest->app, app, sizeof(oldest->app));
	return oldest;
}

static void
warn_drops(struct http_req *hr, const struct drops *dr, size_t n_items)
{
	size_t n = dr->bad_state + dr->invalid + dr->misrouted;
	struct drop_warn *w;
	int64_t now = util_now_ms();
	char state[GRAPH_ITEM_FIELD_MAX + 96] = "", invalid[128] = "", routed[96] = "", more[96] = "";

	if (n == 0)
		return;
	pthread_mutex_lock(&drop_warns_lock);
	w = drop_warn_of(hr->app);
	if (w->last_ms != 0 && now - w->last_ms < DROP_WARN_INTERVAL_MS) {
		w->suppressed += n;
		pthread_mutex_unlock(&drop_warns_lock);
		return;
	}
	if (dr->bad_state > 0)
		snprintf(state, sizeof(state), "; %zu with a wrong clientState (subscription %s%s)",
		    dr->bad_state, dr->subscription, dr->other_subscriptions ? " and others" : "");
	if (dr->invalid > 0)
		snprintf(invalid, sizeof(invalid), "; %zu unusable (%s)", dr->invalid, dr->why);
	if (dr->misrouted > 0)
		snprintf(routed, sizeof(routed), "; %zu sent to the other URL", dr->misrouted);
	if (w->suppressed > 0)
		snprintf(more, sizeof(more), "; and %llu more in batches since the last warning",
		    (unsigned long long)w->suppressed);
	log_ctx(LOG_LEVEL_WARN, hr->id, hr->app, "dropped %zu of %zu Graph notifications in a "
	    "batch%s%s%s%s", n, n_items, state, invalid, routed, more);
	w->last_ms = now;
	w->suppressed = 0;
	pthread_mutex_unlock(&drop_warns_lock);
}

/* Drops the items that are unusable or whose clientState is not the app's; 1 when kept. */
static int
keep_item(const struct config_app *app, const struct graph_item *item, int lifecycle,
    const char *kind, struct drops *dr)
{
	if (item->invalid != NULL) {
		if (dr->invalid++ == 0)
			dr->why = item->invalid;
		metrics_inc_webhook("graph", kind, "invalid");
		return 0;
	}
	if ((item->lifecycle_event != NULL) != lifecycle) {
		dr->misrouted++;
		metrics_inc_webhook("graph", kind, "invalid");
		return 0;
	}
	if (!graph_client_state_matches(app->graph_client_state, item->client_state)) {
		if (dr->bad_state++ == 0)
			dr->subscription = item->subscription_id;
		else if (strcmp(dr->subscription, item->subscription_id) != 0)
			dr->other_subscriptions = 1;
		metrics_inc_webhook("graph", kind, "bad_client_state");
		return 0;
	}
	return 1;
}

static void
handle_notifications(struct http_req *hr, const struct config_app *app, int lifecycle)
{
	size_t len, i;
	const char *raw = http_body(hr, &len);
	const char *kind = kind_label(lifecycle);
	struct delivery *d;
	struct graph_batch b;
	struct drops dr;
	char ref[GRAPH_TOKENS_REF_LEN + 1], batch_ref[GRAPH_BATCH_REF_LEN + 1];
	const char *tokens_ref = NULL;
	unsigned char *keep;
	size_t n_kept = 0, size;
	char *buf;
	char *err = NULL;

	if (graph_parse_batch(raw, len, (size_t)hr->rt->cfg->max_body, &b, &err) == -1) {
		log_ctx(LOG_LEVEL_WARN, hr->id, hr->app, "rejected a Graph notification batch: %s",
		    err);
		metrics_inc_webhook("graph", kind, strstr(err, "items, more than") ? "too_large" :
		    "bad_json");
		http_reply_text(hr, strstr(err, "items, more than") ? 413 : 400,
		    "invalid notification batch");
		free(err);
		return;
	}
	d = xcalloc(1, sizeof(*d));
	d->hr = hr;
	d->kind = kind;
	/* The extra count keeps the delivery alive until every item has been submitted. */
	d->pending = 1;
	memset(&dr, 0, sizeof(dr));
	keep = xcalloc(b.n_items + 1, 1);
	for (i = 0; i < b.n_items; i++)
		n_kept += keep[i] = (unsigned char)keep_item(app, &b.items[i], lifecycle, kind, &dr);
	graph_batch_ref(&b, keep, batch_ref);
	/*
	 * An item's record is about its size in the body; the rare longer one
	 * (or one of over 64 KiB) is printed apart.
	 */
	size = (len < 65536 ? len : 65536) + 256;
	buf = xmalloc(size);
	journal_hold(hr->rt->journal);
	if (n_kept > 0 && journal_tokens(d, &b, ref))
		tokens_ref = ref;
	for (i = 0; i < b.n_items; i++)
		if (keep[i])
			journal_item(d, &b, i, tokens_ref, batch_ref, buf, size);
	journal_release(hr->rt->journal);
	free(buf);
	warn_drops(hr, &dr, b.n_items);
	free(keep);
	graph_batch_clear(&b);
	if (--d->pending == 0)
		answer(d);
}

/* The value of ?validationToken= as sent (still encoded), or NULL. */
static const char *
find_token(const char *query, size_t *len)
{
	static const char name[] = "validationToken=";
	const char *p = query, *end;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, name, sizeof(name) - 1) == 0) {
			p += sizeof(name) - 1;
			end = strchr(p, '&');
			*len = end ? (size_t)(end - p) : strlen(p);
			return p;
		}
		p = strchr(p, '&');
		if (p != NULL)
			p++;
	}
	return NULL;
}

/* The handshake: 1 when the request was one (and has been answered). */
static int
handle_validation(struct http_req *hr, const char *kind)
{
	const char *query = hr->query;
	const char *raw;
	char out[GRAPH_VALIDATION_TOKEN_MAX];
	size_t len = 0;
	long n;

	if (query == NULL || (raw = find_token(query, &len)) == NULL)
		return 0;
	n = util_form_decode(raw, len, out, sizeof(out));
	if (n < 0) {
		metrics_inc_webhook("graph", "validation", "too_large");
		http_reply_text(hr, 414, "validationToken too long");
		return 1;
	}
	log_ctx(LOG_LEVEL_INFO, hr->id, hr->app, "answered Graph's validation of the %s URL",
	    kind);
	metrics_inc_webhook("graph", "validation", "answered");
	http_reply(hr, 200, "text/plain", out, (size_t)n);
	return 1;
}

/* rest is "{app}" or "{app}/lifecycle"; the app, and *lifecycle, or NULL. */
static const struct config_app *
find_app(struct http_req *hr, const char *rest, int *lifecycle)
{
	const char *slash = strchr(rest, '/');
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
	char name[sizeof(hr->app)];

	*lifecycle = 0;
	if (slash != NULL) {
		if (strcmp(slash, "/lifecycle") != 0)
			return NULL;
		*lifecycle = 1;
	}
	if (n == 0 || n >= sizeof(name))
		return NULL;
	memcpy(name, rest, n);
	name[n] = '\0';
	return config_find_app(hr->rt->cfg, name);
}

void
graph_webhook_handle(struct http_req *hr, const char *rest)
{
	int lifecycle;
	const struct config_app *app = find_app(hr, rest, &lifecycle);
	enum http_method cmd = hr->method;

	if (app == NULL) {
		metrics_inc_webhook("graph", "unknown", "unknown_app");
		http_reply_text(hr, 404, "unknown app");
		return;
	}
	util_strlcpy(hr->app, app->name, sizeof(hr->app));
	if (cmd != HTTP_POST && cmd != HTTP_GET) {
		http_reply_text(hr, 405, "method not allowed");
		return;
	}
	if (handle_validation(hr, kind_label(lifecycle)))
		return;
	if (cmd != HTTP_POST) {
		http_reply_text(hr, 400, "expected ?validationToken= or a POSTed batch");
		return;
	}
	handle_notifications(hr, app, lifecycle);
}
