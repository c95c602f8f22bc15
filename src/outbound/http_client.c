#include "outbound/http_client.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/secret.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/opensslv.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#define USER_AGENT "rekey/0.1"
#define DEFAULT_MAX_RESPONSE (1024 * 1024)
/* No answer rekey expects comes near this; it keeps the size arithmetic safe. */
#define MAX_RESPONSE_CAP (64 * 1024 * 1024)
#define DEFAULT_MAX_ATTEMPTS 5
/* More attempts than this is a mistake in the caller; the budget ends them anyway. */
#define MAX_ATTEMPTS_CAP 20
#define BUDGET_TIMEOUTS 6
/*
 * A TCP connect plus TLS handshake to Graph, the login endpoint or Nylas
 * takes well under a second; one that has not finished in 5 s is better
 * abandoned and retried than waited for until the whole attempt times out.
 */
#define CONNECT_TIMEOUT_MAX_MS 5000
#define BACKOFF_BASE_MS 500
#define BACKOFF_CAP_MS 30000
/* A Retry-After longer than a day is as good as "not within any budget". */
#define RETRY_AFTER_MAX_S 86400
/* Requests in flight or waiting to retry, for the whole client. */
#define MAX_IN_FLIGHT 4096
/* Response headers kept per attempt: enough for Retry-After and request ids. */
#define MAX_HEADERS 64
#define MAX_HEADER_BYTES 16384
#define MAX_REQ_ID 128
#define LOG_URL_MAX 200
/* Authorization, Content-Type, client-request-id, Expect, and the caller's. */
#define MAX_HEADER_LINES (HTTP_MAX_EXTRA_HEADERS + 4)
/* Notification mails are small; servers commonly refuse more than 10 MiB anyway. */
#define MAX_MAIL_BYTES (10 * 1024 * 1024)
/* RFC 5321: a path is at most 256 octets, angle brackets included. */
#define MAX_ADDRESS 254
#define MAX_USER 256
/* The last SMTP reply line kept for the caller and the logs. */
#define MAX_REPLY 512

struct header {
	char *name;
	char *value;
};

/* One socket curl asked us to watch. */
struct hsock {
	struct event *ev;
	struct hsock *prev, *next;
};

/*
 * One request, from http_client_send until its callback has returned.  Between
 * attempts it has no easy handle and waits on retry_ev.
 */
struct hreq {
	struct http_client *hc;
	struct hreq *prev, *next;
	http_done_cb cb;
	void *cb_arg;

	/* The request, copied at send time. */
	int mail;			/* an http_mail, not an http_request */
	int connect_only;		/* mail: the connect phase only (http_mail) */
	char *method;			/* "MAIL" for a mail */
	char *url;
	char *log_url;			/* as util_url_shown shows it */
	char *service;
	char *app;
	char *req_id;
	unsigned char *body;		/* NULL: no body; a mail's message */
	size_t body_len;
	size_t read_off;		/* how much of a mail's message curl has read */
	char *mail_from;
	struct curl_slist *rcpt;
	char *user;
	struct secret *password;	/* wiped on free */
	struct secret *auth_line;	/* "Authorization: Bearer ...", wiped on free */
	char *lines[MAX_HEADER_LINES];	/* the other header lines we own */
	size_t n_lines;
	/* Built by hand so that the Authorization line stays in wiped memory. */
	struct curl_slist nodes[MAX_HEADER_LINES];
	int64_t timeout_ms;
	int64_t budget_ms;
	size_t max_response;
	int max_attempts;
	enum http_verdict (*classify)(long status, const char *body, size_t len);
	X509_STORE *store;		/* one reference, taken at send time */

	/* Progress. */
	CURL *easy;			/* NULL between attempts */
	struct event *retry_ev;
	int attempts;
	int64_t start_us;
	char errbuf[CURL_ERROR_SIZE];
	char *error;			/* the last attempt's failure, one line */

	/* The current attempt's answer. */
	long status;
	char *rbody;			/* a mail's last reply line */
	size_t rlen, rcap;
	int too_big;
	struct header headers[MAX_HEADERS];
	size_t n_headers;
	size_t header_bytes;

	struct http_response resp;
};

struct http_client {
	struct event_base *base;
	CURLM *multi;
	struct event *timer_ev;		/* curl's one timer */
	X509_STORE *store;		/* system store plus ca_file */
	int64_t default_timeout_ms;
	struct hreq *reqs;
	size_t n_reqs;
	struct hsock *socks;
	int depth;			/* our event callbacks on the stack */
	int freeing;			/* http_client_free has started */
	int doomed;			/* free once depth drops to 0 */
};

/* The request whose callback is running, for http_response_header. */
static __thread struct hreq *delivering;	/* per thread: the mailer runs a client of its own */

static const char *const methods[] = { "GET", "POST", "PATCH", "DELETE", "PUT" };

/* --- pure helpers ---------------------------------------------------------- */

struct cursor {
	const char *p;
	const char *end;
};

static int
cur_char(struct cursor *c, char ch)
{
	if (c->p >= c->end || *c->p != ch)
		return -1;
	c->p++;
	return 0;
}

/* Exactly n digits. */
static int
cur_digits(struct cursor *c, int n, int *out)
{
	int i, v = 0;

	if (c->end - c->p < n)
		return -1;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)c->p[i]))
			return -1;
		v = v * 10 + (c->p[i] - '0');
	}
	c->p += n;
	*out = v;
	return 0;
}

/* A run of letters into buf; its length, or -1 when empty or too long. */
static int
cur_word(struct cursor *c, char *buf, size_t size)
{
	size_t n = 0;

	while (c->p < c->end && isalpha((unsigned char)*c->p)) {
		if (n + 1 >= size)
			return -1;
		buf[n++] = *c->p++;
	}
	buf[n] = '\0';
	return n > 0 ? (int)n : -1;
}

static int
month_index(const char *name)
{
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	int i;

	for (i = 0; i < 12; i++)
		if (strcasecmp(name, months[i]) == 0)
			return i;
	return -1;
}

/* 1 for a short day name ("Sun"), 2 for a long one ("Sunday"), else 0. */
static int
day_name_kind(const char *name)
{
	static const char *const days[] = { "Sunday", "Monday", "Tuesday", "Wednesday",
	    "Thursday", "Friday", "Saturday" };
	int i;

	for (i = 0; i < 7; i++) {
		if (strcasecmp(name, days[i]) == 0)
			return 2;
		if (strlen(name) == 3 && strncasecmp(name, days[i], 3) == 0)
			return 1;
	}
	return 0;
}

static int
cur_month(struct cursor *c, struct tm *tm)
{
	char word[8];

	if (cur_word(c, word, sizeof(word)) != 3)
		return -1;
	tm->tm_mon = month_index(word);
	return tm->tm_mon < 0 ? -1 : 0;
}

/* "HH:MM:SS" */
static int
cur_time(struct cursor *c, struct tm *tm)
{
	if (cur_digits(c, 2, &tm->tm_hour) == -1 || cur_char(c, ':') == -1 ||
	    cur_digits(c, 2, &tm->tm_min) == -1 || cur_char(c, ':') == -1 ||
	    cur_digits(c, 2, &tm->tm_sec) == -1)
		return -1;
	return 0;
}

/* " GMT" and the end. */
static int
cur_gmt(struct cursor *c)
{
	if (c->end - c->p != 4 || memcmp(c->p, " GMT", 4) != 0)
		return -1;
	c->p += 4;
	return 0;
}

/* IMF-fixdate after "Sun,": " 06 Nov 1994 08:49:37 GMT". */
static int
parse_imf(struct cursor *c, struct tm *tm)
{
	if (cur_char(c, ' ') == -1 || cur_digits(c, 2, &tm->tm_mday) == -1 ||
	    cur_char(c, ' ') == -1 || cur_month(c, tm) == -1 || cur_char(c, ' ') == -1 ||
	    cur_digits(c, 4, &tm->tm_year) == -1 || cur_char(c, ' ') == -1 ||
	    cur_time(c, tm) == -1 || cur_gmt(c) == -1)
		return -1;
	tm->tm_year -= 1900;
	return 0;
}

/*
 * RFC 850 after "Sunday,": " 06-Nov-94 08:49:37 GMT".  A two-digit year
 * more than 50 years ahead of now is in the previous century (RFC 9110).
 */
static int
parse_rfc850(struct cursor *c, struct tm *tm, time_t now)
{
	struct tm now_tm;
	int yy, year, this_year;

	if (cur_char(c, ' ') == -1 || cur_digits(c, 2, &tm->tm_mday) == -1 ||
	    cur_char(c, '-') == -1 || cur_month(c, tm) == -1 || cur_char(c, '-') == -1 ||
	    cur_digits(c, 2, &yy) == -1 || cur_char(c, ' ') == -1 ||
	    cur_time(c, tm) == -1 || cur_gmt(c) == -1)
		return -1;
	gmtime_r(&now, &now_tm);
	this_year = now_tm.tm_year + 1900;
	year = this_year - this_year % 100 + yy;
	if (year > this_year + 50)
		year -= 100;
	tm->tm_year = year - 1900;
	return 0;
}

/* asctime after "Sun": " Nov  6 08:49:37 1994" (the day may also be two digits). */
static int
parse_asctime(struct cursor *c, struct tm *tm)
{
	if (cur_char(c, ' ') == -1 || cur_month(c, tm) == -1 || cur_char(c, ' ') == -1)
		return -1;
	if (cur_char(c, ' ') == 0) {
		if (cur_digits(c, 1, &tm->tm_mday) == -1)
			return -1;
	} else if (cur_digits(c, 2, &tm->tm_mday) == -1) {
		return -1;
	}
	if (cur_char(c, ' ') == -1 || cur_time(c, tm) == -1 || cur_char(c, ' ') == -1 ||
	    cur_digits(c, 4, &tm->tm_year) == -1 || c->p != c->end)
		return -1;
	tm->tm_year -= 1900;
	return 0;
}

/* An HTTP-date in any of its three forms; 0 and *out, or -1. */
static int
parse_http_date(const char *s, const char *end, time_t now, time_t *out)
{
	struct cursor c = { s, end };
	struct tm tm, check;
	char word[16];
	int kind, rc = -1;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (cur_word(&c, word, sizeof(word)) == -1)
		return -1;
	kind = day_name_kind(word);
	if (kind == 1 && cur_char(&c, ',') == 0)
		rc = parse_imf(&c, &tm);
	else if (kind == 2 && cur_char(&c, ',') == 0)
		rc = parse_rfc850(&c, &tm, now);
	else if (kind == 1)
		rc = parse_asctime(&c, &tm);
	if (rc == -1 || tm.tm_mday < 1 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	check = tm;
	t = timegm(&tm);
	/* timegm normalises 31 Feb into March (in tm): a date that moved was not a date. */
	if (t == (time_t)-1 || tm.tm_mday != check.tm_mday || tm.tm_mon != check.tm_mon)
		return -1;
	*out = t;
	return 0;
}

/* delta-seconds, saturating at the cap; a leading '-' means "now". */
static int64_t
parse_delta(const char *p, const char *end)
{
	int negative = 0;
	int64_t v = 0;

	if (*p == '-') {
		negative = 1;
		p++;
	}
	if (p == end)
		return -1;
	for (; p < end; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		if (v <= RETRY_AFTER_MAX_S)
			v = v * 10 + (*p - '0');
	}
	if (negative)
		return 0;
	return (v > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : v) * 1000;
}

int64_t
http_parse_retry_after(const char *value, time_t now)
{
	const char *p, *end;
	time_t t;

	if (value == NULL)
		return -1;
	p = value;
	while (*p == ' ' || *p == '\t')
		p++;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (p == end)
		return -1;
	if (*p == '-' || isdigit((unsigned char)*p))
		return parse_delta(p, end);
	if (parse_http_date(p, end, now, &t) == -1)
		return -1;
	if (t <= now)
		return 0;
	if (t - now > RETRY_AFTER_MAX_S)
		return (int64_t)RETRY_AFTER_MAX_S * 1000;
	return (int64_t)(t - now) * 1000;
}

int64_t
http_backoff_ms(int attempt, int64_t retry_after_ms, double rnd)
{
	int64_t ceiling = BACKOFF_BASE_MS, wait;
	int i;

	for (i = 1; i < attempt && ceiling < BACKOFF_CAP_MS; i++)
		ceiling *= 2;
	if (ceiling > BACKOFF_CAP_MS)
		ceiling = BACKOFF_CAP_MS;
	/* Written so that NaN lands on 0 too. */
	if (!(rnd > 0))
		rnd = 0;
	if (rnd >= 1)
		rnd = 0.999999;
	/* Full jitter: uniform over [0, ceiling], both ends included. */
	wait = (int64_t)(rnd * (double)(ceiling + 1));
	if (wait > ceiling)
		wait = ceiling;
	return retry_after_ms > wait ? retry_after_ms : wait;
}

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

static CURLcode
ssl_ctx_cb(CURL *easy, void *ssl_ctx, void *arg)
{
	(void)easy;
	SSL_CTX_set1_cert_store(ssl_ctx, arg);
	return CURLE_OK;
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

static void
headers_clear(struct hreq *hr)
{
	size_t i;

	for (i = 0; i < hr->n_headers; i++) {
		free(hr->headers[i].name);
		free(hr->headers[i].value);
	}
	hr->n_headers = 0;
	hr->header_bytes = 0;
}

/* Empties the answer's body, keeping it NUL-terminated. */
static void
body_reset(struct hreq *hr)
{
	hr->rlen = 0;
	if (hr->rbody != NULL)
		hr->rbody[0] = '\0';
}

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
set_error(struct hreq *hr, char *error)
{
	free(hr->error);
	hr->error = error;
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
	headers_clear(hr);
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

/*
 * Answers can hold secrets (access tokens, a new client secret): the body
 * moves by copy-and-wipe rather than realloc, which could leave a copy behind.
 */
static void
body_grow(struct hreq *hr, size_t want)
{
	char *p = xmalloc(want);

	if (hr->rbody != NULL) {
		memcpy(p, hr->rbody, hr->rlen + 1);
		OPENSSL_cleanse(hr->rbody, hr->rcap);
		free(hr->rbody);
	}
	hr->rbody = p;
	hr->rcap = want;
}

static size_t
write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct hreq *hr = arg;
	size_t len = size * n, want;

	if (len > hr->max_response - hr->rlen) {
		hr->too_big = 1;
		return 0;	/* curl ends the transfer with CURLE_WRITE_ERROR */
	}
	if (hr->rlen + len + 1 > hr->rcap) {
		want = hr->rcap < 1024 ? 1024 : hr->rcap * 2;
		if (want < hr->rlen + len + 1)
			want = hr->rlen + len + 1;
		if (want > hr->max_response + 1)
			want = hr->max_response + 1;
		body_grow(hr, want);
	}
	memcpy(hr->rbody + hr->rlen, data, len);
	hr->rlen += len;
	hr->rbody[hr->rlen] = '\0';
	return len;
}

/* Keeps up to MAX_HEADERS headers of the last response; more are ignored. */
static size_t
header_cb(char *data, size_t size, size_t n, void *arg)
{
	struct hreq *hr = arg;
	size_t len = size * n, name_len;
	const char *colon, *v, *end = data + len;
	struct header *h;

	/* A new status line starts a new response (after a 100 Continue, say). */
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		headers_clear(hr);
		return len;
	}
	while (end > data && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' ||
	    end[-1] == '\t'))
		end--;
	colon = memchr(data, ':', (size_t)(end - data));
	if (colon == NULL || colon == data || hr->n_headers >= MAX_HEADERS ||
	    hr->header_bytes + len > MAX_HEADER_BYTES)
		return len;
	name_len = (size_t)(colon - data);
	for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	h = &hr->headers[hr->n_headers++];
	h->name = xstrndup(data, name_len);
	h->value = xstrndup(v, (size_t)(end - v));
	hr->header_bytes += len;
	return len;
}

/* Method-specific options; the body pointer stays valid until hr is freed. */
static char empty_body[] = "";

static int
set_method(struct hreq *hr, CURL *e)
{
	int bad = 0;

	if (strcmp(hr->method, "GET") == 0)
		bad |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK;
	else if (strcmp(hr->method, "POST") == 0)
		bad |= curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK;
	else
		bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, hr->method) != CURLE_OK;
	/*
	 * POST, PATCH and PUT always send a body, empty when there is none, so
	 * that curl never falls back to reading one from stdin.
	 */
	if (hr->body != NULL || strcmp(hr->method, "POST") == 0 ||
	    strcmp(hr->method, "PATCH") == 0 || strcmp(hr->method, "PUT") == 0) {
		bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)hr->body_len) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS,
		    hr->body != NULL ? (char *)hr->body : empty_body) != CURLE_OK;
	}
	return bad ? -1 : 0;
}

/* What every attempt needs: the URL, TLS with our store, the timeouts.  -1 when refused. */
static int
set_common(struct hreq *hr, CURL *e, int64_t timeout_ms)
{
	int64_t connect_ms = timeout_ms < CONNECT_TIMEOUT_MAX_MS ? timeout_ms :
	    CONNECT_TIMEOUT_MAX_MS;
	int bad = 0;

	bad |= curl_easy_setopt(e, CURLOPT_URL, hr->url) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, hr) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, hr->errbuf) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	/* curl loads no CA itself: ssl_ctx_cb installs our store (see store_load). */
	bad |= curl_easy_setopt(e, CURLOPT_CAINFO, (char *)NULL) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_CAPATH, (char *)NULL) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_CA_CACHE_TIMEOUT, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, hr->store) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms) != CURLE_OK;
	/*
	 * Cancelling a transfer whose name lookup is still running (only
	 * http_client_free does) detaches curl's resolver thread instead of
	 * joining it, which could block the loop for the resolver's timeout.
	 */
	bad |= curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L) != CURLE_OK;
	return bad ? -1 : 0;
}

/* An HTTPS request's options, its method and body included.  -1 when refused. */
static int
set_http(struct hreq *hr, CURL *e)
{
	int bad = 0;

	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, hr->nodes) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, hr) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, hr) != CURLE_OK;
	/* Refuses an announced Content-Length over the cap before reading any of it. */
	bad |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)hr->max_response) != CURLE_OK;
	return bad || set_method(hr, e) == -1 ? -1 : 0;
}

/* The message, read afresh by every attempt from the start (read_off). */
static size_t
read_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct hreq *hr = arg;
	size_t want = size * n, left = hr->body_len - hr->read_off;

	if (want > left)
		want = left;
	memcpy(buf, hr->body + hr->read_off, want);
	hr->read_off += want;
	return want;
}

/*
 * curl hands SMTP reply lines to the header callback: keep the last one
 * (its text says why a server refused, or the queue id), control characters
 * blanked.  curl closes every session with QUIT, also after a refusal; its
 * reply, 221, would hide the one that matters.
 */
static size_t
reply_cb(char *data, size_t size, size_t n, void *arg)
{
	struct hreq *hr = arg;
	size_t len = size * n, keep = len, i;

	if (len >= 4 && memcmp(data, "221", 3) == 0 && (data[3] == ' ' || data[3] == '-'))
		return len;
	while (keep > 0 && (data[keep - 1] == '\r' || data[keep - 1] == '\n'))
		keep--;
	if (keep > MAX_REPLY)
		keep = MAX_REPLY;
	if (hr->rcap < MAX_REPLY + 1)
		body_grow(hr, MAX_REPLY + 1);
	for (i = 0; i < keep; i++)
		hr->rbody[i] = iscntrl((unsigned char)data[i]) ? ' ' : data[i];
	hr->rbody[keep] = '\0';
	hr->rlen = keep;
	return len;
}

/* SMTP sends nothing to the write callback; should it ever, it goes nowhere (not stdout). */
static size_t
discard_cb(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

/* The envelope, the message and the credentials of a mail.  -1 when refused. */
static int
set_mail(struct hreq *hr, CURL *e, int64_t timeout_ms)
{
	int bad = 0;

	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps") != CURLE_OK;
	/* smtp:// must upgrade with STARTTLS; a server that does not offer it fails. */
	bad |= curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL) != CURLE_OK;
	if (hr->connect_only) {
		/* libcurl's SMTP connect phase is greeting, EHLO, STARTTLS and AUTH (smtp.c). */
		bad |= curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L) != CURLE_OK;
	} else {
		bad |= curl_easy_setopt(e, CURLOPT_MAIL_FROM, hr->mail_from) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_MAIL_RCPT, hr->rcpt) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_UPLOAD, 1L) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_READDATA, hr) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
		    (curl_off_t)hr->body_len) != CURLE_OK;
	}
	bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, reply_cb) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, hr) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_cb) != CURLE_OK;
	/*
	 * libcurl 7.88 ends every SMTP session it does not abandon with a QUIT
	 * and waits for the reply blocking the loop, bounded only by the server
	 * response timeout (120 s unless set).  So no connection cache (a cached
	 * connection would be closed, stale, at some later moment), and a
	 * response timeout a second over the attempt's: a server silent before
	 * the end of the message then meets the attempt timeout, which abandons
	 * the session without QUIT.  See http_client.h for what still blocks.
	 */
	bad |= curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT,
	    (long)((timeout_ms + 999) / 1000 + 1)) != CURLE_OK;
	if (hr->user != NULL) {
		bad |= curl_easy_setopt(e, CURLOPT_USERNAME, hr->user) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_PASSWORD,
		    (char *)hr->password->data) != CURLE_OK;
	}
	return bad ? -1 : 0;
}

/* Starts the next attempt: 0, or -1 (hr->error set) when libcurl refuses it. */
static int
attempt_start(struct hreq *hr)
{
	int64_t left = hr->budget_ms - (util_mono_us() - hr->start_us) / 1000;
	int64_t timeout_ms = hr->timeout_ms < left ? hr->timeout_ms : left;
	CURL *e;

	if (timeout_ms < 1)
		timeout_ms = 1;
	headers_clear(hr);
	body_reset(hr);
	hr->too_big = 0;
	hr->read_off = 0;
	hr->errbuf[0] = '\0';
	e = curl_easy_init();
	if (e == NULL || set_common(hr, e, timeout_ms) == -1 ||
	    (hr->mail ? set_mail(hr, e, timeout_ms) : set_http(hr, e)) == -1 ||
	    curl_multi_add_handle(hr->hc->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		set_error(hr, xstrdup("libcurl refused the request's settings"));
		return -1;
	}
	hr->easy = e;
	hr->attempts++;
	return 0;
}

static int
curl_retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:	/* a reset during the handshake, not a bad certificate */
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

/* The server's certificate or name did not verify: retrying changes nothing. */
static int
curl_untrusted(CURLcode rc)
{
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return 1;
	default:
		return 0;
	}
}

static char *
curl_error_text(const struct hreq *hr, CURLcode rc)
{
	const char *detail = hr->errbuf[0] != '\0' ? hr->errbuf : curl_easy_strerror(rc);

	if (curl_untrusted(rc))
		return xasprintf("TLS: the server's certificate was not trusted (%s)", detail);
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return xasprintf("resolve: %s", detail);
	case CURLE_COULDNT_CONNECT:
		return xasprintf("connect: %s", detail);
	case CURLE_OPERATION_TIMEDOUT:
		return xasprintf("timeout: %s", detail);
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_USE_SSL_FAILED:
		return xasprintf("TLS: %s", detail);
	case CURLE_LOGIN_DENIED:
		return xasprintf("auth: %s", detail);
	default:
		return xasprintf("transfer: %s", detail);
	}
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
	if (attempt_start(hr) == -1)
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
		set_error(hr, xasprintf("%s; gave up after %d attempts", hr->error, hr->attempts));
		finish(hr, HTTP_OUTCOME_RETRYABLE);
		return;
	}
	if (ra_text != NULL)
		ra = http_parse_retry_after(ra_text, time(NULL));
	wait = http_backoff_ms(hr->attempts, ra > 0 ? ra : 0, random_unit());
	if (wait >= left) {
		set_error(hr, xasprintf("%s; gave up after %d attempts: waiting %lld ms more "
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

/* The verdict on an HTTP answer that is not 2xx. */
static int
status_retryable(struct hreq *hr)
{
	enum http_verdict v = HTTP_VERDICT_DEFAULT;

	if (hr->classify != NULL)
		v = hr->classify(hr->status, hr->rbody != NULL ? hr->rbody : "", hr->rlen);
	if (v != HTTP_VERDICT_DEFAULT)
		return v == HTTP_VERDICT_RETRY;
	switch (hr->status) {
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		return 1;
	default:
		return 0;
	}
}

/* What one attempt's end means. */
enum attempt_result {
	ATTEMPT_OK,
	ATTEMPT_RETRY,
	ATTEMPT_PERMANENT,
};

/* The verdict on an HTTPS attempt; sets hr->error. */
static enum attempt_result
http_attempt_result(struct hreq *hr, CURLcode rc)
{
	if (hr->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		body_reset(hr);
		set_error(hr, xasprintf("response over %zu bytes", hr->max_response));
		return ATTEMPT_PERMANENT;
	}
	if (rc != CURLE_OK) {
		body_reset(hr);
		set_error(hr, curl_error_text(hr, rc));
		return curl_retryable(rc) ? ATTEMPT_RETRY : ATTEMPT_PERMANENT;
	}
	if (hr->status >= 200 && hr->status < 300) {
		set_error(hr, NULL);
		return ATTEMPT_OK;
	}
	set_error(hr, xasprintf("HTTP %ld", hr->status));
	return status_retryable(hr) ? ATTEMPT_RETRY : ATTEMPT_PERMANENT;
}

/*
 * The verdict on a mail attempt; sets hr->error.  curl ends a transfer with
 * an error on any unexpected reply, so the reply code decides first: 4xx is
 * transient, 5xx final (RFC 5321 section 4.2.1).
 */
static enum attempt_result
mail_attempt_result(struct hreq *hr, CURLcode rc)
{
	if (rc == CURLE_OK) {
		set_error(hr, NULL);
		return ATTEMPT_OK;
	}
	if (!curl_untrusted(rc) && hr->status >= 400 && hr->status < 600) {
		if (hr->rlen > 0 && strtol(hr->rbody, NULL, 10) == hr->status)
			set_error(hr, xasprintf("SMTP %s", hr->rbody));
		else
			set_error(hr, xasprintf("SMTP %ld: %s", hr->status, hr->errbuf[0] != '\0' ?
			    hr->errbuf : curl_easy_strerror(rc)));
		return hr->status < 500 ? ATTEMPT_RETRY : ATTEMPT_PERMANENT;
	}
	set_error(hr, curl_error_text(hr, rc));
	return curl_retryable(rc) ? ATTEMPT_RETRY : ATTEMPT_PERMANENT;
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
		result = mail_attempt_result(hr, rc);
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

/* --- building a request ---------------------------------------------------- */

static int
tchar(int c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Visible characters, spaces and tabs only: nothing that could end a header line. */
static int
field_ok(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

static int
header_line_ok(const char *line)
{
	const char *colon = strchr(line, ':'), *p;

	if (colon == NULL || colon == line)
		return 0;
	for (p = line; p < colon; p++)
		if (!tchar((unsigned char)*p))
			return 0;
	return field_ok(colon + 1, strlen(colon + 1));
}

static int
header_named(const char *line, const char *name)
{
	size_t n = strlen(name);

	return strncasecmp(line, name, n) == 0 && line[n] == ':';
}

/* Why a request with these settings cannot be sent, whatever its kind, or NULL. */
static const char *
common_problem(const struct http_client *hc, const char *req_id, int64_t timeout_ms,
    int64_t budget_ms, int max_attempts)
{
	if (hc->freeing)
		return "the client is shutting down";
	if (hc->n_reqs >= MAX_IN_FLIGHT)
		return "too many requests in flight";
	if (req_id != NULL && (*req_id == '\0' || strlen(req_id) > MAX_REQ_ID ||
	    !field_ok(req_id, strlen(req_id))))
		return "a request id that is empty, too long or has control characters";
	if (timeout_ms < 0 || budget_ms < 0 || max_attempts < 0)
		return "a negative timeout, budget or attempt count";
	return NULL;
}

/* 1 when url starts with scheme (case-insensitive) and has no control characters or spaces. */
static int
url_ok(const char *url, const char *scheme)
{
	return url != NULL && strncasecmp(url, scheme, strlen(scheme)) == 0 &&
	    field_ok(url, strlen(url)) && strpbrk(url, " \t") == NULL;
}

/* Why req cannot be sent, or NULL. */
static const char *
request_problem(const struct http_client *hc, const struct http_request *req)
{
	const char *problem;
	size_t i;

	problem = common_problem(hc, req->req_id, req->timeout_ms, req->budget_ms,
	    req->max_attempts);
	if (problem != NULL)
		return problem;
	if (req->method == NULL)
		return "no method";
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(req->method, methods[i]) == 0)
			break;
	if (i == sizeof(methods) / sizeof(methods[0]))
		return "unknown method";
	if (!url_ok(req->url, "https://"))
		return "the URL is not an https:// URL";
	if (req->body == NULL && req->body_len > 0)
		return "a body length without a body";
	if (req->body != NULL && strcmp(req->method, "GET") == 0)
		return "a GET with a body";
	if (req->content_type != NULL && !field_ok(req->content_type, strlen(req->content_type)))
		return "a control character in the content type";
	if (req->bearer != NULL && (req->bearer->len == 0 || !field_ok((const char *)
	    req->bearer->data, req->bearer->len) || memchr(req->bearer->data, '\0',
	    req->bearer->len) != NULL))
		return "an empty bearer token or one with control characters";
	for (i = 0; i < HTTP_MAX_EXTRA_HEADERS; i++)
		if (req->headers[i] != NULL && !header_line_ok(req->headers[i]))
			return "a header that is not a valid \"Name: value\" line";
	return NULL;
}

/*
 * A bare address curl can put between angle brackets: local@domain, both
 * parts non-empty, no brackets, spaces or control characters (CR and LF
 * would end the SMTP command).
 */
static int
address_ok(const char *a)
{
	const char *at;
	size_t len;

	if (a == NULL)
		return 0;
	len = strlen(a);
	at = strrchr(a, '@');
	return len > 0 && len <= MAX_ADDRESS && field_ok(a, len) &&
	    strpbrk(a, "<> \t") == NULL && at != NULL && at != a && at[1] != '\0';
}

/*
 * 1 when every line of the message ends in CRLF: a bare CR or LF (or a NUL)
 * is not RFC 5322, and a server that reads it as a line end could see an
 * end of data that curl's dot-stuffing did not escape (SMTP smuggling).
 */
static int
message_ok(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] == '\0')
			return 0;
		if (p[i] == '\r' && (i + 1 == len || p[i + 1] != '\n'))
			return 0;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return 0;
	}
	return 1;
}

static const char *
credentials_problem(const char *user, const struct secret *password)
{
	if (user == NULL && password == NULL)
		return NULL;
	if (user == NULL || password == NULL)
		return "a user without a password or a password without a user";
	if (*user == '\0' || strlen(user) > MAX_USER || !field_ok(user, strlen(user)))
		return "an empty or too long user, or one with control characters";
	if (password->len == 0 || memchr(password->data, '\0', password->len) != NULL)
		return "an empty password or one with a NUL byte";
	return NULL;
}

/* Why m cannot be sent, or NULL. */
static const char *
mail_problem(const struct http_client *hc, const struct http_mail *m)
{
	const char *problem;
	size_t i;

	problem = common_problem(hc, m->req_id, m->timeout_ms, m->budget_ms, m->max_attempts);
	if (problem != NULL)
		return problem;
	if ((!url_ok(m->url, "smtp://") && !url_ok(m->url, "smtps://")) ||
	    strchr(m->url, '@') != NULL)
		return "the URL is not an smtp:// or smtps:// URL without credentials";
	if (m->connect_only)
		return credentials_problem(m->user, m->password);
	if (!address_ok(m->from))
		return "an empty or malformed sender address";
	if (m->rcpt == NULL || m->n_rcpt == 0 || m->n_rcpt > HTTP_MAIL_MAX_RCPT)
		return "no recipients, or too many";
	for (i = 0; i < m->n_rcpt; i++)
		if (!address_ok(m->rcpt[i]))
			return "an empty or malformed recipient address";
	problem = credentials_problem(m->user, m->password);
	if (problem != NULL)
		return problem;
	if (m->message == NULL || m->message_len == 0 || m->message_len > MAX_MAIL_BYTES)
		return "an empty message or one over 10 MiB";
	if (!message_ok(m->message, m->message_len))
		return "a message with a NUL byte or a line not ending in CRLF";
	return NULL;
}

/* A random UUID (version 4): Graph wants a GUID in client-request-id. */
static char *
new_req_id(void)
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		fatal("the random number generator failed");
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	return xasprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	    b[13], b[14], b[15]);
}

/* The service as a metrics label: a short lower-case word, or "other". */
static char *
service_label(const char *service)
{
	const char *p;

	if (service == NULL || *service == '\0' || strlen(service) > 32)
		return xstrdup("other");
	for (p = service; *p != '\0'; p++)
		if (!islower((unsigned char)*p) && *p != '_' && !isdigit((unsigned char)*p))
			return xstrdup("other");
	return xstrdup(service);
}

static char *
make_log_url(const char *url, int host_only)
{
	char *shown = util_url_shown(url, host_only);

	if (strlen(shown) > LOG_URL_MAX)
		shown[LOG_URL_MAX] = '\0';
	return shown;
}

/* "Authorization: Bearer <token>" built straight into wiped memory. */
static struct secret *
make_auth_line(const struct secret *bearer)
{
	static const char prefix[] = "Authorization: Bearer ";
	size_t plen = sizeof(prefix) - 1;
	struct secret *s = xcalloc(1, sizeof(*s));

	s->len = plen + bearer->len;
	s->data = xmalloc(s->len + 1);
	memcpy(s->data, prefix, plen);
	memcpy(s->data + plen, bearer->data, bearer->len);
	s->data[s->len] = '\0';
	return s;
}

static void
add_line(struct hreq *hr, char *line)
{
	hr->lines[hr->n_lines++] = line;
}

/* The header list curl reads; its nodes and strings live in hr. */
static void
build_headers(struct hreq *hr, const struct http_request *req)
{
	char *data[MAX_HEADER_LINES];
	size_t i, n = 0;
	int own_id = 1;

	for (i = 0; i < HTTP_MAX_EXTRA_HEADERS; i++) {
		if (req->headers[i] == NULL)
			continue;
		add_line(hr, xstrdup(req->headers[i]));
		if (header_named(req->headers[i], "client-request-id"))
			own_id = 0;
	}
	if (own_id)
		add_line(hr, xasprintf("client-request-id: %s", hr->req_id));
	/* An empty value removes curl's default form content type. */
	add_line(hr, xasprintf("Content-Type:%s%s", req->content_type != NULL ? " " : "",
	    req->content_type != NULL ? req->content_type : ""));
	/* No "Expect: 100-continue" round trip before larger bodies. */
	add_line(hr, xstrdup("Expect:"));
	if (hr->auth_line != NULL)
		data[n++] = (char *)hr->auth_line->data;
	for (i = 0; i < hr->n_lines; i++)
		data[n++] = hr->lines[i];
	for (i = 0; i < n; i++) {
		hr->nodes[i].data = data[i];
		hr->nodes[i].next = i + 1 < n ? &hr->nodes[i + 1] : NULL;
	}
}

/* The parts every request has; the caller fills in the rest. */
static struct hreq *
hreq_alloc(struct http_client *hc, const char *method, const char *url, int host_only,
    http_done_cb cb, void *arg)
{
	struct hreq *hr = xcalloc(1, sizeof(*hr));

	hr->hc = hc;
	hr->cb = cb;
	hr->cb_arg = arg;
	hr->method = xstrdup(method);
	hr->url = xstrdup(url);
	hr->log_url = make_log_url(url, host_only);
	X509_STORE_up_ref(hc->store);
	hr->store = hc->store;
	hr->start_us = util_mono_us();
	return hr;
}

static void
hreq_set_context(struct hreq *hr, const char *service, const char *req_id, const char *app)
{
	hr->service = service_label(service);
	hr->app = app != NULL ? xstrdup(app) : NULL;
	hr->req_id = req_id != NULL ? xstrdup(req_id) : new_req_id();
}

static void
hreq_set_limits(struct hreq *hr, int64_t timeout_ms, int64_t budget_ms, int max_attempts)
{
	hr->timeout_ms = timeout_ms > 0 ? timeout_ms : hr->hc->default_timeout_ms;
	hr->budget_ms = budget_ms > 0 ? budget_ms : BUDGET_TIMEOUTS * hr->timeout_ms;
	hr->max_attempts = max_attempts > 0 ? max_attempts : DEFAULT_MAX_ATTEMPTS;
	if (hr->max_attempts > MAX_ATTEMPTS_CAP)
		hr->max_attempts = MAX_ATTEMPTS_CAP;
}

/* A copy of len bytes (wiped on free), NUL-terminated. */
static void
hreq_set_body(struct hreq *hr, const void *body, size_t len)
{
	hr->body = xmalloc(len + 1);
	memcpy(hr->body, body, len);
	hr->body[len] = '\0';
	hr->body_len = len;
}

static struct hreq *
hreq_new(struct http_client *hc, const struct http_request *req, http_done_cb cb, void *arg)
{
	struct hreq *hr = hreq_alloc(hc, req->method, req->url, req->url_is_secret, cb, arg);

	hreq_set_context(hr, req->service, req->req_id, req->app);
	hreq_set_limits(hr, req->timeout_ms, req->budget_ms, req->max_attempts);
	if (req->body != NULL)
		hreq_set_body(hr, req->body, req->body_len);
	if (req->bearer != NULL)
		hr->auth_line = make_auth_line(req->bearer);
	build_headers(hr, req);
	hr->max_response = req->max_response > 0 ? req->max_response : DEFAULT_MAX_RESPONSE;
	if (hr->max_response > MAX_RESPONSE_CAP)
		hr->max_response = MAX_RESPONSE_CAP;
	hr->classify = req->classify;
	return hr;
}

static struct hreq *
hreq_new_mail(struct http_client *hc, const struct http_mail *m, http_done_cb cb, void *arg)
{
	/* A mail server is a notification channel: its host is all a log needs. */
	struct hreq *hr = hreq_alloc(hc, "MAIL", m->url, 1, cb, arg);
	size_t i;

	hr->mail = 1;
	hr->connect_only = m->connect_only != 0;
	hreq_set_context(hr, m->service, m->req_id, m->app);
	hreq_set_limits(hr, m->timeout_ms, m->budget_ms, m->max_attempts);
	if (hr->connect_only)
		hreq_set_body(hr, "", 0);
	else
		hreq_set_body(hr, m->message, m->message_len);
	hr->mail_from = xstrdup(hr->connect_only ? "" : m->from);
	for (i = 0; !hr->connect_only && i < m->n_rcpt; i++) {
		struct curl_slist *l = curl_slist_append(hr->rcpt, m->rcpt[i]);

		if (l == NULL)
			fatal("out of memory building the recipient list");
		hr->rcpt = l;
	}
	if (m->user != NULL) {
		hr->user = xstrdup(m->user);
		hr->password = secret_new(m->password->data, m->password->len);
	}
	return hr;
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
		set_error(hr, xstrdup("cancelled: the HTTP client was shut down"));
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

/* Says once, with the caller's context, why a request ("request", "mail") was not sent. */
static void
log_refused(const char *req_id, const char *app, const char *service, const char *what,
    const char *problem)
{
	log_ctx(LOG_LEVEL_ERROR, req_id != NULL && field_ok(req_id, strlen(req_id)) ? req_id :
	    NULL, app, "outbound %s %s not sent: %s", service, what, problem);
}

/* Starts hr's first attempt and tracks it: 0, or -1 (logged, hr freed). */
static int
hreq_launch(struct hreq *hr)
{
	struct http_client *hc = hr->hc;

	if (attempt_start(hr) == -1) {
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

int
http_client_send(struct http_client *hc, const struct http_request *req,
    http_done_cb cb, void *arg)
{
	const char *problem;

	if (hc == NULL || req == NULL || cb == NULL) {
		log_error("http_client_send: no client, request or callback");
		return -1;
	}
	problem = request_problem(hc, req);
	if (problem != NULL) {
		log_refused(req->req_id, req->app, req->service != NULL ? req->service : "HTTP",
		    "request", problem);
		return -1;
	}
	return hreq_launch(hreq_new(hc, req, cb, arg));
}

int
http_client_send_mail(struct http_client *hc, const struct http_mail *m,
    http_done_cb cb, void *arg)
{
	const char *problem;

	if (hc == NULL || m == NULL || cb == NULL) {
		log_error("http_client_send_mail: no client, mail or callback");
		return -1;
	}
	problem = mail_problem(hc, m);
	if (problem != NULL) {
		log_refused(m->req_id, m->app, m->service != NULL ? m->service : "SMTP", "mail",
		    problem);
		return -1;
	}
	return hreq_launch(hreq_new_mail(hc, m, cb, arg));
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
