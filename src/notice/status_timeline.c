#include "notice/status_timeline.h"
#include "lib/json.h"
#include "lib/util.h"
#include "state/config.h"
#include "state/store.h"

#include <stdlib.h>
#include <string.h>

/* Points of an incident's progress: enough for a line that reads as a curve, few to send. */
#define PROGRESS_POINTS 40
#define PROGRESS_STEP_MIN_MS 1000

static void
add_marks(cJSON *app_obj, const struct config_app *app)
{
	cJSON *warn = cJSON_AddArrayToObject(app_obj, "warn_before_s");
	size_t i;

	cJSON_AddNumberToObject(app_obj, "rotate_before_s", (double)app->rotate_before);
	for (i = 0; i < app->n_warn_before; i++)
		cJSON_AddItemToArray(warn, cJSON_CreateNumber((double)app->warn_before[i]));
}

/*
 * The incident's progress from its opening until now, in at most
 * PROGRESS_POINTS points at least PROGRESS_STEP_MIN_MS apart.  0 or -1.
 */
static int
add_progress(cJSON *inc, struct store *st, int64_t now_ms)
{
	int64_t opened, since, span, step, affected[PROGRESS_POINTS], recovered[PROGRESS_POINTS];
	char at[32];
	cJSON *list, *p;
	size_t n, i;

	if (util_parse_time(json_str_or(inc, "opened_at", ""), &opened) == -1)
		return 0;
	since = opened * 1000;
	span = now_ms > since ? now_ms - since : 0;
	step = (span + PROGRESS_POINTS - 1) / PROGRESS_POINTS;
	if (step < PROGRESS_STEP_MIN_MS)
		step = PROGRESS_STEP_MIN_MS;
	n = (size_t)((span + step - 1) / step);
	if (n < 2)
		n = 2;
	if (n > PROGRESS_POINTS)
		n = PROGRESS_POINTS;
	if (store_incident_progress(st, json_str_or(inc, "id", ""), since, step, n, affected,
	    recovered) == -1)
		return -1;
	list = cJSON_AddArrayToObject(inc, "progress");
	for (i = 0; i < n; i++) {
		p = cJSON_CreateObject();
		util_format_time((since + (int64_t)(i + 1) * step < now_ms ?
		    since + (int64_t)(i + 1) * step : now_ms) / 1000, at, sizeof(at));
		cJSON_AddStringToObject(p, "at", at);
		cJSON_AddNumberToObject(p, "affected", (double)affected[i]);
		cJSON_AddNumberToObject(p, "recovered", (double)recovered[i]);
		cJSON_AddItemToArray(list, p);
	}
	return 0;
}

int
status_timeline_add(cJSON *app_obj, struct store *st, const struct config_app *app,
    int64_t now_ms)
{
	cJSON *inc;

	add_marks(app_obj, app);
	cJSON_ArrayForEach(inc, cJSON_GetObjectItemCaseSensitive(app_obj, "incidents")) {
		if (strcmp(json_str_or(inc, "state", ""), "open") != 0)
			continue;
		if (add_progress(inc, st, now_ms) == -1)
			return -1;
	}
	return 0;
}
