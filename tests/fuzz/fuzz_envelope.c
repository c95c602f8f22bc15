/* libFuzzer target: the Nylas envelope parser on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>

#include "proto/nylas_event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nylas_event ev;
	char *err = NULL;

	if (nylas_parse_envelope((const char *)data, size, &ev, &err) == 0)
		nylas_event_clear(&ev);
	free(err);
	return 0;
}
