/*
 * http_client: the client itself.  Its trust store, curl's sockets and timer
 * on the libevent loop, and a request's life after it was accepted
 * (http_request.c): the attempts (http_attempt.c), the waits between them,
 * the metrics, and the one call of the caller's callback.
 */
#include "outbound/http_client.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "outbound/http_client_int.h"
#include "outbound/http_retry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/opensslv.h>
#include <openssl/rand.h>
#include <openssl/x509_vfy.h>

/* One socket curl asked us to watch. */
struct hsock {
	struct event *ev;
	struct hsock *prev, *next;
};

/* The request whose callback is running, for http_response_header. */
static __thread struct hreq *delivering;	/* per thread: the mailer runs a client of its own */

/* --- trust store ----------------------------------------------------------- */

/*
 * The trust store: OpenSSL's default locations (the system bundle and hashed
 * directory, or SSL_CERT_FILE/SSL_CERT_DIR) plus ca_file.  curl's own CAINFO
 * cannot say "both": setting it replaces the system bundle, and a
 * CAINFO_BLOB of system bundle + ca_file would be parsed again (about 150
 * certificates) for every new connection, on the event loop.  So the store is
 * built once here and handed to each new TLS context from the SSL_CTX
 * callback, with curl told to load nothing itself.
 */
static X509_STORE *
store_load(const char *ca_file, char **err)
{
	X509_STORE *st = X509_STORE_new();
	char buf[256];

	if (st == NULL)
		fatal("out of memory creating a certificate store");
	/* It clears its own errors when a default location is missing. */
	if (X509_STORE_set_default_paths(st) != 1)
		ERR_clear_error();
	if (ca_file != NULL && *ca_file != '\0' &&
	    X509_STORE_load_locations(st, ca_file, NULL) != 1) {
		ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
		ERR_clear_error();
		*err = xasprintf("cannot load CA certificates from %s: %s", ca_file, buf);
		X509_STORE_free(st);
		return NULL;
	}
	/* As curl sets on the stores it builds itself. */
	X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_TRUSTED_FIRST);
	return st;
}

/* The SSL_CTX callback needs libcurl on the same OpenSSL as ours. */
static void
check_curl_tls(void)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	char want[32];

	snprintf(want, sizeof(want), "OpenSSL/%d.", OPENSSL_VERSION_MAJOR);
	if (v->ssl_version == NULL || strncmp(v->ssl_version, want, strlen(want)) != 0)
		fatal("libcurl uses %s; rekey needs libcurl built with OpenSSL %d",
		    v->ssl_version != NULL ? v->ssl_version : "no TLS", OPENSSL_VERSION_MAJOR);
}

/* --- curl's sockets and timer on libevent ----------------------------------- */

static void hc_destroy(struct http_client *hc);
static void check_multi_info(struct http_client *hc);

static void
hc_enter(struct http_client *hc)
{
	hc->depth++;
}

/* Frees a client whose http_client_free ran inside one of our callbacks. */
static void
hc_leave(struct http_client *hc)
{
	hc->depth--;
	if (hc->depth == 0 && hc->doomed)
		hc_destroy(hc);
}

static void
sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_client *hc = arg;
	int action = 0, running = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	hc_enter(hc);
	curl_multi_socket_action(hc->multi, fd, action, &running);
	check_multi_info(hc);
	hc_leave(hc);
}

static void
timer_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_client *hc = arg;
	int running = 0;

	(void)fd;
	(void)what;
	hc_enter(hc);
	curl_multi_socket_action(hc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_multi_info(hc);
	hc_leave(hc);
}

/*
 * CURLMOPT_TIMERFUNCTION.  -1 deletes the timer; 0 fires it on the next turn
 * of the loop rather than calling into curl from inside curl.
 */
static int
curl_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct http_client *hc = arg;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(hc->timer_ev);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(hc->timer_ev, &tv);
	return 0;
}

static void
sock_free(struct http_client *hc, struct hsock *hs)
{
	if (hs->prev != NULL)
		hs->prev->next = hs->next;
	else
		hc->socks = hs->next;
	if (hs->next != NULL)
		hs->next->prev = hs->prev;
	event_free(hs->ev);
	free(hs);
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what curl asks, or stop watching it. */
static int
curl_socket_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct http_client *hc = arg;
	struct hsock *hs = sockp;
	short kind = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (hs != NULL)
			sock_free(hc, hs);
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (hs == NULL) {
		hs = xcalloc(1, sizeof(*hs));
		hs->ev = event_new(hc->base, s, kind, sock_event_cb, hc);
		if (hs->ev == NULL)
			fatal("out of memory creating a socket event");
		hs->next = hc->socks;
		if (hc->socks != NULL)
			hc->socks->prev = hs;
		hc->socks = hs;
		curl_multi_assign(hc->multi, s, hs);
	} else {
		event_del(hs->ev);
		event_assign(hs->ev, hc->base, s, kind, sock_event_cb, hc);
	}
	event_add(hs->ev, NULL);
	return 0;
}

/* --- requests -------------------------------------------------------------- */

static const char *
header_find(const struct hreq *hr, const char *name)
{
	size_t i;

	for (i = 0; i < hr->n_headers; i++)
		if (strcasecmp(hr->headers[i].name, name) == 0)
			return hr->headers[i].value;
	return NULL;
}

static void
hreq_unlink(struct hreq *hr)
{
	struct http_client *hc = hr->hc;

	if (hr->prev != NULL)
		hr->prev->next = hr->next;
	else
		hc->reqs = hr->next;
	if (hr->next != NULL)
		hr->next->prev = hr->prev;
	hr->prev = hr->next = NULL;
	hc->n_reqs--;
}

static void
hreq_free(struct hreq *hr)
{
	size_t i;

	if (hr->easy != NULL) {
		curl_multi_remove_handle(hr->hc->multi, hr->easy);
		curl_easy_cleanup(hr->easy);
	}
	if (hr->retry_ev != NULL)
		event_free(hr->retry_ev);
	X509_STORE_free(hr->store);
	secret_free(hr->auth_line);
	secret_free(hr->password);
	free(hr->user);
	free(hr->mail_from);
	curl_slist_free_all(hr->rcpt);
	for (i = 0; i < hr->n_lines; i++)
		free(hr->lines[i]);
	hreq_headers_clear(hr);
	free(hr->method);
	free(hr->url);
	free(hr->log_url);
	free(hr->service);
	free(hr->app);
	free(hr->req_id);
	if (hr->body != NULL)
		OPENSSL_cleanse(hr->body, hr->body_len);
	free(hr->body);
	if (hr->rbody != NULL)
		OPENSSL_cleanse(hr->rbody, hr->rcap);
	free(hr->rbody);
	free(hr->error);
	free(hr);
}

static const char *
outcome_name(enum http_outcome outcome)
{
	switch (outcome) {
	case HTTP_OUTCOME_OK:
		return "ok";
	case HTTP_OUTCOME_RETRYABLE:
		return "retryable";
	case HTTP_OUTCOME_PERMANENT:
		return "permanent";
	case HTTP_OUTCOME_CANCELLED:
		return "cancelled";
	}
	return "unknown";
}

static void
count_outcome(const struct hreq *hr, enum http_outcome outcome)
{
	char labels[96];

	snprintf(labels, sizeof(labels), "service=\"%s\",outcome=\"%s\"", hr->service,
	    outcome_name(outcome));
	metrics_counter_add("rekey_outbound_requests_total",
	    "Outbound HTTP requests by service and final outcome.", labels, 1);
}

static void
count_attempt(const struct hreq *hr, long status, int failed)
{
	char labels[96];
	const char *result = "error";

	if (!failed && status == 429)
		result = "429";
	else if (!failed && status >= 200 && status < 300)
		result = "2xx";
	else if (!failed && status >= 300 && status < 400)
		result = "3xx";
	else if (!failed && status >= 400 && status < 500)
		result = "4xx";
	else if (!failed && status >= 500)
		result = "5xx";
	snprintf(labels, sizeof(labels), "service=\"%s\",result=\"%s\"", hr->service, result);
	metrics_counter_add("rekey_outbound_attempts_total",
	    "Outbound HTTP attempts by service and result (2xx, 3xx, 4xx, 429, 5xx, error).",
	    labels, 1);
}

/*
 * Answers the caller and frees hr.  Never called from inside a curl callback;
 * the caller's callback may send more requests or free the client.
 */
static void
finish(struct hreq *hr, enum http_outcome outcome)
{
	struct http_response *resp = &hr->resp;
	struct hreq *prev = delivering;
	const char *rid;

	hreq_unlink(hr);
	count_outcome(hr, outcome);
	rid = header_find(hr, "x-request-id");
	if (rid == NULL)
		rid = header_find(hr, "request-id");
	memset(resp, 0, sizeof(*resp));
	resp->outcome = outcome;
	resp->status = hr->status;
	resp->body = hr->rbody != NULL ? hr->rbody : "";
	resp->body_len = hr->rlen;
	resp->service_request_id = rid;
	resp->error = outcome == HTTP_OUTCOME_OK ? NULL : hr->error;
	resp->attempts = hr->attempts;
	resp->elapsed_ms = (util_mono_us() - hr->start_us) / 1000;
	resp->req_id = hr->req_id;
	log_ctx(LOG_LEVEL_DEBUG, hr->req_id, hr->app, "%s %s %s: %s after %d attempt(s), %lld ms%s%s",
	    hr->service, hr->method, hr->log_url, outcome_name(outcome), hr->attempts,
	    (long long)resp->elapsed_ms, resp->error != NULL ? ": " : "",
	    resp->error != NULL ? resp->error : "");
	delivering = hr;
	hr->cb(resp, hr->cb_arg);
	delivering = prev;
	hreq_free(hr);
}

static double
random_unit(void)
{
	uint32_t v;

	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1) {
		ERR_clear_error();
		v = (uint32_t)util_mono_us();
	}
	return (double)v / 4294967296.0;
}

static void
retry_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hreq *hr = arg;
	struct http_client *hc = hr->hc;

	(void)fd;
	(void)what;
	hc_enter(hc);
	if (http_attempt_start(hr) == -1)
		finish(hr, HTTP_OUTCOME_PERMANENT);
	hc_leave(hc);
}

/* Waits and tries again, or gives up (RETRYABLE) when attempts or budget run out. */
static void
retry_or_give_up(struct hreq *hr)
{
	int64_t elapsed = (util_mono_us() - hr->start_us) / 1000;
	int64_t left = hr->budget_ms - elapsed, ra = -1, wait;
	const char *ra_text = header_find(hr, "retry-after");
	struct timeval tv;

	if (hr->attempts >= hr->max_attempts) {
		hreq_set_error(hr, xasprintf("%s; gave up after %d attempts", hr->error,
		    hr->attempts));
		finish(hr, HTTP_OUTCOME_RETRYABLE);
		return;
	}
	if (ra_text != NULL)
		ra = http_parse_retry_after(ra_text, time(NULL));
	wait = http_backoff_ms(hr->attempts, ra > 0 ? ra : 0, random_unit());
	if (wait >= left) {
		hreq_set_error(hr, xasprintf("%s; gave up after %d attempts: waiting %lld ms more "
		    "would exceed the budget (%lld ms left)", hr->error, hr->attempts,
		    (long long)wait, (long long)(left > 0 ? left : 0)));
		finish(hr, HTTP_OUTCOME_RETRYABLE);
		return;
	}
	log_ctx(LOG_LEVEL_WARN, hr->req_id, hr->app,
	    "%s %s %s: attempt %d of %d failed (%s); retrying in %lld ms", hr->service,
	    hr->method, hr->log_url, hr->attempts, hr->max_attempts, hr->error,
	    (long long)wait);
	if (hr->retry_ev == NULL)
		hr->retry_ev = evtimer_new(hr->hc->base, retry_event_cb, hr);
	if (hr->retry_ev == NULL)
		fatal("out of memory creating a retry timer");
	tv.tv_sec = wait / 1000;
	tv.tv_usec = (wait % 1000) * 1000;
	evtimer_add(hr->retry_ev, &tv);
}

/* One attempt ended: answer the caller or go again. */
static void
attempt_done(struct hreq *hr, CURLcode rc)
{
	CURL *e = hr->easy;
	long status = 0;
	enum attempt_result result;

	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(hr->hc->multi, e);
	curl_easy_cleanup(e);
	hr->easy = NULL;
	hr->status = status;
	/* A mail refused by an SMTP reply counts as that reply, not as a transfer error. */
	count_attempt(hr, status, rc != CURLE_OK && !(hr->mail && status >= 400));
	if (hr->mail)
		result = http_mail_attempt_result(hr, rc);
	else
		result = http_attempt_result(hr, rc);
	if (result == ATTEMPT_OK)
		finish(hr, HTTP_OUTCOME_OK);
	else if (result == ATTEMPT_RETRY)
		retry_or_give_up(hr);
	else
		finish(hr, HTTP_OUTCOME_PERMANENT);
}

static void
check_multi_info(struct http_client *hc)
{
	struct hreq *hr;
	CURLMsg *msg;
	CURLcode rc;
	char *priv;
	int left;

	for (;;) {
		if (hc->doomed)
			break;
		msg = curl_multi_info_read(hc->multi, &left);
		if (msg == NULL)
			break;
		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg is gone once the handle is removed: read it first. */
		rc = msg->data.result;
		priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		hr = (struct hreq *)priv;
		if (hr == NULL)
			fatal("http_client: a finished transfer without its request");
		attempt_done(hr, rc);
	}
}

/* --- public API ------------------------------------------------------------ */

struct http_client *
http_client_new(struct event_base *base, const char *ca_file, int64_t default_timeout_ms)
{
	struct http_client *hc;
	char *err = NULL;

	if (base == NULL || default_timeout_ms <= 0)
		fatal("http_client_new: no event base or a timeout that is not positive");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatal("libcurl failed to initialise");
	check_curl_tls();
	hc = xcalloc(1, sizeof(*hc));
	hc->base = base;
	hc->default_timeout_ms = default_timeout_ms;
	hc->store = store_load(ca_file, &err);
	if (hc->store == NULL)
		fatal("outbound TLS: %s", err);
	hc->multi = curl_multi_init();
	hc->timer_ev = evtimer_new(base, timer_event_cb, hc);
	if (hc->multi == NULL || hc->timer_ev == NULL)
		fatal("out of memory creating the HTTP client");
	curl_multi_setopt(hc->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
	curl_multi_setopt(hc->multi, CURLMOPT_SOCKETDATA, hc);
	curl_multi_setopt(hc->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(hc->multi, CURLMOPT_TIMERDATA, hc);
	return hc;
}

static void
hc_destroy(struct http_client *hc)
{
	curl_multi_cleanup(hc->multi);
	/* Sockets curl did not say goodbye to (it closes its cache on cleanup). */
	while (hc->socks != NULL)
		sock_free(hc, hc->socks);
	event_free(hc->timer_ev);
	X509_STORE_free(hc->store);
	free(hc);
	curl_global_cleanup();
}

void
http_client_free(struct http_client *hc)
{
	struct hreq *hr;

	if (hc == NULL || hc->freeing)
		return;
	hc->freeing = 1;
	while (hc->reqs != NULL) {
		hr = hc->reqs;
		if (hr->easy != NULL) {
			curl_multi_remove_handle(hc->multi, hr->easy);
			curl_easy_cleanup(hr->easy);
			hr->easy = NULL;
		}
		if (hr->retry_ev != NULL)
			event_del(hr->retry_ev);
		hreq_set_error(hr, xstrdup("cancelled: the HTTP client was shut down"));
		finish(hr, HTTP_OUTCOME_CANCELLED);
	}
	/* Inside one of our callbacks: the outermost one frees hc on its way out. */
	if (hc->depth > 0)
		hc->doomed = 1;
	else
		hc_destroy(hc);
}

void
http_client_configure(struct http_client *hc, const char *ca_file, int64_t default_timeout_ms)
{
	X509_STORE *st;
	char *err = NULL;

	if (hc == NULL)
		return;
	if (default_timeout_ms > 0)
		hc->default_timeout_ms = default_timeout_ms;
	else
		log_error("outbound: ignoring a timeout of %lld ms", (long long)default_timeout_ms);
	st = store_load(ca_file, &err);
	if (st == NULL) {
		log_error("outbound TLS: %s; keeping the previous CA certificates", err);
		free(err);
		return;
	}
	/* Requests already started keep the store they took a reference to. */
	X509_STORE_free(hc->store);
	hc->store = st;
}

void
http_client_set_gate(struct http_client *hc, int (*gate)(void *arg), void *arg)
{
	hc->gate = gate;
	hc->gate_arg = arg;
}

/* Starts hr's first attempt and tracks it: 0, or -1 (logged, hr freed). */
int
hreq_launch(struct hreq *hr)
{
	struct http_client *hc = hr->hc;

	if (http_attempt_start(hr) == -1) {
		log_ctx(LOG_LEVEL_ERROR, hr->req_id, hr->app, "%s %s %s not sent: %s",
		    hr->service, hr->method, hr->log_url, hr->error);
		hreq_free(hr);
		return -1;
	}
	hr->next = hc->reqs;
	if (hc->reqs != NULL)
		hc->reqs->prev = hr;
	hc->reqs = hr;
	hc->n_reqs++;
	return 0;
}

const char *
http_response_header(const struct http_response *resp, const char *name)
{
	if (resp == NULL || name == NULL || delivering == NULL || resp != &delivering->resp)
		return NULL;
	return header_find(delivering, name);
}

size_t
http_client_in_flight(const struct http_client *hc)
{
	return hc != NULL ? hc->n_reqs : 0;
}

size_t
http_client_in_flight_to(const struct http_client *hc, const char *method, const char *url_part)
{
	const struct hreq *hr;
	size_t n = 0;

	for (hr = hc != NULL ? hc->reqs : NULL; hr != NULL; hr = hr->next)
		n += strcmp(hr->method, method) == 0 && strstr(hr->url, url_part) != NULL;
	return n;
}
