/* http_req: the request line and fields of a checked head, the query, added headers, copies. */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "intake/http_req.h"

/* A request from head (which must end in CRLF CRLF); -1 and *why when refused. */
static int
take(struct http_req *hr, const char *head, const char **why)
{
	memset(hr, 0, sizeof(*hr));
	*why = NULL;
	return http_req_take_head(hr, strdup(head), strlen(head), why);
}

static void
clear(struct http_req *hr)
{
	free(hr->head);
	free(hr->fields);
	free(hr->out_fields);
	free(hr->body);
}

static void
request_lines(void)
{
	static const struct {
		const char *head;
		int ok;
		enum http_method method;
		int minor;
		const char *path, *query;
	} cases[] = {
		{ "GET /healthz HTTP/1.1\r\n\r\n", 1, HTTP_GET, 1, "/healthz", NULL },
		{ "POST /webhooks/nylas/prod?x=1 HTTP/1.0\r\n\r\n", 1, HTTP_POST, 0,
		  "/webhooks/nylas/prod", "x=1" },
		{ "HEAD /status/ HTTP/1.1\r\n\r\n", 1, HTTP_HEAD, 1, "/status/", NULL },
		{ "PUT / HTTP/1.1\r\n\r\n", 1, HTTP_OTHER, 1, "/", NULL },
		{ "get / HTTP/1.1\r\n\r\n", 1, HTTP_OTHER, 1, "/", NULL },
		{ "GET http://rekey.example/readyz?a HTTP/1.1\r\n\r\n", 1, HTTP_GET, 1, "/readyz",
		  "a" },
		{ "GET /? HTTP/1.1\r\n\r\n", 1, HTTP_GET, 1, "/", "" },
		{ "GET http://rekey.example HTTP/1.1\r\n\r\n", 0, 0, 0, NULL, NULL },
		{ "GET * HTTP/1.1\r\n\r\n", 0, 0, 0, NULL, NULL },
		{ "GET / HTTP/2.0\r\n\r\n", 0, 0, 0, NULL, NULL },
		{ "GET / HTTP/1.1 \r\n\r\n", 0, 0, 0, NULL, NULL },
		{ "GET /\r\n\r\n", 0, 0, 0, NULL, NULL },
		{ " / HTTP/1.1\r\n\r\n", 0, 0, 0, NULL, NULL },
		{ "GET  / HTTP/1.1\r\n\r\n", 0, 0, 0, NULL, NULL },
	};
	struct http_req hr;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = take(&hr, cases[i].head, &why);

		if (!cases[i].ok) {
			TAP_OK(rc == -1 && why != NULL, "refused: %.*s (%s)",
			    (int)strcspn(cases[i].head, "\r"), cases[i].head, why ? why : "");
		} else {
			TAP_OK(rc == 0 && hr.method == cases[i].method && hr.minor == cases[i].minor &&
			    strcmp(hr.path, cases[i].path) == 0 &&
			    (cases[i].query == NULL ? hr.query == NULL :
			    hr.query != NULL && strcmp(hr.query, cases[i].query) == 0),
			    "%.*s: method %d, HTTP/1.%d, %s", (int)strcspn(cases[i].head, "\r"),
			    cases[i].head, (int)hr.method, hr.minor, hr.path ? hr.path : "(none)");
		}
		clear(&hr);
	}
}

static void
fields(void)
{
	struct http_req hr;
	const char *why;

	TAP_OK(take(&hr, "POST / HTTP/1.1\r\nHost: h\r\nX-Nylas-Signature:  ab12 \t\r\n"
	    "x-empty:\r\nX-Dup: first\r\nx-dup: second\r\n\r\n", &why) == 0, "a head with fields");
	TAP_OK(hr.n_fields == 5, "five fields read");
	TAP_STR_EQ(http_header(&hr, "host"), "h", "Host, asked in lower case");
	TAP_STR_EQ(http_header(&hr, "X-NYLAS-SIGNATURE"), "ab12",
	    "a value without the whitespace around it");
	TAP_STR_EQ(http_header(&hr, "X-Empty"), "", "an empty value is \"\"");
	TAP_STR_EQ(http_header(&hr, "X-Dup"), "first", "the first of two");
	TAP_OK(http_header(&hr, "X-Missing") == NULL, "a missing field is NULL");
	clear(&hr);
}

static void
query(void)
{
	struct http_req hr;
	const char *why;
	char *v;

	take(&hr, "GET /w?challengeX=no&challenge=a%20b+c%2&z=1&empty= HTTP/1.1\r\n\r\n", &why);
	v = http_query_param(&hr, "challenge");
	TAP_STR_EQ(v, "a b c%2", "%%XX and + decoded, a broken escape kept as it is");
	free(v);
	v = http_query_param(&hr, "z");
	TAP_STR_EQ(v, "1", "the last parameter");
	free(v);
	v = http_query_param(&hr, "empty");
	TAP_STR_EQ(v, "", "an empty value");
	free(v);
	TAP_OK(http_query_param(&hr, "challeng") == NULL, "a prefix of a name does not match");
	TAP_OK(http_query_param(&hr, "missing") == NULL, "a missing parameter is NULL");
	clear(&hr);
	take(&hr, "GET /w HTTP/1.1\r\n\r\n", &why);
	TAP_OK(http_query_param(&hr, "challenge") == NULL, "no query at all: NULL");
	clear(&hr);
}

static void
answer_headers_and_copies(void)
{
	struct http_req hr, *c;
	const char *why;
	size_t len;

	take(&hr, "POST /p?q=1 HTTP/1.1\r\nA: b\r\n\r\n", &why);
	hr.body = strdup("{}");
	hr.body_len = 2;
	http_add_header(&hr, "Retry-After", "5");
	http_add_header(&hr, "X-Bad", "a\r\nSet-Cookie: x");
	http_add_header(&hr, "Allow", "GET, HEAD");
	TAP_OK(hr.out_fields != NULL && hr.out_len == strlen(hr.out_fields) &&
	    strcmp(hr.out_fields, "Retry-After: 5\r\nAllow: GET, HEAD\r\n") == 0,
	    "added headers, one with a line break dropped");
	c = http_req_copy(&hr);
	clear(&hr);
	memset(&hr, 0, sizeof(hr));
	TAP_STR_EQ(c->path, "/p", "a copy keeps the path (its own)");
	TAP_STR_EQ(c->query, "q=1", "and the query");
	TAP_STR_EQ(http_header(c, "a"), "b", "and the fields");
	TAP_STR_EQ(http_body(c, &len), "{}", "and the body");
	TAP_OK(len == 2, "of its length");
	TAP_OK(c->out_len > 0 && strncmp(c->out_fields, "Retry-After", 11) == 0,
	    "and the added headers");
	http_req_free(c);
}

int
main(void)
{
	request_lines();
	fields();
	query();
	answer_headers_and_copies();
	return tap_done();
}
