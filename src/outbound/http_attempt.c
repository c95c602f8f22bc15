/*
 * http_attempt: one attempt of an outbound request on a curl easy handle.
 * The options every attempt sets (TLS with the client's trust store, the
 * timeouts), those of an HTTPS request or a mail, the callbacks that collect
 * the answer within its limits, and what the attempt's end means: done,
 * worth another try, or final.  Whether and when to try again is
 * http_client.c's decision.
 */
#include "lib/secret.h"
#include "lib/util.h"
#include "outbound/http_client.h"
#include "outbound/http_client_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#define USER_AGENT "rekey/0.1"
/*
 * A TCP connect plus TLS handshake to Graph, the login endpoint or Nylas
 * takes well under a second; one that has not finished in 5 s is better
 * abandoned and retried than waited for until the whole attempt times out.
 */
#define CONNECT_TIMEOUT_MAX_MS 5000
#define MAX_HEADER_BYTES 16384
/* The last SMTP reply line kept for the caller and the logs. */
#define MAX_REPLY 512

void
hreq_headers_clear(struct hreq *hr)
{
	size_t i;

	for (i = 0; i < hr->n_headers; i++) {
		free(hr->headers[i].name);
		free(hr->headers[i].value);
	}
	hr->n_headers = 0;
	hr->header_bytes = 0;
}

/* Empties the answer's body, keeping it NUL-terminated. */
static void
body_reset(struct hreq *hr)
{
	hr->rlen = 0;
	if (hr->rbody != NULL)
		hr->rbody[0] = '\0';
}

void
hreq_set_error(struct hreq *hr, char *error)
{
	free(hr->error);
	hr->error = error;
}

/*
 * Answers can hold secrets (access tokens, a new client secret): the body
 * moves by copy-and-wipe rather than realloc, which could leave a copy behind.
 */
static void
body_grow(struct hreq *hr, size_t want)
{
	char *p = xmalloc(want);

	if (hr->rbody != NULL) {
		memcpy(p, hr->rbody, hr->rlen + 1);
		OPENSSL_cleanse(hr->rbody, hr->rcap);
		free(hr->rbody);
	}
	hr->rbody = p;
	hr->rcap = want;
}

static size_t
write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct hreq *hr = arg;
	size_t len = size * n, want;

	if (len > hr->max_response - hr->rlen) {
		hr->too_big = 1;
		return 0;	/* curl ends the transfer with CURLE_WRITE_ERROR */
	}
	if (hr->rlen + len + 1 > hr->rcap) {
		want = hr->rcap < 1024 ? 1024 : hr->rcap * 2;
		if (want < hr->rlen + len + 1)
			want = hr->rlen + len + 1;
		if (want > hr->max_response + 1)
			want = hr->max_response + 1;
		body_grow(hr, want);
	}
	memcpy(hr->rbody + hr->rlen, data, len);
	hr->rlen += len;
	hr->rbody[hr->rlen] = '\0';
	return len;
}

/* Keeps up to MAX_HEADERS headers of the last response; more are ignored. */
static size_t
header_cb(char *data, size_t size, size_t n, void *arg)
{
	struct hreq *hr = arg;
	size_t len = size * n, name_len;
	const char *colon, *v, *end = data + len;
	struct header *h;

	/* A new status line starts a new response (after a 100 Continue, say). */
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		hreq_headers_clear(hr);
		return len;
	}
	while (end > data && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' ||
	    end[-1] == '\t'))
		end--;
	colon = memchr(data, ':', (size_t)(end - data));
	if (colon == NULL || colon == data || hr->n_headers >= MAX_HEADERS ||
	    hr->header_bytes + len > MAX_HEADER_BYTES)
		return len;
	name_len = (size_t)(colon - data);
	for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	h = &hr->headers[hr->n_headers++];
	h->name = xstrndup(data, name_len);
	h->value = xstrndup(v, (size_t)(end - v));
	hr->header_bytes += len;
	return len;
}

/* Method-specific options; the body pointer stays valid until hr is freed. */
static char empty_body[] = "";

static int
set_method(struct hreq *hr, CURL *e)
{
	int bad = 0;

	if (strcmp(hr->method, "GET") == 0)
		bad |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK;
	else if (strcmp(hr->method, "POST") == 0)
		bad |= curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK;
	else
		bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, hr->method) != CURLE_OK;
	/*
	 * POST, PATCH and PUT always send a body, empty when there is none, so
	 * that curl never falls back to reading one from stdin.
	 */
	if (hr->body != NULL || strcmp(hr->method, "POST") == 0 ||
	    strcmp(hr->method, "PATCH") == 0 || strcmp(hr->method, "PUT") == 0) {
		bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)hr->body_len) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS,
		    hr->body != NULL ? (char *)hr->body : empty_body) != CURLE_OK;
	}
	return bad ? -1 : 0;
}

static CURLcode
ssl_ctx_cb(CURL *easy, void *ssl_ctx, void *arg)
{
	(void)easy;
	SSL_CTX_set1_cert_store(ssl_ctx, arg);
	return CURLE_OK;
}

/* What every attempt needs: the URL, TLS with our store, the timeouts.  -1 when refused. */
static int
set_common(struct hreq *hr, CURL *e, int64_t timeout_ms)
{
	int64_t connect_ms = timeout_ms < CONNECT_TIMEOUT_MAX_MS ? timeout_ms :
	    CONNECT_TIMEOUT_MAX_MS;
	int bad = 0;

	bad |= curl_easy_setopt(e, CURLOPT_URL, hr->url) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, hr) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, hr->errbuf) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	/* curl loads no CA itself: ssl_ctx_cb installs our store (see store_load). */
	bad |= curl_easy_setopt(e, CURLOPT_CAINFO, (char *)NULL) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_CAPATH, (char *)NULL) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_CA_CACHE_TIMEOUT, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, hr->store) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms) != CURLE_OK;
	/*
	 * Cancelling a transfer whose name lookup is still running (only
	 * http_client_free does) detaches curl's resolver thread instead of
	 * joining it, which could block the loop for the resolver's timeout.
	 */
	bad |= curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L) != CURLE_OK;
	return bad ? -1 : 0;
}

/* An HTTPS request's options, its method and body included.  -1 when refused. */
static int
set_http(struct hreq *hr, CURL *e)
{
	int bad = 0;

	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, hr->nodes) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, hr) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, hr) != CURLE_OK;
	/* Refuses an announced Content-Length over the cap before reading any of it. */
	bad |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)hr->max_response) != CURLE_OK;
	return bad || set_method(hr, e) == -1 ? -1 : 0;
}

/* The message, read afresh by every attempt from the start (read_off). */
static size_t
read_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct hreq *hr = arg;
	size_t want = size * n, left = hr->body_len - hr->read_off;

	if (want > left)
		want = left;
	memcpy(buf, hr->body + hr->read_off, want);
	hr->read_off += want;
	return want;
}

/*
 * curl hands SMTP reply lines to the header callback: keep the last one
 * (its text says why a server refused, or the queue id), control characters
 * blanked.  curl closes every session with QUIT, also after a refusal; its
 * reply, 221, would hide the one that matters.
 */
static size_t
reply_cb(char *data, size_t size, size_t n, void *arg)
{
	struct hreq *hr = arg;
	size_t len = size * n, keep = len, i;

	if (len >= 4 && memcmp(data, "221", 3) == 0 && (data[3] == ' ' || data[3] == '-'))
		return len;
	while (keep > 0 && (data[keep - 1] == '\r' || data[keep - 1] == '\n'))
		keep--;
	if (keep > MAX_REPLY)
		keep = MAX_REPLY;
	if (hr->rcap < MAX_REPLY + 1)
		body_grow(hr, MAX_REPLY + 1);
	for (i = 0; i < keep; i++)
		hr->rbody[i] = iscntrl((unsigned char)data[i]) ? ' ' : data[i];
	hr->rbody[keep] = '\0';
	hr->rlen = keep;
	return len;
}

/* SMTP sends nothing to the write callback; should it ever, it goes nowhere (not stdout). */
static size_t
discard_cb(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

/* The envelope, the message and the credentials of a mail.  -1 when refused. */
static int
set_mail(struct hreq *hr, CURL *e, int64_t timeout_ms)
{
	int bad = 0;

	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps") != CURLE_OK;
	/* smtp:// must upgrade with STARTTLS; a server that does not offer it fails. */
	bad |= curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL) != CURLE_OK;
	if (hr->connect_only) {
		/* libcurl's SMTP connect phase is greeting, EHLO, STARTTLS and AUTH (smtp.c). */
		bad |= curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L) != CURLE_OK;
	} else {
		bad |= curl_easy_setopt(e, CURLOPT_MAIL_FROM, hr->mail_from) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_MAIL_RCPT, hr->rcpt) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_UPLOAD, 1L) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_READDATA, hr) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
		    (curl_off_t)hr->body_len) != CURLE_OK;
	}
	bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, reply_cb) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, hr) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_cb) != CURLE_OK;
	/*
	 * libcurl 7.88 ends every SMTP session it does not abandon with a QUIT
	 * and waits for the reply blocking the loop, bounded only by the server
	 * response timeout (120 s unless set).  So no connection cache (a cached
	 * connection would be closed, stale, at some later moment), and a
	 * response timeout a second over the attempt's: a server silent before
	 * the end of the message then meets the attempt timeout, which abandons
	 * the session without QUIT.  See http_client.h for what still blocks.
	 */
	bad |= curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT,
	    (long)((timeout_ms + 999) / 1000 + 1)) != CURLE_OK;
	if (hr->user != NULL) {
		bad |= curl_easy_setopt(e, CURLOPT_USERNAME, hr->user) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_PASSWORD,
		    (char *)hr->password->data) != CURLE_OK;
	}
	return bad ? -1 : 0;
}

/* Starts the next attempt: 0, or -1 (hr->error set) when libcurl refuses it. */
int
http_attempt_start(struct hreq *hr)
{
	int64_t left = hr->budget_ms - (util_mono_us() - hr->start_us) / 1000;
	int64_t timeout_ms = hr->timeout_ms < left ? hr->timeout_ms : left;
	CURL *e;

	/* Right before every attempt, retries included: a replica that lost the lead sends nothing. */
	if (hr->hc->gate != NULL && !hr->hc->gate(hr->hc->gate_arg)) {
		hreq_set_error(hr, xstrdup("refused before sending: this replica is not the "
		    "leader (or its lease lapsed)"));
		return -1;
	}
	if (timeout_ms < 1)
		timeout_ms = 1;
	hreq_headers_clear(hr);
	body_reset(hr);
	hr->too_big = 0;
	hr->read_off = 0;
	hr->errbuf[0] = '\0';
	e = curl_easy_init();
	if (e == NULL || set_common(hr, e, timeout_ms) == -1 ||
	    (hr->mail ? set_mail(hr, e, timeout_ms) : set_http(hr, e)) == -1 ||
	    curl_multi_add_handle(hr->hc->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		hreq_set_error(hr, xstrdup("libcurl refused the request's settings"));
		return -1;
	}
	hr->easy = e;
	hr->attempts++;
	return 0;
}

static int
curl_retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:	/* a reset during the handshake, not a bad certificate */
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

/* The server's certificate or name did not verify: retrying changes nothing. */
static int
curl_untrusted(CURLcode rc)
{
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return 1;
	default:
		return 0;
	}
}

static char *
curl_error_text(const struct hreq *hr, CURLcode rc)
{
	const char *detail = hr->errbuf[0] != '\0' ? hr->errbuf : curl_easy_strerror(rc);

	if (curl_untrusted(rc))
		return xasprintf("TLS: the server's certificate was not trusted (%s)", detail);
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return xasprintf("resolve: %s", detail);
	case CURLE_COULDNT_CONNECT:
		return xasprintf("connect: %s", detail);
	case CURLE_OPERATION_TIMEDOUT:
		return xasprintf("timeout: %s", detail);
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_USE_SSL_FAILED:
		return xasprintf("TLS: %s", detail);
	case CURLE_LOGIN_DENIED:
		return xasprintf("auth: %s", detail);
	default:
		return xasprintf("transfer: %s", detail);
	}
}

/* The verdict on an HTTP answer that is not 2xx. */
static int
status_retryable(struct hreq *hr)
{
	enum http_verdict v = HTTP_VERDICT_DEFAULT;

	if (hr->classify != NULL)
		v = hr->classify(hr->status, hr->rbody != NULL ? hr->rbody : "", hr->rlen);
	if (v != HTTP_VERDICT_DEFAULT)
		return v == HTTP_VERDICT_RETRY;
	switch (hr->status) {
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		return 1;
	default:
		return 0;
	}
}

/* The verdict on an HTTPS attempt; sets hr->error. */
enum attempt_result
http_attempt_result(struct hreq *hr, CURLcode rc)
{
	if (hr->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		body_reset(hr);
		hreq_set_error(hr, xasprintf("response over %zu bytes", hr->max_response));
		return ATTEMPT_PERMANENT;
	}
	if (rc != CURLE_OK) {
		body_reset(hr);
		hreq_set_error(hr, curl_error_text(hr, rc));
		return curl_retryable(rc) ? ATTEMPT_RETRY : ATTEMPT_PERMANENT;
	}
	if (hr->status >= 200 && hr->status < 300) {
		hreq_set_error(hr, NULL);
		return ATTEMPT_OK;
	}
	hreq_set_error(hr, xasprintf("HTTP %ld", hr->status));
	return status_retryable(hr) ? ATTEMPT_RETRY : ATTEMPT_PERMANENT;
}

/*
 * The verdict on a mail attempt; sets hr->error.  curl ends a transfer with
 * an error on any unexpected reply, so the reply code decides first: 4xx is
 * transient, 5xx final (RFC 5321 section 4.2.1).
 */
enum attempt_result
http_mail_attempt_result(struct hreq *hr, CURLcode rc)
{
	if (rc == CURLE_OK) {
		hreq_set_error(hr, NULL);
		return ATTEMPT_OK;
	}
	if (!curl_untrusted(rc) && hr->status >= 400 && hr->status < 600) {
		if (hr->rlen > 0 && strtol(hr->rbody, NULL, 10) == hr->status)
			hreq_set_error(hr, xasprintf("SMTP %s", hr->rbody));
		else
			hreq_set_error(hr, xasprintf("SMTP %ld: %s", hr->status,
			    hr->errbuf[0] != '\0' ? hr->errbuf : curl_easy_strerror(rc)));
		return hr->status < 500 ? ATTEMPT_RETRY : ATTEMPT_PERMANENT;
	}
	hreq_set_error(hr, curl_error_text(hr, rc));
	return curl_retryable(rc) ? ATTEMPT_RETRY : ATTEMPT_PERMANENT;
}
