/*
 * conn: one client connection of an intake loop, HTTP/1.1 over TLS (or
 * plain, behind a proxy), read and written by rekey itself rather than by
 * evhttp and bufferevent_openssl.  Those cost three epoll_ctl calls, two
 * reads per TLS record and a loop pass for EPOLLOUT per request; here the
 * socket stays registered for reading, TLS goes through a BIO of our own (one
 * read(2) per wake-up, the whole answer in one write(2)), and writing is
 * polled for only when the kernel would not take an answer at once.
 *
 * It reads a request's head (checked by http_head as it arrives) and body
 * (Content-Length or chunked, with Expect: 100-continue), hands it on, and
 * writes the answer it is given; requests pipelined behind one wait their
 * turn.  Each request has request_timeout from its first byte (the first
 * from the accept, handshake included), an idle connection the same; an
 * answer that closes the connection is followed by a bounded lingering
 * close, so that a client still sending (a body over max_body) reads it.
 */
#ifndef REKEY_INTAKE_CONN_H
#define REKEY_INTAKE_CONN_H

#include <stddef.h>
#include <sys/socket.h>

#include <event2/util.h>

struct conn;
struct http_req;
struct event_base;
struct ssl_ctx_st;
struct timeval;

/* The listener's limits, read at each use (a reload changes them in place). */
struct conn_limits {
	size_t max_body;
	size_t max_header;
	const struct timeval *deadline;		/* request_timeout, as a common timeout */
};

/* What the connection tells its listener. */
struct conn_hooks {
	/* A whole request, to be answered once with conn_answer. */
	void (*request)(void *arg, struct conn *c, struct http_req *hr);
	/*
	 * A request refused before any handler (status 400, 413, 431 or 501,
	 * why says what): answered the same way; the connection closes after.
	 */
	void (*refuse)(void *arg, struct conn *c, struct http_req *hr, int status, const char *why);
	/* A request not received within request_timeout (the connection is being closed). */
	void (*timed_out)(void *arg, struct conn *c);
	/* The connection is gone; c is freed when this returns. */
	void (*closed)(void *arg, struct conn *c);
};

/*
 * Starts serving fd (accepted, non-blocking), with TLS when ctx is not
 * NULL (the session keeps its own reference).  peer is kept for the
 * listener (conn_peer).  The connection is on list (the listener's) until
 * it is freed.
 */
struct conn *conn_new(struct event_base *base, evutil_socket_t fd, const struct sockaddr *peer,
    socklen_t peer_len, struct ssl_ctx_st *ctx, const struct conn_limits *limits,
    const struct conn_hooks *hooks, void *arg, struct conn **list);
/* The next connection on the list after c. */
struct conn *conn_next(const struct conn *c);
/*
 * Writes the answer to c's request in flight (head and body, composed by
 * the listener; close: the connection ends after it) and goes on to the next
 * request.  When the connection failed meanwhile, the answer is dropped.
 */
void conn_answer(struct conn *c, const char *bytes, size_t len, int close);
/* 1 when the request in flight should be answered with Connection: close. */
int conn_closing(const struct conn *c);
const struct sockaddr *conn_peer(const struct conn *c);
/* The listener's own per-connection word (its per-address tally). */
int *conn_flags(struct conn *c);
/* Closes at once, without a hook call (the listener is going away). */
void conn_free(struct conn *c);

#endif
