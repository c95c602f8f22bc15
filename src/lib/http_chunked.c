#include "lib/http_chunked.h"
#include "lib/crypto.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

/* Where the next byte falls. */
enum {
	CS_SIZE,	/* in the chunk size's hex digits */
	CS_EXT,		/* in a chunk extension, up to CR */
	CS_SIZE_LF,	/* after the size line's CR */
	CS_DATA,	/* in the chunk's data */
	CS_DATA_CR,	/* after the data: CR must follow */
	CS_DATA_LF,	/* then LF */
	CS_TRAILER,	/* at the start of a trailer line (or the final blank line) */
	CS_TRAILER_LINE,	/* in a trailer line, up to CR */
	CS_TRAILER_LF,	/* after a trailer line's CR */
	CS_END_LF	/* after the final blank line's CR */
};

/* 15 hex digits cannot overflow; no body rekey accepts comes near. */
#define SIZE_DIGITS_MAX 15
/* The longest chunk extension or trailer line read (and dropped). */
#define LINE_MAX_BYTES 4096

void
http_chunked_init(struct http_chunked *c, size_t max)
{
	memset(c, 0, sizeof(*c));
	c->state = CS_SIZE;
	c->max = max;
	c->result = HTTP_CHUNKED_MORE;
}

static enum http_chunked_result
fail(struct http_chunked *c, enum http_chunked_result r, const char *why)
{
	c->result = r;
	c->bad = why;
	return r;
}

static void
append(struct http_chunked *c, const char *p, size_t n)
{
	if (c->len + n + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 1024;

		while (cap < c->len + n + 1)
			cap *= 2;
		c->data = xrealloc(c->data, cap);
		c->cap = cap;
	}
	memcpy(c->data + c->len, p, n);
	c->len += n;
	c->data[c->len] = '\0';
}

static enum http_chunked_result
size_byte(struct http_chunked *c, unsigned char b)
{
	int v = crypto_hex_value((char)b);

	if (v >= 0) {
		if (c->digits == SIZE_DIGITS_MAX)
			return fail(c, HTTP_CHUNKED_TOO_LARGE, "chunk size too large");
		c->digits++;
		c->left = c->left * 16 + (uint64_t)v;
		return HTTP_CHUNKED_MORE;
	}
	if (c->digits == 0)
		return fail(c, HTTP_CHUNKED_BAD, "chunk size is not hex");
	if (b == ';' || b == ' ' || b == '\t') {
		c->state = CS_EXT;
		c->line = 0;
		return HTTP_CHUNKED_MORE;
	}
	if (b == '\r') {
		c->state = CS_SIZE_LF;
		return HTTP_CHUNKED_MORE;
	}
	return fail(c, HTTP_CHUNKED_BAD, "chunk size is not hex");
}

/* A byte of a line that is read and dropped (an extension or a trailer field). */
static enum http_chunked_result
line_byte(struct http_chunked *c, unsigned char b, int next)
{
	if (b == '\r') {
		c->state = next;
		return HTTP_CHUNKED_MORE;
	}
	if (b == '\n' || b == '\0')
		return fail(c, HTTP_CHUNKED_BAD, "malformed chunk line");
	if (++c->line > LINE_MAX_BYTES)
		return fail(c, HTTP_CHUNKED_BAD, "chunk extension or trailer too long");
	return HTTP_CHUNKED_MORE;
}

static enum http_chunked_result
lf(struct http_chunked *c, unsigned char b, int next)
{
	if (b != '\n')
		return fail(c, HTTP_CHUNKED_BAD, "bare CR in a chunked body");
	c->state = next;
	return HTTP_CHUNKED_MORE;
}

/* The size line ended: data follows, or (size 0) the trailer. */
static enum http_chunked_result
size_end(struct http_chunked *c, unsigned char b)
{
	if (lf(c, b, CS_DATA) != HTTP_CHUNKED_MORE)
		return c->result;
	if (c->left > c->max || c->len + c->left > c->max)
		return fail(c, HTTP_CHUNKED_TOO_LARGE, "body over max_body");
	if (c->left == 0)
		c->state = CS_TRAILER;
	return HTTP_CHUNKED_MORE;
}

static enum http_chunked_result
step(struct http_chunked *c, unsigned char b)
{
	switch (c->state) {
	case CS_SIZE:
		return size_byte(c, b);
	case CS_EXT:
		return line_byte(c, b, CS_SIZE_LF);
	case CS_SIZE_LF:
		return size_end(c, b);
	case CS_DATA_CR:
		if (b != '\r')
			return fail(c, HTTP_CHUNKED_BAD, "chunk data longer than its size");
		c->state = CS_DATA_LF;
		return HTTP_CHUNKED_MORE;
	case CS_DATA_LF:
		c->digits = 0;
		return lf(c, b, CS_SIZE);
	case CS_TRAILER:
		if (b == '\r') {
			c->state = CS_END_LF;
			return HTTP_CHUNKED_MORE;
		}
		c->state = CS_TRAILER_LINE;
		c->line = 0;
		return line_byte(c, b, CS_TRAILER_LF);
	case CS_TRAILER_LINE:
		return line_byte(c, b, CS_TRAILER_LF);
	case CS_TRAILER_LF:
		return lf(c, b, CS_TRAILER);
	case CS_END_LF:
		if (lf(c, b, CS_END_LF) != HTTP_CHUNKED_MORE)
			return c->result;
		c->result = HTTP_CHUNKED_DONE;
		return HTTP_CHUNKED_DONE;
	default:
		return fail(c, HTTP_CHUNKED_BAD, "decoder state lost");
	}
}

enum http_chunked_result
http_chunked_feed(struct http_chunked *c, const char *p, size_t n, size_t *used)
{
	size_t i = 0, take;

	*used = 0;
	while (c->result == HTTP_CHUNKED_MORE && i < n) {
		if (c->state == CS_DATA) {
			take = n - i < c->left ? n - i : (size_t)c->left;
			append(c, p + i, take);
			c->left -= take;
			i += take;
			if (c->left == 0)
				c->state = CS_DATA_CR;
			continue;
		}
		if (step(c, (unsigned char)p[i]) == HTTP_CHUNKED_MORE || c->result == HTTP_CHUNKED_DONE)
			i++;
	}
	*used = i;
	return c->result;
}

char *
http_chunked_take(struct http_chunked *c, size_t *len)
{
	char *d = c->data != NULL ? c->data : xstrdup("");

	*len = c->len;
	c->data = NULL;
	http_chunked_clear(c);
	return d;
}

void
http_chunked_clear(struct http_chunked *c)
{
	free(c->data);
	c->data = NULL;
	c->len = c->cap = 0;
}
