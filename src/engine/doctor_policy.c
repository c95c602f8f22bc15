/*
 * doctor_policy: the app management policies that bear on the app's next
 * client secret, as the rotator reads them before each addPassword
 * (engine/rotation_policy.c).  A policy that forbids client secrets fails
 * (no rotation can succeed); a lifetime cap is told (rekey caps the secret
 * to it); policies the rotator may not read are a warning: rotation still
 * works, shortening the lifetime when Graph refuses it.
 */
#include "engine/doctor_int.h"
#include "lib/util.h"
#include "lib/wbuf.h"
#include "outbound/graph.h"
#include "outbound/graph_policy.h"
#include "state/config.h"

#include <stdlib.h>
#include <string.h>

#define CHECK "app_policy"
#define TENANT_POLICY_PATH "/policies/defaultAppManagementPolicy"

void
doctor_policy_reset(struct doctor *d)
{
	graph_app_policy_clear(d->pol_tenant);
	free(d->pol_tenant);
	d->pol_tenant = NULL;
}

/* A read failed: 403 is the missing permission (a warning), anything else is said as it is. */
static void
read_failed(struct doctor *d, const char *what, const struct graph_result *res)
{
	if (res->status == 403) {
		doctor_add_line(d, DOCTOR_WARN, CHECK, "grant the rotator Policy.Read.All (admin "
		    "consent) so that rekey caps a new secret's lifetime to the tenant's policy and "
		    "sees a policy that forbids client secrets before it tries; nothing to do if the "
		    "tenant has no app management policies", "the rotator may not read the app "
		    "management policies (%s: HTTP 403 %s); rotation still works, and a lifetime the "
		    "tenant refuses is shortened then", what,
		    res->error != NULL ? str_or(res->error->code, "") : "");
		return;
	}
	doctor_add_line(d, DOCTOR_WARN, CHECK, "retry later; rotation does not depend on it",
	    "%s: HTTP %ld %s%s", what, res->status,
	    res->error != NULL ? str_or(res->error->code, "") : "",
	    res->status == 0 ? str_or(res->detail, "no answer") : "");
}

/* The verdict on the policy in force. */
static void
judge(struct doctor *d, const struct graph_app_policy *assigned)
{
	struct graph_policy_verdict v;
	const char *name;

	graph_policy_effective(d->pol_tenant, assigned, d->app_created, &v);
	name = v.policy != NULL ? str_or(v.policy->display_name, "?") : NULL;
	if (v.banned) {
		doctor_add_line(d, DOCTOR_FAIL, CHECK, "ask a tenant administrator to exempt this app "
		    "(assign it a custom appManagementPolicy without passwordAddition, or exclude it "
		    "from the policy): Nylas's Microsoft connector takes only a client secret, so a "
		    "certificate is no way out", "policy \"%s\" (%s) forbids client secrets for this "
		    "app (passwordAddition): no rotation can add one", name,
		    v.policy == assigned ? "assigned to the app" : "tenant default");
	} else if (v.max_lifetime > 0) {
		doctor_add_line(d, v.max_lifetime < d->app->rotate_before ? DOCTOR_WARN : DOCTOR_OK,
		    CHECK, v.max_lifetime < d->app->rotate_before ? "lower rotate_before below the "
		    "policy's maxLifetime" : NULL, "policy \"%s\" (%s) caps client secrets at %lld "
		    "days; rekey asks for %lld days%s", name,
		    v.policy == assigned ? "assigned to the app" : "tenant default",
		    (long long)(v.max_lifetime / DAY_S),
		    (long long)((d->app->secret_lifetime < v.max_lifetime ? d->app->secret_lifetime :
		    v.max_lifetime) / DAY_S),
		    d->app->secret_lifetime > v.max_lifetime ? " (secret_lifetime capped to it)" : "");
	} else {
		doctor_add_line(d, DOCTOR_OK, CHECK, NULL, "no app management policy restricts this "
		    "app's client secrets (%s)", assigned != NULL ? "its own policy" : "tenant default");
	}
}

static void
assigned_cb(const struct graph_result *res, void *arg)
{
	struct doctor *d = arg;
	struct graph_app_policy mine;
	char *err = NULL;
	int found = 0;

	if (res->outcome == GRAPH_CANCELLED)
		return;
	if (res->outcome != GRAPH_OK) {
		read_failed(d, "GET /applications/{id}/appManagementPolicies", res);
	} else if (graph_parse_assigned_policies(res->body, res->body_len, &mine, &found,
	    &err) == -1) {
		doctor_add_line(d, DOCTOR_WARN, CHECK, NULL, "the app's policies cannot be read: %s",
		    err);
	} else {
		judge(d, found ? &mine : NULL);
		graph_app_policy_clear(&mine);
	}
	free(err);
	doctor_policy_reset(d);
	doctor_advance(d);
}

/* 0 when the read of the app's own policy is under way, 1 when it could not be sent. */
static int
read_assigned(struct doctor *d)
{
	struct wbuf b = WBUF_INIT;
	char *path;
	int rc;

	wbuf_add_str(&b, "/applications/");
	wbuf_add_escaped(&b, d->app_oid, strlen(d->app_oid));
	wbuf_add_str(&b, "/appManagementPolicies");
	path = wbuf_to_str(&b);
	rc = graph_get_json(d->gc, path, assigned_cb, d);
	free(path);
	return rc == 0 ? 0 : 1;
}

static void
tenant_cb(const struct graph_result *res, void *arg)
{
	struct doctor *d = arg;
	char *err = NULL;

	if (res->outcome == GRAPH_CANCELLED)
		return;
	if (res->outcome != GRAPH_OK) {
		read_failed(d, "GET " TENANT_POLICY_PATH, res);
	} else {
		d->pol_tenant = xcalloc(1, sizeof(*d->pol_tenant));
		if (graph_parse_tenant_policy(res->body, res->body_len, d->pol_tenant, &err) == -1)
			doctor_add_line(d, DOCTOR_WARN, CHECK, NULL, "the tenant's policy cannot be "
			    "read: %s", err);
		else if (read_assigned(d) == 0) {
			free(err);
			return;
		}
		free(err);
	}
	doctor_policy_reset(d);
	doctor_advance(d);
}

int
doctor_step_policy(struct doctor *d)
{
	if (d->gc == NULL || !d->signed_in || d->app_oid == NULL)
		return 1;
	return graph_get_json(d->gc, TENANT_POLICY_PATH, tenant_cb, d) == 0 ? 0 : 1;
}
