/*
 * inflate: gunzip a request body with a hard cap on the inflated size, so
 * that a small compressed body cannot expand without bound.
 */
#ifndef REKEY_LIB_INFLATE_H
#define REKEY_LIB_INFLATE_H

#include <stddef.h>

enum inflate_result {
	INFLATE_OK,
	INFLATE_TOO_LARGE,	/* the output would exceed the cap */
	INFLATE_BAD_DATA,	/* not gzip, corrupt, or truncated */
};

/* On INFLATE_OK sets *out (caller frees) and *outlen. */
enum inflate_result inflate_gzip(const void *in, size_t inlen, size_t cap,
    unsigned char **out, size_t *outlen);

#endif
