/*
 * outbound/graph_policy: ISO 8601 durations, the two policy answers (shapes
 * from the Graph docs' examples: tenantappmanagementpolicy-get.md,
 * appmanagementpolicy-post.md) and the verdict for one app.
 */
#include "outbound/graph_parse.h"
#include "outbound/graph_policy.h"
#include "tap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define D 86400LL

static const struct {
	const char *text;
	int rc;
	int64_t secs;
} durations[] = {
	{ "P90D", 0, 90 * D },
	{ "P4DT12H30M5S", 0, 4 * D + 12 * 3600 + 30 * 60 + 5 },
	{ "P1Y", 0, 365 * D },			/* the fewest days a year holds */
	{ "P6M", 0, 6 * 28 * D },		/* ... and a month */
	{ "P2W", 0, 14 * D },
	{ "PT12H", 0, 12 * 3600 },
	{ "PT1.5S", 0, 1 },			/* a fraction rounds down */
	{ "P1Y2M3DT4H5M6S", 0, 365 * D + 56 * D + 3 * D + 4 * 3600 + 5 * 60 + 6 },
	{ "P0D", 0, 0 },
	{ "", -1, 0 },
	{ "P", -1, 0 },
	{ "PT", -1, 0 },
	{ "90D", -1, 0 },
	{ "P90", -1, 0 },
	{ "P1DT", -1, 0 },
	{ "P1D1Y", -1, 0 },			/* out of order */
	{ "P1D1D", -1, 0 },			/* twice */
	{ "PT1H1H", -1, 0 },
	{ "PT1Y", -1, 0 },
	{ "P1H", -1, 0 },
	{ "P1.5D", -1, 0 },			/* fractions only on seconds */
	{ "P-1D", -1, 0 },
	{ "P99999999999999999999D", -1, 0 },
	{ "P1001Y", -1, 0 },
};

static void
test_durations(void)
{
	size_t i;
	int64_t s;

	for (i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		int rc = graph_iso_duration(durations[i].text, &s);

		TAP_OK(rc == durations[i].rc && (rc == -1 || s == durations[i].secs),
		    "duration \"%s\": rc %d, %lld s", durations[i].text, rc, (long long)s);
	}
	TAP_OK(graph_iso_duration(NULL, &s) == -1, "duration NULL is refused");
}

/* The docs' example of the tenant default, enabled, with a cap and a ban from 2019. */
static const char tenant_json[] =
    "{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#policies/"
    "defaultAppManagementPolicy/$entity\",\"id\":\"00000000-0000-0000-0000-000000000000\","
    "\"displayName\":\"Default app management tenant policy\",\"isEnabled\":true,"
    "\"applicationRestrictions\":{\"passwordCredentials\":["
    "{\"restrictionType\":\"passwordAddition\",\"state\":\"enabled\",\"maxLifetime\":null,"
    "\"restrictForAppsCreatedAfterDateTime\":\"2019-10-19T10:37:00Z\"},"
    "{\"restrictionType\":\"passwordLifetime\",\"maxLifetime\":\"P90D\","
    "\"restrictForAppsCreatedAfterDateTime\":\"2014-10-19T10:37:00Z\"},"
    "{\"restrictionType\":\"symmetricKeyLifetime\",\"maxLifetime\":\"P30D\"}],"
    "\"keyCredentials\":[]},"
    "\"servicePrincipalRestrictions\":{\"passwordCredentials\":[],\"keyCredentials\":[]}}";

static void
test_tenant(void)
{
	struct graph_app_policy p;
	struct graph_policy_verdict v;
	char *err = NULL;
	int64_t y2018 = 1514764800, y2020 = 1577836800;

	TAP_OK(graph_parse_tenant_policy(tenant_json, strlen(tenant_json), &p, &err) == 0,
	    "tenant policy parses (%s)", err ? err : "");
	TAP_STR_EQ(p.display_name, "Default app management tenant policy", "tenant: displayName");
	TAP_OK(p.enabled && p.addition.present && p.addition.enabled && p.lifetime.present &&
	    p.lifetime.enabled && p.lifetime.max_lifetime == 90 * D,
	    "tenant: enabled, a ban and a 90-day cap (a rule without state is enabled)");
	graph_policy_effective(&p, NULL, y2018, &v);
	TAP_OK(!v.banned && v.max_lifetime == 90 * D && v.policy == &p,
	    "an app of 2018: capped at 90 days, not banned (the ban is for apps after 2019-10-19)");
	graph_policy_effective(&p, NULL, y2020, &v);
	TAP_OK(v.banned && v.policy == &p && v.created_after > 0, "an app of 2020: banned");
	graph_policy_effective(&p, NULL, 0, &v);
	TAP_OK(v.banned, "an app of unknown age: the ban is taken to apply");
	p.enabled = 0;
	graph_policy_effective(&p, NULL, y2020, &v);
	TAP_OK(!v.banned && v.max_lifetime == 0 && v.policy == NULL, "a disabled policy restricts nothing");
	p.enabled = 1;
	p.addition.enabled = 0;
	graph_policy_effective(&p, NULL, y2020, &v);
	TAP_OK(!v.banned && v.max_lifetime == 90 * D, "a disabled ban: only the cap");
	p.addition.enabled = 1;
	p.addition.exempt_actors = 1;
	graph_policy_effective(&p, NULL, y2020, &v);
	TAP_OK(!v.banned && v.max_lifetime == 90 * D,
	    "a ban with excludeActors is left to Graph (the rotator may be exempt)");
	graph_app_policy_clear(&p);
	free(err);
}

static void
test_assigned(void)
{
	const char *list = "{\"value\":[{\"id\":\"db9d4b58-3488-4da4-9994-49773c454e33\","
	    "\"displayName\":\"Nylas exemption\",\"isEnabled\":true,\"restrictions\":{"
	    "\"passwordCredentials\":[{\"restrictionType\":\"passwordLifetime\",\"state\":"
	    "\"enabled\",\"maxLifetime\":\"P365D\",\"restrictForAppsCreatedAfterDateTime\":null}],"
	    "\"keyCredentials\":[]}}]}";
	const char *none = "{\"@odata.context\":\"x\",\"value\":[]}";
	struct graph_app_policy tenant, mine;
	struct graph_policy_verdict v;
	char *err = NULL;
	int found = -1;

	TAP_OK(graph_parse_tenant_policy(tenant_json, strlen(tenant_json), &tenant, &err) == 0,
	    "tenant policy parses");
	TAP_OK(graph_parse_assigned_policies(list, strlen(list), &mine, &found, &err) == 0 &&
	    found == 1, "assigned policy parses (%s)", err ? err : "");
	TAP_STR_EQ(mine.id, "db9d4b58-3488-4da4-9994-49773c454e33", "assigned: id");
	graph_policy_effective(&tenant, &mine, 1577836800, &v);
	TAP_OK(!v.banned && v.max_lifetime == 365 * D && v.policy == &mine,
	    "the assigned policy replaces the tenant's: no ban, its own cap");
	graph_app_policy_clear(&mine);
	TAP_OK(graph_parse_assigned_policies(none, strlen(none), &mine, &found, &err) == 0 &&
	    found == 0, "no assigned policy");
	graph_policy_effective(NULL, NULL, 0, &v);
	TAP_OK(v.policy == NULL && !v.banned && v.max_lifetime == 0, "no policy: no verdict");
	graph_app_policy_clear(&tenant);
	graph_app_policy_clear(NULL);
	free(err);
}

static void
test_bad(void)
{
	static const char *bad[] = {
		"[]",
		"{\"isEnabled\":true,\"applicationRestrictions\":{\"passwordCredentials\":{}}}",
		"{\"isEnabled\":true,\"applicationRestrictions\":{\"passwordCredentials\":"
		    "[{\"restrictionType\":\"passwordLifetime\",\"maxLifetime\":\"90 days\"}]}}",
		"{\"isEnabled\":true,\"applicationRestrictions\":{\"passwordCredentials\":"
		    "[{\"restrictionType\":\"passwordLifetime\"}]}}",
		"{\"isEnabled\":true,\"applicationRestrictions\":{\"passwordCredentials\":"
		    "[{\"restrictionType\":\"passwordAddition\","
		    "\"restrictForAppsCreatedAfterDateTime\":\"yesterday\"}]}}",
		"{\"id\":7}",
		"not json",
	};
	struct graph_app_policy p;
	struct graph_error e = { 0 };
	size_t i;
	int found;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *err = NULL;

		TAP_OK(graph_parse_tenant_policy(bad[i], strlen(bad[i]), &p, &err) == -1 &&
		    err != NULL && p.id == NULL, "bad tenant policy %zu refused: %s", i,
		    err ? err : "(no error)");
		free(err);
	}
	{
		char *err = NULL;

		TAP_OK(graph_parse_assigned_policies("{\"value\":{}}", 12, &p, &found, &err) == -1,
		    "an assigned list that is no array is refused");
		free(err);
	}
	e.code = (char *)GRAPH_CODE_PASSWORD_BANNED;
	TAP_OK(graph_error_is_password_ban(400, &e), "400 CredentialTypeNotAllowedAsPerAppPolicy is the ban");
	TAP_OK(!graph_error_is_password_ban(403, &e) && !graph_error_is_password_ban(400, NULL),
	    "other statuses and no error are not");
}

int
main(void)
{
	test_durations();
	test_tenant();
	test_assigned();
	test_bad();
	return tap_done();
}
