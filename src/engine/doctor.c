/*
 * doctor: the checks of `rekey doctor`, one app after the other, each step
 * one asynchronous call on a private event loop (http_client bounds each by
 * timeout_ms and its retry budget), then the notification channels.
 *
 * The steps of an app run in order because later ones use what earlier ones
 * saw: the application's object id and credentials, the rotator's service
 * principal.  A step whose input is missing (no token, app not found) is
 * left out: the line that failed already says why.
 *
 * This file is the driver (doctor_advance), the lines and their report, the
 * offline checks and each app's clients; the checks themselves are in
 * doctor_graph.c, doctor_secrets.c, doctor_nylas.c and doctor_notify.c.
 */
#include "engine/doctor.h"
#include "engine/doctor_int.h"
#include "engine/preflight.h"
#include "lib/log.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "outbound/graph.h"
#include "outbound/http_client.h"
#include "outbound/identity.h"
#include "outbound/nylas.h"
#include "state/config.h"
#include "state/store.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

const char *
doctor_level_name(enum doctor_level level)
{
	static const char *const names[] = { "ok", "warn", "fail" };

	return names[level];
}

/* --- lines ------------------------------------------------------------- */

void
doctor_add_line(struct doctor *d, enum doctor_level level, const char *check, const char *fix,
    const char *fmt, ...)
{
	struct line *l;
	va_list ap;

	d->lines = xrealloc(d->lines, (d->n_lines + 1) * sizeof(*d->lines));
	l = &d->lines[d->n_lines++];
	l->level = level;
	l->app = d->app != NULL ? xstrdup(d->app->name) : NULL;
	l->check = xstrdup(check);
	va_start(ap, fmt);
	l->seen = xvasprintf(fmt, ap);
	va_end(ap);
	l->fix = xstrdup_null(fix);
}

/* A fix naming the config file and the app: "rekey rotate -c FILE APP" made concrete. */
char *
doctor_app_command(const struct doctor *d, const char *cmd)
{
	return xasprintf("%s -c %s %s", cmd, d->cfg->path, d->app->name);
}

static const char *
level_word(enum doctor_level level)
{
	static const char *const words[] = { "ok", "warn", "FAIL" };

	return words[level];
}

/* public_url + suffix + app, without a doubled slash; NULL without public_url. */
char *
doctor_public_endpoint(const struct doctor *d, const char *suffix)
{
	return config_public_endpoint(d->cfg, suffix, d->app->name);
}

/* --- the offline checks ----------------------------------------------------- */

/* One of preflight's lines as a doctor line: its check name in doctor's words, its place. */
static void
offline_cb(const struct preflight_line *l, void *arg)
{
	static const enum doctor_level levels[] = { DOCTOR_OK, DOCTOR_WARN, DOCTOR_FAIL };
	struct doctor *d = arg;
	struct line *out;
	char *p;

	d->lines = xrealloc(d->lines, (d->n_lines + 1) * sizeof(*d->lines));
	out = &d->lines[d->n_lines++];
	out->level = levels[l->level];
	out->app = xstrdup_null(l->app);
	out->check = xstrdup(str_or(l->check, "config"));
	for (p = out->check; *p != '\0'; p++)
		*p = *p == ' ' ? '_' : (char)tolower((unsigned char)*p);
	if (l->file != NULL)
		out->seen = xasprintf("%s (%s:%d)", str_or(l->seen, ""), l->file, l->line);
	else
		out->seen = xstrdup(str_or(l->seen, ""));
	out->fix = xstrdup_null(l->fix);
}

/* The config and files, offline (preflight.c, shared with rekey check). */
static void
offline_checks(struct doctor *d)
{
	preflight_offline(d->cfg, d->only_app, d->now, offline_cb, d);
}

/* --- one app's beginning and end ------------------------------------------------------- */

static void
app_reset(struct doctor *d)
{
	size_t i;

	graph_client_free(d->gc);
	nylas_client_free(d->nc);
	for (i = 0; i < d->n_creds; i++) {
		free(d->creds[i].key_id);
		free(d->creds[i].hint);
	}
	free(d->creds);
	free(d->app_oid);
	free(d->in_use_key);
	free(d->sp_id);
	doctor_policy_reset(d);
	d->app_created = 0;
	secret_free(d->in_use);
	d->gc = NULL;
	d->nc = NULL;
	d->id = NULL;
	d->creds = NULL;
	d->n_creds = 0;
	d->app_oid = d->in_use_key = d->sp_id = NULL;
	d->in_use = NULL;
	d->in_use_source = NULL;
	d->signed_in = d->roles_known = d->has_owned_by = d->has_all = d->has_user_read = 0;
	d->nylas_key_ok = 0;
	d->owner = -1;
}

static int
step_app_begin(struct doctor *d)
{
	char *err = NULL;

	app_reset(d);
	if (d->app->graph_base == NULL || d->app->graph_base[0] == '\0')
		err = xstrdup("graph_base is empty");
	else
		d->id = identity_rotator_new(d->hc, d->app, &err);
	if (d->id != NULL)
		d->gc = graph_client_new(d->hc, d->app->graph_base, d->id, d->app->name);
	else
		doctor_add_line(d, DOCTOR_FAIL, "rotator_signin", "set azure_tenant_id, rotator_client_id, "
		    "and rotator_cert_file with rotator_key_file, its key (the certificate "
		    "registered on the rotator app)", "no sign-in attempted: %s", err);
	free(err);
	err = NULL;
	d->nc = nylas_client_from_app(d->hc, d->app, &err);
	if (d->nc == NULL)
		doctor_add_line(d, DOCTOR_FAIL, "nylas_api_key", "set nylas_api_key_file", "%s", err);
	free(err);
	return 1;
}

/* The next app to check after the current one, or NULL. */
static const struct config_app *
next_app(struct doctor *d)
{
	while (d->app_i < d->cfg->n_apps) {
		const struct config_app *a = d->cfg->apps[d->app_i++];

		if (d->only_app == NULL || strcmp(a->name, d->only_app) == 0)
			return a;
	}
	return NULL;
}

static int
step_app_end(struct doctor *d)
{
	app_reset(d);
	d->app = next_app(d);
	return 1;
}

/* --- the driver ------------------------------------------------------------------------------ */

/* Starts the current step: 0 when a call is under way, 1 when it is done. */
static int
step_start(struct doctor *d)
{
	switch (d->step) {
	case STEP_APP_BEGIN:	return step_app_begin(d);
	case STEP_SIGN_IN:	return doctor_step_sign_in(d);
	case STEP_FIND_APP:	return doctor_step_find_app(d);
	case STEP_SP:		return doctor_step_sp(d);
	case STEP_ROLES:	return doctor_step_roles(d);
	case STEP_OWNERS:	return doctor_step_owners(d);
	case STEP_ACCESS:	return doctor_step_access(d);
	case STEP_POLICY:	return doctor_step_policy(d);
	case STEP_PROBE:	return doctor_step_probe(d);
	case STEP_SECRETS:	return doctor_step_secrets(d);
	case STEP_CONNECTOR:	return doctor_step_connector(d);
	case STEP_WEBHOOKS:	return doctor_step_webhooks(d);
	case STEP_SUBSCRIPTION:	return doctor_step_subscription(d);
	case STEP_APP_END:	return step_app_end(d);
	case STEP_SMTP:		return doctor_step_smtp(d);
	case STEP_SLACK:
	case STEP_TEAMS:
	case STEP_WEBHOOK:	return doctor_step_channel(d);
	default:		return 1;
	}
}

/*
 * Moves on from the step that just ended until one waits for an answer (0),
 * or every step is done (1: the loop is told to stop).
 */
int
doctor_advance(struct doctor *d)
{
	for (;;) {
		/* After an app's last step, the next app's first, while there is one. */
		if (d->step == STEP_APP_END && d->app != NULL)
			d->step = STEP_APP_BEGIN;
		else
			d->step++;
		if (d->step >= STEP_DONE)
			break;
		if (step_start(d) == 0)
			return 0;
	}
	event_base_loopbreak(d->base);
	return 1;
}

/* Runs the first step; the event loop then runs the others. */
static void
run(struct doctor *d)
{
	d->step = d->app != NULL ? STEP_APP_BEGIN : STEP_SMTP;
	if (step_start(d) == 0 || doctor_advance(d) == 0)
		event_base_dispatch(d->base);
}

/* --- output ------------------------------------------------------------------------------------ */

static enum doctor_level
worst(const struct doctor *d)
{
	enum doctor_level w = DOCTOR_OK;
	size_t i;

	for (i = 0; i < d->n_lines; i++)
		if (d->lines[i].level > w)
			w = d->lines[i].level;
	return w;
}

static void
print_text(const struct doctor *d, FILE *out)
{
	static const char *const results[] = { "all ok", "warnings", "FAILED" };
	size_t i, n[3] = { 0, 0, 0 };

	for (i = 0; i < d->n_lines; i++) {
		const struct line *l = &d->lines[i];

		n[l->level]++;
		fprintf(out, "%-4s  %s%s%s: %s\n", level_word(l->level), l->app ? l->app : "",
		    l->app ? " " : "", l->check, l->seen);
		if (l->fix != NULL)
			fprintf(out, "      fix: %s\n", l->fix);
	}
	fprintf(out, "doctor: %s (%zu ok, %zu warning%s, %zu failure%s)\n", results[worst(d)],
	    n[0], n[1], n[1] == 1 ? "" : "s", n[2], n[2] == 1 ? "" : "s");
}

static void
print_json(const struct doctor *d, FILE *out)
{
	static const char *const results[] = { "ok", "warning", "critical" };
	cJSON *root = cJSON_CreateObject(), *checks = cJSON_CreateArray(), *c;
	char *text;
	size_t i;

	cJSON_AddStringToObject(root, "result", results[worst(d)]);
	cJSON_AddItemToObject(root, "checks", checks);
	for (i = 0; i < d->n_lines; i++) {
		const struct line *l = &d->lines[i];

		c = cJSON_CreateObject();
		cJSON_AddItemToObject(c, "app", l->app ? cJSON_CreateString(l->app) :
		    cJSON_CreateNull());
		cJSON_AddStringToObject(c, "check", l->check);
		cJSON_AddStringToObject(c, "level", doctor_level_name(l->level));
		cJSON_AddStringToObject(c, "seen", l->seen);
		cJSON_AddItemToObject(c, "fix", l->fix ? cJSON_CreateString(l->fix) :
		    cJSON_CreateNull());
		cJSON_AddItemToArray(checks, c);
	}
	text = cJSON_Print(root);
	if (text == NULL)
		fatal("out of memory");
	fprintf(out, "%s\n", text);
	free(text);
	cJSON_Delete(root);
}

/* --- set-up and tear-down -------------------------------------------------------------------------- */

static void
doctor_clear(struct doctor *d)
{
	size_t i;

	app_reset(d);
	http_client_free(d->hc);
	store_close(d->st);
	if (d->base != NULL)
		event_base_free(d->base);
	for (i = 0; i < d->n_lines; i++) {
		free(d->lines[i].app);
		free(d->lines[i].check);
		free(d->lines[i].seen);
		free(d->lines[i].fix);
	}
	free(d->lines);
	free(d->store_err);
}

int
doctor_run(const struct config *cfg, const char *app_name, int json, int send_test,
    FILE *out)
{
	struct doctor d;
	enum doctor_level w;

	memset(&d, 0, sizeof(d));
	d.cfg = cfg;
	d.only_app = app_name;
	d.send_test = send_test;
	d.now = util_now_ms() / 1000;
	d.owner = -1;
	d.base = event_base_new();
	if (d.base == NULL)
		fatal("cannot create the event loop");
	d.hc = http_client_new(d.base, cfg->ca_file, cfg->timeout_ms);
	/* Only read: rotation_in_use_secret and rotation_in_use_key take no write.
	 * Before the daemon's first run there is no store, and doctor makes none. */
	if (!store_missing(cfg->store_url, &d.store_err))
		d.st = store_open(cfg->store_url, &d.store_err);
	/* An unknown app name is one of the offline checks' lines. */
	offline_checks(&d);
	d.app = next_app(&d);
	run(&d);
	w = worst(&d);
	if (json)
		print_json(&d, out);
	else
		print_text(&d, out);
	doctor_clear(&d);
	return w == DOCTOR_OK ? 0 : w == DOCTOR_WARN ? 1 : 2;
}
