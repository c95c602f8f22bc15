/*
 * correlate_incidents: the open incidents of each app as the correlator
 * keeps them between batches: read from the store once, opened or joined by
 * a grant.expired, their evidence, a stronger cause in place of a weaker
 * one, and after each commit the rotation a secret cause calls for, the
 * operator's log line and the gauges.  Part of the correlator
 * (correlate_int.h).
 */
#include "engine/correlate.h"
#include "engine/correlate_int.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "state/config.h"
#include "state/rotation.h"
#include "state/runtime.h"
#include "state/wake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* Open incidents read per app at start (one app-side plus one per user cause are expected). */
#define LOAD_MAX 64
#define EVIDENCE_MORE "more evidence was left out"
#define STR_(x) #x
#define STR(x) STR_(x)

/* ---- Incidents in memory ---- */

static void
incident_free(struct incident *inc)
{
	if (inc == NULL)
		return;
	free(inc->id);
	cJSON_Delete(inc->evidence);
	free(inc->why);
	free(inc->rotation_id);
	free(inc);
}

int
correlate_slot_of(enum incident_cause cause)
{
	return incident_cause_is_user(cause) ?
	    1 + (int)(cause - INCIDENT_USER_PASSWORD_CHANGED) : SLOT_APP;
}

/* Adds text to the incident's evidence unless it is there; bounded. */
static void
evidence_add(struct incident *inc, const char *text)
{
	const cJSON *e;
	int n = cJSON_GetArraySize(inc->evidence);

	if (text == NULL)
		return;
	cJSON_ArrayForEach(e, inc->evidence)
		if (cJSON_IsString(e) && strcmp(e->valuestring, text) == 0)
			return;
	if (n >= CORRELATE_EVIDENCE_MAX)
		return;
	inc->dirty = 1;
	cJSON_AddItemToArray(inc->evidence, cJSON_CreateString(n == CORRELATE_EVIDENCE_MAX - 1 ?
	    EVIDENCE_MORE : text));
}

void
correlate_app_forget(struct app_corr *a)
{
	size_t i;

	for (i = 0; i < N_SLOTS; i++) {
		incident_free(a->slot[i]);
		a->slot[i] = NULL;
	}
	a->loaded = 0;
	correlate_storm_update(a);
}

static struct incident *
incident_from_row(const struct store_incident *row, enum incident_cause cause)
{
	struct incident *inc = xcalloc(1, sizeof(*inc));

	inc->id = xstrdup(row->id);
	inc->cause = inc->logged_cause = cause;
	inc->evidence = row->evidence ? cJSON_Parse(row->evidence) : NULL;
	if (!cJSON_IsArray(inc->evidence)) {
		cJSON_Delete(inc->evidence);
		inc->evidence = cJSON_CreateArray();
	}
	inc->rotation_id = row->rotation_id ? xstrdup(row->rotation_id) : NULL;
	inc->opened_at = row->opened_at;
	inc->affected = inc->logged_affected = row->affected;
	inc->recovered = row->recovered;
	return inc;
}

/* Reads the app's open incidents from the store once (again after a failed transaction). */
int
correlate_app_load(struct app_corr *a)
{
	struct store_incident *rows = NULL;
	enum incident_cause cause;
	size_t i, n = 0;
	int s;

	if (a->loaded)
		return 0;
	if (store_list_incidents(a->c->store, a->name, 1, LOAD_MAX, &rows, &n) == -1) {
		store_incidents_free(rows, n);
		return -1;
	}
	/* Newest first: an older open incident of the same kind is left as it is. */
	for (i = 0; i < n; i++) {
		if (incident_cause_parse(rows[i].cause, &cause) == -1)
			continue;
		s = correlate_slot_of(cause);
		if (a->slot[s] == NULL)
			a->slot[s] = incident_from_row(&rows[i], cause);
	}
	store_incidents_free(rows, n);
	a->loaded = 1;
	return 0;
}

static struct incident *
incident_open(struct app_corr *a, enum incident_cause cause, int64_t at_ms)
{
	struct incident *inc = xcalloc(1, sizeof(*inc));
	char id[CRYPTO_GUID_LEN + 1];

	if (crypto_guid(id) == -1)
		fatal("correlate: no randomness for an incident id");
	inc->id = xstrdup(id);
	inc->cause = cause;
	inc->logged_cause = cause;
	inc->evidence = cJSON_CreateArray();
	inc->opened_at = at_ms;
	inc->is_new = 1;
	inc->dirty = 1;
	a->slot[correlate_slot_of(cause)] = inc;
	return inc;
}

/* ---- Apps ---- */

struct app_corr *
correlate_find_app(struct correlator *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->n_apps; i++)
		if (strcmp(c->apps[i]->name, name) == 0)
			return c->apps[i];
	return NULL;
}

void
correlate_app_free(struct app_corr *a)
{
	if (a == NULL)
		return;
	if (a->probe != NULL)
		a->probe->a = NULL;
	correlate_app_forget(a);
	free(a->probe_text);
	free(a->credential_text);
	free(a->replaced_rotation);
	free(a->replaced_text);
	free(a->watch_id);
	free(a->name);
	free(a);
}

/* ---- Metrics and the operator's log ---- */

static void
app_gauges(struct app_corr *a)
{
	int open[INCIDENT_N_CAUSES] = { 0 };
	int64_t affected = 0, recovered = 0;
	char labels[256];
	size_t i;

	for (i = 0; i < N_SLOTS; i++) {
		if (a->slot[i] == NULL)
			continue;
		open[a->slot[i]->cause]++;
		affected += a->slot[i]->affected;
		recovered += a->slot[i]->recovered;
	}
	for (i = 0; i < INCIDENT_N_CAUSES; i++) {
		snprintf(labels, sizeof(labels), "app=\"%s\",cause=\"%s\"", a->name,
		    incident_cause_name((enum incident_cause)i));
		metrics_gauge_set("rekey_incidents_open", "Open incidents, by app and cause.",
		    labels, open[i]);
	}
	snprintf(labels, sizeof(labels), "app=\"%s\"", a->name);
	metrics_gauge_set("rekey_incident_affected_grants",
	    "Grants listed in the app's open incidents.", labels, (double)affected);
	metrics_gauge_set("rekey_incident_recovered_grants",
	    "Grants of the app's open incidents that have re-authenticated.", labels,
	    (double)recovered);
}

/* 0 below 10 affected grants, then one step at 10, 100 and every 1,000. */
static int64_t
milestone(int64_t n)
{
	if (n < 10)
		return 0;
	if (n < 100)
		return 1;
	if (n < 1000)
		return 2;
	return 2 + n / 1000;
}

static char *
rotation_note(const struct incident *inc)
{
	if (inc->rotation_id == NULL)
		return xstrdup(incident_cause_rotates(inc->cause) ? "; no rotation planned yet" :
		    incident_cause_is_user(inc->cause) ? "; a user cause: nothing is rotated" : "");
	return xasprintf("; rotation %s %s", inc->rotation_id,
	    inc->rotation_new ? "planned" : "already under way");
}

static void
incident_log(struct app_corr *a, struct incident *inc)
{
	const struct log_ids ids = { .app = a->name, .incident = inc->id,
	    .rotation = inc->rotation_id };
	char count[32], *note = rotation_note(inc);

	incident_format_count(inc->affected, count, sizeof(count));
	/* Opened, a new cause, a rotation, resolved: the owners hear of it at the next sweep. */
	if (inc->is_new || inc->cause != inc->logged_cause || inc->rotation_new || inc->resolved)
		wake_signal(WAKE_INCIDENTS);
	if (inc->is_new)
		log_with(LOG_LEVEL_WARN, &ids, "incident %s opened: %s (%s)%s", inc->id,
		    incident_cause_name(inc->cause), inc->why ? inc->why : "no evidence yet", note);
	else if (inc->cause != inc->logged_cause)
		log_with(LOG_LEVEL_WARN, &ids, "incident %s: cause %s is now %s (%s)%s",
		    inc->id, incident_cause_name(inc->logged_cause),
		    incident_cause_name(inc->cause), inc->why ? inc->why : "", note);
	else if (inc->rotation_new)
		log_with(LOG_LEVEL_WARN, &ids, "incident %s: %s%s", inc->id,
		    incident_cause_name(inc->cause), note);
	if (milestone(inc->affected) > milestone(inc->logged_affected))
		log_with(LOG_LEVEL_INFO, &ids, "incident %s: %s grants affected so far",
		    inc->id, count);
	if (inc->resolved)
		log_with(LOG_LEVEL_INFO, &ids, "incident %s resolved: all %s grants have "
		    "re-authenticated", inc->id, count);
	inc->is_new = inc->rotation_new = 0;
	inc->logged_cause = inc->cause;
	inc->logged_affected = inc->affected;
	free(note);
}

/* ---- Rotations ---- */

/* Plans (or joins) the one rotation a secret cause calls for; outside any transaction. */
static void
ensure_rotation(struct app_corr *a, struct incident *inc)
{
	struct correlator *c = a->c;
	const struct config_app *app = config_find_app(c->rt->cfg, a->name);
	char id[ROTATION_ID_SIZE], *err = NULL;
	int rc;

	if (inc->resolved || inc->rotation_id != NULL || !incident_cause_rotates(inc->cause) ||
	    app == NULL)
		return;
	/* The secret works again because a rotation replaced the one that ended: that is the fix. */
	if (a->probe_result == INCIDENT_PROBE_OK && a->replaced_rotation != NULL) {
		inc->rotation_id = xstrdup(a->replaced_rotation);
		inc->dirty = 1;
		return;
	}
	rc = rotation_plan(c->rt->store, app, "incident", inc->id, 0, id, &err);
	if (rc == 2) {
		/* The last rotations failed: the next one waits (the owners were told why). */
		log_incident(LOG_LEVEL_DEBUG, a->name, inc->id,
		    "incident %s: no rotation yet: %s", inc->id,
		    err);
		free(err);
		return;
	}
	if (rc == -1) {
		log_incident(LOG_LEVEL_ERROR, a->name, inc->id,
		    "incident %s: cannot plan a rotation: %s",
		    inc->id, err);
		free(err);
		return;
	}
	inc->rotation_id = xstrdup(id);
	inc->rotation_new = rc == 0;
	inc->dirty = 1;
	wake_signal(WAKE_ROTATIONS);
}

/*
 * After a commit: plans the rotations a secret cause calls for, records
 * them in their incidents, tells the operator what changed, drops resolved
 * incidents and sets the gauges.
 */
void
correlate_app_after_commit(struct app_corr *a)
{
	size_t i;
	int dirty = 0;

	for (i = 0; i < N_SLOTS; i++) {
		if (a->slot[i] == NULL)
			continue;
		ensure_rotation(a, a->slot[i]);
		dirty |= a->slot[i]->dirty;
	}
	if (dirty)
		correlate_write_incidents(a->c);
	for (i = 0; i < N_SLOTS; i++) {
		if (a->slot[i] == NULL)
			continue;
		incident_log(a, a->slot[i]);
		if (a->slot[i]->resolved) {
			incident_free(a->slot[i]);
			a->slot[i] = NULL;
		}
	}
	app_gauges(a);
	correlate_storm_update(a);
}

/* ---- Evidence for a grant.expired, and a probe's answer ---- */

/* The evidence line behind cause, for an app-side incident. */
static const char *
app_side_why(const struct app_corr *a, enum incident_cause cause)
{
	if (cause == INCIDENT_SECRET_EXPIRED && a->probe_result == INCIDENT_PROBE_OK &&
	    a->replaced_text != NULL)
		return a->replaced_text;
	if (cause == INCIDENT_SECRET_EXPIRED && a->probe_result != INCIDENT_PROBE_EXPIRED)
		return a->credential_text;
	if (cause == INCIDENT_SUSPECTED_APP_WIDE)
		return "at least " STR(INCIDENT_BURST_MIN) " distinct grants expired within "
		    STR(INCIDENT_BURST_WINDOW_S) " s";
	return a->probe_text;
}

/* Adds the evidence that supports an app-side cause; upgrades the incident when it is stronger. */
static void
app_side_evidence(struct app_corr *a, struct incident *inc, enum incident_cause cause)
{
	const char *why = app_side_why(a, cause);

	if (cause > inc->cause || (inc->why == NULL && why != NULL && cause == inc->cause)) {
		inc->cause = cause;
		free(inc->why);
		inc->why = why ? xstrdup(why) : NULL;
		inc->dirty = 1;
	}
	evidence_add(inc, a->probe_text);
	if (a->credential_ended)
		evidence_add(inc, a->credential_text);
	if (a->replaced_text != NULL)
		evidence_add(inc, a->replaced_text);
	if (cause == INCIDENT_SUSPECTED_APP_WIDE)
		evidence_add(inc, why);
	if (a->probe_text == NULL)
		evidence_add(inc, "no probe of the in-use secret had answered yet");
}

struct incident *
correlate_incident_for(struct app_corr *a, enum incident_cause cause, const char *email,
    const char *kind, const char *user_evidence, int64_t at_ms)
{
	struct incident *inc = a->slot[correlate_slot_of(cause)];
	char *text;

	if (inc == NULL)
		inc = incident_open(a, cause, at_ms);
	if (!incident_cause_is_user(cause)) {
		app_side_evidence(a, inc, cause);
		return inc;
	}
	text = xasprintf("%s: %s: %s", email, kind, user_evidence ? user_evidence : "");
	if (inc->why == NULL)
		inc->why = xstrdup(text);
	evidence_add(inc, text);
	free(text);
	return inc;
}

/*
 * Drops the app's incidents that an operator resolved in the store (rekey
 * resolve) since they were loaded, so that this transaction neither writes
 * them back as open nor adds grants to them: new expiries open a new one.
 */
int
correlate_drop_resolved_elsewhere(struct app_corr *a)
{
	size_t i;
	int open;

	for (i = 0; i < N_SLOTS; i++) {
		if (a->slot[i] == NULL || a->slot[i]->is_new)
			continue;
		if ((open = store_incident_is_open(a->c->store, a->slot[i]->id)) == -1)
			return -1;
		if (!open) {
			log_incident(LOG_LEVEL_INFO, a->name, a->slot[i]->id,
			    "incident %s was resolved by an "
			    "operator", a->slot[i]->id);
			incident_free(a->slot[i]);
			a->slot[i] = NULL;
		}
	}
	return 0;
}

/* A probe answered: a stronger cause upgrades the app-side incident in place. */
void
correlate_upgrade_app_incident(struct app_corr *a)
{
	struct incident *inc = a->slot[SLOT_APP];
	struct correlate_evidence e;
	enum incident_cause cause;

	if (inc == NULL || inc->is_new)
		return;
	memset(&e, 0, sizeof(e));
	e.probe = a->probe_result;
	e.credential_ended = a->credential_ended;
	e.replaced_ended = a->replaced_rotation != NULL;
	cause = correlate_classify(&e);
	if (cause <= inc->cause || incident_cause_is_user(cause))
		return;
	app_side_evidence(a, inc, cause);
	/* A batch in flight may hold new incidents not yet committed: its end does this. */
	if (a->c->batch_op == NULL)
		correlate_app_after_commit(a);
}
