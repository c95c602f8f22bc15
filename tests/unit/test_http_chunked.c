/* http_chunked: the chunked body decoder, table-driven, whole and byte by byte. */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "lib/http_chunked.h"

struct chunked_case {
	const char *name;
	const char *in;
	size_t max;
	enum http_chunked_result want;
	const char *body;	/* DONE: the decoded body */
	size_t used;		/* DONE: bytes taken (0: all of in) */
};

static const struct chunked_case cases[] = {
	{ "one chunk", "5\r\nhello\r\n0\r\n\r\n", 100, HTTP_CHUNKED_DONE, "hello", 0 },
	{ "two chunks, upper-case hex", "3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n", 100,
	  HTTP_CHUNKED_DONE, "abc0123456789", 0 },
	{ "empty body", "0\r\n\r\n", 100, HTTP_CHUNKED_DONE, "", 0 },
	{ "leading zeros", "0003\r\nabc\r\n000\r\n\r\n", 100, HTTP_CHUNKED_DONE, "abc", 0 },
	{ "chunk extensions skipped", "3;name=value\r\nabc\r\n0 ; last\r\n\r\n", 100,
	  HTTP_CHUNKED_DONE, "abc", 0 },
	{ "trailer fields dropped", "3\r\nabc\r\n0\r\nX-Trailer: 1\r\nX-Two: 2\r\n\r\n", 100,
	  HTTP_CHUNKED_DONE, "abc", 0 },
	{ "the next request is not taken", "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n", 100,
	  HTTP_CHUNKED_DONE, "abc", 13 },
	{ "exactly max", "4\r\nabcd\r\n0\r\n\r\n", 4, HTTP_CHUNKED_DONE, "abcd", 0 },
	{ "incomplete", "5\r\nhel", 100, HTTP_CHUNKED_MORE, NULL, 0 },
	{ "no final chunk", "3\r\nabc\r\n", 100, HTTP_CHUNKED_MORE, NULL, 0 },
	{ "over max in one chunk", "5\r\nhello\r\n0\r\n\r\n", 4, HTTP_CHUNKED_TOO_LARGE, NULL, 0 },
	{ "over max across chunks", "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", 5,
	  HTTP_CHUNKED_TOO_LARGE, NULL, 0 },
	{ "a size of 16 digits", "1000000000000000\r\n", (size_t)-1, HTTP_CHUNKED_TOO_LARGE,
	  NULL, 0 },
	{ "size not hex", "g\r\n", 100, HTTP_CHUNKED_BAD, NULL, 0 },
	{ "empty size", "\r\n", 100, HTTP_CHUNKED_BAD, NULL, 0 },
	{ "signed size", "+3\r\nabc\r\n0\r\n\r\n", 100, HTTP_CHUNKED_BAD, NULL, 0 },
	{ "bare LF after the size", "3\nabc\r\n0\r\n\r\n", 100, HTTP_CHUNKED_BAD, NULL, 0 },
	{ "bare CR after the size", "3\rabc\r\n0\r\n\r\n", 100, HTTP_CHUNKED_BAD, NULL, 0 },
	{ "data longer than its size", "3\r\nabcd\r\n0\r\n\r\n", 100, HTTP_CHUNKED_BAD, NULL, 0 },
	{ "bare LF after the data", "3\r\nabc\n0\r\n\r\n", 100, HTTP_CHUNKED_BAD, NULL, 0 },
	{ "bare LF in a trailer", "0\r\nX-T: 1\n\r\n", 100, HTTP_CHUNKED_BAD, NULL, 0 },
	{ "bare LF ends the body", "0\r\n\n", 100, HTTP_CHUNKED_BAD, NULL, 0 },
	{ "NUL in an extension", "3;a\0b\r\nabc\r\n0\r\n\r\n", 100, HTTP_CHUNKED_BAD, NULL, 0 },
};

/* The length of a case's input: up to its last "\r\n\r\n" or the string's end. */
static size_t
case_len(const struct chunked_case *c)
{
	size_t n = strlen(c->in);

	/* "NUL in an extension" carries a NUL: its length is counted by hand. */
	if (strcmp(c->name, "NUL in an extension") == 0)
		return 19;
	return n;
}

static void
run_case(const struct chunked_case *c)
{
	size_t len = case_len(c), used, used_b = 0, u, i;
	struct http_chunked whole, bytes;
	enum http_chunked_result r, rb = HTTP_CHUNKED_MORE;

	http_chunked_init(&whole, c->max);
	r = http_chunked_feed(&whole, c->in, len, &used);
	TAP_OK(r == c->want, "%s: result %d", c->name, (int)r);
	http_chunked_init(&bytes, c->max);
	for (i = 0; i < len && rb == HTTP_CHUNKED_MORE; i++) {
		rb = http_chunked_feed(&bytes, c->in + i, 1, &u);
		used_b += u;
	}
	TAP_OK(rb == r && used_b == used, "%s: byte by byte, the same (%zu, %zu)", c->name,
	    used_b, used);
	if (c->want == HTTP_CHUNKED_DONE) {
		size_t blen;
		char *body = http_chunked_take(&whole, &blen);

		TAP_OK(blen == strlen(c->body) && memcmp(body, c->body, blen) == 0 &&
		    body[blen] == '\0', "%s: body \"%s\"", c->name, c->body);
		TAP_OK(used == (c->used ? c->used : len), "%s: %zu bytes taken", c->name, used);
		TAP_OK(bytes.len == blen && (blen == 0 || memcmp(bytes.data, body, blen) == 0),
		    "%s: byte by byte, the same body", c->name);
		free(body);
	} else if (c->want != HTTP_CHUNKED_MORE) {
		TAP_OK(whole.bad != NULL, "%s: says why (%s)", c->name, whole.bad ? whole.bad : "");
		TAP_OK(used < len, "%s: stops at the offending byte (%zu of %zu)", c->name, used, len);
	}
	http_chunked_clear(&whole);
	http_chunked_clear(&bytes);
}

int
main(void)
{
	struct http_chunked c;
	size_t used, i;
	char *body;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);

	/* Once done, more bytes change nothing. */
	http_chunked_init(&c, 100);
	http_chunked_feed(&c, "1\r\na\r\n0\r\n\r\n", 11, &used);
	TAP_OK(http_chunked_feed(&c, "1\r\nb\r\n", 6, &used) == HTTP_CHUNKED_DONE && used == 0 &&
	    c.len == 1, "after DONE, a feed takes nothing");
	http_chunked_clear(&c);

	/* An empty body is an empty string, not NULL. */
	http_chunked_init(&c, 100);
	http_chunked_feed(&c, "0\r\n\r\n", 5, &used);
	body = http_chunked_take(&c, &used);
	TAP_OK(body != NULL && used == 0 && body[0] == '\0', "an empty body is \"\"");
	free(body);
	return tap_done();
}
