/*
 * http_client_int: the HTTP client's insides, shared by its own files and
 * by nothing else: http_client.c (the client: curl's multi handle on
 * libevent, a request's life from its first attempt to its callback),
 * http_request.c (checking and copying what a caller asks to send) and
 * http_attempt.c (one attempt on a curl easy handle, and what its end
 * means).
 *
 * It uses the types of outbound/http_client.h, which each of those files
 * includes first.  It does not include that header itself: it is part of the
 * http_client module, not a module that depends on it, and tests/layers.sh
 * would see the two include each other.
 */
#ifndef REKEY_OUTBOUND_HTTP_CLIENT_INT_H
#define REKEY_OUTBOUND_HTTP_CLIENT_INT_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <openssl/x509.h>

struct event;
struct event_base;
struct hsock;
struct secret;

/* Response headers kept per attempt: enough for Retry-After and request ids. */
#define MAX_HEADERS 64
/* Authorization, Content-Type, client-request-id, Expect, and the caller's. */
#define MAX_HEADER_LINES (HTTP_MAX_EXTRA_HEADERS + 4)

struct header {
	char *name;
	char *value;
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
	int (*gate)(void *arg);		/* NULL, or 0 when nothing may be sent now */
	void *gate_arg;
};

/* What one attempt's end means. */
enum attempt_result {
	ATTEMPT_OK,
	ATTEMPT_RETRY,
	ATTEMPT_PERMANENT,
};

/* http_attempt.c */

/* Forgets the current attempt's response headers. */
void hreq_headers_clear(struct hreq *hr);
/* Replaces hr->error with error (taken over; NULL clears it). */
void hreq_set_error(struct hreq *hr, char *error);
/* Starts the next attempt: 0, or -1 (hr->error set) when libcurl refuses it. */
int http_attempt_start(struct hreq *hr);
/* The verdict on an HTTPS attempt that ended with rc; sets hr->error. */
enum attempt_result http_attempt_result(struct hreq *hr, CURLcode rc);
/* The verdict on a mail attempt (the SMTP reply code first); sets hr->error. */
enum attempt_result http_mail_attempt_result(struct hreq *hr, CURLcode rc);

/* http_client.c */

/* Starts hr's first attempt and tracks it: 0, or -1 (logged, hr freed). */
int hreq_launch(struct hreq *hr);

#endif
