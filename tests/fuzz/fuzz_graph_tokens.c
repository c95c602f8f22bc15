/*
 * libFuzzer target: a Graph notification batch with validationTokens, the
 * way intake and the worker pass it on: the batch parsed (tokens bounded),
 * its tokens stored once (graph_tokens_record) and each kept item's record
 * naming them by digest, each record read back and joined with the stored
 * tokens, which must come back unchanged; every token then decoded and its
 * claims checked as the worker does before any signature.  The input is
 * also tried as a stored token array on its own.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "outbound/graph_tokens.h"
#include "proto/graph_notification.h"
#include "proto/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const empty_record =
    "{\"value\":[{\"subscriptionId\":\"s\",\"changeType\":\"updated\"}],"
    "\"validationTokensRef\":\"0000000000000000000000000000000000000000000000000000000000000000\"}";

/* Each token as the worker sees it before the signature: decoded, claims checked. */
static void
check_tokens(const struct graph_batch *b)
{
	struct jwt jwt;
	char *err = NULL;
	size_t t;

	for (t = 0; t < b->n_tokens; t++) {
		if (strlen(b->tokens[t]) > GRAPH_TOKEN_BYTES_MAX)
			abort();
		if (jwt_decode(b->tokens[t], strlen(b->tokens[t]), &jwt, &err) == 0) {
			graph_token_check_claims(&jwt, "11111111-2222-3333-4444-555555555555",
			    "72f988bf-86f1-41af-91ab-2d7cd011db47", 1800000000, &err);
			jwt_clear(&jwt);
		}
		free(err);
		err = NULL;
	}
}

/* Item i's record, read back and given the stored tokens: the same tokens, one valid item. */
static void
round_trip(const struct graph_batch *b, size_t i, const char *tokens, const char *ref)
{
	struct graph_batch again;
	char *err = NULL, *rec = graph_item_record(b, i, ref);
	size_t t;

	if (graph_parse_batch(rec, strlen(rec), 1 << 21, &again, &err) == -1 ||
	    again.n_items != 1 || again.items[0].invalid != NULL ||
	    (ref != NULL) != (again.tokens_ref != NULL))
		abort();
	if (ref != NULL) {
		if (graph_batch_set_tokens(&again, tokens, strlen(tokens), &err) == -1 ||
		    again.n_tokens != b->n_tokens)
			abort();
		for (t = 0; t < b->n_tokens; t++)
			if (strcmp(again.tokens[t], b->tokens[t]) != 0)
				abort();
	}
	graph_batch_clear(&again);
	free(rec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct graph_batch b;
	char *err = NULL, *tokens, ref[GRAPH_TOKENS_REF_LEN + 1];
	size_t i;

	/* The input as a stored token array. */
	if (graph_parse_batch(empty_record, strlen(empty_record), 4096, &b, &err) == 0) {
		if (graph_batch_set_tokens(&b, (const char *)data, size, &err) == 0)
			check_tokens(&b);
		free(err);
		err = NULL;
		graph_batch_clear(&b);
	}
	if (graph_parse_batch((const char *)data, size, 1 << 20, &b, &err) == -1) {
		free(err);
		return 0;
	}
	check_tokens(&b);
	tokens = graph_tokens_record(&b, ref);
	if ((tokens != NULL) != (b.n_tokens > 0) || (tokens != NULL && strlen(ref) != 64))
		abort();
	for (i = 0; i < b.n_items; i++)
		if (b.items[i].invalid == NULL)
			round_trip(&b, i, tokens, tokens != NULL ? ref : NULL);
	free(tokens);
	graph_batch_clear(&b);
	return 0;
}
