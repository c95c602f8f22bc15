/*
 * http_request: what a caller asks to send, checked and copied.  The two
 * ways in, http_client_send and http_client_send_mail, refuse a request that
 * could not be sent safely (bad method, URL, header line, address, message
 * or credentials; too many in flight) with one log line, and copy the rest
 * into a request of the client's own: the header list with the bearer in
 * wiped memory, the limits with their defaults, a request id.
 */
#include "lib/log.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "outbound/http_client.h"
#include "outbound/http_client_int.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#define DEFAULT_MAX_RESPONSE (1024 * 1024)
/* No answer rekey expects comes near this; it keeps the size arithmetic safe. */
#define MAX_RESPONSE_CAP (64 * 1024 * 1024)
#define DEFAULT_MAX_ATTEMPTS 5
/* More attempts than this is a mistake in the caller; the budget ends them anyway. */
#define MAX_ATTEMPTS_CAP 20
#define BUDGET_TIMEOUTS 6
/* Requests in flight or waiting to retry, for the whole client. */
#define MAX_IN_FLIGHT 4096
#define MAX_REQ_ID 128
#define LOG_URL_MAX 200
/* Notification mails are small; servers commonly refuse more than 10 MiB anyway. */
#define MAX_MAIL_BYTES (10 * 1024 * 1024)
/* RFC 5321: a path is at most 256 octets, angle brackets included. */
#define MAX_ADDRESS 254
#define MAX_USER 256

static const char *const methods[] = { "GET", "POST", "PATCH", "DELETE", "PUT" };

/* --- building a request ---------------------------------------------------- */

static int
tchar(int c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Visible characters, spaces and tabs only: nothing that could end a header line. */
static int
field_ok(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

static int
header_line_ok(const char *line)
{
	const char *colon = strchr(line, ':'), *p;

	if (colon == NULL || colon == line)
		return 0;
	for (p = line; p < colon; p++)
		if (!tchar((unsigned char)*p))
			return 0;
	return field_ok(colon + 1, strlen(colon + 1));
}

static int
header_named(const char *line, const char *name)
{
	size_t n = strlen(name);

	return strncasecmp(line, name, n) == 0 && line[n] == ':';
}

/* Why a request with these settings cannot be sent, whatever its kind, or NULL. */
static const char *
common_problem(const struct http_client *hc, const char *req_id, int64_t timeout_ms,
    int64_t budget_ms, int max_attempts)
{
	if (hc->freeing)
		return "the client is shutting down";
	if (hc->n_reqs >= MAX_IN_FLIGHT)
		return "too many requests in flight";
	if (req_id != NULL && (*req_id == '\0' || strlen(req_id) > MAX_REQ_ID ||
	    !field_ok(req_id, strlen(req_id))))
		return "a request id that is empty, too long or has control characters";
	if (timeout_ms < 0 || budget_ms < 0 || max_attempts < 0)
		return "a negative timeout, budget or attempt count";
	return NULL;
}

/* 1 when url starts with scheme (case-insensitive) and has no control characters or spaces. */
static int
url_ok(const char *url, const char *scheme)
{
	return url != NULL && strncasecmp(url, scheme, strlen(scheme)) == 0 &&
	    field_ok(url, strlen(url)) && strpbrk(url, " \t") == NULL;
}

/* Why req cannot be sent, or NULL. */
static const char *
request_problem(const struct http_client *hc, const struct http_request *req)
{
	const char *problem;
	size_t i;

	problem = common_problem(hc, req->req_id, req->timeout_ms, req->budget_ms,
	    req->max_attempts);
	if (problem != NULL)
		return problem;
	if (req->method == NULL)
		return "no method";
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(req->method, methods[i]) == 0)
			break;
	if (i == sizeof(methods) / sizeof(methods[0]))
		return "unknown method";
	if (!url_ok(req->url, "https://"))
		return "the URL is not an https:// URL";
	if (req->body == NULL && req->body_len > 0)
		return "a body length without a body";
	if (req->body != NULL && strcmp(req->method, "GET") == 0)
		return "a GET with a body";
	if (req->content_type != NULL && !field_ok(req->content_type, strlen(req->content_type)))
		return "a control character in the content type";
	if (req->bearer != NULL && (req->bearer->len == 0 || !field_ok((const char *)
	    req->bearer->data, req->bearer->len) || memchr(req->bearer->data, '\0',
	    req->bearer->len) != NULL))
		return "an empty bearer token or one with control characters";
	for (i = 0; i < HTTP_MAX_EXTRA_HEADERS; i++)
		if (req->headers[i] != NULL && !header_line_ok(req->headers[i]))
			return "a header that is not a valid \"Name: value\" line";
	return NULL;
}

/*
 * A bare address curl can put between angle brackets: local@domain, both
 * parts non-empty, no brackets, spaces or control characters (CR and LF
 * would end the SMTP command).
 */
static int
address_ok(const char *a)
{
	const char *at;
	size_t len;

	if (a == NULL)
		return 0;
	len = strlen(a);
	at = strrchr(a, '@');
	return len > 0 && len <= MAX_ADDRESS && field_ok(a, len) &&
	    strpbrk(a, "<> \t") == NULL && at != NULL && at != a && at[1] != '\0';
}

/*
 * 1 when every line of the message ends in CRLF: a bare CR or LF (or a NUL)
 * is not RFC 5322, and a server that reads it as a line end could see an
 * end of data that curl's dot-stuffing did not escape (SMTP smuggling).
 */
static int
message_ok(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] == '\0')
			return 0;
		if (p[i] == '\r' && (i + 1 == len || p[i + 1] != '\n'))
			return 0;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return 0;
	}
	return 1;
}

static const char *
credentials_problem(const char *user, const struct secret *password)
{
	if (user == NULL && password == NULL)
		return NULL;
	if (user == NULL || password == NULL)
		return "a user without a password or a password without a user";
	if (*user == '\0' || strlen(user) > MAX_USER || !field_ok(user, strlen(user)))
		return "an empty or too long user, or one with control characters";
	if (password->len == 0 || memchr(password->data, '\0', password->len) != NULL)
		return "an empty password or one with a NUL byte";
	return NULL;
}

/* Why m cannot be sent, or NULL. */
static const char *
mail_problem(const struct http_client *hc, const struct http_mail *m)
{
	const char *problem;
	size_t i;

	problem = common_problem(hc, m->req_id, m->timeout_ms, m->budget_ms, m->max_attempts);
	if (problem != NULL)
		return problem;
	if ((!url_ok(m->url, "smtp://") && !url_ok(m->url, "smtps://")) ||
	    strchr(m->url, '@') != NULL)
		return "the URL is not an smtp:// or smtps:// URL without credentials";
	if (m->connect_only)
		return credentials_problem(m->user, m->password);
	if (!address_ok(m->from))
		return "an empty or malformed sender address";
	if (m->rcpt == NULL || m->n_rcpt == 0 || m->n_rcpt > HTTP_MAIL_MAX_RCPT)
		return "no recipients, or too many";
	for (i = 0; i < m->n_rcpt; i++)
		if (!address_ok(m->rcpt[i]))
			return "an empty or malformed recipient address";
	problem = credentials_problem(m->user, m->password);
	if (problem != NULL)
		return problem;
	if (m->message == NULL || m->message_len == 0 || m->message_len > MAX_MAIL_BYTES)
		return "an empty message or one over 10 MiB";
	if (!message_ok(m->message, m->message_len))
		return "a message with a NUL byte or a line not ending in CRLF";
	return NULL;
}

/* A random UUID (version 4): Graph wants a GUID in client-request-id. */
static char *
new_req_id(void)
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		fatal("the random number generator failed");
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	return xasprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	    b[13], b[14], b[15]);
}

/* The service as a metrics label: a short lower-case word, or "other". */
static char *
service_label(const char *service)
{
	const char *p;

	if (service == NULL || *service == '\0' || strlen(service) > 32)
		return xstrdup("other");
	for (p = service; *p != '\0'; p++)
		if (!islower((unsigned char)*p) && *p != '_' && !isdigit((unsigned char)*p))
			return xstrdup("other");
	return xstrdup(service);
}

static char *
make_log_url(const char *url, int host_only)
{
	char *shown = util_url_shown(url, host_only);

	if (strlen(shown) > LOG_URL_MAX)
		shown[LOG_URL_MAX] = '\0';
	return shown;
}

/* "Authorization: Bearer <token>" built straight into wiped memory. */
static struct secret *
make_auth_line(const struct secret *bearer)
{
	static const char prefix[] = "Authorization: Bearer ";
	size_t plen = sizeof(prefix) - 1;
	struct secret *s = xcalloc(1, sizeof(*s));

	s->len = plen + bearer->len;
	s->data = xmalloc(s->len + 1);
	memcpy(s->data, prefix, plen);
	memcpy(s->data + plen, bearer->data, bearer->len);
	s->data[s->len] = '\0';
	return s;
}

static void
add_line(struct hreq *hr, char *line)
{
	hr->lines[hr->n_lines++] = line;
}

/* The header list curl reads; its nodes and strings live in hr. */
static void
build_headers(struct hreq *hr, const struct http_request *req)
{
	char *data[MAX_HEADER_LINES];
	size_t i, n = 0;
	int own_id = 1;

	for (i = 0; i < HTTP_MAX_EXTRA_HEADERS; i++) {
		if (req->headers[i] == NULL)
			continue;
		add_line(hr, xstrdup(req->headers[i]));
		if (header_named(req->headers[i], "client-request-id"))
			own_id = 0;
	}
	if (own_id)
		add_line(hr, xasprintf("client-request-id: %s", hr->req_id));
	/* An empty value removes curl's default form content type. */
	add_line(hr, xasprintf("Content-Type:%s%s", req->content_type != NULL ? " " : "",
	    req->content_type != NULL ? req->content_type : ""));
	/* No "Expect: 100-continue" round trip before larger bodies. */
	add_line(hr, xstrdup("Expect:"));
	if (hr->auth_line != NULL)
		data[n++] = (char *)hr->auth_line->data;
	for (i = 0; i < hr->n_lines; i++)
		data[n++] = hr->lines[i];
	for (i = 0; i < n; i++) {
		hr->nodes[i].data = data[i];
		hr->nodes[i].next = i + 1 < n ? &hr->nodes[i + 1] : NULL;
	}
}

/* The parts every request has; the caller fills in the rest. */
static struct hreq *
hreq_alloc(struct http_client *hc, const char *method, const char *url, int host_only,
    http_done_cb cb, void *arg)
{
	struct hreq *hr = xcalloc(1, sizeof(*hr));

	hr->hc = hc;
	hr->cb = cb;
	hr->cb_arg = arg;
	hr->method = xstrdup(method);
	hr->url = xstrdup(url);
	hr->log_url = make_log_url(url, host_only);
	X509_STORE_up_ref(hc->store);
	hr->store = hc->store;
	hr->start_us = util_mono_us();
	return hr;
}

static void
hreq_set_context(struct hreq *hr, const char *service, const char *req_id, const char *app)
{
	hr->service = service_label(service);
	hr->app = app != NULL ? xstrdup(app) : NULL;
	hr->req_id = req_id != NULL ? xstrdup(req_id) : new_req_id();
}

static void
hreq_set_limits(struct hreq *hr, int64_t timeout_ms, int64_t budget_ms, int max_attempts)
{
	hr->timeout_ms = timeout_ms > 0 ? timeout_ms : hr->hc->default_timeout_ms;
	hr->budget_ms = budget_ms > 0 ? budget_ms : BUDGET_TIMEOUTS * hr->timeout_ms;
	hr->max_attempts = max_attempts > 0 ? max_attempts : DEFAULT_MAX_ATTEMPTS;
	if (hr->max_attempts > MAX_ATTEMPTS_CAP)
		hr->max_attempts = MAX_ATTEMPTS_CAP;
}

/* A copy of len bytes (wiped on free), NUL-terminated. */
static void
hreq_set_body(struct hreq *hr, const void *body, size_t len)
{
	hr->body = xmalloc(len + 1);
	memcpy(hr->body, body, len);
	hr->body[len] = '\0';
	hr->body_len = len;
}

static struct hreq *
hreq_new(struct http_client *hc, const struct http_request *req, http_done_cb cb, void *arg)
{
	struct hreq *hr = hreq_alloc(hc, req->method, req->url, req->url_is_secret, cb, arg);

	hreq_set_context(hr, req->service, req->req_id, req->app);
	hreq_set_limits(hr, req->timeout_ms, req->budget_ms, req->max_attempts);
	if (req->body != NULL)
		hreq_set_body(hr, req->body, req->body_len);
	if (req->bearer != NULL)
		hr->auth_line = make_auth_line(req->bearer);
	build_headers(hr, req);
	hr->max_response = req->max_response > 0 ? req->max_response : DEFAULT_MAX_RESPONSE;
	if (hr->max_response > MAX_RESPONSE_CAP)
		hr->max_response = MAX_RESPONSE_CAP;
	hr->classify = req->classify;
	return hr;
}

static struct hreq *
hreq_new_mail(struct http_client *hc, const struct http_mail *m, http_done_cb cb, void *arg)
{
	/* A mail server is a notification channel: its host is all a log needs. */
	struct hreq *hr = hreq_alloc(hc, "MAIL", m->url, 1, cb, arg);
	size_t i;

	hr->mail = 1;
	hr->connect_only = m->connect_only != 0;
	hreq_set_context(hr, m->service, m->req_id, m->app);
	hreq_set_limits(hr, m->timeout_ms, m->budget_ms, m->max_attempts);
	if (hr->connect_only)
		hreq_set_body(hr, "", 0);
	else
		hreq_set_body(hr, m->message, m->message_len);
	hr->mail_from = xstrdup(hr->connect_only ? "" : m->from);
	for (i = 0; !hr->connect_only && i < m->n_rcpt; i++) {
		struct curl_slist *l = curl_slist_append(hr->rcpt, m->rcpt[i]);

		if (l == NULL)
			fatal("out of memory building the recipient list");
		hr->rcpt = l;
	}
	if (m->user != NULL) {
		hr->user = xstrdup(m->user);
		hr->password = secret_new(m->password->data, m->password->len);
	}
	return hr;
}

/* Says once, with the caller's context, why a request ("request", "mail") was not sent. */
static void
log_refused(const char *req_id, const char *app, const char *service, const char *what,
    const char *problem)
{
	log_ctx(LOG_LEVEL_ERROR, req_id != NULL && field_ok(req_id, strlen(req_id)) ? req_id :
	    NULL, app, "outbound %s %s not sent: %s", service, what, problem);
}

int
http_client_send(struct http_client *hc, const struct http_request *req,
    http_done_cb cb, void *arg)
{
	const char *problem;

	if (hc == NULL || req == NULL || cb == NULL) {
		log_error("http_client_send: no client, request or callback");
		return -1;
	}
	problem = request_problem(hc, req);
	if (problem != NULL) {
		log_refused(req->req_id, req->app, req->service != NULL ? req->service : "HTTP",
		    "request", problem);
		return -1;
	}
	return hreq_launch(hreq_new(hc, req, cb, arg));
}

int
http_client_send_mail(struct http_client *hc, const struct http_mail *m,
    http_done_cb cb, void *arg)
{
	const char *problem;

	if (hc == NULL || m == NULL || cb == NULL) {
		log_error("http_client_send_mail: no client, mail or callback");
		return -1;
	}
	problem = mail_problem(hc, m);
	if (problem != NULL) {
		log_refused(m->req_id, m->app, m->service != NULL ? m->service : "SMTP", "mail",
		    problem);
		return -1;
	}
	return hreq_launch(hreq_new_mail(hc, m, cb, arg));
}

