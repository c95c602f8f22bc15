/*
 * libFuzzer target for inflate_gzip: any body a client sends must give OK
 * (with no more than the cap), TOO_LARGE or BAD_DATA, never a crash, a leak
 * or unbounded memory.
 */
#include "lib/inflate.h"

#include <stdint.h>
#include <stdlib.h>

#define FUZZ_CAP (1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Written so that the compiler cannot drop the reads in touch. */
volatile unsigned char fuzz_inflate_sink;

/* Reads every output byte, so that ASan checks the whole reported length is really there. */
static void
touch(const unsigned char *p, size_t n)
{
	unsigned char x = 0;
	size_t i;

	for (i = 0; i < n; i++)
		x ^= p[i];
	fuzz_inflate_sink = x;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *out = NULL;
	size_t outlen = 0;
	enum inflate_result r;

	r = inflate_gzip(data, size, FUZZ_CAP, &out, &outlen);
	switch (r) {
	case INFLATE_OK:
		if (outlen > FUZZ_CAP)
			abort();
		touch(out, outlen);
		free(out);
		break;
	case INFLATE_TOO_LARGE:
	case INFLATE_BAD_DATA:
		if (out != NULL || outlen != 0)
			abort();
		break;
	default:
		abort();
	}
	return 0;
}
