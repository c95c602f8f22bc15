/*
 * status_policy: what the last rotation learnt of the app management
 * policies before its addPassword (see status_policy.h).
 */
#include "notice/status_policy.h"
#include "lib/wbuf.h"
#include "state/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
status_policy_json(cJSON *app_obj, struct store *st, const char *app)
{
	char *json = NULL;
	cJSON *o = NULL;

	if (store_get_value(st, app, "lifetime_policy", &json) == -1)
		return -1;
	if (json != NULL)
		o = cJSON_Parse(json);
	free(json);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		cJSON_AddNullToObject(app_obj, "lifetime_policy");
		return 0;
	}
	cJSON_AddItemToObject(app_obj, "lifetime_policy", o);
	return 0;
}

static const char *
text(const cJSON *o, const char *name, const char *dflt)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));

	return s != NULL ? s : dflt;
}

static long long
days(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(v) ? (long long)(v->valuedouble / 86400) : 0;
}

void
status_policy_text(struct wbuf *b, const cJSON *app)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(app, "lifetime_policy");
	const char *state = text(o, "state", "");
	char line[512];

	if (!cJSON_IsObject(o))
		return;
	if (strcmp(state, "cap") == 0)
		snprintf(line, sizeof(line), "  lifetime policy: \"%s\" caps client secrets at %lld "
		    "days; rotation %s asked for %lld days%s\n", text(o, "policy", "?"),
		    days(o, "max_s"), text(o, "rotation", "?"), days(o, "granted_s"),
		    days(o, "granted_s") < days(o, "requested_s") ? " (capped)" : "");
	else if (strcmp(state, "ban") == 0)
		snprintf(line, sizeof(line), "  lifetime policy: \"%s\" forbids client secrets for "
		    "this app (see RotationPossible)\n", text(o, "policy", "?"));
	else if (strcmp(state, "unreadable") == 0)
		snprintf(line, sizeof(line), "  lifetime policy: not readable (%s): grant the rotator "
		    "Policy.Read.All, or nothing if the tenant has none\n", text(o, "why", "?"));
	else
		snprintf(line, sizeof(line), "  lifetime policy: none restricts this app's client "
		    "secrets\n");
	wbuf_add_str(b, line);
}
