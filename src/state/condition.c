#include "state/condition.h"
#include "lib/log.h"
#include "lib/util.h"
#include "state/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define KEY_PREFIX "condition:"

static const char *const type_names[CONDITION_TYPE_COUNT] = {
	[CONDITION_ROTATOR_READY] = "RotatorReady",
	[CONDITION_SECRETS_READ] = "SecretsRead",
	[CONDITION_SECRET_FRESH] = "SecretFresh",
	[CONDITION_CONNECTOR_READY] = "ConnectorReady",
	[CONDITION_WEBHOOK_REGISTERED] = "WebhookRegistered",
	[CONDITION_SUBSCRIPTION_READY] = "SubscriptionReady",
	[CONDITION_ROTATOR_CERT_FRESH] = "RotatorCertFresh",
	[CONDITION_ROTATION_POSSIBLE] = "RotationPossible",
};

static const char *const status_names[] = { "true", "false", "unknown" };

const char *
condition_type_name(enum condition_type t)
{
	return (unsigned)t < CONDITION_TYPE_COUNT ? type_names[t] : "?";
}

const char *
condition_status_name(enum condition_status s)
{
	return (unsigned)s <= CONDITION_UNKNOWN ? status_names[s] : "unknown";
}

static int
status_parse(const char *s, enum condition_status *out)
{
	size_t i;

	for (i = 0; i <= CONDITION_UNKNOWN; i++) {
		if (strcmp(s, status_names[i]) == 0) {
			*out = (enum condition_status)i;
			return 0;
		}
	}
	return -1;
}

static int64_t
json_int(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(v) && v->valuedouble > 0 && v->valuedouble < 1e15 ?
	    (int64_t)v->valuedouble : 0;
}

static void
json_copy(const cJSON *o, const char *name, char *dst, size_t size)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	util_strlcpy(dst, cJSON_IsString(v) ? v->valuestring : "", size);
}

int
condition_parse(const char *json, enum condition_type t, struct condition *out)
{
	cJSON *o = cJSON_Parse(json);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");
	int rc = -1;

	memset(out, 0, sizeof(*out));
	out->type = t;
	if (cJSON_IsObject(o) && cJSON_IsString(st) && status_parse(st->valuestring, &out->status) == 0) {
		out->permanent = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "permanent"));
		json_copy(o, "reason", out->reason, sizeof(out->reason));
		json_copy(o, "message", out->message, sizeof(out->message));
		out->since = json_int(o, "since");
		out->false_since = json_int(o, "false_since");
		rc = 0;
	}
	cJSON_Delete(o);
	return rc;
}

static void
key_of(enum condition_type t, char *buf, size_t size)
{
	snprintf(buf, size, KEY_PREFIX "%s", condition_type_name(t));
}

int
condition_get(struct store *st, const char *app, enum condition_type t, struct condition *out)
{
	char key[64], *val = NULL;
	int rc;

	key_of(t, key, sizeof(key));
	rc = store_get_value(st, app, key, &val);
	if (rc == 1 && condition_parse(val, t, out) == -1)
		rc = 0;		/* an unreadable record counts as none: the next outcome replaces it */
	free(val);
	return rc;
}

int
condition_list(struct store *st, const char *app, struct condition rec[CONDITION_TYPE_COUNT],
    const struct condition *ptr[CONDITION_TYPE_COUNT])
{
	struct store_value *v = NULL;
	size_t n = 0, i, t;

	for (t = 0; t < CONDITION_TYPE_COUNT; t++)
		ptr[t] = NULL;
	if (store_list_values(st, app, KEY_PREFIX, CONDITION_TYPE_COUNT * 2, &v, &n) == -1) {
		store_values_free(v, n);
		return -1;
	}
	for (i = 0; i < n; i++) {
		for (t = 0; t < CONDITION_TYPE_COUNT; t++) {
			if (strcmp(v[i].key + strlen(KEY_PREFIX), type_names[t]) != 0)
				continue;
			if (v[i].value != NULL &&
			    condition_parse(v[i].value, (enum condition_type)t, &rec[t]) == 0)
				ptr[t] = &rec[t];
		}
	}
	store_values_free(v, n);
	return 0;
}

static char *
condition_json(const struct condition *c)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	cJSON_AddStringToObject(o, "status", condition_status_name(c->status));
	cJSON_AddBoolToObject(o, "permanent", c->permanent);
	cJSON_AddStringToObject(o, "reason", c->reason);
	cJSON_AddStringToObject(o, "message", c->message);
	cJSON_AddNumberToObject(o, "since", (double)c->since);
	if (c->false_since > 0)
		cJSON_AddNumberToObject(o, "false_since", (double)c->false_since);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (s == NULL)
		fatal("condition: out of memory");
	return s;
}

/* The record that follows old (NULL: none) once now's outcome is known. */
static void
next_record(const struct condition *old, struct condition *c, int64_t now)
{
	if (old == NULL) {
		c->since = now;
		return;
	}
	if (old->status == c->status) {
		c->since = old->since;
		c->false_since = old->false_since;
		return;
	}
	c->since = now;
	/* Remember the spell of trouble a recovery ends, so that its notice can name it. */
	if (old->status == CONDITION_FALSE && c->status == CONDITION_TRUE)
		c->false_since = old->since;
}

static int
same_record(const struct condition *a, const struct condition *b)
{
	return a->status == b->status && a->permanent == b->permanent &&
	    strcmp(a->reason, b->reason) == 0 && strcmp(a->message, b->message) == 0;
}

int
condition_record(struct store *st, const char *app, enum condition_type t,
    enum condition_status status, int permanent, const char *reason, const char *message,
    int64_t now)
{
	struct condition old, c;
	char key[64], *json;
	int have, rc;

	memset(&c, 0, sizeof(c));
	c.type = t;
	c.status = status;
	c.permanent = status == CONDITION_FALSE && permanent;
	util_strlcpy(c.reason, reason != NULL ? reason : "", sizeof(c.reason));
	util_strlcpy(c.message, message != NULL ? message : "", sizeof(c.message));
	have = condition_get(st, app, t, &old);
	if (have == -1)
		return -1;
	if (have == 1 && same_record(&old, &c))
		return 0;
	next_record(have == 1 ? &old : NULL, &c, now);
	key_of(t, key, sizeof(key));
	json = condition_json(&c);
	rc = store_put_value(st, app, key, json);
	free(json);
	return rc == -1 ? -1 : 0;
}
