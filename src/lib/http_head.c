#include "lib/http_head.h"

#include <string.h>

/* Where in the head the next byte falls. */
enum {
	HS_REQUEST_LINE,	/* in the request line */
	HS_REQUEST_LINE_CR,	/* after its CR: LF must follow */
	HS_LINE_START,		/* at the start of a field line or of the blank line */
	HS_NAME,		/* in a field name */
	HS_VALUE,		/* in a field value */
	HS_VALUE_CR,		/* after the value's CR: LF must follow */
	HS_END_CR		/* after the blank line's CR: LF must follow */
};

/* The fields whose values this module reads. */
enum {
	FIELD_OTHER,
	FIELD_CONTENT_LENGTH,
	FIELD_TRANSFER_ENCODING
};

/* 18 digits cannot overflow an int64_t; no body rekey accepts comes near. */
#define CONTENT_LENGTH_DIGITS_MAX 18

void
http_head_init(struct http_head *h)
{
	memset(h, 0, sizeof(*h));
	h->state = HS_REQUEST_LINE;
	h->result = HTTP_HEAD_MORE;
	h->content_length = -1;
}

/* RFC 9110's tchar: what a field name is made of. */
static int
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static enum http_head_result
fail(struct http_head *h, const char *why)
{
	h->result = HTTP_HEAD_BAD;
	h->bad = why;
	return HTTP_HEAD_BAD;
}

/* At the colon: which field this is, and only one of each that matters. */
static enum http_head_result
name_end(struct http_head *h)
{
	h->field = FIELD_OTHER;
	if (h->name_len == 14 && memcmp(h->name, "content-length", 14) == 0) {
		if (++h->n_content_length > 1)
			return fail(h, "duplicate Content-Length");
		h->field = FIELD_CONTENT_LENGTH;
		h->content_length = 0;
	} else if (h->name_len == 17 && memcmp(h->name, "transfer-encoding", 17) == 0) {
		if (++h->n_transfer_encoding > 1)
			return fail(h, "duplicate Transfer-Encoding");
		h->field = FIELD_TRANSFER_ENCODING;
	}
	return HTTP_HEAD_MORE;
}

/* Content-Length is 1*DIGIT with optional whitespace around: no sign, no list. */
static enum http_head_result
content_length_byte(struct http_head *h, unsigned char c)
{
	if (c == ' ' || c == '\t') {
		if (h->digits > 0)
			h->after_digits = 1;
		return HTTP_HEAD_MORE;
	}
	if (c < '0' || c > '9' || h->after_digits)
		return fail(h, "Content-Length is not a number");
	if (h->digits == CONTENT_LENGTH_DIGITS_MAX) {
		h->too_large = 1;
		return fail(h, "Content-Length is too large");
	}
	h->digits++;
	h->content_length = h->content_length * 10 + (c - '0');
	return HTTP_HEAD_MORE;
}

static void
transfer_encoding_byte(struct http_head *h, unsigned char c)
{
	if (h->te_len == 0 && (c == ' ' || c == '\t'))
		return;
	if (h->te_len < sizeof(h->te))
		h->te[h->te_len] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	h->te_len++;
}

/* At the end of a field line: the value read is checked. */
static enum http_head_result
value_end(struct http_head *h)
{
	if (h->field == FIELD_CONTENT_LENGTH && h->digits == 0)
		return fail(h, "Content-Length is not a number");
	if (h->field == FIELD_TRANSFER_ENCODING) {
		while (h->te_len > 0 && h->te_len <= sizeof(h->te) &&
		    (h->te[h->te_len - 1] == ' ' || h->te[h->te_len - 1] == '\t'))
			h->te_len--;
		/* rekey decodes chunked alone (http_chunked); anything else would be misread. */
		if (h->te_len != 7 || memcmp(h->te, "chunked", 7) != 0)
			return fail(h, "Transfer-Encoding other than chunked");
	}
	h->field = FIELD_OTHER;
	return HTTP_HEAD_MORE;
}

static enum http_head_result
head_end(struct http_head *h)
{
	if (h->n_content_length > 0 && h->n_transfer_encoding > 0)
		return fail(h, "both Content-Length and Transfer-Encoding");
	h->result = HTTP_HEAD_DONE;
	return HTTP_HEAD_DONE;
}

static enum http_head_result
line_start_byte(struct http_head *h, unsigned char c)
{
	if (c == '\r') {
		h->state = HS_END_CR;
		return HTTP_HEAD_MORE;
	}
	if (c == ' ' || c == '\t')
		return fail(h, "folded header line");
	if (c == '\n')
		return fail(h, "bare LF line end");
	if (!is_tchar(c))
		return fail(h, "malformed header name");
	h->state = HS_NAME;
	h->name_len = 0;
	h->name[h->name_len++] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	return HTTP_HEAD_MORE;
}

static enum http_head_result
name_byte(struct http_head *h, unsigned char c)
{
	if (c == ':') {
		h->state = HS_VALUE;
		h->digits = 0;
		h->after_digits = 0;
		h->te_len = 0;
		return name_end(h);
	}
	if (!is_tchar(c))
		return fail(h, "malformed header name");
	if (h->name_len < sizeof(h->name))
		h->name[h->name_len] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	if (h->name_len < sizeof(h->name) + 1)
		h->name_len++;	/* a long name stays longer than any compared */
	return HTTP_HEAD_MORE;
}

static enum http_head_result
value_byte(struct http_head *h, unsigned char c)
{
	if (c == '\r') {
		h->state = HS_VALUE_CR;
		return HTTP_HEAD_MORE;
	}
	if (c == '\n')
		return fail(h, "bare LF line end");
	if (c == '\0')
		return fail(h, "NUL in a header");
	if (h->field == FIELD_CONTENT_LENGTH)
		return content_length_byte(h, c);
	if (h->field == FIELD_TRANSFER_ENCODING)
		transfer_encoding_byte(h, c);
	return HTTP_HEAD_MORE;
}

/* The one byte c: the state machine's driver. */
static enum http_head_result
step(struct http_head *h, unsigned char c)
{
	switch (h->state) {
	case HS_REQUEST_LINE:
		if (c == '\r')
			h->state = HS_REQUEST_LINE_CR;
		else if (c == '\n')
			return fail(h, "bare LF line end");
		else if (c == '\0')
			return fail(h, "NUL in the request line");
		return HTTP_HEAD_MORE;
	case HS_REQUEST_LINE_CR:
	case HS_VALUE_CR:
		if (c != '\n')
			return fail(h, "bare CR");
		if (h->state == HS_VALUE_CR && value_end(h) == HTTP_HEAD_BAD)
			return HTTP_HEAD_BAD;
		h->state = HS_LINE_START;
		return HTTP_HEAD_MORE;
	case HS_LINE_START:
		return line_start_byte(h, c);
	case HS_NAME:
		return name_byte(h, c);
	case HS_VALUE:
		return value_byte(h, c);
	case HS_END_CR:
		if (c != '\n')
			return fail(h, "bare CR");
		return head_end(h);
	default:
		return fail(h, "checker state lost");
	}
}

enum http_head_result
http_head_feed(struct http_head *h, const char *p, size_t n, size_t *used)
{
	size_t i;

	*used = 0;
	if (h->result != HTTP_HEAD_MORE)
		return h->result;
	for (i = 0; i < n; i++) {
		if (step(h, (unsigned char)p[i]) != HTTP_HEAD_MORE) {
			*used = h->result == HTTP_HEAD_DONE ? i + 1 : i;
			return h->result;
		}
	}
	*used = n;
	return HTTP_HEAD_MORE;
}
