/* http_head: the strict request-head check, table-driven, whole and byte by byte. */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "lib/http_head.h"

struct head_case {
	const char *name;
	const char *head;
	enum http_head_result want;
	const char *why;		/* HTTP_HEAD_BAD: the reason */
	int64_t content_length;		/* HTTP_HEAD_DONE: the value seen, -1 none */
};

#define RL "POST /webhooks/nylas/prod HTTP/1.1\r\nHost: h\r\n"

static const struct head_case cases[] = {
	{ "plain GET", "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_HEAD_DONE, NULL, -1 },
	{ "Content-Length", RL "Content-Length: 3\r\n\r\n", HTTP_HEAD_DONE, NULL, 3 },
	{ "Content-Length with whitespace", RL "content-length:\t 12 \r\n\r\n", HTTP_HEAD_DONE,
	  NULL, 12 },
	{ "chunked", RL "Transfer-Encoding: Chunked \r\n\r\n", HTTP_HEAD_DONE, NULL, -1 },
	{ "empty value of another field", RL "X-Empty:\r\n\r\n", HTTP_HEAD_DONE, NULL, -1 },
	{ "18 digits", RL "Content-Length: 900000000000000000\r\n\r\n", HTTP_HEAD_DONE, NULL,
	  900000000000000000LL },
	{ "incomplete", RL "Content-Length: 3\r\n", HTTP_HEAD_MORE, NULL, 3 },
	{ "duplicate Content-Length", RL "Content-Length: 3\r\nContent-Length: 3\r\n\r\n",
	  HTTP_HEAD_BAD, "duplicate Content-Length", 0 },
	{ "duplicate Content-Length, other case", RL "Content-Length: 3\r\nCONTENT-LENGTH: 30\r\n\r\n",
	  HTTP_HEAD_BAD, "duplicate Content-Length", 0 },
	{ "signed Content-Length", RL "Content-Length: +3\r\n\r\n", HTTP_HEAD_BAD,
	  "Content-Length is not a number", 0 },
	{ "negative Content-Length", RL "Content-Length: -0\r\n\r\n", HTTP_HEAD_BAD,
	  "Content-Length is not a number", 0 },
	{ "Content-Length list", RL "Content-Length: 3, 3\r\n\r\n", HTTP_HEAD_BAD,
	  "Content-Length is not a number", 0 },
	{ "Content-Length with inner space", RL "Content-Length: 1 2\r\n\r\n", HTTP_HEAD_BAD,
	  "Content-Length is not a number", 0 },
	{ "empty Content-Length", RL "Content-Length: \r\n\r\n", HTTP_HEAD_BAD,
	  "Content-Length is not a number", 0 },
	{ "19 digits", RL "Content-Length: 9000000000000000000\r\n\r\n", HTTP_HEAD_BAD,
	  "Content-Length is too large", 0 },
	{ "bare LF in the request line", "GET / HTTP/1.1\nHost: h\r\n\r\n", HTTP_HEAD_BAD,
	  "bare LF line end", 0 },
	{ "bare LF after a field", RL "X-A: b\n\r\n", HTTP_HEAD_BAD, "bare LF line end", 0 },
	{ "bare LF ends the head", RL "\n", HTTP_HEAD_BAD, "bare LF line end", 0 },
	{ "bare CR", RL "X-A: b\rc\r\n\r\n", HTTP_HEAD_BAD, "bare CR", 0 },
	{ "folded line", RL "X-A: b\r\n c\r\n\r\n", HTTP_HEAD_BAD, "folded header line", 0 },
	{ "folded with a tab", RL "X-A: b\r\n\tc\r\n\r\n", HTTP_HEAD_BAD, "folded header line", 0 },
	{ "space before the colon", RL "Content-Length : 3\r\n\r\n", HTTP_HEAD_BAD,
	  "malformed header name", 0 },
	{ "empty name", RL ": x\r\n\r\n", HTTP_HEAD_BAD, "malformed header name", 0 },
	{ "line without a colon", RL "junk\r\n\r\n", HTTP_HEAD_BAD, "malformed header name", 0 },
	{ "NUL in a value", RL "X-A: b\0c\r\n\r\n", HTTP_HEAD_BAD, "NUL in a header", 0 },
	{ "both lengths", RL "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
	  HTTP_HEAD_BAD, "both Content-Length and Transfer-Encoding", 0 },
	{ "gzip, chunked", RL "Transfer-Encoding: gzip, chunked\r\n\r\n", HTTP_HEAD_BAD,
	  "Transfer-Encoding other than chunked", 0 },
	{ "long Transfer-Encoding", RL "Transfer-Encoding: chunkedchunkedchunked\r\n\r\n",
	  HTTP_HEAD_BAD, "Transfer-Encoding other than chunked", 0 },
	{ "duplicate Transfer-Encoding",
	  RL "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_HEAD_BAD,
	  "duplicate Transfer-Encoding", 0 },
	{ "a longer name is another field", RL "Content-Lengthy: +3\r\nContent-Length: 3\r\n\r\n",
	  HTTP_HEAD_DONE, NULL, 3 },
};

static size_t
case_len(const struct head_case *c)
{
	/* One case holds a NUL: its length runs on to the head's end. */
	size_t n = strlen(c->head);

	if (strcmp(c->name, "NUL in a value") == 0)
		n += 1 + strlen(c->head + n + 1);
	return n;
}

static void
check_case(const struct head_case *c, const char *how, struct http_head *h,
    enum http_head_result got)
{
	int ok = got == c->want;

	if (ok && got == HTTP_HEAD_BAD)
		ok = h->bad != NULL && strcmp(h->bad, c->why) == 0;
	if (ok && got == HTTP_HEAD_DONE)
		ok = h->content_length == c->content_length;
	TAP_OK(ok, "%s (%s): %d %s", c->name, how, (int)got, h->bad ? h->bad : "");
}

int
main(void)
{
	struct http_head h;
	size_t i, j, n, used, total;
	enum http_head_result got;
	static const char two[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /next";

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = case_len(&cases[i]);
		http_head_init(&h);
		got = http_head_feed(&h, cases[i].head, n, &used);
		check_case(&cases[i], "whole", &h, got);
		http_head_init(&h);
		got = HTTP_HEAD_MORE;
		for (j = 0; j < n && got == HTTP_HEAD_MORE; j++)
			got = http_head_feed(&h, cases[i].head + j, 1, &used);
		check_case(&cases[i], "byte by byte", &h, got);
	}

	/* The head's end is found exactly: a pipelined request's bytes are not taken. */
	http_head_init(&h);
	got = http_head_feed(&h, two, sizeof(two) - 1, &used);
	TAP_OK(got == HTTP_HEAD_DONE && used == strlen("GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
	    "used stops after the blank line (%zu)", used);
	total = used;
	got = http_head_feed(&h, two + total, sizeof(two) - 1 - total, &used);
	TAP_OK(got == HTTP_HEAD_DONE && used == 0, "a finished head takes nothing more");
	return tap_done();
}
