/*
 * Unit tests: explain's wording of provider errors.  Every code rekey
 * branches on has a line with its fix; unknown codes give NULL; a Graph or
 * Nylas status without a known code falls back to the status's line.
 */
#include "proto/explain.h"
#include "tap.h"

#include <stdint.h>
#include <string.h>

struct aad_case {
	int64_t code;
	const char *must_contain;
};

static const struct aad_case aad_cases[] = {
	{ 7000222, "rekey rotate -c FILE APP" },
	{ 7000215, "current_secret_file" },
	{ 7000218, "rotator_cert_file" },
	{ 700027, "upload rotator_cert_file's certificate there" },
	{ 700024, "clock" },
	{ 700016, "not found in the tenant" },
	{ 90002, "azure_tenant_id" },
	{ 7000112, "disabled" },
};

static void
test_aadsts(void)
{
	size_t i;

	for (i = 0; i < sizeof(aad_cases) / sizeof(aad_cases[0]); i++) {
		const char *t = explain_aadsts(aad_cases[i].code);

		TAP_OK(t != NULL && strstr(t, aad_cases[i].must_contain) != NULL,
		    "AADSTS%lld: \"%s\"", (long long)aad_cases[i].code, aad_cases[i].must_contain);
	}
	TAP_OK(explain_aadsts(0) == NULL, "no code: NULL");
	TAP_OK(explain_aadsts(50058) == NULL, "a code rekey does not know: NULL");
	TAP_OK(explain_aadsts(-7000222) == NULL, "a negative code: NULL");
}

static void
test_graph(void)
{
	const char *t;

	TAP_STR_EQ(explain_graph(403, "Authorization_RequestDenied"),
	    "the rotator needs Application.ReadWrite.OwnedBy (admin consent) and its service "
	    "principal must be an owner of the app", "Graph 403 Authorization_RequestDenied");
	t = explain_graph(403, "SomethingElse");
	TAP_OK(t != NULL && strstr(t, "Application.ReadWrite.OwnedBy") != NULL,
	    "Graph 403 with another code: the permission line");
	t = explain_graph(403, NULL);
	TAP_OK(t != NULL && strstr(t, "owner") != NULL, "Graph 403 without a code");
	t = explain_graph(404, "Request_ResourceNotFound");
	TAP_OK(t != NULL && strstr(t, "azure_client_id") != NULL, "Graph 404");
	t = explain_graph(400, "CredentialInvalidLifetimeAsPerAppPolicy");
	TAP_OK(t != NULL && strstr(t, "secret_lifetime") != NULL, "Graph lifetime policy");
	TAP_OK(explain_graph(400, "Request_BadRequest") == NULL, "Graph 400 otherwise: NULL");
	TAP_OK(explain_graph(500, NULL) == NULL, "Graph 500: NULL");
	TAP_OK(explain_graph(200, "Authorization_RequestDenied") == NULL,
	    "a code under another status: NULL");
}

static void
test_nylas(void)
{
	const char *t;

	t = explain_nylas(401, "api.authentication_error");
	TAP_OK(t != NULL && strstr(t, "API key") != NULL && strstr(t, "region") != NULL,
	    "Nylas 401 api.authentication_error: key or region");
	TAP_OK(explain_nylas(401, NULL) != NULL, "Nylas 401 without a type");
	t = explain_nylas(404, "api.not_found_error");
	TAP_OK(t != NULL && strstr(t, "connector") != NULL, "Nylas 404");
	TAP_OK(explain_nylas(429, "api.rate_limit_error") == NULL, "Nylas 429: NULL");
	TAP_OK(explain_nylas(0, NULL) == NULL, "no answer: NULL");
}

int
main(void)
{
	test_aadsts();
	test_graph();
	test_nylas();
	return tap_done();
}
