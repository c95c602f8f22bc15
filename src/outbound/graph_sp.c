/*
 * outbound/graph_sp: the service principal's passwordCredentials (see
 * graph_sp.h).
 */
#include "outbound/graph_sp.h"
#include "lib/util.h"
#include "lib/wbuf.h"

#include <stdlib.h>
#include <string.h>

#define SP_SELECT "$select=id,appId,passwordCredentials"

char *
graph_sp_path(const char *app_id)
{
	struct wbuf b = WBUF_INIT, lit = WBUF_INIT;
	const char *p;

	/* An OData string literal doubles its single quotes; the value is then escaped. */
	for (p = app_id; *p != '\0'; p++)
		wbuf_add(&lit, *p == '\'' ? "''" : p, *p == '\'' ? 2 : 1);
	wbuf_add_str(&b, "/servicePrincipals(appId='");
	wbuf_add_escaped(&b, lit.data, lit.len);
	wbuf_add_str(&b, "')?" SP_SELECT);
	wbuf_clear(&lit);
	return wbuf_to_str(&b);
}

int
graph_sp_get(struct graph_client *gc, const char *app_id, graph_cb cb, void *arg)
{
	char *path;
	int rc;

	if (app_id == NULL || app_id[0] == '\0')
		return -1;
	path = graph_sp_path(app_id);
	rc = graph_get_json(gc, path, cb, arg);
	free(path);
	return rc;
}

int
graph_sp_parse(const char *body, size_t len, const char *app_id, struct graph_application *out,
    char **err)
{
	if (graph_parse_application(body, len, out, err) == -1)
		return -1;
	if (app_id != NULL && (out->app_id == NULL || strcmp(out->app_id, app_id) != 0)) {
		*err = xasprintf("the service principal is for appId %s, not %s",
		    out->app_id ? out->app_id : "(none)", app_id);
		graph_application_clear(out);
		return -1;
	}
	return 0;
}
