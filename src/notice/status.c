#include "notice/status.h"
#include "lib/crypto.h"
#include "lib/json.h"
#include "lib/util.h"
#include "lib/wbuf.h"
#include "notice/status_policy.h"
#include "notice/status_leader.h"
#include "notice/status_sp.h"
#include "notice/status_timeline.h"
#include "state/condition.h"
#include "state/config.h"
#include "state/credentials.h"
#include "state/health.h"
#include "state/nylas_secrets.h"
#include "state/rotation.h"
#include "state/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Open incidents are all shown up to this many; then the newest closed ones. */
#define MAX_OPEN_INCIDENTS 50
#define MAX_RECENT_INCIDENTS 10
#define MAX_UNFINISHED_ROTATIONS 10
#define MAX_RECENT_ROTATIONS 10
/* A stored credential list longer than this is cut (Graph allows far fewer). */
#define MAX_SECRETS 64
#define SECONDS_PER_DAY 86400

/* ---- Building the document ---- */

static void
add_time(cJSON *obj, const char *name, int64_t unix_secs)
{
	char buf[32];

	if (unix_secs <= 0) {
		cJSON_AddNullToObject(obj, name);
		return;
	}
	util_format_time(unix_secs, buf, sizeof(buf));
	cJSON_AddStringToObject(obj, name, buf);
}

static void
add_time_ms(cJSON *obj, const char *name, int64_t unix_ms)
{
	add_time(obj, name, unix_ms / 1000);
}

static void
add_str_or_null(cJSON *obj, const char *name, const char *s)
{
	if (s != NULL)
		cJSON_AddStringToObject(obj, name, s);
	else
		cJSON_AddNullToObject(obj, name);
}

/* "2026-07-01T00:00:00Z", with or without fractional seconds, into Unix seconds; 0 or -1. */
static int
parse_time(const char *s, int64_t *out)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL)
		return -1;
	if (*end == '.')
		end += strspn(end + 1, "0123456789") + 1;
	if (strcmp(end, "Z") != 0 && strcmp(end, "+00:00") != 0 && *end != '\0')
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

/* Whole days from now until end, rounded down (negative once it has passed). */
static int64_t
days_left(int64_t end, int64_t now)
{
	int64_t d = end - now;

	return d >= 0 ? d / SECONDS_PER_DAY : -((-d + SECONDS_PER_DAY - 1) / SECONDS_PER_DAY);
}

static cJSON *
secret_json(const struct credential *cred, const char *in_use_key, int64_t now)
{
	cJSON *o = cJSON_CreateObject();
	const char *key_id = cred->key_id;
	const char *name = cred->display_name;
	int64_t end = cred->end;

	add_str_or_null(o, "key_id", key_id);
	add_str_or_null(o, "hint", cred->hint);
	add_str_or_null(o, "display_name", name);
	add_time(o, "start", cred->start);
	add_time(o, "end", end);
	cJSON_AddBoolToObject(o, "in_use", key_id != NULL && in_use_key != NULL &&
	    strcmp(key_id, in_use_key) == 0);
	cJSON_AddBoolToObject(o, "made_by_rekey", name != NULL && strncmp(name, "rekey-", 6) == 0);
	if (end > 0)
		cJSON_AddNumberToObject(o, "days_left", (double)days_left(end, now));
	return o;
}

/* A per-app value, or NULL when absent; -1 on a store error. */
static int
get_value(struct store *st, const char *app, const char *key, char **out)
{
	*out = NULL;
	return store_get_value(st, app, key, out) == -1 ? -1 : 0;
}

/* "secrets", "in_use_key_id", "in_use_why" and "secrets_read_at" of app; 0 or -1. */
static int
add_secrets(cJSON *app_obj, struct store *st, const char *app, int64_t now)
{
	cJSON *list = cJSON_AddArrayToObject(app_obj, "secrets");
	struct credentials c;
	size_t i;

	if (credentials_load(st, app, &c) == -1)
		return -1;
	for (i = 0; i < c.n && i < MAX_SECRETS; i++)
		cJSON_AddItemToArray(list, secret_json(&c.list[i], c.in_use_key_id, now));
	add_str_or_null(app_obj, "in_use_key_id", c.in_use_key_id);
	if (c.in_use_why != NULL)
		cJSON_AddStringToObject(app_obj, "in_use_why", c.in_use_why);
	else if (!c.read)
		cJSON_AddStringToObject(app_obj, "in_use_why", "secrets not read from Graph yet");
	else
		cJSON_AddNullToObject(app_obj, "in_use_why");
	if (c.read_at != 0)
		add_time(app_obj, "secrets_read_at", c.read_at);
	credentials_clear(&c);
	return 0;
}

/*
 * "publish_target": where the last rotation published or will publish the
 * secret, as the rotator recorded it ({"kind","credential_id","source"});
 * null until a rotation has read the connector.  0 or -1.
 */
static int
add_publish_target(cJSON *app_obj, struct store *st, const char *app)
{
	char *json = NULL;
	cJSON *t = NULL, *o;

	if (get_value(st, app, "publish_target", &json) == -1)
		return -1;
	if (json != NULL)
		t = cJSON_Parse(json);
	free(json);
	if (!cJSON_IsObject(t)) {
		cJSON_Delete(t);
		cJSON_AddNullToObject(app_obj, "publish_target");
		return 0;
	}
	o = cJSON_AddObjectToObject(app_obj, "publish_target");
	add_str_or_null(o, "kind", json_str_or(t, "kind", NULL));
	add_str_or_null(o, "credential_id", json_str_or(t, "credential_id", NULL));
	add_str_or_null(o, "source", json_str_or(t, "source", NULL));
	cJSON_Delete(t);
	return 0;
}

static cJSON *
incident_json(const struct store_incident *inc)
{
	cJSON *o = cJSON_CreateObject(), *ev = NULL;

	cJSON_AddStringToObject(o, "id", inc->id);
	cJSON_AddStringToObject(o, "cause", inc->cause);
	cJSON_AddStringToObject(o, "state", inc->state);
	add_time_ms(o, "opened_at", inc->opened_at);
	cJSON_AddNumberToObject(o, "affected", (double)inc->affected);
	cJSON_AddNumberToObject(o, "recovered", (double)inc->recovered);
	if (inc->evidence != NULL)
		ev = cJSON_Parse(inc->evidence);
	if (!cJSON_IsArray(ev)) {
		cJSON_Delete(ev);
		ev = cJSON_CreateArray();
		if (inc->evidence != NULL && inc->evidence[0] != '\0')
			cJSON_AddItemToArray(ev, cJSON_CreateString(inc->evidence));
	}
	cJSON_AddItemToObject(o, "evidence", ev);
	add_time_ms(o, "updated_at", inc->updated_at);
	add_time_ms(o, "resolved_at", inc->resolved_at);
	add_str_or_null(o, "rotation_id", inc->rotation_id);
	add_str_or_null(o, "resolved_by", inc->resolved_by);
	cJSON_AddNumberToObject(o, "remaining", (double)(inc->affected - inc->recovered));
	return o;
}

/* Open incidents first, then the newest resolved ones; 0 or -1. */
static int
add_incidents(cJSON *app_obj, struct store *st, const char *app)
{
	cJSON *list = cJSON_AddArrayToObject(app_obj, "incidents");
	struct store_incident *open = NULL, *recent = NULL;
	size_t n_open = 0, n_recent = 0, i;

	if (store_list_incidents(st, app, 1, MAX_OPEN_INCIDENTS, &open, &n_open) == -1)
		return -1;
	if (store_list_incidents(st, app, 0, MAX_RECENT_INCIDENTS, &recent, &n_recent) == -1) {
		store_incidents_free(open, n_open);
		return -1;
	}
	for (i = 0; i < n_open; i++)
		cJSON_AddItemToArray(list, incident_json(&open[i]));
	for (i = 0; i < n_recent; i++) {
		if (strcmp(recent[i].state, "open") != 0)
			cJSON_AddItemToArray(list, incident_json(&recent[i]));
	}
	store_incidents_free(open, n_open);
	store_incidents_free(recent, n_recent);
	return 0;
}

static int
rotation_finished(const struct store_rotation *r)
{
	return strcmp(r->state, rotation_state_name(ROTATION_DONE)) == 0 ||
	    strcmp(r->state, rotation_state_name(ROTATION_FAILED)) == 0;
}

/* "5 of 8 consecutive, 2m10s": how far testing has come (the acceptances rekey waits for). */
static void
add_testing(cJSON *o, const struct store_rotation *r, const struct config_app *app)
{
	char text[96];
	int64_t took = r->test_since > 0 ? (util_now_ms() - r->test_since) / 1000 : 0;

	if (strcmp(r->state, rotation_state_name(ROTATION_TESTING)) != 0)
		return;
	if (took < 0)
		took = 0;
	snprintf(text, sizeof(text), "%d of %lld consecutive, %lldm%02llds", r->test_ok,
	    (long long)app->secret_test_successes, (long long)(took / 60), (long long)(took % 60));
	cJSON_AddStringToObject(o, "testing", text);
	cJSON_AddNumberToObject(o, "test_ok", r->test_ok);
	cJSON_AddNumberToObject(o, "test_needed", (double)app->secret_test_successes);
}

/* Everything but secret_ct: the sealed secret text never leaves the store. */
static cJSON *
rotation_json(const struct store_rotation *r, const struct config_app *app)
{
	cJSON *o = cJSON_CreateObject();
	int planned = strcmp(r->state, rotation_state_name(ROTATION_PLANNED)) == 0;

	cJSON_AddStringToObject(o, "id", r->id);
	cJSON_AddStringToObject(o, "state", r->state);
	cJSON_AddStringToObject(o, "reason", r->reason);
	add_str_or_null(o, "new_key_id", r->new_key_id);
	add_time_ms(o, "created_at", r->created_at);
	add_time_ms(o, "updated_at", r->updated_at);
	add_str_or_null(o, "last_error", r->last_error);
	add_str_or_null(o, "incident_id", r->incident_id);
	cJSON_AddBoolToObject(o, "dry_run", r->dry_run);
	cJSON_AddBoolToObject(o, "approved", r->approved);
	cJSON_AddBoolToObject(o, "waiting_for_approval", planned && !r->approved);
	add_str_or_null(o, "old_key_id", r->old_key_id);
	add_str_or_null(o, "new_hint", r->new_hint);
	add_time(o, "new_end", r->new_end);
	cJSON_AddNumberToObject(o, "attempts", r->attempts);
	if (rotation_finished(r) || (planned && !r->approved))
		cJSON_AddNullToObject(o, "next_at");
	else
		add_time_ms(o, "next_at", r->next_at > 0 ? r->next_at : r->updated_at);
	add_time_ms(o, "published_at", r->published_at);
	add_time_ms(o, "retire_at", r->retire_at);
	add_testing(o, r, app);
	if (strcmp(r->state, rotation_state_name(ROTATION_WATCHING)) == 0)
		add_time_ms(o, "watch_until", r->published_at + app->secret_watch_period * 1000);
	return o;
}

/*
 * "rotation_backoff": when failed rotations hold back the next planned one,
 * {"until", "failed_in_a_row"}; else null.  0 or -1.
 */
static int
add_backoff(cJSON *app_obj, struct store *st, const struct config_app *app)
{
	int64_t until = 0;
	int failures = 0, rc = rotation_backoff(st, app, util_now_ms(), &until, &failures);
	cJSON *o;

	if (rc == -1)
		return -1;
	if (rc == 0) {
		cJSON_AddNullToObject(app_obj, "rotation_backoff");
		return 0;
	}
	o = cJSON_AddObjectToObject(app_obj, "rotation_backoff");
	add_time_ms(o, "until", until);
	cJSON_AddNumberToObject(o, "failed_in_a_row", failures);
	return 0;
}

/* Unfinished rotations first, then the newest finished ones; 0 or -1. */
static int
add_rotations(cJSON *app_obj, struct store *st, const struct config_app *cfg_app)
{
	const char *app = cfg_app->name;
	cJSON *list = cJSON_AddArrayToObject(app_obj, "rotations");
	struct store_rotation *open = NULL, *recent = NULL;
	size_t n_open = 0, n_recent = 0, i;

	if (store_list_rotations(st, app, 1, MAX_UNFINISHED_ROTATIONS, &open, &n_open) == -1)
		return -1;
	if (store_list_rotations(st, app, 0, MAX_RECENT_ROTATIONS, &recent, &n_recent) == -1) {
		store_rotations_free(open, n_open);
		return -1;
	}
	for (i = 0; i < n_open; i++)
		cJSON_AddItemToArray(list, rotation_json(&open[i], cfg_app));
	for (i = 0; i < n_recent; i++) {
		if (rotation_finished(&recent[i]))
			cJSON_AddItemToArray(list, rotation_json(&recent[i], cfg_app));
	}
	store_rotations_free(open, n_open);
	store_rotations_free(recent, n_recent);
	return 0;
}

static const char *
mode_name(enum rotation_mode m)
{
	switch (m) {
	case ROTATION_MODE_AUTO: return "auto";
	case ROTATION_MODE_APPROVE: return "approve";
	case ROTATION_MODE_DRY_RUN: return "dry-run";
	}
	return "unknown";
}

/* Who is told: the config's owners and, as last read, Graph's. */
static void
add_owners(cJSON *app_obj, struct store *st, const struct config_app *app)
{
	cJSON *o = cJSON_AddObjectToObject(app_obj, "owners"), *graph = NULL, *cfg;
	char *json = NULL;
	size_t i;

	cfg = cJSON_AddArrayToObject(o, "configured");
	for (i = 0; i < app->n_owners; i++)
		cJSON_AddItemToArray(cfg, cJSON_CreateString(app->owners[i]));
	cJSON_AddBoolToObject(o, "from_graph_enabled", app->owners_from_graph);
	if (app->owners_from_graph && get_value(st, app->name, "graph_owners", &json) == 0 &&
	    json != NULL)
		graph = cJSON_Parse(json);
	free(json);
	if (!cJSON_IsArray(graph)) {
		cJSON_Delete(graph);
		graph = cJSON_CreateArray();
	}
	cJSON_AddItemToObject(o, "from_graph", graph);
}

/* The outbox of the app: what is waiting, what was sent, what failed and why. */
static int
add_notifications(cJSON *app_obj, struct store *st, const struct config *cfg, const char *app)
{
	cJSON *o = cJSON_AddObjectToObject(app_obj, "notifications"), *ch;
	struct store_outbox_stats stats;
	const char *names[4];
	size_t i, n = config_notify_channels(cfg, names);

	ch = cJSON_AddArrayToObject(o, "channels");
	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(ch, cJSON_CreateString(names[i]));
	if (store_outbox_stats(st, app, &stats) == -1)
		return -1;
	cJSON_AddNumberToObject(o, "pending", (double)stats.pending);
	cJSON_AddNumberToObject(o, "sent", (double)stats.sent);
	cJSON_AddNumberToObject(o, "failed", (double)stats.failed);
	add_str_or_null(o, "last_error", stats.last_error);
	add_time_ms(o, "last_error_at", stats.last_error_at);
	free(stats.last_error);
	return 0;
}

/* ---- Health: the conditions, from the store's records and the document's facts ---- */

/* The in-use secret of the document's app: its key, hint and end. */
static void
in_use_facts(const cJSON *app_obj, struct health_facts *f)
{
	const cJSON *s, *list = cJSON_GetObjectItemCaseSensitive(app_obj, "secrets");
	const cJSON *why = cJSON_GetObjectItemCaseSensitive(app_obj, "in_use_why");

	f->in_use_why = cJSON_IsString(why) ? why->valuestring : NULL;
	f->secrets_known = cJSON_GetArraySize(list) > 0 ||
	    cJSON_GetObjectItemCaseSensitive(app_obj, "secrets_read_at") != NULL;
	cJSON_ArrayForEach(s, list) {
		if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "in_use")))
			continue;
		f->in_use_key_id = json_str_or(s, "key_id", NULL);
		f->in_use_hint = json_str_or(s, "hint", NULL);
		if (json_str_or(s, "end", NULL) == NULL || parse_time(json_str_or(s, "end", NULL), &f->in_use_end) == -1)
			f->in_use_end = 0;
	}
	if (json_str_or(app_obj, "secrets_read_at", NULL) == NULL ||
	    parse_time(json_str_or(app_obj, "secrets_read_at", NULL), &f->secrets_read_at) == -1)
		f->secrets_read_at = 0;
}

/* The first unfinished rotation of the document's app (they come first). */
static void
rotation_facts(const cJSON *app_obj, struct health_facts *f)
{
	const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(app_obj, "rotations"), 0);
	const char *state = json_str_or(r, "state", NULL);

	if (state != NULL && strcmp(state, "done") != 0 && strcmp(state, "failed") != 0) {
		f->rotation_id = json_str_or(r, "id", NULL);
		f->rotation_state = state;
	}
}

/* The conditions of the app whose document (secrets and rotations at least) is app_obj.  0 or -1. */
static int
evaluate(const cJSON *app_obj, struct store *st, const struct config *cfg,
    const struct config_app *app, int64_t now, struct health_report *r)
{
	struct condition rec[CONDITION_TYPE_COUNT];
	struct health_facts f;
	int64_t not_before = 0;
	char *cert_err = NULL;

	memset(&f, 0, sizeof(f));
	if (condition_list(st, app->name, rec, f.recorded) == -1)
		return -1;
	in_use_facts(app_obj, &f);
	rotation_facts(app_obj, &f);
	if (app->rotator_cert_file != NULL) {
		f.cert_read = crypto_cert_file_dates(app->rotator_cert_file, &not_before,
		    &f.cert_not_after, &cert_err) == 0 ? 1 : -1;
		f.cert_error = cert_err;
	}
	health_evaluate(cfg, app, &f, now, r);
	free(cert_err);
	return 0;
}

/* "health" and "conditions" of the app; the app's level into *level.  0 or -1. */
static int
add_health(cJSON *app_obj, struct store *st, const struct config *cfg,
    const struct config_app *app, int64_t now, enum health_level *level)
{
	struct health_report r;

	if (evaluate(app_obj, st, cfg, app, now, &r) == -1)
		return -1;
	cJSON_AddStringToObject(app_obj, "health", health_level_name(r.level));
	cJSON_AddItemToObject(app_obj, "conditions", health_conditions_json(&r));
	*level = r.level;
	return 0;
}

int
status_app_health(struct store *st, const struct config *cfg, const struct config_app *app,
    struct health_report *out)
{
	cJSON *o = cJSON_CreateObject();
	int64_t now = util_now_ms() / 1000;
	int rc = -1;

	if (add_secrets(o, st, app->name, now) == 0 && add_rotations(o, st, app) == 0)
		rc = evaluate(o, st, cfg, app, now, out);
	cJSON_Delete(o);
	return rc;
}

/*
 * The Nylas webhook destination as rekey last saw it, the managed secret's
 * age and the last rotation of it; null when rekey has never seen one.
 */
static int
add_webhook(cJSON *app_obj, struct store *st, const char *app, int64_t now)
{
	struct nylas_secrets_record r;
	cJSON *o, *rot;

	if (nylas_secrets_get(st, app, &r) == -1)
		return -1;
	if (r.webhook_id == NULL && r.rotation_state == NULL) {
		cJSON_AddNullToObject(app_obj, "webhook");
		nylas_secrets_record_clear(&r);
		return 0;
	}
	o = cJSON_AddObjectToObject(app_obj, "webhook");
	add_str_or_null(o, "id", r.webhook_id);
	add_str_or_null(o, "url", r.url);
	add_str_or_null(o, "triggers", r.triggers);
	add_str_or_null(o, "status", r.status);
	cJSON_AddBoolToObject(o, "secret_managed", r.secret_created_ms > 0);
	if (r.secret_created_ms > 0)
		cJSON_AddNumberToObject(o, "secret_age_s",
		    (double)(now - r.secret_created_ms / 1000 > 0 ? now - r.secret_created_ms / 1000 : 0));
	else
		cJSON_AddNullToObject(o, "secret_age_s");
	add_time_ms(o, "previous_secret_until", r.previous_until_ms);
	if (r.rotation_state == NULL) {
		cJSON_AddNullToObject(o, "last_rotation");
	} else {
		rot = cJSON_AddObjectToObject(o, "last_rotation");
		cJSON_AddStringToObject(rot, "state", r.rotation_state);
		add_str_or_null(rot, "reason", r.rotation_reason);
		add_time_ms(rot, "at", r.rotation_at_ms);
		add_str_or_null(rot, "error", r.rotation_error);
	}
	add_time_ms(o, "rotated_at", r.rotated_ms);
	nylas_secrets_record_clear(&r);
	return 0;
}

static cJSON *
app_json(struct store *st, const struct config *cfg, const struct config_app *app, int64_t now,
    enum health_level *level)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", app->name);
	cJSON_AddStringToObject(o, "rotation_mode", mode_name(app->rotation_mode));
	add_owners(o, st, app);
	if (add_secrets(o, st, app->name, now) == -1 ||
	    status_sp_add(o, st, app->name, now) == -1 ||
	    add_publish_target(o, st, app->name) == -1 || add_incidents(o, st, app->name) == -1 ||
	    status_policy_json(o, st, app->name) == -1 ||
	    add_rotations(o, st, app) == -1 || add_backoff(o, st, app) == -1 ||
	    add_webhook(o, st, app->name, now) == -1 ||
	    add_notifications(o, st, cfg, app->name) == -1 ||
	    add_health(o, st, cfg, app, now, level) == -1 ||
	    status_timeline_add(o, st, app, util_now_ms()) == -1) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

cJSON *
status_build(struct store *st, const struct config *cfg)
{
	cJSON *doc = cJSON_CreateObject(), *apps, *app, *events;
	int64_t now = util_now_ms() / 1000, nylas, graph;
	enum health_level worst = HEALTH_OK, level;
	size_t i;

	if (doc == NULL)
		return NULL;
	add_time(doc, "generated_at", now);
	cJSON_AddStringToObject(doc, "config", cfg->path);
	apps = cJSON_AddArrayToObject(doc, "apps");
	for (i = 0; i < cfg->n_apps; i++) {
		app = app_json(st, cfg, cfg->apps[i], now, &level);
		if (app == NULL)
			goto fail;
		cJSON_AddItemToArray(apps, app);
		if (level > worst)
			worst = level;
	}
	cJSON_AddStringToObject(doc, "health", health_level_name(worst));
	nylas = store_count_events(st, "nylas");
	graph = store_count_events(st, "graph");
	if (nylas < 0 || graph < 0)
		goto fail;
	events = cJSON_AddObjectToObject(doc, "events");
	cJSON_AddNumberToObject(events, "nylas", (double)nylas);
	cJSON_AddNumberToObject(events, "graph", (double)graph);
	return doc;
fail:
	cJSON_Delete(doc);
	return NULL;
}

int
status_exit_code(const cJSON *status)
{
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(status, "health");

	if (!cJSON_IsString(h))
		return 2;
	if (strcmp(h->valuestring, "ok") == 0)
		return 0;
	return strcmp(h->valuestring, "warning") == 0 ? 1 : 2;
}

/* ---- The text rendering ---- */

static void
add_fmt(struct wbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
add_fmt(struct wbuf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	wbuf_add_str(b, s);
	free(s);
}

static double
num(const cJSON *obj, const char *name, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static int
flag(const cJSON *obj, const char *name)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, name));
}

static void
text_secret(struct wbuf *b, const cJSON *s)
{
	const cJSON *days = cJSON_GetObjectItemCaseSensitive(s, "days_left");
	char left[32];

	if (!cJSON_IsNumber(days))
		util_strlcpy(left, "?", sizeof(left));
	else if (days->valuedouble < 0)
		util_strlcpy(left, "EXPIRED", sizeof(left));
	else
		snprintf(left, sizeof(left), "%.0f", days->valuedouble);
	add_fmt(b, "    %-36s  %-4s  %-20s  %7s  %-6s  %s\n", json_str_or(s, "key_id", "?"),
	    json_str_or(s, "hint", "?"), json_str_or(s, "end", "?"), left, flag(s, "in_use") ? "yes" : "-",
	    flag(s, "made_by_rekey") ? "yes" : "-");
}

static void
text_secrets(struct wbuf *b, const cJSON *app)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(app, "secrets"), *s;
	const char *read_at = json_str_or(app, "secrets_read_at", NULL);
	const char *in_use = json_str_or(app, "in_use_key_id", NULL), *why = json_str_or(app, "in_use_why", NULL);

	if (cJSON_GetArraySize(list) == 0) {
		add_fmt(b, "  secrets: none known (%s)\n", why ? why : "none listed");
		return;
	}
	if (read_at != NULL)
		add_fmt(b, "  secrets (read from Graph %s):\n", read_at);
	else
		add_fmt(b, "  secrets:\n");
	add_fmt(b, "    %-36s  %-4s  %-20s  %7s  %-6s  %s\n", "KEY ID", "HINT", "END",
	    "DAYS", "IN USE", "BY REKEY");
	cJSON_ArrayForEach(s, list)
		text_secret(b, s);
	if (in_use == NULL)
		add_fmt(b, "    in use: cannot tell which secret Nylas uses: %s\n",
		    why ? why : "unknown");
	else if (why != NULL && why[0] != '\0')
		add_fmt(b, "    in use: %s (%s)\n", in_use, why);
}

static void
text_publish_target(struct wbuf *b, const cJSON *app)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(app, "publish_target");

	if (!cJSON_IsObject(t))
		add_fmt(b, "  publishes to: not known yet (no rotation has read the connector)\n");
	else if (strcmp(json_str_or(t, "kind", ""), "credential") == 0)
		add_fmt(b, "  publishes to: connector credential %s (from %s)\n",
		    json_str_or(t, "credential_id", "?"), json_str_or(t, "source", "?"));
	else
		add_fmt(b, "  publishes to: connector settings\n");
}

static void
text_incident(struct wbuf *b, const cJSON *inc)
{
	const cJSON *ev = cJSON_GetObjectItemCaseSensitive(inc, "evidence"), *e;
	const char *rot = json_str_or(inc, "rotation_id", NULL);
	int open = strcmp(json_str_or(inc, "state", ""), "open") == 0;

	add_fmt(b, "    %s  %s  %s %s\n", json_str_or(inc, "id", "?"), json_str_or(inc, "cause", "?"),
	    open ? "OPEN since" : "resolved; opened", json_str_or(inc, "opened_at", "?"));
	add_fmt(b, "      grants affected %.0f, recovered %.0f, still to sign in again %.0f%s%s\n",
	    num(inc, "affected", 0), num(inc, "recovered", 0), num(inc, "remaining", 0),
	    rot ? "; rotation " : "", rot ? rot : "");
	if (!open && json_str_or(inc, "resolved_at", NULL) != NULL)
		add_fmt(b, "      resolved at %s (%s)\n", json_str_or(inc, "resolved_at", "?"),
		    json_str_or(inc, "resolved_by", "?"));
	cJSON_ArrayForEach(e, ev) {
		if (cJSON_IsString(e))
			add_fmt(b, "      evidence: %s\n", e->valuestring);
	}
}

static void
text_incidents(struct wbuf *b, const cJSON *app)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(app, "incidents"), *inc;

	if (cJSON_GetArraySize(list) == 0) {
		add_fmt(b, "  incidents: none\n");
		return;
	}
	add_fmt(b, "  incidents:\n");
	cJSON_ArrayForEach(inc, list)
		text_incident(b, inc);
}

static void
text_rotation(struct wbuf *b, const cJSON *r, const char *config)
{
	const char *state = json_str_or(r, "state", "?"), *err = json_str_or(r, "last_error", NULL);
	const char *key = json_str_or(r, "new_key_id", NULL), *next = json_str_or(r, "next_at", NULL);
	int finished = strcmp(state, "done") == 0 || strcmp(state, "failed") == 0;

	add_fmt(b, "    %s  %s%s  reason %s  created %s  updated %s\n", json_str_or(r, "id", "?"), state,
	    flag(r, "dry_run") ? " (dry run)" : "", json_str_or(r, "reason", "?"), json_str_or(r, "created_at", "?"),
	    json_str_or(r, "updated_at", "?"));
	if (key != NULL && json_str_or(r, "new_end", NULL) != NULL)
		add_fmt(b, "      new key %s, ends %s\n", key, json_str_or(r, "new_end", "?"));
	else if (key != NULL)
		add_fmt(b, "      new key %s\n", key);
	if (err != NULL && !finished)
		add_fmt(b, "      last error: %s; next retry %s (attempt %.0f)\n", err,
		    next ? next : "?", num(r, "attempts", 0));
	else if (err != NULL)
		add_fmt(b, "      last error: %s\n", err);
	if (json_str_or(r, "testing", NULL) != NULL)
		add_fmt(b, "      testing: %s\n", json_str_or(r, "testing", "?"));
	if (json_str_or(r, "watch_until", NULL) != NULL)
		add_fmt(b, "      watching the new secret until %s (rolled back if it is refused "
		    "while the old one works)\n", json_str_or(r, "watch_until", "?"));
	if (flag(r, "waiting_for_approval"))
		add_fmt(b, "      waiting for approval: rekey approve -c %s %s\n", config,
		    json_str_or(r, "id", "?"));
}

static void
text_rotations(struct wbuf *b, const cJSON *app, const char *config)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(app, "rotations"), *r;

	const cJSON *backoff = cJSON_GetObjectItemCaseSensitive(app, "rotation_backoff");

	if (cJSON_IsObject(backoff))
		add_fmt(b, "  backing off: %.0f rotation(s) in a row failed; no rotation planned by "
		    "rekey before %s (rekey rotate does not wait)\n", num(backoff, "failed_in_a_row", 0),
		    json_str_or(backoff, "until", "?"));
	if (cJSON_GetArraySize(list) == 0) {
		add_fmt(b, "  rotations: none\n");
		return;
	}
	add_fmt(b, "  rotations:\n");
	cJSON_ArrayForEach(r, list)
		text_rotation(b, r, config);
}

static void
text_list(struct wbuf *b, const cJSON *list)
{
	const cJSON *e;
	int first = 1;

	cJSON_ArrayForEach(e, list) {
		if (cJSON_IsString(e)) {
			add_fmt(b, "%s%s", first ? "" : ", ", e->valuestring);
			first = 0;
		}
	}
	if (first)
		add_fmt(b, "none");
}

static void
text_notify(struct wbuf *b, const cJSON *app)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(app, "owners");
	const cJSON *nt = cJSON_GetObjectItemCaseSensitive(app, "notifications");
	const char *err = json_str_or(nt, "last_error", NULL);

	add_fmt(b, "  owners: ");
	text_list(b, cJSON_GetObjectItemCaseSensitive(o, "configured"));
	if (flag(o, "from_graph_enabled")) {
		add_fmt(b, "; from Graph: ");
		text_list(b, cJSON_GetObjectItemCaseSensitive(o, "from_graph"));
	}
	add_fmt(b, "\n  notifications via ");
	text_list(b, cJSON_GetObjectItemCaseSensitive(nt, "channels"));
	add_fmt(b, ": %.0f sent, %.0f pending, %.0f failed\n", num(nt, "sent", 0),
	    num(nt, "pending", 0), num(nt, "failed", 0));
	if (err != NULL)
		add_fmt(b, "    last delivery error: %s (%s)\n", err, json_str_or(nt, "last_error_at", "?"));
}

/* ok, warn, FAIL: readable without colour, as doctor prints them. */
static void
text_webhook(struct wbuf *b, const cJSON *app)
{
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(app, "webhook");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(w, "last_rotation");

	if (!cJSON_IsObject(w))
		return;
	add_fmt(b, "  nylas webhook: destination %s (%s) %s, triggers %s\n", json_str_or(w, "id", "?"),
	    json_str_or(w, "status", "?"), json_str_or(w, "url", "?"), json_str_or(w, "triggers", "?"));
	if (flag(w, "secret_managed"))
		add_fmt(b, "    secret managed by rekey, %.0f s old\n", num(w, "secret_age_s", 0));
	else
		add_fmt(b, "    secret not managed by rekey (nylas_webhook_secret_file)\n");
	if (cJSON_IsObject(r))
		add_fmt(b, "    last rotation: %s (%s) at %s%s%s; last rotated %s\n",
		    json_str_or(r, "state", "?"), json_str_or(r, "reason", "?"), json_str_or(r, "at", "?"),
		    json_str_or(r, "error", NULL) ? ": " : "", json_str_or(r, "error", ""),
		    json_str_or(w, "rotated_at", "never"));
}

static const char *
level_word(const char *level)
{
	if (level != NULL && strcmp(level, "ok") == 0)
		return "ok  ";
	if (level != NULL && strcmp(level, "warning") == 0)
		return "warn";
	return "FAIL";
}

static void
text_health(struct wbuf *b, const cJSON *app)
{
	const cJSON *c;

	add_fmt(b, "  health: %s\n", json_str_or(app, "health", "?"));
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(app, "conditions")) {
		add_fmt(b, "    %s %-18s %s: %s", level_word(json_str_or(c, "level", NULL)),
		    json_str_or(c, "type", "?"), json_str_or(c, "reason", "?"), json_str_or(c, "message", ""));
		if (json_str_or(c, "since", NULL) != NULL)
			add_fmt(b, " (since %s)", json_str_or(c, "since", NULL));
		add_fmt(b, "\n");
	}
}

char *
status_text(const cJSON *status)
{
	const cJSON *apps = cJSON_GetObjectItemCaseSensitive(status, "apps"), *app;
	const cJSON *events = cJSON_GetObjectItemCaseSensitive(status, "events");
	const char *config = json_str_or(status, "config", "FILE");
	struct wbuf b = WBUF_INIT;

	cJSON_ArrayForEach(app, apps) {
		add_fmt(&b, "app %s (rotation_mode %s)\n", json_str_or(app, "name", "?"),
		    json_str_or(app, "rotation_mode", "?"));
		text_health(&b, app);
		text_secrets(&b, app);
		status_sp_text(&b, app);
		text_publish_target(&b, app);
		status_policy_text(&b, app);
		text_incidents(&b, app);
		text_rotations(&b, app, config);
		text_webhook(&b, app);
		text_notify(&b, app);
		add_fmt(&b, "\n");
	}
	status_leader_text(&b, status);
	add_fmt(&b, "health: %s\n", json_str_or(status, "health", "?"));
	if (events != NULL)
		add_fmt(&b, "events journaled: nylas %.0f, graph %.0f\n", num(events, "nylas", 0),
		    num(events, "graph", 0));
	return wbuf_to_str(&b);
}
