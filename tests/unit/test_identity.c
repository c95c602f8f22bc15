/*
 * Unit tests: AADSTS error envelopes (every code rekey branches on, missing
 * error_codes, garbage, huge input), token answers, the form body and the
 * token URL.  No network: only the pure helpers are called.
 */
#include "lib/secret.h"
#include "outbound/identity.h"
#include "state/config.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An envelope as the v2.0 endpoint sends it, with the code in both places. */
#define ENVELOPE(code, error) \
	"{\"error\":\"" error "\",\"error_description\":\"AADSTS" #code ": Something about " \
	"it.\\r\\nTrace ID: 0000aaaa-11bb-cccc-dd22-eeeeee333333\\r\\nCorrelation ID: " \
	"aaaa0000-bb11-2222-33cc-444444dddddd\\r\\nTimestamp: 2026-01-01 00:00:00Z\"," \
	"\"error_codes\":[" #code "],\"timestamp\":\"2026-01-01 00:00:00Z\"," \
	"\"trace_id\":\"0000aaaa-11bb-cccc-dd22-eeeeee333333\"," \
	"\"correlation_id\":\"aaaa0000-bb11-2222-33cc-444444dddddd\"," \
	"\"error_uri\":\"https://login.microsoftonline.com/error?code=" #code "\"}"

struct aad_case {
	const char *name;
	const char *body;
	int parses;
	int64_t code;
	enum identity_err kind;
	const char *kind_name;
};

static const struct aad_case aad_cases[] = {
	{ "secret expired", ENVELOPE(7000222, "invalid_client"), 1, 7000222,
	  IDENTITY_ERR_SECRET_EXPIRED, "secret_expired" },
	{ "secret invalid", ENVELOPE(7000215, "invalid_client"), 1, 7000215,
	  IDENTITY_ERR_SECRET_INVALID, "secret_invalid" },
	{ "no credential", ENVELOPE(7000218, "invalid_client"), 1, 7000218,
	  IDENTITY_ERR_NO_CREDENTIAL, "no_credential" },
	{ "bad assertion signature", ENVELOPE(700027, "invalid_client"), 1, 700027,
	  IDENTITY_ERR_BAD_ASSERTION_SIGNATURE, "bad_assertion_signature" },
	{ "assertion time", ENVELOPE(700024, "invalid_client"), 1, 700024,
	  IDENTITY_ERR_ASSERTION_TIME, "assertion_time" },
	{ "app not in tenant", ENVELOPE(700016, "unauthorized_client"), 1, 700016,
	  IDENTITY_ERR_APP_NOT_IN_TENANT, "app_not_in_tenant" },
	{ "tenant not found", ENVELOPE(90002, "invalid_request"), 1, 90002,
	  IDENTITY_ERR_TENANT_NOT_FOUND, "tenant_not_found" },
	{ "app disabled", ENVELOPE(7000112, "unauthorized_client"), 1, 7000112,
	  IDENTITY_ERR_APP_DISABLED, "app_disabled" },
	{ "another code is kept", ENVELOPE(50126, "invalid_grant"), 1, 50126,
	  IDENTITY_ERR_OTHER, "other" },
	{ "codes win over the text",
	  "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid.\","
	  "\"error_codes\":[7000222,7000215]}", 1, 7000222, IDENTITY_ERR_SECRET_EXPIRED,
	  "secret_expired" },
	{ "missing error_codes: from the text",
	  "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client "
	  "secret provided.\"}", 1, 7000215, IDENTITY_ERR_SECRET_INVALID, "secret_invalid" },
	{ "null error_codes: from the text",
	  "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS90002: Tenant x not "
	  "found.\",\"error_codes\":null}", 1, 90002, IDENTITY_ERR_TENANT_NOT_FOUND,
	  "tenant_not_found" },
	{ "empty error_codes: not from the text",
	  "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: x\","
	  "\"error_codes\":[]}", 1, 0, IDENTITY_ERR_OTHER, "other" },
	{ "error_codes of strings",
	  "{\"error\":\"invalid_client\",\"error_codes\":[\"7000215\"]}", 1, 0,
	  IDENTITY_ERR_OTHER, "other" },
	{ "error_codes not an array",
	  "{\"error\":\"invalid_client\",\"error_codes\":7000215}", 1, 0, IDENTITY_ERR_OTHER,
	  "other" },
	{ "negative code", "{\"error\":\"x\",\"error_codes\":[-7000215]}", 1, 0,
	  IDENTITY_ERR_OTHER, "other" },
	{ "fractional code", "{\"error\":\"x\",\"error_codes\":[7000215.5]}", 1, 0,
	  IDENTITY_ERR_OTHER, "other" },
	{ "text code not at the start",
	  "{\"error\":\"x\",\"error_description\":\"Error AADSTS7000215: x\"}", 1, 0,
	  IDENTITY_ERR_OTHER, "other" },
	{ "text code without a colon",
	  "{\"error\":\"x\",\"error_description\":\"AADSTS7000215 x\"}", 1, 0,
	  IDENTITY_ERR_OTHER, "other" },
	{ "text code without digits", "{\"error\":\"x\",\"error_description\":\"AADSTS: x\"}", 1,
	  0, IDENTITY_ERR_OTHER, "other" },
	{ "text code too long",
	  "{\"error\":\"x\",\"error_description\":\"AADSTS12345678901234567890: x\"}", 1, 0,
	  IDENTITY_ERR_OTHER, "other" },
	{ "error only", "{\"error\":\"temporarily_unavailable\"}", 1, 0, IDENTITY_ERR_OTHER,
	  "other" },
	{ "error_codes only", "{\"error_codes\":[700016]}", 1, 700016,
	  IDENTITY_ERR_APP_NOT_IN_TENANT, "app_not_in_tenant" },
	{ "not JSON", "<html>Service Unavailable</html>", 0, 0, IDENTITY_ERR_NONE, NULL },
	{ "JSON array", "[{\"error\":\"x\"}]", 0, 0, IDENTITY_ERR_NONE, NULL },
	{ "object without error", "{\"access_token\":\"x\"}", 0, 0, IDENTITY_ERR_NONE, NULL },
	{ "error not a string, no codes", "{\"error\":{\"code\":\"x\"}}", 0, 0,
	  IDENTITY_ERR_NONE, NULL },
	{ "trailing garbage", "{\"error\":\"x\"} {", 0, 0, IDENTITY_ERR_NONE, NULL },
	{ "empty", "", 0, 0, IDENTITY_ERR_NONE, NULL },
};

static void
test_aadsts(void)
{
	size_t i;

	for (i = 0; i < sizeof(aad_cases) / sizeof(aad_cases[0]); i++) {
		const struct aad_case *c = &aad_cases[i];
		struct identity_error e;
		int rc = identity_parse_error(c->body, strlen(c->body), &e);

		TAP_OK((rc == 0) == c->parses, "aadsts: %s %s", c->name,
		    c->parses ? "parses" : "is not an envelope");
		if (rc != 0)
			continue;
		TAP_OK(e.code == c->code, "aadsts: %s: code %lld (got %lld)", c->name,
		    (long long)c->code, (long long)e.code);
		TAP_OK(e.kind == c->kind, "aadsts: %s: kind", c->name);
		TAP_STR_EQ(identity_err_name(e.kind), c->kind_name, "aadsts: %s: kind name",
		    c->name);
		identity_error_clear(&e);
	}
}

static void
test_envelope_fields(void)
{
	const char *body = ENVELOPE(7000222, "invalid_client");
	struct identity_error e;

	if (identity_parse_error(body, strlen(body), &e) != 0) {
		TAP_OK(0, "fields: parses");
		return;
	}
	TAP_STR_EQ(e.error, "invalid_client", "fields: error");
	TAP_STR_EQ(e.description, "AADSTS7000222: Something about it.",
	    "fields: description cut at its first line break");
	TAP_STR_EQ(e.trace_id, "0000aaaa-11bb-cccc-dd22-eeeeee333333", "fields: trace_id");
	TAP_STR_EQ(e.correlation_id, "aaaa0000-bb11-2222-33cc-444444dddddd",
	    "fields: correlation_id");
	TAP_STR_EQ(e.timestamp, "2026-01-01 00:00:00Z", "fields: timestamp");
	identity_error_clear(&e);
	TAP_OK(e.error == NULL && e.trace_id == NULL, "fields: clear empties");
}

static void
test_huge(void)
{
	size_t n = IDENTITY_MAX_RESPONSE + 10, desc = IDENTITY_MAX_RESPONSE - 200;
	char *big = malloc(n + 1);
	struct identity_error e;
	int len;

	/* Over the response cap: refused before parsing. */
	len = snprintf(big, n + 1, "{\"error\":\"x\",\"error_description\":\"");
	memset(big + len, 'a', n - (size_t)len - 2);
	memcpy(big + n - 2, "\"}", 3);
	TAP_OK(identity_parse_error(big, n, &e) == -1, "huge: an answer over %d bytes is refused",
	    IDENTITY_MAX_RESPONSE);
	/* Under the cap: a long description is kept only up to its bound. */
	len = snprintf(big, n + 1, "{\"error\":\"x\",\"error_codes\":[7000222],"
	    "\"error_description\":\"AADSTS7000222: ");
	memset(big + len, 'b', desc);
	memcpy(big + len + desc, "\"}", 3);
	if (identity_parse_error(big, strlen(big), &e) != 0) {
		TAP_OK(0, "huge: long description parses");
	} else {
		TAP_OK(e.code == 7000222, "huge: code read");
		TAP_OK(strlen(e.description) == IDENTITY_DESCRIPTION_MAX,
		    "huge: description cut to %d bytes", IDENTITY_DESCRIPTION_MAX);
		identity_error_clear(&e);
	}
	/* Deep nesting is refused without recursion. */
	memset(big, '[', 5000);
	TAP_OK(identity_parse_error(big, 5000, &e) == -1, "huge: deep nesting is refused");
	free(big);
}

struct token_case {
	const char *name;
	const char *body;
	int ok;
	int64_t expires_in;
};

static const struct token_case token_cases[] = {
	{ "v2.0 answer", "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"ext_expires_in\":3599,"
	  "\"access_token\":\"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.sig\"}", 1, 3599 },
	{ "v1.0 strings", "{\"token_type\":\"Bearer\",\"expires_in\":\"3599\","
	  "\"access_token\":\"abc\"}", 1, 3599 },
	{ "lowercase bearer", "{\"token_type\":\"bearer\",\"access_token\":\"abc\","
	  "\"expires_in\":60}", 1, 60 },
	{ "no expires_in", "{\"token_type\":\"Bearer\",\"access_token\":\"abc\"}", 1, 0 },
	{ "no token_type", "{\"access_token\":\"abc\",\"expires_in\":10}", 1, 10 },
	{ "other token_type", "{\"token_type\":\"pop\",\"access_token\":\"abc\"}", 0, 0 },
	{ "no access_token", "{\"token_type\":\"Bearer\",\"expires_in\":3599}", 0, 0 },
	{ "empty access_token", "{\"access_token\":\"\"}", 0, 0 },
	{ "access_token a number", "{\"access_token\":5}", 0, 0 },
	{ "expires_in negative", "{\"access_token\":\"abc\",\"expires_in\":-1}", 0, 0 },
	{ "expires_in junk string", "{\"access_token\":\"abc\",\"expires_in\":\"soon\"}", 0, 0 },
	{ "expires_in too large", "{\"access_token\":\"abc\",\"expires_in\":99999999}", 0, 0 },
	{ "not JSON", "access_token=abc", 0, 0 },
	{ "array", "[]", 0, 0 },
};

static void
test_tokens(void)
{
	size_t i;

	for (i = 0; i < sizeof(token_cases) / sizeof(token_cases[0]); i++) {
		const struct token_case *c = &token_cases[i];
		struct secret *tok = NULL;
		int64_t exp = -5;
		char *err = NULL;
		int rc = identity_parse_token(c->body, strlen(c->body), &tok, &exp, &err);

		TAP_OK((rc == 0) == c->ok, "token: %s %s%s%s", c->name,
		    c->ok ? "parses" : "is refused", err ? ": " : "", err ? err : "");
		if (rc == 0) {
			TAP_OK(exp == c->expires_in, "token: %s: expires_in %lld", c->name,
			    (long long)c->expires_in);
			TAP_OK(tok != NULL && tok->len > 0, "token: %s: token held", c->name);
		} else {
			TAP_OK(tok == NULL && err != NULL, "token: %s: no token, an error", c->name);
		}
		secret_free(tok);
		free(err);
	}
}

static void
test_token_value(void)
{
	const char *body = "{\"token_type\":\"Bearer\",\"expires_in\":3599,"
	    "\"access_token\":\"tok\\/en\\u0041\"}";
	struct secret *tok = NULL;
	int64_t exp;
	char *err = NULL;

	TAP_OK(identity_parse_token(body, strlen(body), &tok, &exp, &err) == 0,
	    "token: escapes parse");
	TAP_OK(tok != NULL && secret_equal(tok, "tok/enA", 7), "token: value unescaped");
	secret_free(tok);
	free(err);
}

static void
test_form(void)
{
	struct secret *secret = secret_new("a+b/c=d&e f%~._-\"Z9", 19);
	struct secret *assertion = secret_new("hdr.claims.sig-_", 16);
	struct secret *body;

	body = identity_token_body("11111111-2222-3333-4444-555555555555",
	    "https://graph.microsoft.com/.default", NULL, secret);
	TAP_STR_EQ((const char *)body->data,
	    "client_id=11111111-2222-3333-4444-555555555555"
	    "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
	    "&grant_type=client_credentials"
	    "&client_secret=a%2Bb%2Fc%3Dd%26e%20f%25~._-%22Z9",
	    "form: secret body, special characters escaped");
	secret_free(body);
	body = identity_token_body("app", "https://graph.microsoft.us/.default", assertion, NULL);
	TAP_STR_EQ((const char *)body->data,
	    "client_id=app&scope=https%3A%2F%2Fgraph.microsoft.us%2F.default"
	    "&grant_type=client_credentials"
	    "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
	    "&client_assertion=hdr.claims.sig-_", "form: assertion body");
	secret_free(body);
	secret_free(secret);
	secret = secret_new("\xc3\xa9\x01", 3);
	body = identity_token_body("x", "s", NULL, secret);
	TAP_OK(strstr((const char *)body->data, "&client_secret=%C3%A9%01") != NULL,
	    "form: non-ASCII and control bytes percent-encoded");
	secret_free(body);
	secret_free(secret);
	secret_free(assertion);
}

struct scope_case {
	const char *graph_base;
	const char *scope;	/* NULL: refused */
};

/* The national clouds' Graph hosts: spec/graph.md, "Details checked later". */
static const struct scope_case scope_cases[] = {
	{ "https://graph.microsoft.com/v1.0", "https://graph.microsoft.com/.default" },
	{ "https://graph.microsoft.us/v1.0", "https://graph.microsoft.us/.default" },
	{ "https://dod-graph.microsoft.us/v1.0", "https://dod-graph.microsoft.us/.default" },
	{ "https://microsoftgraph.chinacloudapi.cn/v1.0",
	  "https://microsoftgraph.chinacloudapi.cn/.default" },
	{ "https://graph.microsoft.com", "https://graph.microsoft.com/.default" },
	{ "https://graph.microsoft.com/", "https://graph.microsoft.com/.default" },
	{ "https://graph.microsoft.com/beta?x=1", "https://graph.microsoft.com/.default" },
	{ "HTTPS://Graph.Microsoft.US/v1.0", "https://graph.microsoft.us/.default" },
	{ "https://graph.microsoft.us:443/v1.0", "https://graph.microsoft.us/.default" },
	{ "https://127.0.0.1:8443/v1.0", "https://127.0.0.1:8443/.default" },
	{ "http://127.0.0.1:80/v1.0", "http://127.0.0.1/.default" },
	{ "http://[::1]:9001/v1.0", "http://[::1]:9001/.default" },
	{ "graph.microsoft.com/v1.0", NULL },
	{ "https:///v1.0", NULL },
	{ "://graph.microsoft.com", NULL },
	{ "https://user@graph.microsoft.com/v1.0", NULL },
	{ "", NULL },
};

static void
test_scopes(void)
{
	char *scope;
	size_t i;

	for (i = 0; i < sizeof(scope_cases) / sizeof(scope_cases[0]); i++) {
		scope = identity_graph_scope(scope_cases[i].graph_base);
		if (scope_cases[i].scope == NULL)
			TAP_OK(scope == NULL, "scope of '%s': refused (got %s)",
			    scope_cases[i].graph_base, scope ? scope : "NULL");
		else
			TAP_STR_EQ(scope ? scope : "(null)", scope_cases[i].scope, "scope of '%s'",
			    scope_cases[i].graph_base);
		free(scope);
	}
	TAP_OK(identity_graph_scope(NULL) == NULL, "scope of NULL: refused");
}

struct url_case {
	const char *base;
	const char *tenant;
	const char *url;
};

static const struct url_case url_cases[] = {
	{ "https://login.microsoftonline.com", "contoso.onmicrosoft.com",
	  "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token" },
	{ "https://login.microsoftonline.com/", "72f988bf-86f1-41af-91ab-2d7cd011db47",
	  "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token" },
	{ "http://127.0.0.1:8080//", "t/../x", "http://127.0.0.1:8080/t%2F..%2Fx/oauth2/v2.0/token" },
};

static void
test_urls(void)
{
	size_t i;

	for (i = 0; i < sizeof(url_cases) / sizeof(url_cases[0]); i++) {
		char *u = identity_token_url(url_cases[i].base, url_cases[i].tenant);

		TAP_STR_EQ(u, url_cases[i].url, "url: %s + %s", url_cases[i].base,
		    url_cases[i].tenant);
		free(u);
	}
}

static void
test_codes(void)
{
	static const int64_t codes[] = { 7000222, 7000215, 7000218, 700027, 700024, 700016,
	    90002, 7000112 };
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		TAP_OK(identity_err_from_code(codes[i]) == (enum identity_err)(i + 1),
		    "codes: %lld maps to its own kind", (long long)codes[i]);
	TAP_OK(identity_err_from_code(0) == IDENTITY_ERR_OTHER, "codes: 0 is other");
	TAP_OK(identity_err_from_code(-1) == IDENTITY_ERR_OTHER, "codes: -1 is other");
	TAP_STR_EQ(identity_err_name(IDENTITY_ERR_NONE), "none", "codes: none has a name");
}

static void
test_config_errors(void)
{
	char name[] = "prod", base[] = "https://login.microsoftonline.com", tenant[] = "t";
	char client[] = "c", cert[] = "/nonexistent/rotator.crt", key[] = "/nonexistent/rotator.key";
	char graph[] = "graph.microsoft.com/v1.0";
	struct secret *empty = secret_new("", 0);
	struct config_app app;
	char *err = NULL;

	memset(&app, 0, sizeof(app));
	app.name = name;
	app.azure_login_base = base;
	app.azure_tenant_id = tenant;
	TAP_OK(identity_rotator_new(NULL, &app, &err) == NULL && err != NULL &&
	    strstr(err, "rotator_client_id") != NULL, "config: a rotator needs its settings");
	free(err);
	err = NULL;
	app.rotator_client_id = client;
	app.rotator_cert_file = cert;
	app.rotator_key_file = key;
	app.graph_base = graph;
	TAP_OK(identity_rotator_new(NULL, &app, &err) == NULL && err != NULL &&
	    strstr(err, "graph_base") != NULL, "config: a graph_base without a host is refused");
	free(err);
	err = NULL;
	app.graph_base = base;
	TAP_OK(identity_rotator_new(NULL, &app, &err) == NULL && err != NULL &&
	    strstr(err, cert) != NULL, "config: a missing certificate is named");
	free(err);
	app.azure_client_id = client;
	TAP_OK(identity_probe_secret(NULL, &app, empty, NULL, NULL) == -1,
	    "probe: an empty secret is not sent");
	secret_free(empty);
}

int
main(void)
{
	test_aadsts();
	test_envelope_fields();
	test_huge();
	test_tokens();
	test_token_value();
	test_form();
	test_scopes();
	test_urls();
	test_codes();
	test_config_errors();
	return tap_done();
}
