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
/*
 * Counting the points scans every grant of the incident: 5 to 15 ms for
 * 10,000 (measured on the store of a 10,000-grant storm), on the event
 * loop, and the status page asks every 5 s.  So the points are counted
 * again only when a new one is due (a step has passed), and at least every
 * PROGRESS_REUSE_MS; the last point, now, is always the incident's live
 * counters.  A few incidents are kept (the open ones of a storm);
 * status_build runs on the event loop or in the CLI, one thread.
 */
#define PROGRESS_REUSE_MS 30000
#define PROGRESS_KEPT 4

struct progress {
	char id[64];		/* the incident; "" is a free slot */
	int64_t counted_ms, since, step;
	size_t n;
	int64_t affected[PROGRESS_POINTS], recovered[PROGRESS_POINTS];
};

static struct progress kept[PROGRESS_KEPT];

static void
add_marks(cJSON *app_obj, const struct config_app *app)
{
	cJSON *warn = cJSON_AddArrayToObject(app_obj, "warn_before_s");
	size_t i;

	cJSON_AddNumberToObject(app_obj, "rotate_before_s", (double)app->rotate_before);
	for (i = 0; i < app->n_warn_before; i++)
		cJSON_AddItemToArray(warn, cJSON_CreateNumber((double)app->warn_before[i]));
}

/* The kept points of incident id when recent enough; else a slot (the oldest) to count into. */
static struct progress *
progress_slot(const char *id, int64_t now_ms, int *fresh)
{
	struct progress *p = &kept[0];
	size_t i;

	for (i = 0; i < PROGRESS_KEPT; i++) {
		if (strcmp(kept[i].id, id) == 0) {
			*fresh = now_ms >= kept[i].counted_ms &&
			    now_ms - kept[i].counted_ms < PROGRESS_REUSE_MS &&
			    now_ms - kept[i].counted_ms < kept[i].step;
			return &kept[i];
		}
		if (kept[i].counted_ms < p->counted_ms)
			p = &kept[i];
	}
	*fresh = 0;
	return p;
}

/* Counts the points of incident id since since_ms: at most PROGRESS_POINTS, a second apart or more.  0 or -1. */
static int
progress_count(struct progress *p, struct store *st, const char *id, int64_t since, int64_t now_ms)
{
	int64_t span = now_ms > since ? now_ms - since : 0;

	p->id[0] = '\0';
	p->since = since;
	p->step = (span + PROGRESS_POINTS - 1) / PROGRESS_POINTS;
	if (p->step < PROGRESS_STEP_MIN_MS)
		p->step = PROGRESS_STEP_MIN_MS;
	p->n = (size_t)((span + p->step - 1) / p->step);
	if (p->n < 1)
		p->n = 1;
	if (p->n > PROGRESS_POINTS)
		p->n = PROGRESS_POINTS;
	if (store_incident_progress(st, id, since, p->step, p->n, p->affected, p->recovered) == -1)
		return -1;
	p->counted_ms = now_ms;
	util_strlcpy(p->id, id, sizeof(p->id));
	return 0;
}

static void
add_point(cJSON *list, int64_t at_ms, double affected, double recovered)
{
	cJSON *o = cJSON_CreateObject();
	char at[32];

	util_format_time(at_ms / 1000, at, sizeof(at));
	cJSON_AddStringToObject(o, "at", at);
	cJSON_AddNumberToObject(o, "affected", affected);
	cJSON_AddNumberToObject(o, "recovered", recovered);
	cJSON_AddItemToArray(list, o);
}

/* The incident's progress from its opening until now (see PROGRESS_REUSE_MS).  0 or -1. */
static int
add_progress(cJSON *inc, struct store *st, int64_t now_ms)
{
	const char *id = json_str_or(inc, "id", "");
	int64_t opened, end;
	struct progress *p;
	cJSON *list;
	int fresh;
	size_t i;

	if (util_parse_time(json_str_or(inc, "opened_at", ""), &opened) == -1)
		return 0;
	p = progress_slot(id, now_ms, &fresh);
	if (!fresh && progress_count(p, st, id, opened * 1000, now_ms) == -1)
		return -1;
	list = cJSON_AddArrayToObject(inc, "progress");
	for (i = 0; i < p->n; i++) {
		end = p->since + (int64_t)(i + 1) * p->step;
		if (end >= p->counted_ms)
			break;
		add_point(list, end, (double)p->affected[i], (double)p->recovered[i]);
	}
	add_point(list, now_ms, cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(inc, "affected")),
	    cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(inc, "recovered")));
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
