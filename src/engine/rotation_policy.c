/*
 * rotation_policy: the tenant's app management policies, read before each
 * addPassword of creating (engine/rotation_graph.c).  A lifetime cap that
 * applies to the app shortens the new secret beforehand, instead of learning
 * it from a refusal; a policy that forbids client secrets stops the rotation
 * before anything is sent, and RotationPossible says why and what to do
 * (the owners hear of it once, as of the two-secret limit).  When the rotator
 * may not read policies (403: it lacks Policy.Read.All), creating goes on as
 * before: a refusal still shortens the lifetime (CredentialInvalidLifetime-
 * AsPerAppPolicy), and Graph's refusal of a forbidden secret
 * (CredentialTypeNotAllowedAsPerAppPolicy) ends up where a ban read would.
 */
#include "engine/rotator_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/wbuf.h"
#include "outbound/graph.h"
#include "outbound/graph_policy.h"
#include "state/condition.h"
#include "state/config.h"
#include "state/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define TENANT_POLICY_PATH "/policies/defaultAppManagementPolicy"
/* Why a ban is permanent and what to do; the condition's message ends with it. */
#define BAN_FIX "Nylas's Microsoft connector takes only a client secret (a certificate is " \
	"no way out): ask a tenant administrator to exempt this app (assign it a custom " \
	"appManagementPolicy without passwordAddition, or exclude it from the policy), then " \
	"rotate again"

/* Lifetime kept below a policy's cap, for a clock ahead of Graph's: an hour, or half a short cap. */
static int64_t
cap_margin(int64_t cap)
{
	return cap > 2 * 3600 ? 3600 : cap / 2;
}

void
rotator_policy_forget(struct app_rot *a)
{
	graph_app_policy_clear(a->pol_tenant);
	free(a->pol_tenant);
	a->pol_tenant = NULL;
	graph_app_policy_clear(a->pol_assigned);
	free(a->pol_assigned);
	a->pol_assigned = NULL;
	a->pol_read = 0;
	free(a->pol_why);
	a->pol_why = NULL;
}

/* The policies could not be read: creating goes on without them. */
static void
unreadable(struct app_rot *a, const char *what, const struct graph_result *res, const char *err)
{
	char *why = res != NULL ? xasprintf("%s: HTTP %ld%s%s", what, res->status,
	    res->error && res->error->code ? " " : "", res->error && res->error->code ?
	    res->error->code : "") : xasprintf("%s: %s", what, err ? err : "unreadable");

	rotator_policy_forget(a);
	a->pol_read = -1;
	a->pol_why = why;
	log_rotation(LOG_LEVEL_WARN, a->app->name, a->row.id,
	    "rotation %s: cannot read the app management "
	    "policies (%s)%s; a lifetime the tenant refuses is shortened then", a->row.id, why,
	    res != NULL && res->status == 403 ? ": the rotator lacks Policy.Read.All" : "");
}

static void
assigned_cb(const struct graph_result *res, void *arg)
{
	struct app_rot *a = arg;
	char *err = NULL;
	int found = 0;

	if (res->outcome == GRAPH_CANCELLED)
		return;
	rotator_call_done(a);
	if (res->outcome != GRAPH_OK) {
		unreadable(a, "GET /applications/{id}/appManagementPolicies", res, NULL);
	} else {
		a->pol_assigned = xcalloc(1, sizeof(*a->pol_assigned));
		if (graph_parse_assigned_policies(res->body, res->body_len, a->pol_assigned, &found,
		    &err) == -1)
			unreadable(a, "appManagementPolicies", NULL, err);
		else {
			a->pol_read = 1;
			if (!found) {
				free(a->pol_assigned);
				a->pol_assigned = NULL;
			}
		}
		free(err);
	}
	rotator_read_app(a, rotator_creating_read_cb, "creating");
}

static void
tenant_cb(const struct graph_result *res, void *arg)
{
	struct app_rot *a = arg;
	struct wbuf b = WBUF_INIT;
	char *err = NULL, *path;

	if (res->outcome == GRAPH_CANCELLED)
		return;
	rotator_call_done(a);
	if (res->outcome != GRAPH_OK) {
		unreadable(a, "GET " TENANT_POLICY_PATH, res, NULL);
		rotator_read_app(a, rotator_creating_read_cb, "creating");
		return;
	}
	a->pol_tenant = xcalloc(1, sizeof(*a->pol_tenant));
	if (graph_parse_tenant_policy(res->body, res->body_len, a->pol_tenant, &err) == -1) {
		unreadable(a, "defaultAppManagementPolicy", NULL, err);
		free(err);
		rotator_read_app(a, rotator_creating_read_cb, "creating");
		return;
	}
	/*
	 * The app's own policy, which would replace the tenant's, needs its
	 * object id: without it (yet), the tenant's alone may not be judged.
	 */
	if (a->object_id == NULL) {
		unreadable(a, "appManagementPolicies", NULL, "the app's object id is not known yet");
		rotator_read_app(a, rotator_creating_read_cb, "creating");
		return;
	}
	wbuf_add_str(&b, "/applications/");
	wbuf_add_escaped(&b, a->object_id, strlen(a->object_id));
	wbuf_add_str(&b, "/appManagementPolicies");
	path = wbuf_to_str(&b);
	rotator_call_started(a, "creating");
	if (graph_get_json(a->gc, path, assigned_cb, a) == -1)
		rotator_decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send the policy read", -1);
	free(path);
}

void
rotator_read_policies(struct app_rot *a)
{
	rotator_policy_forget(a);
	rotator_call_started(a, "creating");
	if (graph_get_json(a->gc, TENANT_POLICY_PATH, tenant_cb, a) == -1)
		rotator_decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send the policy read", -1);
}

/* What status shows of the policies as this rotation found them (value lifetime_policy). */
static void
record(struct app_rot *a, const char *state, const struct graph_policy_verdict *v,
    int64_t requested, int64_t granted)
{
	cJSON *o = cJSON_CreateObject();
	char *json;

	cJSON_AddStringToObject(o, "state", state);
	cJSON_AddStringToObject(o, "rotation", a->row.id);
	if (v != NULL && v->policy != NULL) {
		cJSON_AddStringToObject(o, "policy", v->policy->display_name ?
		    v->policy->display_name : "?");
		cJSON_AddStringToObject(o, "policy_id", v->policy->id ? v->policy->id : "?");
		cJSON_AddBoolToObject(o, "assigned", v->policy == a->pol_assigned);
	}
	if (v != NULL && v->max_lifetime > 0)
		cJSON_AddNumberToObject(o, "max_s", (double)v->max_lifetime);
	if (requested > 0) {
		cJSON_AddNumberToObject(o, "requested_s", (double)requested);
		cJSON_AddNumberToObject(o, "granted_s", (double)granted);
	}
	if (a->pol_why != NULL)
		cJSON_AddStringToObject(o, "why", a->pol_why);
	cJSON_AddNumberToObject(o, "at", (double)rotator_now_s());
	json = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (json == NULL || store_put_value(a->r->st, a->app->name, "lifetime_policy", json) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, a->app->name, "cannot record lifetime_policy");
	free(json);
}

/* Caps the lifetime to v's maxLifetime, told as a shortened lifetime is. */
static void
cap_lifetime(struct app_rot *a, const struct graph_policy_verdict *v)
{
	int64_t want = a->row.lifetime > 0 ? a->row.lifetime : a->app->secret_lifetime;
	int64_t cap = v->max_lifetime - cap_margin(v->max_lifetime);
	char value[160];

	if (want <= cap) {
		record(a, "cap", v, want, want);
		return;
	}
	a->row.lifetime = cap;
	log_rotation(LOG_LEVEL_WARN, a->app->name, a->row.id,
	    "rotation %s: app management policy \"%s\" "
	    "caps client secrets at %lld days (maxLifetime); the new secret gets %lld days, not "
	    "%lld", a->row.id, v->policy->display_name ? v->policy->display_name : "?",
	    (long long)(v->max_lifetime / 86400), (long long)(cap / 86400),
	    (long long)(want / 86400));
	record(a, "cap", v, want, cap);
	snprintf(value, sizeof(value), "{\"rotation\":\"%s\",\"from_s\":%lld,\"to_s\":%lld}",
	    a->row.id, (long long)want, (long long)cap);
	if (store_put_value(a->r->st, a->app->name, "lifetime_shortened", value) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, a->app->name, "cannot record lifetime_shortened");
}

/* The rotation stops for good: RotationPossible false with msg, and the rotation failed with it. */
static void
stop_banned(struct app_rot *a, const char *msg)
{
	if (condition_record(a->r->st, a->app->name, CONDITION_ROTATION_POSSIBLE,
	    CONDITION_FALSE, 1, "SecretsForbidden", msg, rotator_now_s()) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, a->app->name, "cannot record RotationPossible");
	log_rotation(LOG_LEVEL_ERROR, a->app->name, a->row.id, "rotation %s: %s", a->row.id, msg);
	rotator_decide(a, ROTATION_OUTCOME_PERMANENT, msg, -1);
}

int
rotator_policy_allows(struct app_rot *a, const struct graph_application *app)
{
	struct graph_policy_verdict v;
	char msg[CONDITION_MESSAGE_MAX], after[UTIL_TIME_MAX], created[UTIL_TIME_MAX];

	if (a->pol_read != 1) {
		record(a, a->pol_read == -1 ? "unreadable" : "unknown", NULL, 0, 0);
		return 1;
	}
	graph_policy_effective(a->pol_tenant, a->pol_assigned, app->created, &v);
	if (v.banned) {
		util_format_time(v.created_after, after, sizeof(after));
		util_format_time(app->created, created, sizeof(created));
		snprintf(msg, sizeof(msg), "app management policy \"%.60s\" (%s %.36s) forbids client "
		    "secrets for this app (passwordAddition, apps created from %.24s; this one %.24s); "
		    "nothing was sent to addPassword. " BAN_FIX,
		    v.policy->display_name ? v.policy->display_name : "?",
		    v.policy == a->pol_assigned ? "assigned" : "tenant default",
		    v.policy->id ? v.policy->id : "?", v.created_after > 0 ? after : "any date",
		    app->created > 0 ? created : "unknown");
		record(a, "ban", &v, 0, 0);
		stop_banned(a, msg);
		return 0;
	}
	if (v.max_lifetime > 0)
		cap_lifetime(a, &v);
	else
		record(a, "none", &v, 0, 0);
	return 1;
}

void
rotator_policy_refused(struct app_rot *a, const struct graph_result *res)
{
	char msg[CONDITION_MESSAGE_MAX];

	/* No request id in the message: the next refusal must read the same (told once). */
	log_rotation(LOG_LEVEL_WARN, a->app->name, a->row.id,
	    "rotation %s: addPassword refused with %s "
	    "(request-id %s)", a->row.id, GRAPH_CODE_PASSWORD_BANNED,
	    res->request_id ? res->request_id : "?");
	snprintf(msg, sizeof(msg), "addPassword refused: the tenant's app management policy forbids "
	    "client secrets for this app (HTTP %ld %s%s%.120s). " BAN_FIX, res->status,
	    GRAPH_CODE_PASSWORD_BANNED, res->error && res->error->message ? ": " : "",
	    res->error && res->error->message ? res->error->message : "");
	stop_banned(a, msg);
}
