#include "lib/inflate.h"
#include "lib/log.h"
#include "lib/util.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

/* zlib counts in uInt, so input and output are handed over at most this much at a time. */
#define INFLATE_CHUNK (256 * 1024)
/* The first output buffer; it doubles from here up to the cap. */
#define INFLATE_INITIAL (16 * 1024)

/*
 * The output buffer.  limit is cap + 1: one byte beyond the cap, so that
 * inflate can tell "exactly cap bytes" (the stream ends with room to spare)
 * from "more than cap" (that extra byte gets written).
 */
struct inflate_buf {
	unsigned char *data;
	size_t size;
	size_t len;
	size_t limit;
};

static size_t
min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Makes room for more output: 0, or -1 when the buffer is already at its limit. */
static int
buf_grow(struct inflate_buf *b)
{
	size_t size;

	if (b->size >= b->limit)
		return -1;
	size = b->size > b->limit / 2 ? b->limit : b->size * 2;
	b->data = xrealloc(b->data, size);
	b->size = size;
	return 0;
}

/* Hands zlib the next chunk of input once it has used up the last one. */
static void
feed_input(z_stream *z, const unsigned char **next, size_t *left)
{
	size_t n;

	if (z->avail_in > 0 || *left == 0)
		return;
	n = min_size(*left, INFLATE_CHUNK);
	z->next_in = (unsigned char *)*next;
	z->avail_in = (uInt)n;
	*next += n;
	*left -= n;
}

/*
 * Runs inflate over the whole input.  A body may be several gzip members one
 * after the other (RFC 1952 section 2.2; gzip itself concatenates them on
 * decompression), so after each member ends, inflate is reset and run on
 * what follows, and the outputs are concatenated.  Anything after a member
 * that is not another whole member, including zero padding, is bad data.
 */
static enum inflate_result
run_inflate(z_stream *z, const unsigned char *in, size_t inlen, struct inflate_buf *b)
{
	size_t before, left = inlen;
	int rc;

	for (;;) {
		feed_input(z, &in, &left);
		if (b->len == b->size && buf_grow(b) == -1)
			return INFLATE_TOO_LARGE;
		z->next_out = b->data + b->len;
		z->avail_out = (uInt)min_size(b->size - b->len, INFLATE_CHUNK);
		before = z->avail_out;
		rc = inflate(z, Z_NO_FLUSH);
		b->len += before - z->avail_out;
		if (b->len >= b->limit)
			return INFLATE_TOO_LARGE;
		if (rc == Z_STREAM_END) {
			if (z->avail_in == 0 && left == 0)
				return INFLATE_OK;
			if (inflateReset(z) != Z_OK)
				return INFLATE_BAD_DATA;
			continue;
		}
		/*
		 * Z_BUF_ERROR with room left in the output means inflate needs
		 * input that is not there: the body is truncated.
		 */
		if (rc == Z_BUF_ERROR && z->avail_out > 0)
			return INFLATE_BAD_DATA;
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			return INFLATE_BAD_DATA;
	}
}

enum inflate_result
inflate_gzip(const void *in, size_t inlen, size_t cap,
    unsigned char **out, size_t *outlen)
{
	struct inflate_buf b;
	enum inflate_result res;
	z_stream z;

	*out = NULL;
	*outlen = 0;
	memset(&z, 0, sizeof(z));
	/* 16 + MAX_WBITS: a gzip wrapper only, no zlib or raw deflate. */
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		fatal("cannot initialise zlib: %s", z.msg ? z.msg : "out of memory");
	b.limit = cap < SIZE_MAX ? cap + 1 : SIZE_MAX;
	b.size = min_size(b.limit, INFLATE_INITIAL);
	b.len = 0;
	b.data = xmalloc(b.size);
	res = run_inflate(&z, in, inlen, &b);
	inflateEnd(&z);
	if (res != INFLATE_OK) {
		free(b.data);
		return res;
	}
	*out = b.data;
	*outlen = b.len;
	return INFLATE_OK;
}
