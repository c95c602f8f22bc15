/*
 * Unit tests: http_client.  First the pure helpers (Retry-After in all its
 * forms, the backoff schedule), then real HTTPS on the loopback: two tiny
 * evhttp + bufferevent_openssl servers on the test's own event loop, one
 * with a certificate signed by a CA made at test time (certs/make-certs.sh)
 * and one self-signed, scripted per path: answers, 429 with Retry-After,
 * 503 until the budget runs out, permanent 400, classify, oversized
 * answers, a hanging endpoint, an untrusted certificate, cancellation, and
 * 100 requests held at once while a timer keeps ticking.  For mail, the
 * input checks and what needs no SMTP server (tests/integration/test_smtp.py
 * has the real conversations).
 */
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "outbound/http_client.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <openssl/ssl.h>

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_HELD 128
#define MAX_PATHS 32
#define N_CONCURRENT 100

/* --- Retry-After -------------------------------------------------------- */

/* Sun, 06 Nov 1994 08:49:37 GMT, the RFCs' example date. */
#define EXAMPLE_T 784111777
/* 2026-01-01T00:00:00Z */
#define T_2026 1767225600

struct ra_case {
	const char *value;
	time_t now;
	int64_t want;
};

static const struct ra_case ra_cases[] = {
	{ "0", 0, 0 },
	{ "1", 0, 1000 },
	{ "120", 0, 120000 },
	{ "  5 ", 0, 5000 },
	{ "\t7\t", 0, 7000 },
	{ "007", 0, 7000 },
	{ "86400", 0, 86400000 },
	{ "86401", 0, 86400000 },
	{ "4294967296", 0, 86400000 },
	{ "99999999999999999999999999999999", 0, 86400000 },
	{ "-5", 0, 0 },
	{ "-0", 0, 0 },
	{ "", 0, -1 },
	{ "   ", 0, -1 },
	{ "-", 0, -1 },
	{ "+5", 0, -1 },
	{ "5s", 0, -1 },
	{ "1.5", 0, -1 },
	{ "5 5", 0, -1 },
	{ "0x10", 0, -1 },
	{ "soon", 0, -1 },
	/* The three date forms, one minute ahead of now. */
	{ "Sun, 06 Nov 1994 08:49:37 GMT", EXAMPLE_T - 60, 60000 },
	{ "Sunday, 06-Nov-94 08:49:37 GMT", EXAMPLE_T - 60, 60000 },
	{ "Sun Nov  6 08:49:37 1994", EXAMPLE_T - 60, 60000 },
	{ "Sun Nov 06 08:49:37 1994", EXAMPLE_T - 60, 60000 },
	{ "  Sun, 06 Nov 1994 08:49:37 GMT\t", EXAMPLE_T - 60, 60000 },
	{ "sun, 06 nov 1994 08:49:37 GMT", EXAMPLE_T - 60, 60000 },
	/* Exactly now, and in the past. */
	{ "Sun, 06 Nov 1994 08:49:37 GMT", EXAMPLE_T, 0 },
	{ "Sat, 05 Nov 1994 08:49:37 GMT", EXAMPLE_T, 0 },
	{ "Thu, 01 Jan 1970 00:00:00 GMT", EXAMPLE_T, 0 },
	{ "Sunday, 06-Nov-94 08:49:37 GMT", T_2026, 0 },
	{ "Sun Nov  6 08:49:37 1994", T_2026, 0 },
	/* Far ahead: capped at a day. */
	{ "Fri, 31 Dec 9999 23:59:59 GMT", T_2026, 86400000 },
	/* A two-digit year within 50 years ahead is in this century. */
	{ "Tuesday, 01-Jan-30 00:00:00 GMT", T_2026, 86400000 },
	{ "Thursday, 01-Jan-26 00:00:10 GMT", T_2026, 10000 },
	/* Leap day and its impostor. */
	{ "Thu, 29 Feb 2024 00:00:00 GMT", 1709164800 - 2, 2000 },
	{ "Thu, 29 Feb 2023 00:00:00 GMT", 0, -1 },
	{ "Sun, 31 Apr 1994 08:49:37 GMT", 0, -1 },
	/* Broken dates. */
	{ "Sun, 06 Nov 1994 08:49:37 UTC", 0, -1 },
	{ "Sun, 06 Nov 1994 08:49:37", 0, -1 },
	{ "Sun, 06 Nov 1994 08:49:37 GMT x", 0, -1 },
	{ "Sun, 6 Nov 1994 08:49:37 GMT", 0, -1 },
	{ "Sun, 06 Foo 1994 08:49:37 GMT", 0, -1 },
	{ "Sun, 06 Nov 94 08:49:37 GMT", 0, -1 },
	{ "Sun, 06 Nov 1994 24:00:00 GMT", 0, -1 },
	{ "Sun, 06 Nov 1994 08:60:00 GMT", 0, -1 },
	{ "Sun, 00 Nov 1994 08:49:37 GMT", 0, -1 },
	{ "Sun 06 Nov 1994 08:49:37 GMT", 0, -1 },
	{ "Sunday, 06 Nov 1994 08:49:37 GMT", 0, -1 },
	{ "Sun, 06-Nov-94 08:49:37 GMT", 0, -1 },
	{ "Someday, 06-Nov-94 08:49:37 GMT", 0, -1 },
	{ "Sun Nov  6 08:49:37 1994 GMT", 0, -1 },
	{ "Sun Nov 6 08:49:37 1994", 0, -1 },
	{ "Sun, 06 Nov 1994 08:49 GMT", 0, -1 },
	{ "1994-11-06T08:49:37Z", 0, -1 },
};

static void
test_retry_after(void)
{
	size_t i;

	for (i = 0; i < LEN(ra_cases); i++) {
		const struct ra_case *c = &ra_cases[i];
		int64_t got = http_parse_retry_after(c->value, c->now);

		TAP_OK(got == c->want, "Retry-After \"%s\" -> %lld (got %lld)", c->value,
		    (long long)c->want, (long long)got);
	}
	TAP_OK(http_parse_retry_after(NULL, 0) == -1, "Retry-After NULL -> -1");
}

/* --- backoff ------------------------------------------------------------ */

struct backoff_case {
	int attempt;
	int64_t retry_after_ms;
	double rnd;
	int64_t min, max;
};

static const struct backoff_case backoff_cases[] = {
	{ 1, 0, 0.0, 0, 0 },
	{ 1, 0, 0.5, 240, 260 },
	{ 1, 0, 0.999, 495, 500 },
	{ 2, 0, 0.0, 0, 0 },
	{ 2, 0, 0.999, 990, 1000 },
	{ 3, 0, 0.999, 1980, 2000 },
	{ 4, 0, 0.999, 3960, 4000 },
	{ 5, 0, 0.999, 7920, 8000 },
	{ 6, 0, 0.999, 15840, 16000 },
	{ 7, 0, 0.999, 29700, 30000 },	/* 32 s capped at 30 s */
	{ 7, 0, 0.0, 0, 0 },
	{ 20, 0, 0.999, 29700, 30000 },
	{ 1000000, 0, 0.999, 29700, 30000 },
	{ 0, 0, 0.999, 495, 500 },	/* below 1 counts as the first retry */
	{ -3, 0, 0.999, 495, 500 },
	{ 1, 0, 1.0, 0, 500 },		/* out of range rnd stays in bounds */
	{ 1, 0, 7.5, 0, 500 },
	{ 3, 0, -1.0, 0, 0 },
	{ 1, 1000, 0.999, 1000, 1000 },	/* Retry-After dominates */
	{ 1, 3000, 0.0, 3000, 3000 },
	{ 7, 45000, 0.5, 45000, 45000 },
	{ 3, 100, 0.999, 1980, 2000 },	/* the backoff dominates a short Retry-After */
	{ 2, -1, 0.0, 0, 0 },		/* "none" */
};

static void
test_backoff(void)
{
	size_t i;

	for (i = 0; i < LEN(backoff_cases); i++) {
		const struct backoff_case *c = &backoff_cases[i];
		int64_t got = http_backoff_ms(c->attempt, c->retry_after_ms, c->rnd);

		TAP_OK(got >= c->min && got <= c->max,
		    "backoff attempt %d, Retry-After %lld ms, rnd %g -> [%lld, %lld] (got %lld)",
		    c->attempt, (long long)c->retry_after_ms, c->rnd, (long long)c->min,
		    (long long)c->max, (long long)got);
	}
}

/* --- the fake server ---------------------------------------------------- */

struct hit {
	char path[32];
	int n;
	int64_t first_us, last_us;
};

struct srv {
	struct evhttp *http;
	SSL_CTX *ctx;
	int port;
	int conns;			/* TCP connections accepted */
	int requests;			/* HTTP requests that reached the handler */
	struct hit hits[MAX_PATHS];
	int n_hits;
	struct evhttp_request *held[MAX_HELD];
	int n_held;
	int held_total;
	/* What the last /echo request carried. */
	char method[16];
	char auth[128];
	char user_agent[64];
	char crid[128];
	int n_crid;
	char extra[64];
	char content_type[64];
	int has_expect;
	char body[4096];
	size_t body_len;
};

static struct event_base *base;

static struct hit *
hit_for(struct srv *s, const char *path)
{
	int i;

	for (i = 0; i < s->n_hits; i++)
		if (strcmp(s->hits[i].path, path) == 0)
			return &s->hits[i];
	if (s->n_hits == MAX_PATHS)
		abort();
	util_strlcpy(s->hits[s->n_hits].path, path, sizeof(s->hits[0].path));
	return &s->hits[s->n_hits++];
}

static int
hits(struct srv *s, const char *path)
{
	return hit_for(s, path)->n;
}

static void
reply(struct evhttp_request *req, int code, const char *body, const char *hname,
    const char *hvalue)
{
	struct evbuffer *buf = evbuffer_new();

	if (hname != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req), hname, hvalue);
	evbuffer_add(buf, body, strlen(body));
	evhttp_send_reply(req, code, code < 300 ? "OK" : "Not OK", buf);
	evbuffer_free(buf);
}

static void
hold(struct srv *s, struct evhttp_request *req)
{
	if (s->n_held == MAX_HELD)
		abort();
	s->held[s->n_held++] = req;
	s->held_total++;
}

/*
 * Answers every held request.  One whose client has gone was detached by
 * evhttp and is freed by the reply; that is also how the teardown frees them.
 */
static void
release_all(struct srv *s)
{
	int i;

	for (i = 0; i < s->n_held; i++)
		reply(s->held[i], 200, "released", NULL, NULL);
	s->n_held = 0;
}

static const char *
command_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PATCH: return "PATCH";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	default: return "OTHER";
	}
}

static void
record_echo(struct srv *s, struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	struct evkeyval *kv;

	util_strlcpy(s->method, command_name(evhttp_request_get_command(req)), sizeof(s->method));
	s->auth[0] = s->user_agent[0] = s->crid[0] = s->extra[0] = s->content_type[0] = '\0';
	s->n_crid = 0;
	s->has_expect = 0;
	TAILQ_FOREACH(kv, in, next) {
		if (strcasecmp(kv->key, "Authorization") == 0)
			util_strlcpy(s->auth, kv->value, sizeof(s->auth));
		else if (strcasecmp(kv->key, "User-Agent") == 0)
			util_strlcpy(s->user_agent, kv->value, sizeof(s->user_agent));
		else if (strcasecmp(kv->key, "X-Extra") == 0)
			util_strlcpy(s->extra, kv->value, sizeof(s->extra));
		else if (strcasecmp(kv->key, "Content-Type") == 0)
			util_strlcpy(s->content_type, kv->value, sizeof(s->content_type));
		else if (strcasecmp(kv->key, "Expect") == 0)
			s->has_expect = 1;
		else if (strcasecmp(kv->key, "client-request-id") == 0) {
			util_strlcpy(s->crid, kv->value, sizeof(s->crid));
			s->n_crid++;
		}
	}
	s->body_len = evbuffer_get_length(body);
	if (s->body_len >= sizeof(s->body))
		s->body_len = sizeof(s->body) - 1;
	evbuffer_copyout(body, s->body, s->body_len);
	s->body[s->body_len] = '\0';
}

static void
reply_big(struct evhttp_request *req, int chunked)
{
	struct evbuffer *buf = evbuffer_new();
	char block[1024];
	int i;

	memset(block, 'b', sizeof(block));
	if (!chunked) {
		for (i = 0; i < 4; i++)
			evbuffer_add(buf, block, sizeof(block));
		evhttp_send_reply(req, 200, "OK", buf);
	} else {
		evhttp_send_reply_start(req, 200, "OK");
		for (i = 0; i < 4; i++) {
			evbuffer_add(buf, block, sizeof(block));
			evhttp_send_reply_chunk(req, buf);
		}
		evhttp_send_reply_end(req);
	}
	evbuffer_free(buf);
}

/* The scripted answers, by path; n is this path's hit count including this one. */
static void
srv_cb(struct evhttp_request *req, void *arg)
{
	struct srv *s = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct hit *h;
	int64_t now = util_mono_us();

	if (path == NULL)
		path = "/";
	h = hit_for(s, path);
	h->n++;
	if (h->n == 1)
		h->first_us = now;
	h->last_us = now;
	s->requests++;
	if (strcmp(path, "/ok") == 0) {
		reply(req, 200, "hello", "x-request-id", "srv-ok");
	} else if (strcmp(path, "/echo") == 0) {
		record_echo(s, req);
		evhttp_add_header(evhttp_request_get_output_headers(req), "X-Custom", "v1");
		reply(req, 200, "echoed", "request-id", "srv-echo");
	} else if (strcmp(path, "/throttle") == 0) {
		if (h->n == 1)
			reply(req, 429, "slow down", "Retry-After", "1");
		else
			reply(req, 200, "ok now", NULL, NULL);
	} else if (strcmp(path, "/unavailable") == 0) {
		reply(req, 503, "down", NULL, NULL);
	} else if (strcmp(path, "/unavailable-long") == 0) {
		reply(req, 503, "down for a while", "Retry-After", "30");
	} else if (strcmp(path, "/bad") == 0) {
		reply(req, 400, "{\"error\":\"bad\"}", NULL, NULL);
	} else if (strcmp(path, "/concurrent") == 0) {
		if (h->n == 1)
			reply(req, 400, "concurrent update, retry", NULL, NULL);
		else
			reply(req, 200, "updated", NULL, NULL);
	} else if (strcmp(path, "/classified-503") == 0) {
		reply(req, 503, "permanent outage", NULL, NULL);
	} else if (strcmp(path, "/big") == 0) {
		reply_big(req, 0);
	} else if (strcmp(path, "/bigchunked") == 0) {
		reply_big(req, 1);
	} else if (strcmp(path, "/hang-once") == 0) {
		if (h->n == 1)
			hold(s, req);
		else
			reply(req, 200, "awake", NULL, NULL);
	} else if (strcmp(path, "/hold") == 0) {
		hold(s, req);
	} else {
		reply(req, 404, "no such path", NULL, NULL);
	}
}

static struct bufferevent *
srv_bevcb(struct event_base *b, void *arg)
{
	struct srv *s = arg;
	SSL *ssl = SSL_new(s->ctx);

	s->conns++;
	return bufferevent_openssl_socket_new(b, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
}

static int
srv_start(struct srv *s, const char *dir, const char *name)
{
	struct evhttp_bound_socket *bound;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char crt[512], key[512];

	memset(s, 0, sizeof(*s));
	snprintf(crt, sizeof(crt), "%s/%s.crt", dir, name);
	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	s->ctx = SSL_CTX_new(TLS_server_method());
	if (s->ctx == NULL || SSL_CTX_use_certificate_chain_file(s->ctx, crt) != 1 ||
	    SSL_CTX_use_PrivateKey_file(s->ctx, key, SSL_FILETYPE_PEM) != 1)
		return -1;
	s->http = evhttp_new(base);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_PATCH | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_bevcb(s->http, srv_bevcb, s);
	evhttp_set_gencb(s->http, srv_cb, s);
	bound = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
	if (bound == NULL ||
	    getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &len) == -1)
		return -1;
	s->port = ntohs(sin.sin_port);
	return 0;
}

static void
srv_stop(struct srv *s)
{
	release_all(s);
	if (s->http != NULL)
		evhttp_free(s->http);
	SSL_CTX_free(s->ctx);
}

/* --- the client side ---------------------------------------------------- */

struct result {
	int done;
	enum http_outcome outcome;
	long status;
	char body[256];
	size_t body_len;
	char error[512];
	int attempts;
	int64_t elapsed_ms;
	char srid[64];
	char custom[64];
	char req_id[64];
	int header_after;		/* http_response_header on a response not ours */
	/* Done from inside the callback. */
	struct http_client *free_hc;
	struct http_client *send_hc;
	const char *send_url;
	struct result *send_res;
};

static void
copy_str(char *dst, size_t size, const char *src)
{
	util_strlcpy(dst, src != NULL ? src : "", size);
}

static void send_get(struct http_client *hc, const char *url, struct result *r);

/* Callbacks run so far, all requests together. */
static int total_done;

static void
done_cb(const struct http_response *resp, void *arg)
{
	struct result *r = arg;
	struct http_response fake;

	total_done++;
	r->done++;
	r->outcome = resp->outcome;
	r->status = resp->status;
	r->body_len = resp->body_len;
	copy_str(r->body, sizeof(r->body), resp->body);
	copy_str(r->error, sizeof(r->error), resp->error);
	r->attempts = resp->attempts;
	r->elapsed_ms = resp->elapsed_ms;
	copy_str(r->srid, sizeof(r->srid), resp->service_request_id);
	copy_str(r->custom, sizeof(r->custom), http_response_header(resp, "x-CUSTOM"));
	copy_str(r->req_id, sizeof(r->req_id), resp->req_id);
	memset(&fake, 0, sizeof(fake));
	r->header_after = http_response_header(&fake, "x-custom") != NULL;
	if (r->send_hc != NULL)
		send_get(r->send_hc, r->send_url, r->send_res);
	if (r->free_hc != NULL)
		http_client_free(r->free_hc);
}

static struct http_request
get_req(const char *url)
{
	struct http_request req;

	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	req.service = "graph";
	req.app = "prod";
	return req;
}

static void
send_get(struct http_client *hc, const char *url, struct result *r)
{
	struct http_request req = get_req(url);

	if (http_client_send(hc, &req, done_cb, r) == -1)
		r->done = -1;
}

static int deadline_hit;

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	deadline_hit = 1;
}

/* Runs the loop until *v >= want or ms have passed; whether *v got there. */
static int
run_until(const int *v, int want, int ms)
{
	struct event *ev = evtimer_new(base, deadline_cb, NULL);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	deadline_hit = 0;
	evtimer_add(ev, &tv);
	while (*v < want && !deadline_hit)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ev);
	return *v >= want;
}

static void
run_for(int ms)
{
	int never = 0;

	run_until(&never, 1, ms);
}

static char urlbuf[8][128];
static int urlnext;

static const char *
url(const struct srv *s, const char *path)
{
	char *u = urlbuf[urlnext++ % LEN(urlbuf)];

	snprintf(u, sizeof(urlbuf[0]), "https://127.0.0.1:%d%s", s->port, path);
	return u;
}

/* Waits for the answer to a send that returned rc (-1: marks r refused). */
static void
await_answer(struct result *r, int rc)
{
	if (rc == -1)
		r->done = -1;
	else
		run_until(&r->done, 1, 8000);
}

/* Sends req and waits for its answer. */
static void
fetch(struct http_client *hc, struct http_request *req, struct result *r)
{
	memset(r, 0, sizeof(*r));
	await_answer(r, http_client_send(hc, req, done_cb, r));
}

/* --- network tests ------------------------------------------------------ */

static void
test_answer_and_headers(struct http_client *hc, struct srv *s)
{
	struct secret *tok = secret_new("tok-123", 7);
	struct http_request req = get_req(url(s, "/echo"));
	static const char *const others[] = { "DELETE", "PUT" };
	char body[2048];
	struct result r;
	size_t i;

	/* Over 1 KiB, where older libcurl sent Expect: 100-continue (7.88 waits for 1 MiB). */
	memset(body, 'a', sizeof(body) - 1);
	memcpy(body, "{\"x\":\"", 6);
	memcpy(body + sizeof(body) - 3, "\"}", 3);
	req.method = "PATCH";
	req.content_type = "application/json";
	req.body = body;
	req.body_len = strlen(body);
	req.bearer = tok;
	req.headers[0] = "X-Extra: yes";
	req.req_id = "req-echo-1";
	fetch(hc, &req, &r);
	secret_free(tok);
	TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_OK && r.status == 200,
	    "echo: one answer, OK, 200 (done %d, outcome %d, status %ld, %s)", r.done,
	    r.outcome, r.status, r.error);
	TAP_STR_EQ(r.body, "echoed", "echo: the body arrives");
	TAP_OK(r.body_len == 6 && r.attempts == 1, "echo: body length and one attempt");
	TAP_STR_EQ(r.srid, "srv-echo", "echo: request-id is the service request id");
	TAP_STR_EQ(r.custom, "v1", "echo: http_response_header is case-insensitive");
	TAP_OK(!r.header_after, "echo: http_response_header of another response is NULL");
	TAP_STR_EQ(r.req_id, "req-echo-1", "echo: our request id comes back");
	TAP_STR_EQ(s->method, "PATCH", "server saw PATCH");
	TAP_STR_EQ(s->auth, "Bearer tok-123", "server saw the bearer token");
	TAP_STR_EQ(s->user_agent, "rekey/0.1", "server saw User-Agent rekey/0.1");
	TAP_OK(s->n_crid == 1, "server saw one client-request-id");
	TAP_STR_EQ(s->crid, "req-echo-1", "client-request-id is our request id");
	TAP_STR_EQ(s->extra, "yes", "server saw the extra header");
	TAP_STR_EQ(s->content_type, "application/json", "server saw the content type");
	TAP_OK(!s->has_expect, "no Expect: 100-continue");
	TAP_STR_EQ(s->body, body, "server saw the body");

	/* The caller's client-request-id replaces ours; a fresh id is a UUID. */
	req = get_req(url(s, "/echo"));
	req.method = "POST";
	req.headers[0] = "client-request-id: mine";
	fetch(hc, &req, &r);
	TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_OK, "echo 2: OK");
	TAP_OK(s->n_crid == 1, "echo 2: still one client-request-id");
	TAP_STR_EQ(s->crid, "mine", "echo 2: the caller's client-request-id");
	TAP_OK(strlen(r.req_id) == 36 && r.req_id[14] == '4',
	    "echo 2: a fresh request id is a UUID v4 (%s)", r.req_id);
	TAP_STR_EQ(s->method, "POST", "echo 2: POST without a body");
	TAP_OK(s->body_len == 0 && s->content_type[0] == '\0',
	    "echo 2: empty body, no default form content type (\"%s\")", s->content_type);

	for (i = 0; i < LEN(others); i++) {
		req = get_req(url(s, "/echo"));
		req.method = others[i];
		fetch(hc, &req, &r);
		TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_OK && strcmp(s->method,
		    others[i]) == 0 && s->body_len == 0, "echo: %s without a body", others[i]);
	}

	req = get_req(url(s, "/ok"));
	fetch(hc, &req, &r);
	TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_OK && strcmp(r.body, "hello") == 0,
	    "GET /ok: OK hello");
	TAP_STR_EQ(r.srid, "srv-ok", "GET /ok: x-request-id is the service request id");
	TAP_OK(r.error[0] == '\0', "GET /ok: no error text");
}

static void
test_throttle(struct http_client *hc, struct srv *s)
{
	struct http_request req = get_req(url(s, "/throttle"));
	struct hit *h;
	struct result r;

	fetch(hc, &req, &r);
	h = hit_for(s, "/throttle");
	TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_OK && r.status == 200,
	    "429 then 200: OK (%s)", r.error);
	TAP_OK(r.attempts == 2 && h->n == 2, "429 then 200: two attempts (%d, server %d)",
	    r.attempts, h->n);
	TAP_OK(h->last_us - h->first_us >= 990000,
	    "429 then 200: waited Retry-After: 1 (%lld ms between attempts)",
	    (long long)(h->last_us - h->first_us) / 1000);
	TAP_OK(r.elapsed_ms >= 990, "429 then 200: elapsed %lld ms", (long long)r.elapsed_ms);
}

static void
test_budget(struct http_client *hc, struct srv *s)
{
	struct http_request req = get_req(url(s, "/unavailable"));
	struct result r;
	int before = hits(s, "/unavailable");

	req.max_attempts = 20;
	req.budget_ms = 1200;
	req.timeout_ms = 1000;
	fetch(hc, &req, &r);
	TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_RETRYABLE && r.status == 503,
	    "503 until the budget ends: RETRYABLE 503 (outcome %d, status %ld)", r.outcome,
	    r.status);
	TAP_OK(r.attempts >= 2 && r.attempts == hits(s, "/unavailable") - before,
	    "503 until the budget ends: %d attempts, all seen by the server", r.attempts);
	TAP_OK(strstr(r.error, "budget") != NULL && strstr(r.error, "HTTP 503") != NULL,
	    "503 until the budget ends: the error says so (%s)", r.error);
	/* The budget bounds waits and attempt timeouts; allow for a slow machine. */
	TAP_OK(r.elapsed_ms < 1200 + 300,
	    "503 until the budget ends: within the budget (%lld ms)", (long long)r.elapsed_ms);
	TAP_STR_EQ(r.body, "down", "503 until the budget ends: the last body");

	req = get_req(url(s, "/unavailable-long"));
	req.budget_ms = 2000;
	fetch(hc, &req, &r);
	TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_RETRYABLE && r.attempts == 1,
	    "Retry-After beyond the budget: RETRYABLE after one attempt (%d)", r.attempts);
	TAP_OK(r.elapsed_ms < 1000 && strstr(r.error, "budget") != NULL,
	    "Retry-After beyond the budget: no waiting (%lld ms, %s)", (long long)r.elapsed_ms,
	    r.error);

	before = hits(s, "/unavailable");
	req = get_req(url(s, "/unavailable"));
	req.max_attempts = 2;
	req.budget_ms = 60000;
	fetch(hc, &req, &r);
	TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_RETRYABLE && r.attempts == 2 &&
	    hits(s, "/unavailable") - before == 2,
	    "max_attempts 2: RETRYABLE after exactly two attempts (%d)", r.attempts);
	TAP_OK(strstr(r.error, "2 attempts") != NULL, "max_attempts 2: the error says so (%s)",
	    r.error);
}

static enum http_verdict
classify_cb(long status, const char *body, size_t len)
{
	if (status == 400 && strstr(body, "concurrent") != NULL && len > 0)
		return HTTP_VERDICT_RETRY;
	if (status == 503 && strstr(body, "permanent") != NULL)
		return HTTP_VERDICT_PERMANENT;
	return HTTP_VERDICT_DEFAULT;
}

static void
test_permanent_and_classify(struct http_client *hc, struct srv *s)
{
	struct http_request req = get_req(url(s, "/bad"));
	struct result r;

	fetch(hc, &req, &r);
	TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_PERMANENT && r.status == 400 &&
	    r.attempts == 1 && hits(s, "/bad") == 1, "400: PERMANENT, not retried");
	TAP_STR_EQ(r.error, "HTTP 400", "400: error text");
	TAP_STR_EQ(r.body, "{\"error\":\"bad\"}", "400: the body is delivered");

	req = get_req(url(s, "/concurrent"));
	req.classify = classify_cb;
	fetch(hc, &req, &r);
	TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_OK && r.attempts == 2 &&
	    hits(s, "/concurrent") == 2, "classify: a 400 it calls retryable is retried (%d, %s)",
	    r.attempts, r.error);

	req = get_req(url(s, "/classified-503"));
	req.classify = classify_cb;
	fetch(hc, &req, &r);
	TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_PERMANENT && r.attempts == 1 &&
	    hits(s, "/classified-503") == 1, "classify: a 503 it calls permanent is not retried");
}

static void
test_too_big(struct http_client *hc, struct srv *s)
{
	static const char *const paths[] = { "/big", "/bigchunked" };
	struct http_request req;
	struct result r;
	size_t i;

	for (i = 0; i < LEN(paths); i++) {
		req = get_req(url(s, paths[i]));
		req.max_response = 1024;
		fetch(hc, &req, &r);
		TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_PERMANENT && r.attempts == 1,
		    "%s over max_response: PERMANENT after one attempt", paths[i]);
		TAP_STR_EQ(r.error, "response over 1024 bytes", "%s: error text", paths[i]);
		TAP_OK(r.body_len == 0, "%s: no truncated body is handed out", paths[i]);
		req.max_response = 4096;
		fetch(hc, &req, &r);
		TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_OK && r.body_len == 4096,
		    "%s at exactly max_response: OK (%zu bytes)", paths[i], r.body_len);
	}
}

static void
test_hang(struct http_client *hc, struct srv *s)
{
	struct http_request req = get_req(url(s, "/hang-once"));
	struct result r;

	req.timeout_ms = 300;
	req.budget_ms = 5000;
	fetch(hc, &req, &r);
	TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_OK && r.attempts == 2 &&
	    hits(s, "/hang-once") == 2, "hanging endpoint: timed out, retried, OK (%d, %s)",
	    r.attempts, r.error);
	TAP_OK(r.elapsed_ms >= 300, "hanging endpoint: the first attempt waited its timeout "
	    "(%lld ms)", (long long)r.elapsed_ms);
}

/* A loopback port with nothing listening. */
static int
closed_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static void
test_refused(struct http_client *hc)
{
	char u[64];
	struct http_request req;
	struct result r;

	snprintf(u, sizeof(u), "https://127.0.0.1:%d/x", closed_port());
	req = get_req(u);
	req.max_attempts = 2;
	req.budget_ms = 5000;
	fetch(hc, &req, &r);
	TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_RETRYABLE && r.attempts == 2 &&
	    r.status == 0, "connection refused: retried, then RETRYABLE (%d, %s)", r.attempts,
	    r.error);
	TAP_OK(strncmp(r.error, "connect: ", 9) == 0, "connection refused: error text (%s)",
	    r.error);
}

static void
test_untrusted(struct http_client *hc, struct srv *u, const char *dir)
{
	struct http_request req = get_req(url(u, "/ok"));
	static const char body[] = "{\"secret\":\"must not leave\"}";
	char ca[512];
	struct result r;

	req.method = "POST";
	req.content_type = "application/json";
	req.body = body;
	req.body_len = strlen(body);
	fetch(hc, &req, &r);
	TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_PERMANENT && r.attempts == 1,
	    "untrusted certificate: PERMANENT, not retried (outcome %d, %d attempts)",
	    r.outcome, r.attempts);
	TAP_OK(strstr(r.error, "certificate") != NULL,
	    "untrusted certificate: the error says certificate (%s)", r.error);
	TAP_OK(u->conns >= 1 && u->requests == 0,
	    "untrusted certificate: connected (%d) but no HTTP request reached it (%d)",
	    u->conns, u->requests);

	/* SIGHUP: trusting that certificate from now on makes it work. */
	snprintf(ca, sizeof(ca), "%s/untrusted.crt", dir);
	http_client_configure(hc, ca, 5000);
	fetch(hc, &req, &r);
	TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_OK && u->requests == 1,
	    "configure: the new ca_file is used by new requests (%s)", r.error);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	http_client_configure(hc, ca, 5000);
	snprintf(ca, sizeof(ca), "%s/missing.crt", dir);
	http_client_configure(hc, ca, 5000);
	TAP_OK(1, "configure: a missing ca_file keeps the previous store");
}

static void
test_malformed(struct http_client *hc, struct srv *s)
{
	struct secret *bad_tok = secret_new("tok\r\nX-Evil: 1", 15);
	struct http_request req;
	struct result r;
	size_t i;
	struct {
		const char *name;
		const char *url;
		const char *method;
		const char *header;
		int body;
		int bad_bearer;
	} cases[] = {
		{ "http:// URL", "http://127.0.0.1:1/", "GET", NULL, 0, 0 },
		{ "no URL", NULL, "GET", NULL, 0, 0 },
		{ "URL with a newline", "https://127.0.0.1:1/\r\nx", "GET", NULL, 0, 0 },
		{ "unknown method", url(s, "/ok"), "BREW", NULL, 0, 0 },
		{ "no method", url(s, "/ok"), NULL, NULL, 0, 0 },
		{ "header without colon", url(s, "/ok"), "GET", "NoColon", 0, 0 },
		{ "header name with a space", url(s, "/ok"), "GET", "Bad Name: x", 0, 0 },
		{ "header value with CRLF", url(s, "/ok"), "GET", "X-A: 1\r\nX-B: 2", 0, 0 },
		{ "GET with a body", url(s, "/ok"), "GET", NULL, 1, 0 },
		{ "bearer with CRLF", url(s, "/ok"), "GET", NULL, 0, 1 },
	};

	memset(&r, 0, sizeof(r));
	for (i = 0; i < LEN(cases); i++) {
		req = get_req(cases[i].url);
		req.method = cases[i].method;
		req.headers[3] = cases[i].header;
		if (cases[i].body) {
			req.body = "x";
			req.body_len = 1;
		}
		if (cases[i].bad_bearer)
			req.bearer = bad_tok;
		TAP_OK(http_client_send(hc, &req, done_cb, &r) == -1, "malformed: %s is refused",
		    cases[i].name);
	}
	secret_free(bad_tok);
	TAP_OK(http_client_in_flight(hc) == 0 && r.done == 0,
	    "malformed: nothing in flight, no callback");
}

/* --- mail ------------------------------------------------------------------ */

#define MAIL_MSG "From: a@example.com\r\nTo: b@example.com\r\nSubject: x\r\n\r\nhi\r\n"

static const char *const mail_rcpt[] = { "b@example.com", "c@example.com" };
static const char *const mail_rcpt_bad[] = { "b@example.com", "c@exa\r\nmple.com" };

static struct http_mail
mail_for(const char *url)
{
	struct http_mail m;

	memset(&m, 0, sizeof(m));
	m.url = url;
	m.from = "a@example.com";
	m.rcpt = mail_rcpt;
	m.n_rcpt = LEN(mail_rcpt);
	m.message = MAIL_MSG;
	m.message_len = strlen(MAIL_MSG);
	m.service = "smtp";
	m.app = "prod";
	return m;
}

/* One way to break a mail; applied to a good one. */
struct mail_case {
	const char *name;
	const char *url;		/* NULL: keep */
	const char *from;		/* NULL: keep */
	const char *rcpt0;		/* NULL: keep */
	int n_rcpt;			/* -1: keep */
	const char *message;		/* NULL: keep */
	const char *user;		/* NULL: none */
	int password;			/* 0 none, 1 "pw", 2 "p\0w" */
	int64_t timeout_ms;
};

static const struct mail_case mail_cases[] = {
	{ "an https:// URL", "https://127.0.0.1:1/", NULL, NULL, -1, NULL, NULL, 0, 0 },
	{ "an http:// URL", "http://127.0.0.1:1/", NULL, NULL, -1, NULL, NULL, 0, 0 },
	{ "a URL with credentials", "smtp://u:p@127.0.0.1:1", NULL, NULL, -1, NULL, NULL, 0, 0 },
	{ "a URL with a newline", "smtp://127.0.0.1:1\r\nRCPT", NULL, NULL, -1, NULL, NULL, 0, 0 },
	{ "a URL with a space", "smtp://127.0.0.1:1/a b", NULL, NULL, -1, NULL, NULL, 0, 0 },
	{ "an empty sender", NULL, "", NULL, -1, NULL, NULL, 0, 0 },
	{ "a sender with CRLF", NULL, "a@b.c\r\nRCPT TO:<x@y.z>", NULL, -1, NULL, NULL, 0, 0 },
	{ "a sender with a LF", NULL, "a@b.c\nx", NULL, -1, NULL, NULL, 0, 0 },
	{ "a sender in angle brackets", NULL, "<a@b.c>", NULL, -1, NULL, NULL, 0, 0 },
	{ "a sender with a closing bracket", NULL, "a@b.c> SIZE=1", NULL, -1, NULL, NULL, 0, 0 },
	{ "a sender without @", NULL, "postmaster", NULL, -1, NULL, NULL, 0, 0 },
	{ "a sender without a domain", NULL, "a@", NULL, -1, NULL, NULL, 0, 0 },
	{ "a sender without a local part", NULL, "@b.c", NULL, -1, NULL, NULL, 0, 0 },
	{ "a sender with a space", NULL, "a b@c.d", NULL, -1, NULL, NULL, 0, 0 },
	{ "no recipients", NULL, NULL, NULL, 0, NULL, NULL, 0, 0 },
	{ "too many recipients", NULL, NULL, NULL, HTTP_MAIL_MAX_RCPT + 1, NULL, NULL, 0, 0 },
	{ "an empty recipient", NULL, NULL, "", -1, NULL, NULL, 0, 0 },
	{ "a recipient in angle brackets", NULL, NULL, "<b@c.d>", -1, NULL, NULL, 0, 0 },
	{ "a recipient with CRLF", NULL, NULL, "b@c.d\r\nDATA", -1, NULL, NULL, 0, 0 },
	{ "a user without a password", NULL, NULL, NULL, -1, NULL, "user", 0, 0 },
	{ "a password without a user", NULL, NULL, NULL, -1, NULL, NULL, 1, 0 },
	{ "an empty user", NULL, NULL, NULL, -1, NULL, "", 1, 0 },
	{ "a password with a NUL", NULL, NULL, NULL, -1, NULL, "user", 2, 0 },
	{ "an empty message", NULL, NULL, NULL, -1, "", NULL, 0, 0 },
	{ "a message with a bare LF", NULL, NULL, NULL, -1, "Subject: x\n\nhi\r\n", NULL, 0, 0 },
	{ "a message with a bare CR", NULL, NULL, NULL, -1, "Subject: x\r\rhi\r\n", NULL, 0, 0 },
	{ "a message smuggling an end of data", NULL, NULL, NULL, -1, "a\r\n\n.\n", NULL, 0, 0 },
	{ "a negative timeout", NULL, NULL, NULL, -1, NULL, NULL, 0, -1 },
};

static void
mail_case_apply(const struct mail_case *c, struct http_mail *m, const char **rcpt,
    const struct secret *good_pw, const struct secret *nul_pw)
{
	size_t i;

	if (c->url != NULL)
		m->url = c->url;
	if (c->from != NULL)
		m->from = c->from;
	for (i = 0; i <= HTTP_MAIL_MAX_RCPT; i++)
		rcpt[i] = mail_rcpt[i % LEN(mail_rcpt)];
	if (c->rcpt0 != NULL)
		rcpt[0] = c->rcpt0;
	m->rcpt = rcpt;
	if (c->n_rcpt >= 0)
		m->n_rcpt = (size_t)c->n_rcpt;
	if (c->message != NULL) {
		m->message = c->message;
		m->message_len = strlen(c->message);
	}
	m->user = c->user;
	if (c->password != 0)
		m->password = c->password == 1 ? good_pw : nul_pw;
	m->timeout_ms = c->timeout_ms;
}

static void
test_mail_malformed(struct http_client *hc)
{
	struct secret *pw = secret_new("pw", 2), *nul_pw = secret_new("p\0w", 3);
	const char *rcpt[HTTP_MAIL_MAX_RCPT + 1];
	struct http_mail m;
	struct result r;
	size_t i;

	memset(&r, 0, sizeof(r));
	for (i = 0; i < LEN(mail_cases); i++) {
		m = mail_for("smtp://127.0.0.1:1");
		mail_case_apply(&mail_cases[i], &m, rcpt, pw, nul_pw);
		TAP_OK(http_client_send_mail(hc, &m, done_cb, &r) == -1,
		    "mail: %s is refused", mail_cases[i].name);
	}
	m = mail_for("smtp://127.0.0.1:1");
	m.rcpt = mail_rcpt_bad;
	TAP_OK(http_client_send_mail(hc, &m, done_cb, &r) == -1,
	    "mail: a CRLF in the second recipient is refused");
	m.rcpt = NULL;
	TAP_OK(http_client_send_mail(hc, &m, done_cb, &r) == -1, "mail: no recipient list");
	m = mail_for(NULL);
	TAP_OK(http_client_send_mail(hc, &m, done_cb, &r) == -1, "mail: no URL");
	TAP_OK(http_client_send_mail(hc, NULL, done_cb, &r) == -1, "mail: no mail");
	m = mail_for("smtp://127.0.0.1:1");
	TAP_OK(http_client_send_mail(hc, &m, NULL, &r) == -1, "mail: no callback");
	secret_free(pw);
	secret_free(nul_pw);
	TAP_OK(http_client_in_flight(hc) == 0 && r.done == 0,
	    "mail: nothing in flight, no callback");
}

/* Sends m and waits for its answer. */
static void
send_mail(struct http_client *hc, struct http_mail *m, struct result *r)
{
	memset(r, 0, sizeof(*r));
	await_answer(r, http_client_send_mail(hc, m, done_cb, r));
}

/*
 * Real SMTP is in tests/integration/test_smtp.py; here what needs no SMTP
 * server: a closed port is retried, and a TLS server with a certificate no
 * CA signed is refused at once over smtps:// (the handshake comes first).
 */
static void
test_mail_network(struct http_client *hc, struct srv *u)
{
	struct secret *pw = secret_new("secret-pw", 9);
	char url1[64], url2[64];
	struct http_mail m;
	struct result r;
	int conns, requests;

	snprintf(url1, sizeof(url1), "smtp://127.0.0.1:%d", closed_port());
	m = mail_for(url1);
	m.max_attempts = 2;
	m.budget_ms = 5000;
	send_mail(hc, &m, &r);
	TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_RETRYABLE && r.attempts == 2 &&
	    r.status == 0 && strncmp(r.error, "connect: ", 9) == 0,
	    "mail: connection refused is retried, then RETRYABLE (%d, %s)", r.attempts, r.error);
	snprintf(url2, sizeof(url2), "smtps://127.0.0.1:%d", u->port);
	m = mail_for(url2);
	m.user = "user";
	m.password = pw;
	conns = u->conns;
	requests = u->requests;
	send_mail(hc, &m, &r);
	TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_PERMANENT && r.attempts == 1 &&
	    strstr(r.error, "not trusted") != NULL,
	    "mail: an untrusted certificate over smtps:// is PERMANENT at once (%d, %s)",
	    r.attempts, r.error);
	TAP_OK(u->conns > conns && u->requests == requests,
	    "mail: connected to the untrusted server, but sent it nothing");
	secret_free(pw);
}

struct ticker {
	struct event *ev;
	struct srv *s;
	int ticks;
	int ticks_full;			/* ticks while all requests were held */
	int released;
	int64_t last_us, max_gap_us;
};

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ticker *t = arg;
	int64_t now = util_mono_us();

	(void)fd;
	(void)what;
	if (t->last_us != 0 && now - t->last_us > t->max_gap_us)
		t->max_gap_us = now - t->last_us;
	t->last_us = now;
	t->ticks++;
	if (t->released || t->s->n_held < N_CONCURRENT)
		return;
	/* All held: let the loop turn a few more times before answering them. */
	t->ticks_full++;
	if (t->ticks_full >= 3) {
		release_all(t->s);
		t->released = 1;
	}
}

static void
test_concurrent(struct http_client *hc, struct srv *s)
{
	static struct result rs[N_CONCURRENT];
	struct timeval tv = { 0, 20000 };
	struct ticker t;
	int i, ok = 0, sent = 0, done_before = total_done, held_before = s->held_total;

	memset(&t, 0, sizeof(t));
	memset(rs, 0, sizeof(rs));
	t.s = s;
	t.ev = event_new(base, -1, EV_PERSIST, tick_cb, &t);
	event_add(t.ev, &tv);
	for (i = 0; i < N_CONCURRENT; i++) {
		struct http_request req = get_req(url(s, "/hold"));

		req.timeout_ms = 8000;
		sent += http_client_send(hc, &req, done_cb, &rs[i]) == 0;
	}
	TAP_OK(sent == N_CONCURRENT && http_client_in_flight(hc) == N_CONCURRENT,
	    "concurrent: %d requests in flight", (int)http_client_in_flight(hc));
	run_until(&t.released, 1, 8000);
	run_until(&total_done, done_before + N_CONCURRENT, 8000);
	for (i = 0; i < N_CONCURRENT; i++)
		ok += rs[i].done == 1 && rs[i].outcome == HTTP_OUTCOME_OK &&
		    strcmp(rs[i].body, "released") == 0;
	TAP_OK(t.ticks_full >= 3, "concurrent: the timer ticked %d times while all %d were held",
	    t.ticks_full, N_CONCURRENT);
	TAP_OK(ok == N_CONCURRENT, "concurrent: %d of %d answered OK", ok, N_CONCURRENT);
	TAP_OK(s->held_total - held_before == N_CONCURRENT,
	    "concurrent: the server held %d at once", s->held_total - held_before);
	TAP_OK(http_client_in_flight(hc) == 0, "concurrent: nothing left in flight");
	TAP_OK(t.max_gap_us < 2000000, "concurrent: the longest gap between ticks was %lld ms",
	    (long long)t.max_gap_us / 1000);
	event_free(t.ev);
}

/* Runs the loop until path has had n hits or ms have passed. */
static void
wait_hits(struct srv *s, const char *path, int n, int ms)
{
	int64_t end = util_mono_us() + (int64_t)ms * 1000;

	while (hits(s, path) < n && util_mono_us() < end)
		run_for(10);
}

static void
test_cancel(const char *ca, struct srv *s)
{
	struct http_client *hc = http_client_new(base, ca, 5000);
	struct http_request req = get_req(url(s, "/hold"));
	struct result held, waiting, a, b;
	int target = s->held_total + 1;

	memset(&held, 0, sizeof(held));
	memset(&waiting, 0, sizeof(waiting));
	http_client_send(hc, &req, done_cb, &held);
	req = get_req(url(s, "/unavailable-long"));
	req.budget_ms = 60000;
	http_client_send(hc, &req, done_cb, &waiting);
	run_until(&s->held_total, target, 5000);
	wait_hits(s, "/unavailable-long", 1, 5000);
	run_for(100);		/* the client reads the 503 and starts waiting 30 s */
	TAP_OK(http_client_in_flight(hc) == 2 && held.done == 0 && waiting.done == 0,
	    "cancel: one request in flight and one waiting to retry");
	http_client_free(hc);
	TAP_OK(held.done == 1 && held.outcome == HTTP_OUTCOME_CANCELLED,
	    "cancel: the request in flight hears CANCELLED at once");
	TAP_OK(waiting.done == 1 && waiting.outcome == HTTP_OUTCOME_CANCELLED &&
	    waiting.attempts == 1 && waiting.status == 503,
	    "cancel: the waiting one hears CANCELLED, after its one attempt (503)");
	TAP_OK(strstr(held.error, "cancel") != NULL, "cancel: error text (%s)", held.error);

	/* Freeing the client from inside a callback cancels the others, then frees it. */
	hc = http_client_new(base, ca, 5000);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	req = get_req(url(s, "/hold"));
	http_client_send(hc, &req, done_cb, &a);
	b.free_hc = hc;
	send_get(hc, url(s, "/ok"), &b);
	run_until(&b.done, 1, 5000);
	TAP_OK(b.done == 1 && b.outcome == HTTP_OUTCOME_OK, "free in callback: the answer came");
	TAP_OK(a.done == 1 && a.outcome == HTTP_OUTCOME_CANCELLED,
	    "free in callback: the other request was cancelled");
	run_for(50);
	TAP_OK(a.done == 1 && b.done == 1, "free in callback: nobody hears twice");
}

/*
 * Without ca_file the client trusts OpenSSL's default locations, the system
 * store; SSL_CERT_FILE points those at the test CA here.
 */
static void
test_system_store(const char *ca, struct srv *s, struct srv *u)
{
	struct http_client *hc;
	struct http_request req;
	struct result r;

	setenv("SSL_CERT_FILE", ca, 1);
	hc = http_client_new(base, NULL, 5000);
	unsetenv("SSL_CERT_FILE");
	req = get_req(url(s, "/ok"));
	fetch(hc, &req, &r);
	TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_OK,
	    "system store: trusted without a ca_file (%s)", r.error);
	req = get_req(url(u, "/ok"));
	fetch(hc, &req, &r);
	TAP_OK(r.done == 1 && r.outcome == HTTP_OUTCOME_PERMANENT,
	    "system store: a self-signed certificate is still refused (%s)", r.error);
	http_client_free(hc);
}

static void
test_send_from_callback(struct http_client *hc, struct srv *s)
{
	struct result a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.send_hc = hc;
	a.send_url = url(s, "/ok");
	a.send_res = &b;
	send_get(hc, url(s, "/ok"), &a);
	run_until(&b.done, 1, 5000);
	TAP_OK(a.done == 1 && b.done == 1 && b.outcome == HTTP_OUTCOME_OK,
	    "send from a callback: the second request is answered too");
}

static void
test_metrics(void)
{
	struct evbuffer *buf = evbuffer_new();
	char *text;
	size_t len;

	metrics_render(buf);
	len = evbuffer_get_length(buf);
	text = xmalloc(len + 1);
	evbuffer_remove(buf, text, len);
	text[len] = '\0';
	TAP_OK(strstr(text, "rekey_outbound_requests_total{service=\"graph\",outcome=\"ok\"}") !=
	    NULL, "metrics: outbound requests by service and outcome");
	TAP_OK(strstr(text, "rekey_outbound_attempts_total{service=\"graph\",result=\"5xx\"}") !=
	    NULL, "metrics: outbound attempts by result");
	TAP_OK(strstr(text, "outcome=\"cancelled\"") != NULL, "metrics: cancellations counted");
	free(text);
	evbuffer_free(buf);
}

static int
make_certs(char *dir, size_t size)
{
	char cmd[600];

	util_strlcpy(dir, "/tmp/rekey-hc-test.XXXXXX", size);
	if (mkdtemp(dir) == NULL)
		return -1;
	/* P-256 server keys: made in a fraction of the time of RSA ones. */
	snprintf(cmd, sizeof(cmd), "certs/make-certs.sh -t p256 '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
remove_certs(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static void
test_network(void)
{
	struct srv s, u;
	struct http_client *hc;
	char dir[64], ca[128];
	int64_t start = util_mono_us();

	if (make_certs(dir, sizeof(dir)) == -1) {
		TAP_OK(0, "certificates made by certs/make-certs.sh (run from the repository root)");
		return;
	}
	base = event_base_new();
	if (srv_start(&s, dir, "server") == -1 || srv_start(&u, dir, "untrusted") == -1) {
		TAP_OK(0, "test servers started");
		remove_certs(dir);
		return;
	}
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	hc = http_client_new(base, ca, 5000);
	test_answer_and_headers(hc, &s);
	test_malformed(hc, &s);
	test_throttle(hc, &s);
	test_budget(hc, &s);
	test_permanent_and_classify(hc, &s);
	test_too_big(hc, &s);
	test_hang(hc, &s);
	test_refused(hc);
	test_untrusted(hc, &u, dir);
	test_mail_malformed(hc);
	test_mail_network(hc, &u);
	test_concurrent(hc, &s);
	test_system_store(ca, &s, &u);
	test_send_from_callback(hc, &s);
	test_cancel(ca, &s);
	http_client_free(hc);
	test_metrics();
	srv_stop(&s);
	srv_stop(&u);
	run_for(50);		/* let the servers' last writes and closes happen */
	event_base_free(base);
	remove_certs(dir);
	fprintf(stderr, "network tests took %lld ms\n",
	    (long long)(util_mono_us() - start) / 1000);
}

int
main(void)
{
	log_set_level(LOG_LEVEL_WARN);
	/* The loopback servers must not be reached through a proxy from the environment. */
	setenv("NO_PROXY", "127.0.0.1,localhost", 1);
	setenv("no_proxy", "127.0.0.1,localhost", 1);
	test_retry_after();
	test_backoff();
	test_network();
	metrics_reset();
	libevent_global_shutdown();
	return tap_done();
}
