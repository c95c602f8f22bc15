/*
 * status_leader: leadership in the status document.  See status_leader.h.
 */
#include "notice/status_leader.h"
#include "lib/json.h"
#include "lib/util.h"
#include "lib/wbuf.h"
#include "state/leader.h"

#include <stdlib.h>
#include <string.h>

void
status_leader_add(cJSON *doc, const struct leader_info *info, const char *this_node)
{
	char since[32];
	cJSON *o;

	if (!info->known || info->node[0] == '\0') {
		cJSON_AddNullToObject(doc, "leader");
	} else {
		o = cJSON_AddObjectToObject(doc, "leader");
		cJSON_AddStringToObject(o, "node", info->node);
		util_format_time(info->since_ms / 1000, since, sizeof(since));
		cJSON_AddStringToObject(o, "since", since);
		cJSON_AddNumberToObject(o, "epoch", (double)info->epoch);
	}
	if (this_node == NULL)
		return;
	cJSON_AddStringToObject(doc, "this_node", this_node);
	cJSON_AddBoolToObject(doc, "this_is_leader", info->known &&
	    strcmp(info->node, this_node) == 0);
}

void
status_leader_text(struct wbuf *b, const cJSON *doc)
{
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(doc, "leader");
	const cJSON *epoch = cJSON_GetObjectItemCaseSensitive(l, "epoch");
	char *line;

	if (l == NULL)
		return;
	if (!cJSON_IsObject(l))
		line = xstrdup("leader: none known (no replica has led yet)\n");
	else
		line = xasprintf("leader: %s since %s (epoch %.0f)\n", json_str_or(l, "node", "?"),
		    json_str_or(l, "since", "?"), cJSON_IsNumber(epoch) ? epoch->valuedouble : 0);
	wbuf_add_str(b, line);
	free(line);
}
