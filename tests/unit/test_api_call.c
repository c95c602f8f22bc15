/*
 * Unit tests for api_call, the request part the Graph and Nylas clients'
 * calls share: a fresh GUID per call, the request it makes (the body's
 * content type only with a body, its one header, attempts, service, app),
 * what it frees, and the base URL without trailing slashes.
 */
#include "lib/secret.h"
#include "outbound/api_call.h"
#include "tap.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* 8-4-4-4-12 lower-case hex, version 4. */
static int
guid_shaped(const char *s)
{
	size_t i;

	if (strlen(s) != 36 || s[14] != '4')
		return 0;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

static void
test_ids(void)
{
	struct api_call a, b;

	api_call_init(&a, "GET", strdup("https://graph.test/v1.0/me"), NULL);
	api_call_init(&b, "GET", strdup("https://graph.test/v1.0/me"), NULL);
	TAP_OK(guid_shaped(a.req_id), "a call's id is a GUID (%s)", a.req_id);
	TAP_OK(strcmp(a.req_id, b.req_id) != 0, "each call has its own id");
	TAP_OK(a.header == NULL && a.max_attempts == 0, "no header, default attempts");
	api_call_clear(&a);
	api_call_clear(&b);
	TAP_OK(a.url == NULL && a.body == NULL && a.header == NULL, "cleared: nothing left to free");
	api_call_clear(&a);
	TAP_OK(1, "clearing twice is harmless");
}

static void
test_request(void)
{
	static const char json[] = "{\"displayName\":\"rekey\"}";
	struct api_call c;
	struct http_request req;

	api_call_init(&c, "POST", strdup("https://graph.test/v1.0/applications/x/addPassword"),
	    secret_new(json, sizeof(json) - 1));
	c.header = strdup("client-request-id: 1");
	c.max_attempts = 1;
	api_call_request(&c, &req, "graph", "prod", 4096);
	TAP_STR_EQ(req.method, "POST", "method");
	TAP_STR_EQ(req.url, c.url, "URL");
	TAP_STR_EQ(req.content_type, "application/json", "a body is JSON");
	TAP_OK(req.body_len == sizeof(json) - 1 && memcmp(req.body, json, req.body_len) == 0,
	    "the body as given");
	TAP_STR_EQ(req.headers[0], "client-request-id: 1", "the call's header");
	TAP_OK(req.headers[1] == NULL, "and no other");
	TAP_STR_EQ(req.service, "graph", "service");
	TAP_STR_EQ(req.app, "prod", "app");
	TAP_STR_EQ(req.req_id, c.req_id, "the call's id is the request's");
	TAP_OK(req.max_response == 4096 && req.max_attempts == 1, "limits");
	TAP_OK(req.bearer == NULL && req.classify == NULL && req.timeout_ms == 0,
	    "the rest is the caller's");
	api_call_clear(&c);

	api_call_init(&c, "GET", strdup("https://api.test/v3/connectors/microsoft"), NULL);
	api_call_request(&c, &req, "nylas", NULL, 0);
	TAP_OK(req.content_type == NULL && req.body == NULL && req.body_len == 0,
	    "no body, no content type");
	TAP_OK(req.headers[0] == NULL && req.app == NULL, "no header, no app");
	api_call_not_sent(&c, "nylas", NULL);
	TAP_OK(1, "not sent is logged without an app");
	api_call_clear(&c);
}

static void
test_base_url(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "https://graph.microsoft.com/v1.0", "https://graph.microsoft.com/v1.0" },
		{ "https://api.us.nylas.com/", "https://api.us.nylas.com" },
		{ "https://127.0.0.1:8443//", "https://127.0.0.1:8443" },
		{ "/", "" },
		{ "", "" },
	};
	size_t i;
	char *got;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = api_base_url(cases[i].in);
		TAP_STR_EQ(got, cases[i].want, "base URL \"%s\"", cases[i].in);
		free(got);
	}
}

int
main(void)
{
	test_ids();
	test_request();
	test_base_url();
	return tap_done();
}
