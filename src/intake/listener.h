/*
 * listener: the one HTTP(S) listener.  libevent evhttp over OpenSSL
 * bufferevents (TLS 1.2 and 1.3 only), or plain HTTP behind a proxy; limits
 * on body, header size, time and connections; X-Forwarded-For believed only
 * from trusted proxies; a request id per request; an access line and metrics
 * for every answer.  Routing is by path prefix to the modules' handlers.
 */
#ifndef REKEY_INTAKE_LISTENER_H
#define REKEY_INTAKE_LISTENER_H

#include <stddef.h>
#include <stdint.h>

#include "intake/http_req.h"

struct listener;

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
};

/*
 * Binds cfg->listen and starts accepting, routing by routes (n_routes
 * entries, which must outlive the listener).  NULL and *err (caller frees)
 * on failure.
 */
struct listener *listener_new(struct runtime *rt, const struct listener_route *routes,
    size_t n_routes, char **err);
void listener_free(struct listener *l);
/* Re-reads the TLS certificate and limits from rt->cfg; the socket stays open.  0 or -1 (*err). */
int listener_reload(struct listener *l, char **err);
/* Stops accepting new connections (for a graceful stop). */
void listener_stop_accepting(struct listener *l);
/* Requests that have been read but not yet answered. */
size_t listener_active_requests(const struct listener *l);
size_t listener_connections(const struct listener *l);
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
/* The request header's value (case-insensitive name), or NULL. */
const char *http_header(const struct http_req *hr, const char *name);

#endif
