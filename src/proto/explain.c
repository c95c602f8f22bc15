/*
 * explain: one line per known provider error, "what it means: the fix".
 *
 * AADSTS meanings: Microsoft Entra "authentication and authorization error
 * codes" (MicrosoftDocs/entra-docs, docs/identity-platform/reference-error-codes.md,
 * and https://login.microsoftonline.com/error?code=N).  Graph codes: Graph
 * docs "Microsoft Graph error responses" (microsoft-graph-docs-contrib,
 * concepts/errors.md) and application-addpassword ("Permissions":
 * Application.ReadWrite.OwnedBy needs the caller to own the app).  Nylas
 * types: the v3 error envelope (spec/nylas.md; nylas-nodejs src/models/error.ts).
 */
#include "proto/explain.h"

#include <stddef.h>
#include <string.h>

struct explain_aad {
	int64_t code;
	const char *text;
};

static const struct explain_aad explain_aad_table[] = {
	/* InvalidClientSecretExpiredKeysProvided. */
	{ 7000222, "the client secret has expired: rotate now (rekey rotate -c FILE APP)" },
	/* "Invalid client secret provided": deleted, mistyped, or the secret's ID pasted. */
	{ 7000215, "the client secret is not valid (deleted, mistyped, or its secret ID "
	    "given instead of its value): put the secret's value in current_secret_file, "
	    "or rotate (rekey rotate -c FILE APP)" },
	/* "The request body must contain ... 'client_assertion' or 'client_secret'". */
	{ 7000218, "the token request carried no credential: set current_secret_file "
	    "(secret) or rotator_cert_file and rotator_key_file (certificate)" },
	/* "Client assertion failed signature validation." */
	{ 700027, "the certificate rekey signs with is not registered on the rotator app "
	    "registration: upload rotator_cert_file's certificate there (Certificates & "
	    "secrets), or point rotator_key_file at the key that matches it" },
	/* "Client assertion is not within its valid time range." */
	{ 700024, "the signed assertion is outside its valid time range: fix this host's "
	    "clock (NTP)" },
	/* UnauthorizedClientApplicationNotFoundInDirectory ("Application ... not found in the directory"). */
	{ 700016, "the application id is not found in the tenant: check the client id "
	    "(rotator_client_id or azure_client_id) and azure_tenant_id, or grant admin "
	    "consent in that tenant" },
	/* InvalidTenantName: "The tenant name wasn't found". */
	{ 90002, "the tenant is not found: check azure_tenant_id (and that azure_login_base is "
	    "the tenant's cloud)" },
	/* UnauthorizedClientApplicationDisabled: "Application is disabled". */
	{ 7000112, "the application is disabled in the tenant: enable it (Enterprise "
	    "applications > Properties > Enabled for users to sign-in)" },
};

#define EXPLAIN_AAD_LEN (sizeof(explain_aad_table) / sizeof(explain_aad_table[0]))

const char *
explain_aadsts(int64_t code)
{
	size_t i;

	for (i = 0; i < EXPLAIN_AAD_LEN; i++)
		if (explain_aad_table[i].code == code)
			return explain_aad_table[i].text;
	return NULL;
}

struct explain_http {
	long status;
	const char *code;	/* NULL: any code with this status */
	const char *text;
};

static const struct explain_http explain_graph_table[] = {
	{ 403, "Authorization_RequestDenied", "the rotator needs Application.ReadWrite.OwnedBy "
	    "(admin consent) and its service principal must be an owner of the app" },
	{ 403, NULL, "Graph refuses the rotator: it needs Application.ReadWrite.OwnedBy "
	    "(admin consent) and its service principal must be an owner of the app" },
	{ 401, NULL, "Graph refuses the rotator's token: check that the rotator app "
	    "registration is in azure_tenant_id and that admin consent was granted" },
	{ 404, "Request_ResourceNotFound", "the app registration is not found: check "
	    "azure_client_id (the application (client) id, not the object id)" },
	{ 404, NULL, "not found in Graph: check azure_client_id and azure_tenant_id" },
	{ 400, "CredentialInvalidLifetimeAsPerAppPolicy", "the tenant's app management "
	    "policy refuses the secret lifetime: lower secret_lifetime" },
};

static const struct explain_http explain_nylas_table[] = {
	{ 401, "api.authentication_error", "Nylas refuses the API key: check nylas_api_key_file "
	    "and that nylas_api_base is the application's region (us or eu)" },
	{ 401, NULL, "Nylas refuses the API key: check nylas_api_key_file and that nylas_api_base "
	    "is the application's region (us or eu)" },
	{ 403, NULL, "the Nylas API key may not do this: use an API key of the application "
	    "itself" },
	{ 404, "api.not_found_error", "not found in Nylas: check the application (the API "
	    "key's region and application) and create the Microsoft connector" },
	{ 404, NULL, "not found in Nylas: check nylas_api_base and the application" },
};

/* The first row of a table matching status and code exactly, else status with any code. */
static const char *
explain_http_lookup(const struct explain_http *t, size_t n, long status, const char *code)
{
	const char *any = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (t[i].status != status)
			continue;
		if (t[i].code == NULL) {
			if (any == NULL)
				any = t[i].text;
		} else if (code != NULL && strcmp(t[i].code, code) == 0) {
			return t[i].text;
		}
	}
	return any;
}

const char *
explain_graph(long http_status, const char *graph_code)
{
	return explain_http_lookup(explain_graph_table,
	    sizeof(explain_graph_table) / sizeof(explain_graph_table[0]), http_status, graph_code);
}

const char *
explain_nylas(long http_status, const char *nylas_type)
{
	return explain_http_lookup(explain_nylas_table,
	    sizeof(explain_nylas_table) / sizeof(explain_nylas_table[0]), http_status, nylas_type);
}
