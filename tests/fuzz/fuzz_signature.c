/*
 * libFuzzer target: X-Nylas-Signature handling.  The input is split at the
 * first NUL into a header value and a body; two secrets are tried.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/secret.h"
#include "proto/nylas_event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t hlen = nul ? (size_t)(nul - data) : size;
	struct secret *secrets[2];
	char *header = malloc(hlen + 1);

	memcpy(header, data, hlen);
	header[hlen] = '\0';
	secrets[0] = secret_new("first-secret", 12);
	secrets[1] = secret_new("", 0);
	nylas_signature_matches(header, nul ? nul + 1 : data, nul ? size - hlen - 1 : 0,
	    secrets, 2);
	secret_free(secrets[0]);
	secret_free(secrets[1]);
	free(header);
	return 0;
}
