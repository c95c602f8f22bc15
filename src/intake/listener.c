#include "intake/listener.h"
#include "intake/client_addr.h"
#include "intake/conn_limit.h"
#include "intake/handoff.h"
#include "intake/listen_socket.h"
#include "lib/crypto.h"
#include "lib/http_head.h"
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

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* How often closed connections are reaped and the accept limit re-checked. */
#define SWEEP_MS 250

/* TLS 1.2 suites: forward secrecy and AEAD only (TLS 1.3 suites are all modern). */
static const char tls12_ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

/* What a lingering close discards at most, and for how long, before it closes anyway. */
#define LINGER_MAX_BYTES (4 * 1024 * 1024)
#define LINGER_MS 5000
/* At most one warning a minute about clients over max_connections_per_ip. */
#define PER_IP_WARN_MS 60000

/* Where a connection is, as the listener sees it (evhttp keeps its own state). */
enum conn_phase {
	CONN_HEAD,	/* a request has begun (or may): its head is being checked */
	CONN_BODY,	/* the head is checked; evhttp reads the body */
	CONN_IDLE,	/* the request was handed on; no byte of the next one yet */
	CONN_LINGER,	/* evhttp is done: the client's bytes are discarded before the close */
	CONN_CLOSED	/* done: released at the next sweep */
};

/*
 * A connection's bufferevent, held by one extra reference so that we can see
 * when evhttp has let it go (its callbacks are cleared on free): libevent 2.1
 * has no connection-close hook for connections that never send a request.
 * The reference also keeps the socket open for the lingering close.
 */
struct conn {
	struct listener *l;
	struct bufferevent *bev;
	struct conn *next;
	enum conn_phase phase;
	int admitted;			/* its socket and peer are known */
	int exempt;			/* a trusted proxy: no per-address limit */
	int counted;			/* in the per-address tally (conn_limit) */
	evutil_socket_t fd;
	struct sockaddr_storage peer;
	struct evbuffer_cb_entry *input_cb;
	size_t scan_pos;		/* bytes of the input already checked */
	struct http_head head;
	struct event deadline;		/* the request's, then the linger's */
	int64_t linger_start_ms;
	size_t lingered;		/* bytes discarded while lingering */
};

struct listener {
	struct runtime *rt;
	const struct listener_route *routes;	/* main's table, borrowed */
	size_t n_routes;
	struct conn_limit *limits;	/* every loop's tally, borrowed */
	struct evhttp *http;
	struct evconnlistener *lev;
	SSL_CTX *ssl_ctx;		/* NULL: plain HTTP */
	struct event *sweep_ev;
	struct event *admit_ev;		/* learns new connections' peers */
	const struct timeval *deadline_tv;	/* request_timeout, as a common timeout */
	struct conn *conns;
	struct conn **by_fd;		/* the open connections by socket */
	size_t by_fd_size;
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

/* Counts a 413 that evhttp wrote on its own (body over max_body). */
static void
output_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	char line[13];

	(void)arg;
	if (info->n_added == 0 || info->orig_size != 0)
		return;
	if (evbuffer_copyout(buf, line, 12) == 12 && memcmp(line + 8, " 413", 4) == 0) {
		metrics_inc_request("unknown", 413);
		metrics_inc_webhook("any", "unknown", "too_large");
	}
}

static void
by_fd_set(struct listener *l, evutil_socket_t fd, struct conn *c)
{
	size_t n = l->by_fd_size;

	if (fd < 0)
		return;
	if ((size_t)fd >= n) {
		while (n <= (size_t)fd)
			n = n ? 2 * n : 256;
		l->by_fd = xrealloc(l->by_fd, n * sizeof(*l->by_fd));
		memset(l->by_fd + l->by_fd_size, 0, (n - l->by_fd_size) * sizeof(*l->by_fd));
		l->by_fd_size = n;
	}
	l->by_fd[fd] = c;
}

/* The connection a request came on, or NULL. */
static struct conn *
conn_of(struct listener *l, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	struct conn *c;

	if (fd < 0 || (size_t)fd >= l->by_fd_size)
		return NULL;
	c = l->by_fd[fd];
	return c != NULL && c->bev == bev ? c : NULL;
}

/*
 * Ends a connection that overstayed: evhttp reads the end of the stream and
 * frees it as it would for a client that went away.
 */
static void
conn_cut(struct conn *c)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

/* The connection no longer counts against max_connections_per_ip. */
static void
conn_uncount(struct conn *c)
{
	if (!c->counted)
		return;
	c->counted = 0;
	conn_limit_release(c->l->limits, &c->peer);
}

/* Done with the socket: the next sweep drops the last reference, which closes it. */
static void
conn_close(struct conn *c)
{
	conn_uncount(c);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	evtimer_del(&c->deadline);
	c->phase = CONN_CLOSED;
}

static void
linger_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);

	evbuffer_drain(in, n);
	c->lingered += n;
	if (c->lingered > LINGER_MAX_BYTES || util_now_ms() - c->linger_start_ms > LINGER_MS)
		conn_close(c);
}

static void
linger_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	conn_close(arg);	/* the client closed, or the socket failed */
}

/*
 * evhttp has answered and let the connection go, but the client may still
 * be sending (a body over max_body, say): closing with unread bytes would
 * reset the connection and could destroy the answer before the client reads
 * it.  So, as nginx does, read and discard until the client closes, up to
 * LINGER_MAX_BYTES and LINGER_MS, then close.
 */
static void
conn_linger(struct conn *c)
{
	struct timeval tv = { LINGER_MS / 1000, (LINGER_MS % 1000) * 1000 };

	conn_uncount(c);
	c->phase = CONN_LINGER;
	c->linger_start_ms = util_now_ms();
	c->lingered = 0;
	evtimer_del(&c->deadline);
	evtimer_add(&c->deadline, &tv);
	bufferevent_setcb(c->bev, linger_read_cb, NULL, linger_event_cb, c);
	bufferevent_enable(c->bev, EV_READ);
	linger_read_cb(c->bev, c);
}

/* A request not received in time, or a linger over: the connection ends. */
static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (c->phase == CONN_LINGER) {
		conn_close(c);
		return;
	}
	log_debug("a request from a connection took over request_timeout (%llds): closing it",
	    (long long)c->l->rt->cfg->request_timeout);
	metrics_inc_request("unknown", 408);
	conn_cut(c);
}

/* 1 when evhttp has freed the connection (and cleared the callbacks). */
static int
released(const struct conn *c)
{
	bufferevent_event_cb ecb;

	bufferevent_getcb(c->bev, NULL, NULL, &ecb, NULL);
	return ecb == NULL;
}

/* Checks the input from where the last call stopped until the head ends. */
static void
scan_head(struct conn *c, struct evbuffer *in)
{
	struct evbuffer_iovec vec[4];
	struct evbuffer_ptr pos;
	size_t len = evbuffer_get_length(in), used;
	int i, n;

	while (c->phase == CONN_HEAD && c->scan_pos < len) {
		if (evbuffer_ptr_set(in, &pos, c->scan_pos, EVBUFFER_PTR_SET) == -1)
			return;
		n = evbuffer_peek(in, (ev_ssize_t)(len - c->scan_pos), &pos, vec, 4);
		if (n <= 0)
			return;
		for (i = 0; i < n && i < 4 && c->phase == CONN_HEAD; i++) {
			if (http_head_feed(&c->head, vec[i].iov_base, vec[i].iov_len, &used) !=
			    HTTP_HEAD_MORE)
				c->phase = CONN_BODY;
			c->scan_pos += used;
		}
	}
}

/*
 * Sees every byte a connection receives before evhttp does: a request's
 * first byte starts its deadline, and its head is checked as it arrives.
 */
static void
input_cb(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;

	c->scan_pos -= info->n_deleted < c->scan_pos ? info->n_deleted : c->scan_pos;
	if (info->n_added == 0 || c->phase == CONN_LINGER || c->phase == CONN_CLOSED)
		return;
	if (released(c)) {
		conn_linger(c);
		return;
	}
	if (c->phase == CONN_IDLE) {
		c->phase = CONN_HEAD;
		evtimer_add(&c->deadline, c->l->deadline_tv);
	}
	if (c->phase == CONN_HEAD)
		scan_head(c, in);
}

/* Called with each request evhttp hands on: the next one starts afresh. */
static void
conn_next_request(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	evtimer_del(&c->deadline);
	http_head_init(&c->head);
	c->scan_pos = 0;
	c->phase = CONN_IDLE;
	if (evbuffer_get_length(in) > 0) {
		/* Pipelined: the next request is already here. */
		c->phase = CONN_HEAD;
		evtimer_add(&c->deadline, c->l->deadline_tv);
		scan_head(c, in);
	}
}

static void
over_limit(struct listener *l, struct conn *c)
{
	char addr[64] = "?";
	int64_t now = util_now_ms();

	if (c->peer.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&c->peer)->sin_addr, addr, sizeof(addr));
	else if (c->peer.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&c->peer)->sin6_addr, addr, sizeof(addr));
	if (now - l->per_ip_warned_ms >= PER_IP_WARN_MS) {
		log_warn("%s has max_connections_per_ip (%lld) open: closing the new ones "
		    "(a proxy in front belongs in trusted_proxies)", addr,
		    (long long)l->rt->cfg->max_connections_per_ip);
		l->per_ip_warned_ms = now;
	}
	metrics_inc_request("unknown", 429);
	conn_cut(c);
}

/*
 * evhttp hands the socket to the bufferevent only after bevcb returns, so
 * new connections learn their socket and peer here, just after; those over
 * max_connections_per_ip are closed before they are read from.
 */
static void
admit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;
	struct conn *c;
	socklen_t len;

	(void)fd;
	(void)what;
	for (c = l->conns; c != NULL && !c->admitted; c = c->next) {
		c->admitted = 1;
		c->fd = bufferevent_getfd(c->bev);
		len = sizeof(c->peer);
		if (c->fd < 0 || getpeername(c->fd, (struct sockaddr *)&c->peer, &len) == -1) {
			c->fd = -1;	/* evhttp failed to set it up, and frees it */
			continue;
		}
		by_fd_set(l, c->fd, c);
		c->exempt = config_addr_trusted(l->rt->cfg, (struct sockaddr *)&c->peer);
		if (c->exempt)
			continue;
		if (conn_limit_admit(l->limits, &c->peer, l->rt->cfg->max_connections_per_ip) == 0)
			c->counted = 1;
		else
			over_limit(l, c);
	}
}

static struct bufferevent *
bevcb(struct event_base *base, void *arg)
{
	struct listener *l = arg;
	struct bufferevent *bev;
	struct conn *c;
	SSL *ssl;

	if (l->ssl_ctx != NULL) {
		ssl = SSL_new(l->ssl_ctx);
		if (ssl == NULL)
			fatal("out of memory creating a TLS session");
		bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
		    BEV_OPT_CLOSE_ON_FREE);
	} else {
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (bev == NULL)
		fatal("out of memory creating a connection");
	evbuffer_add_cb(bufferevent_get_output(bev), output_cb, NULL);
	bufferevent_incref(bev);
	c = xcalloc(1, sizeof(*c));
	c->l = l;
	c->bev = bev;
	c->fd = -1;
	c->phase = CONN_HEAD;
	http_head_init(&c->head);
	c->input_cb = evbuffer_add_cb(bufferevent_get_input(bev), input_cb, c);
	if (c->input_cb == NULL)
		fatal("out of memory creating a connection");
	/* The first request's time runs from the accept: the TLS handshake is part of it. */
	evtimer_assign(&c->deadline, base, deadline_cb, c);
	evtimer_add(&c->deadline, l->deadline_tv);
	c->next = l->conns;
	l->conns = c;
	atomic_fetch_add_explicit(&l->n_conns, 1, memory_order_relaxed);
	conn_limit_opened(l->limits);
	event_active(l->admit_ev, EV_TIMEOUT, 1);
	update_accepting(l);
	return bev;
}

static void
conn_free(struct listener *l, struct conn *c)
{
	conn_uncount(c);
	conn_limit_closed(l->limits);
	if (c->fd >= 0 && (size_t)c->fd < l->by_fd_size && l->by_fd[c->fd] == c)
		l->by_fd[c->fd] = NULL;
	evtimer_del(&c->deadline);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->input_cb);
	bufferevent_decref(c->bev);
	free(c);
}

/*
 * Closes connections that are done and starts the lingering close of those
 * evhttp has let go of since (most start at their next input instead).
 */
static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;
	struct conn **pp = &l->conns, *c;

	(void)fd;
	(void)what;
	while ((c = *pp) != NULL) {
		if (c->phase == CONN_CLOSED) {
			*pp = c->next;
			conn_free(l, c);
			atomic_fetch_sub_explicit(&l->n_conns, 1, memory_order_relaxed);
			continue;
		}
		if (c->phase != CONN_LINGER && released(c))
			conn_linger(c);
		pp = &c->next;
	}
	update_accepting(l);
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

/* A request whose head http_head refused: 400, and the connection closes. */
static void
reject_head(struct http_req *hr, const struct conn *c)
{
	const char *why = "malformed request head";

	if (c != NULL && c->head.result == HTTP_HEAD_BAD)
		why = c->head.bad;
	evhttp_add_header(evhttp_request_get_output_headers(hr->req), "Connection", "close");
	http_reply_text(hr, 400, why);
}

/*
 * evhttp is freeing the connection (the client closed it, or it timed out):
 * it stops counting against max_connections_per_ip now rather than at the
 * next sweep, so that a client opening a connection per request is not
 * refused for connections it has already closed.
 */
static void
evcon_close_cb(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	conn_uncount(arg);
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
gen_cb(struct evhttp_request *req, void *arg)
{
	struct listener *l = arg;
	struct http_req *hr = xcalloc(1, sizeof(*hr));
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const struct sockaddr *peer = evcon ? evhttp_connection_get_addr(evcon) : NULL;
	struct conn *c = conn_of(l, req);
	size_t i, n;

	hr->req = req;
	hr->rt = l->rt;
	hr->method = (int)evhttp_request_get_command(req);
	hr->tls = l->ssl_ctx != NULL;
	hr->start_us = util_mono_us();
	hr->route = "unknown";
	new_request_id(l, hr->id);
	util_strlcpy(hr->client, "unknown", sizeof(hr->client));
	if (peer != NULL)
		client_addr_find(hr, peer);
	atomic_fetch_add_explicit(&l->active, 1, memory_order_relaxed);
	/* Every request comes through a checked connection; one that did not is refused. */
	if (c == NULL || c->head.result != HTTP_HEAD_DONE) {
		if (c != NULL)
			evtimer_del(&c->deadline);
		reject_head(hr, c);
		return;
	}
	conn_next_request(c);
	evhttp_connection_set_closecb(evcon, evcon_close_cb, c);
	if (path == NULL)
		path = "/";
	for (i = 0; i < l->n_routes; i++) {
		n = strlen(l->routes[i].prefix);
		if (l->routes[i].exact ? strcmp(path, l->routes[i].prefix) == 0 :
		    strncmp(path, l->routes[i].prefix, n) == 0) {
			dispatch(hr, &l->routes[i], path + n);
			return;
		}
	}
	http_reply_text(hr, 404, "not found");
}

/*
 * Binds listen's host on port (see listen_socket_open) and serves HTTP on
 * it.
 */
static int
bind_listener(struct listener *l, int port, char **err)
{
	l->lev = listen_socket_open(l->rt->base, l->rt->cfg->listen, port, &l->port, err);
	if (l->lev == NULL)
		return -1;
	if (evhttp_bind_listener(l->http, l->lev) == NULL) {
		*err = xasprintf("cannot serve HTTP on %s", l->rt->cfg->listen);
		return -1;
	}
	l->accepting = 1;
	return 0;
}

static void
apply_limits(struct listener *l)
{
	const struct config *cfg = l->rt->cfg;

	evhttp_set_max_body_size(l->http, cfg->max_body);
	evhttp_set_max_headers_size(l->http, cfg->max_header_size);
	evhttp_set_timeout(l->http, (int)cfg->request_timeout);
	l->deadline_tv = event_base_init_common_timeout(l->rt->base,
	    &(struct timeval){ (time_t)cfg->request_timeout, 0 });
	if (l->deadline_tv == NULL)
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
	l->http = evhttp_new(rt->base);
	if (l->http == NULL)
		fatal("out of memory creating the HTTP server");
	/*
	 * No EVHTTP_SERVER_LINGERING_CLOSE: with it evhttp reads an oversized
	 * body to its announced end before it answers 413, which for a length
	 * of 2^63 is never.  Without it evhttp answers at once, and the
	 * listener's own lingering close (bounded) lets the client read it.
	 */
	evhttp_set_allowed_methods(l->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
	evhttp_set_bevcb(l->http, bevcb, l);
	evhttp_set_gencb(l->http, gen_cb, l);
	apply_limits(l);
	if (bind_listener(l, port, err) == -1)
		goto fail;
	l->sweep_ev = event_new(rt->base, -1, EV_PERSIST, sweep_cb, l);
	l->admit_ev = event_new(rt->base, -1, 0, admit_cb, l);
	if (l->sweep_ev == NULL || l->admit_ev == NULL)
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
	struct conn *c, *next;

	if (l == NULL)
		return;
	if (l->sweep_ev != NULL)
		event_free(l->sweep_ev);
	if (l->admit_ev != NULL)
		event_free(l->admit_ev);
	if (l->http != NULL)
		evhttp_free(l->http);	/* frees the bound listener and connections */
	for (c = l->conns; c != NULL; c = next) {
		next = c->next;
		conn_free(l, c);
	}
	free(l->by_fd);
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

const char *
http_header(const struct http_req *hr, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(hr->req), name);
}

static void
access_log(const struct http_req *hr, int status, double secs)
{
	const char *method;

	switch (evhttp_request_get_command(hr->req)) {
	case EVHTTP_REQ_GET: method = "GET"; break;
	case EVHTTP_REQ_POST: method = "POST"; break;
	case EVHTTP_REQ_HEAD: method = "HEAD"; break;
	default: method = "OTHER"; break;
	}
	log_ctx(status >= 400 ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG, hr->id,
	    hr->app[0] ? hr->app : NULL, "%s %s -> %d in %.1f ms from %s", method, hr->route,
	    status, secs * 1000, hr->client);
}

/*
 * evhttp queues an answer's head and body as two chains, which
 * bufferevent_openssl writes with one SSL_write each: two TLS records, two
 * write(2)s and two segments for the client to wake up for.  A small answer
 * (every webhook ack) is joined into one; a big one (metrics, status) is left
 * alone rather than copied.
 */
#define COALESCE_MAX 4096

static void
coalesce_output(struct evhttp_connection *evcon)
{
	struct evbuffer *out = bufferevent_get_output(evhttp_connection_get_bufferevent(evcon));

	if (evbuffer_get_length(out) <= COALESCE_MAX)
		evbuffer_pullup(out, -1);
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
 * Answers with body a followed by body b (either may be empty), written
 * straight into the request's output buffer: no copy, no allocation.  A
 * HEAD is answered with the headers and length a GET would get and no body
 * (evhttp would send the body and leave the client to misread the next
 * answer on the connection).
 */
static void
send_reply(struct http_req *hr, int status, const char *content_type, const char *csp,
    const void *a, size_t alen, const void *b, size_t blen)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(hr->req);
	struct evbuffer *buf = evhttp_request_get_output_buffer(hr->req);
	struct listener *l = hr->rt->listener;
	double secs = (double)(util_mono_us() - hr->start_us) / 1e6;
	struct evhttp_connection *evcon;
	char len[24];

	if (hr->relay != NULL) {
		handoff_reply(hr, status, content_type, a, alen, b, blen);
		return;
	}
	if (content_type != NULL)
		evhttp_add_header(out, "Content-Type", content_type);
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(out, "Content-Security-Policy", csp);
	evhttp_add_header(out, "Referrer-Policy", "no-referrer");
	evhttp_add_header(out, "X-Request-Id", hr->id);
	/* HEAD: the GET's length and headers, no body (a handed-off answer's body is in buf already). */
	if (evhttp_request_get_command(hr->req) == EVHTTP_REQ_HEAD) {
		snprintf(len, sizeof(len), "%zu", evbuffer_get_length(buf) + alen + blen);
		evhttp_add_header(out, "Content-Length", len);
		evbuffer_drain(buf, evbuffer_get_length(buf));
		alen = blen = 0;
	}
	/* Stopping: a keep-alive client is told to take its next request elsewhere. */
	if (l != NULL && l->stopped)
		evhttp_add_header(out, "Connection", "close");
	if ((alen > 0 && evbuffer_add(buf, a, alen) == -1) ||
	    (blen > 0 && evbuffer_add(buf, b, blen) == -1))
		fatal("out of memory answering a request");
	evcon = evhttp_request_get_connection(hr->req);
	evhttp_send_reply(hr->req, status, NULL, NULL);
	if (evcon != NULL)
		coalesce_output(evcon);
	metrics_inc_request(hr->route, status);
	access_log(hr, status, secs);
	if (l != NULL)
		atomic_fetch_sub_explicit(&l->active, 1, memory_order_relaxed);
	free(hr);
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
	evhttp_add_header(evhttp_request_get_output_headers(hr->req), "Cache-Control", "no-store");
	send_reply(hr, status, content_type, csp_page, body, body != NULL ? len : 0, NULL, 0);
}

void
http_reply_text(struct http_req *hr, int status, const char *msg)
{
	send_reply(hr, status, "text/plain; charset=utf-8", csp_data, msg, strlen(msg), "\n", 1);
}
