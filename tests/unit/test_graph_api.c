/*
 * Unit tests: Graph's error envelope and its classification (concurrent
 * update, lifetime policy), applications and passwordCredentials, addPassword,
 * owners, users, subscriptions, ISO 8601 times, URLs and bodies.  The JSON
 * follows the shapes of the Graph documentation.  No network.
 */
#include "lib/secret.h"
#include "outbound/graph.h"
#include "tap.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
/* A string literal and its length, for the parsers that take both. */
#define S(lit) lit, strlen(lit)

/* --- times -------------------------------------------------------------- */

struct time_case {
	const char *text;
	int ok;
	int64_t t;
};

static const struct time_case time_cases[] = {
	{ "2026-01-01T00:00:00Z", 1, 1767225600 },
	{ "2021-09-09T19:50:29.3086381Z", 1, 1631217029 },
	{ "2023-02-15T21:38:02.84925Z", 1, 1676497082 },
	{ "2024-03-05T13:14:55", 1, 1709644495 },
	{ "2026-01-01T02:00:00+02:00", 1, 1767225600 },
	{ "2025-12-31T18:30:00-05:30", 1, 1767225600 },
	{ "2024-02-29T12:00:00Z", 1, 1709208000 },
	{ "1970-01-01T00:00:00Z", 1, 0 },
	{ "0001-01-01T00:00:00Z", 1, -62135596800 },
	{ "9999-12-31T23:59:59Z", 1, 253402300799 },
	{ "2023-02-29T00:00:00Z", 0, 0 },
	{ "2026-13-01T00:00:00Z", 0, 0 },
	{ "2026-00-01T00:00:00Z", 0, 0 },
	{ "2026-04-31T00:00:00Z", 0, 0 },
	{ "2026-01-01T24:00:00Z", 0, 0 },
	{ "2026-01-01T00:60:00Z", 0, 0 },
	{ "2026-01-01T00:00:60Z", 0, 0 },
	{ "2026-01-01T00:00Z", 0, 0 },
	{ "2026-01-01", 0, 0 },
	{ "2026-01-01 00:00:00Z", 0, 0 },
	{ "2026-01-01T00:00:00.Z", 0, 0 },
	{ "2026-01-01T00:00:00ZZ", 0, 0 },
	{ "2026-01-01T00:00:00z", 0, 0 },
	{ "2026-01-01T00:00:00+2:00", 0, 0 },
	{ "2026-01-01T00:00:00+02:00x", 0, 0 },
	{ "+2026-01-01T00:00:00Z", 0, 0 },
	{ "", 0, 0 },
};

static void
test_times(void)
{
	size_t i;

	for (i = 0; i < LEN(time_cases); i++) {
		const struct time_case *c = &time_cases[i];
		int64_t t = 12345;
		int rc = util_parse_time(c->text, &t);

		TAP_OK((rc == 0) == c->ok, "time: \"%s\" %s", c->text, c->ok ? "parses" : "is refused");
		if (c->ok)
			TAP_OK(t == c->t, "time: \"%s\" is %lld (got %lld)", c->text,
			    (long long)c->t, (long long)t);
	}
	TAP_OK(util_parse_time(NULL, NULL) == -1, "time: NULL is refused");
}

/* --- errors ------------------------------------------------------------- */

#define NOT_FOUND_BODY \
	"{\"error\":{\"code\":\"Request_ResourceNotFound\",\"message\":\"Resource " \
	"'0c7ad4c4-0000-4f5e-8e58-2bc2b2c4d1a6' does not exist or one of its queried " \
	"reference-property objects are not present.\",\"innerError\":{\"date\":" \
	"\"2026-01-01T00:00:00\",\"request-id\":\"5f1a7c8e-1111-4a4a-9c9c-000000000001\"," \
	"\"client-request-id\":\"5f1a7c8e-1111-4a4a-9c9c-000000000002\"}}}"
#define CONCURRENCY_409 \
	"{\"error\":{\"code\":\"Directory_ConcurrencyViolation\",\"message\":\"Error due to " \
	"concurrent requests being made to the tenant. Please wait briefly and retry.\"," \
	"\"innerError\":{\"client-request-id\":\"c4d0fd7d\",\"date\":\"2026-03-29T13:23:55\"," \
	"\"request-id\":\"c4d0fd7d-b1b6\"}}}"
#define CONCURRENCY_400 \
	"{\"error\":{\"code\":\"Request_BadRequest\",\"message\":\"Error due to concurrent " \
	"requests being made to the tenant. Please wait briefly and retry.\"}}"
#define LIFETIME_BODY \
	"{\"error\":{\"code\":\"CredentialInvalidLifetimeAsPerAppPolicy\",\"message\":" \
	"\"Credential lifetime exceeds the max value allowed as per assigned policy 'p1'.\"," \
	"\"details\":[{\"code\":\"InvalidKeyEndDate\",\"message\":\"Credential lifetime exceeds " \
	"the max value allowed as per assigned policy 'p1'.\",\"target\":\"EndDate\"}]," \
	"\"innerError\":{\"date\":\"2024-03-05T13:14:55\",\"request-id\":\"r-1\"," \
	"\"client-request-id\":\"c-1\"}}}"
#define FORBIDDEN_BODY \
	"{\"error\":{\"code\":\"Authorization_RequestDenied\",\"message\":\"Insufficient " \
	"privileges to complete the operation.\",\"innererror\":{\"request-id\":\"r-2\"}}}"

struct error_case {
	const char *name;
	long status;
	const char *body;
	int parses;
	const char *code;
	const char *request_id;
	const char *detail_code;
	enum http_verdict verdict;
	enum http_outcome http;		/* what http_client reported */
	enum graph_outcome outcome;
};

static const struct error_case error_cases[] = {
	{ "404 not found", 404, NOT_FOUND_BODY, 1, "Request_ResourceNotFound",
	  "5f1a7c8e-1111-4a4a-9c9c-000000000001", NULL, HTTP_VERDICT_DEFAULT,
	  HTTP_OUTCOME_PERMANENT, GRAPH_NOT_FOUND },
	{ "409 concurrency", 409, CONCURRENCY_409, 1, "Directory_ConcurrencyViolation",
	  "c4d0fd7d-b1b6", NULL, HTTP_VERDICT_RETRY, HTTP_OUTCOME_PERMANENT, GRAPH_RETRYABLE },
	{ "409 concurrency after retries", 409, CONCURRENCY_409, 1,
	  "Directory_ConcurrencyViolation", "c4d0fd7d-b1b6", NULL, HTTP_VERDICT_RETRY,
	  HTTP_OUTCOME_RETRYABLE, GRAPH_RETRYABLE },
	{ "400 concurrency by its sentence", 400, CONCURRENCY_400, 1, "Request_BadRequest",
	  NULL, NULL, HTTP_VERDICT_RETRY, HTTP_OUTCOME_PERMANENT, GRAPH_RETRYABLE },
	{ "503 concurrency", 503, CONCURRENCY_409, 1, "Directory_ConcurrencyViolation",
	  "c4d0fd7d-b1b6", NULL, HTTP_VERDICT_RETRY, HTTP_OUTCOME_RETRYABLE, GRAPH_RETRYABLE },
	{ "500 with the sentence is not concurrency", 500, CONCURRENCY_400, 1,
	  "Request_BadRequest", NULL, NULL, HTTP_VERDICT_DEFAULT, HTTP_OUTCOME_PERMANENT,
	  GRAPH_PERMANENT },
	{ "lifetime policy", 400, LIFETIME_BODY, 1, "CredentialInvalidLifetimeAsPerAppPolicy",
	  "r-1", "InvalidKeyEndDate", HTTP_VERDICT_PERMANENT, HTTP_OUTCOME_PERMANENT,
	  GRAPH_LIFETIME_POLICY },
	{ "403 denied, lowercase innererror", 403, FORBIDDEN_BODY, 1,
	  "Authorization_RequestDenied", "r-2", NULL, HTTP_VERDICT_DEFAULT,
	  HTTP_OUTCOME_PERMANENT, GRAPH_PERMANENT },
	{ "429 throttled", 429, "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"x\"}}", 1,
	  "TooManyRequests", NULL, NULL, HTTP_VERDICT_DEFAULT, HTTP_OUTCOME_RETRYABLE,
	  GRAPH_RETRYABLE },
	{ "HTML 502", 502, "<html><body>Bad Gateway</body></html>", 0, NULL, NULL, NULL,
	  HTTP_VERDICT_DEFAULT, HTTP_OUTCOME_RETRYABLE, GRAPH_RETRYABLE },
	{ "error as a string", 400, "{\"error\":\"invalid_request\"}", 0, NULL, NULL, NULL,
	  HTTP_VERDICT_DEFAULT, HTTP_OUTCOME_PERMANENT, GRAPH_PERMANENT },
	{ "empty 404", 404, "", 0, NULL, NULL, NULL, HTTP_VERDICT_DEFAULT,
	  HTTP_OUTCOME_PERMANENT, GRAPH_NOT_FOUND },
	{ "code of the wrong type", 400, "{\"error\":{\"code\":5,\"message\":[]}}", 1, NULL, NULL,
	  NULL, HTTP_VERDICT_DEFAULT, HTTP_OUTCOME_PERMANENT, GRAPH_PERMANENT },
	{ "cancelled", 0, "", 0, NULL, NULL, NULL, HTTP_VERDICT_DEFAULT, HTTP_OUTCOME_CANCELLED,
	  GRAPH_CANCELLED },
	/* Our endpoint failed Graph's validation handshake: tried again with backoff, not at once. */
	{ "validation failed", 400, "{\"error\":{\"code\":\"ValidationError\",\"message\":"
	  "\"Subscription validation request failed. Notification endpoint must respond with 200 OK "
	  "to validation request.\"}}", 1, "ValidationError", NULL, NULL, HTTP_VERDICT_DEFAULT,
	  HTTP_OUTCOME_PERMANENT, GRAPH_RETRYABLE },
	{ "validation timed out", 400, "{\"error\":{\"code\":\"InvalidRequest\",\"message\":"
	  "\"Subscription validation request timed out.\",\"innerError\":{\"date\":"
	  "\"2021-12-15T01:31:15\",\"request-id\":\"b2e40ef6-765e-4b84-a147-f9ebc0683d30\"}}}", 1,
	  "InvalidRequest", "b2e40ef6-765e-4b84-a147-f9ebc0683d30", NULL, HTTP_VERDICT_DEFAULT,
	  HTTP_OUTCOME_PERMANENT, GRAPH_RETRYABLE },
	{ "the same words in another status", 403, "{\"error\":{\"code\":\"x\",\"message\":"
	  "\"Subscription validation request failed.\"}}", 1, "x", NULL, NULL, HTTP_VERDICT_DEFAULT,
	  HTTP_OUTCOME_PERMANENT, GRAPH_PERMANENT },
	{ "another 400 InvalidRequest", 400, "{\"error\":{\"code\":\"InvalidRequest\",\"message\":"
	  "\"Invalid notification url.\"}}", 1, "InvalidRequest", NULL, NULL, HTTP_VERDICT_DEFAULT,
	  HTTP_OUTCOME_PERMANENT, GRAPH_PERMANENT },
};

static void
test_errors(void)
{
	size_t i;

	for (i = 0; i < LEN(error_cases); i++) {
		const struct error_case *c = &error_cases[i];
		struct graph_error e;
		int rc = graph_parse_error(c->body, strlen(c->body), &e);

		TAP_OK((rc == 0) == c->parses, "error: %s %s", c->name,
		    c->parses ? "parses" : "is not an envelope");
		if (c->code != NULL)
			TAP_STR_EQ(e.code, c->code, "error: %s: code", c->name);
		if (c->request_id != NULL)
			TAP_STR_EQ(e.request_id, c->request_id, "error: %s: request-id", c->name);
		if (c->detail_code != NULL)
			TAP_STR_EQ(e.detail_code, c->detail_code, "error: %s: details code", c->name);
		TAP_OK(graph_classify(c->status, c->body, strlen(c->body)) == c->verdict,
		    "error: %s: classify verdict", c->name);
		TAP_OK(graph_outcome_of(c->http, c->status, rc == 0 ? &e : NULL) == c->outcome,
		    "error: %s: outcome %s (got %s)", c->name, graph_outcome_name(c->outcome),
		    graph_outcome_name(graph_outcome_of(c->http, c->status, rc == 0 ? &e : NULL)));
		graph_error_clear(&e);
	}
	TAP_OK(graph_outcome_of(HTTP_OUTCOME_OK, 200, NULL) == GRAPH_OK, "error: 200 is ok");
	TAP_OK(graph_outcome_of(HTTP_OUTCOME_PERMANENT, 401, NULL) == GRAPH_PERMANENT,
	    "error: 401 is permanent (the client retries it once itself)");
}

static void
test_error_fields(void)
{
	struct graph_error e;

	if (graph_parse_error(NOT_FOUND_BODY, strlen(NOT_FOUND_BODY), &e) != 0) {
		TAP_OK(0, "error fields: parse");
		return;
	}
	TAP_OK(e.message != NULL && strncmp(e.message, "Resource '0c7ad4c4", 18) == 0,
	    "error fields: message");
	TAP_STR_EQ(e.client_request_id, "5f1a7c8e-1111-4a4a-9c9c-000000000002",
	    "error fields: client-request-id");
	TAP_STR_EQ(e.date, "2026-01-01T00:00:00", "error fields: date");
	graph_error_clear(&e);
}

/* --- applications ------------------------------------------------------- */

#define APP_OBJECT \
	"{\"id\":\"0c7ad4c4-3c5e-4f5e-8e58-2bc2b2c4d1a6\",\"appId\":" \
	"\"11111111-2222-3333-4444-555555555555\",\"displayName\":\"Nylas connector\"," \
	"\"signInAudience\":\"AzureADandPersonalMicrosoftAccount\",\"passwordCredentials\":[" \
	"{\"customKeyIdentifier\":null,\"displayName\":\"rekey-r1\",\"endDateTime\":" \
	"\"2026-07-01T00:00:00Z\",\"hint\":\"abc\",\"keyId\":\"f0b0b335-1d71-4883-8f98-" \
	"567911bfdca6\",\"secretText\":null,\"startDateTime\":\"2026-01-01T00:00:00Z\"}," \
	"{\"customKeyIdentifier\":null,\"displayName\":null,\"endDateTime\":" \
	"\"2021-09-09T19:50:29.3086381Z\",\"hint\":\"[6g\",\"keyId\":\"a1b2c3d4-0000-" \
	"4000-8000-000000000001\",\"secretText\":null,\"startDateTime\":" \
	"\"2019-09-09T19:50:29.3086381Z\"}]}"
#define APP_LIST \
	"{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#applications(id," \
	"appId,displayName,passwordCredentials)\",\"value\":[" APP_OBJECT "]}"

static void
check_app(const struct graph_application *a, const char *what)
{
	TAP_STR_EQ(a->id, "0c7ad4c4-3c5e-4f5e-8e58-2bc2b2c4d1a6", "%s: object id", what);
	TAP_STR_EQ(a->sign_in_audience, "AzureADandPersonalMicrosoftAccount",
	    "%s: signInAudience (the two-secret limit)", what);
	TAP_STR_EQ(a->app_id, "11111111-2222-3333-4444-555555555555", "%s: appId", what);
	TAP_STR_EQ(a->display_name, "Nylas connector", "%s: displayName", what);
	TAP_OK(a->n_passwords == 2, "%s: two passwords", what);
	if (a->n_passwords != 2)
		return;
	TAP_STR_EQ(a->passwords[0].key_id, "f0b0b335-1d71-4883-8f98-567911bfdca6", "%s: keyId",
	    what);
	TAP_STR_EQ(a->passwords[0].display_name, "rekey-r1", "%s: password displayName", what);
	TAP_STR_EQ(a->passwords[0].hint, "abc", "%s: hint", what);
	TAP_OK(a->passwords[0].start == 1767225600, "%s: startDateTime", what);
	TAP_OK(a->passwords[0].end == 1782864000, "%s: endDateTime", what);
	TAP_OK(a->passwords[1].display_name == NULL, "%s: null displayName", what);
	TAP_OK(a->passwords[1].end == 1631217029, "%s: fractional endDateTime", what);
	TAP_OK(a->passwords[1].start == 1568058629, "%s: fractional startDateTime", what);
}

struct app_case {
	const char *name;
	const char *body;
	int ok;
	int found;
	size_t n_passwords;
};

static const struct app_case list_cases[] = {
	{ "no match", "{\"@odata.context\":\"x\",\"value\":[]}", 1, 0, 0 },
	{ "no passwords", "{\"value\":[{\"id\":\"o\",\"appId\":\"a\",\"passwordCredentials\":[]}]}",
	  1, 1, 0 },
	{ "null passwords", "{\"value\":[{\"id\":\"o\",\"passwordCredentials\":null}]}", 1, 1, 0 },
	{ "value missing", "{\"@odata.context\":\"x\"}", 0, 0, 0 },
	{ "value an object", "{\"value\":{}}", 0, 0, 0 },
	{ "app without id", "{\"value\":[{\"appId\":\"a\"}]}", 0, 0, 0 },
	{ "password without keyId",
	  "{\"value\":[{\"id\":\"o\",\"passwordCredentials\":[{\"hint\":\"abc\"}]}]}", 0, 0, 0 },
	{ "password with a bad date",
	  "{\"value\":[{\"id\":\"o\",\"passwordCredentials\":[{\"keyId\":\"k\","
	  "\"endDateTime\":\"next year\"}]}]}", 0, 0, 0 },
	{ "password not an object",
	  "{\"value\":[{\"id\":\"o\",\"passwordCredentials\":[\"k\"]}]}", 0, 0, 0 },
	{ "passwords not an array",
	  "{\"value\":[{\"id\":\"o\",\"passwordCredentials\":\"k\"}]}", 0, 0, 0 },
	{ "not JSON", "<html/>", 0, 0, 0 },
};

static void
test_applications(void)
{
	struct graph_application a;
	char *err = NULL;
	size_t i;
	int found = -1;

	TAP_OK(graph_parse_application_list(APP_LIST, strlen(APP_LIST), &a, &found, &err) == 0 &&
	    found == 1, "find: the documented shape parses");
	check_app(&a, "find");
	graph_application_clear(&a);
	TAP_OK(graph_parse_application(APP_OBJECT, strlen(APP_OBJECT), &a, &err) == 0,
	    "get: the object parses");
	check_app(&a, "get");
	graph_application_clear(&a);
	for (i = 0; i < LEN(list_cases); i++) {
		const struct app_case *c = &list_cases[i];
		int rc;

		free(err);
		err = NULL;
		rc = graph_parse_application_list(c->body, strlen(c->body), &a, &found, &err);
		TAP_OK((rc == 0) == c->ok, "find: %s %s%s%s", c->name, c->ok ? "parses" : "is refused",
		    err ? ": " : "", err ? err : "");
		if (rc == 0)
			TAP_OK(found == c->found && a.n_passwords == c->n_passwords,
			    "find: %s: found %d, %zu passwords", c->name, c->found, c->n_passwords);
		graph_application_clear(&a);
	}
	free(err);
}

static void
test_too_many_passwords(void)
{
	size_t n = GRAPH_MAX_PASSWORDS + 1, i, cap = 64 + n * 16;
	char *body = malloc(cap), *err = NULL;
	struct graph_application a;
	size_t len;

	len = (size_t)snprintf(body, cap, "{\"id\":\"o\",\"passwordCredentials\":[");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(body + len, cap - len, "%s{\"keyId\":\"k\"}", i ? "," : "");
	snprintf(body + len, cap - len, "]}");
	TAP_OK(graph_parse_application(body, strlen(body), &a, &err) == -1,
	    "get: more than %d passwords is refused", GRAPH_MAX_PASSWORDS);
	free(err);
	free(body);
}

/* --- addPassword -------------------------------------------------------- */

#define ADD_PASSWORD_BODY \
	"{\"customKeyIdentifier\":null,\"endDateTime\":\"2021-09-09T19:50:29.3086381Z\"," \
	"\"keyId\":\"f0b0b335-1d71-4883-8f98-567911bfdca6\",\"startDateTime\":" \
	"\"2019-09-09T19:50:29.3086381Z\",\"secretText\":\"[6gyXA5S20@MN+WRXAJ]I-TO7g1:h2P8\"," \
	"\"hint\":\"[6g\",\"displayName\":\"Password friendly name\"}"

static void
test_add_password(void)
{
	struct graph_new_password p;
	const char *noText = "{\"keyId\":\"k\",\"hint\":\"abc\",\"secretText\":null}";
	char *err = NULL;

	TAP_OK(graph_parse_new_password(ADD_PASSWORD_BODY, strlen(ADD_PASSWORD_BODY), &p,
	    &err) == 0, "addPassword: the documented answer parses");
	TAP_STR_EQ(p.cred.key_id, "f0b0b335-1d71-4883-8f98-567911bfdca6", "addPassword: keyId");
	TAP_STR_EQ(p.cred.hint, "[6g", "addPassword: hint");
	TAP_STR_EQ(p.cred.display_name, "Password friendly name", "addPassword: displayName");
	TAP_OK(p.cred.start == 1568058629 && p.cred.end == 1631217029, "addPassword: times");
	TAP_OK(p.secret_text != NULL &&
	    secret_equal(p.secret_text, "[6gyXA5S20@MN+WRXAJ]I-TO7g1:h2P8", 32),
	    "addPassword: secretText into a secret");
	graph_new_password_clear(&p);
	TAP_OK(p.secret_text == NULL && p.cred.key_id == NULL, "addPassword: clear empties");
	TAP_OK(graph_parse_new_password(noText, strlen(noText), &p, &err) == 0 &&
	    p.secret_text == NULL && p.cred.key_id != NULL,
	    "addPassword: without secretText the keyId is still read (to remove it)");
	graph_new_password_clear(&p);
	TAP_OK(graph_parse_new_password(S("{\"secretText\":\"x\"}"), &p, &err) == -1,
	    "addPassword: no keyId is refused");
	free(err);
}

/* --- owners ------------------------------------------------------------- */

#define OWNERS_PAGE1 \
	"{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#directoryObjects\"," \
	"\"value\":[" \
	"{\"@odata.type\":\"#microsoft.graph.user\",\"id\":\"u1\",\"displayName\":\"Ada\"," \
	"\"mail\":\"ada@contoso.com\",\"userPrincipalName\":\"ada@contoso.onmicrosoft.com\"}," \
	"{\"@odata.type\":\"#microsoft.graph.servicePrincipal\",\"id\":\"sp1\"," \
	"\"displayName\":\"rekey rotator\",\"appId\":\"x\"}," \
	"{\"@odata.type\":\"#microsoft.graph.user\",\"id\":\"u2\",\"displayName\":\"Bob\"," \
	"\"mail\":null,\"userPrincipalName\":\"bob@contoso.onmicrosoft.com\"}]," \
	"\"@odata.nextLink\":\"https://graph.microsoft.com/v1.0/applications/o/owners?" \
	"$skiptoken=X%27abc%27\"}"
#define OWNERS_PAGE2 \
	"{\"value\":[{\"@odata.type\":\"#microsoft.graph.user\",\"id\":\"u3\"}," \
	"{\"@odata.type\":\"#microsoft.graph.user\",\"id\":\"u4\",\"mail\":\"\"," \
	"\"userPrincipalName\":\"dee@contoso.com\"}," \
	"{\"id\":\"no-type\",\"mail\":\"x@y\"}]}"

static void
test_owners(void)
{
	struct graph_owner *owners = NULL;
	size_t n = 0;
	char *next = NULL, *err = NULL;

	TAP_OK(graph_parse_owners_page(OWNERS_PAGE1, strlen(OWNERS_PAGE1), &owners, &n, &next,
	    &err) == 0, "owners: page 1 parses");
	TAP_OK(n == 2, "owners: the service principal is skipped");
	TAP_STR_EQ(owners[0].address, "ada@contoso.com", "owners: mail first");
	TAP_STR_EQ(owners[0].display_name, "Ada", "owners: displayName");
	TAP_STR_EQ(owners[1].address, "bob@contoso.onmicrosoft.com",
	    "owners: null mail falls back to userPrincipalName");
	TAP_OK(next != NULL && strstr(next, "$skiptoken=") != NULL, "owners: nextLink read");
	free(next);
	next = NULL;
	TAP_OK(graph_parse_owners_page(OWNERS_PAGE2, strlen(OWNERS_PAGE2), &owners, &n, &next,
	    &err) == 0, "owners: page 2 parses");
	TAP_OK(n == 4 && next == NULL, "owners: appended, no further page, untyped skipped");
	TAP_STR_EQ(owners[2].id, "u3", "owners: an id-only user is kept");
	TAP_OK(owners[2].address == NULL, "owners: with no address");
	TAP_STR_EQ(owners[3].address, "dee@contoso.com", "owners: empty mail falls back too");
	graph_owners_free(owners, n);
	owners = NULL;
	n = 0;
	TAP_OK(graph_parse_owners_page(S("{\"value\":[{\"@odata.type\":\"#microsoft.graph.user\"}]}"),
	    &owners, &n, &next, &err) == -1, "owners: a user without id is refused");
	graph_owners_free(owners, n);
	free(err);
	err = NULL;
	owners = NULL;
	n = 0;
	TAP_OK(graph_parse_owners_page(S("{\"value\":5}"), &owners, &n, &next, &err) == -1,
	    "owners: value not an array is refused");
	free(err);
}

/* --- users, subscriptions ----------------------------------------------- */

static void
test_user(void)
{
	const char *full = "{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#"
	    "users(id,mail)/$entity\",\"id\":\"87d349ed-44d7-43e1-9a83-5f2406dee5bd\","
	    "\"mail\":\"AdeleV@contoso.com\",\"userPrincipalName\":\"AdeleV@contoso.com\","
	    "\"accountEnabled\":false,\"signInSessionsValidFromDateTime\":\"2026-01-01T00:00:00Z\","
	    "\"lastPasswordChangeDateTime\":\"2024-02-29T12:00:00Z\"}";
	const char *bare = "{\"id\":\"u\",\"mail\":null}";
	struct graph_user u;
	char *err = NULL;

	TAP_OK(graph_parse_user(full, strlen(full), &u, &err) == 0, "user: parses");
	TAP_STR_EQ(u.id, "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "user: id");
	TAP_STR_EQ(u.mail, "AdeleV@contoso.com", "user: mail");
	TAP_STR_EQ(u.user_principal_name, "AdeleV@contoso.com", "user: userPrincipalName");
	TAP_OK(u.account_enabled == 0, "user: accountEnabled false");
	TAP_OK(u.sessions_valid_from == 1767225600, "user: signInSessionsValidFromDateTime");
	TAP_OK(u.last_password_change == 1709208000, "user: lastPasswordChangeDateTime");
	graph_user_clear(&u);
	TAP_OK(graph_parse_user(bare, strlen(bare), &u, &err) == 0 && u.account_enabled == -1 &&
	    u.mail == NULL && u.sessions_valid_from == 0, "user: absent fields are unknown");
	graph_user_clear(&u);
	TAP_OK(graph_parse_user(S("{\"id\":\"u\",\"accountEnabled\":\"yes\"}"), &u, &err) == -1,
	    "user: accountEnabled not a boolean is refused");
	free(err);
	err = NULL;
	TAP_OK(graph_parse_user(S("{\"mail\":\"x\"}"), &u, &err) == -1,
	    "user: no id is refused");
	free(err);
}

static void
test_subscription(void)
{
	const char *body = "{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#"
	    "subscriptions/$entity\",\"id\":\"7f105c7d-2dc5-4530-97cd-4e7ae6534c07\","
	    "\"resource\":\"/users\",\"applicationId\":\"24d3b144\",\"changeType\":\"updated,deleted\","
	    "\"clientState\":\"secretClientValue\",\"notificationUrl\":\"https://hooks.example.com/"
	    "webhooks/graph/prod\",\"expirationDateTime\":\"2026-01-29T00:00:00.9356913Z\","
	    "\"latestSupportedTlsVersion\":\"v1_2\"}";
	struct graph_subscription s;
	char *err = NULL;

	TAP_OK(graph_parse_subscription(body, strlen(body), &s, &err) == 0, "subscription: parses");
	TAP_STR_EQ(s.id, "7f105c7d-2dc5-4530-97cd-4e7ae6534c07", "subscription: id");
	TAP_STR_EQ(s.resource, "/users", "subscription: resource");
	TAP_STR_EQ(s.change_type, "updated,deleted", "subscription: changeType");
	TAP_OK(s.expiration == 1767225600 + 28 * 86400, "subscription: expirationDateTime");
	TAP_STR_EQ(s.notification_url, "https://hooks.example.com/webhooks/graph/prod",
	    "subscription: notificationUrl");
	graph_subscription_clear(&s);
	TAP_OK(graph_parse_subscription(S("{\"resource\":\"/users\"}"), &s, &err) == -1,
	    "subscription: no id is refused");
	free(err);
}

/* The list of GET /subscriptions as the Graph documentation shows it, over two pages. */
#define SUBS_PAGE1 \
	"{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#subscriptions\"," \
	"\"value\":[{\"id\":\"s1\",\"resource\":\"/users\",\"changeType\":\"updated,deleted\"," \
	"\"clientState\":\"secretClientValue\",\"notificationUrl\":\"https://h.example/webhooks/" \
	"graph/prod\",\"lifecycleNotificationUrl\":null,\"expirationDateTime\":" \
	"\"2026-01-29T00:00:00Z\",\"includeResourceData\":false}," \
	"{\"id\":\"s2\",\"resource\":\"groups\",\"notificationUrl\":null}]," \
	"\"@odata.nextLink\":\"https://graph.microsoft.com/v1.0/subscriptions?$skiptoken=X\"}"
#define SUBS_PAGE2 \
	"{\"value\":[{\"id\":\"s3\",\"resource\":\"/users\",\"clientState\":null}]}"

struct subs_bad_case {
	const char *body;
	const char *what;
};

static const struct subs_bad_case subs_bad_cases[] = {
	{ "{\"value\":{}}", "value not an array" },
	{ "{\"value\":[{\"resource\":\"/users\"}]}", "an entry without id" },
	{ "{\"value\":[5]}", "an entry that is not an object" },
	{ "{\"value\":[{\"id\":\"x\",\"expirationDateTime\":\"soon\"}]}", "a bad time" },
	{ "{\"value\":[],\"@odata.nextLink\":7}", "a nextLink that is not a string" },
	{ "[]", "not an object" },
};

static void
test_subscription_list(void)
{
	struct graph_subscription *subs = NULL;
	size_t n = 0, i;
	char *next = NULL, *err = NULL;

	TAP_OK(graph_parse_subscriptions_page(S(SUBS_PAGE1), &subs, &n, &next, &err) == 0,
	    "subscription list: page 1 parses");
	TAP_OK(n == 2, "subscription list: two entries");
	TAP_STR_EQ(subs[0].id, "s1", "subscription list: id");
	TAP_STR_EQ(subs[0].notification_url, "https://h.example/webhooks/graph/prod",
	    "subscription list: notificationUrl");
	TAP_OK(subs[0].expiration == 1767225600 + 28 * 86400, "subscription list: expiration");
	TAP_OK(subs[1].notification_url == NULL && subs[1].expiration == 0,
	    "subscription list: null and absent fields are NULL/0");
	TAP_STR_EQ(next, "https://graph.microsoft.com/v1.0/subscriptions?$skiptoken=X",
	    "subscription list: nextLink read");
	free(next);
	next = NULL;
	TAP_OK(graph_parse_subscriptions_page(S(SUBS_PAGE2), &subs, &n, &next, &err) == 0 &&
	    n == 3 && next == NULL, "subscription list: page 2 appended, no further page");
	TAP_STR_EQ(subs[2].id, "s3", "subscription list: the appended entry");
	graph_subscriptions_free(subs, n);
	for (i = 0; i < LEN(subs_bad_cases); i++) {
		subs = NULL;
		n = 0;
		TAP_OK(graph_parse_subscriptions_page(subs_bad_cases[i].body,
		    strlen(subs_bad_cases[i].body), &subs, &n, &next, &err) == -1 && err != NULL,
		    "subscription list: %s is refused", subs_bad_cases[i].what);
		graph_subscriptions_free(subs, n);
		free(next);
		next = NULL;
		free(err);
		err = NULL;
	}
}

static void
test_subscription_list_bound(void)
{
	struct graph_subscription *subs = NULL;
	size_t n = 0, i;
	char *next = NULL, *err = NULL;
	char *body = xasprintf("{\"value\":[");
	char *more;

	for (i = 0; i <= GRAPH_MAX_SUBSCRIPTIONS; i++) {
		more = xasprintf("%s%s{\"id\":\"s%zu\"}", body, i ? "," : "", i);
		free(body);
		body = more;
	}
	more = xasprintf("%s]}", body);
	free(body);
	body = more;
	TAP_OK(graph_parse_subscriptions_page(body, strlen(body), &subs, &n, &next, &err) == -1 &&
	    n == GRAPH_MAX_SUBSCRIPTIONS, "subscription list: more than %d is refused",
	    GRAPH_MAX_SUBSCRIPTIONS);
	graph_subscriptions_free(subs, n);
	free(err);
	free(body);
}

struct expiry_case {
	long status;
	const char *message;
	int64_t max_s;		/* 0: not an expiry refusal */
};

/* Both real wordings (outbound/graph_parse.c cites them), and what must not be taken for them. */
static const struct expiry_case expiry_cases[] = {
	{ 400, "Subscription expiration can only be 41760 minutes in the future.", 41760 * 60 },
	{ 400, "Subscription expiration can only be 4230 minutes in the future.", 4230 * 60 },
	{ 400, "Subscription expiration can only be 10070 minutes in the future", 10070 * 60 },
	{ 400, "Operation: Create; Exception: [Status Code: BadRequest; Reason: Expiration time "
	  "'2024-05-19T12:16:55.8224757+00:00' ('-5.23:59:55.5782571' from now) is beyond allowed "
	  "max '3.00:00:00'.]", 3 * 86400 },
	{ 400, "Operation: Update; Exception: [Status Code: BadRequest; Reason: Expiration time "
	  "'x' ('-1:00:00' from now) is beyond allowed max '28.23:59:00.5000000'.]",
	  28 * 86400 + 23 * 3600 + 59 * 60 },
	{ 400, "... is beyond allowed max '23:59:59'.", 86399 },
	{ 409, "Subscription expiration can only be 41760 minutes in the future.", 0 },
	{ 400, "Subscription expiration can only be many minutes in the future.", 0 },
	{ 400, "Subscription expiration can only be 41760 hours in the future.", 0 },
	{ 400, "Subscription expiration can only be 9999999999 minutes in the future.", 0 },
	{ 400, "Subscription expiration can only be 0 minutes in the future.", 0 },
	{ 400, "Subscription expiration must be in the future.", 0 },
	{ 400, "... is beyond allowed max '3.25:00:00'.", 0 },
	{ 400, "... is beyond allowed max '3.00:00'.", 0 },
	{ 400, "... is beyond allowed max '3.00:00:00", 0 },
	{ 400, "Invalid value for property 'expirationDateTime'.", 0 },
	{ 400, NULL, 0 },
};

static void
test_expiry_limit(void)
{
	struct graph_error e;
	int64_t max_s;
	size_t i;
	int r;

	for (i = 0; i < sizeof(expiry_cases) / sizeof(expiry_cases[0]); i++) {
		memset(&e, 0, sizeof(e));
		e.code = (char *)"ExtensionError";
		e.message = (char *)expiry_cases[i].message;
		max_s = -1;
		r = graph_expiry_limit(expiry_cases[i].status, &e, &max_s);
		if (expiry_cases[i].max_s == 0)
			TAP_OK(r == 0 && max_s == -1, "expiry limit: not one (HTTP %ld, %s)",
			    expiry_cases[i].status, e.message ? e.message : "no message");
		else
			TAP_OK(r == 1 && max_s == expiry_cases[i].max_s,
			    "expiry limit: %lld s from '%s' (got %d, %lld)",
			    (long long)expiry_cases[i].max_s, e.message, r, (long long)max_s);
	}
	TAP_OK(graph_expiry_limit(400, NULL, &max_s) == 0, "expiry limit: no envelope, not one");
}

static void
test_subscription_body(void)
{
	struct secret *state = secret_new("s\"3cr\\et", 8);
	struct graph_subscription_spec spec = {
		"updated,deleted", "https://hooks.example.com/webhooks/graph/prod",
		"https://hooks.example.com/webhooks/graph/prod/lifecycle", "/users",
		1767225600, state,
	};
	struct secret *body = graph_subscription_body(&spec);
	cJSON *root = cJSON_Parse((const char *)body->data);
	const cJSON *v;

	TAP_STR_EQ((const char *)body->data,
	    "{\"changeType\":\"updated,deleted\","
	    "\"notificationUrl\":\"https://hooks.example.com/webhooks/graph/prod\","
	    "\"lifecycleNotificationUrl\":\"https://hooks.example.com/webhooks/graph/prod/lifecycle\","
	    "\"resource\":\"/users\",\"expirationDateTime\":\"2026-01-01T00:00:00Z\","
	    "\"clientState\":\"s\\\"3cr\\\\et\",\"latestSupportedTlsVersion\":\"v1_2\"}",
	    "subscription body: exact JSON");
	v = cJSON_GetObjectItemCaseSensitive(root, "clientState");
	TAP_OK(cJSON_IsString(v) && strcmp(v->valuestring, "s\"3cr\\et") == 0,
	    "subscription body: clientState round-trips through a JSON parser");
	cJSON_Delete(root);
	secret_free(body);
	spec.lifecycle_url = NULL;
	body = graph_subscription_body(&spec);
	TAP_OK(strstr((const char *)body->data, "lifecycle") == NULL &&
	    strstr((const char *)body->data, "includeResourceData") == NULL,
	    "subscription body: no lifecycle URL when none is given, no rich fields");
	secret_free(body);
	secret_free(state);
}

static void
test_add_password_body(void)
{
	struct secret *b = graph_add_password_body("rekey-\"r1\"", 1782864000);

	TAP_STR_EQ((const char *)b->data, "{\"passwordCredential\":{\"displayName\":"
	    "\"rekey-\\\"r1\\\"\",\"endDateTime\":\"2026-07-01T00:00:00Z\"}}",
	    "addPassword body: exact JSON, quotes escaped");
	secret_free(b);
}

/* --- URLs --------------------------------------------------------------- */

static void
test_urls(void)
{
	char *u = graph_find_application_url("https://graph.microsoft.com/v1.0/",
	    "11111111-2222-3333-4444-555555555555");

	TAP_STR_EQ(u, "https://graph.microsoft.com/v1.0/applications?$filter=appId%20eq%20%27"
	    "11111111-2222-3333-4444-555555555555%27&$select=id,appId,displayName,"
	    "signInAudience,passwordCredentials,createdDateTime", "url: appId filter percent-encoded");
	free(u);
	u = graph_find_application_url("http://127.0.0.1:9/v1.0", "a'b&c");
	TAP_STR_EQ(u, "http://127.0.0.1:9/v1.0/applications?$filter=appId%20eq%20%27a%27%27b%26c%27"
	    "&$select=id,appId,displayName,signInAudience,passwordCredentials,createdDateTime",
	    "url: a quote is doubled, & is encoded");
	free(u);
}

/* What may go into /users/{id}: a GUID or a UPN, nothing that climbs out of /users. */
static const struct { const char *id; int ok; } user_id_cases[] = {
	{ "7f105c7d-2dc5-4530-97cd-4e7ae6534c07", 1 },
	{ "7F105C7D-2DC5-4530-97CD-4E7AE6534C07", 1 },
	{ "ada.lovelace@contoso.onmicrosoft.com", 1 },
	{ "o'brien_x-y+1@contoso.com", 0 },
	{ "o'brien_x-y@contoso.com", 1 },
	{ "ada_contoso.com#EXT#@fabrikam.onmicrosoft.com", 1 },
	{ "..", 0 }, { ".", 0 }, { "", 0 },
	{ "../users", 0 }, { "a/b@c.com", 0 }, { "a@b/../c", 0 }, { "a@..", 0 },
	{ "a..b@c.com", 0 }, { ".a@c.com", 0 }, { "a@c.com.", 0 }, { "a@b@c.com", 0 },
	{ "a@c.com?$select=x", 0 }, { "a%2e@c.com", 0 }, { "a @c.com", 0 },
	{ "7f105c7d-2dc5-4530-97cd-4e7ae6534c0", 0 }, { "7f105c7d-2dc5-4530-97cd-4e7ae6534c07x", 0 },
	{ "7f105c7d_2dc5-4530-97cd-4e7ae6534c07", 0 }, { "zf105c7d-2dc5-4530-97cd-4e7ae6534c07", 0 },
};

static void
test_user_ids(void)
{
	size_t i;

	for (i = 0; i < LEN(user_id_cases); i++)
		TAP_OK(graph_user_id_valid(user_id_cases[i].id) == user_id_cases[i].ok,
		    "user id \"%s\": %s", user_id_cases[i].id, user_id_cases[i].ok ? "ok" : "refused");
	TAP_OK(!graph_user_id_valid(NULL), "user id NULL: refused");
}

struct link_case {
	const char *base;
	const char *link;
	int ok;
};

static const struct link_case link_cases[] = {
	{ "https://graph.microsoft.com/v1.0", "https://graph.microsoft.com/v1.0/x?$skiptoken=1", 1 },
	{ "https://graph.microsoft.com/v1.0", "https://graph.microsoft.com/beta/x", 1 },
	{ "https://graph.microsoft.com/v1.0", "https://graph.microsoft.com.evil.example/v1.0/x", 0 },
	{ "https://graph.microsoft.com/v1.0", "https://graph.microsoft.com:444/v1.0/x", 0 },
	{ "https://graph.microsoft.com/v1.0", "http://graph.microsoft.com/v1.0/x", 0 },
	{ "https://graph.microsoft.com/v1.0", "https://evil.example/?https://graph.microsoft.com/", 0 },
	{ "https://graph.microsoft.com/v1.0", "/v1.0/x", 0 },
	{ "http://127.0.0.1:8081", "http://127.0.0.1:8081/v1.0/x", 1 },
	{ "http://127.0.0.1:8081", "http://127.0.0.1:80811/v1.0/x", 0 },
	{ "not a url", "not a url/x", 0 },
};

static void
test_links(void)
{
	size_t i;

	for (i = 0; i < LEN(link_cases); i++)
		TAP_OK(graph_link_allowed(link_cases[i].base, link_cases[i].link) == link_cases[i].ok,
		    "nextLink: %s from %s %s", link_cases[i].link, link_cases[i].base,
		    link_cases[i].ok ? "followed" : "refused");
}

static void
test_names(void)
{
	TAP_STR_EQ(graph_outcome_name(GRAPH_LIFETIME_POLICY), "lifetime_policy", "names: outcome");
	TAP_STR_EQ(graph_outcome_name((enum graph_outcome)99), "unknown", "names: out of range");
}

int
main(void)
{
	test_times();
	test_errors();
	test_error_fields();
	test_applications();
	test_too_many_passwords();
	test_add_password();
	test_owners();
	test_user();
	test_subscription();
	test_subscription_list();
	test_subscription_list_bound();
	test_subscription_body();
	test_expiry_limit();
	test_add_password_body();
	test_urls();
	test_user_ids();
	test_links();
	test_names();
	return tap_done();
}
