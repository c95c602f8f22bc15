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
	char *err = NULL, *rec, *key;
	size_t i;

	util_form_decode((const char *)data, size, out, sizeof(out));
	if (graph_parse_batch((const char *)data, size, 1 << 20, &b, &err) == -1) {
		free(err);
		return 0;
	}
	for (i = 0; i < b.n_items; i++) {
		if (b.items[i].invalid != NULL)
			continue;
		graph_client_state_matches(&want, b.items[i].client_state);
		rec = graph_item_record(&b, i, NULL);
		key = graph_item_key(&b.items[i], rec, 1800000000000);
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
