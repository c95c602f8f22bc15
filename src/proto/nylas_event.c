/*
 * nylas_event: the Nylas webhook envelope as rekey reads it: the pure parse
 * of a delivery's JSON into a struct nylas_event, and the X-Nylas-Signature
 * check over the raw bytes.  No HTTP, no store: intake/nylas.c calls it.
 */
#include "proto/nylas_event.h"
#include "lib/crypto.h"
#include "lib/json.h"
#include "lib/secret.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

static const char *const grant_types[] = {
	"grant.created", "grant.updated", "grant.deleted", "grant.expired",
};

const char *
nylas_type_label(const char *type)
{
	size_t i;

	for (i = 0; type != NULL && i < sizeof(grant_types) / sizeof(grant_types[0]); i++)
		if (strcmp(type, grant_types[i]) == 0)
			return grant_types[i];
	return "other";
}

/* A string member no longer than max; NULL when absent.  -1 when present but wrong. */
static int
get_string(const cJSON *obj, const char *name, size_t max, int required, char **out,
    char **err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	*out = NULL;
	if (v == NULL || cJSON_IsNull(v)) {
		if (required)
			*err = xasprintf("missing \"%s\"", name);
		return required ? -1 : 0;
	}
	if (!cJSON_IsString(v) || v->valuestring == NULL) {
		*err = xasprintf("\"%s\" must be a string", name);
		return -1;
	}
	if (strlen(v->valuestring) > max || (required && v->valuestring[0] == '\0')) {
		*err = xasprintf("\"%s\" is empty or longer than %zu bytes", name, max);
		return -1;
	}
	*out = xstrdup(v->valuestring);
	return 0;
}

static int
parse_grant_object(const cJSON *object, struct nylas_event *ev, char **err)
{
	const cJSON *flag;

	if (!cJSON_IsObject(object)) {
		*err = xstrdup("grant event without a \"data.object\" object");
		return -1;
	}
	if (get_string(object, "grant_id", NYLAS_FIELD_MAX, 1, &ev->grant_id, err) == -1 ||
	    get_string(object, "email", NYLAS_FIELD_MAX, 0, &ev->email, err) == -1 ||
	    get_string(object, "provider", NYLAS_FIELD_MAX, 0, &ev->provider, err) == -1 ||
	    get_string(object, "integration_id", NYLAS_FIELD_MAX, 0, &ev->integration_id,
		err) == -1 ||
	    json_get_uint(object, "code", -1, &ev->code, err) == -1 ||
	    json_get_uint(object, "grant_updated_at", -1, &ev->grant_updated_at, err) == -1)
		return -1;
	flag = cJSON_GetObjectItemCaseSensitive(object, "reauthentication_flag");
	if (flag != NULL && !cJSON_IsNull(flag) && !cJSON_IsBool(flag)) {
		*err = xstrdup("\"reauthentication_flag\" must be a boolean");
		return -1;
	}
	ev->reauth_flag = flag != NULL && cJSON_IsBool(flag) ? cJSON_IsTrue(flag) : -1;
	return 0;
}

int
nylas_parse_envelope(const char *json, size_t len, struct nylas_event *ev, char **err)
{
	cJSON *root = NULL;
	const cJSON *data;
	int rc = -1;

	memset(ev, 0, sizeof(*ev));
	ev->time = ev->code = ev->grant_updated_at = -1;
	ev->reauth_flag = -1;
	if (!json_depth_ok(json, len, NYLAS_JSON_DEPTH_MAX)) {
		*err = xasprintf("JSON nested deeper than %d", NYLAS_JSON_DEPTH_MAX);
		return -1;
	}
	root = cJSON_ParseWithLength(json, len);
	if (root == NULL || !cJSON_IsObject(root)) {
		*err = xstrdup(root == NULL ? "not valid JSON" : "not a JSON object");
		goto out;
	}
	if (get_string(root, "id", NYLAS_ID_MAX, 1, &ev->id, err) == -1 ||
	    get_string(root, "type", NYLAS_TYPE_MAX, 1, &ev->type, err) == -1 ||
	    json_get_uint(root, "time", -1, &ev->time, err) == -1)
		goto out;
	data = cJSON_GetObjectItemCaseSensitive(root, "data");
	if (!cJSON_IsObject(data)) {
		*err = xstrdup("missing \"data\" object");
		goto out;
	}
	if (get_string(data, "application_id", NYLAS_FIELD_MAX, 0, &ev->application_id, err) == -1)
		goto out;
	ev->is_grant = nylas_is_grant_type(ev->type);
	if (ev->is_grant &&
	    parse_grant_object(cJSON_GetObjectItemCaseSensitive(data, "object"), ev, err) == -1)
		goto out;
	rc = 0;
out:
	cJSON_Delete(root);
	if (rc == -1)
		nylas_event_clear(ev);
	return rc;
}

int
nylas_is_grant_type(const char *type)
{
	return strcmp(nylas_type_label(type), "other") != 0;
}

void
nylas_event_clear(struct nylas_event *ev)
{
	free(ev->id);
	free(ev->type);
	free(ev->application_id);
	free(ev->grant_id);
	free(ev->email);
	free(ev->provider);
	free(ev->integration_id);
	memset(ev, 0, sizeof(*ev));
}

int
nylas_signature_matches(const char *header, const void *body, size_t len,
    struct secret *const *secrets, size_t n)
{
	unsigned char want[CRYPTO_SHA256_LEN], got[CRYPTO_SHA256_LEN];
	size_t hlen, i;
	int match = 0;

	if (header == NULL)
		return 0;
	while (isspace((unsigned char)*header))
		header++;
	if (strncasecmp(header, "sha256=", 7) == 0)
		header += 7;
	hlen = strlen(header);
	while (hlen > 0 && isspace((unsigned char)header[hlen - 1]))
		hlen--;
	if (hlen != 2 * CRYPTO_SHA256_LEN ||
	    crypto_hex_decode(header, hlen, got, sizeof(got)) != CRYPTO_SHA256_LEN)
		return 0;
	/* Every secret is tried, so the time taken does not say which one matched. */
	for (i = 0; i < n; i++) {
		if (crypto_hmac_sha256(secrets[i]->data, secrets[i]->len, body, len, want) == 0 &&
		    crypto_memeq(want, got, sizeof(got)))
			match = 1;
	}
	return match;
}
