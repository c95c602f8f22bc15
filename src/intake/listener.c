#include "intake/listener.h"
#include "intake/client_addr.h"
#include "intake/conn.h"
#include "intake/conn_limit.h"
#include "intake/handoff.h"
#include "intake/listen_socket.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "state/config.h"
#include "state/runtime.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <time.h>

#include <event2/event.h>
#include <event2/listener.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* How often the accept limit is checked again (other loops' connections close too). */
#define SWEEP_MS 250

/* TLS 1.2 suites: forward secrecy and AEAD only (TLS 1.3 suites are all modern). */
static const char tls12_ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

/* At most one warning a minute about clients over max_connections_per_ip. */
#define PER_IP_WARN_MS 60000

/* conn_flags: the connection counts in the per-address tally (conn_limit). */
#define COUNTED 1

struct listener {
	struct runtime *rt;
	const struct listener_route *routes;	/* main's table, borrowed */
	size_t n_routes;
	struct conn_limit *limits;	/* every loop's tally, borrowed */
	struct evconnlistener *lev;
	SSL_CTX *ssl_ctx;		/* NULL: plain HTTP */
	struct event *sweep_ev;
	struct conn_limits conn_limits;	/* max_body, max_header_size, request_timeout */
	struct conn *conns;
	/* Written by this loop only; read from the main loop for metrics and the drain. */
	atomic_size_t n_conns;
	atomic_size_t active;
	atomic_ullong requests;		/* requests handed to a route so far */
	int accepting;			/* listener enabled */
	int stopped;			/* no more accepting, ever */
	int port;
	int64_t per_ip_warned_ms;
	uint64_t id_base;		/* random: request ids differ across restarts */
	uint64_t id_next;		/* requests numbered so far */
};

static const struct conn_hooks hooks;

static SSL_CTX *
make_ssl_ctx(const struct config *cfg, char **err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	unsigned long e;
	char buf[256];

	if (ctx == NULL)
		goto fail;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Idle keep-alive connections give their 2 x 16 KiB record buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	return ctx;
fail:
	e = ERR_get_error();
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	*err = xasprintf("TLS setup with %s and %s failed: %s", cfg->tls_cert, cfg->tls_key, buf);
	SSL_CTX_free(ctx);
	return NULL;
}

int
listener_tls_new(const struct config *cfg, struct ssl_ctx_st **out, char **err)
{
	*out = NULL;
	if (cfg->tls_cert == NULL)
		return 0;
	*out = make_ssl_ctx(cfg, err);
	return *out != NULL ? 0 : -1;
}

static void
update_accepting(struct listener *l)
{
	int want = !l->stopped &&
	    conn_limit_total(l->limits) < (size_t)l->rt->cfg->max_connections;

	if (want == l->accepting)
		return;
	if (want)
		evconnlistener_enable(l->lev);
	else
		evconnlistener_disable(l->lev);
	l->accepting = want;
	if (!want && !l->stopped)
		log_warn("connection limit (%lld) reached: not accepting until some close",
		    (long long)l->rt->cfg->max_connections);
}

static void
over_limit(struct listener *l, const struct sockaddr *peer)
{
	char addr[64] = "?";
	int64_t now = util_now_ms();

	if (peer->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, addr, sizeof(addr));
	else if (peer->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, addr,
		    sizeof(addr));
	if (now - l->per_ip_warned_ms >= PER_IP_WARN_MS) {
		log_warn("%s has max_connections_per_ip (%lld) open: closing the new ones "
		    "(a proxy in front belongs in trusted_proxies)", addr,
		    (long long)l->rt->cfg->max_connections_per_ip);
		l->per_ip_warned_ms = now;
	}
	metrics_inc_request("unknown", 429);
}

/*
 * A new connection: one from an address over max_connections_per_ip is
 * closed before it is read from (trusted proxies are exempt).
 */
static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *peer, int peer_len,
    void *arg)
{
	struct listener *l = arg;
	struct sockaddr_storage ss;
	struct conn *c;
	int counted = 0;

	(void)lev;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, peer, (size_t)peer_len < sizeof(ss) ? (size_t)peer_len : sizeof(ss));
	if (!config_addr_trusted(l->rt->cfg, peer)) {
		if (conn_limit_admit(l->limits, &ss, l->rt->cfg->max_connections_per_ip) == -1) {
			over_limit(l, peer);
			evutil_closesocket(fd);
			return;
		}
		counted = 1;
	}
	c = conn_new(l->rt->base, fd, peer, (socklen_t)peer_len, l->ssl_ctx, &l->conn_limits,
	    &hooks, l, &l->conns);
	*conn_flags(c) = counted ? COUNTED : 0;
	atomic_fetch_add_explicit(&l->n_conns, 1, memory_order_relaxed);
	conn_limit_opened(l->limits);
	update_accepting(l);
}

/* The connection no longer counts against max_connections_per_ip. */
static void
conn_uncount(struct listener *l, struct conn *c)
{
	struct sockaddr_storage ss;

	if (!(*conn_flags(c) & COUNTED))
		return;
	*conn_flags(c) &= ~COUNTED;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, conn_peer(c), sizeof(ss));
	conn_limit_release(l->limits, &ss);
}

static void
closed_cb(void *arg, struct conn *c)
{
	struct listener *l = arg;

	conn_uncount(l, c);
	conn_limit_closed(l->limits);
	atomic_fetch_sub_explicit(&l->n_conns, 1, memory_order_relaxed);
	update_accepting(l);
}

static void
timed_out_cb(void *arg, struct conn *c)
{
	struct listener *l = arg;

	(void)c;
	log_debug("a request from a connection took over request_timeout (%llds): closing it",
	    (long long)l->rt->cfg->request_timeout);
	metrics_inc_request("unknown", 408);
}

static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	update_accepting(arg);
}

static void
new_request_id(struct listener *l, char out[17])
{
	uint64_t v = l->id_base + l->id_next++;
	unsigned char raw[8];
	size_t i;

	v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ULL;
	v = (v ^ (v >> 27)) * 0x94d049bb133111ebULL;
	v ^= v >> 31;
	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(v >> (8 * i));
	crypto_hex_encode(raw, sizeof(raw), out);
}

/* Fills in what every request has: loop, id, client, start time; it counts as active. */
static void
req_begin(struct listener *l, struct conn *c, struct http_req *hr)
{
	hr->rt = l->rt;
	hr->tls = l->ssl_ctx != NULL;
	hr->start_us = util_mono_us();
	hr->route = "unknown";
	new_request_id(l, hr->id);
	util_strlcpy(hr->client, "unknown", sizeof(hr->client));
	client_addr_find(hr, conn_peer(c));
	atomic_fetch_add_explicit(&l->active, 1, memory_order_relaxed);
}

/* A request refused before any handler: answered, and the connection closes. */
static void
refuse_cb(void *arg, struct conn *c, struct http_req *hr, int status, const char *why)
{
	req_begin(arg, c, hr);
	if (status == 413)
		metrics_inc_webhook("any", "unknown", "too_large");
	http_reply_text(hr, status, why);
}

/* Hands the request to the route's handler, on the main loop when the route says so. */
static void
dispatch(struct http_req *hr, const struct listener_route *route, const char *rest)
{
	struct listener *l = hr->rt->listener;

	hr->route = route->label;
	atomic_fetch_add_explicit(&l->requests, 1, memory_order_relaxed);
	if (route->on_main && hr->rt->main != hr->rt)
		handoff_to_main(hr, route->handle, rest, http_reply);
	else
		route->handle(hr, rest);
}

static void
request_cb(void *arg, struct conn *c, struct http_req *hr)
{
	struct listener *l = arg;
	size_t i, n;

	req_begin(l, c, hr);
	for (i = 0; i < l->n_routes; i++) {
		n = strlen(l->routes[i].prefix);
		if (l->routes[i].exact ? strcmp(hr->path, l->routes[i].prefix) == 0 :
		    strncmp(hr->path, l->routes[i].prefix, n) == 0) {
			dispatch(hr, &l->routes[i], hr->path + n);
			return;
		}
	}
	http_reply_text(hr, 404, "not found");
}

static const struct conn_hooks hooks = {
	.request = request_cb,
	.refuse = refuse_cb,
	.timed_out = timed_out_cb,
	.closed = closed_cb,
};

/* Binds listen's host on port (see listen_socket_open) and accepts on it. */
static int
bind_listener(struct listener *l, int port, char **err)
{
	l->lev = listen_socket_open(l->rt->base, l->rt->cfg->listen, port, &l->port, err);
	if (l->lev == NULL)
		return -1;
	evconnlistener_set_cb(l->lev, accept_cb, l);
	l->accepting = 1;
	return 0;
}

static void
apply_limits(struct listener *l)
{
	const struct config *cfg = l->rt->cfg;

	l->conn_limits.max_body = (size_t)cfg->max_body;
	l->conn_limits.max_header = (size_t)cfg->max_header_size;
	l->conn_limits.deadline = event_base_init_common_timeout(l->rt->base,
	    &(struct timeval){ (time_t)cfg->request_timeout, 0 });
	if (l->conn_limits.deadline == NULL)
		fatal("out of memory setting the request deadline");
}

struct listener *
listener_new(struct runtime *rt, const struct listener_route *routes, size_t n_routes,
    struct conn_limit *limits, struct ssl_ctx_st *ctx, int port, char **err)
{
	struct listener *l = xcalloc(1, sizeof(*l));
	struct timeval tv = { 0, SWEEP_MS * 1000 };

	l->rt = rt;
	l->routes = routes;
	l->n_routes = n_routes;
	l->limits = limits;
	l->ssl_ctx = ctx;
	if (crypto_random(&l->id_base, sizeof(l->id_base)) == -1)
		l->id_base = (uint64_t)util_now_ms();
	apply_limits(l);
	if (bind_listener(l, port, err) == -1)
		goto fail;
	l->sweep_ev = event_new(rt->base, -1, EV_PERSIST, sweep_cb, l);
	if (l->sweep_ev == NULL)
		fatal("out of memory creating the listener's events");
	event_add(l->sweep_ev, &tv);
	log_debug("listening on %s (%s), port %d", rt->cfg->listen,
	    l->ssl_ctx ? "HTTPS" : "plain HTTP behind a proxy", l->port);
	return l;
fail:
	listener_free(l);
	return NULL;
}

void
listener_free(struct listener *l)
{
	if (l == NULL)
		return;
	if (l->sweep_ev != NULL)
		event_free(l->sweep_ev);
	if (l->lev != NULL)
		evconnlistener_free(l->lev);
	while (l->conns != NULL)
		conn_free(l->conns);
	SSL_CTX_free(l->ssl_ctx);
	free(l);
}

void
listener_reload(struct listener *l, struct ssl_ctx_st *ctx)
{
	/* Sessions already open keep a reference to the old context. */
	SSL_CTX_free(l->ssl_ctx);
	l->ssl_ctx = ctx;
	apply_limits(l);
	update_accepting(l);
}

void
listener_stop_accepting(struct listener *l)
{
	l->stopped = 1;
	update_accepting(l);
}

size_t
listener_active_requests(const struct listener *l)
{
	return atomic_load_explicit(&l->active, memory_order_relaxed);
}

size_t
listener_connections(const struct listener *l)
{
	return atomic_load_explicit(&l->n_conns, memory_order_relaxed);
}

unsigned long long
listener_requests(const struct listener *l)
{
	return atomic_load_explicit(&l->requests, memory_order_relaxed);
}

int
listener_port(const struct listener *l)
{
	return l->port;
}

static void
access_log(const struct http_req *hr, int status, double secs)
{
	static const char *const names[] = { "GET", "POST", "HEAD", "OTHER" };

	log_ctx(status >= 400 ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG, hr->id,
	    hr->app[0] ? hr->app : NULL, "%s %s -> %d in %.1f ms from %s", names[hr->method],
	    hr->route, status, secs * 1000, hr->client);
}

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return status < 300 ? "OK" : status < 500 ? "Bad Request" : "Server Error";
	}
}

/* The Date header's value, made again once a second (per thread). */
static const char *
http_date(void)
{
	static __thread time_t at;
	static __thread char text[40];
	time_t now = time(NULL);
	struct tm tm;

	if (now != at && gmtime_r(&now, &tm) != NULL) {
		strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		at = now;
	}
	return text;
}

/*
 * What a browser may do with an answer.  Most answers are data, never a
 * page: some echo what the caller sent (?challenge=, ?validationToken=), so
 * nothing in them may run on this origin.  rekey's own page (status_page)
 * loads its script and style from this origin and nothing else; neither may
 * be framed (clickjacking its action buttons) nor leak its address onwards.
 */
static const char csp_data[] = "default-src 'none'; frame-ancestors 'none'";
static const char csp_page[] = "default-src 'self'; frame-ancestors 'none'";

/*
 * The answer's head and body as one block, so that it leaves in one TLS
 * record and one write(2).  A HEAD is answered with the headers and length
 * a GET would get and no body.
 */
static char *
compose(const struct http_req *hr, int status, const char *content_type, const char *csp,
    int close, const void *a, size_t alen, const void *b, size_t blen, size_t *len)
{
	size_t body = hr->method == HTTP_HEAD ? 0 : alen + blen;
	size_t cap = 512 + strlen(csp) + (content_type ? strlen(content_type) : 0) +
	    hr->out_len + body;
	char *out = xmalloc(cap);
	int n;

	n = snprintf(out, cap, "HTTP/1.1 %d %s\r\nDate: %s\r\n%s%s%s"
	    "X-Content-Type-Options: nosniff\r\nContent-Security-Policy: %s\r\n"
	    "Referrer-Policy: no-referrer\r\nX-Request-Id: %s\r\n", status, reason(status),
	    http_date(), content_type ? "Content-Type: " : "", content_type ? content_type : "",
	    content_type ? "\r\n" : "", csp, hr->id);
	if (hr->out_len > 0)
		memcpy(out + n, hr->out_fields, hr->out_len);
	n += (int)hr->out_len;
	n += snprintf(out + n, cap - (size_t)n, "Content-Length: %zu\r\n%s\r\n", alen + blen,
	    close ? "Connection: close\r\n" :
	    (hr->minor == 0 ? "Connection: keep-alive\r\n" : ""));
	if (body > 0 && alen > 0)
		memcpy(out + n, a, alen);
	if (body > 0 && blen > 0)
		memcpy(out + n + alen, b, blen);
	*len = (size_t)n + body;
	return out;
}

/* Answers with body a followed by body b (either may be empty). */
static void
send_reply(struct http_req *hr, int status, const char *content_type, const char *csp,
    const void *a, size_t alen, const void *b, size_t blen)
{
	struct listener *l = hr->rt->listener;
	double secs = (double)(util_mono_us() - hr->start_us) / 1e6;
	int close;
	char *bytes;
	size_t len;

	if (hr->relay != NULL) {
		handoff_reply(hr, status, content_type, a, alen, b, blen);
		return;
	}
	/* Stopping: a keep-alive client is told to take its next request elsewhere. */
	close = conn_closing(hr->conn) || (l != NULL && l->stopped);
	bytes = compose(hr, status, content_type, csp, close, a, alen, b, blen, &len);
	metrics_inc_request(hr->route, status);
	access_log(hr, status, secs);
	conn_answer(hr->conn, bytes, len, close);
	free(bytes);
	if (l != NULL)
		atomic_fetch_sub_explicit(&l->active, 1, memory_order_relaxed);
	http_req_free(hr);
}

void
http_reply(struct http_req *hr, int status, const char *content_type,
    const void *body, size_t len)
{
	send_reply(hr, status, content_type, csp_data, body, body != NULL ? len : 0, NULL, 0);
}

void
http_reply_page(struct http_req *hr, int status, const char *content_type,
    const void *body, size_t len)
{
	http_add_header(hr, "Cache-Control", "no-store");
	send_reply(hr, status, content_type, csp_page, body, body != NULL ? len : 0, NULL, 0);
}

void
http_reply_text(struct http_req *hr, int status, const char *msg)
{
	send_reply(hr, status, "text/plain; charset=utf-8", csp_data, msg, strlen(msg), "\n", 1);
}
