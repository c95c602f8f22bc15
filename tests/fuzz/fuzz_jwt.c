/*
 * libFuzzer target: a validationToken through jwt_decode and the Graph
 * claims checks (fixed app, tenant and time), and the same bytes as a JWKS
 * document through jwks_parse.
 */
#include <stdint.h>
#include <stdlib.h>

#include "outbound/graph_tokens.h"
#include "outbound/jwks.h"
#include "proto/jwt.h"

#define FUZZ_APP "11111111-2222-3333-4444-555555555555"
#define FUZZ_TENANT "72f988bf-86f1-41af-91ab-2d7cd011db47"
#define FUZZ_NOW 1767225600

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jwt jwt;
	struct jwks *k;
	char *err = NULL;

	if (jwt_decode((const char *)data, size, &jwt, &err) == 0) {
		if (graph_token_check_claims(&jwt, FUZZ_APP, FUZZ_TENANT, FUZZ_NOW, &err) == -1) {
			free(err);
			err = NULL;
		}
		jwt_clear(&jwt);
	}
	free(err);
	err = NULL;
	k = jwks_parse((const char *)data, size, &err);
	if (k != NULL)
		jwks_find(k, "kid");
	jwks_free(k);
	free(err);
	return 0;
}
