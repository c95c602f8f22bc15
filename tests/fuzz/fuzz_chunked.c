/*
 * libFuzzer target: a chunked request body.  The bytes go through the
 * decoder whole and split where the first byte says; both must end alike
 * (result, bytes taken, body), and a decoded body is never over the limit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/http_chunked.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The limit: small enough that the fuzzer reaches it. */
#define MAX_BODY 4096

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;
	struct http_chunked whole, split;
	enum http_chunked_result r, rs;
	size_t n, cut, used, u1 = 0, u2 = 0;

	if (size < 1)
		return 0;
	n = size - 1;
	cut = n > 0 ? data[0] % (n + 1) : 0;
	http_chunked_init(&whole, MAX_BODY);
	r = http_chunked_feed(&whole, p, n, &used);
	http_chunked_init(&split, MAX_BODY);
	rs = http_chunked_feed(&split, p, cut, &u1);
	if (rs == HTTP_CHUNKED_MORE)
		rs = http_chunked_feed(&split, p + cut, n - cut, &u2);
	if (r != rs || used != u1 + u2 || whole.len != split.len ||
	    (whole.len > 0 && memcmp(whole.data, split.data, whole.len) != 0))
		__builtin_trap();
	if (whole.len > MAX_BODY || used > n)
		__builtin_trap();
	if ((r == HTTP_CHUNKED_BAD || r == HTTP_CHUNKED_TOO_LARGE) && whole.bad == NULL)
		__builtin_trap();
	http_chunked_clear(&whole);
	http_chunked_clear(&split);
	return 0;
}
