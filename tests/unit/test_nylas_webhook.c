/* Unit tests: Nylas envelope parsing and signature checking, table-driven. */
#include "lib/crypto.h"
#include "lib/secret.h"
#include "proto/nylas_event.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

struct envelope_case {
	const char *name;
	const char *json;
	int ok;
	const char *err_part;	/* substring of the error when !ok */
};

static const struct envelope_case envelope_cases[] = {
	{ "grant.expired with every field",
	  "{\"specversion\":\"1.0\",\"type\":\"grant.expired\",\"id\":\"n1\",\"time\":1739223251,"
	  "\"data\":{\"application_id\":\"a\",\"object\":{\"code\":25009,\"grant_id\":\"g1\","
	  "\"integration_id\":\"i1\",\"provider\":\"microsoft\",\"email\":\"u@example.com\","
	  "\"grant_updated_at\":1734200000}}}", 1, NULL },
	{ "key order does not matter",
	  "{\"data\":{\"object\":{\"grant_id\":\"g\"}},\"id\":\"n2\",\"type\":\"grant.deleted\"}",
	  1, NULL },
	{ "other types need no object",
	  "{\"type\":\"message.created\",\"id\":\"n3\",\"data\":{}}", 1, NULL },
	{ "not JSON", "{nope", 0, "not valid JSON" },
	{ "not an object", "[1,2]", 0, "not a JSON object" },
	{ "missing id", "{\"type\":\"grant.expired\",\"data\":{}}", 0, "\"id\"" },
	{ "empty id", "{\"id\":\"\",\"type\":\"grant.expired\",\"data\":{}}", 0, "\"id\"" },
	{ "id not a string", "{\"id\":5,\"type\":\"x\",\"data\":{}}", 0, "\"id\" must be a string" },
	{ "missing data", "{\"id\":\"a\",\"type\":\"x\"}", 0, "\"data\"" },
	{ "time as a string", "{\"id\":\"a\",\"type\":\"x\",\"time\":\"1\",\"data\":{}}", 0, "\"time\"" },
	{ "negative time", "{\"id\":\"a\",\"type\":\"x\",\"time\":-1,\"data\":{}}", 0, "\"time\"" },
	{ "fractional code",
	  "{\"id\":\"a\",\"type\":\"grant.expired\",\"data\":{\"object\":{\"grant_id\":\"g\",\"code\":1.5}}}",
	  0, "\"code\"" },
	{ "grant event without object",
	  "{\"id\":\"a\",\"type\":\"grant.expired\",\"data\":{}}", 0, "data.object" },
	{ "grant event without grant_id",
	  "{\"id\":\"a\",\"type\":\"grant.created\",\"data\":{\"object\":{}}}", 0, "grant_id" },
	{ "reauthentication_flag not a bool",
	  "{\"id\":\"a\",\"type\":\"grant.updated\",\"data\":{\"object\":{\"grant_id\":\"g\","
	  "\"reauthentication_flag\":\"yes\"}}}", 0, "reauthentication_flag" },
	{ "too deep", "{\"id\":\"a\",\"type\":\"x\",\"data\":{\"x\":"
	  "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}", 0, "deeper" },
};

static void
test_envelopes(void)
{
	size_t i;

	for (i = 0; i < sizeof(envelope_cases) / sizeof(envelope_cases[0]); i++) {
		const struct envelope_case *c = &envelope_cases[i];
		struct nylas_event ev;
		char *err = NULL;
		int rc = nylas_parse_envelope(c->json, strlen(c->json), &ev, &err);

		TAP_OK((rc == 0) == c->ok, "envelope: %s", c->name);
		if (!c->ok)
			TAP_OK(err != NULL && strstr(err, c->err_part) != NULL,
			    "envelope: %s: error names the problem (%s)", c->name, err ? err : "null");
		if (rc == 0)
			nylas_event_clear(&ev);
		free(err);
	}
}

static void
test_fields(void)
{
	const char *json = envelope_cases[0].json;
	struct nylas_event ev;
	char *err = NULL;

	if (nylas_parse_envelope(json, strlen(json), &ev, &err) != 0) {
		TAP_OK(0, "fields: parse");
		return;
	}
	TAP_STR_EQ(ev.id, "n1", "fields: id");
	TAP_STR_EQ(ev.type, "grant.expired", "fields: type");
	TAP_OK(ev.is_grant, "fields: is a grant event");
	TAP_STR_EQ(ev.grant_id, "g1", "fields: grant_id");
	TAP_STR_EQ(ev.email, "u@example.com", "fields: email");
	TAP_STR_EQ(ev.provider, "microsoft", "fields: provider");
	TAP_STR_EQ(ev.integration_id, "i1", "fields: integration_id");
	TAP_OK(ev.code == 25009, "fields: code");
	TAP_OK(ev.time == 1739223251, "fields: time");
	TAP_OK(ev.grant_updated_at == 1734200000, "fields: grant_updated_at");
	TAP_OK(ev.reauth_flag == -1, "fields: absent reauthentication_flag is -1");
	nylas_event_clear(&ev);
}

static void
test_signatures(void)
{
	static const char body[] = "{\"id\":\"x\"}";
	unsigned char mac[CRYPTO_SHA256_LEN];
	char hex[2 * CRYPTO_SHA256_LEN + 1], upper[sizeof(hex)], header[128];
	struct secret *secrets[2];
	size_t i;

	secrets[0] = secret_new("old-secret", 10);
	secrets[1] = secret_new("new-secret", 10);
	crypto_hmac_sha256("new-secret", 10, body, strlen(body), mac);
	crypto_hex_encode(mac, sizeof(mac), hex);
	for (i = 0; i < sizeof(hex); i++)
		upper[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 32 : hex[i]);

	TAP_OK(nylas_signature_matches(hex, body, strlen(body), secrets, 2), "signature: second secret");
	TAP_OK(!nylas_signature_matches(hex, body, strlen(body), secrets, 1), "signature: not the first");
	TAP_OK(nylas_signature_matches(upper, body, strlen(body), secrets, 2), "signature: uppercase hex");
	snprintf(header, sizeof(header), " \tsha256=%s \r\n", hex);
	TAP_OK(nylas_signature_matches(header, body, strlen(body), secrets, 2),
	    "signature: prefix and whitespace");
	TAP_OK(!nylas_signature_matches(hex, body, strlen(body) - 1, secrets, 2),
	    "signature: other bytes fail");
	TAP_OK(!nylas_signature_matches(NULL, body, strlen(body), secrets, 2), "signature: missing");
	TAP_OK(!nylas_signature_matches("", body, strlen(body), secrets, 2), "signature: empty");
	hex[10] = 'g';
	TAP_OK(!nylas_signature_matches(hex, body, strlen(body), secrets, 2), "signature: non-hex");
	hex[63] = '\0';
	TAP_OK(!nylas_signature_matches(hex, body, strlen(body), secrets, 2), "signature: short");
	secret_free(secrets[0]);
	secret_free(secrets[1]);
}

int
main(void)
{
	test_envelopes();
	test_fields();
	test_signatures();
	return tap_done();
}
