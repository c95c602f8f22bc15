/*
 * Unit tests: the service principal's read (outbound/graph_sp.h): the path
 * by appId, and its answer parsed, table-driven.
 */
#include "outbound/graph_sp.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define APP_ID "11111111-2222-3333-4444-555555555555"

static void
test_path(void)
{
	char *p = graph_sp_path(APP_ID);

	TAP_STR_EQ(p, "/servicePrincipals(appId='" APP_ID "')?$select=id,appId,passwordCredentials",
	    "path: addressed by appId, with $select");
	free(p);
	p = graph_sp_path("a'b c/..");
	TAP_STR_EQ(p, "/servicePrincipals(appId='a%27%27b%20c%2F..')?$select=id,appId,"
	    "passwordCredentials", "path: quotes doubled, the value escaped");
	free(p);
}

struct parse_case {
	const char *name;
	const char *body;
	int rc;
	size_t n;
	const char *err;	/* a part of the error, when rc is -1 */
};

static const struct parse_case cases[] = {
	{ "the docs' shape, two secrets",
	  "{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#servicePrincipals"
	  "(id,appId,passwordCredentials)/$entity\",\"id\":\"sp-1\",\"appId\":\"" APP_ID "\","
	  "\"passwordCredentials\":[{\"customKeyIdentifier\":null,\"displayName\":\"Terraform\","
	  "\"endDateTime\":\"2027-01-01T00:00:00Z\",\"hint\":\"xyz\",\"keyId\":\"k-1\","
	  "\"secretText\":null,\"startDateTime\":\"2026-01-01T00:00:00Z\"},"
	  "{\"keyId\":\"k-2\",\"displayName\":null,\"hint\":null,\"startDateTime\":null,"
	  "\"endDateTime\":\"2027-02-01T00:00:00.1234567Z\"}]}", 0, 2, NULL },
	{ "no secrets", "{\"id\":\"sp-1\",\"appId\":\"" APP_ID "\",\"passwordCredentials\":[]}",
	  0, 0, NULL },
	{ "passwordCredentials not shown", "{\"id\":\"sp-1\",\"appId\":\"" APP_ID "\"}", 0, 0,
	  NULL },
	{ "another app's service principal",
	  "{\"id\":\"sp-1\",\"appId\":\"99999999-2222-3333-4444-555555555555\"}", -1, 0,
	  "not " APP_ID },
	{ "no appId", "{\"id\":\"sp-1\"}", -1, 0, "(none)" },
	{ "not an object", "[1]", -1, 0, "" },
	{ "not JSON", "<html>", -1, 0, "" },
	{ "an entry without keyId",
	  "{\"id\":\"sp-1\",\"appId\":\"" APP_ID "\",\"passwordCredentials\":[{\"hint\":\"x\"}]}",
	  -1, 0, "keyId" },
	{ "passwordCredentials not a list",
	  "{\"id\":\"sp-1\",\"appId\":\"" APP_ID "\",\"passwordCredentials\":{}}", -1, 0,
	  "passwordCredentials" },
};

static void
test_parse(void)
{
	struct graph_application a;
	char *err;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct parse_case *c = &cases[i];

		err = NULL;
		rc = graph_sp_parse(c->body, strlen(c->body), APP_ID, &a, &err);
		TAP_OK(rc == c->rc && (rc == -1 || a.n_passwords == c->n) &&
		    (rc == 0 || (err != NULL && strstr(err, c->err) != NULL)), "parse: %s", c->name);
		if (rc == -1 && err != NULL)
			printf("# %s\n", err);
		free(err);
		graph_application_clear(&a);
	}
	rc = graph_sp_parse(cases[0].body, strlen(cases[0].body), APP_ID, &a, &err);
	TAP_OK(rc == 0 && strcmp(a.id, "sp-1") == 0 && strcmp(a.passwords[0].key_id, "k-1") == 0 &&
	    strcmp(a.passwords[0].hint, "xyz") == 0 &&
	    strcmp(a.passwords[0].display_name, "Terraform") == 0 &&
	    a.passwords[0].end == 1798761600 && a.passwords[0].start == 1767225600 &&
	    a.passwords[1].hint == NULL && a.passwords[1].display_name == NULL &&
	    a.passwords[1].start == 0 && a.passwords[1].end == 1801440000,
	    "parse: each secret's fields");
	graph_application_clear(&a);
	rc = graph_sp_parse(cases[3].body, strlen(cases[3].body), NULL, &a, &err);
	TAP_OK(rc == 0, "parse: without an appId to match, any appId is taken");
	graph_application_clear(&a);
}

int
main(void)
{
	test_path();
	test_parse();
	return tap_done();
}
