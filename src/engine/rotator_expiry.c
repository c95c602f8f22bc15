/*
 * rotator_expiry: what the rotator does with the expiry poll's read of an
 * app: records the app's secrets for status, warns once per warn_before
 * threshold the in-use secret crosses, and plans a proactive rotation when
 * that secret ends within rotate_before (in auto mode also when rekey
 * cannot tell which secret it is).
 */
#include "engine/rotator.h"
#include "engine/rotation_in_use.h"
#include "engine/rotator_internal.h"
#include "lib/log.h"
#include "lib/util.h"
#include "outbound/graph.h"
#include "state/config.h"
#include "state/rotation.h"
#include "state/store.h"

#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

/* ---- What the expiry poll saw ---- */

/* The app's secrets as `rekey status` shows them: a JSON array (cJSON_free). */
static char *
credentials_json(const struct graph_application *a)
{
	cJSON *arr = cJSON_CreateArray(), *o;
	char start[UTIL_TIME_MAX], end[UTIL_TIME_MAX], *out;
	size_t i;

	for (i = 0; i < a->n_passwords; i++) {
		const struct graph_password *pw = &a->passwords[i];

		util_format_time(pw->start, start, sizeof(start));
		util_format_time(pw->end, end, sizeof(end));
		o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "key_id", pw->key_id ? cJSON_CreateString(pw->key_id) :
		    cJSON_CreateNull());
		cJSON_AddItemToObject(o, "hint", pw->hint ? cJSON_CreateString(pw->hint) :
		    cJSON_CreateNull());
		cJSON_AddItemToObject(o, "display_name", pw->display_name ?
		    cJSON_CreateString(pw->display_name) : cJSON_CreateNull());
		cJSON_AddItemToObject(o, "start", pw->start ? cJSON_CreateString(start) :
		    cJSON_CreateNull());
		cJSON_AddItemToObject(o, "end", pw->end ? cJSON_CreateString(end) :
		    cJSON_CreateNull());
		cJSON_AddItemToArray(arr, o);
	}
	out = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	if (out == NULL)
		fatal("out of memory");
	return out;
}

/* Records (and logs) each warn_before threshold the in-use secret has crossed, once. */
static void
warn_thresholds(struct rotator *r, const struct config_app *app, const struct graph_password *pw)
{
	int64_t left = pw->end - now_s();
	char key[256], when[UTIL_TIME_MAX], *seen;
	size_t i;
	int found;

	/* An ended secret is the diagnosis's business (and a rotation's), not a warning's. */
	if (left <= 0)
		return;
	util_format_time(pw->end, when, sizeof(when));
	for (i = 0; i < app->n_warn_before; i++) {
		if (left > app->warn_before[i])
			continue;
		snprintf(key, sizeof(key), "warned:%s:%lld", pw->key_id,
		    (long long)app->warn_before[i]);
		seen = NULL;
		found = store_get_value(r->st, app->name, key, &seen);
		free(seen);
		if (found != 0)
			continue;
		log_ctx(LOG_LEVEL_WARN, NULL, app->name, "the secret Nylas uses (%s) ends %s: within "
		    "the %lld-day warning", pw->key_id, when, (long long)(app->warn_before[i] / 86400));
		if (store_put_value(r->st, app->name, key, when) == -1)
			log_ctx(LOG_LEVEL_WARN, NULL, app->name, "cannot record the warning %s", key);
	}
}

static void
plan_proactive(struct rotator *r, const struct config_app *app, const char *why)
{
	char id[ROTATION_ID_SIZE], *err = NULL;
	int rc = rotation_plan(r->st, app, "proactive", NULL, 0, id, &err);

	if (rc == -1) {
		log_ctx(LOG_LEVEL_ERROR, NULL, app->name, "cannot plan a rotation: %s", err);
		free(err);
	} else if (rc == 2) {
		log_ctx(LOG_LEVEL_INFO, NULL, app->name, "no proactive rotation (%s) %s", why, err);
		free(err);
	} else if (rc == 0) {
		log_ctx(LOG_LEVEL_INFO, NULL, app->name, "planned proactive rotation %s: %s", id, why);
		rotator_wake(r);
	}
}

/*
 * The app's secrets as last read, for status: one transaction, so one commit
 * (and fsync) while the event loop waits, not one per value.
 */
static int
record_secrets(struct store *st, const char *app, const char *json, const char *when,
    const char *key, const char *why)
{
	if (store_begin(st) == -1)
		return -1;
	if (store_put_value(st, app, "password_credentials", json) == -1 ||
	    store_put_value(st, app, "secrets_read_at", when) == -1 ||
	    store_put_value(st, app, "in_use_key_id", key ? key : "") == -1 ||
	    store_put_value(st, app, "in_use_why", key ? "" : why) == -1) {
		store_rollback(st);
		return -1;
	}
	return store_commit(st);
}

void
rotator_expiry_seen(struct rotator *r, const char *name, const struct graph_application *a)
{
	const struct config_app *app;
	const struct graph_password *pw;
	const char *why = NULL;
	char *json, *key, when[UTIL_TIME_MAX];

	if (r == NULL || (app = config_find_app(r->cfg, name)) == NULL)
		return;
	json = credentials_json(a);
	util_format_time(now_s(), when, sizeof(when));
	key = rotation_in_use_key(r->st, app, a, &why);
	if (record_secrets(r->st, name, json, when, key, why) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, name, "cannot record the secrets for status");
	cJSON_free(json);
	if (key == NULL) {
		log_ctx(LOG_LEVEL_WARN, NULL, name, "cannot tell which secret Nylas uses: %s", why);
		/* Auto mode replaces it with a secret rekey knows (and so can watch). */
		if (app->rotation_mode == ROTATION_MODE_AUTO && find_rot(r, name) != NULL)
			plan_proactive(r, app, "to a secret rekey knows");
		return;
	}
	pw = find_key(a, key);
	if (pw != NULL && pw->end > 0) {
		warn_thresholds(r, app, pw);
		if (pw->end - now_s() <= app->rotate_before && find_rot(r, name) != NULL)
			plan_proactive(r, app, pw->end <= now_s() ? "the secret Nylas uses has ended" :
			    "the secret Nylas uses ends within rotate_before");
	}
	free(key);
}
