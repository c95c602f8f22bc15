/*
 * http_client: outbound HTTPS on libcurl's multi interface, driven by the
 * daemon's libevent loop (curl's hiperfifo pattern): no call blocks, no
 * thread per request.  Every request has a per-attempt timeout, a total
 * budget across retries, a cap on the response size and TLS verification
 * (system store plus [outbound] ca_file; it is never switched off).
 *
 * Retried, with exponential backoff and full jitter, honouring Retry-After
 * (seconds or HTTP date): connection errors and timeouts, 429, 500, 502,
 * 503, 504, and whatever the request's classify callback calls retryable
 * (Graph's concurrent-update 400).  The caller hears exactly once.
 *
 * The same machinery sends email over SMTP (http_client_send_mail): smtp://
 * always upgrades with STARTTLS, smtps:// is TLS from the start, and the
 * same trust store, limits and backoff apply.
 */
#ifndef REKEY_OUTBOUND_HTTP_CLIENT_H
#define REKEY_OUTBOUND_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Retry-After, for callers that read it from an answer themselves. */
#include "outbound/http_retry.h"

struct event_base;
struct http_client;
struct secret;

enum http_outcome {
	HTTP_OUTCOME_OK,		/* 2xx */
	HTTP_OUTCOME_RETRYABLE,		/* still failing when the budget ran out */
	HTTP_OUTCOME_PERMANENT,		/* an answer that retrying will not change */
	HTTP_OUTCOME_CANCELLED,		/* the client was freed first */
};

/* What a classify callback says about one attempt's answer. */
enum http_verdict {
	HTTP_VERDICT_DEFAULT,		/* use the rules above */
	HTTP_VERDICT_RETRY,
	HTTP_VERDICT_PERMANENT,
};

#define HTTP_MAX_EXTRA_HEADERS 8

struct http_request {
	const char *method;		/* "GET", "POST", "PATCH", "DELETE", "PUT" */
	const char *url;
	const char *content_type;	/* NULL when there is no body */
	const void *body;
	size_t body_len;
	/* Authorization: Bearer <token>; copied into wiped memory, never logged. */
	const struct secret *bearer;
	/* Further "Name: value" lines (Idempotency-Key, client-request-id, ...). */
	const char *headers[HTTP_MAX_EXTRA_HEADERS];
	const char *service;		/* "identity", "graph", "nylas": logs and metrics */
	const char *req_id;		/* our id, logged with every attempt; NULL = fresh */
	const char *app;		/* app name for the log context, or NULL */
	int64_t timeout_ms;		/* per attempt; 0 = [outbound] timeout_ms */
	int64_t budget_ms;		/* all attempts and waits; 0 = 6 x timeout */
	size_t max_response;		/* bytes; 0 = 1 MiB; more is a permanent failure */
	int max_attempts;		/* 0 = 5 */
	/* Optional: decides retry for a non-2xx answer (body NUL-terminated). */
	enum http_verdict (*classify)(long status, const char *body, size_t len);
	/*
	 * 1: the URL's path is a credential (Slack and Teams incoming webhooks,
	 * the signed webhook): logs show its scheme and host only.  Userinfo,
	 * query and fragment are never shown in any case.
	 */
	int url_is_secret;
};

struct http_response {
	enum http_outcome outcome;
	long status;			/* last HTTP status; 0 when none was received */
	const char *body;		/* NUL-terminated; valid only during the callback */
	size_t body_len;
	const char *service_request_id;	/* x-request-id / request-id header, or NULL */
	const char *error;		/* one line for logs: "HTTP 503", "connect: ...", or NULL */
	int attempts;
	int64_t elapsed_ms;
	const char *req_id;
};

/* Recipients per mail: RFC 5321 has servers accept at least 100. */
#define HTTP_MAIL_MAX_RCPT 100

/*
 * One email.  Retried: 4xx replies, connection errors and timeouts.
 * Permanent: 5xx replies, a server without STARTTLS, an untrusted
 * certificate.  A lost reply to the end of the message can make a retry
 * deliver it twice (RFC 5321 section 4.1.1.4 has the same problem).
 *
 * libcurl (7.88, and later versions still) waits for the reply to the end of
 * the message, and to QUIT, blocking the event loop.  A prompt server costs a
 * round trip; a slow or stalled one holds the whole daemon for up to
 * timeout_ms, then up to timeout_ms + 1 s more for QUIT, per attempt.  Keep
 * timeout_ms short for mail, or send from a thread with its own event base.
 */
struct http_mail {
	/*
	 * smtp://host[:port][/ehlo-name] (STARTTLS required) or smtps://...;
	 * no credentials in it.  Without a path curl says EHLO with the
	 * machine's host name.
	 */
	const char *url;
	const char *from;		/* envelope sender, a bare address */
	const char *const *rcpt;	/* envelope recipients, bare addresses */
	size_t n_rcpt;			/* 1 to HTTP_MAIL_MAX_RCPT */
	const char *user;		/* NULL = no AUTH */
	/* With user; copied into wiped memory, never logged (libcurl's own copy is not wiped). */
	const struct secret *password;
	/* The complete RFC 5322 message, every line ending in CRLF; curl adds the final dot. */
	const void *message;
	size_t message_len;
	const char *service;		/* "smtp": logs and metrics */
	const char *req_id;		/* as in http_request */
	const char *app;
	int64_t timeout_ms;		/* per attempt; 0 = [outbound] timeout_ms */
	int64_t budget_ms;		/* all attempts and waits; 0 = 6 x timeout */
	int max_attempts;		/* 0 = 5 */
	/*
	 * 1: only the session's connect phase (greeting, EHLO, STARTTLS, AUTH:
	 * libcurl's CURLOPT_CONNECT_ONLY), nothing sent; from, rcpt and message
	 * are then ignored.  What rekey doctor checks.
	 */
	int connect_only;
};

/* Called once per request.  The response and everything it points to is freed after the return. */
typedef void (*http_done_cb)(const struct http_response *resp, void *arg);

/* ca_file may be NULL.  default_timeout_ms > 0. */
struct http_client *http_client_new(struct event_base *base, const char *ca_file,
    int64_t default_timeout_ms);
/* Cancels requests in flight (their callbacks run with HTTP_OUTCOME_CANCELLED); NULL is a no-op. */
void http_client_free(struct http_client *hc);
/* Replaces the CA file and default timeout for requests started from now on (SIGHUP). */
void http_client_configure(struct http_client *hc, const char *ca_file, int64_t default_timeout_ms);

/*
 * gate (NULL: none) is asked right before every attempt of every request,
 * retries included; when it returns 0 the attempt is not made and the
 * request fails (PERMANENT).  The daemon's gate is leader_active(): a
 * replica that is not the leader, or whose lease lapsed, sends nothing.
 */
void http_client_set_gate(struct http_client *hc, int (*gate)(void *arg), void *arg);

/* Copies everything in req.  0, or -1 when req is malformed or too many are in flight (logged). */
int http_client_send(struct http_client *hc, const struct http_request *req,
    http_done_cb cb, void *arg);

/*
 * Sends m the same way (copies everything).  The response's status is the
 * last SMTP reply code and its body that reply's last line.  0, or -1 when m
 * is malformed or too many are in flight (logged).
 */
int http_client_send_mail(struct http_client *hc, const struct http_mail *m,
    http_done_cb cb, void *arg);

/* Value of a response header for the current callback (case-insensitive), or NULL. */
const char *http_response_header(const struct http_response *resp, const char *name);

size_t http_client_in_flight(const struct http_client *hc);
/*
 * Requests in flight (retry waits included) with this method whose URL
 * contains url_part: a caller that was freed with a change still on its way
 * (a reload) lets its successor wait for the change to land.
 */
size_t http_client_in_flight_to(const struct http_client *hc, const char *method,
    const char *url_part);

#endif
