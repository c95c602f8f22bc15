/*
 * rotation_publish: a rotation's Nylas connector calls.  Where the new
 * secret goes (rotation_publish_target, which the expiry poll asks too);
 * planned reads the connector before anything is made; publishing updates
 * the connector's settings or a connector credential and reads the
 * connector back; rolling_back puts the old secret back the same way.
 */
#include "engine/rotation_publish.h"
#include "engine/rotator_int.h"
#include "lib/log.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "outbound/nylas.h"
#include "state/config.h"
#include "state/rotation.h"
#include "state/store.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

static char *
nylas_why(const char *call, const struct nylas_result *res)
{
	return xasprintf("%s: %s (HTTP %ld%s%s%s%s)%s%s", call, nylas_outcome_name(res->outcome),
	    res->status, res->error && res->error->type ? ", " : "",
	    res->error && res->error->type ? res->error->type : "",
	    res->request_id ? ", request id " : "", res->request_id ? res->request_id : "",
	    res->detail ? ": " : "", res->detail ? res->detail : "");
}

static void
nylas_failed(struct app_rot *a, const char *call, const struct nylas_result *res)
{
	char *why = nylas_why(call, res);

	rotator_decide(a, res->outcome == NYLAS_RETRYABLE ? ROTATION_OUTCOME_RETRYABLE :
	    ROTATION_OUTCOME_PERMANENT, why, res->retry_after_ms);
	free(why);
}

/* ---- Where Nylas gets the new secret ---- */

static const char *
nonempty(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

/*
 * Where the new secret goes, from the app's config and the connector as read
 * now: the configured nylas_connector_credential_id (an explicit override),
 * else the connector's active_credential_id (Nylas signs users in with that
 * credential's data, not with settings: "used as a default for communication
 * with the provider", Nylas's "Update a connector" reference), else settings.
 *
 * The tenant is never made up.  settings.tenant is optional and a PATCH
 * replaces the whole settings object, so settings get back exactly the tenant
 * Nylas shows, else nylas_tenant if the operator set it, else none.  A
 * credential's data is never shown, and its PATCH replaces all of
 * credential_data too (Nylas's "Update a connector credential" reference):
 * sending no tenant would drop the one it has, sending azure_tenant_id would
 * narrow a multi-tenant app to its home tenant.  So a credential is updated
 * only with the operator's nylas_tenant; without it, -1 and *why (caller
 * frees).
 */
int
rotation_publish_target(const struct config_app *app, const struct nylas_connector *c,
    struct publish_target *t, char **why)
{
	memset(t, 0, sizeof(*t));
	t->kind = PUBLISH_CREDENTIAL;
	if (nonempty(app->nylas_connector_credential_id) != NULL) {
		t->credential_id = app->nylas_connector_credential_id;
		t->source = "config";
	} else if (nonempty(c->active_credential_id) != NULL) {
		t->credential_id = c->active_credential_id;
		t->source = "active_credential_id";
	} else {
		t->kind = PUBLISH_SETTINGS;
		t->source = "settings";
		t->tenant = nonempty(c->tenant) != NULL ? c->tenant : nonempty(app->nylas_tenant);
		return 0;
	}
	t->tenant = nonempty(app->nylas_tenant);
	if (t->tenant != NULL)
		return 0;
	*why = xasprintf("not publishing to connector credential %s (from %s) without "
	    "nylas_tenant: Nylas never shows a credential's tenant and an update replaces all "
	    "of its data, so rekey would drop or narrow it; set nylas_tenant to the tenant the "
	    "credential signs users in with (common for a multi-tenant app)", t->credential_id,
	    t->source);
	return -1;
}

/* {"kind","credential_id","source"} of t for the store and status (cJSON_free). */
static char *
publish_target_json(const struct publish_target *t)
{
	cJSON *o = cJSON_CreateObject();
	char *out;

	cJSON_AddStringToObject(o, "kind", t->kind == PUBLISH_CREDENTIAL ? "credential" :
	    "settings");
	cJSON_AddItemToObject(o, "credential_id", t->credential_id != NULL ?
	    cJSON_CreateString(t->credential_id) : cJSON_CreateNull());
	cJSON_AddStringToObject(o, "source", t->source);
	out = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (out == NULL)
		fatal("out of memory");
	return out;
}

/* Logs where the rotation publishes (what: "will publish to", ...) and records it for status. */
static void
note_target(struct app_rot *a, const struct publish_target *t, const char *what)
{
	char *json = publish_target_json(t);

	free(a->target);
	if (t->kind == PUBLISH_CREDENTIAL)
		a->target = xasprintf("connector credential %s (from %s)", t->credential_id,
		    t->source);
	else
		a->target = xstrdup("connector settings");
	a->to_credential = t->kind == PUBLISH_CREDENTIAL;
	log_rotation(LOG_LEVEL_INFO, a->app->name, a->row.id,
	    "rotation %s: %s %s, tenant %s", a->row.id,
	    what, a->target, t->tenant != NULL ? t->tenant : "none sent");
	if (store_put_value(a->r->st, a->app->name, "publish_target", json) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, a->app->name, "cannot record publish_target");
	cJSON_free(json);
}

/* planned: where the secret would go, settled before anything is written. */
/*
 * A connector read of a step: where new secrets go (*t, borrowing from the
 * answer).  -1 when the step has been decided already (the read failed, or
 * rekey cannot publish there).
 */
static int
connector_target(struct app_rot *a, const struct nylas_result *res, struct publish_target *t)
{
	char *why = NULL;

	rotator_call_done(a);
	if (res->outcome != NYLAS_OK || res->connector == NULL) {
		nylas_failed(a, "read connector", res);
		return -1;
	}
	if (rotation_publish_target(a->app, res->connector, t, &why) == -1) {
		rotator_decide(a, ROTATION_OUTCOME_PERMANENT, why, -1);
		free(why);
		return -1;
	}
	return 0;
}

static void
planned_connector_cb(const struct nylas_result *res, void *arg)
{
	struct app_rot *a = arg;
	struct publish_target t;

	if (res->outcome == NYLAS_CANCELLED)
		return;
	if (connector_target(a, res, &t) == -1)
		return;
	note_target(a, &t, a->row.dry_run ? "would publish to" : "will publish to");
	rotator_read_app(a, rotator_planned_read_cb, "planned");
}

/*
 * planned: reads the connector first, so that a rotation whose secret could
 * not be published (see publish_target_of) fails before a secret is made.
 */
void
rotator_read_target(struct app_rot *a)
{
	rotator_call_started(a, "planned");
	if (nylas_get_connector(a->nc, planned_connector_cb, a) == -1)
		rotator_decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send the connector read", -1);
}

static int
same_text(const char *x, const char *y)
{
	return strcmp(nonempty(x) ? x : "", nonempty(y) ? y : "") == 0;
}

/*
 * What the connector read after the update says against what was sent: NULL
 * when it holds the update where Nylas signs users in with it, else why not
 * (caller frees).  A credential's data is never shown (only whether it is
 * still the active one); settings show client_id, and the tenant when Nylas
 * echoes it.
 */
static char *
read_back_mismatch(const struct app_rot *a, const struct nylas_connector *c)
{
	const char *active = nonempty(c->active_credential_id);

	if (a->sent.kind == PUBLISH_CREDENTIAL) {
		if (strcmp(a->sent.source, "active_credential_id") == 0 &&
		    (active == NULL || strcmp(active, a->sent_cred) != 0))
			return xasprintf("the connector's active_credential_id is %s, not %s, "
			    "which was updated", active ? active : "unset", a->sent_cred);
		return NULL;
	}
	if (active != NULL)
		return xasprintf("Nylas signs users in with credential %s (active_credential_id), "
		    "not with the settings that were updated", active);
	if (!same_text(c->client_id, a->app->azure_client_id))
		return xasprintf("the connector's client_id is %s, not %s",
		    c->client_id ? c->client_id : "unset", a->app->azure_client_id);
	/* Whether GET shows settings.tenant is undocumented: only a tenant shown can differ. */
	if (nonempty(c->tenant) != NULL && !same_text(c->tenant, a->sent_tenant))
		return xasprintf("the connector's tenant is %s, not %s as sent", c->tenant,
		    a->sent_tenant ? a->sent_tenant : "unset");
	return NULL;
}

static void
read_back_cb(const struct nylas_result *res, void *arg)
{
	struct app_rot *a = arg;
	char *mismatch, *why;

	if (res->outcome == NYLAS_CANCELLED)
		return;
	rotator_call_done(a);
	if (res->outcome != NYLAS_OK || res->connector == NULL) {
		nylas_failed(a, "read connector back", res);
		return;
	}
	mismatch = read_back_mismatch(a, res->connector);
	if (mismatch == NULL) {
		rotator_decide(a, ROTATION_OUTCOME_OK, NULL, -1);
		return;
	}
	/* Not published: the old secret stays (retiring is never reached). */
	why = xasprintf("read back after publishing: %s", mismatch);
	rotator_decide(a, ROTATION_OUTCOME_PERMANENT, why, -1);
	free(mismatch);
	free(why);
}

static void
patched_cb(const struct nylas_result *res, void *arg)
{
	struct app_rot *a = arg;

	if (res->outcome == NYLAS_CANCELLED)
		return;
	rotator_call_done(a);
	if (res->outcome != NYLAS_OK) {
		nylas_failed(a, a->to_credential ? "update connector credential" :
		    "update connector", res);
		return;
	}
	/* An answer is not the state: read the connector back before calling it published. */
	rotator_call_started(a, "publishing");
	if (nylas_get_connector(a->nc, read_back_cb, a) == -1)
		rotator_decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send the connector read-back", -1);
}

/* Publishes secret s to t; 0, or -1 when the call could not be sent. */
static int
patch_target(struct app_rot *a, const struct publish_target *t, const struct nylas_connector *c,
    const struct secret *s)
{
	/* Kept for the read-back: t borrows from the connector read, which is freed. */
	a->sent = *t;
	rotator_set_text(&a->sent_cred, t->credential_id);
	rotator_set_text(&a->sent_tenant, t->tenant);
	a->sent.credential_id = a->sent_cred;
	a->sent.tenant = a->sent_tenant;
	if (t->kind == PUBLISH_CREDENTIAL)
		return nylas_patch_credential(a->nc, t->credential_id, a->app->azure_client_id, s,
		    t->tenant, patched_cb, a);
	/* A PATCH replaces the whole settings object: send it whole, keep the scopes. */
	return nylas_patch_connector(a->nc, a->app->azure_client_id, s, t->tenant,
	    (const char *const *)c->scope, c->n_scope, patched_cb, a);
}

/* publishing: the connector as it is now says where the secret goes; then the update. */
static void
connector_cb(const struct nylas_result *res, void *arg)
{
	struct app_rot *a = arg;
	struct publish_target t;
	struct secret *s;
	int rc;

	if (res->outcome == NYLAS_CANCELLED)
		return;
	if (connector_target(a, res, &t) == -1)
		return;
	s = rotator_new_secret(a);
	if (s == NULL) {
		rotator_decide(a, ROTATION_OUTCOME_PERMANENT,
		    "the stored secret cannot be unsealed with the master key", -1);
		return;
	}
	note_target(a, &t, "publishing to");
	rotator_call_started(a, "publishing");
	rc = patch_target(a, &t, res->connector, s);
	secret_free(s);
	if (rc == -1)
		rotator_decide(a, ROTATION_OUTCOME_RETRYABLE, t.kind == PUBLISH_CREDENTIAL ?
		    "cannot send the connector credential update" :
		    "cannot send the connector update", -1);
}

void
rotator_publish(struct app_rot *a)
{
	rotator_call_started(a, "publishing");
	if (nylas_get_connector(a->nc, connector_cb, a) == -1)
		rotator_decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send the connector read", -1);
}

/* ---- rolling back ---- */

/* rolling_back: where the old secret goes (as for publishing), then the update and its read-back. */
static void
rollback_connector_cb(const struct nylas_result *res, void *arg)
{
	struct app_rot *a = arg;
	struct publish_target t;
	struct secret *s;
	int rc;

	if (res->outcome == NYLAS_CANCELLED)
		return;
	if (connector_target(a, res, &t) == -1)
		return;
	s = rotator_old_secret(a);
	if (s == NULL) {
		rotator_decide(a, ROTATION_OUTCOME_PERMANENT, "rolling back: the old secret is not known", -1);
		return;
	}
	note_target(a, &t, "rolling back to the old secret in");
	rotator_call_started(a, "rolling_back");
	rc = patch_target(a, &t, res->connector, s);
	secret_free(s);
	if (rc == -1)
		rotator_decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send the connector update", -1);
}

void
rotator_roll_back(struct app_rot *a)
{
	rotator_call_started(a, "rolling_back");
	if (nylas_get_connector(a->nc, rollback_connector_cb, a) == -1)
		rotator_decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send the connector read", -1);
}
