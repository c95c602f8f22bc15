/*
 * libFuzzer target: the Graph notification batch parser on arbitrary bytes,
 * then what intake does with a parsed batch (the journal record and its key
 * per item, the clientState check), and the validation-token decoder.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/secret.h"
#include "lib/util.h"
#include "proto/graph_notification.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char state[] = "client-state";
	struct secret want = { sizeof(state) - 1, (unsigned char *)state };
	char out[GRAPH_VALIDATION_TOKEN_MAX];
	struct graph_batch b, again;
	char *err = NULL, *rec, *key, ref[GRAPH_BATCH_REF_LEN + 1], buf[4096];
	unsigned char *keep;
	size_t i, n;

	util_form_decode((const char *)data, size, out, sizeof(out));
	if (graph_parse_batch((const char *)data, size, 1 << 20, &b, &err) == -1) {
		free(err);
		return 0;
	}
	keep = calloc(b.n_items + 1, 1);
	if (keep == NULL)
		abort();
	for (i = 0; i < b.n_items; i++)
		keep[i] = b.items[i].invalid == NULL;
	graph_batch_ref(&b, keep, ref);
	if (strlen(ref) != GRAPH_BATCH_REF_LEN)
		abort();
	free(keep);
	for (i = 0; i < b.n_items; i++) {
		if (b.items[i].invalid != NULL)
			continue;
		graph_client_state_matches(&want, b.items[i].client_state);
		rec = graph_item_record(&b, i, NULL);
		/* The record written into a buffer is the same bytes, or nothing when too long. */
		n = graph_item_record_in(&b, i, NULL, buf, sizeof(buf));
		if (n != 0 && (n != strlen(rec) || strcmp(buf, rec) != 0))
			abort();
		key = graph_item_key(&b.items[i], rec, ref, 1800000000000);
		/* What the worker reads back must parse as one valid item. */
		if (graph_parse_batch(rec, strlen(rec), 1 << 21, &again, &err) == -1 ||
		    again.n_items != 1 || again.items[0].invalid != NULL)
			abort();
		graph_batch_clear(&again);
		free(key);
		free(rec);
	}
	graph_batch_clear(&b);
	return 0;
}
