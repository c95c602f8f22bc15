/*
 * Unit tests: Nylas's error envelope, connector and credential bodies
 * (client_id and client_secret always, the tenant only when given), grants pages in both pagination styles, connector and
 * webhook answers.  No network.
 */
#include "lib/secret.h"
#include "outbound/nylas.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
/* A string literal and its length, for the parsers that take both. */
#define S(lit) lit, strlen(lit)

/* --- errors ------------------------------------------------------------- */

struct error_case {
	const char *name;
	const char *body;
	int parses;
	const char *request_id;
	const char *type;
	const char *message;
	const char *provider_error;
};

static const struct error_case error_cases[] = {
	{ "authentication",
	  "{\"request_id\":\"5fa64c92-e840-4357-86b9-2aa364d35b88\",\"error\":{\"type\":"
	  "\"api.authentication_error\",\"message\":\"Unauthorized\"}}", 1,
	  "5fa64c92-e840-4357-86b9-2aa364d35b88", "api.authentication_error", "Unauthorized", NULL },
	{ "rate limit",
	  "{\"request_id\":\"r2\",\"error\":{\"type\":\"api.rate_limit_error\",\"message\":"
	  "\"nylas_rate_limit_exceeded\"}}", 1, "r2", "api.rate_limit_error",
	  "nylas_rate_limit_exceeded", NULL },
	{ "provider error kept as JSON",
	  "{\"request_id\":\"r3\",\"error\":{\"type\":\"api.provider_error\",\"message\":"
	  "\"Provider error\",\"provider_error\":{\"error\":{\"code\":\"ErrorAccessDenied\","
	  "\"message\":\"Access is denied.\"}}}}", 1, "r3", "api.provider_error",
	  "Provider error", "{\"error\":{\"code\":\"ErrorAccessDenied\",\"message\":\"Access is "
	  "denied.\"}}" },
	{ "no request_id", "{\"error\":{\"type\":\"api.not_found_error\"}}", 1, NULL,
	  "api.not_found_error", NULL, NULL },
	{ "fields of the wrong type", "{\"request_id\":5,\"error\":{\"type\":[],\"message\":{}}}",
	  1, NULL, NULL, NULL, NULL },
	{ "success envelope", "{\"request_id\":\"r\",\"data\":{}}", 0, NULL, NULL, NULL, NULL },
	{ "error as a string", "{\"error\":\"nope\"}", 0, NULL, NULL, NULL, NULL },
	{ "HTML", "<html>502 Bad Gateway</html>", 0, NULL, NULL, NULL, NULL },
	{ "trailing garbage", "{\"error\":{}}x", 0, NULL, NULL, NULL, NULL },
	{ "empty", "", 0, NULL, NULL, NULL, NULL },
};

static void
check_field(const char *got, const char *want, const char *what, const char *name)
{
	if (want == NULL)
		TAP_OK(got == NULL, "error: %s: no %s", name, what);
	else
		TAP_STR_EQ(got, want, "error: %s: %s", name, what);
}

static void
test_errors(void)
{
	size_t i;

	for (i = 0; i < LEN(error_cases); i++) {
		const struct error_case *c = &error_cases[i];
		struct nylas_error e;
		int rc = nylas_parse_error(c->body, strlen(c->body), &e);

		TAP_OK((rc == 0) == c->parses, "error: %s %s", c->name,
		    c->parses ? "parses" : "is not an envelope");
		if (rc != 0)
			continue;
		check_field(e.request_id, c->request_id, "request_id", c->name);
		check_field(e.type, c->type, "type", c->name);
		check_field(e.message, c->message, "message", c->name);
		check_field(e.provider_error, c->provider_error, "provider_error", c->name);
		nylas_error_clear(&e);
	}
}

struct outcome_case {
	enum http_outcome http;
	long status;
	enum nylas_outcome want;
};

static const struct outcome_case outcome_cases[] = {
	{ HTTP_OUTCOME_OK, 200, NYLAS_OK },
	{ HTTP_OUTCOME_PERMANENT, 404, NYLAS_NOT_FOUND },
	{ HTTP_OUTCOME_PERMANENT, 401, NYLAS_PERMANENT },
	{ HTTP_OUTCOME_PERMANENT, 400, NYLAS_PERMANENT },
	{ HTTP_OUTCOME_RETRYABLE, 429, NYLAS_RETRYABLE },
	{ HTTP_OUTCOME_RETRYABLE, 504, NYLAS_RETRYABLE },
	{ HTTP_OUTCOME_RETRYABLE, 0, NYLAS_RETRYABLE },
	{ HTTP_OUTCOME_CANCELLED, 0, NYLAS_CANCELLED },
};

static void
test_outcomes(void)
{
	size_t i;

	for (i = 0; i < LEN(outcome_cases); i++)
		TAP_OK(nylas_outcome_of(outcome_cases[i].http, outcome_cases[i].status) ==
		    outcome_cases[i].want, "outcome: HTTP %ld is %s", outcome_cases[i].status,
		    nylas_outcome_name(outcome_cases[i].want));
}

/* --- bodies ------------------------------------------------------------- */

static const char *
json_str(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The three settings of an object are all there, with these values. */
static void
check_settings(const struct secret *body, const char *outer, const char *secret_text,
    const char *what)
{
	cJSON *root = cJSON_Parse((const char *)body->data);
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, outer);

	TAP_OK(cJSON_IsObject(s) && cJSON_GetArraySize(s) == 3, "%s: \"%s\" has three members",
	    what, outer);
	TAP_STR_EQ(json_str(s, "client_id"), "11111111-2222-3333-4444-555555555555",
	    "%s: client_id", what);
	TAP_STR_EQ(json_str(s, "client_secret"), secret_text, "%s: client_secret", what);
	TAP_STR_EQ(json_str(s, "tenant"), "contoso.onmicrosoft.com", "%s: tenant", what);
	cJSON_Delete(root);
}

static void
test_connector_body(void)
{
	struct secret *sec = secret_new(S("q~8Q\"x\\y/z"));
	struct secret *none = secret_new("", 0);
	const char *scope[] = { "https://graph.microsoft.com/Mail.Read", "offline_access" };
	struct secret *b;

	b = nylas_connector_body("11111111-2222-3333-4444-555555555555", sec,
	    "contoso.onmicrosoft.com", NULL, 0);
	TAP_STR_EQ((const char *)b->data, "{\"settings\":{\"client_id\":"
	    "\"11111111-2222-3333-4444-555555555555\",\"client_secret\":\"q~8Q\\\"x\\\\y/z\","
	    "\"tenant\":\"contoso.onmicrosoft.com\"}}", "connector body: exact JSON");
	check_settings(b, "settings", "q~8Q\"x\\y/z", "connector body");
	secret_free(b);
	b = nylas_connector_body("11111111-2222-3333-4444-555555555555", sec,
	    "contoso.onmicrosoft.com", scope, 2);
	check_settings(b, "settings", "q~8Q\"x\\y/z", "connector body with scope");
	TAP_OK(strstr((const char *)b->data, ",\"scope\":[\"https://graph.microsoft.com/Mail.Read\","
	    "\"offline_access\"]}") != NULL, "connector body: scope after settings");
	secret_free(b);
	TAP_OK(nylas_connector_body(NULL, sec, "t", NULL, 0) == NULL,
	    "connector body: refused without client_id");
	TAP_OK(nylas_connector_body("", sec, "t", NULL, 0) == NULL,
	    "connector body: refused with an empty client_id");
	TAP_OK(nylas_connector_body("c", NULL, "t", NULL, 0) == NULL,
	    "connector body: refused without a secret");
	TAP_OK(nylas_connector_body("c", none, "t", NULL, 0) == NULL,
	    "connector body: refused with an empty secret");
	/* settings.tenant is optional (Nylas's default is common): none given, none sent. */
	b = nylas_connector_body("c", sec, NULL, NULL, 0);
	TAP_STR_EQ(b ? (const char *)b->data : NULL,
	    "{\"settings\":{\"client_id\":\"c\",\"client_secret\":\"q~8Q\\\"x\\\\y/z\"}}",
	    "connector body without a tenant: client_id and client_secret only");
	secret_free(b);
	b = nylas_connector_body("c", sec, "", scope, 1);
	TAP_OK(b != NULL && strstr((const char *)b->data, "tenant") == NULL,
	    "connector body with an empty tenant: no tenant member");
	secret_free(b);
	b = nylas_connector_body("c", sec, "common", NULL, 0);
	TAP_OK(b != NULL && strstr((const char *)b->data, ",\"tenant\":\"common\"}") != NULL,
	    "connector body: common is sent back as it is");
	secret_free(b);
	b = nylas_credential_body("11111111-2222-3333-4444-555555555555", sec,
	    "contoso.onmicrosoft.com");
	TAP_STR_EQ((const char *)b->data, "{\"credential_data\":{\"client_id\":"
	    "\"11111111-2222-3333-4444-555555555555\",\"client_secret\":\"q~8Q\\\"x\\\\y/z\","
	    "\"tenant\":\"contoso.onmicrosoft.com\"}}", "credential body: exact JSON");
	check_settings(b, "credential_data", "q~8Q\"x\\y/z", "credential body");
	secret_free(b);
	b = nylas_credential_body("c", sec, NULL);
	TAP_STR_EQ(b ? (const char *)b->data : NULL,
	    "{\"credential_data\":{\"client_id\":\"c\",\"client_secret\":\"q~8Q\\\"x\\\\y/z\"}}",
	    "credential body without a tenant: client_id and client_secret only");
	secret_free(b);
	b = nylas_credential_body("c", sec, "");
	TAP_OK(b != NULL && strstr((const char *)b->data, "tenant") == NULL,
	    "credential body with an empty tenant: no tenant member");
	secret_free(b);
	TAP_OK(nylas_credential_body(NULL, sec, "t") == NULL,
	    "credential body: refused without client_id");
	TAP_OK(nylas_credential_body("c", none, "t") == NULL,
	    "credential body: refused with an empty secret");
	secret_free(sec);
	secret_free(none);
}

static void
test_other_bodies(void)
{
	const char *triggers[] = { "grant.expired", "grant.updated" };
	const char *emails[] = { "ops@example.com" };
	const char *to[] = { "a@example.com", "b@example.com" };
	struct nylas_webhook_spec spec = { "https://hooks.example.com/webhooks/nylas/prod",
	    "rekey", triggers, 2, emails, 1 };
	struct nylas_message msg = { to, 2, "Secret \"rotated\"", "line 1\nline 2" };
	struct secret *b;

	b = nylas_webhook_body(&spec);
	TAP_STR_EQ((const char *)b->data, "{\"trigger_types\":[\"grant.expired\",\"grant.updated\"],"
	    "\"webhook_url\":\"https://hooks.example.com/webhooks/nylas/prod\",\"description\":"
	    "\"rekey\",\"notification_email_addresses\":[\"ops@example.com\"]}",
	    "webhook body: exact JSON");
	secret_free(b);
	spec.description = NULL;
	spec.n_notification_emails = 0;
	b = nylas_webhook_body(&spec);
	TAP_STR_EQ((const char *)b->data, "{\"trigger_types\":[\"grant.expired\",\"grant.updated\"],"
	    "\"webhook_url\":\"https://hooks.example.com/webhooks/nylas/prod\"}",
	    "webhook body: optional members left out");
	secret_free(b);
	b = nylas_message_body(&msg);
	TAP_STR_EQ((const char *)b->data, "{\"to\":[{\"email\":\"a@example.com\"},"
	    "{\"email\":\"b@example.com\"}],\"subject\":\"Secret \\\"rotated\\\"\","
	    "\"body\":\"line 1\\nline 2\"}", "message body: exact JSON, escaped");
	secret_free(b);
}

/* --- grants ------------------------------------------------------------- */

struct url_case {
	const char *name;
	const char *base;
	struct nylas_grant_query q;
	const char *token;
	int64_t offset;
	const char *url;
};

static const struct url_case url_cases[] = {
	{ "first page", "https://api.us.nylas.com", { "microsoft", "invalid", 0, 0 }, NULL, 0,
	  "https://api.us.nylas.com/v3/grants?provider=microsoft&grant_status=invalid&limit=200" },
	{ "cursor", "https://api.eu.nylas.com/", { "microsoft", NULL, 50, 0 }, "Y3Vy+c29y/=", 0,
	  "https://api.eu.nylas.com/v3/grants?provider=microsoft&limit=50&page_token=Y3Vy%2Bc29y%2F%3D" },
	{ "offset", "http://127.0.0.1:9", { NULL, "valid", 5000, 0 }, NULL, 2000,
	  "http://127.0.0.1:9/v3/grants?grant_status=valid&limit=1000&offset=2000" },
	{ "cursor wins over offset", "http://x", { NULL, NULL, 10, 0 }, "c", 30,
	  "http://x/v3/grants?limit=10&page_token=c" },
};

static void
test_grants_url(void)
{
	size_t i;

	for (i = 0; i < LEN(url_cases); i++) {
		const struct url_case *c = &url_cases[i];
		char *u = nylas_grants_url(c->base, &c->q, c->token, c->offset);

		TAP_STR_EQ(u, c->url, "grants url: %s", c->name);
		free(u);
	}
}

#define GRANT(id, status) \
	"{\"id\":\"" id "\",\"provider\":\"microsoft\",\"grant_status\":\"" status "\"," \
	"\"email\":\"" id "@contoso.com\",\"scope\":[\"Mail.Read\"],\"created_at\":1617817109," \
	"\"updated_at\":1739223251,\"credential_id\":\"cred-1\",\"settings\":{}}"

struct page_case {
	const char *name;
	const char *body;
	int ok;
	size_t n;
	const char *cursor;
	int limit;
	int more;		/* nylas_grants_next_page */
	int64_t offset;		/* after it, from 100 */
};

static const struct page_case page_cases[] = {
	{ "cursor style",
	  "{\"request_id\":\"r\",\"data\":[" GRANT("g1", "invalid") "," GRANT("g2", "invalid") "],"
	  "\"next_cursor\":\"Q1VSU09S\"}", 1, 2, "Q1VSU09S", 2, 1, 100 },
	{ "cursor style, short page still has a cursor",
	  "{\"data\":[" GRANT("g1", "invalid") "],\"next_cursor\":\"abc\"}", 1, 1, "abc", 50, 1,
	  100 },
	{ "cursor style, last page",
	  "{\"data\":[" GRANT("g1", "valid") "],\"next_cursor\":null}", 1, 1, NULL, 50, 0, 100 },
	{ "empty cursor is the end",
	  "{\"data\":[" GRANT("g1", "valid") "],\"next_cursor\":\"\"}", 1, 1, NULL, 50, 0, 100 },
	{ "offset style, full page",
	  "{\"request_id\":\"r\",\"data\":[" GRANT("g1", "invalid") "," GRANT("g2", "invalid") "],"
	  "\"limit\":2,\"offset\":100}", 1, 2, NULL, 2, 1, 102 },
	{ "offset style, short page",
	  "{\"data\":[" GRANT("g1", "invalid") "],\"limit\":2,\"offset\":100}", 1, 1, NULL, 2, 0,
	  100 },
	{ "empty page", "{\"data\":[]}", 1, 0, NULL, 2, 0, 100 },
	{ "grant without id", "{\"data\":[{\"email\":\"x\"}]}", 0, 0, NULL, 2, 0, 100 },
	{ "created_at a string", "{\"data\":[{\"id\":\"g\",\"created_at\":\"2025\"}]}", 0, 0, NULL,
	  2, 0, 100 },
	{ "grant not an object", "{\"data\":[\"g\"]}", 0, 0, NULL, 2, 0, 100 },
	{ "data an object", "{\"data\":{}}", 0, 0, NULL, 2, 0, 100 },
	{ "cursor a number", "{\"data\":[],\"next_cursor\":5}", 0, 0, NULL, 2, 0, 100 },
};

static void
test_grants_pages(void)
{
	size_t i;

	for (i = 0; i < LEN(page_cases); i++) {
		const struct page_case *c = &page_cases[i];
		struct nylas_grants_page p;
		const char *token = (const char *)1;
		int64_t offset = 100;
		char *err = NULL;
		int rc = nylas_parse_grants_page(c->body, strlen(c->body), &p, &err);

		TAP_OK((rc == 0) == c->ok, "grants: %s %s%s%s", c->name,
		    c->ok ? "parses" : "is refused", err ? ": " : "", err ? err : "");
		free(err);
		if (rc != 0)
			continue;
		TAP_OK(p.n == c->n, "grants: %s: %zu grants", c->name, c->n);
		if (c->cursor != NULL)
			TAP_STR_EQ(p.next_cursor, c->cursor, "grants: %s: cursor", c->name);
		else
			TAP_OK(p.next_cursor == NULL, "grants: %s: no cursor", c->name);
		TAP_OK(nylas_grants_next_page(&p, c->limit, &offset, &token) == c->more,
		    "grants: %s: %s", c->name, c->more ? "there is more" : "complete");
		TAP_OK(offset == c->offset, "grants: %s: offset %lld", c->name, (long long)c->offset);
		TAP_OK(c->cursor != NULL ? token == p.next_cursor : token == NULL,
		    "grants: %s: page token", c->name);
		nylas_grants_page_clear(&p);
	}
}

static void
test_grant_fields(void)
{
	const char *body = "{\"data\":[" GRANT("g1", "invalid") "]}";
	struct nylas_grants_page p;
	char *err = NULL;

	if (nylas_parse_grants_page(body, strlen(body), &p, &err) != 0 || p.n != 1) {
		TAP_OK(0, "grant fields: parse");
		free(err);
		return;
	}
	TAP_STR_EQ(p.grants[0].id, "g1", "grant fields: id");
	TAP_STR_EQ(p.grants[0].provider, "microsoft", "grant fields: provider");
	TAP_STR_EQ(p.grants[0].grant_status, "invalid", "grant fields: grant_status");
	TAP_STR_EQ(p.grants[0].email, "g1@contoso.com", "grant fields: email");
	TAP_STR_EQ(p.grants[0].credential_id, "cred-1", "grant fields: credential_id");
	TAP_OK(p.grants[0].created_at == 1617817109 && p.grants[0].updated_at == 1739223251,
	    "grant fields: times");
	nylas_grants_page_clear(&p);
}

/* --- connector and webhook answers -------------------------------------- */

static void
test_connector(void)
{
	const char *get = "{\"request_id\":\"r\",\"data\":{\"provider\":\"microsoft\","
	    "\"settings\":{\"client_id\":\"11111111-2222-3333-4444-555555555555\","
	    "\"tenant\":\"common\"},\"scope\":[\"Mail.Read\",\"offline_access\"]}}";
	const char *echo = "{\"data\":{\"provider\":\"microsoft\",\"settings\":{\"client_id\":\"c\","
	    "\"client_secret\":\"leaked\",\"tenant\":\"t\"}}}";
	struct nylas_connector c;
	char *err = NULL;

	TAP_OK(nylas_parse_connector(get, strlen(get), &c, &err) == 0, "connector: parses");
	TAP_STR_EQ(c.provider, "microsoft", "connector: provider");
	TAP_STR_EQ(c.client_id, "11111111-2222-3333-4444-555555555555", "connector: client_id");
	TAP_STR_EQ(c.tenant, "common", "connector: tenant");
	TAP_OK(c.n_scope == 2 && strcmp(c.scope[1], "offline_access") == 0, "connector: scope");
	TAP_OK(c.has_secret == 0, "connector: no secret came back");
	TAP_OK(c.active_credential_id == NULL, "connector: no active_credential_id");
	nylas_connector_clear(&c);
	TAP_OK(nylas_parse_connector(S("{\"data\":{\"provider\":\"microsoft\","
	    "\"active_credential_id\":\"cred-9\",\"settings\":{\"client_id\":\"c\"}}}"), &c,
	    &err) == 0, "connector with active_credential_id and no tenant: parses");
	TAP_STR_EQ(c.active_credential_id, "cred-9", "connector: active_credential_id");
	TAP_OK(c.tenant == NULL, "connector: no tenant shown, none made up");
	nylas_connector_clear(&c);
	TAP_OK(nylas_parse_connector(S("{\"data\":{\"provider\":\"microsoft\","
	    "\"active_credential_id\":null,\"settings\":{\"client_id\":\"c\",\"tenant\":null}}}"),
	    &c, &err) == 0 && c.active_credential_id == NULL && c.tenant == NULL,
	    "connector: null active_credential_id and tenant read as unset");
	nylas_connector_clear(&c);
	TAP_OK(nylas_parse_connector(echo, strlen(echo), &c, &err) == 0 && c.has_secret == 1,
	    "connector: an echoed secret is noticed (and not kept)");
	nylas_connector_clear(&c);
	TAP_OK(nylas_parse_connector(S("{\"data\":{\"settings\":[]}}"), &c, &err) == -1,
	    "connector: settings not an object is refused");
	free(err);
	err = NULL;
	TAP_OK(nylas_parse_connector(S("{\"data\":[]}"), &c, &err) == -1,
	    "connector: data not an object is refused");
	free(err);
}

static void
test_webhook(void)
{
	const char *created = "{\"request_id\":\"r\",\"data\":{\"id\":\"wh-1\",\"description\":"
	    "\"rekey\",\"trigger_types\":[\"grant.expired\"],\"webhook_url\":\"https://hooks."
	    "example.com/webhooks/nylas/prod\",\"webhook_secret\":\"9f8e7d\",\"status\":\"active\","
	    "\"notification_email_addresses\":[\"ops@example.com\"]}}";
	const char *rotated = "{\"request_id\":\"r\",\"data\":{\"webhook_secret\":\"new-secret\"}}";
	struct nylas_webhook w;
	char *err = NULL;

	TAP_OK(nylas_parse_webhook(created, strlen(created), &w, &err) == 0, "webhook: parses");
	TAP_STR_EQ(w.id, "wh-1", "webhook: id");
	TAP_STR_EQ(w.status, "active", "webhook: status");
	TAP_OK(w.webhook_secret != NULL && secret_equal(w.webhook_secret, "9f8e7d", 6),
	    "webhook: secret into a secret");
	nylas_webhook_clear(&w);
	TAP_OK(nylas_parse_webhook(rotated, strlen(rotated), &w, &err) == 0 && w.id == NULL &&
	    secret_equal(w.webhook_secret, "new-secret", 10), "webhook: rotated secret");
	nylas_webhook_clear(&w);
	TAP_OK(nylas_parse_webhook(S("{\"data\":{\"id\":\"x\"}}"), &w, &err) == 0 &&
	    w.webhook_secret == NULL, "webhook: an answer without a secret parses, secret NULL");
	nylas_webhook_clear(&w);
	TAP_OK(nylas_parse_webhook(S("{\"data\":\"x\"}"), &w, &err) == -1,
	    "webhook: data not an object is refused");
	free(err);
}

/* nylas_find_destination: the destination for rekey's URL, judged in order. */
static void
test_destination(void)
{
	static const struct {
		const char *body;
		enum nylas_destination_state want;
		const char *missing, *extra;
	} cases[] = {
		{ "{\"data\":[]}", NYLAS_DESTINATION_MISSING, NULL, NULL },
		{ "{\"data\":[{\"id\":\"a\",\"webhook_url\":\"https://x/other\",\"status\":"
		  "\"active\",\"trigger_types\":[]}]}", NYLAS_DESTINATION_MISSING, NULL, NULL },
		{ "{\"data\":[{\"id\":\"a\",\"webhook_url\":\"https://x/h\",\"status\":\"active\","
		  "\"trigger_types\":[\"grant.created\",\"grant.expired\"]}]}",
		  NYLAS_DESTINATION_NO_TRIGGERS, "grant.updated, grant.deleted", "" },
		{ "{\"data\":[{\"id\":\"a\",\"webhook_url\":\"https://x/h\",\"status\":\"failed\","
		  "\"trigger_types\":[\"grant.created\",\"grant.updated\",\"grant.deleted\","
		  "\"grant.expired\"]}]}", NYLAS_DESTINATION_INACTIVE, "", "" },
		{ "{\"data\":[{\"id\":\"a\",\"webhook_url\":\"https://x/h\",\"status\":\"active\","
		  "\"trigger_types\":[\"grant.created\",\"grant.updated\",\"grant.deleted\","
		  "\"grant.expired\",\"message.created\"]}]}", NYLAS_DESTINATION_EXTRA, "",
		  "message.created" },
		{ "{\"data\":[{\"id\":\"a\",\"webhook_url\":\"https://x/h\",\"status\":\"active\","
		  "\"trigger_types\":[\"grant.expired\",\"grant.deleted\",\"grant.updated\","
		  "\"grant.created\"]}]}", NYLAS_DESTINATION_OK, "", "" },
	};
	struct nylas_destination d;
	char *err = NULL;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = nylas_find_destination(cases[i].body, strlen(cases[i].body), "https://x/h",
		    &d, &err);

		TAP_OK(rc == 0 && d.state == cases[i].want &&
		    (cases[i].missing == NULL || strcmp(d.missing, cases[i].missing) == 0) &&
		    (cases[i].extra == NULL || strcmp(d.extra, cases[i].extra) == 0),
		    "destination case %zu judged %d", i, (int)cases[i].want);
		nylas_destination_clear(&d);
	}
	TAP_OK(nylas_find_destination(cases[4].body, strlen(cases[4].body), "https://x/h", &d,
	    &err) == 0 && strcmp(d.triggers, "grant.created, grant.updated, grant.deleted, "
	    "grant.expired, message.created") == 0, "all its triggers are listed");
	nylas_destination_clear(&d);
	TAP_OK(nylas_find_destination("{\"data\":{}}", 11, "https://x/h", &d, &err) == -1 &&
	    err != NULL, "a list without a data array is refused");
	free(err);
}

/* The body of a destination update (rekey nylas register --fix). */
static void
test_update_body(void)
{
	static const char *const triggers[] = { "grant.created", "message.created" };
	struct secret *b = nylas_webhook_update_body(triggers, 2, "active");

	TAP_STR_EQ((const char *)b->data, "{\"trigger_types\":[\"grant.created\","
	    "\"message.created\"],\"status\":\"active\"}", "update: triggers and status");
	secret_free(b);
	b = nylas_webhook_update_body(triggers, 1, NULL);
	TAP_STR_EQ((const char *)b->data, "{\"trigger_types\":[\"grant.created\"]}",
	    "update: no status when none is asked");
	secret_free(b);
}

int
main(void)
{
	test_errors();
	test_update_body();
	test_outcomes();
	test_connector_body();
	test_other_bodies();
	test_grants_url();
	test_grants_pages();
	test_grant_fields();
	test_connector();
	test_webhook();
	test_destination();
	return tap_done();
}
