/*
 * conn: one client connection, HTTP/1.1 over TLS or plain.  See conn.h.
 *
 * TLS runs over a BIO of our own: its reads come from the bytes read(2)
 * gave us (c->raw), its writes go to c->out, which one write(2) sends.  So
 * a request costs one read and one write, and the socket is registered for
 * writing only while the kernel holds back part of an answer.
 */
#include "intake/conn.h"
#include "intake/http_req.h"
#include "lib/http_chunked.h"
#include "lib/http_head.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* What one read(2) asks for: a full TLS record and its header. */
#define READ_CHUNK (16384 + 512)
/* What a lingering close discards at most, and for how long, before it closes anyway. */
#define LINGER_MAX_BYTES (4 * 1024 * 1024)
#define LINGER_MS 5000

enum phase {
	P_HEAD,		/* reading a request's head (none of it yet: idle) */
	P_BODY,		/* the head is read and checked: reading the body */
	P_WAIT,		/* the request was handed on: its answer is awaited */
	P_LINGER,	/* answered and closing: the client's bytes are discarded */
	P_DEAD		/* the socket failed with a request in flight: its answer is dropped */
};

struct conn {
	struct conn *next, **pprev;	/* the listener's list */
	evutil_socket_t fd;
	struct sockaddr_storage peer;
	int flags;			/* the listener's (conn_flags) */
	SSL *ssl;			/* NULL: plain HTTP */
	const struct conn_limits *lim;
	const struct conn_hooks *hooks;
	void *arg;
	struct event rev;		/* readable: registered for the connection's life */
	struct event wev;		/* writable: only while output is held back */
	struct event deadline;
	enum phase phase;
	int busy;			/* inside one of our calls: a close waits for it */
	int advancing;			/* advance() is on the stack */
	int doomed;			/* to be freed when busy ends */
	int reading;			/* rev is added */
	int writing;			/* wev is added */
	int peer_eof;			/* the client sent no more */
	int started;			/* a byte of the current request has come */
	unsigned long served;		/* requests answered */
	int closing;			/* the request in flight is the last */
	/* Plaintext input: the current request, and any pipelined after it. */
	char *in;
	size_t in_len, in_cap;
	struct http_head head;
	size_t head_len;		/* bytes of the head checked so far (all once done) */
	struct http_req *hr;		/* being read (P_BODY), or handed on (P_WAIT) */
	int64_t content_length;		/* -1: chunked */
	struct http_chunked chunked;
	size_t chunked_used;		/* input bytes the chunked decoder has taken */
	/* TLS ciphertext read but not yet taken by OpenSSL. */
	char *raw;
	size_t raw_len, raw_off;
	int raw_eof;
	/* Bytes to send (ciphertext under TLS). */
	char *out;
	size_t out_len, out_off, out_cap;
	int64_t linger_start_ms;
	size_t lingered;
};

static void read_cb(evutil_socket_t fd, short what, void *arg);
static void write_cb(evutil_socket_t fd, short what, void *arg);
static void deadline_cb(evutil_socket_t fd, short what, void *arg);
static void advance(struct conn *c);

/* ---- Buffers ---- */

static void
out_add(struct conn *c, const void *p, size_t n)
{
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;

		while (cap < c->out_len + n)
			cap *= 2;
		c->out = xrealloc(c->out, cap);
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

/* Room for at least n more bytes of plaintext input. */
static void
in_reserve(struct conn *c, size_t n)
{
	size_t cap = c->in_cap ? c->in_cap : 4096;

	if (c->in_len + n + 1 <= c->in_cap)
		return;
	while (cap < c->in_len + n + 1)
		cap *= 2;
	c->in = xrealloc(c->in, cap);
	c->in_cap = cap;
}

/* Drops the first n bytes of input (a request done); an empty buffer is given back. */
static void
in_consume(struct conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
	if (c->in_len == 0) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
}

/* ---- The BIO under TLS ---- */

static int
bio_read(BIO *b, char *buf, int size)
{
	struct conn *c = BIO_get_data(b);
	size_t avail = c->raw_len - c->raw_off, n;

	BIO_clear_retry_flags(b);
	if (avail == 0) {
		if (c->raw_eof)
			return 0;
		BIO_set_retry_read(b);
		return -1;
	}
	n = avail < (size_t)size ? avail : (size_t)size;
	memcpy(buf, c->raw + c->raw_off, n);
	c->raw_off += n;
	if (c->raw_off == c->raw_len)
		c->raw_off = c->raw_len = 0;
	return (int)n;
}

static int
bio_write(BIO *b, const char *buf, int size)
{
	BIO_clear_retry_flags(b);
	out_add(BIO_get_data(b), buf, (size_t)size);
	return size;
}

static long
bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int
bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static void
bio_method_init(void)
{
	bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "rekey conn");
	if (bio_method == NULL || BIO_meth_set_read(bio_method, bio_read) != 1 ||
	    BIO_meth_set_write(bio_method, bio_write) != 1 ||
	    BIO_meth_set_ctrl(bio_method, bio_ctrl) != 1 ||
	    BIO_meth_set_create(bio_method, bio_create) != 1)
		fatal("out of memory setting up TLS connections");
}

/* ---- Life and death ---- */

static void
unregister(struct conn *c)
{
	if (c->reading)
		event_del(&c->rev);
	if (c->writing)
		event_del(&c->wev);
	c->reading = c->writing = 0;
	evtimer_del(&c->deadline);
}

static void
release(struct conn *c)
{
	unregister(c);
	if (c->fd >= 0)
		evutil_closesocket(c->fd);
	c->fd = -1;
	SSL_free(c->ssl);
	c->ssl = NULL;
	http_chunked_clear(&c->chunked);
	free(c->in);
	free(c->raw);
	free(c->out);
	c->in = c->raw = c->out = NULL;
	if (c->next != NULL)
		c->next->pprev = c->pprev;
	*c->pprev = c->next;
}

/* Frees c, once nothing on the stack uses it. */
static void
finish(struct conn *c)
{
	if (c->hr != NULL && c->phase == P_BODY)
		http_req_free(c->hr);	/* read, never handed on */
	c->hr = NULL;
	release(c);
	c->hooks->closed(c->arg, c);
	free(c);
}

/* Ends c: every caller is between enter and leave, and leave frees it. */
static void
destroy(struct conn *c)
{
	c->doomed = 1;
	unregister(c);
}

/* Ends the connection: at once, or, with a request in flight, once its answer comes. */
static void
fail(struct conn *c)
{
	ERR_clear_error();
	if (c->phase == P_WAIT) {
		c->phase = P_DEAD;
		unregister(c);
		if (c->fd >= 0)
			shutdown(c->fd, SHUT_RDWR);
		return;
	}
	if (c->phase != P_DEAD)
		destroy(c);
}

static void
enter(struct conn *c)
{
	c->busy++;
}

static void
leave(struct conn *c)
{
	if (--c->busy == 0 && c->doomed)
		finish(c);
}

/* ---- Writing ---- */

/* Sends what c->out holds; 0, or -1 when the socket failed. */
static int
flush(struct conn *c)
{
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->writing && event_add(&c->wev, NULL) == 0)
				c->writing = 1;
			return 0;
		}
		return -1;
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = c->out_cap = 0;
	if (c->writing)
		event_del(&c->wev);
	c->writing = 0;
	return 0;
}

/* Queues bytes (encrypted under TLS) and sends them; 0 or -1. */
static int
send_bytes(struct conn *c, const char *p, size_t n)
{
	int rc;

	if (c->ssl == NULL) {
		out_add(c, p, n);
		return flush(c);
	}
	while (n > 0) {
		rc = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
		if (rc <= 0)
			return -1;
		p += rc;
		n -= (size_t)rc;
	}
	return flush(c);
}

/* ---- Reading ---- */

/* OpenSSL's plaintext into c->in, as far as the ciphertext read goes; 0 or -1. */
static int
tls_in(struct conn *c)
{
	int n, err;

	for (;;) {
		in_reserve(c, 4096);
		n = SSL_read(c->ssl, c->in + c->in_len, (int)(c->in_cap - c->in_len - 1));
		if (n > 0) {
			c->in_len += (size_t)n;
			continue;
		}
		err = SSL_get_error(c->ssl, n);
		if (err == SSL_ERROR_WANT_READ)
			break;
		if (err == SSL_ERROR_ZERO_RETURN || c->raw_eof) {
			/* close_notify, or the end of the stream (OpenSSL 3 calls it an error) */
			c->peer_eof = 1;
			ERR_clear_error();
			break;
		}
		(void)flush(c);	/* the alert that says why, if the socket takes it */
		/* A broken certificate chain shows only as clients going away: count it. */
		if (!SSL_is_init_finished(c->ssl))
			metrics_counter_add("rekey_tls_handshake_failures_total", "TLS handshakes "
			    "that failed (a client that does not trust the certificate, plain HTTP on "
			    "the TLS port, no common protocol or cipher).", "", 1);
		return -1;	/* a failed handshake, a bad record */
	}
	if (c->in_len == 0) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
	if (c->raw_len == 0) {
		free(c->raw);
		c->raw = NULL;
	}
	/* The handshake's answers, session tickets, an alert. */
	return flush(c);
}

/* One read(2), into c->raw (TLS) or c->in; 0, or -1 when the socket failed. */
static int
fill(struct conn *c)
{
	ssize_t n;
	char *dst;

	if (c->ssl != NULL) {
		/* What OpenSSL took goes: a record cut by the read stays, the buffer does not grow. */
		if (c->raw_off > 0) {
			memmove(c->raw, c->raw + c->raw_off, c->raw_len - c->raw_off);
			c->raw_len -= c->raw_off;
			c->raw_off = 0;
		}
		c->raw = xrealloc(c->raw, c->raw_len + READ_CHUNK);
		dst = c->raw + c->raw_len;
	} else {
		in_reserve(c, READ_CHUNK);
		dst = c->in + c->in_len;
	}
	do
		n = read(c->fd, dst, READ_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		n = -2;
	else if (n < 0)
		return -1;
	if (n == 0) {
		c->raw_eof = c->ssl != NULL;
		c->peer_eof = c->ssl == NULL;
	} else if (n > 0 && c->ssl != NULL) {
		c->raw_len += (size_t)n;
	} else if (n > 0) {
		c->in_len += (size_t)n;
	}
	return c->ssl != NULL ? tls_in(c) : 0;
}

/* Input held while a request is in flight, beyond which reading pauses. */
static size_t
in_limit(const struct conn *c)
{
	return c->lim->max_header + c->lim->max_body + READ_CHUNK;
}

/* ---- Requests ---- */

static struct http_req *
new_req(struct conn *c)
{
	struct http_req *hr = xcalloc(1, sizeof(*hr));

	hr->conn = c;
	hr->method = HTTP_OTHER;
	hr->minor = 1;
	return hr;
}

/* Refuses the request being read: answered by the listener, then the connection closes. */
static void
refuse(struct conn *c, int status, const char *why)
{
	if (c->hr == NULL)
		c->hr = new_req(c);
	c->phase = P_WAIT;
	c->closing = 1;
	evtimer_del(&c->deadline);
	c->hooks->refuse(c->arg, c, c->hr, status, why);
}

/* Whether the connection stays open after this request (RFC 9112 section 9.3). */
static int
keeps_alive(const struct http_req *hr)
{
	const char *v = http_header(hr, "Connection");
	int has_close = v != NULL && strcasestr(v, "close") != NULL;

	if (hr->minor == 0)
		return v != NULL && strcasestr(v, "keep-alive") != NULL && !has_close;
	return !has_close;
}

/* The head is in: it becomes a request, and its body is awaited; 0, or -1 when refused. */
static int
head_done(struct conn *c)
{
	const char *why, *expect;
	char *text = xmalloc(c->head_len + 1);

	memcpy(text, c->in, c->head_len);
	text[c->head_len] = '\0';
	c->hr = new_req(c);
	if (http_req_take_head(c->hr, text, c->head_len, &why) == -1) {
		refuse(c, 400, why);
		return -1;
	}
	if (c->hr->method == HTTP_OTHER) {
		refuse(c, 501, "method not implemented");
		return -1;
	}
	c->closing = !keeps_alive(c->hr);
	c->content_length = c->head.n_transfer_encoding > 0 ? -1 :
	    (c->head.content_length > 0 ? c->head.content_length : 0);
	if (c->content_length > 0 && (uint64_t)c->content_length > c->lim->max_body) {
		refuse(c, 413, "body over max_body");
		return -1;
	}
	http_chunked_init(&c->chunked, c->lim->max_body);
	c->chunked_used = 0;
	c->phase = P_BODY;
	expect = http_header(c->hr, "Expect");
	if (expect != NULL && strcasecmp(expect, "100-continue") == 0 && c->hr->minor >= 1 &&
	    c->content_length != 0 && c->in_len == c->head_len) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		if (send_bytes(c, cont, sizeof(cont) - 1) == -1) {
			fail(c);
			return -1;
		}
	}
	return 0;
}

/* Bytes of input the body takes, once it is all in; 0 while it is not. */
static size_t
body_end(struct conn *c)
{
	enum http_chunked_result r;
	size_t used;

	if (c->content_length >= 0)
		return c->in_len - c->head_len >= (uint64_t)c->content_length ?
		    c->head_len + (size_t)c->content_length : 0;
	r = http_chunked_feed(&c->chunked, c->in + c->head_len + c->chunked_used,
	    c->in_len - c->head_len - c->chunked_used, &used);
	c->chunked_used += used;
	if (r == HTTP_CHUNKED_DONE)
		return c->head_len + c->chunked_used;
	if (r == HTTP_CHUNKED_BAD)
		refuse(c, 400, c->chunked.bad);
	else if (r == HTTP_CHUNKED_TOO_LARGE)
		refuse(c, 413, "body over max_body");
	return 0;
}

/* The whole request is in: it goes to the listener. */
static void
hand_on(struct conn *c, size_t end)
{
	struct http_req *hr = c->hr;

	if (c->content_length >= 0) {
		hr->body_len = (size_t)c->content_length;
		hr->body = xmalloc(hr->body_len + 1);
		memcpy(hr->body, c->in + c->head_len, hr->body_len);
		hr->body[hr->body_len] = '\0';
	} else {
		hr->body = http_chunked_take(&c->chunked, &hr->body_len);
	}
	in_consume(c, end);
	c->phase = P_WAIT;
	evtimer_del(&c->deadline);
	c->hooks->request(c->arg, c, hr);
}

/* The head of the next request, as far as it has come; 0 to go on, -1 to stop here. */
static int
read_head(struct conn *c)
{
	size_t used;
	enum http_head_result r;

	if (!c->started) {
		c->started = 1;
		evtimer_add(&c->deadline, c->lim->deadline);
	}
	r = http_head_feed(&c->head, c->in + c->head_len, c->in_len - c->head_len, &used);
	c->head_len += used;
	if (r == HTTP_HEAD_BAD) {
		refuse(c, c->head.too_large ? 413 : 400, c->head.bad);
		return -1;
	}
	if (c->head_len > c->lim->max_header) {
		refuse(c, 431, "request head over max_header_size");
		return -1;
	}
	if (r == HTTP_HEAD_MORE)
		return -1;
	return head_done(c);
}

/* Reads, and hands on, every request the input holds, one at a time. */
static void
advance(struct conn *c)
{
	size_t end;

	/* An answer given while a request is handed on continues the loop below, not a new one. */
	if (c->advancing)
		return;
	c->advancing = 1;
	while (!c->doomed) {
		if (c->phase == P_HEAD) {
			/* The next answer waits until the client has taken the last one. */
			if (c->in_len == 0 || c->out_len > 0 || read_head(c) == -1)
				break;
		} else if (c->phase == P_BODY) {
			end = body_end(c);
			if (end == 0)
				break;
			hand_on(c, end);
		} else {
			break;
		}
	}
	c->advancing = 0;
	if (c->doomed || c->phase == P_DEAD)
		return;
	if (c->peer_eof && (c->phase == P_HEAD || c->phase == P_BODY) && c->out_len == 0) {
		destroy(c);	/* the client is done, with nothing (or half a request) unanswered */
		return;
	}
	if ((c->phase == P_WAIT || c->out_len > 0) && c->reading && c->in_len > in_limit(c)) {
		event_del(&c->rev);	/* a pipelining client waits for its answers */
		c->reading = 0;
	}
}

/* Reading again after a pause (unless the client has sent its last). */
static void
resume_reading(struct conn *c)
{
	if (!c->reading && !c->peer_eof && !c->doomed && event_add(&c->rev, NULL) == 0)
		c->reading = 1;
}

/* ---- The lingering close ---- */

static void
linger_read(struct conn *c)
{
	char buf[READ_CHUNK];
	ssize_t n = read(c->fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n > 0)
		c->lingered += (size_t)n;
	if (n <= 0 || util_now_ms() - c->linger_start_ms > LINGER_MS) {
		destroy(c);
	} else if (c->lingered > LINGER_MAX_BYTES && c->reading) {
		/*
		 * Enough discarded: stop reading, and close at the deadline.  Closing
		 * now, with the client's bytes unread, would send a reset that can
		 * destroy the answer in the client's buffer before it reads it;
		 * unread, its bytes just fill the window and its sending blocks.
		 */
		event_del(&c->rev);
		c->reading = 0;
	}
}

/*
 * Closing with unread bytes would reset the connection and could destroy
 * the answer before the client reads it.  So, as nginx does, the write
 * side is shut once the answer is out, and the client's bytes are read and
 * discarded until it closes, up to LINGER_MAX_BYTES (then no more are read)
 * and LINGER_MS (then the connection closes).
 */
static void
start_linger(struct conn *c)
{
	struct timeval tv = { LINGER_MS / 1000, (LINGER_MS % 1000) * 1000 };

	c->phase = P_LINGER;
	c->linger_start_ms = util_now_ms();
	c->lingered = 0;
	free(c->in);
	c->in = NULL;
	c->in_len = c->in_cap = 0;
	evtimer_del(&c->deadline);
	evtimer_add(&c->deadline, &tv);
	if (c->ssl != NULL) {
		(void)SSL_shutdown(c->ssl);	/* queues close_notify */
		ERR_clear_error();
		if (flush(c) == -1) {
			destroy(c);
			return;
		}
	}
	if (!c->reading && event_add(&c->rev, NULL) == 0)
		c->reading = 1;
	if (c->out_len == 0) {
		if (c->peer_eof) {
			destroy(c);
			return;
		}
		shutdown(c->fd, SHUT_WR);
	}
}

/* ---- Event callbacks ---- */

static void
read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	enter(c);
	if (c->phase == P_LINGER)
		linger_read(c);
	else if (fill(c) == -1)
		fail(c);
	else
		advance(c);
	if (c->peer_eof && c->reading && !c->doomed) {
		event_del(&c->rev);	/* nothing more will come: stop polling */
		c->reading = 0;
	}
	leave(c);
}

static void
write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	enter(c);
	if (flush(c) == -1) {
		fail(c);
	} else if (c->phase == P_LINGER && c->out_len == 0) {
		if (c->peer_eof)
			destroy(c);
		else
			shutdown(c->fd, SHUT_WR);
	} else if (c->phase == P_HEAD && c->out_len == 0) {
		resume_reading(c);
		advance(c);	/* pipelined requests held back while the answer was going out */
	}
	leave(c);
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	enter(c);
	/* A request begun (or the first, handshake included) overstayed; an idle one just ends. */
	if (c->phase != P_LINGER && (c->started || c->served == 0))
		c->hooks->timed_out(c->arg, c);
	destroy(c);
	leave(c);
}

/* ---- The listener's side ---- */

struct conn *
conn_new(struct event_base *base, evutil_socket_t fd, const struct sockaddr *peer,
    socklen_t peer_len, struct ssl_ctx_st *ctx, const struct conn_limits *limits,
    const struct conn_hooks *hooks, void *arg, struct conn **list)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	BIO *bio;

	c->fd = fd;
	if (peer_len > (socklen_t)sizeof(c->peer))
		peer_len = sizeof(c->peer);
	memcpy(&c->peer, peer, (size_t)peer_len);
	c->lim = limits;
	c->hooks = hooks;
	c->arg = arg;
	c->content_length = 0;
	http_head_init(&c->head);
	http_chunked_init(&c->chunked, 0);
	if (ctx != NULL) {
		pthread_once(&bio_once, bio_method_init);
		c->ssl = SSL_new(ctx);
		bio = BIO_new(bio_method);
		if (c->ssl == NULL || bio == NULL)
			fatal("out of memory creating a TLS session");
		BIO_set_data(bio, c);
		SSL_set_bio(c->ssl, bio, bio);
		SSL_set_accept_state(c->ssl);
	}
	event_assign(&c->rev, base, fd, EV_READ | EV_PERSIST, read_cb, c);
	event_assign(&c->wev, base, fd, EV_WRITE | EV_PERSIST, write_cb, c);
	evtimer_assign(&c->deadline, base, deadline_cb, c);
	if (event_add(&c->rev, NULL) == -1)
		fatal("cannot watch a new connection");
	c->reading = 1;
	/* The first request's time runs from the accept: the TLS handshake is part of it. */
	evtimer_add(&c->deadline, limits->deadline);
	c->next = *list;
	if (c->next != NULL)
		c->next->pprev = &c->next;
	c->pprev = list;
	*list = c;
	return c;
}

struct conn *
conn_next(const struct conn *c)
{
	return c->next;
}

void
conn_answer(struct conn *c, const char *bytes, size_t len, int close)
{
	enter(c);
	c->hr = NULL;	/* the listener frees it */
	if (c->phase == P_DEAD) {
		c->phase = P_LINGER;	/* not P_BODY: nothing of the request is left to free */
		destroy(c);
		leave(c);
		return;
	}
	c->served++;
	if (send_bytes(c, bytes, len) == -1) {
		c->phase = P_LINGER;
		destroy(c);
	} else if (close || c->closing) {
		start_linger(c);
	} else {
		c->phase = P_HEAD;
		c->started = 0;
		c->head_len = 0;
		http_head_init(&c->head);
		evtimer_add(&c->deadline, c->lim->deadline);	/* as an idle connection */
		if (c->out_len == 0)
			resume_reading(c);
		advance(c);
	}
	leave(c);
}

int
conn_closing(const struct conn *c)
{
	return c->closing;
}

const struct sockaddr *
conn_peer(const struct conn *c)
{
	return (const struct sockaddr *)&c->peer;
}

int *
conn_flags(struct conn *c)
{
	return &c->flags;
}

void
conn_free(struct conn *c)
{
	if (c->hr != NULL && c->phase == P_BODY)
		http_req_free(c->hr);
	release(c);
	free(c);
}
