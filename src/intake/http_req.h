/*
 * http_req: one request in flight, as a connection (intake/conn) reads it
 * and hands it to a handler, and the handler answers it (intake/listener.h:
 * http_reply).  The request owns copies of its head and body, so it can be
 * carried to another loop (intake/handoff) while its connection waits.
 */
#ifndef REKEY_INTAKE_HTTP_REQ_H
#define REKEY_INTAKE_HTTP_REQ_H

#include <stddef.h>
#include <stdint.h>

/* Longest request id believed from a trusted proxy's X-Request-ID. */
#define HTTP_REQ_ID_MAX 64

struct runtime;
struct handoff;
struct conn;

enum http_method {
	HTTP_GET,
	HTTP_POST,
	HTTP_HEAD,
	HTTP_OTHER	/* refused (501) before a handler sees it */
};

/* One field of the request head: name and value, whitespace around the value trimmed. */
struct http_field {
	const char *name;
	const char *value;
};

/*
 * One request in flight.  Owned by the listener; valid until http_reply.
 * Answered on the thread of hr->rt's loop: a route served on the main loop
 * gets a copy (relay) whose answer goes back to the intake loop.
 */
struct http_req {
	struct conn *conn;	/* the connection it came on (NULL: a main-loop copy) */
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
	enum http_method method;
	int minor;		/* HTTP/1.minor */
	struct handoff *relay;	/* non-NULL: a main-loop copy of an intake loop's request */
	const char *route;	/* bounded label for metrics and logs */
	char app[64];		/* app name when the route has one */

	/* What was read: the head's text, split in place (path, query and fields point into it). */
	char *head;
	size_t head_len;
	const char *path;	/* "/webhooks/nylas/prod", as sent (not decoded) */
	const char *query;	/* after '?', as sent; NULL when there is none */
	struct http_field *fields;
	size_t n_fields;
	char *body;		/* NUL-terminated (the NUL is not counted) */
	size_t body_len;
	/* What the handler adds to the answer: header lines, "Name: value\r\n" each. */
	char *out_fields;
	size_t out_len;
};

/*
 * Splits a head http_head accepted (len bytes, ending in the blank line)
 * into hr: method, path, query, fields.  Takes head (malloc'd).  0, or -1
 * and *why when the request line is not "METHOD target HTTP/1.x".
 */
int http_req_take_head(struct http_req *hr, char *head, size_t len, const char **why);
/* The request header's value (case-insensitive name; the first of several), or NULL. */
const char *http_header(const struct http_req *hr, const char *name);
/* The value of query parameter name, %XX and + decoded (caller frees), or NULL. */
char *http_query_param(const struct http_req *hr, const char *name);
/* The body (NUL-terminated) and its length. */
const char *http_body(const struct http_req *hr, size_t *len);
/* Adds a header to the answer (a value with CR or LF is dropped, and logged). */
void http_add_header(struct http_req *hr, const char *name, const char *value);
/* A copy that owns its own head, body and added headers (rt and relay as in hr). */
struct http_req *http_req_copy(const struct http_req *hr);
/* Frees hr and what it owns. */
void http_req_free(struct http_req *hr);

#endif
