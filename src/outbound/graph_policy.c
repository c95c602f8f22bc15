/*
 * graph_policy: app management policies as Graph shows them
 * (tenantAppManagementPolicy, appManagementPolicy; their
 * passwordCredentialConfiguration restrictions) and the verdict for one
 * app's next client secret.  Pure.
 */
#include "outbound/graph_policy.h"
#include "outbound/graph_parse.h"
#include "lib/json.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define POLICY_JSON_DEPTH_MAX 32
/* Restrictions in one policy: Graph allows each restrictionType once (a handful). */
#define POLICY_RULES_MAX 64
/* Policies in one list answer: Graph assigns at most one; more is not an answer. */
#define POLICY_LIST_MAX 16
/* The longest duration read: 1000 years. */
#define DURATION_MAX_S ((int64_t)1000 * 365 * 86400)

/* --- ISO 8601 durations -------------------------------------------------- */

/* Seconds per designator, date part then time part; the fewest a calendar unit holds. */
static int64_t
unit_seconds(char unit, int in_time)
{
	if (in_time)
		return unit == 'H' ? 3600 : unit == 'M' ? 60 : unit == 'S' ? 1 : 0;
	return unit == 'Y' ? 365 * 86400 : unit == 'M' ? 28 * 86400 :
	    unit == 'W' ? 7 * 86400 : unit == 'D' ? 86400 : 0;
}

int
graph_iso_duration(const char *text, int64_t *secs)
{
	const char *p = text;
	const char *order_date = "YMWD", *order_time = "HMS", *order;
	int64_t total = 0, n, unit;
	int in_time = 0, any = 0;

	*secs = 0;
	if (p == NULL || *p != 'P')
		return -1;
	order = order_date;
	for (p++; *p != '\0';) {
		if (*p == 'T') {
			if (in_time)
				return -1;
			in_time = 1;
			order = order_time;
			p++;
			if (*p == '\0')
				return -1;
			continue;
		}
		if (*p < '0' || *p > '9')
			return -1;
		for (n = 0; *p >= '0' && *p <= '9'; p++) {
			if (n > DURATION_MAX_S)
				return -1;
			n = n * 10 + (*p - '0');
		}
		/* A fraction only on the seconds; it is dropped (a cap rounds down). */
		if (*p == '.' || *p == ',') {
			for (p++; *p >= '0' && *p <= '9'; p++)
				;
			if (*p != 'S' || !in_time)
				return -1;
		}
		order = strchr(order, *p);
		unit = *p != '\0' && order != NULL ? unit_seconds(*p, in_time) : 0;
		if (unit == 0 || n > DURATION_MAX_S / unit)
			return -1;
		total += n * unit;
		if (total > DURATION_MAX_S)
			return -1;
		order++;
		p++;
		any = 1;
	}
	if (!any)
		return -1;
	*secs = total;
	return 0;
}

/* --- policies ------------------------------------------------------------ */

void
graph_app_policy_clear(struct graph_app_policy *p)
{
	if (p == NULL)
		return;
	free(p->id);
	free(p->display_name);
	memset(p, 0, sizeof(*p));
}

/* One passwordCredentialConfiguration into the rule it is (others are skipped). */
static int
parse_rule(const cJSON *item, struct graph_app_policy *p, char **err)
{
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item,
	    "restrictionType"));
	const cJSON *state = cJSON_GetObjectItemCaseSensitive(item, "state");
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(item, "maxLifetime");
	const cJSON *after = cJSON_GetObjectItemCaseSensitive(item, "restrictForAppsCreatedAfterDateTime");
	const cJSON *exclude = cJSON_GetObjectItemCaseSensitive(item, "excludeActors");
	struct graph_policy_rule *r;

	if (type == NULL)
		return 0;
	if (strcmp(type, "passwordLifetime") == 0)
		r = &p->lifetime;
	else if (strcmp(type, "passwordAddition") == 0)
		r = &p->addition;
	else
		return 0;
	memset(r, 0, sizeof(*r));
	r->present = 1;
	/* state came later than the restrictions: none means evaluated (enabled). */
	r->enabled = !cJSON_IsString(state) || strcmp(state->valuestring, "enabled") == 0;
	if (cJSON_IsString(after) && util_parse_time(after->valuestring, &r->created_after) == -1) {
		*err = xstrdup("restrictForAppsCreatedAfterDateTime is not an ISO 8601 time");
		return -1;
	}
	r->exempt_actors = cJSON_IsObject(exclude) && exclude->child != NULL;
	if (r == &p->lifetime &&
	    (!cJSON_IsString(max) || graph_iso_duration(max->valuestring, &r->max_lifetime) == -1)) {
		/* Required with passwordLifetime: a rule without a readable cap caps nothing. */
		*err = xasprintf("passwordLifetime: maxLifetime %s is not an ISO 8601 duration",
		    cJSON_IsString(max) ? max->valuestring : "(absent)");
		r->present = 0;
		return -1;
	}
	return 0;
}

/* A policy object; restrictions under member (applicationRestrictions or restrictions). */
static int
policy_from(const cJSON *obj, const char *member, struct graph_app_policy *p, char **err)
{
	const cJSON *enabled = cJSON_GetObjectItemCaseSensitive(obj, "isEnabled");
	const cJSON *rules, *item;
	int n = 0;

	memset(p, 0, sizeof(*p));
	if (!cJSON_IsObject(obj)) {
		*err = xstrdup("the policy is not an object");
		return -1;
	}
	if (json_get_str(obj, "id", GRAPH_FIELD_MAX, 0, &p->id, err) == -1 ||
	    json_get_str(obj, "displayName", GRAPH_FIELD_MAX, 0, &p->display_name, err) == -1)
		goto fail;
	/* isEnabled defaults to false for the tenant's (tenantAppManagementPolicy). */
	p->enabled = cJSON_IsTrue(enabled);
	rules = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, member),
	    "passwordCredentials");
	if (rules == NULL || cJSON_IsNull(rules))
		return 0;
	if (!cJSON_IsArray(rules) || cJSON_GetArraySize(rules) > POLICY_RULES_MAX) {
		*err = xasprintf("%s.passwordCredentials is not an array of at most %d", member,
		    POLICY_RULES_MAX);
		goto fail;
	}
	cJSON_ArrayForEach(item, rules) {
		if (++n > POLICY_RULES_MAX || parse_rule(item, p, err) == -1)
			goto fail;
	}
	return 0;
fail:
	graph_app_policy_clear(p);
	return -1;
}

int
graph_parse_tenant_policy(const char *body, size_t len, struct graph_app_policy *out,
    char **err)
{
	cJSON *root = json_parse_object(body, len, GRAPH_MAX_RESPONSE, POLICY_JSON_DEPTH_MAX, err);
	int rc;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return -1;
	rc = policy_from(root, "applicationRestrictions", out, err);
	cJSON_Delete(root);
	return rc;
}

int
graph_parse_assigned_policies(const char *body, size_t len, struct graph_app_policy *out,
    int *found, char **err)
{
	cJSON *root = json_parse_object(body, len, GRAPH_MAX_RESPONSE, POLICY_JSON_DEPTH_MAX, err);
	const cJSON *value;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	*found = 0;
	if (root == NULL)
		return -1;
	value = cJSON_GetObjectItemCaseSensitive(root, "value");
	if (!cJSON_IsArray(value) || cJSON_GetArraySize(value) > POLICY_LIST_MAX) {
		*err = xasprintf("\"value\" is not an array of at most %d", POLICY_LIST_MAX);
		goto out;
	}
	rc = 0;
	if (cJSON_GetArraySize(value) > 0) {
		rc = policy_from(cJSON_GetArrayItem(value, 0), "restrictions", out, err);
		*found = rc == 0;
	}
out:
	cJSON_Delete(root);
	return rc;
}

/* Whether r restricts an app created at created (0: unknown, taken to be covered). */
static int
rule_applies(const struct graph_policy_rule *r, int64_t created)
{
	return r->present && r->enabled &&
	    (r->created_after == 0 || created == 0 || created >= r->created_after);
}

void
graph_policy_effective(const struct graph_app_policy *tenant,
    const struct graph_app_policy *assigned, int64_t app_created,
    struct graph_policy_verdict *out)
{
	const struct graph_app_policy *p = assigned != NULL ? assigned : tenant;

	memset(out, 0, sizeof(*out));
	if (p == NULL || !p->enabled)
		return;
	if (rule_applies(&p->addition, app_created) && !p->addition.exempt_actors) {
		out->policy = p;
		out->banned = 1;
		out->created_after = p->addition.created_after;
		return;
	}
	if (rule_applies(&p->lifetime, app_created) && p->lifetime.max_lifetime > 0) {
		out->policy = p;
		out->max_lifetime = p->lifetime.max_lifetime;
		out->created_after = p->lifetime.created_after;
	}
}

int
graph_error_is_password_ban(long status, const struct graph_error *e)
{
	return status == 400 && e != NULL && e->code != NULL &&
	    strcmp(e->code, GRAPH_CODE_PASSWORD_BANNED) == 0;
}
