/*
 * listener: an intake loop's HTTP(S) listener.  Accepts connections
 * (intake/conn: HTTP/1.1 over TLS 1.2 and 1.3, or plain HTTP behind a
 * proxy) and answers their requests; limits
 * on body, header size, time and connections; X-Forwarded-For believed only
 * from trusted proxies; a request id per request; an access line and metrics
 * for every answer.  Routing is by path prefix to the modules' handlers.
 * Each intake loop has one, bound to the same address with SO_REUSEPORT;
 * all but listener_active_requests, listener_connections and
 * listener_requests belong to the loop's thread.
 */
#ifndef REKEY_INTAKE_LISTENER_H
#define REKEY_INTAKE_LISTENER_H

#include <stddef.h>
#include <stdint.h>

#include "intake/http_req.h"

struct listener;
struct conn_limit;
struct config;
struct ssl_ctx_st;

/*
 * One entry of the route table main passes in (the listener knows no
 * handler): the first entry that matches a request's path handles it.
 */
struct listener_route {
	const char *prefix;	/* "/webhooks/nylas/" */
	int exact;		/* 1: the path is prefix itself; 0: prefix starts it */
	const char *label;	/* bounded label for metrics and logs */
	/* rest: the path after prefix.  Answers hr exactly once. */
	void (*handle)(struct http_req *hr, const char *rest);
	/*
	 * 1: handled on the main loop (what it reads is the engines' or the
	 * main store connection's); the intake loop hands the request over
	 * and writes the answer back (intake/handoff.h).
	 */
	int on_main;
};

/*
 * The server TLS context of cfg into *out (NULL for plain HTTP): 0, or -1
 * and *err (caller frees).  Each loop has its own.
 */
int listener_tls_new(const struct config *cfg, struct ssl_ctx_st **out, char **err);

/*
 * Binds rt->cfg->listen with SO_REUSEPORT on rt's loop and starts accepting,
 * routing by routes (n_routes entries, which must outlive the listener).
 * port < 0: the configured one, refused when another socket holds it; else
 * that port (the first loop's, which port 0 made up).  Takes ctx (NULL:
 * plain HTTP); counts its connections into limits.  NULL and *err (caller
 * frees) on failure.
 */
struct listener *listener_new(struct runtime *rt, const struct listener_route *routes,
    size_t n_routes, struct conn_limit *limits, struct ssl_ctx_st *ctx, int port, char **err);
void listener_free(struct listener *l);
/*
 * Takes ctx (NULL: plain HTTP) for new connections and the limits of
 * rt->cfg (already the new config); the socket stays open.
 */
void listener_reload(struct listener *l, struct ssl_ctx_st *ctx);
/* Stops accepting new connections (for a graceful stop). */
void listener_stop_accepting(struct listener *l);
/* Requests that have been read but not yet answered.  Any thread. */
size_t listener_active_requests(const struct listener *l);
/* Open connections.  Any thread. */
size_t listener_connections(const struct listener *l);
/* Requests handed to a route so far.  Any thread. */
unsigned long long listener_requests(const struct listener *l);
/* The bound port (useful with port 0). */
int listener_port(const struct listener *l);

/* Answers hr (exactly once) and frees it.  body may be NULL. */
void http_reply(struct http_req *hr, int status, const char *content_type,
    const void *body, size_t len);
/*
 * Answers with one of rekey's own page resources (status_page): the same
 * as http_reply, but the page may load script and style from this origin,
 * and no copy of it is kept.
 */
void http_reply_page(struct http_req *hr, int status, const char *content_type,
    const void *body, size_t len);
/* Answers with a short text/plain message followed by a newline. */
void http_reply_text(struct http_req *hr, int status, const char *msg);

#endif
