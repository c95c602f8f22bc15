/*
 * nylas_parse: the Nylas v3 API's answers, read.  The error envelope and the
 * outcome of a call, the Microsoft connector, pages of grants, a webhook
 * destination with its secret, a sent message's id, and the verdict on the
 * destination that delivers to rekey in GET /v3/webhooks.  Pure: bytes in,
 * structs out; nylas.c makes the calls.
 */
#include "outbound/nylas_parse.h"
#include "lib/json.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "lib/wbuf.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#define NYLAS_API_JSON_DEPTH_MAX 32
/* Cursors are opaque and may be longer than the other fields. */
#define NYLAS_CURSOR_MAX 8192

/* --- JSON helpers ------------------------------------------------------- */

static cJSON *
parse_object(const char *body, size_t len, char **err)
{
	return json_parse_object(body, len, NYLAS_API_MAX_RESPONSE, NYLAS_API_JSON_DEPTH_MAX, err);
}

static int
get_str(const cJSON *obj, const char *name, int required, char **out, char **err)
{
	return json_get_str(obj, name, NYLAS_API_FIELD_MAX, required, out, err);
}

static void
scrub_string(cJSON *obj, const char *name)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (cJSON_IsString(v) && v->valuestring != NULL)
		OPENSSL_cleanse(v->valuestring, strlen(v->valuestring));
}

/* The "data" member of a success envelope when it is of the wanted kind. */
static cJSON *
data_member(const cJSON *root, int want_array, char **err)
{
	cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");

	if (want_array ? !cJSON_IsArray(data) : !cJSON_IsObject(data)) {
		*err = xasprintf("\"data\" is not %s", want_array ? "an array" : "an object");
		return NULL;
	}
	return data;
}

/* --- error envelope ----------------------------------------------------- */

static char *
compact_json(const cJSON *v)
{
	char *text, *out;

	if (v == NULL || cJSON_IsNull(v))
		return NULL;
	text = cJSON_PrintUnformatted(v);
	if (text == NULL)
		return NULL;
	out = xstrndup(text, strnlen(text, NYLAS_API_FIELD_MAX));
	cJSON_free(text);
	return out;
}

int
nylas_parse_error(const char *body, size_t len, struct nylas_error *out)
{
	char *err = NULL, *ignored = NULL;
	cJSON *root = parse_object(body, len, &err);
	const cJSON *error;

	memset(out, 0, sizeof(*out));
	free(err);
	if (root == NULL)
		return -1;
	error = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (!cJSON_IsObject(error)) {
		cJSON_Delete(root);
		return -1;
	}
	/* Every field is optional: a wrong type leaves it NULL. */
	get_str(root, "request_id", 0, &out->request_id, &ignored);
	free(ignored);
	ignored = NULL;
	get_str(error, "type", 0, &out->type, &ignored);
	free(ignored);
	ignored = NULL;
	get_str(error, "message", 0, &out->message, &ignored);
	free(ignored);
	out->provider_error = compact_json(cJSON_GetObjectItemCaseSensitive(error,
	    "provider_error"));
	cJSON_Delete(root);
	return 0;
}

void
nylas_error_clear(struct nylas_error *e)
{
	free(e->request_id);
	free(e->type);
	free(e->message);
	free(e->provider_error);
	memset(e, 0, sizeof(*e));
}

enum nylas_outcome
nylas_outcome_of(enum http_outcome outcome, long status)
{
	switch (outcome) {
	case HTTP_OUTCOME_OK:
		return NYLAS_OK;
	case HTTP_OUTCOME_CANCELLED:
		return NYLAS_CANCELLED;
	case HTTP_OUTCOME_RETRYABLE:
		return NYLAS_RETRYABLE;
	default:
		return status == 404 ? NYLAS_NOT_FOUND : NYLAS_PERMANENT;
	}
}

/* --- payloads ----------------------------------------------------------- */

static int
parse_scope(const cJSON *list, struct nylas_connector *c, char **err)
{
	const cJSON *item;
	int n;

	if (list == NULL || cJSON_IsNull(list))
		return 0;
	n = cJSON_GetArraySize(list);
	if (!cJSON_IsArray(list) || n > NYLAS_SCOPES_MAX) {
		*err = xasprintf("\"scope\" is not an array of at most %d", NYLAS_SCOPES_MAX);
		return -1;
	}
	c->scope = xcalloc((size_t)n, sizeof(*c->scope));
	cJSON_ArrayForEach(item, list) {
		if (!cJSON_IsString(item) || strlen(item->valuestring) > NYLAS_API_FIELD_MAX) {
			*err = xstrdup("a scope is not a string");
			return -1;
		}
		c->scope[c->n_scope++] = xstrdup(item->valuestring);
	}
	return 0;
}

static int
connector_from(cJSON *data, struct nylas_connector *c, char **err)
{
	cJSON *settings = cJSON_GetObjectItemCaseSensitive(data, "settings");

	if (get_str(data, "provider", 0, &c->provider, err) == -1 ||
	    get_str(data, "active_credential_id", 0, &c->active_credential_id, err) == -1 ||
	    parse_scope(cJSON_GetObjectItemCaseSensitive(data, "scope"), c, err) == -1)
		return -1;
	if (settings == NULL || cJSON_IsNull(settings))
		return 0;
	if (!cJSON_IsObject(settings)) {
		*err = xstrdup("\"settings\" is not an object");
		return -1;
	}
	c->has_secret = cJSON_GetObjectItemCaseSensitive(settings, "client_secret") != NULL;
	return get_str(settings, "client_id", 0, &c->client_id, err) == -1 ||
	    get_str(settings, "tenant", 0, &c->tenant, err) == -1 ? -1 : 0;
}

int
nylas_parse_connector(const char *body, size_t len, struct nylas_connector *out, char **err)
{
	cJSON *root = parse_object(body, len, err);
	cJSON *data;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return -1;
	data = data_member(root, 0, err);
	if (data != NULL)
		rc = connector_from(data, out, err);
	/* Should a GET ever echo the secret, it is wiped here even when parsing failed. */
	if (data != NULL)
		scrub_string(cJSON_GetObjectItemCaseSensitive(data, "settings"), "client_secret");
	cJSON_Delete(root);
	if (rc == -1)
		nylas_connector_clear(out);
	return rc;
}

void
nylas_connector_clear(struct nylas_connector *c)
{
	size_t i;

	for (i = 0; i < c->n_scope; i++)
		free(c->scope[i]);
	free(c->scope);
	free(c->provider);
	free(c->client_id);
	free(c->tenant);
	free(c->active_credential_id);
	memset(c, 0, sizeof(*c));
}

static void
grant_clear(struct nylas_grant *g)
{
	free(g->id);
	free(g->provider);
	free(g->grant_status);
	free(g->email);
	free(g->credential_id);
	memset(g, 0, sizeof(*g));
}

static int
grant_from(const cJSON *obj, struct nylas_grant *g, char **err)
{
	memset(g, 0, sizeof(*g));
	if (!cJSON_IsObject(obj)) {
		*err = xstrdup("a grant is not an object");
		return -1;
	}
	if (get_str(obj, "id", 1, &g->id, err) == -1 ||
	    get_str(obj, "provider", 0, &g->provider, err) == -1 ||
	    get_str(obj, "grant_status", 0, &g->grant_status, err) == -1 ||
	    get_str(obj, "email", 0, &g->email, err) == -1 ||
	    get_str(obj, "credential_id", 0, &g->credential_id, err) == -1 ||
	    json_get_uint(obj, "created_at", 0, &g->created_at, err) == -1 ||
	    json_get_uint(obj, "updated_at", 0, &g->updated_at, err) == -1) {
		grant_clear(g);
		return -1;
	}
	return 0;
}

static int
grants_from(const cJSON *data, struct nylas_grants_page *p, char **err)
{
	const cJSON *item;
	int n = cJSON_GetArraySize(data);

	if (n > NYLAS_GRANTS_LIMIT_MAX) {
		*err = xasprintf("more than %d grants in one page", NYLAS_GRANTS_LIMIT_MAX);
		return -1;
	}
	p->grants = xcalloc((size_t)n, sizeof(*p->grants));
	cJSON_ArrayForEach(item, data) {
		if (grant_from(item, &p->grants[p->n], err) == -1)
			return -1;
		p->n++;
	}
	return 0;
}

int
nylas_parse_grants_page(const char *body, size_t len, struct nylas_grants_page *out,
    char **err)
{
	cJSON *root = parse_object(body, len, err);
	const cJSON *data;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return -1;
	data = data_member(root, 1, err);
	if (data != NULL && grants_from(data, out, err) == 0 &&
	    json_get_str(root, "next_cursor", NYLAS_CURSOR_MAX, 0, &out->next_cursor, err) == 0)
		rc = 0;
	cJSON_Delete(root);
	if (rc == 0 && out->next_cursor != NULL && out->next_cursor[0] == '\0') {
		free(out->next_cursor);
		out->next_cursor = NULL;
	}
	if (rc == -1)
		nylas_grants_page_clear(out);
	return rc;
}

void
nylas_grants_free(struct nylas_grant *grants, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		grant_clear(&grants[i]);
	free(grants);
}

void
nylas_grants_page_clear(struct nylas_grants_page *p)
{
	nylas_grants_free(p->grants, p->n);
	free(p->next_cursor);
	memset(p, 0, sizeof(*p));
}

int
nylas_parse_webhook(const char *body, size_t len, struct nylas_webhook *out, char **err)
{
	cJSON *root = parse_object(body, len, err);
	cJSON *data;
	const cJSON *s;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return -1;
	data = data_member(root, 0, err);
	if (data == NULL || get_str(data, "id", 0, &out->id, err) == -1 ||
	    get_str(data, "status", 0, &out->status, err) == -1)
		goto out;
	s = cJSON_GetObjectItemCaseSensitive(data, "webhook_secret");
	if (cJSON_IsString(s) && s->valuestring[0] != '\0')
		out->webhook_secret = secret_new(s->valuestring, strlen(s->valuestring));
	rc = 0;
out:
	if (data != NULL)
		scrub_string(data, "webhook_secret");
	cJSON_Delete(root);
	if (rc == -1)
		nylas_webhook_clear(out);
	return rc;
}

void
nylas_webhook_clear(struct nylas_webhook *w)
{
	free(w->id);
	free(w->status);
	secret_free(w->webhook_secret);
	memset(w, 0, sizeof(*w));
}

/* The id of a sent message: {"data":{"id":…}}.  0, or -1 and *err (caller frees *id). */
int
nylas_parse_message_id(const char *body, size_t len, char **id, char **err)
{
	cJSON *root = parse_object(body, len, err);
	const cJSON *data;
	int rc = -1;

	*id = NULL;
	if (root == NULL)
		return -1;
	data = data_member(root, 0, err);
	if (data != NULL && get_str(data, "id", 0, id, err) == 0)
		rc = 0;
	cJSON_Delete(root);
	return rc;
}

/* ---- The webhook destination that delivers to rekey ---- */

static const char *const grant_triggers[] = NYLAS_GRANT_TRIGGERS;
#define N_GRANT_TRIGGERS (sizeof(grant_triggers) / sizeof(grant_triggers[0]))

static int
has_trigger(const cJSON *triggers, const char *name)
{
	const cJSON *t;

	cJSON_ArrayForEach(t, triggers)
		if (cJSON_IsString(t) && strcmp(t->valuestring, name) == 0)
			return 1;
	return 0;
}

static int
is_grant_trigger(const char *name)
{
	size_t i;

	for (i = 0; i < N_GRANT_TRIGGERS; i++)
		if (strcmp(grant_triggers[i], name) == 0)
			return 1;
	return 0;
}

static void
add_listed(struct wbuf *b, const char *name)
{
	wbuf_add_str(b, b->len > 0 ? ", " : "");
	wbuf_add_str(b, name);
}

/* What destination w lacks and has beyond the grant triggers, and its verdict. */
static void
judge_destination(const cJSON *w, struct nylas_destination *out)
{
	const cJSON *triggers = cJSON_GetObjectItemCaseSensitive(w, "trigger_types");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(w, "id");
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(w, "status");
	struct wbuf missing = WBUF_INIT, extra = WBUF_INIT, all = WBUF_INIT;
	const cJSON *t;
	size_t i;

	for (i = 0; i < N_GRANT_TRIGGERS; i++)
		if (!has_trigger(triggers, grant_triggers[i]))
			add_listed(&missing, grant_triggers[i]);
	cJSON_ArrayForEach(t, triggers) {
		if (!cJSON_IsString(t))
			continue;
		add_listed(&all, t->valuestring);
		if (!is_grant_trigger(t->valuestring))
			add_listed(&extra, t->valuestring);
	}
	out->id = xstrdup(cJSON_IsString(id) ? id->valuestring : "(none)");
	out->status = xstrdup(cJSON_IsString(status) ? status->valuestring : "(none)");
	out->missing = wbuf_to_str(&missing);
	out->extra = wbuf_to_str(&extra);
	out->triggers = wbuf_to_str(&all);
	/* Nylas's statuses: active, failing, failed, pause; only active surely delivers. */
	if (out->missing[0] != '\0')
		out->state = NYLAS_DESTINATION_NO_TRIGGERS;
	else if (strcmp(out->status, "active") != 0)
		out->state = NYLAS_DESTINATION_INACTIVE;
	else
		out->state = out->extra[0] != '\0' ? NYLAS_DESTINATION_EXTRA : NYLAS_DESTINATION_OK;
}

int
nylas_find_destination(const char *body, size_t len, const char *url,
    struct nylas_destination *out, char **err)
{
	cJSON *root = cJSON_ParseWithLength(body, len);
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data"), *w, *u;

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsArray(data)) {
		*err = xstrdup("the webhook list has no data array");
		cJSON_Delete(root);
		return -1;
	}
	out->n_destinations = cJSON_GetArraySize(data);
	out->state = NYLAS_DESTINATION_MISSING;
	cJSON_ArrayForEach(w, data) {
		u = cJSON_GetObjectItemCaseSensitive(w, "webhook_url");
		if (cJSON_IsString(u) && strcmp(u->valuestring, url) == 0) {
			judge_destination(w, out);
			break;
		}
	}
	cJSON_Delete(root);
	return 0;
}

void
nylas_destination_clear(struct nylas_destination *d)
{
	free(d->id);
	free(d->status);
	free(d->missing);
	free(d->extra);
	free(d->triggers);
	memset(d, 0, sizeof(*d));
}
