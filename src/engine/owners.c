/*
 * owners: who is told about an app.  See owners.h.
 */
#include "engine/owners.h"
#include "lib/util.h"
#include "outbound/graph.h"
#include "state/config.h"
#include "state/store.h"

#include <stdlib.h>
#include <strings.h>

#include <cjson/cJSON.h>

static int
listed(char **list, size_t n, const char *addr)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(list[i], addr) == 0)
			return 1;
	return 0;
}

void
owners_list(struct store *st, const struct config_app *app, char ***out, size_t *n,
    size_t *from_graph)
{
	char *json = NULL;
	cJSON *arr = NULL, *e;
	size_t i, cap = app->n_owners + 1;

	*n = 0;
	if (from_graph != NULL)
		*from_graph = 0;
	if (app->owners_from_graph && store_get_value(st, app->name, "graph_owners", &json) == 1)
		arr = cJSON_Parse(json);
	free(json);
	cap += (size_t)cJSON_GetArraySize(arr);
	*out = xcalloc(cap, sizeof(**out));
	for (i = 0; i < app->n_owners; i++)
		if (!listed(*out, *n, app->owners[i]))
			(*out)[(*n)++] = xstrdup(app->owners[i]);
	cJSON_ArrayForEach(e, arr) {
		if (!cJSON_IsString(e) || listed(*out, *n, e->valuestring) || *n + 1 >= cap)
			continue;
		(*out)[(*n)++] = xstrdup(e->valuestring);
		if (from_graph != NULL)
			(*from_graph)++;
	}
	cJSON_Delete(arr);
}

char *
owners_put_graph(struct store *st, const char *app, const struct graph_owner *owners, size_t n)
{
	cJSON *arr = cJSON_CreateArray();
	char *json;
	size_t i;

	for (i = 0; i < n; i++)
		if (owners[i].address != NULL)
			cJSON_AddItemToArray(arr, cJSON_CreateString(owners[i].address));
	json = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	if (json != NULL && store_put_value(st, app, "graph_owners", json) == -1) {
		cJSON_free(json);
		json = NULL;
	}
	return json;
}

int
owners_graph_known(struct store *st, const char *app)
{
	char *known = NULL;
	int rc = store_get_value(st, app, "graph_owners", &known) == 1;

	free(known);
	return rc;
}
