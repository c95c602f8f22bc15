#include "json.h"

cJSON *
json_parse_whole(const char *p, size_t n)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(p, n, &end, 0);

	if (root == NULL)
		return NULL;
	while (end < p + n && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
		end++;
	if (end != p + n) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}
