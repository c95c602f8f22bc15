#include "intake/nylas.h"
#include "intake/listener.h"
#include "lib/inflate.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "proto/nylas_event.h"
#include "state/config.h"
#include "state/journal.h"
#include "state/nylas_secrets.h"
#include "state/runtime.h"

#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* What a journal callback needs once the batch has committed. */
struct pending_ack {
	struct http_req *hr;
	const char *type_label;
};

static void
ack_cb(enum store_result result, void *arg)
{
	struct pending_ack *p = arg;
	struct http_req *hr = p->hr;	/* gone once answered */

	metrics_observe_ack((double)(util_mono_us() - hr->start_us) / 1e6);
	if (result == STORE_ERROR) {
		metrics_inc_webhook("nylas", p->type_label, "store_error");
		http_add_header(hr, "Retry-After", "5");
		http_reply_text(hr, 503, "could not store the event; retry later");
	} else {
		metrics_inc_webhook("nylas", p->type_label,
		    result == STORE_STORED ? "stored" : "duplicate");
		/* The journal's writer wakes the correlator when one is left for it (journal.c). */
		http_reply_text(hr, 200, result == STORE_STORED ? "stored" : "duplicate");
	}
	free(p);
}

static void
reject(struct http_req *hr, int status, const char *result, const char *msg)
{
	metrics_inc_webhook("nylas", "unknown", result);
	http_reply_text(hr, status, msg);
}

static void
handle_challenge(struct http_req *hr)
{
	char *challenge = http_query_param(hr, "challenge");

	if (challenge == NULL) {
		http_reply_text(hr, 400, "expected ?challenge=");
		return;
	}
	metrics_inc_webhook("nylas", "challenge", "answered");
	http_reply(hr, 200, "text/plain", challenge, strlen(challenge));
	free(challenge);
}

static void
journal_event(struct http_req *hr, const struct nylas_event *ev, const char *body,
    size_t len)
{
	struct pending_ack *p = xcalloc(1, sizeof(*p));
	struct store_event se = {
		.source = "nylas", .app = hr->app, .event_id = ev->id, .type = ev->type,
		.received_ms = util_now_ms(), .remote_addr = hr->client,
		.grant_id = ev->grant_id, .email = ev->email, .provider = ev->provider,
		.integration_id = ev->integration_id, .code = ev->code,
		.reauth_flag = ev->reauth_flag, .event_time = ev->time,
		.grant_updated_at = ev->grant_updated_at, .body = body, .body_len = len,
	};

	p->hr = hr;
	p->type_label = nylas_type_label(ev->type);
	journal_submit(hr->rt->journal, &se, ack_cb, p);
}

/* A delivery's signature and bytes, for the check against the managed secrets. */
struct signed_body {
	const char *header;
	const void *raw;
	size_t len;
};

static int
managed_match_cb(struct secret *const *secrets, size_t n, void *arg)
{
	const struct signed_body *sb = arg;

	return nylas_signature_matches(sb->header, sb->raw, sb->len, secrets, n);
}

/* Signed with a line of the app's secret file or a managed secret in force. */
static int
signed_by_app(struct http_req *hr, const struct config_app *app, const void *raw, size_t len)
{
	struct signed_body sb = { http_header(hr, "X-Nylas-Signature"), raw, len };

	if (nylas_signature_matches(sb.header, raw, len, app->webhook_secrets,
	    app->n_webhook_secrets))
		return 1;
	return nylas_secrets_check(hr->rt->nylas_secrets, app->name, util_now_ms(),
	    managed_match_cb, &sb);
}

/*
 * 401, which Nylas never retries; but inside a rotation window the delivery
 * may be signed with a secret rekey is about to learn, so it is answered
 * 503 and Nylas delivers it again later.
 */
static void
bad_signature(struct http_req *hr)
{
	char labels[128];

	if (!nylas_secrets_in_window(hr->rt->nylas_secrets, hr->app, util_mono_us() / 1000)) {
		reject(hr, 401, "bad_signature", "missing or invalid X-Nylas-Signature");
		return;
	}
	snprintf(labels, sizeof(labels), "app=\"%s\"", hr->app);
	metrics_counter_add("rekey_nylas_webhook_window_503_total", "Deliveries with a signature "
	    "rekey did not know answered 503 during a webhook secret rotation window.", labels, 1);
	metrics_inc_webhook("nylas", "unknown", "rotation_window");
	http_add_header(hr, "Retry-After", "5");
	http_reply_text(hr, 503, "webhook secret rotation in progress; retry later");
}

static void
handle_delivery(struct http_req *hr, const struct config_app *app)
{
	size_t len;
	const char *raw = http_body(hr, &len);
	const char *encoding = http_header(hr, "Content-Encoding");
	unsigned char *inflated = NULL;
	struct nylas_event ev;
	char *err = NULL;

	if (!signed_by_app(hr, app, raw, len)) {
		bad_signature(hr);
		return;
	}
	if (encoding != NULL && strcasecmp(encoding, "gzip") == 0) {
		switch (inflate_gzip(raw, len, (size_t)hr->rt->cfg->max_body, &inflated, &len)) {
		case INFLATE_OK:
			raw = (const char *)inflated;
			break;
		case INFLATE_TOO_LARGE:
			reject(hr, 413, "too_large", "inflated body larger than max_body");
			return;
		case INFLATE_BAD_DATA:
			reject(hr, 400, "bad_json", "body is not valid gzip");
			return;
		}
	} else if (encoding != NULL && strcasecmp(encoding, "identity") != 0) {
		reject(hr, 415, "bad_encoding", "unsupported Content-Encoding");
		return;
	}
	if (nylas_parse_envelope(raw, len, &ev, &err) == -1) {
		log_ctx(LOG_LEVEL_WARN, hr->id, hr->app, "rejected a Nylas webhook: %s", err);
		free(err);
		free(inflated);
		reject(hr, 400, "bad_json", "invalid webhook envelope");
		return;
	}
	journal_event(hr, &ev, raw, len);
	nylas_event_clear(&ev);
	free(inflated);
}

void
nylas_webhook_handle(struct http_req *hr, const char *rest)
{
	const struct config_app *app = NULL;

	if (strlen(rest) < sizeof(hr->app) && strchr(rest, '/') == NULL)
		app = config_find_app(hr->rt->cfg, rest);
	if (app == NULL) {
		reject(hr, 404, "unknown_app", "unknown app");
		return;
	}
	util_strlcpy(hr->app, app->name, sizeof(hr->app));
	switch (hr->method) {
	case HTTP_GET:
		handle_challenge(hr);
		break;
	case HTTP_POST:
		handle_delivery(hr, app);
		break;
	default:
		http_reply_text(hr, 405, "method not allowed");
		break;
	}
}
