/*
 * rotator_expiry: what the rotator does with the expiry poll's read of an
 * app: records the app's secrets for status, warns once per warn_before
 * threshold the in-use secret crosses, and plans a proactive rotation when
 * that secret ends within rotate_before (in auto mode also when rekey
 * cannot tell which secret it is).
 */
#include "engine/rotation_in_use.h"
#include "engine/rotator.h"
#include "engine/rotator_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "outbound/graph.h"
#include "state/config.h"
#include "state/credentials.h"
#include "state/rotation.h"
#include "state/store.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- What the expiry poll saw ---- */

/* Records the app's secrets as Graph listed them in a, for status (state/credentials.h). */
static int
record_credentials(struct store *st, const char *app, const struct graph_application *a,
    const char *key, const char *why)
{
	struct credential *list = xcalloc(a->n_passwords + 1, sizeof(*list));
	size_t i;
	int rc;

	for (i = 0; i < a->n_passwords; i++) {
		list[i].key_id = a->passwords[i].key_id;
		list[i].hint = a->passwords[i].hint;
		list[i].display_name = a->passwords[i].display_name;
		list[i].start = a->passwords[i].start;
		list[i].end = a->passwords[i].end;
	}
	rc = credentials_record(st, app, list, a->n_passwords, rotator_now_s(), key, why);
	free(list);
	return rc;
}

/* Records (and logs) each warn_before threshold the in-use secret has crossed, once. */
static void
warn_thresholds(struct rotator *r, const struct config_app *app, const struct graph_password *pw)
{
	int64_t left = pw->end - rotator_now_s();
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
		log_rotation(LOG_LEVEL_INFO, app->name, id,
		    "planned proactive rotation %s: %s", id, why);
		rotator_wake(r);
	}
}

void
rotator_expiry_seen(struct rotator *r, const char *name, const struct graph_application *a)
{
	const struct config_app *app;
	const struct graph_password *pw;
	const char *why = NULL;
	char *key;

	if (r == NULL || (app = config_find_app(r->cfg, name)) == NULL)
		return;
	key = rotation_in_use_key(r->st, app, a, &why);
	if (record_credentials(r->st, name, a, key, why) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, name, "cannot record the secrets for status");
	if (key == NULL) {
		log_ctx(LOG_LEVEL_WARN, NULL, name, "cannot tell which secret Nylas uses: %s", why);
		/* Auto mode replaces it with a secret rekey knows (and so can watch). */
		if (app->rotation_mode == ROTATION_MODE_AUTO && rotator_find_rot(r, name) != NULL)
			plan_proactive(r, app, "to a secret rekey knows");
		return;
	}
	pw = rotator_find_key(a, key);
	if (pw != NULL && pw->end > 0) {
		warn_thresholds(r, app, pw);
		if (pw->end - rotator_now_s() <= app->rotate_before && rotator_find_rot(r, name) != NULL)
			plan_proactive(r, app, pw->end <= rotator_now_s() ? "the secret Nylas uses has ended" :
			    "the secret Nylas uses ends within rotate_before");
	}
	free(key);
}
