/*
 * http_req: one request in flight, as the listener hands it to a handler
 * and the handler answers it (intake/listener.h: http_reply).  Header only,
 * so that what reads a request (client_addr) need not include the listener.
 */
#ifndef REKEY_INTAKE_HTTP_REQ_H
#define REKEY_INTAKE_HTTP_REQ_H

#include <stdint.h>

/* Longest request id believed from a trusted proxy's X-Request-ID. */
#define HTTP_REQ_ID_MAX 64

struct evhttp_request;
struct runtime;
struct handoff;

/*
 * One request in flight.  Owned by the listener; valid until http_reply.
 * Answered on the thread of hr->rt's loop: a route served on the main loop
 * gets a copy (relay) whose answer goes back to the intake loop.
 */
struct http_req {
	struct evhttp_request *req;
	struct runtime *rt;
	/* Request id: rekey's own (16 hex digits), or a trusted proxy's
	 * X-Request-ID ([A-Za-z0-9._-], at most HTTP_REQ_ID_MAX); logged and
	 * sent back as X-Request-Id. */
	char id[HTTP_REQ_ID_MAX + 1];
	char client[64];	/* client address, after trusted X-Forwarded-For */
	int forwarded_https;	/* X-Forwarded-Proto https from a trusted proxy */
	int forwarded_plain;	/* X-Forwarded-Proto other than https from a trusted proxy */
	int tls;		/* the listener speaks TLS itself */
	int peer_loopback;	/* the peer (not the forwarded client) is a loopback address */
	int64_t start_us;
	int method;		/* enum evhttp_cmd_type */
	struct handoff *relay;	/* non-NULL: a main-loop copy of an intake loop's request */
	const char *route;	/* bounded label for metrics and logs */
	char app[64];		/* app name when the route has one */
};

#endif
