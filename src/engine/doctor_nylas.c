/*
 * doctor_nylas: the checks of the Nylas side: the API key, the Microsoft
 * connector (its client_id and tenant against the app's), and rekey's
 * webhook destination with its triggers, status and secret.
 */
#include "engine/doctor_int.h"
#include "lib/util.h"
#include "outbound/nylas.h"
#include "proto/explain.h"
#include "state/config.h"
#include "state/nylas_secrets.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* --- error wording -------------------------------------------------------- */

static char *
nylas_seen(const struct nylas_result *res)
{
	if (res->status == 0)
		return xasprintf("no answer: %s", str_or(res->detail, "transport error"));
	return xasprintf("HTTP %ld %s%s%s", res->status,
	    res->error != NULL ? str_or(res->error->type, "") : "",
	    res->error != NULL && res->error->message != NULL ? ": " : "",
	    res->error != NULL ? str_or(res->error->message, "") : "");
}

static void
nylas_failed(struct doctor *d, const char *check, const struct nylas_result *res)
{
	const char *fix = explain_nylas(res->status, res->error ? res->error->type : NULL);
	char *seen = nylas_seen(res);

	if (fix == NULL)
		fix = res->status == 0 ? "check that nylas_api_base is reachable from this host" :
		    "see Nylas's message; retry later if it is a 5xx or 429";
	doctor_add_line(d, res->outcome == NYLAS_RETRYABLE ? DOCTOR_WARN : DOCTOR_FAIL, check, fix,
	    "%s", seen);
	free(seen);
}

/* --- Nylas ----------------------------------------------------------------------- */

/* "none", "common", "organizations" or a tenant id: what it means next to azure_tenant_id. */
static void
tenant_line(struct doctor *d, const char *tenant)
{
	if (tenant == NULL || *tenant == '\0') {
		doctor_add_line(d, DOCTOR_OK, "connector_tenant", NULL, "no tenant (Nylas signs users in "
		    "through common)");
	} else if (same_nocase(tenant, "common") || same_nocase(tenant, "organizations")) {
		doctor_add_line(d, DOCTOR_OK, "connector_tenant", NULL, "tenant %s (multi-tenant)", tenant);
	} else if (d->app->azure_tenant_id != NULL &&
	    !same_nocase(tenant, d->app->azure_tenant_id)) {
		doctor_add_line(d, DOCTOR_WARN, "connector_tenant", "set the connector's tenant to "
		    "azure_tenant_id, or azure_tenant_id to the connector's tenant",
		    "tenant mismatch: the connector has %s, azure_tenant_id is %s", tenant,
		    d->app->azure_tenant_id);
	} else {
		doctor_add_line(d, DOCTOR_OK, "connector_tenant", NULL, "tenant %s", tenant);
	}
}

/*
 * The connector as GET /v3/connectors/microsoft shows it.  active_credential_id
 * is read here in the smallest way (outbound/nylas does not parse it yet).
 */
static void
connector_lines(struct doctor *d, const struct nylas_result *res)
{
	struct nylas_connector c;
	cJSON *root;
	const cJSON *data;
	const char *active;
	char *err = NULL;

	memset(&c, 0, sizeof(c));
	if (nylas_parse_connector(res->body, res->body_len, &c, &err) == -1) {
		doctor_add_line(d, DOCTOR_FAIL, "nylas_connector", NULL, "an answer rekey cannot read: %s",
		    err);
		free(err);
		return;
	}
	root = cJSON_ParseWithLength(res->body, res->body_len);
	data = cJSON_GetObjectItemCaseSensitive(root, "data");
	active = json_str_or(data, "active_credential_id", NULL);
	if (!same(c.client_id, d->app->azure_client_id))
		doctor_add_line(d, DOCTOR_FAIL, "nylas_connector", "set the connector's client_id to "
		    "azure_client_id (or azure_client_id to the app the connector uses)",
		    "the connector's client_id is %s, azure_client_id is %s",
		    str_or(c.client_id, "(none)"), d->app->azure_client_id);
	else
		doctor_add_line(d, DOCTOR_OK, "nylas_connector", NULL, "Microsoft connector, client_id "
		    "%s%s%s", c.client_id, active != NULL ? ", active credential " : "",
		    active != NULL ? active : "");
	tenant_line(d, c.tenant);
	cJSON_Delete(root);
	nylas_connector_clear(&c);
}

static void
connector_cb(const struct nylas_result *res, void *arg)
{
	struct doctor *d = arg;

	/* Freed clients tell their pending calls: the doctor is being torn down. */
	if (res->outcome == NYLAS_CANCELLED)
		return;
	d->nylas_key_ok = res->outcome == NYLAS_OK || res->outcome == NYLAS_NOT_FOUND;
	if (res->outcome == NYLAS_OK) {
		doctor_add_line(d, DOCTOR_OK, "nylas_api_key", NULL, "the API key works at %s",
		    d->app->nylas_api_base);
		connector_lines(d, res);
	} else if (res->outcome == NYLAS_NOT_FOUND) {
		doctor_add_line(d, DOCTOR_OK, "nylas_api_key", NULL, "the API key works at %s",
		    d->app->nylas_api_base);
		doctor_add_line(d, DOCTOR_FAIL, "nylas_connector", "create the Microsoft connector in the "
		    "Nylas application with client_id azure_client_id and the current secret",
		    "the Nylas application has no Microsoft connector");
	} else if (res->outcome != NYLAS_CANCELLED) {
		nylas_failed(d, "nylas_api_key", res);
	}
	doctor_advance(d);
}

int
doctor_step_connector(struct doctor *d)
{
	if (d->nc == NULL)
		return 1;
	return nylas_get_json(d->nc, "/v3/connectors/microsoft", connector_cb, d) == 0 ? 0 : 1;
}

/*
 * What the store says of the destination's secret: managed by rekey (its
 * age) or the operator's file, and the last rotation.  Caller frees.
 */
static char *
webhook_secret_facts(struct doctor *d)
{
	struct nylas_secrets_record r;
	char when[32] = "?", *out;

	if (d->st == NULL || nylas_secrets_get(d->st, d->app->name, &r) == -1)
		return xstrdup("; secret: store not readable");
	if (r.rotation_at_ms > 0)
		util_format_time(r.rotation_at_ms / 1000, when, sizeof(when));
	out = xasprintf("; secret %s%lld s old%s; last rotation: %s%s%s%s%s",
	    r.secret_created_ms > 0 ? "managed by rekey, " : "from nylas_webhook_secret_file (",
	    r.secret_created_ms > 0 ? (long long)(d->now - r.secret_created_ms / 1000) : 0LL,
	    r.secret_created_ms > 0 ? "" : " unknown)",
	    r.rotation_state != NULL ? r.rotation_state : "never",
	    r.rotation_state != NULL ? " at " : "", r.rotation_state != NULL ? when : "",
	    r.rotation_error != NULL ? ": " : "", r.rotation_error != NULL ? r.rotation_error : "");
	nylas_secrets_record_clear(&r);
	return out;
}

/* The verdict on rekey's destination as nylas_find_destination judged it. */
static void
webhook_verdict(struct doctor *d, const struct nylas_destination *w, const char *url)
{
	char *fix = doctor_app_command(d, "rekey nylas register"), *facts = webhook_secret_facts(d);

	switch (w->state) {
	case NYLAS_DESTINATION_MISSING:
		doctor_add_line(d, DOCTOR_FAIL, "nylas_webhook", fix, "no webhook destination points "
		    "at %s (%d destinations)", url, w->n_destinations);
		break;
	case NYLAS_DESTINATION_NO_TRIGGERS:
		doctor_add_line(d, DOCTOR_FAIL, "nylas_webhook", fix, "destination %s for %s lacks the "
		    "triggers %s (add them: --fix)", w->id, url, w->missing);
		break;
	case NYLAS_DESTINATION_INACTIVE:
		doctor_add_line(d, strcmp(w->status, "failing") == 0 ? DOCTOR_WARN : DOCTOR_FAIL,
		    "nylas_webhook", "make the endpoint answer (rekey serve behind public_url), then "
		    "set the destination active in the Nylas dashboard", "destination %s for %s has "
		    "status %s", w->id, url, w->status);
		break;
	case NYLAS_DESTINATION_EXTRA:
		doctor_add_line(d, DOCTOR_WARN, "nylas_webhook", "remove the other triggers from the "
		    "destination: rekey ignores them", "destination %s for %s also has the triggers "
		    "%s%s", w->id, url, w->extra, facts);
		break;
	case NYLAS_DESTINATION_OK:
		doctor_add_line(d, DOCTOR_OK, "nylas_webhook", NULL, "destination %s for %s, active, "
		    "grant.created/updated/deleted/expired%s", w->id, url, facts);
		break;
	}
	free(facts);
	free(fix);
}

static void
webhooks_cb(const struct nylas_result *res, void *arg)
{
	struct doctor *d = arg;
	char *url = doctor_public_endpoint(d, "/webhooks/nylas/"), *err = NULL;
	struct nylas_destination w;

	/* Freed clients tell their pending calls: the doctor is being torn down. */
	if (res->outcome == NYLAS_CANCELLED)
		return;
	if (res->outcome != NYLAS_OK)
		nylas_failed(d, "nylas_webhook", res);
	else if (nylas_find_destination(res->body, res->body_len, url, &w, &err) == -1)
		doctor_add_line(d, DOCTOR_FAIL, "nylas_webhook", NULL, "GET /v3/webhooks: %s", err);
	else
		webhook_verdict(d, &w, url);
	if (res->outcome == NYLAS_OK && err == NULL)
		nylas_destination_clear(&w);
	free(err);
	free(url);
	doctor_advance(d);
}

int
doctor_step_webhooks(struct doctor *d)
{
	/* A key Nylas refused, or no answer at all, has its line already; asking again adds noise. */
	if (d->nc == NULL || !d->nylas_key_ok)
		return 1;
	if (d->cfg->public_url == NULL || d->cfg->public_url[0] == '\0') {
		doctor_add_line(d, DOCTOR_WARN, "nylas_webhook", "set public_url in [server] to the "
		    "address Nylas and Graph reach rekey at", "no public_url: rekey's destination "
		    "cannot be told apart");
		return 1;
	}
	return nylas_get_json(d->nc, "/v3/webhooks", webhooks_cb, d) == 0 ? 0 : 1;
}

