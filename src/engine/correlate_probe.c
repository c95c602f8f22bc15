/*
 * correlate_probe: the probe of an app's in-use secret at the token
 * endpoint, at most once per CORRELATE_PROBE_EVERY_S, whose answer is the
 * strongest evidence of a secret cause.  Its result is counted, logged and
 * recorded for status (the "last_probe" value).  Part of the correlator
 * (correlate_int.h).
 */
#include "engine/correlate.h"
#include "engine/correlate_int.h"
#include "engine/rotation_in_use.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "outbound/identity.h"
#include "state/config.h"
#include "state/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

static void
count_probe(struct app_corr *a, enum incident_probe p)
{
	char labels[256];

	snprintf(labels, sizeof(labels), "app=\"%s\",result=\"%s\"", a->name,
	    incident_probe_name(p));
	metrics_counter_add("rekey_secret_probes_total",
	    "Probes of the in-use client secret at the token endpoint, by app and result.",
	    labels, 1);
}

/* Remembers what the probe said (text is taken) and records it for status. */
static void
probe_set(struct app_corr *a, enum incident_probe p, char *text)
{
	char when[32], *json;
	cJSON *o = cJSON_CreateObject();

	a->probe_result = p;
	free(a->probe_text);
	a->probe_text = text;
	count_probe(a, p);
	util_format_time(a->probe_started_ms / 1000, when, sizeof(when));
	cJSON_AddStringToObject(o, "at", when);
	cJSON_AddStringToObject(o, "result", incident_probe_name(p));
	cJSON_AddStringToObject(o, "evidence", text);
	json = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (json == NULL || store_put_value(a->c->store, a->name, "last_probe", json) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, a->name, "cannot record the last probe for status");
	cJSON_free(json);
	log_ctx(p == INCIDENT_PROBE_OK ? LOG_LEVEL_INFO : LOG_LEVEL_WARN, NULL, a->name,
	    "probe of the in-use secret: %s", text);
}

static char *
probe_text(const struct app_corr *a, const struct identity_result *res, enum incident_probe *p)
{
	int64_t code = res->aad != NULL ? res->aad->code : 0;
	const char *src = a->secret_source ? a->secret_source : "unknown source";

	switch (res->status) {
	case IDENTITY_OK:
		*p = INCIDENT_PROBE_OK;
		return xasprintf("the in-use secret, hint %s (from %s), works at the token endpoint",
		    a->hint, src);
	case IDENTITY_REJECTED:
		if (res->aad != NULL && res->aad->kind == IDENTITY_ERR_SECRET_EXPIRED)
			*p = INCIDENT_PROBE_EXPIRED;
		else if (res->aad != NULL && res->aad->kind == IDENTITY_ERR_SECRET_INVALID)
			*p = INCIDENT_PROBE_INVALID;
		else
			*p = INCIDENT_PROBE_REJECTED;
		return xasprintf("AADSTS%lld for the in-use secret, hint %s, from %s%s",
		    (long long)code, a->hint, src, *p == INCIDENT_PROBE_EXPIRED ?
		    ": it has expired" : *p == INCIDENT_PROBE_INVALID ?
		    ": it is not valid (deleted, or its id given instead of its value)" : "");
	default:
		*p = INCIDENT_PROBE_ERROR;
		return xasprintf("the in-use secret, hint %s, could not be probed: %s", a->hint,
		    res->detail ? res->detail : "no answer from the token endpoint");
	}
}

static void
probe_cb(const struct identity_result *res, void *arg)
{
	struct probe_ref *ref = arg;
	struct app_corr *a = ref->a;
	enum incident_probe p;
	char *text;

	free(ref);
	if (a == NULL)
		return;
	a->probe = NULL;
	if (res->status == IDENTITY_CANCELLED || a->c->closing)
		return;
	text = probe_text(a, res, &p);
	probe_set(a, p, text);
	correlate_upgrade_app_incident(a);
	correlate_storm_update(a);
	correlate_schedule(a->c, 0);
}

/* Starts a probe of the app's in-use secret unless one ran within CORRELATE_PROBE_EVERY_S. */
void
correlate_maybe_probe(struct app_corr *a)
{
	struct correlator *c = a->c;
	const struct config_app *app = config_find_app(c->rt->cfg, a->name);
	int64_t now = util_now_ms();
	struct secret *s;
	struct probe_ref *ref;

	if (app == NULL || a->probe != NULL ||
	    (a->probe_started_ms > 0 && now - a->probe_started_ms < CORRELATE_PROBE_EVERY_S * 1000))
		return;
	a->probe_started_ms = now;
	if (app->azure_tenant_id == NULL || app->azure_client_id == NULL) {
		probe_set(a, INCIDENT_PROBE_UNPROBED, xstrdup("the in-use secret cannot be "
		    "probed: azure_tenant_id or azure_client_id is not configured"));
		return;
	}
	s = rotation_in_use_secret(c->store, c->rt->cfg, app, &a->secret_source);
	if (s == NULL || s->len == 0) {
		secret_free(s);
		probe_set(a, INCIDENT_PROBE_UNPROBED, xstrdup("the in-use secret cannot be "
		    "probed: rekey does not know it (no current_secret_file, no published rotation)"));
		return;
	}
	memset(a->hint, 0, sizeof(a->hint));
	memcpy(a->hint, s->data, s->len < HINT_LEN ? s->len : HINT_LEN);
	ref = xcalloc(1, sizeof(*ref));
	ref->a = a;
	if (identity_probe_secret(c->hc, app, s, probe_cb, ref) == -1) {
		free(ref);
		probe_set(a, INCIDENT_PROBE_ERROR, xstrdup("the in-use secret could not be "
		    "probed: the token request was not sent"));
	} else {
		a->probe = ref;
	}
	secret_free(s);
}
