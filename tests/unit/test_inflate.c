/*
 * Unit tests for inflate: every input is made here with zlib, then cut,
 * corrupted or padded, and run through inflate_gzip against a table of
 * expected results.
 */
#include "lib/inflate.h"
#include "tap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#define PLAIN_LEN 100000
#define BOMB_LEN (10 * 1024 * 1024)
#define BOMB_CAP (1024 * 1024)

/* A compressed buffer made by the test. */
struct blob {
	unsigned char *data;
	size_t len;
};

/* Every buffer concat makes, so that main can free them all at the end. */
static unsigned char *made[64];
static size_t nmade;

/*
 * Compresses in with the given window bits (16 + MAX_WBITS for gzip,
 * MAX_WBITS for zlib, -MAX_WBITS for raw deflate).
 */
static struct blob
compress_with(const unsigned char *in, size_t len, int wbits)
{
	struct blob b = { NULL, 0 };
	z_stream z;
	uLong bound;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, wbits, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return b;
	bound = deflateBound(&z, (uLong)len) + 32;
	b.data = malloc(bound);
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)len;
	z.next_out = b.data;
	z.avail_out = (uInt)bound;
	if (deflate(&z, Z_FINISH) == Z_STREAM_END)
		b.len = z.total_out;
	deflateEnd(&z);
	return b;
}

/* A new blob holding a followed by b. */
static struct blob
concat(struct blob a, const void *b, size_t blen)
{
	struct blob c;

	c.len = a.len + blen;
	c.data = malloc(c.len + 1);
	if (nmade < sizeof(made) / sizeof(made[0]))
		made[nmade++] = c.data;
	memcpy(c.data, a.data, a.len);
	memcpy(c.data + a.len, b, blen);
	return c;
}

/* A copy of b with the byte at offset (from the end when negative) flipped. */
static struct blob
corrupt(struct blob b, long offset)
{
	struct blob c = concat(b, "", 0);
	size_t at = offset >= 0 ? (size_t)offset : b.len - (size_t)-offset;

	c.data[at] ^= 0x55;
	return c;
}

struct inflate_case {
	const char *name;
	struct blob in;
	size_t cap;
	enum inflate_result want;
	const unsigned char *plain;	/* expected output when want is INFLATE_OK */
	size_t plain_len;
};

static const char *
result_name(enum inflate_result r)
{
	switch (r) {
	case INFLATE_OK:
		return "OK";
	case INFLATE_TOO_LARGE:
		return "TOO_LARGE";
	case INFLATE_BAD_DATA:
		return "BAD_DATA";
	}
	return "?";
}

static void
run_case(const struct inflate_case *c)
{
	static unsigned char sentinel[1];
	unsigned char *out = sentinel;
	size_t outlen = 12345;
	enum inflate_result r;

	r = inflate_gzip(c->in.data, c->in.len, c->cap, &out, &outlen);
	TAP_STR_EQ(result_name(r), result_name(c->want), "inflate: %s", c->name);
	if (c->want == INFLATE_OK && r == INFLATE_OK)
		TAP_OK(outlen == c->plain_len && memcmp(out, c->plain, outlen) == 0,
		    "inflate: %s gives the original bytes", c->name);
	else
		TAP_OK(out == NULL && outlen == 0, "inflate: %s leaves no output", c->name);
	if (r == INFLATE_OK)
		free(out);
}

/* The bomb is timed on its own: it must stop at the cap, not inflate all 10 MB. */
static void
test_bomb(void)
{
	unsigned char *zeros = calloc(1, BOMB_LEN), *out = NULL;
	struct blob bomb = compress_with(zeros, BOMB_LEN, 16 + MAX_WBITS);
	struct timespec t0, t1;
	enum inflate_result r;
	size_t outlen = 0;
	double ms;

	TAP_OK(bomb.len > 0 && bomb.len < 64 * 1024, "bomb: 10 MB of zeros compress to %zu bytes",
	    bomb.len);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = inflate_gzip(bomb.data, bomb.len, BOMB_CAP, &out, &outlen);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	TAP_STR_EQ(result_name(r), "TOO_LARGE", "bomb: 1 MB cap refuses it");
	TAP_OK(ms < 500, "bomb: refused quickly (%.1f ms)", ms);
	r = inflate_gzip(bomb.data, bomb.len, BOMB_LEN, &out, &outlen);
	TAP_OK(r == INFLATE_OK && outlen == BOMB_LEN && memcmp(out, zeros, outlen) == 0,
	    "bomb: with a cap of exactly 10 MB it inflates whole");
	if (r == INFLATE_OK)
		free(out);
	free(bomb.data);
	free(zeros);
}

/* Deterministic, somewhat compressible bytes: long enough to need several output buffers. */
static unsigned char *
make_plain(void)
{
	unsigned char *p = malloc(PLAIN_LEN);
	uint32_t x = 12345;
	size_t i;

	for (i = 0; i < PLAIN_LEN; i++) {
		x = x * 1103515245 + 12345;
		p[i] = (unsigned char)('a' + (x >> 16) % 8);
	}
	return p;
}

int
main(void)
{
	static const char text[] = "hello, gzip";
	unsigned char *plain = make_plain(), *twice;
	struct blob gz, gz_text, gz_empty, zlib_wrapped, raw;
	struct blob junk = { (unsigned char *)"this is not gzip at all", 23 };
	struct blob none = { (unsigned char *)"", 0 };
	size_t i, n;

	gz = compress_with(plain, PLAIN_LEN, 16 + MAX_WBITS);
	gz_text = compress_with((const unsigned char *)text, strlen(text), 16 + MAX_WBITS);
	gz_empty = compress_with((const unsigned char *)"", 0, 16 + MAX_WBITS);
	zlib_wrapped = compress_with(plain, PLAIN_LEN, MAX_WBITS);
	raw = compress_with(plain, PLAIN_LEN, -MAX_WBITS);
	TAP_OK(gz.len > 18 && gz_text.len > 18 && gz_empty.len >= 20 && zlib_wrapped.len > 0 &&
	    raw.len > 0, "setup: zlib made the inputs");
	twice = malloc(2 * strlen(text));
	memcpy(twice, text, strlen(text));
	memcpy(twice + strlen(text), text, strlen(text));

	struct inflate_case cases[] = {
		{ "round trip, cap far above", gz, 10 * PLAIN_LEN, INFLATE_OK, plain, PLAIN_LEN },
		{ "cap exactly the size", gz, PLAIN_LEN, INFLATE_OK, plain, PLAIN_LEN },
		{ "cap one less than the size", gz, PLAIN_LEN - 1, INFLATE_TOO_LARGE, NULL, 0 },
		{ "cap 1", gz, 1, INFLATE_TOO_LARGE, NULL, 0 },
		{ "small text", gz_text, 1024, INFLATE_OK, (const unsigned char *)text,
		  strlen(text) },
		{ "small text, cap exact", gz_text, strlen(text), INFLATE_OK,
		  (const unsigned char *)text, strlen(text) },
		{ "empty member", gz_empty, 0, INFLATE_OK, (const unsigned char *)"", 0 },
		{ "two members", concat(gz_text, gz_text.data, gz_text.len), 1024, INFLATE_OK,
		  twice, 2 * strlen(text) },
		{ "two members, cap exact", concat(gz_text, gz_text.data, gz_text.len),
		  2 * strlen(text), INFLATE_OK, twice, 2 * strlen(text) },
		{ "two members, second over the cap", concat(gz_text, gz_text.data, gz_text.len),
		  2 * strlen(text) - 1, INFLATE_TOO_LARGE, NULL, 0 },
		{ "member then empty member", concat(gz_text, gz_empty.data, gz_empty.len), 1024,
		  INFLATE_OK, (const unsigned char *)text, strlen(text) },
		{ "trailing garbage", concat(gz_text, "garbage", 7), 1024, INFLATE_BAD_DATA,
		  NULL, 0 },
		{ "trailing zero padding", concat(gz_text, "\0\0\0\0", 4), 1024,
		  INFLATE_BAD_DATA, NULL, 0 },
		{ "trailing gzip magic only", concat(gz_text, "\x1f\x8b", 2), 1024,
		  INFLATE_BAD_DATA, NULL, 0 },
		{ "truncated to the header", { gz.data, 10 }, PLAIN_LEN, INFLATE_BAD_DATA,
		  NULL, 0 },
		{ "truncated mid-stream", { gz.data, gz.len / 2 }, PLAIN_LEN, INFLATE_BAD_DATA,
		  NULL, 0 },
		{ "truncated before the trailer", { gz.data, gz.len - 8 }, PLAIN_LEN,
		  INFLATE_BAD_DATA, NULL, 0 },
		{ "last trailer byte missing", { gz.data, gz.len - 1 }, PLAIN_LEN,
		  INFLATE_BAD_DATA, NULL, 0 },
		{ "one byte of magic", { gz.data, 1 }, PLAIN_LEN, INFLATE_BAD_DATA, NULL, 0 },
		{ "bad magic", corrupt(gz, 0), PLAIN_LEN, INFLATE_BAD_DATA, NULL, 0 },
		{ "bad CRC", corrupt(gz, -8), PLAIN_LEN, INFLATE_BAD_DATA, NULL, 0 },
		{ "bad length in the trailer", corrupt(gz, -4), PLAIN_LEN, INFLATE_BAD_DATA,
		  NULL, 0 },
		{ "corrupt deflate data", corrupt(gz, 20), PLAIN_LEN, INFLATE_BAD_DATA, NULL, 0 },
		{ "not gzip", junk, 1024, INFLATE_BAD_DATA, NULL, 0 },
		{ "zlib wrapper, not gzip", zlib_wrapped, PLAIN_LEN, INFLATE_BAD_DATA, NULL, 0 },
		{ "raw deflate, not gzip", raw, PLAIN_LEN, INFLATE_BAD_DATA, NULL, 0 },
		{ "empty input", none, 1024, INFLATE_BAD_DATA, NULL, 0 },
		{ "empty input, cap 0", none, 0, INFLATE_BAD_DATA, NULL, 0 },
	};
	n = sizeof(cases) / sizeof(cases[0]);
	for (i = 0; i < n; i++)
		run_case(&cases[i]);
	test_bomb();

	for (i = 0; i < nmade; i++)
		free(made[i]);
	free(gz.data);
	free(gz_text.data);
	free(gz_empty.data);
	free(zlib_wrapped.data);
	free(raw.data);
	free(twice);
	free(plain);
	return tap_done();
}
